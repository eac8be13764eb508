/* Incremental UTF-8 validation; contract in utf8.h.
 *
 * A DFA over byte classes, in the manner of Bjoern Hoehrmann's decoder but
 * with our own tables, built from Unicode Table 3-7 (well-formed byte
 * sequences). The states that follow a lead byte with a narrowed second-byte
 * range (E0, ED, F0, F4) are what reject overlong forms, surrogates and code
 * points above U+10FFFF at the earliest byte that proves them, so a caller
 * feeding a frame as it arrives fails fast (RFC 6455 8.1).
 */
#include "protocol/utf8.h"

#include <string.h>

/* States. ACCEPT must be 0 (a zeroed validator is fresh) and every other
 * state is "not at a boundary", REJECT included, so utf8_complete is one
 * comparison. */
enum {
  S_ACCEPT = 0,
  S_REJECT, /* sticky until utf8_init */
  S_TAIL1,  /* one more 80..BF */
  S_TAIL2,  /* two more 80..BF */
  S_TAIL3,  /* three more 80..BF */
  S_E0,     /* next A0..BF: 80..9F would be an overlong 3-byte form */
  S_ED,     /* next 80..9F: A0..BF would encode a surrogate */
  S_F0,     /* next 90..BF: 80..8F would be an overlong 4-byte form */
  S_F4,     /* next 80..8F: 90..BF would be above U+10FFFF */
  S_COUNT
};

/* Byte classes: bytes that behave alike in every state share a column. */
enum {
  C_ASCII, /* 00..7F */
  C_CONT1, /* 80..8F */
  C_CONT2, /* 90..9F */
  C_CONT3, /* A0..BF */
  C_LEAD2, /* C2..DF */
  C_E0,
  C_LEAD3, /* E1..EC, EE..EF */
  C_ED,
  C_F0,
  C_LEAD4, /* F1..F3 */
  C_F4,
  C_BAD, /* C0, C1, F5..FF: never appear in UTF-8 */
  C_COUNT
};

/* clang-format off */
#define R16(c) c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c

static const uint8_t byte_class[256] = {
    R16(C_ASCII), R16(C_ASCII), R16(C_ASCII), R16(C_ASCII), /* 00..3F */
    R16(C_ASCII), R16(C_ASCII), R16(C_ASCII), R16(C_ASCII), /* 40..7F */
    R16(C_CONT1), R16(C_CONT2), R16(C_CONT3), R16(C_CONT3), /* 80..BF */
    C_BAD, C_BAD, C_LEAD2, C_LEAD2, C_LEAD2, C_LEAD2,       /* C0..C5 */
    C_LEAD2, C_LEAD2, C_LEAD2, C_LEAD2, C_LEAD2, C_LEAD2,   /* C6..CB */
    C_LEAD2, C_LEAD2, C_LEAD2, C_LEAD2,                     /* CC..CF */
    R16(C_LEAD2),                                           /* D0..DF */
    C_E0, C_LEAD3, C_LEAD3, C_LEAD3, C_LEAD3, C_LEAD3,      /* E0..E5 */
    C_LEAD3, C_LEAD3, C_LEAD3, C_LEAD3, C_LEAD3, C_LEAD3,   /* E6..EB */
    C_LEAD3, C_ED, C_LEAD3, C_LEAD3,                        /* EC..EF */
    C_F0, C_LEAD4, C_LEAD4, C_LEAD4, C_F4, C_BAD, C_BAD,    /* F0..F6 */
    C_BAD, C_BAD, C_BAD, C_BAD, C_BAD, C_BAD, C_BAD, C_BAD, /* F7..FE */
    C_BAD,                                                  /* FF */
};

/* Columns are byte classes, headed by their first byte. */
#define A_ S_ACCEPT
#define X_ S_REJECT
#define T1 S_TAIL1
#define T2 S_TAIL2
#define T3 S_TAIL3
#define sE0 S_E0
#define sED S_ED
#define sF0 S_F0
#define sF4 S_F4

static const uint8_t next_state[S_COUNT][C_COUNT] = {
    /*            00   80   90   A0   C2   E0   E1   ED   F0   F1   F4   C0 */
    [S_ACCEPT] = {A_,  X_,  X_,  X_,  T1,  sE0, T2,  sED, sF0, T3,  sF4, X_},
    [S_REJECT] = {X_,  X_,  X_,  X_,  X_,  X_,  X_,  X_,  X_,  X_,  X_,  X_},
    [S_TAIL1]  = {X_,  A_,  A_,  A_,  X_,  X_,  X_,  X_,  X_,  X_,  X_,  X_},
    [S_TAIL2]  = {X_,  T1,  T1,  T1,  X_,  X_,  X_,  X_,  X_,  X_,  X_,  X_},
    [S_TAIL3]  = {X_,  T2,  T2,  T2,  X_,  X_,  X_,  X_,  X_,  X_,  X_,  X_},
    [S_E0]     = {X_,  X_,  X_,  T1,  X_,  X_,  X_,  X_,  X_,  X_,  X_,  X_},
    [S_ED]     = {X_,  T1,  T1,  X_,  X_,  X_,  X_,  X_,  X_,  X_,  X_,  X_},
    [S_F0]     = {X_,  X_,  T2,  T2,  X_,  X_,  X_,  X_,  X_,  X_,  X_,  X_},
    [S_F4]     = {X_,  T2,  X_,  X_,  X_,  X_,  X_,  X_,  X_,  X_,  X_,  X_},
};

#undef A_
#undef X_
#undef T1
#undef T2
#undef T3
#undef sE0
#undef sED
#undef sF0
#undef sF4
/* clang-format on */

/* Chat traffic is mostly ASCII: at a boundary, skip 8 bytes per test. */
static size_t skip_ascii(const uint8_t *p, size_t n) {
  size_t i = 0;
  uint64_t w;
  for (; i + 8 <= n; i += 8) {
    memcpy(&w, p + i, 8); /* unaligned-safe load */
    if (w & UINT64_C(0x8080808080808080)) break;
  }
  return i;
}

void utf8_init(utf8_validator_t *v) {
  v->state = S_ACCEPT;
}

int utf8_feed(utf8_validator_t *v, const uint8_t *p, size_t n) {
  uint32_t s = v->state;
  size_t i = 0;
  if (s == S_REJECT) return -1;
  while (i < n) {
    if (s == S_ACCEPT) {
      i += skip_ascii(p + i, n - i);
      if (i == n) break;
    }
    s = next_state[s][byte_class[p[i++]]];
    if (s == S_REJECT) break;
  }
  v->state = s;
  return s == S_REJECT ? -1 : 0;
}

int utf8_complete(const utf8_validator_t *v) {
  return v->state == S_ACCEPT;
}

int utf8_validate(const uint8_t *p, size_t n) {
  utf8_validator_t v = {S_ACCEPT};
  if (utf8_feed(&v, p, n) < 0 || !utf8_complete(&v)) return -1;
  return 0;
}
