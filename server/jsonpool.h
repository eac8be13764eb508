/* jansson's allocator for the daemon: small blocks come from bounded free
 * lists per size class, so decoding a client message and building event
 * data allocates nothing from malloc in the steady state. */
#ifndef FASTWS_JSONPOOL_H
#define FASTWS_JSONPOOL_H

/* Installs the pool as jansson's allocator; call before any JSON is made. */
void jsonpool_install(void);

/* Gives every pooled block back to malloc (at exit, for leak checkers). */
void jsonpool_drain(void);

#endif
