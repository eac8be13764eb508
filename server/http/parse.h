/* The request collector: llhttp's callbacks copy the request line and
 * headers of one request into a bounded buffer, and the lookups read them
 * back. No libuv and no I/O, so the fuzzer (tests/fuzz/fuzz_http.c) runs
 * this very code. The header block is copied into one buffer of at most
 * max_header_size bytes, so nothing a client sends makes us hold more. */
#ifndef FASTWS_HTTP_PARSE_H
#define FASTWS_HTTP_PARSE_H

#include <llhttp.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/slice.h"

#define HTTP_MAX_HEADERS 100

typedef struct {
  uint32_t name_off, name_len, value_off, value_len;
} http_header_t;

/* A parsed request; its slices point into the collector's buf. */
typedef struct {
  slice_t method;
  slice_t target; /* raw request target */
  slice_t path;   /* target without the query, not decoded */
  slice_t query;  /* after '?', base NULL when none */
  int http_major, http_minor;
  int upgrade; /* llhttp saw Connection: upgrade + Upgrade */
  int keep_alive;
  int head; /* HEAD: headers only */
} http_request_t;

/* Owned by its declarer; http_collector_free. The parser comes first:
 * llhttp's callbacks find the collector from it. */
typedef struct {
  llhttp_t parser;
  char *buf; /* url, then header names and values; grows to limit */
  size_t len, cap;
  size_t limit;           /* max_header_size */
  size_t header_bytes;    /* counted like the wire: names, values, ": ", CRLF */
  http_header_t *headers; /* grows to HTTP_MAX_HEADERS */
  int n_headers, headers_cap;
  int in_value;     /* the last callback was a header value */
  int error_status; /* 431 when a limit was hit */
  uint32_t url_len;
  int complete; /* a whole request is parsed and waiting */
} http_collector_t;

/* 0, or -1 on ENOMEM (nothing to free then). */
int http_collector_init(http_collector_t *h, size_t max_header_size);
void http_collector_free(http_collector_t *h);

/* The value of a header (the first occurrence), base NULL when absent.
 * Case-insensitive name. */
slice_t http_header(const http_collector_t *h, const char *name);

/* Every occurrence of a list header joined with ", " (RFC 9110 5.3) into
 * out (capacity cap); the first occurrence alone when they do not fit.
 * base NULL when absent. */
slice_t http_header_joined(const http_collector_t *h, const char *name, char *out, size_t cap);

/* Number of occurrences of a header. */
int http_header_count(const http_collector_t *h, const char *name);

/* Builds the request view of the current message. */
void http_request_view(const http_collector_t *h, http_request_t *req);

#endif
