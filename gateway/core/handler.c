/*
 * The h2o side of the gateway: the request handler (creates the request state,
 * runs the plugin chain, dispatches by route class), the logger (log phase and
 * metrics for every request, including those h2o refused before the handler),
 * and the filter that turns h2o's own plain-text errors into JSON.
 */
#include <string.h>
#include <sys/time.h>
#include "admin/admin.h"
#include "backend/backend.h"
#include "core/handler.h"
#include "tenancy/lifecycle.h"
#include "tenancy/port.h"
#include "tenancy/port_auth.h"
#include "plugin/pipeline.h"
#include "proxy/proxy.h"
#include "core/reqcheck.h"
#include "runtime/thread.h"

typedef struct st_handler_t {
    h2o_handler_t super;
    int is_admin;
} handler_t;

static void proxy_to_backend(sg_request_t *r, h2o_iovec_t path)
{
    sg_backend_conf_t *be = sg_backend_pick(r->config, sg_thread_random(r->thread));
    if (be == NULL) {
        sg_request_fail(r, SG_ERR_NO_HEALTHY_BACKEND, NULL);
        return;
    }
    sg_proxy_to_backend(r, be, path, NULL);
}

void sg_handler_dispatch(sg_request_t *r)
{
    h2o_req_t *req = r->req;
    switch (r->route.cls) {
    case SG_ROUTE_HEALTH: {
        static const char body[] = "{\"status\":\"healthy\"}";
        if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
            !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("GET, HEAD"));
            sg_request_fail(r, SG_ERR_METHOD_NOT_ALLOWED, "/health answers GET and HEAD only");
            return;
        }
        if (r->thread->shutting_down) {
            sg_request_fail(r, SG_ERR_SHUTTING_DOWN, NULL);
            return;
        }
        sg_request_json(r, 200, body, sizeof(body) - 1);
        return;
    }
    case SG_ROUTE_LIFECYCLE:
        if (sg_config_tenancy_enabled(r->config)) {
            sg_lifecycle_handle(r);
            return;
        }
        /* no tenants: a plain load-balancing proxy in front of the backends */
        proxy_to_backend(r, req->input.path);
        return;
    case SG_ROUTE_PORT: {
        if (sg_config_tenancy_enabled(r->config)) {
            sg_port_handle(r);
            return;
        }
        if (r->route.sandbox_id == NULL || !sg_router_valid_id(r->route.sandbox_id, r->route.sandbox_id_len) ||
            r->route.port == 0) {
            sg_request_fail(r, SG_ERR_ROUTE_NOT_FOUND, "malformed sandbox port path");
            return;
        }
        r->sandbox_id = h2o_iovec_init(r->route.sandbox_id, r->route.sandbox_id_len);
        /* until sandboxes are mapped to their backends, port traffic goes through the
         * OpenSandbox server proxy of a backend: /v1/sandboxes/{id}/proxy/{port}{rest} */
        char portbuf[8];
        int pl = snprintf(portbuf, sizeof(portbuf), "%u", (unsigned)r->route.port);
        h2o_iovec_t path = h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("/v1/sandboxes/")), r->sandbox_id,
                                      h2o_iovec_init(H2O_STRLIT("/proxy/")), h2o_iovec_init(portbuf, (size_t)pl),
                                      r->route.rest_len == 0 || r->route.rest[0] == '?' ? h2o_iovec_init(H2O_STRLIT("/"))
                                                                                        : h2o_iovec_init(NULL, 0),
                                      h2o_iovec_init(r->route.rest, r->route.rest_len));
        proxy_to_backend(r, path);
        return;
    }
    case SG_ROUTE_ADMIN:
        sg_admin_handle(r);
        return;
    default:
        sg_request_fail(r, SG_ERR_ROUTE_NOT_FOUND, NULL);
        return;
    }
}

static int on_req(h2o_handler_t *_self, h2o_req_t *req)
{
    handler_t *self = (void *)_self;
    sg_thread_t *thread = sg_thread_of(req->conn->ctx);
    sg_request_t *r = sg_request_create(thread, req, self->is_admin);
    sg_reqcheck_t check;
    sg_reqcheck_request(req, &check);
    if (check.status != 0) {
        if (check.must_close && req->version < 0x200) {
            /* what follows on the connection cannot be trusted to start a request */
            req->http1_is_persistent = 0;
            sg_linger_start(&thread->linger, &thread->loop, req, r->config->limits.lingering_timeout_ms,
                            r->config->limits.lingering_time_ms);
        }
        sg_request_error(r, check.status, check.code, check.message);
        return 0;
    }
    /* h2o 2.2 caps the HTTP/1 head at a compile-time size; this is the configurable bound for both protocols */
    size_t head_size = req->input.path.len + req->input.authority.len;
    for (size_t i = 0; i != req->headers.size; ++i)
        head_size += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    if (head_size > r->config->limits.max_header_size) {
        sg_request_fail(r, SG_ERR_HEADERS_TOO_LARGE, NULL);
        return 0;
    }
    r->dispatch = sg_handler_dispatch;
    if (sg_config_tenancy_enabled(r->config))
        sg_port_auth_before_chain(r, sg_pipeline_run); /* binds the tenant of a port credential for the plugins */
    else
        sg_pipeline_run(r);
    return 0;
}

/* ---- log phase ---- */

static sg_plugin_str_t ps(h2o_iovec_t v)
{
    return (sg_plugin_str_t){v.base != NULL ? v.base : "", v.base != NULL ? v.len : 0};
}

static void fill_info(sg_request_t *r)
{
    h2o_req_t *req = r->req;
    uint64_t now_us = sg_now_us();
    const char *cls = sg_route_class_name(r->route.cls);
    r->info = (sg_plugin_req_info_t){
        .method = ps(req->input.method.base != NULL ? req->input.method : req->method),
        .path = ps(req->input.path.base != NULL ? req->input.path : req->path),
        .authority = ps(req->input.authority),
        .route_class = {cls, strlen(cls)},
        .request_id = ps(r->request_id),
        .tenant = ps(r->tenant),
        .sandbox_id = ps(r->sandbox_id),
        .backend = ps(r->backend),
        .remote_addr = ps(sg_request_remote_addr(req)),
        .error_code = {r->error_code != NULL ? r->error_code : "", r->error_code != NULL ? strlen(r->error_code) : 0},
        .http_version = req->version,
        .status = req->res.status,
        .bytes_received = req->entity.base != NULL ? req->entity.len : 0,
        .bytes_sent = req->bytes_sent,
        .started_at_us = r->started_at_us,
        .duration_us = now_us > r->started_at_us ? now_us - r->started_at_us : 0,
        .upstream_us = r->upstream_us,
    };
}

static void log_access(h2o_logger_t *self, h2o_req_t *req)
{
    (void)self;
    sg_thread_t *thread = sg_thread_of(req->conn->ctx);
    sg_request_t *r = sg_request_of(req);
    if (r == NULL) {
        /* refused by h2o before the handler (bad request, body too large): log it as "unknown" */
        r = sg_request_create(thread, req, 0);
        r->route.cls = SG_ROUTE_UNKNOWN;
        r->chain = &r->config->routes[SG_ROUTE_UNKNOWN];
        r->plugin_ctx = h2o_mem_alloc_pool(&req->pool, r->chain->ctx_size + 1);
        memset(r->plugin_ctx, 0, r->chain->ctx_size + 1);
        if (req->timestamps.request_begin_at.tv_sec != 0)
            r->started_at_us =
                (uint64_t)req->timestamps.request_begin_at.tv_sec * 1000000 + req->timestamps.request_begin_at.tv_usec;
    }
    fill_info(r);
    sg_metrics_observe(&thread->metrics, r->route.cls, req->res.status, r->info.duration_us, r->info.bytes_received,
                       r->info.bytes_sent);
    sg_pipeline_log(r);
}

/* ---- JSON bodies for h2o's own errors ---- */

typedef struct st_json_ostream_t {
    h2o_ostream_t super;
    h2o_iovec_t body;
} json_ostream_t;

static void json_do_send(h2o_ostream_t *_self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt, h2o_send_state_t state)
{
    (void)bufs, (void)bufcnt;
    json_ostream_t *self = (void *)_self;
    if (h2o_send_state_is_in_progress(state)) {
        h2o_ostream_send_next(&self->super, req, NULL, 0, state);
        return;
    }
    h2o_ostream_send_next(&self->super, req, &self->body, 1, state);
}

static void on_setup_json_errors(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    (void)self;
    sg_request_t *r = sg_request_of(req);
    ssize_t ct = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (req->res.status >= 400 && (r == NULL || (!r->proxied && r->error_code == NULL)) && ct != -1 &&
        req->res.headers.entries[ct].value.len >= 10 && memcmp(req->res.headers.entries[ct].value.base, "text/plain", 10) == 0) {
        const char *code, *msg;
        sg_errors_for_status(req->res.status, &code, &msg);
        if (r != NULL)
            r->error_code = code;
        req->res.headers.entries[ct].value = h2o_iovec_init(H2O_STRLIT("application/json"));
        json_ostream_t *os = (void *)h2o_add_ostream(req, sizeof(*os), slot);
        os->super.do_send = json_do_send;
        char *buf = h2o_mem_alloc_pool(&req->pool, strlen(code) + strlen(msg) + 32);
        os->body.len = (size_t)sprintf(buf, "{\"code\":\"%s\",\"message\":\"%s\"}", code, msg);
        os->body.base = buf;
        req->res.content_length = os->body.len;
        slot = &os->super.next;
        /* h2o answers these before reading the body and then closes: linger so the client reads the answer */
        if ((req->res.status == 413 || req->res.status == 400) && req->version < 0x200 && !req->http1_is_persistent) {
            sg_thread_t *t = sg_thread_of(req->conn->ctx);
            sg_linger_start(&t->linger, &t->loop, req, t->config->limits.lingering_timeout_ms, t->config->limits.lingering_time_ms);
        }
    }
    h2o_setup_next_ostream(req, slot);
}

void sg_errors_for_status(int status, const char **code, const char **message)
{
    static const sg_error_t by_status[] = {SG_ERR_BAD_REQUEST,        SG_ERR_FORBIDDEN,         SG_ERR_ROUTE_NOT_FOUND,
                                           SG_ERR_METHOD_NOT_ALLOWED, SG_ERR_PAYLOAD_TOO_LARGE, SG_ERR_RANGE_NOT_SATISFIABLE,
                                           SG_ERR_EXPECTATION_FAILED, SG_ERR_BAD_GATEWAY,       SG_ERR_UNAVAILABLE};
    sg_error_t e = SG_ERR_INTERNAL_ERROR;
    for (size_t i = 0; i != sizeof(by_status) / sizeof(by_status[0]); ++i)
        if (sg_errors[by_status[i]].status == status)
            e = by_status[i];
    *code = sg_errors[e].code;
    *message = sg_errors[e].message;
}

static void setup_pathconf(h2o_pathconf_t *pathconf, int is_admin, int with_handler)
{
    if (with_handler) {
        handler_t *h = (void *)h2o_create_handler(pathconf, sizeof(*h));
        h->super.on_req = on_req;
        h->is_admin = is_admin;
    }
    h2o_filter_t *f = h2o_create_filter(pathconf, sizeof(*f));
    f->on_setup_ostream = on_setup_json_errors;
    h2o_logger_t *l = h2o_create_logger(pathconf, sizeof(*l));
    l->log_access = log_access;
}

void sg_handler_register(h2o_hostconf_t *hostconf, int is_admin)
{
    sg_request_set_response_headers_hook(sg_pipeline_response_headers);
    setup_pathconf(h2o_config_register_path(hostconf, "/", 0), is_admin, 1);
    setup_pathconf(&hostconf->fallback_path, is_admin, 0);
}
