/* fastwsd: the command line. Exit codes: 0 clean, 1 configuration error,
 * 2 runtime failure or a bad command line (unknown option, missing option
 * argument, unexpected argument). fastwsd(8) documents it all. */
#include <getopt.h>
#include <jansson.h>
#include <llhttp.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include <zlib.h>

#include "config/config.h"
#include "server/chat/auth.h" /* token_cmd_main */
#include "server/util/log.h"
#include "server/server.h" /* server_run */

#define FASTWSD_VERSION "0.1.0"
#define EXIT_USAGE      2

static const struct option longopts[] = {
    {"config", required_argument, NULL, 'c'},
    {"test", no_argument, NULL, 't'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *out) {
  fprintf(out, "Usage: fastwsd [-c FILE] [-t]\n"
               "       fastwsd token CLIENT_ID [--ttl SECONDS] -c FILE\n"
               "       fastwsd -h | -V\n"
               "A WebSocket chat server daemon.\n"
               "\n"
               "  -c, --config=FILE  read the configuration from FILE (INI, see fastws.conf(5));\n"
               "                     without it, the built-in defaults\n"
               "  -t, --test         check the configuration and exit: 0 valid, 1 invalid\n"
               "  -h, --help         show this help and exit\n"
               "  -V, --version      show the versions of fastwsd and its libraries and exit\n"
               "\n"
               "  token CLIENT_ID    print a JWT for CLIENT_ID (fastwsd token --help)\n"
               "\n"
               "SIGHUP reloads FILE; SIGTERM and SIGINT shut down gracefully.\n"
               "Exit status: 0 clean, 1 configuration error, 2 runtime failure or bad usage.\n"
               "See fastwsd(8) and fastws.conf(5).\n");
}

/* "NAME VERSION", plus the version fastwsd was built against when the
 * library loaded at run time is another. */
static void lib_line(const char *name, const char *running, const char *built) {
  printf("%s %s", name, running);
  if (strcmp(running, built) != 0) printf(" (built with %s)", built);
  printf("\n");
}

static void version(void) {
  const char *ssl = OpenSSL_version(OPENSSL_VERSION); /* "OpenSSL 3.0.x DATE" */
  char uv[64];
  /* uv_version_string()'s format: "1.44.2", or "1.45.0-dev". */
  snprintf(uv, sizeof uv, "%d.%d.%d%s%s", UV_VERSION_MAJOR, UV_VERSION_MINOR, UV_VERSION_PATCH,
           UV_VERSION_SUFFIX[0] ? "-" : "", UV_VERSION_SUFFIX);
  printf("fastwsd %s\n", FASTWSD_VERSION);
  lib_line("libuv", uv_version_string(), uv);
  printf("%s", ssl);
  if (strcmp(ssl, OPENSSL_VERSION_TEXT) != 0) printf(" (built with %s)", OPENSSL_VERSION_TEXT);
  printf("\n");
  lib_line("zlib", zlibVersion(), ZLIB_VERSION);
  lib_line("jansson", jansson_version_str(), JANSSON_VERSION);
  /* llhttp's sources are compiled into the binary: built with = runs with. */
  printf("llhttp %d.%d.%d\n", LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR, LLHTTP_VERSION_PATCH);
}

/* 0, or 2 when stdout could not take the output (e.g. `--help >/dev/full`). */
static int flush_stdout(void) {
  if (fflush(stdout) == 0 && !ferror(stdout)) return 0;
  fprintf(stderr, "fastwsd: write error on standard output\n");
  return EXIT_USAGE;
}

/* The long option at arg ("--name" or "--name=value") takes no argument
 * but was given one; else 0. Prefixes count, as getopt_long allows them. */
static int long_given_value(const char *arg) {
  const char *eq = strchr(arg, '=');
  size_t n;
  if (!eq) return 0;
  n = (size_t)(eq - arg - 2);
  for (const struct option *o = longopts; o->name; o++)
    if (o->has_arg == no_argument && n > 0 && strncmp(o->name, arg + 2, n) == 0) return 1;
  return 0;
}

/* One line on stderr about the option getopt_long refused, then the
 * usage-error exit status. arg: the argv element being parsed. */
static int bad_option(int rc, const char *arg) {
  char name[64];
  if (strncmp(arg, "--", 2) == 0)
    snprintf(name, sizeof name, "%.*s", (int)strcspn(arg, "="), arg);
  else
    snprintf(name, sizeof name, "-%c", optopt ? optopt : '?');
  if (rc == ':')
    fprintf(stderr, "fastwsd: option '%s' needs an argument; try 'fastwsd --help'\n", name);
  else if (strncmp(arg, "--", 2) == 0 && long_given_value(arg))
    fprintf(stderr, "fastwsd: option '%s' takes no argument; try 'fastwsd --help'\n", name);
  else
    fprintf(stderr, "fastwsd: unknown option '%s'; try 'fastwsd --help'\n", name);
  return EXIT_USAGE;
}

int main(int argc, char **argv) {
  const char *path = NULL;
  int check_only = 0, opt, cur;
  config_t cfg;
  char err[512];

  if (argc >= 2 && strcmp(argv[1], "token") == 0) return token_cmd_main(argc - 1, argv + 1);
  /* Our own messages (opterr 0, leading ':'), and no permutation ('+'):
   * argv[cur] is then always the element getopt_long is looking at. */
  opterr = 0;
  for (;;) {
    cur = optind;
    opt = getopt_long(argc, argv, "+:c:thV", longopts, NULL);
    if (opt == -1) break;
    switch (opt) {
    case 'c': path = optarg; break;
    case 't': check_only = 1; break;
    case 'h': usage(stdout); return flush_stdout();
    case 'V': version(); return flush_stdout();
    default: return bad_option(opt, cur < argc ? argv[cur] : "");
    }
  }
  if (optind < argc) {
    fprintf(stderr, "fastwsd: unexpected argument '%s'; try 'fastwsd --help'\n", argv[optind]);
    return EXIT_USAGE;
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
