/* libFuzzer driver for protocol/proxy.c (the PROXY v1/v2 preface).
 *
 * Input: the first byte picks a read size (1..16, 0 = whole), the rest is
 * what a proxy sends. Invariants: the parser never reads past its input,
 * never consumes more than it was given, and the stream fed whole and in
 * reads of that size gives the same result, ends the preface at the same
 * byte and reports the same addresses; a v1 preface ends within 107
 * bytes, a v2 one within 16 + PROXY_V2_MAX_LEN. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/proxy.h"
#include "tests/fuzz/fuzz_common.h"

static int run(const uint8_t *d, size_t n, size_t chunk, size_t *end, proxy_parser_t *p) {
  size_t pos = 0, used;
  int r = PROXY_MORE;
  proxy_init(p);
  while (pos < n && r == PROXY_MORE) {
    size_t k = chunk && chunk < n - pos ? chunk : n - pos;
    /* each read its own exact-size block, as a socket read would be */
    uint8_t *rd = fuzz_dup(d + pos, k);
    r = proxy_feed(p, rd, k, &used);
    CHECK(used <= k);
    if (r == PROXY_MORE) CHECK(used == k);
    if (r == PROXY_DONE) *end = pos + used;
    free(rd);
    pos += k;
  }
  return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  proxy_parser_t a, b;
  size_t end_a = 0, end_b = 0, chunk;
  int ra, rb;
  if (size < 1) return 0;
  chunk = data[0] % 17;
  ra = run(data + 1, size - 1, 0, &end_a, &a);
  rb = run(data + 1, size - 1, chunk, &end_b, &b);
  CHECK_OP(ra, ==, rb);
  if (ra == PROXY_DONE) {
    CHECK_OP(end_a, ==, end_b);
    CHECK(memcmp(&a.info, &b.info, sizeof a.info) == 0);
    CHECK(a.info.version == 1 || a.info.version == 2);
    if (a.info.version == 1) CHECK_OP(end_a, <=, PROXY_V1_MAX);
    if (a.info.version == 2) CHECK_OP(end_a, <=, 16 + PROXY_V2_MAX_LEN);
    if (a.info.command != PROXY_CMD_PROXY) CHECK_OP(a.info.family, ==, 0);
  }
  if (ra == PROXY_ERROR) CHECK(a.why != NULL && b.why != NULL);
  return 0;
}
