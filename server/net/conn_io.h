/* Internal to server/net: what conn.c and conn_tls.c share. */
#ifndef FASTWS_NET_CONN_IO_H
#define FASTWS_NET_CONN_IO_H

#include "server/net/conn.h"
#include "server/net/tls.h"

extern const conn_io_t conn_io_plain;
extern const conn_io_t conn_io_tls;

/* Hands plaintext to the handler; nonzero once c is going away. */
int conn__deliver(conn_t *c, uint8_t *p, size_t n);

/* Writes q (c->out, or the TLS ciphertext queue): what the kernel takes
 * now, the rest by one uv_write. 0 when all is written, 1 when a write is
 * in flight, -1 after aborting. */
int conn__write_queue(conn_t *c, outq_t *q);

/* Marks n plaintext bytes of c->out as sent. */
void conn__consume(conn_t *c, uint64_t n);

/* Output is all written: finish a close that waited for it. */
void conn__flushed(conn_t *c);

void conn__mark_pending(conn_t *c);

static inline const conn_io_t *conn__io(const conn_t *c) {
  return c->tls ? c->net->tls_ops : &conn_io_plain;
}

/* The queue that goes to the socket: c->out, or the TLS ciphertext. */
static inline outq_t *conn__wq(conn_t *c) {
  return c->tls ? &c->tls->cq : &c->out;
}

#endif
