/* Deadline lists: connections waiting for the same kind of timeout sit in
 * a list ordered by deadline. Every entry of one list has the same
 * duration, so "touch" (move to the tail with a new deadline) keeps the
 * order and a tick looks only at the expired heads: no scan of all
 * connections. A set holds one list per duration in use: a reload that
 * changes a timeout puts new connections on another list while the old
 * one drains, and open connections keep the duration they started with.
 * A duration of 0 means "off" and never enters a list, so no deadline can
 * expire again within the tick that handled it. */
#ifndef FASTWS_NET_DEADLINE_H
#define FASTWS_NET_DEADLINE_H

#include <stddef.h>
#include <stdint.h>

typedef struct dl_list_s dl_list_t;

typedef struct dl_node_s {
  struct dl_node_s *prev, *next; /* NULL when not in a list */
  uint64_t at;                   /* deadline, ms of uv_now */
} dl_node_t;

struct dl_list_s {
  dl_node_t head; /* sentinel */
  uint64_t duration_ms;
  dl_list_t *next_list;
};

/* Owned by a layer's context; entries are embedded in connections. */
typedef struct {
  dl_list_t *lists;
} dl_set_t;

void dl_set_init(dl_set_t *s);

/* Frees the lists; their nodes must be removed first (or be dropped with
 * the connections that embed them). */
void dl_set_free(dl_set_t *s);

/* Puts n at the tail of the list for duration_ms with deadline now +
 * duration (removing it from wherever it was). duration_ms 0 removes n.
 * 0, or -1 on ENOMEM (n is then in no list). The node does not remember
 * its duration: its owner does (the settings it was accepted under). */
int dl_set_touch(dl_set_t *s, dl_node_t *n, uint64_t duration_ms, uint64_t now);

/* For periodic deadlines (heartbeats): the next deadline is one duration
 * after the one that just expired, not after now, so the period does not
 * stretch by the tick's lateness. A node that fell a whole period behind
 * starts again from now. The list stays ordered to within one tick.
 * duration_ms is the one n was touched with. */
void dl_advance(dl_set_t *s, dl_node_t *n, uint64_t duration_ms, uint64_t now);

void dl_remove(dl_node_t *n);

/* An expired entry of any list of the set, else NULL. The caller removes,
 * touches or advances it before asking again. */
dl_node_t *dl_set_expired(dl_set_t *s, uint64_t now);

/* Frees the lists that are empty (a drained old duration). */
void dl_set_trim(dl_set_t *s);

static inline int dl_linked(const dl_node_t *n) {
  return n->next != NULL;
}

/* Seconds (config) to milliseconds; any positive duration is at least 1. */
uint64_t dl_ms(double seconds);

#endif
