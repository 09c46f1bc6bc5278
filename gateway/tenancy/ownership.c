#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "backend/backend.h"
#include "backend/backend_call.h"
#include "tenancy/cache_events.h"
#include "util/hashmap.h"
#include "tenancy/negcache.h"
#include "tenancy/ownership.h"
#include "runtime/thread.h"
#include "util/router.h"
#include "tenancy/snapshot_tag.h"
#include "config/tenant.h"

#define CACHE_SIZE 8192 /* entries, process-wide */
#define CACHE_STRIPES 64
#define CACHE_TTL_MS 30000

/* Refresh ahead: in the last fifth of an entry's life, one request (per second) is told "miss" and reads the store,
 * which renews the entry, while the others keep hitting. Without it, N connections using a hot id all missed at
 * the same instant and sent N identical lookups to Redis. */
#define CACHE_REFRESH_AHEAD_MS (CACHE_TTL_MS / 5)
#define CACHE_REFRESH_CLAIM_MS 1000

/* concurrent adoption probes, per tenant: an open-addressed table scanned over a window of slots */
#define PROBERS 256
#define PROBER_WINDOW 16

const char sg_ownership_err_busy[] = "too many concurrent look-ups of unknown ids";

typedef struct st_cache_entry_t {
    sg_sandbox_rec_t rec;
    uint64_t until_ms;
    uint64_t verified_ms;    /* when the lookup that read it from the store began (trust rule: cache_events.h) */
    uint64_t claim_until_ms; /* a refresh was handed out until then */
    uint64_t invalidated_ms; /* last invalidation of an id of this slot: lookups begun before it may not fill it */
} cache_entry_t;

/* shared by the worker threads so that a delete on one is seen by all; striped locks keep contention low */
static cache_entry_t cache[CACHE_SIZE];
static pthread_mutex_t cache_locks[CACHE_STRIPES] = {[0 ... CACHE_STRIPES - 1] = PTHREAD_MUTEX_INITIALIZER};

static struct {
    char tenant[SG_STORE_ID_MAX + 1];
    uint64_t inflight; /* 0: the slot is free */
} probers[PROBERS];
static pthread_mutex_t probers_lock = PTHREAD_MUTEX_INITIALIZER;

/* keyed hash: ids are chosen by clients, who must not be able to aim them at one slot */
static size_t hash_id(const char *id)
{
    return sg_hashmap_hash(id, strlen(id)) & (CACHE_SIZE - 1);
}

/* store writes whose outcome nobody waits for (best effort; the store logs nothing per op) */
static void ignore_result(void *data, const char *err)
{
    (void)data, (void)err;
}

static uint64_t now_ms(void)
{
    return sg_now_us() / 1000;
}

static int is_callers(sg_request_t *r, const sg_sandbox_rec_t *rec)
{
    return h2o_memis(rec->tenant, strlen(rec->tenant), r->tenant.base, r->tenant.len);
}

/*
 * Copies a live entry into *out; returns 1 on a hit. Normally only entries the trust rule vouches for hit;
 * fallback (the store cannot answer) takes any live one.
 */
static int cache_get(const char *id, sg_sandbox_rec_t *out, int fallback)
{
    size_t h = hash_id(id);
    int hit = 0;
    uint64_t now = now_ms();
    pthread_mutex_lock(cache_locks + h % CACHE_STRIPES);
    cache_entry_t *e = cache + h;
    if (e->until_ms > now && strcmp(e->rec.id, id) == 0 && (e->rec.expires_at_ms == 0 || (uint64_t)e->rec.expires_at_ms > now)) {
        if (fallback) {
            *out = e->rec;
            hit = 1;
        } else if (!sg_cache_events_trusted(e->verified_ms, now)) {
            /* read it again */
        } else if (e->until_ms - now <= CACHE_REFRESH_AHEAD_MS && e->claim_until_ms <= now) {
            e->claim_until_ms = now + CACHE_REFRESH_CLAIM_MS; /* this caller refreshes */
        } else {
            *out = e->rec;
            hit = 1;
        }
    }
    pthread_mutex_unlock(cache_locks + h % CACHE_STRIPES);
    return hit;
}

static void cache_put(const sg_sandbox_rec_t *rec, uint64_t verified_ms)
{
    size_t h = hash_id(rec->id);
    pthread_mutex_lock(cache_locks + h % CACHE_STRIPES);
    if (verified_ms > cache[h].invalidated_ms) {
        cache[h].rec = *rec;
        cache[h].until_ms = now_ms() + CACHE_TTL_MS;
        cache[h].verified_ms = verified_ms;
        cache[h].claim_until_ms = 0;
    }
    pthread_mutex_unlock(cache_locks + h % CACHE_STRIPES);
}

static void cache_forget(const char *id)
{
    size_t h = hash_id(id);
    pthread_mutex_lock(cache_locks + h % CACHE_STRIPES);
    cache[h].invalidated_ms = now_ms();
    if (strcmp(cache[h].rec.id, id) == 0)
        cache[h].until_ms = 0;
    pthread_mutex_unlock(cache_locks + h % CACHE_STRIPES);
}

void sg_ownership_invalidate(const char *id)
{
    cache_forget(id);
}

void sg_ownership_known(const char *id, const char *tenant)
{
    sg_negcache_forget(id, tenant);
}

/* takes one of the tenant's concurrent probe slots: its index, or -1 when the tenant has max probes running */
static int probe_acquire(h2o_iovec_t tenant, uint64_t max)
{
    if (tenant.len > SG_STORE_ID_MAX)
        return -1;
    size_t start = sg_hashmap_hash(tenant.base, tenant.len) & (PROBERS - 1);
    int found = -1, free_slot = -1;
    pthread_mutex_lock(&probers_lock);
    for (size_t i = 0; i != PROBER_WINDOW; ++i) {
        size_t j = (start + i) & (PROBERS - 1);
        if (probers[j].inflight == 0) {
            if (free_slot < 0)
                free_slot = (int)j;
        } else if (h2o_memis(probers[j].tenant, strlen(probers[j].tenant), tenant.base, tenant.len)) {
            found = (int)j;
            break;
        }
    }
    if (found < 0 && free_slot >= 0) {
        found = free_slot;
        memcpy(probers[found].tenant, tenant.base, tenant.len);
        probers[found].tenant[tenant.len] = '\0';
    }
    if (found >= 0 && probers[found].inflight < max)
        probers[found].inflight++;
    else
        found = -1;
    pthread_mutex_unlock(&probers_lock);
    return found;
}

static void probe_release(int slot)
{
    pthread_mutex_lock(&probers_lock);
    probers[slot].inflight--;
    pthread_mutex_unlock(&probers_lock);
}

/* ---- sandbox lookup ---- */

typedef struct st_lookup_t {
    sg_request_t *r;
    char id[SG_STORE_ID_MAX + 1];
    sg_ownership_sandbox_cb cb;
    void *data;
    uint64_t started_ms;
    sg_store_op_t *op;
    sg_backend_call_t **calls; /* adoption probes, one per backend */
    size_t num_calls, pending;
    int probe_slot; /* held in probers while >= 0 */
    int done;
    int uncertain;          /* a backend was down or did not answer 200 or 404: "not found" is not cached */
    sg_sandbox_rec_t known; /* the store's record of another tenant's sandbox (probed all the same) */
    int have_known;
    sg_sandbox_rec_t found;
    int have_found;
    int any_tenant; /* sg_ownership_sandbox_any: the store's answer whoever owns it, never a probe */
} lookup_t;

static void lookup_dispose(void *p)
{
    lookup_t *lk = p;
    if (lk->op != NULL)
        sg_store_cancel(lk->op);
    lk->op = NULL;
    for (size_t i = 0; i < lk->num_calls; i += 2) /* odd slots point back at the lookup */
        if (lk->calls[i] != NULL)
            sg_backend_call_cancel(lk->calls[i]);
    lk->num_calls = 0;
    if (lk->probe_slot >= 0)
        probe_release(lk->probe_slot);
    lk->probe_slot = -1;
}

static void finish_lookup(lookup_t *lk, const char *err, const sg_sandbox_rec_t *rec)
{
    if (lk->done)
        return;
    lk->done = 1;
    lookup_dispose(lk);
    lk->cb(lk->r, lk->data, err, rec);
}

/* the caller is told the id does not exist for it; remembered unless a backend could not say */
static void not_found_for_caller(lookup_t *lk, const sg_sandbox_rec_t *foreign)
{
    sg_request_t *r = lk->r;
    if (!lk->uncertain)
        sg_negcache_put(r->tenant.base, r->tenant.len, lk->id, lk->started_ms, r->config->lifecycle.negative_ttl_ms);
    finish_lookup(lk, NULL, foreign);
}

static void on_probe(void *data, const char *err, int status, h2o_iovec_t body)
{
    sg_backend_call_t **slot = data;
    lookup_t *lk = *(lookup_t **)(slot + 1);
    *slot = NULL;
    lk->pending--;
    if (err != NULL || (status != 200 && status != 404))
        lk->uncertain = 1;
    if (err == NULL && status == 200) {
        /* parsed whoever owns it, so that a foreign id costs what an unknown one does */
        json_t *sb = json_loadb(body.base, body.len, 0, NULL);
        sg_sandbox_rec_t rec;
        size_t idx = (size_t)(slot - lk->calls) / 2;
        if (sb != NULL &&
            sg_sandbox_rec_from_json(lk->r->config->lifecycle.tenant_tag, lk->r->config->backends[idx].name, sb, &rec) == 0 &&
            strcmp(rec.id, lk->id) == 0 && rec.tenant[0] != '\0' && !lk->have_found) {
            lk->found = rec;
            lk->have_found = 1;
        }
        json_decref(sb);
    }
    /* every backend answers before the caller is told "not found": the time does not depend on who owns the id */
    int mine = lk->have_found && !lk->have_known && is_callers(lk->r, &lk->found);
    if (lk->pending != 0 && !mine)
        return;
    if (lk->have_known) {
        not_found_for_caller(lk, &lk->known);
    } else if (lk->have_found) {
        cache_put(&lk->found, lk->started_ms);
        /* adopt: the next lookups are answered by the store */
        sg_store_put_sandbox(lk->r->thread->store, &lk->found, ignore_result, NULL);
        if (mine)
            finish_lookup(lk, NULL, &lk->found);
        else
            not_found_for_caller(lk, &lk->found);
    } else {
        not_found_for_caller(lk, NULL);
    }
}

/*
 * Asks every healthy backend about the id: for ids the store does not know (adoption of sandboxes created before
 * the gateway or after a store loss), and, for the same cost, for ids the store knows as another tenant's.
 */
static void probe_backends(lookup_t *lk)
{
    sg_config_t *conf = lk->r->config;
    if ((lk->probe_slot = probe_acquire(lk->r->tenant, conf->lifecycle.max_probes)) < 0) {
        finish_lookup(lk, sg_ownership_err_busy, NULL);
        return;
    }
    char path[SG_STORE_ID_MAX + 32];
    int n = snprintf(path, sizeof(path), "/v1/sandboxes/%s", lk->id);
    /* slots of two pointers: the call, then the lookup it belongs to */
    lk->calls = h2o_mem_alloc_pool(&lk->r->req->pool, sizeof(void *) * 2 * (conf->num_backends + 1));
    memset(lk->calls, 0, sizeof(void *) * 2 * (conf->num_backends + 1));
    lk->num_calls = conf->num_backends * 2;
    for (size_t i = 0; i != conf->num_backends; ++i) {
        sg_backend_call_t **slot = lk->calls + 2 * i;
        *(lookup_t **)(slot + 1) = lk;
        if (!sg_backend_is_up(conf->backends[i].rt)) {
            lk->uncertain = 1; /* it may hold the id: "not found" is not remembered */
            continue;
        }
        lk->pending++;
        *slot = sg_backend_call(&lk->r->thread->loop, conf, conf->backends + i, "GET", h2o_iovec_init(path, (size_t)n),
                                h2o_iovec_init(NULL, 0), lk->r->request_id, 1024 * 1024, on_probe, slot);
    }
    if (lk->pending == 0) /* nobody could be asked: nothing to remember */
        finish_lookup(lk, NULL, lk->have_known ? &lk->known : NULL);
}

static void on_store_sandbox(void *data, const char *err, const sg_sandbox_rec_t *rec)
{
    lookup_t *lk = data;
    sg_sandbox_rec_t cached;
    lk->op = NULL;
    if (lk->any_tenant) {
        if (err == NULL && rec != NULL)
            cache_put(rec, lk->started_ms);
        if (err != NULL && cache_get(lk->id, &cached, 1))
            finish_lookup(lk, NULL, &cached);
        else
            finish_lookup(lk, err, rec);
        return;
    }
    if (err != NULL) {
        /* the caller's own sandboxes seen before keep working; anything else gets the store's error, as an
         * unknown id does */
        if (cache_get(lk->id, &cached, 1) && is_callers(lk->r, &cached))
            finish_lookup(lk, NULL, &cached);
        else
            finish_lookup(lk, err, NULL);
    } else if (rec == NULL) {
        probe_backends(lk);
    } else {
        cache_put(rec, lk->started_ms);
        if (is_callers(lk->r, rec)) {
            finish_lookup(lk, NULL, rec);
        } else {
            lk->known = *rec;
            lk->have_known = 1;
            probe_backends(lk);
        }
    }
}

static void start_lookup(sg_request_t *r, const char *id, int any_tenant, sg_ownership_sandbox_cb cb, void *data)
{
    lookup_t *lk = h2o_mem_alloc_pool(&r->req->pool, sizeof(*lk));
    memset(lk, 0, sizeof(*lk));
    lk->r = r;
    snprintf(lk->id, sizeof(lk->id), "%s", id);
    lk->cb = cb;
    lk->data = data;
    lk->started_ms = now_ms();
    lk->probe_slot = -1;
    lk->any_tenant = any_tenant;
    sg_request_on_dispose(r, lookup_dispose, lk);
    lk->op = sg_store_get_sandbox(r->thread->store, id, on_store_sandbox, lk);
}

void sg_ownership_sandbox(sg_request_t *r, const char *id, sg_ownership_sandbox_cb cb, void *data)
{
    sg_sandbox_rec_t cached;
    if (sg_negcache_hit(r->tenant.base, r->tenant.len, id)) {
        cb(r, data, NULL, NULL);
        return;
    }
    /* only the caller's own records are answered from the cache: another tenant's takes the unknown id's path */
    if (cache_get(id, &cached, 0) && is_callers(r, &cached)) {
        cb(r, data, NULL, &cached);
        return;
    }
    start_lookup(r, id, 0, cb, data);
}

void sg_ownership_sandbox_any(sg_request_t *r, const char *id, sg_ownership_sandbox_cb cb, void *data)
{
    sg_sandbox_rec_t cached;
    if (cache_get(id, &cached, 0)) {
        cb(r, data, NULL, &cached);
        return;
    }
    start_lookup(r, id, 1, cb, data);
}

/* ---- snapshot lookup ---- */

typedef struct st_snap_lookup_t {
    sg_request_t *r;
    char id[SG_STORE_ID_MAX + 1];
    sg_ownership_snapshot_cb cb;
    void *data;
    sg_store_op_t *op;
    sg_backend_call_t *call;
    size_t next_backend; /* unknown snapshots: backends are asked one after the other */
    sg_snapshot_rec_t found;
} snap_lookup_t;

static void snap_dispose(void *p)
{
    snap_lookup_t *lk = p;
    if (lk->op != NULL)
        sg_store_cancel(lk->op);
    lk->op = NULL;
    if (lk->call != NULL)
        sg_backend_call_cancel(lk->call);
    lk->call = NULL;
}

static void probe_next_snapshot_backend(snap_lookup_t *lk);

/* a snapshot belongs to the tenant of the sandbox it was taken from */
static void on_snapshot_sandbox_owner(sg_request_t *r, void *data, const char *err, const sg_sandbox_rec_t *rec)
{
    snap_lookup_t *lk = data;
    if (err != NULL || rec == NULL) {
        lk->cb(r, lk->data, err, NULL);
        return;
    }
    snprintf(lk->found.tenant, sizeof(lk->found.tenant), "%s", rec->tenant);
    sg_store_put_snapshot(r->thread->store, &lk->found, ignore_result, NULL);
    lk->cb(r, lk->data, NULL, &lk->found);
}

static void on_snapshot_probe(void *data, const char *err, int status, h2o_iovec_t body)
{
    snap_lookup_t *lk = data;
    lk->call = NULL;
    if (err == NULL && status == 200) {
        json_t *snap = json_loadb(body.base, body.len, 0, NULL);
        json_t *sandbox = json_object_get(snap, "sandboxId");
        json_t *snap_id = json_object_get(snap, "id");
        char tenant[SG_STORE_ID_MAX + 1];
        if (json_is_string(snap_id) && strcmp(json_string_value(snap_id), lk->id) == 0 &&
            sg_snapshot_tag_owner(lk->r->config->lifecycle.tenant_tag, snap, tenant)) {
            /* the tenant tag the gateway put in its name decides (snapshot_tag.h); the source sandbox may be gone */
            snprintf(lk->found.id, sizeof(lk->found.id), "%s", lk->id);
            snprintf(lk->found.tenant, sizeof(lk->found.tenant), "%s", tenant);
            snprintf(lk->found.backend, sizeof(lk->found.backend), "%s", lk->r->config->backends[lk->next_backend - 1].name);
            json_decref(snap);
            sg_store_put_snapshot(lk->r->thread->store, &lk->found, ignore_result, NULL);
            lk->cb(lk->r, lk->data, NULL, &lk->found);
            return;
        }
        if (json_is_string(sandbox) && sg_router_valid_id(json_string_value(sandbox), json_string_length(sandbox))) {
            char sandbox_id[SG_STORE_ID_MAX + 1];
            snprintf(sandbox_id, sizeof(sandbox_id), "%s", json_string_value(sandbox));
            snprintf(lk->found.id, sizeof(lk->found.id), "%s", lk->id);
            snprintf(lk->found.backend, sizeof(lk->found.backend), "%s", lk->r->config->backends[lk->next_backend - 1].name);
            json_decref(snap);
            sg_ownership_sandbox(lk->r, sandbox_id, on_snapshot_sandbox_owner, lk);
            return;
        }
        json_decref(snap);
    }
    probe_next_snapshot_backend(lk);
}

static void probe_next_snapshot_backend(snap_lookup_t *lk)
{
    sg_config_t *conf = lk->r->config;
    while (lk->next_backend < conf->num_backends && !sg_backend_is_up(conf->backends[lk->next_backend].rt))
        ++lk->next_backend;
    if (lk->next_backend == conf->num_backends) {
        lk->cb(lk->r, lk->data, NULL, NULL);
        return;
    }
    char path[SG_STORE_ID_MAX + 32];
    int n = snprintf(path, sizeof(path), "/v1/snapshots/%s", lk->id);
    sg_backend_conf_t *be = conf->backends + lk->next_backend++;
    lk->call = sg_backend_call(&lk->r->thread->loop, conf, be, "GET", h2o_iovec_init(path, (size_t)n), h2o_iovec_init(NULL, 0),
                               lk->r->request_id, 1024 * 1024, on_snapshot_probe, lk);
}

static void on_store_snapshot(void *data, const char *err, const sg_snapshot_rec_t *rec)
{
    snap_lookup_t *lk = data;
    lk->op = NULL;
    if (err == NULL && rec == NULL) {
        /* unknown to the store (taken before the gateway, or store lost): ask the backends once */
        probe_next_snapshot_backend(lk);
        return;
    }
    lk->cb(lk->r, lk->data, err, rec);
}

void sg_ownership_snapshot(sg_request_t *r, const char *id, sg_ownership_snapshot_cb cb, void *data)
{
    snap_lookup_t *lk = h2o_mem_alloc_pool(&r->req->pool, sizeof(*lk));
    memset(lk, 0, sizeof(*lk));
    lk->r = r;
    snprintf(lk->id, sizeof(lk->id), "%s", id);
    lk->cb = cb;
    lk->data = data;
    sg_request_on_dispose(r, snap_dispose, lk);
    lk->op = sg_store_get_snapshot(r->thread->store, id, on_store_snapshot, lk);
}

/* ---- writes ---- */

typedef struct st_write_t {
    sg_store_op_t *op;
    sg_store_done_cb cb;
    void *data;
} write_t;

static void write_dispose(void *p)
{
    write_t *w = p;
    if (w->op != NULL)
        sg_store_cancel(w->op);
    w->op = NULL;
}

static void on_written(void *p, const char *err)
{
    write_t *w = p;
    w->op = NULL;
    if (w->cb != NULL)
        w->cb(w->data, err);
}

static write_t *new_write(sg_request_t *r, sg_store_done_cb cb, void *data)
{
    write_t *w = h2o_mem_alloc_pool(&r->req->pool, sizeof(*w));
    w->op = NULL;
    w->cb = cb;
    w->data = data;
    sg_request_on_dispose(r, write_dispose, w);
    return w;
}

void sg_ownership_put_sandbox(sg_request_t *r, const sg_sandbox_rec_t *rec, sg_store_done_cb cb, void *data)
{
    cache_put(rec, now_ms());
    sg_negcache_forget(rec->id, rec->tenant);
    write_t *w = new_write(r, cb, data);
    w->op = sg_store_put_sandbox(r->thread->store, rec, on_written, w);
}

void sg_ownership_put_snapshot(sg_request_t *r, const sg_snapshot_rec_t *rec, sg_store_done_cb cb, void *data)
{
    write_t *w = new_write(r, cb, data);
    w->op = sg_store_put_snapshot(r->thread->store, rec, on_written, w);
}

void sg_ownership_forget_sandbox(sg_request_t *r, const char *id)
{
    cache_forget(id);
    /* not tied to the request: the delete must happen even if the client is gone */
    sg_store_del_sandbox(r->thread->store, id, ignore_result, NULL);
}

void sg_ownership_forget_snapshot(sg_request_t *r, const char *id)
{
    sg_store_del_snapshot(r->thread->store, id, ignore_result, NULL);
}
