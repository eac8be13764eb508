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
#include "config.h"

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

#define MAX_DURATION    31536000.0 /* one year, in seconds */
#define MAX_RATE        1e9
#define MAX_SECRET_FILE 65536
#define MAX_IDENT       64
#define QUOTE_MAX       100

enum {
  K_LISTEN,
  K_STATIC_DIR,
  K_LOG_LEVEL,
  K_ECHO_PATH,
  K_SHUTDOWN_TIMEOUT,
  K_REUSE_PORT,
  K_MAX_MESSAGE_SIZE,
  K_MAX_SEND_BUFFER,
  K_HEARTBEAT_INTERVAL,
  K_IDLE_TIMEOUT,
  K_HANDSHAKE_TIMEOUT,
  K_MAX_HEADER_SIZE,
  K_PERMESSAGE_DEFLATE,
  K_DEFLATE_MIN_SIZE,
  K_ON_DUPLICATE_ID,
  K_RATE_LIMIT,
  K_RATE_BURST,
  K_MAX_CONNECTIONS,
  K_MAX_CONNECTIONS_PER_IP,
  K_ALLOWED_ORIGINS,
  K_AUTH_SECRET,
  K_AUTH_SECRET_FILE,
  K_TLS_CERT,
  K_TLS_KEY,
  K_REDIS_URL,
  K_NODE_ID,
  K_CHANNEL_PREFIX,
  N_KEYS
};

/* The state of one config_load. Owned by config_load's stack frame. */
typedef struct {
  config_t c; /* being built; handed to the caller on success */
  const char *path;
  FILE *f;
  char *buf; /* getline's buffer */
  size_t cap;
  int lineno;    /* the line inih is working on */
  int cont;      /* that line continues the previous key's value */
  int have_prev; /* a key was seen since the last section header */
  int failed;    /* an error is in err; the reader reports EOF */
  char *err;
  size_t errlen;
  int key_line[N_KEYS]; /* line where each key was set; 0 = not in file */
  char *secret_file;    /* auth_secret_file, read once the parse is done */
} loader_t;

typedef struct key_def key_def_t;

/* Parses value into the field of k. cont: value comes from a continuation
 * line. 0, or -1 with the error recorded. */
typedef int (*parse_fn)(loader_t *ld, const key_def_t *k, const char *value, int cont);

#define KF_LIST     1u  /* continuation lines add items */
#define KF_SECRET   2u  /* never quote the value */
#define KF_NONEMPTY 4u  /* empty string not allowed */
#define KF_MIN_EXCL 8u  /* decimal: value must be > dmin */
#define KF_BYTES    16u /* integer is a number of bytes (for messages) */
#define KF_SECONDS  32u /* decimal is a number of seconds (for messages) */

struct key_def {
  const char *section;
  const char *name;
  parse_fn parse;
  size_t off;    /* offsetof(config_t, field) */
  uint64_t umin; /* integers: accepted range, umax 0 = no limit */
  uint64_t umax;
  double dmin; /* decimals: accepted range */
  double dmax;
  unsigned flags;
};

static int parse_listen(loader_t *, const key_def_t *, const char *, int);
static int parse_str(loader_t *, const key_def_t *, const char *, int);
static int parse_log_level(loader_t *, const key_def_t *, const char *, int);
static int parse_echo_path(loader_t *, const key_def_t *, const char *, int);
static int parse_seconds(loader_t *, const key_def_t *, const char *, int);
static int parse_bool(loader_t *, const key_def_t *, const char *, int);
static int parse_u64(loader_t *, const key_def_t *, const char *, int);
static int parse_size(loader_t *, const key_def_t *, const char *, int);
static int parse_dup(loader_t *, const key_def_t *, const char *, int);
static int parse_origins(loader_t *, const key_def_t *, const char *, int);
static int parse_secret_file(loader_t *, const key_def_t *, const char *, int);
static int parse_redis_url(loader_t *, const key_def_t *, const char *, int);
static int parse_ident(loader_t *, const key_def_t *, const char *, int);

#define F(field) offsetof(config_t, field)

static const key_def_t keys[N_KEYS] = {
    [K_LISTEN] = {"server", "listen", parse_listen, F(listen), 0, 0, 0, 0, KF_LIST},
    [K_STATIC_DIR] = {"server", "static_dir", parse_str, F(static_dir), 0, 0, 0, 0, KF_NONEMPTY},
    [K_LOG_LEVEL] = {"server", "log_level", parse_log_level, F(log_level), 0, 0, 0, 0, 0},
    [K_ECHO_PATH] = {"server", "echo_path", parse_echo_path, F(echo_path), 0, 0, 0, 0, 0},
    [K_SHUTDOWN_TIMEOUT] = {"server", "shutdown_timeout", parse_seconds, F(shutdown_timeout), 0, 0,
                            0, MAX_DURATION, KF_SECONDS},
    [K_REUSE_PORT] = {"server", "reuse_port", parse_bool, F(reuse_port), 0, 0, 0, 0, 0},

    [K_MAX_MESSAGE_SIZE] = {"websocket", "max_message_size", parse_u64, F(max_message_size), 1, 0,
                            0, 0, KF_BYTES},
    [K_MAX_SEND_BUFFER] = {"websocket", "max_send_buffer", parse_u64, F(max_send_buffer), 1, 0, 0,
                           0, KF_BYTES},
    [K_HEARTBEAT_INTERVAL] = {"websocket", "heartbeat_interval", parse_seconds,
                              F(heartbeat_interval), 0, 0, 0, MAX_DURATION, KF_SECONDS},
    [K_IDLE_TIMEOUT] = {"websocket", "idle_timeout", parse_seconds, F(idle_timeout), 0, 0, 0,
                        MAX_DURATION, KF_SECONDS},
    [K_HANDSHAKE_TIMEOUT] = {"websocket", "handshake_timeout", parse_seconds, F(handshake_timeout),
                             0, 0, 0, MAX_DURATION, KF_SECONDS | KF_MIN_EXCL},
    [K_MAX_HEADER_SIZE] = {"websocket", "max_header_size", parse_size, F(max_header_size), 1024,
                           1048576, 0, 0, KF_BYTES},
    [K_PERMESSAGE_DEFLATE] = {"websocket", "permessage_deflate", parse_bool, F(permessage_deflate),
                              0, 0, 0, 0, 0},
    [K_DEFLATE_MIN_SIZE] = {"websocket", "deflate_min_size", parse_size, F(deflate_min_size), 0, 0,
                            0, 0, KF_BYTES},
    [K_ON_DUPLICATE_ID] = {"websocket", "on_duplicate_id", parse_dup, F(on_duplicate_id), 0, 0, 0,
                           0, 0},
    [K_RATE_LIMIT] = {"websocket", "rate_limit", parse_seconds, F(rate_limit), 0, 0, 0, MAX_RATE,
                      0},
    [K_RATE_BURST] = {"websocket", "rate_burst", parse_seconds, F(rate_burst), 0, 0, 0, MAX_RATE,
                      0},

    [K_MAX_CONNECTIONS] = {"limits", "max_connections", parse_u64, F(max_connections), 1, 0, 0, 0,
                           0},
    [K_MAX_CONNECTIONS_PER_IP] = {"limits", "max_connections_per_ip", parse_u64,
                                  F(max_connections_per_ip), 0, 0, 0, 0, 0},

    [K_ALLOWED_ORIGINS] = {"security", "allowed_origins", parse_origins, F(origins), 0, 0, 0, 0,
                           KF_LIST},
    [K_AUTH_SECRET] = {"security", "auth_secret", parse_str, F(auth_secret), 0, 0, 0, 0, KF_SECRET},
    [K_AUTH_SECRET_FILE] = {"security", "auth_secret_file", parse_secret_file, 0, 0, 0, 0, 0, 0},

    [K_TLS_CERT] = {"tls", "cert", parse_str, F(tls_cert), 0, 0, 0, 0, 0},
    [K_TLS_KEY] = {"tls", "key", parse_str, F(tls_key), 0, 0, 0, 0, 0},

    [K_REDIS_URL] = {"cluster", "redis_url", parse_redis_url, F(redis_url), 0, 0, 0, 0, 0},
    [K_NODE_ID] = {"cluster", "node_id", parse_ident, F(node_id), 0, 0, 0, 0, 0},
    [K_CHANNEL_PREFIX] = {"cluster", "channel_prefix", parse_ident, F(channel_prefix), 0, 0, 0, 0,
                          KF_NONEMPTY},
};

static const char *const sections[] = {"server",   "websocket", "limits",
                                       "security", "tls",       "cluster"};

#define FIELD(ld, k, type) ((type *)((char *)&(ld)->c + (k)->off))

/* ---- errors ---- */

/* Records the first error: "PATH:LINE: [section] key: msg"; line 0 leaves
 * out the line, k NULL the key. Returns -1 so parsers can return fail(). */
__attribute__((format(printf, 4, 5))) static int fail(loader_t *ld, int line, const key_def_t *k,
                                                      const char *fmt, ...) {
  char msg[512], where[64] = "", key[128] = "";
  va_list ap;
  if (ld->failed) return -1;
  ld->failed = 1;
  if (!ld->err || ld->errlen == 0) return -1;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (line > 0) snprintf(where, sizeof where, ":%d", line);
  if (k) snprintf(key, sizeof key, "[%s] %s: ", k->section, k->name);
  snprintf(ld->err, ld->errlen, "%s%s: %s%s", ld->path, where, key, msg);
  return -1;
}

/* s made safe to print: control bytes become '?', long ones end in "...". */
static const char *quote(char out[QUOTE_MAX + 4], const char *s) {
  size_t i;
  for (i = 0; s[i] && i < QUOTE_MAX; i++)
    out[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
  if (s[i]) memcpy(out + i, "...", 3), i += 3;
  out[i] = '\0';
  return out;
}

static int oom(loader_t *ld) {
  return fail(ld, 0, NULL, "out of memory");
}

/* ---- scanning numbers ---- */

enum { SCAN_OK, SCAN_EMPTY, SCAN_NEGATIVE, SCAN_JUNK, SCAN_TOO_LARGE };

/* A plain non-negative decimal integer: digits only. */
static int scan_uint(const char *s, uint64_t *out) {
  uint64_t v = 0;
  if (!*s) return SCAN_EMPTY;
  if (*s == '-') return SCAN_NEGATIVE;
  for (; *s; s++) {
    unsigned d;
    if (*s < '0' || *s > '9') return SCAN_JUNK;
    d = (unsigned)(*s - '0');
    if (v > (UINT64_MAX - d) / 10) {
      /* keep scanning: "99999999999999999999x" is junk, not too large */
      while (*s >= '0' && *s <= '9')
        s++;
      return *s ? SCAN_JUNK : SCAN_TOO_LARGE;
    }
    v = v * 10 + d;
  }
  *out = v;
  return SCAN_OK;
}

/* A non-negative decimal number: digits, at most one '.', at least one
 * digit ("5", "0.5", ".5", "5."). No sign, exponent, hex, inf or nan; and
 * independent of the locale, unlike strtod. The integer part must fit 2^53;
 * fraction digits beyond that precision are dropped. */
static int scan_decimal(const char *s, double *out) {
  const uint64_t limit = (uint64_t)1 << 53;
  uint64_t m = 0;
  int frac = -1, digits = 0;
  double scale = 1;
  if (!*s) return SCAN_EMPTY;
  if (*s == '-') return SCAN_NEGATIVE;
  for (; *s; s++) {
    if (*s == '.') {
      if (frac >= 0) return SCAN_JUNK;
      frac = 0;
    } else if (*s >= '0' && *s <= '9') {
      unsigned d = (unsigned)(*s - '0');
      digits++;
      if (m > (limit - d) / 10) {
        if (frac >= 0) continue; /* digits past a double's precision */
        while ((*s >= '0' && *s <= '9') || *s == '.')
          s++;
        return *s ? SCAN_JUNK : SCAN_TOO_LARGE;
      }
      m = m * 10 + d;
      if (frac >= 0) frac++;
    } else {
      return SCAN_JUNK;
    }
  }
  if (!digits) return SCAN_JUNK;
  while (frac-- > 0)
    scale *= 10;
  *out = (double)m / scale;
  return SCAN_OK;
}

/* "64k", "1MB", "5s", "500ms": digits then letters. */
static int has_unit_suffix(const char *s) {
  if (!isdigit((unsigned char)*s)) return 0;
  while (isdigit((unsigned char)*s) || *s == '.')
    s++;
  if (!*s) return 0;
  while (isalpha((unsigned char)*s))
    s++;
  return *s == '\0';
}

/* ---- value parsers ---- */

static int set_str(loader_t *ld, char **field, const char *v) {
  char *s = strdup(v);
  if (!s) return oom(ld);
  if (*field) {
    explicit_bzero(*field, strlen(*field)); /* it may be a secret */
    free(*field);
  }
  *field = s;
  return 0;
}

static int parse_str(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  (void)cont;
  if ((k->flags & KF_NONEMPTY) && !*v) return fail(ld, ld->lineno, k, "empty value");
  return set_str(ld, FIELD(ld, k, char *), v);
}

static int check_uint(loader_t *ld, const key_def_t *k, const char *v, uint64_t *out) {
  char qb[QUOTE_MAX + 4];
  int line = ld->lineno;
  switch (scan_uint(v, out)) {
  case SCAN_OK: break;
  case SCAN_EMPTY:
    return fail(ld, line, k, "empty value (expected a whole number%s)",
                (k->flags & KF_BYTES) ? " of bytes" : "");
  case SCAN_NEGATIVE: return fail(ld, line, k, "'%s': must not be negative", quote(qb, v));
  case SCAN_TOO_LARGE: return fail(ld, line, k, "'%s': too large", quote(qb, v));
  default:
    if ((k->flags & KF_BYTES) && has_unit_suffix(v))
      return fail(ld, line, k, "'%s': sizes are plain numbers of bytes, without a unit",
                  quote(qb, v));
    return fail(ld, line, k, "'%s': not a whole number", quote(qb, v));
  }
  if (*out < k->umin)
    return fail(ld, line, k, "'%s': must be at least %llu", quote(qb, v),
                (unsigned long long)k->umin);
  if (k->umax && *out > k->umax)
    return fail(ld, line, k, "'%s': must be at most %llu", quote(qb, v),
                (unsigned long long)k->umax);
  return 0;
}

static int parse_u64(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  uint64_t n;
  (void)cont;
  if (check_uint(ld, k, v, &n)) return -1;
  *FIELD(ld, k, uint64_t) = n;
  return 0;
}

static int parse_size(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  char qb[QUOTE_MAX + 4];
  uint64_t n;
  (void)cont;
  if (check_uint(ld, k, v, &n)) return -1;
  if (n > SIZE_MAX) return fail(ld, ld->lineno, k, "'%s': too large", quote(qb, v));
  *FIELD(ld, k, size_t) = (size_t)n;
  return 0;
}

static int parse_seconds(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  char qb[QUOTE_MAX + 4];
  int line = ld->lineno, secs = (k->flags & KF_SECONDS) != 0;
  double d = 0;
  (void)cont;
  switch (scan_decimal(v, &d)) {
  case SCAN_OK: break;
  case SCAN_EMPTY:
    return fail(ld, line, k, "empty value (expected %s, e.g. 5 or 0.5)",
                secs ? "seconds" : "a number");
  case SCAN_NEGATIVE: return fail(ld, line, k, "'%s': must not be negative", quote(qb, v));
  case SCAN_TOO_LARGE: return fail(ld, line, k, "'%s': too large", quote(qb, v));
  default:
    if (secs && has_unit_suffix(v))
      return fail(ld, line, k,
                  "'%s': durations are plain seconds, without a unit "
                  "(0.5 = half a second)",
                  quote(qb, v));
    return fail(ld, line, k, "'%s': not a number", quote(qb, v));
  }
  if ((k->flags & KF_MIN_EXCL) && !(d > k->dmin))
    return fail(ld, line, k, "'%s': must be greater than %g", quote(qb, v), k->dmin);
  if (d < k->dmin) return fail(ld, line, k, "'%s': must be at least %g", quote(qb, v), k->dmin);
  if (d > k->dmax) return fail(ld, line, k, "'%s': must be at most %.0f", quote(qb, v), k->dmax);
  *FIELD(ld, k, double) = d;
  return 0;
}

static int parse_bool(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  static const char *const yes[] = {"on", "yes", "true", "1"};
  static const char *const no[] = {"off", "no", "false", "0"};
  char qb[QUOTE_MAX + 4];
  (void)cont;
  for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
    if (strcasecmp(v, yes[i]) == 0) return *FIELD(ld, k, int) = 1, 0;
    if (strcasecmp(v, no[i]) == 0) return *FIELD(ld, k, int) = 0, 0;
  }
  return fail(ld, ld->lineno, k, "'%s': expected on/off, yes/no, true/false or 1/0", quote(qb, v));
}

static int parse_log_level(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  char qb[QUOTE_MAX + 4];
  (void)cont;
  for (int l = LOG_ERROR; l <= LOG_DEBUG; l++)
    if (strcasecmp(v, config_log_level_name(l)) == 0) return *FIELD(ld, k, int) = l, 0;
  return fail(ld, ld->lineno, k, "'%s': expected error, warn, info or debug", quote(qb, v));
}

static int parse_dup(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  char qb[QUOTE_MAX + 4];
  (void)cont;
  if (strcasecmp(v, "replace") == 0) return *FIELD(ld, k, int) = DUP_REPLACE, 0;
  if (strcasecmp(v, "reject") == 0) return *FIELD(ld, k, int) = DUP_REJECT, 0;
  return fail(ld, ld->lineno, k, "'%s': expected replace or reject", quote(qb, v));
}

/* A URL path of RFC 3986 pchars and '/', without percent-encoding. */
static int is_path_char(int ch) {
  return isalnum(ch) || (ch && strchr("-._~!$&'()*+,;=:@/", ch));
}

static int parse_echo_path(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  /* Paths the server answers itself (PROTOCOL.md section 1); a prefix
   * ends in '/'. */
  static const char *const taken[] = {"/",        "/clients", "/rooms",   "/rooms/", "/healthz",
                                      "/metrics", "/static",  "/static/", "/ws",     "/ws/"};
  char qb[QUOTE_MAX + 4];
  (void)cont;
  if (!*v) return set_str(ld, FIELD(ld, k, char *), v);
  if (*v != '/')
    return fail(ld, ld->lineno, k, "'%s': must start with '/' (or be empty)", quote(qb, v));
  if (strlen(v) > 255)
    return fail(ld, ld->lineno, k, "'%s': longer than 255 characters", quote(qb, v));
  for (const char *p = v; *p; p++)
    if (!is_path_char((unsigned char)*p))
      return fail(ld, ld->lineno, k,
                  "'%s': a path of letters, digits and -._~!$&'()*+,;=:@/ "
                  "only",
                  quote(qb, v));
  for (size_t i = 0; i < sizeof taken / sizeof *taken; i++) {
    size_t n = strlen(taken[i]);
    int prefix = n > 1 && taken[i][n - 1] == '/';
    if (prefix ? strncmp(v, taken[i], n) == 0 : strcmp(v, taken[i]) == 0)
      return fail(ld, ld->lineno, k, "'%s': taken by the built-in route %s%s", quote(qb, v),
                  taken[i], prefix ? "..." : "");
  }
  return set_str(ld, FIELD(ld, k, char *), v);
}

/* Digits only, 0..max. 0 or -1. */
static int scan_port(const char *s, size_t n, int *out) {
  int v = 0;
  if (n == 0 || n > 5) return -1;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  if (v > 65535) return -1;
  *out = v;
  return 0;
}

/* Calls fn on each trimmed, non-empty comma-separated item of v. */
static int each_item(loader_t *ld, const key_def_t *k, const char *v,
                     int (*fn)(loader_t *, const key_def_t *, const char *)) {
  char item[256], qb[QUOTE_MAX + 4];
  while (*v) {
    const char *end = strchr(v, ',');
    size_t n = end ? (size_t)(end - v) : strlen(v);
    const char *s = v;
    while (n && isspace((unsigned char)*s))
      s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
      n--;
    if (n >= sizeof item) {
      memcpy(item, s, sizeof item - 1);
      item[sizeof item - 1] = '\0';
      return fail(ld, ld->lineno, k, "'%s': too long", quote(qb, item));
    }
    memcpy(item, s, n);
    item[n] = '\0';
    if (n && fn(ld, k, item)) return -1;
    v = end ? end + 1 : v + strlen(v);
  }
  return 0;
}

static int listen_item(loader_t *ld, const key_def_t *k, const char *item) {
  config_t *c = &ld->c;
  config_listen_t a;
  char qb[QUOTE_MAX + 4], host[64];
  const char *port;
  size_t hl;

  memset(&a, 0, sizeof a);
  if (item[0] == '[') {
    struct in6_addr a6;
    const char *rb = strchr(item, ']');
    if (!rb) return fail(ld, ld->lineno, k, "'%s': missing ']'", quote(qb, item));
    if (rb[1] != ':')
      return fail(ld, ld->lineno, k,
                  rb[1] ? "'%s': expected :port after ']'"
                        : "'%s': missing port (expected [address]:port)",
                  quote(qb, item));
    hl = (size_t)(rb - item - 1);
    if (hl >= sizeof host) hl = sizeof host - 1; /* inet_pton will refuse */
    memcpy(host, item + 1, hl);
    host[hl] = '\0';
    if (inet_pton(AF_INET6, host, &a6) != 1)
      return fail(ld, ld->lineno, k, "'%s': not an IPv6 address", quote(qb, item));
    inet_ntop(AF_INET6, &a6, a.host, sizeof a.host);
    port = rb + 2;
  } else {
    struct in_addr a4;
    const char *colon = strrchr(item, ':');
    if (!colon)
      return fail(ld, ld->lineno, k, "'%s': missing port (expected host:port)", quote(qb, item));
    hl = (size_t)(colon - item);
    if (memchr(item, ':', hl))
      return fail(ld, ld->lineno, k, "'%s': write an IPv6 address in brackets, e.g. [::1]:8000",
                  quote(qb, item));
    if (hl >= sizeof host) hl = sizeof host - 1;
    memcpy(host, item, hl);
    host[hl] = '\0';
    if (hl == 0 || strcmp(host, "*") == 0)
      strcpy(a.host, "0.0.0.0");
    else if (strcasecmp(host, "localhost") == 0)
      strcpy(a.host, "localhost");
    else if (inet_pton(AF_INET, host, &a4) == 1)
      inet_ntop(AF_INET, &a4, a.host, sizeof a.host);
    else
      return fail(ld, ld->lineno, k,
                  "'%s': host must be an IP address, localhost or * "
                  "(names are not resolved)",
                  quote(qb, item));
    port = colon + 1;
  }
  if (!*port) return fail(ld, ld->lineno, k, "'%s': missing port", quote(qb, item));
  if (scan_port(port, strlen(port), &a.port))
    return fail(ld, ld->lineno, k, "'%s': port must be a number from 0 to 65535", quote(qb, item));
  for (size_t i = 0; i < c->n_listen; i++)
    if (a.port != 0 && c->listen[i].port == a.port && strcmp(c->listen[i].host, a.host) == 0)
      return fail(ld, ld->lineno, k, "'%s': listed twice", quote(qb, item));
  if (c->n_listen == CONFIG_MAX_LISTEN)
    return fail(ld, ld->lineno, k, "too many addresses (at most %d)", CONFIG_MAX_LISTEN);
  c->listen[c->n_listen++] = a;
  return 0;
}

static int parse_listen(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  /* An empty first line is fine when continuation lines follow; the check
   * for no address at all comes after the parse. */
  if (!cont) ld->c.n_listen = 0;
  return each_item(ld, k, v, listen_item);
}

/* A host name: letters, digits, '-', '.'; no empty label. */
static int is_hostname(const char *s, size_t n) {
  if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.') return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (!(isalnum(ch) || ch == '-' || ch == '.')) return 0;
    if (ch == '.' && s[i + 1] == '.') return 0;
  }
  return 1;
}

/* host[:port] or [v6][:port] at s: the host's length, or 0 when it is not
 * one; *rest points after it. */
static size_t scan_host(const char *s, const char **rest) {
  if (*s == '[') {
    char tmp[64];
    struct in6_addr a6;
    const char *rb = strchr(s, ']');
    size_t n;
    if (!rb) return 0;
    n = (size_t)(rb - s - 1);
    if (n == 0 || n >= sizeof tmp) return 0;
    memcpy(tmp, s + 1, n);
    tmp[n] = '\0';
    if (inet_pton(AF_INET6, tmp, &a6) != 1) return 0;
    *rest = rb + 1;
    return n + 2;
  }
  size_t n = strcspn(s, ":/?#@");
  if (!is_hostname(s, n)) return 0;
  *rest = s + n;
  return n;
}

static int origin_item(loader_t *ld, const key_def_t *k, const char *item) {
  config_t *c = &ld->c;
  char o[256], qb[QUOTE_MAX + 4];
  const char *host, *rest;
  size_t n = strlen(item), schemelen, hl;
  int port = 0, https;

  if (strcmp(item, "*") == 0) {
    n = 1;
    strcpy(o, "*");
  } else {
    for (size_t i = 0; i <= n; i++)
      o[i] = (char)tolower((unsigned char)item[i]);
    if (strncmp(o, "http://", 7) == 0) {
      https = 0, schemelen = 7;
    } else if (strncmp(o, "https://", 8) == 0) {
      https = 1, schemelen = 8;
    } else {
      return fail(ld, ld->lineno, k,
                  "'%s': expected * or scheme://host[:port], scheme http or "
                  "https",
                  quote(qb, item));
    }
    host = o + schemelen;
    hl = scan_host(host, &rest);
    if (!hl) return fail(ld, ld->lineno, k, "'%s': not a valid host", quote(qb, item));
    if (*rest == ':') {
      if (scan_port(rest + 1, strcspn(rest + 1, "/?#"), &port) || port == 0)
        return fail(ld, ld->lineno, k, "'%s': port must be a number from 1 to 65535",
                    quote(qb, item));
      rest += 1 + strcspn(rest + 1, "/?#");
    }
    if (*rest == '/')
      return fail(ld, ld->lineno, k, "'%s': an origin has no path (not even a trailing /)",
                  quote(qb, item));
    if (*rest) return fail(ld, ld->lineno, k, "'%s': not a valid origin", quote(qb, item));
    /* Browsers leave the default port out of Origin. */
    if ((https && port == 443) || (!https && port == 80)) o[schemelen + hl] = '\0';
  }
  if (c->n_origins == CONFIG_MAX_ORIGINS)
    return fail(ld, ld->lineno, k, "too many origins (at most %d)", CONFIG_MAX_ORIGINS);
  if (!(c->origins[c->n_origins] = strdup(o))) return oom(ld);
  c->n_origins++;
  return 0;
}

static void free_origins(config_t *c) {
  for (size_t i = 0; i < c->n_origins; i++)
    free(c->origins[i]);
  memset(c->origins, 0, sizeof c->origins);
  c->n_origins = 0;
}

static int parse_origins(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  if (!cont) free_origins(&ld->c);
  return each_item(ld, k, v, origin_item);
}

static int parse_secret_file(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  (void)k, (void)cont;
  return set_str(ld, &ld->secret_file, v);
}

static int parse_redis_url(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  char qb[QUOTE_MAX + 4];
  const char *rest;
  int port;
  (void)cont;
  if (!*v) return set_str(ld, FIELD(ld, k, char *), v);
  if (strncmp(v, "rediss://", 9) == 0)
    return fail(ld, ld->lineno, k, "'%s': rediss:// (TLS) is not supported", quote(qb, v));
  if (strchr(v, '@')) return fail(ld, ld->lineno, k, "credentials in redis_url are not supported");
  if (strncmp(v, "redis://", 8) != 0 || !scan_host(v + 8, &rest) || *rest != ':' ||
      scan_port(rest + 1, strcspn(rest + 1, "/"), &port) || port == 0)
    return fail(ld, ld->lineno, k, "'%s': expected redis://host:port[/db]", quote(qb, v));
  rest += 1 + strcspn(rest + 1, "/");
  if (*rest == '/') {
    uint64_t db;
    if (scan_uint(rest + 1, &db) != SCAN_OK || db > 0x7fffffff)
      return fail(ld, ld->lineno, k, "'%s': the database after '/' must be a number", quote(qb, v));
  }
  return set_str(ld, FIELD(ld, k, char *), v);
}

/* node_id, channel_prefix: they end up in Redis channel names and
 * messages, so a safe, printable alphabet. */
static int parse_ident(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  char qb[QUOTE_MAX + 4];
  size_t n = strlen(v);
  (void)cont;
  if ((k->flags & KF_NONEMPTY) && n == 0) return fail(ld, ld->lineno, k, "empty value");
  if (n > MAX_IDENT || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                 "abcdefghijklmnopqrstuvwxyz"
                                 "0123456789._:-") != n)
    return fail(ld, ld->lineno, k, "'%s': at most %d letters, digits and . _ : -", quote(qb, v),
                MAX_IDENT);
  return set_str(ld, FIELD(ld, k, char *), v);
}

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
  if (!(end = strchr(s, ']'))) return fail(ld, ld->lineno, NULL, "syntax error: '[' without ']'");
  for (after = end + 1; isspace((unsigned char)*after); after++) {
  }
  if (*after && !(*after == ';' || *after == '#'))
    return fail(ld, ld->lineno, NULL, "syntax error: text after ']'");
  n = (size_t)(end - s - 1);
  if (!is_section(s + 1, n)) {
    if (n > QUOTE_MAX) n = QUOTE_MAX;
    memcpy(name, s + 1, n);
    name[n] = '\0';
    return fail(ld, ld->lineno, NULL,
                "[%s]: unknown section (expected server, websocket, limits, "
                "security, tls or cluster)",
                quote(qb, name));
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
    if (ferror(ld->f)) fail(ld, 0, NULL, "read error: %s", strerror(errno ? errno : EIO));
    return NULL;
  }
  ld->lineno++;
  line = ld->buf;
  if (memchr(line, '\0', (size_t)n)) {
    fail(ld, ld->lineno, NULL, "NUL byte in line");
    return NULL;
  }
  if (ld->lineno == 1 && n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
    line += 3, n -= 3; /* UTF-8 BOM */
  if (n > 0 && line[n - 1] == '\n') n--;
  if (n > 0 && line[n - 1] == '\r') n--;
  line[n] = '\0';
  /* inih's buffer holds num - 1 bytes: the line, '\n' and NUL. */
  if (num < 3 || n > num - 2) {
    fail(ld, ld->lineno, NULL, "line too long (at most %d characters)", num - 2);
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
  quote(qs, section), quote(qn, name);
  for (size_t i = 0; i < N_KEYS; i++)
    if (strcmp(keys[i].name, name) == 0)
      return fail(ld, ld->lineno, NULL, "[%s] %s: unknown key (%s belongs in [%s])", qs, qn, qn,
                  keys[i].section);
  for (size_t i = 0; i < N_KEYS; i++)
    if (strcmp(keys[i].section, section) == 0 && strcasecmp(keys[i].name, name) == 0)
      return fail(ld, ld->lineno, NULL, "[%s] %s: unknown key (did you mean %s?)", qs, qn,
                  keys[i].name);
  return fail(ld, ld->lineno, NULL, "[%s] %s: unknown key", qs, qn);
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
    return fail(ld, ld->lineno, NULL, "%s: key outside any section (put it under [server], ...)",
                quote(qb, name)),
           0;
  if (!(k = find_key(section, name))) return unknown_key(ld, section, name), 0;
  idx = (int)(k - keys);
  if (ld->cont) {
    char *v;
    int r;
    if (!(k->flags & KF_LIST))
      return fail(ld, ld->lineno, k,
                  "indented line continues the value; only listen and "
                  "allowed_origins take continuation lines"),
             0;
    if (strchr(value, '='))
      return fail(ld, ld->lineno, k,
                  "indented line continues the value; to set another key, "
                  "remove the indentation"),
             0;
    if (!(v = strdup(value))) return oom(ld), 0;
    strip_comment(v);
    r = k->parse(ld, k, v, 1);
    free(v);
    return r == 0;
  }
  if (ld->key_line[idx])
    return fail(ld, ld->lineno, k, "set twice (first on line %d)", ld->key_line[idx]), 0;
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

  quote(qb, ld->secret_file);
  if ((fd = open(ld->secret_file, O_RDONLY | O_CLOEXEC)) < 0) {
    e = errno;
    return fail(ld, line, k, "cannot read '%s': %s", qb, strerror(e));
  }
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    close(fd);
    return fail(ld, line, k, "cannot read '%s': %s", qb, strerror(EISDIR));
  }
  if (!(buf = malloc(MAX_SECRET_FILE + 1))) {
    close(fd);
    return oom(ld);
  }
  for (;;) {
    ssize_t r = read(fd, buf + len, MAX_SECRET_FILE + 1 - len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      e = errno;
      close(fd);
      explicit_bzero(buf, len);
      free(buf);
      return fail(ld, line, k, "cannot read '%s': %s", qb, strerror(e));
    }
    if (r == 0 || (len += (size_t)r) > MAX_SECRET_FILE) break;
  }
  close(fd);
  if (len > MAX_SECRET_FILE || memchr(buf, '\0', len)) {
    explicit_bzero(buf, len);
    free(buf);
    return fail(ld, line, k,
                len > MAX_SECRET_FILE ? "'%s': larger than 64 KiB" : "'%s': contains a NUL byte",
                qb);
  }
  if (len && buf[len - 1] == '\n') len--;
  if (len && buf[len - 1] == '\r') len--;
  buf[len] = '\0';
  if (len == 0) {
    free(buf);
    return fail(ld, line, k, "'%s' is empty", qb);
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
    return fail(ld, ld->key_line[key], k, "cannot read '%s': %s", quote(qb, path), strerror(e));
  }
  e = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
  close(fd);
  if (e)
    return fail(ld, ld->key_line[key], k, "cannot read '%s': %s", quote(qb, path),
                strerror(EISDIR));
  return 0;
}

/* Checks that span keys, then reads files named by the config. */
static int finish(loader_t *ld) {
  config_t *c = &ld->c;
  int *kl = ld->key_line;

  if (kl[K_LISTEN] && c->n_listen == 0)
    return fail(ld, kl[K_LISTEN], &keys[K_LISTEN], "empty value (expected host:port)");
  if (*c->auth_secret && ld->secret_file && *ld->secret_file) {
    int later = kl[K_AUTH_SECRET_FILE] > kl[K_AUTH_SECRET] ? K_AUTH_SECRET_FILE : K_AUTH_SECRET;
    int other = later == K_AUTH_SECRET ? K_AUTH_SECRET_FILE : K_AUTH_SECRET;
    return fail(ld, kl[later], &keys[later],
                "cannot be used together with %s (line %d); set only one", keys[other].name,
                kl[other]);
  }
  if (!*c->tls_cert != !*c->tls_key) {
    int set = *c->tls_cert ? K_TLS_CERT : K_TLS_KEY;
    int unset = set == K_TLS_CERT ? K_TLS_KEY : K_TLS_CERT;
    return fail(ld, kl[set], &keys[set], "%s is not set (set both cert and key, or neither)",
                keys[unset].name);
  }
  if (c->rate_limit > 0 && c->rate_burst < 1)
    return fail(ld, kl[K_RATE_BURST], &keys[K_RATE_BURST],
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
    oom(&ld);
    return -1;
  }
  if (!(ld.f = fopen(path, "re"))) {
    int e = errno;
    fail(&ld, 0, NULL, "cannot open: %s", strerror(e));
    goto out;
  }
  if (fstat(fileno(ld.f), &st) == 0 && S_ISDIR(st.st_mode)) {
    fail(&ld, 0, NULL, "cannot open: %s", strerror(EISDIR));
    goto out;
  }
  r = ini_parse_stream(ld_read, &ld, ld_handler, &ld);
  if (r == -2 && !ld.failed) oom(&ld);
  /* inih goes on after a line it cannot parse; our own first error, if
   * any, is on a later line. */
  if (r > 0 && (!ld.failed || r < ld.lineno)) {
    ld.failed = 0;
    fail(&ld, r, NULL,
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
  free_origins(c);
  free(c->auth_secret);
  free(c->tls_cert);
  free(c->tls_key);
  free(c->redis_url);
  free(c->node_id);
  free(c->channel_prefix);
  memset(c, 0, sizeof *c);
}

const char *config_log_level_name(int level) {
  switch (level) {
  case LOG_ERROR: return "error";
  case LOG_WARN: return "warn";
  case LOG_INFO: return "info";
  case LOG_DEBUG: return "debug";
  default: return "unknown";
  }
}

int config_load_or_defaults(const char *path, config_t *c, char *err, size_t errlen) {
  if (path) return config_load(path, c, err, errlen);
  if (config_defaults(c) == 0) return 0;
  snprintf(err, errlen, "out of memory");
  return -1;
}
