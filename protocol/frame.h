/* RFC 6455 framing: an incremental parser for client frames (with message
 * reassembly, fail-fast UTF-8 checking and size limits) and a writer for
 * frame headers.
 *
 * Pure: no I/O, no libuv, no globals. The parser is a state machine over
 * bytes (header -> extended length -> mask -> payload) that accepts any
 * split of its input, from one byte at a time to many frames in one call.
 */
#ifndef FASTWS_FRAME_H
#define FASTWS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "utf8.h"

enum {
  WS_OP_CONT = 0x0,
  WS_OP_TEXT = 0x1,
  WS_OP_BINARY = 0x2,
  WS_OP_CLOSE = 0x8,
  WS_OP_PING = 0x9,
  WS_OP_PONG = 0xA,
};

/* Close codes the parser reports (RFC 6455 7.4.1). */
enum {
  WS_CLOSE_NORMAL = 1000,
  WS_CLOSE_GOING_AWAY = 1001,
  WS_CLOSE_PROTOCOL = 1002,
  WS_CLOSE_UNSUPPORTED = 1003,
  WS_CLOSE_NO_STATUS = 1005, /* never sent: "the close frame had no code" */
  WS_CLOSE_INVALID_DATA = 1007,
  WS_CLOSE_POLICY = 1008,
  WS_CLOSE_TOO_BIG = 1009,
  WS_CLOSE_INTERNAL = 1011,
};

#define WS_MAX_HEADER          14 /* 2 + 8 (length) + 4 (mask) */
#define WS_MAX_CONTROL_PAYLOAD 125

/* Limits and negotiated options. Usually one instance shared by many
 * parsers (the server's); the parser keeps only a pointer to it, so it must
 * outlive every parser that uses it. */
typedef struct {
  uint64_t max_message_size; /* reassembled data message, bytes; 0 = no limit */
  unsigned allow_binary : 1; /* 0: a binary message fails with 1003 at its first frame header */
  unsigned allow_rsv1 : 1;   /* permessage-deflate negotiated: RSV1 allowed on the first frame of a
                                data message */
  unsigned require_mask : 1; /* server side: an unmasked frame fails with 1002 */
} ws_parser_opts_t;

typedef enum {
  WS_EV_NONE = 0, /* all input consumed, nothing complete yet */
  WS_EV_MESSAGE,  /* a whole data message: opcode, data, len, compressed */
  WS_EV_PING,     /* data, len: the payload (0..125 bytes) */
  WS_EV_PONG,     /* data, len: the payload */
  WS_EV_CLOSE,    /* close_code (1005 when the frame had none), data/len: reason (valid UTF-8) */
  WS_EV_ERROR,    /* close_code: 1002, 1003, 1007 or 1009; the parser is dead afterwards */
} ws_event_type_t;

typedef struct {
  ws_event_type_t type;
  uint8_t opcode;     /* WS_OP_TEXT or WS_OP_BINARY for WS_EV_MESSAGE */
  uint8_t compressed; /* WS_EV_MESSAGE: RSV1 was set; data is still deflated and its
                         UTF-8 has NOT been checked (the caller inflates, then checks) */
  uint16_t close_code;
  const uint8_t *data; /* valid until the next ws_parser_feed or ws_parser_free call;
                          may point into the caller's input buffer */
  size_t len;
} ws_event_t;

/* Owned by the connection that embeds it; ws_parser_free releases the
 * reassembly buffer. Kept small: an idle parser holds no heap memory. */
typedef struct {
  const ws_parser_opts_t *opts;
  uint8_t *buf;   /* reassembly of a fragmented/split message, NULL when idle */
  size_t buf_len; /* bytes of the current data message held in buf */
  size_t buf_cap;
  uint64_t frame_left;   /* payload bytes of the current frame still to come */
  uint64_t frame_pos;    /* payload bytes of the current frame already seen (mask offset) */
  utf8_validator_t utf8; /* over the current text message */
  uint8_t hdr[WS_MAX_HEADER];
  uint8_t hdr_len;
  uint8_t state;
  uint8_t frame_op; /* opcode of the frame being read */
  uint8_t frame_fin;
  uint8_t msg_op; /* opcode of the message in progress, 0 when none */
  uint8_t msg_compressed;
  uint8_t mask[4];
  uint8_t dead;
} ws_parser_t;

void ws_parser_init(ws_parser_t *p, const ws_parser_opts_t *opts);

/* Frees the reassembly buffer; the parser may be re-initialised after. */
void ws_parser_free(ws_parser_t *p);

/* Parses bytes from in[0..len). Returns how many bytes were consumed and
 * fills *ev. When ev->type != WS_EV_NONE the caller handles the event and
 * calls again with the rest (in + consumed). Unmasks in place, so `in` is
 * modified. After WS_EV_ERROR or WS_EV_CLOSE, further calls consume all
 * their input and return WS_EV_NONE (RFC 6455: data after a close is
 * ignored). WS_EV_NONE always means all input was used. The memory behind
 * an event is released at the start of the next call: after the last
 * event of a read, call once more with len 0 so an idle parser holds no
 * heap. WS_EV_ERROR may also carry 1011 when memory ran out. */
size_t ws_parser_feed(ws_parser_t *p, uint8_t *in, size_t len, ws_event_t *ev);

/* Heap bytes the parser holds now (for metrics and memory tests). */
size_t ws_parser_memory(const ws_parser_t *p);

/* Writes a frame header to out (at least WS_MAX_HEADER bytes) and returns its
 * length (2..14). mask NULL = unmasked (server frames); otherwise the 4-byte
 * mask key is written and the caller masks the payload with ws_mask. */
size_t ws_frame_header(uint8_t *out, uint8_t opcode, int fin, int rsv1, uint64_t payload_len,
                       const uint8_t *mask);

/* Length of the header ws_frame_header would write. */
size_t ws_frame_header_size(uint64_t payload_len, int masked);

/* XORs p[0..n) with mask, as if p started at byte `offset` of the payload. */
void ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset);

/* 1 when a close frame may carry this code (RFC 6455 7.4.1 and IANA):
 * 1000-1003, 1007-1014, 3000-4999. */
int ws_close_code_valid(unsigned code);

/* Builds a close payload (2-byte code + reason, reason cut to fit 125 bytes)
 * into out (at least 125 bytes); returns its length. */
size_t ws_close_payload(uint8_t *out, uint16_t code, const char *reason, size_t reason_len);

#endif
