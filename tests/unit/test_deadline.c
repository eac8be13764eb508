/* Unit tests for server/net/deadline.c: order, expiry, "off", the reload
 * case (two durations side by side) and the heartbeat period. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "server/net/deadline.c"

static void test_touch_orders_and_expires(void **state) {
  dl_set_t s;
  dl_node_t a = {0}, b = {0}, c = {0};
  (void)state;
  dl_set_init(&s);
  dl_set_touch(&s, &a, 100, 0);
  dl_set_touch(&s, &b, 100, 10);
  dl_set_touch(&s, &c, 100, 20);
  assert_null(dl_set_expired(&s, 99));
  assert_ptr_equal(dl_set_expired(&s, 100), &a);
  dl_set_touch(&s, &a, 100, 100); /* activity: to the tail */
  assert_ptr_equal(dl_set_expired(&s, 115), &b);
  dl_remove(&b);
  assert_null(dl_set_expired(&s, 115));
  assert_ptr_equal(dl_set_expired(&s, 120), &c);
  dl_remove(&a);
  dl_remove(&c);
  dl_set_free(&s);
}

static void test_zero_is_off(void **state) {
  dl_set_t s;
  dl_node_t a = {0};
  (void)state;
  dl_set_init(&s);
  dl_set_touch(&s, &a, 100, 0);
  assert_true(dl_linked(&a));
  dl_set_touch(&s, &a, 0, 0);
  assert_false(dl_linked(&a));
  assert_null(dl_set_expired(&s, 1000000));
  dl_set_free(&s);
}

/* A reload from 6 s to 1 s: new connections expire at their own time,
 * old ones keep theirs. */
static void test_reload_two_durations(void **state) {
  dl_set_t s;
  dl_node_t old = {0}, young = {0};
  (void)state;
  dl_set_init(&s);
  dl_set_touch(&s, &old, 6000, 0);
  dl_set_touch(&s, &young, 1000, 500);
  assert_null(dl_set_expired(&s, 1499));
  assert_ptr_equal(dl_set_expired(&s, 1500), &young);
  dl_remove(&young);
  assert_null(dl_set_expired(&s, 5999));
  assert_ptr_equal(dl_set_expired(&s, 6000), &old);
  dl_remove(&old);
  dl_set_trim(&s);
  assert_null(s.lists); /* drained lists are freed */
  dl_set_free(&s);
}

static void test_advance_keeps_period_and_never_spins(void **state) {
  dl_set_t s;
  dl_node_t n = {0};
  uint64_t period;
  (void)state;
  dl_set_init(&s);
  dl_set_touch(&s, &n, 1000, 0);
  dl_advance(&s, &n, 1000, 1030); /* a late tick: the period does not stretch */
  assert_int_equal(n.at, 2000);
  dl_advance(&s, &n, 1000, 5000); /* a whole period behind: from now */
  assert_int_equal(n.at, 6000);
  for (period = 1; period <= 64; period *= 2) {
    dl_set_touch(&s, &n, period, 100);
    dl_advance(&s, &n, period, 100 + period);
    assert_null(dl_set_expired(&s, 100 + period));
  }
  dl_remove(&n);
  dl_set_free(&s);
}

static void test_ms(void **state) {
  (void)state;
  assert_int_equal(dl_ms(0), 0);
  assert_int_equal(dl_ms(-1), 0);
  assert_int_equal(dl_ms(0.0001), 1);
  assert_int_equal(dl_ms(1.5), 1500);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_touch_orders_and_expires),
      cmocka_unit_test(test_zero_is_off),
      cmocka_unit_test(test_reload_two_durations),
      cmocka_unit_test(test_advance_keeps_period_and_never_spins),
      cmocka_unit_test(test_ms),
  };
  return cmocka_run_group_tests_name("deadline", tests, NULL, NULL);
}
