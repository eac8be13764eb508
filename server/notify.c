#include "server/notify.h"

#include <inttypes.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

void notify_ready(uint64_t clients) {
  sd_notifyf(0, "READY=1\nSTATUS=%" PRIu64 " clients", clients);
}

void notify_reloading(void) {
  sd_notify(0, "RELOADING=1");
}

void notify_stopping(void) {
  sd_notify(0, "STOPPING=1\nSTATUS=shutting down");
}

void notify_status(uint64_t clients) {
  sd_notifyf(0, "STATUS=%" PRIu64 " clients", clients);
}

uint64_t notify_watchdog_ms(void) {
  uint64_t usec = 0;
  /* Pinging at half the interval leaves room for a slow loop turn. */
  if (sd_watchdog_enabled(0, &usec) <= 0) return 0;
  return usec / 2000 ? usec / 2000 : 1;
}

void notify_watchdog(void) {
  sd_notify(0, "WATCHDOG=1");
}
