/* The presence replica and the claim rule: see presence.h, and cluster.h
 * for the design. */
#include "server/cluster/presence.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "server/util/hash.h"
#include "server/util/list.h"
#include "server/util/log.h"

enum { CLAIM_NEW, CLAIM_UPDATED, CLAIM_LOST };

static const slice_t NO_ENV = {NULL, 0};

static void reread(presence_t *p, pnode_t *n);

static void copy_cstr(char *dst, size_t cap, slice_t s) {
  size_t len = s.len < cap - 1 ? s.len : cap - 1;
  if (len) memcpy(dst, s.base, len);
  dst[len] = '\0';
}

/* --- digests --------------------------------------------------------------- */

/* The seed every node's digest starts from. It is part of the wire contract
 * between nodes (heartbeats compare digests), so it stays this value even
 * though it is not FNV-1a's published offset basis. */
#define DIGEST_SEED 1469598103934665603ULL

uint64_t presence_client_digest(const client_t *c) {
  uint64_t d = hash_fnv1a(DIGEST_SEED, c->id, c->id_len);
  uint64_t prefix = hash_fnv1a(hash_fnv1a(DIGEST_SEED, c->id, c->id_len), "\n", 1);
  const member_t *mb;
  for (mb = c->rooms; mb; mb = mb->client_next)
    d ^= hash_fnv1a(prefix, mb->room->name, mb->room->name_len);
  return d;
}

uint64_t presence_digest(const manager_t *m) {
  uint64_t d = 0;
  const client_t *c;
  for (c = m->first; c; c = c->next)
    d ^= presence_client_digest(c);
  return d;
}

uint64_t presence_node_digest(const pnode_t *n) {
  uint64_t d = 0;
  const rclient_t *rc;
  for (rc = n->clients; rc; rc = rc->nnext)
    d ^= presence_client_digest(&rc->client);
  return d;
}

/* --- lookups ----------------------------------------------------------------- */

int presence_claim_wins(int64_t c1, const char *n1, int64_t c2, const char *n2) {
  return c1 != c2 ? c1 > c2 : strcmp(n1, n2) > 0;
}

pnode_t *presence_node(const presence_t *p, slice_t id) {
  pnode_t *n;
  for (n = p->nodes; n; n = n->next)
    if (slice_eq(slice_make(n->id, n->id_len), id)) return n;
  return NULL;
}

rclient_t *presence_find(const presence_t *p, const char *id, size_t len) {
  client_t *c = manager_find(&p->peers, id, len);
  return c ? container_of(c, rclient_t, client) : NULL;
}

/* --- the overlay --------------------------------------------------------------- */

static void ovl_clear(pnode_t *n) {
  while (n->ovl) {
    povl_t *o = n->ovl;
    n->ovl = o->next;
    free(o->id);
    free(o->value);
    free(o);
  }
  n->ovl_tail = NULL;
}

static void ovl_add(pnode_t *n, uint64_t seq, slice_t id, const slice_t *value) {
  povl_t *o = calloc(1, sizeof *o);
  if (!o) return;
  o->seq = seq;
  o->id = strndup(id.base, id.len);
  o->value = value ? strndup(value->base ? value->base : "", value->len) : NULL;
  if (!o->id || (value && !o->value)) {
    free(o->id);
    free(o->value);
    free(o);
    return;
  }
  if (n->ovl_tail)
    n->ovl_tail->next = o;
  else
    n->ovl = o;
  n->ovl_tail = o;
}

/* 1 when a delta received during the re-read, newer than the snapshot, is
 * about id: the snapshot's entry is then outdated. */
static int ovl_newer(const pnode_t *n, slice_t id, uint64_t snap_seq) {
  const povl_t *o;
  for (o = n->ovl; o; o = o->next)
    if (o->seq > snap_seq && slice_eq(slice_cstr(o->id), id)) return 1;
  return 0;
}

static int ovl_is_last(const povl_t *o) {
  const povl_t *n;
  for (n = o->next; n; n = n->next)
    if (strcmp(n->id, o->id) == 0) return 0;
  return 1;
}

/* --- the replica --------------------------------------------------------------- */

static pnode_t *node_new(presence_t *p, slice_t id, int64_t inc, uint64_t now) {
  pnode_t *n = calloc(1, sizeof *n), **pp;
  if (!n) return NULL;
  copy_cstr(n->id, sizeof n->id, id);
  n->id_len = strlen(n->id);
  n->inc = inc;
  n->last_seen = now;
  for (pp = &p->nodes; *pp; pp = &(*pp)->next) {
  }
  *pp = n;
  return n;
}

/* Leaves every room rc is in but not in rooms (a validated value's room
 * list), joins those it is not in. events: tell local clients. */
static void set_rooms(presence_t *p, rclient_t *rc, slice_t rooms, int events) {
  member_t *mb, *next;
  slice_t rest, name;
  for (mb = rc->client.rooms; mb; mb = next) {
    int keep = 0;
    next = mb->client_next;
    rest = rooms;
    while (wire_rooms_next(&rest, &name))
      if (slice_eq(name, slice_make(mb->room->name, mb->room->name_len))) {
        keep = 1;
        break;
      }
    if (!keep) {
      char rname[256];
      copy_cstr(rname, sizeof rname, slice_make(mb->room->name, mb->room->name_len));
      manager_room_leave(&p->peers, mb->room, &rc->client);
      if (events) p->ev->on_room(p->ev->ctx, "room_left", rc->client.id, rname);
    }
  }
  rest = rooms;
  while (wire_rooms_next(&rest, &name)) {
    int joined = 0;
    room_t *r;
    if (!wire_id_ok(name)) continue;
    r = manager_room_join(&p->peers, &rc->client, name.base, name.len, &joined);
    if (r && joined && events) p->ev->on_room(p->ev->ctx, "room_joined", rc->client.id, r->name);
  }
}

/* Forgets rc. events: tell local clients (room_left for its rooms, then
 * user_left: env when the origin sent one, else our own). */
static void remove_remote(presence_t *p, rclient_t *rc, int events, slice_t env) {
  pnode_t *n = rc->node;
  char id[256];
  member_t *mb;
  copy_cstr(id, sizeof id, slice_make(rc->client.id, rc->client.id_len));
  while ((mb = rc->client.rooms)) {
    char rname[256];
    copy_cstr(rname, sizeof rname, slice_make(mb->room->name, mb->room->name_len));
    manager_room_leave(&p->peers, mb->room, &rc->client);
    if (events) p->ev->on_room(p->ev->ctx, "room_left", id, rname);
  }
  manager_remove(&p->peers, &rc->client);
  if (rc->nprev)
    rc->nprev->nnext = rc->nnext;
  else
    n->clients = rc->nnext;
  if (rc->nnext) rc->nnext->nprev = rc->nprev;
  n->n_clients--;
  free(rc);
  if (!events) return;
  if (env.len)
    p->ev->forward_all(p->ev->ctx, env);
  else
    p->ev->on_user(p->ev->ctx, "user_left", id);
}

static void node_drop(presence_t *p, pnode_t *n, int events) {
  pnode_t **pp;
  while (n->clients)
    remove_remote(p, n->clients, events, NO_ENV);
  for (pp = &p->nodes; *pp && *pp != n; pp = &(*pp)->next) {
  }
  if (*pp) *pp = n->next;
  ovl_clear(n);
  free(n);
}

/* Node n says it holds id with value "<claim>[ rooms]". Applies the claim
 * rule against a local holder and another node's holder: the local loser
 * is evicted, another node's is forgotten silently (its node closes it).
 * A new id is announced: env when given, else our own user_joined when
 * events. Room changes are told when events. */
static int apply_claim(presence_t *p, pnode_t *n, slice_t id, slice_t value, slice_t env,
                       int events) {
  wire_value_t v;
  rclient_t *rc;
  client_t *local;
  int present = 0;
  if (wire_value_decode(value, &v) != 0) return CLAIM_LOST;
  rc = presence_find(p, id.base, id.len);
  if (rc && rc->node == n) {
    rc->client.claim_usec = v.claim;
    set_rooms(p, rc, v.rooms, events);
    rc->mark = 1;
    return CLAIM_UPDATED;
  }
  if ((local = manager_find(p->local, id.base, id.len))) {
    if (!presence_claim_wins(v.claim, n->id, local->claim_usec, p->self)) return CLAIM_LOST;
    p->ev->on_evict(p->ev->ctx, local);
    present = 1;
  } else if (rc) {
    if (!presence_claim_wins(v.claim, n->id, rc->client.claim_usec, rc->node->id))
      return CLAIM_LOST;
    remove_remote(p, rc, 0, NO_ENV);
    present = 1;
  }
  if (!(rc = calloc(1, sizeof *rc))) return CLAIM_LOST;
  if (manager_add(&p->peers, &rc->client, id.base, id.len) != 0) {
    free(rc);
    return CLAIM_LOST;
  }
  rc->client.claim_usec = v.claim;
  rc->node = n;
  rc->nnext = n->clients;
  if (n->clients) n->clients->nprev = rc;
  n->clients = rc;
  n->n_clients++;
  rc->mark = 1;
  if (!present) {
    if (env.len)
      p->ev->forward_all(p->ev->ctx, env);
    else if (events)
      p->ev->on_user(p->ev->ctx, "user_joined", rc->client.id);
  }
  set_rooms(p, rc, v.rooms, events);
  return present ? CLAIM_UPDATED : CLAIM_NEW;
}

/* The node's state = its HASH, overlaid with the deltas newer than it;
 * the difference with the replica is told to local clients. */
static void snapshot_apply(presence_t *p, pnode_t *n, const slice_t *kv, size_t n_kv) {
  uint64_t snap_seq = 0;
  int64_t inc = 0;
  int have_inc = 0;
  size_t i;
  rclient_t *rc, *next;
  const povl_t *o;
  for (i = 0; i + 1 < n_kv; i += 2) {
    if (slice_eq(kv[i], slice_make("#seq", 4)))
      wire_parse_u64(kv[i + 1], &snap_seq);
    else if (slice_eq(kv[i], slice_make("#inc", 4)))
      have_inc = wire_parse_i64(kv[i + 1], &inc);
  }
  /* No HASH (expired, or Redis lost it and the node has not rewritten it
   * yet), or another incarnation's: nothing to learn from it. */
  if (!have_inc || inc != n->inc) return;
  for (rc = n->clients; rc; rc = rc->nnext)
    rc->mark = 0;
  for (i = 0; i + 1 < n_kv; i += 2) {
    if (!wire_id_ok(kv[i]) || ovl_newer(n, kv[i], snap_seq)) continue;
    apply_claim(p, n, kv[i], kv[i + 1], NO_ENV, 1);
  }
  for (o = n->ovl; o; o = o->next)
    if (o->seq > snap_seq && o->value && ovl_is_last(o))
      apply_claim(p, n, slice_cstr(o->id), slice_cstr(o->value), NO_ENV, 1);
  for (rc = n->clients; rc; rc = next) {
    next = rc->nnext;
    if (!rc->mark) remove_remote(p, rc, 1, NO_ENV);
  }
  if (snap_seq > n->seq) n->seq = snap_seq;
}

/* Re-reads n's HASH (once at a time; a later request is remembered). */
static void reread(presence_t *p, pnode_t *n) {
  presence_ticket_t t;
  if (n->reread_pending) {
    n->reread_again = 1;
    return;
  }
  memcpy(t.node, n->id, n->id_len + 1);
  t.inc = n->inc;
  t.gen = ++n->gen;
  if (p->ev->reread(p->ev->ctx, &t) != 0) return;
  ovl_clear(n);
  n->reread_pending = 1;
  n->reread_again = 0;
}

/* --- public ---------------------------------------------------------------------- */

int presence_init(presence_t *p, const manager_t *local, const char *self,
                  const presence_events_t *ev) {
  memset(p, 0, sizeof *p);
  if (manager_init(&p->peers, NULL) != 0) return -1;
  p->local = local;
  copy_cstr(p->self, sizeof p->self, slice_cstr(self));
  p->ev = ev;
  return 0;
}

void presence_free(presence_t *p) {
  while (p->nodes)
    node_drop(p, p->nodes, 0);
  manager_free(&p->peers);
}

pnode_t *presence_seen(presence_t *p, const wire_msg_t *m, uint64_t now_ms) {
  pnode_t *n = presence_node(p, m->origin);
  if (n && m->inc != n->inc) {
    if (m->inc < n->inc) return NULL; /* a late word of a previous incarnation */
    log_info("cluster: node %s restarted", n->id);
    node_drop(p, n, 1);
    n = NULL;
  }
  if (!n) {
    if (m->kind == WIRE_GOODBYE || !(n = node_new(p, m->origin, m->inc, now_ms))) return NULL;
    log_info("cluster: node %s joined", n->id);
    reread(p, n);
  }
  n->last_seen = now_ms;
  return n;
}

void presence_delta(presence_t *p, pnode_t *n, const wire_msg_t *m) {
  rclient_t *rc;
  wire_value_t v;
  if (m->seq <= n->seq) return; /* already in a snapshot applied */
  if (m->seq != n->seq + 1) {
    if (!n->reread_pending)
      reread(p, n);
    else if (n->seq)
      n->reread_again = 1;
  }
  n->seq = m->seq;
  switch (m->kind) {
  case WIRE_JOIN:
    if (n->reread_pending) ovl_add(n, m->seq, m->id, &m->value);
    apply_claim(p, n, m->id, m->value, m->env, 0);
    break;
  case WIRE_LEAVE:
    if (n->reread_pending) ovl_add(n, m->seq, m->id, NULL);
    rc = presence_find(p, m->id.base, m->id.len);
    if (rc && rc->node == n) remove_remote(p, rc, 1, m->env);
    break;
  case WIRE_MEMBER:
    if (n->reread_pending) ovl_add(n, m->seq, m->id, &m->value);
    rc = presence_find(p, m->id.base, m->id.len);
    if (rc && rc->node == n && wire_value_decode(m->value, &v) == 0) set_rooms(p, rc, v.rooms, 0);
    /* Even for a holder we moved elsewhere: the old connection did leave. */
    if (m->env.len) p->ev->forward_room(p->ev->ctx, m->room, m->env);
    break;
  default: break;
  }
}

void presence_heartbeat(presence_t *p, pnode_t *n, const wire_msg_t *m) {
  if (n->reread_pending) return;
  if (m->seq != n->seq || m->count != n->n_clients || m->digest != presence_node_digest(n)) {
    log_debug("cluster: node %s disagrees with our replica (seq %" PRIu64 "/%" PRIu64 ", %" PRIu64
              "/%zu clients): re-reading",
              n->id, m->seq, n->seq, m->count, n->n_clients);
    reread(p, n);
  }
}

void presence_goodbye(presence_t *p, pnode_t *n) {
  log_info("cluster: node %s left (%zu clients)", n->id, n->n_clients);
  node_drop(p, n, 1);
}

void presence_snapshot(presence_t *p, const presence_ticket_t *t, int status, const slice_t *kv,
                       size_t n_kv) {
  pnode_t *n = presence_node(p, slice_cstr(t->node));
  if (!n || n->inc != t->inc || n->gen != t->gen) return;
  n->reread_pending = 0;
  if (status == PRESENCE_SNAP_OK) {
    snapshot_apply(p, n, kv, n_kv);
    log_debug("cluster: re-read node %s: %zu clients, seq %" PRIu64, n->id, n->n_clients, n->seq);
  }
  ovl_clear(n);
  if (n->reread_again && status != PRESENCE_SNAP_LOST) {
    n->reread_again = 0;
    reread(p, n);
  }
}

void presence_expire(presence_t *p, uint64_t now_ms, uint64_t timeout_ms) {
  pnode_t *n, *next;
  for (n = p->nodes; n; n = next) {
    next = n->next;
    if (now_ms - n->last_seen > timeout_ms) {
      log_warn("cluster: node %s silent for %d s: dropping its %zu clients", n->id,
               (int)(timeout_ms / 1000), n->n_clients);
      node_drop(p, n, 1);
    }
  }
}

void presence_thaw(presence_t *p, uint64_t now_ms) {
  pnode_t *n;
  for (n = p->nodes; n; n = n->next)
    n->last_seen = now_ms;
}

int presence_claim(presence_t *p, client_t *c, int64_t now_usec) {
  rclient_t *rc = presence_find(p, c->id, c->id_len);
  if (rc && now_usec <= rc->client.claim_usec) now_usec = rc->client.claim_usec + 1;
  c->claim_usec = now_usec;
  if (!rc) return 0;
  log_info("cluster: client %s taken over from node %s", c->id, rc->node->id);
  remove_remote(p, rc, 0, NO_ENV);
  return 1;
}
