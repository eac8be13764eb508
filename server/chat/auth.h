/* The auth_secret check of the WebSocket upgrade (PROTOCOL.md section 2):
 * the query parameter `token` must be an HS256 JWT for the client id (see
 * protocol/jwt.h for every rule). Only /ws/{client_id} is authenticated; the
 * echo_path endpoint (a conformance-test aid, off by default) is not. */
#ifndef FASTWS_CHAT_AUTH_H
#define FASTWS_CHAT_AUTH_H

#include <stddef.h>

#include "config/config.h"
#include "protocol/slice.h"

/* 1 when auth is configured (auth_secret non-empty), else 0. */
int auth_enabled(const config_t *cfg);

/* Checks the token in the raw query string (base NULL when none) for
 * client id[0..idlen) at the current time. 0 when it may go on (also when
 * auth is off); -1 with *why set (a static reason for the log, never the
 * token or the secret). */
int auth_check(const config_t *cfg, slice_t query, const char *id, size_t idlen,
               const char **why);

/* `fastwsd token CLIENT_ID [--ttl SECONDS] [-c FILE]` (server/token_cmd.c):
 * argv[0] is "token". Prints an HS256 token for the config's auth_secret
 * (sub = CLIENT_ID, iat = now, exp = now + ttl, ttl 3600 by default) and
 * returns 0; on any error prints to stderr and returns 1. */
int token_cmd_main(int argc, char **argv);

#endif
