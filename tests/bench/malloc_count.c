/* An LD_PRELOAD shim that counts malloc/calloc/realloc calls and prints
 * the counts to stderr on SIGUSR1: shows whether the daemon allocates per
 * message in the steady state (tests/bench/malloc_per_message.py). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static unsigned long n_malloc, n_calloc, n_realloc;
static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static char bootstrap[4096]; /* dlsym may calloc before real_calloc is known */
static int resolving;

static void dump(int sig) {
  char b[128];
  int k = snprintf(b, sizeof b, "malloc_count malloc=%lu calloc=%lu realloc=%lu\n", n_malloc,
                   n_calloc, n_realloc);
  (void)sig;
  if (write(2, b, (size_t)k) < 0) {
  }
}

__attribute__((constructor)) static void init(void) {
  signal(SIGUSR1, dump);
}

void *malloc(size_t n) {
  if (!real_malloc) real_malloc = dlsym(RTLD_NEXT, "malloc");
  n_malloc++;
  return real_malloc(n);
}

void *realloc(void *p, size_t n) {
  if (!real_realloc) real_realloc = dlsym(RTLD_NEXT, "realloc");
  n_realloc++;
  return real_realloc(p, n);
}

void *calloc(size_t a, size_t b) {
  if (!real_calloc) {
    if (resolving) return bootstrap;
    resolving = 1;
    real_calloc = dlsym(RTLD_NEXT, "calloc");
    resolving = 0;
  }
  n_calloc++;
  return real_calloc(a, b);
}
