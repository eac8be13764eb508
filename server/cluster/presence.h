/* Presence (cluster.h, "Presence" and "Duplicate ids across nodes"): this
 * node's replica of the other nodes and their clients, kept from their
 * deltas (J, L, M), checked against their heartbeats (H), re-read from
 * their HASH when it may be wrong, and the claim rule that settles an id
 * held on two nodes.
 *
 * Pure: no hiredis, no libuv, no clock of its own (times are passed in).
 * It reads the local registry (for the claim rule) and changes the world
 * only through presence_events_t: what local clients must be told, the
 * local client that lost a claim, and the re-reads it needs. Messages from
 * this node itself never reach it (the caller filters them). */
#ifndef FASTWS_CLUSTER_PRESENCE_H
#define FASTWS_CLUSTER_PRESENCE_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/message.h"
#include "protocol/slice.h"
#include "server/chat/manager.h"
#include "server/cluster/wire.h"

typedef struct pnode_s pnode_t;

/* A client of another node: registered in presence_t.peers, listed by its
 * node. */
typedef struct rclient_s {
  client_t client; /* id, rooms (in peers), claim_usec */
  pnode_t *node;
  struct rclient_s *nprev, *nnext;
  unsigned mark : 1; /* seen in the snapshot being applied */
} rclient_t;

/* A delta received while a re-read of its node is pending. */
typedef struct povl_s {
  struct povl_s *next;
  uint64_t seq;
  char *id;
  char *value; /* NULL: the client left */
} povl_t;

/* Another node, as far as this one knows. */
struct pnode_s {
  pnode_t *next;
  char id[WIRE_NODE_ID_MAX + 1];
  size_t id_len;
  int64_t inc;        /* incarnation: a restart under the same id is a new node */
  uint64_t seq;       /* last presence delta applied */
  uint64_t last_seen; /* time (ms, the caller's clock) of its last message */
  rclient_t *clients;
  size_t n_clients;
  uint32_t gen; /* re-read generation, to recognise a late answer */
  unsigned reread_pending : 1;
  unsigned reread_again : 1;
  povl_t *ovl, *ovl_tail;
};

/* Names one re-read: its answer is matched to the node by all three. */
typedef struct {
  char node[WIRE_NODE_ID_MAX + 1];
  int64_t inc;
  uint32_t gen;
} presence_ticket_t;

/* What presence cannot do itself. The callbacks run only inside
 * presence_seen, _delta, _heartbeat, _goodbye, _snapshot and _expire. */
typedef struct {
  void *ctx;
  /* "user_joined" / "user_left" of this node's making, for a change learnt
   * without an envelope (a re-read, a dropped node). The peers replica
   * already shows the change. */
  void (*on_user)(void *ctx, const char *type, const char *id);
  /* "room_joined" / "room_left" of this node's making, likewise. */
  void (*on_room)(void *ctx, const char *type, const char *id, const char *room);
  /* The local client c lost its id to another node's later claim: it must
   * be unregistered from the local manager before this returns (the chat
   * closes it with 4001, tells its rooms, publishes a silent leave). */
  void (*on_evict)(void *ctx, client_t *c);
  /* The origin's envelope (never empty), byte for byte, to every local
   * client / to the local members of room. */
  void (*forward_all)(void *ctx, slice_t env);
  void (*forward_room)(void *ctx, slice_t room, slice_t env);
  /* Re-read t->node's HASH; hand the answer to presence_snapshot with a
   * copy of *t. 0 when the read went out, -1 when it cannot now (the
   * session is down or closing: nothing is then pending). */
  int (*reread)(void *ctx, const presence_ticket_t *t);
} presence_events_t;

/* Owned by its declarer (the cluster). */
typedef struct {
  manager_t peers;        /* every other node's clients and rooms */
  const manager_t *local; /* this node's registry, read only */
  char self[WIRE_NODE_ID_MAX + 1];
  pnode_t *nodes; /* in order of discovery */
  const presence_events_t *ev;
} presence_t;

/* self: this node's id (ties of the claim rule). local and ev are
 * borrowed for the presence's life. 0, or -1 on ENOMEM. */
int presence_init(presence_t *p, const manager_t *local, const char *self,
                  const presence_events_t *ev);

/* Forgets every node without an event. */
void presence_free(presence_t *p);

/* A well-formed message m from another node arrived at now_ms: finds its
 * node or creates it (then re-reads it), replaces an older incarnation
 * (whose clients leave, with events), and marks it alive. Returns the
 * node, or NULL when m is to be ignored (a late word of an older
 * incarnation, a goodbye of a node never seen, ENOMEM). */
pnode_t *presence_seen(presence_t *p, const wire_msg_t *m, uint64_t now_ms);

/* A J, L or M delta of n (after presence_seen): applied in sequence; a gap
 * asks a re-read. The origin's envelope is forwarded when local clients
 * must see it (J: a user new to the cluster; L: the holder left; M: always,
 * to the room's local members). */
void presence_delta(presence_t *p, pnode_t *n, const wire_msg_t *m);

/* n's heartbeat: a re-read unless its seq, count and digest agree with the
 * replica (or one is pending). A "hello" is the caller's to answer. */
void presence_heartbeat(presence_t *p, pnode_t *n, const wire_msg_t *m);

/* n said goodbye: its clients leave (with events), n is forgotten. */
void presence_goodbye(presence_t *p, pnode_t *n);

enum {
  PRESENCE_SNAP_OK,    /* kv holds the HASH (n_kv fields and values, interleaved) */
  PRESENCE_SNAP_ERROR, /* an answer that is not a HASH: a later request may retry */
  PRESENCE_SNAP_LOST,  /* no answer (the session went, or is closing) */
};

/* The answer to the re-read named by t. A stale ticket (node gone,
 * restarted, or re-read again since) is ignored. On PRESENCE_SNAP_OK the
 * node's state becomes the HASH overlaid with the deltas newer than its
 * #seq, and the difference with the replica is told through the events.
 * kv: n_kv slices, field then value, borrowed. */
void presence_snapshot(presence_t *p, const presence_ticket_t *t, int status, const slice_t *kv,
                       size_t n_kv);

/* Drops (with events) every node not heard from for more than timeout_ms. */
void presence_expire(presence_t *p, uint64_t now_ms, uint64_t timeout_ms);

/* Marks every node alive at now_ms (the replica was frozen while this node
 * could not hear the others). */
void presence_thaw(presence_t *p, uint64_t now_ms);

/* Stamps c's claim time (now_usec, made later than another node's holder
 * of c->id) as c registers locally. When another node held the id, that
 * holder is forgotten without an event and 1 is returned (the new
 * connection takes the id over), else 0. */
int presence_claim(presence_t *p, client_t *c, int64_t now_usec);

/* The claim rule: 1 when claim c1 of node n1 beats claim c2 of node n2
 * (the later claim wins; equal claims go to the greater node id). */
int presence_claim_wins(int64_t c1, const char *n1, int64_t c2, const char *n2);

/* The node named id, or NULL. */
pnode_t *presence_node(const presence_t *p, slice_t id);

/* Another node's holder of id, or NULL. */
rclient_t *presence_find(const presence_t *p, const char *id, size_t len);

/* Digests of heartbeats: the XOR of 64-bit FNV-1a hashes of each client id
 * and each "id\nroom" membership, so order does not matter. Every node
 * computes them alike. */
uint64_t presence_client_digest(const client_t *c);
uint64_t presence_digest(const manager_t *m); /* of a manager's clients */
uint64_t presence_node_digest(const pnode_t *n);

#endif
