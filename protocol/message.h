/* The chat protocol's JSON (PROTOCOL.md section 3): decoding a client
 * message and encoding the server's envelope with its exact key order and
 * timestamp format. Pure: jansson, libc, no I/O. */
#ifndef FASTWS_MESSAGE_H
#define FASTWS_MESSAGE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define MSG_TIMESTAMP_LEN 32 /* "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" */

/* A growable byte buffer. Owned by whoever declares it; strbuf_free
 * releases. Zero-initialised == empty. */
typedef struct {
  char *buf;
  size_t len, cap;
} strbuf_t;

int strbuf_reserve(strbuf_t *b, size_t extra); /* 0, or -1 on ENOMEM */
int strbuf_append(strbuf_t *b, const void *p, size_t n);
void strbuf_free(strbuf_t *b);

enum {
  MSG_OK = 0,
  MSG_INVALID_JSON = -1,    /* not JSON at all */
  MSG_INVALID_MESSAGE = -2, /* JSON, but not an object or no string "type" */
};

/* A decoded client message. Owned by the caller; msg_in_free releases. */
typedef struct {
  json_t *root;     /* the whole object (owned) */
  const char *type; /* root.type, borrowed from root */
  size_t type_len;
  json_t *data;         /* root.data, borrowed; NULL when absent */
  json_t *recipient_id; /* root.recipient_id, else data.recipient_id when data is an
                           object; borrowed, NULL when absent; not validated */
  json_t *room;         /* root.room, borrowed, NULL when absent; not validated */
} msg_in_t;

/* Decodes one client text message. Returns MSG_OK, MSG_INVALID_JSON or
 * MSG_INVALID_MESSAGE; on error *why (if not NULL) points at a static,
 * human-readable reason and out holds nothing to free. */
int msg_decode(const char *text, size_t len, msg_in_t *out, const char **why);
void msg_in_free(msg_in_t *m);

/* Formats a UTC time given in microseconds since the epoch as
 * "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" (always 6 fractional digits) plus NUL. */
void msg_timestamp(int64_t unix_usec, char out[MSG_TIMESTAMP_LEN + 1]);

/* Appends the envelope
 *   {"type":T,"data":D,"client_id":C[,"room":R],"timestamp":"TS"}
 * to out, compact (no spaces, like Python's separators=(",",":")), UTF-8 as
 * is (not \u-escaped). data NULL encodes as null; client_id NULL as null;
 * room NULL omits the key. Reals are written in the shortest form that
 * reads back to the same double, as Python's repr does (1.0, 0.1, 1e+16).
 * Returns 0, or -1 on ENOMEM or an unencodable value (out then unchanged
 * in length). */
int msg_envelope_encode(strbuf_t *out, const char *type, size_t type_len, const json_t *data,
                        const char *client_id, const char *room, const char *timestamp);

/* Appends any JSON value compactly with the rules above. 0 or -1. */
int msg_json_encode(strbuf_t *out, const json_t *v);

/* Appends s[0..n) as a JSON string literal (quotes included). 0 or -1. */
int msg_json_string(strbuf_t *out, const char *s, size_t n);

#endif
