#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "conn.h"
#include "log.h"
#include "ws.h"

static llhttp_settings_t settings;
static int settings_ready;

static http_conn_t *owner(llhttp_t *p) { return (http_conn_t *)p; }

/* Copies request bytes into the fixed buffer; a request whose header block
 * would pass max_header_size is refused with 431 right there, so the
 * buffer never grows. */
/* Buffers start small (an upgrade request is about 500 bytes) and grow
 * geometrically up to the limit: thousands of clients mid-handshake then
 * cost what they sent, not max_header_size each. */
static int grow(void **p, size_t *cap, size_t need, size_t elem, size_t max) {
  size_t ncap = *cap;
  void *n;
  while (ncap < need) ncap *= 2;
  if (ncap > max) ncap = max;
  if (!(n = realloc(*p, ncap * elem))) return -1;
  *p = n;
  *cap = ncap;
  return 0;
}

static int take(http_conn_t *h, const char *at, size_t n) {
  h->header_bytes += n;
  if (h->header_bytes > h->limit || h->len + n > h->limit) {
    h->error_status = 431;
    return -1;
  }
  if (h->len + n > h->cap &&
      grow((void **)&h->buf, &h->cap, h->len + n, 1, h->limit) != 0) {
    h->error_status = 500;
    return -1;
  }
  memcpy(h->buf + h->len, at, n);
  h->len += n;
  return 0;
}

static int on_message_begin(llhttp_t *p) {
  http_conn_t *h = owner(p);
  h->len = 0;
  h->header_bytes = 0;
  h->n_headers = 0;
  h->in_value = 0;
  h->url_len = 0;
  h->complete = 0;
  return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n) {
  http_conn_t *h = owner(p);
  if (take(h, at, n) != 0) return -1;
  h->url_len += (uint32_t)n;
  return 0;
}

/* RFC 9110 5.1: a field name is a token. llhttp lets a few through (a
 * space inside a name), which a proxy could read differently. */
static int is_token(const char *at, size_t n) {
  static const char extra[] = "!#$%&'*+-.^_`|~";
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)at[i];
    if (!((ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') ||
          (ch && strchr(extra, ch))))
      return 0;
  }
  return 1;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n) {
  http_conn_t *h = owner(p);
  http_header_t *hd;
  if (!is_token(at, n)) {
    h->error_status = 400;
    return -1;
  }
  /* in_value: 0 between headers, 1 inside a value, 2 inside a name (a
   * name may arrive in several pieces). */
  if (h->in_value != 2) {
    if (h->n_headers >= HTTP_MAX_HEADERS) {
      h->error_status = 431;
      return -1;
    }
    if (h->n_headers == h->headers_cap) {
      size_t cap = (size_t)h->headers_cap;
      if (grow((void **)&h->headers, &cap, cap + 1, sizeof *h->headers, HTTP_MAX_HEADERS) != 0) {
        h->error_status = 500;
        return -1;
      }
      h->headers_cap = (int)cap;
    }
    hd = &h->headers[h->n_headers++];
    hd->name_off = (uint32_t)h->len;
    hd->name_len = 0;
    hd->value_off = 0;
    hd->value_len = 0;
    h->in_value = 2;
    h->header_bytes += 4; /* ": " and CRLF */
  }
  hd = &h->headers[h->n_headers - 1];
  if (take(h, at, n) != 0) return -1;
  hd->name_len += (uint32_t)n;
  return 0;
}

static int on_header_field_complete(llhttp_t *p) {
  http_conn_t *h = owner(p);
  http_header_t *hd = &h->headers[h->n_headers - 1];
  hd->value_off = (uint32_t)h->len;
  h->in_value = 1;
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n) {
  http_conn_t *h = owner(p);
  http_header_t *hd = &h->headers[h->n_headers - 1];
  if (take(h, at, n) != 0) return -1;
  hd->value_len += (uint32_t)n;
  return 0;
}

static int on_header_value_complete(llhttp_t *p) {
  owner(p)->in_value = 0;
  return 0;
}

/* Pausing after each request hands control back to http_on_read, which
 * answers it before the next pipelined request is parsed (responses stay
 * in order) and can switch the stream to WebSocket. */
static int on_message_complete(llhttp_t *p) {
  owner(p)->complete = 1;
  return HPE_PAUSED;
}

static void settings_init(void) {
  llhttp_settings_init(&settings);
  settings.on_message_begin = on_message_begin;
  settings.on_url = on_url;
  settings.on_header_field = on_header_field;
  settings.on_header_field_complete = on_header_field_complete;
  settings.on_header_value = on_header_value;
  settings.on_header_value_complete = on_header_value_complete;
  settings.on_message_complete = on_message_complete;
  settings_ready = 1;
}

http_conn_t *http_conn_new(conn_t *c, size_t max_header_size) {
  http_conn_t *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  if (!settings_ready) settings_init();
  h->cap = max_header_size < 1024 ? max_header_size : 1024;
  h->limit = max_header_size;
  h->headers_cap = 16;
  h->buf = malloc(h->cap);
  h->headers = malloc(sizeof *h->headers * (size_t)h->headers_cap);
  if (!h->buf || !h->headers) {
    free(h->buf);
    free(h->headers);
    free(h);
    return NULL;
  }
  h->conn = c;
  llhttp_init(&h->parser, HTTP_REQUEST, &settings);
  return h;
}

void http_conn_free(http_conn_t *h) {
  if (!h) return;
  free(h->buf);
  free(h->headers);
  free(h);
}

slice_t http_header(const http_conn_t *h, const char *name) {
  size_t n = strlen(name);
  int i;
  for (i = 0; i < h->n_headers; i++) {
    const http_header_t *hd = &h->headers[i];
    if (hd->name_len == n && strncasecmp(h->buf + hd->name_off, name, n) == 0)
      return slice_make(h->buf + hd->value_off, hd->value_len);
  }
  return slice_make(NULL, 0);
}

slice_t http_header_joined(const http_conn_t *h, const char *name, char *out, size_t cap) {
  size_t n = strlen(name), len = 0;
  int i, found = 0;
  for (i = 0; i < h->n_headers; i++) {
    const http_header_t *hd = &h->headers[i];
    if (hd->name_len != n || strncasecmp(h->buf + hd->name_off, name, n) != 0) continue;
    if (len + hd->value_len + 2 > cap) return http_header(h, name);
    if (found++) {
      memcpy(out + len, ", ", 2);
      len += 2;
    }
    memcpy(out + len, h->buf + hd->value_off, hd->value_len);
    len += hd->value_len;
  }
  return found ? slice_make(out, len) : slice_make(NULL, 0);
}

int http_header_count(const http_conn_t *h, const char *name) {
  size_t n = strlen(name);
  int i, count = 0;
  for (i = 0; i < h->n_headers; i++) {
    const http_header_t *hd = &h->headers[i];
    if (hd->name_len == n && strncasecmp(h->buf + hd->name_off, name, n) == 0) count++;
  }
  return count;
}

void http_request_view(const http_conn_t *h, http_request_t *req) {
  const char *method = llhttp_method_name((llhttp_method_t)h->parser.method);
  const char *q;
  memset(req, 0, sizeof *req);
  req->method = slice_cstr(method);
  req->target = slice_make(h->buf, h->url_len);
  q = memchr(h->buf, '?', h->url_len);
  req->path = slice_make(h->buf, q ? (size_t)(q - h->buf) : h->url_len);
  if (q) req->query = slice_make(q + 1, h->url_len - (size_t)(q + 1 - h->buf));
  req->http_major = h->parser.http_major;
  req->http_minor = h->parser.http_minor;
  req->upgrade = h->parser.upgrade;
  req->keep_alive = llhttp_should_keep_alive(&h->parser);
  req->head = h->parser.method == HTTP_HEAD;
}

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

static void respond(conn_t *c, const http_request_t *req, int status,
                    const char *content_type, const char *extra, const void *body,
                    obuf_t *body_buf, size_t body_len) {
  char head[1024];
  /* While draining, open keep-alive connections stay: a health checker
   * polling /healthz sees "draining" until the last WebSocket is gone. */
  int keep = req && req->keep_alive && status != 400 && status != 431;
  int n;
  n = snprintf(head, sizeof head,
               "HTTP/1.1 %d %s\r\nServer: fastwsd\r\nDate: %s\r\n", status,
               http_status_text(status), http_date());
  if (content_type && status != 304)
    n += snprintf(head + n, sizeof head - n, "Content-Type: %s\r\n", content_type);
  if (status != 304)
    n += snprintf(head + n, sizeof head - n, "Content-Length: %zu\r\n", body_len);
  if (!keep) n += snprintf(head + n, sizeof head - n, "Connection: close\r\n");
  if (extra) n += snprintf(head + n, sizeof head - n, "%s", extra);
  n += snprintf(head + n, sizeof head - n, "\r\n");
  if (n >= (int)sizeof head) n = (int)sizeof head - 1;
  conn_send_bytes(c, head, (size_t)n);
  if (body_len && !(req && req->head) && status != 304) {
    if (body_buf) conn_send_obuf(c, body_buf);
    else conn_send_bytes(c, body, body_len);
  }
  if (!keep) conn_close_after_flush(c);
}

void http_respond(conn_t *c, const http_request_t *req, int status,
                  const char *content_type, const char *extra,
                  const void *body, size_t body_len) {
  respond(c, req, status, content_type, extra, body, NULL, body_len);
}

void http_respond_obuf(conn_t *c, const http_request_t *req, int status,
                       const char *content_type, const char *extra, obuf_t *body,
                       size_t body_len) {
  respond(c, req, status, content_type, extra, NULL, body, body_len);
}

void http_respond_json(conn_t *c, const http_request_t *req, int status,
                       const char *json, size_t len, const char *extra) {
  http_respond(c, req, status, "application/json", extra, json, len);
}

void http_respond_error(conn_t *c, const http_request_t *req, int status,
                        const char *extra) {
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
