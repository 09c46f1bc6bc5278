/*
 * The gateway's answer to GET /v1/sandboxes/{id}/endpoints/{port}: the public name of a sandbox port (path or host
 * form, docs/CONFIG.md "ports"), with the access token in `headers`, or signed until `?expires=` (OSEP-0011 shape,
 * port_token.h) and needing no header at all. Never the backend's address.
 */
#ifndef SG_ENDPOINT_H
#define SG_ENDPOINT_H

#include <stdint.h>
#include "runtime/request.h"

typedef struct st_sg_endpoint_query_t {
    uint64_t expires_s; /* a signed endpoint until then (unix seconds); 0: unsigned */
    int server_proxy;   /* use_server_proxy=true: the /v1/sandboxes/{id}/proxy/{port} form */
} sg_endpoint_query_t;

/* Reads and checks the query of r (expires, use_server_proxy) against the tenant's policy; returns 0, or -1 after
 * answering 400. */
int sg_endpoint_parse_query(sg_request_t *r, sg_endpoint_query_t *q);
/* Answers 200 with the Endpoint of (id, port) (or 503 when the signing secret is not loaded yet). */
void sg_endpoint_send(sg_request_t *r, const char *id, uint16_t port, const sg_endpoint_query_t *q);

#endif
