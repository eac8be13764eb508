#include "server/fconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/frame.h"
#include "protocol/handshake.h"
#include "server/util/list.h"
#include "server/util/log.h"

static fconn_t *of_ws(const ws_t *ws) {
  return container_of(ws, fconn_t, ws);
}

static fconn_t *of_client(const client_t *c) {
  return container_of(c, fconn_t, client);
}

/* --- the chat's transport ------------------------------------------------ */

static int deliver(client_t *c, outmsg_t *m) {
  fconn_t *f = of_client(c);
  if (ws_send(&f->ws, m) != 0) return -1;
  fconn_server(f)->chat.stats.messages_sent++;
  return 0;
}

static void close_client(client_t *c, uint16_t code, const char *reason) {
  ws_close(&of_client(c)->ws, code, reason);
}

static const char *client_peer(const client_t *c, char *buf, size_t len) {
  return conn_peer_str(&of_client(c)->conn, buf, len);
}

const chat_transport_t fconn_transport = {deliver, close_client, client_peer};

/* --- WebSocket sessions: chat and echo ------------------------------------ */

static void chat_message(ws_t *ws, uint8_t opcode, const uint8_t *data, size_t len) {
  fconn_t *f = of_ws(ws);
  (void)opcode; /* text only: the parser refuses binary on chat sessions */
  chat_dispatch(&fconn_server(f)->chat, &f->client, data, len);
}

/* The one "disconnected" line of a departure. */
static void chat_closed(ws_t *ws) {
  fconn_t *f = of_ws(ws);
  char peer[64];
  conn_peer_str(&f->conn, peer, sizeof peer);
  if (f->client.id)
    log_info("disconnected %s (%s), code %u", peer, f->client.id, (unsigned)ws->close_code);
  else
    log_info("disconnected %s, code %u", peer, (unsigned)ws->close_code);
  chat_depart(&fconn_server(f)->chat, &f->client);
}

static const char *chat_label(const ws_t *ws) {
  const fconn_t *f = of_ws(ws);
  return f->client.id ? f->client.id : "-";
}

static const ws_handler_t chat_session = {chat_message, chat_closed, chat_label};

static void echo_message(ws_t *ws, uint8_t opcode, const uint8_t *data, size_t len) {
  outmsg_t m;
  outmsg_init(&m, opcode, data, len);
  ws_send(ws, &m);
  outmsg_release(&m);
}

static void echo_closed(ws_t *ws) {
  (void)ws;
}

static const char *echo_label(const ws_t *ws) {
  (void)ws;
  return "-";
}

static const ws_handler_t echo_session = {echo_message, echo_closed, echo_label};

void fconn_upgrade(fconn_t *f, http_conn_t *h, const char *accept, int kind, const char *id, size_t id_len,
                   int deflate) {
  server_t *s = fconn_server(f);
  char head[512], peer[64];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 101 Switching Protocols\r\n"
                   "Upgrade: websocket\r\n"
                   "Connection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: %s\r\n"
                   "%s"
                   "\r\n",
                   accept, deflate ? "Sec-WebSocket-Extensions: " WS_PMD_RESPONSE "\r\n" : "");
  if (conn_send_bytes(&f->conn, head, (size_t)n) != CONN_SEND_OK) return;
  ws_start(&f->ws, &s->ws, &f->conn, kind == FCONN_ECHO ? &echo_session : &chat_session,
           kind == FCONN_ECHO, deflate);
  http_detach(h);
  if (iplimit_add(&s->per_ip, f->conn.peer_family, f->conn.peer) == 0) f->conn.counted = 1;
  if (kind == FCONN_CHAT &&
      chat_join(&s->chat, &f->client, id, id_len, s->cfg.rate_limit, s->cfg.rate_burst) != 0) {
    ws_close(&f->ws, WS_CLOSE_INTERNAL, "out of memory");
    return;
  }
  if (kind == FCONN_CHAT) f->client.max_rooms = (uint32_t)s->cfg.max_rooms_per_client;
  log_info("connected %s as %.*s%s", conn_peer_str(&f->conn, peer, sizeof peer), (int)id_len,
           id ? id : "", kind == FCONN_ECHO ? " (echo)" : "");
}

/* --- the connection ----------------------------------------------------- */

void fconn_free(conn_t *c) {
  fconn_t *f = container_of(c, fconn_t, conn);
  http_conn_free(http_conn_of(c));
  ws_free(&f->ws);
  if (c->counted) iplimit_remove(&fconn_server(f)->per_ip, c->peer_family, c->peer);
  free(f);
}

static void nothing_read(conn_t *c, uint8_t *p, size_t n) {
  (void)c;
  (void)p;
  (void)n;
}

static void nothing_closed(conn_t *c) {
  (void)c;
}

/* Until the HTTP phase starts (and should it fail to). */
static const conn_handler_t unstarted = {nothing_read, nothing_closed};

void fconn_on_connection(uv_stream_t *listener, void *data) {
  server_t *s = data;
  fconn_t *f = calloc(1, sizeof *f);
  int r;
  if (!f) {
    log_warn("accept: out of memory");
    return;
  }
  r = conn_accept(&s->net, &f->conn, listener, s->tls, &unstarted, f);
  if (r != 0) {
    if (r != UV_EAGAIN) log_warn("accept: %s", uv_strerror(r));
    return;
  }
  if (!http_conn_new(&s->http, &f->conn, s->app, f))
    conn_close(&f->conn, CONN_CLOSE_ABORT);
}
