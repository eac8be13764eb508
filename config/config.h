/* fastwsd's configuration: the INI file of PROTOCOL.md section 5, parsed
 * with inih into one struct with every default filled in and every value
 * validated. */
#ifndef FASTWS_CONFIG_H
#define FASTWS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_LISTEN  16
#define CONFIG_MAX_ORIGINS 64

enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
enum { DUP_REPLACE = 0, DUP_REJECT = 1 };

typedef struct {
  char host[64]; /* numeric IPv4 or IPv6 (without brackets), or "localhost" */
  int port;      /* 0..65535; 0 = ephemeral (tests) */
} config_listen_t;

/* Owned by its declarer; config_free releases the heap parts. */
typedef struct {
  /* [server] */
  config_listen_t listen[CONFIG_MAX_LISTEN];
  size_t n_listen;
  char *static_dir;        /* heap; default "static" */
  int log_level;           /* LOG_* */
  char *echo_path;         /* heap; "" = off */
  double shutdown_timeout; /* seconds */
  int reuse_port;          /* 0/1 */

  /* [websocket] */
  uint64_t max_message_size;
  uint64_t max_send_buffer;
  double heartbeat_interval; /* seconds, 0 = off */
  double idle_timeout;       /* seconds, 0 = off */
  double handshake_timeout;  /* seconds */
  size_t max_header_size;
  int permessage_deflate; /* 0/1 */
  size_t deflate_min_size;
  int on_duplicate_id; /* DUP_* */
  double rate_limit;   /* messages/s, 0 = off */
  double rate_burst;

  /* [limits] */
  uint64_t max_connections;
  uint64_t max_connections_per_ip; /* 0 = off */

  /* [security] */
  char *origins[CONFIG_MAX_ORIGINS]; /* heap strings */
  size_t n_origins;                  /* 0 = same host only */
  char *auth_secret;                 /* heap; "" = no auth; from auth_secret_file when given */

  /* [tls] */
  char *tls_cert; /* heap; "" = off */
  char *tls_key;

  /* [cluster] */
  char *redis_url;      /* heap; "" = single node */
  char *node_id;        /* heap; "" = hostname:pid, filled in by the server */
  char *channel_prefix; /* heap; default "fastws" */
} config_t;

/* Fills c with every default of PROTOCOL.md section 5. 0, or -1 on ENOMEM. */
int config_defaults(config_t *c);

/* Loads path over the defaults. Returns 0, or -1 with a message
 * "FILE:LINE: [section] key: what is wrong" (or "FILE: cannot open: ...")
 * in err. On error c holds nothing to free. Unknown sections and keys,
 * malformed numbers, out-of-range values, and a bad listen address are all
 * errors. Relative auth_secret_file and static_dir paths are relative to
 * the working directory. */
int config_load(const char *path, config_t *c, char *err, size_t errlen);

/* config_load, or the defaults when path is NULL (err then says
 * "out of memory" on failure). */
int config_load_or_defaults(const char *path, config_t *c, char *err, size_t errlen);

void config_free(config_t *c);

/* The name of a log level ("error", ...). */
const char *config_log_level_name(int level);

#endif
