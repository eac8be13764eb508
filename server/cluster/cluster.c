/* The cluster backplane over Redis pub/sub: the chat's backplane ops, the
 * dispatch of what other nodes publish, and the glue between the session
 * (session.c, publish.c) and the replica (presence.c). The design is in
 * cluster.h. */
#include "server/cluster/cluster.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/chat/backplane.h"
#include "server/cluster/presence.h"
#include "server/cluster/publish.h"
#include "server/cluster/session.h"
#include "server/cluster/wire.h"
#include "server/util/clock.h"
#include "server/util/list.h"
#include "server/util/log.h"

#define DUP_WARN_MS 10000 /* at most one "another process uses node_id" per 10 s */

struct cluster_s {
  backplane_t bp; /* chat->bp points here */
  uv_loop_t *loop;
  chat_t *chat;
  session_t sess;
  presence_t pres;
  session_cbs_t scb;
  presence_events_t pev;
  uint64_t dup_warned;
  unsigned closing : 1;
  unsigned pres_ok : 1; /* pres initialised */
};

static cluster_t *of(const backplane_t *bp) {
  return container_of(bp, cluster_t, bp);
}

/* --- the backplane ------------------------------------------------------------ */

static int bp_up_op(const backplane_t *bp) {
  return session_up(&of(bp)->sess);
}

static const manager_t *bp_peers_op(const backplane_t *bp) {
  return &of(bp)->pres.peers;
}

static int bp_claim(backplane_t *bp, client_t *c) {
  return presence_claim(&of(bp)->pres, c, clock_wall_usec());
}

static void bp_chat(backplane_t *bp, const char *env, size_t len) {
  publish_chat(&of(bp)->sess, env, len);
}

static void bp_room_message(backplane_t *bp, const char *room, const char *env, size_t len) {
  publish_room_message(&of(bp)->sess, room, env, len);
}

static void bp_private(backplane_t *bp, const char *from, const char *to, const char *env,
                       size_t len) {
  cluster_t *cl = of(bp);
  rclient_t *rc = presence_find(&cl->pres, to, strlen(to));
  if (rc) publish_private(&cl->sess, rc->node->id, from, to, env, len);
}

static void bp_client_joined(backplane_t *bp, const client_t *c, const char *env, size_t len) {
  publish_joined(&of(bp)->sess, c, env, len);
}

static void bp_client_left(backplane_t *bp, const char *id, const char *env, size_t len) {
  publish_left(&of(bp)->sess, id, env, len);
}

static void bp_room_changed(backplane_t *bp, const client_t *c, const char *room, int joined,
                            int edge, const char *env, size_t len) {
  cluster_t *cl = of(bp);
  /* The SUBSCRIBE first: it closes the gate before the delta is queued. */
  if (edge) session_subscribe_room(&cl->sess, room, joined);
  publish_room_changed(&cl->sess, c, room, joined, env, len);
}

static const backplane_ops_t cluster_ops = {
    .up = bp_up_op,
    .peers = bp_peers_op,
    .claim = bp_claim,
    .chat = bp_chat,
    .room_message = bp_room_message,
    .private_msg = bp_private,
    .client_joined = bp_client_joined,
    .client_left = bp_client_left,
    .room_changed = bp_room_changed,
};

/* --- what presence tells the chat ------------------------------------------------ */

static void ev_user(void *ctx, const char *type, const char *id) {
  cluster_t *cl = ctx;
  chat_emit_user(cl->chat, type, id);
}

static void ev_room(void *ctx, const char *type, const char *id, const char *room) {
  cluster_t *cl = ctx;
  chat_emit_room(cl->chat, type, id, room);
}

static void ev_evict(void *ctx, client_t *c) {
  cluster_t *cl = ctx;
  chat_evict(cl->chat, c);
}

static void ev_forward_all(void *ctx, slice_t env) {
  cluster_t *cl = ctx;
  chat_deliver_all(cl->chat, env.base, env.len);
}

static void ev_forward_room(void *ctx, slice_t room, slice_t env) {
  cluster_t *cl = ctx;
  chat_deliver_room(cl->chat, room.base, room.len, env.base, env.len);
}

static int ev_reread(void *ctx, const presence_ticket_t *t) {
  cluster_t *cl = ctx;
  return publish_reread(&cl->sess, t);
}

/* --- messages from Redis ---------------------------------------------------------- */

static void on_private(cluster_t *cl, const wire_msg_t *m) {
  client_t *dest = manager_find(&cl->chat->mgr, m->to.base, m->to.len);
  if (dest) {
    chat_deliver_one(cl->chat, dest, m->env.base, m->env.len);
    return;
  }
  /* It left meanwhile: the sender must not think it was delivered. */
  publish_bounce(&cl->sess, m->origin, m->from, m->to);
}

static void on_bounce(cluster_t *cl, const wire_msg_t *m) {
  client_t *c = manager_find(&cl->chat->mgr, m->from.base, m->from.len);
  if (c) chat_error_unknown_recipient(cl->chat, c);
}

/* This node's own publish, echoed by Redis: proof the session works, or
 * another process with the same node_id. */
static void on_own(cluster_t *cl, const wire_msg_t *m, uint64_t now) {
  if (m->inc != cl->sess.inc) {
    if (!cl->dup_warned || now - cl->dup_warned > DUP_WARN_MS)
      log_error("cluster: another process uses node_id %s: give each node its own",
                cl->sess.node_id);
    cl->dup_warned = now;
  } else if (m->kind == WIRE_HEARTBEAT) {
    session_echo(&cl->sess, now);
  }
}

static void on_message(void *ctx, const char *p, size_t len) {
  cluster_t *cl = ctx;
  uint64_t now = uv_now(cl->loop);
  wire_msg_t m;
  pnode_t *n;
  if (wire_decode(p, len, &m) != 0) return;
  if (slice_eq(m.origin, slice_make(cl->sess.node_id, cl->sess.node_len))) {
    on_own(cl, &m, now);
    return;
  }
  if (!(n = presence_seen(&cl->pres, &m, now))) return;
  switch (m.kind) {
  case WIRE_CHAT: chat_deliver_all(cl->chat, m.env.base, m.env.len); break;
  case WIRE_ROOM:
    chat_deliver_room(cl->chat, m.room.base, m.room.len, m.env.base, m.env.len);
    break;
  case WIRE_PRIVATE: on_private(cl, &m); break;
  case WIRE_BOUNCE: on_bounce(cl, &m); break;
  case WIRE_JOIN:
  case WIRE_LEAVE:
  case WIRE_MEMBER: presence_delta(&cl->pres, n, &m); break;
  case WIRE_HEARTBEAT:
    if (m.hello) publish_heartbeat(&cl->sess, 0); /* a node (re)joined */
    presence_heartbeat(&cl->pres, n, &m);
    break;
  case WIRE_GOODBYE: presence_goodbye(&cl->pres, n); break;
  default: break;
  }
}

static void on_begin(void *ctx, uint64_t now) {
  cluster_t *cl = ctx;
  presence_thaw(&cl->pres, now);
}

static void on_tick(void *ctx, uint64_t now) {
  cluster_t *cl = ctx;
  presence_expire(&cl->pres, now, SESSION_PEER_TIMEOUT_MS);
}

static void on_snapshot(void *ctx, const presence_ticket_t *t, int status, const slice_t *kv,
                        size_t n_kv) {
  cluster_t *cl = ctx;
  if (cl->pres_ok)
    presence_snapshot(&cl->pres, t, cl->closing ? PRESENCE_SNAP_LOST : status, kv, n_kv);
}

/* --- public ------------------------------------------------------------------------ */

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

int cluster_start(uv_loop_t *loop, chat_t *chat, const config_t *cfg, cluster_t **out) {
  cluster_t *cl;
  char node_id[WIRE_NODE_ID_MAX + 1];
  const char *prefix;
  *out = NULL;
  if (!cfg->redis_url || !*cfg->redis_url) return 0;
  if (!cfg->redis_host[0] || cfg->redis_port <= 0) {
    log_error("cluster: cannot use redis_url %s", cfg->redis_url);
    return -1;
  }
  if (cfg->node_id && *cfg->node_id)
    snprintf(node_id, sizeof node_id, "%s", cfg->node_id);
  else
    default_node_id(node_id, sizeof node_id);
  prefix = cfg->channel_prefix && *cfg->channel_prefix ? cfg->channel_prefix : "fastws";
  if (!(cl = calloc(1, sizeof *cl))) goto oom;
  cl->loop = loop;
  cl->chat = chat;
  cl->bp.ops = &cluster_ops;
  cl->scb = (session_cbs_t){cl, on_message, on_begin, on_tick, on_snapshot};
  cl->pev = (presence_events_t){
      cl, ev_user, ev_room, ev_evict, ev_forward_all, ev_forward_room, ev_reread};
  if (presence_init(&cl->pres, &chat->mgr, node_id, &cl->pev) != 0) goto oom;
  cl->pres_ok = 1;
  if (session_init(&cl->sess, loop, &chat->mgr, cfg->redis_host, cfg->redis_port, cfg->redis_db,
                   node_id, prefix, clock_wall_usec(), &cl->scb) != 0)
    goto oom;
  chat->bp = &cl->bp;
  log_info("cluster: node %s, redis %s:%d%s, channels %s:*", cl->sess.node_id, cl->sess.host,
           cl->sess.port, cl->sess.db ? " (db set)" : "", cl->sess.prefix);
  session_start(&cl->sess);
  *out = cl;
  return 0;
oom:
  log_error("cluster: out of memory");
  cluster_free(cl);
  return -1;
}

void cluster_close(cluster_t *cl) {
  if (!cl || cl->closing) return;
  cl->closing = 1;
  session_close(&cl->sess);
}

void cluster_free(cluster_t *cl) {
  if (!cl) return;
  cl->closing = 1;
  session_free(&cl->sess); /* answers pending re-reads: presence is still there */
  if (cl->pres_ok) presence_free(&cl->pres);
  free(cl);
}
