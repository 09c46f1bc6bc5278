#include <string.h>
#include <jansson.h>
#include "admin/admin.h"
#include "backend/backend.h"
#include "util/keyhash.h"
#include "runtime/metrics.h"
#include "runtime/thread.h"

/* returns 1 if the request carries the admin key; otherwise sends 401 and returns 0 */
static int authenticate(sg_request_t *r)
{
    h2o_req_t *req = r->req;
    h2o_iovec_t key = {NULL, 0};
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("open-sandbox-api-key"), -1);
    if (i != -1) {
        key = req->headers.entries[i].value;
    } else if ((i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1)) != -1) {
        h2o_iovec_t v = req->headers.entries[i].value;
        if (v.len > 7 && h2o_lcstris(v.base, 7, H2O_STRLIT("bearer ")))
            key = h2o_iovec_init(v.base + 7, v.len - 7);
    }
    if (key.base == NULL || key.len == 0) {
        sg_request_fail(r, SG_ERR_MISSING_API_KEY, "the admin API needs the admin key (Authorization: Bearer KEY)");
        return 0;
    }
    unsigned char hash[SG_KEYHASH_LEN];
    sg_keyhash_compute(key.base, key.len, hash);
    if (!r->config->has_admin || !sg_keyhash_equal(hash, r->config->admin_key_hash)) {
        sg_request_fail(r, SG_ERR_INVALID_API_KEY, "invalid admin key");
        return 0;
    }
    return 1;
}

static void send_json(sg_request_t *r, json_t *obj)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    sg_request_json(r, 200, text, strlen(text));
    free(text);
}

static void backends(sg_request_t *r)
{
    sg_config_t *conf = r->config;
    json_t *items = json_array();
    for (size_t i = 0; i != conf->num_backends; ++i) {
        sg_backend_conf_t *be = conf->backends + i;
        sg_backend_t *b = be->rt;
        char last_error[sizeof(b->last_error)];
        pthread_mutex_lock(&b->lock);
        memcpy(last_error, b->last_error, sizeof(last_error));
        pthread_mutex_unlock(&b->lock);
        json_t *labels = json_object();
        for (size_t j = 0; j != be->num_labels; ++j)
            json_object_set_new(labels, be->labels[j].key, json_string(be->labels[j].value));
        json_array_append_new(
            items, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:s?}", "name", be->name, "url",
                             be->url, "state", sg_backend_state_name(__atomic_load_n(&b->state, __ATOMIC_RELAXED)), "weight",
                             (json_int_t)be->weight, "capacity", (json_int_t)be->capacity, "max_connections",
                             (json_int_t)be->max_connections, "labels", labels, "last_check_ms",
                             (json_int_t)__atomic_load_n(&b->last_check_ms, __ATOMIC_RELAXED), "last_change_ms",
                             (json_int_t)__atomic_load_n(&b->last_change_ms, __ATOMIC_RELAXED), "consecutive_failures",
                             (json_int_t)__atomic_load_n(&b->consecutive_fail, __ATOMIC_RELAXED), "failures_total",
                             (json_int_t)__atomic_load_n(&b->failures, __ATOMIC_RELAXED), "in_flight",
                             (json_int_t)__atomic_load_n(&b->in_flight, __ATOMIC_RELAXED), "pool_connections",
                             (json_int_t)__atomic_load_n(&b->pool_conns, __ATOMIC_RELAXED), "last_error",
                             last_error[0] != '\0' ? last_error : NULL));
    }
    send_json(r, json_pack("{s:o}", "backends", items));
}

static void metrics(sg_request_t *r)
{
    size_t num_threads;
    sg_thread_t *threads = sg_thread_all(&num_threads);
    sg_metrics_t *shards[num_threads + 1];
    for (size_t i = 0; i != num_threads; ++i)
        shards[i] = &threads[i].metrics;
    size_t len;
    char *text = sg_metrics_render(shards, num_threads, r->config, &len);
    if (text == NULL) {
        sg_request_fail(r, SG_ERR_INTERNAL_ERROR, "out of memory");
        return;
    }
    h2o_req_t *req = r->req;
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("text/plain; version=0.0.4"));
    h2o_iovec_t body = h2o_strdup(&req->pool, text, len);
    free(text);
    r->proxied = 1; /* a text/plain 200 of our own: the JSON error filter must leave it alone */
    h2o_send_inline(req, body.base, body.len);
}

void sg_admin_handle(sg_request_t *r)
{
    h2o_req_t *req = r->req;
    h2o_iovec_t path = req->path_normalized;
    if (!authenticate(r))
        return;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        sg_request_fail(r, SG_ERR_METHOD_NOT_ALLOWED, "the admin API only supports GET here");
        return;
    }
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/metrics"))) {
        metrics(r);
    } else if (h2o_memis(path.base, path.len, H2O_STRLIT("/admin/v1/backends"))) {
        backends(r);
    } else {
        sg_request_fail(r, SG_ERR_ROUTE_NOT_FOUND, "no admin route matches this path");
    }
}
