/* Commands on PUB: the gate, PUBLISH, the own HASH, re-reads. See
 * publish.h; the design is in cluster.h. */
#include "server/cluster/publish.h"

#include <hiredis/hiredis.h>
#include <hiredis/sds.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/util/log.h"

/* An HGETALL in flight: the node is looked up again on the answer. */
typedef struct {
  session_t *s;
  presence_ticket_t t;
} reread_t;

/* s->chan = "<prefix><mid><name>", NUL-terminated. */
static const strbuf_t *chan_set(session_t *s, const char *mid, const char *name, size_t len) {
  s->chan.len = 0;
  strbuf_append(&s->chan, s->prefix, strlen(s->prefix));
  strbuf_append(&s->chan, mid, strlen(mid));
  strbuf_append(&s->chan, name, len);
  strbuf_append(&s->chan, "", 1);
  s->chan.len--;
  return &s->chan;
}

/* "<claim>[ <room>...]": the value of c in the HASH and in J/M deltas. */
static void client_value(strbuf_t *b, const client_t *c) {
  const member_t *mb;
  b->len = 0;
  wire_value_claim(b, c->claim_usec);
  for (mb = c->rooms; mb; mb = mb->client_next)
    wire_value_room(b, slice_make(mb->room->name, mb->room->name_len));
}

/* --- the gate -------------------------------------------------------------- */

void publish_queue_clear(session_t *s) {
  while (s->q_head) {
    session_cmd_t *q = s->q_head;
    s->q_head = q->next;
    redisFreeCommand(q->cmd);
    free(q);
  }
  s->q_tail = NULL;
}

static void on_reply_check(redisAsyncContext *ac, void *r, void *priv) {
  redisReply *reply = r;
  (void)ac;
  (void)priv;
  if (reply && reply->type == REDIS_REPLY_ERROR)
    log_warn("cluster: redis answered an error: %.*s", (int)reply->len, reply->str);
}

/* Sends a command on PUB, or holds it behind the gate. Dropped while the
 * session is down (the state is rewritten on reconnect) or when Redis has
 * not taken SESSION_PUB_BACKLOG_MAX bytes yet. */
static void pub_argv(session_t *s, redisCallbackFn *fn, int argc, const char **argv,
                     const size_t *lens) {
  if (!s->up || !s->pub) return;
  if (sdslen((sds)s->pub->c.obuf) > SESSION_PUB_BACKLOG_MAX) {
    if (!s->backlog_logged)
      log_warn("cluster: more than %zu bytes unsent to redis: dropping publishes",
               SESSION_PUB_BACKLOG_MAX);
    s->backlog_logged = 1;
    return;
  }
  s->backlog_logged = 0;
  if (s->pending_subs > 0 || s->q_head) {
    session_cmd_t *q = calloc(1, sizeof *q);
    if (!q) return;
    q->len = redisFormatCommandArgv(&q->cmd, argc, argv, lens);
    if (q->len < 0) {
      free(q);
      return;
    }
    q->fn = fn;
    if (s->q_tail)
      s->q_tail->next = q;
    else
      s->q_head = q;
    s->q_tail = q;
    return;
  }
  redisAsyncCommandArgv(s->pub, fn, fn ? s : NULL, argc, argv, lens);
}

void publish_gate_release(session_t *s) {
  while (s->q_head && s->pending_subs == 0 && s->pub) {
    session_cmd_t *q = s->q_head;
    s->q_head = q->next;
    if (!s->q_head) s->q_tail = NULL;
    redisAsyncFormattedCommand(s->pub, q->fn, q->fn ? s : NULL, q->cmd, (size_t)q->len);
    redisFreeCommand(q->cmd);
    free(q);
  }
}

/* PUBLISH channel <m, from this node>. */
static void publish(session_t *s, const strbuf_t *channel, wire_msg_t *m) {
  const char *argv[3];
  size_t lens[3];
  if (!s->up) return;
  m->origin = slice_make(s->node_id, s->node_len);
  m->inc = s->inc;
  s->out.len = 0;
  if (wire_encode(&s->out, m) != 0) return;
  argv[0] = "PUBLISH";
  lens[0] = 7;
  argv[1] = channel->buf;
  lens[1] = channel->len;
  argv[2] = s->out.buf;
  lens[2] = s->out.len;
  pub_argv(s, NULL, 3, argv, lens);
}

/* --- messages ------------------------------------------------------------------ */

void publish_chat(session_t *s, const char *env, size_t len) {
  wire_msg_t m = {.kind = WIRE_CHAT, .env = slice_make(env, len)};
  publish(s, &s->ch_all, &m);
}

void publish_room_message(session_t *s, const char *room, const char *env, size_t len) {
  size_t rlen = strlen(room);
  wire_msg_t m = {.kind = WIRE_ROOM, .room = slice_make(room, rlen), .env = slice_make(env, len)};
  if (!wire_id_ok(m.room)) return;
  publish(s, chan_set(s, ":room:", room, rlen), &m);
}

void publish_private(session_t *s, const char *node, const char *from, const char *to,
                     const char *env, size_t len) {
  wire_msg_t m = {.kind = WIRE_PRIVATE,
                  .to = slice_cstr(to),
                  .from = slice_cstr(from),
                  .env = slice_make(env, len)};
  publish(s, chan_set(s, ":node:", node, strlen(node)), &m);
}

void publish_bounce(session_t *s, slice_t node, slice_t from, slice_t to) {
  wire_msg_t m = {.kind = WIRE_BOUNCE, .from = from, .to = to};
  publish(s, chan_set(s, ":node:", node.base, node.len), &m);
}

/* Own presence in the HASH: HSET key id value #seq N, one command, so a
 * snapshot holds a change together with its sequence number. (A leave is
 * HDEL then HSET #seq: a snapshot between the two is newer than its #seq,
 * which is harmless, deltas being absolute values replayed idempotently.) */
static void state_write(session_t *s, const client_t *c, const strbuf_t *value) {
  const char *argv[6];
  size_t lens[6];
  char seq[24];
  snprintf(seq, sizeof seq, "%" PRIu64, s->seq);
  argv[0] = "HSET";
  lens[0] = 4;
  argv[1] = s->key.buf;
  lens[1] = s->key.len;
  argv[2] = c->id;
  lens[2] = c->id_len;
  argv[3] = value->buf ? value->buf : "";
  lens[3] = value->len;
  argv[4] = "#seq";
  lens[4] = 4;
  argv[5] = seq;
  lens[5] = strlen(seq);
  pub_argv(s, on_reply_check, 6, argv, lens);
}

static void state_delete(session_t *s, const char *id) {
  const char *argv[4];
  size_t lens[4];
  char seq[24];
  snprintf(seq, sizeof seq, "%" PRIu64, s->seq);
  argv[0] = "HDEL";
  lens[0] = 4;
  argv[1] = s->key.buf;
  lens[1] = s->key.len;
  argv[2] = id;
  lens[2] = strlen(id);
  pub_argv(s, on_reply_check, 3, argv, lens);
  argv[0] = "HSET";
  argv[2] = "#seq";
  lens[2] = 4;
  argv[3] = seq;
  lens[3] = strlen(seq);
  pub_argv(s, on_reply_check, 4, argv, lens);
}

void publish_joined(session_t *s, const client_t *c, const char *env, size_t len) {
  wire_msg_t m = {.kind = WIRE_JOIN, .id = slice_make(c->id, c->id_len)};
  s->seq++;
  client_value(&s->val, c);
  state_write(s, c, &s->val);
  m.seq = s->seq;
  m.value = slice_make(s->val.buf, s->val.len);
  m.env = slice_make(env, len);
  publish(s, &s->ch_all, &m);
}

void publish_left(session_t *s, const char *id, const char *env, size_t len) {
  wire_msg_t m = {.kind = WIRE_LEAVE, .id = slice_cstr(id)};
  s->seq++;
  state_delete(s, id);
  m.seq = s->seq;
  m.env = slice_make(env, env ? len : 0);
  publish(s, &s->ch_all, &m);
}

void publish_room_changed(session_t *s, const client_t *c, const char *room, int joined,
                          const char *env, size_t len) {
  wire_msg_t m = {.kind = WIRE_MEMBER, .id = slice_make(c->id, c->id_len)};
  s->seq++;
  client_value(&s->val, c);
  state_write(s, c, &s->val);
  m.seq = s->seq;
  m.room = slice_cstr(room);
  m.joined = joined != 0;
  m.value = slice_make(s->val.buf, s->val.len);
  m.env = slice_make(env, len);
  publish(s, &s->ch_all, &m);
}

/* --- the own HASH and heartbeats --------------------------------------------------- */

void publish_heartbeat(session_t *s, int hello) {
  const char *argv[3];
  size_t lens[3];
  char ttl[16];
  wire_msg_t m = {.kind = WIRE_HEARTBEAT};
  snprintf(ttl, sizeof ttl, "%d", SESSION_KEY_TTL_S);
  argv[0] = "EXPIRE";
  lens[0] = 6;
  argv[1] = s->key.buf;
  lens[1] = s->key.len;
  argv[2] = ttl;
  lens[2] = strlen(ttl);
  pub_argv(s, on_reply_check, 3, argv, lens);
  m.seq = s->seq;
  m.count = manager_count(s->local);
  m.digest = presence_digest(s->local);
  m.hello = hello;
  publish(s, &s->ch_presence, &m);
}

void publish_rewrite(session_t *s) {
  size_t n = manager_count(s->local), argc = 0, i, *offs, *lens;
  const char **argv;
  const client_t *c;
  char inc[24], seq[24], ttl[16];
  strbuf_t vals = {0}, one_val = {0};
  const char *one[1];
  size_t onelen[1];
  argv = calloc(2 * n + 6, sizeof *argv);
  lens = calloc(2 * n + 6, sizeof *lens);
  offs = calloc(n + 1, sizeof *offs);
  if (!argv || !lens || !offs) goto out;
  for (c = s->local->first, i = 0; c && i < n; c = c->next, i++) {
    offs[i] = vals.len;
    client_value(&one_val, c);
    strbuf_append(&vals, one_val.buf ? one_val.buf : "", one_val.len);
  }
  offs[n] = vals.len;
  snprintf(inc, sizeof inc, "%" PRId64, s->inc);
  snprintf(seq, sizeof seq, "%" PRIu64, s->seq);
  snprintf(ttl, sizeof ttl, "%d", SESSION_KEY_TTL_S);
  one[0] = "MULTI";
  onelen[0] = 5;
  pub_argv(s, on_reply_check, 1, one, onelen);
  argv[0] = "DEL";
  lens[0] = 3;
  argv[1] = s->key.buf;
  lens[1] = s->key.len;
  pub_argv(s, on_reply_check, 2, argv, lens);
  argv[argc = 0] = "HSET";
  lens[argc++] = 4;
  argv[argc] = s->key.buf;
  lens[argc++] = s->key.len;
  argv[argc] = "#inc";
  lens[argc++] = 4;
  argv[argc] = inc;
  lens[argc++] = strlen(inc);
  argv[argc] = "#seq";
  lens[argc++] = 4;
  argv[argc] = seq;
  lens[argc++] = strlen(seq);
  for (c = s->local->first, i = 0; c && i < n; c = c->next, i++) {
    argv[argc] = c->id;
    lens[argc++] = c->id_len;
    argv[argc] = vals.buf + offs[i];
    lens[argc++] = offs[i + 1] - offs[i];
  }
  pub_argv(s, on_reply_check, (int)argc, argv, lens);
  argv[0] = "EXPIRE";
  lens[0] = 6;
  argv[2] = ttl;
  lens[2] = strlen(ttl);
  pub_argv(s, on_reply_check, 3, argv, lens);
  one[0] = "EXEC";
  onelen[0] = 4;
  pub_argv(s, on_reply_check, 1, one, onelen);
out:
  free(argv);
  free(lens);
  free(offs);
  strbuf_free(&vals);
  strbuf_free(&one_val);
}

void publish_goodbye(session_t *s) {
  const char *argv[2];
  size_t lens[2];
  wire_msg_t m = {.kind = WIRE_GOODBYE};
  argv[0] = "DEL";
  lens[0] = 3;
  argv[1] = s->key.buf;
  lens[1] = s->key.len;
  pub_argv(s, NULL, 2, argv, lens);
  publish(s, &s->ch_presence, &m);
}

/* --- re-reads -------------------------------------------------------------------- */

static void on_reread(redisAsyncContext *ac, void *r, void *priv) {
  reread_t *req = priv;
  session_t *s = req->s;
  redisReply *reply = r;
  slice_t *kv = NULL;
  size_t i, n = 0;
  int status = PRESENCE_SNAP_ERROR;
  (void)ac;
  if (!reply || s->closing) {
    status = PRESENCE_SNAP_LOST;
  } else if (reply->type == REDIS_REPLY_ARRAY) {
    kv = calloc(reply->elements + 1, sizeof *kv);
    if (kv) {
      status = PRESENCE_SNAP_OK;
      for (i = 0; i + 1 < reply->elements; i += 2) {
        const redisReply *f = reply->element[i], *v = reply->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        kv[n++] = slice_make(f->str, f->len);
        kv[n++] = slice_make(v->str, v->len);
      }
    }
  } else if (reply->type == REDIS_REPLY_ERROR) {
    log_warn("cluster: re-reading node %s: %.*s", req->t.node, (int)reply->len, reply->str);
  }
  s->cbs->on_snapshot(s->cbs->ctx, &req->t, status, kv, n);
  free(kv);
  free(req);
}

int publish_reread(session_t *s, const presence_ticket_t *t) {
  reread_t *req;
  const strbuf_t *key;
  const char *argv[2];
  size_t lens[2];
  if (!s->up || !s->pub || s->closing) return -1;
  if (!(req = calloc(1, sizeof *req))) return -1;
  req->s = s;
  req->t = *t;
  key = chan_set(s, ":clients:", t->node, strlen(t->node));
  argv[0] = "HGETALL";
  lens[0] = 7;
  argv[1] = key->buf;
  lens[1] = key->len;
  if (redisAsyncCommandArgv(s->pub, on_reread, req, 2, argv, lens) != REDIS_OK) {
    free(req);
    return -1;
  }
  return 0;
}
