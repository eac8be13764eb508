/* A connection: bytes on one TCP stream, plain or TLS, with corked output
 * and the one close path. It knows nothing of HTTP or WebSocket: the layer
 * above reads through the handler it set (conn_set_handler), and hands
 * the stream on to the next layer by setting another.
 *
 * Memory: the daemon embeds conn_t in the one struct it allocates per
 * connection and passes a free function; net calls it only from the
 * uv_close callback, so a connection's memory is never freed while any
 * callback can still see it.
 *
 * Closing: conn_close(c, how) is the only way. The handler's on_close runs
 * exactly once per connection, from the loop hook (net_process), never
 * inside a read or a fan-out: there the layers above say goodbye (a chat
 * client departs). The state only moves forward:
 *   OPEN -> LINGERING (keep reading, half-close once output is written,
 *                      wait for the peer's FIN up to NET_LINGER_MS)
 *        -> FLUSHING (stop reading, close once output is written)
 *        -> CLOSED (queued for uv_close) -> DEAD (uv_close issued). */
#ifndef FASTWS_NET_CONN_H
#define FASTWS_NET_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "server/net/deadline.h"
#include "server/net/obuf.h"

#define NET_READ_BUF (64 * 1024)

typedef struct conn_s conn_t;
typedef struct net_s net_t;
struct tls_ctx_s;
struct tls_conn_s;
struct tls_io_s;

typedef struct {
  /* Plaintext read: in the loop's shared buffer, valid during the call. */
  void (*on_read)(conn_t *c, uint8_t *data, size_t len);
  /* The connection is closing (see above). */
  void (*on_close)(conn_t *c);
} conn_handler_t;

/* Frees the struct that embeds c. */
typedef void (*conn_free_fn)(conn_t *c);

/* In the order of harshness: a close only ever moves to a later state. */
enum { CONN_OPEN, CONN_LINGERING, CONN_FLUSHING, CONN_CLOSED, CONN_DEAD };
enum { CONN_CLOSE_ABORT, CONN_CLOSE_FLUSH, CONN_CLOSE_LINGER };

/* What differs between a plain and a TLS stream (conn_tls.c). */
typedef struct {
  void (*read)(conn_t *c, const uint8_t *p, size_t n); /* bytes from the socket */
  void (*flush)(conn_t *c);                            /* queued plaintext out */
  void (*goodbye)(conn_t *c);                          /* before the FIN */
} conn_io_t;

typedef struct {
  uint64_t bytes_received, bytes_sent;
  uint64_t queued; /* plaintext bytes queued on every connection */
  uint64_t accepted;
} net_stats_t;

struct conn_s {
  uv_tcp_t tcp;
  net_t *net;
  const conn_handler_t *handler;
  void *data;             /* the handler's */
  struct tls_conn_s *tls; /* NULL on a plain listener; selects the conn_io_t */
  conn_t *prev, *next;    /* net->conns */
  conn_t *pending_next;   /* net->pending while `pending` */
  conn_t *closing_next;   /* net->closing while `queued` */
  outq_t out;
  uint64_t inflight; /* bytes handed to a uv_write not yet completed */
  uint32_t inflight_entries;
  uint8_t peer[16];    /* peer address (IPv4 in the first 4 bytes) */
  uint8_t peer_family; /* AF_INET or AF_INET6 */
  uint16_t peer_port;
  uint8_t state;
  unsigned pending : 1;
  unsigned writing : 1;   /* a uv_write is in flight */
  unsigned queued : 1;    /* on net->closing */
  unsigned notified : 1;  /* on_close ran */
  unsigned shut : 1;      /* uv_shutdown issued */
  unsigned peer_gone : 1; /* EOF, reset or close_notify before we closed */
  unsigned counted : 1;   /* the owner's: counted in a per-address limit */
};

/* The network context: one per process, owned by the daemon. */
struct net_s {
  uv_loop_t *loop;
  conn_t *conns; /* every open connection */
  size_t n_conns;
  conn_t *pending; /* with output to flush */
  conn_t *closing; /* to notify and tear down in the hook */
  conn_free_fn free_fn;  /* frees the struct that embeds a conn_t */
  struct tls_io_s *tls_io; /* the loop's shared TLS buffers, made on first use */
  const conn_io_t *tls_ops; /* set with the first TLS connection */
  net_stats_t stats;
  int reading_busy;
  uint8_t readbuf[NET_READ_BUF];
};

void net_init(net_t *net, uv_loop_t *loop, conn_free_fn free_fn);
void net_free(net_t *net);

/* Accepts a connection from listener into c (zeroed by the caller), with
 * TLS when tls is not NULL, reading through handler. 0, or a negative uv
 * error after which c has been (or will be, from uv_close) freed. */
int conn_accept(net_t *net, conn_t *c, uv_stream_t *listener, struct tls_ctx_s *tls,
                const conn_handler_t *handler, void *data);

void conn_set_handler(conn_t *c, const conn_handler_t *handler, void *data);

/* Hands bytes to the current handler, as if just read (the rest of a
 * buffer after a protocol switch). */
void conn_feed(conn_t *c, uint8_t *data, size_t len);

enum { CONN_SEND_OK = 0, CONN_SEND_OVER = 1, CONN_SEND_CLOSED = -1 };

/* Queues a reference to b; flushed once per loop turn. CONN_SEND_CLOSED:
 * the connection takes no more output (or could not queue: then aborted). */
int conn_send(conn_t *c, obuf_t *b);

/* The same with a bound: CONN_SEND_OVER when b is queued but what the
 * kernel would not take at once passes limit bytes (0 = none); the caller
 * decides (conn_drop_unsent and close). */
int conn_send_limited(conn_t *c, obuf_t *b, uint64_t limit);
int conn_send_bytes(conn_t *c, const void *p, size_t n);

/* 1 while the connection is open for output. */
int conn_writable(const conn_t *c);

/* Drops queued output that has not started to leave (slow consumers: what
 * they will never read must not delay the close). */
void conn_drop_unsent(conn_t *c);

/* The one close path (see the top of this file). Safe anywhere, also
 * inside a fan-out or a read; repeated calls only make it harsher. */
void conn_close(conn_t *c, int how);

/* The loop hook: flushes every pending connection, runs on_close for
 * closing ones and tears down the finished. Returns 1 when it did work
 * (the caller repeats until 0). */
int net_process(net_t *net);

/* "ip:port" of the peer, for logs. */
const char *conn_peer_str(const conn_t *c, char *buf, size_t len);

#endif
