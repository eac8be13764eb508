/* One line per event to stderr, filtered by log_level. When stderr is the
 * journal (JOURNAL_STREAM set) each line starts with its syslog priority
 * ("<6>"), so journald files it at the right level. */
#ifndef FASTWS_LOG_H
#define FASTWS_LOG_H

#include "config/config.h"

void log_init(int level);
void log_set_level(int level);
int log_enabled(int level);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
  do {                                                                                             \
    if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__);                                   \
  } while (0)

#endif
