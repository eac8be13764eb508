/* The INI file of PROTOCOL.md section 5 -> config_t.
 *
 * inih does the INI syntax. Debian builds it without INI_HANDLER_LINENO, so
 * its handler learns neither the line number nor whether a line continues
 * the previous key's value. We therefore feed inih through our own reader
 * (ld_read): it reads one whole line per call, counts lines, and classifies
 * each line the way inih is about to (blank/comment, section header,
 * continuation). inih calls the handler for a line before it asks for the
 * next one, so the handler knows exactly which line it is looking at. The
 * first error makes the reader report end of file, so one error, the first
 * in the file, is reported.
 *
 * Choices where section 5 is silent (fastws.conf documents them too):
 * - Strict: unknown sections and keys, a key set twice (even in a repeated
 *   [section]), a key before any section, and any malformed value are errors
 *   "FILE:LINE: [section] key: what is wrong". Keys are case-sensitive.
 * - Sizes and counts are plain non-negative decimal integers (no k/m suffix,
 *   no sign, no spaces inside). Durations are seconds, decimal, fractional
 *   allowed ("0.5"), at most one year (31536000). rate_limit/rate_burst are
 *   decimal numbers too.
 * - max_message_size >= 1, max_send_buffer >= 1, 1024 <= max_header_size
 *   <= 1048576, handshake_timeout > 0, max_connections >= 1,
 *   rate_burst >= 1 when rate_limit > 0.
 * - listen: items separated by commas; host "*" or empty (":8000") means
 *   0.0.0.0 (every IPv4 address); "[::]:8000" is every IPv6 address
 *   (dual-stack unless net.ipv6.bindv6only). IPv6 must be bracketed.
 *   Hostnames other than "localhost" are not resolved: an error. Addresses
 *   are stored normalised (inet_ntop), "localhost" as is. The same
 *   address:port twice is an error (port 0 excepted).
 * - allowed_origins: "*" or scheme://host[:port], http or https, no path;
 *   stored lowercased and without a default port (":80" for http, ":443"
 *   for https), the form browsers send in Origin.
 * - inih keeps lines to its buffer (198 characters with Debian's build); a
 *   longer line is an error. listen and allowed_origins may continue on
 *   indented lines, each adding more comma-separated items; empty items are
 *   skipped. Any other indented continuation line is an error.
 * - Inline comments start with " ;" (a semicolon after whitespace); '#'
 *   starts a comment only at the start of a line. A secret that contains
 *   " ;" must therefore come from auth_secret_file.
 * - auth_secret is never quoted in an error; the secret file must be a
 *   non-empty file of at most 64 KiB without NUL bytes. tls cert and key
 *   must be readable when set (so `fastwsd -t` catches a wrong path).
 */
#include "config/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "config/loader.h"

#define F(field) offsetof(config_t, field)

static const key_def_t keys[N_KEYS] = {
    [K_LISTEN] = {"server", "listen", cfg_parse_listen, F(listen), 0, 0, 0, 0, KF_LIST},
    [K_STATIC_DIR] = {"server", "static_dir", cfg_parse_str, F(static_dir), 0, 0, 0, 0, KF_NONEMPTY},
    [K_LOG_LEVEL] = {"server", "log_level", cfg_parse_log_level, F(log_level), 0, 0, 0, 0, 0},
    [K_ECHO_PATH] = {"server", "echo_path", cfg_parse_echo_path, F(echo_path), 0, 0, 0, 0, 0},
    [K_SHUTDOWN_TIMEOUT] = {"server", "shutdown_timeout", cfg_parse_seconds, F(shutdown_timeout), 0, 0,
                            0, MAX_DURATION, KF_SECONDS},
    [K_REUSE_PORT] = {"server", "reuse_port", cfg_parse_bool, F(reuse_port), 0, 0, 0, 0, 0},

    [K_MAX_MESSAGE_SIZE] = {"websocket", "max_message_size", cfg_parse_u64, F(max_message_size), 1, 0,
                            0, 0, KF_BYTES},
    [K_MAX_SEND_BUFFER] = {"websocket", "max_send_buffer", cfg_parse_u64, F(max_send_buffer), 1, 0, 0,
                           0, KF_BYTES},
    [K_HEARTBEAT_INTERVAL] = {"websocket", "heartbeat_interval", cfg_parse_seconds,
                              F(heartbeat_interval), 0, 0, 0, MAX_DURATION, KF_SECONDS},
    [K_IDLE_TIMEOUT] = {"websocket", "idle_timeout", cfg_parse_seconds, F(idle_timeout), 0, 0, 0,
                        MAX_DURATION, KF_SECONDS},
    [K_HANDSHAKE_TIMEOUT] = {"websocket", "handshake_timeout", cfg_parse_seconds, F(handshake_timeout),
                             0, 0, 0, MAX_DURATION, KF_SECONDS | KF_MIN_EXCL},
    [K_MAX_HEADER_SIZE] = {"websocket", "max_header_size", cfg_parse_size, F(max_header_size), 1024,
                           1048576, 0, 0, KF_BYTES},
    [K_PERMESSAGE_DEFLATE] = {"websocket", "permessage_deflate", cfg_parse_bool, F(permessage_deflate),
                              0, 0, 0, 0, 0},
    [K_DEFLATE_MIN_SIZE] = {"websocket", "deflate_min_size", cfg_parse_size, F(deflate_min_size), 0, 0,
                            0, 0, KF_BYTES},
    [K_ON_DUPLICATE_ID] = {"websocket", "on_duplicate_id", cfg_parse_dup, F(on_duplicate_id), 0, 0, 0,
                           0, 0},
    [K_RATE_LIMIT] = {"websocket", "rate_limit", cfg_parse_seconds, F(rate_limit), 0, 0, 0, MAX_RATE,
                      0},
    [K_RATE_BURST] = {"websocket", "rate_burst", cfg_parse_seconds, F(rate_burst), 0, 0, 0, MAX_RATE,
                      0},

    [K_MAX_CONNECTIONS] = {"limits", "max_connections", cfg_parse_u64, F(max_connections), 1, 0, 0, 0,
                           0},
    [K_MAX_CONNECTIONS_PER_IP] = {"limits", "max_connections_per_ip", cfg_parse_u64,
                                  F(max_connections_per_ip), 0, 0, 0, 0, 0},
    [K_MAX_ROOMS_PER_CLIENT] = {"limits", "max_rooms_per_client", cfg_parse_u64,
                                F(max_rooms_per_client), 0, UINT32_MAX, 0, 0, 0},

    [K_ALLOWED_ORIGINS] = {"security", "allowed_origins", cfg_parse_origins, F(origins), 0, 0, 0, 0,
                           KF_LIST},
    [K_AUTH_SECRET] = {"security", "auth_secret", cfg_parse_str, F(auth_secret), 0, 0, 0, 0, KF_SECRET},
    [K_AUTH_SECRET_FILE] = {"security", "auth_secret_file", cfg_parse_secret_file, 0, 0, 0, 0, 0, 0},

    [K_TLS_CERT] = {"tls", "cert", cfg_parse_str, F(tls_cert), 0, 0, 0, 0, 0},
    [K_TLS_KEY] = {"tls", "key", cfg_parse_str, F(tls_key), 0, 0, 0, 0, 0},

    [K_REDIS_URL] = {"cluster", "redis_url", cfg_parse_redis_url, F(redis_url), 0, 0, 0, 0, 0},
    [K_NODE_ID] = {"cluster", "node_id", cfg_parse_ident, F(node_id), 0, 0, 0, 0, 0},
    [K_CHANNEL_PREFIX] = {"cluster", "channel_prefix", cfg_parse_ident, F(channel_prefix), 0, 0, 0, 0,
                          KF_NONEMPTY},
};

static const char *const sections[] = {"server",   "websocket", "limits",
                                       "security", "tls",       "cluster"};


/* ---- inih glue ---- */

static int is_section(const char *s, size_t n) {
  for (size_t i = 0; i < sizeof sections / sizeof *sections; i++)
    if (strlen(sections[i]) == n && memcmp(sections[i], s, n) == 0) return 1;
  return 0;
}

/* Looks at line the way inih is about to: a continuation of the previous
 * key (inih: non-blank, indented, after a key in the same section), or a
 * section header, which we check here because inih only tells the handler
 * about sections that have keys. 0 or -1. */
static int classify(loader_t *ld, const char *line) {
  const char *s = line, *end, *after;
  char qb[QUOTE_MAX + 4], name[QUOTE_MAX + 1];
  size_t n;

  while (isspace((unsigned char)*s))
    s++;
  ld->cont = 0;
  if (!*s || *s == ';' || *s == '#') return 0;
  if (ld->have_prev && s > line) {
    ld->cont = 1;
    return 0;
  }
  if (*s != '[') return 0;
  if (!(end = strchr(s, ']'))) return cfg_fail(ld, ld->lineno, NULL, "syntax error: '[' without ']'");
  for (after = end + 1; isspace((unsigned char)*after); after++) {
  }
  if (*after && !(*after == ';' || *after == '#'))
    return cfg_fail(ld, ld->lineno, NULL, "syntax error: text after ']'");
  n = (size_t)(end - s - 1);
  if (!is_section(s + 1, n)) {
    if (n > QUOTE_MAX) n = QUOTE_MAX;
    memcpy(name, s + 1, n);
    name[n] = '\0';
    return cfg_fail(ld, ld->lineno, NULL,
                "[%s]: unknown section (expected server, websocket, limits, "
                "security, tls or cluster)",
                cfg_quote(qb, name));
  }
  ld->have_prev = 0;
  return 0;
}

/* inih's reader: one whole line per call (fgets-like), or NULL at EOF, on
 * a read error and once an error is recorded. */
static char *ld_read(char *str, int num, void *stream) {
  loader_t *ld = stream;
  ssize_t n;
  char *line;

  if (ld->failed) return NULL;
  errno = 0;
  n = getline(&ld->buf, &ld->cap, ld->f);
  if (n < 0) {
    if (ferror(ld->f)) cfg_fail(ld, 0, NULL, "read error: %s", strerror(errno ? errno : EIO));
    return NULL;
  }
  ld->lineno++;
  line = ld->buf;
  if (memchr(line, '\0', (size_t)n)) {
    cfg_fail(ld, ld->lineno, NULL, "NUL byte in line");
    return NULL;
  }
  if (ld->lineno == 1 && n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
    line += 3, n -= 3; /* UTF-8 BOM */
  if (n > 0 && line[n - 1] == '\n') n--;
  if (n > 0 && line[n - 1] == '\r') n--;
  line[n] = '\0';
  /* inih's buffer holds num - 1 bytes: the line, '\n' and NUL. */
  if (num < 3 || n > num - 2) {
    cfg_fail(ld, ld->lineno, NULL, "line too long (at most %d characters)", num - 2);
    return NULL;
  }
  if (classify(ld, line)) return NULL;
  memcpy(str, line, (size_t)n + 1);
  return str;
}

static const key_def_t *find_key(const char *section, const char *name) {
  for (size_t i = 0; i < N_KEYS; i++)
    if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0) return &keys[i];
  return NULL;
}

static int unknown_key(loader_t *ld, const char *section, const char *name) {
  char qs[QUOTE_MAX + 4], qn[QUOTE_MAX + 4];
  cfg_quote(qs, section), cfg_quote(qn, name);
  for (size_t i = 0; i < N_KEYS; i++)
    if (strcmp(keys[i].name, name) == 0)
      return cfg_fail(ld, ld->lineno, NULL, "[%s] %s: unknown key (%s belongs in [%s])", qs, qn, qn,
                  keys[i].section);
  for (size_t i = 0; i < N_KEYS; i++)
    if (strcmp(keys[i].section, section) == 0 && strcasecmp(keys[i].name, name) == 0)
      return cfg_fail(ld, ld->lineno, NULL, "[%s] %s: unknown key (did you mean %s?)", qs, qn,
                  keys[i].name);
  return cfg_fail(ld, ld->lineno, NULL, "[%s] %s: unknown key", qs, qn);
}

/* Strips an inline comment (" ;...") and trailing space, which inih does
 * for key = value lines but not for continuation lines. */
static void strip_comment(char *v) {
  size_t n;
  for (char *p = v; *p; p++)
    if (*p == ';' && p > v && isspace((unsigned char)p[-1])) {
      *p = '\0';
      break;
    }
  n = strlen(v);
  while (n && isspace((unsigned char)v[n - 1]))
    v[--n] = '\0';
}

static int ld_handler(void *user, const char *section, const char *name, const char *value) {
  loader_t *ld = user;
  const key_def_t *k;
  char qb[QUOTE_MAX + 4];
  int idx;

  if (ld->failed) return 0;
  ld->have_prev = 1;
  if (!*section)
    return cfg_fail(ld, ld->lineno, NULL, "%s: key outside any section (put it under [server], ...)",
                cfg_quote(qb, name)),
           0;
  if (!(k = find_key(section, name))) return unknown_key(ld, section, name), 0;
  idx = (int)(k - keys);
  if (ld->cont) {
    char *v;
    int r;
    if (!(k->flags & KF_LIST))
      return cfg_fail(ld, ld->lineno, k,
                  "indented line continues the value; only listen and "
                  "allowed_origins take continuation lines"),
             0;
    if (strchr(value, '='))
      return cfg_fail(ld, ld->lineno, k,
                  "indented line continues the value; to set another key, "
                  "remove the indentation"),
             0;
    if (!(v = strdup(value))) return cfg_oom(ld), 0;
    strip_comment(v);
    r = k->parse(ld, k, v, 1);
    free(v);
    return r == 0;
  }
  if (ld->key_line[idx])
    return cfg_fail(ld, ld->lineno, k, "set twice (first on line %d)", ld->key_line[idx]), 0;
  ld->key_line[idx] = ld->lineno;
  return k->parse(ld, k, value, 0) == 0;
}

/* ---- after the parse ---- */

static int read_secret_file(loader_t *ld) {
  const key_def_t *k = &keys[K_AUTH_SECRET_FILE];
  int line = ld->key_line[K_AUTH_SECRET_FILE], fd, e;
  char qb[QUOTE_MAX + 4], *buf;
  size_t len = 0;
  struct stat st;

  cfg_quote(qb, ld->secret_file);
  if ((fd = open(ld->secret_file, O_RDONLY | O_CLOEXEC)) < 0) {
    e = errno;
    return cfg_fail(ld, line, k, "cannot read '%s': %s", qb, strerror(e));
  }
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    close(fd);
    return cfg_fail(ld, line, k, "cannot read '%s': %s", qb, strerror(EISDIR));
  }
  if (!(buf = malloc(MAX_SECRET_FILE + 1))) {
    close(fd);
    return cfg_oom(ld);
  }
  for (;;) {
    ssize_t r = read(fd, buf + len, MAX_SECRET_FILE + 1 - len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      e = errno;
      close(fd);
      explicit_bzero(buf, len);
      free(buf);
      return cfg_fail(ld, line, k, "cannot read '%s': %s", qb, strerror(e));
    }
    if (r == 0 || (len += (size_t)r) > MAX_SECRET_FILE) break;
  }
  close(fd);
  if (len > MAX_SECRET_FILE || memchr(buf, '\0', len)) {
    explicit_bzero(buf, len);
    free(buf);
    return cfg_fail(ld, line, k,
                len > MAX_SECRET_FILE ? "'%s': larger than 64 KiB" : "'%s': contains a NUL byte",
                qb);
  }
  if (len && buf[len - 1] == '\n') len--;
  if (len && buf[len - 1] == '\r') len--;
  buf[len] = '\0';
  if (len == 0) {
    free(buf);
    return cfg_fail(ld, line, k, "'%s' is empty", qb);
  }
  explicit_bzero(ld->c.auth_secret, strlen(ld->c.auth_secret));
  free(ld->c.auth_secret);
  ld->c.auth_secret = buf;
  return 0;
}

static int check_readable(loader_t *ld, int key) {
  const key_def_t *k = &keys[key];
  const char *path = *FIELD(ld, k, char *);
  char qb[QUOTE_MAX + 4];
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC), e;
  if (fd < 0) {
    e = errno;
    return cfg_fail(ld, ld->key_line[key], k, "cannot read '%s': %s", cfg_quote(qb, path), strerror(e));
  }
  e = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
  close(fd);
  if (e)
    return cfg_fail(ld, ld->key_line[key], k, "cannot read '%s': %s", cfg_quote(qb, path),
                strerror(EISDIR));
  return 0;
}

/* Checks that span keys, then reads files named by the config. */
static int finish(loader_t *ld) {
  config_t *c = &ld->c;
  int *kl = ld->key_line;

  if (kl[K_LISTEN] && c->n_listen == 0)
    return cfg_fail(ld, kl[K_LISTEN], &keys[K_LISTEN], "empty value (expected host:port)");
  if (*c->auth_secret && ld->secret_file && *ld->secret_file) {
    int later = kl[K_AUTH_SECRET_FILE] > kl[K_AUTH_SECRET] ? K_AUTH_SECRET_FILE : K_AUTH_SECRET;
    int other = later == K_AUTH_SECRET ? K_AUTH_SECRET_FILE : K_AUTH_SECRET;
    return cfg_fail(ld, kl[later], &keys[later],
                "cannot be used together with %s (line %d); set only one", keys[other].name,
                kl[other]);
  }
  if (!*c->tls_cert != !*c->tls_key) {
    int set = *c->tls_cert ? K_TLS_CERT : K_TLS_KEY;
    int unset = set == K_TLS_CERT ? K_TLS_KEY : K_TLS_CERT;
    return cfg_fail(ld, kl[set], &keys[set], "%s is not set (set both cert and key, or neither)",
                keys[unset].name);
  }
  if (c->rate_limit > 0 && c->rate_burst < 1)
    return cfg_fail(ld, kl[K_RATE_BURST], &keys[K_RATE_BURST],
                "must be at least 1 when rate_limit is set");
  if (ld->secret_file && *ld->secret_file && read_secret_file(ld)) return -1;
  if (*c->tls_cert && (check_readable(ld, K_TLS_CERT) || check_readable(ld, K_TLS_KEY))) return -1;
  return 0;
}

/* ---- API ---- */

int config_defaults(config_t *c) {
  memset(c, 0, sizeof *c);
  strcpy(c->listen[0].host, "127.0.0.1");
  c->listen[0].port = 8000;
  c->n_listen = 1;
  c->log_level = LOG_INFO;
  c->shutdown_timeout = 5;
  c->reuse_port = 0;

  c->max_message_size = 65536;
  c->max_send_buffer = 1048576;
  c->heartbeat_interval = 30;
  c->idle_timeout = 60;
  c->handshake_timeout = 10;
  c->max_header_size = 8192;
  c->permessage_deflate = 1;
  c->deflate_min_size = 128;
  c->on_duplicate_id = DUP_REPLACE;
  c->rate_limit = 0;
  c->rate_burst = 20;

  c->max_connections = 100000;
  c->max_connections_per_ip = 0;
  c->max_rooms_per_client = 128;

  if (!(c->static_dir = strdup("static")) || !(c->echo_path = strdup("")) ||
      !(c->auth_secret = strdup("")) || !(c->tls_cert = strdup("")) || !(c->tls_key = strdup("")) ||
      !(c->redis_url = strdup("")) || !(c->node_id = strdup("")) ||
      !(c->channel_prefix = strdup("fastws"))) {
    config_free(c);
    return -1;
  }
  return 0;
}

int config_load(const char *path, config_t *c, char *err, size_t errlen) {
  loader_t ld;
  struct stat st;
  int r;

  memset(&ld, 0, sizeof ld);
  ld.path = path;
  ld.err = err;
  ld.errlen = errlen;
  if (err && errlen) err[0] = '\0';
  memset(c, 0, sizeof *c);

  if (config_defaults(&ld.c)) {
    cfg_oom(&ld);
    return -1;
  }
  if (!(ld.f = fopen(path, "re"))) {
    int e = errno;
    cfg_fail(&ld, 0, NULL, "cannot open: %s", strerror(e));
    goto out;
  }
  if (fstat(fileno(ld.f), &st) == 0 && S_ISDIR(st.st_mode)) {
    cfg_fail(&ld, 0, NULL, "cannot open: %s", strerror(EISDIR));
    goto out;
  }
  r = ini_parse_stream(ld_read, &ld, ld_handler, &ld);
  if (r == -2 && !ld.failed) cfg_oom(&ld);
  /* inih goes on after a line it cannot parse; our own first error, if
   * any, is on a later line. */
  if (r > 0 && (!ld.failed || r < ld.lineno)) {
    ld.failed = 0;
    cfg_fail(&ld, r, NULL,
         "syntax error (expected key = value, [section] or a "
         "; comment)");
  }
  if (!ld.failed) finish(&ld);
out:
  if (ld.f) fclose(ld.f);
  if (ld.buf) explicit_bzero(ld.buf, ld.cap); /* may hold auth_secret */
  free(ld.buf);
  free(ld.secret_file);
  if (ld.failed) {
    config_free(&ld.c);
    return -1;
  }
  *c = ld.c;
  return 0;
}

void config_free(config_t *c) {
  if (c->auth_secret) explicit_bzero(c->auth_secret, strlen(c->auth_secret));
  free(c->static_dir);
  free(c->echo_path);
  cfg_free_origins(c);
  free(c->auth_secret);
  free(c->tls_cert);
  free(c->tls_key);
  free(c->redis_url);
  free(c->node_id);
  free(c->channel_prefix);
  memset(c, 0, sizeof *c);
}


int config_load_or_defaults(const char *path, config_t *c, char *err, size_t errlen) {
  if (path) return config_load(path, c, err, errlen);
  if (config_defaults(c) == 0) return 0;
  snprintf(err, errlen, "out of memory");
  return -1;
}
