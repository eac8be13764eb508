/* The WebSocket phase of a connection: the upgrade response, frames in
 * (through protocol/frame.c), control frames, the close handshake, and
 * the chat client's arrival and departure. */
#ifndef FASTWS_WS_H
#define FASTWS_WS_H

#include <stddef.h>
#include <stdint.h>

#include "server/server.h"

/* Answers 101 and switches c to WebSocket. kind: WS_KIND_CHAT (then id is
 * registered with the manager, replacing an older holder of the id, and
 * user_joined goes out) or WS_KIND_ECHO. 0, or -1 when the connection was
 * closed instead. */
int ws_upgrade(conn_t *c, const char *accept_key, int kind, const char *id, size_t id_len,
               int deflate);

void ws_on_read(conn_t *c, uint8_t *data, size_t len);

/* The peer vanished (EOF or reset) without a close handshake. */
void ws_on_peer_gone(conn_t *c);

/* Last words before the connection is freed: leave rooms, unregister,
 * user_left. Called once, from the teardown hook. */
void ws_on_teardown(conn_t *c);

/* The chat client leaves (rooms, registry, user_left) as soon as the
 * close handshake starts, not when TCP is finally closed. Called from the
 * loop hook, never inside a fan-out. Idempotent. */
void ws_depart(conn_t *c);

/* Sends a protocol ping (heartbeat). */
void ws_send_ping(conn_t *c);

/* A newer connection on another node took cl's id (cluster.c): cl leaves
 * its rooms, is unregistered without user_left, and is closed with 4001
 * "replaced". May be called during a fan-out (the close is deferred). */
void ws_evict(client_t *cl);

#endif
