/*
 * Usage gauges in /metrics: live sandboxes, their CPU and memory, per tenant and
 * per backend, and snapshots per tenant. Computed from the store's records by the
 * health thread (one listing of each kind per round) rather than kept up to date
 * on every create and delete: the records are the truth the quota ledger follows,
 * and a round costs the same with one gateway or ten.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/metric_family.h"
#include "tenancy/usage.h"
#include "util/clock.h"
#include "util/hashmap.h"

enum { G_LIVE, G_CPU, G_MEMORY, NUM_GAUGES };

typedef struct st_amounts_t {
    char name[SG_STORE_ID_MAX + 1];
    uint64_t v[NUM_GAUGES + 1]; /* + snapshots (tenants only) */
    int seen;                   /* in the current round */
} amounts_t;

static sg_metric_family_t *tenant_gauges[NUM_GAUGES + 1], *backend_gauges[NUM_GAUGES];
/* every tenant and backend ever published (health thread only): one that disappears is set back to 0 */
static sg_hashmap_t tenants, backends;

static void register_families(void)
{
    static const char *const tenant_label[] = {"tenant"}, *const backend_label[] = {"backend"};
    static const struct {
        const char *name, *help;
    } t[] = {{"sandgate_tenant_live_sandboxes", "Live sandboxes of a tenant (paused ones count; expired ones do not)."},
             {"sandgate_tenant_live_cpu_millicores", "Sum of the CPU limits of a tenant's live sandboxes, in millicores."},
             {"sandgate_tenant_live_memory_bytes", "Sum of the memory limits of a tenant's live sandboxes, in bytes."},
             {"sandgate_tenant_snapshots", "Snapshots of a tenant."}},
      b[] = {{"sandgate_backend_live_sandboxes", "Live sandboxes on a backend, all tenants."},
             {"sandgate_backend_live_cpu_millicores", "Sum of the CPU limits of a backend's live sandboxes, in millicores."},
             {"sandgate_backend_live_memory_bytes", "Sum of the memory limits of a backend's live sandboxes, in bytes."}};
    for (size_t i = 0; i != NUM_GAUGES + 1; ++i)
        tenant_gauges[i] = sg_metric_register(t[i].name, t[i].help, SG_METRIC_GAUGE, tenant_label, 1);
    for (size_t i = 0; i != NUM_GAUGES; ++i)
        backend_gauges[i] = sg_metric_register(b[i].name, b[i].help, SG_METRIC_GAUGE, backend_label, 1);
}

static amounts_t *entry(sg_hashmap_t *map, const char *name)
{
    size_t len = strlen(name);
    amounts_t *a = sg_hashmap_get(map, name, len);
    if (a == NULL) {
        if ((a = calloc(1, sizeof(*a))) == NULL)
            return NULL;
        memcpy(a->name, name, len);
        sg_hashmap_set(map, a->name, len, a);
    }
    if (!a->seen) {
        memset(a->v, 0, sizeof(a->v));
        a->seen = 1;
    }
    return a;
}

/* sets the gauges of every entry of map (0 for those not seen this round) and clears the marks */
static void publish(sg_hashmap_t *map, sg_metric_family_t **families, size_t num_families)
{
    size_t iter = 0;
    amounts_t *a;
    while ((a = sg_hashmap_next(map, &iter)) != NULL) {
        const char *labels[] = {a->name};
        for (size_t i = 0; i != num_families; ++i)
            sg_metric_set(families[i], labels, a->seen ? (int64_t)a->v[i] : 0);
        a->seen = 0;
    }
}

typedef struct st_round_t {
    sg_store_t *store;
    int *running;
    int failed;
} round_t;

static void on_snapshots(void *data, const char *err, const sg_snapshot_rec_t *recs, size_t n)
{
    round_t *rd = data;
    if (err != NULL || rd->failed) {
        /* keep the last published values: a store outage is not an empty store */
        size_t iter = 0;
        amounts_t *a;
        while ((a = sg_hashmap_next(&tenants, &iter)) != NULL)
            a->seen = 0;
        iter = 0;
        while ((a = sg_hashmap_next(&backends, &iter)) != NULL)
            a->seen = 0;
        goto Exit;
    }
    for (size_t i = 0; i != n; ++i) {
        amounts_t *t = entry(&tenants, recs[i].tenant);
        if (t != NULL)
            t->v[NUM_GAUGES]++;
    }
    publish(&tenants, tenant_gauges, NUM_GAUGES + 1);
    publish(&backends, backend_gauges, NUM_GAUGES);
Exit:
    *rd->running = 0;
    free(rd);
}

static void on_sandboxes(void *data, const char *err, const sg_sandbox_rec_t *recs, size_t n)
{
    round_t *rd = data;
    int64_t now = (int64_t)(sg_now_us() / 1000);
    rd->failed = err != NULL;
    for (size_t i = 0; err == NULL && i != n; ++i) {
        if (recs[i].expires_at_ms != 0 && recs[i].expires_at_ms < now)
            continue;
        amounts_t *a[2] = {entry(&tenants, recs[i].tenant), entry(&backends, recs[i].backend)};
        for (size_t j = 0; j != 2; ++j) {
            if (a[j] == NULL)
                continue;
            a[j]->v[G_LIVE]++;
            a[j]->v[G_CPU] += recs[i].cpu_millis;
            a[j]->v[G_MEMORY] += recs[i].memory_mb * 1024 * 1024;
        }
    }
    if (rd->failed)
        on_snapshots(rd, err, NULL, 0);
    else
        sg_store_list_snapshots(rd->store, NULL, on_snapshots, rd);
}

void sg_usage_publish(sg_store_t *store, int *running)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_families);
    round_t *rd = calloc(1, sizeof(*rd));
    if (rd == NULL)
        return;
    rd->store = store;
    rd->running = running;
    *running = 1;
    sg_store_list_sandboxes(store, NULL, on_sandboxes, rd);
}

static void free_all(sg_hashmap_t *map)
{
    size_t iter = 0;
    amounts_t *a;
    while ((a = sg_hashmap_next(map, &iter)) != NULL)
        free(a); /* the table only holds pointers; it is freed next without reading the keys */
    sg_hashmap_dispose(map);
}

void sg_usage_dispose(void)
{
    free_all(&tenants);
    free_all(&backends);
}
