#include "server/chat/manager.h"

#include <stdlib.h>
#include <string.h>

#include "server/util/list.h"

static char *dup_bytes(const char *p, size_t n) {
  char *s = malloc(n + 1);
  if (!s) return NULL;
  memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

int manager_init(manager_t *m, manager_deliver_fn deliver) {
  memset(m, 0, sizeof *m);
  m->deliver = deliver;
  if (idmap_init(&m->clients, 1024) != 0 || idmap_init(&m->rooms, 64) != 0) {
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
  idmap_free(&r->members);
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
  idmap_free(&m->clients);
  idmap_free(&m->rooms);
  memset(m, 0, sizeof *m);
}

/* --- clients ---------------------------------------------------------- */

client_t *manager_find(const manager_t *m, const char *id, size_t len) {
  idmap_node_t *n = idmap_find(&m->clients, id, len);
  return n ? container_of(n, client_t, node) : NULL;
}

int manager_add(manager_t *m, client_t *c, const char *id, size_t len) {
  if (len == 0 || len > 255) return -1;
  c->id = dup_bytes(id, len);
  if (!c->id) return -1;
  c->id_len = (uint8_t)len;
  c->rooms = NULL;
  c->n_rooms = 0;
  idmap_insert(&m->clients, &c->node, c->id, len);
  c->next = NULL;
  c->prev = m->last;
  if (m->last)
    m->last->next = c;
  else
    m->first = c;
  m->last = c;
  return 0;
}

void manager_remove(manager_t *m, client_t *c) {
  if (!c->id) return;
  idmap_remove(&m->clients, &c->node);
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
}

void manager_replace(manager_t *m, client_t *old, client_t *c) {
  idmap_replace(&m->clients, &old->node, &c->node);
  c->id = old->id;
  c->id_len = old->id_len;
  c->rooms = NULL;
  c->n_rooms = 0;
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
  old->id = NULL;
  old->id_len = 0;
  old->prev = old->next = NULL;
}

size_t manager_count(const manager_t *m) {
  return m->clients.n;
}

size_t manager_room_count(const manager_t *m) {
  return m->rooms.n;
}

void manager_deliver(manager_t *m, client_t *c, outmsg_t *msg) {
  if (m->deliver) m->deliver(c, msg);
}

void manager_broadcast(manager_t *m, outmsg_t *msg, const client_t *except) {
  client_t *c;
  if (!m->deliver) return;
  for (c = m->first; c; c = c->next)
    if (c != except) m->deliver(c, msg);
}

/* --- rooms ------------------------------------------------------------ */

room_t *manager_room_find(const manager_t *m, const char *name, size_t len) {
  idmap_node_t *n = idmap_find(&m->rooms, name, len);
  return n ? container_of(n, room_t, node) : NULL;
}

static room_t *room_create(manager_t *m, const char *name, size_t len) {
  room_t *r;
  if (len == 0 || len > 255) return NULL;
  if (!(r = calloc(1, sizeof *r))) return NULL;
  if (!(r->name = dup_bytes(name, len)) || idmap_init(&r->members, 8) != 0) {
    free(r->name);
    free(r);
    return NULL;
  }
  r->name_len = (uint8_t)len;
  idmap_insert(&m->rooms, &r->node, r->name, len);
  r->prev = m->rlast;
  if (m->rlast)
    m->rlast->next = r;
  else
    m->rfirst = r;
  m->rlast = r;
  return r;
}

static void room_destroy(manager_t *m, room_t *r) {
  idmap_remove(&m->rooms, &r->node);
  if (r->prev)
    r->prev->next = r->next;
  else
    m->rfirst = r->next;
  if (r->next)
    r->next->prev = r->prev;
  else
    m->rlast = r->prev;
  room_free(r);
}

/* Members are keyed by the client's address: the map never sees client
 * input, and the lookup is O(1) however many rooms a client is in. */
static member_t *membership(const room_t *r, const client_t *c) {
  idmap_node_t *n = idmap_find(&r->members, &c, sizeof c);
  return n ? container_of(n, member_t, node) : NULL;
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
  if (!(mb = calloc(1, sizeof *mb))) {
    if (r->count == 0) room_destroy(m, r);
    return NULL;
  }
  mb->room = r;
  mb->client = c;
  idmap_insert(&r->members, &mb->node, &mb->client, sizeof mb->client);
  mb->prev = r->tail;
  if (r->tail)
    r->tail->next = mb;
  else
    r->head = mb;
  r->tail = mb;
  r->count++;
  mb->client_next = c->rooms;
  if (c->rooms) c->rooms->client_prev = mb;
  c->rooms = mb;
  c->n_rooms++;
  *joined = 1;
  return r;
}

int manager_room_leave(manager_t *m, room_t *r, client_t *c) {
  member_t *mb = membership(r, c);
  if (!mb) return 0;
  idmap_remove(&r->members, &mb->node);
  if (mb->client_prev)
    mb->client_prev->client_next = mb->client_next;
  else
    c->rooms = mb->client_next;
  if (mb->client_next) mb->client_next->client_prev = mb->client_prev;
  c->n_rooms--;
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

void manager_room_broadcast(manager_t *m, room_t *r, outmsg_t *msg) {
  member_t *mb;
  if (!m->deliver) return;
  for (mb = r->head; mb; mb = mb->next)
    m->deliver(mb->client, msg);
}
