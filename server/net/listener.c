#include "server/net/listener.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "server/util/log.h"

static void on_connection(uv_stream_t *st, int status) {
  listener_t *l = st->data;
  if (status < 0) {
    log_warn("accept on port %d: %s", l->bound_port, uv_strerror(status));
    return;
  }
  l->set->cb(st, l->set->data);
}

void listeners_init(listeners_t *ls, uv_loop_t *loop, listener_cb cb, void *data) {
  memset(ls, 0, sizeof *ls);
  ls->loop = loop;
  ls->cb = cb;
  ls->data = data;
}

static int resolve(const config_listen_t *a, struct sockaddr_storage *ss) {
  const char *host = a->host;
  if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
  if (strchr(host, ':')) return uv_ip6_addr(host, a->port, (struct sockaddr_in6 *)ss);
  return uv_ip4_addr(host, a->port, (struct sockaddr_in *)ss);
}

static int listener_start(listeners_t *ls, const config_t *cfg, const config_listen_t *a,
                          listener_t **out) {
  struct sockaddr_storage ss;
  int r, len = sizeof ss;
  unsigned flags = 0;
  listener_t *l = calloc(1, sizeof *l);
  if (!l) return UV_ENOMEM;
  l->set = ls;
  l->addr = *a;
  memset(&ss, 0, sizeof ss);
  if ((r = resolve(a, &ss)) != 0) {
    free(l);
    return r;
  }
  uv_tcp_init_ex(ls->loop, &l->tcp, ss.ss_family);
  l->tcp.data = l;
  if (ss.ss_family == AF_INET6) flags |= UV_TCP_IPV6ONLY;
  if (cfg->reuse_port) {
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

/* Sockets handed over by systemd (fastwsd.socket): used as they are, in
 * place of the configured addresses. Returns how many, or a uv error. */
static int adopt_activated(listeners_t *ls) {
  int n = sd_listen_fds(1), i, r;
  for (i = 0; i < n && ls->n < CONFIG_MAX_LISTEN; i++) {
    int fd = SD_LISTEN_FDS_START + i;
    listener_t *l;
    if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
      log_warn("activation socket %d is not a listening TCP socket: skipped", fd);
      continue;
    }
    if (!(l = calloc(1, sizeof *l))) return UV_ENOMEM;
    l->set = ls;
    l->activated = 1;
    uv_tcp_init(ls->loop, &l->tcp);
    l->tcp.data = l;
    if ((r = uv_tcp_open(&l->tcp, fd)) == 0)
      r = uv_listen((uv_stream_t *)&l->tcp, 4096, on_connection);
    if (r != 0) {
      uv_close((uv_handle_t *)&l->tcp, (uv_close_cb)free);
      return r;
    }
    ls->items[ls->n++] = l;
    log_info("listening on socket %d from systemd", fd);
  }
  return n < 0 ? 0 : n;
}

static void addr_name(const config_listen_t *a, int port, char *buf, size_t len) {
  int v6 = strchr(a->host, ':') != NULL;
  snprintf(buf, len, "%s%s%s:%d", v6 ? "[" : "", a->host, v6 ? "]" : "", port);
}

static int start_one(listeners_t *ls, const config_t *cfg, const config_listen_t *a) {
  listener_t *l = NULL;
  char name[96];
  int r = listener_start(ls, cfg, a, &l);
  if (r != 0) {
    addr_name(a, a->port, name, sizeof name);
    log_error("cannot listen on %s: %s", name, uv_strerror(r));
    return r;
  }
  ls->items[ls->n++] = l;
  addr_name(a, l->bound_port, name, sizeof name);
  log_info("listening on %s", name);
  return 0;
}

int listeners_start(listeners_t *ls, const config_t *cfg) {
  size_t i;
  int r = adopt_activated(ls);
  if (r != 0) return r < 0 ? r : 0;
  for (i = 0; i < cfg->n_listen; i++)
    if ((r = start_one(ls, cfg, &cfg->listen[i])) != 0) return r;
  return 0;
}

static int same_addr(const config_listen_t *a, const config_listen_t *b) {
  return a->port == b->port && strcmp(a->host, b->host) == 0;
}

static void close_listener(listener_t *l) {
  uv_close((uv_handle_t *)&l->tcp, (uv_close_cb)free);
}

void listeners_reconcile(listeners_t *ls, const config_t *next) {
  size_t i, j, kept = 0;
  char name[96];
  for (i = 0; i < ls->n; i++) {
    listener_t *l = ls->items[i];
    int wanted = l->activated;
    for (j = 0; !wanted && j < next->n_listen; j++)
      wanted = same_addr(&l->addr, &next->listen[j]);
    if (wanted) {
      ls->items[kept++] = l;
    } else {
      addr_name(&l->addr, l->bound_port, name, sizeof name);
      log_info("no longer listening on %s", name);
      close_listener(l);
    }
  }
  ls->n = kept;
  if (kept > 0 && ls->items[0]->activated) return; /* systemd owns the sockets */
  for (j = 0; j < next->n_listen; j++) {
    int have = 0;
    for (i = 0; i < ls->n && !have; i++)
      have = same_addr(&ls->items[i]->addr, &next->listen[j]);
    if (!have && ls->n < CONFIG_MAX_LISTEN) start_one(ls, next, &next->listen[j]);
  }
}

void listeners_close(listeners_t *ls) {
  size_t i;
  for (i = 0; i < ls->n; i++)
    close_listener(ls->items[i]);
  ls->n = 0;
}
