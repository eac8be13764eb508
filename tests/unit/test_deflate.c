/* Unit tests for protocol/deflate.c: RFC 7692 vectors, round trips checked
 * against an independent zlib stream, limits (decompression bombs), corrupt
 * input, and reuse of one codec without context carried over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "protocol/deflate.h"

#define KiB 1024u
#define MiB (1024u * 1024u)

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint8_t rng_byte(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint8_t)(rng_state >> 24);
}

static uint8_t *random_bytes(size_t n) {
  uint8_t *p = malloc(n ? n : 1);
  assert_non_null(p);
  for (size_t i = 0; i < n; i++)
    p[i] = rng_byte();
  return p;
}

/* Chat-like text: compressible but not trivially. */
static uint8_t *chat_text(size_t n) {
  static const char *words[] = {
      "{\"type\":\"chat\",", "\"data\":",        "{\"text\":\"", "hello ", "world ",
      "caf\xc3\xa9 ",        "\xf0\x9f\x98\x80", "\"}}",         "alice ", "bob "};
  uint8_t *p = malloc(n ? n : 1);
  assert_non_null(p);
  size_t i = 0;
  while (i < n) {
    const char *w = words[rng_byte() % 10];
    for (size_t k = 0; w[k] && i < n; k++)
      p[i++] = (uint8_t)w[k];
  }
  return p;
}

/* Independent reference: inflate a permessage-deflate payload with a fresh
 * raw zlib stream, tail appended by copying. */
static uint8_t *ref_inflate(const uint8_t *in, size_t n, size_t expect_len) {
  uint8_t *src = malloc(n + 4);
  uint8_t *dst = malloc(expect_len + 64);
  assert_non_null(src);
  assert_non_null(dst);
  memcpy(src, in, n);
  memcpy(src + n, "\x00\x00\xff\xff", 4);
  z_stream s;
  memset(&s, 0, sizeof(s));
  assert_int_equal(inflateInit2(&s, -15), Z_OK);
  s.next_in = src;
  s.avail_in = (uInt)(n + 4);
  s.next_out = dst;
  s.avail_out = (uInt)(expect_len + 64);
  int rc = inflate(&s, Z_SYNC_FLUSH);
  assert_true(rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR);
  assert_int_equal(s.avail_in, 0);
  assert_int_equal(s.total_out, expect_len);
  inflateEnd(&s);
  free(src);
  return dst;
}

/* Independent reference: compress as another client might (any window
 * size), strip the tail. Returns the payload length. */
static size_t ref_deflate(const uint8_t *in, size_t n, int window_bits, int level, uint8_t **out) {
  z_stream s;
  memset(&s, 0, sizeof(s));
  assert_int_equal(deflateInit2(&s, level, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  size_t cap = deflateBound(&s, (uLong)n) + 64;
  *out = malloc(cap);
  assert_non_null(*out);
  s.next_in = (Bytef *)in;
  s.avail_in = (uInt)n;
  s.next_out = *out;
  s.avail_out = (uInt)cap;
  assert_int_equal(deflate(&s, Z_SYNC_FLUSH), Z_OK);
  assert_int_not_equal(s.avail_out, 0);
  size_t len = s.total_out;
  deflateEnd(&s);
  assert_true(len >= 4);
  assert_memory_equal(*out + len - 4, "\x00\x00\xff\xff", 4);
  return len - 4;
}

static void roundtrip(pmd_codec_t *c, const uint8_t *msg, size_t n) {
  const uint8_t *z, *back;
  size_t zlen, back_len;
  assert_int_equal(pmd_compress(c, msg, n, &z, &zlen), PMD_OK);
  assert_true(zlen >= 1);
  /* Our payload is standard: an independent inflater reads it. */
  uint8_t *ref = ref_inflate(z, zlen, n);
  assert_memory_equal(ref, msg, n);
  free(ref);
  assert_int_equal(pmd_decompress(c, z, zlen, n ? n : 1, &back, &back_len), PMD_OK);
  assert_int_equal(back_len, n);
  assert_non_null(back);
  if (n) assert_memory_equal(back, msg, n);
}

/* ---- setup ----------------------------------------------------------- */

static void test_init_levels(void **state) {
  (void)state;
  pmd_codec_t c;
  assert_int_equal(pmd_codec_init(&c, -2), PMD_EINVAL);
  assert_int_equal(pmd_codec_init(&c, 10), PMD_EINVAL);
  for (int level = -1; level <= 9; level++) {
    assert_int_equal(pmd_codec_init(&c, level), PMD_OK);
    assert_false(c.def_ready);
    assert_false(c.inf_ready);
    pmd_codec_free(&c); /* never used: nothing to release */
  }
  pmd_codec_free(&c); /* twice is harmless */
}

static void test_strerror(void **state) {
  (void)state;
  assert_string_equal(pmd_strerror(PMD_TOO_BIG), "decompressed message too big");
  assert_string_equal(pmd_strerror(PMD_CORRUPT), "invalid compressed data");
  assert_string_equal(pmd_strerror(12345), "unknown error");
}

/* ---- RFC 7692 section 7.2.3 vectors ---------------------------------- */

static void test_rfc_hello(void **state) {
  (void)state;
  /* 7.2.3.1: "Hello" in one compressed message is f2 48 cd c9 c9 07 00. */
  static const uint8_t vec[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
  pmd_codec_t c;
  pmd_codec_init(&c, Z_DEFAULT_COMPRESSION);
  const uint8_t *out;
  size_t len;
  assert_int_equal(pmd_compress(&c, (const uint8_t *)"Hello", 5, &out, &len), PMD_OK);
  assert_int_equal(len, sizeof(vec));
  assert_memory_equal(out, vec, sizeof(vec));
  assert_int_equal(pmd_decompress(&c, vec, sizeof(vec), 100, &out, &len), PMD_OK);
  assert_int_equal(len, 5);
  assert_memory_equal(out, "Hello", 5);
  pmd_codec_free(&c);
}

static void test_rfc_other_forms(void **state) {
  (void)state;
  /* 7.2.3.3: a stored (uncompressed) block; 7.2.3.4: BFINAL set, with and
   * without a padding byte after the final block. */
  static const uint8_t stored[] = {0x00, 0x05, 0x00, 0xfa, 0xff, 0x48,
                                   0x65, 0x6c, 0x6c, 0x6f, 0x00};
  static const uint8_t final[] = {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
  static const uint8_t final_pad[] = {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00};
  pmd_codec_t c;
  pmd_codec_init(&c, 1);
  const uint8_t *out;
  size_t len;
  assert_int_equal(pmd_decompress(&c, stored, sizeof(stored), 5, &out, &len), PMD_OK);
  assert_int_equal(len, 5);
  assert_memory_equal(out, "Hello", 5);
  assert_int_equal(pmd_decompress(&c, final, sizeof(final), 5, &out, &len), PMD_OK);
  assert_int_equal(len, 5);
  assert_memory_equal(out, "Hello", 5);
  assert_int_equal(pmd_decompress(&c, final_pad, sizeof(final_pad), 5, &out, &len), PMD_OK);
  assert_int_equal(len, 5);
  assert_memory_equal(out, "Hello", 5);
  /* 7.2.3.2 (two messages, no context takeover): the same bytes twice. */
  for (int i = 0; i < 2; i++) {
    assert_int_equal(pmd_compress(&c, (const uint8_t *)"Hello", 5, &out, &len), PMD_OK);
    assert_int_equal(len, 7);
    assert_memory_equal(out, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7);
  }
  pmd_codec_free(&c);
}

static void test_empty_message(void **state) {
  (void)state;
  pmd_codec_t c;
  pmd_codec_init(&c, -1);
  const uint8_t *out;
  size_t len;
  assert_int_equal(pmd_compress(&c, NULL, 0, &out, &len), PMD_OK);
  assert_int_equal(len, 1);
  assert_int_equal(out[0], 0x00);
  assert_int_equal(pmd_decompress(&c, (const uint8_t *)"\x00", 1, 10, &out, &len), PMD_OK);
  assert_int_equal(len, 0);
  assert_non_null(out);
  assert_int_equal(pmd_decompress(&c, NULL, 0, 10, &out, &len), PMD_OK);
  assert_int_equal(len, 0);
  assert_non_null(out);
  pmd_codec_free(&c);
}

/* ---- round trips ----------------------------------------------------- */

static void test_roundtrip_sizes(void **state) {
  (void)state;
  static const size_t sizes[] = {0,    1,    2,    125,   126,      127,          128,
                                 1000, 4095, 4096, 65535, 64 * KiB, 64 * KiB + 1, 300 * KiB};
  pmd_codec_t c;
  pmd_codec_init(&c, -1);
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    uint8_t *text = chat_text(sizes[i]);
    roundtrip(&c, text, sizes[i]);
    free(text);
    uint8_t *rnd = random_bytes(sizes[i]); /* incompressible: stored blocks */
    roundtrip(&c, rnd, sizes[i]);
    free(rnd);
  }
  pmd_codec_free(&c);
}

static void test_roundtrip_every_level(void **state) {
  (void)state;
  uint8_t *text = chat_text(20000);
  for (int level = -1; level <= 9; level++) {
    pmd_codec_t c;
    pmd_codec_init(&c, level);
    roundtrip(&c, text, 20000);
    pmd_codec_free(&c);
  }
  free(text);
}

static void test_compresses_text(void **state) {
  (void)state;
  uint8_t *text = chat_text(64 * KiB);
  pmd_codec_t c;
  pmd_codec_init(&c, -1);
  const uint8_t *z;
  size_t zlen;
  assert_int_equal(pmd_compress(&c, text, 64 * KiB, &z, &zlen), PMD_OK);
  assert_true(zlen < 64 * KiB / 3);
  pmd_codec_free(&c);
  free(text);
}

static void test_other_client_windows(void **state) {
  (void)state;
  /* Clients may deflate with any client_max_window_bits (zlib: 9..15) and
   * any level; our 15-bit inflater reads them all. */
  uint8_t *text = chat_text(100 * KiB);
  pmd_codec_t c;
  pmd_codec_init(&c, -1);
  for (int wb = 9; wb <= 15; wb++) {
    for (int level = 0; level <= 9; level += 3) {
      uint8_t *z;
      size_t zlen = ref_deflate(text, 100 * KiB, wb, level, &z);
      const uint8_t *out;
      size_t len;
      assert_int_equal(pmd_decompress(&c, z, zlen, 100 * KiB, &out, &len), PMD_OK);
      assert_int_equal(len, 100 * KiB);
      assert_memory_equal(out, text, len);
      free(z);
    }
  }
  pmd_codec_free(&c);
  free(text);
}

/* ---- limits ---------------------------------------------------------- */

static void test_bomb(void **state) {
  (void)state;
  size_t n = 10 * MiB;
  uint8_t *zeros = calloc(1, n);
  assert_non_null(zeros);
  pmd_codec_t c;
  pmd_codec_init(&c, 9);
  const uint8_t *z;
  size_t zlen;
  assert_int_equal(pmd_compress(&c, zeros, n, &z, &zlen), PMD_OK);
  assert_true(zlen < 20 * KiB); /* about 1000:1 */
  uint8_t *bomb = malloc(zlen);
  assert_non_null(bomb);
  memcpy(bomb, z, zlen);
  free(zeros);

  pmd_codec_t d; /* a fresh codec: its buffer size is all this call's doing */
  pmd_codec_init(&d, -1);
  const uint8_t *out;
  size_t len;
  assert_int_equal(pmd_decompress(&d, bomb, zlen, 64 * KiB, &out, &len), PMD_TOO_BIG);
  assert_true(d.inf_out.cap <= 64 * KiB + 1);
  /* The codec is fine afterwards, and the buffer does not grow on reuse. */
  roundtrip(&d, (const uint8_t *)"after the bomb", 14);
  assert_int_equal(pmd_decompress(&d, bomb, zlen, 64 * KiB, &out, &len), PMD_TOO_BIG);
  assert_true(d.inf_out.cap <= 64 * KiB + 1);
  pmd_codec_free(&d);

  /* With a limit of exactly its size the same message is fine; one less is not. */
  pmd_codec_init(&d, -1);
  assert_int_equal(pmd_decompress(&d, bomb, zlen, n - 1, &out, &len), PMD_TOO_BIG);
  assert_true(d.inf_out.cap <= n);
  assert_int_equal(pmd_decompress(&d, bomb, zlen, n, &out, &len), PMD_OK);
  assert_int_equal(len, n);
  assert_true(d.inf_out.cap <= n + 1);
  assert_int_equal(out[0], 0);
  assert_int_equal(out[n - 1], 0);
  assert_int_equal(pmd_decompress(&d, bomb, zlen, 0, &out, &len), PMD_OK); /* 0: no limit */
  assert_int_equal(len, n);
  pmd_codec_free(&d);
  pmd_codec_free(&c);
  free(bomb);
}

static void test_limit_exact(void **state) {
  (void)state;
  /* The limit is on the inflated size: max_out bytes pass, max_out + 1 do not,
   * whatever buffer an earlier, bigger message left behind. */
  pmd_codec_t c;
  pmd_codec_init(&c, -1);
  uint8_t *big = chat_text(200 * KiB);
  roundtrip(&c, big, 200 * KiB); /* leaves a large inf_out */
  free(big);
  uint8_t *text = chat_text(1000);
  const uint8_t *z, *out;
  size_t zlen, len;
  assert_int_equal(pmd_compress(&c, text, 1000, &z, &zlen), PMD_OK);
  assert_int_equal(pmd_decompress(&c, z, zlen, 1000, &out, &len), PMD_OK);
  assert_int_equal(len, 1000);
  assert_int_equal(pmd_decompress(&c, z, zlen, 999, &out, &len), PMD_TOO_BIG);
  assert_int_equal(pmd_decompress(&c, z, zlen, 1, &out, &len), PMD_TOO_BIG);
  pmd_codec_free(&c);
  free(text);
}

/* ---- corrupt input --------------------------------------------------- */

static void test_corrupt(void **state) {
  (void)state;
  pmd_codec_t c;
  pmd_codec_init(&c, -1);
  const uint8_t *out;
  size_t len;
  /* BTYPE 11 (reserved). */
  assert_int_equal(pmd_decompress(&c, (const uint8_t *)"\x06\x00", 2, 1000, &out, &len),
                   PMD_CORRUPT);
  /* Stored block whose NLEN is not ~LEN. */
  assert_int_equal(
      pmd_decompress(&c, (const uint8_t *)"\x00\x05\x00\x00\x00Hello", 10, 1000, &out, &len),
      PMD_CORRUPT);
  /* All ones: an invalid dynamic-Huffman header. */
  uint8_t ff[64];
  memset(ff, 0xff, sizeof(ff));
  assert_int_equal(pmd_decompress(&c, ff, sizeof(ff), 1000, &out, &len), PMD_CORRUPT);

  /* A real message cut short: it does not end at a block boundary. */
  uint8_t *text = chat_text(5000);
  const uint8_t *z;
  size_t zlen;
  assert_int_equal(pmd_compress(&c, text, 5000, &z, &zlen), PMD_OK);
  uint8_t *copy = malloc(zlen);
  assert_non_null(copy);
  memcpy(copy, z, zlen);
  assert_int_equal(pmd_decompress(&c, copy, zlen / 2, 10000, &out, &len), PMD_CORRUPT);

  /* Random garbage never crashes and never passes the limit. */
  for (int i = 0; i < 2000; i++) {
    size_t n = 1 + rng_byte() % 200;
    uint8_t *junk = random_bytes(n);
    int rc = pmd_decompress(&c, junk, n, 4096, &out, &len);
    assert_true(rc == PMD_OK || rc == PMD_CORRUPT || rc == PMD_TOO_BIG);
    if (rc == PMD_OK) assert_true(len <= 4096);
    free(junk);
  }
  /* Still works. */
  assert_int_equal(pmd_decompress(&c, copy, zlen, 5000, &out, &len), PMD_OK);
  assert_int_equal(len, 5000);
  assert_memory_equal(out, text, 5000);
  pmd_codec_free(&c);
  free(copy);
  free(text);
}

/* ---- reuse: no context carried between messages ---------------------- */

static void test_reuse_no_context(void **state) {
  (void)state;
  pmd_codec_t shared, fresh;
  pmd_codec_init(&shared, -1);
  uint8_t *a = chat_text(3000);
  const uint8_t *z;
  size_t zlen;
  for (int i = 0; i < 500; i++) {
    size_t n = 1 + (size_t)(rng_byte()) * 20;
    uint8_t *msg = i % 3 ? chat_text(n) : random_bytes(n);
    /* Same text, same bytes: nothing from the previous message leaks in
     * (with context takeover, a repeated message would shrink). */
    pmd_codec_init(&fresh, -1);
    const uint8_t *zf;
    size_t zflen;
    assert_int_equal(pmd_compress(&fresh, msg, n, &zf, &zflen), PMD_OK);
    assert_int_equal(pmd_compress(&shared, a, 3000, &z, &zlen), PMD_OK); /* warm the window */
    assert_int_equal(pmd_compress(&shared, msg, n, &z, &zlen), PMD_OK);
    assert_int_equal(zlen, zflen);
    assert_memory_equal(z, zf, zlen);
    pmd_codec_free(&fresh);
    /* Each payload inflates alone, and through the shared codec. */
    uint8_t *ref = ref_inflate(z, zlen, n);
    assert_memory_equal(ref, msg, n);
    free(ref);
    const uint8_t *out;
    size_t len;
    assert_int_equal(pmd_decompress(&shared, z, zlen, n, &out, &len), PMD_OK);
    assert_int_equal(len, n);
    assert_memory_equal(out, msg, n);
    free(msg);
  }
  free(a);
  pmd_codec_free(&shared);
}

static void test_inflate_rejects_context_reference(void **state) {
  (void)state;
  /* A second message that back-references the first one's window (as a
   * client WITH context takeover would send) must not decode against stale
   * state: the window is reset, so it is corrupt. */
  static const char msg[] = "Hello Hello Hello Hello Hello Hello";
  z_stream s;
  memset(&s, 0, sizeof(s));
  assert_int_equal(deflateInit2(&s, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  uint8_t first[128], second[128];
  s.next_in = (Bytef *)msg;
  s.avail_in = sizeof(msg) - 1;
  s.next_out = first;
  s.avail_out = sizeof(first);
  assert_int_equal(deflate(&s, Z_SYNC_FLUSH), Z_OK);
  size_t first_len = sizeof(first) - s.avail_out - 4;
  s.next_in = (Bytef *)msg;
  s.avail_in = sizeof(msg) - 1;
  s.next_out = second;
  s.avail_out = sizeof(second);
  assert_int_equal(deflate(&s, Z_SYNC_FLUSH), Z_OK);
  size_t second_len = sizeof(second) - s.avail_out - 4;
  deflateEnd(&s);

  pmd_codec_t c;
  pmd_codec_init(&c, -1);
  const uint8_t *out;
  size_t len;
  assert_int_equal(pmd_decompress(&c, first, first_len, 1000, &out, &len), PMD_OK);
  assert_int_equal(len, sizeof(msg) - 1);
  assert_int_equal(pmd_decompress(&c, second, second_len, 1000, &out, &len), PMD_CORRUPT);
  pmd_codec_free(&c);
}

static void test_outputs_independent(void **state) {
  (void)state;
  /* A compress result survives a decompress on the same codec and back. */
  pmd_codec_t c;
  pmd_codec_init(&c, -1);
  const uint8_t *z, *out;
  size_t zlen, len;
  assert_int_equal(pmd_compress(&c, (const uint8_t *)"Hello", 5, &z, &zlen), PMD_OK);
  assert_int_equal(
      pmd_decompress(&c, (const uint8_t *)"\x00\x05\x00\xfa\xffWorld\x00", 11, 100, &out, &len),
      PMD_OK);
  assert_memory_equal(z, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7);
  assert_int_equal(pmd_compress(&c, (const uint8_t *)"other", 5, &z, &zlen), PMD_OK);
  assert_int_equal(len, 5);
  assert_memory_equal(out, "World", 5);
  pmd_codec_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init_levels),
      cmocka_unit_test(test_strerror),
      cmocka_unit_test(test_rfc_hello),
      cmocka_unit_test(test_rfc_other_forms),
      cmocka_unit_test(test_empty_message),
      cmocka_unit_test(test_roundtrip_sizes),
      cmocka_unit_test(test_roundtrip_every_level),
      cmocka_unit_test(test_compresses_text),
      cmocka_unit_test(test_other_client_windows),
      cmocka_unit_test(test_bomb),
      cmocka_unit_test(test_limit_exact),
      cmocka_unit_test(test_corrupt),
      cmocka_unit_test(test_reuse_no_context),
      cmocka_unit_test(test_inflate_rejects_context_reference),
      cmocka_unit_test(test_outputs_independent),
  };
  return cmocka_run_group_tests_name("deflate", tests, NULL, NULL);
}
