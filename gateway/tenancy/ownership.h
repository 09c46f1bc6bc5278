/*
 * Who owns a sandbox or a snapshot: the store, fronted by a small process-wide
 * cache shared by the worker threads (so that lookups already seen keep working
 * while the store is down, and a delete on one thread is seen by all),
 * and, for ids the store does not know (created before the gateway, or store
 * lost), a one-time lookup on the backends: a sandbox whose tenant tag names the
 * caller is adopted into the store.
 */
#ifndef SG_OWNERSHIP_H
#define SG_OWNERSHIP_H

#include "runtime/request.h"
#include "store/store.h"
#include "backend/sandbox_rec.h"

/*
 * rec is the owner record (any tenant: the caller compares), NULL if no backend
 * knows the id for this tenant. err is set when the store failed and nothing of the
 * caller's was cached, or is sg_ownership_err_busy when the tenant already has
 * lifecycle.max_probes_per_tenant probes running. May run before
 * sg_ownership_sandbox returns; never after the request is gone.
 *
 * Probing ids must not tell whether they belong to another tenant: an id the
 * store knows as another tenant's takes the same path as an unknown one (store
 * read, then every healthy backend asked, all answers awaited), and the "not
 * found" answer is then remembered for (tenant, id) in the negative cache
 * (negcache.h) in both cases.
 */
typedef void (*sg_ownership_sandbox_cb)(sg_request_t *r, void *data, const char *err, const sg_sandbox_rec_t *rec);
typedef void (*sg_ownership_snapshot_cb)(sg_request_t *r, void *data, const char *err, const sg_snapshot_rec_t *rec);

void sg_ownership_sandbox(sg_request_t *r, const char *id, sg_ownership_sandbox_cb cb, void *data);
void sg_ownership_snapshot(sg_request_t *r, const char *id, sg_ownership_snapshot_cb cb, void *data);
/*
 * The owner record as the store (or the cache) knows it, whoever the tenant: for a credential that names no tenant
 * but is bound to one (a signed URL, verified against rec->tenant). Never asks the backends, so an anonymous caller
 * cannot make the gateway probe them; rec NULL: the store has no record.
 */
void sg_ownership_sandbox_any(sg_request_t *r, const char *id, sg_ownership_sandbox_cb cb, void *data);

/* Records ownership in the store and this thread's cache; cb may be NULL (best effort, tied to the request). */
void sg_ownership_put_sandbox(sg_request_t *r, const sg_sandbox_rec_t *rec, sg_store_done_cb cb, void *data);
void sg_ownership_put_snapshot(sg_request_t *r, const sg_snapshot_rec_t *rec, sg_store_done_cb cb, void *data);
/* Forgets a sandbox/snapshot (store and cache), best effort. */
void sg_ownership_forget_sandbox(sg_request_t *r, const char *id);
void sg_ownership_forget_snapshot(sg_request_t *r, const char *id);

/* Drops the cached owner of a sandbox (e.g. its endpoint stopped answering, or it was deleted elsewhere). */
void sg_ownership_invalidate(const char *id);
/* id is now known as a sandbox of tenant: drops tenant's "not found" for it. */
void sg_ownership_known(const char *id, const char *tenant);

extern const char sg_ownership_err_busy[];

#endif
