#include "server/net/obuf.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* The steady state of a chat server frames one message after another of
 * similar sizes, and every recipient's queue fills and empties per loop
 * turn: small free lists per size class keep malloc off that path. Each
 * list is bounded, so a burst does not pin memory for good. */
static const uint32_t class_size[] = {256, 1024, 4096, 16384};
#define N_CLASSES          (sizeof class_size / sizeof class_size[0])
#define POOL_MAX_PER_CLASS 256
#define RING_POOL_CAP      4    /* the smallest ring; rings double from it */
#define RING_CLASSES       7    /* pooled rings: 4 .. 256 entries */
#define RING_POOL_MAX      1024 /* free rings kept per class */

typedef union pool_node {
  union pool_node *next;
  obuf_t buf;
} pool_node_t;

static pool_node_t *pool[N_CLASSES];
static uint32_t pool_len[N_CLASSES];
/* Free rings by capacity class (4 << class entries), linked through their
 * first entry: a queue empties and refills every loop turn under load, so
 * its ring comes back here rather than to malloc. */
static void *ring_pool[RING_CLASSES];
static uint32_t ring_pool_len[RING_CLASSES];

static int ring_class(uint32_t cap) {
  int cls = 0;
  while (cls < RING_CLASSES && (uint32_t)RING_POOL_CAP << cls != cap)
    cls++;
  return cls < RING_CLASSES ? cls : -1;
}

obuf_t *obuf_new(size_t len) {
  obuf_t *b;
  uint32_t cls;
  if (len > UINT32_MAX - sizeof *b) return NULL;
  for (cls = 0; cls < N_CLASSES && sizeof *b + len > class_size[cls]; cls++) {
  }
  if (cls < N_CLASSES && pool[cls]) {
    b = &pool[cls]->buf;
    pool[cls] = pool[cls]->next;
    pool_len[cls]--;
  } else {
    b = malloc(cls < N_CLASSES ? class_size[cls] : sizeof *b + len);
    if (!b) return NULL;
  }
  b->refs = 1;
  b->len = (uint32_t)len;
  b->size_class = cls < N_CLASSES ? cls : OBUF_UNPOOLED;
  return b;
}

static void obuf_release(obuf_t *b) {
  uint32_t cls = b->size_class;
  if (cls != OBUF_UNPOOLED && pool_len[cls] < POOL_MAX_PER_CLASS) {
    pool_node_t *n = (pool_node_t *)b;
    n->next = pool[cls];
    pool[cls] = n;
    pool_len[cls]++;
    return;
  }
  free(b);
}

obuf_t *obuf_from(const void *p, size_t len) {
  obuf_t *b = obuf_new(len);
  if (b && len) memcpy(b->data, p, len);
  return b;
}

void obuf_unref(obuf_t *b) {
  if (b && --b->refs == 0) obuf_release(b);
}

static outq_entry_t *ring_alloc(uint32_t cap) {
  int cls = ring_class(cap);
  if (cls >= 0 && ring_pool[cls]) {
    outq_entry_t *r = ring_pool[cls];
    ring_pool[cls] = *(void **)r;
    ring_pool_len[cls]--;
    return r;
  }
  return malloc(sizeof(outq_entry_t) * cap);
}

static void ring_release(outq_entry_t *r, uint32_t cap) {
  int cls = ring_class(cap);
  if (cls >= 0 && ring_pool_len[cls] < RING_POOL_MAX) {
    *(void **)r = ring_pool[cls];
    ring_pool[cls] = r;
    ring_pool_len[cls]++;
    return;
  }
  free(r);
}

void obuf_pool_drain(void) {
  uint32_t i;
  for (i = 0; i < N_CLASSES; i++) {
    while (pool[i]) {
      pool_node_t *n = pool[i];
      pool[i] = n->next;
      free(n);
    }
    pool_len[i] = 0;
  }
  for (i = 0; i < RING_CLASSES; i++) {
    while (ring_pool[i]) {
      void *r = ring_pool[i];
      ring_pool[i] = *(void **)r;
      free(r);
    }
    ring_pool_len[i] = 0;
  }
}

static int outq_grow(outq_t *q) {
  uint32_t ncap = q->cap ? q->cap * 2 : RING_POOL_CAP;
  outq_entry_t *n = ring_alloc(ncap);
  uint32_t i;
  if (!n) return -1;
  for (i = 0; i < q->count; i++)
    n[i] = q->ring[(q->head + i) % q->cap];
  if (q->ring) ring_release(q->ring, q->cap);
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
    ring_release(q->ring, q->cap);
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
  if (q->ring) ring_release(q->ring, q->cap);
  memset(q, 0, sizeof *q);
}
