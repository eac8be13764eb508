#include "server/net/iplimit.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define IPLIMIT_BUCKETS 4096

static size_t addr_len(uint8_t family) {
  return family == AF_INET6 ? 16 : 4;
}

static size_t bucket(const iplimit_t *l, uint8_t family, const uint8_t *addr) {
  uint64_t h = 1469598103934665603ULL ^ family;
  size_t i;
  for (i = 0; i < addr_len(family); i++)
    h = (h ^ addr[i]) * 1099511628211ULL;
  return (size_t)(h % l->size);
}

int iplimit_init(iplimit_t *l) {
  l->size = IPLIMIT_BUCKETS;
  l->n = 0;
  l->tab = calloc(l->size, sizeof *l->tab);
  return l->tab ? 0 : -1;
}

void iplimit_free(iplimit_t *l) {
  size_t i;
  for (i = 0; l->tab && i < l->size; i++) {
    ip_entry_t *e = l->tab[i];
    while (e) {
      ip_entry_t *next = e->next;
      free(e);
      e = next;
    }
  }
  free(l->tab);
  memset(l, 0, sizeof *l);
}

static ip_entry_t **find(const iplimit_t *l, uint8_t family, const uint8_t *addr) {
  ip_entry_t **pp = &l->tab[bucket(l, family, addr)];
  for (; *pp; pp = &(*pp)->next)
    if ((*pp)->family == family && memcmp((*pp)->addr, addr, addr_len(family)) == 0) break;
  return pp;
}

uint32_t iplimit_get(const iplimit_t *l, uint8_t family, const uint8_t addr[16]) {
  ip_entry_t *e = *find(l, family, addr);
  return e ? e->count : 0;
}

int iplimit_add(iplimit_t *l, uint8_t family, const uint8_t addr[16]) {
  ip_entry_t **pp = find(l, family, addr);
  if (!*pp) {
    ip_entry_t *e = calloc(1, sizeof *e);
    if (!e) return -1;
    e->family = family;
    memcpy(e->addr, addr, addr_len(family));
    *pp = e;
    l->n++;
  }
  (*pp)->count++;
  return 0;
}

void iplimit_remove(iplimit_t *l, uint8_t family, const uint8_t addr[16]) {
  ip_entry_t **pp = find(l, family, addr), *e = *pp;
  if (!e) return;
  if (--e->count == 0) {
    *pp = e->next;
    free(e);
    l->n--;
  }
}
