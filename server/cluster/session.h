/* The Redis session of a node (cluster.h, "Connections", "Gate", "Redis
 * outage"): two hiredis contexts, SUB and PUB, on the loop; resolving,
 * connecting, reconnecting with backoff; the subscriptions; the timer
 * (heartbeats, timeouts); the asynchronous close. What goes out on PUB
 * (the gate, PUBLISH, the own HASH) is publish.c's, on this same struct.
 *
 * What the session receives goes up through session_cbs_t; it reads the
 * local registry (its clients for the own HASH and heartbeats, its rooms
 * for the subscriptions) and changes nothing else. */
#ifndef FASTWS_CLUSTER_SESSION_H
#define FASTWS_CLUSTER_SESSION_H

#include <hiredis/async.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "protocol/message.h"
#include "protocol/slice.h"
#include "server/chat/manager.h"
#include "server/cluster/presence.h"
#include "server/cluster/wire.h"

#define SESSION_TICK_MS            100
#define SESSION_HEARTBEAT_MS       3000
#define SESSION_PEER_TIMEOUT_MS    7000  /* a peer silent this long is dropped */
#define SESSION_ECHO_TIMEOUT_MS    10000 /* own heartbeats unseen this long: reconnect */
#define SESSION_KEY_TTL_S          10    /* the HASH outlives 3 heartbeats */
#define SESSION_CONNECT_TIMEOUT_MS 5000
#define SESSION_BACKOFF_MIN_MS     100
#define SESSION_BACKOFF_MAX_MS     5000
#define SESSION_CLOSE_TIMEOUT_MS   2000
#define SESSION_PUB_BACKLOG_MAX    ((size_t)64 << 20) /* bytes unsent to Redis before we drop */

typedef struct {
  void *ctx;
  /* A message on a subscribed channel (this node's own included): the raw
   * payload, borrowed for the call. */
  void (*on_message)(void *ctx, const char *p, size_t len);
  /* The session began at now (uv_now): subscriptions sent, own state
   * rewritten, hello published. */
  void (*on_begin)(void *ctx, uint64_t now);
  /* Every tick while the session is up and well. */
  void (*on_tick)(void *ctx, uint64_t now);
  /* The answer to publish_reread (PRESENCE_SNAP_*; kv borrowed). */
  void (*on_snapshot)(void *ctx, const presence_ticket_t *t, int status, const slice_t *kv,
                      size_t n_kv);
} session_cbs_t;

/* A command held back by the gate (formatted by hiredis). */
typedef struct session_cmd_s {
  struct session_cmd_s *next;
  char *cmd;
  int len;
  redisCallbackFn *fn;
} session_cmd_t;

/* Owned by the cluster; every field is the session's (publish.c's too). */
typedef struct {
  uv_loop_t *loop;
  const manager_t *local;
  const session_cbs_t *cbs;
  char node_id[WIRE_NODE_ID_MAX + 1];
  size_t node_len;
  int64_t inc; /* this process's incarnation */
  char *prefix;
  char host[256];
  int port, db;
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
  session_cmd_t *q_head, *q_tail;

  uint64_t seq; /* own presence sequence number */
  uint64_t next_hb, last_echo;

  uv_timer_t timer;
  strbuf_t out;  /* a payload being published */
  strbuf_t val;  /* a client value */
  strbuf_t chan; /* a channel or key name */
} session_t;

/* Sets s up (nothing connects yet). host, port, db: the parsed redis_url;
 * node_id, prefix: the [cluster] settings (copied); inc: the incarnation.
 * local and cbs are borrowed for the session's life. 0, or -1 on ENOMEM
 * (then session_free). */
int session_init(session_t *s, uv_loop_t *loop, const manager_t *local, const char *host, int port,
                 int db, const char *node_id, const char *prefix, int64_t inc,
                 const session_cbs_t *cbs);

/* Starts the timer and the first connect. */
void session_start(session_t *s);

/* 1 when the session is up and its first SUBSCRIBE acknowledged. */
int session_up(const session_t *s);

/* This node's own heartbeat came back from Redis at now. */
void session_echo(session_t *s, uint64_t now);

/* (UN)SUBSCRIBE P:room:<room>: its first local member joined (on = 1) or
 * its last left. A SUBSCRIBE closes the gate until acknowledged. */
void session_subscribe_room(session_t *s, const char *room, int on);

/* Shutdown: what the gate holds goes out, the own HASH is deleted, the
 * goodbye published, then both connections close; bounded by
 * SESSION_CLOSE_TIMEOUT_MS. The loop runs until the handles are closed.
 * Idempotent. */
void session_close(session_t *s);

/* Frees everything (after the loop stopped). Pending re-reads are
 * answered PRESENCE_SNAP_LOST from inside this call. */
void session_free(session_t *s);

#endif
