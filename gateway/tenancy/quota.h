/*
 * Tenant quotas (DESIGN 2.4; docs/STORE.md "Quota ledger"): live sandboxes, their
 * total CPU and memory, snapshots. A create (or snapshot) reserves its share in the
 * store's ledger before it reaches a backend; the record write commits the
 * reservation; a backend refusal releases it; a gateway that dies in between leaves
 * a reservation that expires after lifecycle.quota_lease.
 *
 * The usage functions are what the admin API and /metrics read.
 */
#ifndef SG_QUOTA_H
#define SG_QUOTA_H

#include "runtime/request.h"
#include "store/store.h"

/* a reservation held by a request (in its pool) */
typedef struct st_sg_quota_ticket_t {
    sg_request_t *r;
    sg_quota_request_t req;
    sg_store_op_t *op; /* the reservation in flight */
    int held;          /* reserved and neither committed nor released */
    int in_flight;     /* the create went to a backend: a dying request leaves the reservation to its lease */
    void (*cb)(sg_request_t *r, void *data);
    void *data;
} sg_quota_ticket_t;

/*
 * Reserves one sandbox (cpu, memory) or snapshot of r's tenant against its policy, then calls cb(r, data). When
 * the tenant has no quota the call goes on at once without a reservation. A refusal is answered here (429
 * QUOTA_EXCEEDED, or 503 STORE_UNAVAILABLE when the ledger cannot be reached and the tenant's quota_fail_open is
 * false) and cb is not called. *ticket is set first (cb may run inside this call): its rid (req.rid, "" when none) is
 * what the record write commits.
 */
void sg_quota_reserve(sg_request_t *r, sg_quota_ticket_t **ticket, sg_quota_kind_t kind, uint64_t cpu_millis, uint64_t memory_mb,
                      void (*cb)(sg_request_t *r, void *data), void *data);
/* the reservation is about to reach a backend: from now on a dying request does not release it */
void sg_quota_sent(sg_quota_ticket_t *t);
/* the record write carrying t's rid was sent: the store commits (or, if it fails, the lease reclaims) it */
void sg_quota_committed(sg_quota_ticket_t *t);
/* the backend refused: give the reservation back now */
void sg_quota_release(sg_quota_ticket_t *t);

/*
 * r deleted a sandbox or snapshot of its tenant: stop counting it now, in one store write sent before the answer
 * (the record's delete, which changes the ledger too, needs a look-up first: a create right behind the delete
 * could otherwise still see it)
 */
void sg_quota_forget_deleted(sg_request_t *r, sg_quota_kind_t kind, const char *id);

/* ---- usage and refusals, for the admin API and /metrics ---- */

typedef enum en_sg_quota_reason_t {
    SG_QUOTA_REASON_LIVE,
    SG_QUOTA_REASON_CPU,
    SG_QUOTA_REASON_MEMORY,
    SG_QUOTA_REASON_SNAPSHOTS,
    SG_QUOTA_REASON_STORE, /* fail-closed: the ledger could not be reached */
    SG_QUOTA_NUM_REASONS
} sg_quota_reason_t;

/* "live", "cpu", "memory", "snapshots", "store_unavailable" (a metric label value) */
const char *sg_quota_reason_name(sg_quota_reason_t reason);

/* the tenant's usage from the ledger (live sandboxes, cpu, memory, snapshots; pending reservations apart) */
sg_store_op_t *sg_quota_tenant_usage(sg_store_t *store, const char *tenant, sg_store_quota_cb cb, void *data);

/* per-backend usage from the sandbox records (expired ones excluded) */
typedef struct st_sg_quota_backend_usage_t {
    char backend[SG_STORE_ID_MAX + 1];
    uint64_t live, cpu_millis, memory_mb;
} sg_quota_backend_usage_t;
typedef void (*sg_quota_backends_cb)(void *data, const char *err, const sg_quota_backend_usage_t *usage, size_t n);
/* lists every record (not cancellable: cb always runs, on the store's loop; data must live until then) */
void sg_quota_backend_usage(sg_store_t *store, sg_quota_backends_cb cb, void *data);

#endif
