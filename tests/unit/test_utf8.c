/* Unit tests for protocol/utf8.c: the incremental validator against Unicode
 * Table 3-7, its fail-fast position, any split of the input, and an
 * exhaustive comparison with an independent reference decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/utf8.h"

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

/* Feeds one byte at a time; returns the index of the byte that failed, or
 * -1 when every byte was accepted. */
static long fail_index(const uint8_t *p, size_t n) {
  utf8_validator_t v;
  utf8_init(&v);
  for (size_t i = 0; i < n; i++)
    if (utf8_feed(&v, p + i, 1) < 0) return (long)i;
  return -1;
}

/* Feeds p split at every pair of points (three pieces); all must agree
 * with the one-shot answer. */
static void check_all_splits(const uint8_t *p, size_t n, int want_valid) {
  for (size_t a = 0; a <= n; a++) {
    for (size_t b = a; b <= n; b++) {
      utf8_validator_t v;
      int rc;
      utf8_init(&v);
      rc = utf8_feed(&v, p, a);
      if (rc == 0) rc = utf8_feed(&v, p + a, b - a);
      if (rc == 0) rc = utf8_feed(&v, p + b, n - b);
      assert_int_equal(rc == 0 && utf8_complete(&v), want_valid);
    }
  }
  assert_int_equal(utf8_validate(p, n) == 0, want_valid);
}

static void test_valid_boundaries(void **state) {
  (void)state;
  static const struct {
    const char *s;
    size_t n;
  } ok[] = {
      {"", 0},
      {"hello, world", 12},
      {"\x00", 1},
      {"\x7F", 1},
      {"\xC2\x80", 2},         /* U+0080 */
      {"\xDF\xBF", 2},         /* U+07FF */
      {"\xE0\xA0\x80", 3},     /* U+0800 */
      {"\xED\x9F\xBF", 3},     /* U+D7FF, last before surrogates */
      {"\xEE\x80\x80", 3},     /* U+E000, first after */
      {"\xEF\xBF\xBF", 3},     /* U+FFFF */
      {"\xEF\xBB\xBF", 3},     /* BOM is a character like any other */
      {"\xF0\x90\x80\x80", 4}, /* U+10000 */
      {"\xF4\x8F\xBF\xBF", 4}, /* U+10FFFF */
      {"\xF3\xBF\xBF\xBF", 4}, /* U+FFFFF */
      {"a\xE2\x82\xAC"
       "b",
       5},                                                  /* euro sign between ASCII */
      {"\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5", 11}, /* "kosme" */
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    assert_int_equal(utf8_validate((const uint8_t *)ok[i].s, ok[i].n), 0);
    assert_int_equal(fail_index((const uint8_t *)ok[i].s, ok[i].n), -1);
    check_all_splits((const uint8_t *)ok[i].s, ok[i].n, 1);
  }
}

/* Every invalid input with the index of the byte that must fail first. */
static const struct {
  const char *s;
  size_t n;
  long at;
} bad[] = {
    {"\x80", 1, 0}, /* stray continuation */
    {"\xBF", 1, 0},
    {"a\x80", 2, 1},
    {"\xC0\x80", 2, 0},                 /* overlong NUL: C0 is never valid */
    {"\xC1\xBF", 2, 0},                 /* overlong U+007F */
    {"\xE0\x80\x80", 3, 1},             /* overlong 3-byte */
    {"\xE0\x9F\xBF", 3, 1},             /* overlong U+07FF */
    {"\xF0\x80\x80\x80", 4, 1},         /* overlong 4-byte */
    {"\xF0\x8F\xBF\xBF", 4, 1},         /* overlong U+FFFF */
    {"\xED\xA0\x80", 3, 1},             /* U+D800 */
    {"\xED\xBF\xBF", 3, 1},             /* U+DFFF */
    {"\xED\xA0\x80\xED\xB0\x80", 6, 1}, /* surrogate pair in CESU-8 */
    {"\xF4\x90\x80\x80", 4, 1},         /* U+110000 */
    {"\xF4\xBF\xBF\xBF", 4, 1},
    {"\xF5\x80\x80\x80", 4, 0},
    {"\xF7\xBF\xBF\xBF", 4, 0},
    {"\xF8\x88\x80\x80\x80", 5, 0}, /* old 5-byte form */
    {"\xFC\x84\x80\x80\x80\x80", 6, 0},
    {"\xFE", 1, 0},
    {"\xFF", 1, 0},
    {"\xC2\x41", 2, 1}, /* lead then ASCII */
    {"\xE2\x82\x41", 3, 2},
    {"\xF0\x9F\x98\x41", 4, 3},
    {"\xE2\xC2\x80", 3, 1}, /* lead then lead */
    {"\xC2\x80\x80", 3, 2}, /* one continuation too many */
    {"\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80"
     "edited",
     20, 12},
};

static void test_invalid_fail_fast(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const uint8_t *p = (const uint8_t *)bad[i].s;
    assert_int_equal(fail_index(p, bad[i].n), bad[i].at);
    assert_int_equal(utf8_validate(p, bad[i].n), -1);
    /* Fed as a prefix only up to the byte before, it is still valid. */
    {
      utf8_validator_t v;
      utf8_init(&v);
      assert_int_equal(utf8_feed(&v, p, (size_t)bad[i].at), 0);
      assert_int_equal(utf8_feed(&v, p + bad[i].at, 1), -1);
      assert_int_equal(utf8_complete(&v), 0);
    }
    check_all_splits(p, bad[i].n, 0);
  }
}

static void test_brief_examples(void **state) {
  (void)state;
  /* The two examples the design names: both fail at the second byte. */
  assert_int_equal(fail_index(S("\xF4\x90")), 1);
  assert_int_equal(fail_index(S("\xED\xA0")), 1);
}

static void test_truncated(void **state) {
  (void)state;
  static const char *cut[] = {"\xC2",     "\xE2",         "\xE2\x82",  "\xF0",
                              "\xF0\x9F", "\xF0\x9F\x98", "ok\xE2\x82"};
  for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
    const uint8_t *p = (const uint8_t *)cut[i];
    size_t n = strlen(cut[i]);
    utf8_validator_t v;
    utf8_init(&v);
    /* A valid prefix: feed accepts it, but it is not a whole message. */
    assert_int_equal(utf8_feed(&v, p, n), 0);
    assert_int_equal(utf8_complete(&v), 0);
    assert_int_equal(utf8_validate(p, n), -1);
  }
}

static void test_sticky_failure_and_reinit(void **state) {
  (void)state;
  utf8_validator_t v;
  utf8_init(&v);
  assert_int_equal(utf8_feed(&v, S("\xC0")), -1);
  assert_int_equal(utf8_feed(&v, S("abc")), -1);
  assert_int_equal(utf8_feed(&v, NULL, 0), -1);
  assert_int_equal(utf8_complete(&v), 0);
  utf8_init(&v);
  assert_int_equal(utf8_feed(&v, S("abc")), 0);
  assert_int_equal(utf8_complete(&v), 1);
}

static void test_zeroed_is_fresh(void **state) {
  (void)state;
  utf8_validator_t v;
  memset(&v, 0, sizeof v);
  assert_int_equal(utf8_complete(&v), 1);
  assert_int_equal(utf8_feed(&v, S("\xE2\x82\xAC")), 0);
  assert_int_equal(utf8_complete(&v), 1);
  assert_int_equal(utf8_feed(&v, NULL, 0), 0);
  assert_int_equal(utf8_validate(NULL, 0), 0);
}

/* The 8-byte ASCII path must not skip a bad byte or a sequence at any
 * alignment, in any buffer length. */
static void test_ascii_fast_path_alignment(void **state) {
  (void)state;
  uint8_t buf[80];
  for (size_t len = 1; len <= sizeof buf; len++) {
    for (size_t at = 0; at < len; at++) {
      memset(buf, 'x', len);
      buf[at] = 0x80;
      assert_int_equal(fail_index(buf, len), (long)at);
      assert_int_equal(utf8_validate(buf, len), -1);
      {
        utf8_validator_t v;
        utf8_init(&v);
        assert_int_equal(utf8_feed(&v, buf, len), -1);
      }
      if (at + 3 <= len) { /* a whole euro sign at every offset */
        memcpy(buf + at, "\xE2\x82\xAC", 3);
        assert_int_equal(utf8_validate(buf, len), 0);
        buf[at + 2] = 'A'; /* and a broken one */
        assert_int_equal(utf8_validate(buf, len), -1);
        assert_int_equal(fail_index(buf, len), (long)at + 2);
      }
    }
    memset(buf, 'x', len);
    assert_int_equal(utf8_validate(buf, len), 0);
    buf[len - 1] = 0xE2; /* truncated right at the end */
    assert_int_equal(utf8_validate(buf, len), -1);
  }
}

/* ---- exhaustive comparison with a reference decoder ---- */

/* Decodes exactly one scalar value from p[0..n) the slow, obvious way.
 * Returns 1 if p is exactly one well-formed character. */
static int ref_one_char(const uint8_t *p, size_t n) {
  uint32_t cp, min;
  size_t need;
  if (p[0] < 0x80) {
    need = 1, cp = p[0], min = 0;
  } else if ((p[0] & 0xE0) == 0xC0) {
    need = 2, cp = p[0] & 0x1F, min = 0x80;
  } else if ((p[0] & 0xF0) == 0xE0) {
    need = 3, cp = p[0] & 0x0F, min = 0x800;
  } else if ((p[0] & 0xF8) == 0xF0) {
    need = 4, cp = p[0] & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (n != need) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return 1;
}

static size_t ref_need(uint8_t lead) {
  return lead < 0x80             ? 1
         : (lead & 0xE0) == 0xC0 ? 2
         : (lead & 0xF0) == 0xE0 ? 3
         : (lead & 0xF8) == 0xF0 ? 4
                                 : 0;
}

/* Could p[0..n), shorter than its lead byte asks for, still be completed
 * into one well-formed character? */
static int ref_completable(const uint8_t *p, size_t n, size_t need) {
  uint8_t t[4];
  memcpy(t, p, n);
  /* Only the second byte has a narrowed range, so varying the first
   * missing byte over 80..BF and padding with 80 finds any completion. */
  for (unsigned a = 0x80; a <= 0xBF; a++) {
    for (size_t i = n; i < need; i++)
      t[i] = (i == n) ? (uint8_t)a : 0x80;
    if (ref_one_char(t, need)) return 1;
  }
  return 0;
}

/* Sets *whole (p is valid UTF-8) and *prefix (p is a valid prefix). */
static void ref_check(const uint8_t *p, size_t n, int *whole, int *prefix) {
  size_t i = 0;
  *whole = *prefix = 0;
  while (i < n) {
    size_t need = ref_need(p[i]);
    if (need == 0) return;
    if (i + need > n) {
      *prefix = ref_completable(p + i, n - i, need);
      return;
    }
    if (!ref_one_char(p + i, need)) return;
    i += need;
  }
  *whole = *prefix = 1;
}

static void check_vs_ref(const uint8_t *p, size_t n) {
  utf8_validator_t v;
  int whole, prefix;
  ref_check(p, n, &whole, &prefix);
  utf8_init(&v);
  assert_int_equal(utf8_validate(p, n) == 0, whole);
  assert_int_equal(utf8_feed(&v, p, n) == 0, prefix);
  assert_int_equal(utf8_complete(&v), whole);
}

static void test_exhaustive_vs_reference(void **state) {
  (void)state;
  uint8_t b[4];
  static const uint8_t tails[] = {0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF};
  for (unsigned x = 0; x < 256; x++) {
    b[0] = (uint8_t)x;
    check_vs_ref(b, 1);
    for (unsigned y = 0; y < 256; y++) {
      b[1] = (uint8_t)y;
      check_vs_ref(b, 2);
      if (x >= 0xE0 && x <= 0xEF) { /* every 3-byte sequence a lead allows */
        for (unsigned z = 0; z < 256; z++) {
          b[2] = (uint8_t)z;
          check_vs_ref(b, 3);
        }
      } else if (x >= 0xC0) {
        for (size_t k = 0; k < sizeof tails; k++) {
          b[2] = tails[k];
          check_vs_ref(b, 3);
          for (size_t m = 0; m < sizeof tails; m++) {
            b[3] = tails[m];
            check_vs_ref(b, 4);
          }
        }
      }
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid_boundaries),
      cmocka_unit_test(test_invalid_fail_fast),
      cmocka_unit_test(test_brief_examples),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_sticky_failure_and_reinit),
      cmocka_unit_test(test_zeroed_is_fresh),
      cmocka_unit_test(test_ascii_fast_path_alignment),
      cmocka_unit_test(test_exhaustive_vs_reference),
  };
  return cmocka_run_group_tests_name("utf8", tests, NULL, NULL);
}
