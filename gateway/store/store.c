/*
 * The dispatch layer of the state store: argument validation and copies, the
 * life cycle of operations (completion, deferred completion, cancellation), and
 * the choice of backend (memory or Redis) made once by sg_store_global_init: every
 * call goes through that backend's table of operations (sg_store_backend_t).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "util/log.h"
#include "store/store_impl.h"

const char sg_store_err_unavailable[] = "state store unavailable";
const char sg_store_err_invalid[] = "invalid argument to the state store";

#define PREFIX_MAX 256

sg_store_conf_t sg_store__conf;
static int initialized;
static const sg_store_backend_t *backend; /* chosen by sg_store_global_init */
static char *events_channel;
static void (*sandbox_hook)(const char *id, const char *tenant);
static void (*error_hook)(const char *op);

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

int sg_store_global_init(const sg_store_conf_t *conf)
{
    assert(!initialized);
    sg_store__conf = *conf;
    backend = conf->use_redis ? &sg_store_redis_backend : &sg_store_memory_backend;
    sg_store__conf.host = dup_or_null(conf->host);
    sg_store__conf.unix_path = dup_or_null(conf->unix_path);
    sg_store__conf.password = dup_or_null(conf->password);
    sg_store__conf.prefix = strdup(conf->prefix != NULL ? conf->prefix : "sandgate:");
    if (sg_store__conf.connect_timeout_ms == 0)
        sg_store__conf.connect_timeout_ms = 1000;
    if (sg_store__conf.command_timeout_ms == 0)
        sg_store__conf.command_timeout_ms = 500;
    initialized = 1;
    if (asprintf(&events_channel, "%sevents", sg_store__conf.prefix) < 0)
        events_channel = NULL;
    if (strlen(sg_store__conf.prefix) > PREFIX_MAX) {
        sg_log(SG_LOG_ERROR, "store: redis key prefix longer than %d bytes", PREFIX_MAX);
        goto Error;
    }
    if (backend->global_init() != 0) {
        backend = NULL;
        goto Error;
    }
    return 0;
Error:
    sg_store_global_dispose();
    return -1;
}

void sg_store_global_dispose(void)
{
    if (!initialized)
        return;
    if (backend != NULL)
        backend->global_dispose();
    backend = NULL;
    free(sg_store__conf.host);
    free(sg_store__conf.unix_path);
    free(sg_store__conf.password);
    free(sg_store__conf.prefix);
    free(events_channel);
    events_channel = NULL;
    memset(&sg_store__conf, 0, sizeof(sg_store__conf));
    initialized = 0;
}

sg_store_t *sg_store_open(sg_loop_t *loop)
{
    assert(initialized);
    sg_store_t *s = calloc(1, sizeof(*s));
    s->loop = loop;
    h2o_linklist_init_anchor(&s->ops);
    s->impl = backend->open(s);
    return s;
}

void sg_store_close(sg_store_t *s)
{
    if (s->txn != NULL) {
        sg_store_close(s->txn);
        s->txn = NULL;
    }
    s->closing = 1;
    backend->close(s);
    /* what is left waits for a deferred completion (callbacks may add more: they end here too) */
    while (!h2o_linklist_is_empty(&s->ops))
        sg_store__finish(H2O_STRUCT_FROM_MEMBER(sg_store_op_t, link, s->ops.next), sg_store_err_unavailable);
    free(s);
}

int sg_store_is_down(sg_store_t *s)
{
    return backend->is_down(s);
}

int sg_store_is_available(sg_store_t *s)
{
    return backend->is_available(s);
}

const char *sg_store_events_channel(void)
{
    return events_channel != NULL ? events_channel : "sandgate:events";
}

void sg_store_set_sandbox_hook(void (*hook)(const char *id, const char *tenant))
{
    sandbox_hook = hook;
}

void sg_store__sandbox_changed(const char *id, const char *tenant)
{
    if (sandbox_hook != NULL)
        sandbox_hook(id, tenant);
}

int sg_store__valid_id(const char *s)
{
    size_t i;
    for (i = 0; s[i] != '\0'; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (i == SG_STORE_ID_MAX || c <= ' ' || c == 0x7f)
            return 0;
    }
    return i != 0;
}

/* a NUL-terminated valid id within a fixed-size record field */
static int valid_field(const char (*field)[SG_STORE_ID_MAX + 1])
{
    return memchr(*field, '\0', sizeof(*field)) != NULL && sg_store__valid_id(*field);
}

static void free_results(sg_store_op_t *op)
{
    free(op->sandboxes);
    free(op->snapshots);
    free(op->json);
    free(op->ids);
    free(op->counters);
    free(op->claim_key);
    op->claim_key = NULL;
    op->counters = NULL;
    op->sandboxes = NULL;
    op->snapshots = NULL;
    op->json = NULL;
    op->ids = NULL;
    op->n = op->cap = op->num_ids = 0;
}

/* marks op done (its callback will not run any more) and detaches it from its store and timer */
static void retire(sg_store_op_t *op)
{
    assert(!op->done);
    op->done = 1;
    h2o_linklist_unlink(&op->link);
    if (h2o_timeout_is_linked(&op->timer))
        h2o_timeout_unlink(&op->timer);
}

/* frees the results of a done op, and the op itself unless the backend still references it */
static void release(sg_store_op_t *op)
{
    free_results(op);
    if (op->refs == 0)
        free(op);
}

void sg_store__finish(sg_store_op_t *op, const char *err)
{
    retire(op);
    int ok = err == NULL;
    if (!ok && error_hook != NULL)
        error_hook(sg_store__req_name(op->req));
    if (op->cb == NULL) /* fire and forget */
        goto Exit;
    switch (op->req) {
    case SG_STORE_GET_SANDBOX:
        ((sg_store_sandbox_cb)op->cb)(op->data, err, ok && op->n != 0 ? op->sandboxes : NULL);
        break;
    case SG_STORE_LIST_SANDBOXES:
        ((sg_store_sandboxes_cb)op->cb)(op->data, err, ok ? op->sandboxes : NULL, ok ? op->n : 0);
        break;
    case SG_STORE_GET_SNAPSHOT:
        ((sg_store_snapshot_cb)op->cb)(op->data, err, ok && op->n != 0 ? op->snapshots : NULL);
        break;
    case SG_STORE_LIST_SNAPSHOTS:
        ((sg_store_snapshots_cb)op->cb)(op->data, err, ok ? op->snapshots : NULL, ok ? op->n : 0);
        break;
    case SG_STORE_GET_KEY:
        ((sg_store_key_cb)op->cb)(op->data, err, ok && op->found ? &op->key : NULL);
        break;
    case SG_STORE_GET_TENANT:
        ((sg_store_string_cb)op->cb)(op->data, err, ok ? op->json : NULL);
        break;
    case SG_STORE_COUNTERS:
        ((sg_store_counters_cb)op->cb)(op->data, err, op->counters, op->num_counters);
        break;
    case SG_STORE_CLAIM:
        ((sg_store_claim_cb)op->cb)(op->data, err, ok && op->claimed, ok ? op->claim_remaining_ms : 0);
        break;
    case SG_STORE_QUOTA_RESERVE:
    case SG_STORE_QUOTA_USAGE:
        ((sg_store_quota_cb)op->cb)(op->data, err, ok ? op->verdict : SG_QUOTA_OK, ok ? &op->usage : NULL);
        break;
    case SG_STORE_QUOTA_RELEASE:
    case SG_STORE_QUOTA_FORGET:
    case SG_STORE_PUT_SANDBOX:
    case SG_STORE_DEL_SANDBOX:
    case SG_STORE_PUT_SNAPSHOT:
    case SG_STORE_DEL_SNAPSHOT:
    case SG_STORE_PUT_KEY:
    case SG_STORE_DEL_KEY:
    case SG_STORE_PUT_TENANT:
        ((sg_store_done_cb)op->cb)(op->data, err);
        break;
    }
Exit:
    release(op);
}

static void on_finish_later(h2o_timeout_entry_t *entry)
{
    sg_store_op_t *op = H2O_STRUCT_FROM_MEMBER(sg_store_op_t, timer, entry);
    sg_store__finish(op, op->err);
}

void sg_store__finish_later(sg_store_op_t *op, const char *err)
{
    op->err = err;
    op->timer.cb = on_finish_later;
    sg_loop_set_timer(op->store->loop, &op->timer, 0);
}

int sg_store__unref(sg_store_op_t *op)
{
    assert(op->refs != 0);
    --op->refs;
    if (!op->done)
        return 0;
    if (op->refs == 0)
        free(op);
    return 1;
}

void sg_store_cancel(sg_store_op_t *op)
{
    retire(op);
    release(op);
}

/* grows a result array of op by one zeroed element */
static void *grow(sg_store_op_t *op, void **array, size_t elem_size)
{
    if (op->n == op->cap) {
        op->cap = op->cap != 0 ? op->cap * 2 : 4;
        if ((*array = realloc(*array, op->cap * elem_size)) == NULL)
            abort();
    }
    void *e = (char *)*array + op->n++ * elem_size;
    memset(e, 0, elem_size);
    return e;
}

sg_sandbox_rec_t *sg_store__add_sandbox(sg_store_op_t *op)
{
    return grow(op, (void **)&op->sandboxes, sizeof(*op->sandboxes));
}

sg_snapshot_rec_t *sg_store__add_snapshot(sg_store_op_t *op)
{
    return grow(op, (void **)&op->snapshots, sizeof(*op->snapshots));
}

static sg_store_op_t *new_op(sg_store_t *s, sg_store_req_t req, void (*cb)(void), void *data)
{
    sg_store_op_t *op = calloc(1, sizeof(*op));
    if (op == NULL)
        abort();
    op->store = s;
    op->req = req;
    op->cb = cb;
    op->data = data;
    h2o_linklist_insert(&s->ops, &op->link);
    return op;
}

/* hands a new op to the backend, or completes it later with an error */
static sg_store_op_t *submit(sg_store_op_t *op, int valid)
{
    if (!valid) {
        sg_store__finish_later(op, sg_store_err_invalid);
    } else if (op->store->closing) {
        sg_store__finish_later(op, sg_store_err_unavailable);
    } else {
        backend->start(op);
    }
    return op;
}

/* copies id into op->id when valid; returns validity */
static int take_id(sg_store_op_t *op, const char *id)
{
    if (id == NULL || !sg_store__valid_id(id))
        return 0;
    strcpy(op->id, id);
    return 1;
}

#define CB(f) ((void (*)(void))(f))

sg_store_op_t *sg_store_get_sandbox(sg_store_t *s, const char *id, sg_store_sandbox_cb cb, void *data)
{
    sg_store_op_t *op = new_op(s, SG_STORE_GET_SANDBOX, CB(cb), data);
    return submit(op, take_id(op, id));
}

sg_store_op_t *sg_store_put_sandbox(sg_store_t *s, const sg_sandbox_rec_t *rec, sg_store_done_cb cb, void *data)
{
    sg_store_op_t *op = new_op(s, SG_STORE_PUT_SANDBOX, CB(cb), data);
    int valid = valid_field(&rec->id) && valid_field(&rec->tenant) && valid_field(&rec->backend) && rec->expires_at_ms >= 0;
    if (valid) {
        op->in.sandbox = *rec;
        strcpy(op->id, rec->id);
    }
    return submit(op, valid);
}

sg_store_op_t *sg_store_del_sandbox(sg_store_t *s, const char *id, sg_store_done_cb cb, void *data)
{
    sg_store_op_t *op = new_op(s, SG_STORE_DEL_SANDBOX, CB(cb), data);
    return submit(op, take_id(op, id));
}

void sg_store_purge_sandbox(sg_store_t *s, const char *id, const char *tenant)
{
    if (id == NULL || !sg_store__valid_id(id) || tenant == NULL || !sg_store__valid_id(tenant) || s->closing)
        return;
    backend->purge_sandbox(s, id, tenant);
}

sg_store_op_t *sg_store_list_sandboxes(sg_store_t *s, const char *tenant, sg_store_sandboxes_cb cb, void *data)
{
    sg_store_op_t *op = new_op(s, SG_STORE_LIST_SANDBOXES, CB(cb), data);
    return submit(op, tenant == NULL || take_id(op, tenant));
}

sg_store_op_t *sg_store_get_snapshot(sg_store_t *s, const char *id, sg_store_snapshot_cb cb, void *data)
{
    sg_store_op_t *op = new_op(s, SG_STORE_GET_SNAPSHOT, CB(cb), data);
    return submit(op, take_id(op, id));
}

sg_store_op_t *sg_store_put_snapshot(sg_store_t *s, const sg_snapshot_rec_t *rec, sg_store_done_cb cb, void *data)
{
    sg_store_op_t *op = new_op(s, SG_STORE_PUT_SNAPSHOT, CB(cb), data);
    int valid = valid_field(&rec->id) && valid_field(&rec->tenant) && valid_field(&rec->backend);
    if (valid) {
        op->in.snapshot = *rec;
        strcpy(op->id, rec->id);
    }
    return submit(op, valid);
}

sg_store_op_t *sg_store_del_snapshot(sg_store_t *s, const char *id, sg_store_done_cb cb, void *data)
{
    sg_store_op_t *op = new_op(s, SG_STORE_DEL_SNAPSHOT, CB(cb), data);
    return submit(op, take_id(op, id));
}

sg_store_op_t *sg_store_list_snapshots(sg_store_t *s, const char *tenant, sg_store_snapshots_cb cb, void *data)
{
    sg_store_op_t *op = new_op(s, SG_STORE_LIST_SNAPSHOTS, CB(cb), data);
    return submit(op, tenant == NULL || take_id(op, tenant));
}

sg_store_op_t *sg_store_get_key(sg_store_t *s, const unsigned char hash[32], sg_store_key_cb cb, void *data)
{
    sg_store_op_t *op = new_op(s, SG_STORE_GET_KEY, CB(cb), data);
    memcpy(op->key_hash, hash, sizeof(op->key_hash));
    return submit(op, 1);
}

sg_store_op_t *sg_store_put_key(sg_store_t *s, const sg_key_rec_t *rec, sg_store_done_cb cb, void *data)
{
    sg_store_op_t *op = new_op(s, SG_STORE_PUT_KEY, CB(cb), data);
    int valid = valid_field(&rec->tenant) && rec->expires_at_ms >= 0;
    if (valid) {
        op->in.key = *rec;
        op->in.key.revoked = rec->revoked != 0;
        memcpy(op->key_hash, rec->hash, sizeof(op->key_hash));
    }
    return submit(op, valid);
}

sg_store_op_t *sg_store_del_key(sg_store_t *s, const unsigned char hash[32], sg_store_done_cb cb, void *data)
{
    sg_store_op_t *op = new_op(s, SG_STORE_DEL_KEY, CB(cb), data);
    memcpy(op->key_hash, hash, sizeof(op->key_hash));
    return submit(op, 1);
}

sg_store_op_t *sg_store_get_tenant(sg_store_t *s, const char *id, sg_store_string_cb cb, void *data)
{
    sg_store_op_t *op = new_op(s, SG_STORE_GET_TENANT, CB(cb), data);
    return submit(op, take_id(op, id));
}

/* 1 when json is a JSON object */
static int is_json_object(const char *json)
{
    json_t *v = json != NULL ? json_loads(json, 0, NULL) : NULL;
    int ok = v != NULL && json_is_object(v);
    json_decref(v);
    return ok;
}

sg_store_op_t *sg_store_put_tenant(sg_store_t *s, const char *id, const char *json, sg_store_done_cb cb, void *data)
{
    sg_store_op_t *op = new_op(s, SG_STORE_PUT_TENANT, CB(cb), data);
    int valid = take_id(op, id) && is_json_object(json);
    if (valid)
        op->json = strdup(json);
    return submit(op, valid);
}

/* a counter key: 1..SG_STORE_COUNTER_KEY_MAX bytes, no whitespace or control characters */
static int valid_counter_key(const char *key, size_t len)
{
    int valid = len != 0 && len <= SG_STORE_COUNTER_KEY_MAX;
    for (size_t j = 0; valid && j != len; ++j)
        valid = (unsigned char)key[j] > ' ' && key[j] != 0x7f;
    return valid;
}

/* copies the counters into one block (entries, then the full keys) */
sg_store_op_t *sg_store_counters(sg_store_t *s, const char *ns, const sg_store_counter_t *counters, size_t n,
                                 sg_store_counters_cb cb, void *data)
{
    sg_store_op_t *op = new_op(s, SG_STORE_COUNTERS, CB(cb), data);
    size_t ns_len = strlen(ns), bytes = sizeof(*counters) * n;
    int valid = n != 0 && n <= SG_STORE_COUNTERS_MAX && ns_len <= SG_STORE_ID_MAX;
    for (size_t i = 0; valid && i != n; ++i) {
        valid = valid_counter_key(counters[i].key, counters[i].key_len);
        bytes += ns_len + counters[i].key_len + 1;
    }
    if (valid) {
        if ((op->counters = malloc(bytes)) == NULL)
            abort();
        char *p = (char *)(op->counters + n);
        for (size_t i = 0; i != n; ++i) {
            op->counters[i] = counters[i];
            op->counters[i].key = p;
            op->counters[i].key_len = ns_len + counters[i].key_len;
            op->counters[i].value = 0;
            memcpy(p, ns, ns_len);
            memcpy(p + ns_len, counters[i].key, counters[i].key_len);
            p += ns_len + counters[i].key_len;
            *p++ = '\0';
        }
        op->num_counters = n;
    }
    return submit(op, valid);
}

sg_store_op_t *sg_store_claim(sg_store_t *s, const char *ns, const char *key, uint64_t interval_ms, const char *holder,
                              sg_store_claim_cb cb, void *data)
{
    sg_store_op_t *op = new_op(s, SG_STORE_CLAIM, CB(cb), data);
    size_t ns_len = strlen(ns), key_len = strlen(key);
    int valid = ns_len <= SG_STORE_ID_MAX && valid_counter_key(key, key_len) && interval_ms != 0 && holder != NULL &&
                sg_store__valid_id(holder);
    if (valid) {
        if ((op->claim_key = malloc(ns_len + key_len + 1)) == NULL)
            abort();
        memcpy(op->claim_key, ns, ns_len);
        memcpy(op->claim_key + ns_len, key, key_len + 1);
        strcpy(op->claim_holder, holder);
        op->claim_ms = interval_ms;
    }
    return submit(op, valid);
}

void sg_store_set_error_hook(void (*hook)(const char *op))
{
    error_hook = hook;
}

const char *sg_store__req_name(sg_store_req_t req)
{
    static const char *const names[] = {
        [SG_STORE_GET_SANDBOX] = "get_sandbox",
        [SG_STORE_PUT_SANDBOX] = "put_sandbox",
        [SG_STORE_DEL_SANDBOX] = "del_sandbox",
        [SG_STORE_LIST_SANDBOXES] = "list_sandboxes",
        [SG_STORE_GET_SNAPSHOT] = "get_snapshot",
        [SG_STORE_PUT_SNAPSHOT] = "put_snapshot",
        [SG_STORE_DEL_SNAPSHOT] = "del_snapshot",
        [SG_STORE_LIST_SNAPSHOTS] = "list_snapshots",
        [SG_STORE_GET_KEY] = "get_key",
        [SG_STORE_PUT_KEY] = "put_key",
        [SG_STORE_DEL_KEY] = "del_key",
        [SG_STORE_GET_TENANT] = "get_tenant",
        [SG_STORE_PUT_TENANT] = "put_tenant",
        [SG_STORE_COUNTERS] = "counters",
        [SG_STORE_QUOTA_RESERVE] = "quota_reserve",
        [SG_STORE_QUOTA_RELEASE] = "quota_release",
        [SG_STORE_QUOTA_FORGET] = "quota_forget",
        [SG_STORE_QUOTA_USAGE] = "quota_usage",
        [SG_STORE_CLAIM] = "claim",
    };
    return (size_t)req < sizeof(names) / sizeof(names[0]) && names[req] != NULL ? names[req] : "other";
}

int sg_store_is_shared(void)
{
    return backend == &sg_store_redis_backend;
}

/* ---- quota ledger ---- */

sg_store_op_t *sg_store_quota_reserve(sg_store_t *s, const sg_quota_request_t *req, sg_store_quota_cb cb, void *data)
{
    if (backend->own_txn_connection && !s->closing) {
        if (s->txn == NULL)
            s->txn = sg_store_open(s->loop);
        s = s->txn;
    }
    sg_store_op_t *op = new_op(s, SG_STORE_QUOTA_RESERVE, CB(cb), data);
    int valid = memchr(req->tenant, '\0', sizeof(req->tenant)) != NULL && sg_store__valid_id(req->tenant) &&
                memchr(req->rid, '\0', sizeof(req->rid)) != NULL && sg_store__valid_id(req->rid) &&
                (req->kind == SG_QUOTA_KIND_SANDBOX || req->kind == SG_QUOTA_KIND_SNAPSHOT);
    if (valid)
        op->in.quota = *req;
    return submit(op, valid);
}

void sg_store_quota_release(sg_store_t *s, const char *tenant, const char *rid)
{
    if (tenant == NULL || rid == NULL || !sg_store__valid_id(tenant) || strlen(rid) > SG_QUOTA_RID_MAX || !sg_store__valid_id(rid))
        return;
    sg_store_op_t *op = new_op(s, SG_STORE_QUOTA_RELEASE, NULL, NULL);
    strcpy(op->in.quota.tenant, tenant);
    strcpy(op->in.quota.rid, rid);
    submit(op, 1);
}

void sg_store_quota_forget(sg_store_t *s, const char *tenant, sg_quota_kind_t kind, const char *id)
{
    if (tenant == NULL || !sg_store__valid_id(tenant))
        return;
    sg_store_op_t *op = new_op(s, SG_STORE_QUOTA_FORGET, NULL, NULL);
    strcpy(op->in.quota.tenant, tenant);
    op->in.quota.kind = kind;
    submit(op, take_id(op, id));
}

sg_store_op_t *sg_store_quota_usage(sg_store_t *s, const char *tenant, sg_store_quota_cb cb, void *data)
{
    sg_store_op_t *op = new_op(s, SG_STORE_QUOTA_USAGE, CB(cb), data);
    int valid = tenant != NULL && sg_store__valid_id(tenant);
    if (valid)
        strcpy(op->in.quota.tenant, tenant);
    return submit(op, valid);
}
