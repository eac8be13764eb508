/* HTTP/1.1 on a connection: llhttp parses requests (keep-alive,
 * pipelining), each complete request goes to the application's
 * on_request, and responses are queued on the connection in order. The
 * application may take the connection over (an upgrade): it sets its own
 * conn handler and calls http_detach; the bytes left in the read buffer
 * then go to that handler and the HTTP state frees itself. */
#ifndef FASTWS_HTTP_HTTP_H
#define FASTWS_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "server/http/parse.h"
#include "server/net/conn.h"

typedef struct http_conn_s http_conn_t;

typedef struct {
  /* One complete request; req's slices are valid during the call. */
  void (*on_request)(http_conn_t *h, http_request_t *req);
} http_app_t;

/* Shared by the HTTP connections of the process; owned by the daemon.
 * handshake_ms and max_header_size apply to connections accepted from
 * now on (a reload changes them; open connections keep theirs). */
typedef struct {
  dl_set_t timeouts;
  uint64_t handshake_ms;
  size_t max_header_size;
} http_ctx_t;

/* The HTTP phase of one connection. The collector comes first (llhttp's
 * callbacks find it from the parser). */
struct http_conn_s {
  http_collector_t col;
  conn_t *conn;
  http_ctx_t *ctx;
  const http_app_t *app;
  void *app_data;
  dl_node_t timeout;     /* handshake_timeout: from accept, then per request */
  uint64_t timeout_ms;   /* the handshake_timeout it was accepted under */
  unsigned detached : 1; /* handed on: frees itself when the read returns */
  unsigned in_read : 1;
};

void http_ctx_init(http_ctx_t *ctx);
void http_ctx_free(http_ctx_t *ctx);

/* Starts HTTP on c (sets c's handler). NULL on ENOMEM. */
http_conn_t *http_conn_new(http_ctx_t *ctx, conn_t *c, const http_app_t *app, void *app_data);

/* The HTTP state of c while c is in the HTTP phase, else NULL. */
http_conn_t *http_conn_of(conn_t *c);

/* Frees h (a connection never handed on; from the owner's free). */
void http_conn_free(http_conn_t *h);

/* The application took the connection over (after its conn_set_handler):
 * h frees itself; the caller must forget it. */
void http_detach(http_conn_t *h);

/* Closes the connections whose handshake_timeout passed. */
void http_tick(http_ctx_t *ctx, uint64_t now);

/* Queues a response. extra: additional header lines, each ending in CRLF
 * (may be NULL). body is not sent for HEAD but Content-Length is. req NULL:
 * an answer to no request (the connection closes after it). */
void http_respond(http_conn_t *h, const http_request_t *req, int status, const char *content_type,
                  const char *extra, const void *body, size_t body_len);

/* The same with the body in a buffer, queued by reference (NULL for an
 * empty body or HEAD). */
void http_respond_obuf(http_conn_t *h, const http_request_t *req, int status,
                       const char *content_type, const char *extra, obuf_t *body,
                       size_t body_len);

void http_respond_json(http_conn_t *h, const http_request_t *req, int status, const char *json,
                       size_t len, const char *extra);

/* {"detail":"<reason phrase>"}, as the FastAPI original answers errors. */
void http_respond_error(http_conn_t *h, const http_request_t *req, int status, const char *extra);

const char *http_status_text(int status);

#endif
