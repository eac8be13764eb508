/* The loop: start-up, the flush hooks, the deadline tick, signals,
 * reload and graceful shutdown. */
#include "server/server.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "server/cluster/cluster.h"
#include "server/fconn.h"
#include "server/jsonpool.h"
#include "server/net/tls.h"
#include "server/notify.h"
#include "server/util/list.h"
#include "server/util/log.h"

#define TICK_MS 100

static uint64_t secs_to_ms(double s) {
  return (uint64_t)(s * 1000.0 + 0.5);
}

/* What new connections get, from cfg (start-up and reload): open ones
 * keep the generation they started with. */
void server_apply_config(server_t *s) {
  const config_t *c = &s->cfg;
  char *root;
  log_set_level(c->log_level);
  s->http.handshake_ms = dl_ms(c->handshake_timeout);
  s->http.max_header_size = c->max_header_size;
  if (ws_ctx_configure(&s->ws, c->max_message_size, c->max_send_buffer, c->idle_timeout,
                       c->heartbeat_interval, c->deflate_min_size) != 0)
    log_error("out of memory: new connections keep the previous limits");
  s->chat.on_duplicate_id = c->on_duplicate_id;
  root = realpath(c->static_dir, NULL);
  if (!root) log_warn("static_dir %s not found: /static answers 404", c->static_dir);
  free(s->static_root);
  s->static_root = root;
}

/* A server holding max_connections sockets needs that many descriptors. */
static void raise_fd_limit(const config_t *cfg) {
  struct rlimit rl;
  rlim_t want = (rlim_t)cfg->max_connections + 1024;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur >= want) return;
  rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < want)
    log_warn("open files limited to %llu: at most about %llu connections",
             (unsigned long long)rl.rlim_cur,
             (unsigned long long)(rl.rlim_cur > 64 ? rl.rlim_cur - 64 : 0));
}

static void flush_all(server_t *s) {
  /* A departure delivers to others, whose output must flush too. */
  while (net_process(&s->net)) {
  }
}

static fconn_t *fconn_of(conn_t *c) {
  return container_of(c, fconn_t, conn);
}

static void close_handles(server_t *s);

/* Draining: plain HTTP connections stay (a keep-alive /healthz poll sees
 * "draining") until the last WebSocket has closed, then go too. */
static void maybe_finish(server_t *s) {
  conn_t *c;
  if (!s->draining || s->stopping) return;
  if (s->ws.n_sessions == 0 && !s->http_closed) {
    s->http_closed = 1;
    for (c = s->net.conns; c; c = c->next)
      if (fconn_is_http(fconn_of(c))) conn_close(c, CONN_CLOSE_FLUSH);
  }
  if (s->net.n_conns == 0) close_handles(s);
}

static void on_prepare(uv_prepare_t *h) {
  server_t *s = h->data;
  flush_all(s);
  maybe_finish(s);
}

static void on_check(uv_check_t *h) {
  flush_all(h->data);
}

/* The watchdog ping and the STATUS line ride on the tick: no extra timer,
 * and STATUS changes at most once a second. */
static void systemd_tick(server_t *s, uint64_t now) {
  if (s->watchdog_ms && now >= s->watchdog_at) {
    notify_watchdog();
    s->watchdog_at = now + s->watchdog_ms;
  }
  if (now >= s->status_at && s->status_clients != manager_count(&s->chat.mgr)) {
    s->status_clients = manager_count(&s->chat.mgr);
    notify_status(s->status_clients);
    s->status_at = now + 1000;
  }
}

static void on_tick(uv_timer_t *t) {
  server_t *s = t->data;
  uint64_t now = uv_now(s->loop);
  http_tick(&s->http, now);
  ws_tick(&s->ws, now);
  systemd_tick(s, now);
}

static void on_stop_timeout(uv_timer_t *t) {
  server_t *s = t->data;
  conn_t *c;
  log_warn("shutdown_timeout passed with %zu connections open: closing them", s->net.n_conns);
  for (c = s->net.conns; c; c = c->next)
    conn_close(c, CONN_CLOSE_ABORT);
}

static void begin_shutdown(server_t *s, int signum) {
  conn_t *c;
  if (s->draining) {
    log_warn("second signal %d: closing now", signum);
    on_stop_timeout(&s->stop_timer);
    return;
  }
  log_info("signal %d: shutting down, %zu connections to close", signum, s->net.n_conns);
  notify_stopping();
  s->draining = 1;
  listeners_close(&s->listeners);
  for (c = s->net.conns; c; c = c->next)
    if (!fconn_is_http(fconn_of(c)))
      ws_close(&fconn_of(c)->ws, WS_CLOSE_GOING_AWAY, "server shutting down");
  uv_timer_start(&s->stop_timer, on_stop_timeout, secs_to_ms(s->cfg.shutdown_timeout), 0);
}

/* The TLS context cfg asks for (*out NULL when TLS is off). 0, or -1
 * with err set. */
static int tls_prepare(const config_t *cfg, tls_ctx_t **out, char *err, size_t errlen) {
  return tls_ctx_new(cfg, out, err, errlen);
}

static void reload(server_t *s) {
  config_t next;
  tls_ctx_t *tls = NULL;
  char err[512];
  if (!s->config_path) return;
  notify_reloading();
  if (config_load(s->config_path, &next, err, sizeof err) != 0) {
    log_error("reload failed, keeping the running settings: %s", err);
    notify_ready(manager_count(&s->chat.mgr));
    return;
  }
  if (tls_prepare(&next, &tls, err, sizeof err) != 0) {
    log_error("reload failed, keeping the running settings: %s", err);
    config_free(&next);
    notify_ready(manager_count(&s->chat.mgr));
    return;
  }
  /* New connections get the new certificate; open ones keep their SSL
   * objects, which hold their own reference to the old context. */
  if (!s->tls != !tls) log_info("TLS %s for new connections", tls ? "on" : "off");
  tls_ctx_free(s->tls);
  s->tls = tls;
  if (!s->draining) listeners_reconcile(&s->listeners, &next);
  config_free(&s->cfg);
  s->cfg = next;
  server_apply_config(s);
  log_info("reloaded %s", s->config_path);
  notify_ready(manager_count(&s->chat.mgr));
}

static void on_signal(uv_signal_t *h, int signum) {
  server_t *s = h->data;
  if (signum == SIGHUP)
    reload(s);
  else
    begin_shutdown(s, signum);
}

static void close_handles(server_t *s) {
  s->stopping = 1;
  listeners_close(&s->listeners);
  uv_close((uv_handle_t *)&s->sig_term, NULL);
  uv_close((uv_handle_t *)&s->sig_int, NULL);
  uv_close((uv_handle_t *)&s->sig_hup, NULL);
  uv_close((uv_handle_t *)&s->prepare, NULL);
  uv_close((uv_handle_t *)&s->check, NULL);
  uv_close((uv_handle_t *)&s->tick, NULL);
  uv_close((uv_handle_t *)&s->stop_timer, NULL);
  cluster_close(s->cluster); /* every client has left: presence goes too */
}

static void init_handles(server_t *s) {
  uv_signal_init(s->loop, &s->sig_term);
  uv_signal_init(s->loop, &s->sig_int);
  uv_signal_init(s->loop, &s->sig_hup);
  s->sig_term.data = s->sig_int.data = s->sig_hup.data = s;
  uv_signal_start(&s->sig_term, on_signal, SIGTERM);
  uv_signal_start(&s->sig_int, on_signal, SIGINT);
  uv_signal_start(&s->sig_hup, on_signal, SIGHUP);
  uv_prepare_init(s->loop, &s->prepare);
  uv_check_init(s->loop, &s->check);
  s->prepare.data = s->check.data = s;
  uv_prepare_start(&s->prepare, on_prepare);
  uv_check_start(&s->check, on_check);
  uv_timer_init(s->loop, &s->tick);
  uv_timer_init(s->loop, &s->stop_timer);
  s->tick.data = s->stop_timer.data = s;
  uv_timer_start(&s->tick, on_tick, TICK_MS, TICK_MS);
  /* The tick must not keep the loop alive on its own during shutdown. */
}

static void server_free(server_t *s);

static server_t *server_new(config_t *cfg, const char *config_path) {
  server_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->loop = uv_default_loop();
  s->cfg = *cfg;
  memset(cfg, 0, sizeof *cfg);
  s->config_path = config_path;
  net_init(&s->net, s->loop, fconn_free);
  http_ctx_init(&s->http);
  s->app = &routes_app;
  listeners_init(&s->listeners, s->loop, fconn_on_connection, s);
  if (ws_ctx_init(&s->ws) != 0 || chat_init(&s->chat, &fconn_transport) != 0 ||
      iplimit_init(&s->per_ip) != 0) {
    server_free(s);
    return NULL;
  }
  server_apply_config(s);
  if (!s->ws.gen) {
    server_free(s);
    return NULL;
  }
  return s;
}

static void server_free(server_t *s) {
  cluster_free(s->cluster);
  tls_ctx_free(s->tls);
  chat_free(&s->chat);
  ws_ctx_free(&s->ws);
  http_ctx_free(&s->http);
  net_free(&s->net);
  iplimit_free(&s->per_ip);
  strbuf_free(&s->scratch);
  config_free(&s->cfg);
  free(s->static_root);
  obuf_pool_drain();
  jsonpool_drain();
  free(s);
}

int server_run(config_t *cfg, const char *config_path) {
  server_t *s;
  int rc = 0;
  /* Before any JSON exists: blocks must come back to the pool they left. */
  jsonpool_install();
  s = server_new(cfg, config_path);
  if (!s) {
    log_error("out of memory at start-up");
    return 2;
  }
  {
    char err[512];
    if (tls_prepare(&s->cfg, &s->tls, err, sizeof err) != 0) {
      /* A certificate or key that does not load: a runtime failure (2). */
      log_error("%s", err);
      server_free(s);
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  raise_fd_limit(&s->cfg);
  if (s->cfg.n_origins == 1 && strcmp(s->cfg.origins[0], "*") == 0)
    log_warn("allowed_origins = *: any web page may open WebSockets to this server");
  init_handles(s);
  if (listeners_start(&s->listeners, &s->cfg) != 0 ||
      cluster_start(s->loop, &s->chat, &s->cfg, &s->cluster) != 0) {
    rc = 2;
    s->draining = 1;
    close_handles(s);
  } else {
    log_info("fastwsd ready: %zu listener(s), max_connections %llu", s->listeners.n,
             (unsigned long long)s->cfg.max_connections);
    s->watchdog_ms = notify_watchdog_ms();
    notify_ready(0);
  }
  uv_run(s->loop, UV_RUN_DEFAULT);
  /* Anything still open (after a forced stop) is closed before the loop. */
  uv_run(s->loop, UV_RUN_DEFAULT);
  if (uv_loop_close(s->loop) != 0) log_warn("loop closed with handles still open");
  if (rc == 0) log_info("stopped cleanly");
  server_free(s);
  return rc;
}
