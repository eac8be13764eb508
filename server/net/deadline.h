/* Deadline lists: connections waiting for the same kind of timeout (the
 * handshake, idleness, the next heartbeat) sit in one list ordered by
 * deadline. Every entry of a list has the same duration, so "touch" (move to
 * the tail with a new deadline) keeps the order, and one timer tick only
 * looks at the expired head entries: no scan of all connections. */
#ifndef FASTWS_DEADLINE_H
#define FASTWS_DEADLINE_H

#include <stddef.h>
#include <stdint.h>

typedef struct dl_node_s {
  struct dl_node_s *prev, *next; /* NULL when not in a list */
  uint64_t at;                   /* deadline, ms of uv_now */
} dl_node_t;

/* Owned by the server; entries are embedded in connections. */
typedef struct {
  dl_node_t head; /* sentinel */
  uint64_t duration_ms;
} dl_list_t;

void dl_init(dl_list_t *l, uint64_t duration_ms);

/* Puts n at the tail with deadline now + duration (removing it first). */
void dl_touch(dl_list_t *l, dl_node_t *n, uint64_t now);

/* For periodic deadlines (heartbeats): the next deadline is one duration
 * after the one that just expired, not after now, so the period does not
 * stretch by the tick's lateness. A node that fell a whole period behind
 * starts again from now. The list stays ordered to within one tick. */
void dl_advance(dl_list_t *l, dl_node_t *n, uint64_t now);

void dl_remove(dl_node_t *n);

/* The head entry when its deadline has passed, else NULL. The caller
 * removes or touches it before asking again. */
dl_node_t *dl_expired(dl_list_t *l, uint64_t now);

static inline int dl_linked(const dl_node_t *n) {
  return n->next != NULL;
}

#endif
