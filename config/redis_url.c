/* [cluster] redis_url -> host, port, db: the one place the URL is parsed
 * (config.c validates with it at load time, the cluster uses the fields it
 * fills). Pure: libc only, nothing is resolved. */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "config/config.h"

#define V6_MAX 64 /* longest bracketed text tried as an IPv6 address */

/* A host name: letters, digits, '-', '.'; no empty label. */
static int is_hostname(const char *s, size_t n) {
  size_t i;
  if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.') return 0;
  for (i = 0; i < n; i++) {
    char ch = s[i];
    int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '-' || ch == '.';
    if (!ok) return 0;
    if (ch == '.' && i + 1 < n && s[i + 1] == '.') return 0;
  }
  return 1;
}

/* Digits only, n of them (1..5), 1..65535. */
static int scan_port(const char *s, size_t n, int *out) {
  int v = 0;
  size_t i;
  if (n == 0 || n > 5) return -1;
  for (i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  if (v == 0 || v > 65535) return -1;
  *out = v;
  return 0;
}

/* Digits only to the end of s, at most 0x7fffffff. */
static int scan_db(const char *s, int *out) {
  uint64_t v = 0;
  if (!*s) return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    v = v * 10 + (uint64_t)(*s - '0');
    if (v > 0x7fffffff) return -1;
  }
  *out = (int)v;
  return 0;
}

int config_parse_redis_url(const char *url, char *host, size_t hostcap, int *port, int *db) {
  const char *h, *hend, *rest;
  size_t n, plen;
  if (strncmp(url, "rediss://", 9) == 0) return CONFIG_REDIS_URL_TLS;
  if (strchr(url, '@')) return CONFIG_REDIS_URL_CREDENTIALS;
  if (strncmp(url, "redis://", 8) != 0) return CONFIG_REDIS_URL_FORMAT;
  h = url + 8;
  if (*h == '[') {
    char tmp[V6_MAX];
    struct in6_addr a6;
    if (!(hend = strchr(h, ']'))) return CONFIG_REDIS_URL_FORMAT;
    h++;
    n = (size_t)(hend - h);
    if (n == 0 || n >= sizeof tmp) return CONFIG_REDIS_URL_FORMAT;
    memcpy(tmp, h, n);
    tmp[n] = '\0';
    if (inet_pton(AF_INET6, tmp, &a6) != 1) return CONFIG_REDIS_URL_FORMAT;
    rest = hend + 1;
  } else {
    n = strcspn(h, ":/?#@");
    if (!is_hostname(h, n)) return CONFIG_REDIS_URL_FORMAT;
    rest = h + n;
  }
  if (*rest != ':') return CONFIG_REDIS_URL_FORMAT;
  plen = strcspn(rest + 1, "/");
  if (scan_port(rest + 1, plen, port) != 0) return CONFIG_REDIS_URL_FORMAT;
  if (n >= hostcap) return CONFIG_REDIS_URL_FORMAT;
  memcpy(host, h, n);
  host[n] = '\0';
  rest += 1 + plen;
  *db = 0;
  if (*rest == '/' && scan_db(rest + 1, db) != 0) return CONFIG_REDIS_URL_DB;
  return CONFIG_REDIS_URL_OK;
}
