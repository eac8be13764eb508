/* loadgen: a WebSocket load generator for fastwsd and its peers.
 *
 * One process, one thread, epoll (level-triggered) over thousands of
 * client connections to 127.0.0.0/8. It speaks PROTOCOL.md: upgrades on
 * /ws/<id>, sends masked text frames, parses the server's unmasked frames
 * with a tiny scan of the envelope ("type" first, then the numbers inside
 * "data"), answers protocol pings with masked pongs.
 *
 * No allocation per message: one shared 256 KiB read buffer; a connection
 * allocates only when it holds a partial frame or unsent output, and keeps
 * that buffer for reuse.
 *
 * Each run prints ONE JSON line on stdout. Everything is bounded: a
 * connection count, a duration, a setup timeout, a drain timeout and a
 * final alarm(). Only 127.0.0.0/8 is accepted as a target.
 *
 *   loadgen SCENARIO --port P [--pid SERVER_PID] [options]
 *
 * SCENARIO: connect | broadcast | openloop | private | pingpong | idle.
 * See usage() for the options. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define RBUF_SIZE (256 * 1024)
#define MAX_FRAME (RBUF_SIZE / 2)
/* Connections per source address. connect() prefers even ephemeral ports
 * (half of 32768-60999); past them every connect() scans the range, which
 * would make the generator, not the server, the slow side. */
#define PER_SRC_IP 10000
#define TIMER_TAG  UINT32_MAX

enum { SC_CONNECT, SC_BROADCAST, SC_OPENLOOP, SC_PRIVATE, SC_PINGPONG, SC_IDLE };
static const char *sc_names[] = {"connect", "broadcast", "openloop", "private", "pingpong", "idle"};

enum { ST_FREE, ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_CLOSED };

/* One client connection. Owner: the conns[] array; part/out are freed at exit. */
typedef struct conn {
  int fd;
  uint8_t state;
  uint8_t want_out; /* EPOLLOUT registered */
  uint8_t is_sender;
  uint32_t part_len, part_cap; /* partial input (a frame or the 101 header) */
  uint32_t out_len, out_cap;   /* unsent output */
  char *part, *out;
  uint32_t tx_seq;   /* next sequence number this client sends */
  uint32_t inflight; /* its messages not yet completed */
  uint32_t rx_exp;   /* private: next sequence expected from the partner */
  uint64_t ping_t;   /* pingpong: when the outstanding ping left */
} conn_t;

/* A log-linear histogram of nanoseconds, ~1.5% resolution, fixed memory. */
#define HBUCKETS 3840
typedef struct {
  uint64_t c[HBUCKETS];
  uint64_t n, max;
} hist_t;

static struct {
  int scenario;
  char host[64];
  int port;
  int pid;
  long n;
  int senders, window;
  double duration, warmup, rate;
  int src_ips;
  int concurrency;
  double setup_timeout, drain_timeout;
  const char *label;
  const char *echo_path; /* connect here instead of /ws/<id> (no chat, no joins) */
  const char *id_prefix;
} o;

static conn_t *conns;
static int ep;
static uint8_t *rbuf;
static struct sockaddr_in target;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

/* Counters. */
static long n_open, n_failed, n_closed_after_open, n_started, n_inflight_connect, n_cut;
static uint64_t frames_rx, bytes_rx, text_rx, joins_rx, lefts_rx, errors_rx, other_rx;
static uint64_t pings_rx, pongs_tx, unmasked_bad, frag_rx, ctl_close_rx;
static uint64_t deliveries, deliveries_window, order_viol, dup_or_reorder, gaps;
static uint64_t sent_msgs, sent_window, completed_msgs;
static long close_codes[5000];
static int fail_errno_first, fail_status_first;
static char first_error[160];
static hist_t lat;
static int phase;          /* the suite's current phase; tags every message */
static uint64_t batch_now; /* taken once per read: the arrival time of its frames */
static uint64_t stale_rx;

/* Scenario state. */
static int running;                   /* senders may send */
static uint64_t m_start, m_end;       /* measurement window (send timestamps) */
static uint32_t *sender_idx;          /* K senders -> conn index */
static uint32_t *exp_seq;             /* broadcast: [client * K + sender] next expected */
static uint32_t *slot_seq, *slot_cnt; /* broadcast: [sender * W + n % W] */
static long live_target;              /* deliveries a broadcast needs to complete */

/* ------------------------------------------------------------------ util */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t rand32(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 16);
}

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "loadgen: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(2);
}

static int hidx(uint64_t v) {
  if (v < 128) return (int)v;
  int msb = 63 - __builtin_clzll(v);
  int e = msb - 6;
  return 128 + (e - 1) * 64 + (int)((v >> e) - 64);
}

static uint64_t hval(int i) { /* middle of bucket i */
  if (i < 128) return (uint64_t)i;
  int e = (i - 128) / 64 + 1;
  uint64_t m = (uint64_t)((i - 128) % 64 + 64);
  return (m << e) + ((1ull << e) >> 1);
}

static void hist_add(hist_t *h, uint64_t v) {
  h->c[hidx(v)]++;
  h->n++;
  if (v > h->max) h->max = v;
}

static double hist_pct_us(const hist_t *h, double p) {
  if (!h->n) return -1;
  uint64_t rank = (uint64_t)(p * (double)h->n + 0.999999);
  if (rank < 1) rank = 1;
  uint64_t acc = 0;
  for (int i = 0; i < HBUCKETS; i++) {
    acc += h->c[i];
    if (acc >= rank) {
      uint64_t v = hval(i);
      if (v > h->max) v = h->max;
      return (double)v / 1000.0;
    }
  }
  return (double)h->max / 1000.0;
}

/* Server CPU (utime+stime, seconds) and RSS (KiB) from /proc. -1 if unknown. */
static double proc_cpu_s(int pid) {
  if (pid <= 0) return -1;
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')'); /* comm may hold spaces */
  if (!p) return -1;
  unsigned long ut = 0, st = 0;
  /* after ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt
   * majflt cmajflt utime(14) stime(15) */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
    return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long proc_rss_kb(int pid) {
  if (pid <= 0) return -1;
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6)) {
      kb = strtol(line + 6, NULL, 10);
      break;
    }
  fclose(f);
  return kb;
}

static double self_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

typedef struct {
  uint64_t t;
  double srv_cpu, gen_cpu;
  long srv_rss;
} snap_t;

static snap_t snap(void) {
  snap_t s = {now_ns(), proc_cpu_s(o.pid), self_cpu_s(), proc_rss_kb(o.pid)};
  return s;
}

/* ------------------------------------------------------------ JSON out */

static char out_line[8192];
static size_t out_len;

static void jadd(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (out_len < sizeof out_line) {
    int w = vsnprintf(out_line + out_len, sizeof out_line - out_len, fmt, ap);
    if (w > 0) out_len += (size_t)w;
  }
  va_end(ap);
}

static void jnum(const char *k, double v) {
  if (v == -1)
    jadd(",\"%s\":null", k); /* -1: unknown */
  else
    jadd(",\"%s\":%.6g", k, v);
}

static void jint(const char *k, long long v) {
  jadd(",\"%s\":%lld", k, v);
}

/* ---------------------------------------------------------- connections */

static void ep_mod(uint32_t i, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.u32 = i};
  epoll_ctl(ep, EPOLL_CTL_MOD, conns[i].fd, &ev);
}

static void conn_close(uint32_t i, int was_failure) {
  conn_t *c = &conns[i];
  if (c->state == ST_CLOSED || c->state == ST_FREE) return;
  if (c->state == ST_OPEN) {
    n_open--;
    n_closed_after_open++;
  } else {
    n_inflight_connect--;
    if (was_failure) n_failed++;
  }
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
  c->state = ST_CLOSED;
  c->part_len = c->out_len = 0;
}

static int buf_append(char **b, uint32_t *len, uint32_t *cap, const void *d, size_t n) {
  if (*len + n > *cap) {
    uint32_t nc = *cap ? *cap : 256;
    while (nc < *len + n)
      nc *= 2;
    char *nb = realloc(*b, nc);
    if (!nb) return -1;
    *b = nb;
    *cap = nc;
  }
  memcpy(*b + *len, d, n);
  *len += (uint32_t)n;
  return 0;
}

/* Writes raw bytes, queueing what the kernel does not take. */
static void conn_write(uint32_t i, const void *d, size_t n) {
  conn_t *c = &conns[i];
  if (c->state != ST_OPEN && c->state != ST_HANDSHAKE) return;
  size_t off = 0;
  if (c->out_len == 0) {
    ssize_t w = send(c->fd, d, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        conn_close(i, 1);
        return;
      }
      w = 0;
    }
    off = (size_t)w;
    if (off == n) return;
  }
  if (buf_append(&c->out, &c->out_len, &c->out_cap, (const char *)d + off, n - off)) die("oom");
  if (!c->want_out) {
    c->want_out = 1;
    ep_mod(i, EPOLLIN | EPOLLOUT);
  }
}

/* Sends one masked frame (RFC 6455 5.3: every client frame is masked). */
static void ws_send(uint32_t i, int opcode, const char *payload, size_t len) {
  uint8_t f[16 + 1024];
  if (len > 1024) die("frame too large");
  size_t h = 0;
  f[h++] = (uint8_t)(0x80 | opcode);
  if (len < 126) {
    f[h++] = (uint8_t)(0x80 | len);
  } else {
    f[h++] = 0x80 | 126;
    f[h++] = (uint8_t)(len >> 8);
    f[h++] = (uint8_t)len;
  }
  uint32_t m = rand32();
  uint8_t mk[4] = {(uint8_t)m, (uint8_t)(m >> 8), (uint8_t)(m >> 16), (uint8_t)(m >> 24)};
  memcpy(f + h, mk, 4);
  h += 4;
  for (size_t k = 0; k < len; k++)
    f[h + k] = (uint8_t)payload[k] ^ mk[k & 3];
  conn_write(i, f, h + len);
}

static void conn_start(uint32_t i) {
  conn_t *c = &conns[i];
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (!fail_errno_first) fail_errno_first = errno;
    n_failed++;
    c->state = ST_CLOSED;
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (o.src_ips > 0) {
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(i % (uint32_t)o.src_ips));
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
      if (!fail_errno_first) fail_errno_first = errno;
      close(fd);
      n_failed++;
      c->state = ST_CLOSED;
      return;
    }
  }
  c->fd = fd;
  c->state = ST_CONNECTING;
  n_inflight_connect++;
  n_started++;
  if (connect(fd, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS) {
    if (!fail_errno_first) fail_errno_first = errno;
    close(fd);
    c->fd = -1;
    c->state = ST_CLOSED;
    n_inflight_connect--;
    n_failed++;
    return;
  }
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = i};
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  c->want_out = 1;
}

static void on_connected(uint32_t i) {
  conn_t *c = &conns[i];
  int err = 0;
  socklen_t el = sizeof err;
  getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
  if (err) {
    if (!fail_errno_first) fail_errno_first = err;
    conn_close(i, 1);
    return;
  }
  char req[512];
  int n;
  if (o.echo_path)
    n = snprintf(req, sizeof req,
                 "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n",
                 o.echo_path, o.host, o.port);
  else
    n = snprintf(req, sizeof req,
                 "GET /ws/%s%u HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n",
                 o.id_prefix, i, o.host, o.port);
  c->state = ST_HANDSHAKE;
  c->want_out = 0;
  ep_mod(i, EPOLLIN);
  conn_write(i, req, (size_t)n);
}

/* --------------------------------------------------------- envelope scan */

/* The string value of "type": the envelope's first key. Accepts JSON's
 * optional blanks (Python's json.dumps writes ": "). */
static int scan_type(const uint8_t *p, size_t n, const uint8_t **v, size_t *vl) {
  const uint8_t *end = p + n;
  const uint8_t *k =
      n >= 8 && !memcmp(p, "{\"type\"", 7) ? p + 1 : memmem(p, n < 64 ? n : 64, "\"type\"", 6);
  if (!k) return -1;
  k += 6;
  while (k < end && (*k == ' ' || *k == ':'))
    k++;
  if (k >= end || *k != '"') return -1;
  k++;
  const uint8_t *q = memchr(k, '"', (size_t)(end - k));
  if (!q) return -1;
  *v = k;
  *vl = (size_t)(q - k);
  return 0;
}

/* The unsigned number after key (given with its quotes) in [p, end). */
static int scan_u64(const uint8_t *p, const uint8_t *end, const char *key, uint64_t *out) {
  size_t kl = strlen(key);
  const uint8_t *k = memmem(p, (size_t)(end - p), key, kl);
  if (!k) return -1;
  k += kl;
  while (k < end && (*k == ' ' || *k == ':'))
    k++;
  if (k >= end || *k < '0' || *k > '9') return -1;
  uint64_t v = 0;
  while (k < end && *k >= '0' && *k <= '9')
    v = v * 10 + (uint64_t)(*k++ - '0');
  *out = v;
  return 0;
}

/* Our own data object {"p":phase,"s":sender,"n":seq,"t":ns}. */
typedef struct {
  uint64_t p, s, n, t;
} tag_t;

/* Skips blanks and the separator sep (',' or ':'). */
static const uint8_t *skip_blank(const uint8_t *k, const uint8_t *end, const char *set) {
  const uint8_t sep = (uint8_t)set[1];
  while (k < end && (*k == ' ' || *k == sep))
    k++;
  return k;
}

/* Reads the tag in one pass from `from` (just past the "type" value): the
 * envelope's usual shape, `,"data":{"p":1,...}` with or without blanks.
 * Falls back to searching for the keys when the shape is different. */
static int scan_tag(const uint8_t *from, const uint8_t *end, tag_t *tg) {
  const uint8_t *k = skip_blank(from, end, " ,");
  if (end - k >= 6 && !memcmp(k, "\"data\"", 6)) {
    k = skip_blank(k + 6, end, " :");
    if (k < end && *k == '{') {
      unsigned seen = 0;
      k++;
      for (;;) {
        k = skip_blank(k, end, " ,");
        if (k >= end) break;
        if (*k == '}') return seen == 15 ? 0 : -1;
        if (end - k < 3 || k[0] != '"' || k[2] != '"') break;
        uint8_t key = k[1];
        k = skip_blank(k + 3, end, " :");
        if (k >= end || *k < '0' || *k > '9') break;
        uint64_t v = 0;
        while (k < end && *k >= '0' && *k <= '9')
          v = v * 10 + (uint64_t)(*k++ - '0');
        switch (key) {
        case 'p':
          tg->p = v;
          seen |= 1;
          break;
        case 's':
          tg->s = v;
          seen |= 2;
          break;
        case 'n':
          tg->n = v;
          seen |= 4;
          break;
        case 't':
          tg->t = v;
          seen |= 8;
          break;
        default: goto slow;
        }
      }
    }
  }
slow:;
  const uint8_t *d = memmem(from, (size_t)(end - from), "\"data\"", 6);
  if (!d || scan_u64(d, end, "\"p\"", &tg->p) || scan_u64(d, end, "\"s\"", &tg->s) ||
      scan_u64(d, end, "\"n\"", &tg->n) || scan_u64(d, end, "\"t\"", &tg->t))
    return -1;
  return 0;
}

static void send_next(uint32_t i);

static void on_chat(uint32_t ci, const uint8_t *from, const uint8_t *end, uint64_t now) {
  tag_t tg;
  if (scan_tag(from, end, &tg) || tg.s >= (uint64_t)o.senders) {
    other_rx++;
    return;
  }
  uint64_t ph = tg.p, s = tg.s, seq = tg.n, t = tg.t;
  if (ph != (uint64_t)phase) { /* late from an earlier phase of a suite */
    stale_rx++;
    return;
  }
  deliveries++;
  if (t >= m_start && t < m_end) {
    deliveries_window++;
    hist_add(&lat, now > t ? now - t : 0);
  }
  uint32_t *e = &exp_seq[(size_t)ci * o.senders + s];
  if (seq != *e) {
    order_viol++;
    if (seq > *e)
      gaps += seq - *e;
    else
      dup_or_reorder++;
  }
  *e = (uint32_t)seq + 1;
  if (o.scenario != SC_BROADCAST) return;
  size_t slot = s * (size_t)o.window + seq % (uint32_t)o.window;
  if (slot_seq[slot] != (uint32_t)seq) return;
  if (++slot_cnt[slot] == (uint32_t)live_target) {
    completed_msgs++;
    uint32_t si = sender_idx[s];
    conns[si].inflight--;
    if (running) send_next(si);
  }
}

static void on_private(uint32_t ci, const uint8_t *from, const uint8_t *end, uint64_t now) {
  tag_t tg;
  if (scan_tag(from, end, &tg) || tg.s != (ci ^ 1u)) {
    other_rx++;
    return;
  }
  uint64_t ph = tg.p, s = tg.s, seq = tg.n, t = tg.t;
  if (ph != (uint64_t)phase) { /* late from an earlier phase of a suite */
    stale_rx++;
    return;
  }
  deliveries++;
  if (t >= m_start && t < m_end) {
    deliveries_window++;
    hist_add(&lat, now > t ? now - t : 0);
  }
  conn_t *c = &conns[ci];
  if (seq != c->rx_exp) {
    order_viol++;
    if (seq > c->rx_exp)
      gaps += seq - c->rx_exp;
    else
      dup_or_reorder++;
  }
  c->rx_exp = (uint32_t)seq + 1;
  completed_msgs++;
  conns[s].inflight--;
  if (running) send_next((uint32_t)s);
}

static void on_text(uint32_t ci, const uint8_t *p, size_t n) {
  const uint8_t *ty;
  size_t tl;
  text_rx++;
  if (scan_type(p, n, &ty, &tl)) {
    other_rx++;
    return;
  }
  uint64_t now = batch_now;
  const uint8_t *after = ty + tl + 1, *end = p + n;
  if (tl == 4 && !memcmp(ty, "chat", 4)) {
    if (exp_seq && (o.scenario == SC_BROADCAST || o.scenario == SC_OPENLOOP))
      on_chat(ci, after, end, now);
    else
      other_rx++;
  } else if (tl == 11 && !memcmp(ty, "user_joined", 11)) {
    joins_rx++;
  } else if (tl == 7 && !memcmp(ty, "private", 7)) {
    if (o.scenario == SC_PRIVATE)
      on_private(ci, after, end, now);
    else
      other_rx++;
  } else if (tl == 4 && !memcmp(ty, "pong", 4)) {
    conn_t *c = &conns[ci];
    if (c->inflight) {
      c->inflight--;
      completed_msgs++;
      deliveries++;
      if (c->ping_t >= m_start && c->ping_t < m_end) {
        deliveries_window++;
        hist_add(&lat, now - c->ping_t);
      }
      if (running) send_next(ci);
    }
  } else if (tl == 9 && !memcmp(ty, "user_left", 9)) {
    lefts_rx++;
  } else if (tl == 5 && !memcmp(ty, "error", 5)) {
    errors_rx++;
    if (!first_error[0])
      snprintf(first_error, sizeof first_error, "%.*s", (int)(n < 150 ? n : 150), p);
  } else {
    other_rx++;
  }
}

/* Parses whole frames in [p, p+n); returns the bytes consumed. */
static size_t parse_frames(uint32_t i, uint8_t *p, size_t n) {
  size_t off = 0;
  while (conns[i].state == ST_OPEN) {
    size_t avail = n - off;
    if (avail < 2) break;
    uint8_t *f = p + off;
    int fin = f[0] & 0x80, op = f[0] & 0x0f, masked = f[1] & 0x80;
    uint64_t len = f[1] & 0x7f;
    size_t h = 2;
    if (len == 126) {
      if (avail < 4) break;
      len = ((uint64_t)f[2] << 8) | f[3];
      h = 4;
    } else if (len == 127) {
      if (avail < 10) break;
      len = 0;
      for (int k = 0; k < 8; k++)
        len = (len << 8) | f[2 + k];
      h = 10;
    }
    if (masked) {
      unmasked_bad++; /* a server must not mask */
      h += 4;
    }
    if (len > MAX_FRAME) {
      die("frame of %" PRIu64 " bytes: larger than this generator handles", len);
    }
    if (avail < h + len) break;
    uint8_t *pl = f + h;
    if (masked)
      for (uint64_t k = 0; k < len; k++)
        pl[k] ^= f[h - 4 + (k & 3)];
    frames_rx++;
    off += h + (size_t)len;
    switch (op) {
    case 0x1:
      if (!fin) frag_rx++;
      on_text(i, pl, (size_t)len);
      break;
    case 0x0: frag_rx++; break;
    case 0x9:
      pings_rx++;
      pongs_tx++;
      ws_send(i, 0xA, (const char *)pl, (size_t)len);
      break;
    case 0xA: break;
    case 0x8: {
      int code = len >= 2 ? (pl[0] << 8) | pl[1] : 1005;
      ctl_close_rx++;
      if (code >= 0 && code < 5000) close_codes[code]++;
      uint8_t cb[2] = {(uint8_t)(code >> 8), (uint8_t)code};
      if (code != 1005) ws_send(i, 0x8, (const char *)cb, 2);
      conn_close(i, 0);
      return off;
    }
    default: other_rx++;
    }
  }
  return off;
}

/* The 101 answer: status and Sec-WebSocket-Accept for the fixed key. */
static size_t parse_handshake(uint32_t i, uint8_t *p, size_t n) {
  uint8_t *e = memmem(p, n, "\r\n\r\n", 4);
  if (!e) {
    if (n > 8192) conn_close(i, 1);
    return 0;
  }
  size_t hl = (size_t)(e - p) + 4;
  int ok = n >= 12 && !memcmp(p, "HTTP/1.1 101", 12) &&
           memmem(p, hl, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", 28) != NULL;
  if (!ok) {
    if (!fail_status_first) fail_status_first = n >= 12 ? atoi((char *)p + 9) : -1;
    conn_close(i, 1);
    return hl;
  }
  conns[i].state = ST_OPEN;
  n_inflight_connect--;
  n_open++;
  return hl;
}

static void on_readable(uint32_t i) {
  for (int round = 0; round < 4; round++) {
    conn_t *c = &conns[i];
    if (c->state != ST_OPEN && c->state != ST_HANDSHAKE) return;
    size_t have = c->part_len;
    if (have) memcpy(rbuf, c->part, have);
    ssize_t r = recv(c->fd, rbuf + have, RBUF_SIZE - have, MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      conn_close(i, c->state != ST_OPEN);
      return;
    }
    if (r < 0) return;
    batch_now = now_ns();
    bytes_rx += (uint64_t)r;
    size_t n = have + (size_t)r, off = 0;
    if (c->state == ST_HANDSHAKE) off = parse_handshake(i, rbuf, n);
    if (c->state == ST_OPEN) off += parse_frames(i, rbuf + off, n - off);
    c = &conns[i];
    if (c->state != ST_OPEN && c->state != ST_HANDSHAKE) return;
    c->part_len = 0;
    if (off < n && buf_append(&c->part, &c->part_len, &c->part_cap, rbuf + off, n - off))
      die("oom");
    if ((size_t)r < RBUF_SIZE - have) return; /* drained the socket */
  }
}

static void on_writable(uint32_t i) {
  conn_t *c = &conns[i];
  if (c->state != ST_CONNECTING && c->state != ST_OPEN && c->state != ST_HANDSHAKE) return;
  if (c->state == ST_CONNECTING) {
    on_connected(i);
    return;
  }
  while (c->out_len) {
    ssize_t w = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      conn_close(i, 1);
      return;
    }
    memmove(c->out, c->out + w, c->out_len - (size_t)w);
    c->out_len -= (uint32_t)w;
  }
  c->want_out = 0;
  ep_mod(i, EPOLLIN);
}

/* ------------------------------------------------------------ senders */

static int timer_fd = -1;
static uint64_t ol_t0, ol_interval, ol_k;

static void send_next(uint32_t i) {
  conn_t *c = &conns[i];
  if (c->state != ST_OPEN) return;
  char msg[256];
  int n;
  uint64_t t = now_ns();
  switch (o.scenario) {
  case SC_BROADCAST: {
    if (c->inflight >= (uint32_t)o.window) return;
    uint32_t s = 0;
    while (sender_idx[s] != i)
      s++;
    uint32_t seq = c->tx_seq++;
    size_t slot = s * (size_t)o.window + seq % (uint32_t)o.window;
    slot_seq[slot] = seq;
    slot_cnt[slot] = 0;
    n = snprintf(msg, sizeof msg,
                 "{\"type\":\"chat\",\"data\":{\"p\":%d,\"s\":%u,\"n\":%u,\"t\":%" PRIu64 "}}",
                 phase, s, seq, t);
    break;
  }
  case SC_PRIVATE:
    if (c->inflight >= (uint32_t)o.window) return;
    n = snprintf(msg, sizeof msg,
                 "{\"type\":\"private\",\"data\":{\"p\":%d,\"s\":%u,\"n\":%u,\"t\":%" PRIu64
                 "},\"recipient_id\":\"%s%u\"}",
                 phase, i, c->tx_seq++, t, o.id_prefix, i ^ 1u);
    break;
  case SC_PINGPONG:
    if (c->inflight >= 1) return;
    c->ping_t = t;
    c->tx_seq++;
    n = snprintf(msg, sizeof msg, "{\"type\":\"ping\"}");
    break;
  default: return;
  }
  c->inflight++;
  sent_msgs++;
  if (t >= m_start && t < m_end) sent_window++;
  ws_send(i, 0x1, msg, (size_t)n);
}

/* Open loop: message k is due at ol_t0 + k * interval and carries that due
 * time, so a server that falls behind shows it in the latency (no
 * coordinated omission). */
static void on_timer(void) {
  uint64_t exp;
  if (read(timer_fd, &exp, sizeof exp) != sizeof exp) return;
  uint64_t now = now_ns();
  while (running && ol_t0 + ol_k * ol_interval <= now) {
    uint64_t due = ol_t0 + ol_k * ol_interval;
    uint32_t s = (uint32_t)(ol_k % (uint64_t)o.senders);
    uint32_t i = sender_idx[s];
    ol_k++;
    conn_t *c = &conns[i];
    if (c->state != ST_OPEN) continue;
    char msg[160];
    int n = snprintf(msg, sizeof msg,
                     "{\"type\":\"chat\",\"data\":{\"p\":%d,\"s\":%u,\"n\":%u,\"t\":%" PRIu64 "}}",
                     phase, s, c->tx_seq++, due);
    sent_msgs++;
    if (due >= m_start && due < m_end) sent_window++;
    ws_send(i, 0x1, msg, (size_t)n);
  }
}

/* ------------------------------------------------------------- loop */

static struct epoll_event evs[4096];

static void poll_once(int timeout_ms) {
  int k = epoll_wait(ep, evs, (int)(sizeof evs / sizeof evs[0]), timeout_ms);
  for (int j = 0; j < k; j++) {
    uint32_t i = evs[j].data.u32;
    if (i == TIMER_TAG) {
      on_timer();
      continue;
    }
    uint32_t e = evs[j].events;
    if (e & EPOLLOUT) on_writable(i);
    if (e & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
      if (conns[i].state == ST_CONNECTING)
        on_connected(i);
      else
        on_readable(i);
    }
  }
}

/* Connects clients [0, n) with at most o.concurrency handshakes in flight.
 * Returns when all are open or failed, or at the deadline. */
static void connect_all(long n, uint64_t deadline) {
  long next = 0;
  while (now_ns() < deadline) {
    while (next < n && n_inflight_connect < o.concurrency)
      conn_start((uint32_t)next++);
    if (next >= n && n_inflight_connect == 0) return;
    poll_once(5);
  }
}

/* Waits for the user_joined storm of n arrivals (n(n-1)/2 frames) to be
 * delivered, or the deadline. Returns 1 when complete. */
static int settle_joins(uint64_t deadline) {
  if (o.echo_path) return 1;
  uint64_t want = (uint64_t)n_open * (uint64_t)(n_open > 0 ? n_open - 1 : 0) / 2;
  while (joins_rx < want && now_ns() < deadline)
    poll_once(5);
  return joins_rx >= want;
}

static void run_for(uint64_t until) {
  uint64_t t;
  while ((t = now_ns()) < until) {
    int ms = (int)((until - t) / 1000000ull);
    poll_once(ms > 10 ? 10 : ms);
  }
}

/* ------------------------------------------------------------- main */

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen SCENARIO --port P [options]\n"
          "  SCENARIO: connect | broadcast | openloop | private | pingpong | idle | suite\n"
          "            (suite: one connection set, then each of --phases in turn, one line each)\n"
          "  --host A           target, 127.0.0.0/8 only (127.0.0.1)\n"
          "  --port P           target port (required)\n"
          "  --pid PID          server pid: CPU and RSS from /proc\n"
          "  -n, --clients N    connections (connect 10000, broadcast/openloop/private/suite\n"
          "                     1000, pingpong 1, idle 100000)\n"
          "  -k, --senders K    broadcast senders (10)\n"
          "  -w, --window W     messages in flight per sender (4)\n"
          "  -d, --duration D   seconds of traffic, or of holding for idle (10)\n"
          "  --warmup S         seconds of traffic before measuring (1)\n"
          "  -r, --rate R       openloop: messages/s in total (20)\n"
          "  --phases LIST      suite: comma-separated (broadcast,openloop,private)\n"
          "  --src-ips M        source addresses 127.0.0.2..; default ceil(N/%d) above %d\n"
          "  --concurrency C    handshakes in flight (256)\n"
          "  --setup-timeout S  cap for connecting plus the user_joined storm (120)\n"
          "  --drain-timeout S  cap for in-flight messages after the run (5)\n"
          "  --echo-path PATH   connect/idle: connect to PATH (e.g. /echo): no chat, no joins\n"
          "  --id-prefix S      client ids are S<index> (c)\n"
          "  --label NAME       \"server\" field of the output\n",
          PER_SRC_IP, PER_SRC_IP);
  exit(2);
}

/* Soft limit up to the hard one; root may also lift the hard limit (when
 * it holds CAP_SYS_RESOURCE). */
static void raise_nofile(long need) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rlim_t want = (rlim_t)need + 64;
  if (rl.rlim_max < want) {
    struct rlimit r2 = {want, want};
    if (setrlimit(RLIMIT_NOFILE, &r2) == 0) return;
  }
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < want)
    fprintf(stderr, "loadgen: open files limited to %lu, %ld connections wanted\n",
            (unsigned long)rl.rlim_cur, need);
}

static void on_alarm(int sig) {
  (void)sig;
  static const char m[] = "loadgen: hard time limit reached\n";
  (void)!write(2, m, sizeof m - 1);
  _exit(3);
}

/* Setup results, repeated on every line of a suite. */
static snap_t s0, s1, s2;
static int settled;

static void line_begin(int sc) {
  out_len = 0;
  jadd("{\"scenario\":\"%s\",\"server\":\"%s\"", sc_names[sc], o.label);
  jint("clients", o.n);
  jint("connected", n_open);
  jint("failed", n_failed);
  jint("cut_at_setup_cap", n_cut);
  if (fail_errno_first) jadd(",\"first_errno\":\"%s\"", strerror(fail_errno_first));
  if (fail_status_first) jint("first_http_status", fail_status_first);
  jint("src_ips", o.src_ips);
  double connect_s = (double)(s1.t - s0.t) / 1e9;
  jnum("connect_s", connect_s);
  jnum("connect_rate", connect_s > 0 ? (double)(n_open + n_closed_after_open) / connect_s : 0);
  jnum("settle_s", (double)(s2.t - s1.t) / 1e9);
  jadd(",\"settled\":%s", settled ? "true" : "false");
  jint("joins_rx", (long long)joins_rx);
}

static void line_end(snap_t r0, snap_t r1) {
  snap_t e = snap();
  double w = (double)(r1.t - r0.t) / 1e9;
  if (w <= 0) w = 1e-9;
  if (o.pid > 0) {
    jnum("server_cpu_s", r1.srv_cpu - r0.srv_cpu);
    jnum("server_cpu_pct", 100.0 * (r1.srv_cpu - r0.srv_cpu) / w);
    jint("server_rss_kb", e.srv_rss);
  }
  jnum("gen_cpu_s", r1.gen_cpu - r0.gen_cpu);
  jnum("gen_cpu_pct", 100.0 * (r1.gen_cpu - r0.gen_cpu) / w);
  jnum("gen_cpu_total_s", e.gen_cpu);
  jint("closed_by_server", n_closed_after_open);
  for (int c = 0; c < 5000; c++)
    if (close_codes[c]) jadd(",\"close_%d\":%ld", c, close_codes[c]);
  jint("errors_rx", (long long)errors_rx);
  if (first_error[0]) {
    jadd(",\"first_error\":\"");
    for (const char *q = first_error; *q; q++)
      jadd(*q == '"' || *q == '\\' ? "\\%c" : (unsigned char)*q < 0x20 ? "?" : "%c", *q);
    jadd("\"");
  }
  jint("stale_rx", (long long)stale_rx);
  jint("unmasked_violations", (long long)unmasked_bad);
  jint("frag_frames", (long long)frag_rx);
  jint("frames_rx", (long long)frames_rx);
  jint("bytes_rx", (long long)bytes_rx);
  jint("pings_rx", (long long)pings_rx);
  jadd("}\n");
  fwrite(out_line, 1, out_len, stdout);
  fflush(stdout);
}

/* One traffic phase (broadcast, openloop, private, pingpong) on the open
 * connections: warmup, the measured window, then a drain of what is still
 * in flight; prints its line. */
static void run_traffic(int sc) {
  o.scenario = sc;
  phase++;
  deliveries = deliveries_window = order_viol = dup_or_reorder = gaps = 0;
  sent_msgs = sent_window = completed_msgs = 0;
  memset(&lat, 0, sizeof lat);
  for (long i = 0; i < o.n; i++) {
    conns[i].tx_seq = conns[i].inflight = conns[i].rx_exp = 0;
    conns[i].is_sender = 0;
  }
  int k = sc == SC_BROADCAST || sc == SC_OPENLOOP ? o.senders : 0;
  if (k) {
    memset(exp_seq, 0, (size_t)o.n * (size_t)k * sizeof *exp_seq);
    memset(slot_cnt, 0, (size_t)k * (size_t)o.window * sizeof *slot_cnt);
    for (size_t j = 0; j < (size_t)k * (size_t)o.window; j++)
      slot_seq[j] = UINT32_MAX;
    for (int s = 0; s < k; s++) {
      sender_idx[s] = (uint32_t)((long)s * o.n / k);
      conns[sender_idx[s]].is_sender = 1;
    }
  }
  line_begin(sc);
  live_target = n_open;
  uint64_t t0 = now_ns();
  m_start = t0 + (uint64_t)(o.warmup * 1e9);
  m_end = t0 + (uint64_t)(o.duration * 1e9);
  running = 1;
  if (sc == SC_BROADCAST) {
    for (int s = 0; s < k; s++)
      for (int w = 0; w < o.window; w++)
        send_next(sender_idx[s]);
  } else if (sc == SC_PRIVATE) {
    for (int w = 0; w < o.window; w++)
      for (long i = 0; i < o.n; i++)
        send_next((uint32_t)i);
  } else if (sc == SC_PINGPONG) {
    for (long i = 0; i < o.n; i++)
      send_next((uint32_t)i);
  } else if (sc == SC_OPENLOOP) {
    timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    ol_interval = (uint64_t)(1e9 / o.rate);
    if (ol_interval < 10000) ol_interval = 10000;
    ol_t0 = t0;
    ol_k = 0;
    struct itimerspec its = {
        .it_interval = {(time_t)(ol_interval / 1000000000ull), (long)(ol_interval % 1000000000ull)},
        .it_value = {0, 1}};
    timerfd_settime(timer_fd, 0, &its, NULL);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TIMER_TAG};
    epoll_ctl(ep, EPOLL_CTL_ADD, timer_fd, &ev);
  }
  run_for(m_start);
  snap_t r0 = snap();
  run_for(m_end);
  snap_t r1 = snap();
  running = 0;
  if (timer_fd >= 0) {
    epoll_ctl(ep, EPOLL_CTL_DEL, timer_fd, NULL);
    close(timer_fd);
    timer_fd = -1;
  }
  /* Drain: until every sent message is complete (or the cap). */
  uint64_t dl = now_ns() + (uint64_t)(o.drain_timeout * 1e9);
  int drained = 0;
  for (;;) {
    uint64_t pending = 0;
    if (sc == SC_OPENLOOP) {
      pending = deliveries < sent_msgs * (uint64_t)n_open;
    } else {
      for (long i = 0; i < o.n; i++)
        if (conns[i].state == ST_OPEN) pending += conns[i].inflight;
    }
    if (!pending) drained = 1;
    if (!pending || now_ns() >= dl) break;
    poll_once(10);
  }
  /* Loss: every open client should hold every message of each sender. */
  uint64_t missing = 0;
  if (k) {
    for (long c = 0; c < o.n; c++) {
      if (conns[c].state != ST_OPEN) continue;
      for (int s = 0; s < k; s++) {
        uint32_t sent = conns[sender_idx[s]].tx_seq, got = exp_seq[(size_t)c * k + s];
        if (sent > got) missing += sent - got;
      }
    }
  } else if (sc == SC_PRIVATE) {
    for (long c = 0; c < o.n; c++)
      if (conns[c].state == ST_OPEN && conns[c ^ 1].tx_seq > conns[c].rx_exp)
        missing += conns[c ^ 1].tx_seq - conns[c].rx_exp;
  }
  double win = (double)(m_end - m_start) / 1e9;
  jint("senders", k ? k : (int)o.n);
  jint("window", sc == SC_OPENLOOP ? 0 : sc == SC_PINGPONG ? 1 : o.window);
  if (sc == SC_OPENLOOP) jnum("rate_target", o.rate);
  jnum("duration_s", win);
  jnum("msgs_per_s", (double)sent_window / win);
  jnum("deliveries_per_s", (double)deliveries_window / win);
  jint("deliveries", (long long)deliveries);
  jnum("lat_p50_us", hist_pct_us(&lat, 0.50));
  jnum("lat_p99_us", hist_pct_us(&lat, 0.99));
  jnum("lat_p999_us", hist_pct_us(&lat, 0.999));
  jnum("lat_max_us", lat.n ? (double)lat.max / 1000.0 : -1);
  jint("lat_samples", (long long)lat.n);
  jadd(",\"drained\":%s", drained ? "true" : "false");
  /* Loss is decided only once everything sent has had its chance: a server
   * still busy at the drain cap has undelivered messages, not lost ones. */
  jint("order_violations", (long long)order_viol);
  jint("missing", drained ? (long long)missing : 0);
  jint("undelivered_at_cap", drained ? 0 : (long long)missing);
  jint("violations", (long long)(order_viol + (drained ? missing : 0)));
  line_end(r0, r1);
}

int main(int argc, char **argv) {
  if (argc < 2) usage();
  int sc = -1;
  for (int k = 0; k < 6; k++)
    if (!strcmp(argv[1], sc_names[k])) sc = k;
  int suite = !strcmp(argv[1], "suite");
  if (sc < 0 && !suite) usage();
  snprintf(o.host, sizeof o.host, "127.0.0.1");
  o.n = -1;
  o.senders = 10;
  o.window = 4;
  o.duration = 10;
  o.warmup = 1;
  o.rate = 20;
  o.src_ips = -1;
  o.concurrency = 256;
  o.setup_timeout = 120;
  o.drain_timeout = 5;
  o.label = "";
  o.id_prefix = "c";
  const char *phases = "broadcast,openloop,private";
  static struct option lo[] = {
      {"host", 1, 0, 'h'},          {"port", 1, 0, 'p'},        {"pid", 1, 0, 'P'},
      {"clients", 1, 0, 'n'},       {"senders", 1, 0, 'k'},     {"window", 1, 0, 'w'},
      {"duration", 1, 0, 'd'},      {"warmup", 1, 0, 'W'},      {"rate", 1, 0, 'r'},
      {"src-ips", 1, 0, 's'},       {"concurrency", 1, 0, 'c'}, {"setup-timeout", 1, 0, 'S'},
      {"drain-timeout", 1, 0, 'D'}, {"label", 1, 0, 'l'},       {"echo-path", 1, 0, 'e'},
      {"id-prefix", 1, 0, 'i'},     {"phases", 1, 0, 'x'},      {0, 0, 0, 0}};
  int ch;
  while ((ch = getopt_long(argc - 1, argv + 1, "n:d:k:w:r:", lo, NULL)) != -1) {
    switch (ch) {
    case 'h': snprintf(o.host, sizeof o.host, "%s", optarg); break;
    case 'p': o.port = atoi(optarg); break;
    case 'P': o.pid = atoi(optarg); break;
    case 'n': o.n = atol(optarg); break;
    case 'k': o.senders = atoi(optarg); break;
    case 'w': o.window = atoi(optarg); break;
    case 'd': o.duration = atof(optarg); break;
    case 'W': o.warmup = atof(optarg); break;
    case 'r': o.rate = atof(optarg); break;
    case 's': o.src_ips = atoi(optarg); break;
    case 'c': o.concurrency = atoi(optarg); break;
    case 'S': o.setup_timeout = atof(optarg); break;
    case 'D': o.drain_timeout = atof(optarg); break;
    case 'l': o.label = optarg; break;
    case 'e': o.echo_path = optarg; break;
    case 'i': o.id_prefix = optarg; break;
    case 'x': phases = optarg; break;
    default: usage();
    }
  }
  if (optind != argc - 1) usage();
  if (o.port <= 0 || o.port > 65535) usage();
  if (inet_pton(AF_INET, o.host, &target.sin_addr) != 1 ||
      (ntohl(target.sin_addr.s_addr) >> 24) != 127)
    die("--host must be an IPv4 address in 127.0.0.0/8");
  target.sin_family = AF_INET;
  target.sin_port = htons((uint16_t)o.port);

  /* The phases to run after setup. */
  int plist[8], np = 0;
  if (suite) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", phases);
    for (char *save, *tok = strtok_r(buf, ",", &save); tok && np < 8;
         tok = strtok_r(NULL, ",", &save)) {
      int k = -1;
      for (int j = SC_BROADCAST; j <= SC_PINGPONG; j++)
        if (!strcmp(tok, sc_names[j])) k = j;
      if (k < 0) die("--phases: '%s' is not broadcast, openloop, private or pingpong", tok);
      plist[np++] = k;
    }
    if (!np) die("--phases is empty");
    sc = plist[0];
  } else if (sc != SC_CONNECT && sc != SC_IDLE) {
    plist[np++] = sc;
  }
  o.scenario = sc;
  if (o.n < 0) {
    static const long defn[] = {10000, 1000, 1000, 1000, 1, 100000};
    o.n = suite ? 1000 : defn[sc];
  }
  if (o.n < 1 || o.n > 1000000) die("--clients must be 1..1000000");
  for (int j = 0; j < np; j++)
    if (plist[j] == SC_PRIVATE && (o.n & 1)) o.n++;
  if (o.senders < 1) o.senders = 1;
  if (o.senders > o.n) o.senders = (int)o.n;
  if (o.window < 1) o.window = 1;
  if (o.duration <= 0 || o.duration > 3600) die("--duration must be in (0, 3600]");
  if (o.warmup < 0 || o.warmup >= o.duration) o.warmup = 0;
  if (o.rate <= 0) o.rate = 1;
  if (o.concurrency < 1) o.concurrency = 1;
  if (o.setup_timeout <= 0 || o.setup_timeout > 3600) die("--setup-timeout must be in (0, 3600]");
  if (o.drain_timeout < 0 || o.drain_timeout > 600) die("--drain-timeout must be in [0, 600]");
  if (o.src_ips < 0) o.src_ips = o.n > PER_SRC_IP ? (int)((o.n + PER_SRC_IP - 1) / PER_SRC_IP) : 0;
  if (o.src_ips > 250) die("--src-ips at most 250");
  if (o.echo_path && o.echo_path[0] != '/') die("--echo-path must start with /");
  if (o.echo_path && np) die("--echo-path is for connect and idle only");

  signal(SIGPIPE, SIG_IGN);
  signal(SIGALRM, on_alarm);
  alarm((unsigned)(o.setup_timeout + (o.duration + o.drain_timeout + 5) * (np ? np : 1) + 60));
  raise_nofile(o.n);
  rng ^= (uint64_t)getpid() * 0x2545F4914F6CDD1Dull ^ now_ns();

  conns = calloc((size_t)o.n, sizeof *conns);
  rbuf = malloc(RBUF_SIZE);
  sender_idx = calloc((size_t)o.senders, sizeof *sender_idx);
  if (!conns || !rbuf || !sender_idx) die("oom");
  for (int j = 0; j < np; j++)
    if (plist[j] == SC_BROADCAST || plist[j] == SC_OPENLOOP) {
      exp_seq = calloc((size_t)o.n * (size_t)o.senders, sizeof *exp_seq);
      slot_seq = calloc((size_t)o.senders * (size_t)o.window, sizeof *slot_seq);
      slot_cnt = calloc((size_t)o.senders * (size_t)o.window, sizeof *slot_cnt);
      if (!exp_seq || !slot_seq || !slot_cnt) die("oom");
      break;
    }
  for (long i = 0; i < o.n; i++)
    conns[i].fd = -1;
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1: %s", strerror(errno));
  m_start = m_end = UINT64_MAX; /* nothing measured during setup */

  /* Setup: connect, then let the user_joined storm pass (n(n-1)/2 frames). */
  s0 = snap();
  uint64_t setup_dl = s0.t + (uint64_t)(o.setup_timeout * 1e9);
  connect_all(o.n, setup_dl);
  s1 = snap();
  /* settled: every client connected and every user_joined delivered. */
  settled = settle_joins(setup_dl) && n_open == o.n;
  /* The client set is fixed from here on: a handshake still in flight at
   * the cap would join mid-phase and (rightly) miss earlier messages. */
  for (long i = 0; i < o.n; i++)
    if (conns[i].state == ST_CONNECTING || conns[i].state == ST_HANDSHAKE) {
      conn_close((uint32_t)i, 1);
      n_cut++;
    }
  s2 = snap();

  if (sc == SC_CONNECT) {
    line_begin(sc);
    /* RSS per connection: before any connection vs. after the storm. */
    if (s0.srv_rss >= 0 && n_open > 0) {
      jint("server_rss_before_kb", s0.srv_rss);
      jint("server_rss_after_kb", s2.srv_rss);
      jnum("server_rss_per_conn_kb", (double)(s2.srv_rss - s0.srv_rss) / (double)n_open);
    }
    line_end(s0, s2);
  } else if (sc == SC_IDLE) {
    /* Hold: answer the server's pings; its CPU while nothing else happens. */
    line_begin(sc);
    uint64_t pings0 = pings_rx;
    long closed0 = n_closed_after_open;
    snap_t r0 = snap();
    run_for(r0.t + (uint64_t)(o.duration * 1e9));
    snap_t r1 = snap();
    jnum("hold_s", (double)(r1.t - r0.t) / 1e9);
    jint("hold_pings_rx", (long long)(pings_rx - pings0));
    jnum("hold_pings_per_s", (double)(pings_rx - pings0) / ((double)(r1.t - r0.t) / 1e9));
    jint("closed_during_hold", n_closed_after_open - closed0);
    jint("open_at_end", n_open);
    if (s0.srv_rss >= 0 && n_open > 0) {
      jint("server_rss_before_kb", s0.srv_rss);
      jint("server_rss_after_kb", r1.srv_rss);
      jnum("server_rss_per_conn_kb", (double)(r1.srv_rss - s0.srv_rss) / (double)n_open);
    }
    line_end(r0, r1);
  } else {
    for (int j = 0; j < np; j++)
      run_traffic(plist[j]);
  }

  for (long i = 0; i < o.n; i++) {
    if (conns[i].fd >= 0) close(conns[i].fd);
    free(conns[i].part);
    free(conns[i].out);
  }
  free(conns);
  free(rbuf);
  free(sender_idx);
  free(exp_seq);
  free(slot_seq);
  free(slot_cnt);
  return 0;
}
