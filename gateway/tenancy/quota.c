/*
 * Tenant quotas: the request side of the ledger (quota.h). The store decides
 * (store/quota_ledger.c, atomically per backend); this file turns a tenant's policy
 * into a reservation, answers refusals, ties a reservation to its request and counts
 * refusals in /metrics.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>
#include "config/config.h"
#include "runtime/thread.h"
#include "tenancy/quota.h"
#include "util/clock.h"
#include "runtime/metric_family.h"
#include "util/log.h"

/* ---- refusal counts (in /metrics) ---- */

static sg_metric_family_t *refusals_family, *fail_open_family;

static void register_families(void)
{
    static const char *const refusal_labels[] = {"tenant", "reason"}, *const tenant_label[] = {"tenant"};
    refusals_family = sg_metric_register("sandgate_quota_refusals_total",
                                         "Creates and snapshots refused by a tenant quota, by tenant and limit "
                                         "(live, cpu, memory, snapshots; store_unavailable: the ledger could not be reached).",
                                         SG_METRIC_COUNTER, refusal_labels, 2);
    fail_open_family = sg_metric_register("sandgate_quota_fail_open_total",
                                          "Creates and snapshots let through without a reservation because the ledger could "
                                          "not be reached and the tenant's quota_fail_open is true.",
                                          SG_METRIC_COUNTER, tenant_label, 1);
}

static void count(sg_metric_family_t **family, h2o_iovec_t tenant, const char *reason)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_families);
    char t[SG_STORE_ID_MAX + 1];
    snprintf(t, sizeof(t), "%.*s", (int)(tenant.len < SG_STORE_ID_MAX ? tenant.len : SG_STORE_ID_MAX),
             tenant.base != NULL ? tenant.base : "");
    const char *labels[] = {t, reason};
    sg_metric_add(*family, labels, 1);
}

static void count_refusal(h2o_iovec_t tenant, sg_quota_reason_t reason)
{
    count(&refusals_family, tenant, sg_quota_reason_name(reason));
}

const char *sg_quota_reason_name(sg_quota_reason_t reason)
{
    static const char *const names[] = {"live", "cpu", "memory", "snapshots", "store_unavailable"};
    return reason < SG_QUOTA_NUM_REASONS ? names[reason] : "unknown";
}

/* ---- reservations ---- */

/*
 * How long a reservation holds: the configured lease, or by default long enough that a create whose gateway died
 * has either failed or been adopted by a reconciliation round before its reservation stops counting (the longest
 * create, then one reconciliation interval, then a margin).
 */
static int64_t lease_ms(const sg_config_t *conf)
{
    if (conf->lifecycle.quota_lease_ms != 0)
        return (int64_t)conf->lifecycle.quota_lease_ms;
    return (int64_t)(conf->limits.upstream_connect_timeout_ms + conf->limits.upstream_io_timeout_ms +
                     conf->lifecycle.reconcile_interval_ms + 5000);
}

/* "1.5" for 1500 millicores, "2" for 2000 */
static void format_cpu(char *buf, size_t size, uint64_t millis)
{
    if (millis % 1000 == 0)
        snprintf(buf, size, "%" PRIu64, millis / 1000);
    else
        snprintf(buf, size, "%" PRIu64 "m", millis);
}

/* answers the refusal: the limit, the usage, what was asked */
static void refuse(sg_quota_ticket_t *t, sg_quota_verdict_t verdict, const sg_quota_usage_t *u, int pending_only)
{
    sg_request_t *r = t->r;
    const sg_quota_limits_t *l = &t->req.limits;
    char msg[512], a[32], b[32], c[32];
    sg_quota_reason_t reason = SG_QUOTA_REASON_LIVE;
    switch (verdict) {
    case SG_QUOTA_OVER_CPU:
        reason = SG_QUOTA_REASON_CPU;
        format_cpu(a, sizeof(a), u->cpu_millis + u->pending_cpu_millis);
        format_cpu(b, sizeof(b), l->max_cpu_millis);
        format_cpu(c, sizeof(c), t->req.cpu_millis);
        snprintf(msg, sizeof(msg), "quota of tenant %s exceeded: total cpu: %s of %s in use, %s requested", t->req.tenant, a, b, c);
        break;
    case SG_QUOTA_OVER_MEMORY:
        reason = SG_QUOTA_REASON_MEMORY;
        snprintf(msg, sizeof(msg),
                 "quota of tenant %s exceeded: total memory: %" PRIu64 "Mi of %" PRIu64 "Mi in use, %" PRIu64 "Mi requested",
                 t->req.tenant, u->memory_mb + u->pending_memory_mb, l->max_memory_mb, t->req.memory_mb);
        break;
    case SG_QUOTA_OVER_SNAPSHOTS:
        reason = SG_QUOTA_REASON_SNAPSHOTS;
        snprintf(msg, sizeof(msg), "quota of tenant %s exceeded: snapshots: %" PRIu64 " of %" PRIu64, t->req.tenant,
                 u->snapshots + u->pending_snapshots, l->max_snapshots);
        break;
    default:
        snprintf(msg, sizeof(msg), "quota of tenant %s exceeded: live sandboxes: %" PRIu64 " of %" PRIu64, t->req.tenant,
                 u->live + u->pending_live, l->max_live);
        break;
    }
    if (pending_only) {
        size_t len = strlen(msg);
        snprintf(msg + len, sizeof(msg) - len, " (including creates in flight; retry shortly)");
    }
    count_refusal(r->tenant, reason);
    sg_request_error_retry(r, 429, SG_ERR_CODE(SG_ERR_QUOTA_EXCEEDED), msg, pending_only ? "1" : NULL);
}

static void on_reserved(void *data, const char *err, sg_quota_verdict_t verdict, const sg_quota_usage_t *usage)
{
    sg_quota_ticket_t *t = data;
    sg_request_t *r = t->r;
    t->op = NULL;
    if (err != NULL) {
        if (r->tenant_def->policy.quota_fail_open) {
            sg_log(SG_LOG_WARN, "quota: ledger unavailable (%s); tenant %s is fail-open, going on without a reservation", err,
                   t->req.tenant);
            t->req.rid[0] = '\0';
            count(&fail_open_family, r->tenant, NULL);
            t->cb(r, t->data);
            return;
        }
        count_refusal(r->tenant, SG_QUOTA_REASON_STORE);
        sg_request_fail(r, SG_ERR_STORE_UNAVAILABLE, "the quota ledger is unavailable; retry later");
        return;
    }
    if (verdict != SG_QUOTA_OK) {
        int pending_only;
        sg_quota_check(&t->req.limits, usage, t->req.kind, t->req.cpu_millis, t->req.memory_mb, &pending_only);
        refuse(t, verdict, usage, pending_only);
        return;
    }
    t->held = 1;
    t->cb(r, t->data);
}

/* the request ends: an unsent or aborted reservation is given back (one in flight is left to its lease) */
static void ticket_dispose(void *p)
{
    sg_quota_ticket_t *t = p;
    if (t->op != NULL) {
        sg_store_cancel(t->op);
        t->op = NULL;
    }
    if (t->held && !t->in_flight)
        sg_quota_release(t);
}

void sg_quota_reserve(sg_request_t *r, sg_quota_ticket_t **ticket, sg_quota_kind_t kind, uint64_t cpu_millis, uint64_t memory_mb,
                      void (*cb)(sg_request_t *r, void *data), void *data)
{
    const sg_tenant_policy_t *p = &r->tenant_def->policy;
    sg_quota_ticket_t *t = h2o_mem_alloc_pool(&r->req->pool, sizeof(*t));
    memset(t, 0, sizeof(*t));
    *ticket = t;
    t->r = r;
    t->cb = cb;
    t->data = data;
    t->req.kind = kind;
    t->req.cpu_millis = cpu_millis;
    t->req.memory_mb = memory_mb;
    t->req.limits = (sg_quota_limits_t){p->max_sandboxes, p->max_total_cpu_millis, p->max_total_memory_mb, p->max_snapshots};
    snprintf(t->req.tenant, sizeof(t->req.tenant), "%.*s", (int)r->tenant.len, r->tenant.base);
    if (sg_quota_limits_none(&t->req.limits, kind)) {
        cb(r, data);
        return;
    }
    /* a sandbox without limits would take the backend's default, which the ledger cannot know */
    if (kind == SG_QUOTA_KIND_SANDBOX &&
        ((p->max_total_cpu_millis != 0 && cpu_millis == 0) || (p->max_total_memory_mb != 0 && memory_mb == 0))) {
        char msg[256];
        snprintf(msg, sizeof(msg), "tenant %s has a total %s quota: resourceLimits.%s is required", t->req.tenant,
                 cpu_millis == 0 && p->max_total_cpu_millis != 0 ? "cpu" : "memory",
                 cpu_millis == 0 && p->max_total_cpu_millis != 0 ? "cpu" : "memory");
        sg_request_fail(r, SG_ERR_INVALID_REQUEST, msg);
        return;
    }
    unsigned char raw[SG_QUOTA_RID_MAX / 2];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        uint64_t a = sg_thread_random(r->thread), b = sg_thread_random(r->thread);
        memcpy(raw, &a, 8);
        memcpy(raw + 8, &b, 8);
    }
    for (size_t i = 0; i != sizeof(raw); ++i)
        sprintf(t->req.rid + 2 * i, "%02x", raw[i]);
    t->req.lease_until_ms = (int64_t)(sg_now_us() / 1000) + lease_ms(r->config);
    sg_request_on_dispose(r, ticket_dispose, t);
    t->op = sg_store_quota_reserve(r->thread->store, &t->req, on_reserved, t);
}

void sg_quota_sent(sg_quota_ticket_t *t)
{
    t->in_flight = 1;
}

void sg_quota_committed(sg_quota_ticket_t *t)
{
    t->held = 0;
}

void sg_quota_release(sg_quota_ticket_t *t)
{
    if (!t->held)
        return;
    t->held = 0;
    sg_store_quota_release(t->r->thread->store, t->req.tenant, t->req.rid);
}

void sg_quota_forget_deleted(sg_request_t *r, sg_quota_kind_t kind, const char *id)
{
    char tenant[SG_STORE_ID_MAX + 1];
    if (r->tenant.len > SG_STORE_ID_MAX)
        return;
    memcpy(tenant, r->tenant.base, r->tenant.len);
    tenant[r->tenant.len] = '\0';
    sg_store_quota_forget(r->thread->store, tenant, kind, id);
}

/* ---- usage ---- */

sg_store_op_t *sg_quota_tenant_usage(sg_store_t *store, const char *tenant, sg_store_quota_cb cb, void *data)
{
    return sg_store_quota_usage(store, tenant, cb, data);
}

typedef struct st_backends_t {
    sg_quota_backends_cb cb;
    void *data;
} backends_t;

static void on_all_sandboxes(void *p, const char *err, const sg_sandbox_rec_t *recs, size_t n)
{
    backends_t *b = p;
    sg_quota_backend_usage_t *out = NULL;
    size_t num = 0;
    int64_t now = (int64_t)(sg_now_us() / 1000);
    for (size_t i = 0; err == NULL && i != n; ++i) {
        if (recs[i].expires_at_ms != 0 && recs[i].expires_at_ms < now)
            continue;
        size_t j;
        for (j = 0; j != num && strcmp(out[j].backend, recs[i].backend) != 0; ++j)
            ;
        if (j == num) {
            out = realloc(out, sizeof(*out) * (num + 1));
            memset(out + num, 0, sizeof(*out));
            strcpy(out[num++].backend, recs[i].backend);
        }
        out[j].live++;
        out[j].cpu_millis += recs[i].cpu_millis;
        out[j].memory_mb += recs[i].memory_mb;
    }
    b->cb(b->data, err, out, num);
    free(out);
    free(b);
}

void sg_quota_backend_usage(sg_store_t *store, sg_quota_backends_cb cb, void *data)
{
    backends_t *b = malloc(sizeof(*b));
    b->cb = cb;
    b->data = data;
    sg_store_list_sandboxes(store, NULL, on_all_sandboxes, b);
}
