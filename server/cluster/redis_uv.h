/* hiredis async contexts on a libuv loop: our own small adapter.
 *
 * Debian's hiredis 0.14 adapters/libuv.h ignores a poll error (status < 0),
 * which is how libuv reports a refused non-blocking connect: the context
 * would then wait forever. Here an error is handed to hiredis as the
 * events we wait for, so it reads the socket error and fails the context
 * (its connect or disconnect callback then runs). */
#ifndef FASTWS_CLUSTER_REDIS_UV_H
#define FASTWS_CLUSTER_REDIS_UV_H

#include <hiredis/async.h>
#include <uv.h>

/* Attaches ac (just created by redisAsyncConnect) to loop. The adapter's
 * poll handle closes when hiredis frees the context, and its memory goes
 * in the close callback (the loop runs until then). 0, or -1 (ENOMEM or
 * uv_poll_init_socket failed: the caller frees ac). */
int redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop);

#endif
