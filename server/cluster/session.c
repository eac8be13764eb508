/* The Redis session: connections, subscriptions, timer, close. See
 * session.h; the design is in cluster.h. */
#include "server/cluster/session.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cluster/publish.h"
#include "server/cluster/redis_uv.h"
#include "server/util/log.h"

static void session_fail(session_t *s);
static void start_connect(session_t *s);

/* b = "<prefix><suffix>", NUL-terminated. 0 or -1. */
static int set_name(strbuf_t *b, const char *prefix, const char *mid, const char *name) {
  b->len = 0;
  if (strbuf_append(b, prefix, strlen(prefix)) || strbuf_append(b, mid, strlen(mid)) ||
      strbuf_append(b, name, strlen(name)) || strbuf_append(b, "", 1))
    return -1;
  b->len--;
  return 0;
}

/* --- SUB --------------------------------------------------------------------- */

static void on_sub_reply(redisAsyncContext *ac, void *r, void *priv) {
  session_t *s = priv;
  redisReply *reply = r, *kind, *payload;
  if (!reply || ac != s->sub || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) return;
  kind = reply->element[0];
  if (kind->type != REDIS_REPLY_STRING) return;
  if (kind->len == 7 && memcmp(kind->str, "message", 7) == 0) {
    payload = reply->element[2];
    if (payload->type == REDIS_REPLY_STRING)
      s->cbs->on_message(s->cbs->ctx, payload->str, payload->len);
  } else if (kind->len == 9 && memcmp(kind->str, "subscribe", 9) == 0) {
    if (s->pending_subs > 0 && --s->pending_subs == 0) {
      s->ready = 1;
      publish_gate_release(s);
    }
  }
}

void session_subscribe_room(session_t *s, const char *room, int on) {
  const char *argv[2];
  size_t lens[2];
  if (!s->up || !s->sub) return;
  if (set_name(&s->chan, s->prefix, ":room:", room) != 0) return;
  argv[0] = on ? "SUBSCRIBE" : "UNSUBSCRIBE";
  lens[0] = strlen(argv[0]);
  argv[1] = s->chan.buf;
  lens[1] = s->chan.len;
  /* (UNSUBSCRIBE has no callback of its own in hiredis.) */
  if (redisAsyncCommandArgv(s->sub, on ? on_sub_reply : NULL, on ? s : NULL, 2, argv, lens) ==
          REDIS_OK &&
      on)
    s->pending_subs++;
}

/* SUBSCRIBE to all, own node, presence and every room with local members:
 * the gate stays closed until every one is acknowledged. */
static void subscribe_all(session_t *s) {
  size_t n = 3 + manager_room_count(s->local), i = 0, *lens, *offs;
  const char **argv;
  strbuf_t names = {0};
  const room_t *r;
  argv = calloc(n + 1, sizeof *argv);
  lens = calloc(n + 1, sizeof *lens);
  offs = calloc(n + 1, sizeof *offs);
  if (argv && lens && offs) {
    for (r = s->local->rfirst; r && i < n - 3; r = r->next, i++) {
      offs[i] = names.len;
      strbuf_append(&names, s->prefix, strlen(s->prefix));
      strbuf_append(&names, ":room:", 6);
      strbuf_append(&names, r->name, r->name_len);
    }
    n = 3 + i;
    offs[i] = names.len;
    argv[0] = "SUBSCRIBE";
    lens[0] = 9;
    argv[1] = s->ch_all.buf;
    lens[1] = s->ch_all.len;
    argv[2] = s->ch_node.buf;
    lens[2] = s->ch_node.len;
    argv[3] = s->ch_presence.buf;
    lens[3] = s->ch_presence.len;
    for (i = 0; i < n - 3; i++) {
      argv[4 + i] = names.buf + offs[i];
      lens[4 + i] = offs[i + 1] - offs[i];
    }
    if (redisAsyncCommandArgv(s->sub, on_sub_reply, s, (int)n + 1, argv, lens) == REDIS_OK)
      s->pending_subs = (int)n;
  }
  s->ready = s->pending_subs == 0;
  free(argv);
  free(lens);
  free(offs);
  strbuf_free(&names);
}

/* --- the session ------------------------------------------------------------- */

static void maybe_closed(session_t *s) {
  if (s->closing && !s->pub && !s->sub && !s->resolving && !s->timer_closed) {
    s->timer_closed = 1;
    uv_close((uv_handle_t *)&s->timer, NULL);
  }
}

static void on_select(redisAsyncContext *ac, void *r, void *priv) {
  session_t *s = priv;
  redisReply *reply = r;
  if (reply && reply->type == REDIS_REPLY_ERROR && ac == s->pub) {
    log_error("cluster: SELECT %d: %.*s", s->db, (int)reply->len, reply->str);
    session_fail(s);
  }
}

/* Both connections are up: subscribe, rewrite the own state, say hello. */
static void session_begin(session_t *s) {
  uint64_t now = uv_now(s->loop);
  s->up = 1;
  s->backoff_ms = SESSION_BACKOFF_MIN_MS;
  s->failing_logged = 0;
  log_info("cluster: connected to redis %s:%d as node %s", s->host, s->port, s->node_id);
  redisEnableKeepAlive(&s->pub->c);
  redisEnableKeepAlive(&s->sub->c);
  if (s->db) {
    char db[16];
    snprintf(db, sizeof db, "%d", s->db);
    redisAsyncCommand(s->pub, on_select, s, "SELECT %s", db);
  }
  subscribe_all(s);
  publish_rewrite(s);
  publish_heartbeat(s, 1);
  s->last_echo = now;
  s->next_hb = now + SESSION_HEARTBEAT_MS;
  /* The replica was frozen while we could not hear the peers. */
  s->cbs->on_begin(s->cbs->ctx, now);
}

static void session_fail(session_t *s) {
  redisAsyncContext *pub = s->pub, *sub = s->sub;
  int was_up = s->up;
  s->pub = s->sub = NULL;
  s->pub_ok = s->sub_ok = 0;
  s->up = s->ready = 0;
  s->pending_subs = 0;
  publish_queue_clear(s);
  if (pub) redisAsyncFree(pub);
  if (sub) redisAsyncFree(sub);
  if (s->closing) {
    maybe_closed(s);
    return;
  }
  if (was_up) {
    s->backoff_ms = SESSION_BACKOFF_MIN_MS;
    log_warn("cluster: lost redis %s:%d: serving local clients only (degraded), reconnecting",
             s->host, s->port);
  }
  s->retry_at = uv_now(s->loop) + s->backoff_ms;
  s->backoff_ms =
      s->backoff_ms * 2 > SESSION_BACKOFF_MAX_MS ? SESSION_BACKOFF_MAX_MS : s->backoff_ms * 2;
}

static void on_connect(const redisAsyncContext *ac, int status) {
  session_t *s = ac->data;
  int is_pub = ac == s->pub;
  if (!is_pub && ac != s->sub) return;
  if (status != REDIS_OK) {
    if (!s->failing_logged)
      log_warn("cluster: cannot connect to redis %s:%d: %s (retrying with backoff)", s->host,
               s->port, ac->errstr ? ac->errstr : "error");
    s->failing_logged = 1;
    /* hiredis frees this context when we return. */
    if (is_pub)
      s->pub = NULL;
    else
      s->sub = NULL;
    session_fail(s);
    return;
  }
  if (is_pub)
    s->pub_ok = 1;
  else
    s->sub_ok = 1;
  if (s->pub_ok && s->sub_ok) session_begin(s);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  session_t *s = ac->data;
  (void)status;
  if (ac != s->pub && ac != s->sub) return; /* one we let go ourselves */
  if (ac == s->pub)
    s->pub = NULL;
  else
    s->sub = NULL;
  if (s->closing) {
    maybe_closed(s);
    return;
  }
  session_fail(s);
}

static redisAsyncContext *open_ctx(session_t *s, const char *ip) {
  redisAsyncContext *ac = redisAsyncConnect(ip, s->port);
  if (!ac) return NULL;
  if (ac->err) {
    if (!s->failing_logged)
      log_warn("cluster: cannot connect to redis %s:%d: %s (retrying with backoff)", s->host,
               s->port, ac->errstr);
    s->failing_logged = 1;
    redisAsyncFree(ac);
    return NULL;
  }
  if (redis_uv_attach(ac, s->loop) != 0) {
    redisAsyncFree(ac);
    return NULL;
  }
  ac->data = s;
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  redisAsyncSetConnectCallback(ac, on_connect); /* starts watching for writable */
  return ac;
}

static void connect_to(session_t *s, const char *ip) {
  s->connect_started = uv_now(s->loop);
  if (!(s->pub = open_ctx(s, ip)) || !(s->sub = open_ctx(s, ip))) session_fail(s);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  session_t *s = req->data;
  char ip[INET6_ADDRSTRLEN] = "";
  struct addrinfo *a, *pick = NULL;
  s->resolving = 0;
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
  if (s->closing) {
    maybe_closed(s);
    return;
  }
  if (!*ip) {
    if (!s->failing_logged)
      log_warn("cluster: cannot resolve redis host %s: %s", s->host,
               status ? uv_strerror(status) : "no address");
    s->failing_logged = 1;
    session_fail(s);
    return;
  }
  connect_to(s, ip);
}

static void start_connect(session_t *s) {
  struct in6_addr a6;
  struct in_addr a4;
  struct addrinfo hints;
  int r;
  s->connect_started = uv_now(s->loop);
  if (uv_inet_pton(AF_INET, s->host, &a4) == 0 || uv_inet_pton(AF_INET6, s->host, &a6) == 0) {
    connect_to(s, s->host);
    return;
  }
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  s->gai.data = s;
  if ((r = uv_getaddrinfo(s->loop, &s->gai, on_resolved, s->host, NULL, &hints)) != 0) {
    log_warn("cluster: cannot resolve redis host %s: %s", s->host, uv_strerror(r));
    session_fail(s);
    return;
  }
  s->resolving = 1;
}

static void on_tick(uv_timer_t *t) {
  session_t *s = t->data;
  uint64_t now = uv_now(s->loop);
  if (s->closing) {
    if (now >= s->close_deadline && (s->pub || s->sub)) {
      log_warn("cluster: redis did not confirm the goodbye in time");
      session_fail(s);
    }
    return;
  }
  if (!s->pub && !s->sub) {
    if (!s->resolving && now >= s->retry_at) start_connect(s);
    return;
  }
  if (!s->up) {
    if (now - s->connect_started > SESSION_CONNECT_TIMEOUT_MS) {
      if (!s->failing_logged)
        log_warn("cluster: connecting to redis %s:%d timed out", s->host, s->port);
      s->failing_logged = 1;
      session_fail(s);
    }
    return;
  }
  if (now - s->last_echo > SESSION_ECHO_TIMEOUT_MS) {
    log_warn("cluster: redis has not echoed our heartbeats for %d s",
             SESSION_ECHO_TIMEOUT_MS / 1000);
    session_fail(s);
    return;
  }
  if (now >= s->next_hb) {
    publish_heartbeat(s, 0);
    s->next_hb = now + SESSION_HEARTBEAT_MS;
  }
  s->cbs->on_tick(s->cbs->ctx, now);
}

/* --- public ------------------------------------------------------------------ */

int session_init(session_t *s, uv_loop_t *loop, const manager_t *local, const char *host, int port,
                 int db, const char *node_id, const char *prefix, int64_t inc,
                 const session_cbs_t *cbs) {
  memset(s, 0, sizeof *s);
  s->loop = loop;
  s->local = local;
  s->cbs = cbs;
  snprintf(s->host, sizeof s->host, "%s", host);
  s->port = port;
  s->db = db;
  snprintf(s->node_id, sizeof s->node_id, "%s", node_id);
  s->node_len = strlen(s->node_id);
  s->inc = inc;
  s->backoff_ms = SESSION_BACKOFF_MIN_MS;
  s->timer_closed = 1; /* until session_start */
  if (!(s->prefix = strdup(prefix)) || set_name(&s->ch_all, prefix, ":all", "") ||
      set_name(&s->ch_presence, prefix, ":presence", "") ||
      set_name(&s->ch_node, prefix, ":node:", s->node_id) ||
      set_name(&s->key, prefix, ":clients:", s->node_id))
    return -1;
  return 0;
}

void session_start(session_t *s) {
  uv_timer_init(s->loop, &s->timer);
  s->timer.data = s;
  s->timer_closed = 0;
  uv_timer_start(&s->timer, on_tick, SESSION_TICK_MS, SESSION_TICK_MS);
  start_connect(s);
}

int session_up(const session_t *s) {
  return s->up && s->ready;
}

void session_echo(session_t *s, uint64_t now) {
  s->last_echo = now;
}

void session_close(session_t *s) {
  if (s->closing) return;
  s->closing = 1;
  s->close_deadline = uv_now(s->loop) + SESSION_CLOSE_TIMEOUT_MS;
  if (s->up && s->pub) {
    redisAsyncContext *sub = s->sub;
    /* Leaving: what the gate holds goes now, then the goodbye. */
    s->pending_subs = 0;
    publish_gate_release(s);
    publish_goodbye(s);
    s->up = s->ready = 0;
    s->sub = NULL;
    if (sub) redisAsyncFree(sub);
    /* Flushes, waits for the answers, then closes (on_disconnect). */
    redisAsyncDisconnect(s->pub);
  } else {
    session_fail(s);
  }
  if (s->resolving) uv_cancel((uv_req_t *)&s->gai);
  maybe_closed(s);
}

void session_free(session_t *s) {
  s->closing = 1;
  if (s->pub || s->sub) session_fail(s);
  publish_queue_clear(s);
  strbuf_free(&s->out);
  strbuf_free(&s->val);
  strbuf_free(&s->chan);
  strbuf_free(&s->ch_all);
  strbuf_free(&s->ch_node);
  strbuf_free(&s->ch_presence);
  strbuf_free(&s->key);
  free(s->prefix);
  s->prefix = NULL;
}
