/* Internal to server/chat: every envelope the chat sends is built here,
 * encoded once into chat->scratch and framed once for all recipients. */
#ifndef FASTWS_CHAT_EVENTS_H
#define FASTWS_CHAT_EVENTS_H

#include <jansson.h>

#include "server/chat/chat.h"

/* TO_NONE: encoded for other nodes only (the backplane). */
typedef enum { TO_ONE, TO_ALL, TO_ROOM, TO_NONE } target_kind_t;

typedef struct {
  target_kind_t kind;
  client_t *one;          /* TO_ONE */
  const client_t *except; /* TO_ALL */
  room_t *room;           /* TO_ROOM */
} target_t;

void events_timestamp(char out[MSG_TIMESTAMP_LEN + 1]);

/* Encodes the envelope and delivers it to t. Returns 0 with the envelope
 * left in ch->scratch (for the backplane, until the next use of scratch),
 * or -1 when it cannot be encoded. */
int events_send(chat_t *ch, const target_t *t, const char *type, const json_t *data,
                const char *client_id, const char *room, const char *ts);

/* error {code, error} to c; counts it under metric (ME_*). */
void events_error(chat_t *ch, client_t *c, int metric, const char *code, const char *text);

/* user_joined for c to everyone but c; silent: to nobody here (the id was
 * already connected), but told to the other nodes. */
void events_user_joined(chat_t *ch, client_t *c, int silent);

/* user_left for id to everyone still registered, and the other nodes. */
void events_user_left(chat_t *ch, const char *id);

/* room_joined: to the room's members when joined, else to c alone. */
void events_room_joined(chat_t *ch, client_t *c, room_t *room, int joined, const char *ts);

/* c leaves room: room_left to c and the remaining members; the room may
 * be gone after. */
void events_leave_room(chat_t *ch, client_t *c, room_t *room, const char *ts);

/* c leaves every room it is in. */
void events_leave_all_rooms(chat_t *ch, client_t *c);

#endif
