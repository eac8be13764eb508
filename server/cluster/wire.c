/* The cluster's wire codec: see wire.h (and cluster.h for what the kinds
 * mean). */
#include "server/cluster/wire.h"

#include <string.h>

#include "protocol/handshake.h"

/* --- numbers -------------------------------------------------------------- */

int wire_parse_u64(slice_t s, uint64_t *out) {
  uint64_t v = 0;
  size_t i;
  if (s.len == 0 || s.len > 20 || (s.len > 1 && s.base[0] == '0')) return 0;
  for (i = 0; i < s.len; i++) {
    unsigned d;
    if (s.base[i] < '0' || s.base[i] > '9') return 0;
    d = (unsigned)(s.base[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return 0;
    v = v * 10 + d;
  }
  *out = v;
  return 1;
}

int wire_parse_i64(slice_t s, int64_t *out) {
  uint64_t v;
  int neg = s.len && s.base[0] == '-';
  if (neg) s = slice_make(s.base + 1, s.len - 1);
  if (!wire_parse_u64(s, &v)) return 0;
  if (neg) {
    if (v == 0 || v > (uint64_t)INT64_MAX + 1) return 0;
    *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
  } else {
    if (v > INT64_MAX) return 0;
    *out = (int64_t)v;
  }
  return 1;
}

/* Exactly 16 lowercase hex digits (the sender writes %016x). */
static int parse_hex64(slice_t s, uint64_t *out) {
  uint64_t v = 0;
  size_t i;
  if (s.len != 16) return 0;
  for (i = 0; i < s.len; i++) {
    char ch = s.base[i];
    int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
    if (d < 0) return 0;
    v = v << 4 | (uint64_t)d;
  }
  *out = v;
  return 1;
}

static int put(strbuf_t *b, const char *p, size_t n) {
  return strbuf_append(b, p, n);
}

static int put_slice(strbuf_t *b, slice_t s) {
  return s.len ? strbuf_append(b, s.base, s.len) : 0;
}

static int put_u64(strbuf_t *b, uint64_t v) {
  char d[20];
  size_t n = 0;
  do {
    d[sizeof d - ++n] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  return put(b, d + sizeof d - n, n);
}

static int put_i64(strbuf_t *b, int64_t v) {
  if (v >= 0) return put_u64(b, (uint64_t)v);
  if (put(b, "-", 1) != 0) return -1;
  return put_u64(b, (uint64_t)0 - (uint64_t)v);
}

static int put_hex64(strbuf_t *b, uint64_t v) {
  static const char hex[] = "0123456789abcdef";
  char d[16];
  int i;
  for (i = 15; i >= 0; i--, v >>= 4)
    d[i] = hex[v & 15];
  return put(b, d, sizeof d);
}

/* --- ids ------------------------------------------------------------------ */

int wire_id_ok(slice_t s) {
  return s.len && ws_id_valid(s.base, s.len);
}

int wire_node_id_ok(slice_t s) {
  size_t i;
  if (s.len == 0 || s.len > WIRE_NODE_ID_MAX) return 0;
  for (i = 0; i < s.len; i++) {
    char ch = s.base[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '.' || ch == '_' || ch == ':' || ch == '-'))
      return 0;
  }
  return 1;
}

/* --- values --------------------------------------------------------------- */

int wire_value_decode(slice_t v, wire_value_t *out) {
  const char *sp = v.len ? memchr(v.base, ' ', v.len) : NULL;
  slice_t claim = slice_make(v.base, sp ? (size_t)(sp - v.base) : v.len), rest, room;
  if (!wire_parse_i64(claim, &out->claim)) return -1;
  if (!sp) {
    out->rooms = slice_make(v.base + v.len, 0);
    return 0;
  }
  out->rooms = slice_make(sp + 1, (size_t)(v.base + v.len - sp - 1));
  if (!out->rooms.len) return -1; /* a trailing space */
  rest = out->rooms;
  while (rest.len) {
    const char *e = memchr(rest.base, ' ', rest.len);
    room = slice_make(rest.base, e ? (size_t)(e - rest.base) : rest.len);
    if (!wire_id_ok(room)) return -1;
    if (!e) break;
    rest = slice_make(e + 1, (size_t)(rest.base + rest.len - e - 1));
    if (!rest.len) return -1;
  }
  return 0;
}

int wire_rooms_next(slice_t *rest, slice_t *room) {
  const char *e;
  if (!rest->len) return 0;
  e = memchr(rest->base, ' ', rest->len);
  *room = slice_make(rest->base, e ? (size_t)(e - rest->base) : rest->len);
  *rest = e ? slice_make(e + 1, (size_t)(rest->base + rest->len - e - 1))
            : slice_make(rest->base + rest->len, 0);
  return room->len > 0;
}

int wire_value_claim(strbuf_t *out, int64_t claim) {
  return put_i64(out, claim);
}

int wire_value_room(strbuf_t *out, slice_t room) {
  return put(out, " ", 1) || put_slice(out, room) ? -1 : 0;
}

/* --- messages ------------------------------------------------------------- */

/* A cursor over the kind line, after the kind letter. */
typedef struct {
  const char *p, *end;
} cur_t;

/* " <token>": 1 with *tok set (non-empty), else 0. */
static int field(cur_t *c, slice_t *tok) {
  const char *s;
  if (c->p >= c->end || *c->p != ' ') return 0;
  s = ++c->p;
  while (c->p < c->end && *c->p != ' ')
    c->p++;
  *tok = slice_make(s, (size_t)(c->p - s));
  return tok->len > 0;
}

static int field_u64(cur_t *c, uint64_t *v) {
  slice_t t;
  return field(c, &t) && wire_parse_u64(t, v);
}

static int field_id(cur_t *c, slice_t *id) {
  return field(c, id) && wire_id_ok(*id);
}

/* " <value>" to the end of the line, validated. */
static int field_value(cur_t *c, slice_t *v) {
  wire_value_t wv;
  if (c->p >= c->end || *c->p != ' ') return 0;
  *v = slice_make(c->p + 1, (size_t)(c->end - c->p - 1));
  c->p = c->end;
  return wire_value_decode(*v, &wv) == 0;
}

static int done(const cur_t *c) {
  return c->p == c->end;
}

static int decode_fields(cur_t *c, wire_msg_t *m) {
  slice_t t;
  switch (m->kind) {
  case WIRE_CHAT:
  case WIRE_GOODBYE: return done(c);
  case WIRE_ROOM: return field_id(c, &m->room) && done(c);
  case WIRE_PRIVATE: return field_id(c, &m->to) && field_id(c, &m->from) && done(c);
  case WIRE_BOUNCE: return field_id(c, &m->from) && field_id(c, &m->to) && done(c);
  case WIRE_JOIN: return field_u64(c, &m->seq) && field_id(c, &m->id) && field_value(c, &m->value);
  case WIRE_LEAVE: return field_u64(c, &m->seq) && field_id(c, &m->id) && done(c);
  case WIRE_MEMBER:
    if (!field_u64(c, &m->seq) || !field_id(c, &m->id) || !field_id(c, &m->room) || !field(c, &t) ||
        t.len != 1 || (t.base[0] != '+' && t.base[0] != '-'))
      return 0;
    m->joined = t.base[0] == '+';
    return field_value(c, &m->value);
  case WIRE_HEARTBEAT:
    if (!field_u64(c, &m->seq) || !field_u64(c, &m->count) || !field(c, &t) ||
        !parse_hex64(t, &m->digest))
      return 0;
    if (done(c)) return 1;
    m->hello = field(c, &t) && slice_eq(t, slice_make("hello", 5));
    return m->hello && done(c);
  default: return 0;
  }
}

int wire_decode(const char *p, size_t len, wire_msg_t *m) {
  const char *end = p + len, *nl1, *nl2, *sp;
  cur_t c;
  memset(m, 0, sizeof *m);
  if (!len || !(nl1 = memchr(p, '\n', len)) || !(sp = memchr(p, ' ', (size_t)(nl1 - p)))) return -1;
  m->origin = slice_make(p, (size_t)(sp - p));
  if (!wire_node_id_ok(m->origin) ||
      !wire_parse_i64(slice_make(sp + 1, (size_t)(nl1 - sp - 1)), &m->inc))
    return -1;
  if (!(nl2 = memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1))) || nl2 == nl1 + 1) return -1;
  m->kind = nl1[1];
  m->env = slice_make(nl2 + 1, (size_t)(end - nl2 - 1));
  c.p = nl1 + 2;
  c.end = nl2;
  if (!decode_fields(&c, m)) return -1;
  switch (m->kind) {
  case WIRE_CHAT:
  case WIRE_ROOM:
  case WIRE_PRIVATE: return m->env.len ? 0 : -1; /* nothing to deliver */
  case WIRE_BOUNCE:
  case WIRE_HEARTBEAT:
  case WIRE_GOODBYE: return m->env.len ? -1 : 0;
  default: return 0; /* J, M, L: the envelope is optional */
  }
}

int wire_encode(strbuf_t *out, const wire_msg_t *m) {
  char k[2] = {m->kind, ' '};
  int r = put_slice(out, m->origin) || put(out, " ", 1) || put_i64(out, m->inc) ||
          put(out, "\n", 1) || put(out, k, 1);
  switch (m->kind) {
  case WIRE_ROOM: r = r || put(out, k + 1, 1) || put_slice(out, m->room); break;
  case WIRE_PRIVATE:
    r = r || put(out, " ", 1) || put_slice(out, m->to) || put(out, " ", 1) ||
        put_slice(out, m->from);
    break;
  case WIRE_BOUNCE:
    r = r || put(out, " ", 1) || put_slice(out, m->from) || put(out, " ", 1) ||
        put_slice(out, m->to);
    break;
  case WIRE_JOIN:
  case WIRE_LEAVE:
  case WIRE_MEMBER:
    r = r || put(out, " ", 1) || put_u64(out, m->seq) || put(out, " ", 1) || put_slice(out, m->id);
    if (m->kind == WIRE_MEMBER)
      r = r || put(out, " ", 1) || put_slice(out, m->room) || put(out, m->joined ? " +" : " -", 2);
    if (m->kind != WIRE_LEAVE) r = r || put(out, " ", 1) || put_slice(out, m->value);
    break;
  case WIRE_HEARTBEAT:
    r = r || put(out, " ", 1) || put_u64(out, m->seq) || put(out, " ", 1) ||
        put_u64(out, m->count) || put(out, " ", 1) || put_hex64(out, m->digest) ||
        (m->hello && put(out, " hello", 6));
    break;
  default: break;
  }
  r = r || put(out, "\n", 1) || put_slice(out, m->env);
  return r ? -1 : 0;
}
