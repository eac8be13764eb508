#include "server/http/static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "protocol/handshake.h"

#define STATIC_MAX_FILE (64u << 20)

static const struct {
  const char *ext, *type;
} mime_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"ico", "image/x-icon"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
    {"webmanifest", "application/manifest+json"},
};

const char *static_mime_type(const char *name) {
  const char *dot = strrchr(name, '.');
  size_t i;
  if (dot && !strchr(dot, '/'))
    for (i = 0; i < sizeof mime_types / sizeof mime_types[0]; i++)
      if (strcasecmp(dot + 1, mime_types[i].ext) == 0) return mime_types[i].type;
  return "application/octet-stream";
}

/* Rejects what could step outside the root before the file system is
 * asked: "." and ".." segments, backslashes, empty segments. */
static int rel_path_safe(const char *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && p[j] != '/')
      j++;
    if (j == i && j < n) return 0; /* "//" */
    if ((j - i == 1 && p[i] == '.') || (j - i == 2 && p[i] == '.' && p[i + 1] == '.')) return 0;
    i = j + 1;
  }
  return memchr(p, '\\', n) == NULL && memchr(p, '\0', n) == NULL;
}

/* Is `path` (resolved) the root itself or inside it? */
static int inside_root(const char *root, const char *path) {
  size_t n = strlen(root);
  return strncmp(root, path, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static void make_etag(const struct stat *st, char *out, size_t len) {
  snprintf(out, len, "\"%llx-%llx-%lx\"", (unsigned long long)st->st_size,
           (unsigned long long)st->st_mtim.tv_sec, (unsigned long)st->st_mtim.tv_nsec);
}

/* If-None-Match: a list of entity tags, or "*"; weak comparison. */
static int etag_matches(slice_t inm, const char *etag) {
  size_t n = strlen(etag), i = 0;
  while (i < inm.len) {
    const char *p;
    size_t j;
    while (i < inm.len && (inm.base[i] == ' ' || inm.base[i] == ','))
      i++;
    if (i + 2 <= inm.len && inm.base[i] == 'W' && inm.base[i + 1] == '/') i += 2;
    p = inm.base + i;
    for (j = i; j < inm.len && inm.base[j] != ','; j++) {
    }
    while (j > i && inm.base[j - 1] == ' ')
      j--;
    if ((j - i == 1 && *p == '*') || (j - i == n && memcmp(p, etag, n) == 0)) return 1;
    while (i < inm.len && inm.base[i] != ',')
      i++;
  }
  return 0;
}

static int read_file(int fd, size_t size, obuf_t **out) {
  obuf_t *b = obuf_new(size);
  size_t got = 0;
  if (!b) return -1;
  while (got < size) {
    ssize_t r = read(fd, b->data + got, size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      obuf_unref(b);
      return -1;
    }
    got += (size_t)r;
  }
  *out = b;
  return 0;
}

void static_serve(http_conn_t *h, const http_request_t *req, slice_t rest, const char *root) {
  char rel[PATH_MAX], full[PATH_MAX * 2], resolved[PATH_MAX];
  char etag[64], lastmod[64], extra[256];
  long n = 0;
  struct stat st;
  struct tm tm;
  obuf_t *body = NULL;
  int fd;

  if (!root) goto not_found;
  if (rest.len) {
    n = url_percent_decode(rest.base, rest.len, rel, sizeof rel - 1);
    if (n < 0 || !rel_path_safe(rel, (size_t)n)) goto not_found;
  }
  rel[n] = '\0';
  snprintf(full, sizeof full, "%s/%s", root, rel);
  if (!realpath(full, resolved) || !inside_root(root, resolved)) goto not_found;
  if (stat(resolved, &st) == 0 && S_ISDIR(st.st_mode)) {
    snprintf(full, sizeof full, "%s/index.html", resolved);
    if (!realpath(full, resolved) || !inside_root(root, resolved)) goto not_found;
  }
  fd = open(resolved, O_RDONLY | O_CLOEXEC);
  if (fd < 0) goto not_found;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > STATIC_MAX_FILE) {
    close(fd);
    goto not_found;
  }
  make_etag(&st, etag, sizeof etag);
  gmtime_r(&st.st_mtim.tv_sec, &tm);
  strftime(lastmod, sizeof lastmod, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  snprintf(extra, sizeof extra, "ETag: %s\r\nLast-Modified: %s\r\nCache-Control: no-cache\r\n",
           etag, lastmod);
  if (etag_matches(http_header(&h->col, "If-None-Match"), etag)) {
    close(fd);
    http_respond(h, req, 304, NULL, extra, NULL, 0);
    return;
  }
  if (!req->head && st.st_size > 0 && read_file(fd, (size_t)st.st_size, &body) != 0) {
    close(fd);
    http_respond_error(h, req, 500, NULL);
    return;
  }
  close(fd);
  http_respond_obuf(h, req, 200, static_mime_type(resolved), extra, body, (size_t)st.st_size);
  obuf_unref(body);
  return;
not_found:
  http_respond_error(h, req, 404, NULL);
}
