/* systemd integration: sd_notify state (READY, RELOADING, STOPPING,
 * STATUS) and the watchdog. Every call is a no-op when not run by systemd
 * (NOTIFY_SOCKET unset). */
#ifndef FASTWS_NOTIFY_H
#define FASTWS_NOTIFY_H

#include <stdint.h>

void notify_ready(uint64_t clients);
void notify_reloading(void);
void notify_stopping(void);
void notify_status(uint64_t clients);

/* The watchdog interval systemd asked for, in ms, halved (0 = none). */
uint64_t notify_watchdog_ms(void);
void notify_watchdog(void);

#endif
