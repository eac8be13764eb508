/* libFuzzer driver for the RFC 6455 frame parser (protocol/frame.c), with
 * permessage-deflate inflation of compressed messages (protocol/deflate.c).
 *
 * Input: byte 0 picks the parser options, byte 1 seeds the chunk sizes, the
 * rest is the byte stream a client would send.
 *   byte 0 bits 0-1  max_message_size: 0 (no limit), 16, 200, 65536
 *          bit 2     allow_binary
 *          bit 3     allow_rsv1
 *          bit 4     require_mask
 *          bits 5-7  split: 0 whole, 1 one byte at a time, k>1 random
 *                    chunks of 1..2^k bytes (from byte 1)
 *
 * The stream is parsed twice, whole and split, each chunk in its own
 * exact-size heap block; both runs must give the same events at the same
 * stream offsets (frame.h: any split of the input). Every event is checked
 * against the contract of frame.h, parser memory is bounded, and messages,
 * close frames and compressed payloads are round-tripped through the writer
 * (ws_frame_header, ws_mask, ws_close_payload) and the codec. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/deflate.h"
#include "protocol/frame.h"
#include "protocol/utf8.h"
#include "tests/fuzz/fuzz_common.h"

/* One codec for the process, as the server has: every message resets it,
 * so no input can depend on an earlier one. */
static pmd_codec_t codec;
static int codec_ready;

static const uint64_t max_sizes[4] = {0, 16, 200, 65536};

typedef struct {
  ws_event_type_t type;
  uint8_t opcode, compressed;
  uint16_t close_code;
  size_t len;
  uint64_t hash;
  size_t offset; /* stream offset just past the byte that completed it */
} rec_t;

typedef struct {
  rec_t *ev;
  size_t n, cap;
} recs_t;

static void rec_push(recs_t *r, const ws_event_t *ev, size_t offset) {
  if (r->n == r->cap) {
    r->cap = r->cap ? r->cap * 2 : 16;
    r->ev = realloc(r->ev, r->cap * sizeof *r->ev);
    if (!r->ev) abort();
  }
  rec_t *e = &r->ev[r->n++];
  e->type = ev->type;
  e->opcode = ev->opcode;
  e->compressed = ev->compressed;
  e->close_code = ev->close_code;
  e->len = ev->len;
  e->hash = ev->len ? fuzz_hash(ev->data, ev->len) : 0;
  e->offset = offset;
}

/* Parses one frame that we built and expects exactly one event `want`
 * spanning all of it. */
static void expect_one(const ws_parser_opts_t *o, uint8_t *frame, size_t n, ws_event_type_t want,
                       uint8_t opcode, uint8_t compressed, uint16_t code, const uint8_t *data,
                       size_t len) {
  ws_parser_t p;
  ws_event_t ev;
  ws_parser_init(&p, o);
  size_t used = ws_parser_feed(&p, frame, n, &ev);
  CHECK_OP(used, ==, n);
  CHECK_OP(ev.type, ==, want);
  CHECK_OP(ev.len, ==, len);
  if (want == WS_EV_MESSAGE) {
    CHECK_OP(ev.opcode, ==, opcode);
    CHECK_OP(ev.compressed, ==, compressed);
  }
  if (want == WS_EV_CLOSE) CHECK_OP(ev.close_code, ==, code);
  CHECK(len == 0 || memcmp(ev.data, data, len) == 0);
  ws_parser_free(&p);
}

/* A message re-framed by our writer, masked as a client does, whole and as
 * two fragments (the second masked from offset 0 of its own frame), must
 * come back unchanged. */
static void roundtrip_message(const ws_event_t *ev) {
  static const ws_parser_opts_t any = {.allow_binary = 1, .allow_rsv1 = 1, .require_mask = 1};
  static const uint8_t key[4] = {0xA5, 0x01, 0xFE, 0x5A};
  size_t n = ev->len, hl = ws_frame_header_size(n, 1);
  uint8_t *f = malloc(2 * WS_MAX_HEADER + n + 1);
  if (!f) abort();
  size_t w = ws_frame_header(f, ev->opcode, 1, ev->compressed, n, key);
  CHECK_OP(w, ==, hl);
  memcpy(f + w, ev->data, n);
  ws_mask(f + w, n, key, 0);
  expect_one(&any, f, w + n, WS_EV_MESSAGE, ev->opcode, ev->compressed, 0, ev->data, n);

  /* Two fragments, split at a point derived from the length. */
  size_t cut = n / 3, off = 0;
  off += ws_frame_header(f, ev->opcode, 0, ev->compressed, cut, key);
  memcpy(f + off, ev->data, cut);
  ws_mask(f + off, cut, key, 0);
  off += cut;
  off += ws_frame_header(f + off, WS_OP_CONT, 1, 0, n - cut, key);
  memcpy(f + off, ev->data + cut, n - cut);
  /* ws_mask in two pieces at an offset must equal one pass. */
  size_t half = (n - cut) / 2;
  ws_mask(f + off, half, key, 0);
  ws_mask(f + off + half, n - cut - half, key, half);
  off += n - cut;
  expect_one(&any, f, off, WS_EV_MESSAGE, ev->opcode, ev->compressed, 0, ev->data, n);
  free(f);
}

static void roundtrip_close(const ws_event_t *ev) {
  static const ws_parser_opts_t any = {.allow_binary = 1};
  uint8_t payload[WS_MAX_CONTROL_PAYLOAD];
  uint8_t f[WS_MAX_HEADER + WS_MAX_CONTROL_PAYLOAD];
  size_t n = ws_close_payload(payload, ev->close_code, (const char *)ev->data, ev->len);
  CHECK_OP(n, <=, WS_MAX_CONTROL_PAYLOAD);
  if (ev->close_code == WS_CLOSE_NO_STATUS) CHECK_OP(n, ==, 0);
  size_t w = ws_frame_header(f, WS_OP_CLOSE, 1, 0, n, NULL);
  memcpy(f + w, payload, n);
  expect_one(&any, f, w + n, WS_EV_CLOSE, 0, 0, ev->close_code, ev->data,
             ev->close_code == WS_CLOSE_NO_STATUS ? 0 : ev->len);
}

/* A compressed message is inflated with a small limit, as the server does
 * with max_message_size; what inflates must deflate and inflate back. */
static void inflate_message(const ws_event_t *ev, uint64_t max) {
  const uint8_t *out;
  size_t out_len;
  size_t lim = max ? (size_t)max : 4096;
  if (!codec_ready) {
    CHECK(pmd_codec_init(&codec, -1) == PMD_OK);
    codec_ready = 1;
  }
  int rc = pmd_decompress(&codec, ev->data, ev->len, lim, &out, &out_len);
  CHECK(rc == PMD_OK || rc == PMD_TOO_BIG || rc == PMD_CORRUPT);
  if (rc != PMD_OK) return;
  CHECK_OP(out_len, <=, lim);
  CHECK(out_len == 0 || out != NULL);
  if (ev->opcode == WS_OP_TEXT) (void)utf8_validate(out, out_len);
  uint8_t *copy = fuzz_dup(out, out_len);
  const uint8_t *z, *back;
  size_t z_len, back_len;
  CHECK(pmd_compress(&codec, copy, out_len, &z, &z_len) == PMD_OK);
  CHECK(pmd_decompress(&codec, z, z_len, out_len, &back, &back_len) == PMD_OK);
  CHECK_OP(back_len, ==, out_len);
  CHECK(out_len == 0 || memcmp(back, copy, out_len) == 0);
  free(copy);
}

static void check_event(const ws_parser_opts_t *o, const ws_event_t *ev) {
  uint64_t max = o->max_message_size;
  if (ev->len > 0) CHECK(ev->data != NULL);
  switch (ev->type) {
  case WS_EV_MESSAGE:
    CHECK(ev->opcode == WS_OP_TEXT || ev->opcode == WS_OP_BINARY);
    CHECK(ev->opcode == WS_OP_TEXT || o->allow_binary);
    CHECK(!ev->compressed || o->allow_rsv1);
    if (max) CHECK_OP(ev->len, <=, max);
    if (ev->opcode == WS_OP_TEXT && !ev->compressed)
      CHECK_OP(fuzz_ref_utf8(ev->data, ev->len), ==, -1);
    break;
  case WS_EV_PING:
  case WS_EV_PONG: CHECK_OP(ev->len, <=, WS_MAX_CONTROL_PAYLOAD); break;
  case WS_EV_CLOSE:
    CHECK(ev->close_code == WS_CLOSE_NO_STATUS || ws_close_code_valid(ev->close_code));
    CHECK_OP(ev->len, <=, WS_MAX_CONTROL_PAYLOAD - 2);
    if (ev->close_code == WS_CLOSE_NO_STATUS) CHECK_OP(ev->len, ==, 0);
    CHECK_OP(fuzz_ref_utf8(ev->data, ev->len), ==, -1);
    break;
  case WS_EV_ERROR:
    CHECK(ev->close_code == WS_CLOSE_PROTOCOL || ev->close_code == WS_CLOSE_UNSUPPORTED ||
          ev->close_code == WS_CLOSE_INVALID_DATA || ev->close_code == WS_CLOSE_TOO_BIG);
    CHECK(ev->close_code != WS_CLOSE_UNSUPPORTED || !o->allow_binary);
    CHECK(ev->close_code != WS_CLOSE_TOO_BIG || max != 0);
    break;
  default: CHECK(!"unknown event type");
  }
}

/* Feeds the stream in chunks (sizes from *seed, 0 = whole, 1 = bytewise)
 * and records every event. deep: also run the round trips (once per input
 * is enough). */
static void run(const ws_parser_opts_t *o, const uint8_t *s, size_t n, int mode, uint32_t seed,
                recs_t *out, int deep) {
  ws_parser_t p;
  ws_event_t ev;
  size_t pos = 0;
  int over = 0; /* a close or an error was seen: the parser is dead */
  uint64_t max = o->max_message_size;
  ws_parser_init(&p, o);
  while (pos < n) {
    size_t chunk = n - pos;
    if (mode == 1)
      chunk = 1;
    else if (mode > 1)
      chunk = 1 + fuzz_rand(&seed) % (1u << mode);
    if (chunk > n - pos) chunk = n - pos;
    uint8_t *buf = fuzz_dup(s + pos, chunk);
    size_t off = 0;
    do {
      size_t left = chunk - off;
      size_t used = ws_parser_feed(&p, buf + off, left, &ev);
      CHECK_OP(used, <=, left);
      if (ev.type == WS_EV_NONE) {
        CHECK_OP(used, ==, left); /* NONE: all input consumed */
      } else {
        CHECK(!over);
        check_event(o, &ev);
        rec_push(out, &ev, pos + off + used);
        if (deep && ev.type == WS_EV_MESSAGE) {
          roundtrip_message(&ev);
          if (ev.compressed) inflate_message(&ev, max);
        }
        if (deep && ev.type == WS_EV_CLOSE) roundtrip_close(&ev);
        if (ev.type == WS_EV_CLOSE || ev.type == WS_EV_ERROR) over = 1;
      }
      off += used;
      size_t mem = ws_parser_memory(&p);
      if (max)
        CHECK_OP(mem, <=, max + WS_MAX_CONTROL_PAYLOAD + 256);
      else
        CHECK_OP(mem, <=, 2 * (pos + off) + WS_MAX_CONTROL_PAYLOAD + 256);
      /* A dead parser frees its buffer on the next feed. */
      if (over && ev.type == WS_EV_NONE) CHECK_OP(mem, ==, 0);
    } while (off < chunk);
    pos += chunk;
    free(buf);
  }
  /* An empty feed expires the last event's data: an idle parser (between
   * frames, no message in progress) holds no heap memory. */
  uint8_t dummy = 0;
  CHECK_OP(ws_parser_feed(&p, &dummy, 0, &ev), ==, 0);
  CHECK_OP(ev.type, ==, WS_EV_NONE);
  if (over || (p.state == 0 && p.hdr_len == 0 && p.msg_op == 0))
    CHECK_OP(ws_parser_memory(&p), ==, 0);
  ws_parser_free(&p);
  CHECK_OP(ws_parser_memory(&p), ==, 0);
}

/* ws_close_payload cuts a long reason at a character boundary. */
static void close_payload_cut(const uint8_t *s, size_t n) {
  uint8_t out[WS_MAX_CONTROL_PAYLOAD];
  if (fuzz_ref_utf8(s, n) != -1) return;
  size_t w = ws_close_payload(out, WS_CLOSE_NORMAL, (const char *)s, n);
  CHECK_OP(w, >=, 2);
  CHECK_OP(w, <=, WS_MAX_CONTROL_PAYLOAD);
  CHECK_OP(fuzz_ref_utf8(out + 2, w - 2), ==, -1);
  CHECK(memcmp(out + 2, s, w - 2) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  uint8_t sel = data[0];
  ws_parser_opts_t o = {
      .max_message_size = max_sizes[sel & 3],
      .allow_binary = (sel >> 2) & 1,
      .allow_rsv1 = (sel >> 3) & 1,
      .require_mask = (sel >> 4) & 1,
  };
  int mode = sel >> 5;
  const uint8_t *s = data + 2;
  size_t n = size - 2;
  recs_t whole = {0}, split = {0};

  run(&o, s, n, 0, 0, &whole, 1);
  if (mode != 0) {
    run(&o, s, n, mode, data[1], &split, 0);
    CHECK_OP(split.n, ==, whole.n);
    for (size_t i = 0; i < whole.n; i++) {
      const rec_t *a = &whole.ev[i], *b = &split.ev[i];
      CHECK_OP(a->type, ==, b->type);
      CHECK_OP(a->opcode, ==, b->opcode);
      CHECK_OP(a->compressed, ==, b->compressed);
      CHECK_OP(a->close_code, ==, b->close_code);
      CHECK_OP(a->len, ==, b->len);
      CHECK(a->hash == b->hash);
      CHECK_OP(a->offset, ==, b->offset);
    }
  }
  close_payload_cut(s, n);
  free(whole.ev);
  free(split.ev);
  return 0;
}
