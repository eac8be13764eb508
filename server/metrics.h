/* /metrics (Prometheus text format 0.0.4): each layer keeps its own
 * counters (net_stats_t, ws_stats_t, chat_stats_t); this renders them. */
#ifndef FASTWS_METRICS_H
#define FASTWS_METRICS_H

#include <stdint.h>

#include "protocol/message.h"
#include "server/chat/chat.h"
#include "server/net/conn.h"
#include "server/ws/ws.h"

typedef struct {
  const net_stats_t *net;
  const ws_stats_t *ws;
  const chat_stats_t *chat;
  uint64_t connections; /* open WebSocket sessions */
  uint64_t rooms;
  int cluster_up;
} metrics_view_t;

/* Appends the exposition text. 0 or -1. */
int metrics_render(const metrics_view_t *v, strbuf_t *out);

#endif
