/* Unit tests for server/net/deadline.c: deadline lists keyed by duration.
 *
 * h2o style: the .c under test is included, so the tests can walk a set's
 * lists (which durations exist, in what order their nodes sit). Times are
 * plain numbers (ms of a pretend uv_now). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/net/deadline.c"

/* ---- helpers ---- */

static size_t list_count(const dl_set_t *s) {
  size_t n = 0;
  const dl_list_t *l;
  for (l = s->lists; l; l = l->next_list)
    n++;
  return n;
}

static dl_list_t *list_of(const dl_set_t *s, uint64_t duration_ms) {
  dl_list_t *l;
  for (l = s->lists; l; l = l->next_list)
    if (l->duration_ms == duration_ms) return l;
  return NULL;
}

static size_t list_len(const dl_list_t *l) {
  size_t n = 0;
  const dl_node_t *x;
  for (x = l->head.next; x != &l->head; x = x->next)
    n++;
  return n;
}

/* Every list's deadlines are non-decreasing from head to tail and the
 * links agree both ways. */
static void assert_lists_ordered(const dl_set_t *s) {
  const dl_list_t *l;
  for (l = s->lists; l; l = l->next_list) {
    const dl_node_t *x;
    for (x = l->head.next; x != &l->head; x = x->next) {
      assert_ptr_equal(x->next->prev, x);
      assert_ptr_equal(x->prev->next, x);
      if (x->next != &l->head) assert_true(x->at <= x->next->at);
    }
  }
}

/* Takes every expired node at now, in the order the set hands them out,
 * removing each. Returns how many. */
static size_t drain_expired(dl_set_t *s, uint64_t now, dl_node_t **out, size_t max) {
  size_t n = 0;
  dl_node_t *x;
  while ((x = dl_set_expired(s, now))) {
    assert_true(x->at <= now);
    assert_true(n < max);
    out[n++] = x;
    dl_remove(x);
  }
  return n;
}

/* ---- touch and expiry ---- */

static void test_touch_links_with_deadline(void **state) {
  dl_set_t s;
  dl_node_t a = {0};
  (void)state;
  dl_set_init(&s);
  assert_false(dl_linked(&a));
  assert_int_equal(dl_set_touch(&s, &a, 100, 5), 0);
  assert_true(dl_linked(&a));
  assert_int_equal(a.at, 105);
  assert_int_equal(list_count(&s), 1);
  assert_non_null(list_of(&s, 100));
  dl_remove(&a);
  assert_false(dl_linked(&a));
  dl_remove(&a); /* removing twice is harmless */
  assert_false(dl_linked(&a));
  dl_set_free(&s);
}

static void test_touch_orders_by_deadline(void **state) {
  dl_set_t s;
  dl_node_t a = {0}, b = {0}, c = {0}, *got[4];
  (void)state;
  dl_set_init(&s);
  dl_set_touch(&s, &a, 100, 0);
  dl_set_touch(&s, &b, 100, 10);
  dl_set_touch(&s, &c, 100, 20);
  /* Touching a again moves it behind c, with a later deadline. */
  dl_set_touch(&s, &a, 100, 30);
  assert_int_equal(a.at, 130);
  assert_ptr_equal(list_of(&s, 100)->head.next, &b);
  assert_ptr_equal(list_of(&s, 100)->head.prev, &a);
  assert_lists_ordered(&s);
  assert_int_equal(drain_expired(&s, 125, got, 4), 2);
  assert_ptr_equal(got[0], &b);
  assert_ptr_equal(got[1], &c);
  assert_true(dl_linked(&a));
  assert_int_equal(drain_expired(&s, 130, got, 4), 1);
  assert_ptr_equal(got[0], &a);
  dl_set_free(&s);
}

static void test_expired_returns_only_expired_heads(void **state) {
  enum { N = 10 };
  dl_set_t s;
  dl_node_t n[N], *got[N];
  size_t i;
  (void)state;
  memset(n, 0, sizeof n);
  dl_set_init(&s);
  for (i = 0; i < N; i++)
    dl_set_touch(&s, &n[i], 1000, i * 10); /* deadlines 1000, 1010, ... 1090 */
  assert_null(dl_set_expired(&s, 0));
  assert_null(dl_set_expired(&s, 999));
  /* The head is handed out, and handed out again until it is dealt with. */
  assert_ptr_equal(dl_set_expired(&s, 1000), &n[0]);
  assert_ptr_equal(dl_set_expired(&s, 1000), &n[0]);
  assert_int_equal(drain_expired(&s, 1045, got, N), 5);
  for (i = 0; i < 5; i++)
    assert_ptr_equal(got[i], &n[i]);
  for (i = 5; i < N; i++)
    assert_true(dl_linked(&n[i]));
  assert_null(dl_set_expired(&s, 1049));
  assert_ptr_equal(dl_set_expired(&s, 1050), &n[5]);
  for (i = 5; i < N; i++)
    dl_remove(&n[i]);
  assert_null(dl_set_expired(&s, UINT64_MAX));
  dl_set_free(&s);
}

static void test_expired_on_empty_set(void **state) {
  dl_set_t s;
  (void)state;
  dl_set_init(&s);
  assert_null(dl_set_expired(&s, 0));
  assert_null(dl_set_expired(&s, UINT64_MAX));
  dl_set_free(&s);
  assert_null(s.lists);
}

/* ---- duration 0: off ---- */

static void test_duration_zero_removes(void **state) {
  dl_set_t s;
  dl_node_t a = {0};
  (void)state;
  dl_set_init(&s);
  dl_set_touch(&s, &a, 100, 0);
  assert_true(dl_linked(&a));
  assert_int_equal(dl_set_touch(&s, &a, 0, 50), 0);
  assert_false(dl_linked(&a));
  assert_int_equal(list_len(list_of(&s, 100)), 0);
  assert_null(dl_set_expired(&s, UINT64_MAX));
  dl_set_free(&s);
}

static void test_duration_zero_never_enters_a_list(void **state) {
  dl_set_t s;
  dl_node_t a = {0};
  (void)state;
  dl_set_init(&s);
  assert_int_equal(dl_set_touch(&s, &a, 0, 50), 0);
  assert_false(dl_linked(&a));
  assert_null(s.lists); /* no list was made for duration 0 */
  assert_null(dl_set_expired(&s, 50));
  assert_null(dl_set_expired(&s, UINT64_MAX));
  dl_set_free(&s);
}

/* ---- reload: two durations at once ---- */

/* Open connections keep the 6000 ms they were accepted with; new ones get
 * 1000 ms after a reload. Each expires at its own time. */
static void test_reload_durations_expire_at_their_own_time(void **state) {
  enum { N = 3 };
  dl_set_t s;
  dl_node_t old[N], young[N], *got[2 * N];
  size_t i;
  (void)state;
  memset(old, 0, sizeof old);
  memset(young, 0, sizeof young);
  dl_set_init(&s);
  for (i = 0; i < N; i++)
    dl_set_touch(&s, &old[i], 6000, i); /* deadlines 6000..6002 */
  for (i = 0; i < N; i++)
    dl_set_touch(&s, &young[i], 1000, 100 + i); /* deadlines 1100..1102 */
  assert_int_equal(list_count(&s), 2);
  assert_int_equal(list_len(list_of(&s, 6000)), N);
  assert_int_equal(list_len(list_of(&s, 1000)), N);
  assert_lists_ordered(&s);

  assert_null(dl_set_expired(&s, 1099));
  assert_int_equal(drain_expired(&s, 1101, got, 2 * N), 2);
  assert_ptr_equal(got[0], &young[0]);
  assert_ptr_equal(got[1], &young[1]);
  assert_int_equal(drain_expired(&s, 1102, got, 2 * N), 1);
  assert_ptr_equal(got[0], &young[2]);

  /* The old ones still have their own deadline. */
  for (i = 0; i < N; i++) {
    assert_true(dl_linked(&old[i]));
    assert_int_equal(old[i].at, 6000 + i);
  }
  assert_null(dl_set_expired(&s, 5999));
  assert_int_equal(drain_expired(&s, 6002, got, 2 * N), N);
  for (i = 0; i < N; i++)
    assert_ptr_equal(got[i], &old[i]);
  dl_set_free(&s);
}

/* Touching an old connection again keeps it on its own duration's list:
 * the node's owner passes the duration it was accepted with. */
static void test_reload_touch_keeps_each_list(void **state) {
  dl_set_t s;
  dl_node_t old = {0}, young = {0};
  (void)state;
  dl_set_init(&s);
  dl_set_touch(&s, &old, 6000, 0);
  dl_set_touch(&s, &young, 1000, 0);
  dl_set_touch(&s, &old, 6000, 500);
  assert_int_equal(old.at, 6500);
  assert_int_equal(list_len(list_of(&s, 6000)), 1);
  assert_int_equal(list_len(list_of(&s, 1000)), 1);
  assert_ptr_equal(dl_set_expired(&s, 1000), &young);
  dl_remove(&young);
  assert_null(dl_set_expired(&s, 6499));
  assert_ptr_equal(dl_set_expired(&s, 6500), &old);
  dl_remove(&old);
  dl_set_free(&s);
}

/* ---- periodic deadlines ---- */

static void test_advance_keeps_period(void **state) {
  dl_set_t s;
  dl_node_t a = {0};
  (void)state;
  dl_set_init(&s);
  dl_set_touch(&s, &a, 1000, 0); /* 1000 */
  assert_ptr_equal(dl_set_expired(&s, 1003), &a);
  dl_advance(&s, &a, 1000, 1003); /* the tick was 3 ms late */
  assert_int_equal(a.at, 2000);   /* not 2003: the period does not stretch */
  assert_true(dl_linked(&a));
  assert_null(dl_set_expired(&s, 1999));
  dl_advance(&s, &a, 1000, 2999); /* 999 ms late, still within a period */
  assert_int_equal(a.at, 3000);
  dl_remove(&a);
  dl_set_free(&s);
}

static void test_advance_whole_period_behind_restarts(void **state) {
  dl_set_t s;
  dl_node_t a = {0};
  (void)state;
  dl_set_init(&s);
  dl_set_touch(&s, &a, 1000, 0); /* 1000 */
  dl_advance(&s, &a, 1000, 2500); /* 1500 ms behind */
  assert_int_equal(a.at, 3500);   /* again from now */
  dl_set_touch(&s, &a, 1000, 0);  /* 1000 */
  dl_advance(&s, &a, 1000, 2000); /* exactly one period behind */
  assert_int_equal(a.at, 3000);
  dl_set_touch(&s, &a, 1000, 0);  /* 1000 */
  dl_advance(&s, &a, 1000, 5000); /* many periods behind */
  assert_int_equal(a.at, 6000);
  dl_remove(&a);
  dl_set_free(&s);
}

/* Heartbeats driven by a tick every T ms: the list stays ordered to within
 * one tick (a node is never more than T ms ahead of the one behind it), and
 * each node fires once per period, the period never stretching by the
 * ticks' lateness. */
#define HB_N      64
#define HB_PERIOD 1000
#define HB_TICK   7
#define HB_END    20000

static void test_advance_ticks_keep_order_and_period(void **state) {
  dl_set_t s;
  dl_node_t n[HB_N], *x;
  uint64_t t0[HB_N], now;
  size_t fires[HB_N], i;
  uint32_t rnd = 12345;
  (void)state;
  memset(n, 0, sizeof n);
  memset(fires, 0, sizeof fires);
  dl_set_init(&s);
  for (now = 0, i = 0; i < HB_N; i++) {
    rnd = rnd * 1103515245u + 12345u;
    now += (rnd >> 16) % 15; /* connections arrive in time order */
    t0[i] = now;
    dl_set_touch(&s, &n[i], HB_PERIOD, now);
  }
  for (now = HB_TICK; now <= HB_END; now += HB_TICK) {
    size_t spins = 0;
    while ((x = dl_set_expired(&s, now))) {
      size_t k = ++fires[x - n];
      /* The k-th beat is due at t0 + k * period; it fires on the first
       * tick after that, or one later when a node up to a tick ahead of
       * it sits in front. */
      assert_true(now >= t0[x - n] + k * HB_PERIOD);
      assert_true(now < t0[x - n] + k * HB_PERIOD + 2 * HB_TICK);
      dl_advance(&s, x, HB_PERIOD, now);
      assert_true(x->at > now);
      assert_true(++spins <= HB_N);
    }
    for (x = list_of(&s, HB_PERIOD)->head.next; x->next != &list_of(&s, HB_PERIOD)->head;
         x = x->next)
      assert_true(x->at < x->next->at + HB_TICK);
  }
  for (i = 0; i < HB_N; i++) {
    /* Deadlines t0 + k * period; the last one or two may fall after END
     * or within the lateness of the last ticks. */
    size_t most = (size_t)((HB_END - t0[i]) / HB_PERIOD);
    assert_true(fires[i] <= most);
    assert_true(fires[i] + 1 >= most);
  }
  for (i = 0; i < HB_N; i++)
    dl_remove(&n[i]);
  dl_set_free(&s);
}

/* After dl_advance at `now`, the node is never expired at `now` again: a
 * tick that loops "while (expired) advance" ends, whatever the period and
 * the lateness. */
static void test_advance_never_expires_at_now(void **state) {
  static const uint64_t periods[] = {1, 2, 3, 7, 10, 1000, 30000, 1ULL << 40};
  dl_set_t s;
  size_t p;
  (void)state;
  dl_set_init(&s);
  for (p = 0; p < sizeof periods / sizeof periods[0]; p++) {
    uint64_t d = periods[p], late;
    for (late = 0; late <= 3 * d + 3 && late <= 5000; late++) {
      dl_node_t a = {0};
      uint64_t now;
      int spins = 0;
      dl_set_touch(&s, &a, d, 100);
      now = a.at + late;
      while (dl_set_expired(&s, now)) {
        dl_advance(&s, &a, d, now);
        assert_true(++spins <= 1); /* one advance is enough */
      }
      assert_int_equal(spins, 1);
      assert_true(a.at > now);
      assert_true(a.at <= now + d);
      assert_null(dl_set_expired(&s, now));
      dl_remove(&a);
    }
  }
  dl_set_free(&s);
}

static void test_advance_zero_duration_removes(void **state) {
  dl_set_t s;
  dl_node_t a = {0};
  (void)state;
  dl_set_init(&s);
  dl_set_touch(&s, &a, 100, 0);
  dl_advance(&s, &a, 0, 100);
  assert_false(dl_linked(&a));
  assert_null(dl_set_expired(&s, UINT64_MAX));
  dl_set_free(&s);
}

/* ---- trim ---- */

static void test_trim_frees_empty_lists_only(void **state) {
  dl_set_t s;
  dl_node_t a = {0}, b = {0}, c = {0};
  (void)state;
  dl_set_init(&s);
  dl_set_touch(&s, &a, 6000, 0);
  dl_set_touch(&s, &b, 1000, 0);
  dl_set_touch(&s, &c, 2000, 0);
  assert_int_equal(list_count(&s), 3);
  dl_set_trim(&s); /* none is empty */
  assert_int_equal(list_count(&s), 3);
  dl_remove(&a); /* the old duration drained */
  dl_set_trim(&s);
  assert_int_equal(list_count(&s), 2);
  assert_null(list_of(&s, 6000));
  assert_non_null(list_of(&s, 1000));
  assert_non_null(list_of(&s, 2000));
  /* The remaining lists still work. */
  assert_ptr_equal(dl_set_expired(&s, 1000), &b);
  dl_remove(&b);
  assert_ptr_equal(dl_set_expired(&s, 2000), &c);
  dl_remove(&c);
  dl_set_trim(&s);
  assert_null(s.lists);
  /* A duration can come back after its list was trimmed. */
  assert_int_equal(dl_set_touch(&s, &a, 6000, 10), 0);
  assert_int_equal(list_count(&s), 1);
  assert_ptr_equal(dl_set_expired(&s, 6010), &a);
  dl_remove(&a);
  dl_set_free(&s);
}

/* ---- seconds to ms ---- */

static void test_dl_ms(void **state) {
  (void)state;
  assert_int_equal(dl_ms(0), 0);
  assert_int_equal(dl_ms(0.0001), 1);
  assert_int_equal(dl_ms(-1), 0);
  assert_int_equal(dl_ms(1.5), 1500);
  assert_int_equal(dl_ms(30), 30000);
  assert_int_equal(dl_ms(0.001), 1);
  assert_int_equal(dl_ms(0.0025), 3); /* rounded, not truncated */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_touch_links_with_deadline),
      cmocka_unit_test(test_touch_orders_by_deadline),
      cmocka_unit_test(test_expired_returns_only_expired_heads),
      cmocka_unit_test(test_expired_on_empty_set),
      cmocka_unit_test(test_duration_zero_removes),
      cmocka_unit_test(test_duration_zero_never_enters_a_list),
      cmocka_unit_test(test_reload_durations_expire_at_their_own_time),
      cmocka_unit_test(test_reload_touch_keeps_each_list),
      cmocka_unit_test(test_advance_keeps_period),
      cmocka_unit_test(test_advance_whole_period_behind_restarts),
      cmocka_unit_test(test_advance_ticks_keep_order_and_period),
      cmocka_unit_test(test_advance_never_expires_at_now),
      cmocka_unit_test(test_advance_zero_duration_removes),
      cmocka_unit_test(test_trim_frees_empty_lists_only),
      cmocka_unit_test(test_dl_ms),
  };
  return cmocka_run_group_tests_name("deadline", tests, NULL, NULL);
}
