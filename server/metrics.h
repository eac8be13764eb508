/* Counters for /metrics (Prometheus text format 0.0.4). Owned by the
 * server; plain integers, updated on the loop thread. */
#ifndef FASTWS_METRICS_H
#define FASTWS_METRICS_H

#include <stdint.h>

#include "protocol/message.h"

enum { MT_CHAT, MT_PRIVATE, MT_PING, MT_JOIN, MT_LEAVE, MT_ROOM, MT_OTHER, MT_COUNT };

enum {
  ME_INVALID_JSON,
  ME_INVALID_MESSAGE,
  ME_UNKNOWN_TYPE,
  ME_UNKNOWN_RECIPIENT,
  ME_NOT_IN_ROOM,
  ME_RATE_LIMITED,
  ME_COUNT
};

#define METRICS_CLOSE_CODES 12

typedef struct {
  uint64_t connections_total;
  uint64_t messages_received[MT_COUNT];
  uint64_t messages_sent;
  uint64_t bytes_received;
  uint64_t bytes_sent;
  uint64_t errors[ME_COUNT];
  uint16_t close_code[METRICS_CLOSE_CODES]; /* codes in use, 0 = free slot */
  uint64_t closes[METRICS_CLOSE_CODES];
} metrics_t;

void metrics_count_close(metrics_t *m, uint16_t code);

/* Appends the exposition text. gauges: current connections, rooms, queued
 * send bytes, cluster up. 0 or -1. */
int metrics_render(const metrics_t *m, strbuf_t *out, uint64_t connections, uint64_t rooms,
                   uint64_t send_queue_bytes, int cluster_up);

int metrics_type_index(const char *type, size_t len);

#endif
