/* libFuzzer driver for the chat protocol's JSON (protocol/message.c) and the
 * UTF-8 validator (protocol/utf8.c).
 *
 * Input: a client text message. It goes to msg_decode; a decoded message is
 * encoded into an envelope, which must parse back with jansson, hold the
 * keys type, data, client_id[, room], timestamp in that order and the same
 * values (reals exactly). Every real in the data is also checked against a
 * reference of Python's float repr. The input bytes are checked with
 * utf8_validate / utf8_feed against a reference validator (fail-fast
 * position included), and, when valid, as a JSON string literal. The first
 * 8 bytes, read as a double and as a time, exercise the real formatter and
 * msg_timestamp directly. */
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/message.h"
#include "protocol/utf8.h"
#include "tests/fuzz/fuzz_common.h"

/* ---- reference float repr (Python's repr, David Gay's shortest) ---- */

/* Adds delta (+1 / -1) units in the last digit of the "D.DDDe[+-]X" text
 * in place; 0, or -1 when the digit string would change length. */
static int step_last_digit(char *s, int delta) {
  char *p = strchr(s, 'e') - 1;
  for (; p >= s; p--) {
    if (*p == '.') continue;
    if (delta > 0 && *p != '9') {
      (*p)++;
      return 0;
    }
    if (delta < 0 && *p != '0') {
      (*p)--;
      return (s[0] == '0') ? -1 : 0;
    }
    *p = delta > 0 ? '0' : '9';
  }
  return -1;
}

/* The shortest decimal that reads back as d; among the shortest, the one
 * nearest d. For each digit count, the correctly rounded candidate and its
 * two neighbours are the only ones that can read back. */
static void ref_repr(double d, char *out, size_t cap) {
  char best[48] = "", cand[48];
  double bestdist = 0;
  int neg = signbit(d);
  if (neg) d = -d;
  if (d == 0) {
    snprintf(out, cap, "%s0.0", neg ? "-" : "");
    return;
  }
  for (int prec = 0; prec <= 16 && !best[0]; prec++) {
    for (int k = 0; k < 3; k++) {
      snprintf(cand, sizeof cand, "%.*e", prec, d);
      if (k == 1 && step_last_digit(cand, +1) < 0) continue;
      if (k == 2 && step_last_digit(cand, -1) < 0) continue;
      double v = strtod(cand, NULL);
      if (v != d) continue;
      /* Distance measured in long double: exact enough to order them. */
      long double dist = fabsl(strtold(cand, NULL) - (long double)d);
      if (!best[0] || dist < bestdist) {
        strcpy(best, cand);
        bestdist = (double)dist;
      }
    }
  }
  CHECK(best[0]);
  /* best: "D.DDDDe[+-]XX" or "De[+-]XX" */
  char digits[24];
  int nd = 0;
  const char *p = best;
  for (; *p != 'e'; p++)
    if (*p != '.') digits[nd++] = *p;
  int e = atoi(p + 1);
  while (nd > 1 && digits[nd - 1] == '0')
    nd--;
  char s[64];
  size_t n = 0;
  if (neg) s[n++] = '-';
  if (e < -4 || e >= 16) {
    s[n++] = digits[0];
    if (nd > 1) {
      s[n++] = '.';
      memcpy(s + n, digits + 1, (size_t)nd - 1);
      n += (size_t)nd - 1;
    }
    n += (size_t)snprintf(s + n, sizeof s - n, "e%c%02d", e < 0 ? '-' : '+', abs(e));
  } else if (e < 0) {
    s[n++] = '0';
    s[n++] = '.';
    for (int i = -1; i > e; i--)
      s[n++] = '0';
    memcpy(s + n, digits, (size_t)nd);
    n += (size_t)nd;
  } else {
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
  s[n] = 0;
  snprintf(out, cap, "%s", s);
}

static void check_real(double d) {
  char want[64];
  strbuf_t b = {0};
  json_t *v = json_real(d);
  if (!v) return; /* jansson refuses NaN and infinities */
  CHECK(msg_json_encode(&b, v) == 0);
  ref_repr(d, want, sizeof want);
  if (b.len != strlen(want) || memcmp(b.buf, want, b.len) != 0) {
    fprintf(stderr, "real %a (%.17g): encoded %.*s, Python repr %s\n", d, d, (int)b.len, b.buf,
            want);
    abort();
  }
  json_decref(v);
  strbuf_free(&b);
}

/* Every real in a decoded value (bounded walk: the decoder caps depth). */
static void check_reals(const json_t *v, int *budget) {
  if (--*budget < 0) return;
  if (json_is_real(v)) {
    check_real(json_real_value(v));
  } else if (json_is_array(v)) {
    for (size_t i = 0; i < json_array_size(v); i++)
      check_reals(json_array_get(v, i), budget);
  } else if (json_is_object(v)) {
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) check_reals(x, budget);
  }
}

/* ---- envelope ---- */

static void check_envelope(const msg_in_t *m, const char *room, int64_t usec) {
  char ts[MSG_TIMESTAMP_LEN + 1];
  strbuf_t out = {0};
  msg_timestamp(usec, ts);
  CHECK(msg_envelope_encode(&out, m->type, m->type_len, m->data, "alice", room, ts) == 0);
  json_error_t err;
  json_t *back = json_loadb(out.buf, out.len, JSON_ALLOW_NUL, &err);
  if (!back) {
    fprintf(stderr, "envelope does not parse back (%s at %d): %.*s\n", err.text, err.position,
            (int)(out.len > 2000 ? 2000 : out.len), out.buf);
    abort();
  }
  CHECK(json_is_object(back));
  static const char *const with_room[] = {"type", "data", "client_id", "room", "timestamp"};
  static const char *const without[] = {"type", "data", "client_id", "timestamp"};
  const char *const *keys = room ? with_room : without;
  size_t nkeys = room ? 5 : 4, i = 0;
  const char *k;
  json_t *v;
  json_object_foreach(back, k, v) {
    CHECK(i < nkeys);
    CHECK(strcmp(k, keys[i]) == 0);
    i++;
  }
  CHECK_OP(i, ==, nkeys);
  json_t *type = json_object_get(back, "type");
  CHECK(json_is_string(type));
  CHECK_OP(json_string_length(type), ==, m->type_len);
  CHECK(memcmp(json_string_value(type), m->type, m->type_len) == 0);
  json_t *data = json_object_get(back, "data");
  if (m->data)
    CHECK(json_equal(data, m->data));
  else
    CHECK(json_is_null(data));
  CHECK(json_is_string(json_object_get(back, "client_id")));
  CHECK(strcmp(json_string_value(json_object_get(back, "timestamp")), ts) == 0);
  if (room) CHECK(strcmp(json_string_value(json_object_get(back, "room")), room) == 0);
  /* Compact: no whitespace outside strings, so no space right after the
   * separators the encoder writes. */
  CHECK(memcmp(out.buf, "{\"type\":\"", 9) == 0);
  json_decref(back);
  strbuf_free(&out);
}

static void check_timestamp(int64_t usec) {
  char ts[MSG_TIMESTAMP_LEN + 1];
  static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddddd+00:00";
  memset(ts, 'x', sizeof ts);
  msg_timestamp(usec, ts);
  CHECK_OP(strlen(ts), ==, MSG_TIMESTAMP_LEN);
  for (size_t i = 0; i < MSG_TIMESTAMP_LEN; i++) {
    if (shape[i] == 'd')
      CHECK(ts[i] >= '0' && ts[i] <= '9');
    else
      CHECK(ts[i] == shape[i]);
  }
}

/* ---- UTF-8 ---- */

static void check_utf8(const uint8_t *p, size_t n) {
  long bad = fuzz_ref_utf8(p, n);
  CHECK_OP(utf8_validate(p, n), ==, bad == -1 ? 0 : -1);
  /* Fail fast: everything before the proving byte is a valid prefix, and
   * that byte fails, fed whole or one byte at a time. */
  utf8_validator_t v;
  if (bad >= 0 && (size_t)bad < n) {
    utf8_init(&v);
    CHECK_OP(utf8_feed(&v, p, (size_t)bad), ==, 0);
    CHECK_OP(utf8_feed(&v, p + bad, 1), ==, -1);
    CHECK(!utf8_complete(&v));
    CHECK_OP(utf8_feed(&v, (const uint8_t *)"a", 1), ==, -1); /* sticky */
  }
  utf8_init(&v);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    rc = utf8_feed(&v, p + i, 1);
    if (bad >= 0 && (size_t)bad < n) CHECK_OP(rc, ==, (i == (size_t)bad ? -1 : 0));
  }
  CHECK_OP(utf8_complete(&v), ==, bad == -1);
}

/* A valid UTF-8 input as a JSON string literal reads back as itself. */
static void check_string_literal(const uint8_t *p, size_t n) {
  strbuf_t b = {0};
  CHECK(msg_json_string(&b, (const char *)p, n) == 0);
  json_error_t err;
  json_t *s = json_loadb(b.buf, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
  if (!s) {
    fprintf(stderr, "string literal does not parse (%s): %.*s\n", err.text,
            (int)(b.len > 2000 ? 2000 : b.len), b.buf);
    abort();
  }
  CHECK(json_is_string(s));
  CHECK_OP(json_string_length(s), ==, n);
  CHECK(n == 0 || memcmp(json_string_value(s), p, n) == 0);
  json_decref(s);
  strbuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  msg_in_t m;
  const char *why = NULL;
  int64_t usec = 0;
  if (size >= 8) {
    double d;
    memcpy(&d, data, 8);
    if (isfinite(d)) check_real(d);
    memcpy(&usec, data, 8);
    check_timestamp(usec);
  }

  int rc = msg_decode((const char *)data, size, &m, &why);
  CHECK(rc == MSG_OK || rc == MSG_INVALID_JSON || rc == MSG_INVALID_MESSAGE);
  if (rc != MSG_OK) {
    CHECK(why != NULL);
    CHECK(m.root == NULL);
  } else {
    CHECK(json_is_object(m.root));
    CHECK(m.type != NULL);
    CHECK(json_is_string(json_object_get(m.root, "type")));
    CHECK_OP(json_string_length(json_object_get(m.root, "type")), ==, m.type_len);
    /* The encoder takes room as a C string (the server validates it first). */
    const char *room = NULL;
    if (json_is_string(m.room) && strlen(json_string_value(m.room)) == json_string_length(m.room))
      room = json_string_value(m.room);
    check_envelope(&m, room, usec);
    check_envelope(&m, NULL, usec);
    int budget = 10000;
    if (m.data) check_reals(m.data, &budget);
    msg_in_free(&m);
    CHECK(m.root == NULL);
  }

  check_utf8(data, size);
  if (fuzz_ref_utf8(data, size) == -1) check_string_literal(data, size);
  return 0;
}
