/*
 * One HTTP/1.1 exchange with an upstream over a pooled connection, parsed with
 * http-parser. The response body is decoded (chunked or not) into `body`; reading
 * from the upstream pauses while `body` holds max_buffer bytes or more, so a slow
 * consumer never makes the gateway buffer an unbounded response.
 *
 * Callbacks are never invoked from inside sg_httpclient_start(). A client frees
 * itself after it reported the end or an error; sg_httpclient_cancel() frees it at
 * once (also allowed from inside a callback) and no callback follows.
 */
#ifndef SG_HTTPCLIENT_H
#define SG_HTTPCLIENT_H

#include <h2o.h>
#include "util/evloop.h"
#include "backend/upstream_pool.h"

typedef struct st_sg_httpclient_t sg_httpclient_t;

typedef struct st_sg_httpclient_cb_t {
    /*
     * err != NULL: failed before any response (the client is gone when this returns;
     * status/headers are meaningless). Otherwise the final response head (1xx other
     * than 101 are skipped); headers live until this returns. Return 0 to go on,
     * -1 to abort (the client is freed). For 101, call sg_httpclient_steal_socket().
     */
    int (*on_head)(sg_httpclient_t *c, const char *err, int status, h2o_header_t *headers, size_t num_headers);
    /* new bytes in c->body, or the end (is_end) or a failure (err); after is_end/err the client is gone */
    void (*on_body)(sg_httpclient_t *c, const char *err, int is_end);
} sg_httpclient_cb_t;

typedef struct st_sg_httpclient_req_t {
    sg_loop_t *loop;
    sg_pool_t *pool;
    h2o_iovec_t head; /* request line + headers + CRLF; must outlive the client */
    h2o_iovec_t body; /* must outlive the client */
    int is_head_method;
    int is_upgrade; /* the connection is never returned to the pool */
    int can_retry;  /* idempotent: may be resent once if a reused connection turns out dead */
    uint64_t connect_timeout_ms;
    uint64_t io_timeout_ms;
    size_t max_buffer;
} sg_httpclient_req_t;

struct st_sg_httpclient_t {
    void *data;
    h2o_buffer_t *body;      /* decoded response body not yet taken by the owner */
    size_t content_length;   /* SIZE_MAX when not announced */
    uint64_t bytes_received; /* body bytes decoded so far */
};

extern const char sg_httpclient_err_io_timeout[];
extern const char sg_httpclient_err_closed[];
extern const char sg_httpclient_err_protocol[];

sg_httpclient_t *sg_httpclient_start(const sg_httpclient_req_t *req, const sg_httpclient_cb_t *cb, void *data);
/* the owner took bytes out of c->body: reading resumes if it had paused */
void sg_httpclient_resume_reading(sg_httpclient_t *c);
void sg_httpclient_cancel(sg_httpclient_t *c);
/* only inside on_head with status 101: returns the upstream socket (leftover bytes in sock->input); the caller owns it */
h2o_socket_t *sg_httpclient_steal_socket(sg_httpclient_t *c);
/* 1 if err is a timeout (maps to 504), else 0 */
int sg_httpclient_err_is_timeout(const char *err);

#endif
