/* fastwsd's configuration: the INI file of PROTOCOL.md section 5, parsed
 * with inih into one struct with every default filled in and every value
 * validated. */
#ifndef FASTWS_CONFIG_H
#define FASTWS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_LISTEN  16
#define CONFIG_MAX_ORIGINS 64

#define CONFIG_REDIS_HOST_MAX 256 /* a host name is at most 253 characters */

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
  uint64_t max_rooms_per_client;   /* 0 = off */

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
  /* redis_url parsed (config_parse_redis_url); empty host, port 0 when
   * redis_url is empty. */
  char redis_host[CONFIG_REDIS_HOST_MAX]; /* a host name or IP, IPv6 without brackets */
  int redis_port;                         /* 1..65535 */
  int redis_db;                           /* 0..2^31-1, 0 when the URL has no /db */
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

/* Errors of config_parse_redis_url, each its own message in config.c. */
enum {
  CONFIG_REDIS_URL_OK = 0,
  CONFIG_REDIS_URL_TLS = -1,         /* rediss://: TLS is not supported */
  CONFIG_REDIS_URL_CREDENTIALS = -2, /* user:password@ is not supported */
  CONFIG_REDIS_URL_FORMAT = -3,      /* not redis://host:port[/db] */
  CONFIG_REDIS_URL_DB = -4,          /* the part after '/' is not a database number */
};

/* Parses "redis://host:port[/db]": host a host name (letters, digits, '-'
 * and '.', no empty label, at most 253 characters) or an IPv4 address, or
 * "[IPv6]"; port 1..65535, digits only; db digits only, 0..2^31-1 (0 when
 * absent). Writes the host NUL-terminated (IPv6 without its brackets) into
 * host[0..hostcap), the port and the db. Returns CONFIG_REDIS_URL_OK, or
 * one of the errors above (the outputs are then unspecified); a host that
 * does not fit hostcap is CONFIG_REDIS_URL_FORMAT. Pure: no I/O, no
 * resolution. */
int config_parse_redis_url(const char *url, char *host, size_t hostcap, int *port, int *db);

/* The name of a log level ("error", ...). */
const char *config_log_level_name(int level);

#endif
