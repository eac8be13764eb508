/* The connection manager: connected clients by id, rooms and their members,
 * and fan-out. It knows clients and rooms, not sockets: it hands each
 * recipient an outmsg (encoded and framed once) through client_deliver,
 * which the connection layer implements. */
#ifndef FASTWS_MANAGER_H
#define FASTWS_MANAGER_H

#include <stddef.h>
#include <stdint.h>

#include "server/ws/outmsg.h"

typedef struct room_s room_t;
typedef struct member_s member_t;

/* The manager's part of a connection, embedded in it. Registered between
 * manager_add and manager_remove; id is owned (heap) while registered. */
typedef struct client_s {
  char *id;
  uint8_t id_len;
  struct client_s *hnext;       /* id hash chain */
  struct client_s *prev, *next; /* all clients, in connect order */
  member_t *rooms;              /* this client's memberships */
  int64_t claim_usec;           /* cluster: when this connection took the id */
} client_t;

struct member_s {
  room_t *room;
  client_t *client;
  member_t *prev, *next; /* in the room, in join order */
  member_t *client_next; /* in the client's list */
};

struct room_s {
  char *name;
  uint8_t name_len;
  room_t *hnext;
  room_t *prev, *next; /* all rooms, in creation order */
  member_t *head, *tail;
  size_t count;
};

/* Owned by the server; manager_free releases rooms and hash tables (clients
 * belong to their connections). */
typedef struct {
  client_t **ctab;
  size_t ctab_size, n_clients;
  client_t *first, *last;
  room_t **rtab;
  size_t rtab_size, n_rooms;
  room_t *rfirst, *rlast;
} manager_t;

/* Delivers m to c (queues the framed bytes); implemented by the
 * connection layer. Must not free c: a failing recipient is closed later. */
void client_deliver(client_t *c, outmsg_t *m);

int manager_init(manager_t *m);
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

/* Every client, `except` excluded (NULL for none). */
void manager_broadcast(manager_t *m, outmsg_t *msg, const client_t *except);

room_t *manager_room_find(const manager_t *m, const char *name, size_t len);

/* Adds c to the room (created on first join). Returns the room, or NULL
 * on ENOMEM. *joined is 0 when c was already a member. */
room_t *manager_room_join(manager_t *m, client_t *c, const char *name, size_t len, int *joined);

/* Removes c from r; frees r when it empties (then returns 1, else 0). */
int manager_room_leave(manager_t *m, room_t *r, client_t *c);

int manager_room_is_member(const room_t *r, const client_t *c);

void manager_room_broadcast(room_t *r, outmsg_t *msg);

#endif
