/*
 * Sandbox port traffic (/sandboxes/{id}/port/{port}/...): authenticated by key
 * or access token, routed to the endpoint the owning backend reports (cached
 * process-wide until the sandbox expires or the endpoint stops answering).
 */
#ifndef SG_PORT_H
#define SG_PORT_H

#include <stdint.h>
#include "runtime/request.h"

/* Serves sandbox port traffic. */
void sg_port_handle(sg_request_t *r);
/* Caches the endpoint a backend reported (asked at asked_at_ms) for a sandbox port, until the sandbox's expiresAt
 * (expires_at_ms, 0: none) at the latest; returns 0 if it was usable. */
int sg_port_remember_endpoint(const char *id, uint16_t port, int64_t expires_at_ms, uint64_t asked_at_ms, h2o_iovec_t body);
/* Forgets the cached endpoints of a deleted sandbox. */
void sg_port_forget(const char *id);

#endif
