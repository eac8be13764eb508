#include "server/jsonpool.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

/* A block carries its class in a 16-byte header (keeps the payload 16-byte
 * aligned, as malloc's is); class POOL_BIG goes straight to malloc. */
#define POOL_BIG      0xffu
#define POOL_MAX_FREE 4096

static const size_t class_size[] = {32, 64, 128, 256, 512};
#define N_CLASSES (sizeof class_size / sizeof class_size[0])

typedef union block {
  union block *next; /* while free */
  struct {
    size_t cls;
    size_t pad;
  } hdr;
} block_t;

static block_t *free_list[N_CLASSES];
static unsigned free_len[N_CLASSES];

static void *pool_malloc(size_t n) {
  size_t cls;
  block_t *b;
  for (cls = 0; cls < N_CLASSES && n > class_size[cls]; cls++) {
  }
  if (cls < N_CLASSES && free_list[cls]) {
    b = free_list[cls];
    free_list[cls] = b->next;
    free_len[cls]--;
  } else {
    b = malloc(sizeof *b + (cls < N_CLASSES ? class_size[cls] : n));
    if (!b) return NULL;
  }
  b->hdr.cls = cls < N_CLASSES ? cls : POOL_BIG;
  return b + 1;
}

static void pool_free(void *p) {
  block_t *b;
  size_t cls;
  if (!p) return;
  b = (block_t *)p - 1;
  cls = b->hdr.cls;
  if (cls < N_CLASSES && free_len[cls] < POOL_MAX_FREE) {
    b->next = free_list[cls];
    free_list[cls] = b;
    free_len[cls]++;
    return;
  }
  free(b);
}

void jsonpool_install(void) {
  json_set_alloc_funcs(pool_malloc, pool_free);
}

void jsonpool_drain(void) {
  size_t i;
  for (i = 0; i < N_CLASSES; i++) {
    while (free_list[i]) {
      block_t *b = free_list[i];
      free_list[i] = b->next;
      free(b);
    }
    free_len[i] = 0;
  }
}
