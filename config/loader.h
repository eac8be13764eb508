/* Internal to config/: the state of one load, the key table's entry
 * type, and the value parsers (values.c) that config.c's table names. */
#ifndef FASTWS_CONFIG_LOADER_H
#define FASTWS_CONFIG_LOADER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"

#define MAX_DURATION    31536000.0 /* one year, in seconds */
#define MAX_RATE        1e9
#define MAX_SECRET_FILE 65536
#define MAX_IDENT       64
#define QUOTE_MAX       100

enum {
  K_LISTEN,
  K_STATIC_DIR,
  K_LOG_LEVEL,
  K_ECHO_PATH,
  K_SHUTDOWN_TIMEOUT,
  K_REUSE_PORT,
  K_MAX_MESSAGE_SIZE,
  K_MAX_SEND_BUFFER,
  K_HEARTBEAT_INTERVAL,
  K_IDLE_TIMEOUT,
  K_HANDSHAKE_TIMEOUT,
  K_MAX_HEADER_SIZE,
  K_PERMESSAGE_DEFLATE,
  K_DEFLATE_MIN_SIZE,
  K_ON_DUPLICATE_ID,
  K_RATE_LIMIT,
  K_RATE_BURST,
  K_MAX_CONNECTIONS,
  K_MAX_CONNECTIONS_PER_IP,
  K_MAX_ROOMS_PER_CLIENT,
  K_ALLOWED_ORIGINS,
  K_AUTH_SECRET,
  K_AUTH_SECRET_FILE,
  K_TLS_CERT,
  K_TLS_KEY,
  K_REDIS_URL,
  K_NODE_ID,
  K_CHANNEL_PREFIX,
  N_KEYS
};

/* The state of one config_load. Owned by config_load's stack frame. */
typedef struct {
  config_t c; /* being built; handed to the caller on success */
  const char *path;
  FILE *f;
  char *buf; /* getline's buffer */
  size_t cap;
  int lineno;    /* the line inih is working on */
  int cont;      /* that line continues the previous key's value */
  int have_prev; /* a key was seen since the last section header */
  int failed;    /* an error is in err; the reader reports EOF */
  char *err;
  size_t errlen;
  int key_line[N_KEYS]; /* line where each key was set; 0 = not in file */
  char *secret_file;    /* auth_secret_file, read once the parse is done */
} loader_t;

typedef struct key_def key_def_t;

/* Parses value into the field of k. cont: value comes from a continuation
 * line. 0, or -1 with the error recorded. */
typedef int (*parse_fn)(loader_t *ld, const key_def_t *k, const char *value, int cont);

#define KF_LIST     1u  /* continuation lines add items */
#define KF_SECRET   2u  /* never quote the value */
#define KF_NONEMPTY 4u  /* empty string not allowed */
#define KF_MIN_EXCL 8u  /* decimal: value must be > dmin */
#define KF_BYTES    16u /* integer is a number of bytes (for messages) */
#define KF_SECONDS  32u /* decimal is a number of seconds (for messages) */

struct key_def {
  const char *section;
  const char *name;
  parse_fn parse;
  size_t off;    /* offsetof(config_t, field) */
  uint64_t umin; /* integers: accepted range, umax 0 = no limit */
  uint64_t umax;
  double dmin; /* decimals: accepted range */
  double dmax;
  unsigned flags;
};


#define FIELD(ld, k, type) ((type *)((char *)&(ld)->c + (k)->off))

int cfg_fail(loader_t *ld, int line, const key_def_t *k,
                                                      const char *fmt, ...);
const char *cfg_quote(char out[QUOTE_MAX + 4], const char *s);
int cfg_oom(loader_t *ld);
int cfg_scan_uint(const char *s, uint64_t *out);
int cfg_scan_decimal(const char *s, double *out);
int cfg_has_unit_suffix(const char *s);
int cfg_set_str(loader_t *ld, char **field, const char *v);
int cfg_parse_str(loader_t *ld, const key_def_t *k, const char *v, int cont);
int cfg_check_uint(loader_t *ld, const key_def_t *k, const char *v, uint64_t *out);
int cfg_parse_u64(loader_t *ld, const key_def_t *k, const char *v, int cont);
int cfg_parse_size(loader_t *ld, const key_def_t *k, const char *v, int cont);
int cfg_parse_seconds(loader_t *ld, const key_def_t *k, const char *v, int cont);
int cfg_parse_bool(loader_t *ld, const key_def_t *k, const char *v, int cont);
int cfg_parse_log_level(loader_t *ld, const key_def_t *k, const char *v, int cont);
int cfg_parse_dup(loader_t *ld, const key_def_t *k, const char *v, int cont);
int cfg_is_path_char(int ch);
int cfg_parse_echo_path(loader_t *ld, const key_def_t *k, const char *v, int cont);
int cfg_scan_port(const char *s, size_t n, int *out);
int cfg_listen_item(loader_t *ld, const key_def_t *k, const char *item);
int cfg_parse_listen(loader_t *ld, const key_def_t *k, const char *v, int cont);
int cfg_is_hostname(const char *s, size_t n);
size_t cfg_scan_host(const char *s, const char **rest);
int cfg_origin_item(loader_t *ld, const key_def_t *k, const char *item);
void cfg_free_origins(config_t *c);
int cfg_parse_origins(loader_t *ld, const key_def_t *k, const char *v, int cont);
int cfg_parse_secret_file(loader_t *ld, const key_def_t *k, const char *v, int cont);
int cfg_parse_redis_url(loader_t *ld, const key_def_t *k, const char *v, int cont);
int cfg_parse_ident(loader_t *ld, const key_def_t *k, const char *v, int cont);

#endif
