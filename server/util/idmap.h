/* An intrusive hash map from byte strings to the structs that embed an
 * idmap_node_t (clients by id, rooms by name, addresses). Keyed with
 * hash_keyed, so client input cannot pick collisions; chains stay short
 * because the table doubles at load factor 1. The map owns only its table:
 * nodes and their keys belong to whoever embeds them, and a key must stay
 * valid and unchanged while its node is in the map. */
#ifndef FASTWS_UTIL_IDMAP_H
#define FASTWS_UTIL_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct idmap_node_s {
  struct idmap_node_s *next;
  const void *key;
  uint32_t key_len;
  uint32_t hash; /* low bits of the keyed hash: no rehashing on growth */
} idmap_node_t;

typedef struct {
  idmap_node_t **tab;
  size_t size; /* a power of two */
  size_t n;
} idmap_t;

/* An empty map of `size` buckets (rounded up to a power of two, at least
 * 8). 0, or -1 on ENOMEM. */
int idmap_init(idmap_t *m, size_t size);

/* Frees the table (not the nodes). */
void idmap_free(idmap_t *m);

idmap_node_t *idmap_find(const idmap_t *m, const void *key, size_t len);

/* Inserts n under key (not copied). The key must not be in the map.
 * Never fails: when the table cannot grow, chains get longer. */
void idmap_insert(idmap_t *m, idmap_node_t *n, const void *key, size_t len);

/* Removes n, which must be in the map. */
void idmap_remove(idmap_t *m, idmap_node_t *n);

/* Puts `to` in the map where `from` was, under from's key. */
void idmap_replace(idmap_t *m, idmap_node_t *from, idmap_node_t *to);

#endif
