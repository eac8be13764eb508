/* The chat: clients, rooms and messages, whatever the transport. One
 * chat_t per process, owned by the daemon. The transport (server/ wires
 * WebSocket sessions to it) is reached only through chat_transport_t;
 * other nodes only through the backplane (backplane.h). Every envelope is
 * built in events.c, encoded once into chat->scratch and framed once for
 * all its recipients. */
#ifndef FASTWS_CHAT_CHAT_H
#define FASTWS_CHAT_CHAT_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/message.h"
#include "server/chat/backplane.h"
#include "server/chat/manager.h"

enum { MT_CHAT, MT_PRIVATE, MT_PING, MT_JOIN, MT_LEAVE, MT_ROOM, MT_OTHER, MT_COUNT };

enum {
  ME_INVALID_JSON,
  ME_INVALID_MESSAGE,
  ME_UNKNOWN_TYPE,
  ME_UNKNOWN_RECIPIENT,
  ME_NOT_IN_ROOM,
  ME_RATE_LIMITED,
  ME_TOO_MANY_ROOMS,
  ME_COUNT
};

typedef struct {
  uint64_t messages_received[MT_COUNT];
  uint64_t messages_sent;
  uint64_t errors[ME_COUNT];
} chat_stats_t;

/* The transport under the chat, supplied by the daemon. */
typedef struct {
  /* Queues m on c's connection; a failing recipient is closed later,
   * never freed here. Returns 0 when queued. */
  manager_deliver_fn deliver;
  /* Closes c's connection with a WebSocket close code; c departs later,
   * from the loop hook (chat_depart), never inside this call. */
  void (*close)(client_t *c, uint16_t code, const char *reason);
  /* "ip:port" of c's peer, for log lines. */
  const char *(*peer)(const client_t *c, char *buf, size_t len);
} chat_transport_t;

typedef struct chat_s {
  manager_t mgr;
  const chat_transport_t *tr;
  backplane_t *bp; /* NULL on a single node */
  strbuf_t scratch; /* the envelope being sent */
  strbuf_t emit;    /* chat_emit_*: may run inside a backplane call */
  chat_stats_t stats;
  int on_duplicate_id; /* DUP_* of config.h, for new connections */
} chat_t;

int chat_init(chat_t *ch, const chat_transport_t *tr);
void chat_free(chat_t *ch);

/* Registers c under id for a new connection (rate: messages/s, 0 = off;
 * burst: bucket size). Another local holder of the id is replaced (closed
 * with 4001, no leave/join pair); user_joined goes out unless the id was
 * already connected. 0, or -1 on ENOMEM. */
int chat_join(chat_t *ch, client_t *c, const char *id, size_t len, double rate, double burst);

/* c leaves (rooms, registry, user_left). Call once per joined client,
 * from the loop hook, never inside a fan-out. A client replaced or
 * evicted meanwhile leaves silently. Safe for a client that never joined. */
void chat_depart(chat_t *ch, client_t *c);

/* Another node took c's id: c leaves its rooms, is unregistered without
 * user_left, and is closed with 4001 "replaced". */
void chat_evict(chat_t *ch, client_t *c);

/* One complete text message from c. */
void chat_dispatch(chat_t *ch, client_t *c, const uint8_t *text, size_t len);

/* 1 when id is connected here or on another node. */
int chat_has_id(const chat_t *ch, const char *id, size_t len);

/* Clients cluster-wide (local ones included). */
size_t chat_clients_total(const chat_t *ch);

/* Members of the room cluster-wide; local is the local room or NULL. */
size_t chat_room_total(const chat_t *ch, const char *name, size_t len, const room_t *local);

/* Rooms cluster-wide (a room with members on several nodes counts once). */
size_t chat_rooms_total(const chat_t *ch);

/* Delivery of envelopes already encoded (another node's, byte for byte). */
void chat_deliver_all(chat_t *ch, const char *env, size_t len);
void chat_deliver_room(chat_t *ch, const char *room, size_t room_len, const char *env, size_t len);
void chat_deliver_one(chat_t *ch, client_t *c, const char *env, size_t len);

/* Events of this node's own making, for changes learnt without an
 * envelope to forward (a cluster re-read, a node that died): user_joined /
 * user_left (type) with the current count to every local client, and
 * room_joined / room_left to the local members of room. */
void chat_emit_user(chat_t *ch, const char *type, const char *id);
void chat_emit_room(chat_t *ch, const char *type, const char *id, const char *room);

/* error unknown_recipient to c (a private that bounced off another node). */
void chat_error_unknown_recipient(chat_t *ch, client_t *c);

/* The envelope metrics type index for a message type. */
int chat_type_index(const char *type, size_t len);
extern const char *const chat_type_names[MT_COUNT];
extern const char *const chat_error_names[ME_COUNT];

#endif
