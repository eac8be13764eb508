/* Client messages by type (a table of type -> handler), and the server's
 * own events (user_joined, user_left, room_left on departure). Each
 * envelope is encoded once into the server's scratch buffer and framed
 * once for all its recipients. */
#ifndef FASTWS_ROUTER_H
#define FASTWS_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "server/server.h"

/* Handles one complete text message from a chat client. */
void router_dispatch(conn_t *c, const uint8_t *text, size_t len);

/* user_joined to everyone but c; silent: to nobody here (the id was
 * already connected: another node's or a replaced connection), but told
 * to the other nodes (cluster.h). */
void router_user_joined(conn_t *c, int silent);

/* c leaves every room (room_left to each room's remaining members). */
void router_leave_all_rooms(conn_t *c);

/* user_left for id to everyone still registered. */
void router_user_left(server_t *s, const char *id);

#endif
