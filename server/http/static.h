/* Files under static_dir for /static/<path>: no path escapes the root
 * (.., encoded dots, NUL, symlinks out), correct Content-Type, ETag and
 * Last-Modified with conditional GETs, HEAD. */
#ifndef FASTWS_STATIC_H
#define FASTWS_STATIC_H

#include "server/http/http.h"

/* rest: the raw (still percent-encoded) path after "/static/", empty for
 * "/static" and "/static/". */
void static_serve(conn_t *c, http_conn_t *h, http_request_t *req, slice_t rest);

/* Content-Type for a file name, by extension. */
const char *static_mime_type(const char *name);

#endif
