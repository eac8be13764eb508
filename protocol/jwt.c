/* HS256 JWT verify and sign; see jwt.h for the contract and for why this is
 * not libjwt.
 *
 * Strictness choices:
 * - base64url without padding; a segment whose length is 1 mod 4 or whose
 *   last character carries non-zero unused bits is malformed, so each token
 *   has exactly one spelling (no malleable signatures).
 * - The header is parsed before the signature is checked (its alg decides
 *   whether there is anything to check); the payload is not even decoded
 *   until the signature matched.
 * - JSON duplicates are rejected in header and payload.
 * - No clock leeway: exp must be strictly after now, nbf at or before now.
 */
#include "protocol/jwt.h"

#include <jansson.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#define SIG_LEN 32 /* HMAC-SHA256 */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64url_val(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

/* Decodes in[0..n) into out (capacity >= n * 3 / 4 + 1). Returns the
 * decoded length, or -1 for anything not canonical unpadded base64url. */
static long b64url_decode(const char *in, size_t n, unsigned char *out) {
  unsigned long acc = 0;
  size_t i, o = 0;
  int bits = 0;
  if (n % 4 == 1) return -1;
  for (i = 0; i < n; i++) {
    int v = b64url_val(in[i]);
    if (v < 0) return -1;
    acc = (acc << 6) | (unsigned)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
    }
    acc &= (1ul << bits) - 1;
  }
  if (acc != 0) return -1; /* stray low bits in the last character */
  return (long)o;
}

/* Encodes in[0..n) into out (capacity >= (n * 4 + 2) / 3 + 1, NUL added).
 * Returns the encoded length. */
static size_t b64url_encode(const unsigned char *in, size_t n, char *out) {
  size_t i, o = 0;
  for (i = 0; i + 2 < n; i += 3) {
    unsigned long v = ((unsigned long)in[i] << 16) | ((unsigned long)in[i + 1] << 8) | in[i + 2];
    out[o++] = b64url[(v >> 18) & 63];
    out[o++] = b64url[(v >> 12) & 63];
    out[o++] = b64url[(v >> 6) & 63];
    out[o++] = b64url[v & 63];
  }
  if (n - i == 1) {
    unsigned long v = (unsigned long)in[i] << 16;
    out[o++] = b64url[(v >> 18) & 63];
    out[o++] = b64url[(v >> 12) & 63];
  } else if (n - i == 2) {
    unsigned long v = ((unsigned long)in[i] << 16) | ((unsigned long)in[i + 1] << 8);
    out[o++] = b64url[(v >> 18) & 63];
    out[o++] = b64url[(v >> 12) & 63];
    out[o++] = b64url[(v >> 6) & 63];
  }
  out[o] = '\0';
  return o;
}

static int hmac_sha256(const void *key, size_t keylen, const char *data, size_t n,
                       unsigned char md[SIG_LEN]) {
  static const unsigned char empty = 0;
  unsigned int mdlen = 0;
  if (keylen > INT_MAX) return -1;
  if (!HMAC(EVP_sha256(), keylen ? key : &empty, (int)keylen, (const unsigned char *)data, n, md,
            &mdlen) ||
      mdlen != SIG_LEN)
    return -1;
  return 0;
}

/* Decodes a segment and parses it as a JSON object; NULL when it is not. */
static json_t *segment_object(const char *seg, size_t n, unsigned char *buf) {
  long dl = b64url_decode(seg, n, buf);
  json_t *j;
  if (dl <= 0) return NULL;
  j = json_loadb((const char *)buf, (size_t)dl, JSON_REJECT_DUPLICATES, NULL);
  if (j && !json_is_object(j)) {
    json_decref(j);
    j = NULL;
  }
  return j;
}

static int check_header(const char *seg, size_t n, unsigned char *buf) {
  json_t *h = segment_object(seg, n, buf), *alg;
  int r = JWT_HS256_OK;
  if (!h) return JWT_HS256_E_FORMAT;
  alg = json_object_get(h, "alg");
  if (!json_is_string(alg) || json_string_length(alg) != 5 ||
      memcmp(json_string_value(alg), "HS256", 5) != 0 || json_object_get(h, "crit"))
    r = JWT_HS256_E_ALG;
  json_decref(h);
  return r;
}

static int check_claims(const char *seg, size_t n, unsigned char *buf, const char *sub,
                        size_t sublen, double now) {
  json_t *p = segment_object(seg, n, buf), *v;
  int r = JWT_HS256_OK;
  if (!p) return JWT_HS256_E_CLAIMS;
  v = json_object_get(p, "sub");
  if (!json_is_string(v) || json_string_length(v) != sublen ||
      memcmp(json_string_value(v), sub, sublen) != 0) {
    r = JWT_HS256_E_SUB;
    goto out;
  }
  v = json_object_get(p, "exp");
  if (!json_is_number(v)) {
    r = JWT_HS256_E_EXP;
    goto out;
  }
  if (!(json_number_value(v) > now)) {
    r = JWT_HS256_E_EXPIRED;
    goto out;
  }
  v = json_object_get(p, "nbf");
  if (v && (!json_is_number(v) || !(json_number_value(v) <= now))) r = JWT_HS256_E_NBF;
out:
  json_decref(p);
  return r;
}

int jwt_hs256_verify(const char *token, size_t len, const void *key, size_t keylen, const char *sub,
                     size_t sublen, double now) {
  unsigned char buf[JWT_HS256_MAX_LEN * 3 / 4 + 4];
  unsigned char mac[SIG_LEN];
  const char *d1, *d2, *sig;
  size_t hlen, plen, slen;
  long dl;
  int r, diff;

  if (!token || len == 0 || len > JWT_HS256_MAX_LEN) return JWT_HS256_E_LENGTH;
  d1 = memchr(token, '.', len);
  if (!d1) return JWT_HS256_E_FORMAT;
  d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token));
  if (!d2) return JWT_HS256_E_FORMAT;
  sig = d2 + 1;
  hlen = (size_t)(d1 - token);
  plen = (size_t)(d2 - d1 - 1);
  slen = len - (size_t)(sig - token);
  if (memchr(sig, '.', slen) || hlen == 0 || plen == 0) return JWT_HS256_E_FORMAT;
  /* The payload must be well-formed base64url too, but it is decoded only
   * after the signature matched; check its alphabet now so a garbage
   * payload is a format error whatever the signature. */
  for (size_t i = 0; i < plen; i++)
    if (b64url_val(d1[1 + i]) < 0) return JWT_HS256_E_FORMAT;

  if ((r = check_header(token, hlen, buf)) != JWT_HS256_OK) return r;

  dl = b64url_decode(sig, slen, buf);
  if (dl < 0) return JWT_HS256_E_FORMAT;
  if (hmac_sha256(key, keylen, token, (size_t)(d2 - token), mac) != 0) return JWT_HS256_E_NOMEM;
  /* The length of a signature is public (always 32); its bytes are
   * compared in constant time. */
  diff = dl != SIG_LEN || CRYPTO_memcmp(buf, mac, SIG_LEN) != 0;
  OPENSSL_cleanse(mac, sizeof mac);
  if (diff) return JWT_HS256_E_SIGNATURE;

  return check_claims(d1 + 1, plen, buf, sub, sublen, now);
}

long jwt_hs256_sign(const void *key, size_t keylen, const char *sub, size_t sublen, long long iat,
                    long long exp, char *out, size_t cap) {
  static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
  unsigned char mac[SIG_LEN];
  json_t *claims;
  char *payload;
  size_t plen, need, o;

  claims = json_pack("{s:s%,s:I,s:I}", "sub", sub, sublen, "iat", (json_int_t)iat, "exp",
                     (json_int_t)exp);
  if (!claims) return JWT_HS256_E_NOMEM;
  payload = json_dumps(claims, JSON_COMPACT);
  json_decref(claims);
  if (!payload) return JWT_HS256_E_NOMEM;
  plen = strlen(payload);
  need = ((sizeof header - 1) * 4 + 2) / 3 + 1 + (plen * 4 + 2) / 3 + 1 + (SIG_LEN * 4 + 2) / 3 + 1;
  if (need > cap) {
    free(payload);
    return JWT_HS256_E_LENGTH;
  }
  o = b64url_encode((const unsigned char *)header, sizeof header - 1, out);
  out[o++] = '.';
  o += b64url_encode((const unsigned char *)payload, plen, out + o);
  free(payload);
  if (hmac_sha256(key, keylen, out, o, mac) != 0) return JWT_HS256_E_NOMEM;
  out[o++] = '.';
  o += b64url_encode(mac, SIG_LEN, out + o);
  OPENSSL_cleanse(mac, sizeof mac);
  return (long)o;
}

const char *jwt_hs256_strerror(int code) {
  switch (code) {
  case JWT_HS256_OK: return "ok";
  case JWT_HS256_E_LENGTH: return "token empty or too long";
  case JWT_HS256_E_FORMAT: return "malformed token";
  case JWT_HS256_E_ALG: return "algorithm is not HS256";
  case JWT_HS256_E_SIGNATURE: return "bad signature";
  case JWT_HS256_E_CLAIMS: return "claims are not a JSON object";
  case JWT_HS256_E_SUB: return "sub does not match the client id";
  case JWT_HS256_E_EXP: return "exp missing or not a number";
  case JWT_HS256_E_EXPIRED: return "token expired";
  case JWT_HS256_E_NBF: return "token not yet valid (nbf)";
  case JWT_HS256_E_NOMEM: return "out of memory";
  default: return "unknown error";
  }
}
