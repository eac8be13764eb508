/* Connections per peer address, for max_connections_per_ip. Owned by the
 * daemon; iplimit_free releases. Only addresses with at least one
 * connection have an entry, in a keyed map (an attacker picks addresses,
 * not buckets). */
#ifndef FASTWS_NET_IPLIMIT_H
#define FASTWS_NET_IPLIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "server/util/idmap.h"

typedef struct {
  idmap_t map;
} iplimit_t;

int iplimit_init(iplimit_t *l);
void iplimit_free(iplimit_t *l);

/* Connections counted now for the address (0 when none). */
uint32_t iplimit_get(const iplimit_t *l, uint8_t family, const uint8_t addr[16]);

/* Counts one more connection; 0, or -1 on ENOMEM. */
int iplimit_add(iplimit_t *l, uint8_t family, const uint8_t addr[16]);

/* Counts one less, dropping the entry at zero. */
void iplimit_remove(iplimit_t *l, uint8_t family, const uint8_t addr[16]);

/* Addresses with an entry. */
size_t iplimit_size(const iplimit_t *l);

#endif
