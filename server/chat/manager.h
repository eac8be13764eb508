/* The connection manager: clients by id, rooms and their members, and
 * fan-out. It knows clients and rooms, not sockets: each recipient gets an
 * outmsg (encoded and framed once) through the manager's deliver function,
 * which whoever owns the transport supplies. The cluster keeps a second
 * manager, without deliver, as its replica of the other nodes. */
#ifndef FASTWS_CHAT_MANAGER_H
#define FASTWS_CHAT_MANAGER_H

#include <stddef.h>
#include <stdint.h>

#include "server/util/idmap.h"
#include "server/ws/outmsg.h"

typedef struct room_s room_t;
typedef struct member_s member_t;

/* The manager's part of a connection, embedded in it. Registered between
 * manager_add and manager_remove; id is owned (heap) while registered. */
typedef struct client_s {
  idmap_node_t node;            /* by id */
  char *id;
  struct client_s *prev, *next; /* all clients, in connect order */
  member_t *rooms;              /* this client's memberships */
  int64_t claim_usec;           /* cluster: when this connection took the id */
  uint32_t n_rooms;
  uint32_t max_rooms; /* 0 = no cap; from the settings it was accepted under */
  uint8_t id_len;
  /* Rate limit (token bucket), from the settings it was accepted under:
   * rate tokens a second, at most burst saved; tokens_at in ms (mod 2^32). */
  float rate, burst, tokens;
  uint32_t tokens_at;
} client_t;

/* A membership: in its room's list (join order) and in its room's member
 * map keyed by the client's address, so is-member is O(1) however many
 * rooms a client joins. */
struct member_s {
  idmap_node_t node; /* in room->members, key: &client */
  room_t *room;
  client_t *client;
  member_t *prev, *next; /* in the room, in join order */
  member_t *client_next; /* in the client's list */
  member_t *client_prev;
};

struct room_s {
  idmap_node_t node; /* by name */
  char *name;
  uint8_t name_len;
  room_t *prev, *next; /* all rooms, in creation order */
  member_t *head, *tail;
  idmap_t members;
  size_t count;
};

/* Queues m on c's transport; 0 when queued. Must not free c. */
typedef int (*manager_deliver_fn)(client_t *c, outmsg_t *m);

/* Owned by its declarer; manager_free releases rooms and tables (clients
 * belong to their connections). */
typedef struct {
  idmap_t clients;
  client_t *first, *last;
  idmap_t rooms;
  room_t *rfirst, *rlast;
  manager_deliver_fn deliver; /* NULL: a replica nobody delivers to */
} manager_t;

int manager_init(manager_t *m, manager_deliver_fn deliver);
void manager_free(manager_t *m);

client_t *manager_find(const manager_t *m, const char *id, size_t len);

/* Registers c under id (copied). The id must not be registered. 0 or -1. */
int manager_add(manager_t *m, client_t *c, const char *id, size_t len);

/* Unregisters c and frees its id; the caller has emptied its rooms. */
void manager_remove(manager_t *m, client_t *c);

/* Moves the registration of `old` (id and position) to `c`, so the user
 * stays connected without a leave/join pair. old's rooms stay with old. */
void manager_replace(manager_t *m, client_t *old, client_t *c);

size_t manager_count(const manager_t *m);
size_t manager_room_count(const manager_t *m);

/* m->deliver to c. */
void manager_deliver(manager_t *m, client_t *c, outmsg_t *msg);

/* Every client, `except` excluded (NULL for none). */
void manager_broadcast(manager_t *m, outmsg_t *msg, const client_t *except);

room_t *manager_room_find(const manager_t *m, const char *name, size_t len);

/* Adds c to the room (created on first join). Returns the room, or NULL
 * on ENOMEM. *joined is 0 when c was already a member. */
room_t *manager_room_join(manager_t *m, client_t *c, const char *name, size_t len, int *joined);

/* Removes c from r; frees r when it empties (then returns 1, else 0). */
int manager_room_leave(manager_t *m, room_t *r, client_t *c);

int manager_room_is_member(const room_t *r, const client_t *c);

void manager_room_broadcast(manager_t *m, room_t *r, outmsg_t *msg);

#endif
