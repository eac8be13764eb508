/* libFuzzer driver for the HTTP request and WebSocket upgrade path: llhttp
 * with the server's own request collector (server/http/parse.c), then, for
 * every complete request, the checks of server/routes.c upgrade() and the
 * other pure helpers of protocol/handshake.c on the parsed pieces.
 *
 * Input: the bytes a client sends on a fresh connection (pipelined
 * requests allowed). */
#include <llhttp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "protocol/handshake.h"
#include "server/http/parse.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_ref.h"

#define MAX_HEADER_SIZE 8192 /* fastws.conf's default max_header_size */

static slice_t header(const http_collector_t *h, const char *name) {
  return http_header(h, name);
}

static int header_count(const http_collector_t *h, const char *name) {
  return http_header_count(h, name);
}

/* Every occurrence joined (server/http/parse.c) into an exact-fit heap
 * block, so ASan sees any overrun; base NULL when absent. The caller frees
 * (char *)base. */
static slice_t header_joined(const http_collector_t *h, const char *name) {
  size_t cap = h->len + 2 * (size_t)h->n_headers + 1;
  char *out = malloc(cap);
  slice_t s;
  if (!out) abort();
  s = http_header_joined(h, name, out, cap);
  CHECK(!s.base || s.base == out);
  if (!s.base) free(out);
  return s;
}

/* ---- per-request checks ---- */

static void check_token_lists(const http_collector_t *h) {
  static const char *const names[] = {"Connection", "Upgrade", "Sec-WebSocket-Extensions",
                                      "Sec-WebSocket-Protocol"};
  static const char *const tokens[] = {"upgrade", "websocket", "keep-alive", "close",
                                       "permessage-deflate"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    slice_t first = header(h, names[i]);
    slice_t joined = header_joined(h, names[i]);
    for (size_t t = 0; t < sizeof tokens / sizeof tokens[0]; t++) {
      CHECK_OP(http_token_list_has(first, tokens[t]), ==, ref_token_list_has(first, tokens[t]));
      CHECK_OP(http_token_list_has(joined, tokens[t]), ==, ref_token_list_has(joined, tokens[t]));
    }
    free((char *)joined.base);
  }
}

static void check_handshake(const http_collector_t *h, slice_t method) {
  ws_upgrade_req_t up;
  up.method = method;
  up.http_major = h->parser.http_major;
  up.http_minor = h->parser.http_minor;
  up.upgrade = header(h, "Upgrade");
  up.connection = header(h, "Connection");
  up.key = header(h, "Sec-WebSocket-Key");
  up.version = header(h, "Sec-WebSocket-Version");
  if (header_count(h, "Sec-WebSocket-Key") > 1) up.key = slice_make(NULL, 0);
  int status = ws_handshake_check(&up);
  CHECK(status == 0 || status == 400 || status == 426);
  if (status != 0) return;
  CHECK(method.len == 3 && memcmp(method.base, "GET", 3) == 0);
  CHECK(up.http_major > 1 || (up.http_major == 1 && up.http_minor >= 1));
  CHECK(ref_token_list_has(up.upgrade, "websocket"));
  CHECK(ref_token_list_has(up.connection, "upgrade"));
  char accept[WS_ACCEPT_KEY_LEN + 1];
  memset(accept, 'x', sizeof accept);
  CHECK_OP(ws_accept_key(up.key.base, up.key.len, accept), ==, 0);
  CHECK_OP(strlen(accept), ==, WS_ACCEPT_KEY_LEN);
}

static void check_origin(const http_collector_t *h) {
  static const char *const star[] = {"*"};
  static const char *const list[] = {"http://localhost:8000", "https://Example.com",
                                     "http://[::1]:8080", "wss://chat.example.com:443"};
  slice_t origin = header(h, "Origin"), host = header(h, "Host");
  for (int tls = 0; tls < 2; tls++) {
    int same = ws_origin_allowed(origin, host, tls, NULL, 0);
    CHECK(same == 0 || same == 1);
    if (!origin.base) CHECK(same == 1);
    CHECK_OP(ws_origin_allowed(origin, host, tls, star, 1), ==, 1);
    int listed = ws_origin_allowed(origin, host, tls, list, 4);
    CHECK(listed == 0 || listed == 1);
    if (!origin.base) CHECK(listed == 1);
  }
}

static void check_query(slice_t query) {
  static const char *const names[] = {"token", "room", "client_id", "a b"};
  static const size_t caps[] = {0, 1, 8, 256};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
      char *out = malloc(caps[c] ? caps[c] : 1);
      if (!out) abort();
      long r = url_query_param(query, names[i], out, caps[c]);
      CHECK(r >= -2);
      if (r >= 0) {
        CHECK_OP(r, <, (long)caps[c]);
        CHECK_OP(out[r], ==, 0);
        CHECK_OP(strlen(out), ==, (size_t)r);
      }
      if (!query.base) CHECK_OP(r, ==, -1);
      free(out);
    }
  }
}

/* server/routes.c: the id of /ws/{id}. */
static void check_path(slice_t path) {
  static const char prefix[] = "/ws/";
  if (path.len < sizeof prefix - 1 || memcmp(path.base, prefix, sizeof prefix - 1) != 0) return;
  slice_t raw = slice_make(path.base + 4, path.len - 4);
  size_t cap = WS_ID_MAX * 3;
  char *id = malloc(cap);
  if (!id) abort();
  long n = url_percent_decode(raw.base, raw.len, id, cap);
  CHECK(n >= -1);
  CHECK_OP(n, <=, (long)raw.len);
  CHECK_OP(n, <=, (long)cap);
  if (n >= 0) {
    CHECK(memchr(id, 0, (size_t)n) == NULL);
    CHECK_OP(ws_id_valid(id, (size_t)n), ==, ref_id_valid(id, (size_t)n));
    /* In place gives the same bytes. */
    char *inplace = (char *)fuzz_dup((const uint8_t *)raw.base, raw.len);
    long m = url_percent_decode(inplace, raw.len, inplace, raw.len);
    CHECK_OP(m, ==, n);
    CHECK(memcmp(inplace, id, (size_t)n) == 0);
    free(inplace);
  }
  free(id);
}

static void handle_request(http_collector_t *h) {
  const char *mname = llhttp_method_name((llhttp_method_t)h->parser.method);
  slice_t method = slice_cstr(mname);
  slice_t target = slice_make(h->buf, h->url_len);
  const char *q = memchr(h->buf, '?', h->url_len);
  slice_t path = slice_make(h->buf, q ? (size_t)(q - h->buf) : h->url_len);
  slice_t query = slice_make(NULL, 0);
  if (q) query = slice_make(q + 1, h->url_len - (size_t)(q + 1 - h->buf));
  CHECK_OP(target.len, <=, h->len);
  for (int i = 0; i < h->n_headers; i++) {
    const http_header_t *hd = &h->headers[i];
    CHECK_OP((size_t)hd->name_off + hd->name_len, <=, h->len);
    CHECK_OP((size_t)hd->value_off + hd->value_len, <=, h->len);
  }
  check_path(path);
  check_query(query);
  check_token_lists(h);
  check_handshake(h, method);
  check_origin(h);
  slice_t ext = header(h, "Sec-WebSocket-Extensions");
  if (ws_pmd_negotiate(ext)) CHECK(ci_contains(ext, "permessage-deflate"));
  slice_t joined = header_joined(h, "Sec-WebSocket-Extensions");
  if (ws_pmd_negotiate(joined)) CHECK(ci_contains(joined, "permessage-deflate"));
  free((char *)joined.base);
}

/* What one parse of the stream saw, to compare a whole feed with a split
 * one: a digest per request (method, version, url, every header name and
 * value as copied by the callbacks) and how it ended. */
typedef struct {
  uint64_t digest[64];
  int n;         /* requests */
  int err;       /* llhttp error that ended it, HPE_OK when none */
  int status;    /* error_status */
  size_t offset; /* stream offset where parsing stopped */
} trace_t;

static uint64_t request_digest(const http_collector_t *h) {
  uint64_t d = fuzz_hash((const uint8_t *)h->buf, h->url_len);
  d ^= (uint64_t)h->parser.method * 31 + (uint64_t)h->parser.http_major * 7 +
       (uint64_t)h->parser.http_minor + ((uint64_t)h->parser.upgrade << 40);
  for (int i = 0; i < h->n_headers; i++) {
    const http_header_t *hd = &h->headers[i];
    d = d * 1099511628211ULL ^ fuzz_hash((const uint8_t *)h->buf + hd->name_off, hd->name_len);
    d = d * 1099511628211ULL ^ fuzz_hash((const uint8_t *)h->buf + hd->value_off, hd->value_len);
  }
  return d;
}

/* server/http/http.c's reader, with the stream arriving in reads of `chunk`
 * bytes (0: one read). deep: run the checks on every request. */
static void parse(const uint8_t *data, size_t size, size_t chunk, int deep, trace_t *t) {
  http_collector_t col, *h = &col;
  if (http_collector_init(h, MAX_HEADER_SIZE) != 0) abort();
  memset(t, 0, sizeof *t);
  size_t pos = 0;
  int done = 0;
  while (pos < size && !done) {
    size_t n = chunk && chunk < size - pos ? chunk : size - pos;
    /* Each read in its own exact-size block, as a socket read would be. */
    char *rd = (char *)fuzz_dup(data + pos, n);
    const char *p = rd;
    size_t len = n;
    while (len > 0) {
      llhttp_errno_t err = llhttp_execute(&h->parser, p, len);
      if (err == HPE_OK) {
        p += len;
        len = 0;
        break;
      }
      if (err != HPE_PAUSED && err != HPE_PAUSED_UPGRADE) {
        CHECK(h->error_status == 0 || h->error_status == 400 || h->error_status == 431);
        t->err = err;
        /* What the client is answered (server/http/http.c parse_error). */
        t->status = h->error_status ? h->error_status : 400;
        done = 1;
        break;
      }
      const char *at = llhttp_get_error_pos(&h->parser);
      CHECK(at >= p && at <= p + len);
      size_t used = (size_t)(at - p);
      p += used;
      len -= used;
      CHECK(h->complete); /* only on_message_complete pauses */
      h->complete = 0;
      if (t->n < (int)(sizeof t->digest / sizeof t->digest[0])) t->digest[t->n] = request_digest(h);
      t->n++;
      if (deep) handle_request(h);
      /* An upgrade request ends HTTP on this connection (switched, or
       * answered and closed). */
      if (h->parser.upgrade || err == HPE_PAUSED_UPGRADE) {
        done = 1;
        break;
      }
      llhttp_resume(&h->parser);
    }
    pos += (size_t)(p - rd);
    free(rd);
  }
  t->offset = pos;
  http_collector_free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  trace_t whole, split;
  parse(data, size, 0, 1, &whole);
  CHECK(whole.n <= (int)size);
  /* Reads of 1..16 bytes (from the input's hash): the callbacks get names
   * and values in pieces and must copy the same request. */
  size_t chunk = size ? 1 + fuzz_hash(data, size) % 16 : 1;
  parse(data, size, chunk, 0, &split);
  CHECK_OP(split.n, ==, whole.n);
  for (int i = 0; i < whole.n && i < 64; i++)
    CHECK(split.digest[i] == whole.digest[i]);
  /* The same answer, not necessarily the same llhttp code: a bad byte in a
   * header name is caught by llhttp or by our token check, depending on
   * where the read ends; either way the client gets 400. */
  CHECK_OP(split.status, ==, whole.status);
  return 0;
}
