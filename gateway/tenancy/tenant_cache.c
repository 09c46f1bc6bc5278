#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "util/hashmap.h"
#include "util/log.h"
#include "runtime/thread.h"
#include "store/store.h"
#include "tenancy/tenant_cache.h"

#define CACHE_SIZE 1024 /* entries, direct-mapped by id */
#define NEGATIVE_TTL_MS 2000

typedef struct st_tenant_ref_t {
    sg_tenant_t def; /* must stay first: requests hold &def */
    size_t refcnt;   /* under cache_lock */
} tenant_ref_t;

typedef struct st_cache_entry_t {
    char id[SG_STORE_ID_MAX + 1];
    tenant_ref_t *ref; /* NULL: known to be undefined (or invalid) */
    int invalid;       /* the stored document did not parse */
    uint64_t until_ms;
    uint64_t refresh_at_ms;  /* refresh ahead from then on: one request per second reads the store, others hit */
    uint64_t claim_until_ms; /* a refresh was handed out until then */
} cache_entry_t;

#define REFRESH_CLAIM_MS 1000

static cache_entry_t cache[CACHE_SIZE];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct st_resolve_t {
    sg_request_t *r;
    void (*cb)(sg_request_t *r);
    sg_store_op_t *op;
} resolve_t;

static size_t slot_of(const char *id)
{
    return sg_hashmap_hash(id, strlen(id)) & (CACHE_SIZE - 1);
}

/* caller holds cache_lock */
static void unref_locked(tenant_ref_t *ref)
{
    if (ref != NULL && --ref->refcnt == 0) {
        sg_tenant_dispose(&ref->def);
        free(ref);
    }
}

static void release_def(void *p)
{
    pthread_mutex_lock(&cache_lock);
    unref_locked(p);
    pthread_mutex_unlock(&cache_lock);
}

/* the request holds a reference until it ends */
static void bind_locked(sg_request_t *r, tenant_ref_t *ref)
{
    ++ref->refcnt;
    r->tenant_def = &ref->def;
    sg_request_on_dispose(r, release_def, ref);
}

/* logged only when the store was read, not on every request the negative cache answers */
static void answer_missing(sg_request_t *r, int invalid, int from_store)
{
    if (invalid) {
        sg_request_fail(r, SG_ERR_TENANT_UNAVAILABLE,
                        "the definition of this tenant in the state store is invalid; the operator has been told");
        return;
    }
    if (from_store)
        sg_log(SG_LOG_WARN, "key-auth: a valid key names tenant '%.*s', which is not defined", (int)r->tenant.len, r->tenant.base);
    sg_request_fail(r, SG_ERR_INVALID_API_KEY, NULL);
}

static void on_document(void *data, const char *err, const char *json)
{
    resolve_t *rs = data;
    sg_request_t *r = rs->r;
    rs->op = NULL;
    if (err != NULL) {
        sg_request_fail(r, SG_ERR_STORE_UNAVAILABLE, "cannot load the tenant definition: the state store is unavailable");
        return;
    }
    char id[SG_STORE_ID_MAX + 1];
    memcpy(id, r->tenant.base, r->tenant.len);
    id[r->tenant.len] = '\0';

    tenant_ref_t *ref = NULL;
    int invalid = 0;
    if (json != NULL) {
        char msg[256];
        ref = calloc(1, sizeof(*ref));
        if (ref == NULL) {
            sg_request_fail(r, SG_ERR_TENANT_UNAVAILABLE, "out of memory");
            return;
        }
        if (sg_tenant_parse_json(json, strlen(json), id, &ref->def, msg, sizeof(msg)) != 0) {
            sg_log(SG_LOG_ERROR, "tenant '%s' in the state store is invalid: %s", id, msg);
            free(ref);
            ref = NULL;
            invalid = 1;
        }
    }
    uint64_t ttl = ref != NULL ? r->config->store.tenant_cache_ttl_ms : NEGATIVE_TTL_MS, now = sg_now_us() / 1000;
    pthread_mutex_lock(&cache_lock);
    cache_entry_t *e = cache + slot_of(id);
    unref_locked(e->ref);
    *e = (cache_entry_t){.invalid = invalid, .until_ms = now + ttl, .refresh_at_ms = now + ttl - ttl / 5};
    strcpy(e->id, id);
    if (ref != NULL) {
        if (ttl != 0) { /* the cache keeps a reference; with ttl 0 only this request holds one */
            e->ref = ref;
            ++ref->refcnt;
        }
        bind_locked(r, ref);
    }
    pthread_mutex_unlock(&cache_lock);
    if (ref == NULL) {
        answer_missing(r, invalid, 1);
        return;
    }
    rs->cb(r);
}

static void cancel_resolve(void *p)
{
    resolve_t *rs = p;
    if (rs->op != NULL) {
        sg_store_cancel(rs->op);
        rs->op = NULL;
    }
}

void sg_tenant_cache_resolve(sg_request_t *r, void (*cb)(sg_request_t *r))
{
    char id[SG_STORE_ID_MAX + 1];
    if (r->tenant.len == 0 || r->tenant.len > SG_STORE_ID_MAX) {
        answer_missing(r, 0, 0);
        return;
    }
    memcpy(id, r->tenant.base, r->tenant.len);
    id[r->tenant.len] = '\0';

    int hit = 0, invalid = 0;
    pthread_mutex_lock(&cache_lock);
    cache_entry_t *e = cache + slot_of(id);
    uint64_t now = sg_now_us() / 1000;
    if (e->until_ms > now && strcmp(e->id, id) == 0 && e->ref != NULL && now >= e->refresh_at_ms && e->claim_until_ms <= now) {
        e->claim_until_ms = now + REFRESH_CLAIM_MS; /* this request reads the store; the entry stays for the others */
    } else if (e->until_ms > now && strcmp(e->id, id) == 0) {
        hit = 1;
        invalid = e->invalid;
        if (e->ref != NULL)
            bind_locked(r, e->ref);
    }
    pthread_mutex_unlock(&cache_lock);
    if (hit) {
        if (r->tenant_def != NULL)
            cb(r);
        else
            answer_missing(r, invalid, 0);
        return;
    }
    if (r->thread->store == NULL) {
        sg_request_fail(r, SG_ERR_STORE_UNAVAILABLE, "cannot load the tenant definition: no state store");
        return;
    }
    resolve_t *rs = h2o_mem_alloc_pool(&r->req->pool, sizeof(*rs));
    *rs = (resolve_t){.r = r, .cb = cb};
    sg_request_on_dispose(r, cancel_resolve, rs);
    rs->op = sg_store_get_tenant(r->thread->store, id, on_document, rs);
}

void sg_tenant_cache_dispose(void)
{
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i != CACHE_SIZE; ++i) {
        unref_locked(cache[i].ref);
        cache[i] = (cache_entry_t){0};
    }
    pthread_mutex_unlock(&cache_lock);
}
