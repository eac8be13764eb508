/* The PROXY protocol preface (HAProxy's proxy-protocol.txt, versions 1 and
 * 2): what a TCP proxy or load balancer sends before the client's bytes to
 * tell the real client's address. A pure state machine over bytes, fed any
 * split of the input; it holds at most PROXY_KEEP_MAX bytes (the v1 line,
 * or the v2 header and address block) and skips v2 TLVs without keeping
 * them.
 *
 * Strictness: a v1 line must be "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n"
 * (addresses in their canonical text forms, ports 0..65535 without
 * leading zeros) or "PROXY UNKNOWN...\r\n", at most 107 bytes; a v2 header
 * must carry the 12-byte signature, version 2, command LOCAL or PROXY, and
 * an address block at least as long as its family needs; its length may
 * not pass PROXY_V2_MAX_LEN. Anything else is PROXY_ERROR, and stays so. */
#ifndef FASTWS_PROTOCOL_PROXY_H
#define FASTWS_PROTOCOL_PROXY_H

#include <stddef.h>
#include <stdint.h>

#define PROXY_V1_MAX     107  /* the longest v1 line, CRLF included */
#define PROXY_V2_MAX_LEN 4096 /* the longest v2 address block + TLVs we accept */
#define PROXY_KEEP_MAX   (16 + 36)

enum { PROXY_MORE = 0, PROXY_DONE = 1, PROXY_ERROR = -1 };

/* What the preface said. LOCAL (a health check of the proxy itself) and
 * UNKNOWN (v1) carry no address: the connection keeps its TCP peer. */
enum { PROXY_CMD_PROXY, PROXY_CMD_LOCAL, PROXY_CMD_UNKNOWN };

typedef struct {
  int command;
  int version;     /* 1 or 2 */
  uint8_t family;  /* AF_INET or AF_INET6 with PROXY_CMD_PROXY, else 0 */
  uint8_t src[16]; /* network byte order; IPv4 in the first 4 bytes */
  uint8_t dst[16];
  uint16_t src_port, dst_port;
} proxy_info_t;

/* Owned by whoever reads the preface; zero it (or proxy_init) to start. */
typedef struct {
  uint8_t buf[PROXY_V1_MAX + 1];
  size_t have;      /* bytes in buf */
  size_t skip;      /* v2: TLV bytes still to skip */
  uint32_t v2_len;  /* v2: the header's length field */
  int state;        /* PROXY_MORE until done or failed */
  const char *why;  /* the reason of PROXY_ERROR, static */
  proxy_info_t info;
} proxy_parser_t;

void proxy_init(proxy_parser_t *p);

/* Feeds len bytes. PROXY_MORE: all consumed, the preface is not complete.
 * PROXY_DONE: the preface ended after *used bytes of this input (the rest
 * is the client's stream); p->info says what it carried. PROXY_ERROR:
 * malformed (p->why says why). After DONE or ERROR, further calls return
 * the same result and consume nothing. */
int proxy_feed(proxy_parser_t *p, const uint8_t *data, size_t len, size_t *used);

#endif
