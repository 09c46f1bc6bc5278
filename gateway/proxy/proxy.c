#include <stdlib.h>
#include <string.h>
#include <h2o.h>
#include <h2o/http1.h>
#include <h2o/tunnel.h>
#include "proxy/headers.h"
#include "backend/backend_call.h"
#include "backend/httpclient.h"
#include "runtime/intake.h"
#include "util/log.h"
#include "config/port_token.h"
#include "proxy/proxy.h"
#include "runtime/thread.h"

typedef struct st_proxy_t {
    h2o_generator_t super;
    sg_request_t *r;
    sg_httpclient_t *client;
    h2o_doublebuffer_t sending;
    h2o_buffer_t *tail; /* body bytes left when the upstream finished */
    const char *upstream_err;
    sg_backend_t *backend;
    const sg_health_conf_t *health;
    void (*on_status)(sg_request_t *r, void *data, int status);
    void (*on_upstream_error)(sg_request_t *r, void *data);
    void *on_status_data;
    const char *not_found_code, *not_found_message;
    unsigned json_errors : 1;
    unsigned eos : 1;
    unsigned send_in_flight : 1;
    unsigned stopped : 1;
    unsigned is_websocket : 1;
} proxy_t;

typedef struct st_ws_upgrade_t {
    h2o_context_t *ctx;
    h2o_socket_t *upstream;
    h2o_timeout_t *timeout;
} ws_upgrade_t;

static void do_send(proxy_t *self);

static void record_upstream_time(proxy_t *self)
{
    sg_request_t *r = self->r;
    if (r->upstream_started_us != 0 && r->upstream_us == 0)
        r->upstream_us = sg_now_us() - r->upstream_started_us + 1;
}

static void finish_backend(proxy_t *self)
{
    if (self->backend != NULL) {
        __atomic_sub_fetch(&self->backend->in_flight, 1, __ATOMIC_RELAXED);
        self->backend = NULL;
    }
}

static void on_request_dispose(void *data)
{
    proxy_t *self = data;
    if (self->client != NULL) {
        sg_httpclient_cancel(self->client);
        self->client = NULL;
    }
    finish_backend(self);
    h2o_doublebuffer_dispose(&self->sending);
    h2o_buffer_dispose(&self->tail);
}

static void on_generator_proceed(h2o_generator_t *generator, h2o_req_t *req)
{
    (void)req;
    proxy_t *self = (void *)generator;
    self->send_in_flight = 0;
    if (self->sending.bytes_inflight != 0)
        h2o_doublebuffer_consume(&self->sending);
    do_send(self);
}

static void on_generator_stop(h2o_generator_t *generator, h2o_req_t *req)
{
    (void)req;
    proxy_t *self = (void *)generator;
    self->stopped = 1;
    if (self->client != NULL) {
        sg_httpclient_cancel(self->client);
        self->client = NULL;
    }
}

static void do_send(proxy_t *self)
{
    if (self->send_in_flight || self->stopped)
        return;
    h2o_buffer_t **src = self->client != NULL ? &self->client->body : &self->tail;
    /* at most upstream_buffer per write: what h2o copies (TLS records, HTTP/2 frames) stays bounded too */
    h2o_iovec_t vec = h2o_doublebuffer_prepare(&self->sending, src, self->r->config->limits.upstream_buffer);
    if (self->client != NULL)
        sg_httpclient_resume_reading(self->client);
    h2o_send_state_t state = H2O_SEND_STATE_IN_PROGRESS;
    /* the last write carries everything that is left: nothing behind it in either buffer */
    if (self->eos && (*src)->size == 0 && self->sending.buf->size == vec.len)
        state = self->upstream_err != NULL ? H2O_SEND_STATE_ERROR : H2O_SEND_STATE_FINAL;
    if (vec.len == 0 && state == H2O_SEND_STATE_IN_PROGRESS)
        return;
    self->send_in_flight = h2o_send_state_is_in_progress(state);
    h2o_send(self->r->req, &vec, vec.len != 0 ? 1 : 0, state);
}

static void on_body(sg_httpclient_t *c, const char *err, int is_end)
{
    proxy_t *self = c->data;
    if (err != NULL || is_end) {
        record_upstream_time(self);
        /* the client frees itself after this call: keep what it still holds */
        h2o_buffer_t *t = self->tail;
        self->tail = c->body;
        c->body = t;
        self->client = NULL;
        self->eos = 1;
        if (err != NULL) {
            self->upstream_err = err;
            h2o_req_log_error(self->r->req, "proxy", "%s", err);
            if (self->backend != NULL)
                sg_backend_report(self->backend, self->health, 0, 0, err);
        }
        finish_backend(self);
    }
    do_send(self);
}

static void on_ws_upgrade_complete(void *data, h2o_socket_t *sock, size_t reqsize)
{
    ws_upgrade_t *info = data;
    if (sock != NULL) {
        h2o_buffer_consume(&sock->input, reqsize);
        sg_intake_detach(sock); /* a tunnel, no longer HTTP requests */
        __atomic_add_fetch(&sg_metrics_websockets_total, 1, __ATOMIC_RELAXED);
        h2o_tunnel_establish(info->ctx, sock, info->upstream, info->timeout);
    } else {
        h2o_socket_close(info->upstream);
    }
    free(info);
}

static void copy_response_headers(sg_request_t *r, h2o_header_t *headers, size_t n, int keep_upgrade)
{
    h2o_req_t *req = r->req;
    h2o_iovec_t connection = sg_headers_connection(&req->pool, headers, n);
    for (size_t i = 0; i != n; ++i) {
        h2o_iovec_t name = *headers[i].name;
        if (sg_headers_is_hop_by_hop(name, connection) || h2o_memis(name.base, name.len, H2O_STRLIT("content-length")) ||
            h2o_memis(name.base, name.len, H2O_STRLIT("date")) || h2o_memis(name.base, name.len, H2O_STRLIT("server")))
            continue;
        /* the gateway's request id (the one it sent upstream) is the one the client gets */
        if (r->request_id.len != 0 && h2o_memis(name.base, name.len, H2O_STRLIT("x-request-id")))
            continue;
        h2o_iovec_t value = h2o_strdup(&req->pool, headers[i].value.base, headers[i].value.len);
        if (h2o_iovec_is_token(headers[i].name)) {
            h2o_add_header(&req->pool, &req->res.headers, (const h2o_token_t *)headers[i].name, NULL, value.base, value.len);
        } else {
            h2o_iovec_t nm = h2o_strdup(&req->pool, name.base, name.len);
            h2o_add_header_by_str(&req->pool, &req->res.headers, nm.base, nm.len, 0, NULL, value.base, value.len);
        }
    }
    if (keep_upgrade)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_UPGRADE, NULL, H2O_STRLIT("websocket"));
}

void sg_proxy_fail_upstream(sg_request_t *r, const char *err, const char *busy_message, const char *connect_message)
{
    uint64_t *errors = r->thread->metrics.upstream_errors;
    if (err == sg_pool_err_busy) {
        SG_COUNTER_ADD(errors[SG_UPSTREAM_ERR_BUSY], 1);
        sg_request_fail(r, SG_ERR_UPSTREAM_BUSY, busy_message);
    } else if (sg_httpclient_err_is_timeout(err)) {
        SG_COUNTER_ADD(errors[SG_UPSTREAM_ERR_TIMEOUT], 1);
        sg_request_fail(r, SG_ERR_UPSTREAM_TIMEOUT, err);
    } else if (err == sg_httpclient_err_closed || err == sg_httpclient_err_protocol || err == sg_backend_call_err_too_large) {
        SG_COUNTER_ADD(errors[SG_UPSTREAM_ERR_PROTOCOL], 1);
        sg_request_fail(r, SG_ERR_BAD_GATEWAY, err);
    } else {
        SG_COUNTER_ADD(errors[SG_UPSTREAM_ERR_CONNECT], 1);
        sg_request_fail(r, SG_ERR_UPSTREAM_CONNECT_FAILED, connect_message);
    }
}

static void send_upstream_error(proxy_t *self, const char *err)
{
    sg_request_t *r = self->r;
    h2o_req_log_error(r->req, "proxy", "%s", err);
    if (self->on_upstream_error != NULL)
        self->on_upstream_error(r, self->on_status_data);
    if (err != sg_pool_err_busy && self->backend != NULL) /* a full pool says nothing of the backend's health */
        sg_backend_report(self->backend, self->health, 0, 0, err);
    sg_proxy_fail_upstream(r, err, NULL, NULL);
}

static int is_json(const h2o_header_t *headers, size_t n)
{
    for (size_t i = 0; i != n; ++i)
        if (h2o_memis(headers[i].name->base, headers[i].name->len, H2O_STRLIT("content-type")))
            return headers[i].value.len >= 16 && h2o_lcstris(headers[i].value.base, 16, H2O_STRLIT("application/json"));
    return 0;
}

static int on_head(sg_httpclient_t *c, const char *err, int status, h2o_header_t *headers, size_t num_headers)
{
    proxy_t *self = c->data;
    sg_request_t *r = self->r;
    h2o_req_t *req = r->req;

    if (err != NULL) {
        record_upstream_time(self);
        self->client = NULL;
        send_upstream_error(self, err);
        finish_backend(self);
        return -1;
    }
    /* any parsed answer, whatever its status, proves the backend's transport works: a 5xx to one tenant's request
     * says nothing about the server, and counting it let one tenant mark a shared backend down (docs/ARCHITECTURE.md) */
    if (self->backend != NULL)
        sg_backend_report(self->backend, self->health, 1, 0, NULL);
    if (self->on_status != NULL)
        self->on_status(r, self->on_status_data, status);
    if (status == 404 && self->not_found_code != NULL) {
        record_upstream_time(self);
        self->client = NULL;
        finish_backend(self);
        sg_request_error(r, 404, self->not_found_code, self->not_found_message);
        return -1;
    }
    if (status >= 400 && self->json_errors && !is_json(headers, num_headers)) {
        record_upstream_time(self);
        self->client = NULL;
        finish_backend(self);
        sg_request_backend_error(r, status);
        return -1;
    }
    r->proxied = 1;
    req->res.status = status;
    req->res.reason = sg_reason_phrase(status);

    if (status == 101) {
        record_upstream_time(self);
        if (!self->is_websocket) {
            self->client = NULL;
            sg_request_fail(r, SG_ERR_BAD_GATEWAY, "upstream switched protocols unexpectedly");
            return -1;
        }
        ws_upgrade_t *info = malloc(sizeof(*info));
        info->ctx = req->conn->ctx;
        info->upstream = sg_httpclient_steal_socket(c);
        info->timeout = sg_loop_timeout(&r->thread->loop, r->config->limits.websocket_idle_timeout_ms);
        self->client = NULL;
        finish_backend(self);
        copy_response_headers(r, headers, num_headers, 1);
        sg_request_response_headers(r);
        h2o_http1_upgrade(req, NULL, 0, on_ws_upgrade_complete, info);
        return 0;
    }
    copy_response_headers(r, headers, num_headers, 0);
    req->res.content_length = c->content_length;
    h2o_start_response(req, &self->super);
    return 0;
}

static const sg_httpclient_cb_t client_callbacks = {on_head, on_body};

static int is_idempotent(h2o_iovec_t method)
{
    static const char *const m[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"};
    for (size_t i = 0; i != sizeof(m) / sizeof(m[0]); ++i)
        if (h2o_memis(method.base, method.len, m[i], strlen(m[i])))
            return 1;
    return 0;
}

void sg_proxy_start(sg_request_t *r, const sg_proxy_target_t *t)
{
    h2o_req_t *req = r->req;
    sg_limits_conf_t *limits = &r->config->limits;
    proxy_t *self = h2o_mem_alloc_pool(&req->pool, sizeof(*self));
    memset(self, 0, sizeof(*self));
    self->super.proceed = on_generator_proceed;
    self->super.stop = on_generator_stop;
    self->r = r;
    self->backend = t->backend;
    self->health = t->health;
    self->on_status = t->on_status;
    self->on_upstream_error = t->on_upstream_error;
    self->on_status_data = t->on_status_data;
    self->not_found_code = t->not_found_code;
    self->not_found_message = t->not_found_message;
    self->json_errors = t->json_errors != 0;
    h2o_doublebuffer_init(&self->sending, &h2o_socket_buffer_prototype);
    h2o_buffer_init(&self->tail, &h2o_socket_buffer_prototype);
    sg_request_on_dispose(r, on_request_dispose, self);
    self->is_websocket = req->version < 0x200 && req->upgrade.base != NULL &&
                         h2o_lcstris(req->upgrade.base, req->upgrade.len, H2O_STRLIT("websocket")) &&
                         h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
    if (self->backend != NULL) {
        __atomic_add_fetch(&self->backend->in_flight, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&self->backend->requests, 1, __ATOMIC_RELAXED);
    }

    /* the gateway's own headers (backend key, plugin ones) win over the client's */
    h2o_header_t *extra = h2o_mem_alloc_pool(&req->pool, sizeof(*extra) * (t->num_extra + r->upstream_headers.size + 1));
    size_t num_extra = 0;
    for (size_t i = 0; i != r->upstream_headers.size; ++i)
        extra[num_extra++] = r->upstream_headers.entries[i];
    for (size_t i = 0; i != t->num_extra; ++i)
        extra[num_extra++] = t->extra[i];

    /* credentials the auth plugins consumed are never forwarded */
    size_t num_strip = t->num_strip + r->strip_headers.size;
    h2o_iovec_t *strip = h2o_mem_alloc_pool(&req->pool, sizeof(*strip) * (num_strip + 1));
    if (t->num_strip != 0)
        memcpy(strip, t->strip, sizeof(*strip) * t->num_strip);
    if (r->strip_headers.size != 0)
        memcpy(strip + t->num_strip, r->strip_headers.entries, sizeof(*strip) * r->strip_headers.size);

    int has_body = req->entity.base != NULL;
    int body_method = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")) ||
                      h2o_memis(req->method.base, req->method.len, H2O_STRLIT("PUT")) ||
                      h2o_memis(req->method.base, req->method.len, H2O_STRLIT("PATCH"));
    h2o_iovec_t client_addr = sg_request_remote_addr(req);
    sg_upstream_head_t head = {
        .method = req->method,
        .path_prefix = t->path_prefix,
        .path = t->path,
        .host = t->authority,
        .client_addr = client_addr.base != NULL ? client_addr : h2o_iovec_init(H2O_STRLIT("unknown")),
        .client_proto =
            req->scheme == &H2O_URL_SCHEME_HTTPS ? h2o_iovec_init(H2O_STRLIT("https")) : h2o_iovec_init(H2O_STRLIT("http")),
        .client_host = req->input.authority,
        .request_id = r->request_id,
        .content_length = has_body      ? req->entity.len
                          : body_method ? 0
                                        : SIZE_MAX,
        .is_websocket = self->is_websocket,
        .extra = extra,
        .num_extra = num_extra,
        .strip = strip,
        .num_strip = num_strip,
    };
    sg_upstream_t upstream = *t->upstream;
    upstream.rcvbuf = limits->upstream_buffer;
    sg_httpclient_req_t creq = {
        .loop = &r->thread->loop,
        .pool = sg_pool_get(&r->thread->loop, &upstream, limits->upstream_keepalive_timeout_ms),
        .head = sg_headers_build_request(&req->pool, &head, req->headers.entries, req->headers.size),
        .body = has_body ? req->entity : h2o_iovec_init(NULL, 0),
        .is_head_method = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")),
        .is_upgrade = self->is_websocket,
        .can_retry = is_idempotent(req->method),
        .connect_timeout_ms = limits->upstream_connect_timeout_ms,
        .io_timeout_ms = limits->upstream_io_timeout_ms,
        .max_buffer = limits->upstream_buffer,
    };
    r->upstream_started_us = sg_now_us();
    self->client = sg_httpclient_start(&creq, &client_callbacks, self);
}

void sg_proxy_to_backend(sg_request_t *r, sg_backend_conf_t *be, h2o_iovec_t path, const sg_proxy_target_t *opts)
{
    static const h2o_iovec_t strip[] = {
        {H2O_STRLIT("open-sandbox-api-key")}, {H2O_STRLIT("authorization")}, {H2O_STRLIT(SG_PORT_TOKEN_HEADER_LC)}};
    static h2o_iovec_t key_name = {H2O_STRLIT("open-sandbox-api-key")};
    h2o_req_t *req = r->req;
    r->backend = h2o_iovec_init(be->name, strlen(be->name));
    h2o_header_t *key = h2o_mem_alloc_pool(&req->pool, sizeof(*key));
    *key = (h2o_header_t){&key_name, NULL, h2o_iovec_init(be->api_key, strlen(be->api_key))};
    sg_upstream_t *u = h2o_mem_alloc_pool(&req->pool, sizeof(*u));
    sg_backend_upstream(be, u);
    sg_proxy_target_t t = {0};
    if (opts != NULL)
        t = *opts;
    t.upstream = u;
    t.authority = h2o_iovec_init(be->authority, strlen(be->authority));
    t.path_prefix = h2o_iovec_init(be->path_prefix, strlen(be->path_prefix));
    t.path = path;
    t.extra = be->api_key[0] != '\0' ? key : NULL;
    t.num_extra = be->api_key[0] != '\0' ? 1 : 0;
    t.strip = strip;
    t.num_strip = sizeof(strip) / sizeof(strip[0]);
    t.backend = be->rt;
    t.health = &r->config->health;
    t.json_errors = 1;
    sg_proxy_start(r, &t);
}
