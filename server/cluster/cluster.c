/* The cluster backplane over Redis pub/sub: see cluster.h for the design
 * (channels, keys, message format, presence, duplicate ids, outages). */
#include "server/cluster/cluster.h"

#include <arpa/inet.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "server/util/log.h"
#include "protocol/frame.h"
#include "protocol/handshake.h"
#include "protocol/message.h"
#include "protocol/slice.h"
#include "server/server.h"
#include "server/ws/ws.h"

#define TICK_MS            100
#define HEARTBEAT_MS       3000
#define PEER_TIMEOUT_MS    7000  /* a peer silent this long is dropped */
#define ECHO_TIMEOUT_MS    10000 /* our own heartbeats unseen this long: reconnect */
#define KEY_TTL_S          10    /* the HASH outlives 3 heartbeats */
#define CONNECT_TIMEOUT_MS 5000
#define BACKOFF_MIN_MS     100
#define BACKOFF_MAX_MS     5000
#define CLOSE_TIMEOUT_MS   2000
#define PUB_BACKLOG_MAX    ((size_t)64 << 20) /* bytes unsent to Redis before we drop */
#define NODE_ID_MAX        64

/* --- types ------------------------------------------------------------ */

/* Our libuv adapter for one hiredis context. Debian's hiredis 0.14
 * adapters/libuv.h ignores a poll error (status < 0), which is how libuv
 * reports a refused non-blocking connect: the context would then wait
 * forever. Here an error is handed to hiredis as the events we wait for,
 * so it reads the socket error and fails the context. */
typedef struct {
  redisAsyncContext *ac; /* NULL once hiredis cleaned up */
  uv_poll_t poll;
  int events;
} rpoll_t;

typedef struct rnode_s rnode_t;

/* A client of another node: registered in cl->peers, listed by its node. */
typedef struct rclient_s {
  client_t client;
  rnode_t *node;
  struct rclient_s *nprev, *nnext;
  unsigned mark : 1; /* seen in the snapshot being applied */
} rclient_t;

/* A delta received while a re-read of its node is pending. */
typedef struct ovl_s {
  struct ovl_s *next;
  uint64_t seq;
  char *id;
  char *value; /* NULL: the client left */
} ovl_t;

struct rnode_s {
  rnode_t *next;
  char id[NODE_ID_MAX + 1];
  size_t id_len;
  int64_t inc;        /* incarnation: a restart under the same id is a new node */
  uint64_t seq;       /* last presence delta applied */
  uint64_t last_seen; /* uv_now of its last message */
  rclient_t *clients;
  size_t n_clients;
  uint32_t gen; /* re-read generation, to recognise a late answer */
  unsigned resync_pending : 1;
  unsigned resync_again : 1;
  ovl_t *ovl, *ovl_tail;
};

/* A command held back by the gate (formatted by hiredis). */
typedef struct cmd_s {
  struct cmd_s *next;
  char *cmd;
  int len;
  redisCallbackFn *fn;
} cmd_t;

/* An HGETALL in flight: the node is looked up again on the answer. */
typedef struct {
  struct cluster_s *cl;
  char node[NODE_ID_MAX + 1];
  int64_t inc;
  uint32_t gen;
} snapreq_t;

struct cluster_s {
  server_t *srv;
  uv_loop_t *loop;
  char node_id[NODE_ID_MAX + 1];
  size_t node_len;
  char *prefix;
  char host[256];
  int port, db;
  int64_t inc;
  char origin[NODE_ID_MAX + 32]; /* "<node_id> <inc>\n" */
  size_t origin_len;
  strbuf_t ch_all, ch_node, ch_presence, key; /* NUL-terminated */

  redisAsyncContext *pub, *sub;
  unsigned pub_ok : 1, sub_ok : 1;
  unsigned up : 1;        /* both connected: the session is on */
  unsigned ready : 1;     /* and the first SUBSCRIBE acknowledged */
  unsigned resolving : 1; /* uv_getaddrinfo in flight */
  unsigned closing : 1;
  unsigned timer_closed : 1;
  unsigned failing_logged : 1;
  unsigned backlog_logged : 1;
  uv_getaddrinfo_t gai;
  uint64_t connect_started, retry_at, backoff_ms, close_deadline;

  int pending_subs; /* SUBSCRIBE acknowledgements awaited: the gate */
  cmd_t *q_head, *q_tail;

  uint64_t seq; /* own presence sequence number */
  uint64_t next_hb, last_echo, dup_warned;

  manager_t peers; /* every other node's clients and rooms */
  rnode_t *nodes;

  uv_timer_t timer;
  strbuf_t out;  /* a payload being published */
  strbuf_t hdr;  /* its kind line */
  strbuf_t env;  /* envelopes this node makes for peer changes */
  strbuf_t chan; /* a channel or key name */
};

static void session_fail(cluster_t *cl);
static void resync(cluster_t *cl, rnode_t *rn);
static void on_sub_reply(redisAsyncContext *ac, void *r, void *priv);

/* --- small helpers ------------------------------------------------------ */

static uint64_t fnv(uint64_t h, const char *p, size_t n) {
  while (n--)
    h = (h ^ (uint8_t)*p++) * 1099511628211ULL;
  return h;
}
#define FNV_INIT 1469598103934665603ULL

/* A client's share of a digest: its id and each of its memberships.
 * XOR, so the order of clients and rooms does not matter. */
static uint64_t client_digest(const client_t *c) {
  uint64_t d = fnv(FNV_INIT, c->id, c->id_len);
  const member_t *mb;
  for (mb = c->rooms; mb; mb = mb->client_next)
    d ^= fnv(fnv(fnv(FNV_INIT, c->id, c->id_len), "\n", 1), mb->room->name, mb->room->name_len);
  return d;
}

static void set_str(strbuf_t *b, const char *a, const char *c, size_t clen) {
  b->len = 0;
  strbuf_append(b, a, strlen(a));
  strbuf_append(b, c, clen);
  strbuf_append(b, "", 1);
  b->len--;
}

static void appendf(strbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void appendf(strbuf_t *b, const char *fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || strbuf_reserve(b, (size_t)n + 1) != 0) return;
  va_start(ap, fmt);
  vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* "<claim>[ <room>...]": the value of c in the HASH and in J/M deltas. */
static void client_value(strbuf_t *b, const client_t *c) {
  const member_t *mb;
  appendf(b, "%" PRId64, c->claim_usec);
  for (mb = c->rooms; mb; mb = mb->client_next) {
    strbuf_append(b, " ", 1);
    strbuf_append(b, mb->room->name, mb->room->name_len);
  }
}

typedef struct {
  const char *p, *end;
} toks_t;

static slice_t tok_next(toks_t *t) {
  const char *s;
  while (t->p < t->end && *t->p == ' ')
    t->p++;
  s = t->p;
  while (t->p < t->end && *t->p != ' ')
    t->p++;
  return slice_make(s, (size_t)(t->p - s));
}

static slice_t tok_rest(toks_t *t) {
  while (t->p < t->end && *t->p == ' ')
    t->p++;
  return slice_make(t->p, (size_t)(t->end - t->p));
}

static int parse_u64(slice_t s, uint64_t *out) {
  uint64_t v = 0;
  size_t i;
  if (s.len == 0 || s.len > 20) return 0;
  for (i = 0; i < s.len; i++) {
    if (s.base[i] < '0' || s.base[i] > '9') return 0;
    v = v * 10 + (uint64_t)(s.base[i] - '0');
  }
  *out = v;
  return 1;
}

static int parse_i64(slice_t s, int64_t *out) {
  uint64_t v;
  int neg = s.len && s.base[0] == '-';
  if (neg) s = slice_make(s.base + 1, s.len - 1);
  if (!parse_u64(s, &v) || v > INT64_MAX) return 0;
  *out = neg ? -(int64_t)v : (int64_t)v;
  return 1;
}

static int parse_hex64(slice_t s, uint64_t *out) {
  uint64_t v = 0;
  size_t i;
  if (s.len == 0 || s.len > 16) return 0;
  for (i = 0; i < s.len; i++) {
    char ch = s.base[i];
    int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
    if (d < 0) return 0;
    v = v << 4 | (uint64_t)d;
  }
  *out = v;
  return 1;
}

static int id_ok(slice_t s) {
  return s.len && ws_id_valid(s.base, s.len);
}

/* The later claim wins; equal claims go to the greater node id. */
static int claim_wins(int64_t c1, const char *n1, int64_t c2, const char *n2) {
  return c1 != c2 ? c1 > c2 : strcmp(n1, n2) > 0;
}

static rclient_t *peer_find(const cluster_t *cl, const char *id, size_t len) {
  return (rclient_t *)manager_find(&cl->peers, id, len);
}

static void copy_cstr(char *dst, size_t cap, slice_t s) {
  size_t n = s.len < cap - 1 ? s.len : cap - 1;
  memcpy(dst, s.base, n);
  dst[n] = '\0';
}

/* --- the libuv adapter ---------------------------------------------------- */

static void rpoll_start(rpoll_t *p);

static void rpoll_cb(uv_poll_t *h, int status, int events) {
  rpoll_t *p = h->data;
  int ev = status < 0 ? p->events : events;
  if (p->ac && (ev & UV_READABLE)) redisAsyncHandleRead(p->ac);
  if (p->ac && (ev & UV_WRITABLE)) redisAsyncHandleWrite(p->ac);
  /* libuv stops a poll handle on error; resume if hiredis still cares. */
  if (status < 0 && p->ac) rpoll_start(p);
}

static void rpoll_start(rpoll_t *p) {
  if (uv_is_closing((uv_handle_t *)&p->poll)) return;
  if (p->events)
    uv_poll_start(&p->poll, p->events, rpoll_cb);
  else
    uv_poll_stop(&p->poll);
}

static void rpoll_add_read(void *d) {
  rpoll_t *p = d;
  p->events |= UV_READABLE;
  rpoll_start(p);
}

static void rpoll_del_read(void *d) {
  rpoll_t *p = d;
  p->events &= ~UV_READABLE;
  rpoll_start(p);
}

static void rpoll_add_write(void *d) {
  rpoll_t *p = d;
  p->events |= UV_WRITABLE;
  rpoll_start(p);
}

static void rpoll_del_write(void *d) {
  rpoll_t *p = d;
  p->events &= ~UV_WRITABLE;
  rpoll_start(p);
}

static void rpoll_closed(uv_handle_t *h) {
  free(h->data);
}

/* hiredis frees the context: the handle closes, its memory goes in the
 * close callback (the loop runs until then). */
static void rpoll_cleanup(void *d) {
  rpoll_t *p = d;
  p->ac = NULL;
  if (!uv_is_closing((uv_handle_t *)&p->poll)) uv_close((uv_handle_t *)&p->poll, rpoll_closed);
}

static int rpoll_attach(redisAsyncContext *ac, uv_loop_t *loop) {
  rpoll_t *p = calloc(1, sizeof *p);
  if (!p) return -1;
  if (uv_poll_init_socket(loop, &p->poll, ac->c.fd) != 0) {
    free(p);
    return -1;
  }
  p->ac = ac;
  p->poll.data = p;
  ac->ev.data = p;
  ac->ev.addRead = rpoll_add_read;
  ac->ev.delRead = rpoll_del_read;
  ac->ev.addWrite = rpoll_add_write;
  ac->ev.delWrite = rpoll_del_write;
  ac->ev.cleanup = rpoll_cleanup;
  return 0;
}

/* --- sending: the gate ------------------------------------------------------ */

static void queue_clear(cluster_t *cl) {
  while (cl->q_head) {
    cmd_t *q = cl->q_head;
    cl->q_head = q->next;
    redisFreeCommand(q->cmd);
    free(q);
  }
  cl->q_tail = NULL;
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
 * not taken PUB_BACKLOG_MAX bytes yet. */
static void pub_argv(cluster_t *cl, redisCallbackFn *fn, int argc, const char **argv,
                     const size_t *lens) {
  if (!cl->up || !cl->pub) return;
  if (sdslen((sds)cl->pub->c.obuf) > PUB_BACKLOG_MAX) {
    if (!cl->backlog_logged)
      log_warn("cluster: more than %zu bytes unsent to redis: dropping publishes", PUB_BACKLOG_MAX);
    cl->backlog_logged = 1;
    return;
  }
  cl->backlog_logged = 0;
  if (cl->pending_subs > 0 || cl->q_head) {
    cmd_t *q = calloc(1, sizeof *q);
    if (!q) return;
    q->len = redisFormatCommandArgv(&q->cmd, argc, argv, lens);
    if (q->len < 0) {
      free(q);
      return;
    }
    q->fn = fn;
    if (cl->q_tail)
      cl->q_tail->next = q;
    else
      cl->q_head = q;
    cl->q_tail = q;
    return;
  }
  redisAsyncCommandArgv(cl->pub, fn, fn ? cl : NULL, argc, argv, lens);
}

static void gate_release(cluster_t *cl) {
  while (cl->q_head && cl->pending_subs == 0 && cl->pub) {
    cmd_t *q = cl->q_head;
    cl->q_head = q->next;
    if (!cl->q_head) cl->q_tail = NULL;
    redisAsyncFormattedCommand(cl->pub, q->fn, q->fn ? cl : NULL, q->cmd, (size_t)q->len);
    redisFreeCommand(q->cmd);
    free(q);
  }
}

/* PUBLISH channel "<origin>\n<hdr>\n<env>". */
static void publish(cluster_t *cl, const char *channel, size_t chlen, const char *hdr, size_t hlen,
                    const char *env, size_t elen) {
  const char *argv[3];
  size_t lens[3];
  if (!cl->up) return;
  cl->out.len = 0;
  strbuf_append(&cl->out, cl->origin, cl->origin_len);
  strbuf_append(&cl->out, hdr, hlen);
  strbuf_append(&cl->out, "\n", 1);
  if (elen) strbuf_append(&cl->out, env, elen);
  argv[0] = "PUBLISH";
  lens[0] = 7;
  argv[1] = channel;
  lens[1] = chlen;
  argv[2] = cl->out.buf;
  lens[2] = cl->out.len;
  pub_argv(cl, NULL, 3, argv, lens);
}

static void publish_all(cluster_t *cl, const char *env, size_t elen) {
  publish(cl, cl->ch_all.buf, cl->ch_all.len, cl->hdr.buf, cl->hdr.len, env, elen);
}

static const strbuf_t *room_channel(cluster_t *cl, const char *room, size_t len) {
  cl->chan.len = 0;
  appendf(&cl->chan, "%s:room:", cl->prefix);
  strbuf_append(&cl->chan, room, len);
  return &cl->chan;
}

static void room_subscription(cluster_t *cl, const char *room, int on) {
  const strbuf_t *ch;
  const char *argv[2];
  size_t lens[2];
  if (!cl->up || !cl->sub) return;
  ch = room_channel(cl, room, strlen(room));
  argv[0] = on ? "SUBSCRIBE" : "UNSUBSCRIBE";
  lens[0] = strlen(argv[0]);
  argv[1] = ch->buf;
  lens[1] = ch->len;
  /* (UNSUBSCRIBE has no callback of its own in hiredis.) */
  if (redisAsyncCommandArgv(cl->sub, on ? on_sub_reply : NULL, on ? cl : NULL, 2, argv, lens) ==
          REDIS_OK &&
      on)
    cl->pending_subs++;
}

/* Own presence in the HASH: HSET key id value #seq N, one command, so a
 * snapshot holds a change together with its sequence number. (A leave is
 * HDEL then HSET #seq: a snapshot between the two is newer than its #seq,
 * which is harmless, deltas being absolute values replayed idempotently.) */
static void state_write(cluster_t *cl, const client_t *c) {
  const char *argv[6];
  size_t lens[6];
  char seq[24];
  cl->chan.len = 0;
  client_value(&cl->chan, c);
  snprintf(seq, sizeof seq, "%" PRIu64, cl->seq);
  argv[0] = "HSET";
  lens[0] = 4;
  argv[1] = cl->key.buf;
  lens[1] = cl->key.len;
  argv[2] = c->id;
  lens[2] = c->id_len;
  argv[3] = cl->chan.buf;
  lens[3] = cl->chan.len;
  argv[4] = "#seq";
  lens[4] = 4;
  argv[5] = seq;
  lens[5] = strlen(seq);
  pub_argv(cl, on_reply_check, 6, argv, lens);
}

static void state_delete(cluster_t *cl, const char *id) {
  const char *argv[4];
  size_t lens[4];
  char seq[24];
  snprintf(seq, sizeof seq, "%" PRIu64, cl->seq);
  argv[0] = "HDEL";
  lens[0] = 4;
  argv[1] = cl->key.buf;
  lens[1] = cl->key.len;
  argv[2] = id;
  lens[2] = strlen(id);
  pub_argv(cl, on_reply_check, 3, argv, lens);
  argv[0] = "HSET";
  argv[2] = "#seq";
  lens[2] = 4;
  argv[3] = seq;
  lens[3] = strlen(seq);
  pub_argv(cl, on_reply_check, 4, argv, lens);
}

static uint64_t local_digest(const server_t *s) {
  uint64_t d = 0;
  const client_t *c;
  for (c = s->mgr.first; c; c = c->next)
    d ^= client_digest(c);
  return d;
}

static void heartbeat(cluster_t *cl, int hello) {
  const char *argv[3];
  size_t lens[3];
  char ttl[16];
  snprintf(ttl, sizeof ttl, "%d", KEY_TTL_S);
  argv[0] = "EXPIRE";
  lens[0] = 6;
  argv[1] = cl->key.buf;
  lens[1] = cl->key.len;
  argv[2] = ttl;
  lens[2] = strlen(ttl);
  pub_argv(cl, on_reply_check, 3, argv, lens);
  cl->hdr.len = 0;
  appendf(&cl->hdr, "H %" PRIu64 " %zu %016" PRIx64 "%s", cl->seq, manager_count(&cl->srv->mgr),
          local_digest(cl->srv), hello ? " hello" : "");
  publish(cl, cl->ch_presence.buf, cl->ch_presence.len, cl->hdr.buf, cl->hdr.len, NULL, 0);
}

/* The whole own state, as one transaction: Redis may have lost it. */
static void state_rewrite(cluster_t *cl) {
  server_t *s = cl->srv;
  size_t n = manager_count(&s->mgr), argc = 0, i, *offs, *lens;
  const char **argv;
  const client_t *c;
  char inc[24], seq[24], ttl[16];
  strbuf_t vals = {0};
  const char *one[1];
  size_t onelen[1];
  argv = calloc(2 * n + 6, sizeof *argv);
  lens = calloc(2 * n + 6, sizeof *lens);
  offs = calloc(n + 1, sizeof *offs);
  if (!argv || !lens || !offs) goto out;
  for (c = s->mgr.first, i = 0; c; c = c->next, i++) {
    offs[i] = vals.len;
    client_value(&vals, c);
  }
  offs[n] = vals.len;
  snprintf(inc, sizeof inc, "%" PRId64, cl->inc);
  snprintf(seq, sizeof seq, "%" PRIu64, cl->seq);
  snprintf(ttl, sizeof ttl, "%d", KEY_TTL_S);
  one[0] = "MULTI";
  onelen[0] = 5;
  pub_argv(cl, on_reply_check, 1, one, onelen);
  argv[0] = "DEL";
  lens[0] = 3;
  argv[1] = cl->key.buf;
  lens[1] = cl->key.len;
  pub_argv(cl, on_reply_check, 2, argv, lens);
  argv[argc = 0] = "HSET";
  lens[argc++] = 4;
  argv[argc] = cl->key.buf;
  lens[argc++] = cl->key.len;
  argv[argc] = "#inc";
  lens[argc++] = 4;
  argv[argc] = inc;
  lens[argc++] = strlen(inc);
  argv[argc] = "#seq";
  lens[argc++] = 4;
  argv[argc] = seq;
  lens[argc++] = strlen(seq);
  for (c = s->mgr.first, i = 0; c; c = c->next, i++) {
    argv[argc] = c->id;
    lens[argc++] = c->id_len;
    argv[argc] = vals.buf + offs[i];
    lens[argc++] = offs[i + 1] - offs[i];
  }
  pub_argv(cl, on_reply_check, (int)argc, argv, lens);
  argv[0] = "EXPIRE";
  lens[0] = 6;
  argv[2] = ttl;
  lens[2] = strlen(ttl);
  pub_argv(cl, on_reply_check, 3, argv, lens);
  one[0] = "EXEC";
  onelen[0] = 4;
  pub_argv(cl, on_reply_check, 1, one, onelen);
out:
  free(argv);
  free(lens);
  free(offs);
  strbuf_free(&vals);
}

/* --- local delivery ------------------------------------------------------ */

static void deliver_all(cluster_t *cl, slice_t env) {
  outmsg_t out;
  if (!env.len || !cl->srv->mgr.first) return;
  outmsg_init(&out, WS_OP_TEXT, env.base, env.len);
  manager_broadcast(&cl->srv->mgr, &out, NULL);
  outmsg_release(&out);
}

static void deliver_room(cluster_t *cl, slice_t room, slice_t env) {
  room_t *r;
  outmsg_t out;
  if (!env.len || !(r = manager_room_find(&cl->srv->mgr, room.base, room.len))) return;
  outmsg_init(&out, WS_OP_TEXT, env.base, env.len);
  manager_room_broadcast(r, &out);
  outmsg_release(&out);
}

static void deliver_one(client_t *c, const char *env, size_t len) {
  outmsg_t out;
  outmsg_init(&out, WS_OP_TEXT, env, len);
  client_deliver(c, &out);
  outmsg_release(&out);
}

/* Envelopes of this node's own making, for changes it learnt without an
 * envelope to forward (a re-read, a node that died). */
static int encode_event(cluster_t *cl, const char *type, json_t *data, const char *room) {
  char ts[MSG_TIMESTAMP_LEN + 1];
  int rc;
  msg_timestamp(server_now_usec(), ts);
  cl->env.len = 0;
  rc = data ? msg_envelope_encode(&cl->env, type, strlen(type), data, NULL, room, ts) : -1;
  json_decref(data);
  return rc;
}

static void emit_user(cluster_t *cl, const char *type, const char *id) {
  server_t *s = cl->srv;
  if (!s->mgr.first) return;
  if (encode_event(
          cl, type,
          json_pack("{s:s,s:I}", "user_id", id, "count", (json_int_t)cluster_clients_total(s)),
          NULL) == 0)
    deliver_all(cl, slice_make(cl->env.buf, cl->env.len));
}

static void emit_room(cluster_t *cl, const char *type, const char *id, const char *room) {
  server_t *s = cl->srv;
  size_t len = strlen(room);
  room_t *local = manager_room_find(&s->mgr, room, len);
  outmsg_t out;
  if (!local) return;
  if (encode_event(cl, type,
                   json_pack("{s:s,s:s,s:I}", "room", room, "user_id", id, "count",
                             (json_int_t)cluster_room_total(s, room, len, local)),
                   room) != 0)
    return;
  outmsg_init(&out, WS_OP_TEXT, cl->env.buf, cl->env.len);
  manager_room_broadcast(local, &out);
  outmsg_release(&out);
}

/* --- the replica ------------------------------------------------------------ */

static rnode_t *node_find(const cluster_t *cl, slice_t id) {
  rnode_t *rn;
  for (rn = cl->nodes; rn; rn = rn->next)
    if (rn->id_len == id.len && memcmp(rn->id, id.base, id.len) == 0) return rn;
  return NULL;
}

static rnode_t *node_new(cluster_t *cl, slice_t id, int64_t inc) {
  rnode_t *rn = calloc(1, sizeof *rn), **pp;
  if (!rn) return NULL;
  memcpy(rn->id, id.base, id.len);
  rn->id_len = id.len;
  rn->inc = inc;
  rn->last_seen = uv_now(cl->loop);
  for (pp = &cl->nodes; *pp; pp = &(*pp)->next) {
  }
  *pp = rn;
  return rn;
}

static void ovl_clear(rnode_t *rn) {
  while (rn->ovl) {
    ovl_t *o = rn->ovl;
    rn->ovl = o->next;
    free(o->id);
    free(o->value);
    free(o);
  }
  rn->ovl_tail = NULL;
}

static void ovl_add(rnode_t *rn, uint64_t seq, slice_t id, const slice_t *value) {
  ovl_t *o = calloc(1, sizeof *o);
  if (!o) return;
  o->seq = seq;
  o->id = strndup(id.base, id.len);
  o->value = value ? strndup(value->base, value->len) : NULL;
  if (!o->id || (value && !o->value)) {
    free(o->id);
    free(o->value);
    free(o);
    return;
  }
  if (rn->ovl_tail)
    rn->ovl_tail->next = o;
  else
    rn->ovl = o;
  rn->ovl_tail = o;
}

/* Leaves every room c is in but not in rooms, joins those it is not in. */
static void set_rooms(cluster_t *cl, rclient_t *rc, slice_t rooms, int events) {
  member_t *mb, *next;
  toks_t t;
  slice_t name;
  for (mb = rc->client.rooms; mb; mb = next) {
    int keep = 0;
    next = mb->client_next;
    t.p = rooms.base;
    t.end = rooms.base + rooms.len;
    while ((name = tok_next(&t)).len)
      if (name.len == mb->room->name_len && memcmp(name.base, mb->room->name, name.len) == 0) {
        keep = 1;
        break;
      }
    if (!keep) {
      char rname[256];
      copy_cstr(rname, sizeof rname, slice_make(mb->room->name, mb->room->name_len));
      manager_room_leave(&cl->peers, mb->room, &rc->client);
      if (events) emit_room(cl, "room_left", rc->client.id, rname);
    }
  }
  t.p = rooms.base;
  t.end = rooms.base + rooms.len;
  while ((name = tok_next(&t)).len) {
    int joined = 0;
    char rname[256];
    if (!id_ok(name)) continue;
    if (!manager_room_join(&cl->peers, &rc->client, name.base, name.len, &joined)) continue;
    copy_cstr(rname, sizeof rname, name);
    if (joined && events) emit_room(cl, "room_joined", rc->client.id, rname);
  }
}

/* Forgets rc. events: tell local clients (room_left for its rooms, then
 * user_left: env when the origin sent one, else our own). */
static void remove_remote(cluster_t *cl, rclient_t *rc, int events, slice_t env) {
  rnode_t *rn = rc->node;
  char id[256];
  member_t *mb;
  copy_cstr(id, sizeof id, slice_make(rc->client.id, rc->client.id_len));
  while ((mb = rc->client.rooms)) {
    char rname[256];
    copy_cstr(rname, sizeof rname, slice_make(mb->room->name, mb->room->name_len));
    manager_room_leave(&cl->peers, mb->room, &rc->client);
    if (events) emit_room(cl, "room_left", id, rname);
  }
  manager_remove(&cl->peers, &rc->client);
  if (rc->nprev)
    rc->nprev->nnext = rc->nnext;
  else
    rn->clients = rc->nnext;
  if (rc->nnext) rc->nnext->nprev = rc->nprev;
  rn->n_clients--;
  free(rc);
  if (!events) return;
  if (env.len)
    deliver_all(cl, env);
  else
    emit_user(cl, "user_left", id);
}

static void node_drop(cluster_t *cl, rnode_t *rn, int events) {
  rnode_t **pp;
  while (rn->clients)
    remove_remote(cl, rn->clients, events, slice_make(NULL, 0));
  for (pp = &cl->nodes; *pp && *pp != rn; pp = &(*pp)->next) {
  }
  if (*pp) *pp = rn->next;
  ovl_clear(rn);
  free(rn);
}

static uint64_t node_digest(const rnode_t *rn) {
  uint64_t d = 0;
  const rclient_t *rc;
  for (rc = rn->clients; rc; rc = rc->nnext)
    d ^= client_digest(&rc->client);
  return d;
}

enum { CLAIM_NEW, CLAIM_UPDATED, CLAIM_LOST };

/* Node rn says it holds id with value "<claim>[ rooms]". Applies the
 * conflict rule against a local holder and another node's holder; the
 * local loser is closed (4001), another node's is forgotten silently (its
 * node closes it). A new id is announced: env when given, else our own
 * user_joined when events. Room changes are told when events. */
static int apply_claim(cluster_t *cl, rnode_t *rn, slice_t id, slice_t value, slice_t env,
                       int events) {
  server_t *s = cl->srv;
  toks_t t = {value.base, value.base + value.len};
  int64_t claim;
  rclient_t *rc = peer_find(cl, id.base, id.len);
  client_t *local;
  int present = 0;
  char idz[256];
  if (!parse_i64(tok_next(&t), &claim)) return CLAIM_LOST;
  if (rc && rc->node == rn) {
    rc->client.claim_usec = claim;
    set_rooms(cl, rc, tok_rest(&t), events);
    rc->mark = 1;
    return CLAIM_UPDATED;
  }
  if ((local = manager_find(&s->mgr, id.base, id.len))) {
    if (!claim_wins(claim, rn->id, local->claim_usec, cl->node_id)) return CLAIM_LOST;
    ws_evict(local);
    present = 1;
  } else if (rc) {
    if (!claim_wins(claim, rn->id, rc->client.claim_usec, rc->node->id)) return CLAIM_LOST;
    remove_remote(cl, rc, 0, slice_make(NULL, 0));
    present = 1;
  }
  if (!(rc = calloc(1, sizeof *rc))) return CLAIM_LOST;
  if (manager_add(&cl->peers, &rc->client, id.base, id.len) != 0) {
    free(rc);
    return CLAIM_LOST;
  }
  rc->client.claim_usec = claim;
  rc->node = rn;
  rc->nnext = rn->clients;
  if (rn->clients) rn->clients->nprev = rc;
  rn->clients = rc;
  rn->n_clients++;
  rc->mark = 1;
  if (!present) {
    copy_cstr(idz, sizeof idz, id);
    if (env.len)
      deliver_all(cl, env);
    else if (events)
      emit_user(cl, "user_joined", idz);
  }
  set_rooms(cl, rc, tok_rest(&t), events);
  return present ? CLAIM_UPDATED : CLAIM_NEW;
}

/* 1 when a delta received during the re-read, newer than the snapshot,
 * is about id: the snapshot's entry is then outdated. */
static int ovl_newer(const rnode_t *rn, slice_t id, uint64_t snap_seq) {
  const ovl_t *o;
  for (o = rn->ovl; o; o = o->next)
    if (o->seq > snap_seq && strlen(o->id) == id.len && memcmp(o->id, id.base, id.len) == 0)
      return 1;
  return 0;
}

static int ovl_is_last(const ovl_t *o) {
  const ovl_t *n;
  for (n = o->next; n; n = n->next)
    if (strcmp(n->id, o->id) == 0) return 0;
  return 1;
}

/* The node's state = its HASH, overlaid with the deltas newer than it;
 * the difference with the replica is told to local clients. */
static void snapshot_apply(cluster_t *cl, rnode_t *rn, const redisReply *r) {
  uint64_t snap_seq = 0;
  int64_t inc = 0;
  int have_inc = 0;
  size_t i;
  rclient_t *rc, *next;
  const ovl_t *o;
  for (i = 0; i + 1 < r->elements; i += 2) {
    const redisReply *f = r->element[i], *v = r->element[i + 1];
    if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
    if (f->len == 4 && memcmp(f->str, "#seq", 4) == 0)
      parse_u64(slice_make(v->str, v->len), &snap_seq);
    else if (f->len == 4 && memcmp(f->str, "#inc", 4) == 0)
      have_inc = parse_i64(slice_make(v->str, v->len), &inc);
  }
  /* No HASH (expired, or Redis lost it and the node has not rewritten it
   * yet), or another incarnation's: nothing to learn from it. */
  if (!have_inc || inc != rn->inc) return;
  for (rc = rn->clients; rc; rc = rc->nnext)
    rc->mark = 0;
  for (i = 0; i + 1 < r->elements; i += 2) {
    const redisReply *f = r->element[i], *v = r->element[i + 1];
    slice_t id = slice_make(f->str, f->len);
    if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
    if (!id_ok(id) || ovl_newer(rn, id, snap_seq)) continue;
    apply_claim(cl, rn, id, slice_make(v->str, v->len), slice_make(NULL, 0), 1);
  }
  for (o = rn->ovl; o; o = o->next)
    if (o->seq > snap_seq && o->value && ovl_is_last(o))
      apply_claim(cl, rn, slice_cstr(o->id), slice_cstr(o->value), slice_make(NULL, 0), 1);
  for (rc = rn->clients; rc; rc = next) {
    next = rc->nnext;
    if (!rc->mark) remove_remote(cl, rc, 1, slice_make(NULL, 0));
  }
  if (snap_seq > rn->seq) rn->seq = snap_seq;
}

static void on_snapshot(redisAsyncContext *ac, void *r, void *priv) {
  snapreq_t *req = priv;
  cluster_t *cl = req->cl;
  redisReply *reply = r;
  rnode_t *rn = node_find(cl, slice_cstr(req->node));
  (void)ac;
  if (rn && rn->inc == req->inc && rn->gen == req->gen) {
    rn->resync_pending = 0;
    if (reply && reply->type == REDIS_REPLY_ARRAY && !cl->closing) {
      snapshot_apply(cl, rn, reply);
      log_debug("cluster: re-read node %s: %zu clients, seq %" PRIu64, rn->id, rn->n_clients,
                rn->seq);
    } else if (reply && reply->type == REDIS_REPLY_ERROR) {
      log_warn("cluster: re-reading node %s: %.*s", rn->id, (int)reply->len, reply->str);
    }
    ovl_clear(rn);
    if (rn->resync_again && reply && !cl->closing) {
      rn->resync_again = 0;
      resync(cl, rn);
    }
  }
  free(req);
}

/* Re-reads rn's HASH (once at a time; a later request is remembered). */
static void resync(cluster_t *cl, rnode_t *rn) {
  snapreq_t *req;
  const char *argv[2];
  size_t lens[2];
  if (!cl->up || !cl->pub || cl->closing) return;
  if (rn->resync_pending) {
    rn->resync_again = 1;
    return;
  }
  if (!(req = calloc(1, sizeof *req))) return;
  req->cl = cl;
  memcpy(req->node, rn->id, rn->id_len + 1);
  req->inc = rn->inc;
  req->gen = ++rn->gen;
  cl->chan.len = 0;
  appendf(&cl->chan, "%s:clients:%s", cl->prefix, rn->id);
  argv[0] = "HGETALL";
  lens[0] = 7;
  argv[1] = cl->chan.buf;
  lens[1] = cl->chan.len;
  if (redisAsyncCommandArgv(cl->pub, on_snapshot, req, 2, argv, lens) != REDIS_OK) {
    free(req);
    return;
  }
  ovl_clear(rn);
  rn->resync_pending = 1;
  rn->resync_again = 0;
}

/* --- messages from peers ---------------------------------------------------- */

static void on_delta(cluster_t *cl, rnode_t *rn, char kind, toks_t *t, slice_t env) {
  uint64_t seq;
  slice_t id, room, value;
  rclient_t *rc;
  if (!parse_u64(tok_next(t), &seq) || !id_ok(id = tok_next(t))) return;
  if (seq <= rn->seq) return; /* already in a snapshot applied */
  if (seq != rn->seq + 1) {
    if (!rn->resync_pending)
      resync(cl, rn);
    else if (rn->seq)
      rn->resync_again = 1;
  }
  rn->seq = seq;
  switch (kind) {
  case 'J':
    value = tok_rest(t);
    if (rn->resync_pending) ovl_add(rn, seq, id, &value);
    apply_claim(cl, rn, id, value, env, 0);
    break;
  case 'L':
    if (rn->resync_pending) ovl_add(rn, seq, id, NULL);
    rc = peer_find(cl, id.base, id.len);
    if (rc && rc->node == rn) remove_remote(cl, rc, 1, env);
    break;
  case 'M':
    room = tok_next(t);
    tok_next(t); /* + or -: the envelope says it */
    value = tok_rest(t);
    if (rn->resync_pending) ovl_add(rn, seq, id, &value);
    rc = peer_find(cl, id.base, id.len);
    if (rc && rc->node == rn) {
      toks_t vt = {value.base, value.base + value.len};
      tok_next(&vt);
      set_rooms(cl, rc, tok_rest(&vt), 0);
    }
    /* Even for a holder we moved elsewhere: the old connection did leave. */
    deliver_room(cl, room, env);
    break;
  }
}

static void on_heartbeat(cluster_t *cl, rnode_t *rn, toks_t *t) {
  uint64_t seq, count, digest;
  if (!parse_u64(tok_next(t), &seq) || !parse_u64(tok_next(t), &count) ||
      !parse_hex64(tok_next(t), &digest))
    return;
  if (tok_next(t).len) heartbeat(cl, 0); /* "hello": a node (re)joined */
  if (!rn->resync_pending &&
      (seq != rn->seq || count != rn->n_clients || digest != node_digest(rn))) {
    log_debug("cluster: node %s disagrees with our replica (seq %" PRIu64 "/%" PRIu64 ", %" PRIu64
              "/%zu clients): re-reading",
              rn->id, seq, rn->seq, count, rn->n_clients);
    resync(cl, rn);
  }
}

static void send_unknown_recipient(cluster_t *cl, client_t *c) {
  server_t *s = cl->srv;
  if (encode_event(cl, "error",
                   json_pack("{s:s,s:s}", "code", "unknown_recipient", "error",
                             "no such recipient is connected"),
                   NULL) != 0)
    return;
  s->metrics.errors[ME_UNKNOWN_RECIPIENT]++;
  deliver_one(c, cl->env.buf, cl->env.len);
}

static void on_private(cluster_t *cl, rnode_t *rn, toks_t *t, slice_t env) {
  slice_t to = tok_next(t), from = tok_next(t);
  client_t *dest;
  if (!id_ok(to) || !id_ok(from)) return;
  if ((dest = manager_find(&cl->srv->mgr, to.base, to.len))) {
    deliver_one(dest, env.base, env.len);
    return;
  }
  /* It left meanwhile: the sender must not think it was delivered. */
  cl->hdr.len = 0;
  strbuf_append(&cl->hdr, "B ", 2);
  strbuf_append(&cl->hdr, from.base, from.len);
  strbuf_append(&cl->hdr, " ", 1);
  strbuf_append(&cl->hdr, to.base, to.len);
  cl->chan.len = 0;
  appendf(&cl->chan, "%s:node:%s", cl->prefix, rn->id);
  publish(cl, cl->chan.buf, cl->chan.len, cl->hdr.buf, cl->hdr.len, NULL, 0);
}

static void on_bounce(cluster_t *cl, toks_t *t) {
  slice_t from = tok_next(t);
  client_t *c;
  if (id_ok(from) && (c = manager_find(&cl->srv->mgr, from.base, from.len)))
    send_unknown_recipient(cl, c);
}

static void on_message(cluster_t *cl, const char *p, size_t len) {
  const char *end = p + len, *nl1, *nl2, *sp;
  uint64_t now = uv_now(cl->loop);
  slice_t origin, line, env;
  int64_t inc;
  rnode_t *rn;
  toks_t t;
  char kind;
  if (!(nl1 = memchr(p, '\n', len)) || !(sp = memrchr(p, ' ', (size_t)(nl1 - p)))) return;
  origin = slice_make(p, (size_t)(sp - p));
  if (!parse_i64(slice_make(sp + 1, (size_t)(nl1 - sp - 1)), &inc)) return;
  nl2 = memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1));
  line = slice_make(nl1 + 1, (size_t)((nl2 ? nl2 : end) - nl1 - 1));
  env = nl2 ? slice_make(nl2 + 1, (size_t)(end - nl2 - 1)) : slice_make(NULL, 0);
  if (!origin.len || origin.len > NODE_ID_MAX || !line.len) return;
  kind = line.base[0];
  if (slice_eq(origin, slice_make(cl->node_id, cl->node_len))) {
    if (inc != cl->inc) {
      if (now - cl->dup_warned > 10000 || !cl->dup_warned)
        log_error("cluster: another process uses node_id %s: give each node its own", cl->node_id);
      cl->dup_warned = now;
    } else if (kind == 'H') {
      cl->last_echo = now;
    }
    return;
  }
  rn = node_find(cl, origin);
  if (rn && inc != rn->inc) {
    if (inc < rn->inc) return; /* a late word of a previous incarnation */
    log_info("cluster: node %s restarted", rn->id);
    node_drop(cl, rn, 1);
    rn = NULL;
  }
  if (!rn) {
    if (kind == 'X' || !(rn = node_new(cl, origin, inc))) return;
    log_info("cluster: node %s joined", rn->id);
    resync(cl, rn);
  }
  rn->last_seen = now;
  t.p = line.base + 1;
  t.end = line.base + line.len;
  switch (kind) {
  case 'C': deliver_all(cl, env); break;
  case 'R': deliver_room(cl, tok_next(&t), env); break;
  case 'P': on_private(cl, rn, &t, env); break;
  case 'B': on_bounce(cl, &t); break;
  case 'J':
  case 'L':
  case 'M': on_delta(cl, rn, kind, &t, env); break;
  case 'H': on_heartbeat(cl, rn, &t); break;
  case 'X':
    log_info("cluster: node %s left (%zu clients)", rn->id, rn->n_clients);
    node_drop(cl, rn, 1);
    break;
  default: break;
  }
}

static void on_sub_reply(redisAsyncContext *ac, void *r, void *priv) {
  cluster_t *cl = priv;
  redisReply *reply = r, *kind, *payload;
  if (!reply || ac != cl->sub || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) return;
  kind = reply->element[0];
  if (kind->type != REDIS_REPLY_STRING) return;
  if (kind->len == 7 && memcmp(kind->str, "message", 7) == 0) {
    payload = reply->element[2];
    if (payload->type == REDIS_REPLY_STRING) on_message(cl, payload->str, payload->len);
  } else if (kind->len == 9 && memcmp(kind->str, "subscribe", 9) == 0) {
    if (cl->pending_subs > 0 && --cl->pending_subs == 0) {
      cl->ready = 1;
      gate_release(cl);
    }
  }
}

/* --- the session ---------------------------------------------------------------- */

static void maybe_closed(cluster_t *cl) {
  if (cl->closing && !cl->pub && !cl->sub && !cl->resolving && !cl->timer_closed) {
    cl->timer_closed = 1;
    uv_close((uv_handle_t *)&cl->timer, NULL);
  }
}

static void on_select(redisAsyncContext *ac, void *r, void *priv) {
  cluster_t *cl = priv;
  redisReply *reply = r;
  if (reply && reply->type == REDIS_REPLY_ERROR && ac == cl->pub) {
    log_error("cluster: SELECT %d: %.*s", cl->db, (int)reply->len, reply->str);
    session_fail(cl);
  }
}

/* Both connections are up: subscribe, rewrite the own state, say hello. */
static void session_begin(cluster_t *cl) {
  server_t *s = cl->srv;
  uint64_t now = uv_now(cl->loop);
  size_t n = 3 + s->mgr.n_rooms, i = 0, *lens, *offs;
  const char **argv;
  strbuf_t names = {0};
  room_t *r;
  rnode_t *rn;
  cl->up = 1;
  cl->backoff_ms = BACKOFF_MIN_MS;
  cl->failing_logged = 0;
  log_info("cluster: connected to redis %s:%d as node %s", cl->host, cl->port, cl->node_id);
  redisEnableKeepAlive(&cl->pub->c);
  redisEnableKeepAlive(&cl->sub->c);
  if (cl->db) {
    char db[16];
    snprintf(db, sizeof db, "%d", cl->db);
    redisAsyncCommand(cl->pub, on_select, cl, "SELECT %s", db);
  }
  argv = calloc(n + 1, sizeof *argv);
  lens = calloc(n + 1, sizeof *lens);
  offs = calloc(n + 1, sizeof *offs);
  if (argv && lens && offs) {
    for (r = s->mgr.rfirst; r; r = r->next, i++) {
      offs[i] = names.len;
      appendf(&names, "%s:room:", cl->prefix);
      strbuf_append(&names, r->name, r->name_len);
    }
    offs[i] = names.len;
    argv[0] = "SUBSCRIBE";
    lens[0] = 9;
    argv[1] = cl->ch_all.buf;
    lens[1] = cl->ch_all.len;
    argv[2] = cl->ch_node.buf;
    lens[2] = cl->ch_node.len;
    argv[3] = cl->ch_presence.buf;
    lens[3] = cl->ch_presence.len;
    for (i = 0; i < s->mgr.n_rooms; i++) {
      argv[4 + i] = names.buf + offs[i];
      lens[4 + i] = offs[i + 1] - offs[i];
    }
    if (redisAsyncCommandArgv(cl->sub, on_sub_reply, cl, (int)n + 1, argv, lens) == REDIS_OK)
      cl->pending_subs = (int)n;
  }
  cl->ready = cl->pending_subs == 0;
  free(argv);
  free(lens);
  free(offs);
  strbuf_free(&names);
  state_rewrite(cl);
  heartbeat(cl, 1);
  /* The replica was frozen while we could not hear the peers. */
  for (rn = cl->nodes; rn; rn = rn->next)
    rn->last_seen = now;
  cl->last_echo = now;
  cl->next_hb = now + HEARTBEAT_MS;
}

static void session_fail(cluster_t *cl) {
  redisAsyncContext *pub = cl->pub, *sub = cl->sub;
  int was_up = cl->up;
  cl->pub = cl->sub = NULL;
  cl->pub_ok = cl->sub_ok = 0;
  cl->up = cl->ready = 0;
  cl->pending_subs = 0;
  queue_clear(cl);
  if (pub) redisAsyncFree(pub);
  if (sub) redisAsyncFree(sub);
  if (cl->closing) {
    maybe_closed(cl);
    return;
  }
  if (was_up) {
    cl->backoff_ms = BACKOFF_MIN_MS;
    log_warn("cluster: lost redis %s:%d: serving local clients only (degraded), reconnecting",
             cl->host, cl->port);
  }
  cl->retry_at = uv_now(cl->loop) + cl->backoff_ms;
  cl->backoff_ms = cl->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : cl->backoff_ms * 2;
}

static void on_connect(const redisAsyncContext *ac, int status) {
  cluster_t *cl = ac->data;
  int is_pub = ac == cl->pub;
  if (!is_pub && ac != cl->sub) return;
  if (status != REDIS_OK) {
    if (!cl->failing_logged)
      log_warn("cluster: cannot connect to redis %s:%d: %s (retrying with backoff)", cl->host,
               cl->port, ac->errstr ? ac->errstr : "error");
    cl->failing_logged = 1;
    /* hiredis frees this context when we return. */
    if (is_pub)
      cl->pub = NULL;
    else
      cl->sub = NULL;
    session_fail(cl);
    return;
  }
  if (is_pub)
    cl->pub_ok = 1;
  else
    cl->sub_ok = 1;
  if (cl->pub_ok && cl->sub_ok) session_begin(cl);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  cluster_t *cl = ac->data;
  (void)status;
  if (ac != cl->pub && ac != cl->sub) return; /* one we let go ourselves */
  if (ac == cl->pub)
    cl->pub = NULL;
  else
    cl->sub = NULL;
  if (cl->closing) {
    maybe_closed(cl);
    return;
  }
  session_fail(cl);
}

static redisAsyncContext *open_ctx(cluster_t *cl, const char *ip) {
  redisAsyncContext *ac = redisAsyncConnect(ip, cl->port);
  if (!ac) return NULL;
  if (ac->err) {
    if (!cl->failing_logged)
      log_warn("cluster: cannot connect to redis %s:%d: %s (retrying with backoff)", cl->host,
               cl->port, ac->errstr);
    cl->failing_logged = 1;
    redisAsyncFree(ac);
    return NULL;
  }
  if (rpoll_attach(ac, cl->loop) != 0) {
    redisAsyncFree(ac);
    return NULL;
  }
  ac->data = cl;
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  redisAsyncSetConnectCallback(ac, on_connect); /* starts watching for writable */
  return ac;
}

static void connect_to(cluster_t *cl, const char *ip) {
  cl->connect_started = uv_now(cl->loop);
  if (!(cl->pub = open_ctx(cl, ip)) || !(cl->sub = open_ctx(cl, ip))) session_fail(cl);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  cluster_t *cl = req->data;
  char ip[INET6_ADDRSTRLEN] = "";
  struct addrinfo *a, *pick = NULL;
  cl->resolving = 0;
  for (a = status == 0 ? res : NULL; a; a = a->ai_next)
    if (a->ai_family == AF_INET || (a->ai_family == AF_INET6 && !pick)) {
      pick = a;
      if (a->ai_family == AF_INET) break;
    }
  if (pick && pick->ai_family == AF_INET)
    uv_ip4_name((struct sockaddr_in *)pick->ai_addr, ip, sizeof ip);
  else if (pick)
    uv_ip6_name((struct sockaddr_in6 *)pick->ai_addr, ip, sizeof ip);
  if (res) uv_freeaddrinfo(res);
  if (cl->closing) {
    maybe_closed(cl);
    return;
  }
  if (!*ip) {
    if (!cl->failing_logged)
      log_warn("cluster: cannot resolve redis host %s: %s", cl->host,
               status ? uv_strerror(status) : "no address");
    cl->failing_logged = 1;
    session_fail(cl);
    return;
  }
  connect_to(cl, ip);
}

static void start_connect(cluster_t *cl) {
  struct in6_addr a6;
  struct in_addr a4;
  struct addrinfo hints;
  int r;
  cl->connect_started = uv_now(cl->loop);
  if (uv_inet_pton(AF_INET, cl->host, &a4) == 0 || uv_inet_pton(AF_INET6, cl->host, &a6) == 0) {
    connect_to(cl, cl->host);
    return;
  }
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  cl->gai.data = cl;
  if ((r = uv_getaddrinfo(cl->loop, &cl->gai, on_resolved, cl->host, NULL, &hints)) != 0) {
    log_warn("cluster: cannot resolve redis host %s: %s", cl->host, uv_strerror(r));
    session_fail(cl);
    return;
  }
  cl->resolving = 1;
}

static void on_tick(uv_timer_t *t) {
  cluster_t *cl = t->data;
  uint64_t now = uv_now(cl->loop);
  rnode_t *rn, *next;
  if (cl->closing) {
    if (now >= cl->close_deadline && (cl->pub || cl->sub)) {
      log_warn("cluster: redis did not confirm the goodbye in time");
      session_fail(cl);
    }
    return;
  }
  if (!cl->pub && !cl->sub) {
    if (!cl->resolving && now >= cl->retry_at) start_connect(cl);
    return;
  }
  if (!cl->up) {
    if (now - cl->connect_started > CONNECT_TIMEOUT_MS) {
      if (!cl->failing_logged)
        log_warn("cluster: connecting to redis %s:%d timed out", cl->host, cl->port);
      cl->failing_logged = 1;
      session_fail(cl);
    }
    return;
  }
  if (now - cl->last_echo > ECHO_TIMEOUT_MS) {
    log_warn("cluster: redis has not echoed our heartbeats for %d s", ECHO_TIMEOUT_MS / 1000);
    session_fail(cl);
    return;
  }
  if (now >= cl->next_hb) {
    heartbeat(cl, 0);
    cl->next_hb = now + HEARTBEAT_MS;
  }
  for (rn = cl->nodes; rn; rn = next) {
    next = rn->next;
    if (now - rn->last_seen > PEER_TIMEOUT_MS) {
      log_warn("cluster: node %s silent for %d s: dropping its %zu clients", rn->id,
               PEER_TIMEOUT_MS / 1000, rn->n_clients);
      node_drop(cl, rn, 1);
    }
  }
}

/* --- public ---------------------------------------------------------------------- */

/* redis://host:port[/db], already checked by config.c. */
static int parse_url(cluster_t *cl, const char *url) {
  const char *p = url + 8, *hend, *pend;
  char *e;
  long v;
  if (strncmp(url, "redis://", 8) != 0) return -1;
  if (*p == '[') {
    if (!(hend = strchr(p, ']'))) return -1;
    p++;
    pend = hend + 1;
  } else {
    hend = strchr(p, ':');
    if (!hend) return -1;
    pend = hend;
  }
  if (*pend != ':' || (size_t)(hend - p) >= sizeof cl->host) return -1;
  memcpy(cl->host, p, (size_t)(hend - p));
  cl->host[hend - p] = '\0';
  v = strtol(pend + 1, &e, 10);
  if (v <= 0 || v > 65535) return -1;
  cl->port = (int)v;
  if (*e == '/') {
    v = strtol(e + 1, &e, 10);
    if (v < 0 || v > 0x7fffffff) return -1;
    cl->db = (int)v;
  }
  return *e ? -1 : 0;
}

static void default_node_id(char *out, size_t cap) {
  char host[256] = "node";
  size_t i;
  gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  for (i = 0; host[i]; i++)
    if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-", host[i]))
      host[i] = '_';
  snprintf(out, cap, "%.40s:%ld", host, (long)getpid());
}

int cluster_start(server_t *s, cluster_t **out) {
  cluster_t *cl;
  const config_t *cfg = &s->cfg;
  *out = NULL;
  if (!cfg->redis_url || !*cfg->redis_url) return 0;
  if (!(cl = calloc(1, sizeof *cl)) || manager_init(&cl->peers) != 0) {
    free(cl);
    log_error("cluster: out of memory");
    return -1;
  }
  cl->srv = s;
  cl->loop = s->loop;
  if (parse_url(cl, cfg->redis_url) != 0) {
    log_error("cluster: cannot use redis_url %s", cfg->redis_url);
    manager_free(&cl->peers);
    free(cl);
    return -1;
  }
  if (cfg->node_id && *cfg->node_id)
    snprintf(cl->node_id, sizeof cl->node_id, "%s", cfg->node_id);
  else
    default_node_id(cl->node_id, sizeof cl->node_id);
  cl->node_len = strlen(cl->node_id);
  cl->prefix = strdup(cfg->channel_prefix && *cfg->channel_prefix ? cfg->channel_prefix : "fastws");
  cl->inc = server_now_usec();
  cl->origin_len =
      (size_t)snprintf(cl->origin, sizeof cl->origin, "%s %" PRId64 "\n", cl->node_id, cl->inc);
  set_str(&cl->ch_all, cl->prefix, ":all", 4);
  set_str(&cl->ch_presence, cl->prefix, ":presence", 9);
  cl->ch_node.len = cl->key.len = 0;
  appendf(&cl->ch_node, "%s:node:%s", cl->prefix, cl->node_id);
  appendf(&cl->key, "%s:clients:%s", cl->prefix, cl->node_id);
  strbuf_append(&cl->ch_node, "", 1);
  cl->ch_node.len--;
  strbuf_append(&cl->key, "", 1);
  cl->key.len--;
  cl->backoff_ms = BACKOFF_MIN_MS;
  if (!cl->prefix || !cl->ch_all.buf || !cl->ch_presence.buf || !cl->ch_node.buf || !cl->key.buf) {
    log_error("cluster: out of memory");
    cluster_free(cl);
    return -1;
  }
  uv_timer_init(s->loop, &cl->timer);
  cl->timer.data = cl;
  uv_timer_start(&cl->timer, on_tick, TICK_MS, TICK_MS);
  log_info("cluster: node %s, redis %s:%d%s, channels %s:*", cl->node_id, cl->host, cl->port,
           cl->db ? " (db set)" : "", cl->prefix);
  start_connect(cl);
  *out = cl;
  return 0;
}

void cluster_close(cluster_t *cl) {
  const char *argv[2];
  size_t lens[2];
  if (!cl || cl->closing) return;
  cl->closing = 1;
  cl->close_deadline = uv_now(cl->loop) + CLOSE_TIMEOUT_MS;
  if (cl->up && cl->pub) {
    redisAsyncContext *sub = cl->sub;
    /* Leaving: what the gate holds goes now, then the goodbye. */
    cl->pending_subs = 0;
    gate_release(cl);
    argv[0] = "DEL";
    lens[0] = 3;
    argv[1] = cl->key.buf;
    lens[1] = cl->key.len;
    pub_argv(cl, NULL, 2, argv, lens);
    cl->hdr.len = 0;
    strbuf_append(&cl->hdr, "X", 1);
    publish(cl, cl->ch_presence.buf, cl->ch_presence.len, cl->hdr.buf, cl->hdr.len, NULL, 0);
    cl->up = cl->ready = 0;
    cl->sub = NULL;
    if (sub) redisAsyncFree(sub);
    /* Flushes, waits for the answers, then closes (on_disconnect). */
    redisAsyncDisconnect(cl->pub);
  } else {
    session_fail(cl);
  }
  if (cl->resolving) uv_cancel((uv_req_t *)&cl->gai);
  maybe_closed(cl);
}

void cluster_free(cluster_t *cl) {
  if (!cl) return;
  cl->closing = 1;
  if (cl->pub || cl->sub) session_fail(cl);
  while (cl->nodes)
    node_drop(cl, cl->nodes, 0);
  manager_free(&cl->peers);
  queue_clear(cl);
  strbuf_free(&cl->out);
  strbuf_free(&cl->hdr);
  strbuf_free(&cl->env);
  strbuf_free(&cl->chan);
  strbuf_free(&cl->ch_all);
  strbuf_free(&cl->ch_node);
  strbuf_free(&cl->ch_presence);
  strbuf_free(&cl->key);
  free(cl->prefix);
  free(cl);
}

int cluster_up(const cluster_t *cl) {
  return !cl || (cl->up && cl->ready);
}

const manager_t *cluster_peers(const cluster_t *cl) {
  return cl ? &cl->peers : NULL;
}

size_t cluster_clients_total(const server_t *s) {
  return manager_count(&s->mgr) + (s->cluster ? manager_count(&s->cluster->peers) : 0);
}

size_t cluster_room_total(const server_t *s, const char *name, size_t len, const room_t *local) {
  const room_t *r;
  size_t n = local ? local->count : 0;
  if (s->cluster && (r = manager_room_find(&s->cluster->peers, name, len))) n += r->count;
  return n;
}

int cluster_has_client(const cluster_t *cl, const char *id, size_t len) {
  return cl && peer_find(cl, id, len) != NULL;
}

int cluster_claim(cluster_t *cl, client_t *c) {
  rclient_t *rc;
  int64_t now = server_now_usec();
  if (!cl) return 0;
  rc = peer_find(cl, c->id, c->id_len);
  if (rc && now <= rc->client.claim_usec) now = rc->client.claim_usec + 1;
  c->claim_usec = now;
  if (!rc) return 0;
  log_info("cluster: client %s taken over from node %s", c->id, rc->node->id);
  remove_remote(cl, rc, 0, slice_make(NULL, 0));
  return 1;
}

void cluster_chat(cluster_t *cl, const char *env, size_t len) {
  if (!cl) return;
  publish(cl, cl->ch_all.buf, cl->ch_all.len, "C", 1, env, len);
}

void cluster_room_message(cluster_t *cl, const char *room, const char *env, size_t len) {
  char hdr[WS_ID_MAX + 3];
  size_t rlen;
  const strbuf_t *ch;
  if (!cl) return;
  rlen = strlen(room);
  if (rlen > WS_ID_MAX) return;
  hdr[0] = 'R';
  hdr[1] = ' ';
  memcpy(hdr + 2, room, rlen);
  ch = room_channel(cl, room, rlen);
  publish(cl, ch->buf, ch->len, hdr, rlen + 2, env, len);
}

void cluster_private(cluster_t *cl, const char *from, const char *to, const char *env, size_t len) {
  rclient_t *rc;
  if (!cl || !(rc = peer_find(cl, to, strlen(to)))) return;
  cl->hdr.len = 0;
  appendf(&cl->hdr, "P %s %s", to, from);
  cl->chan.len = 0;
  appendf(&cl->chan, "%s:node:%s", cl->prefix, rc->node->id);
  publish(cl, cl->chan.buf, cl->chan.len, cl->hdr.buf, cl->hdr.len, env, len);
}

void cluster_client_joined(cluster_t *cl, const client_t *c, const char *env, size_t len) {
  if (!cl) return;
  cl->seq++;
  state_write(cl, c);
  cl->hdr.len = 0;
  appendf(&cl->hdr, "J %" PRIu64 " %s ", cl->seq, c->id);
  client_value(&cl->hdr, c);
  publish_all(cl, env, len);
}

void cluster_client_left(cluster_t *cl, const char *id, const char *env, size_t len) {
  if (!cl) return;
  cl->seq++;
  state_delete(cl, id);
  cl->hdr.len = 0;
  appendf(&cl->hdr, "L %" PRIu64 " %s", cl->seq, id);
  publish_all(cl, env, env ? len : 0);
}

void cluster_room_changed(cluster_t *cl, const client_t *c, const char *room, int joined, int edge,
                          const char *env, size_t len) {
  if (!cl) return;
  if (edge) room_subscription(cl, room, joined);
  cl->seq++;
  state_write(cl, c);
  cl->hdr.len = 0;
  appendf(&cl->hdr, "M %" PRIu64 " %s %s %c ", cl->seq, c->id, room, joined ? '+' : '-');
  client_value(&cl->hdr, c);
  publish_all(cl, env, len);
}
