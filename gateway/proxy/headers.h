/*
 * Header handling for proxying: which headers are hop-by-hop (RFC 9110 7.6.1),
 * and the request head sent upstream. Pure functions over h2o header vectors.
 */
#ifndef SG_HEADERS_H
#define SG_HEADERS_H

#include <h2o.h>

typedef struct st_sg_upstream_head_t {
    h2o_iovec_t method;
    h2o_iovec_t path_prefix; /* e.g. "/proxy/8080"; may be empty */
    h2o_iovec_t path;        /* target as received or rewritten; "" means "/" */
    h2o_iovec_t host;        /* Host sent upstream */
    h2o_iovec_t client_addr; /* appended to X-Forwarded-For */
    h2o_iovec_t client_proto;
    h2o_iovec_t client_host;
    h2o_iovec_t request_id;
    size_t content_length;     /* SIZE_MAX: no body and no Content-Length */
    int is_websocket;          /* sends Connection: upgrade / Upgrade: websocket */
    const h2o_header_t *extra; /* appended last, replacing client headers of the same name */
    size_t num_extra;
    const h2o_iovec_t *strip; /* lower-case names of client headers never forwarded */
    size_t num_strip;
} sg_upstream_head_t;

/* 1 if the (lower-case) header name is hop-by-hop, or listed in the Connection header value. */
int sg_headers_is_hop_by_hop(h2o_iovec_t name, h2o_iovec_t connection);
/* Returns the comma-joined values of every `connection` header in headers ("" if none). */
h2o_iovec_t sg_headers_connection(h2o_mem_pool_t *pool, const h2o_header_t *headers, size_t n);
/*
 * Serializes the upstream request head into pool memory. Client headers that are
 * hop-by-hop, Host, Content-Length, X-Forwarded-*, X-Request-ID, those in strip
 * and those overridden by extra are dropped.
 */
h2o_iovec_t sg_headers_build_request(h2o_mem_pool_t *pool, const sg_upstream_head_t *h, const h2o_header_t *client,
                                     size_t num_client);

#endif
