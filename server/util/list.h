/* container_of: from an embedded member back to the struct around it
 * (libuv's and the kernel's idiom). The layers of a connection are parts
 * of one struct; each layer holds only its own part. */
#ifndef FASTWS_UTIL_LIST_H
#define FASTWS_UTIL_LIST_H

#include <stddef.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#endif
