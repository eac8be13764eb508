#include "server/chat/events.h"

#include <stdio.h>
#include <string.h>

#include "protocol/frame.h"
#include "server/util/clock.h"
#include "server/util/log.h"

void events_timestamp(char out[MSG_TIMESTAMP_LEN + 1]) {
  msg_timestamp(clock_wall_usec(), out);
}

static void deliver_env(chat_t *ch, const target_t *t, const char *env, size_t len) {
  outmsg_t out;
  outmsg_init(&out, WS_OP_TEXT, env, len);
  switch (t->kind) {
  case TO_ONE: manager_deliver(&ch->mgr, t->one, &out); break;
  case TO_ALL: manager_broadcast(&ch->mgr, &out, t->except); break;
  case TO_ROOM: manager_room_broadcast(&ch->mgr, t->room, &out); break;
  case TO_NONE: break;
  }
  outmsg_release(&out);
}

static int send_in(chat_t *ch, strbuf_t *b, const target_t *t, const char *type,
                   const json_t *data, const char *client_id, const char *room, const char *ts) {
  b->len = 0;
  if (msg_envelope_encode(b, type, strlen(type), data, client_id, room, ts) != 0) {
    log_error("cannot encode a %s envelope", type);
    return -1;
  }
  deliver_env(ch, t, b->buf, b->len);
  return 0;
}

int events_send(chat_t *ch, const target_t *t, const char *type, const json_t *data,
                const char *client_id, const char *room, const char *ts) {
  return send_in(ch, &ch->scratch, t, type, data, client_id, room, ts);
}

void events_error(chat_t *ch, client_t *c, int metric, const char *code, const char *text) {
  char ts[MSG_TIMESTAMP_LEN + 1];
  target_t t = {TO_ONE, c, NULL, NULL};
  json_t *data = json_pack("{s:s,s:s}", "code", code, "error", text);
  ch->stats.errors[metric]++;
  events_timestamp(ts);
  events_send(ch, &t, "error", data, NULL, NULL, ts);
  json_decref(data);
}

static json_t *user_event_data(const chat_t *ch, const char *id) {
  return json_pack("{s:s,s:I}", "user_id", id, "count", (json_int_t)chat_clients_total(ch));
}

static json_t *room_event_data(const char *room, const char *user, size_t count) {
  return json_pack("{s:s,s:s,s:I}", "room", room, "user_id", user, "count", (json_int_t)count);
}

void events_user_joined(chat_t *ch, client_t *c, int silent) {
  char ts[MSG_TIMESTAMP_LEN + 1];
  target_t t = {silent ? TO_NONE : TO_ALL, NULL, c, NULL};
  json_t *data = user_event_data(ch, c->id);
  events_timestamp(ts);
  if (events_send(ch, &t, "user_joined", data, NULL, NULL, ts) == 0 && ch->bp)
    ch->bp->ops->client_joined(ch->bp, c, ch->scratch.buf, ch->scratch.len);
  json_decref(data);
}

void events_user_left(chat_t *ch, const char *id) {
  char ts[MSG_TIMESTAMP_LEN + 1];
  target_t t = {TO_ALL, NULL, NULL, NULL};
  json_t *data = user_event_data(ch, id);
  events_timestamp(ts);
  if (events_send(ch, &t, "user_left", data, NULL, NULL, ts) == 0 && ch->bp)
    ch->bp->ops->client_left(ch->bp, id, ch->scratch.buf, ch->scratch.len);
  json_decref(data);
}

void events_room_joined(chat_t *ch, client_t *c, room_t *room, int joined, const char *ts) {
  target_t t = {TO_ROOM, NULL, NULL, room};
  json_t *data =
      room_event_data(room->name, c->id, chat_room_total(ch, room->name, room->name_len, room));
  if (!joined) { /* already a member: confirm to the joiner alone */
    t.kind = TO_ONE;
    t.one = c;
  }
  if (events_send(ch, &t, "room_joined", data, NULL, room->name, ts) == 0 && joined && ch->bp)
    ch->bp->ops->room_changed(ch->bp, c, room->name, 1, room->count == 1, ch->scratch.buf,
                              ch->scratch.len);
  json_decref(data);
}

void events_leave_room(chat_t *ch, client_t *c, room_t *room, const char *ts) {
  char name[256];
  size_t count = chat_room_total(ch, room->name, room->name_len, room) - 1;
  json_t *data;
  int freed;
  snprintf(name, sizeof name, "%s", room->name);
  freed = manager_room_leave(&ch->mgr, room, c);
  data = room_event_data(name, c->id, count);
  ch->scratch.len = 0;
  if (msg_envelope_encode(&ch->scratch, "room_left", 9, data, NULL, name, ts) == 0) {
    outmsg_t out;
    outmsg_init(&out, WS_OP_TEXT, ch->scratch.buf, ch->scratch.len);
    manager_deliver(&ch->mgr, c, &out);
    if (!freed) manager_room_broadcast(&ch->mgr, room, &out);
    outmsg_release(&out);
    if (ch->bp)
      ch->bp->ops->room_changed(ch->bp, c, name, 0, freed, ch->scratch.buf, ch->scratch.len);
  }
  json_decref(data);
}

void events_leave_all_rooms(chat_t *ch, client_t *c) {
  char ts[MSG_TIMESTAMP_LEN + 1];
  events_timestamp(ts);
  while (c->rooms)
    events_leave_room(ch, c, c->rooms->room, ts);
}

/* --- envelopes of other nodes, and this node's own for their changes --- */

void chat_deliver_all(chat_t *ch, const char *env, size_t len) {
  target_t t = {TO_ALL, NULL, NULL, NULL};
  if (len && ch->mgr.first) deliver_env(ch, &t, env, len);
}

void chat_deliver_room(chat_t *ch, const char *room, size_t room_len, const char *env, size_t len) {
  target_t t = {TO_ROOM, NULL, NULL, NULL};
  if (!len || !(t.room = manager_room_find(&ch->mgr, room, room_len))) return;
  deliver_env(ch, &t, env, len);
}

void chat_deliver_one(chat_t *ch, client_t *c, const char *env, size_t len) {
  target_t t = {TO_ONE, c, NULL, NULL};
  deliver_env(ch, &t, env, len);
}

void chat_emit_user(chat_t *ch, const char *type, const char *id) {
  char ts[MSG_TIMESTAMP_LEN + 1];
  target_t t = {TO_ALL, NULL, NULL, NULL};
  json_t *data;
  if (!ch->mgr.first) return;
  data = user_event_data(ch, id);
  events_timestamp(ts);
  if (data) send_in(ch, &ch->emit, &t, type, data, NULL, NULL, ts);
  json_decref(data);
}

void chat_emit_room(chat_t *ch, const char *type, const char *id, const char *room) {
  char ts[MSG_TIMESTAMP_LEN + 1];
  size_t len = strlen(room);
  target_t t = {TO_ROOM, NULL, NULL, NULL};
  json_t *data;
  if (!(t.room = manager_room_find(&ch->mgr, room, len))) return;
  data = room_event_data(room, id, chat_room_total(ch, room, len, t.room));
  events_timestamp(ts);
  if (data) send_in(ch, &ch->emit, &t, type, data, NULL, room, ts);
  json_decref(data);
}

void chat_error_unknown_recipient(chat_t *ch, client_t *c) {
  char ts[MSG_TIMESTAMP_LEN + 1];
  target_t t = {TO_ONE, c, NULL, NULL};
  json_t *data = json_pack("{s:s,s:s}", "code", "unknown_recipient", "error",
                           "no such recipient is connected");
  ch->stats.errors[ME_UNKNOWN_RECIPIENT]++;
  events_timestamp(ts);
  if (data) send_in(ch, &ch->emit, &t, "error", data, NULL, NULL, ts);
  json_decref(data);
}
