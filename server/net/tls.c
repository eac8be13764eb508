#include "server/net/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tls_ctx_s {
  SSL_CTX *ssl_ctx;
};

struct tls_io_s {
  BIO_METHOD *method; /* the memory BIO every connection uses */
  uint8_t *out;       /* staged ciphertext */
  size_t out_len, out_cap;
  const tls_conn_t *owner;         /* whose ciphertext is staged */
  uint8_t plain[TLS_RECORD_MAX];   /* one decrypted record at a time */
  uint8_t scratch[TLS_RECORD_MAX]; /* coalesced plaintext to encrypt */
};

/* ---- the BIO: reads from the lent input, writes to the stage ---- */

static int bio_write(BIO *b, const char *p, int n) {
  tls_conn_t *t = BIO_get_data(b);
  tls_io_t *io = t->io;
  BIO_clear_retry_flags(b);
  if (n <= 0) return 0;
  /* Never mix two connections' records: fail this one instead. */
  if (io->out_len && io->owner != t) return -1;
  io->owner = t;
  if (io->out_len + (size_t)n > io->out_cap) {
    size_t cap = io->out_cap ? io->out_cap : 16 * 1024;
    uint8_t *np;
    while (cap < io->out_len + (size_t)n)
      cap *= 2;
    if (!(np = realloc(io->out, cap))) return -1;
    io->out = np;
    io->out_cap = cap;
  }
  memcpy(io->out + io->out_len, p, (size_t)n);
  io->out_len += (size_t)n;
  return n;
}

static int bio_read(BIO *b, char *p, int n) {
  tls_conn_t *t = BIO_get_data(b);
  size_t k;
  BIO_clear_retry_flags(b);
  if (n <= 0) return 0;
  if (t->in_len == 0) {
    BIO_set_retry_read(b); /* no more input this time: WANT_READ */
    return -1;
  }
  k = t->in_len < (size_t)n ? t->in_len : (size_t)n;
  memcpy(p, t->in, k);
  t->in += k;
  t->in_len -= k;
  return (int)k;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)b;
  (void)num;
  (void)ptr;
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

tls_io_t *tls_io_new(void) {
  tls_io_t *io = calloc(1, sizeof *io);
  if (!io) return NULL;
  io->method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "fastwsd memory");
  if (!io->method || !BIO_meth_set_write(io->method, bio_write) ||
      !BIO_meth_set_read(io->method, bio_read) || !BIO_meth_set_ctrl(io->method, bio_ctrl) ||
      !BIO_meth_set_create(io->method, bio_create)) {
    tls_io_free(io);
    return NULL;
  }
  return io;
}

void tls_io_free(tls_io_t *io) {
  if (!io) return;
  BIO_meth_free(io->method);
  free(io->out);
  free(io);
}

/* ---- the context ---- */

static const unsigned char alpn_http11[] = "\x08http/1.1";

/* HTTP/1.1 is the only protocol we speak: select it when offered; a client
 * offering only others (h2 alone, say) gets no ALPN extension back (NOACK)
 * rather than a fatal alert, and may still talk HTTP/1.1 or give up. */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg) {
  unsigned char *sel = NULL;
  (void)ssl;
  (void)arg;
  if (SSL_select_next_proto(&sel, outlen, alpn_http11, sizeof alpn_http11 - 1, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

const char *tls_error(char *buf, size_t len) {
  unsigned long e = ERR_peek_last_error();
  const char *r = e ? ERR_reason_error_string(e) : NULL;
  if (r)
    snprintf(buf, len, "%s", r);
  else if (e)
    snprintf(buf, len, "error %lx", e);
  else
    snprintf(buf, len, "unknown error");
  ERR_clear_error();
  return buf;
}

int tls_ctx_new(const config_t *cfg, tls_ctx_t **out, char *err, size_t errlen) {
  tls_ctx_t *t;
  SSL_CTX *ctx;
  char why[256];
  *out = NULL;
  if (!cfg->tls_cert || !cfg->tls_key || !*cfg->tls_cert || !*cfg->tls_key) return 0;
  ERR_clear_error();
  if (!(t = calloc(1, sizeof *t)) || !(ctx = SSL_CTX_new(TLS_server_method()))) {
    free(t);
    snprintf(err, errlen, "TLS: cannot create a context: %s", tls_error(why, sizeof why));
    return -1;
  }
  t->ssl_ctx = ctx;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
                               SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
  if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
    snprintf(err, errlen, "TLS: cannot load certificate %s: %s", cfg->tls_cert,
             tls_error(why, sizeof why));
    goto fail;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1) {
    snprintf(err, errlen, "TLS: cannot load key %s: %s", cfg->tls_key, tls_error(why, sizeof why));
    goto fail;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    snprintf(err, errlen, "TLS: key %s does not match certificate %s: %s", cfg->tls_key,
             cfg->tls_cert, tls_error(why, sizeof why));
    goto fail;
  }
  *out = t;
  return 0;
fail:
  tls_ctx_free(t);
  return -1;
}

void tls_ctx_free(tls_ctx_t *ctx) {
  if (!ctx) return;
  SSL_CTX_free(ctx->ssl_ctx); /* open connections keep their own reference */
  free(ctx);
}

/* ---- connections ---- */

tls_conn_t *tls_conn_new(tls_ctx_t *ctx, tls_io_t *io) {
  tls_conn_t *t = calloc(1, sizeof *t);
  BIO *b;
  if (!t) return NULL;
  t->io = io;
  if (!(t->ssl = SSL_new(ctx->ssl_ctx)) || !(b = BIO_new(io->method))) {
    SSL_free(t->ssl);
    free(t);
    ERR_clear_error();
    return NULL;
  }
  BIO_set_data(b, t);
  SSL_set_bio(t->ssl, b, b); /* the SSL owns the BIO */
  SSL_set_accept_state(t->ssl);
  return t;
}

void tls_conn_free(tls_conn_t *t) {
  if (!t) return;
  if (t->io->owner == t) {
    t->io->out_len = 0;
    t->io->owner = NULL;
  }
  SSL_free(t->ssl);
  outq_free(&t->cq);
  free(t);
}

int tls_read(tls_conn_t *t, const uint8_t *in, size_t len, tls_plain_cb cb, void *arg) {
  int rc = TLS_OK;
  t->in = in;
  t->in_len = len;
  ERR_clear_error();
  if (!t->handshake_done) {
    int r = SSL_do_handshake(t->ssl);
    if (r != 1) {
      int e = SSL_get_error(t->ssl, r);
      rc = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? TLS_OK : TLS_ERROR;
      goto out;
    }
    t->handshake_done = 1;
  }
  for (;;) {
    size_t before = t->in_len;
    int r = SSL_read(t->ssl, t->io->plain, sizeof t->io->plain);
    if (r > 0) {
      if (cb(arg, t->io->plain, (size_t)r)) break;
      continue;
    }
    switch (SSL_get_error(t->ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      /* Normally the input is all eaten by now; if not (and the last call
       * made progress), go on. */
      if (t->in_len > 0 && t->in_len < before) continue;
      break;
    case SSL_ERROR_ZERO_RETURN: rc = TLS_CLOSED; break;
    default: rc = TLS_ERROR; break;
    }
    break;
  }
out:
  /* Input not eaten (we stopped early) is dropped with the connection. */
  t->in = NULL;
  t->in_len = 0;
  return rc;
}

int tls_write(tls_conn_t *t, const void *p, size_t len) {
  int r;
  if (len > TLS_RECORD_MAX) len = TLS_RECORD_MAX;
  if (len == 0) return 0;
  ERR_clear_error();
  r = SSL_write(t->ssl, p, (int)len);
  return r > 0 ? r : TLS_ERROR;
}

void tls_shutdown(tls_conn_t *t) {
  if (t->shutdown_sent || !t->handshake_done) return;
  t->shutdown_sent = 1;
  ERR_clear_error();
  SSL_shutdown(t->ssl); /* 0: close_notify staged; we do not wait for the peer's */
  /* RELEASE_BUFFERS frees the record buffer after application data but not
   * after an alert: without this a lingering connection would keep 16 KiB. */
  SSL_free_buffers(t->ssl);
  ERR_clear_error();
}

size_t tls_staged(tls_conn_t *t, uint8_t **p) {
  *p = t->io->out;
  return t->io->owner == t ? t->io->out_len : 0;
}

void tls_staged_clear(tls_conn_t *t) {
  if (t->io->owner == t) t->io->out_len = 0;
}

uint8_t *tls_scratch(tls_conn_t *t) {
  return t->io->scratch;
}

const char *tls_describe(const tls_conn_t *t, char *buf, size_t len) {
  const unsigned char *alpn = NULL;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(t->ssl, &alpn, &alpn_len);
  snprintf(buf, len, "%s %s%s%.*s", SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl),
           alpn_len ? " alpn " : "", (int)alpn_len, alpn ? (const char *)alpn : "");
  return buf;
}
