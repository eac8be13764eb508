/* The request collector of the HTTP phase: llhttp's callbacks copy the
 * request line and headers of one request into a bounded buffer, and the
 * lookups read them back. No libuv and no I/O, so the fuzzer
 * (tests/fuzz/fuzz_http.c) runs this very code. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/http/parse.h"

static llhttp_settings_t settings;
static int settings_ready;

static http_collector_t *owner(llhttp_t *p) {
  return (http_collector_t *)p;
}

/* Copies request bytes into the fixed buffer; a request whose header block
 * would pass max_header_size is refused with 431 right there, so the
 * buffer never grows. */
/* Buffers start small (an upgrade request is about 500 bytes) and grow
 * geometrically up to the limit: thousands of clients mid-handshake then
 * cost what they sent, not max_header_size each. */
static int grow(void **p, size_t *cap, size_t need, size_t elem, size_t max) {
  size_t ncap = *cap;
  void *n;
  while (ncap < need)
    ncap *= 2;
  if (ncap > max) ncap = max;
  if (!(n = realloc(*p, ncap * elem))) return -1;
  *p = n;
  *cap = ncap;
  return 0;
}

static int take(http_collector_t *h, const char *at, size_t n) {
  h->header_bytes += n;
  if (h->header_bytes > h->limit || h->len + n > h->limit) {
    h->error_status = 431;
    return -1;
  }
  if (h->len + n > h->cap && grow((void **)&h->buf, &h->cap, h->len + n, 1, h->limit) != 0) {
    h->error_status = 500;
    return -1;
  }
  memcpy(h->buf + h->len, at, n);
  h->len += n;
  return 0;
}

static int on_message_begin(llhttp_t *p) {
  http_collector_t *h = owner(p);
  h->len = 0;
  h->header_bytes = 0;
  h->n_headers = 0;
  h->in_value = 0;
  h->url_len = 0;
  h->complete = 0;
  return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n) {
  http_collector_t *h = owner(p);
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
  http_collector_t *h = owner(p);
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
  http_collector_t *h = owner(p);
  http_header_t *hd = &h->headers[h->n_headers - 1];
  hd->value_off = (uint32_t)h->len;
  h->in_value = 1;
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n) {
  http_collector_t *h = owner(p);
  http_header_t *hd = &h->headers[h->n_headers - 1];
  if (take(h, at, n) != 0) return -1;
  hd->value_len += (uint32_t)n;
  return 0;
}

static int on_header_value_complete(llhttp_t *p) {
  owner(p)->in_value = 0;
  return 0;
}

/* Pausing after each request hands control back to the reader (http.c), which
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

int http_collector_init(http_collector_t *h, size_t max_header_size) {
  memset(h, 0, sizeof *h);
  if (!settings_ready) settings_init();
  h->cap = max_header_size < 1024 ? max_header_size : 1024;
  h->limit = max_header_size;
  h->headers_cap = 16;
  h->buf = malloc(h->cap);
  h->headers = malloc(sizeof *h->headers * (size_t)h->headers_cap);
  if (!h->buf || !h->headers) {
    free(h->buf);
    free(h->headers);
    return -1;
  }
  llhttp_init(&h->parser, HTTP_REQUEST, &settings);
  return 0;
}

void http_collector_free(http_collector_t *h) {
  free(h->buf);
  free(h->headers);
  h->buf = NULL;
  h->headers = NULL;
}

slice_t http_header(const http_collector_t *h, const char *name) {
  size_t n = strlen(name);
  int i;
  for (i = 0; i < h->n_headers; i++) {
    const http_header_t *hd = &h->headers[i];
    if (hd->name_len == n && strncasecmp(h->buf + hd->name_off, name, n) == 0)
      return slice_make(h->buf + hd->value_off, hd->value_len);
  }
  return slice_make(NULL, 0);
}

slice_t http_header_joined(const http_collector_t *h, const char *name, char *out, size_t cap) {
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

int http_header_count(const http_collector_t *h, const char *name) {
  size_t n = strlen(name);
  int i, count = 0;
  for (i = 0; i < h->n_headers; i++) {
    const http_header_t *hd = &h->headers[i];
    if (hd->name_len == n && strncasecmp(h->buf + hd->name_off, name, n) == 0) count++;
  }
  return count;
}

void http_request_view(const http_collector_t *h, http_request_t *req) {
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
