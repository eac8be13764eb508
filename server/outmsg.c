#include "outmsg.h"

#include <string.h>

#include "protocol/frame.h"

void outmsg_init(outmsg_t *m, uint8_t opcode, const void *payload, size_t len) {
  memset(m, 0, sizeof *m);
  m->opcode = opcode;
  m->payload = payload;
  m->len = len;
}

static obuf_t *frame_bytes(uint8_t opcode, int rsv1, const uint8_t *p, size_t n) {
  size_t h = ws_frame_header_size(n, 0);
  obuf_t *b = obuf_new(h + n);
  if (!b) return NULL;
  ws_frame_header(b->data, opcode, 1, rsv1, n, NULL);
  if (n) memcpy(b->data + h, p, n);
  return b;
}

obuf_t *outmsg_frame(outmsg_t *m, int deflate, void *codec, size_t min_size) {
  (void)deflate;
  (void)codec;
  (void)min_size;
  if (!m->plain) m->plain = frame_bytes(m->opcode, 0, m->payload, m->len);
  return m->plain;
}

void outmsg_release(outmsg_t *m) {
  obuf_unref(m->plain);
  obuf_unref(m->deflated);
  m->plain = m->deflated = NULL;
}
