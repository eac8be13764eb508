/* The listening sockets: the configured addresses, or the sockets systemd
 * hands over (socket activation). A new connection goes to the callback
 * the owner gave; the listener never accepts it itself. */
#ifndef FASTWS_NET_LISTENER_H
#define FASTWS_NET_LISTENER_H

#include <stddef.h>
#include <uv.h>

#include "config/config.h"

/* A connection is waiting on server (call uv_accept through conn_accept). */
typedef void (*listener_cb)(uv_stream_t *server, void *data);

typedef struct listener_s {
  uv_tcp_t tcp;
  struct listeners_s *set;
  config_listen_t addr;
  int bound_port; /* the port actually bound (for port 0) */
  int activated;  /* handed over by systemd socket activation */
} listener_t;

/* Owned by the daemon. */
typedef struct listeners_s {
  uv_loop_t *loop;
  listener_cb cb;
  void *data;
  listener_t *items[CONFIG_MAX_LISTEN];
  size_t n;
} listeners_t;

void listeners_init(listeners_t *ls, uv_loop_t *loop, listener_cb cb, void *data);

/* Starts listening on systemd's sockets, or else on every address of cfg.
 * 0 or a negative uv error (logged). */
int listeners_start(listeners_t *ls, const config_t *cfg);

/* Binds the addresses of next that are not bound yet and closes those it
 * no longer lists (their connections stay). A failed bind is logged. */
void listeners_reconcile(listeners_t *ls, const config_t *next);

void listeners_close(listeners_t *ls);

#endif
