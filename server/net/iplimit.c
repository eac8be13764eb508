#include "server/net/iplimit.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "server/util/list.h"

typedef struct {
  idmap_node_t node;
  uint32_t count;
  uint8_t key[17]; /* family, then the address */
} ip_entry_t;

static size_t make_key(uint8_t key[17], uint8_t family, const uint8_t *addr) {
  size_t n = family == AF_INET6 ? 16 : 4;
  key[0] = family;
  memcpy(key + 1, addr, n);
  return n + 1;
}

int iplimit_init(iplimit_t *l) {
  return idmap_init(&l->map, 1024);
}

void iplimit_free(iplimit_t *l) {
  size_t i;
  for (i = 0; l->map.tab && i < l->map.size; i++) {
    idmap_node_t *n = l->map.tab[i];
    while (n) {
      idmap_node_t *next = n->next;
      free(container_of(n, ip_entry_t, node));
      n = next;
    }
  }
  idmap_free(&l->map);
}

static ip_entry_t *find(const iplimit_t *l, uint8_t family, const uint8_t *addr) {
  uint8_t key[17];
  idmap_node_t *n = idmap_find(&l->map, key, make_key(key, family, addr));
  return n ? container_of(n, ip_entry_t, node) : NULL;
}

uint32_t iplimit_get(const iplimit_t *l, uint8_t family, const uint8_t addr[16]) {
  ip_entry_t *e = find(l, family, addr);
  return e ? e->count : 0;
}

int iplimit_add(iplimit_t *l, uint8_t family, const uint8_t addr[16]) {
  ip_entry_t *e = find(l, family, addr);
  if (!e) {
    size_t n;
    if (!(e = calloc(1, sizeof *e))) return -1;
    n = make_key(e->key, family, addr);
    idmap_insert(&l->map, &e->node, e->key, n);
  }
  e->count++;
  return 0;
}

void iplimit_remove(iplimit_t *l, uint8_t family, const uint8_t addr[16]) {
  ip_entry_t *e = find(l, family, addr);
  if (!e) return;
  if (--e->count == 0) {
    idmap_remove(&l->map, &e->node);
    free(e);
  }
}

size_t iplimit_size(const iplimit_t *l) {
  return l->map.n;
}
