#include "server/chat/router.h"

#include <string.h>

#include "server/cluster/cluster.h"
#include "server/net/conn.h"
#include "server/util/log.h"
#include "server/metrics.h"
#include "protocol/handshake.h"
#include "protocol/message.h"

/* One message being handled: the sender, its decoded JSON and the
 * timestamp the server gave it on arrival. */
typedef struct {
  conn_t *c;
  msg_in_t *m;
  const char *ts;
} req_t;

typedef void (*handler_fn)(req_t *r);

/* TO_NONE: encoded for other nodes only (cluster.h). */
typedef enum { TO_ONE, TO_ALL, TO_ROOM, TO_NONE } target_kind_t;

typedef struct {
  target_kind_t kind;
  client_t *one;          /* TO_ONE */
  const client_t *except; /* TO_ALL */
  room_t *room;           /* TO_ROOM */
} target_t;

static void now_timestamp(char out[MSG_TIMESTAMP_LEN + 1]) {
  msg_timestamp(server_now_usec(), out);
}

/* Encodes the envelope once and frames it once for every recipient.
 * Returns 0 with the envelope left in s->scratch (for the cluster hooks,
 * until the next use of scratch), or -1 when it cannot be encoded. */
static int send_envelope(server_t *s, const target_t *t, const char *type, const json_t *data,
                         const char *client_id, const char *room, const char *ts) {
  outmsg_t out;
  s->scratch.len = 0;
  if (msg_envelope_encode(&s->scratch, type, strlen(type), data, client_id, room, ts) != 0) {
    log_error("cannot encode a %s envelope", type);
    return -1;
  }
  outmsg_init(&out, WS_OP_TEXT, s->scratch.buf, s->scratch.len);
  switch (t->kind) {
  case TO_ONE: client_deliver(t->one, &out); break;
  case TO_ALL: manager_broadcast(&s->mgr, &out, t->except); break;
  case TO_ROOM: manager_room_broadcast(t->room, &out); break;
  case TO_NONE: break;
  }
  outmsg_release(&out);
  return 0;
}

static void send_error(conn_t *c, int metric, const char *code, const char *text) {
  char ts[MSG_TIMESTAMP_LEN + 1];
  target_t t = {TO_ONE, &c->client, NULL, NULL};
  json_t *data = json_pack("{s:s,s:s}", "code", code, "error", text);
  c->srv->metrics.errors[metric]++;
  now_timestamp(ts);
  send_envelope(c->srv, &t, "error", data, NULL, NULL, ts);
  json_decref(data);
}

/* A field that must be a valid id (recipient_id, room); NULL when not. */
static const char *id_field(json_t *v) {
  const char *s;
  if (!v || !json_is_string(v)) return NULL;
  s = json_string_value(v);
  return ws_id_valid(s, json_string_length(v)) ? s : NULL;
}

static void on_chat(req_t *r) {
  server_t *s = r->c->srv;
  target_t t = {TO_ALL, NULL, NULL, NULL};
  if (send_envelope(s, &t, "chat", r->m->data, r->c->client.id, NULL, r->ts) == 0)
    cluster_chat(s->cluster, s->scratch.buf, s->scratch.len);
}

static void on_private(req_t *r) {
  server_t *s = r->c->srv;
  const char *to = id_field(r->m->recipient_id);
  client_t *dest;
  target_t t = {TO_ONE, NULL, NULL, NULL};
  if (!to) {
    send_error(r->c, ME_INVALID_MESSAGE, "invalid_message", "private needs a valid recipient_id");
    return;
  }
  if (!(dest = manager_find(&s->mgr, to, strlen(to))) &&
      !cluster_has_client(s->cluster, to, strlen(to))) {
    send_error(r->c, ME_UNKNOWN_RECIPIENT, "unknown_recipient", "no such recipient is connected");
    return;
  }
  t.one = dest;
  if (!dest) t.kind = TO_NONE; /* on another node */
  if (send_envelope(s, &t, "private", r->m->data, r->c->client.id, NULL, r->ts) == 0 && !dest)
    cluster_private(s->cluster, r->c->client.id, to, s->scratch.buf, s->scratch.len);
}

static void on_ping(req_t *r) {
  target_t t = {TO_ONE, &r->c->client, NULL, NULL};
  json_t *data = json_pack("{s:s}", "timestamp", r->ts);
  send_envelope(r->c->srv, &t, "pong", data, r->c->client.id, NULL, r->ts);
  json_decref(data);
}

static json_t *room_event_data(const char *room_name, const char *user, size_t count) {
  return json_pack("{s:s,s:s,s:I}", "room", room_name, "user_id", user, "count", (json_int_t)count);
}

static void on_join(req_t *r) {
  server_t *s = r->c->srv;
  const char *name = id_field(r->m->room);
  room_t *room;
  int joined;
  json_t *data;
  target_t t = {TO_ROOM, NULL, NULL, NULL};
  if (!name) {
    send_error(r->c, ME_INVALID_MESSAGE, "invalid_message", "join needs a valid room");
    return;
  }
  room = manager_room_join(&s->mgr, &r->c->client, name, strlen(name), &joined);
  if (!room) {
    log_error("out of memory joining room %s", name);
    return;
  }
  if (!joined) { /* already a member: confirm to the joiner alone */
    t.kind = TO_ONE;
    t.one = &r->c->client;
  } else {
    t.room = room;
  }
  data = room_event_data(name, r->c->client.id, cluster_room_total(s, name, strlen(name), room));
  if (send_envelope(s, &t, "room_joined", data, NULL, name, r->ts) == 0 && joined)
    cluster_room_changed(s->cluster, &r->c->client, name, 1, room->count == 1, s->scratch.buf,
                         s->scratch.len);
  json_decref(data);
}

/* Tells the leaver and the remaining members; the room may be gone after. */
static void leave_room(conn_t *c, room_t *room, const char *ts) {
  server_t *s = c->srv;
  char name[256];
  json_t *data;
  outmsg_t out;
  size_t count = cluster_room_total(s, room->name, room->name_len, room) - 1;
  int freed;
  snprintf(name, sizeof name, "%s", room->name);
  freed = manager_room_leave(&s->mgr, room, &c->client);
  data = room_event_data(name, c->client.id, count);
  s->scratch.len = 0;
  if (msg_envelope_encode(&s->scratch, "room_left", 9, data, NULL, name, ts) == 0) {
    outmsg_init(&out, WS_OP_TEXT, s->scratch.buf, s->scratch.len);
    client_deliver(&c->client, &out);
    if (!freed) manager_room_broadcast(room, &out);
    outmsg_release(&out);
    cluster_room_changed(s->cluster, &c->client, name, 0, freed, s->scratch.buf, s->scratch.len);
  }
  json_decref(data);
}

static void on_leave(req_t *r) {
  server_t *s = r->c->srv;
  const char *name = id_field(r->m->room);
  room_t *room;
  if (!name) {
    send_error(r->c, ME_INVALID_MESSAGE, "invalid_message", "leave needs a valid room");
    return;
  }
  room = manager_room_find(&s->mgr, name, strlen(name));
  if (!room || !manager_room_is_member(room, &r->c->client)) {
    send_error(r->c, ME_NOT_IN_ROOM, "not_in_room", "you are not in that room");
    return;
  }
  leave_room(r->c, room, r->ts);
}

static void on_room(req_t *r) {
  server_t *s = r->c->srv;
  const char *name = id_field(r->m->room);
  room_t *room;
  target_t t = {TO_ROOM, NULL, NULL, NULL};
  if (!name) {
    send_error(r->c, ME_INVALID_MESSAGE, "invalid_message", "room messages need a valid room");
    return;
  }
  room = manager_room_find(&s->mgr, name, strlen(name));
  if (!room || !manager_room_is_member(room, &r->c->client)) {
    send_error(r->c, ME_NOT_IN_ROOM, "not_in_room", "you are not in that room");
    return;
  }
  t.room = room;
  if (send_envelope(s, &t, "room", r->m->data, r->c->client.id, name, r->ts) == 0)
    cluster_room_message(s->cluster, name, s->scratch.buf, s->scratch.len);
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

/* Token bucket: rate_limit tokens a second, at most rate_burst saved. */
static int rate_allows(conn_t *c) {
  const ws_settings_t *g = c->settings;
  uint64_t now;
  if (g->rate_limit <= 0) return 1;
  now = uv_now(c->srv->loop);
  c->tokens += (double)(now - c->tokens_at) * g->rate_limit / 1000.0;
  if (c->tokens > g->rate_burst) c->tokens = g->rate_burst;
  c->tokens_at = now;
  if (c->tokens < 1.0) return 0;
  c->tokens -= 1.0;
  return 1;
}

void router_dispatch(conn_t *c, const uint8_t *text, size_t len) {
  server_t *s = c->srv;
  char ts[MSG_TIMESTAMP_LEN + 1];
  msg_in_t m;
  const char *why = NULL;
  handler_fn fn;
  req_t r;
  int rc;

  now_timestamp(ts);
  if (!rate_allows(c)) {
    send_error(c, ME_RATE_LIMITED, "rate_limited", "too many messages; this one was not delivered");
    return;
  }
  rc = msg_decode((const char *)text, len, &m, &why);
  if (rc == MSG_INVALID_JSON) {
    s->metrics.messages_received[MT_OTHER]++;
    send_error(c, ME_INVALID_JSON, "invalid_json", why ? why : "invalid JSON");
    return;
  }
  if (rc != MSG_OK) {
    s->metrics.messages_received[MT_OTHER]++;
    send_error(c, ME_INVALID_MESSAGE, "invalid_message", why ? why : "invalid message");
    return;
  }
  s->metrics.messages_received[metrics_type_index(m.type, m.type_len)]++;
  if (!(fn = find_handler(m.type, m.type_len))) {
    send_error(c, ME_UNKNOWN_TYPE, "unknown_type", "unknown message type");
  } else {
    r.c = c;
    r.m = &m;
    r.ts = ts;
    fn(&r);
  }
  msg_in_free(&m);
}

void router_user_joined(conn_t *c, int silent) {
  server_t *s = c->srv;
  char ts[MSG_TIMESTAMP_LEN + 1];
  target_t t = {silent ? TO_NONE : TO_ALL, NULL, &c->client, NULL};
  json_t *data = json_pack("{s:s,s:I}", "user_id", c->client.id, "count",
                           (json_int_t)cluster_clients_total(s));
  now_timestamp(ts);
  if (send_envelope(s, &t, "user_joined", data, NULL, NULL, ts) == 0)
    cluster_client_joined(s->cluster, &c->client, s->scratch.buf, s->scratch.len);
  json_decref(data);
}

void router_leave_all_rooms(conn_t *c) {
  char ts[MSG_TIMESTAMP_LEN + 1];
  now_timestamp(ts);
  while (c->client.rooms)
    leave_room(c, c->client.rooms->room, ts);
}

void router_user_left(server_t *s, const char *id) {
  char ts[MSG_TIMESTAMP_LEN + 1];
  target_t t = {TO_ALL, NULL, NULL, NULL};
  json_t *data =
      json_pack("{s:s,s:I}", "user_id", id, "count", (json_int_t)cluster_clients_total(s));
  now_timestamp(ts);
  if (send_envelope(s, &t, "user_left", data, NULL, NULL, ts) == 0)
    cluster_client_left(s->cluster, id, s->scratch.buf, s->scratch.len);
  json_decref(data);
}
