#include "server/ws/ws.h"

#include <stdio.h>
#include <string.h>

#include "server/cluster/cluster.h"
#include "server/net/conn.h"
#include "server/http/http.h"
#include "server/util/log.h"
#include "protocol/handshake.h"
#include "server/chat/router.h"

static const ws_parser_opts_t *parser_opts(const ws_settings_t *g, int kind, int deflate) {
  return &g->parser[kind][deflate ? 1 : 0];
}

/* Another connection holds this id and the policy is replace: the user
 * never left, so the others see no user_left/user_joined pair; the old
 * connection leaves its rooms (it is closed) and the new one starts with
 * none. */
static void take_over_id(conn_t *c, conn_t *old) {
  char peer[64];
  router_leave_all_rooms(old);
  manager_replace(&c->srv->mgr, &old->client, &c->client);
  old->registered = 0;
  old->replaced = 1;
  log_info("client %s replaced by a new connection from %s", c->client.id,
           conn_peer_str(c, peer, sizeof peer));
  conn_close_ws(old, 4001, "replaced");
}

static int register_client(conn_t *c, const char *id, size_t id_len) {
  server_t *s = c->srv;
  client_t *old = manager_find(&s->mgr, id, id_len);
  if (old) {
    take_over_id(c, (conn_t *)((char *)old - offsetof(conn_t, client)));
    c->registered = 1;
    /* Clustered: the new claim time goes out, silently. */
    if (s->cluster) router_user_joined(c, cluster_claim(s->cluster, &c->client) | 1);
    return 0;
  }
  if (manager_add(&s->mgr, &c->client, id, id_len) != 0) return -1;
  c->registered = 1;
  /* Held by another node: a take-over, no user_joined (cluster.h). */
  router_user_joined(c, cluster_claim(s->cluster, &c->client));
  return 0;
}

void ws_evict(client_t *cl) {
  conn_t *c = (conn_t *)((char *)cl - offsetof(conn_t, client));
  server_t *s = c->srv;
  char id[256];
  snprintf(id, sizeof id, "%s", cl->id);
  router_leave_all_rooms(c);
  manager_remove(&s->mgr, &c->client);
  c->registered = 0;
  c->replaced = 1;
  cluster_client_left(s->cluster, id, NULL, 0);
  log_info("client %s replaced by a newer connection on another node", id);
  conn_close_ws(c, 4001, "replaced");
}

int ws_upgrade(conn_t *c, const char *accept_key, int kind, const char *id, size_t id_len,
               int deflate) {
  server_t *s = c->srv;
  char head[512];
  char peer[64];
  uint64_t now = uv_now(s->loop);
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 101 Switching Protocols\r\n"
                   "Upgrade: websocket\r\n"
                   "Connection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: %s\r\n"
                   "%s"
                   "\r\n",
                   accept_key, deflate ? "Sec-WebSocket-Extensions: " WS_PMD_RESPONSE "\r\n" : "");
  if (conn_send_bytes(c, head, (size_t)n) != 0) return -1;
  c->state = CONN_WS;
  c->kind = (uint8_t)kind;
  c->deflate = deflate ? 1 : 0;
  c->settings = s->ws_settings;
  ws_parser_init(&c->ws, parser_opts(c->settings, kind, deflate));
  dl_remove(&c->timeout);
  if (s->cfg.idle_timeout > 0) dl_touch(&s->idle_dl, &c->timeout, now);
  if (s->cfg.heartbeat_interval > 0) dl_touch(&s->heartbeat_dl, &c->heartbeat, now);
  c->tokens = c->settings->rate_burst;
  c->tokens_at = now;
  s->n_ws++;
  s->metrics.connections_total++;
  if (iplimit_add(&s->per_ip, c->peer_family, c->peer) == 0) c->per_ip_counted = 1;
  if (kind == WS_KIND_CHAT && register_client(c, id, id_len) != 0) {
    conn_close_ws(c, WS_CLOSE_INTERNAL, "out of memory");
    return -1;
  }
  log_info("connected %s as %.*s%s", conn_peer_str(c, peer, sizeof peer), (int)id_len, id ? id : "",
           kind == WS_KIND_ECHO ? " (echo)" : "");
  return 0;
}

static void send_control(conn_t *c, uint8_t opcode, const uint8_t *p, size_t n) {
  uint8_t frame[WS_MAX_HEADER + WS_MAX_CONTROL_PAYLOAD];
  size_t h = ws_frame_header(frame, opcode, 1, 0, n, NULL);
  if (n) memcpy(frame + h, p, n);
  conn_send_bytes(c, frame, h + n);
}

void ws_send_ping(conn_t *c) {
  send_control(c, WS_OP_PING, NULL, 0);
}

static void echo_message(conn_t *c, const ws_event_t *ev) {
  outmsg_t m;
  obuf_t *b;
  outmsg_init(&m, ev->opcode, ev->data, ev->len);
  b = outmsg_frame(&m, c->deflate, &c->srv->pmd, c->srv->cfg.deflate_min_size);
  if (b)
    conn_send_obuf(c, b);
  else
    conn_abort(c);
  outmsg_release(&m);
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

static void on_close_frame(conn_t *c, const ws_event_t *ev) {
  if (c->close_sent) {
    /* The answer to our close: the handshake is complete. */
    conn_abort(c);
    return;
  }
  /* Echo the peer's code (none when it sent none); once the echo is
   * written we close TCP first, as RFC 6455 7.1.1 asks of servers. */
  c->close_received = 1;
  conn_close_ws(c, ev->close_code == WS_CLOSE_NO_STATUS ? 0 : ev->close_code, NULL);
  c->close_code = ev->close_code;
}

/* A compressed message is inflated (bounded by max_message_size: a
 * decompression bomb stops at the limit) into the codec's buffer, and only
 * then is its UTF-8 checked. Returns 0, or -1 after closing c. */
static int inflate_message(conn_t *c, ws_event_t *ev) {
  const uint8_t *out;
  size_t len;
  int rc =
      pmd_decompress(&c->srv->pmd, ev->data, ev->len, c->srv->cfg.max_message_size, &out, &len);
  if (rc == PMD_TOO_BIG) {
    conn_close_ws(c, WS_CLOSE_TOO_BIG, "message too big");
    return -1;
  }
  if (rc != PMD_OK) {
    conn_close_ws(c, rc == PMD_CORRUPT ? WS_CLOSE_INVALID_DATA : WS_CLOSE_INTERNAL,
                  rc == PMD_CORRUPT ? "invalid compressed data" : "internal error");
    return -1;
  }
  if (ev->opcode == WS_OP_TEXT && utf8_validate(out, len) != 0) {
    conn_close_ws(c, WS_CLOSE_INVALID_DATA, "invalid UTF-8");
    return -1;
  }
  ev->data = out;
  ev->len = len;
  ev->compressed = 0;
  return 0;
}

static void handle_event(conn_t *c, ws_event_t *ev) {
  switch (ev->type) {
  case WS_EV_MESSAGE:
    if (c->close_sent) return;
    if (ev->compressed && inflate_message(c, ev) != 0) return;
    if (c->kind == WS_KIND_ECHO)
      echo_message(c, ev);
    else
      router_dispatch(c, ev->data, ev->len);
    break;
  case WS_EV_PING:
    if (!c->close_sent) send_control(c, WS_OP_PONG, ev->data, ev->len);
    break;
  case WS_EV_PONG: break;
  case WS_EV_CLOSE: on_close_frame(c, ev); break;
  case WS_EV_ERROR: conn_close_ws(c, ev->close_code, close_reason(ev->close_code)); break;
  default: break;
  }
}

void ws_on_read(conn_t *c, uint8_t *data, size_t len) {
  server_t *s = c->srv;
  if (c->state == CONN_WS && s->cfg.idle_timeout > 0)
    dl_touch(&s->idle_dl, &c->timeout, uv_now(s->loop));
  /* Until the parser says NONE, even with no bytes left: that last call
   * releases the buffer of the last event, so idle connections hold none. */
  while (!c->teardown) {
    ws_event_t ev;
    size_t used = ws_parser_feed(&c->ws, data, len, &ev);
    data += used;
    len -= used;
    if (ev.type == WS_EV_NONE) break;
    handle_event(c, &ev);
  }
}

void ws_on_peer_gone(conn_t *c) {
  if (c->state == CONN_WS && !c->close_sent) c->close_code = 1006;
}

void ws_on_teardown(conn_t *c) {
  server_t *s = c->srv;
  char peer[64];
  if (c->state != CONN_WS && c->state != CONN_CLOSING) return;
  s->n_ws--;
  if (c->per_ip_counted) iplimit_remove(&s->per_ip, c->peer_family, c->peer);
  c->per_ip_counted = 0;
  if (c->close_code) metrics_count_close(&s->metrics, c->close_code);
  if (c->registered)
    ws_depart(c);
  else if (c->kind == WS_KIND_CHAT)
    log_info("disconnected %s, code %u", conn_peer_str(c, peer, sizeof peer),
             (unsigned)c->close_code);
}

void ws_depart(conn_t *c) {
  server_t *s = c->srv;
  char id[256], peer[64];
  if (!c->registered || !c->client.id) return;
  snprintf(id, sizeof id, "%s", c->client.id);
  router_leave_all_rooms(c);
  manager_remove(&s->mgr, &c->client);
  c->registered = 0;
  router_user_left(s, id);
  log_info("disconnected %s (%s), code %u", conn_peer_str(c, peer, sizeof peer), id,
           (unsigned)c->close_code);
}
