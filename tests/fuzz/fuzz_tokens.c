/* libFuzzer driver for the header and URL parsers of protocol/handshake.c,
 * fed the raw input with no HTTP around it.
 *
 * Every parser runs on the whole input; the input split at '\n' also gives
 * fields: part 0 origin / token / query name, part 1 Host, part 2 an
 * allowed-origins entry, parts 0-4 the fields of ws_handshake_check. The
 * results are compared with the reference helpers of fuzz_ref.h where one
 * exists, and with properties of the contract elsewhere.
 *
 * handshake.h promises every function is linear in its input. One input in
 * 256 (by hash) is also repeated to 256 KiB and parsed again, so a
 * quadratic parser turns into a libFuzzer -timeout. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/handshake.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_ref.h"

#define MAX_PARTS 5
#define BIG       (256 * 1024)

/* A NUL-terminated heap copy of s. */
static char *cstr(slice_t s) {
  char *c = malloc(s.len + 1);
  if (!c) abort();
  if (s.len) memcpy(c, s.base, s.len);
  c[s.len] = 0;
  return c;
}

static const char *const tokens[] = {"upgrade", "websocket", "keep-alive", "permessage-deflate",
                                     "a"};

static void check_token_list(slice_t s) {
  for (size_t t = 0; t < sizeof tokens / sizeof tokens[0]; t++)
    CHECK_OP(http_token_list_has(s, tokens[t]), ==, ref_token_list_has(s, tokens[t]));
}

static void check_pmd(slice_t s) {
  int r = ws_pmd_negotiate(s);
  CHECK(r == 0 || r == 1);
  if (r) CHECK(ci_contains(s, "permessage-deflate"));
  /* A well-formed offer of another extension before it changes nothing. */
  size_t n = s.len + 4;
  char *pre = malloc(n);
  if (!pre) abort();
  memcpy(pre, "x, ", 3);
  if (s.len) memcpy(pre + 3, s.base, s.len);
  pre[n - 1] = 0;
  CHECK_OP(ws_pmd_negotiate(slice_make(pre, n - 1)), ==, r);
  free(pre);
}

static void check_decode(slice_t s) {
  static const size_t caps[] = {0, 1, 3, 64};
  for (size_t c = 0; c < sizeof caps / sizeof caps[0] + 1; c++) {
    size_t cap = c < sizeof caps / sizeof caps[0] ? caps[c] : s.len;
    char *a = malloc(cap ? cap : 1), *b = malloc(cap ? cap : 1);
    if (!a || !b) abort();
    long r = url_percent_decode(s.base, s.len, a, cap);
    long e = ref_percent_decode(s.base, s.len, b, cap);
    CHECK_OP(r, ==, e);
    if (r > 0) CHECK(memcmp(a, b, (size_t)r) == 0);
    free(a);
    free(b);
  }
  /* In place. */
  char *in = (char *)fuzz_dup((const uint8_t *)s.base, s.len);
  char *ref = malloc(s.len ? s.len : 1);
  if (!ref) abort();
  long e = ref_percent_decode(s.base, s.len, ref, s.len);
  long r = url_percent_decode(in, s.len, in, s.len);
  CHECK_OP(r, ==, e);
  if (r > 0) CHECK(memcmp(in, ref, (size_t)r) == 0);
  if (r >= 0) CHECK_OP(ws_id_valid(ref, (size_t)r), ==, ref_id_valid(ref, (size_t)r));
  free(in);
  free(ref);
}

static void check_query(slice_t q, const char *name) {
  static const size_t caps[] = {0, 1, 16, 4096};
  for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
    char *out = malloc(caps[c] ? caps[c] : 1);
    if (!out) abort();
    long r = url_query_param(q, name, out, caps[c]);
    CHECK(r >= -2);
    if (r >= 0) {
      CHECK_OP(r, <, (long)caps[c]);
      CHECK_OP(out[r], ==, 0);
      CHECK_OP(strlen(out), ==, (size_t)r);
    }
    if (!name[0]) CHECK_OP(r, ==, -1);
    free(out);
  }
}

static void check_origin(slice_t origin, slice_t host, const char *entry) {
  static const char *const star[] = {"*", "http://x"};
  for (int tls = 0; tls < 2; tls++) {
    int same = ws_origin_allowed(origin, host, tls, NULL, 0);
    CHECK(same == 0 || same == 1);
    CHECK_OP(ws_origin_allowed(origin, host, tls, star, 2), ==, 1);
    CHECK_OP(ws_origin_allowed(slice_make(NULL, 0), host, tls, NULL, 0), ==, 1);
    if (entry) {
      const char *list[1] = {entry};
      int r = ws_origin_allowed(origin, host, tls, list, 1);
      CHECK(r == 0 || r == 1);
      CHECK_OP(ws_origin_allowed(slice_make(NULL, 0), host, tls, list, 1), ==, 1);
    }
    /* An origin that passes the same-host rule is well-formed, so a list
     * holding exactly that origin lets it through too. */
    if (same && origin.base && !memchr(origin.base, 0, origin.len)) {
      char *self = cstr(origin);
      const char *list[1] = {self};
      CHECK_OP(ws_origin_allowed(origin, host, tls, list, 1), ==, 1);
      free(self);
    }
  }
}

static void check_handshake(const slice_t *part, size_t nparts, uint8_t ver) {
  ws_upgrade_req_t up;
  memset(&up, 0, sizeof up);
  slice_t *fields[] = {&up.method, &up.upgrade, &up.connection, &up.key, &up.version};
  for (size_t i = 0; i < nparts && i < 5; i++)
    *fields[i] = part[i];
  up.http_major = ver >> 4;
  up.http_minor = ver & 15;
  int st = ws_handshake_check(&up);
  CHECK(st == 0 || st == 400 || st == 426);
  if (st == 0) {
    CHECK(up.method.len == 3 && memcmp(up.method.base, "GET", 3) == 0);
    CHECK(ref_token_list_has(up.upgrade, "websocket"));
    CHECK(ref_token_list_has(up.connection, "upgrade"));
  }
}

static void check_accept(slice_t s) {
  char out[WS_ACCEPT_KEY_LEN + 1];
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
  CHECK_OP(ws_accept_key(s.base, s.len, out), ==, 0);
  CHECK_OP(strlen(out), ==, WS_ACCEPT_KEY_LEN);
  CHECK_OP(strspn(out, b64), ==, WS_ACCEPT_KEY_LEN);
}

/* The parsers that take a whole header value or query, on a big input. */
static void linear(const uint8_t *data, size_t size) {
  char *big = malloc(BIG);
  if (!big) abort();
  for (size_t i = 0; i < BIG; i++)
    big[i] = (char)data[i % size];
  slice_t s = slice_make(big, BIG);
  char out[64];
  /* Names that (almost) never match, so the whole input is scanned: no
   * list item holds a ',', and no query key is likely to decode to this. */
  CHECK_OP(http_token_list_has(s, "x,y"), ==, 0);
  (void)http_token_list_has(s, "upgrade");
  (void)ws_pmd_negotiate(s);
  (void)url_query_param(s, "\x7f\x01zz", out, sizeof out);
  (void)url_query_param(s, "token", out, sizeof out);
  (void)ws_origin_allowed(s, s, 0, NULL, 0);
  (void)ws_id_valid(big, BIG);
  (void)url_percent_decode(big, BIG, big, BIG);
  free(big);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  slice_t whole = slice_make((const char *)data, size);
  slice_t part[MAX_PARTS];
  size_t nparts = 0, start = 0;
  for (size_t i = 0; i <= size && nparts < MAX_PARTS; i++) {
    if (i == size || data[i] == '\n') {
      part[nparts++] = slice_make((const char *)data + start, i - start);
      start = i + 1;
    }
  }

  check_token_list(whole);
  check_pmd(whole);
  check_decode(whole);
  check_accept(whole);
  CHECK_OP(ws_id_valid(whole.base, whole.len), ==, ref_id_valid(whole.base, whole.len));

  /* part 0 as a NUL-terminated name: a token to look for, a query key. */
  char *name = cstr(part[0]);
  if (nparts > 1) {
    slice_t rest = slice_make(part[1].base, size - (size_t)(part[1].base - whole.base));
    if (name[0] && !memchr(part[0].base, 0, part[0].len))
      CHECK_OP(http_token_list_has(rest, name), ==, ref_token_list_has(rest, name));
    check_query(rest, name);
  }
  check_query(whole, "token");
  check_query(whole, "a b");
  check_query(whole, "");

  char *entry = NULL;
  if (nparts > 2 && !memchr(part[2].base, 0, part[2].len)) {
    entry = cstr(part[2]);
  }
  check_origin(part[0], nparts > 1 ? part[1] : slice_make(NULL, 0), entry);
  check_origin(whole, whole, NULL);
  free(entry);
  free(name);

  check_handshake(part, nparts, size ? data[size - 1] : 0x11);

  if (size > 0 && fuzz_hash(data, size) % 256 == 0) linear(data, size);
  return 0;
}
