#include "server/ws/outmsg.h"

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

/* Compressed once for every recipient that negotiated permessage-deflate
 * (no context takeover makes the bytes the same for all of them). */
static obuf_t *deflated(outmsg_t *m, pmd_codec_t *codec) {
  const uint8_t *z;
  size_t zlen;
  if (!m->deflated && !m->deflate_failed) {
    if (pmd_compress(codec, m->payload, m->len, &z, &zlen) == PMD_OK)
      m->deflated = frame_bytes(m->opcode, 1, z, zlen);
    if (!m->deflated) m->deflate_failed = 1;
  }
  return m->deflated;
}

obuf_t *outmsg_frame(outmsg_t *m, int deflate, pmd_codec_t *codec, size_t min_size) {
  if (deflate && codec && m->len >= min_size) {
    obuf_t *b = deflated(m, codec);
    if (b) return b;
  }
  if (!m->plain) m->plain = frame_bytes(m->opcode, 0, m->payload, m->len);
  return m->plain;
}

void outmsg_release(outmsg_t *m) {
  obuf_unref(m->plain);
  obuf_unref(m->deflated);
  m->plain = m->deflated = NULL;
}
