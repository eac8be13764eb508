/* RFC 6455 frame parser and writer; contract in frame.h.
 *
 * The parser is a byte-driven state machine (the shape of wslay's
 * wslay_frame.c): ST_HEADER collects the 2..14 header bytes into p->hdr,
 * judging each field as soon as the byte holding it arrives; ST_PAYLOAD
 * consumes the payload. It never waits for more input than the byte in
 * hand, so any split of the stream yields the same events at the same
 * stream offsets, and every error fires at the byte that proves it.
 *
 * Choices the header leaves open, made here:
 * - After WS_EV_ERROR or WS_EV_CLOSE a feed consumes ALL its input and
 *   returns WS_EV_NONE, so a caller's "until consumed" loop ends.
 * - On WS_EV_ERROR the consumed count includes the byte that proved the
 *   error (for UTF-8, the first invalid byte), so it names the position.
 * - Out of memory while reassembling: WS_EV_ERROR with 1011.
 * - Frames are accepted masked or not when require_mask is off, so the
 *   parser also serves a client reading a server.
 * - ws_close_payload with code 0 or 1005 writes an empty payload: those
 *   codes must never appear on the wire, and echoing a close that had no
 *   code means sending none.
 */
#include "protocol/frame.h"

#include <stdlib.h>
#include <string.h>

enum { ST_HEADER = 0, ST_PAYLOAD = 1 };

#define B0_FIN    0x80
#define B0_RSV1   0x40
#define B0_RSV23  0x30
#define B0_OPCODE 0x0F
#define B1_MASK   0x80
#define B1_LEN    0x7F
#define LEN16     126
#define LEN64     127

/* Smallest reassembly allocation: one-byte fragments should not start with a
 * string of tiny reallocs. */
#define BUF_MIN 128

/* Zero-length payloads point here: a caller may memcpy(dst, ev->data, 0)
 * without handing NULL to a nonnull parameter. */
static const uint8_t empty_payload[1];

/* ---- small helpers ---- */

static int is_control(uint8_t op) {
  return (op & 0x8) != 0;
}

static int opcode_known(uint8_t op) {
  return op <= WS_OP_BINARY || (op >= WS_OP_CLOSE && op <= WS_OP_PONG);
}

static size_t ext_len_size(uint8_t b1) {
  uint8_t l7 = b1 & B1_LEN;
  return l7 == LEN64 ? 8 : l7 == LEN16 ? 2 : 0;
}

static size_t header_size(uint8_t b1) {
  return 2 + ext_len_size(b1) + ((b1 & B1_MASK) ? 4 : 0);
}

static uint64_t read_be(const uint8_t *s, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = (v << 8) | s[i];
  return v;
}

static const uint8_t *nonnull(const uint8_t *data, size_t len) {
  return len ? data : empty_payload;
}

/* Uncompressed text is checked as it arrives; compressed text can only be
 * checked after the caller inflates it. */
static int text_checked(const ws_parser_t *p) {
  return p->msg_op == WS_OP_TEXT && !p->msg_compressed;
}

static size_t size_limit(const ws_parser_t *p) {
  uint64_t max = p->opts->max_message_size;
  return (max == 0 || max > SIZE_MAX) ? SIZE_MAX : (size_t)max;
}

/* ---- reassembly buffer ---- */

static void buf_release(ws_parser_t *p) {
  free(p->buf);
  p->buf = NULL;
  p->buf_len = 0;
  p->buf_cap = 0;
}

/* Grows buf to at least `need` bytes. Doubling keeps a message made of many
 * tiny fragments linear in copies; `end` (the most the message can need, as
 * far as the headers tell) stops doubling past what can ever be used, and
 * growing only with bytes received, never with a header's promise, means a
 * peer announcing a huge frame costs us what it actually sends. */
static int reserve(ws_parser_t *p, size_t need, size_t end) {
  size_t cap;
  uint8_t *nb;
  if (need <= p->buf_cap) return 0;
  cap = p->buf_cap <= SIZE_MAX / 2 ? p->buf_cap * 2 : SIZE_MAX;
  if (cap < BUF_MIN) cap = BUF_MIN;
  if (cap > end) cap = end;
  if (cap < need) cap = need;
  nb = realloc(p->buf, cap);
  if (!nb) return -1;
  p->buf = nb;
  p->buf_cap = cap;
  return 0;
}

/* ---- events ---- */

/* The parser is dead after an error; the buffer goes at once since no
 * event data can point into it. */
static void fail(ws_parser_t *p, ws_event_t *ev, unsigned code) {
  buf_release(p);
  p->dead = 1;
  ev->type = WS_EV_ERROR;
  ev->close_code = (uint16_t)code;
}

static void message_event(ws_parser_t *p, const uint8_t *data, size_t len, ws_event_t *ev) {
  if (text_checked(p) && !utf8_complete(&p->utf8)) {
    fail(p, ev, WS_CLOSE_INVALID_DATA);
    return;
  }
  ev->type = WS_EV_MESSAGE;
  ev->opcode = p->msg_op;
  ev->compressed = p->msg_compressed;
  ev->data = nonnull(data, len);
  ev->len = len;
  /* The message is over; buf still backs ev->data and is released by the
   * next feed (see ws_parser_feed). */
  p->msg_op = 0;
  p->msg_compressed = 0;
  p->buf_len = 0;
}

static void close_event(ws_parser_t *p, const uint8_t *data, size_t len, ws_event_t *ev) {
  unsigned code = WS_CLOSE_NO_STATUS;
  if (len == 1) {
    fail(p, ev, WS_CLOSE_PROTOCOL);
    return;
  }
  if (len >= 2) {
    code = (unsigned)read_be(data, 2);
    if (!ws_close_code_valid(code)) {
      fail(p, ev, WS_CLOSE_PROTOCOL);
      return;
    }
    if (utf8_validate(data + 2, len - 2) < 0) {
      fail(p, ev, WS_CLOSE_INVALID_DATA);
      return;
    }
    data += 2;
    len -= 2;
  }
  /* RFC 6455 1.4: nothing after a close frame is data. buf (if it holds the
   * reason) is released by the next feed. */
  p->dead = 1;
  ev->type = WS_EV_CLOSE;
  ev->close_code = (uint16_t)code;
  ev->data = nonnull(data, len);
  ev->len = len;
}

static void control_event(ws_parser_t *p, const uint8_t *data, size_t len, ws_event_t *ev) {
  if (p->frame_op == WS_OP_CLOSE) {
    close_event(p, data, len, ev);
    return;
  }
  ev->type = p->frame_op == WS_OP_PING ? WS_EV_PING : WS_EV_PONG;
  ev->data = nonnull(data, len);
  ev->len = len;
}

/* ---- header ---- */

/* Everything byte 0 can prove. Fragmentation state is judged here, not at
 * the end of the header, so an illegal frame is refused at its first byte. */
static unsigned check_byte0(ws_parser_t *p) {
  uint8_t b = p->hdr[0], op = b & B0_OPCODE;
  int rsv1 = (b & B0_RSV1) != 0;
  p->frame_op = op;
  p->frame_fin = (b & B0_FIN) != 0;
  if ((b & B0_RSV23) || !opcode_known(op)) return WS_CLOSE_PROTOCOL;
  if (is_control(op)) /* RFC 6455 5.5; RFC 7692 6: RSV1 is for data only */
    return (!p->frame_fin || rsv1) ? WS_CLOSE_PROTOCOL : 0;
  if (op == WS_OP_CONT) /* RFC 7692 6.1: RSV1 only on the first frame */
    return (rsv1 || !p->msg_op) ? WS_CLOSE_PROTOCOL : 0;
  if (p->msg_op || (rsv1 && !p->opts->allow_rsv1)) return WS_CLOSE_PROTOCOL;
  if (op == WS_OP_BINARY && !p->opts->allow_binary) return WS_CLOSE_UNSUPPORTED;
  return 0;
}

static unsigned check_byte1(const ws_parser_t *p) {
  uint8_t b = p->hdr[1];
  if (!(b & B1_MASK) && p->opts->require_mask) return WS_CLOSE_PROTOCOL;
  if (is_control(p->frame_op) && (b & B1_LEN) > WS_MAX_CONTROL_PAYLOAD) return WS_CLOSE_PROTOCOL;
  return 0;
}

/* Runs once the length field is complete, before the mask key, so an
 * oversized frame is refused before we read (let alone store) any of it. */
static unsigned check_length(ws_parser_t *p) {
  uint8_t l7 = p->hdr[1] & B1_LEN;
  uint64_t len = l7 < LEN16 ? l7 : read_be(p->hdr + 2, ext_len_size(p->hdr[1]));
  /* RFC 6455 5.2 demands the minimal form and a clear top bit; two parsers
   * disagreeing on a length is how frames get smuggled. */
  if ((l7 == LEN16 && len < LEN16) || (l7 == LEN64 && (len <= 0xFFFF || (len >> 63))))
    return WS_CLOSE_PROTOCOL;
  if (!is_control(p->frame_op)) {
    /* buf_len never exceeds the limit, so the subtraction cannot wrap and
     * no sum that could overflow is ever formed. For the first frame of a
     * message buf_len is 0. */
    if (len > (uint64_t)(size_limit(p) - p->buf_len)) return WS_CLOSE_TOO_BIG;
  }
  p->frame_left = len;
  return 0;
}

static void header_done(ws_parser_t *p) {
  if (p->hdr[1] & B1_MASK) memcpy(p->mask, p->hdr + p->hdr_len - 4, 4);
  if (p->frame_op == WS_OP_TEXT || p->frame_op == WS_OP_BINARY) {
    p->msg_op = p->frame_op;
    p->msg_compressed = (p->hdr[0] & B0_RSV1) != 0;
    p->buf_len = 0;
    utf8_init(&p->utf8);
  }
  p->frame_pos = 0;
  p->state = ST_PAYLOAD;
}

static unsigned header_byte(ws_parser_t *p, uint8_t b) {
  unsigned rc = 0;
  p->hdr[p->hdr_len++] = b;
  if (p->hdr_len == 1) return check_byte0(p);
  if (p->hdr_len == 2) rc = check_byte1(p);
  if (!rc && p->hdr_len == 2 + ext_len_size(p->hdr[1])) rc = check_length(p);
  return rc;
}

/* At most 14 bytes per frame go through here, so byte-at-a-time is cheap
 * and keeps every check at its exact byte. */
static size_t feed_header(ws_parser_t *p, const uint8_t *in, size_t n, ws_event_t *ev) {
  size_t used = 0;
  while (used < n) {
    unsigned rc = header_byte(p, in[used++]);
    if (rc) {
      fail(p, ev, rc);
      return used;
    }
    if (p->hdr_len >= 2 && p->hdr_len == header_size(p->hdr[1])) {
      header_done(p);
      break;
    }
  }
  return used;
}

/* ---- payload ---- */

static void advance(ws_parser_t *p, size_t n) {
  p->frame_pos += n;
  p->frame_left -= n;
  if (p->frame_left == 0) {
    p->state = ST_HEADER;
    p->hdr_len = 0;
  }
}

/* Returns n when d[0..n) keeps the message valid, else the index of the
 * first bad byte. The rescan runs only on failure, to find the position. */
static size_t text_check(utf8_validator_t *v, const uint8_t *d, size_t n) {
  utf8_validator_t before = *v;
  size_t i = 0;
  if (utf8_feed(v, d, n) == 0) return n;
  *v = before;
  while (utf8_feed(v, d + i, 1) == 0)
    i++;
  return i;
}

/* A control frame split across feeds is gathered after the message bytes
 * in the same buffer (beyond buf_len), so a ping between fragments neither
 * disturbs the message nor costs a fixed array in every parser. */
static size_t control_payload(ws_parser_t *p, const uint8_t *in, size_t take, int whole,
                              ws_event_t *ev) {
  const uint8_t *data = in;
  if (!whole) {
    size_t at = p->buf_len + (size_t)p->frame_pos;
    size_t end = at + (size_t)p->frame_left;
    if (reserve(p, end, end) < 0) {
      fail(p, ev, WS_CLOSE_INTERNAL);
      return take;
    }
    if (take) memcpy(p->buf + at, in, take);
    data = p->buf + p->buf_len;
  }
  advance(p, take);
  if (p->frame_left == 0) control_event(p, data, (size_t)p->frame_pos, ev);
  return take;
}

static int append(ws_parser_t *p, const uint8_t *in, size_t take) {
  /* A final frame says exactly where the message ends. */
  size_t end = p->frame_fin ? p->buf_len + (size_t)p->frame_left : size_limit(p);
  if (take == 0) return 0;
  if (reserve(p, p->buf_len + take, end) < 0) return -1;
  memcpy(p->buf + p->buf_len, in, take);
  p->buf_len += take;
  return 0;
}

static size_t data_payload(ws_parser_t *p, const uint8_t *in, size_t take, int whole,
                           ws_event_t *ev) {
  size_t ok = text_checked(p) ? text_check(&p->utf8, in, take) : take;
  if (ok < take) {
    fail(p, ev, WS_CLOSE_INVALID_DATA);
    return ok + 1;
  }
  /* Zero-copy: a whole unfragmented frame is handed out in place. */
  if (whole && p->frame_op != WS_OP_CONT && p->frame_fin) {
    advance(p, take);
    message_event(p, in, take, ev);
    return take;
  }
  if (append(p, in, take) < 0) {
    fail(p, ev, WS_CLOSE_INTERNAL);
    return take;
  }
  advance(p, take);
  if (p->frame_left == 0 && p->frame_fin) message_event(p, p->buf, p->buf_len, ev);
  return take;
}

static size_t feed_payload(ws_parser_t *p, uint8_t *in, size_t n, ws_event_t *ev) {
  size_t take = n < p->frame_left ? n : (size_t)p->frame_left;
  int whole = p->frame_pos == 0 && take == p->frame_left;
  if (p->hdr[1] & B1_MASK) ws_mask(in, take, p->mask, p->frame_pos);
  if (is_control(p->frame_op)) return control_payload(p, in, take, whole, ev);
  return data_payload(p, in, take, whole, ev);
}

/* ---- parser API ---- */

void ws_parser_init(ws_parser_t *p, const ws_parser_opts_t *opts) {
  memset(p, 0, sizeof *p);
  p->opts = opts;
}

void ws_parser_free(ws_parser_t *p) {
  buf_release(p);
}

size_t ws_parser_memory(const ws_parser_t *p) {
  return p->buf ? p->buf_cap : 0;
}

size_t ws_parser_feed(ws_parser_t *p, uint8_t *in, size_t len, ws_event_t *ev) {
  size_t off = 0;
  memset(ev, 0, sizeof *ev);
  if (p->dead) {
    buf_release(p);
    return len;
  }
  /* Between messages buf can only back the previous event, whose data is
   * now expired: an idle parser holds no heap memory. */
  if (p->state == ST_HEADER && !p->msg_op) buf_release(p);
  while (ev->type == WS_EV_NONE) {
    if (p->state == ST_HEADER) {
      if (off == len) break;
      off += feed_header(p, in + off, len - off, ev);
    } else {
      /* A zero-length payload completes with no input left. */
      if (off == len && p->frame_left) break;
      off += feed_payload(p, in + off, len - off, ev);
    }
  }
  return off;
}

/* ---- writer ---- */

size_t ws_frame_header_size(uint64_t payload_len, int masked) {
  size_t n = 2;
  if (payload_len > 0xFFFF)
    n += 8;
  else if (payload_len >= LEN16)
    n += 2;
  return n + (masked ? 4 : 0);
}

size_t ws_frame_header(uint8_t *out, uint8_t opcode, int fin, int rsv1, uint64_t payload_len,
                       const uint8_t *mask) {
  size_t n = 2, ext;
  out[0] = (uint8_t)((fin ? B0_FIN : 0) | (rsv1 ? B0_RSV1 : 0) | (opcode & B0_OPCODE));
  out[1] = mask ? B1_MASK : 0;
  if (payload_len < LEN16) {
    out[1] |= (uint8_t)payload_len;
  } else {
    out[1] |= payload_len > 0xFFFF ? LEN64 : LEN16;
    ext = ext_len_size(out[1]);
    for (size_t i = 0; i < ext; i++)
      out[n + i] = (uint8_t)(payload_len >> (8 * (ext - 1 - i)));
    n += ext;
  }
  if (mask) {
    memcpy(out + n, mask, 4);
    n += 4;
  }
  return n;
}

void ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset) {
  uint8_t m[8];
  uint64_t w, v;
  size_t i = 0;
  /* Rotate the key so m[0] applies to p[0]; the 8-byte word then repeats
   * with period 8, which any multiple-of-8 index keeps in phase. */
  for (int k = 0; k < 8; k++)
    m[k] = mask[(offset + (uint64_t)k) & 3];
  memcpy(&w, m, 8);
  for (; i + 8 <= n; i += 8) {
    memcpy(&v, p + i, 8);
    v ^= w;
    memcpy(p + i, &v, 8);
  }
  for (; i < n; i++)
    p[i] ^= m[i & 7];
}

int ws_close_code_valid(unsigned code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

size_t ws_close_payload(uint8_t *out, uint16_t code, const char *reason, size_t reason_len) {
  size_t max = WS_MAX_CONTROL_PAYLOAD - 2;
  if (code == 0 || code == WS_CLOSE_NO_STATUS) return 0;
  out[0] = (uint8_t)(code >> 8);
  out[1] = (uint8_t)code;
  if (reason_len > max) {
    /* Back up to a character start: a peer fails a close whose reason
     * ends inside a UTF-8 sequence (1007). */
    reason_len = max;
    while (reason_len > 0 && ((uint8_t)reason[reason_len] & 0xC0) == 0x80)
      reason_len--;
  }
  if (reason_len) memcpy(out + 2, reason, reason_len);
  return 2 + reason_len;
}
