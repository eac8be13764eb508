#include "server/metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int appendf(strbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int appendf(strbuf_t *b, const char *fmt, ...) {
  char line[256];
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return -1;
  if ((size_t)n >= sizeof line) n = sizeof line - 1;
  return strbuf_append(b, line, (size_t)n);
}

static int family(strbuf_t *b, const char *name, const char *type, const char *help) {
  return appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int metrics_render(const metrics_view_t *v, strbuf_t *b) {
  const chat_stats_t *m = v->chat;
  int i, r = 0;
  r |= family(b, "fastws_connections", "gauge", "Open WebSocket connections.");
  r |= appendf(b, "fastws_connections %" PRIu64 "\n", v->connections);
  r |= family(b, "fastws_connections_total", "counter", "WebSocket connections accepted.");
  r |= appendf(b, "fastws_connections_total %" PRIu64 "\n", v->ws->sessions_total);
  r |= family(b, "fastws_messages_received_total", "counter", "Client messages received, by type.");
  for (i = 0; i < MT_COUNT; i++)
    r |= appendf(b, "fastws_messages_received_total{type=\"%s\"} %" PRIu64 "\n", chat_type_names[i],
                 m->messages_received[i]);
  r |= family(b, "fastws_messages_sent_total", "counter", "WebSocket messages queued to clients.");
  r |= appendf(b, "fastws_messages_sent_total %" PRIu64 "\n", m->messages_sent);
  r |= family(b, "fastws_bytes_received_total", "counter", "Bytes read from clients.");
  r |= appendf(b, "fastws_bytes_received_total %" PRIu64 "\n", v->net->bytes_received);
  r |= family(b, "fastws_bytes_sent_total", "counter", "Bytes written to clients.");
  r |= appendf(b, "fastws_bytes_sent_total %" PRIu64 "\n", v->net->bytes_sent);
  r |= family(b, "fastws_errors_total", "counter", "Error messages sent to clients, by code.");
  for (i = 0; i < ME_COUNT; i++)
    r |= appendf(b, "fastws_errors_total{code=\"%s\"} %" PRIu64 "\n", chat_error_names[i], m->errors[i]);
  r |= family(b, "fastws_closes_total", "counter", "WebSocket closes, by close code.");
  for (i = 0; i < WS_CLOSE_SLOTS; i++)
    if (v->ws->close_code[i])
      r |= appendf(b, "fastws_closes_total{code=\"%u\"} %" PRIu64 "\n",
                   (unsigned)v->ws->close_code[i], v->ws->closes[i]);
  r |= family(b, "fastws_rooms", "gauge", "Rooms with at least one member.");
  r |= appendf(b, "fastws_rooms %" PRIu64 "\n", v->rooms);
  r |= family(b, "fastws_send_queue_bytes", "gauge", "Bytes queued for clients, not yet written.");
  r |= appendf(b, "fastws_send_queue_bytes %" PRIu64 "\n", v->net->queued);
  r |= family(b, "fastws_cluster_up", "gauge",
              "1 when the cluster backplane is connected (or not configured).");
  r |= appendf(b, "fastws_cluster_up %d\n", v->cluster_up);
  return r ? -1 : 0;
}
