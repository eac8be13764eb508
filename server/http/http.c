#include "server/http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "server/net/conn.h"
#include "server/util/log.h"
#include "server/ws/ws.h"

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

static void respond(conn_t *c, const http_request_t *req, int status, const char *content_type,
                    const char *extra, const void *body, obuf_t *body_buf, size_t body_len) {
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
      conn_send_obuf(c, body_buf);
    else
      conn_send_bytes(c, body, body_len);
  }
  if (!keep) conn_close_after_flush(c);
}

void http_respond(conn_t *c, const http_request_t *req, int status, const char *content_type,
                  const char *extra, const void *body, size_t body_len) {
  respond(c, req, status, content_type, extra, body, NULL, body_len);
}

void http_respond_obuf(conn_t *c, const http_request_t *req, int status, const char *content_type,
                       const char *extra, obuf_t *body, size_t body_len) {
  respond(c, req, status, content_type, extra, NULL, body, body_len);
}

void http_respond_json(conn_t *c, const http_request_t *req, int status, const char *json,
                       size_t len, const char *extra) {
  http_respond(c, req, status, "application/json", extra, json, len);
}

void http_respond_error(conn_t *c, const http_request_t *req, int status, const char *extra) {
  char body[96];
  int n = snprintf(body, sizeof body, "{\"detail\":\"%s\"}", http_status_text(status));
  http_respond_json(c, req, status, body, (size_t)n, extra);
}

static void handle_request(conn_t *c, http_conn_t *h) {
  http_request_t req;
  server_t *s = c->srv;
  http_request_view(h, &req);
  h->complete = 0;
  /* The next request (keep-alive) gets a fresh handshake_timeout. */
  dl_touch(&s->handshake_dl, &c->timeout, uv_now(s->loop));
  if (req.http_major == 1 && req.http_minor >= 1 && !http_header(h, "Host").base) {
    http_respond_json(c, NULL, 400, "{\"detail\":\"missing Host header\"}", 32, NULL);
    return;
  }
  routes_handle(c, h, &req);
  /* A request that asked to switch protocols and was not switched leaves
   * llhttp past the point where HTTP parsing can go on. */
  if (c->state == CONN_HTTP && req.upgrade) conn_close_after_flush(c);
}

static void parse_error(conn_t *c, http_conn_t *h, llhttp_errno_t err) {
  int status = h->error_status ? h->error_status : 400;
  char body[160];
  int n;
  if (status == 400)
    n = snprintf(body, sizeof body, "{\"detail\":\"Bad Request: %s\"}", llhttp_errno_name(err));
  else
    n = snprintf(body, sizeof body, "{\"detail\":\"%s\"}", http_status_text(status));
  http_respond_json(c, NULL, status, body, (size_t)n, NULL);
  conn_close_after_flush(c);
}

void http_on_read(conn_t *c, uint8_t *data, size_t len) {
  http_conn_t *h = c->http;
  while (len > 0 && c->state == CONN_HTTP && !c->teardown && !c->close_after_flush) {
    llhttp_errno_t err = llhttp_execute(&h->parser, (const char *)data, len);
    size_t used;
    if (err == HPE_OK) return;
    if (err != HPE_PAUSED && err != HPE_PAUSED_UPGRADE) {
      parse_error(c, h, err);
      return;
    }
    used = (size_t)((const uint8_t *)llhttp_get_error_pos(&h->parser) - data);
    data += used;
    len -= used;
    if (h->complete) handle_request(c, h);
    if (c->state != CONN_HTTP) break;
    llhttp_resume(&h->parser);
  }
  if (c->state == CONN_WS) {
    c->http = NULL;
    http_conn_free(h);
    if (len > 0) ws_on_read(c, data, len);
  }
}
