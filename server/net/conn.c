#include "server/net/conn.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/net/conn_io.h"
#include "server/net/tls.h"

static void on_closed(uv_handle_t *h);

void net_init(net_t *net, uv_loop_t *loop, conn_free_fn free_fn) {
  memset(net, 0, offsetof(net_t, readbuf));
  net->loop = loop;
  net->free_fn = free_fn;
}

void net_free(net_t *net) {
  tls_io_free(net->tls_io);
  net->tls_io = NULL;
}

/* Every connection reads into the loop's one buffer: a read callback
 * consumes all it is given before returning, so no connection holds input
 * memory between reads (a partial frame is copied by the parser). */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  conn_t *c = h->data;
  (void)suggested;
  *buf = uv_buf_init((char *)c->net->readbuf, sizeof c->net->readbuf);
}


void conn_feed(conn_t *c, uint8_t *data, size_t len) {
  if (len) conn__deliver(c, data, len);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = st->data;
  if (n < 0) {
    c->peer_gone = 1;
    conn_close(c, CONN_CLOSE_ABORT);
    return;
  }
  if (n == 0 || c->state >= CONN_CLOSED) return;
  c->net->stats.bytes_received += (uint64_t)n;
  conn__io(c)->read(c, (const uint8_t *)buf->base, (size_t)n);
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


static void free_unlinked(uv_handle_t *h) {
  conn_t *c = h->data;
  c->net->free_fn(c);
}

int conn_accept(net_t *net, conn_t *c, uv_stream_t *listener, struct tls_ctx_s *tls,
                const conn_handler_t *handler, void *data) {
  int r;
  c->net = net;
  c->handler = handler;
  c->data = data;
  uv_tcp_init(net->loop, &c->tcp);
  c->tcp.data = c;
  if ((r = uv_accept(listener, (uv_stream_t *)&c->tcp)) != 0) {
    uv_close((uv_handle_t *)&c->tcp, free_unlinked);
    return r;
  }
  c->next = net->conns;
  if (net->conns) net->conns->prev = c;
  net->conns = c;
  net->n_conns++;
  net->stats.accepted++;
  record_peer(c);
  uv_tcp_nodelay(&c->tcp, 1);
  if (tls) {
    net->tls_ops = &conn_io_tls;
    if (!net->tls_io) net->tls_io = tls_io_new();
    if (!net->tls_io || !(c->tls = tls_conn_new(tls, net->tls_io))) {
      conn_close(c, CONN_CLOSE_ABORT);
      return UV_ENOMEM;
    }
  }
  if ((r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) != 0) {
    conn_close(c, CONN_CLOSE_ABORT);
    return r;
  }
  return 0;
}

void conn_set_handler(conn_t *c, const conn_handler_t *handler, void *data) {
  c->handler = handler;
  c->data = data;
}



static int queue_obuf(conn_t *c, obuf_t *b) {
  if (outq_push(&c->out, b) != 0) {
    conn_close(c, CONN_CLOSE_ABORT);
    return -1;
  }
  c->net->stats.queued += b->len;
  conn__mark_pending(c);
  return 0;
}

static void conn_flush(conn_t *c) {
  if (c->writing || c->state >= CONN_CLOSED) return;
  conn__io(c)->flush(c);
}

int conn_send(conn_t *c, obuf_t *b) {
  return conn_send_limited(c, b, 0);
}

int conn_send_limited(conn_t *c, obuf_t *b, uint64_t limit) {
#define over_limit(c) (limit && (c)->out.bytes > limit)
  if (!conn_writable(c) || queue_obuf(c, b) != 0) return CONN_SEND_CLOSED;
  if (over_limit(c)) {
    /* Output is corked until the end of the loop turn, so one read can
     * queue more than the limit for a reader that keeps up: give the
     * kernel what it takes now; only the backlog it refuses counts. */
    conn_flush(c);
    if (!conn_writable(c)) return CONN_SEND_CLOSED;
    if (over_limit(c)) return CONN_SEND_OVER;
  }
  return CONN_SEND_OK;
#undef over_limit
}

int conn_send_bytes(conn_t *c, const void *p, size_t n) {
  obuf_t *b;
  int r;
  if (!conn_writable(c)) return CONN_SEND_CLOSED;
  if (!(b = obuf_from(p, n))) {
    conn_close(c, CONN_CLOSE_ABORT);
    return CONN_SEND_CLOSED;
  }
  r = conn_send(c, b);
  obuf_unref(b);
  return r;
}

void conn_drop_unsent(conn_t *c) {
  /* Entries in flight stay (the stream must stay framed). */
  uint32_t keep = conn__wq(c) == &c->out ? c->inflight_entries : 0;
  c->net->stats.queued -= outq_drop_tail(&c->out, keep);
}











int net_process(net_t *net) {
  conn_t *c;
  int did = 0;
  while ((c = net->pending)) {
    net->pending = c->pending_next;
    c->pending_next = NULL;
    c->pending = 0;
    conn_flush(c);
    did = 1;
  }
  while ((c = net->closing)) {
    net->closing = c->closing_next;
    c->closing_next = NULL;
    c->queued = 0;
    did = 1;
    if (!c->notified) {
      c->notified = 1;
      c->handler->on_close(c); /* may deliver to others: they flush in the next round */
    }
    if (c->state == CONN_CLOSED) {
      c->state = CONN_DEAD;
      uv_close((uv_handle_t *)&c->tcp, on_closed);
    }
  }
  return did;
}

static void on_closed(uv_handle_t *h) {
  conn_t *c = h->data;
  net_t *net = c->net;
  if (c->prev)
    c->prev->next = c->next;
  else
    net->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  net->n_conns--;
  net->stats.queued -= c->out.bytes;
  outq_free(&c->out);
  if (c->tls) tls_conn_free(c->tls);
  net->free_fn(c);
}
