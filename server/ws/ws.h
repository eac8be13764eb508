/* One WebSocket session on a connection: feeding the frame parser,
 * ping/pong, the close handshake, inflating with the session's own limits,
 * heartbeat and idle timeouts. What the messages mean is the handler's:
 * the chat and the echo endpoint are two ws_handler_t.
 *
 * A session lives by the settings generation it started under (ws_gen_t):
 * a reload makes a new generation for new sessions, and open ones keep
 * theirs (message size, inflate limit, send buffer, deflate threshold,
 * idle and heartbeat periods); a generation is freed with its last
 * session. */
#ifndef FASTWS_WS_WS_H
#define FASTWS_WS_WS_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/deflate.h"
#include "protocol/frame.h"
#include "server/net/conn.h"
#include "server/ws/outmsg.h"

#define WS_CLOSE_GRACE_MS 2000 /* after our close frame, the peer's answer */
#define WS_CLOSE_SLOTS    12

typedef struct ws_s ws_t;

typedef struct {
  /* A complete message (text validated as UTF-8, inflated). */
  void (*on_message)(ws_t *ws, uint8_t opcode, const uint8_t *data, size_t len);
  /* The session is over for the application (our close frame went out,
   * or the peer vanished): once per session, from the loop hook. */
  void (*on_close)(ws_t *ws);
  /* Who this is, for log lines (a client id, or "-"). */
  const char *(*label)(const ws_t *ws);
} ws_handler_t;

typedef struct ws_ctx_s ws_ctx_t;

typedef struct ws_gen_s {
  uint32_t refs;
  ws_ctx_t *ctx;
  ws_parser_opts_t parser[2][2]; /* [binary allowed][deflate negotiated] */
  uint64_t idle_ms, heartbeat_ms; /* 0 = off */
  uint64_t max_send_buffer;       /* 0 = no limit */
  uint64_t inflate_max;           /* max_message_size */
  size_t deflate_min_size;
} ws_gen_t;

typedef struct {
  uint64_t sessions_total;
  uint16_t close_code[WS_CLOSE_SLOTS]; /* codes in use, 0 = free slot */
  uint64_t closes[WS_CLOSE_SLOTS];
} ws_stats_t;

/* Shared by every session; owned by the daemon. */
struct ws_ctx_s {
  pmd_codec_t pmd; /* one deflate + one inflate stream for every session */
  ws_gen_t *gen;   /* for new sessions */
  dl_set_t idle, heartbeat, grace;
  ws_stats_t stats;
  size_t n_sessions;
};

struct ws_s {
  conn_t *conn;
  const ws_handler_t *h;
  ws_gen_t *gen; /* and through it the shared ws_ctx_t */
  ws_parser_t parser;
  dl_node_t idle;      /* idle_timeout; after our close, the grace period */
  dl_node_t heartbeat; /* next ping */
  uint16_t close_code; /* sent, echoed or 1006, for metrics */
  unsigned deflate : 1;
  unsigned close_sent : 1;
  unsigned close_received : 1;
  unsigned started : 1;
};

/* 0, or -1 on ENOMEM. ws_ctx_set_gen installs the first generation. */
int ws_ctx_init(ws_ctx_t *ctx);
void ws_ctx_free(ws_ctx_t *ctx);

/* A new generation for sessions started from now on. 0, or -1 on
 * ENOMEM (the previous one stays). */
int ws_ctx_configure(ws_ctx_t *ctx, uint64_t max_message_size, uint64_t max_send_buffer,
                     double idle_timeout, double heartbeat_interval, size_t deflate_min_size);

/* Starts a session on c (which must have sent the 101): sets c's handler.
 * binary: binary messages are allowed (echo); deflate: negotiated. */
void ws_start(ws_t *ws, ws_ctx_t *ctx, conn_t *c, const ws_handler_t *h, int binary, int deflate);

/* Releases the session's state (from the owner's free; safe when never
 * started). */
void ws_free(ws_t *ws);

/* Queues m, framed once per variant for all recipients. A recipient past
 * its send buffer is closed 1008 "slow consumer". 0 when queued. */
int ws_send(ws_t *ws, outmsg_t *m);

/* Sends a close frame (code 0: none) and closes the connection after it:
 * at once when this answers the peer's close, else after the peer's
 * answer or WS_CLOSE_GRACE_MS. Safe anywhere (a fan-out, a read). */
void ws_close(ws_t *ws, uint16_t code, const char *reason);

/* Idle timeouts, heartbeats and grace periods due by now. */
void ws_tick(ws_ctx_t *ctx, uint64_t now);

#endif
