/* What a node sends to Redis on its PUB connection (cluster.h, "Message",
 * "Keys", "Gate"): PUBLISHes of every kind, the own HASH (P:clients:N),
 * heartbeats, and HGETALL re-reads of other nodes. Everything but the
 * re-reads goes through the gate: held back, in order, while a SUBSCRIBE
 * is unacknowledged. While the session is down all of it is dropped (the
 * HASH is rewritten when it comes back). Envelopes are borrowed and
 * copied before these return. */
#ifndef FASTWS_CLUSTER_PUBLISH_H
#define FASTWS_CLUSTER_PUBLISH_H

#include <stddef.h>

#include "server/chat/manager.h"
#include "server/cluster/presence.h"
#include "server/cluster/session.h"

/* The gate: sends what it holds once no SUBSCRIBE is pending. */
void publish_gate_release(session_t *s);
/* Forgets what the gate holds (the session went down). */
void publish_queue_clear(session_t *s);

/* Chat (C on P:all), room message (R on P:room:<room>), private to a
 * client of node (P on P:node:<node>), and the bounce of a private whose
 * recipient left, back to the sender's node (B). */
void publish_chat(session_t *s, const char *env, size_t len);
void publish_room_message(session_t *s, const char *room, const char *env, size_t len);
void publish_private(session_t *s, const char *node, const char *from, const char *to,
                     const char *env, size_t len);
void publish_bounce(session_t *s, slice_t node, slice_t from, slice_t to);

/* Presence deltas of local clients, each with the next sequence number and
 * its HASH write: c joined (J), id left (L; len 0: a silent leave), c
 * joined or left room (M). */
void publish_joined(session_t *s, const client_t *c, const char *env, size_t len);
void publish_left(session_t *s, const char *id, const char *env, size_t len);
void publish_room_changed(session_t *s, const client_t *c, const char *room, int joined,
                          const char *env, size_t len);

/* EXPIRE of the own HASH and the heartbeat (H on P:presence), flagged
 * "hello" when hello. */
void publish_heartbeat(session_t *s, int hello);

/* The whole own HASH, as one transaction (MULTI/DEL/HSET/EXPIRE/EXEC). */
void publish_rewrite(session_t *s);

/* Leaving: DEL of the own HASH and the goodbye (X on P:presence). */
void publish_goodbye(session_t *s);

/* HGETALL P:clients:<t->node>, outside the gate; the answer goes to
 * s->cbs->on_snapshot with a copy of *t. 0 when sent, -1 when the session
 * cannot now (down, closing, ENOMEM). */
int publish_reread(session_t *s, const presence_ticket_t *t);

#endif
