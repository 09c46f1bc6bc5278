/*
 * Keep-alive connection pools towards upstreams (backends and sandbox endpoints).
 * One pool per (loop, address, TLS settings): pools and their sockets belong to
 * one event loop and are never shared across threads. Each pool caps its open
 * connections (max_connections is per worker thread, like nginx's per-worker
 * upstream max_conns); requests beyond the cap wait in FIFO order up to the
 * connect timeout.
 */
#ifndef SG_UPSTREAM_POOL_H
#define SG_UPSTREAM_POOL_H

#include <sys/socket.h>
#include <openssl/ssl.h>
#include <h2o.h>
#include "util/evloop.h"

struct st_sg_backend_t;

typedef struct st_sg_upstream_t {
    int is_tls;
    const char *host; /* TLS server name (verified against the certificate) */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    SSL_CTX *ssl_ctx;                /* borrowed; a pool holds its own reference */
    size_t max_connections;          /* per loop; 0 = unlimited */
    size_t rcvbuf;                   /* SO_RCVBUF of its sockets (0 = kernel default), bounds what one read can pull in */
    struct st_sg_backend_t *backend; /* for statistics, may be NULL */
} sg_upstream_t;

typedef struct st_sg_pool_req_t sg_pool_req_t;
/* sock is NULL iff err is non-NULL; the callback owns sock (release it with sg_pool_release) */
typedef void (*sg_pool_connect_cb)(void *data, h2o_socket_t *sock, const char *err);

extern const char sg_pool_err_connect_timeout[];
extern const char sg_pool_err_busy[];
extern const char sg_pool_err_connect[];

/* Finds or creates the pool of this loop for the upstream. Never fails. */
sg_pool_t *sg_pool_get(sg_loop_t *l, const sg_upstream_t *u, uint64_t keepalive_timeout_ms);
/* Takes an idle keep-alive connection if there is one (NULL otherwise). */
h2o_socket_t *sg_pool_take_idle(sg_pool_t *pool);
/*
 * Opens a new connection (TCP, then TLS if configured) or waits for a slot when
 * the pool is at its cap. cb is always called later, never from inside this call,
 * unless the request is cancelled first. Returns the pending request.
 */
sg_pool_req_t *sg_pool_connect(sg_pool_t *pool, uint64_t connect_timeout_ms, sg_pool_connect_cb cb, void *data);
/* Cancels a pending connect; cb will not be called. */
void sg_pool_cancel(sg_pool_req_t *req);
/* Returns a connection: kept idle if reusable, else closed. */
void sg_pool_release(sg_pool_t *pool, h2o_socket_t *sock, int reusable);
/* The socket leaves the pool's accounting (e.g. becomes a WebSocket tunnel); caller closes it. */
void sg_pool_detach(sg_pool_t *pool, h2o_socket_t *sock);
void sg_pool_dispose_all(sg_loop_t *l);

#endif
