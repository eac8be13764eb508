/* Hash functions. Tables that client input fills (ids, rooms, addresses)
 * use hash_keyed: SipHash-1-3 under a random per-process key, as Redis and
 * CPython do, so nobody can pick inputs that collide. hash_fnv1a is for
 * values every node must compute alike (the cluster's presence digest). */
#ifndef FASTWS_UTIL_HASH_H
#define FASTWS_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV_INIT 14695981039346656037ULL

/* SipHash-1-3 of p[0..n) under the process key (hash_seed sets it). */
uint64_t hash_keyed(const void *p, size_t n);

/* Sets the process key from the kernel's random source (getrandom), once;
 * hash_keyed calls it on first use. Tests may set a fixed key instead. */
void hash_seed(void);
void hash_set_key(const uint8_t key[16]);

/* FNV-1a over p[0..n), continuing from h (HASH_FNV_INIT to start). */
uint64_t hash_fnv1a(uint64_t h, const void *p, size_t n);

#endif
