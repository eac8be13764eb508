/* Unit tests for server/chat/manager.c with a fake deliver: registry,
 * replace, broadcast order, rooms and O(1) membership. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/chat/manager.c"
#include "server/net/obuf.c"
#include "server/util/hash.c"
#include "server/util/idmap.c"
#include "server/ws/outmsg.c"

static client_t *got[64];
static int n_got;

static int fake_deliver(client_t *c, outmsg_t *m) {
  (void)m;
  if (n_got < 64) got[n_got++] = c;
  return 0;
}

static outmsg_t msg(void) {
  outmsg_t m;
  outmsg_init(&m, 1, "x", 1);
  return m;
}

static void test_add_find_remove_replace(void **state) {
  manager_t m;
  client_t a = {0}, b = {0}, a2 = {0};
  (void)state;
  assert_int_equal(manager_init(&m, fake_deliver), 0);
  assert_int_equal(manager_add(&m, &a, "alice", 5), 0);
  assert_int_equal(manager_add(&m, &b, "bob", 3), 0);
  assert_ptr_equal(manager_find(&m, "alice", 5), &a);
  assert_null(manager_find(&m, "alic", 4));
  manager_replace(&m, &a, &a2); /* the id moves, position kept */
  assert_ptr_equal(manager_find(&m, "alice", 5), &a2);
  assert_null(a.id);
  assert_ptr_equal(m.first, &a2);
  assert_int_equal(manager_count(&m), 2);
  manager_remove(&m, &b);
  assert_null(manager_find(&m, "bob", 3));
  manager_remove(&m, &a2);
  assert_int_equal(manager_count(&m), 0);
  manager_free(&m);
}

static void test_broadcast_order_and_except(void **state) {
  manager_t m;
  client_t c[5];
  char id[8];
  outmsg_t o = msg();
  int i;
  (void)state;
  memset(c, 0, sizeof c);
  manager_init(&m, fake_deliver);
  for (i = 0; i < 5; i++) {
    snprintf(id, sizeof id, "c%d", i);
    manager_add(&m, &c[i], id, strlen(id));
  }
  n_got = 0;
  manager_broadcast(&m, &o, &c[2]);
  assert_int_equal(n_got, 4);
  assert_ptr_equal(got[0], &c[0]);
  assert_ptr_equal(got[2], &c[3]);
  for (i = 0; i < 5; i++)
    manager_remove(&m, &c[i]);
  outmsg_release(&o);
  manager_free(&m);
}

static void test_rooms(void **state) {
  manager_t m;
  client_t a = {0}, b = {0};
  room_t *r;
  int joined;
  outmsg_t o = msg();
  (void)state;
  manager_init(&m, fake_deliver);
  manager_add(&m, &a, "a", 1);
  manager_add(&m, &b, "b", 1);
  r = manager_room_join(&m, &a, "lobby", 5, &joined);
  assert_non_null(r);
  assert_int_equal(joined, 1);
  assert_ptr_equal(manager_room_join(&m, &a, "lobby", 5, &joined), r);
  assert_int_equal(joined, 0); /* already a member */
  manager_room_join(&m, &b, "lobby", 5, &joined);
  assert_true(manager_room_is_member(r, &b));
  n_got = 0;
  manager_room_broadcast(&m, r, &o);
  assert_int_equal(n_got, 2);
  assert_ptr_equal(got[0], &a); /* join order */
  assert_int_equal(manager_room_leave(&m, r, &a), 0);
  assert_false(manager_room_is_member(r, &a));
  assert_int_equal(manager_room_leave(&m, r, &b), 1); /* last: freed */
  assert_null(manager_room_find(&m, "lobby", 5));
  manager_remove(&m, &a);
  manager_remove(&m, &b);
  outmsg_release(&o);
  manager_free(&m);
}

static void test_many_rooms_leave_middle(void **state) {
  manager_t m;
  client_t a = {0};
  char name[16];
  int i, joined;
  room_t *mid;
  (void)state;
  manager_init(&m, NULL); /* a replica: nobody is delivered to */
  manager_add(&m, &a, "a", 1);
  for (i = 0; i < 1000; i++) {
    snprintf(name, sizeof name, "r%d", i);
    assert_non_null(manager_room_join(&m, &a, name, strlen(name), &joined));
  }
  assert_int_equal(a.n_rooms, 1000);
  mid = manager_room_find(&m, "r500", 4);
  assert_int_equal(manager_room_leave(&m, mid, &a), 1);
  assert_int_equal(a.n_rooms, 999);
  assert_null(manager_room_find(&m, "r500", 4));
  assert_non_null(manager_room_find(&m, "r499", 4));
  n_got = 0;
  {
    outmsg_t o = msg();
    manager_broadcast(&m, &o, NULL);
    outmsg_release(&o);
  }
  assert_int_equal(n_got, 0);
  while (a.rooms)
    manager_room_leave(&m, a.rooms->room, &a);
  assert_int_equal(manager_room_count(&m), 0);
  manager_remove(&m, &a);
  manager_free(&m);
}

static int drain(void **state) {
  (void)state;
  obuf_pool_drain();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_add_find_remove_replace),
      cmocka_unit_test(test_broadcast_order_and_except),
      cmocka_unit_test(test_rooms),
      cmocka_unit_test(test_many_rooms_leave_middle),
  };
  return cmocka_run_group_tests_name("manager", tests, NULL, drain);
}
