#include "server/util/hash.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static uint64_t k0, k1;
static int seeded;

void hash_set_key(const uint8_t key[16]) {
  memcpy(&k0, key, 8);
  memcpy(&k1, key + 8, 8);
  seeded = 1;
}

void hash_seed(void) {
  uint8_t key[16];
  if (getrandom(key, sizeof key, 0) != (ssize_t)sizeof key) {
    /* No entropy source: still differ per process and run. */
    struct timespec ts;
    uint64_t a, b;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    a = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
    b = (uint64_t)ts.tv_sec * 0x9e3779b97f4a7c15ULL ^ (uintptr_t)&ts;
    memcpy(key, &a, 8);
    memcpy(key + 8, &b, 8);
  }
  hash_set_key(key);
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
  do {                                                                                             \
    v0 += v1;                                                                                      \
    v1 = ROTL(v1, 13);                                                                             \
    v1 ^= v0;                                                                                      \
    v0 = ROTL(v0, 32);                                                                             \
    v2 += v3;                                                                                      \
    v3 = ROTL(v3, 16);                                                                             \
    v3 ^= v2;                                                                                      \
    v0 += v3;                                                                                      \
    v3 = ROTL(v3, 21);                                                                             \
    v3 ^= v0;                                                                                      \
    v2 += v1;                                                                                      \
    v1 = ROTL(v1, 17);                                                                             \
    v1 ^= v2;                                                                                      \
    v2 = ROTL(v2, 32);                                                                             \
  } while (0)

/* SipHash with one compression and three finalization rounds (the
 * variant Redis uses for its dict keys): little-endian 8-byte words, the
 * length in the top byte of the last one. */
uint64_t hash_keyed(const void *data, size_t n) {
  const uint8_t *p = data;
  uint64_t v0, v1, v2, v3, m, b = (uint64_t)n << 56;
  size_t i, left = n & 7;
  if (!seeded) hash_seed();
  v0 = 0x736f6d6570736575ULL ^ k0;
  v1 = 0x646f72616e646f6dULL ^ k1;
  v2 = 0x6c7967656e657261ULL ^ k0;
  v3 = 0x7465646279746573ULL ^ k1;
  for (i = 0; i + 8 <= n; i += 8) {
    memcpy(&m, p + i, 8);
    v3 ^= m;
    SIPROUND;
    v0 ^= m;
  }
  for (i = 0; i < left; i++)
    b |= (uint64_t)p[n - left + i] << (8 * i);
  v3 ^= b;
  SIPROUND;
  v0 ^= b;
  v2 ^= 0xff;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t hash_fnv1a(uint64_t h, const void *data, size_t n) {
  const uint8_t *p = data;
  while (n--)
    h = (h ^ *p++) * 1099511628211ULL;
  return h;
}
