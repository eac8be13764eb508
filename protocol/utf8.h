/* Incremental UTF-8 validation (RFC 3629), for WebSocket text frames.
 *
 * Pure: no allocation, no I/O. The validator may be fed any split of the
 * input, so a sequence cut across frames or reads is handled, and it fails
 * as soon as a byte makes the input invalid (fail fast, RFC 6455 8.1):
 * overlong forms, UTF-16 surrogates (U+D800..U+DFFF) and code points above
 * U+10FFFF are all rejected.
 */
#ifndef FASTWS_UTF8_H
#define FASTWS_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Owned by whoever embeds it; needs no free. Zero-initialised == fresh. */
typedef struct {
  uint32_t state; /* 0 = at a character boundary; other values: mid-sequence */
} utf8_validator_t;

void utf8_init(utf8_validator_t *v);

/* Feeds n bytes. Returns 0 while the input so far is a valid prefix of UTF-8
 * (possibly ending mid-sequence), -1 at the first invalid byte. After -1 the
 * validator stays failed until utf8_init. */
int utf8_feed(utf8_validator_t *v, const uint8_t *p, size_t n);

/* 1 when the input fed so far ends on a character boundary (a complete
 * message), 0 when it ends inside a sequence or has failed. */
int utf8_complete(const utf8_validator_t *v);

/* One-shot check of a whole buffer: 0 valid, -1 invalid or truncated. */
int utf8_validate(const uint8_t *p, size_t n);

#endif
