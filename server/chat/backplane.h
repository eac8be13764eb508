/* What the chat needs from other nodes, as an interface the chat defines
 * and the cluster (server/cluster/) implements: the chat calls it, never
 * the cluster by name. Without a cluster, chat->bp is NULL and every
 * bp_* helper below answers "nothing remote". Envelopes passed in are
 * borrowed: an implementation copies what it keeps before returning. */
#ifndef FASTWS_CHAT_BACKPLANE_H
#define FASTWS_CHAT_BACKPLANE_H

#include <stddef.h>

#include "server/chat/manager.h"

typedef struct backplane_s backplane_t;

typedef struct {
  /* 1 when the other nodes are reachable. */
  int (*up)(const backplane_t *bp);
  /* The other nodes' clients and rooms (read only). */
  const manager_t *(*peers)(const backplane_t *bp);
  /* Stamps c's claim time as it registers (c->id set). When another node
   * held the id, forgets that holder without an event and returns 1: the
   * new connection takes it over (user_joined must not be delivered). */
  int (*claim)(backplane_t *bp, client_t *c);
  /* What this node just delivered locally, for the others. */
  void (*chat)(backplane_t *bp, const char *env, size_t len);
  void (*room_message)(backplane_t *bp, const char *room, const char *env, size_t len);
  /* `to` is held by another node (peers). */
  void (*private_msg)(backplane_t *bp, const char *from, const char *to, const char *env,
                      size_t len);
  void (*client_joined)(backplane_t *bp, const client_t *c, const char *env, size_t len);
  /* env NULL: a silent leave (the id went to another node's connection). */
  void (*client_left)(backplane_t *bp, const char *id, const char *env, size_t len);
  /* c joined (joined = 1) or left room; edge = 1 when it was the first
   * local member to join or the last to leave. */
  void (*room_changed)(backplane_t *bp, const client_t *c, const char *room, int joined, int edge,
                       const char *env, size_t len);
} backplane_ops_t;

struct backplane_s {
  const backplane_ops_t *ops;
};

static inline const manager_t *bp_peers(const backplane_t *bp) {
  return bp ? bp->ops->peers(bp) : NULL;
}

static inline int bp_up(const backplane_t *bp) {
  return bp ? bp->ops->up(bp) : 1;
}

#endif
