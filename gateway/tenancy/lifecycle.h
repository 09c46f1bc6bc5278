/*
 * The tenant-aware lifecycle API (/v1, sandbox-lifecycle.yml and
 * diagnostic-api.yml) and sandbox port traffic: policy checks and placement on
 * create, routing of sandbox- and snapshot-scoped calls to the owning backend,
 * isolation (another tenant's object is a 404 identical to a missing one),
 * lists merged across backends. Port traffic has its own header (tenancy/port.h);
 * the owner-routing and error helpers below are shared with it.
 */
#ifndef SG_LIFECYCLE_H
#define SG_LIFECYCLE_H

#include <jansson.h>
#include "backend/backend_call.h"
#include "runtime/request.h"

/* Serves a /v1 request of an authenticated tenant. */
void sg_lifecycle_handle(sg_request_t *r);
/* Serves GET /v1/sandboxes and GET /v1/snapshots (lifecycle_list.c). */
void sg_lifecycle_list_sandboxes(sg_request_t *r);
void sg_lifecycle_list_snapshots(sg_request_t *r);
/*
 * The query of a list request as received (after '?', still encoded; snapshots: GET /v1/snapshots): page and pageSize
 * into *page and *page_size (defaults 1 and 20), and into *backend_query (pool memory) the query every backend is
 * asked: state (and sandboxId for snapshots) encoded again, and for sandboxes the metadata filter with the tenant's
 * pairs minus any on the tenant tag, plus tag=tenant. Returns NULL, or why the query is malformed (static; a 400).
 * A pure function (fuzzed: tests/fuzz/fuzz_list_query.c).
 */
const char *sg_lifecycle_list_query(h2o_mem_pool_t *pool, h2o_iovec_t query, int snapshots, const char *tag, h2o_iovec_t tenant,
                                    long *page, long *page_size, h2o_iovec_t *backend_query);
/* ---- shared with port.c and lifecycle_list.c ---- */

/* the 404 of a sandbox the caller cannot see, whether it exists or not */
void sg_lifecycle_sandbox_not_found(sg_request_t *r, const char *id);
void sg_lifecycle_snapshot_not_found(sg_request_t *r, const char *id);
/*
 * Resolves the backend of an owned sandbox (or snapshot) from an ownership lookup's
 * result. Returns the backend; otherwise answers the request and returns NULL:
 * 503 STORE_UNAVAILABLE (err), the not-found 404 (tenant NULL or another tenant's),
 * 503 BACKEND_UNAVAILABLE (backend unknown or down).
 */
sg_backend_conf_t *sg_lifecycle_owner_backend(sg_request_t *r, const char *err, const char *tenant, const char *backend,
                                              int is_snapshot, const char *id);
/* maps a transport error of a backend call to the gateway's 502/503/504 */
void sg_lifecycle_backend_error(sg_request_t *r, const char *err);
/* sends a backend's (buffered) answer to the client */
void sg_lifecycle_send_backend_response(sg_request_t *r, int status, h2o_iovec_t body);
/* a backend call tied to the request: cancelled if the request goes away first */
void sg_lifecycle_call(sg_request_t *r, sg_backend_conf_t *be, const char *method, h2o_iovec_t path, h2o_iovec_t body,
                       sg_backend_call_cb cb, void *data);

#endif
