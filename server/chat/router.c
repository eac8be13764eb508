/* Client messages by type: a table of type -> handler. */
#include <string.h>

#include "protocol/handshake.h"
#include "protocol/message.h"
#include "server/chat/chat.h"
#include "server/chat/events.h"
#include "server/util/clock.h"
#include "server/util/log.h"

/* One message being handled: the sender, its decoded JSON and the
 * timestamp the server gave it on arrival. */
typedef struct {
  chat_t *ch;
  client_t *c;
  msg_in_t *m;
  const char *ts;
} req_t;

typedef void (*handler_fn)(req_t *r);

static void send_error(req_t *r, int metric, const char *code, const char *text) {
  events_error(r->ch, r->c, metric, code, text);
}

/* A field that must be a valid id (recipient_id, room); NULL when not. */
static const char *id_field(json_t *v) {
  const char *s;
  if (!v || !json_is_string(v)) return NULL;
  s = json_string_value(v);
  return ws_id_valid(s, json_string_length(v)) ? s : NULL;
}

static void on_chat(req_t *r) {
  chat_t *ch = r->ch;
  target_t t = {TO_ALL, NULL, NULL, NULL};
  if (events_send(ch, &t, "chat", r->m->data, r->c->id, NULL, r->ts) == 0 && ch->bp)
    ch->bp->ops->chat(ch->bp, ch->scratch.buf, ch->scratch.len);
}

static void on_private(req_t *r) {
  chat_t *ch = r->ch;
  const char *to = id_field(r->m->recipient_id);
  const manager_t *peers = bp_peers(ch->bp);
  client_t *dest;
  target_t t = {TO_ONE, NULL, NULL, NULL};
  if (!to) {
    send_error(r, ME_INVALID_MESSAGE, "invalid_message", "private needs a valid recipient_id");
    return;
  }
  if (!(dest = manager_find(&ch->mgr, to, strlen(to))) &&
      !(peers && manager_find(peers, to, strlen(to)))) {
    send_error(r, ME_UNKNOWN_RECIPIENT, "unknown_recipient", "no such recipient is connected");
    return;
  }
  t.one = dest;
  if (!dest) t.kind = TO_NONE; /* on another node */
  if (events_send(ch, &t, "private", r->m->data, r->c->id, NULL, r->ts) == 0 && !dest)
    ch->bp->ops->private_msg(ch->bp, r->c->id, to, ch->scratch.buf, ch->scratch.len);
}

static void on_ping(req_t *r) {
  target_t t = {TO_ONE, r->c, NULL, NULL};
  json_t *data = json_pack("{s:s}", "timestamp", r->ts);
  events_send(r->ch, &t, "pong", data, r->c->id, NULL, r->ts);
  json_decref(data);
}

static void on_join(req_t *r) {
  const char *name = id_field(r->m->room);
  room_t *room;
  int joined;
  if (!name) {
    send_error(r, ME_INVALID_MESSAGE, "invalid_message", "join needs a valid room");
    return;
  }
  /* Only a join that would add a membership counts against the cap; a
   * re-join of a room it is in still answers room_joined. */
  if (r->c->max_rooms && r->c->n_rooms >= r->c->max_rooms &&
      !((room = manager_room_find(&r->ch->mgr, name, strlen(name))) &&
        manager_room_is_member(room, r->c))) {
    send_error(r, ME_TOO_MANY_ROOMS, "too_many_rooms", "too many rooms; leave one first");
    return;
  }
  if (!(room = manager_room_join(&r->ch->mgr, r->c, name, strlen(name), &joined))) {
    log_error("out of memory joining room %s", name);
    return;
  }
  events_room_joined(r->ch, r->c, room, joined, r->ts);
}

/* The room named by the message, when the sender is in it; else answers
 * the error and returns NULL. */
static room_t *member_room(req_t *r, const char *what) {
  const char *name = id_field(r->m->room);
  room_t *room;
  if (!name) {
    send_error(r, ME_INVALID_MESSAGE, "invalid_message", what);
    return NULL;
  }
  room = manager_room_find(&r->ch->mgr, name, strlen(name));
  if (!room || !manager_room_is_member(room, r->c)) {
    send_error(r, ME_NOT_IN_ROOM, "not_in_room", "you are not in that room");
    return NULL;
  }
  return room;
}

static void on_leave(req_t *r) {
  room_t *room = member_room(r, "leave needs a valid room");
  if (room) events_leave_room(r->ch, r->c, room, r->ts);
}

static void on_room(req_t *r) {
  chat_t *ch = r->ch;
  room_t *room = member_room(r, "room messages need a valid room");
  target_t t = {TO_ROOM, NULL, NULL, NULL};
  if (!room) return;
  t.room = room;
  if (events_send(ch, &t, "room", r->m->data, r->c->id, room->name, r->ts) == 0 && ch->bp)
    ch->bp->ops->room_message(ch->bp, room->name, ch->scratch.buf, ch->scratch.len);
}

static const struct {
  const char *type;
  handler_fn fn;
} handlers[] = {
    {"chat", on_chat}, {"private", on_private}, {"ping", on_ping},
    {"join", on_join}, {"leave", on_leave},     {"room", on_room},
};

static handler_fn find_handler(const char *type, size_t len) {
  size_t i;
  for (i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
    if (strlen(handlers[i].type) == len && memcmp(handlers[i].type, type, len) == 0)
      return handlers[i].fn;
  return NULL;
}

/* Token bucket: rate tokens a second, at most burst saved. */
static int rate_allows(client_t *c) {
  uint32_t now;
  double t;
  if (c->rate <= 0) return 1;
  now = (uint32_t)clock_mono_ms();
  t = c->tokens + (double)(uint32_t)(now - c->tokens_at) * c->rate / 1000.0;
  if (t > c->burst) t = c->burst;
  c->tokens_at = now;
  if (t < 1.0) {
    c->tokens = (float)t;
    return 0;
  }
  c->tokens = (float)(t - 1.0);
  return 1;
}

void chat_dispatch(chat_t *ch, client_t *c, const uint8_t *text, size_t len) {
  char ts[MSG_TIMESTAMP_LEN + 1];
  msg_in_t m;
  const char *why = NULL;
  handler_fn fn;
  req_t r = {ch, c, NULL, ts};
  int rc;

  events_timestamp(ts);
  if (!rate_allows(c)) {
    send_error(&r, ME_RATE_LIMITED, "rate_limited", "too many messages; this one was not delivered");
    return;
  }
  rc = msg_decode((const char *)text, len, &m, &why);
  if (rc == MSG_INVALID_JSON || rc != MSG_OK) {
    ch->stats.messages_received[MT_OTHER]++;
    if (rc == MSG_INVALID_JSON)
      send_error(&r, ME_INVALID_JSON, "invalid_json", why ? why : "invalid JSON");
    else
      send_error(&r, ME_INVALID_MESSAGE, "invalid_message", why ? why : "invalid message");
    return;
  }
  ch->stats.messages_received[chat_type_index(m.type, m.type_len)]++;
  if (!(fn = find_handler(m.type, m.type_len))) {
    send_error(&r, ME_UNKNOWN_TYPE, "unknown_type", "unknown message type");
  } else {
    r.m = &m;
    fn(&r);
  }
  msg_in_free(&m);
}
