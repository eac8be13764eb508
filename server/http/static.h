/* Files under static_dir for /static/<path>: no path escapes the root
 * (.., encoded dots, NUL, symlinks out), correct Content-Type, ETag and
 * Last-Modified with conditional GETs, HEAD. */
#ifndef FASTWS_STATIC_H
#define FASTWS_STATIC_H

#include "server/http/http.h"

/* rest: the raw (still percent-encoded) path after "/static/", empty for
 * "/static" and "/static/". root: the realpath of static_dir, NULL when it
 * is missing (everything is 404). */
void static_serve(http_conn_t *h, const http_request_t *req, slice_t rest, const char *root);

/* Content-Type for a file name, by extension. */
const char *static_mime_type(const char *name);

#endif
