/* The chat's lifecycle of a client: join (with replace), depart, evict. */
#include "server/chat/chat.h"

#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "server/chat/events.h"
#include "server/util/clock.h"
#include "server/util/log.h"

const char *const chat_type_names[MT_COUNT] = {"chat",  "private", "ping", "join",
                                               "leave", "room",    "other"};
const char *const chat_error_names[ME_COUNT] = {"invalid_json",      "invalid_message",
                                                "unknown_type",      "unknown_recipient",
                                                "not_in_room",       "rate_limited",
                                                "too_many_rooms"};

int chat_type_index(const char *type, size_t len) {
  int i;
  for (i = 0; i < MT_OTHER; i++)
    if (strlen(chat_type_names[i]) == len && memcmp(chat_type_names[i], type, len) == 0) return i;
  return MT_OTHER;
}

int chat_init(chat_t *ch, const chat_transport_t *tr) {
  memset(ch, 0, sizeof *ch);
  ch->tr = tr;
  return manager_init(&ch->mgr, tr->deliver);
}

void chat_free(chat_t *ch) {
  manager_free(&ch->mgr);
  strbuf_free(&ch->scratch);
  strbuf_free(&ch->emit);
}

/* Another connection holds this id and the policy is replace: the user
 * never left, so the others see no user_left/user_joined pair; the old
 * connection leaves its rooms (it is closed) and the new one starts with
 * none. */
static void take_over_id(chat_t *ch, client_t *c, client_t *old) {
  char peer[64];
  events_leave_all_rooms(ch, old);
  manager_replace(&ch->mgr, old, c);
  log_info("client %s replaced by a new connection from %s", c->id,
           ch->tr->peer(c, peer, sizeof peer));
  ch->tr->close(old, 4001, "replaced");
}

int chat_join(chat_t *ch, client_t *c, const char *id, size_t len, double rate, double burst) {
  client_t *old = manager_find(&ch->mgr, id, len);
  c->rate = (float)rate;
  c->burst = (float)burst;
  c->tokens = (float)burst;
  c->tokens_at = (uint32_t)clock_mono_ms();
  if (old) {
    take_over_id(ch, c, old);
    /* Clustered: the new claim time goes out, silently. */
    if (ch->bp) events_user_joined(ch, c, ch->bp->ops->claim(ch->bp, c) | 1);
    return 0;
  }
  if (manager_add(&ch->mgr, c, id, len) != 0) return -1;
  /* Held by another node: a take-over, no user_joined. */
  events_user_joined(ch, c, ch->bp ? ch->bp->ops->claim(ch->bp, c) : 0);
  return 0;
}

void chat_depart(chat_t *ch, client_t *c) {
  char id[256];
  if (!c->id) return; /* never joined, replaced or evicted */
  snprintf(id, sizeof id, "%s", c->id);
  events_leave_all_rooms(ch, c);
  manager_remove(&ch->mgr, c);
  events_user_left(ch, id);
}

void chat_evict(chat_t *ch, client_t *c) {
  char id[256];
  snprintf(id, sizeof id, "%s", c->id);
  events_leave_all_rooms(ch, c);
  manager_remove(&ch->mgr, c);
  if (ch->bp) ch->bp->ops->client_left(ch->bp, id, NULL, 0);
  log_info("client %s replaced by a newer connection on another node", id);
  ch->tr->close(c, 4001, "replaced");
}
