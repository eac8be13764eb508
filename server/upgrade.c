/* The WebSocket upgrade of PROTOCOL.md section 2: every check in its
 * order, then the hand-off (fconn_upgrade). */
#include "server/upgrade.h"

#include <stdio.h>
#include <string.h>

#include "protocol/handshake.h"
#include "server/chat/auth.h"
#include "server/util/log.h"

/* The checks of PROTOCOL.md section 2, in its order; the first that fails
 * answers. */
void upgrade_request(fconn_t *f, http_conn_t *hc, const http_request_t *req, slice_t rawid,
                     int kind) {
  server_t *s = fconn_server(f);
  const http_collector_t *h = &hc->col;
  const char *why = NULL;
  char id[WS_ID_MAX * 3 + 1];
  char accept[WS_ACCEPT_KEY_LEN + 1];
  ws_upgrade_req_t up;
  char upgrade_buf[512], connection_buf[512], ext_buf[2048];
  long idlen = 0;
  int status, deflate;

  if (kind == FCONN_CHAT) {
    idlen = url_percent_decode(rawid.base, rawid.len, id, sizeof id - 1);
    if (idlen <= 0 || !ws_id_valid(id, (size_t)idlen)) {
      static const char body[] =
          "{\"detail\":\"client_id must be 1 to 64 characters of A-Z a-z 0-9 _ - .\"}";
      http_respond_json(hc, req, 400, body, sizeof body - 1, NULL);
      return;
    }
    id[idlen] = '\0';
  }
  up.method = req->method;
  up.http_major = req->http_major;
  up.http_minor = req->http_minor;
  /* List headers may come in several lines; each list fits in the header
   * block, so a buffer of its size holds the joined value. */
  up.upgrade = http_header_joined(h, "Upgrade", upgrade_buf, sizeof upgrade_buf);
  up.connection = http_header_joined(h, "Connection", connection_buf, sizeof connection_buf);
  up.key = http_header(h, "Sec-WebSocket-Key");
  up.version = http_header(h, "Sec-WebSocket-Version");
  if (http_header_count(h, "Sec-WebSocket-Key") > 1) up.key = slice_make(NULL, 0);
  status = ws_handshake_check(&up);
  if (status == 426) {
    http_respond_json(hc, req, 426, "{\"detail\":\"Upgrade Required\"}", 29,
                      "Sec-WebSocket-Version: 13\r\n");
    return;
  }
  if (status != 0) {
    static const char body[] = "{\"detail\":\"invalid WebSocket handshake\"}";
    http_respond_json(hc, req, 400, body, sizeof body - 1, NULL);
    return;
  }
  if (!ws_origin_allowed(http_header(h, "Origin"), http_header(h, "Host"), f->conn.tls != NULL,
                         (const char *const *)s->cfg.origins, s->cfg.n_origins)) {
    http_respond_error(hc, req, 403, NULL);
    return;
  }
  /* AUTH: the JWT check goes here (PROTOCOL.md section 2 order). echo_path
   * is not authenticated (auth.h). */
  if (kind == FCONN_CHAT && auth_check(&s->cfg, req->query, id, (size_t)idlen, &why) != 0) {
    char peer[64];
    log_info("auth failed for %s as %.*s: %s", conn_peer_str(&f->conn, peer, sizeof peer),
             (int)idlen, id, why);
    static const char body[] = "{\"detail\":\"Unauthorized\"}";
    http_respond_json(hc, req, 401, body, sizeof body - 1, NULL);
    return;
  }
  if (s->draining || s->ws.n_sessions >= s->cfg.max_connections ||
      (s->cfg.max_connections_per_ip &&
       iplimit_get(&s->per_ip, f->conn.peer_family, f->conn.peer) >= s->cfg.max_connections_per_ip)) {
    http_respond_error(hc, req, 503, NULL);
    return;
  }
  if (kind == FCONN_CHAT && s->cfg.on_duplicate_id == DUP_REJECT &&
      chat_has_id(&s->chat, id, (size_t)idlen)) {
    static const char body[] = "{\"detail\":\"client_id already connected\"}";
    http_respond_json(hc, req, 409, body, sizeof body - 1, NULL);
    return;
  }
  if (ws_accept_key(up.key.base, up.key.len, accept) != 0) {
    http_respond_error(hc, req, 500, NULL);
    return;
  }
  deflate =
      s->cfg.permessage_deflate &&
      ws_pmd_negotiate(http_header_joined(h, "Sec-WebSocket-Extensions", ext_buf, sizeof ext_buf));
  fconn_upgrade(f, hc, accept, kind, kind == FCONN_CHAT ? id : NULL, (size_t)idlen, deflate);
}

