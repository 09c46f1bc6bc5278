#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/backend.h"
#include "backend/backend_call.h"
#include "backend/httpclient.h"

const char sg_backend_call_err_too_large[] = "backend response too large";

struct st_sg_backend_call_t {
    sg_httpclient_t *client;
    sg_backend_call_cb cb;
    void *data;
    h2o_buffer_t *collected;
    size_t max_response;
    int status;
    char *head;       /* the request head, owned */
    h2o_iovec_t body; /* owned copy */
    sg_backend_t *backend;
    const sg_health_conf_t *health;
};

static void finish(sg_backend_call_t *call, const char *err)
{
    if (call->backend != NULL) {
        if (err != NULL && err != sg_backend_call_err_too_large)
            sg_backend_report(call->backend, call->health, 0, 0, err);
        else if (err == NULL) /* an HTTP answer of any status: the transport works (see proxy.c on_head) */
            sg_backend_report(call->backend, call->health, 1, 0, NULL);
    }
    call->cb(call->data, err, call->status, h2o_iovec_init(call->collected->bytes, call->collected->size));
    h2o_buffer_dispose(&call->collected);
    free(call->head);
    free(call->body.base);
    free(call);
}

static int on_head(sg_httpclient_t *c, const char *err, int status, h2o_header_t *headers, size_t num_headers)
{
    (void)headers, (void)num_headers;
    sg_backend_call_t *call = c->data;
    if (err != NULL) {
        call->client = NULL;
        finish(call, err);
        return -1;
    }
    call->status = status;
    return 0;
}

static void on_body(sg_httpclient_t *c, const char *err, int is_end)
{
    sg_backend_call_t *call = c->data;
    if (c->body->size != 0) {
        if (call->collected->size + c->body->size > call->max_response) {
            sg_httpclient_cancel(c);
            call->client = NULL;
            finish(call, sg_backend_call_err_too_large);
            return;
        }
        h2o_iovec_t dst = h2o_buffer_reserve(&call->collected, c->body->size);
        memcpy(dst.base, c->body->bytes, c->body->size);
        call->collected->size += c->body->size;
        h2o_buffer_consume(&c->body, c->body->size);
        sg_httpclient_resume_reading(c);
    }
    if (err != NULL || is_end) {
        call->client = NULL;
        finish(call, err);
    }
}

static const sg_httpclient_cb_t callbacks = {on_head, on_body};

sg_backend_call_t *sg_backend_call(sg_loop_t *loop, sg_config_t *conf, sg_backend_conf_t *be, const char *method,
                                   h2o_iovec_t path_and_query, h2o_iovec_t body, h2o_iovec_t request_id, size_t max_response,
                                   sg_backend_call_cb cb, void *data)
{
    sg_backend_call_t *call = calloc(1, sizeof(*call));
    call->cb = cb;
    call->data = data;
    call->max_response = max_response;
    call->backend = be->rt;
    call->health = &conf->health;
    h2o_buffer_init(&call->collected, &h2o_socket_buffer_prototype);
    if (body.base != NULL) {
        call->body.base = malloc(body.len + 1);
        memcpy(call->body.base, body.base, body.len);
        call->body.len = body.len;
    }
    size_t cap = path_and_query.len + strlen(be->path_prefix) + strlen(be->authority) + strlen(be->api_key) + request_id.len + 256;
    call->head = malloc(cap);
    int n = snprintf(call->head, cap, "%s %s%.*s HTTP/1.1\r\nhost: %s\r\nopen-sandbox-api-key: %s\r\naccept: application/json\r\n",
                     method, be->path_prefix, (int)path_and_query.len, path_and_query.base, be->authority, be->api_key);
    if (request_id.len != 0)
        n += snprintf(call->head + n, cap - n, "x-request-id: %.*s\r\n", (int)request_id.len, request_id.base);
    if (body.base != NULL)
        n += snprintf(call->head + n, cap - n, "content-type: application/json\r\ncontent-length: %zu\r\n", body.len);
    n += snprintf(call->head + n, cap - n, "connection: keep-alive\r\n\r\n");

    sg_upstream_t u;
    sg_backend_upstream(be, &u);
    int idempotent = strcmp(method, "GET") == 0 || strcmp(method, "DELETE") == 0;
    sg_httpclient_req_t req = {.loop = loop,
                               .pool = sg_pool_get(loop, &u, conf->limits.upstream_keepalive_timeout_ms),
                               .head = h2o_iovec_init(call->head, (size_t)n),
                               .body = call->body,
                               .can_retry = idempotent,
                               .connect_timeout_ms = conf->limits.upstream_connect_timeout_ms,
                               .io_timeout_ms = conf->limits.upstream_io_timeout_ms,
                               .max_buffer = 65536};
    call->client = sg_httpclient_start(&req, &callbacks, call);
    return call;
}

void sg_backend_call_cancel(sg_backend_call_t *call)
{
    if (call->client != NULL)
        sg_httpclient_cancel(call->client);
    h2o_buffer_dispose(&call->collected);
    free(call->head);
    free(call->body.base);
    free(call);
}
