/* Unit tests for server/cluster/presence.c: the replica of the other nodes
 * and the claim rule, driven by decoded wire messages (as cluster.c feeds
 * it) with fake events that record what local clients would be told. The
 * .c files are included to reach them (h2o style). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/chat/manager.c"
#include "server/cluster/presence.c"
#include "server/cluster/wire.c"
#include "server/util/hash.c"
#include "server/util/idmap.c"
#include "server/util/log.c"

/* ---- fakes ---- */

#define MAX_EVENTS 64
#define MAX_LOCAL  8

static char events[MAX_EVENTS][160]; /* "user_joined b1", "fwd_all {..}", ... */
static size_t n_events;
static presence_ticket_t tickets[16]; /* re-reads asked */
static size_t n_tickets;
static int reread_fails;
static manager_t local;
static client_t locals[MAX_LOCAL];
static presence_t P;

static void record(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void record(const char *fmt, ...) {
  va_list ap;
  assert_true(n_events < MAX_EVENTS);
  va_start(ap, fmt);
  vsnprintf(events[n_events++], sizeof events[0], fmt, ap);
  va_end(ap);
}

static void ev_user(void *ctx, const char *type, const char *id) {
  (void)ctx;
  record("%s %s", type, id);
}

static void ev_room(void *ctx, const char *type, const char *id, const char *room) {
  (void)ctx;
  record("%s %s %s", type, id, room);
}

/* As chat_evict: the client leaves its rooms and the registry at once. */
static void ev_evict(void *ctx, client_t *c) {
  (void)ctx;
  record("evict %s", c->id);
  while (c->rooms)
    manager_room_leave(&local, c->rooms->room, c);
  manager_remove(&local, c);
}

static void ev_forward_all(void *ctx, slice_t env) {
  (void)ctx;
  record("fwd_all %.*s", (int)env.len, env.base);
}

static void ev_forward_room(void *ctx, slice_t room, slice_t env) {
  (void)ctx;
  record("fwd_room %.*s %.*s", (int)room.len, room.base, (int)env.len, env.base);
}

static int ev_reread(void *ctx, const presence_ticket_t *t) {
  (void)ctx;
  if (reread_fails) return -1;
  assert_true(n_tickets < sizeof tickets / sizeof *tickets);
  tickets[n_tickets++] = *t;
  return 0;
}

static const presence_events_t EV = {NULL,           ev_user,         ev_room,  ev_evict,
                                     ev_forward_all, ev_forward_room, ev_reread};

static int setup(void **state) {
  (void)state;
  log_init(LOG_ERROR);
  n_events = n_tickets = 0;
  reread_fails = 0;
  memset(locals, 0, sizeof locals);
  assert_int_equal(manager_init(&local, NULL), 0);
  assert_int_equal(presence_init(&P, &local, "A", &EV), 0);
  return 0;
}

static int teardown(void **state) {
  size_t i;
  (void)state;
  presence_free(&P);
  for (i = 0; i < MAX_LOCAL; i++) {
    while (locals[i].rooms)
      manager_room_leave(&local, locals[i].rooms->room, &locals[i]);
    manager_remove(&local, &locals[i]);
  }
  manager_free(&local);
  return 0;
}

/* ---- helpers ---- */

static slice_t S(const char *s) {
  return slice_cstr(s);
}

static void clear_events(void) {
  n_events = 0;
}

static void expect_events(const char *const *want, size_t n) {
  size_t i;
  for (i = 0; i < n && i < n_events; i++)
    if (strcmp(events[i], want[i]) != 0)
      fail_msg("event %zu: '%s', expected '%s'", i, events[i], want[i]);
  if (n_events != n) {
    for (i = 0; i < n_events; i++)
      print_error("  got: %s\n", events[i]);
    fail_msg("%zu events, expected %zu", n_events, n);
  }
  clear_events();
}

#define EXPECT(...)                                                                                \
  do {                                                                                             \
    static const char *const w_[] = {__VA_ARGS__};                                                 \
    expect_events(w_, sizeof w_ / sizeof *w_);                                                     \
  } while (0)
#define EXPECT_NONE() expect_events(NULL, 0)

static int has_event(const char *e) {
  size_t i;
  for (i = 0; i < n_events; i++)
    if (strcmp(events[i], e) == 0) return 1;
  return 0;
}

static size_t event_index(const char *e) {
  size_t i;
  for (i = 0; i < n_events; i++)
    if (strcmp(events[i], e) == 0) return i;
  fail_msg("no event '%s'", e);
  return 0;
}

/* Decodes a payload and hands it to presence as cluster.c does. */
static pnode_t *feed_at(const char *payload, uint64_t now) {
  wire_msg_t m;
  pnode_t *n;
  if (wire_decode(payload, strlen(payload), &m) != 0) fail_msg("bad payload '%s'", payload);
  if (!(n = presence_seen(&P, &m, now))) return NULL;
  switch (m.kind) {
  case WIRE_JOIN:
  case WIRE_LEAVE:
  case WIRE_MEMBER: presence_delta(&P, n, &m); break;
  case WIRE_HEARTBEAT: presence_heartbeat(&P, n, &m); break;
  case WIRE_GOODBYE: presence_goodbye(&P, n); return NULL;
  default: break;
  }
  return n;
}

static pnode_t *feed(const char *payload) {
  return feed_at(payload, 1000);
}

/* Answers the last re-read asked with a HASH given as "field=value;..." */
static void answer(const char *hash) {
  slice_t kv[32];
  size_t n = 0;
  const char *p = hash;
  assert_true(n_tickets > 0);
  while (*p) {
    const char *eq = strchr(p, '='), *end = strchr(p, ';');
    if (!end) end = p + strlen(p);
    assert_non_null(eq);
    kv[n++] = slice_make(p, (size_t)(eq - p));
    kv[n++] = slice_make(eq + 1, (size_t)(end - eq - 1));
    p = *end ? end + 1 : end;
  }
  presence_snapshot(&P, &tickets[n_tickets - 1], PRESENCE_SNAP_OK, kv, n);
}

/* Node B (incarnation 5) seen and synchronised from an empty HASH. */
static pnode_t *node_b(void) {
  pnode_t *n = feed("B 5\nH 0 0 0000000000000000\n");
  assert_non_null(n);
  assert_int_equal(n_tickets, 1);
  assert_string_equal(tickets[0].node, "B");
  assert_true(tickets[0].inc == 5);
  assert_true(n->reread_pending);
  answer("#inc=5;#seq=0");
  assert_false(n->reread_pending);
  n_tickets = 0;
  clear_events();
  return n;
}

static client_t *local_client(int i, const char *id, int64_t claim) {
  client_t *c = &locals[i];
  assert_int_equal(manager_add(&local, c, id, strlen(id)), 0);
  c->claim_usec = claim;
  return c;
}

static int peer_in_room(const char *id, const char *room) {
  rclient_t *rc = presence_find(&P, id, strlen(id));
  room_t *r = manager_room_find(&P.peers, room, strlen(room));
  return rc && r && manager_room_is_member(r, &rc->client);
}

/* The digest as the code this replaces computed it, written out again. */
static uint64_t ref_fnv(uint64_t h, const char *p, size_t n) {
  while (n--)
    h = (h ^ (uint8_t)*p++) * 1099511628211ULL;
  return h;
}

static uint64_t ref_digest(const char *id, const char *const *rooms, size_t n) {
  uint64_t d = ref_fnv(1469598103934665603ULL, id, strlen(id));
  size_t i;
  for (i = 0; i < n; i++)
    d ^= ref_fnv(ref_fnv(ref_fnv(1469598103934665603ULL, id, strlen(id)), "\n", 1), rooms[i],
                 strlen(rooms[i]));
  return d;
}

/* ---- tests ---- */

static void test_deltas_apply(void **state) {
  pnode_t *n;
  (void)state;
  n = node_b();
  feed("B 5\nJ 1 b1 100\n{\"j\":1}");
  EXPECT("fwd_all {\"j\":1}");
  assert_non_null(presence_find(&P, "b1", 2));
  assert_true(presence_find(&P, "b1", 2)->client.claim_usec == 100);
  assert_int_equal(n->n_clients, 1);
  feed("B 5\nM 2 b1 r + 100 r\n{\"m\":1}");
  EXPECT("fwd_room r {\"m\":1}");
  assert_true(peer_in_room("b1", "r"));
  feed("B 5\nM 3 b1 s + 100 r s\n{\"m\":2}");
  EXPECT("fwd_room s {\"m\":2}");
  assert_true(peer_in_room("b1", "s"));
  feed("B 5\nM 4 b1 r - 100 s\n{\"m\":3}");
  EXPECT("fwd_room r {\"m\":3}");
  assert_false(peer_in_room("b1", "r"));
  assert_null(manager_room_find(&P.peers, "r", 1));
  /* a delta already applied is ignored */
  feed("B 5\nJ 2 zz 100\n{\"old\":1}");
  EXPECT_NONE();
  assert_null(presence_find(&P, "zz", 2));
  /* still in s: told room_left first, then the origin's user_left */
  feed("B 5\nL 5 b1\n{\"l\":1}");
  EXPECT("room_left b1 s", "fwd_all {\"l\":1}");
  assert_null(presence_find(&P, "b1", 2));
  assert_int_equal(manager_count(&P.peers), 0);
  assert_int_equal(manager_room_count(&P.peers), 0);
  assert_true(n->seq == 5);
  assert_int_equal(n_tickets, 0); /* in sequence: nothing to re-read */
  /* a silent leave of a client this node does not attribute to B */
  feed("B 5\nL 6 nobody\n");
  EXPECT_NONE();
}

static void test_silent_leave_of_a_known_holder(void **state) {
  (void)state;
  node_b();
  feed("B 5\nJ 1 b1 100 r\n{\"j\":1}");
  clear_events();
  feed("B 5\nL 2 b1\n");
  EXPECT("room_left b1 r", "user_left b1");
}

static void test_gap_asks_a_reread(void **state) {
  pnode_t *n;
  (void)state;
  n = node_b();
  feed("B 5\nJ 1 b1 100\n{}");
  assert_int_equal(n_tickets, 0);
  feed("B 5\nJ 3 b3 100\n{\"j\":3}"); /* 2 is missing */
  assert_int_equal(n_tickets, 1);
  assert_true(tickets[0].gen == n->gen);
  assert_true(n->reread_pending);
  /* applied anyway, and kept for the replay */
  assert_non_null(presence_find(&P, "b3", 2));
  assert_non_null(n->ovl);
  assert_true(n->ovl->seq == 3);
  /* another gap while pending: one more re-read after this one */
  feed("B 5\nJ 6 b6 100\n{}");
  assert_int_equal(n_tickets, 1);
  assert_true(n->reread_again);
  answer("#inc=5;#seq=4;b1=100;b2=100;b3=100");
  assert_int_equal(n_tickets, 2);
  assert_true(n->reread_pending);
  assert_false(n->reread_again);
  assert_non_null(presence_find(&P, "b2", 2));
  assert_non_null(presence_find(&P, "b6", 2)); /* from the overlay */
  assert_true(n->seq == 6);
}

static void test_reread_that_cannot_go_out(void **state) {
  pnode_t *n;
  (void)state;
  n = node_b();
  reread_fails = 1;
  feed("B 5\nJ 2 b2 100\n{}");
  assert_false(n->reread_pending);
  assert_null(n->ovl);
  reread_fails = 0;
  feed("B 5\nH 2 1 0000000000000000\n"); /* digest mismatch: asked again */
  assert_int_equal(n_tickets, 1);
  assert_true(n->reread_pending);
  /* a lost answer clears the pending state and does not retry */
  n->reread_again = 1;
  presence_snapshot(&P, &tickets[0], PRESENCE_SNAP_LOST, NULL, 0);
  assert_false(n->reread_pending);
  assert_int_equal(n_tickets, 1);
}

static void test_new_incarnation(void **state) {
  pnode_t *n;
  (void)state;
  n = node_b();
  feed("B 5\nJ 1 b1 100 r\n{}");
  feed("B 5\nJ 2 b2 100\n{}");
  clear_events();
  /* a late word of an older incarnation is ignored */
  assert_null(feed("B 4\nJ 3 old 100\n{}"));
  assert_null(presence_find(&P, "old", 3));
  EXPECT_NONE();
  /* the node restarted: its clients left, the new one is re-read */
  n = feed("B 6\nH 0 0 0000000000000000\n");
  assert_non_null(n);
  assert_true(n->inc == 6);
  assert_int_equal(n->n_clients, 0);
  assert_true(has_event("user_left b1") && has_event("user_left b2") &&
              has_event("room_left b1 r"));
  assert_true(event_index("room_left b1 r") < event_index("user_left b1"));
  assert_int_equal(n_events, 3);
  assert_int_equal(manager_count(&P.peers), 0);
  assert_int_equal(n_tickets, 1);
  assert_true(tickets[0].inc == 6);
  /* the new incarnation's HASH tells what it holds now */
  clear_events();
  answer("#inc=6;#seq=1;b1=200");
  EXPECT("user_joined b1");
}

static void test_heartbeat_check(void **state) {
  static const char *const rooms[] = {"r", "s"};
  char hb[128];
  pnode_t *n;
  uint64_t d;
  (void)state;
  n = node_b();
  feed("B 5\nJ 1 b1 100 r s\n{}");
  feed("B 5\nJ 2 b2 100\n{}");
  d = ref_digest("b1", rooms, 2) ^ ref_digest("b2", NULL, 0);
  assert_true(presence_node_digest(n) == d);
  /* pinned: nodes of every build must agree on these values */
  assert_true(ref_digest("b2", NULL, 0) == 0x9ba89500c65839d3ULL);
  assert_true(ref_digest("b1", rooms, 2) == 0x9ba89700c65839f1ULL);
  assert_true(presence_client_digest(&presence_find(&P, "b1", 2)->client) == 0x9ba89700c65839f1ULL);
  assert_true(presence_client_digest(&presence_find(&P, "b2", 2)->client) == 0x9ba89500c65839d3ULL);
  snprintf(hb, sizeof hb, "B 5\nH 2 2 %016llx\n", (unsigned long long)d);
  feed(hb);
  assert_int_equal(n_tickets, 0); /* agrees */
  snprintf(hb, sizeof hb, "B 5\nH 2 2 %016llx hello\n", (unsigned long long)d);
  feed(hb);
  assert_int_equal(n_tickets, 0); /* the hello is the caller's to answer */
  snprintf(hb, sizeof hb, "B 5\nH 2 2 %016llx\n", (unsigned long long)(d ^ 1));
  feed(hb);
  assert_int_equal(n_tickets, 1); /* digest */
  answer("#inc=5;#seq=2;b1=100 r s;b2=100");
  snprintf(hb, sizeof hb, "B 5\nH 2 3 %016llx\n", (unsigned long long)d);
  feed(hb);
  assert_int_equal(n_tickets, 2); /* count */
  answer("#inc=5;#seq=2;b1=100 r s;b2=100");
  snprintf(hb, sizeof hb, "B 5\nH 3 2 %016llx\n", (unsigned long long)d);
  feed(hb);
  assert_int_equal(n_tickets, 3); /* seq */
  /* while a re-read is pending, heartbeats ask nothing more */
  feed(hb);
  assert_int_equal(n_tickets, 3);
  assert_false(n->reread_again);
  /* the local digest is the same function */
  local_client(0, "b2", 1);
  assert_true(presence_digest(&local) == 0x9ba89500c65839d3ULL);
}

static void test_snapshot_with_overlay(void **state) {
  pnode_t *n;
  (void)state;
  n = node_b();
  feed("B 5\nJ 1 w 100\n{\"w\":1}");
  feed("B 5\nJ 2 old 100 r\n{}");
  clear_events();
  feed("B 5\nH 2 5 0000000000000000\n"); /* 5 clients, not 2: re-read */
  assert_int_equal(n_tickets, 1);
  /* deltas racing with the HGETALL, applied at once and kept */
  feed("B 5\nJ 3 y 100\n{\"y\":1}");
  feed("B 5\nJ 4 x 300 r\n{\"x\":1}");
  feed("B 5\nL 5 y\n{\"y\":0}");
  feed("B 5\nM 6 w r + 100 r\n{\"wr\":1}");
  EXPECT("fwd_all {\"y\":1}", "fwd_all {\"x\":1}", "fwd_all {\"y\":0}", "fwd_room r {\"wr\":1}");
  assert_false(n->reread_again); /* in sequence */
  /* The HASH as of #seq 3: y in (it left at 5), w not yet in r (6), x not
   * yet there (4), z there (the replica had missed it), old gone. */
  answer("#inc=5;#seq=3;w=100;y=100;z=100 r");
  EXPECT("user_joined z", "room_joined z r", "room_left old r", "user_left old");
  assert_null(presence_find(&P, "y", 1));
  assert_null(presence_find(&P, "old", 3));
  assert_non_null(presence_find(&P, "x", 1));
  assert_non_null(presence_find(&P, "z", 1));
  assert_true(peer_in_room("w", "r") && peer_in_room("x", "r") && peer_in_room("z", "r"));
  assert_int_equal(n->n_clients, 3);
  assert_true(n->seq == 6);
  assert_null(n->ovl);
  assert_false(n->reread_pending);
}

static void test_overlay_replays_the_last_word(void **state) {
  pnode_t *n;
  (void)state;
  n = node_b();
  feed("B 5\nH 0 1 0000000000000000\n");
  assert_int_equal(n_tickets, 1);
  feed("B 5\nJ 1 q 100\n{}");
  feed("B 5\nM 2 q r + 100 r\n{}");
  feed("B 5\nM 3 q r - 100\n{}");
  clear_events();
  /* the snapshot is older than all three and still shows q in r */
  answer("#inc=5;#seq=0;q=100 r");
  EXPECT_NONE(); /* the replay ends with q in no room, as it is */
  assert_non_null(presence_find(&P, "q", 1));
  assert_null(manager_room_find(&P.peers, "r", 1));
  assert_true(n->seq == 3);
}

static void test_snapshot_ignored(void **state) {
  pnode_t *n;
  presence_ticket_t stale;
  (void)state;
  n = node_b();
  feed("B 5\nJ 1 b1 100\n{}");
  clear_events();
  feed("B 5\nH 7 7 0000000000000000\n");
  assert_int_equal(n_tickets, 1);
  stale = tickets[0];
  stale.gen--;
  presence_snapshot(&P, &stale, PRESENCE_SNAP_OK, NULL, 0); /* not this request's */
  assert_true(n->reread_pending);
  answer("#seq=9;b9=100"); /* no #inc: expired, nothing to learn */
  assert_false(n->reread_pending);
  assert_null(presence_find(&P, "b9", 2));
  assert_non_null(presence_find(&P, "b1", 2));
  feed("B 5\nH 7 7 0000000000000000\n");
  answer("#inc=4;#seq=9;b9=100"); /* another incarnation's */
  assert_null(presence_find(&P, "b9", 2));
  feed("B 5\nH 7 7 0000000000000000\n");
  answer("#inc=5;#seq=9;b9=100;bad!id=1;b8=notaclaim;#other=x");
  assert_non_null(presence_find(&P, "b9", 2));
  assert_null(presence_find(&P, "b8", 2));
  assert_null(presence_find(&P, "b1", 2)); /* not in the HASH: left */
  EXPECT("user_joined b9", "user_left b1");
}

static void test_silent_node_dropped(void **state) {
  pnode_t *n;
  (void)state;
  n = node_b();
  feed_at("B 5\nJ 1 b1 100 r\n{}", 2000);
  feed_at("B 5\nJ 2 b2 100\n{}", 2000);
  feed_at("C 8\nH 0 0 0000000000000000\n", 8000);
  answer("#inc=8;#seq=0");
  clear_events();
  assert_true(n->last_seen == 2000);
  presence_expire(&P, 9000, 7000); /* B silent exactly 7 s: kept */
  EXPECT_NONE();
  presence_expire(&P, 9001, 7000);
  assert_int_equal(n_events, 3);
  assert_true(has_event("user_left b1") && has_event("user_left b2"));
  assert_true(event_index("room_left b1 r") < event_index("user_left b1"));
  clear_events();
  assert_null(presence_node(&P, S("B")));
  assert_non_null(presence_node(&P, S("C")));
  assert_int_equal(manager_count(&P.peers), 0);
  /* thawed after an outage: nobody is dropped for the time we were deaf */
  presence_thaw(&P, 50000);
  presence_expire(&P, 50001, 7000);
  assert_non_null(presence_node(&P, S("C")));
}

static void test_goodbye(void **state) {
  (void)state;
  node_b();
  feed("B 5\nJ 1 b1 100 r\n{}");
  clear_events();
  assert_null(feed("B 5\nX\n"));
  EXPECT("room_left b1 r", "user_left b1");
  assert_null(presence_node(&P, S("B")));
  /* a goodbye of a node never seen creates nothing */
  assert_null(feed("Q 1\nX\n"));
  assert_null(presence_node(&P, S("Q")));
  EXPECT_NONE();
}

static void test_claim_rule(void **state) {
  (void)state;
  assert_true(presence_claim_wins(2, "A", 1, "B"));
  assert_false(presence_claim_wins(1, "B", 2, "A"));
  assert_true(presence_claim_wins(5, "B", 5, "A")); /* tie: the greater node id */
  assert_false(presence_claim_wins(5, "A", 5, "B"));
  assert_false(presence_claim_wins(5, "A", 5, "A"));
  assert_true(presence_claim_wins(5, "node10", 5, "node1"));
}

static void test_later_claim_evicts_the_local_holder(void **state) {
  (void)state;
  node_b();
  local_client(0, "x", 1000);
  local_client(1, "y", 1000);
  local_client(2, "t", 700);
  /* an earlier claim loses: nothing happens */
  feed("B 5\nJ 1 x 999 r\n{\"j\":\"x\"}");
  EXPECT_NONE();
  assert_null(presence_find(&P, "x", 1));
  assert_non_null(manager_find(&local, "x", 1));
  /* a later claim wins: the local one is evicted, B's is kept; the user
   * never left, so its user_joined is not forwarded */
  feed("B 5\nJ 2 x 1001 r\n{\"j\":\"x\"}");
  EXPECT("evict x");
  assert_null(manager_find(&local, "x", 1));
  assert_non_null(presence_find(&P, "x", 1));
  assert_true(peer_in_room("x", "r"));
  /* a tie goes to the greater node id: B > A */
  feed("B 5\nJ 3 y 1000\n{}");
  EXPECT("evict y");
  assert_non_null(presence_find(&P, "y", 1));
  /* and a re-read applies the same rule */
  feed("B 5\nH 9 9 0000000000000000\n");
  answer("#inc=5;#seq=9;x=1001 r;y=1000;t=800");
  EXPECT("evict t");
  assert_null(manager_find(&local, "t", 1));
}

static void test_tie_won_by_this_node(void **state) {
  (void)state;
  presence_free(&P);
  assert_int_equal(presence_init(&P, &local, "C", &EV), 0); /* C > B */
  node_b();
  local_client(0, "x", 1000);
  feed("B 5\nJ 1 x 1000\n{}");
  EXPECT_NONE();
  assert_non_null(manager_find(&local, "x", 1));
  assert_null(presence_find(&P, "x", 1));
}

static void test_claim_between_two_other_nodes(void **state) {
  pnode_t *b, *c;
  (void)state;
  b = node_b();
  c = feed("C 8\nH 0 0 0000000000000000\n");
  answer("#inc=8;#seq=0");
  clear_events();
  feed("B 5\nJ 1 x 100\n{\"j\":\"B\"}");
  EXPECT("fwd_all {\"j\":\"B\"}");
  /* C's later claim moves x silently (B closes its own) */
  feed("C 8\nJ 1 x 200\n{\"j\":\"C\"}");
  EXPECT_NONE();
  assert_true(presence_find(&P, "x", 1)->node == c);
  assert_int_equal(b->n_clients, 0);
  /* B's silent leave of the moved id changes nothing */
  feed("B 5\nL 2 x\n");
  EXPECT_NONE();
  assert_true(presence_find(&P, "x", 1)->node == c);
  /* an earlier claim from B loses */
  feed("B 5\nJ 3 x 150\n{}");
  EXPECT_NONE();
  assert_true(presence_find(&P, "x", 1)->node == c);
}

static void test_local_claim_takes_over(void **state) {
  client_t *c;
  (void)state;
  node_b();
  feed("B 5\nJ 1 x 5000 r\n{}");
  clear_events();
  /* the local clock is behind B's claim: the claim is made later */
  c = local_client(0, "x", 0);
  assert_int_equal(presence_claim(&P, c, 4000), 1);
  assert_true(c->claim_usec == 5001);
  assert_null(presence_find(&P, "x", 1));
  assert_null(manager_room_find(&P.peers, "r", 1));
  EXPECT_NONE(); /* no leave/join pair */
  c = local_client(1, "fresh", 0);
  assert_int_equal(presence_claim(&P, c, 4000), 0);
  assert_true(c->claim_usec == 4000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_deltas_apply, setup, teardown),
      cmocka_unit_test_setup_teardown(test_silent_leave_of_a_known_holder, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gap_asks_a_reread, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reread_that_cannot_go_out, setup, teardown),
      cmocka_unit_test_setup_teardown(test_new_incarnation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_heartbeat_check, setup, teardown),
      cmocka_unit_test_setup_teardown(test_snapshot_with_overlay, setup, teardown),
      cmocka_unit_test_setup_teardown(test_overlay_replays_the_last_word, setup, teardown),
      cmocka_unit_test_setup_teardown(test_snapshot_ignored, setup, teardown),
      cmocka_unit_test_setup_teardown(test_silent_node_dropped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_goodbye, setup, teardown),
      cmocka_unit_test_setup_teardown(test_claim_rule, setup, teardown),
      cmocka_unit_test_setup_teardown(test_later_claim_evicts_the_local_holder, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tie_won_by_this_node, setup, teardown),
      cmocka_unit_test_setup_teardown(test_claim_between_two_other_nodes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_local_claim_takes_over, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
