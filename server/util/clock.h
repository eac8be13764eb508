/* Wall-clock time for envelope timestamps and cluster claim times. */
#ifndef FASTWS_UTIL_CLOCK_H
#define FASTWS_UTIL_CLOCK_H

#include <stdint.h>

/* Microseconds since the epoch (CLOCK_REALTIME). */
int64_t clock_wall_usec(void);

/* Milliseconds of CLOCK_MONOTONIC (rate limits). */
uint64_t clock_mono_ms(void);

#endif
