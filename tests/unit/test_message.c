/* Unit tests for protocol/message.c: decoding, the envelope's exact bytes
 * (Python json.dumps(ensure_ascii=False, separators=(",",":")) compatible)
 * and the timestamp format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/message.h"

/* Asserts that b holds exactly the C string want (and prints both if not). */
static void assert_buf_eq(const strbuf_t *b, const char *want) {
  size_t n = strlen(want);
  if (b->len != n || memcmp(b->buf, want, n) != 0)
    fail_msg("got  [%.*s] (%zu bytes)\nwant [%s] (%zu bytes)", (int)b->len, b->buf ? b->buf : "",
             b->len, want, n);
}

/* Decodes text and re-encodes the whole root compactly. */
static void assert_roundtrip(const char *text, const char *want) {
  msg_in_t m;
  const char *why = NULL;
  assert_int_equal(msg_decode(text, strlen(text), &m, &why), MSG_OK);
  strbuf_t b = {0};
  assert_int_equal(msg_json_encode(&b, m.root), 0);
  assert_buf_eq(&b, want);
  strbuf_free(&b);
  msg_in_free(&m);
}

static void assert_decode_fails(const char *text, size_t len, int want_rc, const char *want_why) {
  msg_in_t m;
  const char *why = NULL;
  assert_int_equal(msg_decode(text, len, &m, &why), want_rc);
  assert_non_null(why);
  assert_string_equal(why, want_why);
  assert_null(m.root);
  assert_int_equal(msg_decode(text, len, &m, NULL), want_rc); /* why is optional */
}

/* ---- strbuf ---------------------------------------------------------- */

static void test_strbuf_grows(void **state) {
  (void)state;
  strbuf_t b = {0};
  assert_int_equal(strbuf_append(&b, NULL, 0), 0);
  assert_int_equal(b.len, 0);
  for (int i = 0; i < 10000; i++)
    assert_int_equal(strbuf_append(&b, "abc", 3), 0);
  assert_int_equal(b.len, 30000);
  assert_true(b.cap >= b.len);
  assert_memory_equal(b.buf + 29997, "abc", 3);
  assert_int_equal(strbuf_reserve(&b, 0), 0);
  strbuf_free(&b);
  assert_null(b.buf);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.cap, 0);
}

static void test_strbuf_overflow(void **state) {
  (void)state;
  strbuf_t b = {0};
  assert_int_equal(strbuf_append(&b, "x", 1), 0);
  assert_int_equal(strbuf_reserve(&b, SIZE_MAX), -1);
  assert_int_equal(b.len, 1);
  assert_int_equal(b.buf[0], 'x');
  strbuf_free(&b);
}

/* ---- decoding -------------------------------------------------------- */

static void test_decode_chat(void **state) {
  (void)state;
  const char *t = "{\"type\":\"chat\",\"data\":{\"text\":\"hi\"},\"room\":\"lobby\"}";
  msg_in_t m;
  const char *why = "untouched";
  assert_int_equal(msg_decode(t, strlen(t), &m, &why), MSG_OK);
  assert_string_equal(why, "untouched");
  assert_int_equal(m.type_len, 4);
  assert_memory_equal(m.type, "chat", 4);
  assert_true(json_is_object(m.data));
  assert_string_equal(json_string_value(json_object_get(m.data, "text")), "hi");
  assert_string_equal(json_string_value(m.room), "lobby");
  assert_null(m.recipient_id);
  msg_in_free(&m);
  assert_null(m.root);
}

static void test_decode_minimal(void **state) {
  (void)state;
  const char *t = "  {\"type\":\"ping\"}\r\n\t"; /* surrounding whitespace is fine */
  msg_in_t m;
  assert_int_equal(msg_decode(t, strlen(t), &m, NULL), MSG_OK);
  assert_string_equal(m.type, "ping");
  assert_null(m.data);
  assert_null(m.room);
  assert_null(m.recipient_id);
  msg_in_free(&m);
}

static void test_decode_not_nul_terminated(void **state) {
  (void)state;
  char t[] = "{\"type\":\"chat\"}GARBAGE";
  msg_in_t m;
  assert_int_equal(msg_decode(t, 15, &m, NULL), MSG_OK);
  assert_string_equal(m.type, "chat");
  msg_in_free(&m);
}

static void test_decode_recipient(void **state) {
  (void)state;
  msg_in_t m;
  const char *top =
      "{\"type\":\"private\",\"recipient_id\":\"bob\",\"data\":{\"recipient_id\":\"eve\"}}";
  assert_int_equal(msg_decode(top, strlen(top), &m, NULL), MSG_OK);
  assert_string_equal(json_string_value(m.recipient_id), "bob"); /* top level wins */
  msg_in_free(&m);

  const char *in_data = "{\"type\":\"private\",\"data\":{\"text\":\"x\",\"recipient_id\":\"eve\"}}";
  assert_int_equal(msg_decode(in_data, strlen(in_data), &m, NULL), MSG_OK);
  assert_string_equal(json_string_value(m.recipient_id), "eve");
  msg_in_free(&m);

  const char *null_top =
      "{\"type\":\"private\",\"recipient_id\":null,\"data\":{\"recipient_id\":\"eve\"}}";
  assert_int_equal(msg_decode(null_top, strlen(null_top), &m, NULL), MSG_OK);
  assert_string_equal(json_string_value(m.recipient_id), "eve");
  msg_in_free(&m);

  const char *data_not_obj = "{\"type\":\"private\",\"data\":[\"recipient_id\"]}";
  assert_int_equal(msg_decode(data_not_obj, strlen(data_not_obj), &m, NULL), MSG_OK);
  assert_null(m.recipient_id);
  msg_in_free(&m);

  /* Not validated here: a number is handed back for the router to reject. */
  const char *num = "{\"type\":\"private\",\"recipient_id\":7}";
  assert_int_equal(msg_decode(num, strlen(num), &m, NULL), MSG_OK);
  assert_true(json_is_integer(m.recipient_id));
  msg_in_free(&m);
}

static void test_decode_invalid_json(void **state) {
  (void)state;
  static const char *bad[] = {
      "",
      "   ",
      "{",
      "{\"type\":\"chat\"",
      "{\"type\":\"chat\"}x",
      "{\"type\":\"chat\"} {}",
      "{'type':'chat'}",
      "{\"type\":\"chat\",}",
      "nul",
      "{\"a\\u0000\":1,\"type\":\"chat\"}", /* NUL in a key */
      "{\"type\":\"chat\",\"n\":NaN}",
      "{\"type\":\"chat\",\"n\":1e999}",
      "{\"type\":\"chat\",\"n\":99999999999999999999}",
      "{\"type\":\"\xff\"}", /* invalid UTF-8 */
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_decode_fails(bad[i], strlen(bad[i]), MSG_INVALID_JSON, "invalid JSON");
  assert_decode_fails("{\"type\":\"chat\"}\0", 16, MSG_INVALID_JSON, "invalid JSON");
}

/* "\u0000" inside a string value is valid JSON (Python accepts it): it is
 * decoded with its length and written back escaped. */
static void test_decode_nul_in_value(void **state) {
  (void)state;
  static const char text[] = "{\"type\":\"chat\",\"data\":\"a\\u0000b\"}";
  msg_in_t m;
  strbuf_t b = {0};
  assert_int_equal(msg_decode(text, sizeof text - 1, &m, NULL), MSG_OK);
  assert_int_equal(json_string_length(m.data), 3);
  assert_int_equal(msg_json_encode(&b, m.data), 0);
  assert_int_equal(b.len, 10);
  assert_memory_equal(b.buf, "\"a\\u0000b\"", 10);
  strbuf_free(&b);
  msg_in_free(&m);
}

static void test_decode_not_object(void **state) {
  (void)state;
  static const char *bad[] = {"5",    "\"chat\"", "[]",  "[{\"type\":\"chat\"}]",
                              "null", "true",     "-0.5"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_decode_fails(bad[i], strlen(bad[i]), MSG_INVALID_MESSAGE,
                        "message must be a JSON object");
}

static void test_decode_bad_type(void **state) {
  (void)state;
  static const char *bad[] = {
      "{}",
      "{\"data\":\"x\"}",
      "{\"type\":null}",
      "{\"type\":5}",
      "{\"type\":[\"chat\"]}",
      "{\"type\":{\"a\":1}}",
      "{\"Type\":\"chat\"}",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_decode_fails(bad[i], strlen(bad[i]), MSG_INVALID_MESSAGE,
                        "field 'type' must be a string");
}

static void test_decode_max_depth(void **state) {
  (void)state;
  /* jansson caps nesting at 2048; a deeper text is invalid JSON and does not
   * blow the stack. */
  size_t depth = 100000;
  char *t = malloc(depth * 2 + 64);
  assert_non_null(t);
  size_t n = (size_t)sprintf(t, "{\"type\":\"chat\",\"data\":");
  memset(t + n, '[', depth);
  memset(t + n + depth, ']', depth);
  t[n + 2 * depth] = '}';
  msg_in_t m;
  assert_int_equal(msg_decode(t, n + 2 * depth + 1, &m, NULL), MSG_INVALID_JSON);
  free(t);
}

/* ---- timestamp ------------------------------------------------------- */

static void assert_ts(int64_t usec, const char *want) {
  char out[MSG_TIMESTAMP_LEN + 1];
  memset(out, 'X', sizeof(out));
  msg_timestamp(usec, out);
  assert_string_equal(out, want);
  assert_int_equal(strlen(out), MSG_TIMESTAMP_LEN);
}

static void test_timestamp(void **state) {
  (void)state;
  assert_ts(0, "1970-01-01T00:00:00.000000+00:00");
  assert_ts(1, "1970-01-01T00:00:00.000001+00:00");
  /* 1764066645 s = 20417 days + 37845 s: 2025-11-25 10:30:45 UTC. */
  assert_ts(1764066645123456LL, "2025-11-25T10:30:45.123456+00:00");
  assert_ts(951782400000000LL, "2000-02-29T00:00:00.000000+00:00"); /* leap day */
  assert_ts(-1, "1969-12-31T23:59:59.999999+00:00");
  assert_ts(-1000000, "1969-12-31T23:59:59.000000+00:00");
  assert_ts(253402300799999999LL, "9999-12-31T23:59:59.999999+00:00");
  /* Outside Python's datetime range: clamped, never wider. */
  assert_ts(253402300800000000LL, "9999-12-31T23:59:59.999999+00:00");
  assert_ts(INT64_MAX, "9999-12-31T23:59:59.999999+00:00");
  assert_ts(INT64_MIN, "0001-01-01T00:00:00.000000+00:00");
}

/* ---- encoding -------------------------------------------------------- */

static void test_envelope_protocol_example(void **state) {
  (void)state;
  json_t *data = json_pack("{s:s}", "text", "hi");
  strbuf_t b = {0};
  assert_int_equal(
      msg_envelope_encode(&b, "chat", 4, data, "alice", NULL, "2026-11-25T10:30:45.123456+00:00"),
      0);
  assert_buf_eq(&b, "{\"type\":\"chat\",\"data\":{\"text\":\"hi\"},\"client_id\":\"alice\","
                    "\"timestamp\":\"2026-11-25T10:30:45.123456+00:00\"}");
  strbuf_free(&b);
  json_decref(data);
}

static void test_envelope_server_event_and_room(void **state) {
  (void)state;
  json_t *data = json_pack("{s:s,s:s,s:i}", "room", "lobby", "user_id", "bob", "count", 2);
  strbuf_t b = {0};
  assert_int_equal(strbuf_append(&b, "prefix|", 7), 0); /* appends, keeps what was there */
  assert_int_equal(msg_envelope_encode(&b, "room_joined", 11, data, NULL, "lobby",
                                       "1970-01-01T00:00:00.000000+00:00"),
                   0);
  assert_buf_eq(&b,
                "prefix|{\"type\":\"room_joined\",\"data\":{\"room\":\"lobby\",\"user_id\":\"bob\","
                "\"count\":2},\"client_id\":null,\"room\":\"lobby\","
                "\"timestamp\":\"1970-01-01T00:00:00.000000+00:00\"}");
  strbuf_free(&b);
  json_decref(data);
}

static void test_envelope_null_data(void **state) {
  (void)state;
  strbuf_t b = {0};
  json_t *jnull = json_null();
  assert_int_equal(msg_envelope_encode(&b, "chat", 4, NULL, "a", NULL, "T"), 0);
  assert_buf_eq(&b, "{\"type\":\"chat\",\"data\":null,\"client_id\":\"a\",\"timestamp\":\"T\"}");
  b.len = 0;
  assert_int_equal(msg_envelope_encode(&b, "chat", 4, jnull, "a", NULL, "T"), 0);
  assert_buf_eq(&b, "{\"type\":\"chat\",\"data\":null,\"client_id\":\"a\",\"timestamp\":\"T\"}");
  strbuf_free(&b);
  json_decref(jnull);
}

static void test_envelope_type_len(void **state) {
  (void)state;
  /* type is a (pointer, length) pair: no NUL needed, and a quote is escaped. */
  strbuf_t b = {0};
  assert_int_equal(msg_envelope_encode(&b, "ch\"atXXX", 5, NULL, NULL, NULL, "T"), 0);
  assert_buf_eq(&b, "{\"type\":\"ch\\\"at\",\"data\":null,\"client_id\":null,\"timestamp\":\"T\"}");
  strbuf_free(&b);
}

static void test_envelope_client_data_verbatim(void **state) {
  (void)state;
  /* What a client sent, decoded and relayed: key order, unicode, escapes. */
  const char *t = "{\"type\":\"chat\",\"data\":{\"z\":1,\"a\":[true,false,null,{}],"
                  "\"t\":\"h\\u00e9llo \\ud83d\\ude00 \\u2028 \\/ \\\"q\\\" \\\\ \\n\\t\\u0001\","
                  "\"m\":\"\xe6\x97\xa5\xe6\x9c\xac\"},\"room\":\"r\"}";
  msg_in_t m;
  assert_int_equal(msg_decode(t, strlen(t), &m, NULL), MSG_OK);
  strbuf_t b = {0};
  assert_int_equal(msg_envelope_encode(&b, m.type, m.type_len, m.data, "c-1", "r", "TS"), 0);
  assert_buf_eq(
      &b, "{\"type\":\"chat\",\"data\":{\"z\":1,\"a\":[true,false,null,{}],"
          "\"t\":\"h\xc3\xa9llo \xf0\x9f\x98\x80 \xe2\x80\xa8 / \\\"q\\\" \\\\ \\n\\t\\u0001\","
          "\"m\":\"\xe6\x97\xa5\xe6\x9c\xac\"},\"client_id\":\"c-1\",\"room\":\"r\","
          "\"timestamp\":\"TS\"}");
  strbuf_free(&b);
  msg_in_free(&m);
}

static void test_string_escapes(void **state) {
  (void)state;
  /* Every byte 0x00..0x7f: Python escapes only C0 controls, '"' and '\\'. */
  char in[128];
  for (int i = 0; i < 128; i++)
    in[i] = (char)i;
  strbuf_t b = {0};
  assert_int_equal(msg_json_string(&b, in, sizeof(in)), 0);
  char want[1024];
  size_t n = 0;
  want[n++] = '"';
  static const char *named[32] = {
      [8] = "\\b", [9] = "\\t", [10] = "\\n", [12] = "\\f", [13] = "\\r"};
  for (int i = 0; i < 128; i++) {
    if (i < 32 && named[i])
      n += (size_t)sprintf(want + n, "%s", named[i]);
    else if (i < 32)
      n += (size_t)sprintf(want + n, "\\u%04x", i);
    else if (i == '"' || i == '\\')
      n += (size_t)sprintf(want + n, "\\%c", i);
    else
      want[n++] = (char)i;
  }
  want[n++] = '"';
  want[n] = 0;
  assert_int_equal(b.len, n);
  assert_memory_equal(b.buf, want, n);
  assert_memory_equal(b.buf + 1, "\\u0000\\u0001", 12);
  assert_non_null(memmem(b.buf, b.len, "\\u001b\\u001c", 12)); /* lowercase hex */
  strbuf_free(&b);
}

static void test_string_empty_and_utf8(void **state) {
  (void)state;
  strbuf_t b = {0};
  assert_int_equal(msg_json_string(&b, "", 0), 0);
  assert_buf_eq(&b, "\"\"");
  b.len = 0;
  /* Bytes >= 0x80 pass through untouched, even DEL and U+2028/2029. */
  const char *s = "\x7f\xe2\x80\xa8\xe2\x80\xa9\xf4\x8f\xbf\xbf";
  assert_int_equal(msg_json_string(&b, s, strlen(s)), 0);
  assert_int_equal(b.len, strlen(s) + 2);
  assert_memory_equal(b.buf + 1, s, strlen(s));
  strbuf_free(&b);
}

static void test_string_long_with_escapes(void **state) {
  (void)state;
  /* Growth while escaping: 100000 newlines become 200000 bytes + quotes. */
  size_t n = 100000;
  char *s = malloc(n);
  assert_non_null(s);
  memset(s, '\n', n);
  strbuf_t b = {0};
  assert_int_equal(msg_json_string(&b, s, n), 0);
  assert_int_equal(b.len, 2 * n + 2);
  for (size_t i = 1; i < b.len - 1; i += 2)
    assert_memory_equal(b.buf + i, "\\n", 2);
  strbuf_free(&b);
  free(s);
}

static void assert_real(double d, const char *want) {
  json_t *v = json_real(d);
  assert_non_null(v);
  strbuf_t b = {0};
  assert_int_equal(msg_json_encode(&b, v), 0);
  assert_buf_eq(&b, want);
  strbuf_free(&b);
  json_decref(v);
}

static void test_reals_python_repr(void **state) {
  (void)state;
  /* Expected strings are Python 3's json.dumps of the same doubles. */
  assert_real(1.0, "1.0");
  assert_real(0.1, "0.1");
  assert_real(0.0, "0.0");
  assert_real(-0.0, "-0.0");
  assert_real(-1.5, "-1.5");
  assert_real(1e16, "1e+16");
  assert_real(1e15, "1000000000000000.0");
  assert_real(9007199254740992.0, "9007199254740992.0");
  assert_real(1e-5, "1e-05");
  assert_real(1e-4, "0.0001");
  assert_real(0.00012345, "0.00012345");
  assert_real(1.5e300, "1.5e+300");
  assert_real(-2.5e-300, "-2.5e-300");
  assert_real(1e22, "1e+22");
  assert_real(123.456, "123.456");
  assert_real(0.1 + 0.2, "0.30000000000000004");
  assert_real(123456789012345678.0, "1.2345678901234568e+17");
  assert_real(1.7976931348623157e308, "1.7976931348623157e+308");
  assert_real(2.2250738585072014e-308, "2.2250738585072014e-308");
  assert_real(5e-324, "5e-324");           /* subnormal: shortest is one digit */
  assert_real(1.2345e-320, "1.2347e-320"); /* the subnormal nearest 1.2345e-320 */
  assert_real(2.5e-320, "2.5e-320");
  assert_real(100.0, "100.0");
  assert_real(3.0e5, "300000.0");
  assert_real(2.0 / 3.0, "0.6666666666666666");
}

static void test_reals_roundtrip_text(void **state) {
  (void)state;
  /* A real a client sent comes back in Python's spelling. */
  assert_roundtrip("{\"type\":\"x\",\"a\":1.0,\"b\":1E2,\"c\":1e16,\"d\":0.000010,\"e\":-0.0}",
                   "{\"type\":\"x\",\"a\":1.0,\"b\":100.0,\"c\":1e+16,\"d\":1e-05,\"e\":-0.0}");
}

static void test_integers(void **state) {
  (void)state;
  assert_roundtrip("{\"type\":\"x\",\"a\":[0,-1,42,9223372036854775807,-9223372036854775808,-0]}",
                   "{\"type\":\"x\",\"a\":[0,-1,42,9223372036854775807,-9223372036854775808,0]}");
}

static void test_key_order_and_duplicates(void **state) {
  (void)state;
  /* Insertion order kept; a duplicate key keeps its first position and its
   * last value, as Python's dict does. */
  assert_roundtrip("{\"type\":\"x\",\"b\":1,\"a\":2,\"c\":{\"z\":0,\"y\":1},\"b\":3}",
                   "{\"type\":\"x\",\"b\":3,\"a\":2,\"c\":{\"z\":0,\"y\":1}}");
  assert_roundtrip("{\"type\":\"x\",\"\\\"k\\n\":[[],{},\"\"]}",
                   "{\"type\":\"x\",\"\\\"k\\n\":[[],{},\"\"]}");
}

static void test_deep_data_encodes(void **state) {
  (void)state;
  /* The deepest text the decoder accepts encodes back unchanged. */
  size_t depth = 2040;
  char *t = malloc(2 * depth + 64);
  assert_non_null(t);
  size_t n = (size_t)sprintf(t, "{\"type\":\"x\",\"d\":");
  memset(t + n, '[', depth);
  memset(t + n + depth, ']', depth);
  n += 2 * depth;
  t[n++] = '}';
  t[n] = 0;
  assert_roundtrip(t, t);
  free(t);
}

static void test_too_deep_tree_fails_cleanly(void **state) {
  (void)state;
  /* A hand-built tree deeper than the encoder's limit: -1, out unchanged. */
  json_t *root = json_array(), *cur = root;
  for (int i = 0; i < 5000; i++) {
    json_t *next = json_array();
    json_array_append_new(cur, next);
    cur = next;
  }
  strbuf_t b = {0};
  assert_int_equal(strbuf_append(&b, "keep", 4), 0);
  assert_int_equal(msg_json_encode(&b, root), -1);
  assert_int_equal(b.len, 4);
  assert_int_equal(msg_envelope_encode(&b, "t", 1, root, NULL, NULL, "T"), -1);
  assert_int_equal(b.len, 4);
  assert_memory_equal(b.buf, "keep", 4);
  strbuf_free(&b);
  json_decref(root);
}

static void test_large_array_linear(void **state) {
  (void)state;
  /* 200000 elements: encoding is one pass, output checked at both ends. */
  json_t *a = json_array();
  for (int i = 0; i < 200000; i++)
    json_array_append_new(a, json_integer(i));
  strbuf_t b = {0};
  assert_int_equal(msg_json_encode(&b, a), 0);
  assert_memory_equal(b.buf, "[0,1,2,", 7);
  assert_memory_equal(b.buf + b.len - 8, ",199999]", 8);
  strbuf_free(&b);
  json_decref(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_strbuf_grows),
      cmocka_unit_test(test_strbuf_overflow),
      cmocka_unit_test(test_decode_chat),
      cmocka_unit_test(test_decode_minimal),
      cmocka_unit_test(test_decode_not_nul_terminated),
      cmocka_unit_test(test_decode_recipient),
      cmocka_unit_test(test_decode_invalid_json),
      cmocka_unit_test(test_decode_nul_in_value),
      cmocka_unit_test(test_decode_not_object),
      cmocka_unit_test(test_decode_bad_type),
      cmocka_unit_test(test_decode_max_depth),
      cmocka_unit_test(test_timestamp),
      cmocka_unit_test(test_envelope_protocol_example),
      cmocka_unit_test(test_envelope_server_event_and_room),
      cmocka_unit_test(test_envelope_null_data),
      cmocka_unit_test(test_envelope_type_len),
      cmocka_unit_test(test_envelope_client_data_verbatim),
      cmocka_unit_test(test_string_escapes),
      cmocka_unit_test(test_string_empty_and_utf8),
      cmocka_unit_test(test_string_long_with_escapes),
      cmocka_unit_test(test_reals_python_repr),
      cmocka_unit_test(test_reals_roundtrip_text),
      cmocka_unit_test(test_integers),
      cmocka_unit_test(test_key_order_and_duplicates),
      cmocka_unit_test(test_deep_data_encodes),
      cmocka_unit_test(test_too_deep_tree_fails_cleanly),
      cmocka_unit_test(test_large_array_linear),
  };
  return cmocka_run_group_tests_name("message", tests, NULL, NULL);
}
