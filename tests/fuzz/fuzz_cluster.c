/* libFuzzer driver for the cluster's wire codec (server/cluster/wire.c).
 *
 * The input is decoded three ways: as a whole PUBLISH payload, as a kind
 * line and envelope behind a fixed valid origin line ("node-1 17\n", so
 * the fuzzer need not find one), and as a client value ("<claim>[ <room>
 * ...]"). Whatever decodes must be canonical: re-encoding gives the input
 * byte for byte, decoding that again gives the same fields, every slice
 * lies inside the input, ids and rooms pass wire_id_ok, and C, R, P carry
 * an envelope while B, H, X carry none. A decoded value's rooms re-encode
 * to the value. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/message.h"
#include "server/cluster/wire.h"
#include "tests/fuzz/fuzz_common.h"

static const char ORIGIN[] = "node-1 17\n";

static int inside(slice_t s, const uint8_t *p, size_t n) {
  return s.len == 0 || ((const uint8_t *)s.base >= p && (const uint8_t *)s.base + s.len <= p + n);
}

static int same(slice_t a, slice_t b) {
  return slice_eq(a, b);
}

/* Checks a decoded value: its rooms are valid and re-encode to it. */
static void check_value(slice_t v) {
  wire_value_t wv;
  slice_t rest, room;
  strbuf_t b = {0};
  size_t rooms = 0;
  CHECK(wire_value_decode(v, &wv) == 0);
  CHECK(wire_value_claim(&b, wv.claim) == 0);
  rest = wv.rooms;
  while (wire_rooms_next(&rest, &room)) {
    CHECK(wire_id_ok(room));
    CHECK(wire_value_room(&b, room) == 0);
    rooms++;
  }
  CHECK_OP(rest.len, ==, 0);
  CHECK_OP(b.len, ==, v.len);
  CHECK(memcmp(b.buf, v.base, v.len) == 0);
  CHECK(rooms > 0 || wv.rooms.len == 0);
  strbuf_free(&b);
}

static void check_fields(const wire_msg_t *m, const uint8_t *p, size_t n) {
  CHECK(inside(m->origin, p, n) && inside(m->id, p, n) && inside(m->room, p, n) &&
        inside(m->value, p, n) && inside(m->to, p, n) && inside(m->from, p, n) &&
        inside(m->env, p, n));
  CHECK(wire_node_id_ok(m->origin));
  CHECK(strchr("CRPBJLMHX", m->kind) != NULL && m->kind != '\0');
  switch (m->kind) {
  case WIRE_CHAT: CHECK(m->env.len > 0); break;
  case WIRE_ROOM: CHECK(m->env.len > 0 && wire_id_ok(m->room)); break;
  case WIRE_PRIVATE: CHECK(m->env.len > 0 && wire_id_ok(m->to) && wire_id_ok(m->from)); break;
  case WIRE_BOUNCE: CHECK(m->env.len == 0 && wire_id_ok(m->to) && wire_id_ok(m->from)); break;
  case WIRE_JOIN:
    CHECK(wire_id_ok(m->id));
    check_value(m->value);
    break;
  case WIRE_LEAVE: CHECK(wire_id_ok(m->id)); break;
  case WIRE_MEMBER:
    CHECK(wire_id_ok(m->id) && wire_id_ok(m->room));
    CHECK(m->joined == 0 || m->joined == 1);
    check_value(m->value);
    break;
  case WIRE_HEARTBEAT: CHECK(m->env.len == 0 && (m->hello == 0 || m->hello == 1)); break;
  case WIRE_GOODBYE: CHECK(m->env.len == 0); break;
  }
}

static void check_payload(const uint8_t *p, size_t n) {
  wire_msg_t m, m2;
  strbuf_t b = {0};
  if (wire_decode((const char *)p, n, &m) != 0) return;
  check_fields(&m, p, n);
  CHECK(wire_encode(&b, &m) == 0);
  CHECK_OP(b.len, ==, n);
  CHECK(memcmp(b.buf, p, n) == 0);
  CHECK(wire_decode(b.buf, b.len, &m2) == 0);
  CHECK(m2.kind == m.kind && m2.inc == m.inc && m2.seq == m.seq && m2.joined == m.joined &&
        m2.count == m.count && m2.digest == m.digest && m2.hello == m.hello);
  CHECK(same(m2.origin, m.origin) && same(m2.id, m.id) && same(m2.room, m.room) &&
        same(m2.value, m.value) && same(m2.to, m.to) && same(m2.from, m.from) &&
        same(m2.env, m.env));
  strbuf_free(&b);
}

static void check_value_input(const uint8_t *p, size_t n) {
  wire_value_t wv;
  if (wire_value_decode(slice_make((const char *)p, n), &wv) != 0) return;
  CHECK(inside(wv.rooms, p, n));
  check_value(slice_make((const char *)p, n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *d = fuzz_dup(data, size);
  uint8_t *q = malloc(sizeof ORIGIN - 1 + size + 1);
  if (!q) abort();
  check_payload(d, size);
  check_value_input(d, size);
  free(d);
  memcpy(q, ORIGIN, sizeof ORIGIN - 1);
  if (size) memcpy(q + sizeof ORIGIN - 1, data, size);
  d = fuzz_dup(q, sizeof ORIGIN - 1 + size);
  check_payload(d, sizeof ORIGIN - 1 + size);
  free(d);
  free(q);
  return 0;
}
