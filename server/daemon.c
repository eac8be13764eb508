/* The loop: start-up, the flush hooks, the deadline tick, signals,
 * reload and graceful shutdown. */
#include "server/server.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "server/cluster/cluster.h"
#include "server/net/conn.h"
#include "server/jsonpool.h"
#include "server/util/log.h"
#include "server/net/tls.h"
#include "server/notify.h"
#include "server/ws/ws.h"

#define TICK_MS   100
#define LINGER_MS 2000

int64_t server_now_usec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t secs_to_ms(double s) {
  return (uint64_t)(s * 1000.0 + 0.5);
}

/* Settings that live outside cfg and must follow it (start-up and reload). */
static void apply_config(server_t *s) {
  char *root;
  int kind, deflate;
  ws_settings_t *gen;
  log_set_level(s->cfg.log_level);
  s->handshake_dl.duration_ms = secs_to_ms(s->cfg.handshake_timeout);
  s->idle_dl.duration_ms = secs_to_ms(s->cfg.idle_timeout);
  s->heartbeat_dl.duration_ms = secs_to_ms(s->cfg.heartbeat_interval);
  if ((gen = calloc(1, sizeof *gen))) {
    for (kind = 0; kind < 2; kind++)
      for (deflate = 0; deflate < 2; deflate++) {
        ws_parser_opts_t *o = &gen->parser[kind][deflate];
        o->max_message_size = s->cfg.max_message_size;
        o->allow_binary = kind == WS_KIND_ECHO;
        o->allow_rsv1 = (unsigned)deflate;
        o->require_mask = 1;
      }
    gen->rate_limit = s->cfg.rate_limit;
    gen->rate_burst = s->cfg.rate_burst;
    gen->older = s->ws_settings;
    s->ws_settings = gen;
  } else {
    log_error("out of memory: new connections keep the previous limits");
  }
  root = realpath(s->cfg.static_dir, NULL);
  if (!root) log_warn("static_dir %s not found: /static answers 404", s->cfg.static_dir);
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
  /* Teardown delivers user_left to others, whose output must flush too. */
  do {
    conn_flush_pending(s);
    conn_process_closing(s);
  } while (s->pending || s->closing || s->departing);
}

static void close_handles(server_t *s);

/* Draining: plain HTTP connections stay (a keep-alive /healthz poll sees
 * "draining") until the last WebSocket has closed, then go too. */
static void maybe_finish(server_t *s) {
  conn_t *c;
  if (!s->draining || s->stopping) return;
  if (s->n_ws == 0 && !s->http_closed) {
    s->http_closed = 1;
    for (c = s->conns; c; c = c->next)
      if (c->state == CONN_HTTP) conn_close_after_flush(c);
  }
  if (s->n_conns == 0) close_handles(s);
}

static void on_prepare(uv_prepare_t *h) {
  server_t *s = h->data;
  flush_all(s);
  maybe_finish(s);
}

static void on_check(uv_check_t *h) {
  flush_all(h->data);
}

#define CONN_OF(node, field) ((conn_t *)((char *)(node)-offsetof(conn_t, field)))

/* The watchdog ping and the STATUS line ride on the tick: no extra timer,
 * and STATUS changes at most once a second. */
static void systemd_tick(server_t *s, uint64_t now) {
  if (s->watchdog_ms && now >= s->watchdog_at) {
    notify_watchdog();
    s->watchdog_at = now + s->watchdog_ms;
  }
  if (now >= s->status_at && s->status_clients != manager_count(&s->mgr)) {
    s->status_clients = manager_count(&s->mgr);
    notify_status(s->status_clients);
    s->status_at = now + 1000;
  }
}

static void on_tick(uv_timer_t *t) {
  server_t *s = t->data;
  uint64_t now = uv_now(s->loop);
  dl_node_t *n;
  while ((n = dl_expired(&s->handshake_dl, now))) {
    dl_remove(n);
    conn_abort(CONN_OF(n, timeout));
  }
  while ((n = dl_expired(&s->idle_dl, now))) {
    dl_remove(n);
    conn_close_ws(CONN_OF(n, timeout), WS_CLOSE_NORMAL, "Timeout");
  }
  while ((n = dl_expired(&s->heartbeat_dl, now))) {
    dl_advance(&s->heartbeat_dl, n, now);
    ws_send_ping(CONN_OF(n, heartbeat));
  }
  while ((n = dl_expired(&s->linger_dl, now))) {
    dl_remove(n);
    conn_abort(CONN_OF(n, timeout));
  }
  systemd_tick(s, now);
}

static void on_stop_timeout(uv_timer_t *t) {
  server_t *s = t->data;
  conn_t *c;
  log_warn("shutdown_timeout passed with %zu connections open: closing them", s->n_conns);
  for (c = s->conns; c; c = c->next)
    conn_abort(c);
}

static void begin_shutdown(server_t *s, int signum) {
  conn_t *c;
  if (s->draining) {
    log_warn("second signal %d: closing now", signum);
    on_stop_timeout(&s->stop_timer);
    return;
  }
  log_info("signal %d: shutting down, %zu connections to close", signum, s->n_conns);
  notify_stopping();
  s->draining = 1;
  listener_close_all(s);
  for (c = s->conns; c; c = c->next)
    if (c->state == CONN_WS) conn_close_ws(c, WS_CLOSE_GOING_AWAY, "server shutting down");
  uv_timer_start(&s->stop_timer, on_stop_timeout, secs_to_ms(s->cfg.shutdown_timeout), 0);
}

/* The TLS context cfg asks for (*out NULL when TLS is off), with the
 * loop's shared TLS buffers made on first use. 0, or -1 with err set. */
static int tls_prepare(server_t *s, const config_t *cfg, tls_ctx_t **out, char *err,
                       size_t errlen) {
  if (tls_ctx_new(cfg, out, err, errlen) != 0) return -1;
  if (*out && !s->tls_io && !(s->tls_io = tls_io_new())) {
    tls_ctx_free(*out);
    *out = NULL;
    snprintf(err, errlen, "TLS: out of memory");
    return -1;
  }
  return 0;
}

static void reload(server_t *s) {
  config_t next;
  tls_ctx_t *tls = NULL;
  char err[512];
  if (!s->config_path) return;
  notify_reloading();
  if (config_load(s->config_path, &next, err, sizeof err) != 0) {
    log_error("reload failed, keeping the running settings: %s", err);
    notify_ready(manager_count(&s->mgr));
    return;
  }
  if (tls_prepare(s, &next, &tls, err, sizeof err) != 0) {
    log_error("reload failed, keeping the running settings: %s", err);
    config_free(&next);
    notify_ready(manager_count(&s->mgr));
    return;
  }
  /* New connections get the new certificate; open ones keep their SSL
   * objects, which hold their own reference to the old context. */
  if (!s->tls != !tls) log_info("TLS %s for new connections", tls ? "on" : "off");
  tls_ctx_free(s->tls);
  s->tls = tls;
  if (!s->draining) listener_reconcile(s, &next);
  config_free(&s->cfg);
  s->cfg = next;
  apply_config(s);
  log_info("reloaded %s", s->config_path);
  notify_ready(manager_count(&s->mgr));
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
  listener_close_all(s);
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
  dl_init(&s->handshake_dl, 0);
  dl_init(&s->idle_dl, 0);
  dl_init(&s->heartbeat_dl, 0);
  dl_init(&s->linger_dl, LINGER_MS);
  pmd_codec_init(&s->pmd, -1);
  if (manager_init(&s->mgr) != 0 || iplimit_init(&s->per_ip) != 0) {
    manager_free(&s->mgr);
    free(s);
    return NULL;
  }
  apply_config(s);
  if (!s->ws_settings) {
    server_free(s);
    return NULL;
  }
  return s;
}

static void server_free(server_t *s) {
  cluster_free(s->cluster);
  tls_ctx_free(s->tls);
  tls_io_free(s->tls_io);
  manager_free(&s->mgr);
  iplimit_free(&s->per_ip);
  pmd_codec_free(&s->pmd);
  strbuf_free(&s->scratch);
  config_free(&s->cfg);
  free(s->static_root);
  obuf_pool_drain();
  jsonpool_drain();
  while (s->ws_settings) {
    ws_settings_t *older = s->ws_settings->older;
    free(s->ws_settings);
    s->ws_settings = older;
  }
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
    if (tls_prepare(s, &s->cfg, &s->tls, err, sizeof err) != 0) {
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
  if (listener_start_all(s) != 0 || cluster_start(s, &s->cluster) != 0) {
    rc = 2;
    s->draining = 1;
    close_handles(s);
  } else {
    log_info("fastwsd ready: %zu listener(s), max_connections %llu", s->n_listeners,
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
