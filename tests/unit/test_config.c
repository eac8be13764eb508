/* config/config.c: defaults, the shipped fastws.conf, every key, and the
 * exact error text ("FILE:LINE: [section] key: what is wrong") for each kind
 * of bad input. Config files are written to mkstemp files; the shipped
 * fastws.conf is read relative to the repository root, where tests run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

static char conf_path[64];

/* Writes len bytes of text to a new temporary file; its path in out. */
static void write_file(char out[64], const char *text, size_t len) {
  int fd;
  strcpy(out, "/tmp/fastws-test-XXXXXX");
  fd = mkstemp(out);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, len), (ssize_t)len);
  close(fd);
}

static int load_bytes(const char *text, size_t len, config_t *c, char *err, size_t errlen) {
  int r;
  write_file(conf_path, text, len);
  r = config_load(conf_path, c, err, errlen);
  unlink(conf_path);
  return r;
}

static int load(const char *text, config_t *c, char *err, size_t errlen) {
  return load_bytes(text, strlen(text), c, err, errlen);
}

static void assert_zeroed(const config_t *c) {
  static const config_t zero;
  assert_memory_equal(c, &zero, sizeof zero);
}

/* Loads text, which must fail with "<its path>:" want. */
static void check_error(const char *text, const char *want) {
  config_t c;
  char err[1024], expect[1200];
  if (load(text, &c, err, sizeof err) == 0) {
    config_free(&c);
    fail_msg("loaded, expected error '%s' for:\n%s", want, text);
  }
  snprintf(expect, sizeof expect, "%s:%s", conf_path, want);
  assert_string_equal(err, expect);
  assert_zeroed(&c);
}

/* Loads text, which must succeed. */
static void check_ok(const char *text, config_t *c) {
  char err[1024] = "";
  if (load(text, c, err, sizeof err) != 0) fail_msg("error '%s' for:\n%s", err, text);
}

static void assert_defaults(const config_t *c) {
  assert_int_equal(c->n_listen, 1);
  assert_string_equal(c->listen[0].host, "127.0.0.1");
  assert_int_equal(c->listen[0].port, 8000);
  assert_string_equal(c->static_dir, "static");
  assert_int_equal(c->log_level, LOG_INFO);
  assert_string_equal(c->echo_path, "");
  assert_true(c->shutdown_timeout == 5);
  assert_int_equal(c->reuse_port, 0);
  assert_int_equal(c->max_message_size, 65536);
  assert_int_equal(c->max_send_buffer, 1048576);
  assert_true(c->heartbeat_interval == 30);
  assert_true(c->idle_timeout == 60);
  assert_true(c->handshake_timeout == 10);
  assert_int_equal(c->max_header_size, 8192);
  assert_int_equal(c->permessage_deflate, 1);
  assert_int_equal(c->deflate_min_size, 128);
  assert_int_equal(c->on_duplicate_id, DUP_REPLACE);
  assert_true(c->rate_limit == 0);
  assert_true(c->rate_burst == 20);
  assert_int_equal(c->max_connections, 100000);
  assert_int_equal(c->max_connections_per_ip, 0);
  assert_int_equal(c->n_origins, 0);
  assert_null(c->origins[0]);
  assert_string_equal(c->auth_secret, "");
  assert_string_equal(c->tls_cert, "");
  assert_string_equal(c->tls_key, "");
  assert_string_equal(c->redis_url, "");
  assert_string_equal(c->node_id, "");
  assert_string_equal(c->channel_prefix, "fastws");
}

static void test_defaults(void **state) {
  config_t c;
  (void)state;
  assert_int_equal(config_defaults(&c), 0);
  assert_defaults(&c);
  config_free(&c);
  assert_zeroed(&c);
  config_free(&c); /* twice is harmless */
  assert_zeroed(&c);
}

static void test_shipped_conf(void **state) {
  config_t c;
  char err[1024] = "";
  (void)state;
  if (config_load("fastws.conf", &c, err, sizeof err) != 0) fail_msg("fastws.conf: %s", err);
  assert_defaults(&c);
  config_free(&c);
}

static void test_empty_and_comments(void **state) {
  config_t c;
  (void)state;
  check_ok("", &c);
  assert_defaults(&c);
  config_free(&c);
  check_ok("# comment\n; comment\n\n[server]\n  # indented comment\n"
           "[websocket] ; comment after a section\n[limits]\n",
           &c);
  assert_defaults(&c);
  config_free(&c);
}

static void test_every_key(void **state) {
  char cert[64], key[64], text[4096];
  config_t c;
  (void)state;
  write_file(cert, "CERT\n", 5);
  write_file(key, "KEY\n", 4);
  snprintf(text, sizeof text,
           "[server]\n"
           "listen = 0.0.0.0:9000, [::1]:9001\n"
           "static_dir = /srv/www\n"
           "log_level = debug\n"
           "echo_path = /echo\n"
           "shutdown_timeout = 2.5\n"
           "reuse_port = yes\n"
           "[websocket]\n"
           "max_message_size = 1\n"
           "max_send_buffer = 2048\n"
           "heartbeat_interval = 0\n"
           "idle_timeout = 0.25\n"
           "handshake_timeout = 0.5\n"
           "max_header_size = 1024\n"
           "permessage_deflate = off\n"
           "deflate_min_size = 0\n"
           "on_duplicate_id = reject\n"
           "rate_limit = 0.5\n"
           "rate_burst = 1\n"
           "[limits]\n"
           "max_connections = 18446744073709551615\n"
           "max_connections_per_ip = 10\n"
           "[security]\n"
           "allowed_origins = https://a.example, http://localhost:3000\n"
           "auth_secret = s3cret;x#y\n"
           "auth_secret_file =\n"
           "[tls]\n"
           "cert = %s\n"
           "key = %s\n"
           "[cluster]\n"
           "redis_url = redis://127.0.0.1:6379/2\n"
           "node_id = node-1.a:b_c\n"
           "channel_prefix = chat\n",
           cert, key);
  check_ok(text, &c);
  assert_int_equal(c.n_listen, 2);
  assert_string_equal(c.listen[0].host, "0.0.0.0");
  assert_int_equal(c.listen[0].port, 9000);
  assert_string_equal(c.listen[1].host, "::1");
  assert_int_equal(c.listen[1].port, 9001);
  assert_string_equal(c.static_dir, "/srv/www");
  assert_int_equal(c.log_level, LOG_DEBUG);
  assert_string_equal(c.echo_path, "/echo");
  assert_true(c.shutdown_timeout == 2.5);
  assert_int_equal(c.reuse_port, 1);
  assert_int_equal(c.max_message_size, 1);
  assert_int_equal(c.max_send_buffer, 2048);
  assert_true(c.heartbeat_interval == 0);
  assert_true(c.idle_timeout == 0.25);
  assert_true(c.handshake_timeout == 0.5);
  assert_int_equal(c.max_header_size, 1024);
  assert_int_equal(c.permessage_deflate, 0);
  assert_int_equal(c.deflate_min_size, 0);
  assert_int_equal(c.on_duplicate_id, DUP_REJECT);
  assert_true(c.rate_limit == 0.5);
  assert_true(c.rate_burst == 1);
  assert_true(c.max_connections == UINT64_MAX);
  assert_int_equal(c.max_connections_per_ip, 10);
  assert_int_equal(c.n_origins, 2);
  assert_string_equal(c.origins[0], "https://a.example");
  assert_string_equal(c.origins[1], "http://localhost:3000");
  /* no whitespace before ';': not a comment; '#' is never inline */
  assert_string_equal(c.auth_secret, "s3cret;x#y");
  assert_string_equal(c.tls_cert, cert);
  assert_string_equal(c.tls_key, key);
  assert_string_equal(c.redis_url, "redis://127.0.0.1:6379/2");
  assert_string_equal(c.node_id, "node-1.a:b_c");
  assert_string_equal(c.channel_prefix, "chat");
  config_free(&c);
  assert_zeroed(&c);
  unlink(cert);
  unlink(key);
}

static void test_value_spellings(void **state) {
  static const char *const on[] = {"on", "yes", "true", "1", "ON", "True"};
  static const char *const off[] = {"off", "no", "false", "0", "OFF", "No"};
  static const char *const levels[] = {"error", "warn", "info", "debug"};
  char text[256];
  config_t c;
  (void)state;
  for (size_t i = 0; i < sizeof on / sizeof *on; i++) {
    snprintf(text, sizeof text, "[server]\nreuse_port = %s\n[websocket]\npermessage_deflate = %s\n",
             on[i], off[i]);
    check_ok(text, &c);
    assert_int_equal(c.reuse_port, 1);
    assert_int_equal(c.permessage_deflate, 0);
    config_free(&c);
  }
  for (int l = 0; l < 4; l++) {
    snprintf(text, sizeof text, "[server]\nlog_level = %s ; comment\n", levels[l]);
    check_ok(text, &c);
    assert_int_equal(c.log_level, l);
    assert_string_equal(config_log_level_name(l), levels[l]);
    config_free(&c);
  }
  assert_string_equal(config_log_level_name(99), "unknown");
  check_ok("[websocket]\non_duplicate_id = replace\n", &c);
  assert_int_equal(c.on_duplicate_id, DUP_REPLACE);
  config_free(&c);
  /* decimal forms, exact to the double */
  check_ok("[websocket]\nidle_timeout = .5\nheartbeat_interval = 5.\n"
           "handshake_timeout = 0.1\nrate_limit = 007\n"
           "rate_burst = 1.000000000000000000000000001\n",
           &c);
  assert_true(c.rate_burst == 1);
  assert_true(c.idle_timeout == 0.5);
  assert_true(c.heartbeat_interval == 5);
  assert_true(c.handshake_timeout == 0.1);
  assert_true(c.rate_limit == 7);
  config_free(&c);
  /* upper bounds that are still fine */
  check_ok("[websocket]\nmax_header_size = 1048576\nidle_timeout = 31536000\n", &c);
  assert_int_equal(c.max_header_size, 1048576);
  config_free(&c);
  /* rate_burst below 1 is fine while rate_limit is off */
  check_ok("[websocket]\nrate_burst = 0\n", &c);
  config_free(&c);
}

static void test_bad_numbers(void **state) {
  static const struct {
    const char *text, *err;
  } cases[] = {
      {"[websocket]\nmax_message_size =\n",
       "2: [websocket] max_message_size: empty value (expected a whole number of bytes)"},
      {"[limits]\nmax_connections =   ; nothing\n",
       "2: [limits] max_connections: empty value (expected a whole number)"},
      {"[websocket]\nmax_send_buffer = -1\n",
       "2: [websocket] max_send_buffer: '-1': must not be negative"},
      {"[limits]\nmax_connections = 10x\n",
       "2: [limits] max_connections: '10x': not a whole number"},
      {"[websocket]\nmax_message_size = 64k\n",
       "2: [websocket] max_message_size: '64k': sizes are plain numbers of bytes, without a unit"},
      {"[websocket]\ndeflate_min_size = 1.5\n",
       "2: [websocket] deflate_min_size: '1.5': not a whole number"},
      {"[websocket]\ndeflate_min_size = 0x10\n",
       "2: [websocket] deflate_min_size: '0x10': not a whole number"},
      {"[websocket]\ndeflate_min_size = +5\n",
       "2: [websocket] deflate_min_size: '+5': not a whole number"},
      {"[limits]\nmax_connections_per_ip = 1 0\n",
       "2: [limits] max_connections_per_ip: '1 0': not a whole number"},
      {"[limits]\nmax_connections = 18446744073709551616\n",
       "2: [limits] max_connections: '18446744073709551616': too large"},
      {"[limits]\nmax_connections = 99999999999999999999x\n",
       "2: [limits] max_connections: '99999999999999999999x': not a whole number"},
      {"[websocket]\nmax_message_size = 0\n",
       "2: [websocket] max_message_size: '0': must be at least 1"},
      {"[websocket]\nmax_send_buffer = 0\n",
       "2: [websocket] max_send_buffer: '0': must be at least 1"},
      {"[limits]\nmax_connections = 0\n", "2: [limits] max_connections: '0': must be at least 1"},
      {"[websocket]\nmax_header_size = 1023\n",
       "2: [websocket] max_header_size: '1023': must be at least 1024"},
      {"[websocket]\nmax_header_size = 1048577\n",
       "2: [websocket] max_header_size: '1048577': must be at most 1048576"},
      {"[server]\nshutdown_timeout =\n",
       "2: [server] shutdown_timeout: empty value (expected seconds, e.g. 5 or 0.5)"},
      {"[websocket]\nrate_limit =\n",
       "2: [websocket] rate_limit: empty value (expected a number, e.g. 5 or 0.5)"},
      {"[websocket]\nidle_timeout = -0.5\n",
       "2: [websocket] idle_timeout: '-0.5': must not be negative"},
      {"[websocket]\nheartbeat_interval = 5s\n",
       "2: [websocket] heartbeat_interval: '5s': durations are plain seconds, without a unit (0.5 "
       "= half a second)"},
      {"[websocket]\nheartbeat_interval = 1e3\n",
       "2: [websocket] heartbeat_interval: '1e3': not a number"},
      {"[websocket]\nidle_timeout = 1.2.3\n", "2: [websocket] idle_timeout: '1.2.3': not a number"},
      {"[websocket]\nidle_timeout = .\n", "2: [websocket] idle_timeout: '.': not a number"},
      {"[websocket]\nidle_timeout = nan\n", "2: [websocket] idle_timeout: 'nan': not a number"},
      {"[websocket]\nidle_timeout = 99999999999999999999\n",
       "2: [websocket] idle_timeout: '99999999999999999999': too large"},
      {"[websocket]\nidle_timeout = 31536000.5\n",
       "2: [websocket] idle_timeout: '31536000.5': must be at most 31536000"},
      {"[websocket]\nhandshake_timeout = 0\n",
       "2: [websocket] handshake_timeout: '0': must be greater than 0"},
      {"[websocket]\nhandshake_timeout = 0.0\n",
       "2: [websocket] handshake_timeout: '0.0': must be greater than 0"},
      {"[websocket]\nrate_burst = 0.5\nrate_limit = 10\n",
       "2: [websocket] rate_burst: must be at least 1 when rate_limit is set"},
      {"[server]\nreuse_port = maybe\n",
       "2: [server] reuse_port: 'maybe': expected on/off, yes/no, true/false or 1/0"},
      {"[websocket]\npermessage_deflate =\n",
       "2: [websocket] permessage_deflate: '': expected on/off, yes/no, true/false or 1/0"},
      {"[server]\nlog_level = verbose\n",
       "2: [server] log_level: 'verbose': expected error, warn, info or debug"},
      {"[websocket]\non_duplicate_id = kick\n",
       "2: [websocket] on_duplicate_id: 'kick': expected replace or reject"},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    check_error(cases[i].text, cases[i].err);
}

static void test_structure_errors(void **state) {
  char text[512];
  (void)state;
  check_error("[server]\nlisten = 127.0.0.1:1\n[bogus]\nx = 1\n",
              "3: [bogus]: unknown section (expected server, websocket, "
              "limits, security, tls or cluster)");
  /* an unknown section without keys is still an error */
  check_error("[Server]\n", "1: [Server]: unknown section (expected server, "
                            "websocket, limits, security, tls or cluster)");
  check_error("[server]\nlisten = 127.0.0.1:1\nbogus = 1\n", "3: [server] bogus: unknown key");
  check_error("[server]\nLog_Level = info\n",
              "2: [server] Log_Level: unknown key (did you mean log_level?)");
  check_error("[server]\nmax_connections = 5\n",
              "2: [server] max_connections: unknown key (max_connections "
              "belongs in [limits])");
  check_error("log_level = info\n", "1: log_level: key outside any section (put it under "
                                    "[server], ...)");
  check_error("[server]\nlog_level = info\nlog_level = debug\n",
              "3: [server] log_level: set twice (first on line 2)");
  check_error("[server]\nlog_level = info\n[websocket]\n[server]\n"
              "log_level = debug\n",
              "5: [server] log_level: set twice (first on line 2)");
  check_error("[server]\nlog_level info\n",
              "2: syntax error (expected key = value, [section] or a ; "
              "comment)");
  /* a syntax error before a bad value: the first one is reported */
  check_error("[server]\njunk\nlog_level = loud\n",
              "2: syntax error (expected key = value, [section] or a ; "
              "comment)");
  check_error("[server]\nlog_level = loud\njunk\n",
              "2: [server] log_level: 'loud': expected error, warn, info or "
              "debug");
  check_error("[server\n", "1: syntax error: '[' without ']'");
  check_error("[server] x\n", "1: syntax error: text after ']'");
  check_error("[server]\nlog_level = info\n  debug\n",
              "3: [server] log_level: indented line continues the value; "
              "only listen and allowed_origins take continuation lines");
  memset(text, 0, sizeof text);
  strcpy(text, "[server]\nstatic_dir = ");
  memset(text + strlen(text), 'a', 200);
  strcat(text, "\n");
  check_error(text, "2: line too long (at most 198 characters)");
  check_error("[server]\nstatic_dir =\n", "2: [server] static_dir: empty value");
  check_error("[cluster]\nchannel_prefix =\n", "2: [cluster] channel_prefix: empty value");
  /* a NUL byte inside a line */
  {
    config_t c;
    char err[512], expect[600];
    static const char nul[] = "[server]\nlog_level = in\0fo\n";
    assert_int_equal(load_bytes(nul, sizeof nul - 1, &c, err, sizeof err), -1);
    snprintf(expect, sizeof expect, "%s:2: NUL byte in line", conf_path);
    assert_string_equal(err, expect);
    assert_zeroed(&c);
  }
}

static void test_syntax_leniency(void **state) {
  config_t c;
  (void)state;
  /* BOM, CRLF, spaces around '=', inline comment, indented key after a
   * section header (not a continuation) */
  check_ok("\xEF\xBB\xBF[server]\r\n  log_level=debug   ; c\r\n"
           "static_dir   =   www  \r\n",
           &c);
  assert_int_equal(c.log_level, LOG_DEBUG);
  assert_string_equal(c.static_dir, "www");
  config_free(&c);
  /* '#' after a value is part of it */
  check_error("[server]\nlog_level = info # comment\n",
              "2: [server] log_level: 'info # comment': expected error, warn, "
              "info or debug");
  /* a line of exactly 198 characters is fine */
  {
    char text[512] = "";
    strcpy(text, "[server]\nstatic_dir = ");
    memset(text + strlen(text), 'a', 198 - strlen("static_dir = "));
    strcat(text, "\n");
    check_ok(text, &c);
    assert_int_equal(strlen(c.static_dir), 198 - strlen("static_dir = "));
    config_free(&c);
  }
}

static void test_listen(void **state) {
  config_t c;
  char text[2048];
  (void)state;
  check_ok("[server]\nlisten = 10.1.2.3:80\n", &c);
  assert_int_equal(c.n_listen, 1);
  assert_string_equal(c.listen[0].host, "10.1.2.3");
  assert_int_equal(c.listen[0].port, 80);
  config_free(&c);

  check_ok("[server]\nlisten = [::1]:8000\n", &c);
  assert_string_equal(c.listen[0].host, "::1");
  assert_int_equal(c.listen[0].port, 8000);
  config_free(&c);

  /* several, wildcards, normalisation, port 0 twice, continuation lines */
  check_ok("[server]\nlisten = *:1, :2,localhost:3 , [0:0::1]:4, [::]:5, "
           "LocalHost:6\n"
           "  127.0.0.1:0, 127.0.0.1:0 ; comment\n"
           "\n"
           "  ; comment\n"
           "\t[2001:DB8::1]:65535,\n"
           "log_level = warn\n",
           &c);
  assert_int_equal(c.n_listen, 9);
  assert_string_equal(c.listen[0].host, "0.0.0.0");
  assert_int_equal(c.listen[0].port, 1);
  assert_string_equal(c.listen[1].host, "0.0.0.0");
  assert_int_equal(c.listen[1].port, 2);
  assert_string_equal(c.listen[2].host, "localhost");
  assert_string_equal(c.listen[3].host, "::1");
  assert_string_equal(c.listen[4].host, "::");
  assert_string_equal(c.listen[5].host, "localhost");
  assert_int_equal(c.listen[5].port, 6);
  assert_string_equal(c.listen[6].host, "127.0.0.1");
  assert_int_equal(c.listen[6].port, 0);
  assert_int_equal(c.listen[7].port, 0);
  assert_string_equal(c.listen[8].host, "2001:db8::1");
  assert_int_equal(c.listen[8].port, 65535);
  assert_int_equal(c.log_level, LOG_WARN);
  config_free(&c);

  /* an empty first line, the addresses on continuation lines */
  check_ok("[server]\nlisten =\n    127.0.0.1:1\n    127.0.0.1:2\n", &c);
  assert_int_equal(c.n_listen, 2);
  config_free(&c);

  check_error("[server]\nlisten = 127.0.0.1:70000\n",
              "2: [server] listen: '127.0.0.1:70000': port must be a number "
              "from 0 to 65535");
  check_error("[server]\nlisten = 127.0.0.1:-1\n",
              "2: [server] listen: '127.0.0.1:-1': port must be a number "
              "from 0 to 65535");
  check_error("[server]\nlisten = 127.0.0.1:80x\n",
              "2: [server] listen: '127.0.0.1:80x': port must be a number "
              "from 0 to 65535");
  check_error("[server]\nlisten = 127.0.0.1\n",
              "2: [server] listen: '127.0.0.1': missing port (expected "
              "host:port)");
  check_error("[server]\nlisten = 127.0.0.1:\n", "2: [server] listen: '127.0.0.1:': missing port");
  check_error("[server]\nlisten = [::1]\n", "2: [server] listen: '[::1]': missing port (expected "
                                            "[address]:port)");
  check_error("[server]\nlisten = [::1]x:80\n",
              "2: [server] listen: '[::1]x:80': expected :port after ']'");
  check_error("[server]\nlisten = [::1:80\n", "2: [server] listen: '[::1:80': missing ']'");
  check_error("[server]\nlisten = [1.2.3.4]:80\n",
              "2: [server] listen: '[1.2.3.4]:80': not an IPv6 address");
  check_error("[server]\nlisten = ::1:8000\n",
              "2: [server] listen: '::1:8000': write an IPv6 address in "
              "brackets, e.g. [::1]:8000");
  check_error("[server]\nlisten = example.com:80\n",
              "2: [server] listen: 'example.com:80': host must be an IP "
              "address, localhost or * (names are not resolved)");
  check_error("[server]\nlisten = 256.1.1.1:80\n",
              "2: [server] listen: '256.1.1.1:80': host must be an IP "
              "address, localhost or * (names are not resolved)");
  check_error("[server]\nlisten = garbage\n",
              "2: [server] listen: 'garbage': missing port (expected "
              "host:port)");
  check_error("[server]\nlisten = 1.2.3.4:80 # web\n",
              "2: [server] listen: '1.2.3.4:80 # web': port must be a number "
              "from 0 to 65535");
  check_error("[server]\nlisten =\n", "2: [server] listen: empty value (expected host:port)");
  check_error("[server]\nlisten = , ,\n", "2: [server] listen: empty value (expected host:port)");
  check_error("[server]\nlisten = *:80, 0.0.0.0:80\n",
              "2: [server] listen: '0.0.0.0:80': listed twice");
  check_error("[server]\nlisten = 127.0.0.1:1\n  static_dir = www\n",
              "3: [server] listen: indented line continues the value; to set "
              "another key, remove the indentation");
  check_error("[server]\nlisten = 127.0.0.1:1\n  bad\n",
              "3: [server] listen: 'bad': missing port (expected host:port)");

  strcpy(text, "[server]\nlisten = ");
  for (int i = 1; i <= CONFIG_MAX_LISTEN; i++)
    snprintf(text + strlen(text), sizeof text - strlen(text), "%s:%d", i == 1 ? "" : "\n  ", i);
  strcat(text, "\n");
  check_ok(text, &c);
  assert_int_equal(c.n_listen, CONFIG_MAX_LISTEN);
  config_free(&c);
  strcpy(text + strlen(text), "  :99\n");
  check_error(text, "18: [server] listen: too many addresses (at most 16)");
}

static void test_origins(void **state) {
  config_t c;
  char text[8192];
  (void)state;
  check_ok("[security]\nallowed_origins =  https://Chat.Example.COM ,"
           "http://localhost:3000,*,\n"
           "  https://a.example:443, http://b.example:80, http://c:443\n"
           "  https://[::1]:8443, http://10.0.0.1\n",
           &c);
  assert_int_equal(c.n_origins, 8);
  assert_string_equal(c.origins[0], "https://chat.example.com");
  assert_string_equal(c.origins[1], "http://localhost:3000");
  assert_string_equal(c.origins[2], "*");
  assert_string_equal(c.origins[3], "https://a.example");
  assert_string_equal(c.origins[4], "http://b.example");
  assert_string_equal(c.origins[5], "http://c:443");
  assert_string_equal(c.origins[6], "https://[::1]:8443");
  assert_string_equal(c.origins[7], "http://10.0.0.1");
  assert_null(c.origins[8]);
  config_free(&c);
  assert_zeroed(&c);

  check_ok("[security]\nallowed_origins =\n", &c);
  assert_int_equal(c.n_origins, 0);
  config_free(&c);

  check_error("[security]\nallowed_origins = chat.example.com\n",
              "2: [security] allowed_origins: 'chat.example.com': expected * "
              "or scheme://host[:port], scheme http or https");
  check_error("[security]\nallowed_origins = ftp://a.example\n",
              "2: [security] allowed_origins: 'ftp://a.example': expected * "
              "or scheme://host[:port], scheme http or https");
  check_error("[security]\nallowed_origins = https://a.example/\n",
              "2: [security] allowed_origins: 'https://a.example/': an origin "
              "has no path (not even a trailing /)");
  check_error("[security]\nallowed_origins = https://a.example/chat\n",
              "2: [security] allowed_origins: 'https://a.example/chat': an "
              "origin has no path (not even a trailing /)");
  check_error("[security]\nallowed_origins = https://a.example:0\n",
              "2: [security] allowed_origins: 'https://a.example:0': port "
              "must be a number from 1 to 65535");
  check_error("[security]\nallowed_origins = https://a.example:99999\n",
              "2: [security] allowed_origins: 'https://a.example:99999': port "
              "must be a number from 1 to 65535");
  check_error("[security]\nallowed_origins = https://\n",
              "2: [security] allowed_origins: 'https://': not a valid host");
  check_error("[security]\nallowed_origins = https://a..b\n",
              "2: [security] allowed_origins: 'https://a..b': not a valid "
              "host");
  check_error("[security]\nallowed_origins = https://u@a.example\n",
              "2: [security] allowed_origins: 'https://u@a.example': not a "
              "valid origin");
  check_error("[security]\nallowed_origins = https://a.example?x\n",
              "2: [security] allowed_origins: 'https://a.example?x': not a "
              "valid origin");
  check_error("[security]\nallowed_origins = null\n",
              "2: [security] allowed_origins: 'null': expected * or "
              "scheme://host[:port], scheme http or https");

  strcpy(text, "[security]\nallowed_origins = https://o1.example");
  for (int i = 2; i <= CONFIG_MAX_ORIGINS; i++)
    snprintf(text + strlen(text), sizeof text - strlen(text), "\n  https://o%d.example", i);
  strcat(text, "\n");
  check_ok(text, &c);
  assert_int_equal(c.n_origins, CONFIG_MAX_ORIGINS);
  assert_string_equal(c.origins[63], "https://o64.example");
  config_free(&c);
  strcat(text, "  https://one-too-many.example\n");
  check_error(text, "66: [security] allowed_origins: too many origins (at "
                    "most 64)");
}

static void test_secret(void **state) {
  static const char secret[] = "Sup3r-s3cret-v4lue";
  char path[64], text[512], want[512], err[1024];
  config_t c;
  (void)state;

  /* one trailing newline is removed, only one */
  write_file(path, "Sup3r-s3cret-v4lue\n\n", 20);
  snprintf(text, sizeof text, "[security]\nauth_secret_file = %s\n", path);
  check_ok(text, &c);
  assert_string_equal(c.auth_secret, "Sup3r-s3cret-v4lue\n");
  config_free(&c);
  unlink(path);

  write_file(path, "Sup3r-s3cret-v4lue\r\n", 20);
  snprintf(text, sizeof text, "[security]\nauth_secret_file = %s\n", path);
  check_ok(text, &c);
  assert_string_equal(c.auth_secret, secret);
  config_free(&c);
  unlink(path);

  write_file(path, secret, strlen(secret));
  snprintf(text, sizeof text, "[security]\nauth_secret = \nauth_secret_file = %s\n", path);
  check_ok(text, &c);
  assert_string_equal(c.auth_secret, secret);
  config_free(&c);

  /* both set: an error either way round, without the secret */
  snprintf(text, sizeof text, "[security]\nauth_secret = %s\nauth_secret_file = %s\n", secret,
           path);
  check_error(text, "3: [security] auth_secret_file: cannot be used together "
                    "with auth_secret (line 2); set only one");
  assert_int_equal(load(text, &c, err, sizeof err), -1);
  assert_null(strstr(err, secret));
  snprintf(text, sizeof text, "[security]\nauth_secret_file = %s\n\nauth_secret = %s\n", path,
           secret);
  check_error(text, "4: [security] auth_secret: cannot be used together with "
                    "auth_secret_file (line 2); set only one");
  unlink(path);

  /* a missing file: the path and the reason */
  snprintf(text, sizeof text, "[security]\nauth_secret_file = %s\n", path);
  snprintf(want, sizeof want,
           "2: [security] auth_secret_file: cannot read '%s': No such file "
           "or directory",
           path);
  check_error(text, want);

  /* an empty file (or just a newline) */
  write_file(path, "\n", 1);
  snprintf(text, sizeof text, "[security]\nauth_secret_file = %s\n", path);
  snprintf(want, sizeof want, "2: [security] auth_secret_file: '%s' is empty", path);
  check_error(text, want);
  unlink(path);

  /* NUL bytes: an error that does not show the contents */
  write_file(path, "Sup3r\0s3cret", 12);
  snprintf(text, sizeof text, "[security]\nauth_secret_file = %s\n", path);
  snprintf(want, sizeof want, "2: [security] auth_secret_file: '%s': contains a NUL byte", path);
  check_error(text, want);
  assert_int_equal(load(text, &c, err, sizeof err), -1);
  assert_null(strstr(err, "Sup3r"));
  unlink(path);

  /* a directory */
  snprintf(text, sizeof text, "[security]\nauth_secret_file = /tmp\n");
  check_error(text, "2: [security] auth_secret_file: cannot read '/tmp': Is "
                    "a directory");

  /* an error elsewhere in a file with a secret does not show it */
  snprintf(text, sizeof text, "[security]\nauth_secret = %s\nallowed_origins = bad\n", secret);
  assert_int_equal(load(text, &c, err, sizeof err), -1);
  assert_null(strstr(err, secret));
}

static void test_tls(void **state) {
  char cert[64], key[64], text[512], want[512];
  config_t c;
  (void)state;
  write_file(cert, "C", 1);
  write_file(key, "K", 1);

  snprintf(text, sizeof text, "[tls]\ncert = %s\n", cert);
  check_error(text, "2: [tls] cert: key is not set (set both cert and key, "
                    "or neither)");
  snprintf(text, sizeof text, "[tls]\ncert = %s\nkey =\n", cert);
  check_error(text, "2: [tls] cert: key is not set (set both cert and key, "
                    "or neither)");
  snprintf(text, sizeof text, "[tls]\n\nkey = %s\n", key);
  check_error(text, "3: [tls] key: cert is not set (set both cert and key, "
                    "or neither)");

  snprintf(text, sizeof text, "[tls]\ncert = %s\nkey = %s\n", cert, key);
  check_ok(text, &c);
  assert_string_equal(c.tls_cert, cert);
  assert_string_equal(c.tls_key, key);
  config_free(&c);

  unlink(key);
  snprintf(want, sizeof want, "3: [tls] key: cannot read '%s': No such file or directory", key);
  check_error(text, want);
  unlink(cert);
  snprintf(want, sizeof want, "2: [tls] cert: cannot read '%s': No such file or directory", cert);
  check_error(text, want);

  check_ok("[tls]\ncert =\nkey =\n", &c);
  assert_string_equal(c.tls_cert, "");
  config_free(&c);
}

static void test_echo_path(void **state) {
  config_t c;
  (void)state;
  check_ok("[server]\necho_path = /echo/v1\n", &c);
  assert_string_equal(c.echo_path, "/echo/v1");
  config_free(&c);
  check_ok("[server]\necho_path = /wsecho\n", &c);
  config_free(&c);
  check_error("[server]\necho_path = echo\n",
              "2: [server] echo_path: 'echo': must start with '/' (or be "
              "empty)");
  check_error("[server]\necho_path = /a b\n",
              "2: [server] echo_path: '/a b': a path of letters, digits and "
              "-._~!$&'()*+,;=:@/ only");
  check_error("[server]\necho_path = /ws/echo\n",
              "2: [server] echo_path: '/ws/echo': taken by the built-in route "
              "/ws/...");
  check_error("[server]\necho_path = /metrics\n",
              "2: [server] echo_path: '/metrics': taken by the built-in route "
              "/metrics");
  check_error("[server]\necho_path = /\n",
              "2: [server] echo_path: '/': taken by the built-in route /");
}

static void test_cluster(void **state) {
  config_t c;
  (void)state;
  check_ok("[cluster]\nredis_url = redis://redis.internal:6380\n", &c);
  assert_string_equal(c.redis_url, "redis://redis.internal:6380");
  config_free(&c);
  check_ok("[cluster]\nredis_url = redis://[::1]:6379/0\n", &c);
  config_free(&c);
  check_error("[cluster]\nredis_url = redis://127.0.0.1\n",
              "2: [cluster] redis_url: 'redis://127.0.0.1': expected "
              "redis://host:port[/db]");
  check_error("[cluster]\nredis_url = http://127.0.0.1:6379\n",
              "2: [cluster] redis_url: 'http://127.0.0.1:6379': expected "
              "redis://host:port[/db]");
  check_error("[cluster]\nredis_url = redis://127.0.0.1:0\n",
              "2: [cluster] redis_url: 'redis://127.0.0.1:0': expected "
              "redis://host:port[/db]");
  check_error("[cluster]\nredis_url = redis://127.0.0.1:6379/x\n",
              "2: [cluster] redis_url: 'redis://127.0.0.1:6379/x': the "
              "database after '/' must be a number");
  check_error("[cluster]\nredis_url = rediss://h:6379\n",
              "2: [cluster] redis_url: 'rediss://h:6379': rediss:// (TLS) is "
              "not supported");
  check_error("[cluster]\nredis_url = redis://user:pw@h:6379\n",
              "2: [cluster] redis_url: credentials in redis_url are not "
              "supported");
  check_error("[cluster]\nnode_id = node 1\n",
              "2: [cluster] node_id: 'node 1': at most 64 letters, digits "
              "and . _ : -");
  check_error("[cluster]\nchannel_prefix = a/b\n",
              "2: [cluster] channel_prefix: 'a/b': at most 64 letters, "
              "digits and . _ : -");
}

static void test_open_errors(void **state) {
  config_t c;
  char err[512];
  (void)state;
  memset(&c, 0xff, sizeof c); /* garbage in: zeroed out on error */
  assert_int_equal(config_load("/nonexistent/fastws.conf", &c, err, sizeof err), -1);
  assert_string_equal(err, "/nonexistent/fastws.conf: cannot open: No such "
                           "file or directory");
  assert_zeroed(&c);
  assert_int_equal(config_load("/tmp", &c, err, sizeof err), -1);
  assert_string_equal(err, "/tmp: cannot open: Is a directory");
  assert_zeroed(&c);
  /* a short buffer is truncated, never overrun; no buffer is fine too */
  assert_int_equal(config_load("/nonexistent", &c, err, 5), -1);
  assert_string_equal(err, "/non");
  assert_int_equal(config_load("/nonexistent", &c, NULL, 0), -1);
}

static void test_reload_semantics(void **state) {
  config_t live, next;
  char err[512];
  (void)state;
  /* a good file replaces the live config; a bad one leaves nothing behind */
  check_ok("[server]\nlog_level = warn\n", &live);
  assert_int_equal(load("[server]\nlog_level = nope\n", &next, err, sizeof err), -1);
  assert_zeroed(&next);
  assert_int_equal(live.log_level, LOG_WARN);
  check_ok("[server]\nlog_level = debug\n", &next);
  config_free(&live);
  live = next;
  assert_int_equal(live.log_level, LOG_DEBUG);
  config_free(&live);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_shipped_conf),
      cmocka_unit_test(test_empty_and_comments),
      cmocka_unit_test(test_every_key),
      cmocka_unit_test(test_value_spellings),
      cmocka_unit_test(test_bad_numbers),
      cmocka_unit_test(test_structure_errors),
      cmocka_unit_test(test_syntax_leniency),
      cmocka_unit_test(test_listen),
      cmocka_unit_test(test_origins),
      cmocka_unit_test(test_secret),
      cmocka_unit_test(test_tls),
      cmocka_unit_test(test_echo_path),
      cmocka_unit_test(test_cluster),
      cmocka_unit_test(test_open_errors),
      cmocka_unit_test(test_reload_semantics),
  };
  return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
