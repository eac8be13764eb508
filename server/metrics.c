#include "server/metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *type_names[MT_COUNT] = {"chat",  "private", "ping", "join",
                                           "leave", "room",    "other"};
static const char *error_names[ME_COUNT] = {"invalid_json",      "invalid_message", "unknown_type",
                                            "unknown_recipient", "not_in_room",     "rate_limited"};

int metrics_type_index(const char *type, size_t len) {
  int i;
  for (i = 0; i < MT_OTHER; i++)
    if (strlen(type_names[i]) == len && memcmp(type_names[i], type, len) == 0) return i;
  return MT_OTHER;
}

void metrics_count_close(metrics_t *m, uint16_t code) {
  int i, free_slot = -1;
  for (i = 0; i < METRICS_CLOSE_CODES; i++) {
    if (m->close_code[i] == code) {
      m->closes[i]++;
      return;
    }
    if (m->close_code[i] == 0 && free_slot < 0) free_slot = i;
  }
  /* Codes are few (those of PROTOCOL.md section 4 plus clients' own);
   * past the table, rare codes share the last slot's label "other". */
  if (free_slot < 0) free_slot = METRICS_CLOSE_CODES - 1;
  if (m->close_code[free_slot] == 0) m->close_code[free_slot] = code;
  m->closes[free_slot]++;
}

static int appendf(strbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#include <stdarg.h>
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

int metrics_render(const metrics_t *m, strbuf_t *b, uint64_t connections, uint64_t rooms,
                   uint64_t send_queue_bytes, int cluster_up) {
  int i, r = 0;
  r |= family(b, "fastws_connections", "gauge", "Open WebSocket connections.");
  r |= appendf(b, "fastws_connections %" PRIu64 "\n", connections);
  r |= family(b, "fastws_connections_total", "counter", "WebSocket connections accepted.");
  r |= appendf(b, "fastws_connections_total %" PRIu64 "\n", m->connections_total);
  r |= family(b, "fastws_messages_received_total", "counter", "Client messages received, by type.");
  for (i = 0; i < MT_COUNT; i++)
    r |= appendf(b, "fastws_messages_received_total{type=\"%s\"} %" PRIu64 "\n", type_names[i],
                 m->messages_received[i]);
  r |= family(b, "fastws_messages_sent_total", "counter", "WebSocket messages queued to clients.");
  r |= appendf(b, "fastws_messages_sent_total %" PRIu64 "\n", m->messages_sent);
  r |= family(b, "fastws_bytes_received_total", "counter", "Bytes read from clients.");
  r |= appendf(b, "fastws_bytes_received_total %" PRIu64 "\n", m->bytes_received);
  r |= family(b, "fastws_bytes_sent_total", "counter", "Bytes written to clients.");
  r |= appendf(b, "fastws_bytes_sent_total %" PRIu64 "\n", m->bytes_sent);
  r |= family(b, "fastws_errors_total", "counter", "Error messages sent to clients, by code.");
  for (i = 0; i < ME_COUNT; i++)
    r |= appendf(b, "fastws_errors_total{code=\"%s\"} %" PRIu64 "\n", error_names[i], m->errors[i]);
  r |= family(b, "fastws_closes_total", "counter", "WebSocket closes, by close code.");
  for (i = 0; i < METRICS_CLOSE_CODES; i++)
    if (m->close_code[i])
      r |= appendf(b, "fastws_closes_total{code=\"%u\"} %" PRIu64 "\n", (unsigned)m->close_code[i],
                   m->closes[i]);
  r |= family(b, "fastws_rooms", "gauge", "Rooms with at least one member.");
  r |= appendf(b, "fastws_rooms %" PRIu64 "\n", rooms);
  r |= family(b, "fastws_send_queue_bytes", "gauge", "Bytes queued for clients, not yet written.");
  r |= appendf(b, "fastws_send_queue_bytes %" PRIu64 "\n", send_queue_bytes);
  r |= family(b, "fastws_cluster_up", "gauge",
              "1 when the cluster backplane is connected (or not configured).");
  r |= appendf(b, "fastws_cluster_up %d\n", cluster_up);
  return r ? -1 : 0;
}
