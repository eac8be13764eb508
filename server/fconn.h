/* One client connection as the daemon holds it: one allocation with each
 * layer's part embedded, every layer seeing only its own. The daemon wires
 * the parts: HTTP requests to the routes, the upgrade to a WebSocket
 * session, the session to the chat (or the echo endpoint). */
#ifndef FASTWS_FCONN_H
#define FASTWS_FCONN_H

#include "server/server.h"
#include "server/util/list.h"

enum { FCONN_HTTP, FCONN_CHAT, FCONN_ECHO };

typedef struct {
  conn_t conn; /* in the HTTP phase, its handler data is the http_conn_t */
  ws_t ws;         /* started once upgraded */
  client_t client; /* joined while a chat session */
} fconn_t;

/* Still HTTP (not upgraded). */
static inline int fconn_is_http(const fconn_t *f) {
  return !f->ws.started;
}

static inline server_t *fconn_server(const fconn_t *f) {
  return container_of(f->conn.net, server_t, net);
}

/* Frees f (net's free function: from the uv_close callback). */
void fconn_free(conn_t *c);

/* A connection waits on a listener (listener_cb). */
void fconn_on_connection(uv_stream_t *listener, void *data);

/* The chat's transport (chat_init). */
extern const chat_transport_t fconn_transport;

/* Switches f to WebSocket after the checks of PROTOCOL.md section 2
 * passed: 101 out, the session started, per-IP counted, the chat client
 * joined (FCONN_CHAT). accept: the Sec-WebSocket-Accept value. */
void fconn_upgrade(fconn_t *f, http_conn_t *h, const char *accept, int kind, const char *id, size_t id_len,
                   int deflate);

/* The routes (routes.c), as the HTTP application of every connection:
 * its app_data is the fconn_t. */
extern const http_app_t routes_app;

#endif
