/* `fastwsd token`: mint a token for a client, with the secret of the
 * config file, so operators and tests need no JWT tooling. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/chat/auth.h"
#include "config/config.h"
#include "protocol/handshake.h"
#include "protocol/jwt.h"

#define TOKEN_TTL_DEFAULT 3600
#define TOKEN_TTL_MAX     (10LL * 366 * 24 * 3600)

static void token_usage(FILE *out) {
  fprintf(out,
          "usage: fastwsd token CLIENT_ID [--ttl SECONDS] -c FILE\n"
          "  prints an HS256 token for CLIENT_ID signed with the auth_secret of FILE\n"
          "  -c, --config=FILE  the configuration file whose auth_secret signs\n"
          "  --ttl SECONDS      lifetime, 1 to %lld (default %d)\n"
          "  -h, --help         show this help and exit\n",
          TOKEN_TTL_MAX, TOKEN_TTL_DEFAULT);
}

static int parse_ttl(const char *s, long long *out) {
  char *end;
  long long v;
  if (!s || *s < '0' || *s > '9') return -1;
  errno = 0;
  v = strtoll(s, &end, 10);
  if (errno || *end || v < 1 || v > TOKEN_TTL_MAX) return -1;
  *out = v;
  return 0;
}

int token_cmd_main(int argc, char **argv) {
  static const struct option longopts[] = {
      {"ttl", required_argument, NULL, 'T'},
      {"config", required_argument, NULL, 'c'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *path = NULL, *id = NULL;
  long long ttl = TOKEN_TTL_DEFAULT, now;
  char err[512], tok[JWT_HS256_MAX_LEN + 1];
  config_t cfg;
  long n;
  int opt;

  optind = 1;
  while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
    switch (opt) {
    case 'c': path = optarg; break;
    case 'T':
      if (parse_ttl(optarg, &ttl) != 0) {
        fprintf(stderr, "fastwsd token: bad --ttl '%s' (want 1 to %lld seconds)\n", optarg,
                TOKEN_TTL_MAX);
        return 1;
      }
      break;
    case 'h': token_usage(stdout); return 0;
    default: token_usage(stderr); return 1;
    }
  }
  if (optind != argc - 1) {
    fprintf(stderr, "fastwsd token: expected exactly one CLIENT_ID\n");
    token_usage(stderr);
    return 1;
  }
  id = argv[optind];
  if (!ws_id_valid(id, strlen(id))) {
    fprintf(stderr, "fastwsd token: bad client id (1 to %d characters of A-Z a-z 0-9 _ - .)\n",
            WS_ID_MAX);
    return 1;
  }
  if (config_load_or_defaults(path, &cfg, err, sizeof err) != 0) {
    fprintf(stderr, "fastwsd: %s\n", err);
    return 1;
  }
  if (!auth_enabled(&cfg)) {
    fprintf(stderr, "fastwsd token: no auth_secret configured in %s\n",
            path ? path : "(defaults; use -c FILE)");
    config_free(&cfg);
    return 1;
  }
  now = (long long)time(NULL);
  n = jwt_hs256_sign(cfg.auth_secret, strlen(cfg.auth_secret), id, strlen(id), now, now + ttl, tok,
                     sizeof tok);
  config_free(&cfg);
  if (n < 0) {
    fprintf(stderr, "fastwsd token: %s\n", jwt_hs256_strerror((int)n));
    return 1;
  }
  printf("%s\n", tok);
  return fflush(stdout) == 0 ? 0 : 1;
}
