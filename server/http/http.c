#include "server/http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/util/list.h"

const char *http_status_text(int status) {
  switch (status) {
  case 101: return "Switching Protocols";
  case 200: return "OK";
  case 304: return "Not Modified";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 409: return "Conflict";
  case 413: return "Payload Too Large";
  case 426: return "Upgrade Required";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 503: return "Service Unavailable";
  default: return "Unknown";
  }
}

/* RFC 9110 wants a Date header; formatting it once per second is enough. */
static const char *http_date(void) {
  static char buf[40];
  static time_t cached = -1;
  time_t now = time(NULL);
  if (now != cached) {
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached = now;
  }
  return buf;
}

static void respond(http_conn_t *h, const http_request_t *req, int status,
                    const char *content_type, const char *extra, const void *body,
                    obuf_t *body_buf, size_t body_len) {
  conn_t *c = h->conn;
  char head[1024];
  /* While draining, open keep-alive connections stay: a health checker
   * polling /healthz sees "draining" until the last WebSocket is gone. */
  int keep = req && req->keep_alive && status != 400 && status != 431;
  int n;
  n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nServer: fastwsd\r\nDate: %s\r\n", status,
               http_status_text(status), http_date());
  if (content_type && status != 304)
    n += snprintf(head + n, sizeof head - n, "Content-Type: %s\r\n", content_type);
  if (status != 304) n += snprintf(head + n, sizeof head - n, "Content-Length: %zu\r\n", body_len);
  if (!keep) n += snprintf(head + n, sizeof head - n, "Connection: close\r\n");
  if (extra) n += snprintf(head + n, sizeof head - n, "%s", extra);
  n += snprintf(head + n, sizeof head - n, "\r\n");
  if (n >= (int)sizeof head) n = (int)sizeof head - 1;
  conn_send_bytes(c, head, (size_t)n);
  if (body_len && !(req && req->head) && status != 304) {
    if (body_buf)
      conn_send(c, body_buf);
    else
      conn_send_bytes(c, body, body_len);
  }
  if (!keep) conn_close(c, CONN_CLOSE_FLUSH);
}

void http_respond(http_conn_t *h, const http_request_t *req, int status, const char *content_type,
                  const char *extra, const void *body, size_t body_len) {
  respond(h, req, status, content_type, extra, body, NULL, body_len);
}

void http_respond_obuf(http_conn_t *h, const http_request_t *req, int status,
                       const char *content_type, const char *extra, obuf_t *body,
                       size_t body_len) {
  respond(h, req, status, content_type, extra, NULL, body, body_len);
}

void http_respond_json(http_conn_t *h, const http_request_t *req, int status, const char *json,
                       size_t len, const char *extra) {
  http_respond(h, req, status, "application/json", extra, json, len);
}

void http_respond_error(http_conn_t *h, const http_request_t *req, int status, const char *extra) {
  char body[96];
  int n = snprintf(body, sizeof body, "{\"detail\":\"%s\"}", http_status_text(status));
  http_respond_json(h, req, status, body, (size_t)n, extra);
}

static void touch_timeout(http_conn_t *h) {
  dl_set_touch(&h->ctx->timeouts, &h->timeout, h->timeout_ms, uv_now(h->conn->net->loop));
}

static void handle_request(http_conn_t *h) {
  http_request_t req;
  http_request_view(&h->col, &req);
  h->col.complete = 0;
  /* The next request (keep-alive) gets a fresh handshake_timeout. */
  touch_timeout(h);
  if (req.http_major == 1 && req.http_minor >= 1 && !http_header(&h->col, "Host").base) {
    http_respond_json(h, NULL, 400, "{\"detail\":\"missing Host header\"}", 32, NULL);
    return;
  }
  h->app->on_request(h, &req);
  /* A request that asked to switch protocols and was not switched leaves
   * llhttp past the point where HTTP parsing can go on. */
  if (!h->detached && req.upgrade) conn_close(h->conn, CONN_CLOSE_FLUSH);
}

static void parse_error(http_conn_t *h, llhttp_errno_t err) {
  int status = h->col.error_status ? h->col.error_status : 400;
  char body[160];
  int n;
  if (status == 400)
    n = snprintf(body, sizeof body, "{\"detail\":\"Bad Request: %s\"}", llhttp_errno_name(err));
  else
    n = snprintf(body, sizeof body, "{\"detail\":\"%s\"}", http_status_text(status));
  http_respond_json(h, NULL, status, body, (size_t)n, NULL);
}

static void on_read(conn_t *c, uint8_t *data, size_t len) {
  http_conn_t *h = c->data;
  h->in_read = 1;
  while (len > 0 && !h->detached && c->state == CONN_OPEN) {
    llhttp_errno_t err = llhttp_execute(&h->col.parser, (const char *)data, len);
    size_t used;
    if (err == HPE_OK) break;
    if (err != HPE_PAUSED && err != HPE_PAUSED_UPGRADE) {
      parse_error(h, err);
      break;
    }
    used = (size_t)((const uint8_t *)llhttp_get_error_pos(&h->col.parser) - data);
    data += used;
    len -= used;
    if (h->col.complete) handle_request(h);
    if (h->detached) break;
    llhttp_resume(&h->col.parser);
  }
  h->in_read = 0;
  if (h->detached) {
    http_conn_free(h);
    conn_feed(c, data, len); /* the new handler's first bytes */
  }
}

static void on_close(conn_t *c) {
  (void)c; /* the owner frees the HTTP state with the connection */
}

static const conn_handler_t http_handler = {on_read, on_close};

http_conn_t *http_conn_of(conn_t *c) {
  return c->handler == &http_handler ? c->data : NULL;
}

void http_ctx_init(http_ctx_t *ctx) {
  memset(ctx, 0, sizeof *ctx);
  dl_set_init(&ctx->timeouts);
}

void http_ctx_free(http_ctx_t *ctx) {
  dl_set_free(&ctx->timeouts);
}

http_conn_t *http_conn_new(http_ctx_t *ctx, conn_t *c, const http_app_t *app, void *app_data) {
  http_conn_t *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  if (http_collector_init(&h->col, ctx->max_header_size) != 0) {
    free(h);
    return NULL;
  }
  h->conn = c;
  h->ctx = ctx;
  h->app = app;
  h->app_data = app_data;
  h->timeout_ms = ctx->handshake_ms;
  conn_set_handler(c, &http_handler, h);
  touch_timeout(h);
  return h;
}

void http_conn_free(http_conn_t *h) {
  if (!h) return;
  dl_remove(&h->timeout);
  http_collector_free(&h->col);
  free(h);
}

void http_detach(http_conn_t *h) {
  h->detached = 1;
  dl_remove(&h->timeout);
  if (!h->in_read) http_conn_free(h);
}

void http_tick(http_ctx_t *ctx, uint64_t now) {
  dl_node_t *n;
  while ((n = dl_set_expired(&ctx->timeouts, now))) {
    dl_remove(n);
    conn_close(container_of(n, http_conn_t, timeout)->conn, CONN_CLOSE_ABORT);
  }
  dl_set_trim(&ctx->timeouts);
}
