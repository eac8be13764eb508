/* JWT auth of the upgrade: fetch `token` from the query, verify it with the
 * configured secret at the current wall-clock time. */
#include "server/chat/auth.h"

#include <string.h>
#include <time.h>

#include "protocol/handshake.h"
#include "protocol/jwt.h"

int auth_enabled(const config_t *cfg) {
  return cfg->auth_secret && cfg->auth_secret[0] != '\0';
}

int auth_check(const config_t *cfg, slice_t query, const char *id, size_t idlen,
               const char **why) {
  /* One byte more than the limit, so a longer token is seen as too long
   * rather than cut off. */
  char token[JWT_HS256_MAX_LEN + 2];
  struct timespec ts;
  long n;
  int r;

  if (!auth_enabled(cfg)) return 0;
  n = url_query_param(query, "token", token, sizeof token);
  if (n == -1) {
    *why = "no token";
    return -1;
  }
  if (n < 0) {
    *why = "token too long or badly percent-encoded";
    return -1;
  }
  clock_gettime(CLOCK_REALTIME, &ts);
  r = jwt_hs256_verify(token, (size_t)n, cfg->auth_secret, strlen(cfg->auth_secret), id, idlen,
                       (double)ts.tv_sec + ts.tv_nsec / 1e9);
  explicit_bzero(token, (size_t)n); /* a valid token is a bearer credential */
  if (r != JWT_HS256_OK) {
    *why = jwt_hs256_strerror(r);
    return -1;
  }
  return 0;
}
