/* Unit tests for protocol/jwt.c: HS256 verification for one client id
 * (alg pinning, signature before claims, sub/exp/nbf, strict base64url,
 * length limit), signing round trips, and published test vectors. Tokens
 * are crafted here with OpenSSL's HMAC so every byte is under control. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "protocol/jwt.h"

#define NOW      1700000000.0
#define KEY      "test-secret"
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static char tokbuf[3 * JWT_HS256_MAX_LEN];

static size_t b64url(const unsigned char *in, size_t n, char *out) {
  static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t o = 0, i;
  for (i = 0; i < n; i += 3) {
    unsigned long v = (unsigned long)in[i] << 16;
    if (i + 1 < n) v |= (unsigned long)in[i + 1] << 8;
    if (i + 2 < n) v |= in[i + 2];
    out[o++] = a[(v >> 18) & 63];
    out[o++] = a[(v >> 12) & 63];
    if (i + 1 < n) out[o++] = a[(v >> 6) & 63];
    if (i + 2 < n) out[o++] = a[v & 63];
  }
  out[o] = '\0';
  return o;
}

/* b64url(header).b64url(payload).b64url(HMAC-SHA256(key, first two)). */
static const char *make(const char *header, const char *payload, const char *key) {
  unsigned char mac[32];
  unsigned int maclen = 0;
  size_t o = b64url((const unsigned char *)header, strlen(header), tokbuf);
  tokbuf[o++] = '.';
  o += b64url((const unsigned char *)payload, strlen(payload), tokbuf + o);
  assert_non_null(
      HMAC(EVP_sha256(), key, (int)strlen(key), (unsigned char *)tokbuf, o, mac, &maclen));
  tokbuf[o++] = '.';
  b64url(mac, maclen, tokbuf + o);
  return tokbuf;
}

static int verify(const char *tok, const char *key, const char *sub) {
  return jwt_hs256_verify(tok, strlen(tok), key, strlen(key), sub, strlen(sub), NOW);
}

#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define GOOD  "{\"sub\":\"alice\",\"exp\":1700003600}"

static void test_valid(void **state) {
  (void)state;
  assert_int_equal(verify(make(HS256, GOOD, KEY), KEY, "alice"), JWT_HS256_OK);
  assert_int_equal(verify(make("{\"alg\":\"HS256\"}", GOOD, KEY), KEY, "alice"), JWT_HS256_OK);
  assert_int_equal(verify(make(HS256,
                               "{\"sub\":\"alice\",\"exp\":1700000000.5,\"nbf\":1700000000,"
                               "\"iat\":1,\"extra\":[1,{\"a\":null}]}",
                               KEY),
                          KEY, "alice"),
                   JWT_HS256_OK);
}

static void test_alg(void **state) {
  static const char *headers[] = {
      "{\"alg\":\"none\"}",
      "{\"alg\":\"HS512\"}",
      "{\"alg\":\"RS256\"}",
      "{\"alg\":\"hs256\"}",
      "{\"alg\":\"HS256 \"}",
      "{\"typ\":\"JWT\"}",
      "{\"alg\":null}",
      "{\"alg\":[\"HS256\"]}",
      "{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}",
  };
  (void)state;
  for (size_t i = 0; i < COUNT(headers); i++)
    assert_int_equal(verify(make(headers[i], GOOD, KEY), KEY, "alice"), JWT_HS256_E_ALG);
  /* alg none with an empty signature, the classic. */
  char t[256];
  size_t o = b64url((const unsigned char *)"{\"alg\":\"none\"}", 14, t);
  t[o++] = '.';
  o += b64url((const unsigned char *)GOOD, strlen(GOOD), t + o);
  t[o++] = '.';
  t[o] = '\0';
  assert_int_equal(verify(t, KEY, "alice"), JWT_HS256_E_ALG);
}

static void test_signature(void **state) {
  char t[512];
  size_t n;
  (void)state;
  assert_int_equal(verify(make(HS256, GOOD, "other"), KEY, "alice"), JWT_HS256_E_SIGNATURE);
  assert_int_equal(verify(make(HS256, GOOD, KEY), "test-secreT", "alice"), JWT_HS256_E_SIGNATURE);
  /* Flip one signature character (stays canonical: not the last one). */
  strcpy(t, make(HS256, GOOD, KEY));
  n = strlen(t);
  t[n - 5] = t[n - 5] == 'A' ? 'B' : 'A';
  assert_int_equal(verify(t, KEY, "alice"), JWT_HS256_E_SIGNATURE);
  /* Empty and truncated signatures. */
  strcpy(t, make(HS256, GOOD, KEY));
  *strrchr(t, '.') = '\0';
  strcat(t, ".");
  assert_int_equal(verify(t, KEY, "alice"), JWT_HS256_E_SIGNATURE);
  strcpy(t, make(HS256, GOOD, KEY));
  strcpy(strrchr(t, '.') + 1, "AAAA");
  assert_int_equal(verify(t, KEY, "alice"), JWT_HS256_E_SIGNATURE);
  /* A signature that is not base64url (41 characters: 1 mod 4) is
   * malformed; one of 33 bytes just does not match. */
  strcpy(t, make(HS256, GOOD, KEY));
  t[strlen(t) - 2] = '\0';
  assert_int_equal(verify(t, KEY, "alice"), JWT_HS256_E_FORMAT);
  strcpy(t, make(HS256, GOOD, KEY));
  strcat(t, "A");
  assert_int_equal(verify(t, KEY, "alice"), JWT_HS256_E_SIGNATURE);
  /* Signature over a different payload: claims are never looked at, even
   * when they would be invalid JSON. */
  strcpy(t, make(HS256, GOOD, KEY));
  {
    char *d1 = strchr(t, '.');
    d1[1] = d1[1] == 'e' ? 'f' : 'e';
  }
  assert_int_equal(verify(t, KEY, "alice"), JWT_HS256_E_SIGNATURE);
  assert_int_equal(verify(make(HS256, "not json", "other"), KEY, "alice"), JWT_HS256_E_SIGNATURE);
}

static void test_claims(void **state) {
  static const struct {
    const char *payload;
    int want;
  } cases[] = {
      {"{\"sub\":\"bob\",\"exp\":1700003600}", JWT_HS256_E_SUB},
      {"{\"sub\":\"alic\",\"exp\":1700003600}", JWT_HS256_E_SUB},
      {"{\"sub\":\"alice2\",\"exp\":1700003600}", JWT_HS256_E_SUB},
      {"{\"sub\":\"ALICE\",\"exp\":1700003600}", JWT_HS256_E_SUB},
      {"{\"exp\":1700003600}", JWT_HS256_E_SUB},
      {"{\"sub\":1,\"exp\":1700003600}", JWT_HS256_E_SUB},
      {"{\"sub\":[\"alice\"],\"exp\":1700003600}", JWT_HS256_E_SUB},
      {"{\"sub\":\"alice\"}", JWT_HS256_E_EXP},
      {"{\"sub\":\"alice\",\"exp\":\"1700003600\"}", JWT_HS256_E_EXP},
      {"{\"sub\":\"alice\",\"exp\":null}", JWT_HS256_E_EXP},
      {"{\"sub\":\"alice\",\"exp\":true}", JWT_HS256_E_EXP},
      {"{\"sub\":\"alice\",\"exp\":1700000000}", JWT_HS256_E_EXPIRED},
      {"{\"sub\":\"alice\",\"exp\":1699999999.9}", JWT_HS256_E_EXPIRED},
      {"{\"sub\":\"alice\",\"exp\":-1}", JWT_HS256_E_EXPIRED},
      {"{\"sub\":\"alice\",\"exp\":1700003600,\"nbf\":1700000001}", JWT_HS256_E_NBF},
      {"{\"sub\":\"alice\",\"exp\":1700003600,\"nbf\":\"0\"}", JWT_HS256_E_NBF},
      {"{\"sub\":\"alice\",\"exp\":1700003600,\"nbf\":null}", JWT_HS256_E_NBF},
      {"{\"sub\":\"alice\",\"exp\":1700003600,\"nbf\":1700000000}", JWT_HS256_OK},
      {"{\"sub\":\"alice\",\"exp\":1700003600,\"sub\":\"alice\"}", JWT_HS256_E_CLAIMS},
      {"[\"alice\"]", JWT_HS256_E_CLAIMS},
      {"\"alice\"", JWT_HS256_E_CLAIMS},
      {"{\"sub\":\"alice\",\"exp\":1700003600", JWT_HS256_E_CLAIMS},
      {"{\"sub\":\"alice\",\"exp\":99999999999999999999999}", JWT_HS256_E_CLAIMS},
  };
  (void)state;
  for (size_t i = 0; i < COUNT(cases); i++) {
    int r = verify(make(HS256, cases[i].payload, KEY), KEY, "alice");
    if (r != cases[i].want) fail_msg("%s: got %d want %d", cases[i].payload, r, cases[i].want);
  }
}

static void test_format(void **state) {
  char t[JWT_HS256_MAX_LEN * 2];
  const char *good;
  (void)state;
  assert_int_equal(jwt_hs256_verify("", 0, KEY, 3, "alice", 5, NOW), JWT_HS256_E_LENGTH);
  assert_int_equal(jwt_hs256_verify(NULL, 0, KEY, 3, "alice", 5, NOW), JWT_HS256_E_LENGTH);
  assert_int_equal(verify("abc", KEY, "alice"), JWT_HS256_E_FORMAT);
  assert_int_equal(verify("a.b", KEY, "alice"), JWT_HS256_E_FORMAT);
  assert_int_equal(verify("..", KEY, "alice"), JWT_HS256_E_FORMAT);
  assert_int_equal(verify("...", KEY, "alice"), JWT_HS256_E_FORMAT);
  good = make(HS256, GOOD, KEY);
  /* Four segments. */
  snprintf(t, sizeof t, "%s.", good);
  assert_int_equal(verify(t, KEY, "alice"), JWT_HS256_E_FORMAT);
  snprintf(t, sizeof t, "%s.AAAA", good);
  assert_int_equal(verify(t, KEY, "alice"), JWT_HS256_E_FORMAT);
  /* Standard base64 characters, padding, whitespace. */
  snprintf(t, sizeof t, "%s=", good);
  assert_int_equal(verify(t, KEY, "alice"), JWT_HS256_E_FORMAT);
  snprintf(t, sizeof t, " %s", good);
  assert_int_equal(verify(t, KEY, "alice"), JWT_HS256_E_FORMAT);
  snprintf(t, sizeof t, "%s", good);
  *strchr(t, '.') = '+';
  assert_int_equal(verify(t, KEY, "alice"), JWT_HS256_E_FORMAT);
  snprintf(t, sizeof t, "%s", good);
  strchr(t, '.')[2] = '/';
  assert_int_equal(verify(t, KEY, "alice"), JWT_HS256_E_FORMAT);
  /* A header that is not JSON / not an object. */
  assert_int_equal(verify(make("alg=HS256", GOOD, KEY), KEY, "alice"), JWT_HS256_E_FORMAT);
  assert_int_equal(verify(make("[\"HS256\"]", GOOD, KEY), KEY, "alice"), JWT_HS256_E_FORMAT);
  assert_int_equal(verify(make("{\"alg\":\"HS256\",\"alg\":\"HS256\"}", GOOD, KEY), KEY, "alice"),
                   JWT_HS256_E_FORMAT);
  /* Length 1 mod 4, and stray bits in the last character ("e30" is "{}";
   * "e31" decodes to the same bytes with a non-zero unused bit). */
  assert_int_equal(verify("e30AA.e30.AAAA", KEY, "alice"), JWT_HS256_E_FORMAT);
  assert_int_equal(verify("e31.e30.AAAA", KEY, "alice"), JWT_HS256_E_FORMAT);
  /* Too long: refused before any parsing; the limit itself is allowed. */
  memset(t, 'A', JWT_HS256_MAX_LEN + 1);
  t[JWT_HS256_MAX_LEN + 1] = '\0';
  assert_int_equal(verify(t, KEY, "alice"), JWT_HS256_E_LENGTH);
  t[JWT_HS256_MAX_LEN] = '\0';
  assert_int_equal(verify(t, KEY, "alice"), JWT_HS256_E_FORMAT);
}

static void test_long_payload(void **state) {
  static char payload[JWT_HS256_MAX_LEN];
  size_t n;
  (void)state;
  /* Header 36 + payload ~ (L * 4 / 3) + sig 43 + 2 dots must fit 4096. */
  n = (size_t)snprintf(payload, sizeof payload, "{\"sub\":\"alice\",\"exp\":1700003600,\"pad\":\"");
  memset(payload + n, 'x', 2900);
  strcpy(payload + n + 2900, "\"}");
  assert_true(strlen(make(HS256, payload, KEY)) <= JWT_HS256_MAX_LEN);
  assert_int_equal(verify(tokbuf, KEY, "alice"), JWT_HS256_OK);
  memset(payload + n, 'x', 3100);
  strcpy(payload + n + 3100, "\"}");
  assert_true(strlen(make(HS256, payload, KEY)) > JWT_HS256_MAX_LEN);
  assert_int_equal(verify(tokbuf, KEY, "alice"), JWT_HS256_E_LENGTH);
}

/* Not NUL-terminated: verify reads exactly len bytes. */
static void test_exact_length(void **state) {
  char t[1024];
  size_t n;
  (void)state;
  strcpy(t, make(HS256, GOOD, KEY));
  n = strlen(t);
  t[n] = 'A'; /* garbage after the token */
  t[n + 1] = '.';
  assert_int_equal(jwt_hs256_verify(t, n, KEY, strlen(KEY), "alice", 5, NOW), JWT_HS256_OK);
  /* And sub is compared by length, not up to a NUL. */
  assert_int_equal(jwt_hs256_verify(t, n, KEY, strlen(KEY), "aliceX", 5, NOW), JWT_HS256_OK);
  assert_int_equal(jwt_hs256_verify(t, n, KEY, strlen(KEY), "alice", 4, NOW), JWT_HS256_E_SUB);
}

/* jwt.io's example (HS256, "your-256-bit-secret"): the signature verifies,
 * and the token fails only for lack of exp. */
static void test_vector_jwtio(void **state) {
  static const char t[] =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwi"
      "aWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
  (void)state;
  assert_int_equal(verify(t, "your-256-bit-secret", "1234567890"), JWT_HS256_E_EXP);
  assert_int_equal(verify(t, "your-256-bit-secreT", "1234567890"), JWT_HS256_E_SIGNATURE);
}

static void test_sign_roundtrip(void **state) {
  char t[JWT_HS256_MAX_LEN + 1];
  long n;
  (void)state;
  n = jwt_hs256_sign(KEY, strlen(KEY), "bob.x-1_", 8, 1700000000, 1700000060, t, sizeof t);
  assert_true(n > 0);
  assert_int_equal((size_t)n, strlen(t));
  assert_string_equal(
      t, make(HS256, "{\"sub\":\"bob.x-1_\",\"iat\":1700000000,\"exp\":1700000060}", KEY));
  assert_int_equal(verify(t, KEY, "bob.x-1_"), JWT_HS256_OK);
  assert_int_equal(verify(t, KEY, "bob"), JWT_HS256_E_SUB);
  assert_int_equal(jwt_hs256_verify(t, (size_t)n, KEY, strlen(KEY), "bob.x-1_", 8, 1700000060.0),
                   JWT_HS256_E_EXPIRED);
  assert_int_equal(jwt_hs256_sign(KEY, strlen(KEY), "bob", 3, 0, 1, t, 20), JWT_HS256_E_LENGTH);
}

static void test_strerror(void **state) {
  (void)state;
  for (int c = 0; c >= JWT_HS256_E_NOMEM; c--)
    assert_string_not_equal(jwt_hs256_strerror(c), "unknown error");
  assert_string_equal(jwt_hs256_strerror(1), "unknown error");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid),          cmocka_unit_test(test_alg),
      cmocka_unit_test(test_signature),      cmocka_unit_test(test_claims),
      cmocka_unit_test(test_format),         cmocka_unit_test(test_long_payload),
      cmocka_unit_test(test_exact_length),   cmocka_unit_test(test_vector_jwtio),
      cmocka_unit_test(test_sign_roundtrip), cmocka_unit_test(test_strerror),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
