/* permessage-deflate (RFC 7692) message codec, for a server that always
 * negotiates server_no_context_takeover and client_no_context_takeover.
 *
 * Without context takeover no message depends on the one before, so ONE
 * codec (one raw-deflate stream and one raw-inflate stream, each reset per
 * message) serves every connection of the process: compression costs no
 * memory per connection, and a broadcast is compressed once for all its
 * recipients. Pure: zlib and libc, no I/O, no globals.
 *
 * Framing (RSV1, fragments, control frames) is the frame layer's job; this
 * codec sees one whole message payload at a time.
 *
 * Windows: the deflater uses a 32 KiB window (windowBits 15), so it may only
 * be used for a peer that did NOT negotiate server_max_window_bits < 15 (send
 * such a peer its messages uncompressed: RSV1 is per message, and an
 * uncompressed message is always allowed). The inflater also uses 15, which
 * decodes a stream made with any client_max_window_bits from 8 to 15.
 */
#ifndef FASTWS_DEFLATE_H
#define FASTWS_DEFLATE_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "message.h" /* strbuf_t */

/* Return codes. After any error the codec stays usable: the next call
 * starts a fresh message. */
enum {
  PMD_OK = 0,
  PMD_ENOMEM = -1,  /* an allocation failed (zlib state or output buffer) */
  PMD_CORRUPT = -2, /* pmd_decompress: not a valid raw DEFLATE message (bad data,
                       or one that does not end at a block boundary). Close the
                       connection with 1007, as the `ws` library does; RFC 7692
                       only says "fail the connection" and Autobahn has no
                       case that sends broken DEFLATE data */
  PMD_TOO_BIG = -3, /* pmd_decompress: the message inflates to more than max_out
                       bytes; decoding stopped there. Close with 1009 */
  PMD_EINVAL = -4,  /* pmd_codec_init: level outside -1..9 */
  PMD_EZLIB = -5,   /* zlib failed in a way valid use cannot cause (a bug) */
};

/* Owned by the server (one per process, or per thread); pmd_codec_free
 * releases. The zlib streams are created on first use, so a process that
 * never compresses (or never inflates) pays nothing for that direction;
 * once created they hold about 260 KiB (deflate, memLevel 8) and 7 KiB +
 * 32 KiB window (inflate). Each output buffer keeps the capacity of its
 * largest result, so the steady state allocates nothing per message. */
typedef struct {
  z_stream def; /* raw deflate (windowBits -15, memLevel 8); valid when def_ready */
  z_stream inf; /* raw inflate (windowBits -15); valid when inf_ready */
  int def_ready, inf_ready;
  int level;        /* zlib compression level, -1 (Z_DEFAULT_COMPRESSION) .. 9 */
  strbuf_t def_out; /* pmd_compress's last result */
  strbuf_t inf_out; /* pmd_decompress's last result */
} pmd_codec_t;

/* Initialises c with a compression level (-1 = zlib's default, 6; 1 is
 * fastest). Allocates nothing. Returns PMD_OK or PMD_EINVAL. */
int pmd_codec_init(pmd_codec_t *c, int level);

/* Frees the zlib streams and both output buffers; c may be initialised
 * again afterwards. Safe on a codec that was never used. */
void pmd_codec_free(pmd_codec_t *c);

/* Compresses one whole message in[0..n) as the payload of a permessage-
 * deflate message: raw DEFLATE ending in a sync flush whose trailing
 * 00 00 FF FF is removed (RFC 7692 7.2.1). An empty message gives the single
 * byte 00. On PMD_OK, *out and *out_len hold the payload, valid until the next
 * pmd_compress or pmd_codec_free on c (pmd_decompress does not touch it).
 * Returns PMD_OK, PMD_ENOMEM or PMD_EZLIB. */
int pmd_compress(pmd_codec_t *c, const uint8_t *in, size_t n, const uint8_t **out, size_t *out_len);

/* Inflates one whole compressed message payload in[0..n) (the RSV1 message,
 * all fragments joined), appending the 00 00 FF FF tail itself without
 * copying the input. Stops as soon as the output would pass max_out bytes,
 * having allocated at most max_out + 1 bytes of output buffer for this call
 * (a larger buffer left by an earlier call is reused, not shrunk); max_out 0
 * means no limit, as ws_parser_opts_t.max_message_size. A final block
 * (BFINAL, RFC 7692 7.2.3.4) ends the message: anything after it is ignored.
 * An empty payload is an empty message.
 * On PMD_OK, *out and *out_len hold the message, valid until the next
 * pmd_decompress or pmd_codec_free on c (pmd_compress does not touch it).
 * Its UTF-8 is NOT checked: the caller validates a text message after this.
 * Returns PMD_OK, PMD_TOO_BIG, PMD_CORRUPT, PMD_ENOMEM or PMD_EZLIB. */
int pmd_decompress(pmd_codec_t *c, const uint8_t *in, size_t n, size_t max_out, const uint8_t **out,
                   size_t *out_len);

/* A static description of a PMD_* code, for logs. */
const char *pmd_strerror(int rc);

#endif
