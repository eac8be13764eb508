/* fastwsd: the command line. Exit codes: 0 clean, 1 configuration error,
 * 2 runtime failure. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/chat/auth.h"
#include "config/config.h"
#include "server/util/log.h"
#include "server/server.h"

#define FASTWSD_VERSION "0.1.0"

static void usage(FILE *out) {
  fprintf(out,
          "usage: fastwsd [-c FILE] [-t]\n"
          "       fastwsd token CLIENT_ID [--ttl SECONDS] -c FILE\n"
          "  -c FILE  configuration file (INI, see fastws.conf); built-in defaults without it\n"
          "  -t       check the configuration and exit: 0 valid, 1 invalid\n"
          "  -h       this help\n"
          "  -V       version\n");
}

int main(int argc, char **argv) {
  const char *path = NULL;
  int check_only = 0, opt;
  config_t cfg;
  char err[512];

  if (argc >= 2 && strcmp(argv[1], "token") == 0) return token_cmd_main(argc - 1, argv + 1);
  while ((opt = getopt(argc, argv, "c:thV")) != -1) {
    switch (opt) {
    case 'c': path = optarg; break;
    case 't': check_only = 1; break;
    case 'h': usage(stdout); return 0;
    case 'V': printf("fastwsd %s\n", FASTWSD_VERSION); return 0;
    default: usage(stderr); return 1;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "fastwsd: unexpected argument '%s'\n", argv[optind]);
    usage(stderr);
    return 1;
  }
  if (config_load_or_defaults(path, &cfg, err, sizeof err) != 0) {
    fprintf(stderr, "fastwsd: %s\n", err);
    return 1;
  }
  if (check_only) {
    printf("fastwsd: configuration %s is valid\n", path ? path : "(defaults)");
    config_free(&cfg);
    return 0;
  }
  log_init(cfg.log_level);
  return server_run(&cfg, path);
}
