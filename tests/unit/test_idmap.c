/* Unit tests for server/util/idmap.c and server/util/hash.c.
 *
 * h2o style: the .c files under test are included, so the tests see the
 * map's table (size, chains) as well as its API. A map stores each node's
 * hash under the process key in force at insert time, so no map lives
 * across a test that changes the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/util/hash.c"
#include "server/util/idmap.c"
#include "server/util/list.h"

typedef struct {
  idmap_node_t node;
  char key[24];
  size_t len;
  int value;
} item_t;

#define ITEM(n) container_of(n, item_t, node)

static const uint8_t KEY_A[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t KEY_B[16] = {15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0};

static void item_set(item_t *it, const void *key, size_t len, int value) {
  assert_true(len <= sizeof it->key);
  memset(it, 0, sizeof *it);
  memcpy(it->key, key, len);
  it->len = len;
  it->value = value;
}

static void item_insert(idmap_t *m, item_t *it) {
  idmap_insert(m, &it->node, it->key, it->len);
}

static item_t *find(const idmap_t *m, const void *key, size_t len) {
  idmap_node_t *n = idmap_find(m, key, len);
  return n ? ITEM(n) : NULL;
}

/* Counts the nodes reachable through the table: every node in exactly one
 * chain, and each in the bucket its stored hash names. */
static size_t chained_nodes(const idmap_t *m) {
  size_t i, count = 0;
  for (i = 0; i < m->size; i++) {
    idmap_node_t *n;
    for (n = m->tab[i]; n; n = n->next) {
      assert_int_equal(n->hash & (m->size - 1), i);
      count++;
    }
  }
  return count;
}

/* ---- idmap ---- */

static void test_init_rounds_size(void **state) {
  idmap_t m;
  (void)state;
  assert_int_equal(idmap_init(&m, 0), 0);
  assert_int_equal(m.size, 8);
  assert_int_equal(m.n, 0);
  idmap_free(&m);
  assert_int_equal(idmap_init(&m, 9), 0);
  assert_int_equal(m.size, 16);
  idmap_free(&m);
  assert_int_equal(idmap_init(&m, 1024), 0);
  assert_int_equal(m.size, 1024);
  idmap_free(&m);
  assert_null(m.tab);
  assert_int_equal(m.size, 0);
}

static void test_insert_find(void **state) {
  idmap_t m;
  item_t a, b;
  (void)state;
  assert_int_equal(idmap_init(&m, 8), 0);
  item_set(&a, "alice", 5, 1);
  item_set(&b, "bob", 3, 2);
  item_insert(&m, &a);
  item_insert(&m, &b);
  assert_int_equal(m.n, 2);
  assert_ptr_equal(find(&m, "alice", 5), &a);
  assert_ptr_equal(find(&m, "bob", 3), &b);
  assert_int_equal(find(&m, "alice", 5)->value, 1);
  assert_null(find(&m, "carol", 5));
  assert_null(find(&m, "ALICE", 5)); /* byte-exact, not case-folded */
  assert_null(find(&m, "alic", 4));
  idmap_free(&m);
}

static void test_find_in_empty_map(void **state) {
  idmap_t m;
  (void)state;
  assert_int_equal(idmap_init(&m, 8), 0);
  assert_null(find(&m, "x", 1));
  assert_null(find(&m, "", 0));
  idmap_free(&m);
}

static void test_remove(void **state) {
  idmap_t m;
  item_t a, b, c;
  (void)state;
  assert_int_equal(idmap_init(&m, 8), 0);
  item_set(&a, "a", 1, 1);
  item_set(&b, "b", 1, 2);
  item_set(&c, "c", 1, 3);
  item_insert(&m, &a);
  item_insert(&m, &b);
  item_insert(&m, &c);
  idmap_remove(&m, &b.node);
  assert_int_equal(m.n, 2);
  assert_null(find(&m, "b", 1));
  assert_ptr_equal(find(&m, "a", 1), &a);
  assert_ptr_equal(find(&m, "c", 1), &c);
  assert_null(b.node.next);
  assert_int_equal(chained_nodes(&m), 2);
  /* The key can be inserted again after its removal. */
  item_insert(&m, &b);
  assert_ptr_equal(find(&m, "b", 1), &b);
  assert_int_equal(m.n, 3);
  idmap_free(&m);
}

/* Removing every third node of a thousand: nodes at the head, middle and
 * tail of chains go, the rest stay findable and chained. */
static void test_remove_from_chains(void **state) {
  enum { N = 1000 };
  idmap_t m;
  item_t *it = calloc(N, sizeof *it);
  size_t i;
  (void)state;
  assert_non_null(it);
  assert_int_equal(idmap_init(&m, 8), 0);
  for (i = 0; i < N; i++) {
    char k[16];
    int n = snprintf(k, sizeof k, "k%zu", i);
    item_set(&it[i], k, (size_t)n, (int)i);
    item_insert(&m, &it[i]);
  }
  for (i = 0; i < N; i += 3)
    idmap_remove(&m, &it[i].node);
  for (i = 0; i < N; i++) {
    item_t *f = find(&m, it[i].key, it[i].len);
    if (i % 3 == 0)
      assert_null(f);
    else
      assert_ptr_equal(f, &it[i]);
  }
  assert_int_equal(m.n, N - (N + 2) / 3);
  assert_int_equal(chained_nodes(&m), m.n);
  idmap_free(&m);
  free(it);
}

static void test_replace(void **state) {
  idmap_t m;
  item_t a, b, a2;
  (void)state;
  assert_int_equal(idmap_init(&m, 8), 0);
  item_set(&a, "alice", 5, 1);
  item_set(&b, "bob", 3, 2);
  item_insert(&m, &a);
  item_insert(&m, &b);
  memset(&a2, 0, sizeof a2);
  a2.value = 10; /* a2 has no key of its own: it takes a's */
  idmap_replace(&m, &a.node, &a2.node);
  assert_int_equal(m.n, 2);
  assert_ptr_equal(find(&m, "alice", 5), &a2);
  assert_int_equal(find(&m, "alice", 5)->value, 10);
  assert_ptr_equal(a2.node.key, a.key);
  assert_int_equal(a2.node.key_len, 5);
  assert_int_equal(a2.node.hash, a.node.hash);
  assert_null(a.node.next);
  assert_ptr_equal(find(&m, "bob", 3), &b);
  assert_int_equal(chained_nodes(&m), 2);
  /* The replacement can be removed like any node. */
  idmap_remove(&m, &a2.node);
  assert_null(find(&m, "alice", 5));
  assert_int_equal(m.n, 1);
  idmap_free(&m);
}

/* Replacing every node of a table with long chains: each replacement sits
 * where its original was, the chain behind it intact. */
static void test_replace_in_chains(void **state) {
  enum { N = 200 };
  idmap_t m;
  item_t *it = calloc(N, sizeof *it), *rep = calloc(N, sizeof *rep);
  size_t i;
  (void)state;
  assert_non_null(it);
  assert_non_null(rep);
  assert_int_equal(idmap_init(&m, 8), 0);
  for (i = 0; i < N; i++) {
    char k[16];
    int n = snprintf(k, sizeof k, "r%zu", i);
    item_set(&it[i], k, (size_t)n, (int)i);
    item_insert(&m, &it[i]);
  }
  for (i = 0; i < N; i++)
    idmap_replace(&m, &it[i].node, &rep[i].node);
  for (i = 0; i < N; i++)
    assert_ptr_equal(find(&m, it[i].key, it[i].len), &rep[i]);
  assert_int_equal(m.n, N);
  assert_int_equal(chained_nodes(&m), N);
  idmap_free(&m);
  free(it);
  free(rep);
}

static void test_growth_keeps_keys(void **state) {
  enum { N = 10000 };
  idmap_t m;
  item_t *it = calloc(N, sizeof *it);
  size_t i, grew = 0, last = 0;
  (void)state;
  assert_non_null(it);
  assert_int_equal(idmap_init(&m, 8), 0);
  for (i = 0; i < N; i++) {
    char k[16];
    int n = snprintf(k, sizeof k, "user-%zu", i);
    item_set(&it[i], k, (size_t)n, (int)i);
    item_insert(&m, &it[i]);
    if (m.size != last) {
      grew++;
      last = m.size;
    }
    /* Load factor at most 1 after every insert. */
    assert_true(m.n <= m.size);
  }
  assert_int_equal(m.n, N);
  assert_true(grew > 5);
  assert_int_equal(m.size & (m.size - 1), 0); /* a power of two */
  assert_int_equal(m.size, 16384);
  for (i = 0; i < N; i++) {
    item_t *f = find(&m, it[i].key, it[i].len);
    assert_non_null(f);
    assert_ptr_equal(f, &it[i]);
    assert_int_equal(f->value, (int)i);
  }
  assert_int_equal(chained_nodes(&m), N);
  assert_null(find(&m, "user-10000", 10));
  idmap_free(&m);
  free(it);
}

/* Keys that are prefixes of one another, the empty key, and keys with NUL
 * bytes are all distinct: length and bytes both count. */
static void test_key_lengths_and_nul_bytes(void **state) {
  static const struct {
    const char *k;
    size_t len;
  } keys[] = {
      {"", 0},        {"a", 1},          {"ab", 2},         {"abc", 3},
      {"abcdefg", 7}, {"abcdefgh", 8},   {"abcdefghi", 9},  {"abcdefghijklmnop", 16},
      {"\0", 1},      {"\0\0", 2},       {"a\0", 2},        {"a\0b", 3},
      {"a\0c", 3},    {"\0a", 2},        {"abcdefg\0", 8},  {"abcdefgh\0", 9},
  };
  enum { N = sizeof keys / sizeof keys[0] };
  idmap_t m;
  item_t it[N];
  size_t i;
  (void)state;
  assert_int_equal(idmap_init(&m, 8), 0);
  for (i = 0; i < N; i++) {
    item_set(&it[i], keys[i].k, keys[i].len, (int)i);
    item_insert(&m, &it[i]);
  }
  for (i = 0; i < N; i++)
    assert_ptr_equal(find(&m, keys[i].k, keys[i].len), &it[i]);
  /* The same bytes under another length are another key. */
  assert_null(find(&m, "a\0b\0", 4));
  assert_null(find(&m, "abcd", 4));
  assert_null(find(&m, "\0\0\0", 3));
  idmap_remove(&m, &it[11].node); /* "a\0b" */
  assert_null(find(&m, "a\0b", 3));
  assert_ptr_equal(find(&m, "a\0c", 3), &it[12]);
  assert_ptr_equal(find(&m, "a\0", 2), &it[10]);
  assert_ptr_equal(find(&m, "a", 1), &it[1]);
  idmap_free(&m);
}

/* A map built under a fixed key works like one under the random key. */
static void test_map_under_fixed_key(void **state) {
  idmap_t m;
  item_t a, b;
  (void)state;
  hash_set_key(KEY_A);
  assert_int_equal(idmap_init(&m, 8), 0);
  item_set(&a, "room-1", 6, 1);
  item_set(&b, "room-2", 6, 2);
  item_insert(&m, &a);
  item_insert(&m, &b);
  assert_int_equal(a.node.hash, (uint32_t)hash_keyed("room-1", 6));
  assert_ptr_equal(find(&m, "room-1", 6), &a);
  assert_ptr_equal(find(&m, "room-2", 6), &b);
  idmap_free(&m);
}

/* ---- hash ---- */

static void test_keyed_stable_for_one_key(void **state) {
  uint64_t h1, h2;
  (void)state;
  hash_set_key(KEY_A);
  h1 = hash_keyed("hello", 5);
  h2 = hash_keyed("hello", 5);
  assert_int_equal(h1, h2);
  hash_set_key(KEY_B);
  hash_set_key(KEY_A);
  assert_int_equal(hash_keyed("hello", 5), h1);
}

static void test_keyed_differs_between_inputs(void **state) {
  (void)state;
  hash_set_key(KEY_A);
  assert_int_not_equal(hash_keyed("hello", 5), hash_keyed("hellp", 5));
  assert_int_not_equal(hash_keyed("a", 1), hash_keyed("a\0", 2));
  assert_int_not_equal(hash_keyed("", 0), hash_keyed("\0", 1));
  assert_int_not_equal(hash_keyed("abcdefgh", 8), hash_keyed("abcdefgh\0", 9));
}

/* Keyed: the same input under two keys hashes differently, for inputs of
 * every length class (whole 8-byte words, a tail, both, none). */
static void test_keyed_depends_on_key(void **state) {
  static const char in[] = "0123456789abcdefghijklmnopqrstu";
  size_t n;
  (void)state;
  for (n = 0; n < sizeof in; n++) {
    uint64_t ha, hb;
    hash_set_key(KEY_A);
    ha = hash_keyed(in, n);
    hash_set_key(KEY_B);
    hb = hash_keyed(in, n);
    assert_int_not_equal(ha, hb);
  }
}

/* hash_seed picks a fresh random key: two seeds give different hashes
 * (the chance of a false failure is 2^-64). */
static void test_seed_is_random(void **state) {
  uint64_t h1, h2;
  (void)state;
  hash_seed();
  h1 = hash_keyed("id", 2);
  hash_seed();
  h2 = hash_keyed("id", 2);
  assert_int_not_equal(h1, h2);
}

/* SipHash-1-3 under the key 00 01 .. 0f, written here from the paper's
 * definition (one compression round, three finalization rounds) as an
 * independent check of the word packing and length byte. */
static uint64_t rotl(uint64_t x, int b) {
  return (x << b) | (x >> (64 - b));
}

static void sipround(uint64_t v[4]) {
  v[0] += v[1], v[1] = rotl(v[1], 13), v[1] ^= v[0], v[0] = rotl(v[0], 32);
  v[2] += v[3], v[3] = rotl(v[3], 16), v[3] ^= v[2];
  v[0] += v[3], v[3] = rotl(v[3], 21), v[3] ^= v[0];
  v[2] += v[1], v[1] = rotl(v[1], 17), v[1] ^= v[2], v[2] = rotl(v[2], 32);
}

static uint64_t ref_siphash13(const uint8_t key[16], const uint8_t *p, size_t n) {
  uint64_t ka = 0, kb = 0, v[4];
  size_t i, w;
  for (i = 0; i < 8; i++) {
    ka |= (uint64_t)key[i] << (8 * i);
    kb |= (uint64_t)key[8 + i] << (8 * i);
  }
  v[0] = ka ^ 0x736f6d6570736575ULL;
  v[1] = kb ^ 0x646f72616e646f6dULL;
  v[2] = ka ^ 0x6c7967656e657261ULL;
  v[3] = kb ^ 0x7465646279746573ULL;
  for (w = 0; w <= n / 8; w++) {
    uint64_t m = 0;
    size_t end = w * 8 + 8 <= n ? 8 : n - w * 8;
    for (i = 0; i < end; i++)
      m |= (uint64_t)p[w * 8 + i] << (8 * i);
    if (end < 8) m |= (uint64_t)(n & 0xff) << 56;
    v[3] ^= m;
    sipround(v);
    v[0] ^= m;
    if (end < 8) break;
  }
  v[2] ^= 0xff;
  sipround(v);
  sipround(v);
  sipround(v);
  return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static void test_keyed_matches_reference(void **state) {
  uint8_t in[64];
  size_t n;
  (void)state;
  for (n = 0; n < sizeof in; n++)
    in[n] = (uint8_t)n;
  hash_set_key(KEY_A);
  for (n = 0; n <= sizeof in; n++)
    assert_int_equal(hash_keyed(in, n), ref_siphash13(KEY_A, in, n));
}

/* The FNV-1a function itself, from the published 64-bit offset basis
 * 14695981039346656037 (0xcbf29ce484222325). */
#define FNV64_OFFSET_BASIS 0xcbf29ce484222325ULL

static void test_fnv1a_known_values(void **state) {
  (void)state;
  assert_int_equal(hash_fnv1a(FNV64_OFFSET_BASIS, "", 0), 0xcbf29ce484222325ULL);
  assert_int_equal(hash_fnv1a(FNV64_OFFSET_BASIS, "a", 1), 0xaf63dc4c8601ec8cULL);
  assert_int_equal(hash_fnv1a(FNV64_OFFSET_BASIS, "foobar", 6), 0x85944171f73967e8ULL);
}

/* What callers use to start a hash (HASH_FNV_INIT) must be that offset
 * basis, so "" and "a" hash to FNV-1a's published values. */
static void test_fnv1a_init_is_offset_basis(void **state) {
  (void)state;
  assert_int_equal(hash_fnv1a(HASH_FNV_INIT, "", 0), 0xcbf29ce484222325ULL);
  assert_int_equal(hash_fnv1a(HASH_FNV_INIT, "a", 1), 0xaf63dc4c8601ec8cULL);
}

/* FNV-1a continues: hashing in two pieces equals hashing the whole. */
static void test_fnv1a_continues(void **state) {
  uint64_t h;
  (void)state;
  h = hash_fnv1a(HASH_FNV_INIT, "foo", 3);
  h = hash_fnv1a(h, "bar", 3);
  assert_int_equal(h, hash_fnv1a(HASH_FNV_INIT, "foobar", 6));
}

/* Unkeyed: the process key does not change it. */
static void test_fnv1a_ignores_key(void **state) {
  uint64_t h;
  (void)state;
  hash_set_key(KEY_A);
  h = hash_fnv1a(HASH_FNV_INIT, "node-1", 6);
  hash_set_key(KEY_B);
  assert_int_equal(hash_fnv1a(HASH_FNV_INIT, "node-1", 6), h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init_rounds_size),
      cmocka_unit_test(test_insert_find),
      cmocka_unit_test(test_find_in_empty_map),
      cmocka_unit_test(test_remove),
      cmocka_unit_test(test_remove_from_chains),
      cmocka_unit_test(test_replace),
      cmocka_unit_test(test_replace_in_chains),
      cmocka_unit_test(test_growth_keeps_keys),
      cmocka_unit_test(test_key_lengths_and_nul_bytes),
      cmocka_unit_test(test_map_under_fixed_key),
      cmocka_unit_test(test_keyed_stable_for_one_key),
      cmocka_unit_test(test_keyed_differs_between_inputs),
      cmocka_unit_test(test_keyed_depends_on_key),
      cmocka_unit_test(test_seed_is_random),
      cmocka_unit_test(test_keyed_matches_reference),
      cmocka_unit_test(test_fnv1a_known_values),
      cmocka_unit_test(test_fnv1a_init_is_offset_basis),
      cmocka_unit_test(test_fnv1a_continues),
      cmocka_unit_test(test_fnv1a_ignores_key),
  };
  return cmocka_run_group_tests_name("idmap", tests, NULL, NULL);
}
