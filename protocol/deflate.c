/* permessage-deflate codec: see deflate.h. */
#include "deflate.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define PMD_WINDOW_BITS 15 /* negative in zlib calls: raw DEFLATE, no header */
#define PMD_MEM_LEVEL   8
#define PMD_MIN_CHUNK   1024 /* smallest output growth step */

/* RFC 7692 7.2.1: a sync flush ends in an empty stored block, whose last
 * four bytes the sender removes and the receiver puts back. */
static const uint8_t pmd_tail[4] = {0x00, 0x00, 0xff, 0xff};

int pmd_codec_init(pmd_codec_t *c, int level) {
  memset(c, 0, sizeof(*c));
  if (level < -1 || level > 9) return PMD_EINVAL;
  c->level = level;
  return PMD_OK;
}

void pmd_codec_free(pmd_codec_t *c) {
  if (c->def_ready) deflateEnd(&c->def);
  if (c->inf_ready) inflateEnd(&c->inf);
  c->def_ready = c->inf_ready = 0;
  strbuf_free(&c->def_out);
  strbuf_free(&c->inf_out);
}

const char *pmd_strerror(int rc) {
  switch (rc) {
  case PMD_OK: return "ok";
  case PMD_ENOMEM: return "out of memory";
  case PMD_CORRUPT: return "invalid compressed data";
  case PMD_TOO_BIG: return "decompressed message too big";
  case PMD_EINVAL: return "invalid compression level";
  case PMD_EZLIB: return "internal zlib error";
  }
  return "unknown error";
}

static int zlib_init_rc(int zrc) {
  if (zrc == Z_OK) return PMD_OK;
  return zrc == Z_MEM_ERROR ? PMD_ENOMEM : PMD_EZLIB;
}

/* A fresh deflate stream for this message: created on first use, reset
 * afterwards (no context takeover). */
static int def_start(pmd_codec_t *c) {
  if (c->def_ready) return deflateReset(&c->def) == Z_OK ? PMD_OK : PMD_EZLIB;
  memset(&c->def, 0, sizeof(c->def));
  int rc = zlib_init_rc(deflateInit2(&c->def, c->level, Z_DEFLATED, -PMD_WINDOW_BITS, PMD_MEM_LEVEL,
                                     Z_DEFAULT_STRATEGY));
  c->def_ready = rc == PMD_OK;
  return rc;
}

static int inf_start(pmd_codec_t *c) {
  if (c->inf_ready) return inflateReset(&c->inf) == Z_OK ? PMD_OK : PMD_EZLIB;
  memset(&c->inf, 0, sizeof(c->inf));
  int rc = zlib_init_rc(inflateInit2(&c->inf, -PMD_WINDOW_BITS));
  c->inf_ready = rc == PMD_OK;
  return rc;
}

/* zlib counts in uInt; larger buffers are handed over in pieces. */
static uInt clamp_uint(size_t n) {
  return n > UINT_MAX ? UINT_MAX : (uInt)n;
}

int pmd_compress(pmd_codec_t *c, const uint8_t *in, size_t n, const uint8_t **out,
                 size_t *out_len) {
  int rc = def_start(c);
  if (rc != PMD_OK) return rc;
  strbuf_t *b = &c->def_out;
  z_stream *s = &c->def;
  b->len = 0;
  /* deflateBound plus the flush marker: normally the only reservation. */
  if (strbuf_reserve(b, (size_t)deflateBound(s, (uLong)n) + 16) < 0) return PMD_ENOMEM;
  size_t left = n;
  s->next_in = (Bytef *)in; /* zlib's API is not const; it does not write */
  for (;;) {
    s->avail_in = clamp_uint(left);
    left -= s->avail_in;
    int flush = left == 0 ? Z_SYNC_FLUSH : Z_NO_FLUSH;
    /* avail_out left non-zero means zlib is done with this input (and, for
     * Z_SYNC_FLUSH, has written everything). */
    do {
      if (b->cap - b->len < 64 && strbuf_reserve(b, b->cap / 2 + PMD_MIN_CHUNK) < 0)
        return PMD_ENOMEM;
      uInt room = clamp_uint(b->cap - b->len);
      s->next_out = (Bytef *)b->buf + b->len;
      s->avail_out = room;
      int zrc = deflate(s, flush);
      if (zrc != Z_OK && zrc != Z_BUF_ERROR) return PMD_EZLIB;
      b->len += room - s->avail_out;
    } while (s->avail_out == 0);
    if (flush == Z_SYNC_FLUSH) break;
  }
  if (b->len < sizeof(pmd_tail) || memcmp(b->buf + b->len - 4, pmd_tail, 4) != 0) return PMD_EZLIB;
  b->len -= sizeof(pmd_tail);
  *out = (const uint8_t *)b->buf;
  *out_len = b->len;
  return PMD_OK;
}

/* Makes room for more output without ever holding more than `limit` bytes
 * of buffer for this message (a bigger buffer from earlier is kept). Grows
 * geometrically, so a large message costs O(log n) reallocations. */
static int inf_grow(strbuf_t *b, size_t limit) {
  if (b->cap > b->len) return PMD_OK;
  size_t cap = b->cap < PMD_MIN_CHUNK / 2 ? PMD_MIN_CHUNK : b->cap * 2;
  if (cap < b->cap || cap > limit) cap = limit;
  char *p = realloc(b->buf, cap);
  if (!p) return PMD_ENOMEM;
  b->buf = p;
  b->cap = cap;
  return PMD_OK;
}

/* Inflates one input segment into c->inf_out. Returns PMD_OK when the
 * segment is consumed and all its output written, 1 at the end of a final
 * block (the message is complete), or an error. `limit` is max_out + 1:
 * reaching it means the message is too big. */
static int inf_segment(pmd_codec_t *c, const uint8_t *p, size_t n, size_t limit) {
  z_stream *s = &c->inf;
  strbuf_t *b = &c->inf_out;
  s->next_in = (Bytef *)p;
  s->avail_in = 0; /* inflateReset keeps a failed message's count */
  for (;;) {
    if (s->avail_in == 0 && n > 0) {
      s->avail_in = clamp_uint(n);
      n -= s->avail_in;
    }
    if (b->len >= limit) return PMD_TOO_BIG;
    if (inf_grow(b, limit) != PMD_OK) return PMD_ENOMEM;
    /* Never offer zlib more room than the limit allows, so the bound holds
     * even when a larger buffer is being reused. */
    uInt room = clamp_uint((b->cap < limit ? b->cap : limit) - b->len);
    s->next_out = (Bytef *)b->buf + b->len;
    s->avail_out = room;
    int zrc = inflate(s, Z_SYNC_FLUSH);
    b->len += room - s->avail_out;
    switch (zrc) {
    case Z_STREAM_END: return b->len >= limit ? PMD_TOO_BIG : 1;
    case Z_OK:
    case Z_BUF_ERROR: /* no progress: out of input or of output room */ break;
    case Z_MEM_ERROR: return PMD_ENOMEM;
    case Z_DATA_ERROR:
    case Z_NEED_DICT: return PMD_CORRUPT;
    default: return PMD_EZLIB;
    }
    if (b->len >= limit) return PMD_TOO_BIG;
    if (s->avail_in == 0 && n == 0 && s->avail_out != 0) return PMD_OK;
  }
}

int pmd_decompress(pmd_codec_t *c, const uint8_t *in, size_t n, size_t max_out, const uint8_t **out,
                   size_t *out_len) {
  c->inf_out.len = 0;
  *out = (const uint8_t *)""; /* never NULL, even for an empty message */
  *out_len = 0;
  if (n == 0) /* some senders compress "" to nothing at all */
    return PMD_OK;
  int rc = inf_start(c);
  if (rc != PMD_OK) return rc;
  size_t limit = max_out == 0 || max_out == SIZE_MAX ? SIZE_MAX : max_out + 1;
  rc = inf_segment(c, in, n, limit);
  if (rc == PMD_OK) rc = inf_segment(c, pmd_tail, sizeof(pmd_tail), limit);
  if (rc == PMD_OK && !(c->inf.data_type & 128))
    rc = PMD_CORRUPT; /* the message did not end at a block boundary */
  if (rc < 0) return rc;
  if (c->inf_out.len > 0) *out = (const uint8_t *)c->inf_out.buf;
  *out_len = c->inf_out.len;
  return PMD_OK;
}
