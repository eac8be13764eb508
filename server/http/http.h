/* The HTTP/1.1 phase of a connection: llhttp parses requests (keep-alive,
 * pipelining); each complete request goes to the routes; responses are
 * queued on the connection in order. The header block is copied into one
 * buffer of max_header_size bytes, so nothing a client sends makes us hold
 * more. */
#ifndef FASTWS_HTTP_H
#define FASTWS_HTTP_H

#include <llhttp.h>
#include <stddef.h>
#include <stdint.h>

#include "server/net/obuf.h"
#include "protocol/slice.h"
#include "server/server.h"

#define HTTP_MAX_HEADERS 100

typedef struct {
  uint32_t name_off, name_len, value_off, value_len;
} http_header_t;

/* A parsed request; its slices point into the owning http_conn_t's buf. */
typedef struct {
  slice_t method;
  slice_t target; /* raw request target */
  slice_t path;   /* target without the query, not decoded */
  slice_t query;  /* after '?', base NULL when none */
  int http_major, http_minor;
  int upgrade; /* llhttp saw Connection: upgrade + Upgrade */
  int keep_alive;
  int head; /* HEAD: headers only */
} http_request_t;

/* Owned by its connection while in the HTTP phase; http_conn_free. */
typedef struct http_conn_s {
  llhttp_t parser;
  conn_t *conn;
  char *buf; /* url, then header names and values; grows to limit */
  size_t len, cap;
  size_t limit;           /* max_header_size */
  size_t header_bytes;    /* counted like the wire: names, values, ": ", CRLF */
  http_header_t *headers; /* grows to HTTP_MAX_HEADERS */
  int n_headers, headers_cap;
  int in_value;     /* the last callback was a header value */
  int error_status; /* 431 when a limit was hit */
  uint32_t url_len;
  int complete; /* a whole request is parsed and waiting */
} http_conn_t;

http_conn_t *http_conn_new(conn_t *c, size_t max_header_size);
void http_conn_free(http_conn_t *h);

/* Feeds bytes read in the HTTP phase. Handles every complete request; may
 * upgrade the connection, then hands the remaining bytes to the WebSocket
 * layer. */
void http_on_read(conn_t *c, uint8_t *data, size_t len);

/* The value of a header (first occurrence joined with later ones is not
 * done: the first), base NULL when absent. Case-insensitive name. */
slice_t http_header(const http_conn_t *h, const char *name);

/* Every occurrence of a list header joined with ", " (RFC 9110 5.3) into
 * out (capacity cap); the first occurrence alone when they do not fit.
 * base NULL when absent. */
slice_t http_header_joined(const http_conn_t *h, const char *name, char *out, size_t cap);

/* Number of occurrences of a header. */
int http_header_count(const http_conn_t *h, const char *name);

/* Builds the request view of the current message. */
void http_request_view(const http_conn_t *h, http_request_t *req);

/* Queues a response. extra: additional header lines, each ending in CRLF
 * (may be NULL). body is not sent for HEAD but Content-Length is. */
void http_respond(conn_t *c, const http_request_t *req, int status, const char *content_type,
                  const char *extra, const void *body, size_t body_len);

/* The same with the body in a buffer, queued by reference (NULL for an
 * empty body or HEAD). */
void http_respond_obuf(conn_t *c, const http_request_t *req, int status, const char *content_type,
                       const char *extra, obuf_t *body, size_t body_len);

/* JSON shortcuts: status with a JSON body. */
void http_respond_json(conn_t *c, const http_request_t *req, int status, const char *json,
                       size_t len, const char *extra);

/* {"detail":"..."} errors as the FastAPI original answers them. */
void http_respond_error(conn_t *c, const http_request_t *req, int status, const char *extra);

const char *http_status_text(int status);

/* Routes (routes.c): answers one complete request. May upgrade c. */
void routes_handle(conn_t *c, http_conn_t *h, http_request_t *req);

#endif
