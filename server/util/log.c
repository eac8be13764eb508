#include "server/util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int log_level = LOG_INFO;
static int log_journal; /* stderr is the journal: prefix priorities, no time */

/* JOURNAL_STREAM is "DEV:INODE" of the journal's socket; it only counts
 * when stderr is still that socket (a child may have redirected it). */
static int stderr_is_journal(void) {
  const char *js = getenv("JOURNAL_STREAM");
  unsigned long dev, ino;
  struct stat st;
  if (!js || sscanf(js, "%lu:%lu", &dev, &ino) != 2) return 0;
  if (fstat(STDERR_FILENO, &st) != 0) return 0;
  return st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}

void log_init(int level) {
  log_level = level;
  log_journal = stderr_is_journal();
}

void log_set_level(int level) {
  log_level = level;
}

int log_enabled(int level) {
  return level <= log_level;
}

void log_msg(int level, const char *fmt, ...) {
  static const int syslog_prio[] = {3, 4, 6, 7};
  static const char *names[] = {"error", "warn", "info", "debug"};
  char line[1024];
  int n = 0;
  va_list ap;

  if (!log_enabled(level)) return;
  if (log_journal) {
    n = snprintf(line, sizeof line, "<%d>", syslog_prio[level]);
  } else {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = (int)strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof line - n, ".%03ldZ %s ", ts.tv_nsec / 1000000, names[level]);
  }
  va_start(ap, fmt);
  n += vsnprintf(line + n, sizeof line - n, fmt, ap);
  va_end(ap);
  if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  /* One write per line so lines from several processes never interleave. */
  if (write(STDERR_FILENO, line, (size_t)n) < 0) { /* nowhere left to report */
  }
}
