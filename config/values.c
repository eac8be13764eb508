/* The value parsers of the config keys and their error reporting: each
 * checks one value and stores it in the config being built. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/loader.h"

/* ---- errors ---- */

/* Records the first error: "PATH:LINE: [section] key: msg"; line 0 leaves
 * out the line, k NULL the key. Returns -1 so parsers can return cfg_fail(). */
__attribute__((format(printf, 4, 5))) int cfg_fail(loader_t *ld, int line, const key_def_t *k,
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
const char *cfg_quote(char out[QUOTE_MAX + 4], const char *s) {
  size_t i;
  for (i = 0; s[i] && i < QUOTE_MAX; i++)
    out[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
  if (s[i]) memcpy(out + i, "...", 3), i += 3;
  out[i] = '\0';
  return out;
}

int cfg_oom(loader_t *ld) {
  return cfg_fail(ld, 0, NULL, "out of memory");
}

/* ---- scanning numbers ---- */

enum { SCAN_OK, SCAN_EMPTY, SCAN_NEGATIVE, SCAN_JUNK, SCAN_TOO_LARGE };

/* A plain non-negative decimal integer: digits only. */
int cfg_scan_uint(const char *s, uint64_t *out) {
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
int cfg_scan_decimal(const char *s, double *out) {
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
int cfg_has_unit_suffix(const char *s) {
  if (!isdigit((unsigned char)*s)) return 0;
  while (isdigit((unsigned char)*s) || *s == '.')
    s++;
  if (!*s) return 0;
  while (isalpha((unsigned char)*s))
    s++;
  return *s == '\0';
}

/* ---- value parsers ---- */

int cfg_set_str(loader_t *ld, char **field, const char *v) {
  char *s = strdup(v);
  if (!s) return cfg_oom(ld);
  if (*field) {
    explicit_bzero(*field, strlen(*field)); /* it may be a secret */
    free(*field);
  }
  *field = s;
  return 0;
}

int cfg_parse_str(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  (void)cont;
  if ((k->flags & KF_NONEMPTY) && !*v) return cfg_fail(ld, ld->lineno, k, "empty value");
  return cfg_set_str(ld, FIELD(ld, k, char *), v);
}

int cfg_check_uint(loader_t *ld, const key_def_t *k, const char *v, uint64_t *out) {
  char qb[QUOTE_MAX + 4];
  int line = ld->lineno;
  switch (cfg_scan_uint(v, out)) {
  case SCAN_OK: break;
  case SCAN_EMPTY:
    return cfg_fail(ld, line, k, "empty value (expected a whole number%s)",
                (k->flags & KF_BYTES) ? " of bytes" : "");
  case SCAN_NEGATIVE: return cfg_fail(ld, line, k, "'%s': must not be negative", cfg_quote(qb, v));
  case SCAN_TOO_LARGE: return cfg_fail(ld, line, k, "'%s': too large", cfg_quote(qb, v));
  default:
    if ((k->flags & KF_BYTES) && cfg_has_unit_suffix(v))
      return cfg_fail(ld, line, k, "'%s': sizes are plain numbers of bytes, without a unit",
                  cfg_quote(qb, v));
    return cfg_fail(ld, line, k, "'%s': not a whole number", cfg_quote(qb, v));
  }
  if (*out < k->umin)
    return cfg_fail(ld, line, k, "'%s': must be at least %llu", cfg_quote(qb, v),
                (unsigned long long)k->umin);
  if (k->umax && *out > k->umax)
    return cfg_fail(ld, line, k, "'%s': must be at most %llu", cfg_quote(qb, v),
                (unsigned long long)k->umax);
  return 0;
}

int cfg_parse_u64(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  uint64_t n;
  (void)cont;
  if (cfg_check_uint(ld, k, v, &n)) return -1;
  *FIELD(ld, k, uint64_t) = n;
  return 0;
}

int cfg_parse_size(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  char qb[QUOTE_MAX + 4];
  uint64_t n;
  (void)cont;
  if (cfg_check_uint(ld, k, v, &n)) return -1;
  if (n > SIZE_MAX) return cfg_fail(ld, ld->lineno, k, "'%s': too large", cfg_quote(qb, v));
  *FIELD(ld, k, size_t) = (size_t)n;
  return 0;
}

int cfg_parse_seconds(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  char qb[QUOTE_MAX + 4];
  int line = ld->lineno, secs = (k->flags & KF_SECONDS) != 0;
  double d = 0;
  (void)cont;
  switch (cfg_scan_decimal(v, &d)) {
  case SCAN_OK: break;
  case SCAN_EMPTY:
    return cfg_fail(ld, line, k, "empty value (expected %s, e.g. 5 or 0.5)",
                secs ? "seconds" : "a number");
  case SCAN_NEGATIVE: return cfg_fail(ld, line, k, "'%s': must not be negative", cfg_quote(qb, v));
  case SCAN_TOO_LARGE: return cfg_fail(ld, line, k, "'%s': too large", cfg_quote(qb, v));
  default:
    if (secs && cfg_has_unit_suffix(v))
      return cfg_fail(ld, line, k,
                  "'%s': durations are plain seconds, without a unit "
                  "(0.5 = half a second)",
                  cfg_quote(qb, v));
    return cfg_fail(ld, line, k, "'%s': not a number", cfg_quote(qb, v));
  }
  if ((k->flags & KF_MIN_EXCL) && !(d > k->dmin))
    return cfg_fail(ld, line, k, "'%s': must be greater than %g", cfg_quote(qb, v), k->dmin);
  if (d < k->dmin) return cfg_fail(ld, line, k, "'%s': must be at least %g", cfg_quote(qb, v), k->dmin);
  if (d > k->dmax) return cfg_fail(ld, line, k, "'%s': must be at most %.0f", cfg_quote(qb, v), k->dmax);
  *FIELD(ld, k, double) = d;
  return 0;
}

int cfg_parse_bool(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  static const char *const yes[] = {"on", "yes", "true", "1"};
  static const char *const no[] = {"off", "no", "false", "0"};
  char qb[QUOTE_MAX + 4];
  (void)cont;
  for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
    if (strcasecmp(v, yes[i]) == 0) return *FIELD(ld, k, int) = 1, 0;
    if (strcasecmp(v, no[i]) == 0) return *FIELD(ld, k, int) = 0, 0;
  }
  return cfg_fail(ld, ld->lineno, k, "'%s': expected on/off, yes/no, true/false or 1/0", cfg_quote(qb, v));
}

int cfg_parse_log_level(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  char qb[QUOTE_MAX + 4];
  (void)cont;
  for (int l = LOG_ERROR; l <= LOG_DEBUG; l++)
    if (strcasecmp(v, config_log_level_name(l)) == 0) return *FIELD(ld, k, int) = l, 0;
  return cfg_fail(ld, ld->lineno, k, "'%s': expected error, warn, info or debug", cfg_quote(qb, v));
}

int cfg_parse_dup(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  char qb[QUOTE_MAX + 4];
  (void)cont;
  if (strcasecmp(v, "replace") == 0) return *FIELD(ld, k, int) = DUP_REPLACE, 0;
  if (strcasecmp(v, "reject") == 0) return *FIELD(ld, k, int) = DUP_REJECT, 0;
  return cfg_fail(ld, ld->lineno, k, "'%s': expected replace or reject", cfg_quote(qb, v));
}

/* A URL path of RFC 3986 pchars and '/', without percent-encoding. */
int cfg_is_path_char(int ch) {
  return isalnum(ch) || (ch && strchr("-._~!$&'()*+,;=:@/", ch));
}

int cfg_parse_echo_path(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  /* Paths the server answers itself (PROTOCOL.md section 1); a prefix
   * ends in '/'. */
  static const char *const taken[] = {"/",        "/clients", "/rooms",   "/rooms/", "/healthz",
                                      "/metrics", "/static",  "/static/", "/ws",     "/ws/"};
  char qb[QUOTE_MAX + 4];
  (void)cont;
  if (!*v) return cfg_set_str(ld, FIELD(ld, k, char *), v);
  if (*v != '/')
    return cfg_fail(ld, ld->lineno, k, "'%s': must start with '/' (or be empty)", cfg_quote(qb, v));
  if (strlen(v) > 255)
    return cfg_fail(ld, ld->lineno, k, "'%s': longer than 255 characters", cfg_quote(qb, v));
  for (const char *p = v; *p; p++)
    if (!cfg_is_path_char((unsigned char)*p))
      return cfg_fail(ld, ld->lineno, k,
                  "'%s': a path of letters, digits and -._~!$&'()*+,;=:@/ "
                  "only",
                  cfg_quote(qb, v));
  for (size_t i = 0; i < sizeof taken / sizeof *taken; i++) {
    size_t n = strlen(taken[i]);
    int prefix = n > 1 && taken[i][n - 1] == '/';
    if (prefix ? strncmp(v, taken[i], n) == 0 : strcmp(v, taken[i]) == 0)
      return cfg_fail(ld, ld->lineno, k, "'%s': taken by the built-in route %s%s", cfg_quote(qb, v),
                  taken[i], prefix ? "..." : "");
  }
  return cfg_set_str(ld, FIELD(ld, k, char *), v);
}

/* Digits only, 0..max. 0 or -1. */
int cfg_scan_port(const char *s, size_t n, int *out) {
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
int cfg_each_item(loader_t *ld, const key_def_t *k, const char *v,
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
      return cfg_fail(ld, ld->lineno, k, "'%s': too long", cfg_quote(qb, item));
    }
    memcpy(item, s, n);
    item[n] = '\0';
    if (n && fn(ld, k, item)) return -1;
    v = end ? end + 1 : v + strlen(v);
  }
  return 0;
}

int cfg_listen_item(loader_t *ld, const key_def_t *k, const char *item) {
  config_t *c = &ld->c;
  config_listen_t a;
  char qb[QUOTE_MAX + 4], host[64];
  const char *port;
  size_t hl;

  memset(&a, 0, sizeof a);
  if (item[0] == '[') {
    struct in6_addr a6;
    const char *rb = strchr(item, ']');
    if (!rb) return cfg_fail(ld, ld->lineno, k, "'%s': missing ']'", cfg_quote(qb, item));
    if (rb[1] != ':')
      return cfg_fail(ld, ld->lineno, k,
                  rb[1] ? "'%s': expected :port after ']'"
                        : "'%s': missing port (expected [address]:port)",
                  cfg_quote(qb, item));
    hl = (size_t)(rb - item - 1);
    if (hl >= sizeof host) hl = sizeof host - 1; /* inet_pton will refuse */
    memcpy(host, item + 1, hl);
    host[hl] = '\0';
    if (inet_pton(AF_INET6, host, &a6) != 1)
      return cfg_fail(ld, ld->lineno, k, "'%s': not an IPv6 address", cfg_quote(qb, item));
    inet_ntop(AF_INET6, &a6, a.host, sizeof a.host);
    port = rb + 2;
  } else {
    struct in_addr a4;
    const char *colon = strrchr(item, ':');
    if (!colon)
      return cfg_fail(ld, ld->lineno, k, "'%s': missing port (expected host:port)", cfg_quote(qb, item));
    hl = (size_t)(colon - item);
    if (memchr(item, ':', hl))
      return cfg_fail(ld, ld->lineno, k, "'%s': write an IPv6 address in brackets, e.g. [::1]:8000",
                  cfg_quote(qb, item));
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
      return cfg_fail(ld, ld->lineno, k,
                  "'%s': host must be an IP address, localhost or * "
                  "(names are not resolved)",
                  cfg_quote(qb, item));
    port = colon + 1;
  }
  if (!*port) return cfg_fail(ld, ld->lineno, k, "'%s': missing port", cfg_quote(qb, item));
  if (cfg_scan_port(port, strlen(port), &a.port))
    return cfg_fail(ld, ld->lineno, k, "'%s': port must be a number from 0 to 65535", cfg_quote(qb, item));
  for (size_t i = 0; i < c->n_listen; i++)
    if (a.port != 0 && c->listen[i].port == a.port && strcmp(c->listen[i].host, a.host) == 0)
      return cfg_fail(ld, ld->lineno, k, "'%s': listed twice", cfg_quote(qb, item));
  if (c->n_listen == CONFIG_MAX_LISTEN)
    return cfg_fail(ld, ld->lineno, k, "too many addresses (at most %d)", CONFIG_MAX_LISTEN);
  c->listen[c->n_listen++] = a;
  return 0;
}

int cfg_parse_listen(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  /* An empty first line is fine when continuation lines follow; the check
   * for no address at all comes after the parse. */
  if (!cont) ld->c.n_listen = 0;
  return cfg_each_item(ld, k, v, cfg_listen_item);
}

/* A host name: letters, digits, '-', '.'; no empty label. */
int cfg_is_hostname(const char *s, size_t n) {
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
size_t cfg_scan_host(const char *s, const char **rest) {
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
  if (!cfg_is_hostname(s, n)) return 0;
  *rest = s + n;
  return n;
}

int cfg_origin_item(loader_t *ld, const key_def_t *k, const char *item) {
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
      return cfg_fail(ld, ld->lineno, k,
                  "'%s': expected * or scheme://host[:port], scheme http or "
                  "https",
                  cfg_quote(qb, item));
    }
    host = o + schemelen;
    hl = cfg_scan_host(host, &rest);
    if (!hl) return cfg_fail(ld, ld->lineno, k, "'%s': not a valid host", cfg_quote(qb, item));
    if (*rest == ':') {
      if (cfg_scan_port(rest + 1, strcspn(rest + 1, "/?#"), &port) || port == 0)
        return cfg_fail(ld, ld->lineno, k, "'%s': port must be a number from 1 to 65535",
                    cfg_quote(qb, item));
      rest += 1 + strcspn(rest + 1, "/?#");
    }
    if (*rest == '/')
      return cfg_fail(ld, ld->lineno, k, "'%s': an origin has no path (not even a trailing /)",
                  cfg_quote(qb, item));
    if (*rest) return cfg_fail(ld, ld->lineno, k, "'%s': not a valid origin", cfg_quote(qb, item));
    /* Browsers leave the default port out of Origin. */
    if ((https && port == 443) || (!https && port == 80)) o[schemelen + hl] = '\0';
  }
  if (c->n_origins == CONFIG_MAX_ORIGINS)
    return cfg_fail(ld, ld->lineno, k, "too many origins (at most %d)", CONFIG_MAX_ORIGINS);
  if (!(c->origins[c->n_origins] = strdup(o))) return cfg_oom(ld);
  c->n_origins++;
  return 0;
}

void cfg_free_origins(config_t *c) {
  for (size_t i = 0; i < c->n_origins; i++)
    free(c->origins[i]);
  memset(c->origins, 0, sizeof c->origins);
  c->n_origins = 0;
}

int cfg_parse_origins(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  if (!cont) cfg_free_origins(&ld->c);
  return cfg_each_item(ld, k, v, cfg_origin_item);
}

int cfg_parse_secret_file(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  (void)k, (void)cont;
  return cfg_set_str(ld, &ld->secret_file, v);
}

int cfg_parse_redis_url(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  char qb[QUOTE_MAX + 4];
  config_t *c = &ld->c;
  (void)cont;
  c->redis_host[0] = '\0';
  c->redis_port = c->redis_db = 0;
  if (!*v) return cfg_set_str(ld, FIELD(ld, k, char *), v);
  switch (config_parse_redis_url(v, c->redis_host, sizeof c->redis_host, &c->redis_port,
                                 &c->redis_db)) {
  case CONFIG_REDIS_URL_OK: break;
  case CONFIG_REDIS_URL_TLS:
    return cfg_fail(ld, ld->lineno, k, "'%s': rediss:// (TLS) is not supported", cfg_quote(qb, v));
  case CONFIG_REDIS_URL_CREDENTIALS:
    return cfg_fail(ld, ld->lineno, k, "credentials in redis_url are not supported");
  case CONFIG_REDIS_URL_DB:
    return cfg_fail(ld, ld->lineno, k, "'%s': the database after '/' must be a number", cfg_quote(qb, v));
  default: return cfg_fail(ld, ld->lineno, k, "'%s': expected redis://host:port[/db]", cfg_quote(qb, v));
  }
  return cfg_set_str(ld, FIELD(ld, k, char *), v);
}

/* node_id, channel_prefix: they end up in Redis channel names and
 * messages, so a safe, printable alphabet. */
int cfg_parse_ident(loader_t *ld, const key_def_t *k, const char *v, int cont) {
  char qb[QUOTE_MAX + 4];
  size_t n = strlen(v);
  (void)cont;
  if ((k->flags & KF_NONEMPTY) && n == 0) return cfg_fail(ld, ld->lineno, k, "empty value");
  if (n > MAX_IDENT || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                 "abcdefghijklmnopqrstuvwxyz"
                                 "0123456789._:-") != n)
    return cfg_fail(ld, ld->lineno, k, "'%s': at most %d letters, digits and . _ : -", cfg_quote(qb, v),
                MAX_IDENT);
  return cfg_set_str(ld, FIELD(ld, k, char *), v);
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
