/* TLS on every listener when [tls] cert and key are set (HTTPS + wss).
 *
 * OpenSSL never touches the socket. Each connection's SSL object reads and
 * writes through one small BIO over memory: ciphertext that libuv read into
 * the server's read buffer is lent to the BIO for the length of one
 * tls_read call, and whatever OpenSSL writes (records, handshake flights,
 * alerts) is appended to one staging buffer shared by the loop, which the
 * caller (conn.c) hands to the socket right after each call. So neither
 * plaintext nor ciphertext stays with a connection between reads, except
 * ciphertext the kernel did not take yet (tls_conn_t.cq).
 *
 * Settings: TLS 1.2 and 1.3 only, OpenSSL's default cipher lists with the
 * server's preference, no compression, no renegotiation, ALPN "http/1.1"
 * (a client that offers ALPN without http/1.1 gets no ALPN answer, NOACK,
 * and the handshake goes on: HTTP/1.1 is all we speak anyway), default
 * session tickets, SSL_MODE_RELEASE_BUFFERS so an idle connection holds no
 * record buffers. */
#ifndef FASTWS_TLS_H
#define FASTWS_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "server/net/obuf.h"

#define TLS_RECORD_MAX 16384 /* plaintext bytes in one record */

/* One SSL_CTX (certificate, key, settings). Owned by the server; SSL
 * objects made from it hold their own reference, so freeing (or replacing
 * on reload) the context leaves open connections working. */
typedef struct tls_ctx_s tls_ctx_t;

/* The loop's shared buffers: staged ciphertext, decrypted plaintext and a
 * scratch buffer to coalesce small writes. Owned by the server. */
typedef struct tls_io_s tls_io_t;

/* A connection's TLS state. Owned by its conn_t; tls_conn_free. */
typedef struct tls_conn_s {
  struct ssl_st *ssl;
  tls_io_t *io;
  const uint8_t *in; /* ciphertext lent by tls_read, eaten by the BIO */
  size_t in_len;
  outq_t cq; /* ciphertext the kernel has not taken yet */
  unsigned handshake_done : 1;
  unsigned shutdown_sent : 1;
} tls_conn_t;

enum { TLS_OK = 0, TLS_CLOSED = 1, TLS_ERROR = -1 };

/* Builds a context from cfg's tls_cert / tls_key. *out is NULL when TLS is
 * off (either is empty). 0, or -1 with a message in err (the file, and
 * OpenSSL's reason). */
int tls_ctx_new(const config_t *cfg, tls_ctx_t **out, char *err, size_t errlen);

/* Drops the server's reference (NULL is fine). */
void tls_ctx_free(tls_ctx_t *ctx);

tls_io_t *tls_io_new(void);
void tls_io_free(tls_io_t *io);

/* A new server-side connection state, or NULL on ENOMEM. */
tls_conn_t *tls_conn_new(tls_ctx_t *ctx, tls_io_t *io);
void tls_conn_free(tls_conn_t *t);

/* Called with each chunk of plaintext (in the loop's shared buffer, valid
 * only during the call). Returns nonzero to stop reading (the connection
 * is going away). The stage may hold this connection's output (handshake
 * messages): the callback sends it first if it may call tls_write or
 * tls_shutdown on any connection; it never calls tls_read. */
typedef int (*tls_plain_cb)(void *arg, uint8_t *data, size_t len);

/* Feeds ciphertext: drives the handshake, then decrypts everything
 * available, handing it to cb. Output it causes (handshake flights,
 * alerts, tickets) is staged: the caller sends tls_staged() next.
 * TLS_OK; TLS_CLOSED after the peer's close_notify; TLS_ERROR on a
 * handshake or record failure (tls_error() tells why). */
int tls_read(tls_conn_t *t, const uint8_t *in, size_t len, tls_plain_cb cb, void *arg);

/* Encrypts up to TLS_RECORD_MAX bytes as one record into the staging
 * buffer. Returns the bytes taken (> 0) or TLS_ERROR. Only after the
 * handshake is done. */
int tls_write(tls_conn_t *t, const void *p, size_t len);

/* Stages close_notify (once). */
void tls_shutdown(tls_conn_t *t);

/* The staged ciphertext for t (which must be the connection of the last
 * tls_* call) and its length; tls_staged_clear empties the stage. */
size_t tls_staged(tls_conn_t *t, uint8_t **p);
void tls_staged_clear(tls_conn_t *t);

/* A TLS_RECORD_MAX scratch buffer to coalesce small writes into. */
uint8_t *tls_scratch(tls_conn_t *t);

/* Why the last call failed ("unsupported protocol", "http request"...),
 * in buf; clears OpenSSL's error queue. */
const char *tls_error(char *buf, size_t len);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384", for logs. */
const char *tls_describe(const tls_conn_t *t, char *buf, size_t len);

#endif
