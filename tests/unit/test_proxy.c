/* Unit tests for protocol/proxy.c: PROXY v1 and v2 prefaces whole and one
 * byte at a time, where the client's stream starts, and every malformed
 * shape refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <sys/socket.h>

#include "protocol/proxy.h"

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

/* Whole: result and bytes used. */
static int feed_whole(proxy_parser_t *p, const uint8_t *d, size_t n, size_t *used) {
  proxy_init(p);
  return proxy_feed(p, d, n, used);
}

/* One byte at a time: the same result, and the preface ends at the same
 * byte. */
static int feed_bytewise(proxy_parser_t *p, const uint8_t *d, size_t n, size_t *end) {
  size_t i, used;
  int r = PROXY_MORE;
  proxy_init(p);
  for (i = 0; i < n && r == PROXY_MORE; i++) {
    r = proxy_feed(p, d + i, 1, &used);
    if (r == PROXY_DONE) *end = i + used;
  }
  return r;
}

static void check_both(const uint8_t *d, size_t n, int want, size_t want_used, proxy_info_t *out) {
  proxy_parser_t a, b;
  size_t used = 0, end = 0;
  assert_int_equal(feed_whole(&a, d, n, &used), want);
  assert_int_equal(feed_bytewise(&b, d, n, &end), want);
  if (want == PROXY_DONE) {
    assert_int_equal(used, want_used);
    assert_int_equal(end, want_used);
    assert_memory_equal(&a.info, &b.info, sizeof a.info);
    if (out) *out = a.info;
  }
}

static void test_v1_tcp4(void **state) {
  static const char in[] = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\nGET / HTTP/1.1\r\n";
  proxy_info_t info;
  uint8_t want[4];
  (void)state;
  check_both(S(in), PROXY_DONE, sizeof "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n" - 1,
             &info);
  assert_int_equal(info.version, 1);
  assert_int_equal(info.command, PROXY_CMD_PROXY);
  assert_int_equal(info.family, AF_INET);
  inet_pton(AF_INET, "192.0.2.7", want);
  assert_memory_equal(info.src, want, 4);
  assert_int_equal(info.src_port, 56324);
  assert_int_equal(info.dst_port, 443);
}

static void test_v1_tcp6(void **state) {
  static const char in[] = "PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n";
  proxy_info_t info;
  uint8_t want[16];
  (void)state;
  check_both(S(in), PROXY_DONE, sizeof in - 1, &info);
  assert_int_equal(info.family, AF_INET6);
  inet_pton(AF_INET6, "2001:db8::1", want);
  assert_memory_equal(info.src, want, 16);
  assert_int_equal(info.src_port, 1);
  assert_int_equal(info.dst_port, 65535);
}

static void test_v1_unknown_keeps_peer(void **state) {
  proxy_info_t info;
  (void)state;
  check_both(S("PROXY UNKNOWN\r\n"), PROXY_DONE, 15, &info);
  assert_int_equal(info.command, PROXY_CMD_UNKNOWN);
  assert_int_equal(info.family, 0);
  check_both(S("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nrest"), PROXY_DONE, 35, NULL);
}

static void test_v1_malformed(void **state) {
  static const char *bad[] = {
      "GET / HTTP/1.1\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",       /* bare LF */
      "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",    /* leading zero */
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", /* port too big */
      "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",       /* missing field */
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",   /* extra field */
      "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",    /* double space */
      "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",   /* bad address */
      "PROXY TCP4 ::1 ::1 1 2\r\n",             /* family mismatch */
      "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
      "PROXY\r\n",
      "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
  };
  size_t i;
  (void)state;
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
    check_both((const uint8_t *)bad[i], strlen(bad[i]), PROXY_ERROR, 0, NULL);
}

static void test_v1_too_long(void **state) {
  char line[200];
  proxy_parser_t p;
  size_t used;
  (void)state;
  memset(line, 'x', sizeof line);
  memcpy(line, "PROXY UNKNOWN ", 14);
  assert_int_equal(feed_whole(&p, (const uint8_t *)line, sizeof line, &used), PROXY_ERROR);
  /* exactly 107 bytes with the CRLF is still fine */
  memcpy(line + 105, "\r\n", 2);
  assert_int_equal(feed_whole(&p, (const uint8_t *)line, 107, &used), PROXY_DONE);
  assert_int_equal(used, 107);
}

/* A v2 header: signature, version/command, family/protocol, length. */
static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, uint16_t len, const uint8_t *body,
                 size_t body_len) {
  static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                  0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
  memcpy(out, sig, 12);
  out[12] = ver_cmd;
  out[13] = fam;
  out[14] = (uint8_t)(len >> 8);
  out[15] = (uint8_t)len;
  memcpy(out + 16, body, body_len);
  return 16 + body_len;
}

static void test_v2_inet_with_tlvs(void **state) {
  uint8_t body[12 + 7 + 5] = {192, 0, 2, 7, 198, 51, 100, 1, 0xdc, 0x04, 0x01, 0xbb,
                              /* a TLV: ALPN "h2" and some noise */
                              0x01, 0x00, 0x04, 'h', '2', 'x', 'y'};
  uint8_t msg[128];
  proxy_info_t info;
  size_t n;
  (void)state;
  memcpy(body + 19, "GET /", 5); /* the client's stream after the header */
  n = v2(msg, 0x21, 0x11, 19, body, sizeof body);
  check_both(msg, n, PROXY_DONE, 16 + 19, &info);
  assert_int_equal(info.version, 2);
  assert_int_equal(info.command, PROXY_CMD_PROXY);
  assert_int_equal(info.family, AF_INET);
  assert_int_equal(info.src_port, 0xdc04);
  assert_int_equal(info.dst_port, 443);
  assert_int_equal(info.src[0], 192);
  assert_int_equal(info.src[3], 7);
}

static void test_v2_inet6_and_local(void **state) {
  uint8_t body[36] = {0x20, 0x01, 0x0d, 0xb8};
  uint8_t msg[128];
  proxy_info_t info;
  size_t n;
  (void)state;
  body[15] = 1;
  body[32] = 0x12;
  body[33] = 0x34;
  n = v2(msg, 0x21, 0x21, 36, body, 36);
  check_both(msg, n, PROXY_DONE, n, &info);
  assert_int_equal(info.family, AF_INET6);
  assert_int_equal(info.src[0], 0x20);
  assert_int_equal(info.src[15], 1);
  assert_int_equal(info.src_port, 0x1234);
  n = v2(msg, 0x20, 0x00, 0, NULL, 0); /* LOCAL: a health check of the proxy */
  check_both(msg, n, PROXY_DONE, 16, &info);
  assert_int_equal(info.command, PROXY_CMD_LOCAL);
  n = v2(msg, 0x21, 0x00, 0, NULL, 0); /* PROXY with UNSPEC: keep the peer */
  check_both(msg, n, PROXY_DONE, 16, &info);
  assert_int_equal(info.command, PROXY_CMD_UNKNOWN);
}

static void test_v2_malformed(void **state) {
  uint8_t msg[128], body[36] = {0};
  size_t n;
  (void)state;
  n = v2(msg, 0x11, 0x11, 12, body, 12); /* version 1 in a v2 header */
  check_both(msg, n, PROXY_ERROR, 0, NULL);
  n = v2(msg, 0x22, 0x11, 12, body, 12); /* command 2 */
  check_both(msg, n, PROXY_ERROR, 0, NULL);
  n = v2(msg, 0x21, 0x11, 8, body, 8); /* block shorter than IPv4 needs */
  check_both(msg, n, PROXY_ERROR, 0, NULL);
  n = v2(msg, 0x21, 0x21, 12, body, 12); /* shorter than IPv6 needs */
  check_both(msg, n, PROXY_ERROR, 0, NULL);
  n = v2(msg, 0x21, 0x12, 12, body, 12); /* datagram */
  check_both(msg, n, PROXY_ERROR, 0, NULL);
  n = v2(msg, 0x21, 0x41, 12, body, 12); /* family 4 */
  check_both(msg, n, PROXY_ERROR, 0, NULL);
  n = v2(msg, 0x21, 0x11, 65535, body, 12); /* 64 KiB of "TLVs": refused at once */
  check_both(msg, 16, PROXY_ERROR, 0, NULL);
  msg[5] = 0x0E; /* a broken signature */
  check_both(msg, 16, PROXY_ERROR, 0, NULL);
}

static void test_v2_incomplete_is_more(void **state) {
  uint8_t msg[128], body[12] = {1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2};
  proxy_parser_t p;
  size_t n = v2(msg, 0x21, 0x11, 12, body, 12), used, k;
  (void)state;
  for (k = 0; k < n; k++) {
    assert_int_equal(feed_whole(&p, msg, k, &used), PROXY_MORE);
    assert_int_equal(used, k);
  }
}

static void test_sticky_result(void **state) {
  proxy_parser_t p;
  size_t used;
  (void)state;
  assert_int_equal(feed_whole(&p, S("GARBAGE"), &used), PROXY_ERROR);
  assert_int_equal(proxy_feed(&p, S("PROXY UNKNOWN\r\n"), &used), PROXY_ERROR);
  assert_int_equal(used, 0);
  assert_non_null(p.why);
  assert_int_equal(feed_whole(&p, S("PROXY UNKNOWN\r\n"), &used), PROXY_DONE);
  assert_int_equal(proxy_feed(&p, S("more"), &used), PROXY_DONE);
  assert_int_equal(used, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_v1_tcp4),           cmocka_unit_test(test_v1_tcp6),
      cmocka_unit_test(test_v1_unknown_keeps_peer), cmocka_unit_test(test_v1_malformed),
      cmocka_unit_test(test_v1_too_long),       cmocka_unit_test(test_v2_inet_with_tlvs),
      cmocka_unit_test(test_v2_inet6_and_local), cmocka_unit_test(test_v2_malformed),
      cmocka_unit_test(test_v2_incomplete_is_more), cmocka_unit_test(test_sticky_result),
  };
  return cmocka_run_group_tests_name("proxy", tests, NULL, NULL);
}
