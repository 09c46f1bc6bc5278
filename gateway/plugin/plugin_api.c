/*
 * The function table handed to plugins (sg_plugin_api_t), and its request
 * accessors over sg_request_t. Configuration getters are in plugin_api_conf.c;
 * threads, state, store counters and metrics in plugin_api_state.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/time.h>
#include "util/log.h"
#include "plugin/pipeline.h"
#include "runtime/thread.h"
#include "store/store.h"
#include "config/tenant.h"
#include "util/router.h"
#include "plugin/plugin_api_impl.h"
#include "tenancy/lifecycle_route.h"

/* ---- request ---- */

#define R(req) ((sg_request_t *)(req))

static sg_plugin_str_t str_of(h2o_iovec_t v)
{
    return (sg_plugin_str_t){v.base != NULL ? v.base : "", v.len};
}

static sg_plugin_str_t req_method(sg_plugin_req_t *req)
{
    return str_of(R(req)->req->method);
}

static sg_plugin_str_t req_path(sg_plugin_req_t *req)
{
    return str_of(R(req)->req->path);
}

static int req_header(sg_plugin_req_t *req, const char *name, size_t name_len, sg_plugin_str_t *value)
{
    h2o_req_t *hreq = R(req)->req;
    for (size_t i = 0; i != hreq->headers.size; ++i) {
        h2o_header_t *h = hreq->headers.entries + i;
        if (h->name->len == name_len && strncasecmp(h->name->base, name, name_len) == 0) {
            *value = str_of(h->value);
            return 1;
        }
    }
    return 0;
}

static void put_header(h2o_mem_pool_t *pool, void *_vec, const char *name, size_t name_len, const char *value, size_t value_len,
                       int replace)
{
    H2O_VECTOR(h2o_header_t) *vec = _vec;
    h2o_header_t *h = NULL;
    if (replace) {
        for (size_t i = 0; i != vec->size; ++i)
            if (vec->entries[i].name->len == name_len && strncasecmp(vec->entries[i].name->base, name, name_len) == 0)
                h = vec->entries + i;
    }
    if (h == NULL) {
        h2o_vector_reserve(pool, vec, vec->size + 1);
        h = vec->entries + vec->size++;
        h->name = h2o_mem_alloc_pool(pool, sizeof(h2o_iovec_t));
        *h->name = h2o_strdup(pool, name, name_len);
        h2o_strtolower(h->name->base, h->name->len);
        h->orig_name = NULL;
    }
    h->value = h2o_strdup(pool, value, value_len);
}

static void req_set_upstream_header(sg_plugin_req_t *req, const char *name, size_t name_len, const char *value, size_t value_len)
{
    put_header(&R(req)->req->pool, &R(req)->upstream_headers, name, name_len, value, value_len, 1);
}

static void res_add_header(sg_plugin_req_t *req, const char *name, size_t name_len, const char *value, size_t value_len)
{
    put_header(&R(req)->req->pool, &R(req)->response_headers, name, name_len, value, value_len, 0);
}

/* replace semantics up to the client: the upstream's (or the gateway's) values of name are dropped at the
 * response-headers phase (pipeline.c), and a value added earlier by a plugin is replaced here */
static void res_set_header(sg_plugin_req_t *req, const char *name, size_t name_len, const char *value, size_t value_len)
{
    sg_request_t *r = R(req);
    for (size_t i = 0; i != r->response_headers.size; ++i) {
        h2o_header_t *h = r->response_headers.entries + i;
        if (h->name->len == name_len && strncasecmp(h->name->base, name, name_len) == 0) {
            memmove(h, h + 1, sizeof(*h) * (r->response_headers.size - i - 1));
            --r->response_headers.size;
            --i;
        }
    }
    put_header(&r->req->pool, &r->response_headers, name, name_len, value, value_len, 0);
    for (size_t i = 0; i != r->replace_headers.size; ++i)
        if (r->replace_headers.entries[i].len == name_len && strncasecmp(r->replace_headers.entries[i].base, name, name_len) == 0)
            return;
    h2o_vector_reserve(&r->req->pool, &r->replace_headers, r->replace_headers.size + 1);
    h2o_iovec_t v = h2o_strdup(&r->req->pool, name, name_len);
    h2o_strtolower(v.base, v.len);
    r->replace_headers.entries[r->replace_headers.size++] = v;
}

static void req_set_request_id(sg_plugin_req_t *req, const char *id, size_t len)
{
    R(req)->request_id = h2o_strdup(&R(req)->req->pool, id, len);
}

static void respond_error(sg_plugin_req_t *req, int status, const char *code, const char *message)
{
    sg_request_error(R(req), status, code, message);
}

static void *req_alloc(sg_plugin_req_t *req, size_t size)
{
    void *p = h2o_mem_alloc_pool(&R(req)->req->pool, size);
    memset(p, 0, size);
    return p;
}

/* a dispose callback runs with its plugin current (req_thread_state, shared_state) */
typedef struct st_plugin_disposer_t {
    sg_plugin_dispose_cb cb;
    void *data;
    const sg_plugin_t *plugin;
} plugin_disposer_t;

static void on_dispose_trampoline(void *data)
{
    plugin_disposer_t *d = data;
    const sg_plugin_t *prev = sg_plugin_enter(d->plugin);
    d->cb(d->data);
    sg_plugin_enter(prev);
}

static void on_dispose(sg_plugin_req_t *req, sg_plugin_dispose_cb cb, void *data)
{
    const sg_plugin_t *p = sg_plugin_current();
    if (p == NULL) {
        sg_request_on_dispose(R(req), cb, data);
        return;
    }
    plugin_disposer_t *d = h2o_mem_alloc_pool(&R(req)->req->pool, sizeof(*d));
    *d = (plugin_disposer_t){cb, data, p};
    sg_request_on_dispose(R(req), on_dispose_trampoline, d);
}

static void resume(sg_plugin_req_t *req, sg_plugin_status_t status)
{
    sg_request_t *r = R(req);
    if (r->disposed)
        return;
    if (r->in_on_request) {
        /* resumed before on_request returned SUSPENDED: the pipeline loop takes it from here */
        r->resume_pending = 1;
        r->resume_status = status;
        return;
    }
    if (!r->suspended)
        return;
    r->suspended = 0;
    if (status == SG_PLUGIN_RESPONDED)
        return;
    ++r->next_plugin;
    sg_pipeline_run(r);
}

static const sg_plugin_req_info_t *req_info(sg_plugin_req_t *req)
{
    return &R(req)->info;
}

static void plugin_log(sg_plugin_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sg_vlog((sg_log_level_t)level, fmt, ap);
    va_end(ap);
}

static uint64_t now_ms(sg_plugin_req_t *req)
{
    return h2o_now(R(req)->thread->loop.loop);
}

static int random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n != 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* ---- request context (ABI 2) ---- */

static const char *op_name(sg_lc_op_t op)
{
    switch (op) {
    case SG_LC_CREATE_SANDBOX:
        return "create_sandbox";
    case SG_LC_LIST_SANDBOXES:
        return "list_sandboxes";
    case SG_LC_GET_SANDBOX:
        return "get_sandbox";
    case SG_LC_DELETE_SANDBOX:
        return "delete_sandbox";
    case SG_LC_PATCH_METADATA:
        return "patch_metadata";
    case SG_LC_PAUSE:
        return "pause";
    case SG_LC_RESUME:
        return "resume";
    case SG_LC_RENEW:
        return "renew";
    case SG_LC_CREATE_SNAPSHOT:
        return "create_snapshot";
    case SG_LC_ENDPOINT:
        return "endpoint";
    case SG_LC_NETWORK_POLICY:
        return "network_policy";
    case SG_LC_DIAGNOSTICS:
        return "diagnostics";
    case SG_LC_LIST_SNAPSHOTS:
        return "list_snapshots";
    case SG_LC_GET_SNAPSHOT:
        return "get_snapshot";
    case SG_LC_DELETE_SNAPSHOT:
        return "delete_snapshot";
    default:
        return "";
    }
}

static sg_plugin_str_t cstr(const char *s)
{
    return (sg_plugin_str_t){s, strlen(s)};
}

/* the route part of the context (class, operation, sandbox, port): from the path, once per request */
static void compute_route_view(sg_request_t *r)
{
    sg_plugin_req_ctx_t *v = &r->plugin_view;
    *v = (sg_plugin_req_ctx_t){cstr(sg_route_class_name(r->route.cls)), cstr(""), cstr(""), cstr(""), cstr(""), 0};
    if (r->route.cls == SG_ROUTE_PORT) {
        v->operation = cstr("port");
        if (r->route.sandbox_id != NULL && sg_router_valid_id(r->route.sandbox_id, r->route.sandbox_id_len))
            v->sandbox_id = (sg_plugin_str_t){r->route.sandbox_id, r->route.sandbox_id_len};
        v->port = r->route.port;
    } else if (r->route.cls == SG_ROUTE_LIFECYCLE) {
        h2o_req_t *req = r->req;
        sg_lc_route_t lc;
        sg_lc_route_parse(req->method.base, req->method.len, req->input.path.base, req->input.path.len, &lc); /* as lifecycle.c */
        v->operation = cstr(op_name(lc.op));
        if (sg_lc_op_is_sandbox_scoped(lc.op) && lc.id_valid)
            v->sandbox_id = (sg_plugin_str_t){lc.id, lc.id_len};
        if (lc.op == SG_LC_ENDPOINT)
            v->port = lc.port;
    }
    r->plugin_view_ready = 1;
}

static const sg_plugin_req_ctx_t *req_context(sg_plugin_req_t *req)
{
    sg_request_t *r = R(req);
    if (!r->plugin_view_ready)
        compute_route_view(r);
    r->plugin_view.tenant = str_of(r->tenant);
    r->plugin_view.key_id = str_of(r->key_id);
    if (r->sandbox_id.base != NULL && r->sandbox_id.len != 0)
        r->plugin_view.sandbox_id = str_of(r->sandbox_id);
    return &r->plugin_view;
}

static void req_set_key_id(sg_plugin_req_t *req, const char *id, size_t len)
{
    R(req)->key_id = h2o_strdup(&R(req)->req->pool, id, len);
}

/* ---- tenancy ---- */

static void sha256(const void *data, size_t len, unsigned char out[32])
{
    sg_keyhash_compute(data, len, out);
}

typedef struct st_key_lookup_t {
    sg_plugin_key_cb cb;
    void *data;
    sg_store_op_t *op;
} key_lookup_t;

static void key_lookup_dispose(void *p)
{
    key_lookup_t *kl = p;
    if (kl->op != NULL) {
        sg_store_cancel(kl->op);
        kl->op = NULL;
    }
}

static void on_store_key(void *p, const char *err, const sg_key_rec_t *rec)
{
    key_lookup_t *kl = p;
    sg_plugin_str_t none = {"", 0};
    kl->op = NULL;
    if (err != NULL) {
        kl->cb(kl->data, SG_PLUGIN_KEY_STORE_ERROR, none, 0);
    } else if (rec == NULL) {
        kl->cb(kl->data, SG_PLUGIN_KEY_UNKNOWN, none, 0);
    } else {
        sg_plugin_str_t tenant = {rec->tenant, strlen(rec->tenant)};
        struct timeval tv;
        gettimeofday(&tv, NULL);
        int64_t now_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
        sg_plugin_key_status_t st = rec->revoked                                              ? SG_PLUGIN_KEY_REVOKED
                                    : rec->expires_at_ms != 0 && rec->expires_at_ms <= now_ms ? SG_PLUGIN_KEY_EXPIRED
                                                                                              : SG_PLUGIN_KEY_VALID;
        kl->cb(kl->data, st, tenant, rec->expires_at_ms);
    }
}

static void key_lookup(sg_plugin_req_t *req, const unsigned char hash[32], sg_plugin_key_cb cb, void *data)
{
    sg_request_t *r = R(req);
    const sg_tenant_key_t *key = NULL;
    const sg_tenant_t *t = sg_tenant_find_key(r->config->tenants, r->config->num_tenants, hash, &key);
    if (t != NULL) {
        sg_plugin_str_t tenant = {t->id, strlen(t->id)};
        int64_t now_ms = (int64_t)(sg_now_us() / 1000);
        sg_plugin_key_status_t st = key->revoked                                              ? SG_PLUGIN_KEY_REVOKED
                                    : key->expires_at_ms != 0 && key->expires_at_ms <= now_ms ? SG_PLUGIN_KEY_EXPIRED
                                                                                              : SG_PLUGIN_KEY_VALID;
        cb(data, st, tenant, key->expires_at_ms);
        return;
    }
    if (r->thread->store == NULL || !r->config->store.use_redis) {
        sg_plugin_str_t none = {"", 0};
        cb(data, SG_PLUGIN_KEY_UNKNOWN, none, 0);
        return;
    }
    key_lookup_t *kl = req_alloc(req, sizeof(*kl));
    kl->cb = cb;
    kl->data = data;
    on_dispose(req, key_lookup_dispose, kl);
    kl->op = sg_store_get_key(r->thread->store, hash, on_store_key, kl);
}

static int req_set_tenant(sg_plugin_req_t *req, const char *tenant, size_t len)
{
    sg_request_t *r = R(req);
    char id[SG_STORE_ID_MAX + 1];
    if (len > SG_STORE_ID_MAX)
        return -1;
    memcpy(id, tenant, len);
    id[len] = '\0';
    const sg_tenant_t *t = sg_config_find_tenant(r->config, id);
    if (t != NULL) {
        r->tenant = h2o_iovec_init(t->id, len);
        r->tenant_def = t;
        return 0;
    }
    if (!r->config->store.use_redis || !sg_router_valid_id(id, len))
        return -1;
    /* maybe a tenant defined in the store: the pipeline resolves it before dispatch (tenant_cache.h) */
    r->tenant = h2o_strdup(&r->req->pool, id, len);
    r->tenant_def = NULL;
    return 0;
}

static void req_strip_header(sg_plugin_req_t *req, const char *name, size_t len)
{
    sg_request_t *r = R(req);
    h2o_vector_reserve(&r->req->pool, &r->strip_headers, r->strip_headers.size + 1);
    h2o_iovec_t v = h2o_strdup(&r->req->pool, name, len);
    h2o_strtolower(v.base, v.len);
    r->strip_headers.entries[r->strip_headers.size++] = v;
}

const sg_plugin_api_t sg_plugin_api = {
    .abi_version = SG_PLUGIN_ABI_VERSION,
    .conf_string = sg_plugin__conf_string,
    .conf_int = sg_plugin__conf_int,
    .conf_bool = sg_plugin__conf_bool,
    .conf_duration_ms = sg_plugin__conf_duration_ms,
    .conf_size = sg_plugin__conf_size,
    .conf_error = sg_plugin__conf_error,
    .req_method = req_method,
    .req_path = req_path,
    .req_header = req_header,
    .req_set_upstream_header = req_set_upstream_header,
    .res_add_header = res_add_header,
    .req_set_request_id = req_set_request_id,
    .respond_error = respond_error,
    .req_alloc = req_alloc,
    .on_dispose = on_dispose,
    .resume = resume,
    .timer_start = sg_plugin__timer_start,
    .timer_cancel = sg_plugin__timer_cancel,
    .req_info = req_info,
    .log = plugin_log,
    .now_ms = now_ms,
    .random_bytes = random_bytes,
    .sha256 = sha256,
    .key_lookup = key_lookup,
    .req_set_tenant = req_set_tenant,
    .req_strip_header = req_strip_header,
    /* ABI 2 */
    .api_size = sizeof(sg_plugin_api_t),
    .conf_seq = sg_plugin__conf_seq,
    .conf_seq_item = sg_plugin__conf_seq_item,
    .conf_map = sg_plugin__conf_map,
    .conf_map_entry = sg_plugin__conf_map_entry,
    .req_context = req_context,
    .req_set_key_id = req_set_key_id,
    .res_set_header = res_set_header,
    .req_thread_state = sg_plugin__req_thread_state,
    .shared_state = sg_plugin__shared_state,
    .thread_now_ms = sg_plugin__thread_now_ms,
    .thread_timer_start = sg_plugin__thread_timer_start,
    .req_counters = sg_plugin__req_counters,
    .thread_counters = sg_plugin__thread_counters,
    .store_is_shared = sg_plugin__store_is_shared,
    .metric_register = sg_plugin__metric_register,
    .metric_add = sg_plugin__metric_add,
    .metric_set = sg_plugin__metric_set,
};
