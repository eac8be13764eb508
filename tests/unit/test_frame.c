/* Unit tests for protocol/frame.c.
 *
 * Every stream test goes through check_stream(), which feeds the same bytes
 * whole, in chunks of every size k (one byte at a time included) and split
 * in two at every offset, each piece in its own exact-size heap block (so
 * ASan sees any read past a piece), and requires the same events at the
 * same stream offsets every time. Frames are built here by an encoder
 * independent of ws_frame_header, which has its own round-trip tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/frame.h"
#include "protocol/utf8.h"

#define FIN  0x80
#define RSV1 0x40
#define RSV2 0x20
#define RSV3 0x10

static const uint8_t KEY[4] = {0x37, 0xFA, 0x21, 0x3D};

/* Server side: what fastwsd uses, with permessage-deflate off. */
static const ws_parser_opts_t SERVER = {
    .max_message_size = 1 << 20, .allow_binary = 1, .require_mask = 1};
static const ws_parser_opts_t DEFLATE = {
    .max_message_size = 1 << 20, .allow_binary = 1, .allow_rsv1 = 1, .require_mask = 1};
static const ws_parser_opts_t NO_BINARY = {.max_message_size = 1 << 20, .require_mask = 1};
static const ws_parser_opts_t CLIENT = {.allow_binary = 1}; /* no limit */
static const ws_parser_opts_t UNLIMITED = {.allow_binary = 1, .require_mask = 1};

/* ---- building byte streams ---- */

typedef struct {
  uint8_t *p;
  size_t len, cap;
} bytes_t;

static void put(bytes_t *b, const void *d, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2 + 64;
    b->p = realloc(b->p, b->cap);
    assert_non_null(b->p);
  }
  if (n) memcpy(b->p + b->len, d, n);
  b->len += n;
}

static void put_byte(bytes_t *b, uint8_t c) {
  put(b, &c, 1);
}

static void put_be(bytes_t *b, uint64_t v, int nbytes) {
  for (int i = nbytes - 1; i >= 0; i--)
    put_byte(b, (uint8_t)(v >> (8 * i)));
}

/* One frame, minimal length form; key NULL = unmasked. */
static void put_frame(bytes_t *b, uint8_t b0, const void *payload, size_t n, const uint8_t *key) {
  const uint8_t *d = payload;
  uint8_t m = key ? 0x80 : 0;
  put_byte(b, b0);
  if (n < 126) {
    put_byte(b, (uint8_t)(m | n));
  } else if (n <= 0xFFFF) {
    put_byte(b, m | 126);
    put_be(b, n, 2);
  } else {
    put_byte(b, m | 127);
    put_be(b, n, 8);
  }
  if (key) put(b, key, 4);
  for (size_t i = 0; i < n; i++)
    put_byte(b, (uint8_t)(d[i] ^ (key ? key[i % 4] : 0)));
}

/* Masked frame with a string literal payload. */
#define F(b, b0, lit) put_frame(b, b0, lit, sizeof(lit) - 1, KEY)

/* ---- traces: what a parser reported, and where ---- */

typedef struct {
  ws_event_type_t type;
  uint8_t opcode, compressed;
  uint16_t close_code;
  uint8_t *data;
  size_t len;
  size_t at; /* stream offset just past the bytes consumed with the event */
} rec_t;

typedef struct {
  rec_t *ev;
  size_t n, cap;
  size_t max_mem;     /* most heap the parser held at any point */
  size_t mem_changes; /* how often that amount changed: reallocations */
  size_t end_mem;     /* heap held after a final empty feed */
  size_t last_mem;
} trace_t;

static void trace_free(trace_t *t) {
  for (size_t i = 0; i < t->n; i++)
    free(t->ev[i].data);
  free(t->ev);
  memset(t, 0, sizeof *t);
}

static void record(trace_t *t, const ws_event_t *ev, size_t at) {
  rec_t *r;
  if (t->n == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 8;
    t->ev = realloc(t->ev, t->cap * sizeof *t->ev);
    assert_non_null(t->ev);
  }
  r = &t->ev[t->n++];
  r->type = ev->type;
  r->opcode = ev->opcode;
  r->compressed = ev->compressed;
  r->close_code = ev->close_code;
  r->len = ev->len;
  r->at = at;
  /* ev->data is only valid until the next feed: copy it now. */
  r->data = malloc(ev->len ? ev->len : 1);
  assert_non_null(r->data);
  if (ev->type != WS_EV_ERROR) {
    assert_non_null(ev->data);
    if (ev->len) memcpy(r->data, ev->data, ev->len);
  }
}

/* Where the piece starting at pos ends. */
typedef size_t (*cut_fn)(size_t pos, size_t len, size_t arg);

static size_t cut_chunks(size_t pos, size_t len, size_t k) {
  return len - pos > k ? pos + k : len;
}

static size_t cut_at(size_t pos, size_t len, size_t split) {
  return pos < split ? split : len;
}

static void feed_piece(ws_parser_t *p, uint8_t *piece, size_t n, size_t base, trace_t *t) {
  size_t off = 0;
  while (off < n) {
    ws_event_t ev;
    size_t used = ws_parser_feed(p, piece + off, n - off, &ev);
    size_t mem = ws_parser_memory(p);
    assert_true(used <= n - off);
    if (ev.type == WS_EV_NONE) assert_int_equal(used, n - off); /* NONE: everything was taken */
    off += used;
    if (mem > t->max_mem) t->max_mem = mem;
    if (mem != t->last_mem) t->mem_changes++;
    t->last_mem = mem;
    if (ev.type != WS_EV_NONE) record(t, &ev, base + off);
  }
}

/* Feeds a private copy of src (the parser unmasks in place), piece by piece,
 * then one empty feed, which must release whatever the last event held. */
static void run_cuts(const ws_parser_opts_t *o, const uint8_t *src, size_t len, cut_fn cut,
                     size_t arg, trace_t *t) {
  ws_parser_t p;
  ws_event_t ev;
  size_t pos = 0;
  memset(t, 0, sizeof *t);
  ws_parser_init(&p, o);
  assert_int_equal(ws_parser_memory(&p), 0);
  while (pos < len) {
    size_t end = cut(pos, len, arg);
    uint8_t *piece = malloc(end - pos);
    assert_non_null(piece);
    memcpy(piece, src + pos, end - pos);
    feed_piece(&p, piece, end - pos, pos, t);
    free(piece);
    pos = end;
  }
  assert_int_equal(ws_parser_feed(&p, NULL, 0, &ev), 0);
  assert_int_equal(ev.type, WS_EV_NONE);
  t->end_mem = ws_parser_memory(&p);
  ws_parser_free(&p);
  assert_int_equal(ws_parser_memory(&p), 0);
}

static void assert_same_trace(const trace_t *a, const trace_t *b) {
  assert_int_equal(a->n, b->n);
  for (size_t i = 0; i < a->n; i++) {
    const rec_t *x = &a->ev[i], *y = &b->ev[i];
    assert_int_equal(x->type, y->type);
    assert_int_equal(x->opcode, y->opcode);
    assert_int_equal(x->compressed, y->compressed);
    assert_int_equal(x->close_code, y->close_code);
    assert_int_equal(x->len, y->len);
    assert_int_equal(x->at, y->at);
    if (x->type != WS_EV_ERROR && x->len) assert_memory_equal(x->data, y->data, x->len);
  }
}

/* What a test expects; at 0 = any offset (other runs must still agree). */
typedef struct {
  ws_event_type_t type;
  uint8_t opcode;
  uint16_t close_code;
  const void *data;
  size_t len;
  size_t at;
  uint8_t compressed;
} want_t;

#define W_TEXT(lit)                                                                                \
  { WS_EV_MESSAGE, WS_OP_TEXT, 0, lit, sizeof(lit) - 1, 0, 0 }
#define W_BIN(lit)                                                                                 \
  { WS_EV_MESSAGE, WS_OP_BINARY, 0, lit, sizeof(lit) - 1, 0, 0 }
#define W_MSG(op, d, n)                                                                            \
  { WS_EV_MESSAGE, op, 0, d, n, 0, 0 }
#define W_ZTEXT(lit)                                                                               \
  { WS_EV_MESSAGE, WS_OP_TEXT, 0, lit, sizeof(lit) - 1, 0, 1 }
#define W_PING(lit)                                                                                \
  { WS_EV_PING, 0, 0, lit, sizeof(lit) - 1, 0, 0 }
#define W_PONG(lit)                                                                                \
  { WS_EV_PONG, 0, 0, lit, sizeof(lit) - 1, 0, 0 }
#define W_CLOSE(code, lit)                                                                         \
  { WS_EV_CLOSE, 0, code, lit, sizeof(lit) - 1, 0, 0 }
#define W_ERR(code)                                                                                \
  { WS_EV_ERROR, 0, code, NULL, 0, 0, 0 }
#define W_ERR_AT(code, pos)                                                                        \
  { WS_EV_ERROR, 0, code, NULL, 0, pos, 0 }
#define NW(arr) (sizeof(arr) / sizeof((arr)[0]))

static void assert_trace_is(const trace_t *t, const want_t *w, size_t nw) {
  assert_int_equal(t->n, nw);
  for (size_t i = 0; i < nw; i++) {
    const rec_t *r = &t->ev[i];
    assert_int_equal(r->type, w[i].type);
    assert_int_equal(r->close_code, w[i].close_code);
    if (w[i].at) assert_int_equal(r->at, w[i].at);
    if (r->type == WS_EV_MESSAGE) {
      assert_int_equal(r->opcode, w[i].opcode);
      assert_int_equal(r->compressed, w[i].compressed);
    }
    if (r->type != WS_EV_ERROR) {
      assert_int_equal(r->len, w[i].len);
      if (w[i].len) assert_memory_equal(r->data, w[i].data, w[i].len);
    }
  }
}

/* Stream ends inside a frame: the parser may rightly hold memory. */
#define PARTIAL 1

static void check_cut(const ws_parser_opts_t *o, const uint8_t *src, size_t len, cut_fn cut,
                      size_t arg, const trace_t *whole, int flags) {
  trace_t t;
  run_cuts(o, src, len, cut, arg, &t);
  assert_same_trace(&t, whole);
  if (!(flags & PARTIAL)) assert_int_equal(t.end_mem, 0);
  trace_free(&t);
}

/* The heart of the suite: whole, every chunk size, every two-way split. */
static void check_stream_flags(const ws_parser_opts_t *o, const uint8_t *src, size_t len,
                               const want_t *w, size_t nw, int flags) {
  trace_t whole;
  run_cuts(o, src, len, cut_chunks, len ? len : 1, &whole);
  assert_trace_is(&whole, w, nw);
  if (!(flags & PARTIAL)) assert_int_equal(whole.end_mem, 0);
  if (len <= 600) {
    for (size_t k = 1; k < len; k++)
      check_cut(o, src, len, cut_chunks, k, &whole, flags);
    for (size_t s = 1; s < len; s++)
      check_cut(o, src, len, cut_at, s, &whole, flags);
  } else { /* big streams: a spread of sizes and splits near the edges */
    static const size_t ks[] = {1, 2, 3, 4, 5, 7, 8, 13, 125, 126, 127, 1000, 4093};
    for (size_t i = 0; i < NW(ks); i++)
      check_cut(o, src, len, cut_chunks, ks[i], &whole, flags);
    check_cut(o, src, len, cut_chunks, len / 2, &whole, flags);
    check_cut(o, src, len, cut_chunks, len - 1, &whole, flags);
    for (size_t s = 1; s < 40; s++) {
      check_cut(o, src, len, cut_at, s, &whole, flags);
      check_cut(o, src, len, cut_at, len - s, &whole, flags);
    }
    for (size_t s = 40; s < len - 40; s += len / 37)
      check_cut(o, src, len, cut_at, s, &whole, flags);
  }
  trace_free(&whole);
}

static void check_stream(const ws_parser_opts_t *o, const bytes_t *b, const want_t *w, size_t nw) {
  check_stream_flags(o, b->p, b->len, w, nw, 0);
}

static void check_one(const ws_parser_opts_t *o, const bytes_t *b, want_t w) {
  check_stream(o, b, &w, 1);
}

/* Valid UTF-8 of exactly n bytes with multibyte characters spread through
 * it, so that splits land inside sequences. */
static uint8_t *utf8_payload(size_t n) {
  uint8_t *d = malloc(n ? n : 1);
  size_t i = 0;
  assert_non_null(d);
  while (i < n) {
    if (i % 11 == 3 && i + 4 <= n) {
      memcpy(d + i, "\xF0\x9F\x98\x80", 4); /* U+1F600 */
      i += 4;
    } else if (i % 7 == 2 && i + 3 <= n) {
      memcpy(d + i, "\xE2\x82\xAC", 3); /* U+20AC */
      i += 3;
    } else {
      d[i] = (uint8_t)('a' + i % 26);
      i++;
    }
  }
  assert_int_equal(utf8_validate(d, n), 0);
  return d;
}

/* ---- length classes, masking, many frames per call ---- */

static void test_length_classes(void **state) {
  static const size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 70001};
  static const size_t hdr[] = {2, 2, 2, 4, 4, 4, 10, 10};
  (void)state;
  for (size_t i = 0; i < NW(lens); i++) {
    uint8_t *d = utf8_payload(lens[i]);
    bytes_t b = {0};
    want_t text = W_MSG(WS_OP_TEXT, d, lens[i]);
    want_t bin = W_MSG(WS_OP_BINARY, d, lens[i]);

    put_frame(&b, FIN | WS_OP_TEXT, d, lens[i], KEY); /* masked */
    assert_int_equal(b.len, hdr[i] + 4 + lens[i]);
    text.at = b.len;
    check_stream(&SERVER, &b, &text, 1);

    b.len = 0;
    put_frame(&b, FIN | WS_OP_BINARY, d, lens[i], KEY);
    check_one(&SERVER, &b, bin);

    b.len = 0; /* unmasked: a client reading a server */
    put_frame(&b, FIN | WS_OP_TEXT, d, lens[i], NULL);
    assert_int_equal(b.len, hdr[i] + lens[i]);
    text.at = b.len;
    check_one(&CLIENT, &b, text);
    free(b.p);
    free(d);
  }
}

static void test_many_frames_in_one_call(void **state) {
  bytes_t b = {0};
  want_t w[] = {W_TEXT("a"), W_BIN("bc"), W_PING("p"), W_PONG(""), W_TEXT(""), W_TEXT("last")};
  (void)state;
  F(&b, FIN | WS_OP_TEXT, "a");
  w[0].at = b.len;
  F(&b, FIN | WS_OP_BINARY, "bc");
  w[1].at = b.len;
  F(&b, FIN | WS_OP_PING, "p");
  w[2].at = b.len;
  F(&b, FIN | WS_OP_PONG, "");
  w[3].at = b.len;
  F(&b, FIN | WS_OP_TEXT, "");
  w[4].at = b.len;
  F(&b, FIN | WS_OP_TEXT, "last");
  w[5].at = b.len;
  check_stream(&SERVER, &b, w, NW(w));
  free(b.p);
}

static void test_unmasked_frame_rejected(void **state) {
  bytes_t b = {0};
  (void)state;
  put_frame(&b, FIN | WS_OP_TEXT, "hi", 2, NULL);
  check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 2));
  check_one(&CLIENT, &b, (want_t)W_TEXT("hi"));
  b.len = 0; /* control frames too */
  put_frame(&b, FIN | WS_OP_PING, "", 0, NULL);
  check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 2));
  free(b.p);
}

/* ---- reserved bits and opcodes ---- */

static void test_rsv_bits(void **state) {
  bytes_t b = {0};
  (void)state;
  F(&b, FIN | RSV2 | WS_OP_TEXT, "x");
  check_one(&DEFLATE, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 1));
  b.len = 0;
  F(&b, FIN | RSV3 | WS_OP_TEXT, "x");
  check_one(&DEFLATE, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 1));
  b.len = 0;
  F(&b, FIN | RSV1 | WS_OP_TEXT, "x"); /* deflate not negotiated */
  check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 1));
  b.len = 0;
  F(&b, FIN | RSV1 | WS_OP_PING, "x"); /* never on control frames */
  check_one(&DEFLATE, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 1));
  b.len = 0;
  F(&b, FIN | RSV1 | WS_OP_CLOSE, "");
  check_one(&DEFLATE, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 1));
  b.len = 0;
  F(&b, RSV1 | WS_OP_TEXT, "ab"); /* nor on a continuation */
  F(&b, FIN | RSV1 | WS_OP_CONT, "cd");
  check_one(&DEFLATE, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 9));
  free(b.p);
}

static void test_compressed_messages(void **state) {
  bytes_t b = {0};
  want_t one = W_ZTEXT("\xFF\xFE\x00\xC0"); /* deflated bytes: no UTF-8 check */
  want_t two[] = {W_PING("p"), W_ZTEXT("\xC0\xAF\xED\xA0")};
  want_t bin = {WS_EV_MESSAGE, WS_OP_BINARY, 0, "\x01\x02", 2, 0, 1};
  (void)state;
  F(&b, FIN | RSV1 | WS_OP_TEXT, "\xFF\xFE\x00\xC0");
  check_one(&DEFLATE, &b, one);
  b.len = 0;
  F(&b, RSV1 | WS_OP_TEXT, "\xC0\xAF");
  F(&b, FIN | WS_OP_PING, "p");
  F(&b, FIN | WS_OP_CONT, "\xED\xA0");
  check_stream(&DEFLATE, &b, two, NW(two));
  b.len = 0;
  F(&b, FIN | RSV1 | WS_OP_BINARY, "\x01\x02");
  check_one(&DEFLATE, &b, bin);
  b.len = 0; /* the flag does not leak into the next message */
  F(&b, FIN | RSV1 | WS_OP_TEXT, "\xFF");
  F(&b, FIN | WS_OP_TEXT, "\xFF");
  {
    want_t w[] = {W_ZTEXT("\xFF"), W_ERR_AT(WS_CLOSE_INVALID_DATA, 14)};
    check_stream(&DEFLATE, &b, w, NW(w));
  }
  free(b.p);
}

static void test_reserved_opcodes(void **state) {
  static const uint8_t ops[] = {3, 4, 5, 6, 7, 11, 12, 13, 14, 15};
  bytes_t b = {0};
  (void)state;
  for (size_t i = 0; i < NW(ops); i++) {
    b.len = 0;
    F(&b, (uint8_t)(FIN | ops[i]), "x");
    check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 1));
    b.len = 0;
    F(&b, ops[i], "x");
    check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 1));
    b.len = 0; /* also in the middle of a message */
    F(&b, WS_OP_TEXT, "x");
    F(&b, (uint8_t)(FIN | ops[i]), "x");
    check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 8));
  }
  free(b.p);
}

/* ---- control frames ---- */

static void test_control_frame_rules(void **state) {
  bytes_t b = {0};
  uint8_t big[126];
  (void)state;
  memset(big, 'p', sizeof big);
  F(&b, WS_OP_PING, "x"); /* fragmented control frame */
  check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 1));
  b.len = 0;
  F(&b, WS_OP_CLOSE, "");
  check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 1));
  b.len = 0;
  put_frame(&b, FIN | WS_OP_PING, big, 126, KEY); /* 126 > 125 */
  check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 2));
  b.len = 0;
  put_frame(&b, FIN | WS_OP_PONG, big, 126, KEY);
  check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 2));
  b.len = 0; /* 127 marker on a control frame */
  put_byte(&b, FIN | WS_OP_PING);
  put_byte(&b, 0x80 | 127);
  put_be(&b, 5, 8);
  check_stream_flags(&SERVER, b.p, b.len, &(want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 2), 1, 0);
  b.len = 0;
  put_frame(&b, FIN | WS_OP_PING, big, 125, KEY);
  put_frame(&b, FIN | WS_OP_PONG, big, 125, KEY);
  put_frame(&b, FIN | WS_OP_PING, "\xFF\xC0", 2, KEY); /* payload unchecked */
  {
    want_t w[] = {{WS_EV_PING, 0, 0, big, 125, 131, 0},
                  {WS_EV_PONG, 0, 0, big, 125, 262, 0},
                  W_PING("\xFF\xC0")};
    check_stream(&SERVER, &b, w, NW(w));
  }
  free(b.p);
}

static void test_close_frames(void **state) {
  static const unsigned bad_codes[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535};
  static const unsigned good_codes[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                                        1011, 1012, 1013, 1014, 3000, 4000, 4001, 4999};
  bytes_t b = {0};
  uint8_t pl[125];
  (void)state;
  F(&b, FIN | WS_OP_CLOSE, "");
  check_one(&SERVER, &b, (want_t)W_CLOSE(WS_CLOSE_NO_STATUS, ""));
  b.len = 0;
  F(&b, FIN | WS_OP_CLOSE, "\x03"); /* one byte cannot be a code */
  check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 7));
  b.len = 0;
  F(&b, FIN | WS_OP_CLOSE,
    "\x03\xE8"
    "bye");
  check_one(&SERVER, &b, (want_t)W_CLOSE(1000, "bye"));
  for (size_t i = 0; i < NW(bad_codes); i++) {
    b.len = 0;
    pl[0] = (uint8_t)(bad_codes[i] >> 8);
    pl[1] = (uint8_t)bad_codes[i];
    put_frame(&b, FIN | WS_OP_CLOSE, pl, 2, KEY);
    check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 8));
  }
  for (size_t i = 0; i < NW(good_codes); i++) {
    b.len = 0;
    pl[0] = (uint8_t)(good_codes[i] >> 8);
    pl[1] = (uint8_t)good_codes[i];
    put_frame(&b, FIN | WS_OP_CLOSE, pl, 2, KEY);
    check_one(&SERVER, &b, (want_t){WS_EV_CLOSE, 0, (uint16_t)good_codes[i], "", 0, 8, 0});
  }
  b.len = 0; /* reason not UTF-8 */
  F(&b, FIN | WS_OP_CLOSE,
    "\x03\xE8"
    "ab\xC0\xAF");
  check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_INVALID_DATA, 12));
  b.len = 0; /* reason cut inside a character */
  F(&b, FIN | WS_OP_CLOSE, "\x03\xE8\xE2\x82");
  check_one(&SERVER, &b, (want_t)W_ERR(WS_CLOSE_INVALID_DATA));
  b.len = 0; /* the largest close frame: code + 123 bytes of reason */
  pl[0] = 0x0F;
  pl[1] = 0xA1; /* 4001 */
  memset(pl + 2, 'r', 123);
  put_frame(&b, FIN | WS_OP_CLOSE, pl, 125, KEY);
  check_one(&SERVER, &b, (want_t){WS_EV_CLOSE, 0, 4001, pl + 2, 123, 131, 0});
  free(b.p);
}

static void test_data_after_close_ignored(void **state) {
  bytes_t b = {0};
  uint8_t junk[64];
  ws_parser_t p;
  ws_event_t ev;
  (void)state;
  memset(junk, 0xFF, sizeof junk);
  F(&b, FIN | WS_OP_CLOSE, "\x03\xE8");
  F(&b, FIN | WS_OP_TEXT, "after");
  F(&b, FIN | WS_OP_PING, "ping");
  put(&b, junk, sizeof junk); /* would be errors if parsed */
  check_one(&SERVER, &b, (want_t){WS_EV_CLOSE, 0, 1000, "", 0, 8, 0});

  ws_parser_init(&p, &SERVER);
  assert_int_equal(ws_parser_feed(&p, b.p, b.len, &ev), 8);
  assert_int_equal(ev.type, WS_EV_CLOSE);
  assert_int_equal(ws_parser_feed(&p, b.p + 8, b.len - 8, &ev), b.len - 8);
  assert_int_equal(ev.type, WS_EV_NONE);
  assert_int_equal(ws_parser_feed(&p, junk, sizeof junk, &ev), sizeof junk);
  assert_int_equal(ev.type, WS_EV_NONE);
  assert_int_equal(ws_parser_memory(&p), 0);
  ws_parser_free(&p);
  free(b.p);
}

static void test_dead_after_error(void **state) {
  bytes_t b = {0};
  ws_parser_t p;
  ws_event_t ev;
  (void)state;
  F(&b, WS_OP_TEXT, "partial message held in the buffer");
  F(&b, FIN | WS_OP_TEXT, "new message while one is open");
  F(&b, FIN | WS_OP_TEXT, "valid, but after an error");
  ws_parser_init(&p, &SERVER);
  /* First frame: split so the message is gathered in the buffer. */
  assert_int_equal(ws_parser_feed(&p, b.p, 10, &ev), 10);
  assert_int_equal(ev.type, WS_EV_NONE);
  assert_int_equal(ws_parser_feed(&p, b.p + 10, b.len - 10, &ev), 31);
  assert_int_equal(ev.type, WS_EV_ERROR);
  assert_int_equal(ev.close_code, WS_CLOSE_PROTOCOL);
  assert_int_equal(ws_parser_memory(&p), 0); /* freed at the error */
  assert_int_equal(ws_parser_feed(&p, b.p + 41, b.len - 41, &ev), b.len - 41);
  assert_int_equal(ev.type, WS_EV_NONE);
  ws_parser_free(&p);
  free(b.p);
}

/* ---- lengths and limits ---- */

/* A frame header with a chosen (possibly non-minimal) length encoding. */
static void put_header(bytes_t *b, uint8_t b0, int form, uint64_t len) {
  put_byte(b, b0);
  if (form == 7) {
    put_byte(b, (uint8_t)(0x80 | len));
  } else if (form == 16) {
    put_byte(b, 0x80 | 126);
    put_be(b, len, 2);
  } else {
    put_byte(b, 0x80 | 127);
    put_be(b, len, 8);
  }
  put(b, KEY, 4);
}

static void test_non_minimal_lengths(void **state) {
  static const struct {
    int form;
    uint64_t len;
    size_t fail_at; /* 0 = accepted */
  } cases[] = {
      {16, 0, 4},    {16, 125, 4},  {16, 126, 0},     {16, 65535, 0},   {64, 0, 10},
      {64, 125, 10}, {64, 126, 10}, {64, 0xFFFF, 10}, {64, 0x10000, 0},
  };
  bytes_t b = {0};
  (void)state;
  for (size_t i = 0; i < NW(cases); i++) {
    uint8_t *d = utf8_payload((size_t)cases[i].len);
    b.len = 0;
    put_header(&b, FIN | WS_OP_TEXT, cases[i].form, cases[i].len);
    put(&b, d, (size_t)cases[i].len);
    ws_mask(b.p + b.len - cases[i].len, (size_t)cases[i].len, KEY, 0);
    if (cases[i].fail_at)
      check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, cases[i].fail_at));
    else
      check_one(&SERVER, &b, (want_t)W_MSG(WS_OP_TEXT, d, (size_t)cases[i].len));
    free(d);
  }
  free(b.p);
}

static void test_huge_lengths(void **state) {
  bytes_t b = {0};
  (void)state;
  /* Top bit set: 2^63 and 2^64-1 are never lengths, limit or not. */
  put_header(&b, FIN | WS_OP_BINARY, 64, UINT64_C(1) << 63);
  check_one(&UNLIMITED, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 10));
  check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 10));
  b.len = 0;
  put_header(&b, FIN | WS_OP_BINARY, 64, UINT64_MAX);
  check_one(&UNLIMITED, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 10));
  check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 10));
  b.len = 0;
  /* 2^63-1 with a limit: refused when the length is known, before the
   * mask key and without allocating. */
  put_header(&b, FIN | WS_OP_BINARY, 64, INT64_MAX);
  check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_TOO_BIG, 10));
  /* The same as a continuation of a message already holding bytes. */
  b.len = 0;
  F(&b, WS_OP_BINARY, "abc");
  put_header(&b, FIN | WS_OP_CONT, 64, INT64_MAX - 1);
  check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_TOO_BIG, 19));
  b.len = 0; /* and against an effectively unbounded limit */
  F(&b, WS_OP_BINARY, "abc");
  put_header(&b, FIN | WS_OP_CONT, 64, INT64_MAX);
  {
    ws_parser_opts_t o = UNLIMITED;
    o.max_message_size = UINT64_MAX;
    check_stream_flags(&o, b.p, b.len, NULL, 0, PARTIAL);
    o.max_message_size = INT64_MAX; /* 3 + (2^63-1) is one over */
    check_one(&o, &b, (want_t)W_ERR_AT(WS_CLOSE_TOO_BIG, 19));
  }
  free(b.p);
}

/* With no limit a huge announced frame is accepted, but memory follows the
 * bytes that actually arrive, not the header's promise. */
static void test_huge_frame_without_limit(void **state) {
  bytes_t b = {0};
  trace_t t;
  uint8_t some[1000];
  (void)state;
  memset(some, 'z', sizeof some);
  put_header(&b, FIN | WS_OP_BINARY, 64, INT64_MAX);
  put(&b, some, sizeof some);
  run_cuts(&UNLIMITED, b.p, b.len, cut_chunks, 1, &t);
  assert_int_equal(t.n, 0);
  assert_true(t.max_mem <= 2 * sizeof some);
  trace_free(&t);
  check_stream_flags(&UNLIMITED, b.p, b.len, NULL, 0, PARTIAL);
  free(b.p);
}

/* A final frame states where its message ends: growth stops there. */
static void test_buffer_sized_to_final_frame(void **state) {
  uint8_t *d = utf8_payload(1000);
  bytes_t b = {0};
  trace_t t;
  (void)state;
  put_frame(&b, FIN | WS_OP_TEXT, d, 1000, KEY);
  run_cuts(&SERVER, b.p, b.len, cut_chunks, 1, &t);
  assert_int_equal(t.n, 1);
  assert_int_equal(t.max_mem, 1000);
  trace_free(&t);
  b.len = 0; /* as the last of several fragments */
  put_frame(&b, WS_OP_TEXT, d, 300, KEY);
  put_frame(&b, FIN | WS_OP_CONT, d + 300, 700, KEY);
  run_cuts(&SERVER, b.p, b.len, cut_chunks, 3, &t);
  assert_int_equal(t.n, 1);
  assert_int_equal(t.max_mem, 1000);
  trace_free(&t);
  free(b.p);
  free(d);
}

static void test_message_size_limit(void **state) {
  ws_parser_opts_t o = SERVER;
  uint8_t d[200];
  bytes_t b = {0};
  (void)state;
  memset(d, 'm', sizeof d);
  o.max_message_size = 100;
  put_frame(&b, FIN | WS_OP_TEXT, d, 100, KEY); /* exactly at the limit */
  check_one(&o, &b, (want_t)W_MSG(WS_OP_TEXT, d, 100));
  b.len = 0;
  put_frame(&b, FIN | WS_OP_BINARY, d, 101, KEY); /* one over */
  check_one(&o, &b, (want_t)W_ERR_AT(WS_CLOSE_TOO_BIG, 2));
  b.len = 0; /* fragments add up to exactly the limit; controls don't count */
  put_frame(&b, WS_OP_TEXT, d, 60, KEY);
  put_frame(&b, FIN | WS_OP_PING, d, 125, KEY);
  put_frame(&b, WS_OP_CONT, d, 39, KEY);
  put_frame(&b, FIN | WS_OP_CONT, d, 1, KEY);
  {
    want_t w[] = {{WS_EV_PING, 0, 0, d, 125, 0, 0}, W_MSG(WS_OP_TEXT, d, 100)};
    check_stream(&o, &b, w, NW(w));
  }
  b.len = 0; /* one over, refused at the last fragment's length byte */
  put_frame(&b, WS_OP_TEXT, d, 60, KEY);
  put_frame(&b, WS_OP_CONT, d, 39, KEY);
  put_frame(&b, FIN | WS_OP_CONT, d, 2, KEY);
  check_one(&o, &b, (want_t)W_ERR_AT(WS_CLOSE_TOO_BIG, 66 + 45 + 2));
  b.len = 0; /* 16-bit length form at and over the limit */
  o.max_message_size = 65536;
  {
    uint8_t *big = utf8_payload(65537);
    put_frame(&b, FIN | WS_OP_BINARY, big, 65536, KEY);
    check_one(&o, &b, (want_t)W_MSG(WS_OP_BINARY, big, 65536));
    b.len = 0;
    put_frame(&b, FIN | WS_OP_BINARY, big, 65537, KEY);
    check_one(&o, &b, (want_t)W_ERR_AT(WS_CLOSE_TOO_BIG, 10));
    o.max_message_size = 0; /* 0 = no limit */
    check_one(&o, &b, (want_t)W_MSG(WS_OP_BINARY, big, 65537));
    free(big);
  }
  free(b.p);
}

/* ---- fragmentation ---- */

static void test_fragmentation(void **state) {
  bytes_t b = {0};
  (void)state;
  F(&b, WS_OP_TEXT, "Hel");
  F(&b, WS_OP_CONT, "lo");
  F(&b, FIN | WS_OP_CONT, ", world");
  check_one(&SERVER, &b, (want_t)W_TEXT("Hello, world"));
  b.len = 0; /* empty fragments are legal */
  F(&b, WS_OP_BINARY, "");
  F(&b, WS_OP_CONT, "");
  F(&b, FIN | WS_OP_CONT, "");
  F(&b, WS_OP_TEXT, "");
  F(&b, FIN | WS_OP_CONT, "x");
  F(&b, WS_OP_BINARY, "ab"); /* a second fragmented message reuses nothing stale */
  F(&b, FIN | WS_OP_CONT, "c");
  {
    want_t w[] = {W_BIN(""), W_TEXT("x"), W_BIN("abc")};
    check_stream(&SERVER, &b, w, NW(w));
  }
  b.len = 0;
  F(&b, WS_OP_CONT, "x"); /* continuation with no message */
  check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 1));
  b.len = 0;
  F(&b, FIN | WS_OP_CONT, "x");
  check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 1));
  b.len = 0; /* ... nor right after a complete message */
  F(&b, FIN | WS_OP_TEXT, "done");
  F(&b, FIN | WS_OP_CONT, "x");
  {
    want_t w[] = {W_TEXT("done"), W_ERR_AT(WS_CLOSE_PROTOCOL, 11)};
    check_stream(&SERVER, &b, w, NW(w));
  }
  b.len = 0; /* new data frame while a message is unfinished */
  F(&b, WS_OP_TEXT, "x");
  F(&b, FIN | WS_OP_TEXT, "y");
  check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 8));
  b.len = 0;
  F(&b, WS_OP_TEXT, "x");
  F(&b, WS_OP_BINARY, "y");
  check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_PROTOCOL, 8));
  free(b.p);
}

static void test_binary_refused(void **state) {
  bytes_t b = {0};
  (void)state;
  /* 1003 at the first header byte, before its payload is read. */
  put_frame(&b, FIN | WS_OP_BINARY, "\x01\x02\x03", 3, KEY);
  check_one(&NO_BINARY, &b, (want_t)W_ERR_AT(WS_CLOSE_UNSUPPORTED, 1));
  b.len = 0;
  put_frame(&b, WS_OP_BINARY, "\x01", 1, KEY);
  put_frame(&b, FIN | WS_OP_CONT, "\x02", 1, KEY);
  check_one(&NO_BINARY, &b, (want_t)W_ERR_AT(WS_CLOSE_UNSUPPORTED, 1));
  b.len = 0; /* text still passes */
  F(&b, FIN | WS_OP_TEXT, "ok");
  check_one(&NO_BINARY, &b, (want_t)W_TEXT("ok"));
  free(b.p);
}

static void test_control_between_fragments(void **state) {
  bytes_t b = {0};
  uint8_t *d = utf8_payload(900), pp[125];
  (void)state;
  memset(pp, 'P', sizeof pp);
  /* Large fragments so a split ping is gathered behind message bytes. */
  put_frame(&b, WS_OP_TEXT, d, 300, KEY);
  put_frame(&b, FIN | WS_OP_PING, pp, 125, KEY);
  put_frame(&b, WS_OP_CONT, d + 300, 300, KEY);
  put_frame(&b, FIN | WS_OP_PONG, "", 0, KEY);
  put_frame(&b, FIN | WS_OP_PING, "x", 1, KEY);
  put_frame(&b, FIN | WS_OP_CONT, d + 600, 300, KEY);
  {
    want_t w[] = {
        {WS_EV_PING, 0, 0, pp, 125, 0, 0}, W_PONG(""), W_PING("x"), W_MSG(WS_OP_TEXT, d, 900)};
    check_stream(&SERVER, &b, w, NW(w));
  }
  b.len = 0; /* a close mid-message ends everything */
  put_frame(&b, WS_OP_BINARY, d, 50, KEY);
  F(&b, FIN | WS_OP_CLOSE, "\x03\xE9going");
  put_frame(&b, FIN | WS_OP_CONT, d, 50, KEY);
  check_one(&SERVER, &b, (want_t)W_CLOSE(1001, "going"));
  free(b.p);
  free(d);
}

/* 100,000 one-byte fragments: linear work, memory a small multiple of the
 * message, and the limit still applies fragment by fragment. */
static void test_fragment_flood(void **state) {
  enum { N = 100000 };
  bytes_t b = {0};
  uint8_t *want = malloc(N);
  trace_t t;
  static const size_t ks[] = {1, 7, 4096, 0};
  (void)state;
  assert_non_null(want);
  for (size_t i = 0; i < N; i++) {
    uint8_t c = (uint8_t)('a' + i % 26);
    want[i] = c;
    put_frame(&b, (uint8_t)((i == 0 ? WS_OP_TEXT : WS_OP_CONT) | (i == N - 1 ? FIN : 0)), &c, 1,
              KEY);
  }
  for (size_t i = 0; i < NW(ks); i++) {
    run_cuts(&SERVER, b.p, b.len, cut_chunks, ks[i] ? ks[i] : b.len, &t);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.ev[0].type, WS_EV_MESSAGE);
    assert_int_equal(t.ev[0].len, N);
    assert_memory_equal(t.ev[0].data, want, N);
    assert_true(t.max_mem <= 2 * N + 256);
    assert_true(t.mem_changes <= 24); /* geometric growth: O(log N) reallocs */
    assert_int_equal(t.end_mem, 0);
    trace_free(&t);
  }
  {
    ws_parser_opts_t o = SERVER;
    o.max_message_size = N / 2;
    run_cuts(&o, b.p, b.len, cut_chunks, b.len, &t);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.ev[0].type, WS_EV_ERROR);
    assert_int_equal(t.ev[0].close_code, WS_CLOSE_TOO_BIG);
    assert_int_equal(t.ev[0].at, (size_t)7 * (N / 2) + 2); /* fragment N/2+1 */
    assert_true(t.max_mem <= N + 256);
    trace_free(&t);
  }
  free(want);
  free(b.p);
}

/* ---- UTF-8 in text messages ---- */

static void test_utf8_invalid_text(void **state) {
  static const struct {
    const char *s;
    size_t n, bad; /* index of the first invalid byte */
  } cases[] = {
      {"ab\xC0\xAF"
       "cd",
       6, 2},                     /* overlong '/' */
      {"\xE0\x80\x80", 3, 1},     /* overlong 3-byte */
      {"\xF0\x8F\xBF\xBF", 4, 1}, /* overlong 4-byte */
      {"x\xED\xA0\x80", 4, 2},    /* surrogate U+D800 */
      {"\xED\xBF\xBF", 3, 1},     /* surrogate U+DFFF */
      {"\xF4\x90\x80\x80", 4, 1}, /* U+110000 */
      {"\xF5\x80\x80\x80", 4, 0},
      {"\xFF", 1, 0},
      {"ok\x80", 3, 2}, /* stray continuation */
      {"\xE2\x82"
       "A",
       3, 2},
  };
  bytes_t b = {0};
  (void)state;
  for (size_t i = 0; i < NW(cases); i++) {
    b.len = 0;
    put_frame(&b, FIN | WS_OP_TEXT, cases[i].s, cases[i].n, KEY);
    check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_INVALID_DATA, 6 + cases[i].bad + 1));
    b.len = 0; /* the same bytes as binary are fine */
    put_frame(&b, FIN | WS_OP_BINARY, cases[i].s, cases[i].n, KEY);
    check_one(&SERVER, &b, (want_t)W_MSG(WS_OP_BINARY, cases[i].s, cases[i].n));
  }
  free(b.p);
}

/* The error comes at the bad byte, before the rest of the frame arrives. */
static void test_utf8_fail_fast_mid_frame(void **state) {
  uint8_t *d = utf8_payload(300);
  bytes_t b = {0};
  (void)state;
  d[150] = 0xC1;
  put_frame(&b, FIN | WS_OP_TEXT, d, 300, KEY);
  check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_INVALID_DATA, 8 + 151));
  /* Only the bytes up to the bad one: still an error, not a wait. */
  check_stream_flags(&SERVER, b.p, 8 + 151, &(want_t)W_ERR_AT(WS_CLOSE_INVALID_DATA, 8 + 151), 1,
                     0);
  b.len = 0; /* in a later fragment of a long message */
  put_frame(&b, WS_OP_TEXT, d, 100, KEY);
  put_frame(&b, FIN | WS_OP_CONT, d + 100, 200, KEY);
  check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_INVALID_DATA, 106 + 8 + 51));
  free(b.p);
  free(d);
}

static void test_utf8_split_across_fragments(void **state) {
  bytes_t b = {0};
  (void)state;
  F(&b, WS_OP_TEXT, "a\xE2");
  F(&b, FIN | WS_OP_CONT, "\x82\xAC");
  check_one(&SERVER, &b, (want_t)W_TEXT("a\xE2\x82\xAC"));
  b.len = 0; /* a 4-byte character over three fragments and a ping */
  F(&b, WS_OP_TEXT, "\xF0");
  F(&b, WS_OP_CONT, "\x9F\x98");
  F(&b, FIN | WS_OP_PING, "\xFF");
  F(&b, FIN | WS_OP_CONT, "\x80!");
  {
    want_t w[] = {W_PING("\xFF"), W_TEXT("\xF0\x9F\x98\x80!")};
    check_stream(&SERVER, &b, w, NW(w));
  }
  b.len = 0; /* a surrogate whose lead is in the first fragment */
  F(&b, WS_OP_TEXT, "a\xED");
  F(&b, FIN | WS_OP_CONT, "\xA0\x80");
  check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_INVALID_DATA, 8 + 6 + 1));
  b.len = 0; /* message ends inside a character */
  F(&b, FIN | WS_OP_TEXT, "a\xE2\x82");
  check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_INVALID_DATA, 9));
  b.len = 0;
  F(&b, WS_OP_TEXT, "\xE2");
  F(&b, FIN | WS_OP_CONT, "");
  check_one(&SERVER, &b, (want_t)W_ERR_AT(WS_CLOSE_INVALID_DATA, 13));
  b.len = 0; /* a fresh message starts with a fresh validator */
  F(&b, FIN | RSV1 | WS_OP_TEXT, "\xE2");
  F(&b, FIN | WS_OP_TEXT, "\x82\xAC");
  {
    want_t w[] = {W_ZTEXT("\xE2"), W_ERR_AT(WS_CLOSE_INVALID_DATA, 7 + 7)};
    check_stream(&DEFLATE, &b, w, NW(w));
  }
  free(b.p);
}

/* ---- zero copy and memory ---- */

static int points_into(const uint8_t *p, const uint8_t *base, size_t len) {
  return p >= base && p < base + len;
}

static void test_zero_copy_and_idle_memory(void **state) {
  bytes_t b = {0};
  ws_parser_t p;
  ws_event_t ev;
  size_t n;
  (void)state;
  ws_parser_init(&p, &SERVER);
  F(&b, FIN | WS_OP_TEXT, "whole frame");
  F(&b, FIN | WS_OP_PING, "ping");
  n = ws_parser_feed(&p, b.p, b.len, &ev);
  assert_int_equal(ev.type, WS_EV_MESSAGE);
  assert_true(points_into(ev.data, b.p, b.len)); /* unmasked in place */
  assert_memory_equal(ev.data, "whole frame", 11);
  assert_int_equal(ws_parser_memory(&p), 0);
  assert_int_equal(ws_parser_feed(&p, b.p + n, b.len - n, &ev), b.len - n);
  assert_int_equal(ev.type, WS_EV_PING);
  assert_true(points_into(ev.data, b.p, b.len));
  assert_int_equal(ws_parser_memory(&p), 0);

  b.len = 0; /* split: gathered, so held until the next feed */
  F(&b, FIN | WS_OP_TEXT, "split frame");
  assert_int_equal(ws_parser_feed(&p, b.p, 9, &ev), 9);
  assert_int_equal(ev.type, WS_EV_NONE);
  assert_true(ws_parser_memory(&p) > 0);
  assert_int_equal(ws_parser_feed(&p, b.p + 9, b.len - 9, &ev), b.len - 9);
  assert_int_equal(ev.type, WS_EV_MESSAGE);
  assert_false(points_into(ev.data, b.p, b.len));
  assert_memory_equal(ev.data, "split frame", 11);
  assert_int_equal(ws_parser_feed(&p, NULL, 0, &ev), 0);
  assert_int_equal(ws_parser_memory(&p), 0); /* idle: no heap */

  b.len = 0; /* a split close keeps its reason until the next feed */
  F(&b, FIN | WS_OP_CLOSE,
    "\x03\xE8"
    "bye");
  assert_int_equal(ws_parser_feed(&p, b.p, 7, &ev), 7);
  assert_int_equal(ws_parser_feed(&p, b.p + 7, b.len - 7, &ev), b.len - 7);
  assert_int_equal(ev.type, WS_EV_CLOSE);
  assert_memory_equal(ev.data, "bye", 3);
  assert_int_equal(ws_parser_feed(&p, NULL, 0, &ev), 0);
  assert_int_equal(ws_parser_memory(&p), 0);
  ws_parser_free(&p);

  /* ws_parser_free mid-message releases the buffer (valgrind/ASan check). */
  ws_parser_init(&p, &SERVER);
  b.len = 0;
  F(&b, WS_OP_TEXT, "first fragment");
  ws_parser_feed(&p, b.p, b.len, &ev);
  assert_true(ws_parser_memory(&p) > 0);
  ws_parser_free(&p);
  assert_int_equal(ws_parser_memory(&p), 0);
  free(b.p);
}

/* ---- writer ---- */

static void test_frame_header_layout(void **state) {
  static const struct {
    uint64_t len;
    size_t size;
    const char *bytes;
  } cases[] = {
      {0, 2, "\x82\x00"},
      {125, 2, "\x82\x7D"},
      {126, 4, "\x82\x7E\x00\x7E"},
      {65535, 4, "\x82\x7E\xFF\xFF"},
      {65536, 10, "\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00"},
      {UINT64_C(0x0102030405060708), 10, "\x82\x7F\x01\x02\x03\x04\x05\x06\x07\x08"},
  };
  uint8_t out[WS_MAX_HEADER];
  (void)state;
  for (size_t i = 0; i < NW(cases); i++) {
    assert_int_equal(ws_frame_header(out, WS_OP_BINARY, 1, 0, cases[i].len, NULL), cases[i].size);
    assert_int_equal(ws_frame_header_size(cases[i].len, 0), cases[i].size);
    assert_memory_equal(out, cases[i].bytes, cases[i].size);
    assert_int_equal(ws_frame_header(out, WS_OP_BINARY, 1, 0, cases[i].len, KEY),
                     cases[i].size + 4);
    assert_int_equal(ws_frame_header_size(cases[i].len, 1), cases[i].size + 4);
    assert_int_equal(out[0], 0x82);
    assert_int_equal(out[1], (uint8_t)(cases[i].bytes[1] | 0x80));
    assert_memory_equal(out + 2, cases[i].bytes + 2, cases[i].size - 2);
    assert_memory_equal(out + cases[i].size, KEY, 4);
  }
  assert_int_equal(ws_frame_header(out, WS_OP_TEXT, 0, 1, 3, NULL), 2);
  assert_memory_equal(out, "\x41\x03", 2);
  assert_int_equal(ws_frame_header(out, WS_OP_CONT, 1, 0, 3, NULL), 2);
  assert_memory_equal(out, "\x80\x03", 2);
  assert_int_equal(ws_frame_header(out, WS_OP_CLOSE, 1, 0, 2, NULL), 2);
  assert_memory_equal(out, "\x88\x02", 2);
}

/* Frames written by ws_frame_header (+ ws_mask) parse back to the same
 * message, in every length class, masked and not, whole and fragmented. */
static void test_writer_round_trip(void **state) {
  static const size_t lens[] = {0, 1, 125, 126, 65535, 65536};
  static const uint8_t key2[4] = {0x00, 0xFF, 0x5A, 0xA5};
  (void)state;
  for (size_t i = 0; i < NW(lens); i++) {
    for (int masked = 0; masked <= 1; masked++) {
      size_t n = lens[i], h;
      uint8_t *d = utf8_payload(n);
      uint8_t *frame = malloc(WS_MAX_HEADER + n + 1);
      bytes_t b = {0};
      assert_non_null(frame);
      h = ws_frame_header(frame, WS_OP_TEXT, 1, 0, n, masked ? key2 : NULL);
      assert_int_equal(h, ws_frame_header_size(n, masked));
      if (n) memcpy(frame + h, d, n);
      if (masked) ws_mask(frame + h, n, key2, 0);
      put(&b, frame, h + n);
      {
        want_t w = W_MSG(WS_OP_TEXT, d, n);
        w.at = h + n;
        check_one(masked ? &SERVER : &CLIENT, &b, w);
      }
      /* the same payload as two fragments, the mask offset continuing */
      if (n >= 2 && masked) {
        size_t a = n / 2;
        b.len = 0;
        h = ws_frame_header(frame, WS_OP_BINARY, 0, 1, a, key2);
        put(&b, frame, h);
        put(&b, d, a);
        ws_mask(b.p + h, a, key2, 0);
        h = ws_frame_header(frame, WS_OP_CONT, 1, 0, n - a, key2);
        put(&b, frame, h);
        put(&b, d + a, n - a);
        ws_mask(b.p + b.len - (n - a), n - a, key2, 0);
        want_t w = {WS_EV_MESSAGE, WS_OP_BINARY, 0, d, n, b.len, 1};
        check_one(&DEFLATE, &b, w);
      }
      free(b.p);
      free(frame);
      free(d);
    }
  }
}

static void test_mask_offsets(void **state) {
  uint8_t orig[67], a[67], c[67];
  (void)state;
  for (size_t i = 0; i < sizeof orig; i++)
    orig[i] = (uint8_t)(i * 37 + 11);
  for (size_t n = 0; n <= sizeof orig; n++) {
    for (uint64_t off = 0; off < 9; off++) {
      /* reference: byte by byte */
      memcpy(c, orig, n);
      for (size_t i = 0; i < n; i++)
        c[i] ^= KEY[(off + i) % 4];
      memcpy(a, orig, n);
      ws_mask(a, n, KEY, off);
      if (n) assert_memory_equal(a, c, n);
      ws_mask(a, n, KEY, off); /* involution */
      if (n) assert_memory_equal(a, orig, n);
      /* in two pieces at any point, the offset carrying on */
      for (size_t s = 0; s <= n; s++) {
        memcpy(a, orig, n);
        ws_mask(a, s, KEY, off);
        ws_mask(a + s, n - s, KEY, off + s);
        if (n) assert_memory_equal(a, c, n);
      }
    }
  }
  /* offsets past 2^32 still rotate by offset mod 4 */
  memcpy(a, orig, 8);
  ws_mask(a, 8, KEY, (UINT64_C(1) << 40) + 3);
  for (size_t i = 0; i < 8; i++)
    assert_int_equal(a[i], (uint8_t)(orig[i] ^ KEY[(3 + i) % 4]));
}

static void test_close_code_valid(void **state) {
  static const unsigned bad[] = {0,    1,    999,  1004, 1005,  1006, 1015,
                                 1016, 2000, 2999, 5000, 65535, 70000};
  static const unsigned good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                                  1012, 1013, 1014, 3000, 3999, 4000, 4001, 4999};
  (void)state;
  for (size_t i = 0; i < NW(bad); i++)
    assert_int_equal(ws_close_code_valid(bad[i]), 0);
  for (size_t i = 0; i < NW(good); i++)
    assert_int_equal(ws_close_code_valid(good[i]), 1);
}

/* A payload written by ws_close_payload parses back as a close. */
static void close_round_trip(const uint8_t *pl, size_t n, uint16_t code, const void *reason,
                             size_t rlen) {
  bytes_t b = {0};
  want_t w = {WS_EV_CLOSE, 0, code, reason, rlen, 0, 0};
  put_frame(&b, FIN | WS_OP_CLOSE, pl, n, KEY);
  check_one(&SERVER, &b, w);
  free(b.p);
}

static void test_close_payload(void **state) {
  uint8_t out[WS_MAX_CONTROL_PAYLOAD], reason[200];
  size_t n;
  (void)state;
  n = ws_close_payload(out, 1000, "bye", 3);
  assert_int_equal(n, 5);
  assert_memory_equal(out,
                      "\x03\xE8"
                      "bye",
                      5);
  close_round_trip(out, n, 1000, "bye", 3);

  n = ws_close_payload(out, 4001, "replaced", 8);
  assert_memory_equal(out,
                      "\x0F\xA1"
                      "replaced",
                      10);
  n = ws_close_payload(out, 1008, NULL, 0);
  assert_int_equal(n, 2);
  assert_memory_equal(out, "\x03\xF0", 2);

  memset(reason, 'r', sizeof reason); /* ASCII: cut at exactly 123 */
  n = ws_close_payload(out, 1011, (const char *)reason, sizeof reason);
  assert_int_equal(n, 125);
  close_round_trip(out, n, 1011, reason, 123);
  n = ws_close_payload(out, 1011, (const char *)reason, 123);
  assert_int_equal(n, 125);

  /* A 3-byte character over the cut is dropped whole, at each position. */
  for (size_t at = 120; at <= 123; at++) {
    memset(reason, 'r', sizeof reason);
    memcpy(reason + at, "\xE2\x82\xAC", 3);
    n = ws_close_payload(out, 1000, (const char *)reason, sizeof reason);
    assert_int_equal(n, 2 + (at + 3 <= 123 ? 123 : at));
    assert_int_equal(utf8_validate(out + 2, n - 2), 0);
    close_round_trip(out, n, 1000, reason, n - 2);
  }
  memset(reason, 'r', sizeof reason); /* and a 4-byte one */
  memcpy(reason + 121, "\xF0\x9F\x98\x80", 4);
  n = ws_close_payload(out, 1000, (const char *)reason, sizeof reason);
  assert_int_equal(n, 2 + 121);

  /* Codes that never go on the wire give an empty payload. */
  assert_int_equal(ws_close_payload(out, WS_CLOSE_NO_STATUS, "x", 1), 0);
  assert_int_equal(ws_close_payload(out, 0, NULL, 0), 0);
}

/* ---- randomized streams ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint32_t rnd(uint32_t n) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state % n);
}

/* Random valid traffic: messages in random fragments with control frames
 * between them, random keys and random splits; every event must match. */
static void test_random_streams(void **state) {
  (void)state;
  for (int round = 0; round < 150; round++) {
    bytes_t b = {0};
    want_t w[64];
    uint8_t *pay[64];
    size_t nw = 0, nmsg = 1 + rnd(5);
    for (size_t m = 0; m < nmsg; m++) {
      size_t len = rnd(4) == 0 ? rnd(70000) : rnd(300);
      int text = rnd(2);
      uint8_t *d = utf8_payload(len);
      size_t pos = 0;
      int first = 1;
      if (!text)
        for (size_t i = 0; i < len; i++)
          d[i] = (uint8_t)rnd(256);
      do {
        size_t part = len - pos > 0 ? rnd((uint32_t)(len - pos) + 1) : 0;
        uint8_t key[4] = {(uint8_t)rnd(256), (uint8_t)rnd(256), (uint8_t)rnd(256),
                          (uint8_t)rnd(256)};
        int fin = pos + part == len && rnd(3) != 0;
        uint8_t op = first ? (text ? WS_OP_TEXT : WS_OP_BINARY) : WS_OP_CONT;
        put_frame(&b, (uint8_t)(op | (fin ? FIN : 0)), d + pos, part, key);
        pos += part;
        first = 0;
        if (fin) {
          pay[nw] = d;
          w[nw++] = (want_t){WS_EV_MESSAGE, text ? WS_OP_TEXT : WS_OP_BINARY, 0, d, len, b.len, 0};
        }
        if (rnd(3) == 0 && nw < 60) { /* a control frame in between */
          uint8_t *c = malloc(126);
          size_t cl = rnd(126);
          int ping = rnd(2);
          assert_non_null(c);
          for (size_t i = 0; i < cl; i++)
            c[i] = (uint8_t)rnd(256);
          put_frame(&b, (uint8_t)(FIN | (ping ? WS_OP_PING : WS_OP_PONG)), c, cl, key);
          pay[nw] = c;
          w[nw++] = (want_t){ping ? WS_EV_PING : WS_EV_PONG, 0, 0, c, cl, b.len, 0};
        }
        if (fin) break;
      } while (1);
      assert_true(nw < 62);
    }
    {
      trace_t whole;
      size_t ks[] = {1 + rnd(3), 1 + rnd(50), 1 + rnd((uint32_t)b.len)};
      run_cuts(&SERVER, b.p, b.len, cut_chunks, b.len, &whole);
      assert_trace_is(&whole, w, nw);
      for (size_t i = 0; i < NW(ks); i++)
        check_cut(&SERVER, b.p, b.len, cut_chunks, ks[i], &whole, 0);
      check_cut(&SERVER, b.p, b.len, cut_at, rnd((uint32_t)b.len), &whole, 0);
      trace_free(&whole);
    }
    for (size_t i = 0; i < nw; i++)
      free(pay[i]);
    free(b.p);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_length_classes),
      cmocka_unit_test(test_many_frames_in_one_call),
      cmocka_unit_test(test_unmasked_frame_rejected),
      cmocka_unit_test(test_rsv_bits),
      cmocka_unit_test(test_compressed_messages),
      cmocka_unit_test(test_reserved_opcodes),
      cmocka_unit_test(test_control_frame_rules),
      cmocka_unit_test(test_close_frames),
      cmocka_unit_test(test_data_after_close_ignored),
      cmocka_unit_test(test_dead_after_error),
      cmocka_unit_test(test_non_minimal_lengths),
      cmocka_unit_test(test_huge_lengths),
      cmocka_unit_test(test_huge_frame_without_limit),
      cmocka_unit_test(test_buffer_sized_to_final_frame),
      cmocka_unit_test(test_message_size_limit),
      cmocka_unit_test(test_fragmentation),
      cmocka_unit_test(test_binary_refused),
      cmocka_unit_test(test_control_between_fragments),
      cmocka_unit_test(test_fragment_flood),
      cmocka_unit_test(test_utf8_invalid_text),
      cmocka_unit_test(test_utf8_fail_fast_mid_frame),
      cmocka_unit_test(test_utf8_split_across_fragments),
      cmocka_unit_test(test_zero_copy_and_idle_memory),
      cmocka_unit_test(test_frame_header_layout),
      cmocka_unit_test(test_writer_round_trip),
      cmocka_unit_test(test_mask_offsets),
      cmocka_unit_test(test_close_code_valid),
      cmocka_unit_test(test_close_payload),
      cmocka_unit_test(test_random_streams),
  };
  return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
