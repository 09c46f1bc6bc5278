/*
 * Tenants defined in the state store (config with `redis:`): key-auth binds a
 * request to a tenant id that the config does not define; before dispatch the
 * pipeline resolves that id to a definition here. Definitions are parsed once
 * and shared by all threads through a process-wide cache (redis.tenant_cache_ttl;
 * misses are remembered for a shorter time), so a warm request costs no Redis
 * command. A cached definition stays alive while requests use it, even after
 * it is replaced or evicted.
 */
#ifndef SG_TENANT_CACHE_H
#define SG_TENANT_CACHE_H

#include "runtime/request.h"

/*
 * Sets r->tenant_def to the stored definition of r->tenant and calls cb(r)
 * (maybe before returning). If the tenant is not defined, the request is
 * answered 401 INVALID_API_KEY; if its document is invalid or the store is
 * unavailable, 503; cb is not called then.
 */
void sg_tenant_cache_resolve(sg_request_t *r, void (*cb)(sg_request_t *r));
/* Frees every cached definition; only once no request runs any more (process exit). */
void sg_tenant_cache_dispose(void);

#endif
