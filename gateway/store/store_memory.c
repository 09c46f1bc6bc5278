/*
 * The in-process backend of the state store: process-wide tables shared by every
 * loop, behind one mutex. An operation runs at once, inside the call that started
 * it (so operations of one thread apply in the order they were started); its
 * callback runs from a zero-delay timer of the caller's loop.
 *
 * Tables: sandboxes, snapshots, keys and tenant definitions by id (key hash); the
 * ids of each tenant's sandboxes and snapshots (arrays with swap-removal, each
 * entry knowing its position); the quota ledgers (store_memory_quota.c), changed
 * in the same step as the records they mirror.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "util/hashmap.h"
#include "store/store_quota_impl.h"

typedef struct st_indexed_t {
    size_t tenant_pos; /* position in its tenant_set_t */
} indexed_t;

typedef struct st_sbx_entry_t {
    indexed_t idx;
    sg_sandbox_rec_t rec;
} sbx_entry_t;

typedef struct st_snap_entry_t {
    indexed_t idx;
    sg_snapshot_rec_t rec;
} snap_entry_t;

typedef struct st_tenant_set_t {
    char tenant[SG_STORE_ID_MAX + 1];
    indexed_t **items;
    size_t n, cap;
} tenant_set_t;

typedef struct st_tenant_def_t {
    char id[SG_STORE_ID_MAX + 1];
    char *json;
} tenant_def_t;

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static sg_hashmap_t sandboxes, snapshots, keys, tenant_defs;
static sg_hashmap_t sandboxes_by_tenant, snapshots_by_tenant;

static int global_init(void)
{
    return 0;
}

/* frees every value of a map whose values own nothing else, then the map */
static void free_values(sg_hashmap_t *m)
{
    size_t iter = 0;
    void *v;
    while ((v = sg_hashmap_next(m, &iter)) != NULL)
        free(v);
    sg_hashmap_dispose(m);
}

static void global_dispose(void)
{
    sg_store__memq_dispose();
    size_t iter = 0;
    tenant_def_t *def;
    while ((def = sg_hashmap_next(&tenant_defs, &iter)) != NULL)
        free(def->json);
    free_values(&tenant_defs);
    free_values(&sandboxes);
    free_values(&snapshots);
    free_values(&keys);
    iter = 0;
    tenant_set_t *set;
    while ((set = sg_hashmap_next(&sandboxes_by_tenant, &iter)) != NULL)
        free(set->items);
    free_values(&sandboxes_by_tenant);
    iter = 0;
    while ((set = sg_hashmap_next(&snapshots_by_tenant, &iter)) != NULL)
        free(set->items);
    free_values(&snapshots_by_tenant);
    sg_store__memory_counters_dispose();
}

/* records item under tenant in the index by_tenant */
static void index_add(sg_hashmap_t *by_tenant, const char *tenant, indexed_t *item)
{
    tenant_set_t *set = sg_hashmap_get(by_tenant, tenant, strlen(tenant));
    if (set == NULL) {
        set = calloc(1, sizeof(*set));
        strcpy(set->tenant, tenant);
        sg_hashmap_set(by_tenant, set->tenant, strlen(set->tenant), set);
    }
    if (set->n == set->cap) {
        set->cap = set->cap != 0 ? set->cap * 2 : 8;
        if ((set->items = realloc(set->items, sizeof(*set->items) * set->cap)) == NULL)
            abort(); /* the index cannot be kept consistent without memory (as store.c's grow) */
    }
    item->tenant_pos = set->n;
    set->items[set->n++] = item;
}

/* removes item from tenant's set of the index by_tenant (dropping the set when it becomes empty) */
static void index_remove(sg_hashmap_t *by_tenant, const char *tenant, indexed_t *item)
{
    tenant_set_t *set = sg_hashmap_get(by_tenant, tenant, strlen(tenant));
    indexed_t *last = set->items[--set->n];
    set->items[item->tenant_pos] = last;
    last->tenant_pos = item->tenant_pos;
    if (set->n == 0) {
        sg_hashmap_remove(by_tenant, set->tenant, strlen(set->tenant));
        free(set->items);
        free(set);
    }
}

static void put_sandbox(const sg_sandbox_rec_t *rec)
{
    sbx_entry_t *e = sg_hashmap_get(&sandboxes, rec->id, strlen(rec->id));
    if (e == NULL) {
        e = calloc(1, sizeof(*e));
        e->rec = *rec;
        sg_hashmap_set(&sandboxes, e->rec.id, strlen(e->rec.id), e);
        index_add(&sandboxes_by_tenant, e->rec.tenant, &e->idx);
    } else {
        if (strcmp(e->rec.tenant, rec->tenant) != 0) {
            index_remove(&sandboxes_by_tenant, e->rec.tenant, &e->idx);
            index_add(&sandboxes_by_tenant, rec->tenant, &e->idx);
            sg_store__memq_del(e->rec.tenant, SG_QUOTA_KIND_SANDBOX, e->rec.id);
        }
        e->rec = *rec; /* the id, which the map points at, is unchanged */
    }
    e->rec.reservation[0] = '\0';
    sg_store__memq_put(rec->tenant, SG_QUOTA_KIND_SANDBOX, rec->id, rec->expires_at_ms, rec->cpu_millis, rec->memory_mb,
                       rec->reservation);
}

static void del_sandbox(const char *id)
{
    sbx_entry_t *e = sg_hashmap_remove(&sandboxes, id, strlen(id));
    if (e == NULL)
        return;
    index_remove(&sandboxes_by_tenant, e->rec.tenant, &e->idx);
    sg_store__memq_del(e->rec.tenant, SG_QUOTA_KIND_SANDBOX, e->rec.id);
    free(e);
}

static void list_sandboxes(sg_store_op_t *op)
{
    if (op->id[0] == '\0') {
        size_t iter = 0;
        sbx_entry_t *e;
        while ((e = sg_hashmap_next(&sandboxes, &iter)) != NULL)
            *sg_store__add_sandbox(op) = e->rec;
    } else {
        tenant_set_t *set = sg_hashmap_get(&sandboxes_by_tenant, op->id, strlen(op->id));
        for (size_t i = 0; set != NULL && i != set->n; ++i)
            *sg_store__add_sandbox(op) = H2O_STRUCT_FROM_MEMBER(sbx_entry_t, idx, set->items[i])->rec;
    }
}

static void put_snapshot(const sg_snapshot_rec_t *rec)
{
    snap_entry_t *e = sg_hashmap_get(&snapshots, rec->id, strlen(rec->id));
    if (e == NULL) {
        e = calloc(1, sizeof(*e));
        e->rec = *rec;
        sg_hashmap_set(&snapshots, e->rec.id, strlen(e->rec.id), e);
        index_add(&snapshots_by_tenant, e->rec.tenant, &e->idx);
    } else {
        if (strcmp(e->rec.tenant, rec->tenant) != 0) {
            index_remove(&snapshots_by_tenant, e->rec.tenant, &e->idx);
            index_add(&snapshots_by_tenant, rec->tenant, &e->idx);
            sg_store__memq_del(e->rec.tenant, SG_QUOTA_KIND_SNAPSHOT, e->rec.id);
        }
        e->rec = *rec;
    }
    e->rec.reservation[0] = '\0';
    sg_store__memq_put(rec->tenant, SG_QUOTA_KIND_SNAPSHOT, rec->id, 0, 0, 0, rec->reservation);
}

static void del_snapshot(const char *id)
{
    snap_entry_t *e = sg_hashmap_remove(&snapshots, id, strlen(id));
    if (e == NULL)
        return;
    index_remove(&snapshots_by_tenant, e->rec.tenant, &e->idx);
    sg_store__memq_del(e->rec.tenant, SG_QUOTA_KIND_SNAPSHOT, e->rec.id);
    free(e);
}

static void list_snapshots(sg_store_op_t *op)
{
    if (op->id[0] == '\0') {
        size_t iter = 0;
        snap_entry_t *e;
        while ((e = sg_hashmap_next(&snapshots, &iter)) != NULL)
            *sg_store__add_snapshot(op) = e->rec;
    } else {
        tenant_set_t *set = sg_hashmap_get(&snapshots_by_tenant, op->id, strlen(op->id));
        for (size_t i = 0; set != NULL && i != set->n; ++i)
            *sg_store__add_snapshot(op) = H2O_STRUCT_FROM_MEMBER(snap_entry_t, idx, set->items[i])->rec;
    }
}

static void put_key(const sg_key_rec_t *rec)
{
    sg_key_rec_t *e = sg_hashmap_get(&keys, rec->hash, sizeof(rec->hash));
    if (e == NULL) {
        e = malloc(sizeof(*e));
        *e = *rec;
        sg_hashmap_set(&keys, e->hash, sizeof(e->hash), e);
    } else {
        *e = *rec;
    }
}

static void put_tenant(const char *id, char *json)
{
    tenant_def_t *def = sg_hashmap_get(&tenant_defs, id, strlen(id));
    if (def == NULL) {
        def = calloc(1, sizeof(*def));
        strcpy(def->id, id);
        sg_hashmap_set(&tenant_defs, def->id, strlen(def->id), def);
    }
    free(def->json);
    def->json = json;
}

static void start(sg_store_op_t *op)
{
    if (op->req == SG_STORE_COUNTERS || op->req == SG_STORE_CLAIM) { /* a table of their own (store_memory_counter.c) */
        if (op->req == SG_STORE_COUNTERS)
            sg_store__memory_counters(op);
        else
            sg_store__memory_claim(op);
        sg_store__finish_later(op, NULL);
        return;
    }
    pthread_mutex_lock(&mutex);
    switch (op->req) {
    case SG_STORE_GET_SANDBOX: {
        sbx_entry_t *e = sg_hashmap_get(&sandboxes, op->id, strlen(op->id));
        if (e != NULL)
            *sg_store__add_sandbox(op) = e->rec;
    } break;
    case SG_STORE_PUT_SANDBOX:
        put_sandbox(&op->in.sandbox);
        sg_store__sandbox_changed(op->in.sandbox.id, op->in.sandbox.tenant);
        break;
    case SG_STORE_DEL_SANDBOX:
        del_sandbox(op->id);
        sg_store__sandbox_changed(op->id, NULL);
        break;
    case SG_STORE_LIST_SANDBOXES:
        list_sandboxes(op);
        break;
    case SG_STORE_GET_SNAPSHOT: {
        snap_entry_t *e = sg_hashmap_get(&snapshots, op->id, strlen(op->id));
        if (e != NULL)
            *sg_store__add_snapshot(op) = e->rec;
    } break;
    case SG_STORE_PUT_SNAPSHOT:
        put_snapshot(&op->in.snapshot);
        break;
    case SG_STORE_DEL_SNAPSHOT:
        del_snapshot(op->id);
        break;
    case SG_STORE_LIST_SNAPSHOTS:
        list_snapshots(op);
        break;
    case SG_STORE_GET_KEY: {
        sg_key_rec_t *e = sg_hashmap_get(&keys, op->key_hash, sizeof(op->key_hash));
        if ((op->found = e != NULL))
            op->key = *e;
    } break;
    case SG_STORE_PUT_KEY:
        put_key(&op->in.key);
        break;
    case SG_STORE_DEL_KEY:
        free(sg_hashmap_remove(&keys, op->key_hash, sizeof(op->key_hash)));
        break;
    case SG_STORE_GET_TENANT: {
        tenant_def_t *def = sg_hashmap_get(&tenant_defs, op->id, strlen(op->id));
        if (def != NULL)
            op->json = strdup(def->json);
    } break;
    case SG_STORE_PUT_TENANT:
        put_tenant(op->id, op->json);
        op->json = NULL; /* now owned by the table */
        break;
    case SG_STORE_COUNTERS:
    case SG_STORE_CLAIM:
        break;
    case SG_STORE_QUOTA_RESERVE:
    case SG_STORE_QUOTA_RELEASE:
    case SG_STORE_QUOTA_FORGET:
    case SG_STORE_QUOTA_USAGE:
        sg_store__memq_run(op);
        break;
    }
    pthread_mutex_unlock(&mutex);
    sg_store__finish_later(op, NULL);
}

static void *open_loop(sg_store_t *s)
{
    (void)s;
    return NULL;
}

static void close_loop(sg_store_t *s)
{
    (void)s;
}

static int is_available(sg_store_t *s)
{
    (void)s;
    return 1;
}

static int is_down(sg_store_t *s)
{
    (void)s;
    return 0;
}

/* an operation is applied inside the call that started it: nothing of a failed write can land late */
static void purge_sandbox(sg_store_t *s, const char *id, const char *tenant)
{
    (void)tenant;
    sg_store_del_sandbox(s, id, NULL, NULL);
}

const sg_store_backend_t sg_store_memory_backend = {
    .name = "memory",
    .global_init = global_init,
    .global_dispose = global_dispose,
    .open = open_loop,
    .close = close_loop,
    .is_available = is_available,
    .is_down = is_down,
    .start = start,
    .purge_sandbox = purge_sandbox,
};
