/* The HTTP routes of PROTOCOL.md section 1, as a table of path -> handler
 * with the methods each allows. */
#include <stdio.h>
#include <string.h>

#include "protocol/handshake.h"
#include "server/fconn.h"
#include "server/http/static.h"
#include "server/metrics.h"
#include "server/upgrade.h"

typedef void (*route_fn)(fconn_t *f, http_conn_t *h, http_request_t *req, slice_t rest);

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

static void json_from_scratch(const fconn_t *f, http_conn_t *h, http_request_t *req,
                              int status) {
  strbuf_t *b = &fconn_server(f)->scratch;
  http_respond_json(h, req, status, b->buf, b->len, NULL);
}

static void route_root(fconn_t *f, http_conn_t *h, http_request_t *req, slice_t rest) {
  static const char body[] = "{\"message\":\"WebSocket server is running\"}";
  (void)f;
  (void)rest;
  http_respond_json(h, req, 200, body, sizeof body - 1, NULL);
}

static void route_clients(fconn_t *f, http_conn_t *h, http_request_t *req, slice_t rest) {
  server_t *s = fconn_server(f);
  strbuf_t *b = &s->scratch;
  char num[32];
  client_t *cl;
  const manager_t *peers = bp_peers(s->chat.bp); /* other nodes' clients */
  (void)rest;
  b->len = 0;
  snprintf(num, sizeof num, "{\"count\":%zu,\"clients\":[", chat_clients_total(&s->chat));
  strbuf_append(b, num, strlen(num));
  for (cl = s->chat.mgr.first; cl; cl = cl->next) {
    if (cl != s->chat.mgr.first) strbuf_append(b, ",", 1);
    msg_json_string(b, cl->id, cl->id_len);
  }
  for (cl = peers ? peers->first : NULL; cl; cl = cl->next) {
    if (cl != peers->first || s->chat.mgr.first) strbuf_append(b, ",", 1);
    msg_json_string(b, cl->id, cl->id_len);
  }
  strbuf_append(b, "]}", 2);
  json_from_scratch(f, h, req, 200);
}

static void route_rooms(fconn_t *f, http_conn_t *h, http_request_t *req, slice_t rest) {
  server_t *s = fconn_server(f);
  strbuf_t *b = &s->scratch;
  char num[48];
  room_t *r;
  const manager_t *peers = bp_peers(s->chat.bp); /* other nodes' rooms */
  size_t n = chat_rooms_total(&s->chat), i = 0;
  (void)rest;
  b->len = 0;
  snprintf(num, sizeof num, "{\"count\":%zu,\"rooms\":[", n);
  strbuf_append(b, num, strlen(num));
  for (r = s->chat.mgr.rfirst; r; r = r->next) {
    if (i++) strbuf_append(b, ",", 1);
    strbuf_append(b, "{\"room\":", 8);
    msg_json_string(b, r->name, r->name_len);
    snprintf(num, sizeof num, ",\"count\":%zu}", chat_room_total(&s->chat, r->name, r->name_len, r));
    strbuf_append(b, num, strlen(num));
  }
  for (r = peers ? peers->rfirst : NULL; r; r = r->next) {
    if (manager_room_find(&s->chat.mgr, r->name, r->name_len)) continue;
    if (i++) strbuf_append(b, ",", 1);
    strbuf_append(b, "{\"room\":", 8);
    msg_json_string(b, r->name, r->name_len);
    snprintf(num, sizeof num, ",\"count\":%zu}", r->count);
    strbuf_append(b, num, strlen(num));
  }
  strbuf_append(b, "]}", 2);
  json_from_scratch(f, h, req, 200);
}

static void route_room(fconn_t *f, http_conn_t *h, http_request_t *req, slice_t rest) {
  server_t *s = fconn_server(f);
  strbuf_t *b = &s->scratch;
  char name[WS_ID_MAX * 3 + 1], num[48];
  long n = url_percent_decode(rest.base, rest.len, name, sizeof name - 1);
  room_t *r = NULL, *pr = NULL; /* local, and other nodes' members */
  const manager_t *peers = bp_peers(s->chat.bp);
  member_t *mb;
  size_t i = 0;
  if (n <= 0 || !ws_id_valid(name, (size_t)n) ||
      (!(r = manager_room_find(&s->chat.mgr, name, (size_t)n)) &&
       !(pr = peers ? manager_room_find(peers, name, (size_t)n) : NULL))) {
    http_respond_error(h, req, 404, NULL);
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
  json_from_scratch(f, h, req, 200);
}

static void route_healthz(fconn_t *f, http_conn_t *h, http_request_t *req, slice_t rest) {
  (void)rest;
  if (fconn_server(f)->draining) {
    static const char body[] = "{\"status\":\"draining\"}";
    http_respond_json(h, req, 503, body, sizeof body - 1, NULL);
  } else if (!bp_up(fconn_server(f)->chat.bp)) {
    /* Redis is down: local clients are served, other nodes unreachable. */
    static const char body[] = "{\"status\":\"degraded\"}";
    http_respond_json(h, req, 200, body, sizeof body - 1, NULL);
  } else {
    static const char body[] = "{\"status\":\"ok\"}";
    http_respond_json(h, req, 200, body, sizeof body - 1, NULL);
  }
}

static void route_metrics(fconn_t *f, http_conn_t *h, http_request_t *req, slice_t rest) {
  server_t *s = fconn_server(f);
  (void)rest;
  metrics_view_t v = {&s->net.stats,
                      &s->ws.stats,
                      &s->chat.stats,
                      s->ws.n_sessions,
                      manager_room_count(&s->chat.mgr),
                      bp_up(s->chat.bp)};
  s->scratch.len = 0;
  metrics_render(&v, &s->scratch);
  http_respond(h, req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, s->scratch.buf,
               s->scratch.len);
}

static void route_static(fconn_t *f, http_conn_t *h, http_request_t *req, slice_t rest) {
  static_serve(h, req, rest, fconn_server(f)->static_root);
}

static void route_ws(fconn_t *f, http_conn_t *h, http_request_t *req, slice_t rest) {
  upgrade_request(f, h, req, rest, FCONN_CHAT);
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

static void routes_handle(fconn_t *f, http_conn_t *h, http_request_t *req) {
  const char *echo = fconn_server(f)->cfg.echo_path;
  size_t i;
  slice_t rest;
  char allow[64];

  if (echo && *echo && req->path.len == strlen(echo) &&
      memcmp(req->path.base, echo, req->path.len) == 0) {
    upgrade_request(f, h, req, slice_make(NULL, 0), FCONN_ECHO);
    return;
  }
  for (i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    if (!path_matches(routes[i].path, req->path, &rest)) continue;
    if (!method_allowed(req->method, routes[i].allow)) {
      snprintf(allow, sizeof allow, "Allow: %s\r\n", routes[i].allow);
      http_respond_error(h, req, 405, allow);
      return;
    }
    routes[i].fn(f, h, req, rest);
    return;
  }
  http_respond_error(h, req, 404, NULL);
}

static void on_request(http_conn_t *h, http_request_t *req) {
  routes_handle(h->app_data, h, req);
}

const http_app_t routes_app = {on_request};
