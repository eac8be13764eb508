/* The cluster's wire format (cluster.h, "Message"): the payload of every
 * PUBLISH between nodes, and the client values of the presence HASH.
 * Pure: bytes in, bytes out; no hiredis, no libuv, no I/O.
 *
 *   payload = "<node_id> <incarnation>\n" "<kind line>\n" "<envelope>"
 *   kind lines:
 *     C                                chat
 *     R <room>                         room message
 *     P <to> <from>                    private
 *     B <from> <to>                    bounce of a private (no envelope)
 *     J <seq> <id> <value>             user_joined
 *     L <seq> <id>                     user_left (no envelope: silent)
 *     M <seq> <id> <room> <+|-> <value>  room_joined / room_left
 *     H <seq> <count> <digest>[ hello] heartbeat (no envelope)
 *     X                                goodbye (no envelope)
 *   value = "<claim_usec>[ <room>...]"
 *
 * Decoding is strict and canonical: tokens are separated by exactly one
 * space, numbers are decimal without leading zeros (a sign only on a
 * nonzero incarnation or claim), the digest is exactly 16 lowercase hex
 * digits, ids and rooms follow ws_id_valid, node ids are 1..64 of
 * A-Z a-z 0-9 . _ : - (config.c's node_id rule), and C, R, P carry an
 * envelope while B, H, X carry none. So whatever decodes re-encodes to the
 * very same bytes; anything else is rejected whole. */
#ifndef FASTWS_CLUSTER_WIRE_H
#define FASTWS_CLUSTER_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/message.h"
#include "protocol/slice.h"

#define WIRE_NODE_ID_MAX 64

typedef enum {
  WIRE_CHAT = 'C',
  WIRE_ROOM = 'R',
  WIRE_PRIVATE = 'P',
  WIRE_BOUNCE = 'B',
  WIRE_JOIN = 'J',
  WIRE_LEAVE = 'L',
  WIRE_MEMBER = 'M',
  WIRE_HEARTBEAT = 'H',
  WIRE_GOODBYE = 'X',
} wire_kind_t;

/* One message. Decoded, every slice points into the payload given to
 * wire_decode (borrowed); to encode, the caller fills the fields of its
 * kind (the others are ignored). */
typedef struct {
  slice_t origin; /* the sending node's id */
  int64_t inc;    /* its incarnation */
  char kind;      /* wire_kind_t */
  uint64_t seq;   /* J L M H: the node's presence sequence number */
  slice_t id;     /* J L M: the client */
  slice_t room;   /* R M */
  int joined;     /* M: 1 for '+', 0 for '-' */
  slice_t value;  /* J M: "<claim_usec>[ <room>...]" (validated) */
  slice_t to;     /* P B: the private's recipient */
  slice_t from;   /* P B: its sender */
  uint64_t count; /* H: the node's clients */
  uint64_t digest;
  int hello;   /* H: asks every node for its heartbeat */
  slice_t env; /* the envelope JSON, forwarded byte for byte; may be empty */
} wire_msg_t;

/* Appends the payload of m to out (fields are not validated: the caller
 * passes what it built). 0, or -1 on ENOMEM (out then holds a part). */
int wire_encode(strbuf_t *out, const wire_msg_t *m);

/* Decodes p[0..len) into *m. 0, or -1 when it is not a well-formed message
 * (*m then holds nothing of use). */
int wire_decode(const char *p, size_t len, wire_msg_t *m);

/* A decoded value: the claim time, then the rooms, space-separated. */
typedef struct {
  int64_t claim;
  slice_t rooms; /* borrowed; walk it with wire_rooms_next */
} wire_value_t;

/* "<claim_usec>[ <room>...]" -> *out. 0, or -1 when malformed. */
int wire_value_decode(slice_t v, wire_value_t *out);

/* The next room of a decoded value's rooms (consumed from *rest): 1 with
 * *room set, 0 at the end. */
int wire_rooms_next(slice_t *rest, slice_t *room);

/* Value encoding: the claim, then each room. 0, or -1 on ENOMEM. */
int wire_value_claim(strbuf_t *out, int64_t claim);
int wire_value_room(strbuf_t *out, slice_t room);

/* Canonical decimal numbers (the HASH's #seq and #inc fields too): 1 when
 * s is one (stored in *out), else 0. */
int wire_parse_u64(slice_t s, uint64_t *out);
int wire_parse_i64(slice_t s, int64_t *out);

/* 1 when s is a valid client id / room name (ws_id_valid), or node id. */
int wire_id_ok(slice_t s);
int wire_node_id_ok(slice_t s);

#endif
