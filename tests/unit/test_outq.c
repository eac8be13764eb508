/* Unit tests for server/net/obuf.c: reference-counted output buffers and
 * the per-connection ring of them (outq_t).
 *
 * h2o style: the .c under test is included, so the tests see the ring's
 * head and capacity and the buffer pools. A buffer whose last reference
 * drops goes back to its size class's free list, and the next obuf_new of
 * that class hands the same block out again: that is how the tests see
 * that a buffer was released (the pointer is compared, never read). The
 * group teardown drains the pools, so valgrind sees a clean heap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/net/obuf.c"

/* ---- helpers ---- */

/* A buffer of len bytes, every byte c, with the caller's one reference. */
static obuf_t *mk(size_t len, char c) {
  obuf_t *b = obuf_new(len);
  assert_non_null(b);
  memset(b->data, c, len);
  return b;
}

/* Queues b and drops the caller's reference: the queue owns it. */
static void push_owned(outq_t *q, obuf_t *b) {
  assert_int_equal(outq_push(q, b), 0);
  obuf_unref(b);
}

/* 1 when b's block was released: the next buffer of its size class is
 * the same block (the pools are LIFO). The probe is released again. */
static int was_released(const obuf_t *b, size_t len) {
  obuf_t *probe = obuf_new(len);
  int same = probe == b;
  assert_non_null(probe);
  obuf_unref(probe);
  return same;
}

typedef struct {
  const obuf_t *b;
  uint32_t off;
} want_t;

/* The queue's front-to-back contents are exactly want[0..n). */
static void assert_queue(const outq_t *q, const want_t *want, size_t n) {
  uv_buf_t bufs[64];
  uint64_t bytes = 0;
  size_t i, got;
  assert_true(n < 64);
  assert_int_equal(q->count, n);
  got = outq_peek(q, bufs, 64);
  assert_int_equal(got, n);
  for (i = 0; i < n; i++) {
    assert_ptr_equal(bufs[i].base, (const char *)want[i].b->data + want[i].off);
    assert_int_equal(bufs[i].len, want[i].b->len - want[i].off);
    bytes += want[i].b->len - want[i].off;
  }
  assert_int_equal(q->bytes, bytes);
  if (n == 0) {
    assert_null(q->ring);
    assert_int_equal(q->cap, 0);
  }
}

/* ---- obuf ---- */

static void test_obuf_new_has_one_ref(void **state) {
  obuf_t *b;
  (void)state;
  b = obuf_new(100);
  assert_non_null(b);
  assert_int_equal(b->refs, 1);
  assert_int_equal(b->len, 100);
  obuf_unref(b);
}

static void test_obuf_size_classes(void **state) {
  static const struct {
    size_t len;
    uint32_t cls;
  } cases[] = {
      {0, 0},
      {256 - sizeof(obuf_t), 0},
      {256 - sizeof(obuf_t) + 1, 1},
      {1024 - sizeof(obuf_t), 1},
      {4096 - sizeof(obuf_t), 2},
      {16384 - sizeof(obuf_t), 3},
      {16384 - sizeof(obuf_t) + 1, OBUF_UNPOOLED},
      {100000, OBUF_UNPOOLED},
  };
  size_t i;
  (void)state;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    obuf_t *b = obuf_new(cases[i].len);
    assert_non_null(b);
    assert_int_equal(b->size_class, cases[i].cls);
    assert_int_equal(b->len, cases[i].len);
    memset(b->data, 0xab, cases[i].len); /* the whole length is usable */
    obuf_unref(b);
  }
}

static void test_obuf_too_big_refused(void **state) {
  (void)state;
  assert_null(obuf_new(UINT32_MAX));
  assert_null(obuf_new((size_t)UINT32_MAX - sizeof(obuf_t) + 1));
}

static void test_obuf_from_copies(void **state) {
  obuf_t *b;
  (void)state;
  b = obuf_from("hello", 5);
  assert_non_null(b);
  assert_int_equal(b->len, 5);
  assert_memory_equal(b->data, "hello", 5);
  assert_int_equal(b->refs, 1);
  obuf_unref(b);
}

static void test_obuf_last_unref_releases(void **state) {
  obuf_t *b;
  (void)state;
  b = mk(10, 'x');
  assert_ptr_equal(obuf_ref(b), b);
  assert_int_equal(b->refs, 2);
  obuf_unref(b);
  assert_int_equal(b->refs, 1);
  assert_false(was_released(b, 10)); /* still held: a fresh block */
  assert_int_equal(b->data[9], 'x');
  obuf_unref(b);
  assert_true(was_released(b, 10));
}

static void test_obuf_unref_null_is_harmless(void **state) {
  (void)state;
  obuf_unref(NULL);
  assert_null(obuf_new(UINT32_MAX)); /* still working after it */
}

/* ---- outq: references ---- */

static void test_push_takes_a_reference(void **state) {
  outq_t q1 = {0}, q2 = {0};
  obuf_t *b;
  (void)state;
  b = mk(20, 'a');
  assert_int_equal(outq_push(&q1, b), 0);
  assert_int_equal(outq_push(&q2, b), 0);
  assert_int_equal(b->refs, 3);
  obuf_unref(b); /* the broadcaster is done with it */
  assert_int_equal(b->refs, 2);
  outq_free(&q1);
  assert_int_equal(b->refs, 1);
  outq_consume(&q2, 5);
  assert_int_equal(b->refs, 1);
  outq_consume(&q2, 15);
  assert_true(was_released(b, 20));
  assert_int_equal(q2.count, 0);
}

static void test_push_zero_length_is_ignored(void **state) {
  outq_t q = {0};
  obuf_t *b;
  (void)state;
  b = obuf_new(0);
  assert_non_null(b);
  assert_int_equal(outq_push(&q, b), 0);
  assert_int_equal(q.count, 0);
  assert_int_equal(q.bytes, 0);
  assert_null(q.ring);
  assert_int_equal(b->refs, 1); /* not taken */
  obuf_unref(b);
}

/* ---- outq: order and growth ---- */

static void test_peek_is_fifo(void **state) {
  outq_t q = {0};
  obuf_t *a = mk(3, 'a'), *b = mk(5, 'b'), *c = mk(7, 'c');
  uv_buf_t bufs[2];
  (void)state;
  push_owned(&q, a);
  push_owned(&q, b);
  push_owned(&q, c);
  {
    want_t w[] = {{a, 0}, {b, 0}, {c, 0}};
    assert_queue(&q, w, 3);
  }
  /* peek fills at most max. */
  assert_int_equal(outq_peek(&q, bufs, 2), 2);
  assert_ptr_equal(bufs[0].base, a->data);
  assert_ptr_equal(bufs[1].base, b->data);
  assert_int_equal(outq_peek(&q, bufs, 0), 0);
  outq_free(&q);
  assert_null(q.ring);
  assert_int_equal(q.bytes, 0);
}

/* The ring grows while its head is not at 0 and its entries wrap around
 * the end: push 3, consume 2, push 10. */
static void test_ring_grows_while_wrapped(void **state) {
  outq_t q = {0};
  obuf_t *b[13];
  want_t w[11];
  size_t i;
  (void)state;
  for (i = 0; i < 13; i++)
    b[i] = mk(10 + i, (char)('a' + i));
  for (i = 0; i < 3; i++)
    push_owned(&q, b[i]);
  assert_int_equal(q.cap, RING_POOL_CAP);
  outq_consume(&q, b[0]->len + b[1]->len);
  assert_int_equal(q.count, 1);
  assert_int_equal(q.head, 2);
  /* Fill the ring: entries 3..5 wrap past its end. */
  for (i = 3; i < 6; i++)
    push_owned(&q, b[i]);
  assert_int_equal(q.count, q.cap);
  assert_int_not_equal(q.head, 0);
  /* The next push grows a wrapped ring. */
  for (i = 6; i < 13; i++)
    push_owned(&q, b[i]);
  assert_int_equal(q.count, 11);
  assert_true(q.cap >= 11);
  w[0] = (want_t){b[2], 0};
  for (i = 3; i < 13; i++)
    w[i - 2] = (want_t){b[i], 0};
  assert_queue(&q, w, 11);
  for (i = 0; i < 11; i++)
    assert_int_equal(((const char *)w[i].b->data)[0], (char)('a' + 2 + i));
  outq_free(&q);
}

/* Hundreds of entries: the ring outgrows its pooled sizes and stays FIFO. */
static void test_ring_grows_large(void **state) {
  enum { N = 600 };
  outq_t q = {0};
  obuf_t **b = calloc(N, sizeof *b);
  uv_buf_t *bufs = calloc(N, sizeof *bufs);
  size_t i;
  uint64_t total = 0;
  (void)state;
  assert_non_null(b);
  assert_non_null(bufs);
  for (i = 0; i < N; i++) {
    b[i] = mk(1 + i % 7, 'z');
    total += b[i]->len;
    push_owned(&q, b[i]);
  }
  assert_int_equal(q.cap, 1024);
  assert_int_equal(q.bytes, total);
  assert_int_equal(outq_peek(&q, bufs, N), N);
  for (i = 0; i < N; i++)
    assert_ptr_equal(bufs[i].base, b[i]->data);
  outq_consume(&q, total);
  assert_int_equal(q.count, 0);
  assert_null(q.ring);
  free(b);
  free(bufs);
}

/* ---- outq: consuming ---- */

static void test_consume_partial_offsets(void **state) {
  outq_t q = {0};
  obuf_t *a = mk(5, 'a'), *b = mk(7, 'b'), *c = mk(3, 'c');
  (void)state;
  push_owned(&q, a);
  push_owned(&q, b);
  push_owned(&q, c);
  outq_consume(&q, 2); /* into a */
  {
    want_t w[] = {{a, 2}, {b, 0}, {c, 0}};
    assert_queue(&q, w, 3);
  }
  outq_consume(&q, 5); /* the rest of a, 2 of b */
  {
    want_t w[] = {{b, 2}, {c, 0}};
    assert_queue(&q, w, 2);
  }
  outq_consume(&q, 4); /* 4 more of b: 1 left */
  {
    want_t w[] = {{b, 6}, {c, 0}};
    assert_queue(&q, w, 2);
  }
  outq_consume(&q, 1); /* exactly the end of b */
  {
    want_t w[] = {{c, 0}};
    assert_queue(&q, w, 1);
  }
  outq_consume(&q, 3);
  assert_queue(&q, NULL, 0);
}

/* One write that ends in the third buffer. */
static void test_consume_across_buffers(void **state) {
  outq_t q = {0};
  obuf_t *a = mk(4, 'a'), *b = mk(4, 'b'), *c = mk(4, 'c'), *d = mk(4, 'd');
  (void)state;
  push_owned(&q, a);
  push_owned(&q, b);
  push_owned(&q, c);
  push_owned(&q, d);
  outq_consume(&q, 10);
  {
    want_t w[] = {{c, 2}, {d, 0}};
    assert_queue(&q, w, 2);
  }
  {
    /* a then b were released: the pool hands out b, then a. */
    obuf_t *p1 = obuf_new(4), *p2 = obuf_new(4);
    assert_ptr_equal(p1, b);
    assert_ptr_equal(p2, a);
    obuf_unref(p1);
    obuf_unref(p2);
  }
  outq_free(&q);
}

static void test_consume_zero_changes_nothing(void **state) {
  outq_t q = {0};
  obuf_t *a = mk(4, 'a');
  (void)state;
  push_owned(&q, a);
  outq_consume(&q, 0);
  {
    want_t w[] = {{a, 0}};
    assert_queue(&q, w, 1);
  }
  outq_free(&q);
}

static void test_consume_more_than_queued_empties(void **state) {
  outq_t q = {0};
  (void)state;
  push_owned(&q, mk(4, 'a'));
  push_owned(&q, mk(6, 'b'));
  outq_consume(&q, 1000);
  assert_int_equal(q.bytes, 0);
  assert_queue(&q, NULL, 0);
}

/* ---- outq: dropping the tail ---- */

static void test_drop_tail_keeps_first_entries(void **state) {
  outq_t q = {0};
  obuf_t *b[5];
  size_t i;
  (void)state;
  for (i = 0; i < 5; i++) {
    b[i] = mk(10 * (i + 1), 'a');
    push_owned(&q, b[i]);
  }
  obuf_ref(b[4]); /* hold one dropped buffer to see its reference go */
  assert_int_equal(b[4]->refs, 2);
  assert_int_equal(outq_drop_tail(&q, 2), 30 + 40 + 50);
  assert_int_equal(b[4]->refs, 1);
  obuf_unref(b[4]);
  {
    want_t w[] = {{b[0], 0}, {b[1], 0}};
    assert_queue(&q, w, 2);
  }
  outq_free(&q);
}

/* A partly written first entry stays even with keep 0: the peer has half
 * a frame and must get the rest. */
static void test_drop_tail_keeps_partly_written_first(void **state) {
  outq_t q = {0};
  obuf_t *a = mk(10, 'a'), *b = mk(20, 'b'), *c = mk(30, 'c');
  (void)state;
  push_owned(&q, a);
  push_owned(&q, b);
  push_owned(&q, c);
  outq_consume(&q, 4);
  assert_int_equal(outq_drop_tail(&q, 0), 50);
  {
    want_t w[] = {{a, 4}};
    assert_queue(&q, w, 1);
  }
  outq_free(&q);
}

static void test_drop_tail_with_keep_and_partial_first(void **state) {
  outq_t q = {0};
  obuf_t *a = mk(10, 'a'), *b = mk(20, 'b'), *c = mk(30, 'c');
  (void)state;
  push_owned(&q, a);
  push_owned(&q, b);
  push_owned(&q, c);
  outq_consume(&q, 3);
  assert_int_equal(outq_drop_tail(&q, 2), 30);
  {
    want_t w[] = {{a, 3}, {b, 0}};
    assert_queue(&q, w, 2);
  }
  outq_free(&q);
}

static void test_drop_tail_all_unwritten(void **state) {
  outq_t q = {0};
  (void)state;
  push_owned(&q, mk(10, 'a'));
  push_owned(&q, mk(20, 'b'));
  assert_int_equal(outq_drop_tail(&q, 0), 30);
  assert_queue(&q, NULL, 0);
}

static void test_drop_tail_keep_beyond_count(void **state) {
  outq_t q = {0};
  obuf_t *a = mk(10, 'a'), *b = mk(20, 'b');
  (void)state;
  push_owned(&q, a);
  push_owned(&q, b);
  assert_int_equal(outq_drop_tail(&q, 5), 0);
  {
    want_t w[] = {{a, 0}, {b, 0}};
    assert_queue(&q, w, 2);
  }
  outq_free(&q);
}

/* Dropping from a wrapped ring takes the newest entries, not the ones at
 * the end of the array. */
static void test_drop_tail_on_wrapped_ring(void **state) {
  outq_t q = {0};
  obuf_t *b[6];
  size_t i;
  (void)state;
  for (i = 0; i < 6; i++)
    b[i] = mk(i + 1, 'a');
  for (i = 0; i < 3; i++)
    push_owned(&q, b[i]);
  outq_consume(&q, 1 + 2); /* b0, b1 */
  for (i = 3; i < 6; i++)
    push_owned(&q, b[i]); /* b3 at [3], b4 at [0], b5 at [1] */
  assert_int_equal(q.cap, 4);
  assert_int_equal(q.head, 2);
  assert_int_equal(outq_drop_tail(&q, 2), 5 + 6);
  {
    want_t w[] = {{b[2], 0}, {b[3], 0}};
    assert_queue(&q, w, 2);
  }
  outq_free(&q);
}

/* ---- outq: no heap when empty ---- */

static void test_empty_queue_holds_no_ring(void **state) {
  outq_t q = {0};
  (void)state;
  assert_null(q.ring);
  assert_int_equal(outq_peek(&q, NULL, 0), 0);
  push_owned(&q, mk(8, 'a'));
  assert_non_null(q.ring);
  outq_consume(&q, 8);
  assert_null(q.ring);
  assert_int_equal(q.cap, 0);
  assert_int_equal(q.head, 0);
  /* An emptied queue works again. */
  push_owned(&q, mk(8, 'b'));
  assert_int_equal(q.count, 1);
  assert_int_equal(q.bytes, 8);
  outq_free(&q);
  assert_null(q.ring);
  assert_int_equal(q.count, 0);
  assert_int_equal(q.bytes, 0);
  outq_free(&q); /* freeing an empty queue is harmless */
  assert_null(q.ring);
}

/* ---- outq against a model ---- */

/* Thousands of random pushes, writes and tail drops, checked after every
 * operation against a plain array: contents, order, offsets, q->bytes,
 * and no ring while empty. */
static void test_random_operations_match_model(void **state) {
  enum { OPS = 5000, MAXQ = 60 };
  outq_t q = {0};
  want_t model[MAXQ];
  size_t n = 0, op;
  uint32_t rnd = 2463534242u;
  (void)state;
  for (op = 0; op < OPS; op++) {
    uint32_t r;
    rnd ^= rnd << 13, rnd ^= rnd >> 17, rnd ^= rnd << 5;
    r = rnd;
    if (r % 3 == 0 && n < MAXQ - 1) {
      obuf_t *b = mk(1 + (r >> 8) % 300, 'm');
      push_owned(&q, b);
      model[n++] = (want_t){b, 0};
    } else if (r % 3 == 1) {
      uint64_t n_write = 1 + (r >> 8) % 400, left = n_write;
      /* The model first: the queue releases the buffers it finishes. */
      while (left > 0 && n > 0) {
        uint32_t avail = model[0].b->len - model[0].off;
        if (left < avail) {
          model[0].off += (uint32_t)left;
          break;
        }
        left -= avail;
        memmove(model, model + 1, --n * sizeof *model);
      }
      outq_consume(&q, n_write);
    } else if (r % 9 == 2) {
      uint32_t keep = (r >> 8) % 4;
      uint64_t want_dropped = 0;
      size_t k = keep;
      if (k == 0 && n > 0 && model[0].off > 0) k = 1;
      for (; n > k; n--)
        want_dropped += model[n - 1].b->len - model[n - 1].off;
      assert_int_equal(outq_drop_tail(&q, keep), want_dropped);
    }
    assert_queue(&q, model, n);
  }
  outq_free(&q);
}

static int drain_pools(void **state) {
  (void)state;
  obuf_pool_drain();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_obuf_new_has_one_ref),
      cmocka_unit_test(test_obuf_size_classes),
      cmocka_unit_test(test_obuf_too_big_refused),
      cmocka_unit_test(test_obuf_from_copies),
      cmocka_unit_test(test_obuf_last_unref_releases),
      cmocka_unit_test(test_obuf_unref_null_is_harmless),
      cmocka_unit_test(test_push_takes_a_reference),
      cmocka_unit_test(test_push_zero_length_is_ignored),
      cmocka_unit_test(test_peek_is_fifo),
      cmocka_unit_test(test_ring_grows_while_wrapped),
      cmocka_unit_test(test_ring_grows_large),
      cmocka_unit_test(test_consume_partial_offsets),
      cmocka_unit_test(test_consume_across_buffers),
      cmocka_unit_test(test_consume_zero_changes_nothing),
      cmocka_unit_test(test_consume_more_than_queued_empties),
      cmocka_unit_test(test_drop_tail_keeps_first_entries),
      cmocka_unit_test(test_drop_tail_keeps_partly_written_first),
      cmocka_unit_test(test_drop_tail_with_keep_and_partial_first),
      cmocka_unit_test(test_drop_tail_all_unwritten),
      cmocka_unit_test(test_drop_tail_keep_beyond_count),
      cmocka_unit_test(test_drop_tail_on_wrapped_ring),
      cmocka_unit_test(test_empty_queue_holds_no_ring),
      cmocka_unit_test(test_random_operations_match_model),
  };
  return cmocka_run_group_tests_name("outq", tests, NULL, drain_pools);
}
