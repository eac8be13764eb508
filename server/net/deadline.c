#include "server/net/deadline.h"

void dl_init(dl_list_t *l, uint64_t duration_ms) {
  l->head.prev = l->head.next = &l->head;
  l->duration_ms = duration_ms;
}

void dl_remove(dl_node_t *n) {
  if (!n->next) return;
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->prev = n->next = NULL;
}

void dl_touch(dl_list_t *l, dl_node_t *n, uint64_t now) {
  dl_remove(n);
  n->at = now + l->duration_ms;
  n->prev = l->head.prev;
  n->next = &l->head;
  l->head.prev->next = n;
  l->head.prev = n;
}

void dl_advance(dl_list_t *l, dl_node_t *n, uint64_t now) {
  uint64_t next = n->at + l->duration_ms;
  dl_touch(l, n, now);
  if (next > now) n->at = next;
}

dl_node_t *dl_expired(dl_list_t *l, uint64_t now) {
  dl_node_t *first = l->head.next;
  if (first == &l->head || first->at > now) return NULL;
  return first;
}
