#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "server.h"

static void on_connection(uv_stream_t *st, int status) {
  listener_t *l = st->data;
  server_t *s = l->srv;
  int r;
  if (status < 0) {
    log_warn("accept on port %d: %s", l->bound_port, uv_strerror(status));
    return;
  }
  if ((r = conn_accept(s, st)) != 0 && r != UV_EAGAIN)
    log_warn("accept on port %d: %s", l->bound_port, uv_strerror(r));
}

static int resolve(const config_listen_t *a, struct sockaddr_storage *ss) {
  const char *host = a->host;
  if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
  if (strchr(host, ':'))
    return uv_ip6_addr(host, a->port, (struct sockaddr_in6 *)ss);
  return uv_ip4_addr(host, a->port, (struct sockaddr_in *)ss);
}

static int listener_start(server_t *s, const config_listen_t *a, listener_t **out) {
  struct sockaddr_storage ss;
  int r, len = sizeof ss;
  unsigned flags = 0;
  listener_t *l = calloc(1, sizeof *l);
  if (!l) return UV_ENOMEM;
  l->srv = s;
  l->addr = *a;
  memset(&ss, 0, sizeof ss);
  if ((r = resolve(a, &ss)) != 0) {
    free(l);
    return r;
  }
  uv_tcp_init_ex(s->loop, &l->tcp, ss.ss_family);
  l->tcp.data = l;
  if (ss.ss_family == AF_INET6) flags |= UV_TCP_IPV6ONLY;
  if (s->cfg.reuse_port) {
    uv_os_fd_t fd;
    int one = 1;
    if (uv_fileno((uv_handle_t *)&l->tcp, &fd) == 0)
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  }
  if ((r = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, flags)) == 0)
    r = uv_listen((uv_stream_t *)&l->tcp, 4096, on_connection);
  if (r != 0) {
    uv_close((uv_handle_t *)&l->tcp, (uv_close_cb)free);
    return r;
  }
  uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len);
  l->bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
  *out = l;
  return 0;
}

int listener_start_all(server_t *s) {
  size_t i;
  for (i = 0; i < s->cfg.n_listen; i++) {
    const config_listen_t *a = &s->cfg.listen[i];
    listener_t *l = NULL;
    int r = listener_start(s, a, &l);
    if (r != 0) {
      log_error("cannot listen on %s%s%s:%d: %s", strchr(a->host, ':') ? "[" : "", a->host,
                strchr(a->host, ':') ? "]" : "", a->port, uv_strerror(r));
      return r;
    }
    s->listeners[s->n_listeners++] = l;
    log_info("listening on %s%s%s:%d", strchr(a->host, ':') ? "[" : "", a->host,
             strchr(a->host, ':') ? "]" : "", l->bound_port);
  }
  return 0;
}

void listener_close_all(server_t *s) {
  size_t i;
  for (i = 0; i < s->n_listeners; i++)
    uv_close((uv_handle_t *)&s->listeners[i]->tcp, (uv_close_cb)free);
  s->n_listeners = 0;
}
