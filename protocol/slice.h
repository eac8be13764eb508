/* A borrowed (pointer, length) view of bytes, as h2o's h2o_iovec_t: header
 * values, ids, room names and payloads are passed this way instead of as
 * NUL-terminated strings. A slice never owns what it points at. */
#ifndef FASTWS_SLICE_H
#define FASTWS_SLICE_H

#include <stddef.h>
#include <string.h>

typedef struct {
  const char *base;
  size_t len;
} slice_t;

static inline slice_t slice_make(const char *base, size_t len) {
  slice_t s = {base, len};
  return s;
}

static inline slice_t slice_cstr(const char *s) {
  return slice_make(s, s ? strlen(s) : 0);
}

static inline int slice_eq(slice_t a, slice_t b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.base, b.base, a.len) == 0);
}

#endif
