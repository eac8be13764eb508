#include "server/net/conn.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/http.h"
#include "server/util/log.h"
#include "server/net/tls.h"
#include "server/ws/ws.h"

uint64_t conn_queued_total;

#define WRITE_BATCH 64
/* Plaintext a TLS connection encrypts per flush round: bounds the
 * ciphertext that leaves the queue (and its byte accounting) before the
 * kernel has taken it. */
#define TLS_FLUSH_MAX (64 * 1024)

typedef struct {
  uv_write_t req;
  conn_t *conn;
  uint64_t bytes;
} write_req_t;

static void on_closed(uv_handle_t *h);
static void tls_on_read(conn_t *c, const uint8_t *p, size_t n);
static void tls_emit(conn_t *c);
static void tls_flush(conn_t *c);

/* Every connection reads into the server's one buffer: a read callback
 * consumes all it is given before returning, so no connection holds input
 * memory between reads (a partial frame is copied by the parser). */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  conn_t *c = h->data;
  (void)suggested;
  *buf = uv_buf_init((char *)c->srv->readbuf, sizeof c->srv->readbuf);
}

/* Hands bytes read (plaintext) to the current phase. Returns nonzero once
 * the connection is going away, so a TLS reader stops decrypting. */
static int deliver(void *arg, uint8_t *p, size_t n) {
  conn_t *c = arg;
  /* What the handshake staged (tickets...) leaves first: what follows may
   * flush other TLS connections (conn_send_obuf), which use the stage. */
  if (c->tls) tls_emit(c);
  if (c->teardown) return 1;
  if (c->state == CONN_HTTP)
    http_on_read(c, p, n);
  else
    ws_on_read(c, p, n);
  return c->teardown;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = st->data;
  if (n < 0) {
    ws_on_peer_gone(c);
    conn_abort(c);
    return;
  }
  if (n == 0 || c->teardown) return;
  c->srv->metrics.bytes_received += (uint64_t)n;
  if (c->tls)
    tls_on_read(c, (const uint8_t *)buf->base, (size_t)n);
  else
    deliver(c, (uint8_t *)buf->base, (size_t)n);
}

static void record_peer(conn_t *c) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0) return;
  if (ss.ss_family == AF_INET) {
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    memcpy(c->peer, &in->sin_addr, 4);
    c->peer_port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    memcpy(c->peer, &in6->sin6_addr, 16);
    c->peer_port = ntohs(in6->sin6_port);
  }
  c->peer_family = (uint8_t)ss.ss_family;
}

const char *conn_peer_str(const conn_t *c, char *buf, size_t len) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (c->peer_family) inet_ntop(c->peer_family, c->peer, ip, sizeof ip);
  snprintf(buf, len, c->peer_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, (unsigned)c->peer_port);
  return buf;
}

int conn_accept(server_t *s, uv_stream_t *listener) {
  conn_t *c = calloc(1, sizeof *c);
  int r;
  if (!c) return UV_ENOMEM;
  c->srv = s;
  uv_tcp_init(s->loop, &c->tcp);
  c->tcp.data = c;
  if ((r = uv_accept(listener, (uv_stream_t *)&c->tcp)) != 0) {
    uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
    return r;
  }
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->n_conns++;
  record_peer(c);
  uv_tcp_nodelay(&c->tcp, 1);
  c->state = CONN_HTTP;
  c->http = http_conn_new(c, s->cfg.max_header_size);
  if (s->tls && c->http) c->tls = tls_conn_new(s->tls, s->tls_io);
  if (!c->http || (s->tls && !c->tls)) {
    conn_abort(c);
    return UV_ENOMEM;
  }
  dl_touch(&s->handshake_dl, &c->timeout, uv_now(s->loop));
  if ((r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) != 0) {
    conn_abort(c);
    return r;
  }
  return 0;
}

static void mark_pending(conn_t *c) {
  if (c->pending) return;
  c->pending = 1;
  c->pending_next = c->srv->pending;
  c->srv->pending = c;
}

static int takes_output(const conn_t *c) {
  return !c->teardown && c->state != CONN_DEAD && !c->close_sent;
}

static void close_slow_consumer(conn_t *c) {
  char peer[64];
  log_info("closing %s (%s): slow consumer, %llu bytes queued", conn_peer_str(c, peer, sizeof peer),
           c->client.id ? c->client.id : "-", (unsigned long long)c->out.bytes);
  /* Behind a backlog the peer does not read, the close frame would never
   * arrive: drop what has not started to leave, then say why. */
  conn_queued_total -= outq_drop_tail(&c->out, c->inflight_entries);
  conn_close_ws(c, WS_CLOSE_POLICY, "slow consumer");
}

static int queue_obuf(conn_t *c, obuf_t *b) {
  if (outq_push(&c->out, b) != 0) {
    conn_abort(c);
    return -1;
  }
  conn_queued_total += b->len;
  mark_pending(c);
  return 0;
}

static void conn_flush(conn_t *c);

static int over_send_limit(const conn_t *c) {
  uint64_t max = c->srv->cfg.max_send_buffer;
  return c->state == CONN_WS && max && c->out.bytes > max;
}

int conn_send_obuf(conn_t *c, obuf_t *b) {
  if (!takes_output(c) || queue_obuf(c, b) != 0) return -1;
  if (over_send_limit(c)) {
    /* Output is corked until the end of the loop turn, so one read can
     * queue more than the limit for a reader that keeps up: give the
     * kernel what it takes now; only the backlog it refuses counts. */
    conn_flush(c);
    if (!takes_output(c)) return -1;
    if (over_send_limit(c)) {
      close_slow_consumer(c);
      return -1;
    }
  }
  return 0;
}

int conn_send_bytes(conn_t *c, const void *p, size_t n) {
  obuf_t *b;
  int r;
  if (!takes_output(c)) return -1;
  if (!(b = obuf_from(p, n))) {
    conn_abort(c);
    return -1;
  }
  r = conn_send_obuf(c, b);
  obuf_unref(b);
  return r;
}

static void consume(conn_t *c, uint64_t n) {
  outq_consume(&c->out, n);
  conn_queued_total -= n;
  c->srv->metrics.bytes_sent += n;
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  free(req);
}

/* Output is all written: finish whatever close was waiting for it. */
static void flushed(conn_t *c) {
  if (!c->close_after_flush) return;
  c->close_after_flush = 0;
  if (c->tls) {
    /* close_notify goes out first (best effort: on the abort path below
     * only what the kernel takes at once). */
    tls_shutdown(c->tls);
    tls_emit(c);
    if (c->teardown) return;
  }
  if (c->state == CONN_CLOSING && c->close_sent && !c->close_received) {
    /* Our close frame is out; the peer answers with its own close or its
     * FIN, which we wait for briefly (RFC 6455 7.1.1). */
    uv_shutdown_t *req = malloc(sizeof *req);
    if (req && uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) free(req);
    return;
  }
  conn_abort(c);
}

static void on_write(uv_write_t *req, int status) {
  write_req_t *w = (write_req_t *)req;
  conn_t *c = w->conn;
  free(w);
  c->writing = 0;
  if (c->state == CONN_DEAD) return;
  if (status < 0) {
    c->inflight = 0;
    c->inflight_entries = 0;
    conn_abort(c);
    return;
  }
  if (c->tls)
    outq_consume(&c->tls->cq, c->inflight); /* plaintext went at encryption */
  else
    consume(c, c->inflight);
  c->inflight = 0;
  c->inflight_entries = 0;
  if (c->out.count || (c->tls && c->tls->cq.count))
    mark_pending(c);
  else
    flushed(c);
}

static int start_write(conn_t *c, uv_buf_t *bufs, size_t n) {
  write_req_t *w = malloc(sizeof *w);
  size_t i;
  if (!w) return UV_ENOMEM;
  w->conn = c;
  w->bytes = 0;
  for (i = 0; i < n; i++)
    w->bytes += bufs[i].len;
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, (unsigned)n, on_write) != 0) {
    free(w);
    return UV_EIO;
  }
  c->writing = 1;
  c->inflight = w->bytes;
  c->inflight_entries = (uint32_t)n;
  return 0;
}

/* ---- TLS: the same queue, encrypted on its way out ----
 *
 * c->out holds plaintext (so max_send_buffer and the send-queue gauge count
 * what the application queued); a flush encrypts up to TLS_FLUSH_MAX of it
 * into the loop's staging buffer, consumes it from c->out, and writes the
 * ciphertext at once. What the kernel does not take is copied into c->tls->cq
 * and written by one uv_write; nothing more is encrypted until it is done. */

/* Writes q (c->out, or the TLS ciphertext queue): what the kernel takes
 * now in one writev of up to WRITE_BATCH buffers, the rest by one uv_write
 * that completes when the socket drains. 0 when all is written, 1 when a
 * write is in flight, -1 after aborting. */
static int write_queue(conn_t *c, outq_t *q) {
  uv_buf_t bufs[WRITE_BATCH];
  while (q->count) {
    size_t n = outq_peek(q, bufs, WRITE_BATCH), i;
    uint64_t want = 0;
    int r;
    for (i = 0; i < n; i++)
      want += bufs[i].len;
    r = uv_try_write((uv_stream_t *)&c->tcp, bufs, (unsigned)n);
    if (r == UV_EAGAIN) r = 0;
    if (r < 0) {
      conn_abort(c);
      return -1;
    }
    if (q == &c->out)
      consume(c, (uint64_t)r);
    else
      outq_consume(q, (uint64_t)r);
    if ((uint64_t)r < want) {
      n = outq_peek(q, bufs, WRITE_BATCH);
      if (start_write(c, bufs, n) != 0) {
        conn_abort(c);
        return -1;
      }
      if (q != &c->out) c->inflight_entries = 0; /* none of c->out is in flight */
      return 1;
    }
  }
  return 0;
}

static int tls_write_cipher(conn_t *c) {
  return write_queue(c, &c->tls->cq);
}

/* Sends what the last tls_* call staged for c (handshake flights, alerts,
 * records): straight to the kernel when nothing is queued before it, else
 * behind the queued ciphertext. Always empties the stage. */
static void tls_emit(conn_t *c) {
  uint8_t *p;
  size_t n = tls_staged(c->tls, &p);
  if (n == 0) return;
  if (c->teardown || c->state == CONN_DEAD) goto done;
  if (!c->writing && c->tls->cq.count == 0) {
    uv_buf_t buf = uv_buf_init((char *)p, (unsigned)n);
    int r = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
    if (r == UV_EAGAIN) r = 0;
    if (r < 0) {
      conn_abort(c);
      goto done;
    }
    p += r;
    n -= (size_t)r;
  }
  if (n) {
    obuf_t *b = obuf_from(p, n);
    if (!b || outq_push(&c->tls->cq, b) != 0) {
      obuf_unref(b);
      conn_abort(c);
      goto done;
    }
    obuf_unref(b);
    if (!c->writing) tls_write_cipher(c);
  }
done:
  tls_staged_clear(c->tls);
}

/* Encrypts up to TLS_FLUSH_MAX bytes of c->out, in records of up to 16 KiB
 * (small queued buffers coalesced into one record), into the stage. 0, or
 * -1 on a TLS failure. */
static int tls_encrypt_some(conn_t *c) {
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
    consume(c, (uint64_t)r);
    budget -= (size_t)r < budget ? (size_t)r : budget;
  }
  return 0;
}

static void tls_flush(conn_t *c) {
  char peer[64], why[128];
  for (;;) {
    if (c->tls->cq.count) {
      if (tls_write_cipher(c) != 0) return; /* in flight, or aborted */
      continue;
    }
    /* Nothing is queued before the handshake is done; guard anyway. */
    if (!c->out.count || !c->tls->handshake_done) break;
    if (tls_encrypt_some(c) != 0) {
      log_info("TLS write to %s failed: %s", conn_peer_str(c, peer, sizeof peer),
               tls_error(why, sizeof why));
      tls_staged_clear(c->tls);
      conn_abort(c);
      return;
    }
    tls_emit(c);
    if (c->teardown || c->writing) return;
  }
  if (!c->out.count) flushed(c);
}

static void tls_on_read(conn_t *c, const uint8_t *p, size_t n) {
  char peer[64], why[128], desc[128];
  int was_done = c->tls->handshake_done;
  int r = tls_read(c->tls, p, n, deliver, c);
  if (r == TLS_ERROR) {
    /* A scanner, a plain-HTTP client, an old protocol version: the peer's
     * problem, not ours, so info. The alert OpenSSL staged goes out first. */
    log_info("TLS %s with %s failed: %s", was_done ? "connection" : "handshake",
             conn_peer_str(c, peer, sizeof peer), tls_error(why, sizeof why));
    tls_emit(c);
    conn_abort(c);
    return;
  }
  if (!was_done && c->tls->handshake_done && log_enabled(LOG_DEBUG))
    log_debug("TLS handshake with %s: %s", conn_peer_str(c, peer, sizeof peer),
              tls_describe(c->tls, desc, sizeof desc));
  tls_emit(c);
  if (r == TLS_CLOSED) {
    /* close_notify: the peer sends nothing more; like a FIN. */
    ws_on_peer_gone(c);
    conn_abort(c);
  }
}

/* Writes as much of the queue as the kernel takes now (uv_try_write is one
 * writev of up to WRITE_BATCH buffers); the rest goes to one uv_write that
 * completes when the socket drains. */
static void conn_flush(conn_t *c) {
  if (c->writing || c->teardown || c->state == CONN_DEAD) return;
  if (c->tls) {
    tls_flush(c);
    return;
  }
  if (write_queue(c, &c->out) == 0) flushed(c);
}

void conn_flush_pending(server_t *s) {
  conn_t *c;
  while ((c = s->pending)) {
    s->pending = c->pending_next;
    c->pending_next = NULL;
    c->pending = 0;
    conn_flush(c);
  }
}

void conn_close_ws(conn_t *c, uint16_t code, const char *reason) {
  uint8_t payload[WS_MAX_CONTROL_PAYLOAD];
  size_t plen, hlen;
  obuf_t *b;
  if (c->teardown || c->close_sent) return;
  plen = code ? ws_close_payload(payload, code, reason, reason ? strlen(reason) : 0) : 0;
  hlen = ws_frame_header_size(plen, 0);
  /* Queued past max_send_buffer on purpose: the close must go out. */
  if (!(b = obuf_new(hlen + plen))) {
    conn_abort(c);
    return;
  }
  ws_frame_header(b->data, WS_OP_CLOSE, 1, 0, plen, NULL);
  memcpy(b->data + hlen, payload, plen);
  queue_obuf(c, b);
  obuf_unref(b);
  c->close_sent = 1;
  c->close_code = code;
  if (c->registered && !c->depart_queued) {
    /* Others learn of the departure in the loop hook, not inside
     * whatever fan-out decided this close. */
    c->depart_queued = 1;
    c->depart_next = c->srv->departing;
    c->srv->departing = c;
  }
  c->state = CONN_CLOSING;
  c->close_after_flush = 1;
  dl_remove(&c->heartbeat);
  dl_touch(&c->srv->linger_dl, &c->timeout, uv_now(c->srv->loop));
  mark_pending(c);
}

void conn_close_after_flush(conn_t *c) {
  if (c->teardown) return;
  c->close_after_flush = 1;
  if (c->state == CONN_HTTP) {
    /* Nothing more is read from a connection we are closing. */
    uv_read_stop((uv_stream_t *)&c->tcp);
  }
  mark_pending(c);
}

void conn_abort(conn_t *c) {
  server_t *s = c->srv;
  if (c->teardown || c->state == CONN_DEAD) return;
  c->teardown = 1;
  uv_read_stop((uv_stream_t *)&c->tcp);
  c->closing_next = s->closing;
  s->closing = c;
}

void conn_process_closing(server_t *s) {
  conn_t *c;
  while ((c = s->departing)) {
    s->departing = c->depart_next;
    c->depart_next = NULL;
    if (!c->teardown) ws_depart(c); /* else teardown below does it */
  }
  while ((c = s->closing)) {
    s->closing = c->closing_next;
    c->closing_next = NULL;
    ws_on_teardown(c); /* may deliver to others: they flush in the next round */
    dl_remove(&c->timeout);
    dl_remove(&c->heartbeat);
    c->state = CONN_DEAD;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
  }
}

static void on_closed(uv_handle_t *h) {
  conn_t *c = h->data;
  server_t *s = c->srv;
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->n_conns--;
  conn_queued_total -= c->out.bytes;
  outq_free(&c->out);
  ws_parser_free(&c->ws);
  if (c->http) http_conn_free(c->http);
  if (c->tls) tls_conn_free(c->tls);
  free(c);
}

void client_deliver(client_t *cl, outmsg_t *m) {
  conn_t *c = (conn_t *)((char *)cl - offsetof(conn_t, client));
  obuf_t *b;
  if (!takes_output(c)) return;
  b = outmsg_frame(m, c->deflate, &c->srv->pmd, c->srv->cfg.deflate_min_size);
  if (!b) {
    conn_abort(c);
    return;
  }
  if (conn_send_obuf(c, b) == 0) c->srv->metrics.messages_sent++;
}
