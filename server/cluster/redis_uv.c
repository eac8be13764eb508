/* The hiredis <-> libuv adapter: see redis_uv.h. */
#include "server/cluster/redis_uv.h"

#include <stdlib.h>

typedef struct {
  redisAsyncContext *ac; /* NULL once hiredis cleaned up */
  uv_poll_t poll;
  int events;
} rpoll_t;

static void rpoll_start(rpoll_t *p);

static void rpoll_cb(uv_poll_t *h, int status, int events) {
  rpoll_t *p = h->data;
  int ev = status < 0 ? p->events : events;
  if (p->ac && (ev & UV_READABLE)) redisAsyncHandleRead(p->ac);
  if (p->ac && (ev & UV_WRITABLE)) redisAsyncHandleWrite(p->ac);
  /* libuv stops a poll handle on error; resume if hiredis still cares. */
  if (status < 0 && p->ac) rpoll_start(p);
}

static void rpoll_start(rpoll_t *p) {
  if (uv_is_closing((uv_handle_t *)&p->poll)) return;
  if (p->events)
    uv_poll_start(&p->poll, p->events, rpoll_cb);
  else
    uv_poll_stop(&p->poll);
}

static void rpoll_add_read(void *d) {
  rpoll_t *p = d;
  p->events |= UV_READABLE;
  rpoll_start(p);
}

static void rpoll_del_read(void *d) {
  rpoll_t *p = d;
  p->events &= ~UV_READABLE;
  rpoll_start(p);
}

static void rpoll_add_write(void *d) {
  rpoll_t *p = d;
  p->events |= UV_WRITABLE;
  rpoll_start(p);
}

static void rpoll_del_write(void *d) {
  rpoll_t *p = d;
  p->events &= ~UV_WRITABLE;
  rpoll_start(p);
}

static void rpoll_closed(uv_handle_t *h) {
  free(h->data);
}

/* hiredis frees the context: the handle closes, its memory goes in the
 * close callback. */
static void rpoll_cleanup(void *d) {
  rpoll_t *p = d;
  p->ac = NULL;
  if (!uv_is_closing((uv_handle_t *)&p->poll)) uv_close((uv_handle_t *)&p->poll, rpoll_closed);
}

int redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop) {
  rpoll_t *p = calloc(1, sizeof *p);
  if (!p) return -1;
  if (uv_poll_init_socket(loop, &p->poll, ac->c.fd) != 0) {
    free(p);
    return -1;
  }
  p->ac = ac;
  p->poll.data = p;
  ac->ev.data = p;
  ac->ev.addRead = rpoll_add_read;
  ac->ev.delRead = rpoll_del_read;
  ac->ev.addWrite = rpoll_add_write;
  ac->ev.delWrite = rpoll_del_write;
  ac->ev.cleanup = rpoll_cleanup;
  return 0;
}
