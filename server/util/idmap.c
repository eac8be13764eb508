#include "server/util/idmap.h"

#include <stdlib.h>
#include <string.h>

#include "server/util/hash.h"

int idmap_init(idmap_t *m, size_t size) {
  size_t s = 8;
  while (s < size)
    s *= 2;
  m->n = 0;
  m->size = s;
  m->tab = calloc(s, sizeof *m->tab);
  return m->tab ? 0 : -1;
}

void idmap_free(idmap_t *m) {
  free(m->tab);
  memset(m, 0, sizeof *m);
}

static idmap_node_t **bucket(const idmap_t *m, uint32_t hash) {
  return &m->tab[hash & (m->size - 1)];
}

idmap_node_t *idmap_find(const idmap_t *m, const void *key, size_t len) {
  uint32_t h = (uint32_t)hash_keyed(key, len);
  idmap_node_t *n;
  for (n = *bucket(m, h); n; n = n->next)
    if (n->hash == h && n->key_len == len && memcmp(n->key, key, len) == 0) return n;
  return NULL;
}

static void grow(idmap_t *m) {
  size_t nsize = m->size * 2, i;
  idmap_node_t **t = calloc(nsize, sizeof *t);
  if (!t) return; /* keep the old table: slower, still correct */
  for (i = 0; i < m->size; i++) {
    idmap_node_t *n = m->tab[i];
    while (n) {
      idmap_node_t *next = n->next;
      idmap_node_t **b = &t[n->hash & (nsize - 1)];
      n->next = *b;
      *b = n;
      n = next;
    }
  }
  free(m->tab);
  m->tab = t;
  m->size = nsize;
}

void idmap_insert(idmap_t *m, idmap_node_t *n, const void *key, size_t len) {
  idmap_node_t **b;
  if (m->n >= m->size) grow(m);
  n->key = key;
  n->key_len = (uint32_t)len;
  n->hash = (uint32_t)hash_keyed(key, len);
  b = bucket(m, n->hash);
  n->next = *b;
  *b = n;
  m->n++;
}

void idmap_remove(idmap_t *m, idmap_node_t *n) {
  idmap_node_t **pp = bucket(m, n->hash);
  while (*pp && *pp != n)
    pp = &(*pp)->next;
  if (!*pp) return;
  *pp = n->next;
  n->next = NULL;
  m->n--;
}

void idmap_replace(idmap_t *m, idmap_node_t *from, idmap_node_t *to) {
  idmap_node_t **pp = bucket(m, from->hash);
  while (*pp && *pp != from)
    pp = &(*pp)->next;
  if (!*pp) return;
  *to = *from;
  *pp = to;
  from->next = NULL;
}
