#include "server/chat/manager.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a: ids are short, so a simple byte hash is fast and good enough;
 * tables double at load factor 1. */
static size_t hash_bytes(const char *p, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  while (n--)
    h = (h ^ (uint8_t)*p++) * 1099511628211ULL;
  return (size_t)h;
}

static char *dup_bytes(const char *p, size_t n) {
  char *s = malloc(n + 1);
  if (!s) return NULL;
  memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

int manager_init(manager_t *m) {
  memset(m, 0, sizeof *m);
  m->ctab_size = 1024;
  m->rtab_size = 64;
  m->ctab = calloc(m->ctab_size, sizeof *m->ctab);
  m->rtab = calloc(m->rtab_size, sizeof *m->rtab);
  if (!m->ctab || !m->rtab) {
    manager_free(m);
    return -1;
  }
  return 0;
}

static void room_free(room_t *r) {
  member_t *mb = r->head;
  while (mb) {
    member_t *next = mb->next;
    free(mb);
    mb = next;
  }
  free(r->name);
  free(r);
}

void manager_free(manager_t *m) {
  room_t *r = m->rfirst;
  while (r) {
    room_t *next = r->next;
    room_free(r);
    r = next;
  }
  free(m->ctab);
  free(m->rtab);
  memset(m, 0, sizeof *m);
}

/* --- clients ---------------------------------------------------------- */

static void ctab_grow(manager_t *m) {
  size_t nsize = m->ctab_size * 2, i;
  client_t **n = calloc(nsize, sizeof *n);
  if (!n) return; /* keep the old table: slower, still correct */
  for (i = 0; i < m->ctab_size; i++) {
    client_t *c = m->ctab[i];
    while (c) {
      client_t *next = c->hnext;
      size_t b = hash_bytes(c->id, c->id_len) & (nsize - 1);
      c->hnext = n[b];
      n[b] = c;
      c = next;
    }
  }
  free(m->ctab);
  m->ctab = n;
  m->ctab_size = nsize;
}

client_t *manager_find(const manager_t *m, const char *id, size_t len) {
  client_t *c = m->ctab[hash_bytes(id, len) & (m->ctab_size - 1)];
  for (; c; c = c->hnext)
    if (c->id_len == len && memcmp(c->id, id, len) == 0) return c;
  return NULL;
}

static void ctab_insert(manager_t *m, client_t *c) {
  size_t b = hash_bytes(c->id, c->id_len) & (m->ctab_size - 1);
  c->hnext = m->ctab[b];
  m->ctab[b] = c;
}

static void ctab_unlink(manager_t *m, client_t *c) {
  client_t **pp = &m->ctab[hash_bytes(c->id, c->id_len) & (m->ctab_size - 1)];
  while (*pp && *pp != c)
    pp = &(*pp)->hnext;
  if (*pp) *pp = c->hnext;
  c->hnext = NULL;
}

int manager_add(manager_t *m, client_t *c, const char *id, size_t len) {
  if (len == 0 || len > 255) return -1;
  c->id = dup_bytes(id, len);
  if (!c->id) return -1;
  c->id_len = (uint8_t)len;
  c->rooms = NULL;
  if (m->n_clients >= m->ctab_size) ctab_grow(m);
  ctab_insert(m, c);
  c->next = NULL;
  c->prev = m->last;
  if (m->last)
    m->last->next = c;
  else
    m->first = c;
  m->last = c;
  m->n_clients++;
  return 0;
}

void manager_remove(manager_t *m, client_t *c) {
  if (!c->id) return;
  ctab_unlink(m, c);
  if (c->prev)
    c->prev->next = c->next;
  else
    m->first = c->next;
  if (c->next)
    c->next->prev = c->prev;
  else
    m->last = c->prev;
  c->prev = c->next = NULL;
  free(c->id);
  c->id = NULL;
  c->id_len = 0;
  m->n_clients--;
}

void manager_replace(manager_t *m, client_t *old, client_t *c) {
  ctab_unlink(m, old);
  c->id = old->id;
  c->id_len = old->id_len;
  c->rooms = NULL;
  c->prev = old->prev;
  c->next = old->next;
  if (c->prev)
    c->prev->next = c;
  else
    m->first = c;
  if (c->next)
    c->next->prev = c;
  else
    m->last = c;
  ctab_insert(m, c);
  old->id = NULL;
  old->id_len = 0;
  old->prev = old->next = NULL;
}

size_t manager_count(const manager_t *m) {
  return m->n_clients;
}

void manager_broadcast(manager_t *m, outmsg_t *msg, const client_t *except) {
  client_t *c;
  for (c = m->first; c; c = c->next)
    if (c != except) client_deliver(c, msg);
}

/* --- rooms ------------------------------------------------------------ */

room_t *manager_room_find(const manager_t *m, const char *name, size_t len) {
  room_t *r = m->rtab[hash_bytes(name, len) & (m->rtab_size - 1)];
  for (; r; r = r->hnext)
    if (r->name_len == len && memcmp(r->name, name, len) == 0) return r;
  return NULL;
}

static void rtab_grow(manager_t *m) {
  size_t nsize = m->rtab_size * 2, i;
  room_t **n = calloc(nsize, sizeof *n);
  if (!n) return;
  for (i = 0; i < m->rtab_size; i++) {
    room_t *r = m->rtab[i];
    while (r) {
      room_t *next = r->hnext;
      size_t b = hash_bytes(r->name, r->name_len) & (nsize - 1);
      r->hnext = n[b];
      n[b] = r;
      r = next;
    }
  }
  free(m->rtab);
  m->rtab = n;
  m->rtab_size = nsize;
}

static room_t *room_create(manager_t *m, const char *name, size_t len) {
  room_t *r;
  size_t b;
  if (len == 0 || len > 255) return NULL;
  r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->name = dup_bytes(name, len);
  if (!r->name) {
    free(r);
    return NULL;
  }
  r->name_len = (uint8_t)len;
  if (m->n_rooms >= m->rtab_size) rtab_grow(m);
  b = hash_bytes(name, len) & (m->rtab_size - 1);
  r->hnext = m->rtab[b];
  m->rtab[b] = r;
  r->prev = m->rlast;
  if (m->rlast)
    m->rlast->next = r;
  else
    m->rfirst = r;
  m->rlast = r;
  m->n_rooms++;
  return r;
}

static void room_destroy(manager_t *m, room_t *r) {
  room_t **pp = &m->rtab[hash_bytes(r->name, r->name_len) & (m->rtab_size - 1)];
  while (*pp && *pp != r)
    pp = &(*pp)->hnext;
  if (*pp) *pp = r->hnext;
  if (r->prev)
    r->prev->next = r->next;
  else
    m->rfirst = r->next;
  if (r->next)
    r->next->prev = r->prev;
  else
    m->rlast = r->prev;
  m->n_rooms--;
  room_free(r);
}

static member_t *membership(const room_t *r, const client_t *c) {
  member_t *mb;
  for (mb = c->rooms; mb; mb = mb->client_next)
    if (mb->room == r) return mb;
  return NULL;
}

int manager_room_is_member(const room_t *r, const client_t *c) {
  return membership(r, c) != NULL;
}

room_t *manager_room_join(manager_t *m, client_t *c, const char *name, size_t len, int *joined) {
  room_t *r = manager_room_find(m, name, len);
  member_t *mb;
  *joined = 0;
  if (r && membership(r, c)) return r;
  if (!r && !(r = room_create(m, name, len))) return NULL;
  mb = calloc(1, sizeof *mb);
  if (!mb) {
    if (r->count == 0) room_destroy(m, r);
    return NULL;
  }
  mb->room = r;
  mb->client = c;
  mb->prev = r->tail;
  if (r->tail)
    r->tail->next = mb;
  else
    r->head = mb;
  r->tail = mb;
  r->count++;
  mb->client_next = c->rooms;
  c->rooms = mb;
  *joined = 1;
  return r;
}

int manager_room_leave(manager_t *m, room_t *r, client_t *c) {
  member_t **pp = &c->rooms, *mb;
  while (*pp && (*pp)->room != r)
    pp = &(*pp)->client_next;
  if (!(mb = *pp)) return 0;
  *pp = mb->client_next;
  if (mb->prev)
    mb->prev->next = mb->next;
  else
    r->head = mb->next;
  if (mb->next)
    mb->next->prev = mb->prev;
  else
    r->tail = mb->prev;
  r->count--;
  free(mb);
  if (r->count == 0) {
    room_destroy(m, r);
    return 1;
  }
  return 0;
}

void manager_room_broadcast(room_t *r, outmsg_t *msg) {
  member_t *mb;
  for (mb = r->head; mb; mb = mb->next)
    client_deliver(mb->client, msg);
}
