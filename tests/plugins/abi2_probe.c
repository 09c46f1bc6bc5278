/*
 * A test plugin that uses every ABI 2 entry and shows what it saw in response
 * headers (tests/integration/plugin-abi2.test.js, tests/unit/test_plugins.c).
 *
 *   - name: abi2-probe
 *     path: build/lua-free-plugins/sg_abi2_probe.so
 *     config:
 *       counter_ttl: 60s                   # store counters: "hits:<tenant>" incremented per request
 *       tags: [one, two]                   # a list of scalars -> x-probe-tags: one,two
 *       tenants: {team-a: {weight: 5}}     # a mapping of mappings -> x-probe-weight for the tenant
 *       rules: [{match: /x, limit: 3}]     # a list of mappings -> x-probe-rules: /x=3
 *       set_header: content-type           # res_set_header(set_header, set_value) in on_response_headers
 *       set_value: probe/set
 *
 * Per request: x-probe-route/op/tenant/key/sandbox/port (req_context), x-probe-count (req_counters: INCRBY
 * then GET of the same key; "err" when the store failed), x-probe-reentrant when a callback ran inside the call
 * that started it, x-probe-thread-requests (req_thread_state), x-probe-ticks (thread timer), x-probe-boot
 * (thread_counters at thread_init), x-probe-inits (shared_state: thread_init calls of the process),
 * x-probe-shared (store_is_shared); x-probe-late-tenant and x-probe-late-key: req_context in on_response_headers. Metrics: sandgate_plugin_probe_requests{tenant}, and a gauge
 * sandgate_plugin_probe_odd{label} whose label needs escaping. At thread_dispose, when SG_PROBE_DISPOSE_FILE is
 * set, one line "dispose <ticks>" is appended to it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "plugin.h"

#define MAX_ITEMS 8

typedef struct st_conf_t {
    uint64_t ttl_ms;
    char tags[256];
    size_t num_tenants;
    struct {
        char name[64];
        int64_t weight;
    } tenants[MAX_ITEMS];
    char rules[256];
    char *set_header, *set_value;
} conf_t;

typedef struct st_thread_state_t {
    const sg_plugin_api_t *api;
    sg_plugin_thread_t *thread;
    uint64_t requests, ticks;
    int64_t boot; /* thread_counters result; -1: error, -2: pending */
    sg_plugin_counter_op_t boot_op;
} thread_state_t;

typedef struct st_ctx_t {
    const sg_plugin_api_t *api;
    sg_plugin_req_t *req;
    conf_t *conf;
    char key[160];
    sg_plugin_counter_op_t ops[2];
    int in_call;
} ctx_t;

static sg_plugin_metric_t *requests_metric, *odd_metric;

static void *config_parse(const sg_plugin_api_t *api, sg_plugin_conf_t *c)
{
    if (!SG_PLUGIN_API_HAS(api, metric_set)) {
        api->conf_error(c, NULL, "needs plugin ABI 2");
        return NULL;
    }
    conf_t *conf = calloc(1, sizeof(*conf));
    const char *s;
    size_t n;
    int ok = 1;
    conf->ttl_ms = 60000;
    ok &= api->conf_duration_ms(c, "counter_ttl", &conf->ttl_ms) >= 0;
    int r = api->conf_seq(c, "tags", &n);
    ok &= r >= 0;
    for (size_t i = 0; r == 1 && i != n && i != MAX_ITEMS; ++i) {
        sg_plugin_conf_t *item = api->conf_seq_item(c, "tags", i);
        if (item == NULL || api->conf_string(item, NULL, &s) != 1) {
            ok = 0;
            continue;
        }
        snprintf(conf->tags + strlen(conf->tags), sizeof(conf->tags) - strlen(conf->tags), "%s%s", i != 0 ? "," : "", s);
    }
    r = api->conf_map(c, "tenants", &n);
    ok &= r >= 0;
    for (size_t i = 0; r == 1 && i != n && i != MAX_ITEMS; ++i) {
        const char *name;
        sg_plugin_conf_t *t = api->conf_map_entry(c, "tenants", i, &name);
        size_t m;
        if (t == NULL || api->conf_map(t, NULL, &m) != 1) {
            if (t != NULL)
                api->conf_error(t, NULL, "tenant %s: a mapping {weight} is expected", name);
            ok = 0;
            continue;
        }
        snprintf(conf->tenants[conf->num_tenants].name, sizeof(conf->tenants[0].name), "%s", name);
        if (api->conf_int(t, "weight", &conf->tenants[conf->num_tenants].weight) != 1) {
            ok = 0;
            continue;
        }
        ++conf->num_tenants;
    }
    r = api->conf_seq(c, "rules", &n);
    ok &= r >= 0;
    for (size_t i = 0; r == 1 && i != n && i != MAX_ITEMS; ++i) {
        sg_plugin_conf_t *rule = api->conf_seq_item(c, "rules", i);
        const char *match = "";
        int64_t limit = 0;
        if (api->conf_string(rule, "match", &match) < 0 || api->conf_int(rule, "limit", &limit) < 0) {
            ok = 0;
            continue;
        }
        snprintf(conf->rules + strlen(conf->rules), sizeof(conf->rules) - strlen(conf->rules), "%s%s=%lld", i != 0 ? "," : "",
                 match, (long long)limit);
    }
    const char *sh = "", *sv = "";
    ok &= api->conf_string(c, "set_header", &sh) >= 0 && api->conf_string(c, "set_value", &sv) >= 0;
    conf->set_header = strdup(sh);
    conf->set_value = strdup(sv);
    if (!ok) {
        free(conf->set_header);
        free(conf->set_value);
        free(conf);
        return NULL;
    }
    static const char *const tenant_label[] = {"tenant"}, *const odd_label[] = {"label"};
    requests_metric = api->metric_register("probe_requests", "Requests seen by the abi2-probe plugin.", SG_PLUGIN_METRIC_COUNTER,
                                           tenant_label, 1);
    odd_metric = api->metric_register("probe_odd", "A gauge with a label that \\needs\nescaping.", SG_PLUGIN_METRIC_GAUGE, odd_label, 1);
    return conf;
}

static void config_free(void *p)
{
    conf_t *conf = p;
    free(conf->set_header);
    free(conf->set_value);
    free(conf);
}

/* ---- threads ---- */

static void on_tick(void *data)
{
    thread_state_t *st = data;
    ++st->ticks;
    st->api->thread_timer_start(st->thread, 20, on_tick, st);
}

static void on_boot(void *data, int err, sg_plugin_counter_op_t *ops, size_t n)
{
    thread_state_t *st = data;
    st->boot = err != 0 || n != 1 ? -1 : ops[0].value;
}

static void never(void *data)
{
    (void)data;
    abort();
}

static void *thread_init(const sg_plugin_api_t *api, sg_plugin_thread_t *thread)
{
    thread_state_t *st = calloc(1, sizeof(*st));
    st->api = api;
    st->thread = thread;
    st->boot = -2;
    int *inits = api->shared_state("inits", sizeof(int));
    if (inits != NULL)
        __atomic_add_fetch(inits, 1, __ATOMIC_RELAXED);
    if (api->shared_state("inits", sizeof(int) * 2) != NULL) /* another size: refused */
        abort();
    api->thread_timer_start(thread, 20, on_tick, st);
    /* a timer cancelled at once never fires */
    sg_plugin_timer_t *t = api->thread_timer_start(thread, 1, never, NULL);
    api->timer_cancel(t);
    st->boot_op = (sg_plugin_counter_op_t){{"boot", 4}, 1, 0, 0};
    api->thread_counters(thread, &st->boot_op, 1, on_boot, st);
    return st;
}

static void thread_dispose(const sg_plugin_api_t *api, sg_plugin_thread_t *thread, void *state)
{
    (void)api, (void)thread;
    thread_state_t *st = state;
    const char *file = getenv("SG_PROBE_DISPOSE_FILE");
    FILE *fp = file != NULL ? fopen(file, "a") : NULL;
    if (fp != NULL) {
        fprintf(fp, "dispose %llu\n", (unsigned long long)st->ticks);
        fclose(fp);
    }
    free(st);
}

/* ---- requests ---- */

static void header(const sg_plugin_api_t *api, sg_plugin_req_t *req, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void header(const sg_plugin_api_t *api, sg_plugin_req_t *req, const char *name, const char *fmt, ...)
{
    char v[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof(v), fmt, ap);
    va_end(ap);
    api->res_add_header(req, name, strlen(name), v, strlen(v));
}

/* the callback's data: malloc'd (not request memory) and freed at dispose, so that a callback run after the request
 * is gone reads freed heap memory, which ASan reports */
typedef struct st_token_t {
    ctx_t *ctx;
} token_t;

static void token_free(void *data)
{
    free(data);
}

static void on_counters(void *data, int err, sg_plugin_counter_op_t *ops, size_t n)
{
    ctx_t *ctx = ((token_t *)data)->ctx;
    const sg_plugin_api_t *api = ctx->api;
    if (ctx->in_call)
        header(api, ctx->req, "x-probe-reentrant", "1");
    if (err != 0 || n != 2)
        header(api, ctx->req, "x-probe-count", "err");
    else
        header(api, ctx->req, "x-probe-count", "%lld,%lld", (long long)ops[0].value, (long long)ops[1].value);
    if (err == 0) {
        const char *odd[] = {"q\"uote\\back\nline"};
        api->metric_set(odd_metric, odd, ops[0].value);
    }
    api->resume(ctx->req, SG_PLUGIN_CONTINUE);
}

static sg_plugin_status_t on_request(const sg_plugin_api_t *api, sg_plugin_req_t *req, void *p, void *c)
{
    conf_t *conf = p;
    ctx_t *ctx = c;
    const sg_plugin_req_ctx_t *x = api->req_context(req);
    header(api, req, "x-probe-route", "%.*s", (int)x->route_class.len, x->route_class.base);
    header(api, req, "x-probe-op", "%.*s", (int)x->operation.len, x->operation.base);
    header(api, req, "x-probe-tenant", "%.*s", (int)x->tenant.len, x->tenant.base);
    header(api, req, "x-probe-key", "%.*s", (int)x->key_id.len, x->key_id.base);
    header(api, req, "x-probe-sandbox", "%.*s", (int)x->sandbox_id.len, x->sandbox_id.base);
    header(api, req, "x-probe-port", "%u", (unsigned)x->port);
    header(api, req, "x-probe-tags", "%s", conf->tags);
    header(api, req, "x-probe-rules", "%s", conf->rules);
    const char *weight = "none";
    char wbuf[32];
    for (size_t i = 0; i != conf->num_tenants; ++i)
        if (strlen(conf->tenants[i].name) == x->tenant.len && memcmp(conf->tenants[i].name, x->tenant.base, x->tenant.len) == 0) {
            snprintf(wbuf, sizeof(wbuf), "%lld", (long long)conf->tenants[i].weight);
            weight = wbuf;
        }
    header(api, req, "x-probe-weight", "%s", weight);
    thread_state_t *st = api->req_thread_state(req);
    if (st != NULL) {
        ++st->requests;
        header(api, req, "x-probe-thread-requests", "%llu", (unsigned long long)st->requests);
        header(api, req, "x-probe-ticks", "%llu", (unsigned long long)st->ticks);
        header(api, req, "x-probe-boot", "%lld", (long long)st->boot);
    }
    int *inits = api->shared_state("inits", sizeof(int));
    header(api, req, "x-probe-inits", "%d", inits != NULL ? __atomic_load_n(inits, __ATOMIC_RELAXED) : -1);
    header(api, req, "x-probe-shared", "%d", api->store_is_shared());
    char tenant[130];
    snprintf(tenant, sizeof(tenant), "%.*s", (int)(x->tenant.len < 128 ? x->tenant.len : 128), x->tenant.base);
    const char *labels[] = {tenant};
    api->metric_add(requests_metric, labels, 1);

    ctx->api = api;
    ctx->req = req;
    ctx->conf = conf;
    snprintf(ctx->key, sizeof(ctx->key), "hits:%s", x->tenant.len != 0 ? tenant : "anon");
    ctx->ops[0] = (sg_plugin_counter_op_t){{ctx->key, strlen(ctx->key)}, 1, conf->ttl_ms, 0};
    ctx->ops[1] = (sg_plugin_counter_op_t){{ctx->key, strlen(ctx->key)}, 0, 0, 0};
    token_t *token = malloc(sizeof(*token));
    token->ctx = ctx;
    api->on_dispose(req, token_free, token);
    ctx->in_call = 1;
    api->req_counters(req, ctx->ops, 2, on_counters, token);
    ctx->in_call = 0;
    return SG_PLUGIN_SUSPENDED;
}

static void on_response_headers(const sg_plugin_api_t *api, sg_plugin_req_t *req, void *p, void *ctx, int status)
{
    (void)ctx, (void)status;
    conf_t *conf = p;
    /* the context as later phases see it (the gateway binds port tokens after on_request) */
    const sg_plugin_req_ctx_t *x = api->req_context(req);
    header(api, req, "x-probe-late-tenant", "%.*s", (int)x->tenant.len, x->tenant.base);
    header(api, req, "x-probe-late-key", "%.*s", (int)x->key_id.len, x->key_id.base);
    if (conf->set_header[0] != '\0') {
        /* set twice: the second value replaces the first as well */
        api->res_set_header(req, conf->set_header, strlen(conf->set_header), "first", 5);
        api->res_set_header(req, conf->set_header, strlen(conf->set_header), conf->set_value, strlen(conf->set_value));
    }
}

const sg_plugin_t sg_plugin_descriptor = {
    .abi_version = SG_PLUGIN_ABI_VERSION,
    .name = "abi2-probe",
    .ctx_size = sizeof(ctx_t),
    .config_parse = config_parse,
    .config_free = config_free,
    .on_request = on_request,
    .on_response_headers = on_response_headers,
    .descriptor_size = sizeof(sg_plugin_t),
    .thread_init = thread_init,
    .thread_dispose = thread_dispose,
};
