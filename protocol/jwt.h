/* HS256 JSON Web Tokens (RFC 7519 over RFC 7515 compact JWS), as the
 * upgrade check of PROTOCOL.md section 2 needs them: verify a token for one
 * client id, and sign one (for `fastwsd token`). Pure: no I/O, no globals,
 * no clock (the caller passes "now").
 *
 * Not libjwt: libjwt 1.10 (Debian 12) takes the algorithm from the token's
 * own header and cannot be told "HS256 only" up front, and jwt_decode
 * JSON-parses the claims before it checks the signature. Here the alg is
 * pinned, the signature is checked (CRYPTO_memcmp) before the payload is
 * even base64-decoded, and every claim's type is checked. */
#ifndef FASTWS_JWT_H
#define FASTWS_JWT_H

#include <stddef.h>

#define JWT_HS256_MAX_LEN 4096 /* longer tokens are refused unread */

/* Results of jwt_hs256_verify: 0 or one of these. */
enum {
  JWT_HS256_OK = 0,
  JWT_HS256_E_LENGTH = -1,    /* empty, or longer than JWT_HS256_MAX_LEN */
  JWT_HS256_E_FORMAT = -2,    /* not three base64url segments, header not a JSON object */
  JWT_HS256_E_ALG = -3,       /* header alg is not exactly "HS256", or has "crit" */
  JWT_HS256_E_SIGNATURE = -4, /* HMAC-SHA256 does not match */
  JWT_HS256_E_CLAIMS = -5,    /* payload is not a JSON object (after a valid signature) */
  JWT_HS256_E_SUB = -6,       /* sub absent, not a string, or not the client id */
  JWT_HS256_E_EXP = -7,       /* exp absent or not a number */
  JWT_HS256_E_EXPIRED = -8,   /* exp <= now */
  JWT_HS256_E_NBF = -9,       /* nbf not a number, or nbf > now */
  JWT_HS256_E_NOMEM = -10,
};

/* Verifies token[0..len) (need not be NUL-terminated) with key[0..keylen),
 * in this order: length, three segments of strict base64url (no padding,
 * no stray bits), header a JSON object with alg exactly "HS256" and no
 * "crit", then the signature (32 bytes, constant-time compare) over
 * "header.payload", and only then the claims: sub a string equal to
 * sub[0..sublen), exp a number > now, nbf (optional) a number <= now. Other
 * claims (iat, ...) are ignored. now: seconds since the epoch. Returns
 * JWT_HS256_OK or the first failing JWT_HS256_E_*. */
int jwt_hs256_verify(const char *token, size_t len, const void *key, size_t keylen, const char *sub,
                     size_t sublen, double now);

/* Writes a signed token {"alg":"HS256","typ":"JWT"}.{"sub":..,"iat":..,
 * "exp":..} and a NUL to out (capacity cap). Returns its length, or
 * JWT_HS256_E_LENGTH when it does not fit, JWT_HS256_E_NOMEM. */
long jwt_hs256_sign(const void *key, size_t keylen, const char *sub, size_t sublen, long long iat,
                    long long exp, char *out, size_t cap);

/* A short English reason for a result code ("bad signature", ...). */
const char *jwt_hs256_strerror(int code);

#endif
