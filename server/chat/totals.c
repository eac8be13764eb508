/* Counts cluster-wide: the local registry plus the other nodes' replica. */
#include "server/chat/chat.h"

int chat_has_id(const chat_t *ch, const char *id, size_t len) {
  const manager_t *peers = bp_peers(ch->bp);
  return manager_find(&ch->mgr, id, len) || (peers && manager_find(peers, id, len));
}

size_t chat_clients_total(const chat_t *ch) {
  const manager_t *peers = bp_peers(ch->bp);
  return manager_count(&ch->mgr) + (peers ? manager_count(peers) : 0);
}

size_t chat_room_total(const chat_t *ch, const char *name, size_t len, const room_t *local) {
  const manager_t *peers = bp_peers(ch->bp);
  const room_t *r;
  size_t n = local ? local->count : 0;
  if (peers && (r = manager_room_find(peers, name, len))) n += r->count;
  return n;
}

size_t chat_rooms_total(const chat_t *ch) {
  const manager_t *peers = bp_peers(ch->bp);
  size_t n = manager_room_count(&ch->mgr);
  const room_t *r;
  for (r = peers ? peers->rfirst : NULL; r; r = r->next)
    if (!manager_room_find(&ch->mgr, r->name, r->name_len)) n++;
  return n;
}
