#include "server/net/deadline.h"

#include <stdlib.h>

void dl_set_init(dl_set_t *s) {
  s->lists = NULL;
}

void dl_set_free(dl_set_t *s) {
  while (s->lists) {
    dl_list_t *l = s->lists;
    s->lists = l->next_list;
    free(l);
  }
}

void dl_remove(dl_node_t *n) {
  if (!n->next) return;
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->prev = n->next = NULL;
}

/* Sets hold a handful of lists (one per duration in use), the newest
 * first: the current duration is found at once. */
static dl_list_t *list_for(dl_set_t *s, uint64_t duration_ms) {
  dl_list_t *l;
  for (l = s->lists; l; l = l->next_list)
    if (l->duration_ms == duration_ms) return l;
  if (!(l = malloc(sizeof *l))) return NULL;
  l->head.prev = l->head.next = &l->head;
  l->duration_ms = duration_ms;
  l->next_list = s->lists;
  s->lists = l;
  return l;
}

static void append(dl_list_t *l, dl_node_t *n, uint64_t at) {
  n->at = at;
  n->prev = l->head.prev;
  n->next = &l->head;
  l->head.prev->next = n;
  l->head.prev = n;
}

int dl_set_touch(dl_set_t *s, dl_node_t *n, uint64_t duration_ms, uint64_t now) {
  dl_list_t *l;
  dl_remove(n);
  if (duration_ms == 0) return 0;
  if (!(l = list_for(s, duration_ms))) return -1;
  append(l, n, now + duration_ms);
  return 0;
}

void dl_advance(dl_set_t *s, dl_node_t *n, uint64_t duration_ms, uint64_t now) {
  uint64_t next = n->at + duration_ms;
  dl_list_t *l;
  dl_remove(n);
  if (duration_ms == 0 || !(l = list_for(s, duration_ms))) return;
  append(l, n, next > now ? next : now + duration_ms);
}

dl_node_t *dl_set_expired(dl_set_t *s, uint64_t now) {
  dl_list_t *l;
  for (l = s->lists; l; l = l->next_list) {
    dl_node_t *first = l->head.next;
    if (first != &l->head && first->at <= now) return first;
  }
  return NULL;
}

void dl_set_trim(dl_set_t *s) {
  dl_list_t **pp = &s->lists;
  while (*pp) {
    dl_list_t *l = *pp;
    if (l->head.next == &l->head) {
      *pp = l->next_list;
      free(l);
    } else {
      pp = &l->next_list;
    }
  }
}

uint64_t dl_ms(double seconds) {
  double ms;
  if (!(seconds > 0)) return 0;
  ms = seconds * 1000.0 + 0.5;
  if (ms < 1) return 1;
  if (ms > 1e15) return (uint64_t)1e15;
  return (uint64_t)ms;
}
