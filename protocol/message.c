/* The chat protocol's JSON: client message decoding and the server's
 * envelope encoder (see message.h and PROTOCOL.md section 3).
 *
 * The encoder is our own rather than json_dumps because the bytes must match
 * Python's json.dumps(ensure_ascii=False, separators=(",", ":")) with repr()
 * floats, and because it runs once per broadcast: it writes straight into
 * the caller's strbuf_t, with no intermediate allocation per value or key.
 *
 * Decoding keeps jansson's defaults, which differ from Python's json in a few
 * corners a chat client never needs; all of them give MSG_INVALID_JSON:
 *   - "\u0000" in an object key (in a string value it is accepted, as Python
 *     does: JSON_ALLOW_NUL, and every string is handled with its length);
 *   - integers outside int64 and reals that overflow a double;
 *   - NaN / Infinity literals;
 *   - nesting deeper than JSON_PARSER_MAX_DEPTH (2048).
 * Duplicate keys are accepted, the last value wins at the first key's
 * position, as in Python. */
#include "message.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Deeper than anything the decoder builds (2048) plus the envelope; it only
 * guards the recursion against hand-built trees (and reference cycles). */
#define ENCODE_MAX_DEPTH 4096

/* ---- strbuf ---------------------------------------------------------- */

int strbuf_reserve(strbuf_t *b, size_t extra) {
  if (extra <= b->cap - b->len) return 0;
  if (extra > SIZE_MAX - b->len) {
    errno = ENOMEM;
    return -1;
  }
  size_t need = b->len + extra;
  /* Doubling keeps appends amortised O(1); 64 avoids tiny first steps. */
  size_t cap = b->cap < 32 ? 64 : b->cap;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  char *p = realloc(b->buf, cap);
  if (!p) return -1;
  b->buf = p;
  b->cap = cap;
  return 0;
}

int strbuf_append(strbuf_t *b, const void *p, size_t n) {
  if (n == 0) return 0;
  if (n > b->cap - b->len && strbuf_reserve(b, n) < 0) return -1;
  memcpy(b->buf + b->len, p, n);
  b->len += n;
  return 0;
}

void strbuf_free(strbuf_t *b) {
  free(b->buf);
  b->buf = NULL;
  b->len = b->cap = 0;
}

/* Unchecked append: the caller has reserved the room. */
static inline void put_byte(strbuf_t *b, char c) {
  b->buf[b->len++] = c;
}

#define APPEND_LIT(b, s) strbuf_append((b), (s), sizeof(s) - 1)

/* ---- decoding -------------------------------------------------------- */

/* An explicit null counts as absent, so a null top-level recipient_id still
 * lets data.recipient_id through. */
static json_t *get_present(json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  return json_is_null(v) ? NULL : v;
}

int msg_decode(const char *text, size_t len, msg_in_t *out, const char **why) {
  memset(out, 0, sizeof(*out));
  /* JSON_DECODE_ANY so that `5` or `"x"` parse and are reported as
   * invalid_message (valid JSON, wrong shape), as the original does. The EOF
   * check stays on: the whole text must be exactly one value. */
  json_t *root = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
  if (!root) {
    if (why) *why = "invalid JSON";
    return MSG_INVALID_JSON;
  }
  if (!json_is_object(root)) {
    json_decref(root);
    if (why) *why = "message must be a JSON object";
    return MSG_INVALID_MESSAGE;
  }
  json_t *type = json_object_get(root, "type");
  if (!json_is_string(type)) {
    json_decref(root);
    if (why) *why = "field 'type' must be a string";
    return MSG_INVALID_MESSAGE;
  }
  out->root = root;
  out->type = json_string_value(type);
  out->type_len = json_string_length(type);
  out->data = json_object_get(root, "data");
  out->room = json_object_get(root, "room");
  out->recipient_id = get_present(root, "recipient_id");
  if (!out->recipient_id && json_is_object(out->data))
    out->recipient_id = get_present(out->data, "recipient_id");
  return MSG_OK;
}

void msg_in_free(msg_in_t *m) {
  json_decref(m->root);
  memset(m, 0, sizeof(*m));
}

/* ---- timestamp ------------------------------------------------------- */

/* Python's datetime range, so the output always has a 4-digit year and
 * exactly MSG_TIMESTAMP_LEN characters whatever int64 comes in. */
#define TS_MIN_SEC (-62135596800LL) /* 0001-01-01T00:00:00 */
#define TS_MAX_SEC 253402300799LL   /* 9999-12-31T23:59:59 */

static char *put_digits(char *p, unsigned v, int width) {
  for (int i = width - 1; i >= 0; i--) {
    p[i] = (char)('0' + v % 10);
    v /= 10;
  }
  return p + width;
}

void msg_timestamp(int64_t unix_usec, char out[MSG_TIMESTAMP_LEN + 1]) {
  /* Floor division, so times before 1970 keep a non-negative fraction. */
  int64_t sec = unix_usec / 1000000, usec = unix_usec % 1000000;
  if (usec < 0) {
    usec += 1000000;
    sec -= 1;
  }
  if (sec < TS_MIN_SEC) {
    sec = TS_MIN_SEC;
    usec = 0;
  } else if (sec > TS_MAX_SEC) {
    sec = TS_MAX_SEC;
    usec = 999999;
  }
  time_t t = (time_t)sec;
  struct tm tm;
  if (!gmtime_r(&t, &tm)) memset(&tm, 0, sizeof(tm)); /* cannot happen inside the clamped range */
  char *p = out;
  p = put_digits(p, (unsigned)(tm.tm_year + 1900), 4);
  *p++ = '-';
  p = put_digits(p, (unsigned)(tm.tm_mon + 1), 2);
  *p++ = '-';
  p = put_digits(p, (unsigned)tm.tm_mday, 2);
  *p++ = 'T';
  p = put_digits(p, (unsigned)tm.tm_hour, 2);
  *p++ = ':';
  p = put_digits(p, (unsigned)tm.tm_min, 2);
  *p++ = ':';
  p = put_digits(p, (unsigned)tm.tm_sec, 2);
  *p++ = '.';
  p = put_digits(p, (unsigned)usec, 6);
  memcpy(p, "+00:00", 7); /* with the NUL */
}

/* ---- encoding -------------------------------------------------------- */

/* Bytes that need an escape: '"', '\\' and C0 controls. Everything else,
 * including DEL, '/', U+2028 and all other UTF-8, is copied as is, exactly
 * like Python's json with ensure_ascii=False. A table: this loop is most of
 * the encoder's time. */
static const unsigned char escape_table[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1,
    [0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1, [0x0c] = 1, [0x0d] = 1,
    [0x0e] = 1, [0x0f] = 1, [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1,
    [0x15] = 1, [0x16] = 1, [0x17] = 1, [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1,
    [0x1c] = 1, [0x1d] = 1, [0x1e] = 1, [0x1f] = 1, ['"'] = 1,  ['\\'] = 1,
};

static int put_escape(strbuf_t *b, unsigned char c) {
  static const char hex[] = "0123456789abcdef"; /* lowercase, as Python */
  char e[6] = {'\\', 0, 0, 0, 0, 0};
  size_t n = 2;
  switch (c) {
  case '"': e[1] = '"'; break;
  case '\\': e[1] = '\\'; break;
  case '\b': e[1] = 'b'; break;
  case '\f': e[1] = 'f'; break;
  case '\n': e[1] = 'n'; break;
  case '\r': e[1] = 'r'; break;
  case '\t': e[1] = 't'; break;
  default:
    memcpy(e + 1, "u00", 3);
    e[4] = hex[c >> 4];
    e[5] = hex[c & 15];
    n = 6;
  }
  return strbuf_append(b, e, n);
}

int msg_json_string(strbuf_t *out, const char *s, size_t n) {
  size_t start_len = out->len;
  /* One reservation covers the common case (nothing to escape). */
  if (n > SIZE_MAX - 2 || (n + 2 > out->cap - out->len && strbuf_reserve(out, n + 2) < 0))
    return -1;
  put_byte(out, '"');
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  while (p < end) {
    const unsigned char *run = p;
    while (p < end && !escape_table[*p])
      p++;
    if (strbuf_append(out, run, (size_t)(p - run)) < 0) goto fail;
    if (p < end && put_escape(out, *p++) < 0) goto fail;
  }
  if (strbuf_append(out, "\"", 1) < 0) goto fail;
  return 0;
fail:
  out->len = start_len;
  return -1;
}

static int put_integer(strbuf_t *b, json_int_t v) {
  char tmp[24];
  char *p = tmp + sizeof(tmp);
  /* Work on the magnitude as unsigned so INT64_MIN does not overflow. */
  unsigned long long m = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  do {
    *--p = (char)('0' + m % 10);
    m /= 10;
  } while (m);
  if (v < 0) *--p = '-';
  return strbuf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* Adds one unit in the last digit of the "D.DDDDe[+-]XX" text in s, in
 * place; 0, or -1 when the carry would change the exponent (then there is
 * nothing to gain). */
static int bump_last_digit(char *s) {
  char *p = strchr(s, 'e') - 1;
  for (; p >= s; p--) {
    if (*p == '.') continue;
    if (*p != '9') {
      (*p)++;
      return 0;
    }
    *p = '0';
  }
  return -1;
}

/* Shortest significant digits that read back as d, as Python's repr (David
 * Gay's shortest round-trip). "%.{14,15,16}e" gives 15, 16, 17 digits, and 17
 * always round-trip. For a normal double, when some k <= 15 digits
 * round-trip, the correctly rounded 15-digit form is those k digits plus
 * zeros (half an ulp is below half a unit in the 15th digit), so stripping
 * zeros finds it. At 16 digits the correctly rounded form can miss where
 * another 16-digit form hits: only at an exact power of two, whose rounding
 * interval is narrower below, so there the next 16-digit value up is tried
 * too. Subnormals have fewer digits of precision and try every length.
 * Fills digits (no dot, no trailing zeros), returns their count; *exp10 is
 * the decimal exponent of the first digit. d must be finite and positive. */
static int shortest_digits(double d, char digits[24], int *exp10) {
  char tmp[40];
  int exp2;
  int pow2 = frexp(d, &exp2) == 0.5;
  for (int prec = d < DBL_MIN ? 0 : 14; prec <= 16; prec++) {
    snprintf(tmp, sizeof(tmp), "%.*e", prec, d);
    if (prec == 16 || strtod(tmp, NULL) == d) break;
    if (prec == 15 && pow2 && strtod(tmp, NULL) < d && bump_last_digit(tmp) == 0 &&
        strtod(tmp, NULL) == d)
      break;
  }
  /* tmp is "D.DDDDe[+-]XX" */
  int n = 0;
  const char *p = tmp;
  for (; *p != 'e'; p++)
    if (*p != '.') digits[n++] = *p;
  *exp10 = atoi(p + 1);
  while (n > 1 && digits[n - 1] == '0')
    n--;
  return n;
}

/* Python's float repr: shortest round-trip digits, positional notation when
 * the exponent is in [-4, 16), else scientific with a signed, at least
 * two-digit exponent; positional always has a '.' ("1.0"). */
static int put_real(strbuf_t *b, double d) {
  if (!isfinite(d)) return -1; /* Python would write Infinity/NaN: not JSON */
  char digits[24], s[48];
  size_t n = 0;
  int e;
  if (signbit(d)) {
    s[n++] = '-';
    d = -d;
  }
  int nd = 1;
  digits[0] = '0';
  e = 0;
  if (d != 0) nd = shortest_digits(d, digits, &e);
  if (e < -4 || e >= 16) {
    s[n++] = digits[0];
    if (nd > 1) {
      s[n++] = '.';
      memcpy(s + n, digits + 1, (size_t)nd - 1);
      n += (size_t)nd - 1;
    }
    n += (size_t)snprintf(s + n, sizeof(s) - n, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
  } else if (e < 0) {
    memcpy(s + n, "0.", 2);
    n += 2;
    for (int i = -1; i > e; i--)
      s[n++] = '0';
    memcpy(s + n, digits, (size_t)nd);
    n += (size_t)nd;
  } else {
    /* e in [0, 15]: integer part is digits[0..e], zero-padded. */
    for (int i = 0; i <= e; i++)
      s[n++] = i < nd ? digits[i] : '0';
    s[n++] = '.';
    if (nd > e + 1) {
      memcpy(s + n, digits + e + 1, (size_t)(nd - e - 1));
      n += (size_t)(nd - e - 1);
    } else {
      s[n++] = '0';
    }
  }
  return strbuf_append(b, s, n);
}

static int encode_value(strbuf_t *b, const json_t *v, int depth);

static int encode_object(strbuf_t *b, const json_t *v, int depth) {
  const char *key;
  size_t key_len;
  json_t *val;
  int first = 1;
  if (strbuf_append(b, "{", 1) < 0) return -1;
  /* jansson's iteration API is not const-qualified; it does not modify. */
  json_object_keylen_foreach((json_t *)v, key, key_len, val) {
    if (!first && strbuf_append(b, ",", 1) < 0) return -1;
    first = 0;
    if (msg_json_string(b, key, key_len) < 0 || strbuf_append(b, ":", 1) < 0 ||
        encode_value(b, val, depth + 1) < 0)
      return -1;
  }
  return strbuf_append(b, "}", 1);
}

static int encode_array(strbuf_t *b, const json_t *v, int depth) {
  size_t n = json_array_size(v);
  if (strbuf_append(b, "[", 1) < 0) return -1;
  for (size_t i = 0; i < n; i++) {
    if (i && strbuf_append(b, ",", 1) < 0) return -1;
    if (encode_value(b, json_array_get(v, i), depth + 1) < 0) return -1;
  }
  return strbuf_append(b, "]", 1);
}

/* On error, leaves garbage past the caller's starting length; the public
 * entry points cut it off. */
static int encode_value(strbuf_t *b, const json_t *v, int depth) {
  if (depth > ENCODE_MAX_DEPTH) return -1;
  switch (json_typeof(v)) {
  case JSON_OBJECT: return encode_object(b, v, depth);
  case JSON_ARRAY: return encode_array(b, v, depth);
  case JSON_STRING: return msg_json_string(b, json_string_value(v), json_string_length(v));
  case JSON_INTEGER: return put_integer(b, json_integer_value(v));
  case JSON_REAL: return put_real(b, json_real_value(v));
  case JSON_TRUE: return APPEND_LIT(b, "true");
  case JSON_FALSE: return APPEND_LIT(b, "false");
  case JSON_NULL: return APPEND_LIT(b, "null");
  }
  return -1;
}

int msg_json_encode(strbuf_t *out, const json_t *v) {
  size_t start_len = out->len;
  int rc = v ? encode_value(out, v, 0) : APPEND_LIT(out, "null");
  if (rc < 0) out->len = start_len;
  return rc;
}

static int put_string_or_null(strbuf_t *b, const char *s) {
  return s ? msg_json_string(b, s, strlen(s)) : APPEND_LIT(b, "null");
}

int msg_envelope_encode(strbuf_t *out, const char *type, size_t type_len, const json_t *data,
                        const char *client_id, const char *room, const char *timestamp) {
  size_t start_len = out->len;
  /* Room for the fixed keys, ids and a small data value, so a typical
   * envelope costs at most one growth of a fresh buffer. */
  if (strbuf_reserve(out, 128 + type_len) < 0) return -1;
  if (APPEND_LIT(out, "{\"type\":") < 0 || msg_json_string(out, type, type_len) < 0 ||
      APPEND_LIT(out, ",\"data\":") < 0 || msg_json_encode(out, data) < 0 ||
      APPEND_LIT(out, ",\"client_id\":") < 0 || put_string_or_null(out, client_id) < 0)
    goto fail;
  if (room && (APPEND_LIT(out, ",\"room\":") < 0 || msg_json_string(out, room, strlen(room)) < 0))
    goto fail;
  if (APPEND_LIT(out, ",\"timestamp\":") < 0 ||
      msg_json_string(out, timestamp, strlen(timestamp)) < 0 || APPEND_LIT(out, "}") < 0)
    goto fail;
  return 0;
fail:
  out->len = start_len;
  return -1;
}
