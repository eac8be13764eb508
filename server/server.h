/* The daemon's state: one loop, its listeners, its connections, the
 * manager. One server_t per process, owned by main.c; server_free releases
 * it after the loop has stopped. */
#ifndef FASTWS_SERVER_H
#define FASTWS_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "server/net/deadline.h"
#include "server/net/iplimit.h"
#include "server/chat/manager.h"
#include "server/metrics.h"
#include "protocol/deflate.h"
#include "protocol/frame.h"
#include "protocol/message.h"

typedef struct conn_s conn_t;

#define SERVER_READ_BUF (64 * 1024)

typedef struct listener_s {
  uv_tcp_t tcp;
  struct server_s *srv;
  config_listen_t addr;
  int bound_port; /* the port actually bound (for port 0) */
  int activated;  /* handed over by systemd socket activation */
} listener_t;

/* What a WebSocket connection keeps from the configuration it was accepted
 * under: a reload makes a new generation for new connections, and open
 * ones keep theirs (PROTOCOL.md section 5). Generations live until the
 * server is freed: a reload adds about a hundred bytes. */
typedef struct ws_settings_s {
  ws_parser_opts_t parser[2][2]; /* [WS_KIND_*][deflate negotiated] */
  double rate_limit, rate_burst;
  struct ws_settings_s *older;
} ws_settings_t;

typedef struct server_s {
  uv_loop_t *loop;
  config_t cfg;
  const char *config_path;
  char *static_root; /* realpath of static_dir, NULL when missing */

  listener_t *listeners[CONFIG_MAX_LISTEN];
  size_t n_listeners;

  uv_signal_t sig_term, sig_int, sig_hup;
  uv_prepare_t prepare; /* flush before the loop sleeps (timer output) */
  uv_check_t check;     /* flush right after I/O callbacks */
  uv_timer_t tick;      /* deadline lists */
  uv_timer_t stop_timer;

  dl_list_t handshake_dl; /* HTTP connections, from accept or last response */
  dl_list_t idle_dl;      /* WebSocket connections, by last frame received */
  dl_list_t heartbeat_dl; /* WebSocket connections, by next ping due */
  dl_list_t linger_dl;    /* connections that sent a close, awaiting the peer */

  conn_t *conns; /* every open connection (doubly linked) */
  size_t n_conns;
  size_t n_ws;       /* upgraded chat + echo connections */
  conn_t *pending;   /* connections with output to flush */
  conn_t *closing;   /* connections to tear down in the hook */
  conn_t *departing; /* chat clients whose close began: they leave in the hook */

  manager_t mgr;
  iplimit_t per_ip;           /* WebSocket connections by peer address */
  ws_settings_t *ws_settings; /* the newest generation, for new connections */
  pmd_codec_t pmd;            /* one deflate + one inflate stream for every connection */
  metrics_t metrics;
  struct cluster_s *cluster; /* cluster.h; NULL without [cluster] redis_url */

  strbuf_t scratch;        /* envelope encoding, reused: no malloc per message */
  struct tls_ctx_s *tls;   /* current TLS context for new connections; NULL = plain */
  struct tls_io_s *tls_io; /* the loop's shared TLS buffers (tls.h) */
  uint8_t readbuf[SERVER_READ_BUF];
  int reading_busy; /* readbuf handed out to a read callback */

  uint64_t watchdog_ms, watchdog_at; /* systemd watchdog, 0 = off */
  uint64_t status_at, status_clients;

  int draining;    /* SIGTERM received: no new connections */
  int http_closed; /* draining, and the HTTP connections were told to go */
  int stopping;    /* the loop is being torn down */
} server_t;

/* Runs the daemon until a clean shutdown. Returns the process exit code:
 * 0 clean, 2 runtime failure (e.g. cannot bind). Takes ownership of cfg. */
int server_run(config_t *cfg, const char *config_path);

/* Starts listening on every configured address. 0 or a negative uv error. */
int listener_start_all(server_t *s);
void listener_close_all(server_t *s);

/* Binds the addresses of next that are not bound yet and closes those it
 * no longer lists (their connections stay). A failed bind is logged. */
void listener_reconcile(server_t *s, const config_t *next);

/* Wall clock in microseconds since the epoch, for envelope timestamps. */
int64_t server_now_usec(void);

#endif
