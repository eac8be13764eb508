#include "protocol/proxy.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char v1_prefix[] = "PROXY ";

void proxy_init(proxy_parser_t *p) {
  memset(p, 0, sizeof *p);
}

static int fail(proxy_parser_t *p, const char *why) {
  p->state = PROXY_ERROR;
  p->why = why;
  return PROXY_ERROR;
}

/* A port: 0..65535, decimal, no sign, no leading zero. */
static int parse_port(const char *s, size_t n, uint16_t *out) {
  unsigned v = 0;
  size_t i;
  if (n == 0 || n > 5 || (n > 1 && s[0] == '0')) return -1;
  for (i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  if (v > 65535) return -1;
  *out = (uint16_t)v;
  return 0;
}

static int parse_addr(int family, const char *s, size_t n, uint8_t out[16]) {
  char tmp[64];
  if (n == 0 || n >= sizeof tmp) return -1;
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  memset(out, 0, 16);
  return inet_pton(family, tmp, out) == 1 ? 0 : -1;
}

/* The v1 line without its CRLF: "PROXY TCP4 SRC DST SPORT DPORT". */
static int v1_line(proxy_parser_t *p, const char *line, size_t n) {
  const char *tok[6];
  size_t len[6], i = 0, k = 0, start = 0;
  int family;
  for (i = 0; i <= n && k < 6; i++) {
    if (i == n || line[i] == ' ') {
      tok[k] = line + start;
      len[k++] = i - start;
      start = i + 1;
    }
  }
  p->info.version = 1;
  if (k >= 2 && len[1] == 7 && memcmp(tok[1], "UNKNOWN", 7) == 0) {
    p->info.command = PROXY_CMD_UNKNOWN;
    return PROXY_DONE;
  }
  if (k != 6 || i <= n) return fail(p, "malformed PROXY v1 line");
  if (len[1] == 4 && memcmp(tok[1], "TCP4", 4) == 0)
    family = AF_INET;
  else if (len[1] == 4 && memcmp(tok[1], "TCP6", 4) == 0)
    family = AF_INET6;
  else
    return fail(p, "PROXY v1: unknown protocol");
  if (parse_addr(family, tok[2], len[2], p->info.src) != 0 ||
      parse_addr(family, tok[3], len[3], p->info.dst) != 0)
    return fail(p, "PROXY v1: bad address");
  if (parse_port(tok[4], len[4], &p->info.src_port) != 0 ||
      parse_port(tok[5], len[5], &p->info.dst_port) != 0)
    return fail(p, "PROXY v1: bad port");
  p->info.command = PROXY_CMD_PROXY;
  p->info.family = (uint8_t)family;
  return PROXY_DONE;
}

static int feed_v1(proxy_parser_t *p, const uint8_t *data, size_t len, size_t *used) {
  size_t i;
  for (i = 0; i < len; i++) {
    uint8_t ch = data[i];
    if (p->have < sizeof v1_prefix - 1 && ch != (uint8_t)v1_prefix[p->have])
      return fail(p, "not a PROXY preface");
    if (p->have >= PROXY_V1_MAX) return fail(p, "PROXY v1 line too long");
    p->buf[p->have++] = ch;
    if (ch == '\n') {
      *used = i + 1;
      if (p->have < 2 || p->buf[p->have - 2] != '\r') return fail(p, "PROXY v1: bare LF");
      if (memchr(p->buf, '\r', p->have - 2) || memchr(p->buf, '\0', p->have))
        return fail(p, "PROXY v1: stray CR or NUL");
      p->state = v1_line(p, (const char *)p->buf, p->have - 2);
      return p->state;
    }
  }
  *used = len;
  return PROXY_MORE;
}

/* The 16-byte v2 header is complete: check it, learn how much follows. */
static int v2_header(proxy_parser_t *p) {
  uint8_t ver_cmd = p->buf[12], fam = p->buf[13];
  if ((ver_cmd >> 4) != 2) return fail(p, "PROXY v2: bad version");
  if ((ver_cmd & 0x0F) > 1) return fail(p, "PROXY v2: bad command");
  p->v2_len = (uint32_t)p->buf[14] << 8 | p->buf[15];
  if (p->v2_len > PROXY_V2_MAX_LEN) return fail(p, "PROXY v2: header too long");
  p->info.version = 2;
  p->info.command = (ver_cmd & 0x0F) == 0 ? PROXY_CMD_LOCAL : PROXY_CMD_PROXY;
  if (p->info.command == PROXY_CMD_PROXY) {
    size_t need = 0;
    switch (fam >> 4) {
    case 1: need = 12; break; /* AF_INET: 4 + 4 + 2 + 2 */
    case 2: need = 36; break; /* AF_INET6: 16 + 16 + 2 + 2 */
    case 0:                   /* UNSPEC */
    case 3:                   /* UNIX: no address of ours to take */
      p->info.command = PROXY_CMD_UNKNOWN;
      break;
    default: return fail(p, "PROXY v2: bad address family");
    }
    if (need && (fam & 0x0F) != 1) return fail(p, "PROXY v2: not a stream");
    if (p->v2_len < need) return fail(p, "PROXY v2: address block too short");
    p->info.family = (uint8_t)(need == 12 ? AF_INET : need == 36 ? AF_INET6 : 0);
  }
  return PROXY_MORE;
}

static void v2_addresses(proxy_parser_t *p) {
  const uint8_t *a = p->buf + 16;
  size_t n = p->info.family == AF_INET ? 4 : 16;
  memcpy(p->info.src, a, n);
  memcpy(p->info.dst, a + n, n);
  p->info.src_port = (uint16_t)(a[2 * n] << 8 | a[2 * n + 1]);
  p->info.dst_port = (uint16_t)(a[2 * n + 2] << 8 | a[2 * n + 3]);
}

static int feed_v2(proxy_parser_t *p, const uint8_t *data, size_t len, size_t *used) {
  size_t i = 0;
  while (p->have < 16 && i < len) {
    if (p->have < sizeof v2_sig && data[i] != v2_sig[p->have])
      return fail(p, "not a PROXY preface");
    p->buf[p->have++] = data[i++];
    if (p->have == 16) {
      size_t keep;
      if (v2_header(p) != PROXY_MORE) return PROXY_ERROR;
      keep = p->info.family == AF_INET ? 12 : p->info.family == AF_INET6 ? 36 : 0;
      p->skip = p->v2_len - keep;
    }
  }
  if (p->have < 16) {
    *used = i;
    return PROXY_MORE;
  }
  {
    size_t keep = p->info.family == AF_INET ? 12 : p->info.family == AF_INET6 ? 36 : 0;
    while (p->have < 16 + keep && i < len)
      p->buf[p->have++] = data[i++];
    if (p->have < 16 + keep) {
      *used = i;
      return PROXY_MORE;
    }
    if (keep && p->info.command == PROXY_CMD_PROXY) v2_addresses(p);
  }
  if (p->skip) { /* TLVs: not ours to read */
    size_t k = len - i < p->skip ? len - i : p->skip;
    p->skip -= k;
    i += k;
  }
  *used = i;
  if (p->skip) return PROXY_MORE;
  p->state = PROXY_DONE;
  return PROXY_DONE;
}

int proxy_feed(proxy_parser_t *p, const uint8_t *data, size_t len, size_t *used) {
  *used = 0;
  if (p->state != PROXY_MORE) return p->state;
  if (len == 0) return PROXY_MORE;
  if (p->have == 0 && p->info.version == 0) {
    if (data[0] == 'P')
      p->info.version = 1;
    else if (data[0] == 0x0D)
      p->info.version = 2;
    else
      return fail(p, "not a PROXY preface");
  }
  return p->info.version == 1 ? feed_v1(p, data, len, used) : feed_v2(p, data, len, used);
}
