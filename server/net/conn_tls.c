/* The TLS stream behind conn_io_t: the same output queue, encrypted on
 * its way out.
 *
 * c->out holds plaintext (so send limits and the send-queue gauge count
 * what the application queued); a flush encrypts up to TLS_FLUSH_MAX of it
 * into the loop's staging buffer, consumes it from c->out, and writes the
 * ciphertext at once. What the kernel does not take is copied into
 * c->tls->cq (c->wq) and written by one uv_write; nothing more is
 * encrypted until it is done. */
#include <string.h>

#include "server/net/conn_io.h"
#include "server/net/tls.h"
#include "server/util/log.h"

#define WRITE_BATCH 64
/* Plaintext encrypted per flush round: bounds the ciphertext that leaves
 * the queue (and its byte accounting) before the kernel has taken it. */
#define TLS_FLUSH_MAX (64 * 1024)

/* Sends what the last tls_* call staged for c (handshake flights, alerts,
 * records): straight to the kernel when nothing is queued before it, else
 * behind the queued ciphertext. Always empties the stage. */
static void tls_emit(conn_t *c) {
  uint8_t *p;
  size_t n = tls_staged(c->tls, &p);
  if (n == 0) return;
  if (c->state >= CONN_CLOSED) goto done;
  if (!c->writing && c->tls->cq.count == 0) {
    uv_buf_t buf = uv_buf_init((char *)p, (unsigned)n);
    int r = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
    if (r == UV_EAGAIN) r = 0;
    if (r < 0) {
      conn_close(c, CONN_CLOSE_ABORT);
      goto done;
    }
    p += r;
    n -= (size_t)r;
  }
  if (n) {
    obuf_t *b = obuf_from(p, n);
    if (!b || outq_push(&c->tls->cq, b) != 0) {
      obuf_unref(b);
      conn_close(c, CONN_CLOSE_ABORT);
      goto done;
    }
    obuf_unref(b);
    if (!c->writing) conn__write_queue(c, &c->tls->cq);
  }
done:
  tls_staged_clear(c->tls);
}

/* Encrypts up to TLS_FLUSH_MAX bytes of c->out, in records of up to 16 KiB
 * (small queued buffers coalesced into one record), into the stage. 0, or
 * -1 on a TLS failure. */
static int encrypt_some(conn_t *c) {
  size_t budget = TLS_FLUSH_MAX;
  while (c->out.count && budget) {
    uv_buf_t bufs[WRITE_BATCH];
    size_t n = outq_peek(&c->out, bufs, WRITE_BATCH), len, i;
    const void *p;
    int r;
    if (n == 1 || bufs[0].len >= TLS_RECORD_MAX) {
      p = bufs[0].base;
      len = bufs[0].len;
    } else {
      uint8_t *sc = tls_scratch(c->tls);
      len = 0;
      for (i = 0; i < n && len < TLS_RECORD_MAX; i++) {
        size_t k = bufs[i].len < TLS_RECORD_MAX - len ? bufs[i].len : TLS_RECORD_MAX - len;
        memcpy(sc + len, bufs[i].base, k);
        len += k;
      }
      p = sc;
    }
    if ((r = tls_write(c->tls, p, len)) <= 0) return -1;
    conn__consume(c, (uint64_t)r);
    budget -= (size_t)r < budget ? (size_t)r : budget;
  }
  return 0;
}

static void tls_flush(conn_t *c) {
  char peer[64], why[128];
  for (;;) {
    if (c->tls->cq.count) {
      if (conn__write_queue(c, &c->tls->cq) != 0) return; /* in flight, or aborted */
      continue;
    }
    /* Nothing is queued before the handshake is done; guard anyway. */
    if (!c->out.count || !c->tls->handshake_done) break;
    if (encrypt_some(c) != 0) {
      log_info("TLS write to %s failed: %s", conn_peer_str(c, peer, sizeof peer),
               tls_error(why, sizeof why));
      tls_staged_clear(c->tls);
      conn_close(c, CONN_CLOSE_ABORT);
      return;
    }
    tls_emit(c);
    if (c->state >= CONN_CLOSED || c->writing) return;
  }
  if (!c->out.count) conn__flushed(c);
}

/* Each chunk of plaintext: what the handshake staged (tickets...) leaves
 * first, since the handler may flush other TLS connections, which use the
 * stage. */
static int on_plain(void *arg, uint8_t *p, size_t n) {
  conn_t *c = arg;
  tls_emit(c);
  return conn__deliver(c, p, n);
}

static void tls_on_read(conn_t *c, const uint8_t *p, size_t n) {
  char peer[64], why[128], desc[128];
  int was_done = c->tls->handshake_done;
  int r = tls_read(c->tls, p, n, on_plain, c);
  if (r == TLS_ERROR) {
    /* A scanner, a plain-HTTP client, an old protocol version: the peer's
     * problem, not ours, so info. The alert OpenSSL staged goes out first. */
    log_info("TLS %s with %s failed: %s", was_done ? "connection" : "handshake",
             conn_peer_str(c, peer, sizeof peer), tls_error(why, sizeof why));
    tls_emit(c);
    conn_close(c, CONN_CLOSE_ABORT);
    return;
  }
  if (!was_done && c->tls->handshake_done && log_enabled(LOG_DEBUG))
    log_debug("TLS handshake with %s: %s", conn_peer_str(c, peer, sizeof peer),
              tls_describe(c->tls, desc, sizeof desc));
  tls_emit(c);
  if (r == TLS_CLOSED) {
    /* close_notify: the peer sends nothing more; like a FIN. */
    c->peer_gone = 1;
    conn_close(c, CONN_CLOSE_ABORT);
  }
}

/* close_notify goes out first (best effort when aborting: only what the
 * kernel takes at once). */
static void tls_goodbye(conn_t *c) {
  tls_shutdown(c->tls);
  tls_emit(c);
}

const conn_io_t conn_io_tls = {tls_on_read, tls_flush, tls_goodbye};
