/* Unit tests for protocol/handshake.c: every upgrade fault and its status,
 * the accept key, token lists, ids, percent-decoding, query parameters, the
 * Origin rule and permessage-deflate offers. Only the public API is used:
 * the Makefile links every protocol object into each test binary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/handshake.h"

#define S(lit)   slice_make((lit), sizeof(lit) - 1)
#define NONE     slice_make(NULL, 0)
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char rfc_key[] = "dGhlIHNhbXBsZSBub25jZQ==";

static ws_upgrade_req_t good_req(void) {
  ws_upgrade_req_t r;
  r.method = S("GET");
  r.http_major = 1;
  r.http_minor = 1;
  r.upgrade = S("websocket");
  r.connection = S("Upgrade");
  r.key = S(rfc_key);
  r.version = S("13");
  return r;
}

/* ---- accept key ---- */

static void test_accept_rfc_example(void **state) {
  (void)state;
  char out[WS_ACCEPT_KEY_LEN + 1];
  memset(out, 'x', sizeof out);
  assert_int_equal(ws_accept_key(rfc_key, strlen(rfc_key), out), 0);
  assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  assert_int_equal(strlen(out), WS_ACCEPT_KEY_LEN);
}

static void test_accept_trims_ows(void **state) {
  (void)state;
  char out[WS_ACCEPT_KEY_LEN + 1];
  const char k[] = " \tdGhlIHNhbXBsZSBub25jZQ== ";
  assert_int_equal(ws_accept_key(k, strlen(k), out), 0);
  assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

/* ---- ws_handshake_check ---- */

static void test_check_good(void **state) {
  (void)state;
  ws_upgrade_req_t r = good_req();
  assert_int_equal(ws_handshake_check(&r), 0);
  r.upgrade = S("WebSocket");
  r.connection = S("keep-alive, Upgrade");
  assert_int_equal(ws_handshake_check(&r), 0);
  r.upgrade = S("h2c, websocket");
  r.connection = S("upgrade,keep-alive");
  assert_int_equal(ws_handshake_check(&r), 0);
  r.http_minor = 2; /* later 1.x */
  assert_int_equal(ws_handshake_check(&r), 0);
  r.http_major = 2;
  r.http_minor = 0;
  assert_int_equal(ws_handshake_check(&r), 0);
  r = good_req();
  r.key = S("  dGhlIHNhbXBsZSBub25jZQ==\t");
  r.version = S(" 13 ");
  assert_int_equal(ws_handshake_check(&r), 0);
}

static void test_check_method(void **state) {
  (void)state;
  ws_upgrade_req_t r = good_req();
  r.method = S("POST");
  assert_int_equal(ws_handshake_check(&r), 400);
  r.method = S("get");
  assert_int_equal(ws_handshake_check(&r), 400);
  r.method = S("GETX");
  assert_int_equal(ws_handshake_check(&r), 400);
  r.method = NONE;
  assert_int_equal(ws_handshake_check(&r), 400);
  r.method = S("HEAD");
  r.version = S("8"); /* 400 faults come before 426 */
  assert_int_equal(ws_handshake_check(&r), 400);
  assert_int_equal(ws_handshake_check(NULL), 400);
}

static void test_check_http_version(void **state) {
  (void)state;
  ws_upgrade_req_t r = good_req();
  r.http_minor = 0;
  assert_int_equal(ws_handshake_check(&r), 400);
  r.http_major = 0;
  r.http_minor = 9;
  assert_int_equal(ws_handshake_check(&r), 400);
}

static void test_check_upgrade_connection(void **state) {
  (void)state;
  ws_upgrade_req_t r = good_req();
  r.upgrade = NONE;
  assert_int_equal(ws_handshake_check(&r), 400);
  r.upgrade = S("websockets");
  assert_int_equal(ws_handshake_check(&r), 400);
  r.upgrade = S("h2c");
  assert_int_equal(ws_handshake_check(&r), 400);
  r = good_req();
  r.connection = NONE;
  assert_int_equal(ws_handshake_check(&r), 400);
  r.connection = S("keep-alive");
  assert_int_equal(ws_handshake_check(&r), 400);
  r.connection = S("upgraded");
  assert_int_equal(ws_handshake_check(&r), 400);
  r.connection = S("keep-alive"); /* missing Connection beats a bad version */
  r.version = NONE;
  assert_int_equal(ws_handshake_check(&r), 400);
}

static void test_check_version(void **state) {
  (void)state;
  static const char *const bad[] = {"12", "8", "14", "130", "1 3", "13, 8", "", "13a"};
  ws_upgrade_req_t r = good_req();
  r.version = NONE;
  assert_int_equal(ws_handshake_check(&r), 426);
  for (size_t i = 0; i < COUNT(bad); i++) {
    r.version = slice_cstr(bad[i]);
    assert_int_equal(ws_handshake_check(&r), 426);
  }
}

static void test_check_key_precedence(void **state) {
  (void)state;
  ws_upgrade_req_t r = good_req();
  r.key = NONE; /* absent key: 400 even before the version */
  r.version = S("8");
  assert_int_equal(ws_handshake_check(&r), 400);
  r.key = S("short"); /* malformed key: the version is judged first */
  assert_int_equal(ws_handshake_check(&r), 426);
  r.version = S("13");
  assert_int_equal(ws_handshake_check(&r), 400);
}

static void test_check_key_shapes(void **state) {
  (void)state;
  static const char *const good[] = {
      "AAAAAAAAAAAAAAAAAAAAAA==", "/+/+/+/+/+/+/+/+/+/+/w==",
      "zzzzzzzzzzzzzzzzzzzzzz==", /* non-zero trailing bits: ignored */
  };
  static const char *const bad[] = {
      "",
      "dGhlIHNhbXBsZSBub25jZQ=",   /* 23 chars */
      "dGhlIHNhbXBsZSBub25jZQ===", /* 25 chars */
      "dGhlIHNhbXBsZSBub25jZ===",  /* 24 chars, 3 pads */
      "dGhlIHNhbXBsZSBub25jZQ=A",  /* pad then data */
      "dGhlIHNhbXBsZSBub25jZQAA",  /* no padding: 18 bytes */
      "dGhlIHNhbXBsZSBub25jZQA=",  /* one pad: 17 bytes */
      "dGhlIHNhbXBsZSBub25j",      /* 20 chars: 15 bytes */
      "dGhlIHNhbXBsZSBub25jZQ",    /* 22 chars, padding dropped */
      "dGhlIHNhbXBsZSBub25jZ-==",  /* base64url alphabet */
      "dGhlIHNhbXBsZSBub25jZ_==",
      "dGhlIHNhbXBs ZSBub25jZQ=",                           /* inner space */
      "dGhlIHNhbXBsZSBub25jZQ==, dGhlIHNhbXBsZSBub25jZQ==", /* repeated */
  };
  ws_upgrade_req_t r = good_req();
  for (size_t i = 0; i < COUNT(good); i++) {
    r.key = slice_cstr(good[i]);
    assert_int_equal(ws_handshake_check(&r), 0);
  }
  for (size_t i = 0; i < COUNT(bad); i++) {
    r.key = slice_cstr(bad[i]);
    assert_int_equal(ws_handshake_check(&r), 400);
  }
  char nonascii[] = "dGhlIHNhbXBsZSBub25jZQ==";
  nonascii[3] = (char)0xc3;
  r.key = slice_cstr(nonascii);
  assert_int_equal(ws_handshake_check(&r), 400);
}

/* ---- token lists ---- */

static void test_token_list(void **state) {
  (void)state;
  assert_true(http_token_list_has(S("Upgrade"), "upgrade"));
  assert_true(http_token_list_has(S("UPGRADE"), "upgrade"));
  assert_true(http_token_list_has(S("keep-alive, Upgrade"), "upgrade"));
  assert_true(http_token_list_has(S("keep-alive,Upgrade"), "upgrade"));
  assert_true(http_token_list_has(S(" \t upgrade \t "), "upgrade"));
  assert_true(http_token_list_has(S(",,  ,upgrade,,"), "upgrade"));
  assert_true(http_token_list_has(S("a , upgrade , b"), "upgrade"));
  assert_false(http_token_list_has(S("upgraded"), "upgrade"));
  assert_false(http_token_list_has(S("xupgrade"), "upgrade"));
  assert_false(http_token_list_has(S("up grade"), "upgrade"));
  assert_false(http_token_list_has(S("keep-alive, upgrade-insecure"), "upgrade"));
  assert_false(http_token_list_has(S(""), "upgrade"));
  assert_false(http_token_list_has(S(",,,"), "upgrade"));
  assert_false(http_token_list_has(NONE, "upgrade"));
  assert_false(http_token_list_has(S("a,,b"), ""));
  assert_false(http_token_list_has(S("\"upgrade\""), "upgrade"));
  assert_false(http_token_list_has(S("\"a,\"b"), "upgrade"));
  /* the slice bound is honoured: "upgrade" lies past the length */
  assert_false(http_token_list_has(slice_make("keep-alive, upgrade", 11), "upgrade"));
  assert_false(http_token_list_has(slice_make("upgrade", 6), "upgrade"));
}

/* ---- ids ---- */

static void test_id_valid(void **state) {
  (void)state;
  char buf[66];
  memset(buf, 'a', sizeof buf);
  assert_false(ws_id_valid(buf, 0));
  assert_false(ws_id_valid(NULL, 0));
  assert_true(ws_id_valid(buf, 1));
  assert_true(ws_id_valid(buf, 64));
  assert_false(ws_id_valid(buf, 65));
  assert_true(ws_id_valid("Az09_-.", 7));
  assert_true(ws_id_valid("..", 2));
  for (int c = 1; c < 256; c++) {
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-' || c == '.';
    char id[3] = {'a', (char)c, 'b'};
    assert_int_equal(ws_id_valid(id, 3), ok);
  }
  assert_false(ws_id_valid("a\0b", 3));
  assert_false(ws_id_valid("\xc3\xa9t\xc3\xa9", 6));
}

/* ---- percent-decoding ---- */

static void test_percent_decode(void **state) {
  (void)state;
  char out[32];
  assert_int_equal(url_percent_decode("alice", 5, out, sizeof out), 5);
  assert_memory_equal(out, "alice", 5);
  assert_int_equal(url_percent_decode("a%2Eb%2eC", 9, out, sizeof out), 5);
  assert_memory_equal(out, "a.b.C", 5);
  assert_int_equal(url_percent_decode("a+b", 3, out, sizeof out), 3);
  assert_memory_equal(out, "a+b", 3);
  assert_int_equal(url_percent_decode("%2e%2e%2F", 9, out, sizeof out), 3);
  assert_memory_equal(out, "../", 3);
  assert_int_equal(url_percent_decode("%C3%A9", 6, out, sizeof out), 2);
  assert_memory_equal(out, "\xc3\xa9", 2);
  assert_int_equal(url_percent_decode("", 0, out, sizeof out), 0);
  assert_int_equal(url_percent_decode("%25", 3, out, sizeof out), 1);
  assert_int_equal(out[0], '%');

  assert_int_equal(url_percent_decode("%zz", 3, out, sizeof out), -1);
  assert_int_equal(url_percent_decode("%4", 2, out, sizeof out), -1);
  assert_int_equal(url_percent_decode("a%", 2, out, sizeof out), -1);
  assert_int_equal(url_percent_decode("%g1", 3, out, sizeof out), -1);
  assert_int_equal(url_percent_decode("%1g", 3, out, sizeof out), -1);
  assert_int_equal(url_percent_decode("a%00b", 5, out, sizeof out), -1);
  assert_int_equal(url_percent_decode("a\0b", 3, out, sizeof out), -1);
  /* the escape may not run past n even when more bytes follow */
  assert_int_equal(url_percent_decode("a%41", 3, out, sizeof out), -1);
}

static void test_percent_decode_cap_alias(void **state) {
  (void)state;
  char out[4];
  assert_int_equal(url_percent_decode("abcd", 4, out, 4), 4);
  assert_int_equal(url_percent_decode("abcde", 5, out, 4), -1);
  assert_int_equal(url_percent_decode("abc%41", 6, out, 4), 4);
  assert_int_equal(url_percent_decode("a", 1, out, 0), -1);
  assert_int_equal(url_percent_decode("", 0, out, 0), 0);

  char buf[] = "x%2Ey%41%42z";
  long n = url_percent_decode(buf, strlen(buf), buf, sizeof buf);
  assert_int_equal(n, 6);
  assert_memory_equal(buf, "x.yABz", 6);
}

/* ---- query parameters ---- */

static void test_query_param(void **state) {
  (void)state;
  char out[16];
  assert_int_equal(url_query_param(S("a=1&token=x%2Ey"), "token", out, sizeof out), 3);
  assert_string_equal(out, "x.y");
  assert_int_equal(url_query_param(S("a=1&token=x%2Ey"), "a", out, sizeof out), 1);
  assert_string_equal(out, "1");
  assert_int_equal(url_query_param(S("token=first&token=second"), "token", out, sizeof out), 5);
  assert_string_equal(out, "first");
  assert_int_equal(url_query_param(S("token="), "token", out, sizeof out), 0);
  assert_string_equal(out, "");
  assert_int_equal(url_query_param(S("x&token"), "token", out, sizeof out), 0);
  assert_string_equal(out, "");
  assert_int_equal(url_query_param(S("&&token=v&&"), "token", out, sizeof out), 1);
  assert_string_equal(out, "v");
  assert_int_equal(url_query_param(S("t%6Fken=v"), "token", out, sizeof out), 1);
  assert_int_equal(url_query_param(S("token=a+b%20c"), "token", out, sizeof out), 5);
  assert_string_equal(out, "a b c");
  assert_int_equal(url_query_param(S("token=a=b"), "token", out, sizeof out), 3);
  assert_string_equal(out, "a=b");
}

static void test_query_param_absent(void **state) {
  (void)state;
  char out[16];
  assert_int_equal(url_query_param(S(""), "token", out, sizeof out), -1);
  assert_int_equal(url_query_param(NONE, "token", out, sizeof out), -1);
  assert_int_equal(url_query_param(S("tokens=1&xtoken=2&toke=3"), "token", out, sizeof out), -1);
  assert_int_equal(url_query_param(S("TOKEN=1"), "token", out, sizeof out), -1);
  assert_int_equal(url_query_param(S("=1&=2"), "token", out, sizeof out), -1);
  assert_int_equal(url_query_param(S("%zz=1"), "token", out, sizeof out), -1);
  assert_int_equal(url_query_param(S("a=1"), "", out, sizeof out), -1);
  /* the slice bound is honoured */
  assert_int_equal(url_query_param(slice_make("a=1&token=x", 4), "token", out, sizeof out), -1);
}

static void test_query_param_malformed(void **state) {
  (void)state;
  char out[4];
  assert_int_equal(url_query_param(S("token=%zz"), "token", out, sizeof out), -2);
  assert_string_equal(out, "");
  assert_int_equal(url_query_param(S("token=%4"), "token", out, sizeof out), -2);
  assert_int_equal(url_query_param(S("token=a%00"), "token", out, sizeof out), -2);
  /* first occurrence wins, even when it is the malformed one */
  assert_int_equal(url_query_param(S("token=%zz&token=ok"), "token", out, sizeof out), -2);
  /* cap includes the NUL: 3 characters fit in 4, 4 do not */
  assert_int_equal(url_query_param(S("token=abc"), "token", out, sizeof out), 3);
  assert_string_equal(out, "abc");
  assert_int_equal(url_query_param(S("token=abcd"), "token", out, sizeof out), -2);
  assert_int_equal(url_query_param(S("token=a"), "token", out, 0), -2);
  assert_int_equal(url_query_param(S("token="), "token", out, 1), 0);
  assert_string_equal(out, "");
}

/* ---- Origin ---- */

static int same(const char *origin, const char *host, int tls) {
  return ws_origin_allowed(origin ? slice_cstr(origin) : NONE, host ? slice_cstr(host) : NONE, tls,
                           NULL, 0);
}

static void test_origin_same_host(void **state) {
  (void)state;
  assert_true(same(NULL, "example.com", 0)); /* non-browser client */
  assert_true(same(NULL, NULL, 0));
  assert_true(same("http://example.com", "example.com", 0));
  assert_true(same("http://example.com:80", "example.com", 0));
  assert_true(same("http://example.com", "example.com:80", 0));
  assert_true(same("https://example.com", "example.com", 1));
  assert_true(same("https://example.com:443", "example.com:443", 1));
  assert_true(same("https://example.com", "example.com:443", 0));
  assert_true(same("http://localhost:8000", "localhost:8000", 0));
  assert_true(same("http://127.0.0.1:8000", "127.0.0.1:8000", 0));
  assert_true(same("HTTP://Example.COM:8000", "example.com:8000", 0));
  assert_true(same("ws://example.com", "example.com", 0));
  assert_true(same("wss://example.com", "example.com", 1));
  assert_true(same(" http://example.com ", " example.com ", 0));
  assert_true(same("http://[::1]:8000", "[::1]:8000", 0));
  assert_true(same("http://[::1]", "[::1]", 0));
  assert_true(same("http://[FE80::1]:8000", "[fe80::1]:8000", 0));

  assert_false(same("http://example.com", "example.com", 1)); /* 80 != 443 */
  assert_false(same("https://example.com", "example.com", 0));
  assert_false(same("http://example.com:8001", "example.com:8000", 0));
  assert_false(same("http://example.com:8000", "example.com", 0));
  assert_false(same("http://evil.com:8000", "example.com:8000", 0));
  assert_false(same("http://example.com.evil.com", "example.com", 0));
  assert_false(same("http://[::1]:8000", "[::2]:8000", 0));
  assert_false(same("http://[::1]:8000", "localhost:8000", 0));
  assert_false(same("http://example.com", NULL, 0));
  /* brackets hold an IPv6 literal only, even when both sides agree */
  assert_false(same("http://[1.2.3.4]", "[1.2.3.4]", 0));
  assert_false(same("http://[]", "[]", 0));
}

static void test_origin_malformed(void **state) {
  (void)state;
  static const char *const bad[] = {
      "null",
      "",
      "example.com",
      "http:/example.com",
      "http://",
      "http://:80",
      "http://example.com:",
      "http://example.com:0",
      "http://example.com:65536",
      "http://example.com:123456",
      "http://example.com:8o",
      "http://example.com/",
      "http://example.com/x",
      "http://user@example.com",
      "http://example.com?x",
      "ftp://example.com",
      "file://",
      "http://exa mple.com",
      "http://[::1",
      "http://[]:80",
      "http://[zz::1]",
      "http://[::1]x",
      "http://::1",
      "chrome-extension://abc",
      "http://example.com, http://example.com",
      "http://example.com:80:80",
      "http://ex%41mple.com",
  };
  for (size_t i = 0; i < COUNT(bad); i++)
    assert_false(same(bad[i], "example.com", 0));
  static const char *const bad_host[] = {"",    ":80",    "example.com:", "[::1", "example.com:x",
                                         "a b", "[::1]:0"};
  for (size_t i = 0; i < COUNT(bad_host); i++)
    assert_false(same("http://example.com", bad_host[i], 0));
  const char *list[] = {"http://example.com"};
  for (size_t i = 0; i < COUNT(bad); i++)
    assert_false(ws_origin_allowed(slice_cstr(bad[i]), S("example.com"), 0, list, 1));
}

static void test_origin_list(void **state) {
  (void)state;
  const char *list[] = {"https://chat.example.com", "http://localhost:3000", "http://[::1]:8080",
                        "not an origin"};
  size_t n = COUNT(list);
  slice_t host = S("ws.example.com");
#define ALLOWED(o) ws_origin_allowed((o), host, 1, list, n)
  assert_true(ALLOWED(S("https://chat.example.com")));
  assert_true(ALLOWED(S("https://chat.example.com:443")));
  assert_true(ALLOWED(S("HTTPS://Chat.Example.com")));
  assert_true(ALLOWED(S("http://localhost:3000")));
  assert_true(ALLOWED(S("http://[::1]:8080")));
  assert_false(ALLOWED(S("http://chat.example.com"))); /* scheme differs */
  assert_false(ALLOWED(S("wss://chat.example.com")));
  assert_false(ALLOWED(S("https://chat.example.com:8443")));
  assert_false(ALLOWED(S("https://evil.example.com")));
  assert_false(ALLOWED(S("http://localhost")));
  assert_false(ALLOWED(S("http://localhost:3001")));
  assert_false(ALLOWED(S("https://ws.example.com"))); /* same host: not listed */
  assert_false(ALLOWED(S("null")));
  assert_false(ALLOWED(S("not an origin")));
  assert_true(ALLOWED(NONE)); /* no Origin: not a browser, passes as with no list */
#undef ALLOWED
  const char *dflt[] = {"http://a.example:80"};
  assert_true(ws_origin_allowed(S("http://a.example"), NONE, 0, dflt, 1));
  assert_false(ws_origin_allowed(S("https://a.example"), NONE, 0, dflt, 1));
}

static void test_origin_star(void **state) {
  (void)state;
  const char *star[] = {"http://a.example", "*"};
  assert_true(ws_origin_allowed(S("http://evil.com"), S("x"), 0, star, 2));
  assert_true(ws_origin_allowed(S("null"), S("x"), 0, star, 2));
  assert_true(ws_origin_allowed(NONE, NONE, 0, star, 2));
  const char *with_null[] = {NULL, "http://a.example"};
  assert_true(ws_origin_allowed(S("http://a.example"), NONE, 0, with_null, 2));
}

/* ---- permessage-deflate ---- */

static int pmd(const char *s) {
  return ws_pmd_negotiate(slice_cstr(s));
}

static void test_pmd_accepts(void **state) {
  (void)state;
  static const char *const ok[] = {
      "permessage-deflate",
      "permessage-deflate; client_max_window_bits", /* browsers, websockets */
      "permessage-deflate;client_max_window_bits",
      "permessage-deflate ; client_max_window_bits ",
      "Permessage-Deflate; Client_Max_Window_Bits",
      "permessage-deflate; client_max_window_bits=8",
      "permessage-deflate; client_max_window_bits=15",
      "permessage-deflate; client_max_window_bits = 10",
      "permessage-deflate; client_max_window_bits=\"10\"",
      "permessage-deflate; client_max_window_bits=\"1\\0\"",
      "permessage-deflate; server_no_context_takeover",
      "permessage-deflate; client_no_context_takeover",
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover;"
      " client_max_window_bits=12",
      "x-webkit-deflate-frame, permessage-deflate",
      "foo; bar=\"a,b\"; baz, permessage-deflate",
      ", ,permessage-deflate,,",
      "\tpermessage-deflate\t",
  };
  for (size_t i = 0; i < COUNT(ok); i++) {
    if (!pmd(ok[i])) fail_msg("declined: %s", ok[i]);
  }
}

static void test_pmd_declines(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",
      ",,,",
      "x-webkit-deflate-frame",
      "permessage-deflat",
      "permessage-deflatex",
      "permessage-deflate; server_max_window_bits=15", /* would need an echo */
      "permessage-deflate; server_max_window_bits=12", /* below our 15 */
      "permessage-deflate; server_max_window_bits=8",
      "permessage-deflate; server_max_window_bits",
      "permessage-deflate; client_max_window_bits=7",
      "permessage-deflate; client_max_window_bits=16",
      "permessage-deflate; client_max_window_bits=0",
      "permessage-deflate; client_max_window_bits=08",
      "permessage-deflate; client_max_window_bits=010",
      "permessage-deflate; client_max_window_bits=+9",
      "permessage-deflate; client_max_window_bits=9a",
      "permessage-deflate; client_max_window_bits=99999999999999999999",
      "permessage-deflate; client_max_window_bits=\"\"",
      "permessage-deflate; client_max_window_bits=\"16\"",
      "permessage-deflate; client_max_window_bits=",
      "permessage-deflate; client_max_window_bits; client_max_window_bits",
      "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
      "permessage-deflate; server_no_context_takeover=1",
      "permessage-deflate; client_no_context_takeover=\"\"",
      "permessage-deflate; mux",
      "permessage-deflate; x=1",
      "permessage-deflate;",
      "permessage-deflate;;client_max_window_bits",
      "permessage-deflate client_max_window_bits",
      "permessage-deflate; client_max_window_bits=\"10",
      "permessage-deflate; client_max_window_bits=10\"",
      "permessage-deflate; client_max_window_bits=\"1\x01\"",
      "permessage-deflate=1",
      "\"permessage-deflate\"",
      ";permessage-deflate",
      "garbage \x01\x02 ;;; ===",
      "\"\\",
      "\\",
      "=",
  };
  for (size_t i = 0; i < COUNT(bad); i++) {
    if (pmd(bad[i])) fail_msg("accepted: %s", bad[i]);
  }
  assert_int_equal(ws_pmd_negotiate(NONE), 0);
  /* the slice bound is honoured */
  assert_int_equal(ws_pmd_negotiate(slice_make("permessage-deflate", 17)), 0);
  assert_int_equal(
      ws_pmd_negotiate(slice_make("permessage-deflate; client_max_window_bits=15", 44)), 0);
}

static void test_pmd_second_offer(void **state) {
  (void)state;
  static const char *const ok[] = {
      "permessage-deflate; server_max_window_bits=10, permessage-deflate",
      "permessage-deflate; client_max_window_bits=16, "
      "permessage-deflate; client_max_window_bits",
      "permessage-deflate; x, permessage-deflate; client_max_window_bits=9",
      "permessage-deflate; client_max_window_bits; client_max_window_bits, "
      "permessage-deflate",
      "permessage-deflate; a=\"x,y\", permessage-deflate",
      "permessage-deflate; a=\"x\\\",y\", permessage-deflate",
      "garbage;; ===, permessage-deflate",
      "foo; a=\"x\\\",y\" bad, permessage-deflate", /* resync honours \\" */
      "permessage-deflate client, permessage-deflate",
      "permessage-deflate; client_max_window_bits=\"1\x01\", permessage-deflate",
  };
  for (size_t i = 0; i < COUNT(ok); i++) {
    if (!pmd(ok[i])) fail_msg("declined: %s", ok[i]);
  }
  /* an unterminated quote swallows the rest of the header */
  assert_false(pmd("foo; a=\"x, permessage-deflate"));
}

static void test_pmd_long_input(void **state) {
  (void)state;
  /* many empty and bad offers, then a good one: must scan to the end */
  static char buf[64 * 1024];
  size_t n = 0;
  const char bad[] = "permessage-deflate; server_max_window_bits=9, ,";
  while (n + sizeof bad + 32 < sizeof buf) {
    memcpy(buf + n, bad, sizeof bad - 1);
    n += sizeof bad - 1;
  }
  memcpy(buf + n, "permessage-deflate", 18);
  n += 18;
  assert_true(ws_pmd_negotiate(slice_make(buf, n)));
  assert_false(ws_pmd_negotiate(slice_make(buf, n - 18)));
  memset(buf, '"', sizeof buf);
  assert_false(ws_pmd_negotiate(slice_make(buf, sizeof buf)));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accept_rfc_example),
      cmocka_unit_test(test_accept_trims_ows),
      cmocka_unit_test(test_check_good),
      cmocka_unit_test(test_check_method),
      cmocka_unit_test(test_check_http_version),
      cmocka_unit_test(test_check_upgrade_connection),
      cmocka_unit_test(test_check_version),
      cmocka_unit_test(test_check_key_precedence),
      cmocka_unit_test(test_check_key_shapes),
      cmocka_unit_test(test_token_list),
      cmocka_unit_test(test_id_valid),
      cmocka_unit_test(test_percent_decode),
      cmocka_unit_test(test_percent_decode_cap_alias),
      cmocka_unit_test(test_query_param),
      cmocka_unit_test(test_query_param_absent),
      cmocka_unit_test(test_query_param_malformed),
      cmocka_unit_test(test_origin_same_host),
      cmocka_unit_test(test_origin_malformed),
      cmocka_unit_test(test_origin_list),
      cmocka_unit_test(test_origin_star),
      cmocka_unit_test(test_pmd_accepts),
      cmocka_unit_test(test_pmd_declines),
      cmocka_unit_test(test_pmd_second_offer),
      cmocka_unit_test(test_pmd_long_input),
  };
  return cmocka_run_group_tests_name("handshake", tests, NULL, NULL);
}
