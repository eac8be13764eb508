/* Unit tests for config/redis_url.c: config_parse_redis_url, the one parser
 * of [cluster] redis_url (its error texts are tested in test_config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"

static void check_ok(const char *url, const char *host, int port, int db) {
  char h[CONFIG_REDIS_HOST_MAX];
  int p = -1, d = -1;
  int rc = config_parse_redis_url(url, h, sizeof h, &p, &d);
  if (rc != CONFIG_REDIS_URL_OK) fail_msg("%s: rc %d", url, rc);
  assert_string_equal(h, host);
  assert_int_equal(p, port);
  assert_int_equal(d, db);
}

static void check_err(const char *url, int want) {
  char h[CONFIG_REDIS_HOST_MAX];
  int p, d;
  int rc = config_parse_redis_url(url, h, sizeof h, &p, &d);
  if (rc != want) fail_msg("%s: rc %d, expected %d", url, rc, want);
}

static void test_valid(void **state) {
  (void)state;
  check_ok("redis://127.0.0.1:6379", "127.0.0.1", 6379, 0);
  check_ok("redis://127.0.0.1:6379/2", "127.0.0.1", 6379, 2);
  check_ok("redis://redis.internal:6380", "redis.internal", 6380, 0);
  check_ok("redis://Redis-1.example.COM:1/0", "Redis-1.example.COM", 1, 0);
  check_ok("redis://localhost:65535/2147483647", "localhost", 65535, 2147483647);
  check_ok("redis://[::1]:6379/0", "::1", 6379, 0);
  check_ok("redis://[2001:db8::7]:7000", "2001:db8::7", 7000, 0);
  check_ok("redis://[::ffff:10.0.0.1]:6379/15", "::ffff:10.0.0.1", 6379, 15);
  check_ok("redis://h:06379/007", "h", 6379, 7); /* leading zeros are digits */
}

static void test_host_length(void **state) {
  char url[400], host[300], h[CONFIG_REDIS_HOST_MAX];
  int p, d;
  (void)state;
  memset(host, 'a', 253);
  host[253] = '\0';
  snprintf(url, sizeof url, "redis://%s:6379", host);
  check_ok(url, host, 6379, 0);
  /* a caller's buffer too small for the host */
  assert_int_equal(config_parse_redis_url(url, h, 253, &p, &d), CONFIG_REDIS_URL_FORMAT);
  assert_int_equal(config_parse_redis_url(url, h, 254, &p, &d), CONFIG_REDIS_URL_OK);
  host[253] = 'a';
  host[254] = '\0';
  snprintf(url, sizeof url, "redis://%s:6379", host);
  check_err(url, CONFIG_REDIS_URL_FORMAT);
}

static void test_scheme_and_credentials(void **state) {
  (void)state;
  check_err("rediss://h:6379", CONFIG_REDIS_URL_TLS);
  check_err("rediss://user:pw@h:6379", CONFIG_REDIS_URL_TLS);
  check_err("redis://user:pw@h:6379", CONFIG_REDIS_URL_CREDENTIALS);
  check_err("redis://:pw@h:6379", CONFIG_REDIS_URL_CREDENTIALS);
  check_err("http://127.0.0.1:6379", CONFIG_REDIS_URL_FORMAT);
  check_err("REDIS://h:6379", CONFIG_REDIS_URL_FORMAT);
  check_err("redis:/h:6379", CONFIG_REDIS_URL_FORMAT);
  check_err("", CONFIG_REDIS_URL_FORMAT);
}

static void test_bad_host(void **state) {
  (void)state;
  check_err("redis://:6379", CONFIG_REDIS_URL_FORMAT);
  check_err("redis://.h:6379", CONFIG_REDIS_URL_FORMAT);
  check_err("redis://h.:6379", CONFIG_REDIS_URL_FORMAT);
  check_err("redis://a..b:6379", CONFIG_REDIS_URL_FORMAT);
  check_err("redis://h_x:6379", CONFIG_REDIS_URL_FORMAT);
  check_err("redis://h x:6379", CONFIG_REDIS_URL_FORMAT);
  check_err("redis://h?x:6379", CONFIG_REDIS_URL_FORMAT);
  check_err("redis://h#x:6379", CONFIG_REDIS_URL_FORMAT);
  check_err("redis://[::1:6379", CONFIG_REDIS_URL_FORMAT);
  check_err("redis://[]:6379", CONFIG_REDIS_URL_FORMAT);
  check_err("redis://[zz::1]:6379", CONFIG_REDIS_URL_FORMAT);
  check_err("redis://[127.0.0.1]:6379", CONFIG_REDIS_URL_FORMAT);
  check_err("redis://::1:6379", CONFIG_REDIS_URL_FORMAT);
  check_err("redis://[::1]6379", CONFIG_REDIS_URL_FORMAT);
}

static void test_bad_port(void **state) {
  (void)state;
  check_err("redis://127.0.0.1", CONFIG_REDIS_URL_FORMAT);
  check_err("redis://127.0.0.1:", CONFIG_REDIS_URL_FORMAT);
  check_err("redis://127.0.0.1:0", CONFIG_REDIS_URL_FORMAT);
  check_err("redis://127.0.0.1:65536", CONFIG_REDIS_URL_FORMAT);
  check_err("redis://127.0.0.1:123456", CONFIG_REDIS_URL_FORMAT);
  check_err("redis://127.0.0.1:-1", CONFIG_REDIS_URL_FORMAT);
  check_err("redis://127.0.0.1:+80", CONFIG_REDIS_URL_FORMAT);
  check_err("redis://127.0.0.1:80x", CONFIG_REDIS_URL_FORMAT);
  check_err("redis://127.0.0.1:80?db=1", CONFIG_REDIS_URL_FORMAT);
  check_err("redis://127.0.0.1:80 ", CONFIG_REDIS_URL_FORMAT);
  check_err("redis://127.0.0.1:/1", CONFIG_REDIS_URL_FORMAT);
}

static void test_bad_db(void **state) {
  (void)state;
  check_err("redis://127.0.0.1:6379/", CONFIG_REDIS_URL_DB);
  check_err("redis://127.0.0.1:6379/x", CONFIG_REDIS_URL_DB);
  check_err("redis://127.0.0.1:6379/-1", CONFIG_REDIS_URL_DB);
  check_err("redis://127.0.0.1:6379/1/2", CONFIG_REDIS_URL_DB);
  check_err("redis://127.0.0.1:6379/2147483648", CONFIG_REDIS_URL_DB);
  check_err("redis://127.0.0.1:6379/99999999999999999999999", CONFIG_REDIS_URL_DB);
  check_err("redis://127.0.0.1:6379/1 ", CONFIG_REDIS_URL_DB);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid),
      cmocka_unit_test(test_host_length),
      cmocka_unit_test(test_scheme_and_credentials),
      cmocka_unit_test(test_bad_host),
      cmocka_unit_test(test_bad_port),
      cmocka_unit_test(test_bad_db),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
