/* The pure parts of the WebSocket upgrade; contracts in handshake.h.
 *
 * Choices the header leaves open, made here:
 * - ws_handshake_check precedence: bad method, HTTP < 1.1, missing or wrong
 *   Upgrade, Connection without "upgrade", absent key -> 400; then a
 *   missing or wrong version -> 426; then a malformed key -> 400. A client
 *   of another protocol version learns which version we speak before we
 *   judge a key whose format its version may define differently.
 * - Header values are trimmed of OWS (SP, HTAB) before they are judged; the
 *   key is trimmed by ws_accept_key too, so the caller may pass it raw.
 * - A key must be the canonical shape of 16 base64 bytes: 22 alphabet
 *   characters and "==". The 4 unused low bits of the last character are
 *   not checked (Python's and OpenSSL's decoders ignore them too).
 * - url_percent_decode also rejects a raw NUL: its output ends up in C
 *   strings and paths. url_query_param decodes '+' as a space in names and
 *   values (form encoding, as urllib and Starlette do); paths keep '+'.
 * - Origins compare hosts as text: no IDNA, no IPv6 canonicalisation, a
 *   trailing dot is significant. "null" and anything with a path, userinfo,
 *   query or empty port is malformed and fails. With a list, the scheme
 *   must match exactly too (ws:// and http:// are different origins).
 * - permessage-deflate: an offer that is malformed, has an unknown or
 *   duplicated parameter or a value out of range is declined and the next
 *   offer is tried; a syntax error skips to the next ',' outside quotes.
 *   An offer naming server_max_window_bits is declined even at 15: RFC 7692
 *   7.1.2.1 requires the answer to echo that parameter, and our answer is
 *   the fixed WS_PMD_RESPONSE. Extension and parameter names compare
 *   case-insensitively.
 */
#include "protocol/handshake.h"

#include <openssl/evp.h>
#include <string.h>

#define WS_GUID        "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_KEY_B64_LEN 24 /* base64 of 16 bytes, with "==" */
#define WS_SHA1_LEN    20

/* ---- small text helpers (ASCII only: no locale may change a header) ---- */

static int is_ows(char c) {
  return c == ' ' || c == '\t';
}

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

static int is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_alnum(char c) {
  return is_alpha(c) || is_digit(c);
}

static char to_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int eq_nocase(slice_t a, const char *b, size_t blen) {
  if (a.len != blen) return 0;
  for (size_t i = 0; i < blen; i++)
    if (to_lower(a.base[i]) != to_lower(b[i])) return 0;
  return 1;
}

static int slice_eq_nocase(slice_t a, slice_t b) {
  return eq_nocase(a, b.base, b.len);
}

static int slice_is(slice_t s, const char *lit) {
  return s.base && slice_eq(s, slice_cstr(lit));
}

static slice_t trim_ows(slice_t s) {
  if (!s.base) return s;
  while (s.len && is_ows(s.base[0])) {
    s.base++;
    s.len--;
  }
  while (s.len && is_ows(s.base[s.len - 1]))
    s.len--;
  return s;
}

static int hex_val(char c) {
  if (is_digit(c)) return c - '0';
  c = to_lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* ---- header token lists ---- */

int http_token_list_has(slice_t list, const char *token) {
  if (!list.base || !token || !token[0]) return 0;
  size_t tlen = strlen(token);
  const char *p = list.base, *end = list.base + list.len;
  while (p < end) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *item_end = comma ? comma : end;
    if (eq_nocase(trim_ows(slice_make(p, (size_t)(item_end - p))), token, tlen)) return 1;
    p = comma ? comma + 1 : end;
  }
  return 0;
}

/* ---- request checks ---- */

static int is_b64(char c) {
  return is_alnum(c) || c == '+' || c == '/';
}

/* 16 bytes encode to exactly 22 characters and "=="; anything else decodes
 * to another length or is not base64. */
static int key_ok(slice_t key) {
  key = trim_ows(key);
  if (key.len != WS_KEY_B64_LEN) return 0;
  for (size_t i = 0; i < WS_KEY_B64_LEN - 2; i++)
    if (!is_b64(key.base[i])) return 0;
  return key.base[22] == '=' && key.base[23] == '=';
}

static int request_line_ok(const ws_upgrade_req_t *req) {
  if (!slice_is(req->method, "GET")) return 0;
  return req->http_major > 1 || (req->http_major == 1 && req->http_minor >= 1);
}

int ws_handshake_check(const ws_upgrade_req_t *req) {
  if (!req || !request_line_ok(req)) return 400;
  if (!http_token_list_has(req->upgrade, "websocket") ||
      !http_token_list_has(req->connection, "upgrade") || !req->key.base)
    return 400;
  if (!slice_is(trim_ows(req->version), "13")) return 426;
  if (!key_ok(req->key)) return 400;
  return 0;
}

int ws_accept_key(const char *key, size_t len, char out[WS_ACCEPT_KEY_LEN + 1]) {
  slice_t k = trim_ows(slice_make(key, key ? len : 0));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
           EVP_DigestUpdate(ctx, k.base, k.len) == 1 &&
           EVP_DigestUpdate(ctx, WS_GUID, sizeof WS_GUID - 1) == 1 &&
           EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == WS_SHA1_LEN;
  EVP_MD_CTX_free(ctx);
  if (!ok) {
    out[0] = '\0';
    return -1;
  }
  EVP_EncodeBlock((unsigned char *)out, md, WS_SHA1_LEN);
  return 0;
}

int ws_id_valid(const char *s, size_t n) {
  if (!s || n == 0 || n > WS_ID_MAX) return 0;
  for (size_t i = 0; i < n; i++)
    if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.') return 0;
  return 1;
}

/* ---- percent-decoding and query strings ---- */

/* Decodes the escape at in[i] ('%' already seen); -1 when malformed. */
static int pct_escape(const char *in, size_t n, size_t i) {
  if (n - i < 3) return -1;
  int hi = hex_val(in[i + 1]), lo = hex_val(in[i + 2]);
  return (hi < 0 || lo < 0) ? -1 : (hi << 4 | lo);
}

/* out may equal in: each output byte is written at or before the input
 * byte it comes from, after that input was read. */
static long pct_decode(const char *in, size_t n, char *out, size_t cap, int plus_is_space) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)in[i];
    if (c == '%') {
      if ((c = pct_escape(in, n, i)) < 0) return -1;
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == 0 || o >= cap) return -1;
    out[o++] = (char)c;
  }
  return (long)o;
}

long url_percent_decode(const char *in, size_t n, char *out, size_t cap) {
  if (!in && n) return -1;
  return pct_decode(in, n, out, cap, 0);
}

/* 1 when the raw key decodes to name. Decoding on the fly keeps this free of
 * buffers; a malformed key is not ours. */
static int query_key_is(slice_t key, const char *name) {
  size_t j = 0;
  for (size_t i = 0; i < key.len; i++) {
    int c = (unsigned char)key.base[i];
    if (c == '%') {
      if ((c = pct_escape(key.base, key.len, i)) < 0) return 0;
      i += 2;
    } else if (c == '+') {
      c = ' ';
    }
    if (name[j] == '\0' || (unsigned char)name[j] != c) return 0;
    j++;
  }
  return name[j] == '\0';
}

long url_query_param(slice_t query, const char *name, char *out, size_t cap) {
  if (!query.base || !name || !name[0]) return -1;
  const char *p = query.base, *end = query.base + query.len;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *pair_end = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(pair_end - p));
    slice_t key = slice_make(p, (size_t)((eq ? eq : pair_end) - p));
    if (query_key_is(key, name)) {
      const char *v = eq ? eq + 1 : pair_end;
      long r = cap ? pct_decode(v, (size_t)(pair_end - v), out, cap - 1, 1) : -1;
      if (r < 0) {
        if (cap) out[0] = '\0';
        return -2;
      }
      out[r] = '\0';
      return r;
    }
    p = amp ? amp + 1 : end;
  }
  return -1;
}

/* ---- Origin ---- */

typedef struct {
  slice_t scheme; /* empty for a Host header */
  slice_t host;   /* an IPv6 literal keeps its brackets */
  unsigned port;  /* explicit, or the scheme's default */
} hostport_t;

static int parse_port(const char *p, const char *end, unsigned *port) {
  size_t n = (size_t)(end - p);
  if (n == 0 || n > 5) return 0;
  unsigned v = 0;
  for (; p < end; p++) {
    if (!is_digit(*p)) return 0;
    v = v * 10 + (unsigned)(*p - '0');
  }
  if (v == 0 || v > 65535) return 0;
  *port = v;
  return 1;
}

static int is_reg_name_char(char c) {
  return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static int is_ipv6_char(char c) {
  return hex_val(c) >= 0 || c == ':' || c == '.';
}

/* Returns a pointer just past the host, or NULL when it is malformed. */
static const char *parse_host(const char *p, const char *end) {
  if (p < end && *p == '[') {
    const char *q = p + 1;
    int colons = 0;
    for (; q < end && *q != ']'; q++) {
      if (!is_ipv6_char(*q)) return NULL;
      colons += *q == ':';
    }
    return (q < end && colons >= 2) ? q + 1 : NULL;
  }
  const char *q = p;
  while (q < end && is_reg_name_char(*q))
    q++;
  return q > p ? q : NULL;
}

/* "host[:port]" with port default dflt. */
static int parse_hostport(slice_t s, unsigned dflt, hostport_t *hp) {
  const char *end = s.base + s.len;
  const char *h_end = s.base ? parse_host(s.base, end) : NULL;
  if (!h_end) return 0;
  hp->host = slice_make(s.base, (size_t)(h_end - s.base));
  hp->port = dflt;
  if (h_end == end) return 1;
  return *h_end == ':' && parse_port(h_end + 1, end, &hp->port);
}

static const struct {
  const char *name;
  unsigned port;
} origin_schemes[] = {{"http", 80}, {"https", 443}, {"ws", 80}, {"wss", 443}};

/* RFC 6454 serialisation: "scheme://host[:port]", nothing else. */
static int parse_origin(slice_t s, hostport_t *hp) {
  s = trim_ows(s);
  if (!s.base) return 0;
  const char *sep = memmem(s.base, s.len, "://", 3);
  if (!sep) return 0;
  slice_t scheme = slice_make(s.base, (size_t)(sep - s.base));
  for (size_t i = 0; i < sizeof origin_schemes / sizeof origin_schemes[0]; i++) {
    const char *name = origin_schemes[i].name;
    if (eq_nocase(scheme, name, strlen(name))) {
      const char *rest = sep + 3;
      hp->scheme = scheme;
      return parse_hostport(slice_make(rest, s.len - (size_t)(rest - s.base)),
                            origin_schemes[i].port, hp);
    }
  }
  return 0;
}

static int same_host(slice_t origin, slice_t host, int tls) {
  hostport_t o, h;
  if (!origin.base) return 1; /* not a browser: cross-site hijacking needs one */
  if (!parse_origin(origin, &o) || !host.base ||
      !parse_hostport(trim_ows(host), tls ? 443 : 80, &h))
    return 0;
  return slice_eq_nocase(o.host, h.host) && o.port == h.port;
}

static int list_has_star(const char *const *allowed, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (allowed[i] && slice_is(trim_ows(slice_cstr(allowed[i])), "*")) return 1;
  return 0;
}

int ws_origin_allowed(slice_t origin, slice_t host, int tls, const char *const *allowed, size_t n) {
  if (n == 0 || !allowed) return same_host(origin, host, tls);
  /* Only browsers send Origin, and any other client could forge one: a
   * missing Origin is not a cross-site page, so it passes here too. */
  if (list_has_star(allowed, n) || !origin.base) return 1;
  hostport_t o, e;
  if (!parse_origin(origin, &o)) return 0;
  for (size_t i = 0; i < n; i++) {
    if (allowed[i] && parse_origin(slice_cstr(allowed[i]), &e) &&
        slice_eq_nocase(o.scheme, e.scheme) && slice_eq_nocase(o.host, e.host) && o.port == e.port)
      return 1;
  }
  return 0;
}

/* ---- permessage-deflate (RFC 7692 section 7, grammar RFC 6455 9.1) ---- */

typedef struct {
  const char *p, *end;
} cursor_t;

/* A parameter value after quoted-string unescaping. Every value we accept
 * is at most 2 characters, so longer ones are only marked too long. */
typedef struct {
  char buf[4];
  size_t len;
  int present, too_long;
} pval_t;

enum { PMD_SNCT = 1, PMD_CNCT = 2, PMD_SMWB = 4, PMD_CMWB = 8 };

/* What one permessage-deflate offer asked for. */
typedef struct {
  unsigned seen; /* PMD_* bits */
  int bad;       /* unknown, duplicated or out of range */
} pmd_offer_t;

static int is_tchar(char c) {
  return is_alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int is_ctl(char c) {
  return (unsigned char)c < 0x20 || c == 0x7f;
}

static void skip_ows(cursor_t *c) {
  while (c->p < c->end && is_ows(*c->p))
    c->p++;
}

static int at(const cursor_t *c, char ch) {
  return c->p < c->end && *c->p == ch;
}

static slice_t take_token(cursor_t *c) {
  const char *start = c->p;
  while (c->p < c->end && is_tchar(*c->p))
    c->p++;
  return slice_make(start, (size_t)(c->p - start));
}

static void pval_push(pval_t *v, char ch) {
  if (v->len < sizeof v->buf)
    v->buf[v->len++] = ch;
  else
    v->too_long = 1;
}

/* token / quoted-string; 0, or -1 on a syntax error. */
static int take_value(cursor_t *c, pval_t *v) {
  v->present = 1;
  if (!at(c, '"')) {
    slice_t t = take_token(c);
    for (size_t i = 0; i < t.len; i++)
      pval_push(v, t.base[i]);
    return t.len ? 0 : -1;
  }
  for (c->p++; c->p < c->end; c->p++) {
    char ch = *c->p;
    if (ch == '"') {
      c->p++;
      return 0;
    }
    if (ch == '\\' && ++c->p == c->end) return -1;
    ch = *c->p;
    if (is_ctl(ch) && ch != '\t') return -1;
    pval_push(v, ch);
  }
  return -1; /* unterminated */
}

/* 8..15 written without leading zeros (RFC 7692 7.1.2), else -1. */
static int window_bits(const pval_t *v) {
  if (!v->present || v->too_long) return -1;
  if (v->len == 1 && (v->buf[0] == '8' || v->buf[0] == '9')) return v->buf[0] - '0';
  if (v->len == 2 && v->buf[0] == '1' && v->buf[1] >= '0' && v->buf[1] <= '5')
    return 10 + v->buf[1] - '0';
  return -1;
}

static const struct {
  const char *name;
  unsigned bit;
} pmd_params[] = {
    {"server_no_context_takeover", PMD_SNCT},
    {"client_no_context_takeover", PMD_CNCT},
    {"server_max_window_bits", PMD_SMWB},
    {"client_max_window_bits", PMD_CMWB},
};

static int pmd_value_ok(unsigned bit, const pval_t *v) {
  switch (bit) {
  case PMD_SNCT:
  case PMD_CNCT: return !v->present;
  case PMD_SMWB: return window_bits(v) >= 0;
  default: /* PMD_CMWB: the value is optional */ return !v->present || window_bits(v) >= 0;
  }
}

static void pmd_param(pmd_offer_t *o, slice_t name, const pval_t *v) {
  for (size_t i = 0; i < sizeof pmd_params / sizeof pmd_params[0]; i++) {
    if (!eq_nocase(name, pmd_params[i].name, strlen(pmd_params[i].name))) continue;
    unsigned bit = pmd_params[i].bit;
    if ((o->seen & bit) || !pmd_value_ok(bit, v)) o->bad = 1;
    o->seen |= bit;
    return;
  }
  o->bad = 1;
}

/* One offer, up to the next ',' or the end. 0 when well-formed (then *o is
 * filled when *is_pmd), -1 on a syntax error. */
static int parse_offer(cursor_t *c, pmd_offer_t *o, int *is_pmd) {
  static const char pmd[] = "permessage-deflate";
  slice_t name = take_token(c);
  if (!name.len) return -1;
  *is_pmd = eq_nocase(name, pmd, sizeof pmd - 1);
  for (;;) {
    skip_ows(c);
    if (c->p == c->end || *c->p == ',') return 0;
    if (*c->p != ';') return -1;
    c->p++;
    skip_ows(c);
    slice_t pname = take_token(c);
    if (!pname.len) return -1;
    pval_t v = {{0}, 0, 0, 0};
    skip_ows(c);
    if (at(c, '=')) {
      c->p++;
      skip_ows(c);
      if (take_value(c, &v) < 0) return -1;
    }
    if (*is_pmd) pmd_param(o, pname, &v);
  }
}

/* After a syntax error: on to the next ',' outside a quoted-string, scanning
 * again from the offer's start so that quotes are tracked correctly. */
static void skip_offer(cursor_t *c, const char *start) {
  int quoted = 0;
  for (c->p = start; c->p < c->end; c->p++) {
    char ch = *c->p;
    if (quoted && ch == '\\' && c->p + 1 < c->end)
      c->p++;
    else if (ch == '"')
      quoted = !quoted;
    else if (ch == ',' && !quoted)
      return;
  }
}

/* Our shared compressor always uses a 15-bit window, and WS_PMD_RESPONSE
 * cannot echo server_max_window_bits, so any offer naming it is declined. */
static int pmd_acceptable(const pmd_offer_t *o) {
  return !o->bad && !(o->seen & PMD_SMWB);
}

int ws_pmd_negotiate(slice_t extensions) {
  if (!extensions.base) return 0;
  cursor_t c = {extensions.base, extensions.base + extensions.len};
  for (;;) {
    skip_ows(&c);
    if (c.p == c.end) return 0;
    if (*c.p == ',') { /* empty list element (RFC 9110 5.6.1) */
      c.p++;
      continue;
    }
    const char *start = c.p;
    pmd_offer_t o = {0, 0};
    int is_pmd = 0;
    if (parse_offer(&c, &o, &is_pmd) < 0)
      skip_offer(&c, start);
    else if (is_pmd && pmd_acceptable(&o))
      return 1;
  }
}
