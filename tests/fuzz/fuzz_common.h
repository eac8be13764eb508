/* Shared helpers of the libFuzzer drivers (tests/fuzz/README.md).
 *
 * CHECK is an invariant of the code under test: when it fails the driver
 * prints what and where, then aborts, which libFuzzer reports as a crash
 * and saves as an artifact. Never assert() (NDEBUG would drop it). */
#ifndef FASTWS_FUZZ_COMMON_H
#define FASTWS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);                 \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

/* CHECK with both operands printed, for integer comparisons. */
#define CHECK_OP(a, op, b)                                                                         \
  do {                                                                                             \
    long long ca_ = (long long)(a), cb_ = (long long)(b);                                          \
    if (!(ca_ op cb_)) {                                                                           \
      fprintf(stderr, "%s:%d: invariant failed: %s %s %s (%lld vs %lld)\n", __FILE__, __LINE__,    \
              #a, #op, #b, ca_, cb_);                                                              \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

/* FNV-1a: a cheap digest to compare payloads of two runs. */
static inline uint64_t fuzz_hash(const uint8_t *p, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

/* xorshift, for chunk sizes derived from an input byte. */
static inline uint32_t fuzz_rand(uint32_t *s) {
  uint32_t x = *s ? *s : 0x9E3779B9u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  *s = x;
  return x;
}

/* An exact-size heap copy (at least one byte allocated), so ASan flags any
 * read past the end of what the code under test was given. */
static inline uint8_t *fuzz_dup(const uint8_t *p, size_t n) {
  uint8_t *d = malloc(n ? n : 1);
  if (!d) abort();
  if (n) memcpy(d, p, n);
  return d;
}

/* Reference UTF-8 check (RFC 3629), written the long way round, independent
 * of protocol/utf8.c. Returns -1 when the whole buffer is valid, else the
 * index of the first byte that proves it invalid (n when it is only cut
 * short at the end). */
static inline long fuzz_ref_utf8(const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t b = p[i];
    size_t need;
    uint32_t cp, min;
    if (b < 0x80) {
      i++;
      continue;
    } else if (b >= 0xC2 && b <= 0xDF) {
      need = 1, cp = b & 0x1F, min = 0x80;
    } else if (b >= 0xE0 && b <= 0xEF) {
      need = 2, cp = b & 0x0F, min = 0x800;
    } else if (b >= 0xF0 && b <= 0xF4) {
      need = 3, cp = b & 0x07, min = 0x10000;
    } else {
      return (long)i;
    }
    for (size_t k = 1; k <= need; k++) {
      if (i + k >= n) return (long)n;
      uint8_t c = p[i + k];
      if ((c & 0xC0) != 0x80) return (long)(i + k);
      cp = (cp << 6) | (c & 0x3F);
      /* Fail at the earliest byte that proves it: after the second byte
       * the leading bits of the code point are known. */
      if (k == 1) {
        uint32_t top = cp << (6 * (need - 1));
        uint32_t hi = top | ((1u << (6 * (need - 1))) - 1);
        if (hi < min || (top >= 0xD800 && top <= 0xDFFF) || top > 0x10FFFF) return (long)(i + k);
      }
    }
    i += need + 1;
  }
  return -1;
}

#endif
