/* One outgoing WebSocket message, framed lazily and at most once per
 * variant (plain, or permessage-deflated) however many recipients it has.
 * Owned by the code that builds it, on its stack; outmsg_release drops its
 * references (recipients' queues keep their own). */
#ifndef FASTWS_OUTMSG_H
#define FASTWS_OUTMSG_H

#include <stddef.h>
#include <stdint.h>

#include "server/net/obuf.h"
#include "protocol/deflate.h"

typedef struct {
  const uint8_t *payload; /* borrowed, valid while the message is delivered */
  size_t len;
  uint8_t opcode;
  obuf_t *plain;    /* framed without compression, NULL until needed */
  obuf_t *deflated; /* framed with RSV1, NULL until needed */
  int deflate_failed;
} outmsg_t;

void outmsg_init(outmsg_t *m, uint8_t opcode, const void *payload, size_t len);

/* The framed bytes for a recipient; compressed when it negotiated
 * permessage-deflate, codec is not NULL, and len >= min_size. Returns a
 * borrowed buffer (the caller refs it to keep it) or NULL on ENOMEM. */
obuf_t *outmsg_frame(outmsg_t *m, int deflate, pmd_codec_t *codec, size_t min_size);

void outmsg_release(outmsg_t *m);

#endif
