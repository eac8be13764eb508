/* Unit tests for server/cluster/wire.c, the cluster's wire codec: every
 * kind encodes to the bytes cluster.h documents (and earlier builds sent)
 * and decodes back; malformed payloads, truncations and values are
 * rejected whole. The .c is included to reach it (h2o style). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/cluster/wire.c"

static slice_t S(const char *s) {
  return slice_cstr(s);
}

static void assert_slice(slice_t got, const char *want) {
  if (!slice_eq(got, slice_cstr(want)))
    fail_msg("slice '%.*s', expected '%s'", (int)got.len, got.base ? got.base : "", want);
}

static int dec(const char *p, wire_msg_t *m) {
  return wire_decode(p, strlen(p), m);
}

/* The bytes the last round_trip decoded (its *out points into them). */
static strbuf_t b;

/* Encodes m, checks the exact bytes, decodes them back into *out (every
 * field is then compared by the caller), and checks that re-encoding the
 * decoded message gives the same bytes. */
static void round_trip(wire_msg_t *m, const char *want, wire_msg_t *out) {
  strbuf_t b2 = {0};
  b.len = 0;
  assert_int_equal(wire_encode(&b, m), 0);
  if (b.len != strlen(want) || memcmp(b.buf, want, b.len) != 0)
    fail_msg("encoded '%.*s', expected '%s'", (int)b.len, b.buf, want);
  assert_int_equal(wire_decode(b.buf, b.len, out), 0);
  assert_int_equal(out->kind, m->kind);
  assert_true(slice_eq(out->origin, m->origin));
  assert_true(out->inc == m->inc);
  assert_true(slice_eq(out->env, m->env));
  assert_int_equal(wire_encode(&b2, out), 0);
  assert_int_equal(b2.len, b.len);
  assert_memory_equal(b2.buf, b.buf, b.len);
  strbuf_free(&b2);
}

/* ---- every kind ---- */

static void test_chat_room_private_bounce(void **state) {
  wire_msg_t m = {0}, d;
  (void)state;
  m.origin = S("node-1");
  m.inc = 1764067845123456;
  m.kind = WIRE_CHAT;
  m.env = S("{\"type\":\"chat\",\"data\":\"x\\ny\"}");
  round_trip(&m, "node-1 1764067845123456\nC\n{\"type\":\"chat\",\"data\":\"x\\ny\"}", &d);

  m.kind = WIRE_ROOM;
  m.room = S("lobby.1");
  m.env = S("{}");
  round_trip(&m, "node-1 1764067845123456\nR lobby.1\n{}", &d);
  assert_slice(d.room, "lobby.1");

  memset(&m, 0, sizeof m);
  m.origin = S("h:12");
  m.inc = 7;
  m.kind = WIRE_PRIVATE;
  m.to = S("bob");
  m.from = S("alice");
  m.env = S("{\"type\":\"private\"}");
  round_trip(&m, "h:12 7\nP bob alice\n{\"type\":\"private\"}", &d);
  assert_slice(d.to, "bob");
  assert_slice(d.from, "alice");

  /* a bounce names the private's sender first, and has no envelope */
  m.kind = WIRE_BOUNCE;
  m.env = slice_make(NULL, 0);
  round_trip(&m, "h:12 7\nB alice bob\n", &d);
  assert_slice(d.from, "alice");
  assert_slice(d.to, "bob");
  assert_int_equal(d.env.len, 0);
}

static void test_presence_kinds(void **state) {
  wire_msg_t m = {0}, d;
  (void)state;
  m.origin = S("B");
  m.inc = 42;
  m.kind = WIRE_JOIN;
  m.seq = 1;
  m.id = S("b1");
  m.value = S("1764067845000001");
  m.env = S("{\"type\":\"user_joined\"}");
  round_trip(&m, "B 42\nJ 1 b1 1764067845000001\n{\"type\":\"user_joined\"}", &d);
  assert_true(d.seq == 1);
  assert_slice(d.id, "b1");
  assert_slice(d.value, "1764067845000001");

  m.value = S("5 r1 r_2");
  m.seq = 18446744073709551615ULL;
  round_trip(&m, "B 42\nJ 18446744073709551615 b1 5 r1 r_2\n{\"type\":\"user_joined\"}", &d);
  assert_true(d.seq == UINT64_MAX);
  assert_slice(d.value, "5 r1 r_2");

  memset(&m, 0, sizeof m);
  m.origin = S("B");
  m.inc = 42;
  m.kind = WIRE_LEAVE;
  m.seq = 9;
  m.id = S("b1");
  round_trip(&m, "B 42\nL 9 b1\n", &d); /* silent: no envelope */
  assert_true(d.seq == 9);
  assert_slice(d.id, "b1");
  m.env = S("{\"type\":\"user_left\"}");
  round_trip(&m, "B 42\nL 9 b1\n{\"type\":\"user_left\"}", &d);

  m.kind = WIRE_MEMBER;
  m.seq = 10;
  m.room = S("r");
  m.joined = 1;
  m.value = S("5 r");
  m.env = S("{\"type\":\"room_joined\"}");
  round_trip(&m, "B 42\nM 10 b1 r + 5 r\n{\"type\":\"room_joined\"}", &d);
  assert_slice(d.room, "r");
  assert_int_equal(d.joined, 1);
  assert_slice(d.value, "5 r");
  m.joined = 0;
  m.value = S("5");
  m.env = S("{\"type\":\"room_left\"}");
  round_trip(&m, "B 42\nM 10 b1 r - 5\n{\"type\":\"room_left\"}", &d);
  assert_int_equal(d.joined, 0);

  memset(&m, 0, sizeof m);
  m.origin = S("B");
  m.inc = 42;
  m.kind = WIRE_HEARTBEAT;
  m.seq = 0;
  m.count = 3;
  m.digest = 0x00ab00cd00ef0012ULL;
  round_trip(&m, "B 42\nH 0 3 00ab00cd00ef0012\n", &d);
  assert_true(d.count == 3 && d.digest == 0x00ab00cd00ef0012ULL && !d.hello);
  m.hello = 1;
  m.digest = UINT64_MAX;
  round_trip(&m, "B 42\nH 0 3 ffffffffffffffff hello\n", &d);
  assert_true(d.hello && d.digest == UINT64_MAX);

  memset(&m, 0, sizeof m);
  m.origin = S("B");
  m.inc = -3; /* never sent, but an incarnation is signed */
  m.kind = WIRE_GOODBYE;
  round_trip(&m, "B -3\nX\n", &d);
  m.inc = INT64_MIN;
  round_trip(&m, "B -9223372036854775808\nX\n", &d);
  m.inc = INT64_MAX;
  round_trip(&m, "B 9223372036854775807\nX\n", &d);
}

/* The format of the code this replaces, printf for printf. */
static void test_bytes_of_earlier_builds(void **state) {
  char buf[256];
  wire_msg_t d;
  (void)state;
  snprintf(buf, sizeof buf, "%s %lld\nH %llu %zu %016llx%s\n", "host_1:812", 1764067845123456LL,
           12ULL, (size_t)4, 0x1234ULL, " hello");
  assert_int_equal(dec(buf, &d), 0);
  assert_true(d.seq == 12 && d.count == 4 && d.digest == 0x1234 && d.hello);
  assert_int_equal(dec("n1 5\nM 3 alice room-1 + 1764067845000000 room-1 other\n{\"a\":1}", &d), 0);
  assert_slice(d.value, "1764067845000000 room-1 other");
}

/* ---- rejection ---- */

static void test_malformed(void **state) {
  static const char *const bad[] = {
      /* origin line */
      "",
      "\n",
      "B\nC\n{}",
      " 1\nC\n{}",
      "B \nC\n{}",
      "B 1 2\nC\n{}",
      "B x\nC\n{}",
      "B 01\nC\n{}",
      "B -0\nC\n{}",
      "B -\nC\n{}",
      "B +1\nC\n{}",
      "B 1.5\nC\n{}",
      "B 9223372036854775808\nC\n{}",
      "B -9223372036854775809\nC\n{}",
      "B/x 1\nC\n{}",
      "B x 1\nC\n{}",
      "B\t 1\nC\n{}",
      "\xc3\xa9 1\nC\n{}",
      "0123456789012345678901234567890123456789012345678901234567890123456789 1\nC\n{}",
      /* kind line */
      "B 1",
      "B 1\n",
      "B 1\nC",
      "B 1\n\n{}",
      "B 1\nQ\n{}",
      "B 1\nc\n{}",
      "B 1\nCx\n{}",
      "B 1\nC \n{}",
      "B 1\nC x\n{}",
      "B 1\n C\n{}",
      /* envelopes */
      "B 1\nC\n",
      "B 1\nR r\n",
      "B 1\nP a b\n",
      "B 1\nB a b\n{}",
      "B 1\nX\n{}",
      "B 1\nH 1 1 0000000000000000\n{}",
      /* R, P, B */
      "B 1\nR\n{}",
      "B 1\nR \n{}",
      "B 1\nR r s\n{}",
      "B 1\nR r/s\n{}",
      "B 1\nR  r\n{}",
      "B 1\nR "
      "r0123456789012345678901234567890123456789012345678901234567890123\n{}",
      "B 1\nP a\n{}",
      "B 1\nP a b c\n{}",
      "B 1\nP a  b\n{}",
      "B 1\nP a b \n{}",
      "B 1\nP a b!\n{}",
      "B 1\nB a\n",
      "B 1\nB a b c\n",
      "B 1\nB a:b c\n",
      /* J, L, M */
      "B 1\nJ\n{}",
      "B 1\nJ 1\n{}",
      "B 1\nJ 1 a\n{}",
      "B 1\nJ 1 a \n{}",
      "B 1\nJ x a 5\n{}",
      "B 1\nJ 01 a 5\n{}",
      "B 1\nJ -1 a 5\n{}",
      "B 1\nJ 18446744073709551616 a 5\n{}",
      "B 1\nJ 1 a x\n{}",
      "B 1\nJ 1 a 5 \n{}",
      "B 1\nJ 1 a 5  r\n{}",
      "B 1\nJ 1 a 5 r \n{}",
      "B 1\nJ 1 a 5 r%\n{}",
      "B 1\nJ 1 a  5\n{}",
      "B 1\nJ 1 a/b 5\n{}",
      "B 1\nJ  1 a 5\n{}",
      "B 1\nL 1\n",
      "B 1\nL 1 a b\n",
      "B 1\nL a\n",
      "B 1\nL 1 a \n",
      "B 1\nM 1 a r\n{}",
      "B 1\nM 1 a r +\n{}",
      "B 1\nM 1 a r * 5\n{}",
      "B 1\nM 1 a r ++ 5\n{}",
      "B 1\nM 1 a r + x\n{}",
      "B 1\nM 1 a r! + 5\n{}",
      "B 1\nM 1 a + 5\n{}",
      /* H */
      "B 1\nH\n",
      "B 1\nH 1 2\n",
      "B 1\nH 1 2 abc\n",
      "B 1\nH 1 2 0000000000000000 hellO\n",
      "B 1\nH 1 2 000000000000000\n",
      "B 1\nH 1 2 00000000000000000\n",
      "B 1\nH 1 2 000000000000000A\n",
      "B 1\nH 1 2 000000000000000g\n",
      "B 1\nH 1 2 0000000000000000 hello x\n",
      "B 1\nH 1 2 0000000000000000 hello \n",
      "B 1\nH 1 2 0000000000000000 \n",
      "B 1\nH -1 2 0000000000000000\n",
      "B 1\nH 1 02 0000000000000000\n",
      "B 1\nX x\n",
  };
  size_t i;
  wire_msg_t m;
  (void)state;
  for (i = 0; i < sizeof bad / sizeof *bad; i++)
    if (dec(bad[i], &m) == 0) fail_msg("accepted: '%s'", bad[i]);
}

static void test_overlong_ids(void **state) {
  char id64[65], id65[66], node64[65], buf[512];
  wire_msg_t m;
  (void)state;
  memset(id64, 'a', 64);
  id64[64] = '\0';
  memset(id65, 'a', 65);
  id65[65] = '\0';
  memset(node64, 'n', 64);
  node64[64] = '\0';
  snprintf(buf, sizeof buf, "%s 1\nP %s b\n{}", node64, id64);
  assert_int_equal(dec(buf, &m), 0);
  assert_int_equal(m.to.len, 64);
  snprintf(buf, sizeof buf, "%sx 1\nP %s b\n{}", node64, id64);
  assert_int_equal(dec(buf, &m), -1);
  snprintf(buf, sizeof buf, "B 1\nP %s b\n{}", id65);
  assert_int_equal(dec(buf, &m), -1);
  snprintf(buf, sizeof buf, "B 1\nJ 1 %s 5\n{}", id65);
  assert_int_equal(dec(buf, &m), -1);
  snprintf(buf, sizeof buf, "B 1\nJ 1 a 5 %s\n{}", id64);
  assert_int_equal(dec(buf, &m), 0);
  snprintf(buf, sizeof buf, "B 1\nJ 1 a 5 %s\n{}", id65);
  assert_int_equal(dec(buf, &m), -1);
  snprintf(buf, sizeof buf, "B 1\nM 1 a %s + 5\n{}", id65);
  assert_int_equal(dec(buf, &m), -1);
}

/* Every cut of a valid message before its second newline is rejected, and
 * from there on it decodes with the envelope cut (a kind with an envelope)
 * or not at all (a kind without one). */
static void test_truncated(void **state) {
  static const char *const good[] = {
      "node-1 17\nC\n{\"type\":\"chat\"}",
      "node-1 17\nR room\n{\"a\":1}",
      "node-1 17\nP to from\n{\"a\":1}",
      "node-1 17\nB from to\n",
      "node-1 17\nJ 3 id 12 r s\n{\"a\":1}",
      "node-1 17\nL 3 id\n",
      "node-1 17\nM 3 id r + 12 r\n{\"a\":1}",
      "node-1 17\nH 3 1 0123456789abcdef hello\n",
      "node-1 17\nX\n",
  };
  size_t i, cut;
  (void)state;
  for (i = 0; i < sizeof good / sizeof *good; i++) {
    const char *p = good[i];
    size_t len = strlen(p), body = (size_t)(strchr(strchr(p, '\n') + 1, '\n') - p) + 1;
    wire_msg_t m;
    assert_int_equal(wire_decode(p, len, &m), 0);
    for (cut = 0; cut < len; cut++) {
      char *c = malloc(cut ? cut : 1); /* exact size: ASan sees a read past it */
      int rc;
      assert_non_null(c);
      memcpy(c, p, cut);
      rc = wire_decode(c, cut, &m);
      free(c);
      if (cut < body && rc == 0) fail_msg("accepted a cut at %zu of '%s'", cut, p);
      if (cut == body && strchr("CRP", p[10]) && rc == 0)
        fail_msg("accepted an empty envelope of '%s'", p);
      if (cut > body && rc != 0) fail_msg("rejected a cut envelope at %zu of '%s'", cut, p);
    }
  }
}

/* ---- values and numbers ---- */

static void test_values(void **state) {
  wire_value_t v;
  slice_t rest, room;
  strbuf_t vb = {0};
  static const char *const bad[] = {"",     " ",      "x",   "5 ", " 5",   "5  r",
                                    "5 r ", "5 r  s", "05",  "-0", "5 r#", "5 r\n",
                                    "5\tr", "1.5",    "5 é", "+5", "--5",  "9223372036854775808"};
  size_t i;
  (void)state;
  assert_int_equal(wire_value_decode(S("1764067845000001"), &v), 0);
  assert_true(v.claim == 1764067845000001LL);
  assert_int_equal(v.rooms.len, 0);
  rest = v.rooms;
  assert_int_equal(wire_rooms_next(&rest, &room), 0);

  assert_int_equal(wire_value_decode(S("-7 a b.c d_e"), &v), 0);
  assert_true(v.claim == -7);
  rest = v.rooms;
  assert_int_equal(wire_rooms_next(&rest, &room), 1);
  assert_slice(room, "a");
  assert_int_equal(wire_rooms_next(&rest, &room), 1);
  assert_slice(room, "b.c");
  assert_int_equal(wire_rooms_next(&rest, &room), 1);
  assert_slice(room, "d_e");
  assert_int_equal(wire_rooms_next(&rest, &room), 0);

  assert_int_equal(wire_value_claim(&vb, 1764067845000001LL), 0);
  assert_int_equal(wire_value_room(&vb, S("lobby")), 0);
  assert_int_equal(wire_value_room(&vb, S("x")), 0);
  assert_int_equal(vb.len, strlen("1764067845000001 lobby x"));
  assert_memory_equal(vb.buf, "1764067845000001 lobby x", vb.len);
  assert_int_equal(wire_value_decode(slice_make(vb.buf, vb.len), &v), 0);
  vb.len = 0;
  assert_int_equal(wire_value_claim(&vb, 0), 0);
  assert_int_equal(vb.len, 1);
  assert_memory_equal(vb.buf, "0", 1);
  strbuf_free(&vb);

  for (i = 0; i < sizeof bad / sizeof *bad; i++)
    if (wire_value_decode(S(bad[i]), &v) == 0) fail_msg("accepted value '%s'", bad[i]);
}

static void test_numbers(void **state) {
  uint64_t u;
  int64_t s;
  (void)state;
  assert_true(wire_parse_u64(S("0"), &u) && u == 0);
  assert_true(wire_parse_u64(S("18446744073709551615"), &u) && u == UINT64_MAX);
  assert_false(wire_parse_u64(S("18446744073709551616"), &u));
  assert_false(wire_parse_u64(S("99999999999999999999"), &u));
  assert_false(wire_parse_u64(S("000"), &u));
  assert_false(wire_parse_u64(S(""), &u));
  assert_false(wire_parse_u64(S("1 "), &u));
  assert_true(wire_parse_i64(S("-9223372036854775808"), &s) && s == INT64_MIN);
  assert_true(wire_parse_i64(S("9223372036854775807"), &s) && s == INT64_MAX);
  assert_false(wire_parse_i64(S("9223372036854775808"), &s));
  assert_false(wire_parse_i64(S("-"), &s));
  assert_false(wire_parse_i64(S("-0"), &s));
  assert_true(wire_node_id_ok(S("host.example_1:1234-x")));
  assert_false(wire_node_id_ok(S("")));
  assert_false(wire_node_id_ok(S("a b")));
  assert_true(wire_id_ok(S("a.b-c_D9")));
  assert_false(wire_id_ok(S("a:b")));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chat_room_private_bounce),
      cmocka_unit_test(test_presence_kinds),
      cmocka_unit_test(test_bytes_of_earlier_builds),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_overlong_ids),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_values),
      cmocka_unit_test(test_numbers),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  strbuf_free(&b);
  return rc;
}
