/* Reference versions of the small text helpers of protocol/handshake.c,
 * written independently and the obvious way, for the drivers to compare
 * against. ASCII only, NUL-safe, no locale. */
#ifndef FASTWS_FUZZ_REF_H
#define FASTWS_FUZZ_REF_H

#include <stddef.h>
#include <string.h>

#include "protocol/handshake.h"

/* ASCII-only, NUL-safe case-insensitive compare of n bytes. */
static inline int ascii_ieq(const char *a, const char *b, size_t n) {
  for (size_t k = 0; k < n; k++) {
    char x = a[k], y = b[k];
    if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = (char)(y - 'A' + 'a');
    if (x != y) return 0;
  }
  return 1;
}

static inline int ci_contains(slice_t s, const char *needle) {
  size_t n = strlen(needle);
  if (!s.base || s.len < n) return 0;
  for (size_t i = 0; i + n <= s.len; i++)
    if (ascii_ieq(s.base + i, needle, n)) return 1;
  return 0;
}

static inline int ref_token_list_has(slice_t list, const char *token) {
  size_t tl = strlen(token), i = 0;
  if (!list.base || !tl) return 0;
  while (i <= list.len) {
    size_t j = i;
    while (j < list.len && list.base[j] != ',')
      j++;
    size_t a = i, b = j;
    while (a < b && (list.base[a] == ' ' || list.base[a] == '\t'))
      a++;
    while (b > a && (list.base[b - 1] == ' ' || list.base[b - 1] == '\t'))
      b--;
    if (b - a == tl && ascii_ieq(list.base + a, token, tl)) return 1;
    i = j + 1;
  }
  return 0;
}

static inline int ref_id_valid(const char *s, size_t n) {
  static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.";
  if (n < 1 || n > WS_ID_MAX) return 0;
  for (size_t i = 0; i < n; i++)
    if (!s[i] || !strchr(ok, s[i])) return 0;
  return 1;
}

/* Percent-decoding as handshake.h specifies it: -1 for a malformed escape,
 * a decoded (or raw) NUL, or more than cap bytes of output. */
static inline long ref_percent_decode(const char *in, size_t n, char *out, size_t cap) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)in[i];
    if (c == '%') {
      if (n - i < 3) /* '%' and two more bytes */
        return -1;
      const char *h1, *h2;
      char a = in[i + 1], b = in[i + 2];
      if (a >= 'A' && a <= 'F') a = (char)(a - 'A' + 'a');
      if (b >= 'A' && b <= 'F') b = (char)(b - 'A' + 'a');
      if (!a || !b || !(h1 = strchr(hex, a)) || !(h2 = strchr(hex, b))) return -1;
      c = (unsigned char)((h1 - hex) * 16 + (h2 - hex));
      i += 2;
    }
    if (c == 0 || o >= cap) return -1;
    out[o++] = (char)c;
  }
  return (long)o;
}

#endif
