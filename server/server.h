/* The daemon: one loop, its listeners, and the layers wired together.
 * One server_t per process, owned by server_run. */
#ifndef FASTWS_SERVER_H
#define FASTWS_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "server/chat/chat.h"
#include "server/http/http.h"
#include "server/net/conn.h"
#include "server/net/iplimit.h"
#include "server/net/listener.h"
#include "server/ws/ws.h"

struct cluster_s;
struct tls_ctx_s;

typedef struct server_s {
  uv_loop_t *loop;
  config_t cfg;
  const char *config_path;
  char *static_root; /* realpath of static_dir, NULL when missing */

  listeners_t listeners;
  uv_signal_t sig_term, sig_int, sig_hup;
  uv_prepare_t prepare; /* flush before the loop sleeps (timer output) */
  uv_check_t check;     /* flush right after I/O callbacks */
  uv_timer_t tick;      /* deadline lists */
  uv_timer_t stop_timer;

  net_t net;
  http_ctx_t http;
  const http_app_t *app; /* what answers requests: the routes */
  ws_ctx_t ws;
  chat_t chat;
  iplimit_t per_ip; /* WebSocket connections by peer address */
  struct tls_ctx_s *tls; /* for new connections; NULL = plain */
  struct cluster_s *cluster;
  strbuf_t scratch; /* HTTP answers built in place, reused */

  uint64_t watchdog_ms, watchdog_at; /* systemd watchdog, 0 = off */
  uint64_t status_at, status_clients;

  int draining;    /* SIGTERM received: no new connections */
  int http_closed; /* draining, and the HTTP connections were told to go */
  int stopping;    /* the loop is being torn down */
} server_t;

/* Runs the daemon until a clean shutdown. Returns the process exit code:
 * 0 clean, 2 runtime failure (e.g. cannot bind). Takes ownership of cfg. */
int server_run(config_t *cfg, const char *config_path);

/* Applies s->cfg to what new connections get (start-up and reload). */
void server_apply_config(server_t *s);

#endif
