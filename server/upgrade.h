/* The WebSocket upgrade request (PROTOCOL.md section 2). */
#ifndef FASTWS_UPGRADE_H
#define FASTWS_UPGRADE_H

#include "server/fconn.h"

/* Checks the request in the contract's order and answers the first
 * failure; on success f is a WebSocket. rawid: the percent-encoded id
 * (kind FCONN_CHAT), or empty (FCONN_ECHO). */
void upgrade_request(fconn_t *f, http_conn_t *h, const http_request_t *req, slice_t rawid,
                     int kind);

#endif
