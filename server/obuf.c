#include "obuf.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

obuf_t *obuf_new(size_t len) {
  obuf_t *b;
  if (len > UINT32_MAX) return NULL;
  b = malloc(sizeof *b + len);
  if (!b) return NULL;
  b->refs = 1;
  b->len = (uint32_t)len;
  return b;
}

obuf_t *obuf_from(const void *p, size_t len) {
  obuf_t *b = obuf_new(len);
  if (b && len) memcpy(b->data, p, len);
  return b;
}

void obuf_unref(obuf_t *b) {
  if (b && --b->refs == 0) free(b);
}

static int outq_grow(outq_t *q) {
  uint32_t ncap = q->cap ? q->cap * 2 : 4;
  outq_entry_t *n = malloc(sizeof *n * ncap);
  uint32_t i;
  if (!n) return -1;
  for (i = 0; i < q->count; i++) n[i] = q->ring[(q->head + i) % q->cap];
  free(q->ring);
  q->ring = n;
  q->cap = ncap;
  q->head = 0;
  return 0;
}

int outq_push(outq_t *q, obuf_t *b) {
  if (b->len == 0) return 0;
  if (q->count == q->cap && outq_grow(q) != 0) return -1;
  q->ring[(q->head + q->count) % q->cap] = (outq_entry_t){obuf_ref(b), 0};
  q->count++;
  q->bytes += b->len;
  return 0;
}

/* An emptied queue gives its ring back: idle connections hold no heap. */
static void outq_release_if_empty(outq_t *q) {
  if (q->count == 0 && q->ring) {
    free(q->ring);
    q->ring = NULL;
    q->cap = q->head = 0;
  }
}

void outq_consume(outq_t *q, uint64_t n) {
  q->bytes -= n < q->bytes ? n : q->bytes;
  while (n > 0 && q->count > 0) {
    outq_entry_t *e = &q->ring[q->head];
    uint64_t left = e->b->len - e->off;
    if (n < left) {
      e->off += (uint32_t)n;
      return;
    }
    n -= left;
    obuf_unref(e->b);
    q->head = (q->head + 1) % q->cap;
    q->count--;
  }
  outq_release_if_empty(q);
}

size_t outq_peek(const outq_t *q, uv_buf_t *out, size_t max) {
  size_t i;
  for (i = 0; i < q->count && i < max; i++) {
    const outq_entry_t *e = &q->ring[(q->head + i) % q->cap];
    out[i] = uv_buf_init((char *)e->b->data + e->off, e->b->len - e->off);
  }
  return i;
}

uint64_t outq_drop_tail(outq_t *q, uint32_t keep) {
  uint64_t dropped = 0;
  if (keep == 0 && q->count > 0 && q->ring[q->head].off > 0) keep = 1;
  while (q->count > keep) {
    outq_entry_t *e = &q->ring[(q->head + q->count - 1) % q->cap];
    dropped += e->b->len - e->off;
    obuf_unref(e->b);
    q->count--;
  }
  q->bytes -= dropped;
  outq_release_if_empty(q);
  return dropped;
}

void outq_free(outq_t *q) {
  while (q->count > 0) {
    obuf_unref(q->ring[q->head].b);
    q->head = (q->head + 1) % q->cap;
    q->count--;
  }
  free(q->ring);
  memset(q, 0, sizeof *q);
}
