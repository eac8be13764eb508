/* The HTTP routes of PROTOCOL.md section 1, as a table of path -> handler
 * with the methods each allows. */
#include <stdio.h>
#include <string.h>

#include "server/chat/auth.h"
#include "server/cluster/cluster.h"
#include "server/net/conn.h"
#include "server/http/http.h"
#include "server/util/log.h"
#include "protocol/handshake.h"
#include "server/http/static.h"
#include "server/ws/ws.h"

typedef void (*route_fn)(conn_t *c, http_conn_t *h, http_request_t *req, slice_t rest);

typedef struct {
  const char *path;  /* exact path, or a prefix when it ends in '/' */
  const char *allow; /* methods, as the Allow header lists them */
  route_fn fn;
} route_t;

static int method_allowed(slice_t method, const char *allow) {
  const char *p = allow;
  if (strcmp(allow, "*") == 0) return 1;
  while (*p) {
    size_t n = strcspn(p, ",");
    if (n == method.len && memcmp(p, method.base, n) == 0) return 1;
    p += n;
    while (*p == ',' || *p == ' ')
      p++;
  }
  return 0;
}

static void json_from_scratch(conn_t *c, http_request_t *req, int status) {
  strbuf_t *b = &c->srv->scratch;
  http_respond_json(c, req, status, b->buf, b->len, NULL);
}

static void route_root(conn_t *c, http_conn_t *h, http_request_t *req, slice_t rest) {
  static const char body[] = "{\"message\":\"WebSocket server is running\"}";
  (void)h;
  (void)rest;
  http_respond_json(c, req, 200, body, sizeof body - 1, NULL);
}

static void route_clients(conn_t *c, http_conn_t *h, http_request_t *req, slice_t rest) {
  server_t *s = c->srv;
  strbuf_t *b = &s->scratch;
  char num[32];
  client_t *cl;
  const manager_t *peers = cluster_peers(s->cluster); /* other nodes' clients */
  (void)h;
  (void)rest;
  b->len = 0;
  snprintf(num, sizeof num, "{\"count\":%zu,\"clients\":[", cluster_clients_total(s));
  strbuf_append(b, num, strlen(num));
  for (cl = s->mgr.first; cl; cl = cl->next) {
    if (cl != s->mgr.first) strbuf_append(b, ",", 1);
    msg_json_string(b, cl->id, cl->id_len);
  }
  for (cl = peers ? peers->first : NULL; cl; cl = cl->next) {
    if (cl != peers->first || s->mgr.first) strbuf_append(b, ",", 1);
    msg_json_string(b, cl->id, cl->id_len);
  }
  strbuf_append(b, "]}", 2);
  json_from_scratch(c, req, 200);
}

static void route_rooms(conn_t *c, http_conn_t *h, http_request_t *req, slice_t rest) {
  server_t *s = c->srv;
  strbuf_t *b = &s->scratch;
  char num[48];
  room_t *r;
  const manager_t *peers = cluster_peers(s->cluster); /* other nodes' rooms */
  size_t n = s->mgr.n_rooms, i = 0;
  (void)h;
  (void)rest;
  for (r = peers ? peers->rfirst : NULL; r; r = r->next)
    if (!manager_room_find(&s->mgr, r->name, r->name_len)) n++;
  b->len = 0;
  snprintf(num, sizeof num, "{\"count\":%zu,\"rooms\":[", n);
  strbuf_append(b, num, strlen(num));
  for (r = s->mgr.rfirst; r; r = r->next) {
    if (i++) strbuf_append(b, ",", 1);
    strbuf_append(b, "{\"room\":", 8);
    msg_json_string(b, r->name, r->name_len);
    snprintf(num, sizeof num, ",\"count\":%zu}", cluster_room_total(s, r->name, r->name_len, r));
    strbuf_append(b, num, strlen(num));
  }
  for (r = peers ? peers->rfirst : NULL; r; r = r->next) {
    if (manager_room_find(&s->mgr, r->name, r->name_len)) continue;
    if (i++) strbuf_append(b, ",", 1);
    strbuf_append(b, "{\"room\":", 8);
    msg_json_string(b, r->name, r->name_len);
    snprintf(num, sizeof num, ",\"count\":%zu}", r->count);
    strbuf_append(b, num, strlen(num));
  }
  strbuf_append(b, "]}", 2);
  json_from_scratch(c, req, 200);
}

static void route_room(conn_t *c, http_conn_t *h, http_request_t *req, slice_t rest) {
  server_t *s = c->srv;
  strbuf_t *b = &s->scratch;
  char name[WS_ID_MAX * 3 + 1], num[48];
  long n = url_percent_decode(rest.base, rest.len, name, sizeof name - 1);
  room_t *r = NULL, *pr = NULL; /* local, and other nodes' members */
  const manager_t *peers = cluster_peers(s->cluster);
  member_t *mb;
  size_t i = 0;
  (void)h;
  if (n <= 0 || !ws_id_valid(name, (size_t)n) ||
      (!(r = manager_room_find(&s->mgr, name, (size_t)n)) &&
       !(pr = peers ? manager_room_find(peers, name, (size_t)n) : NULL))) {
    http_respond_error(c, req, 404, NULL);
    return;
  }
  if (r && peers) pr = manager_room_find(peers, name, (size_t)n);
  b->len = 0;
  strbuf_append(b, "{\"room\":", 8);
  msg_json_string(b, name, (size_t)n);
  snprintf(num, sizeof num, ",\"count\":%zu,\"clients\":[",
           (r ? r->count : 0) + (pr ? pr->count : 0));
  strbuf_append(b, num, strlen(num));
  for (mb = r ? r->head : NULL; mb; mb = mb->next) {
    if (i++) strbuf_append(b, ",", 1);
    msg_json_string(b, mb->client->id, mb->client->id_len);
  }
  for (mb = pr ? pr->head : NULL; mb; mb = mb->next) {
    if (i++) strbuf_append(b, ",", 1);
    msg_json_string(b, mb->client->id, mb->client->id_len);
  }
  strbuf_append(b, "]}", 2);
  json_from_scratch(c, req, 200);
}

static void route_healthz(conn_t *c, http_conn_t *h, http_request_t *req, slice_t rest) {
  (void)h;
  (void)rest;
  if (c->srv->draining) {
    static const char body[] = "{\"status\":\"draining\"}";
    http_respond_json(c, req, 503, body, sizeof body - 1, NULL);
  } else if (!cluster_up(c->srv->cluster)) {
    /* Redis is down: local clients are served, other nodes unreachable. */
    static const char body[] = "{\"status\":\"degraded\"}";
    http_respond_json(c, req, 200, body, sizeof body - 1, NULL);
  } else {
    static const char body[] = "{\"status\":\"ok\"}";
    http_respond_json(c, req, 200, body, sizeof body - 1, NULL);
  }
}

static void route_metrics(conn_t *c, http_conn_t *h, http_request_t *req, slice_t rest) {
  server_t *s = c->srv;
  (void)h;
  (void)rest;
  s->scratch.len = 0;
  metrics_render(&s->metrics, &s->scratch, s->n_ws, s->mgr.n_rooms, conn_queued_total,
                 cluster_up(s->cluster));
  http_respond(c, req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, s->scratch.buf,
               s->scratch.len);
}

static void route_static(conn_t *c, http_conn_t *h, http_request_t *req, slice_t rest) {
  static_serve(c, h, req, rest);
}

/* The checks of PROTOCOL.md section 2, in its order; the first that fails
 * answers. */
static void upgrade(conn_t *c, http_conn_t *h, http_request_t *req, slice_t rawid, int kind) {
  server_t *s = c->srv;
  char id[WS_ID_MAX * 3 + 1];
  char accept[WS_ACCEPT_KEY_LEN + 1];
  ws_upgrade_req_t up;
  char upgrade_buf[512], connection_buf[512], ext_buf[2048];
  long idlen = 0;
  int status, deflate;

  if (kind == WS_KIND_CHAT) {
    idlen = url_percent_decode(rawid.base, rawid.len, id, sizeof id - 1);
    if (idlen <= 0 || !ws_id_valid(id, (size_t)idlen)) {
      static const char body[] =
          "{\"detail\":\"client_id must be 1 to 64 characters of A-Z a-z 0-9 _ - .\"}";
      http_respond_json(c, req, 400, body, sizeof body - 1, NULL);
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
    http_respond_json(c, req, 426, "{\"detail\":\"Upgrade Required\"}", 29,
                      "Sec-WebSocket-Version: 13\r\n");
    return;
  }
  if (status != 0) {
    static const char body[] = "{\"detail\":\"invalid WebSocket handshake\"}";
    http_respond_json(c, req, 400, body, sizeof body - 1, NULL);
    return;
  }
  if (!ws_origin_allowed(http_header(h, "Origin"), http_header(h, "Host"), c->tls != NULL,
                         (const char *const *)s->cfg.origins, s->cfg.n_origins)) {
    http_respond_error(c, req, 403, NULL);
    return;
  }
  /* AUTH: the JWT check goes here (PROTOCOL.md section 2 order). echo_path
   * is not authenticated (auth.h). */
  if (kind == WS_KIND_CHAT && auth_check_upgrade(c, req->query, id, (size_t)idlen) != 0) {
    static const char body[] = "{\"detail\":\"Unauthorized\"}";
    http_respond_json(c, req, 401, body, sizeof body - 1, NULL);
    return;
  }
  if (s->draining || s->n_ws >= s->cfg.max_connections ||
      (s->cfg.max_connections_per_ip &&
       iplimit_get(&s->per_ip, c->peer_family, c->peer) >= s->cfg.max_connections_per_ip)) {
    http_respond_error(c, req, 503, NULL);
    return;
  }
  if (kind == WS_KIND_CHAT && s->cfg.on_duplicate_id == DUP_REJECT &&
      (manager_find(&s->mgr, id, (size_t)idlen) ||
       cluster_has_client(s->cluster, id, (size_t)idlen))) {
    static const char body[] = "{\"detail\":\"client_id already connected\"}";
    http_respond_json(c, req, 409, body, sizeof body - 1, NULL);
    return;
  }
  if (ws_accept_key(up.key.base, up.key.len, accept) != 0) {
    http_respond_error(c, req, 500, NULL);
    return;
  }
  deflate =
      s->cfg.permessage_deflate &&
      ws_pmd_negotiate(http_header_joined(h, "Sec-WebSocket-Extensions", ext_buf, sizeof ext_buf));
  ws_upgrade(c, accept, kind, kind == WS_KIND_CHAT ? id : NULL, (size_t)idlen, deflate);
}

static void route_ws(conn_t *c, http_conn_t *h, http_request_t *req, slice_t rest) {
  upgrade(c, h, req, rest, WS_KIND_CHAT);
}

static const route_t routes[] = {
    {"/", "GET, HEAD", route_root},
    {"/clients", "GET", route_clients},
    {"/rooms", "GET", route_rooms},
    {"/rooms/", "GET", route_room},
    {"/healthz", "GET, HEAD", route_healthz},
    {"/metrics", "GET", route_metrics},
    {"/static", "GET, HEAD", route_static},
    {"/static/", "GET, HEAD", route_static},
    /* Every method: a non-GET is a failed handshake (400), not a 405. */
    {"/ws/", "*", route_ws},
};

static int path_matches(const char *pattern, slice_t path, slice_t *rest) {
  size_t n = strlen(pattern);
  if (pattern[n - 1] == '/' && n > 1) {
    if (path.len < n || memcmp(path.base, pattern, n) != 0) return 0;
    *rest = slice_make(path.base + n, path.len - n);
    return 1;
  }
  *rest = slice_make(path.base + path.len, 0);
  return path.len == n && memcmp(path.base, pattern, n) == 0;
}

void routes_handle(conn_t *c, http_conn_t *h, http_request_t *req) {
  const char *echo = c->srv->cfg.echo_path;
  size_t i;
  slice_t rest;
  char allow[64];

  if (echo && *echo && req->path.len == strlen(echo) &&
      memcmp(req->path.base, echo, req->path.len) == 0) {
    upgrade(c, h, req, slice_make(NULL, 0), WS_KIND_ECHO);
    return;
  }
  for (i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    if (!path_matches(routes[i].path, req->path, &rest)) continue;
    if (!method_allowed(req->method, routes[i].allow)) {
      snprintf(allow, sizeof allow, "Allow: %s\r\n", routes[i].allow);
      http_respond_error(c, req, 405, allow);
      return;
    }
    routes[i].fn(c, h, req, rest);
    return;
  }
  http_respond_error(c, req, 404, NULL);
}
