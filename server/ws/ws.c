#include "server/ws/ws.h"

#include <stdlib.h>
#include <string.h>

#include "protocol/utf8.h"
#include "server/util/list.h"
#include "server/util/log.h"

static void gen_unref(ws_gen_t *g) {
  if (g && --g->refs == 0) free(g);
}

int ws_ctx_init(ws_ctx_t *ctx) {
  memset(ctx, 0, sizeof *ctx);
  pmd_codec_init(&ctx->pmd, -1);
  dl_set_init(&ctx->idle);
  dl_set_init(&ctx->heartbeat);
  dl_set_init(&ctx->grace);
  return 0;
}

void ws_ctx_free(ws_ctx_t *ctx) {
  gen_unref(ctx->gen);
  ctx->gen = NULL;
  pmd_codec_free(&ctx->pmd);
  dl_set_free(&ctx->idle);
  dl_set_free(&ctx->heartbeat);
  dl_set_free(&ctx->grace);
}

int ws_ctx_configure(ws_ctx_t *ctx, uint64_t max_message_size, uint64_t max_send_buffer,
                     double idle_timeout, double heartbeat_interval, size_t deflate_min_size) {
  ws_gen_t *g = calloc(1, sizeof *g);
  int binary, deflate;
  if (!g) return -1;
  for (binary = 0; binary < 2; binary++)
    for (deflate = 0; deflate < 2; deflate++) {
      ws_parser_opts_t *o = &g->parser[binary][deflate];
      o->max_message_size = max_message_size;
      o->allow_binary = (unsigned)binary;
      o->allow_rsv1 = (unsigned)deflate;
      o->require_mask = 1;
    }
  g->refs = 1;
  g->ctx = ctx;
  g->idle_ms = dl_ms(idle_timeout);
  g->heartbeat_ms = dl_ms(heartbeat_interval);
  g->max_send_buffer = max_send_buffer;
  g->inflate_max = max_message_size;
  g->deflate_min_size = deflate_min_size;
  gen_unref(ctx->gen);
  ctx->gen = g;
  return 0;
}

static uint64_t now_ms(const ws_t *ws) {
  return uv_now(ws->conn->net->loop);
}

static const conn_handler_t ws_conn_handler;

void ws_start(ws_t *ws, ws_ctx_t *ctx, conn_t *c, const ws_handler_t *h, int binary, int deflate) {
  uint64_t now = uv_now(c->net->loop);
  ws->conn = c;
  ws->h = h;
  ws->gen = ctx->gen;
  ws->gen->refs++;
  ws->deflate = deflate ? 1 : 0;
  ws->started = 1;
  ws_parser_init(&ws->parser, &ws->gen->parser[binary ? 1 : 0][ws->deflate]);
  conn_set_handler(c, &ws_conn_handler, ws);
  dl_set_touch(&ctx->idle, &ws->idle, ws->gen->idle_ms, now);
  dl_set_touch(&ctx->heartbeat, &ws->heartbeat, ws->gen->heartbeat_ms, now);
  ctx->n_sessions++;
  ctx->stats.sessions_total++;
}

void ws_free(ws_t *ws) {
  ws_ctx_t *ctx;
  if (!ws->started) return;
  ctx = ws->gen->ctx;
  dl_remove(&ws->idle);
  dl_remove(&ws->heartbeat);
  ws_parser_free(&ws->parser);
  gen_unref(ws->gen);
  ws->gen = NULL;
  ws->started = 0;
  ctx->n_sessions--;
}

/* Behind a backlog the peer does not read, the close frame would never
 * arrive: drop what has not started to leave, then say why. */
static void close_slow_consumer(ws_t *ws) {
  char peer[64];
  log_info("closing %s (%s): slow consumer, %llu bytes queued",
           conn_peer_str(ws->conn, peer, sizeof peer), ws->h->label(ws),
           (unsigned long long)ws->conn->out.bytes);
  conn_drop_unsent(ws->conn);
  ws_close(ws, WS_CLOSE_POLICY, "slow consumer");
}

static int send_obuf(ws_t *ws, obuf_t *b) {
  int r = conn_send_limited(ws->conn, b, ws->gen->max_send_buffer);
  if (r == CONN_SEND_OVER) close_slow_consumer(ws);
  return r;
}

int ws_send(ws_t *ws, outmsg_t *m) {
  obuf_t *b;
  if (ws->close_sent || !conn_writable(ws->conn)) return -1;
  b = outmsg_frame(m, ws->deflate, &ws->gen->ctx->pmd, ws->gen->deflate_min_size);
  if (!b) {
    conn_close(ws->conn, CONN_CLOSE_ABORT);
    return -1;
  }
  return send_obuf(ws, b) == CONN_SEND_OK ? 0 : -1;
}

static void send_control(ws_t *ws, uint8_t opcode, const uint8_t *p, size_t n) {
  size_t h = ws_frame_header_size(n, 0);
  obuf_t *b;
  if (ws->close_sent || !conn_writable(ws->conn)) return;
  if (!(b = obuf_new(h + n))) {
    conn_close(ws->conn, CONN_CLOSE_ABORT);
    return;
  }
  ws_frame_header(b->data, opcode, 1, 0, n, NULL);
  if (n) memcpy(b->data + h, p, n);
  send_obuf(ws, b);
  obuf_unref(b);
}

void ws_close(ws_t *ws, uint16_t code, const char *reason) {
  uint8_t payload[WS_MAX_CONTROL_PAYLOAD];
  size_t plen, hlen;
  obuf_t *b;
  conn_t *c = ws->conn;
  if (ws->close_sent || c->state >= CONN_CLOSED) return;
  plen = code ? ws_close_payload(payload, code, reason, reason ? strlen(reason) : 0) : 0;
  hlen = ws_frame_header_size(plen, 0);
  if (!(b = obuf_new(hlen + plen))) {
    conn_close(c, CONN_CLOSE_ABORT);
    return;
  }
  ws_frame_header(b->data, WS_OP_CLOSE, 1, 0, plen, NULL);
  memcpy(b->data + hlen, payload, plen);
  conn_send(c, b); /* past the send buffer on purpose: the close must go out */
  obuf_unref(b);
  ws->close_sent = 1;
  ws->close_code = code;
  dl_remove(&ws->heartbeat);
  dl_set_touch(&ws->gen->ctx->grace, &ws->idle, WS_CLOSE_GRACE_MS, now_ms(ws));
  /* Answering the peer's close, we close TCP first once the echo is
   * written (RFC 6455 7.1.1); our own close waits for the answer. */
  conn_close(c, ws->close_received ? CONN_CLOSE_FLUSH : CONN_CLOSE_LINGER);
}

static const char *close_reason(uint16_t code) {
  switch (code) {
  case WS_CLOSE_PROTOCOL: return "protocol error";
  case WS_CLOSE_UNSUPPORTED: return "binary messages are not supported";
  case WS_CLOSE_INVALID_DATA: return "invalid UTF-8";
  case WS_CLOSE_TOO_BIG: return "message too big";
  default: return "";
  }
}

static void on_close_frame(ws_t *ws, const ws_event_t *ev) {
  if (ws->close_sent) {
    /* The answer to our close: the handshake is complete. */
    conn_close(ws->conn, CONN_CLOSE_ABORT);
    return;
  }
  /* Echo the peer's code (none when it sent none). */
  ws->close_received = 1;
  ws_close(ws, ev->close_code == WS_CLOSE_NO_STATUS ? 0 : ev->close_code, NULL);
  ws->close_code = ev->close_code;
}

/* A compressed message is inflated (bounded by the session's
 * max_message_size: a decompression bomb stops at the limit) into the
 * codec's buffer, and only then is its UTF-8 checked. Returns 0, or -1
 * after closing. */
static int inflate_message(ws_t *ws, ws_event_t *ev) {
  const uint8_t *out;
  size_t len;
  int rc = pmd_decompress(&ws->gen->ctx->pmd, ev->data, ev->len, ws->gen->inflate_max, &out, &len);
  if (rc == PMD_TOO_BIG) {
    ws_close(ws, WS_CLOSE_TOO_BIG, "message too big");
    return -1;
  }
  if (rc != PMD_OK) {
    ws_close(ws, rc == PMD_CORRUPT ? WS_CLOSE_INVALID_DATA : WS_CLOSE_INTERNAL,
             rc == PMD_CORRUPT ? "invalid compressed data" : "internal error");
    return -1;
  }
  if (ev->opcode == WS_OP_TEXT && utf8_validate(out, len) != 0) {
    ws_close(ws, WS_CLOSE_INVALID_DATA, "invalid UTF-8");
    return -1;
  }
  ev->data = out;
  ev->len = len;
  ev->compressed = 0;
  return 0;
}

static void handle_event(ws_t *ws, ws_event_t *ev) {
  switch (ev->type) {
  case WS_EV_MESSAGE:
    if (ws->close_sent) return;
    if (ev->compressed && inflate_message(ws, ev) != 0) return;
    ws->h->on_message(ws, ev->opcode, ev->data, ev->len);
    break;
  case WS_EV_PING: send_control(ws, WS_OP_PONG, ev->data, ev->len); break;
  case WS_EV_PONG: break;
  case WS_EV_CLOSE: on_close_frame(ws, ev); break;
  case WS_EV_ERROR: ws_close(ws, ev->close_code, close_reason(ev->close_code)); break;
  default: break;
  }
}

static void on_read(conn_t *c, uint8_t *data, size_t len) {
  ws_t *ws = c->data;
  if (!ws->close_sent) dl_set_touch(&ws->gen->ctx->idle, &ws->idle, ws->gen->idle_ms, now_ms(ws));
  /* Until the parser says NONE, even with no bytes left: that last call
   * releases the buffer of the last event, so idle connections hold none. */
  while (c->state < CONN_CLOSED) {
    ws_event_t ev;
    size_t used = ws_parser_feed(&ws->parser, data, len, &ev);
    data += used;
    len -= used;
    if (ev.type == WS_EV_NONE) break;
    handle_event(ws, &ev);
  }
}

static void count_close(ws_stats_t *st, uint16_t code) {
  int i, free_slot = -1;
  for (i = 0; i < WS_CLOSE_SLOTS; i++) {
    if (st->close_code[i] == code) {
      st->closes[i]++;
      return;
    }
    if (st->close_code[i] == 0 && free_slot < 0) free_slot = i;
  }
  /* Past the table, rare codes share the last slot. */
  if (free_slot < 0) free_slot = WS_CLOSE_SLOTS - 1;
  if (st->close_code[free_slot] == 0) st->close_code[free_slot] = code;
  st->closes[free_slot]++;
}

static void on_conn_close(conn_t *c) {
  ws_t *ws = c->data;
  if (!ws->close_sent) {
    if (c->peer_gone) ws->close_code = 1006;
    dl_remove(&ws->idle);
  }
  dl_remove(&ws->heartbeat);
  if (ws->close_code) count_close(&ws->gen->ctx->stats, ws->close_code);
  ws->h->on_close(ws);
}

static const conn_handler_t ws_conn_handler = {on_read, on_conn_close};

void ws_tick(ws_ctx_t *ctx, uint64_t now) {
  dl_node_t *n;
  while ((n = dl_set_expired(&ctx->idle, now))) {
    dl_remove(n);
    ws_close(container_of(n, ws_t, idle), WS_CLOSE_NORMAL, "Timeout");
  }
  while ((n = dl_set_expired(&ctx->heartbeat, now))) {
    {
      ws_t *ws = container_of(n, ws_t, heartbeat);
      dl_advance(&ctx->heartbeat, n, ws->gen->heartbeat_ms, now);
      send_control(ws, WS_OP_PING, NULL, 0);
    }
  }
  while ((n = dl_set_expired(&ctx->grace, now))) {
    dl_remove(n);
    conn_close(container_of(n, ws_t, idle)->conn, CONN_CLOSE_ABORT);
  }
  dl_set_trim(&ctx->idle);
  dl_set_trim(&ctx->heartbeat);
  dl_set_trim(&ctx->grace);
}
