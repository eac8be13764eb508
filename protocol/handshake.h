/* The pure parts of the HTTP/1.1 -> WebSocket upgrade (RFC 6455 4.2):
 * request validation, the accept key, header token lists, client ids,
 * percent-decoding, the Origin rule of PROTOCOL.md section 2, and the
 * permessage-deflate offer (RFC 7692). No I/O; every function is linear in
 * its input. */
#ifndef FASTWS_HANDSHAKE_H
#define FASTWS_HANDSHAKE_H

#include <stddef.h>

#include "slice.h"

#define WS_ACCEPT_KEY_LEN 28 /* base64 of a SHA-1 digest */
#define WS_ID_MAX         64

/* The fields of a parsed request that the upgrade checks read. A header
 * that occurs several times arrives joined with ", " (RFC 9110 5.3). An
 * absent header is a slice with base == NULL. */
typedef struct {
  slice_t method;
  int http_major, http_minor;
  slice_t upgrade;    /* Upgrade */
  slice_t connection; /* Connection */
  slice_t key;        /* Sec-WebSocket-Key */
  slice_t version;    /* Sec-WebSocket-Version */
} ws_upgrade_req_t;

/* Checks RFC 6455 4.2.1: GET, HTTP/1.1 or later, Upgrade: websocket
 * (case-insensitive token), Connection containing the token "Upgrade", a
 * key that base64-decodes to exactly 16 bytes, version 13. Returns 0 when
 * the request may be upgraded, 426 for a missing or wrong version (the
 * answer then carries Sec-WebSocket-Version: 13), 400 for any other fault. */
int ws_handshake_check(const ws_upgrade_req_t *req);

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)). Writes 28
 * characters and a NUL to out. Returns 0, or -1 if the digest failed. */
int ws_accept_key(const char *key, size_t len, char out[WS_ACCEPT_KEY_LEN + 1]);

/* 1 when the comma-separated list (RFC 9110 5.6.1, optional whitespace
 * around items) contains token, compared case-insensitively; else 0. */
int http_token_list_has(slice_t list, const char *token);

/* 1 when s is 1..64 characters of A-Z a-z 0-9 _ - . ; else 0. The same
 * rule holds for room names. */
int ws_id_valid(const char *s, size_t n);

/* Percent-decodes in[0..n) into out (capacity cap; out may equal in).
 * Returns the decoded length, or -1 for a malformed escape, a decoded NUL,
 * or output longer than cap. '+' is left as is (it is a path). */
long url_percent_decode(const char *in, size_t n, char *out, size_t cap);

/* Looks up a query parameter in a raw query string (without '?'),
 * percent-decodes its value into out (capacity cap, NUL-terminated).
 * Returns the decoded length, -1 when absent, -2 when malformed or too long. */
long url_query_param(slice_t query, const char *name, char *out, size_t cap);

/* The Origin rule of PROTOCOL.md section 2.
 * allowed: the configured list (n entries, each "scheme://host[:port]" or
 * "*"); n == 0 means "same host only". origin/host: the request's headers
 * (base NULL when absent). tls: the listener speaks TLS (gives the default
 * port of the Host header). Returns 1 when the request may go on, 0 for 403.
 * With n == 0: no Origin passes; an Origin whose host and port (defaults
 * 80/443 by its scheme) equal the Host header's (default port by tls)
 * passes, host compared case-insensitively; anything else fails. With a
 * list: "*" passes all, so does a request without Origin (not a browser);
 * else an exact, case-insensitive match of the whole origin with an entry
 * (a default port written or not counts the same). */
int ws_origin_allowed(slice_t origin, slice_t host, int tls, const char *const *allowed, size_t n);

/* permessage-deflate (RFC 7692) negotiation. Parses a
 * Sec-WebSocket-Extensions value strictly: offers are tried in order, and
 * the first permessage-deflate offer whose parameters are all known, not
 * duplicated and in range (client_max_window_bits with no value or 8..15,
 * server_max_window_bits 8..15, *_no_context_takeover without value) is
 * taken, unless it names server_max_window_bits at all: below 15 our shared
 * compressor (15 bits) cannot honour it, and at 15 RFC 7692 7.1.2.1 wants
 * it echoed, which the fixed answer does not. A malformed offer is declined
 * and the next one tried. Returns 1 when accepted (the answer is then
 * always WS_PMD_RESPONSE), 0 otherwise (also when no offer is usable). */
int ws_pmd_negotiate(slice_t extensions);

#define WS_PMD_RESPONSE "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

#endif
