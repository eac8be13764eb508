/* Reference-counted output buffers and the per-connection queue of them.
 *
 * A broadcast encodes and frames its envelope once into one obuf, then
 * queues a reference on every recipient: no per-recipient copy. An obuf is
 * owned jointly by the queues that reference it; the last obuf_unref frees
 * it. */
#ifndef FASTWS_OBUF_H
#define FASTWS_OBUF_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct {
  uint32_t refs;
  uint32_t len;
  uint32_t size_class; /* pool it returns to, OBUF_UNPOOLED for big ones */
  uint8_t data[];
} obuf_t;

#define OBUF_UNPOOLED 0xffffffffu

/* A new buffer of len bytes (contents undefined) with one reference, or
 * NULL on ENOMEM. */
obuf_t *obuf_new(size_t len);
obuf_t *obuf_from(const void *p, size_t len);
static inline obuf_t *obuf_ref(obuf_t *b) {
  b->refs++;
  return b;
}
void obuf_unref(obuf_t *b);

/* The bytes a connection still has to send: a ring of (buffer, offset)
 * entries. Owned by its connection; outq_free drops every reference.
 * Zero-initialised == empty, and an empty queue holds no heap memory. */
typedef struct {
  obuf_t *b;
  uint32_t off; /* bytes of b already written */
} outq_entry_t;

typedef struct {
  outq_entry_t *ring;
  uint32_t cap, head, count;
  uint64_t bytes; /* unsent bytes in the queue */
} outq_t;

/* Queues a reference to b (taking one: the caller keeps its own). 0 or -1
 * on ENOMEM. */
int outq_push(outq_t *q, obuf_t *b);

/* Marks n bytes from the front as written, unreferencing finished buffers. */
void outq_consume(outq_t *q, uint64_t n);

/* Fills bufs with up to max buffers from the front of the queue; returns
 * how many. */
size_t outq_peek(const outq_t *q, uv_buf_t *bufs, size_t max);

/* Drops every entry after the first `keep` ones and after a partly written
 * first one (so the stream stays framed); returns the bytes dropped. */
uint64_t outq_drop_tail(outq_t *q, uint32_t keep);

void outq_free(outq_t *q);

/* Returns the pooled buffers and rings to the allocator (at exit, so
 * leak checkers see a clean heap). */
void obuf_pool_drain(void);

#endif
