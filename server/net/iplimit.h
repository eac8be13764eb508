/* WebSocket connections per peer address, for max_connections_per_ip.
 * Owned by the server; iplimit_free releases. Only addresses with at least
 * one connection have an entry. */
#ifndef FASTWS_IPLIMIT_H
#define FASTWS_IPLIMIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct ip_entry_s {
  struct ip_entry_s *next;
  uint32_t count;
  uint8_t family;
  uint8_t addr[16];
} ip_entry_t;

typedef struct {
  ip_entry_t **tab;
  size_t size, n;
} iplimit_t;

int iplimit_init(iplimit_t *l);
void iplimit_free(iplimit_t *l);

/* Connections counted now for the address (0 when none). */
uint32_t iplimit_get(const iplimit_t *l, uint8_t family, const uint8_t addr[16]);

/* Counts one more connection; 0, or -1 on ENOMEM. */
int iplimit_add(iplimit_t *l, uint8_t family, const uint8_t addr[16]);

/* Counts one less, dropping the entry at zero. */
void iplimit_remove(iplimit_t *l, uint8_t family, const uint8_t addr[16]);

#endif
