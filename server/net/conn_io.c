/* The stream under every connection: reading into the handler, writing
 * the queue (what the kernel takes now, the rest by one uv_write), and the
 * one close path. conn_tls.c builds TLS on these; conn.c the rest. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/net/conn_io.h"

#define WRITE_BATCH 64

typedef struct {
  uv_write_t req;
  conn_t *conn;
} write_req_t;

int conn__deliver(conn_t *c, uint8_t *p, size_t n) {
  if (c->state >= CONN_CLOSED) return 1;
  c->handler->on_read(c, p, n);
  return c->state >= CONN_CLOSED;
}

static void plain_read(conn_t *c, const uint8_t *p, size_t n) {
  conn__deliver(c, (uint8_t *)p, n);
}

void conn__mark_pending(conn_t *c) {
  if (c->pending) return;
  c->pending = 1;
  c->pending_next = c->net->pending;
  c->net->pending = c;
}

int conn_writable(const conn_t *c) {
  return c->state < CONN_CLOSED && !c->shut;
}

void conn__consume(conn_t *c, uint64_t n) {
  outq_consume(&c->out, n);
  c->net->stats.queued -= n;
  c->net->stats.bytes_sent += n;
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  free(req);
}

void conn__flushed(conn_t *c) {
  if (c->state == CONN_FLUSHING) {
    conn__io(c)->goodbye(c);
    conn_close(c, CONN_CLOSE_ABORT);
  } else if (c->state == CONN_LINGERING && !c->shut) {
    /* Our last words are out; the peer answers with its own close or its
     * FIN, which we wait for briefly (RFC 6455 7.1.1). */
    uv_shutdown_t *req;
    conn__io(c)->goodbye(c);
    if (c->state != CONN_LINGERING) return;
    c->shut = 1;
    req = malloc(sizeof *req);
    if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
      free(req);
      conn_close(c, CONN_CLOSE_ABORT);
    }
  }
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
    conn_close(c, CONN_CLOSE_ABORT);
    return;
  }
  if (conn__wq(c) == &c->out)
    conn__consume(c, c->inflight);
  else
    outq_consume(conn__wq(c), c->inflight); /* TLS: the plaintext went at encryption */
  c->inflight = 0;
  c->inflight_entries = 0;
  if (c->out.count || conn__wq(c)->count)
    conn__mark_pending(c);
  else
    conn__flushed(c);
}

static int start_write(conn_t *c, uv_buf_t *bufs, size_t n) {
  write_req_t *w = malloc(sizeof *w);
  uint64_t bytes = 0;
  size_t i;
  if (!w) return UV_ENOMEM;
  w->conn = c;
  for (i = 0; i < n; i++)
    bytes += bufs[i].len;
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, (unsigned)n, on_write) != 0) {
    free(w);
    return UV_EIO;
  }
  c->writing = 1;
  c->inflight = bytes;
  c->inflight_entries = (uint32_t)n;
  return 0;
}

int conn__write_queue(conn_t *c, outq_t *q) {
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
      conn_close(c, CONN_CLOSE_ABORT);
      return -1;
    }
    if (q == &c->out)
      conn__consume(c, (uint64_t)r);
    else
      outq_consume(q, (uint64_t)r);
    if ((uint64_t)r < want) {
      n = outq_peek(q, bufs, WRITE_BATCH);
      if (start_write(c, bufs, n) != 0) {
        conn_close(c, CONN_CLOSE_ABORT);
        return -1;
      }
      return 1;
    }
  }
  return 0;
}

static void plain_flush(conn_t *c) {
  if (conn__write_queue(c, &c->out) == 0) conn__flushed(c);
}

static void plain_goodbye(conn_t *c) {
  (void)c;
}

const conn_io_t conn_io_plain = {plain_read, plain_flush, plain_goodbye};

static void enqueue_closing(conn_t *c) {
  if (c->queued) return;
  c->queued = 1;
  c->closing_next = c->net->closing;
  c->net->closing = c;
}

void conn_close(conn_t *c, int how) {
  int target = how == CONN_CLOSE_ABORT   ? CONN_CLOSED
               : how == CONN_CLOSE_FLUSH ? CONN_FLUSHING
                                         : CONN_LINGERING;
  if (target <= c->state) return;
  c->state = (uint8_t)target;
  if (target != CONN_LINGERING) uv_read_stop((uv_stream_t *)&c->tcp);
  if (target != CONN_CLOSED) conn__mark_pending(c); /* the flush finishes the close */
  if (!c->notified || target == CONN_CLOSED) enqueue_closing(c);
}

const char *conn_peer_str(const conn_t *c, char *buf, size_t len) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (c->peer_family) inet_ntop(c->peer_family, c->peer, ip, sizeof ip);
  snprintf(buf, len, c->peer_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, (unsigned)c->peer_port);
  return buf;
}
