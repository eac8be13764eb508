/* A client connection: one TCP stream that starts in the HTTP phase and may
 * be upgraded to a WebSocket. Owned by the server's connection list; its
 * memory is freed only in the uv_close callback. */
#ifndef FASTWS_CONN_H
#define FASTWS_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "server/net/deadline.h"
#include "server/chat/manager.h"
#include "server/net/obuf.h"
#include "protocol/frame.h"
#include "server/server.h"

struct http_conn_s;
struct tls_conn_s;

enum { CONN_HTTP, CONN_WS, CONN_CLOSING, CONN_DEAD };
enum { WS_KIND_CHAT, WS_KIND_ECHO };

struct conn_s {
  uv_tcp_t tcp;
  server_t *srv;
  conn_t *prev, *next;      /* server->conns */
  conn_t *pending_next;     /* server->pending while flags.pending */
  conn_t *closing_next;     /* server->closing while flags.teardown */
  conn_t *depart_next;      /* server->departing while depart_queued */
  dl_node_t timeout;        /* handshake deadline (HTTP) or idle deadline (WS) */
  dl_node_t heartbeat;      /* next ping (WS) */
  struct http_conn_s *http; /* HTTP phase state; NULL once upgraded */
  struct tls_conn_s *tls;   /* TLS state (tls.h); NULL on a plain listener */
  outq_t out;
  uint64_t inflight; /* bytes handed to a uv_write not yet completed */
  uint32_t inflight_entries;
  ws_parser_t ws;
  client_t client;               /* registered with the manager while chatting */
  const ws_settings_t *settings; /* limits it was accepted under (WebSocket) */
  double tokens;                 /* rate limit bucket */
  uint64_t tokens_at;            /* uv_now of the last refill */
  uint8_t peer[16];              /* peer address (IPv4 in the first 4 bytes) */
  uint8_t peer_family;           /* AF_INET or AF_INET6 */
  uint16_t peer_port;
  uint16_t close_code; /* code we sent or echoed, for metrics */
  uint8_t state;
  uint8_t kind;
  unsigned pending : 1;
  unsigned writing : 1;  /* a uv_write is in flight */
  unsigned teardown : 1; /* queued on server->closing */
  unsigned close_after_flush : 1;
  unsigned close_sent : 1;
  unsigned close_received : 1;
  unsigned deflate : 1;    /* permessage-deflate negotiated */
  unsigned replaced : 1;   /* its id went to a newer connection */
  unsigned registered : 1; /* counted in the manager (user_joined sent) */
  unsigned per_ip_counted : 1;
  unsigned depart_queued : 1; /* on server->departing */
};

/* Accepts a new connection from a listener. 0 or a negative uv error. */
int conn_accept(server_t *s, uv_stream_t *listener);

/* Queues a reference to b for sending; flushed once per loop turn. A
 * connection past max_send_buffer is closed with 1008 (later, not freed
 * here). Returns 0, or -1 when the connection no longer takes output. */
int conn_send_obuf(conn_t *c, obuf_t *b);
int conn_send_bytes(conn_t *c, const void *p, size_t n);

/* Sends a close frame with code and reason (a WebSocket), then closes the
 * TCP stream once it is written and the peer answered or a grace period
 * passed. */
void conn_close_ws(conn_t *c, uint16_t code, const char *reason);

/* Closes the TCP stream once queued output is written (HTTP errors). */
void conn_close_after_flush(conn_t *c);

/* Tears the connection down now, dropping queued output. Safe to call
 * during a fan-out: the work happens in the loop hook. */
void conn_abort(conn_t *c);

/* Writes every pending connection's queue (the loop hook calls it). */
void conn_flush_pending(server_t *s);

/* Finishes connections queued for teardown (the loop hook calls it). */
void conn_process_closing(server_t *s);

/* "ip:port" of the peer, for logs. */
const char *conn_peer_str(const conn_t *c, char *buf, size_t len);

/* Bytes queued on all connections (the send-queue gauge). */
extern uint64_t conn_queued_total;

#endif
