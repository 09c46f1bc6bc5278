#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/backend.h"
#include "backend/httpclient.h"
#include "tenancy/lifecycle.h"
#include "tenancy/endpoint.h"
#include "tenancy/port.h"
#include "tenancy/lifecycle_route.h"
#include "tenancy/ownership.h"
#include "tenancy/quota.h"
#include "tenancy/renew.h"
#include "proxy/proxy.h"
#include "runtime/thread.h"
#include "tenancy/snapshot_tag.h"
#include "backend/upstream_pool.h"

typedef struct st_lc_t {
    sg_request_t *r;
    sg_lc_route_t route;
    char id[SG_STORE_ID_MAX + 1];
    sg_backend_conf_t *be;
    json_t *body;                 /* parsed request body (create) */
    sg_create_request_t create;   /* what the create asks for */
    sg_sandbox_rec_t rec;         /* record being written */
    int status;                   /* backend status to relay */
    h2o_iovec_t response;         /* backend body to relay (pool copy) */
    uint64_t asked_ms;            /* when the endpoint of a port was asked from the backend */
    sg_quota_ticket_t *quota;     /* the quota reservation of a create or snapshot (quota.h) */
    sg_endpoint_query_t endpoint; /* GET .../endpoints/{port}: what the query asks for */
} lc_t;

void sg_lifecycle_sandbox_not_found(sg_request_t *r, const char *id)
{
    char msg[SG_STORE_ID_MAX + 64];
    snprintf(msg, sizeof(msg), "Sandbox %s not found.", id);
    sg_request_fail(r, SG_ERR_SANDBOX_NOT_FOUND, msg);
}

void sg_lifecycle_snapshot_not_found(sg_request_t *r, const char *id)
{
    char msg[SG_STORE_ID_MAX + 64];
    snprintf(msg, sizeof(msg), "Snapshot %s not found.", id);
    sg_request_fail(r, SG_ERR_SNAPSHOT_NOT_FOUND, msg);
}

void sg_lifecycle_backend_error(sg_request_t *r, const char *err)
{
    sg_proxy_fail_upstream(r, err, "all connections to the backend are in use; retry later", "cannot connect to the backend");
}

void sg_lifecycle_send_backend_response(sg_request_t *r, int status, h2o_iovec_t body)
{
    if (status >= 400) {
        /* the client is promised JSON errors: an HTML page of a backend or of a proxy in front of it is not one */
        json_t *obj = json_loadb(body.base != NULL ? body.base : "", body.len, 0, NULL);
        int is_object = json_is_object(obj);
        json_decref(obj);
        if (!is_object) {
            sg_request_backend_error(r, status);
            return;
        }
    }
    r->proxied = 1; /* the backend's own words, errors included */
    sg_request_json(r, status, body.base != NULL ? body.base : "", body.len);
}

static void store_error(sg_request_t *r)
{
    sg_request_fail(r, SG_ERR_STORE_UNAVAILABLE, NULL);
}

sg_backend_conf_t *sg_lifecycle_owner_backend(sg_request_t *r, const char *err, const char *tenant, const char *backend,
                                              int is_snapshot, const char *id)
{
    sg_backend_conf_t *be;
    if (err == sg_ownership_err_busy) {
        sg_request_fail(r, SG_ERR_TOO_MANY_PROBES,
                        "too many concurrent look-ups of ids this gateway does not know for this tenant; retry later");
        return NULL;
    }
    if (err != NULL) {
        store_error(r);
        return NULL;
    }
    if (tenant == NULL || !h2o_memis(tenant, strlen(tenant), r->tenant.base, r->tenant.len)) {
        if (is_snapshot)
            sg_lifecycle_snapshot_not_found(r, id);
        else
            sg_lifecycle_sandbox_not_found(r, id);
        return NULL;
    }
    if ((be = sg_config_find_backend(r->config, backend)) == NULL || !sg_backend_is_up(be->rt)) {
        sg_request_fail(r, SG_ERR_BACKEND_UNAVAILABLE,
                        is_snapshot ? "the backend holding this snapshot is unavailable; retry later"
                                    : "the backend holding this sandbox is unavailable; retry later");
        return NULL;
    }
    return be;
}

typedef struct st_call_slot_t {
    sg_backend_call_t *call;
    sg_backend_call_cb cb;
    void *data;
} call_slot_t;

static void call_dispose(void *p)
{
    call_slot_t *slot = p;
    if (slot->call != NULL)
        sg_backend_call_cancel(slot->call);
    slot->call = NULL;
}

static void on_call_done(void *p, const char *err, int status, h2o_iovec_t body)
{
    call_slot_t *slot = p;
    slot->call = NULL;
    slot->cb(slot->data, err, status, body);
}

void sg_lifecycle_call(sg_request_t *r, sg_backend_conf_t *be, const char *method, h2o_iovec_t path, h2o_iovec_t body,
                       sg_backend_call_cb cb, void *data)
{
    call_slot_t *slot = h2o_mem_alloc_pool(&r->req->pool, sizeof(*slot));
    slot->cb = cb;
    slot->data = data;
    sg_request_on_dispose(r, call_dispose, slot);
    r->backend = h2o_iovec_init(be->name, strlen(be->name));
    slot->call =
        sg_backend_call(&r->thread->loop, r->config, be, method, path, body, r->request_id, 8 * 1024 * 1024, on_call_done, slot);
}

static h2o_iovec_t pool_copy(sg_request_t *r, h2o_iovec_t v)
{
    return h2o_strdup(&r->req->pool, v.base != NULL ? v.base : "", v.len);
}

/* parses the request body as a JSON object; sends 400/413 and returns NULL on failure */
static json_t *parse_body(sg_request_t *r, int required)
{
    h2o_req_t *req = r->req;
    if (req->entity.base == NULL || req->entity.len == 0) {
        if (required)
            sg_request_fail(r, SG_ERR_INVALID_REQUEST, "a JSON request body is required");
        return NULL;
    }
    if (req->entity.len > r->config->lifecycle.max_body) {
        sg_request_fail(r, SG_ERR_PAYLOAD_TOO_LARGE, "the JSON body exceeds lifecycle.max_json_body");
        return NULL;
    }
    json_error_t jerr;
    json_t *body = json_loadb(req->entity.base, req->entity.len, JSON_REJECT_DUPLICATES, &jerr);
    if (body == NULL || !json_is_object(body)) {
        char msg[256];
        snprintf(msg, sizeof(msg), "the request body is not a JSON object%s%s", body == NULL ? ": " : "",
                 body == NULL ? jerr.text : "");
        json_decref(body);
        sg_request_fail(r, SG_ERR_INVALID_REQUEST, msg);
        return NULL;
    }
    return body;
}

static void free_json(void *p)
{
    json_decref(p);
}

/* 1 (and 403 sent) when a metadata object tries to set the gateway's tenant tag */
static int touches_tenant_tag(sg_request_t *r, json_t *metadata)
{
    if (json_object_get(metadata, r->config->lifecycle.tenant_tag) == NULL)
        return 0;
    char msg[256];
    snprintf(msg, sizeof(msg), "metadata key '%s' is reserved by the gateway and cannot be set, changed or removed",
             r->config->lifecycle.tenant_tag);
    sg_request_fail(r, SG_ERR_RESERVED_METADATA, msg);
    return 1;
}

/* ---- routes that change a running sandbox ---- */

/*
 * Admission of a metadata patch or a network policy update; 1 (and the answer
 * sent) if refused. A network policy GET is read-only; a DELETE clears the
 * policy, which is allow-all, so only a tenant allowed allow-all may send it.
 */
static int check_change(lc_t *lc)
{
    sg_request_t *r = lc->r;
    const sg_tenant_t *t = r->tenant_def;
    const char *code = NULL;
    char msg[512];
    int status = 0;
    if (lc->route.op == SG_LC_NETWORK_POLICY) {
        if (h2o_memis(r->req->method.base, r->req->method.len, H2O_STRLIT("GET")))
            return 0;
        if (h2o_memis(r->req->method.base, r->req->method.len, H2O_STRLIT("DELETE"))) {
            if (sg_admission_num(&t->admission, SG_ADM_NETWORK_ALLOW_ALL))
                return 0;
            snprintf(msg, sizeof(msg),
                     "deleting the network policy means allow-all, which tenant %s may not set (admission.network_allow_all)",
                     t->id);
            sg_request_fail(r, SG_ERR_ADMISSION_NETWORK_POLICY, msg);
            return 1;
        }
    }
    json_t *body = parse_body(r, 1);
    if (body == NULL)
        return 1;
    if (lc->route.op == SG_LC_PATCH_METADATA) {
        if (touches_tenant_tag(r, body)) {
            json_decref(body);
            return 1;
        }
        status = sg_admission_check_metadata_patch(&t->admission, t->id, body, &code, msg, sizeof(msg));
    } else {
        status = sg_admission_check_network_update(&t->admission, t->id, body, &code, msg, sizeof(msg));
    }
    json_decref(body);
    if (status != 0)
        sg_request_error(r, status, code, msg);
    return status != 0;
}

/* ---- create ---- */

static sg_backend_conf_t *place(sg_request_t *r)
{
    sg_config_t *conf = r->config;
    sg_backend_conf_t *best = NULL;
    double best_score = 0;
    for (size_t i = 0; i != conf->num_backends; ++i) {
        sg_backend_conf_t *be = conf->backends + i;
        if (be->weight == 0 || !sg_backend_is_up(be->rt) || __atomic_load_n(&be->rt->draining, __ATOMIC_RELAXED))
            continue;
        const char *keys[be->num_labels + 1], *values[be->num_labels + 1];
        for (size_t j = 0; j != be->num_labels; ++j) {
            keys[j] = be->labels[j].key;
            values[j] = be->labels[j].value;
        }
        if (!sg_tenant_backend_allowed(r->tenant_def, keys, values, be->num_labels))
            continue;
        int64_t live = __atomic_load_n(&be->rt->live_sandboxes, __ATOMIC_RELAXED);
        if (be->capacity != 0 && live >= (int64_t)be->capacity)
            continue;
        /* least loaded relative to weight; random tie-break keeps equal backends balanced */
        double score = (double)(live + 1) / (double)be->weight + (double)(sg_thread_random(r->thread) % 1000) * 1e-9;
        if (best == NULL || score < best_score) {
            best = be;
            best_score = score;
        }
    }
    return best;
}

static void on_compensated(void *data, const char *err, int status, h2o_iovec_t body)
{
    (void)data, (void)body;
    if (err != NULL || status >= 300)
        fprintf(stderr, "sandgate: could not delete a sandbox whose creation could not be recorded (%s, HTTP %d)\n",
                err != NULL ? err : "ok", status);
}

static void on_create_recorded(void *data, const char *err)
{
    lc_t *lc = data;
    sg_request_t *r = lc->r;
    if (err != NULL) {
        /* the client is told the create failed, so the sandbox must not survive untracked */
        char path[SG_STORE_ID_MAX + 32];
        int n = snprintf(path, sizeof(path), "/v1/sandboxes/%s", lc->rec.id);
        sg_backend_call(&r->thread->loop, r->config, lc->be, "DELETE", h2o_iovec_init(path, (size_t)n), h2o_iovec_init(NULL, 0),
                        r->request_id, 65536, on_compensated, NULL);
        /* the record write may still land (a stalled Redis runs it when it resumes): purge it after that */
        sg_ownership_invalidate(lc->rec.id);
        sg_store_purge_sandbox(r->thread->store, lc->rec.id, lc->rec.tenant);
        sg_quota_release(lc->quota);
        store_error(r);
        return;
    }
    sg_quota_committed(lc->quota);
    __atomic_add_fetch(&lc->be->rt->live_sandboxes, 1, __ATOMIC_RELAXED);
    sg_lifecycle_send_backend_response(r, lc->status, lc->response);
}

static void on_create_response(void *data, const char *err, int status, h2o_iovec_t body)
{
    lc_t *lc = data;
    sg_request_t *r = lc->r;
    /* a refused create gives its reservation back; after a timeout the sandbox may exist: the lease decides */
    if ((err != NULL && !sg_httpclient_err_is_timeout(err)) || (err == NULL && (status < 200 || status >= 300)))
        sg_quota_release(lc->quota);
    if (err != NULL) {
        sg_lifecycle_backend_error(r, err);
        return;
    }
    if (status < 200 || status >= 300) {
        sg_lifecycle_send_backend_response(r, status, body);
        return;
    }
    json_t *sb = json_loadb(body.base, body.len, 0, NULL);
    int ok = sb != NULL && sg_sandbox_rec_from_json(r->config->lifecycle.tenant_tag, lc->be->name, sb, &lc->rec) == 0;
    json_decref(sb);
    if (!ok) {
        sg_request_fail(r, SG_ERR_BAD_GATEWAY, "the backend's create response has no sandbox id");
        return;
    }
    snprintf(lc->rec.tenant, sizeof(lc->rec.tenant), "%.*s", (int)r->tenant.len, r->tenant.base);
    lc->rec.cpu_millis = lc->create.cpu_millis;
    lc->rec.memory_mb = lc->create.memory_mb;
    lc->rec.renew_extend_s = sg_renew_extension(lc->body); /* the backend accepted it: it was valid */
    if (lc->rec.created_at_ms == 0)
        lc->rec.created_at_ms = (int64_t)(sg_now_us() / 1000);
    if (lc->rec.expires_at_ms == 0 && lc->create.timeout_s != 0)
        lc->rec.expires_at_ms = lc->rec.created_at_ms + lc->create.timeout_s * 1000;
    r->sandbox_id = h2o_strdup(&r->req->pool, lc->rec.id, strlen(lc->rec.id));
    snprintf(lc->rec.reservation, sizeof(lc->rec.reservation), "%s", lc->quota->req.rid);
    lc->status = status;
    lc->response = pool_copy(r, body);
    sg_ownership_put_sandbox(r, &lc->rec, on_create_recorded, lc);
}

static void forward_create(lc_t *lc)
{
    sg_request_t *r = lc->r;
    char *text = json_dumps(lc->body, JSON_COMPACT);
    h2o_iovec_t body = h2o_strdup(&r->req->pool, text, strlen(text));
    free(text);
    sg_quota_sent(lc->quota);
    sg_lifecycle_call(r, lc->be, "POST", h2o_iovec_init(H2O_STRLIT("/v1/sandboxes")), body, on_create_response, lc);
}

static void on_create_snapshot_owner(sg_request_t *r, void *data, const char *err, const sg_snapshot_rec_t *rec)
{
    lc_t *lc = data;
    if ((lc->be = sg_lifecycle_owner_backend(r, err, rec != NULL ? rec->tenant : NULL, rec != NULL ? rec->backend : NULL, 1,
                                             lc->create.snapshot_id)) == NULL)
        return;
    forward_create(lc);
}

static void on_create_reserved(sg_request_t *r, void *data);

static void create_sandbox(lc_t *lc)
{
    sg_request_t *r = lc->r;
    const char *code;
    char msg[512];
    if ((lc->body = parse_body(r, 1)) == NULL)
        return;
    sg_request_on_dispose(r, free_json, lc->body);
    /* a sandbox whose ownership cannot be recorded would have to be deleted again: refuse early */
    if (sg_store_is_down(r->thread->store)) {
        store_error(r);
        return;
    }
    /* the tag rule first: touching the tag is refused as such, whatever else the body holds */
    json_t *metadata = json_object_get(lc->body, "metadata");
    if (json_is_object(metadata) && touches_tenant_tag(r, metadata))
        return;
    int status = sg_tenant_check_create(r->tenant_def, lc->body, &lc->create, &code, msg, sizeof(msg));
    if (status != 0) {
        sg_request_error(r, status, code, msg);
        return;
    }
    metadata = json_object_get(lc->body, "metadata");
    if (metadata == NULL || json_is_null(metadata)) {
        metadata = json_object();
        json_object_set_new(lc->body, "metadata", metadata);
    } else if (!json_is_object(metadata)) {
        sg_request_fail(r, SG_ERR_INVALID_REQUEST, "metadata must be an object of strings");
        return;
    }
    json_object_set_new(metadata, r->config->lifecycle.tenant_tag, json_stringn(r->tenant.base, r->tenant.len));
    sg_quota_reserve(r, &lc->quota, SG_QUOTA_KIND_SANDBOX, lc->create.cpu_millis, lc->create.memory_mb, on_create_reserved, lc);
}

/* the quota holds the create: find its backend */
static void on_create_reserved(sg_request_t *r, void *data)
{
    lc_t *lc = data;
    if (lc->create.snapshot_id != NULL) {
        sg_ownership_snapshot(r, lc->create.snapshot_id, on_create_snapshot_owner, lc);
        return;
    }
    if ((lc->be = place(r)) == NULL) {
        sg_request_fail(r, SG_ERR_NO_CAPACITY, "no healthy backend with free capacity is available for this tenant; retry later");
        return;
    }
    forward_create(lc);
}

/* ---- sandbox-scoped operations ---- */

static void on_delete_status(sg_request_t *r, void *data, int status)
{
    lc_t *lc = data;
    if ((status >= 200 && status < 300) || status == 404) {
        sg_quota_forget_deleted(r, SG_QUOTA_KIND_SANDBOX, lc->id);
        sg_ownership_forget_sandbox(r, lc->id);
        sg_port_forget(lc->id);
        if (status != 404)
            __atomic_sub_fetch(&lc->be->rt->live_sandboxes, 1, __ATOMIC_RELAXED);
    }
}

/* answers transport errors and 404s of a sandbox-scoped backend call; returns 1 if it did */
static int relay_failure(lc_t *lc, const char *err, int status)
{
    if (err != NULL) {
        sg_lifecycle_backend_error(lc->r, err);
        return 1;
    }
    if (status == 404) {
        sg_lifecycle_sandbox_not_found(lc->r, lc->id);
        return 1;
    }
    return 0;
}

static void on_renewed(void *data, const char *err, int status, h2o_iovec_t body)
{
    lc_t *lc = data;
    sg_request_t *r = lc->r;
    if (relay_failure(lc, err, status))
        return;
    if (status == 200)
        sg_ownership_renewed(r->thread->store, &lc->rec, body);
    sg_lifecycle_send_backend_response(r, status, body);
}

static void on_snapshot_created(void *data, const char *err, int status, h2o_iovec_t body)
{
    lc_t *lc = data;
    sg_request_t *r = lc->r;
    if ((err != NULL && !sg_httpclient_err_is_timeout(err)) || (err == NULL && (status < 200 || status >= 300)))
        sg_quota_release(lc->quota);
    if (relay_failure(lc, err, status))
        return;
    if (status >= 200 && status < 300) {
        json_t *obj = json_loadb(body.base, body.len, 0, NULL);
        json_t *id = json_object_get(obj, "id");
        if (json_is_string(id) && json_string_length(id) <= SG_STORE_ID_MAX) {
            sg_snapshot_rec_t snap = {{0}};
            snprintf(snap.id, sizeof(snap.id), "%s", json_string_value(id));
            snprintf(snap.tenant, sizeof(snap.tenant), "%s", lc->rec.tenant);
            snprintf(snap.backend, sizeof(snap.backend), "%s", lc->be->name);
            snprintf(snap.reservation, sizeof(snap.reservation), "%s", lc->quota->req.rid);
            sg_ownership_put_snapshot(r, &snap, NULL, NULL);
            sg_quota_committed(lc->quota);
        }
        json_decref(obj);
    }
    sg_lifecycle_send_backend_response(r, status, sg_snapshot_tag_strip_body(&r->req->pool, r->config->lifecycle.tenant_tag, body));
}

static void on_endpoint_checked(void *data, const char *err, int status, h2o_iovec_t body)
{
    lc_t *lc = data;
    if (relay_failure(lc, err, status))
        return;
    if (status != 200) {
        sg_lifecycle_send_backend_response(lc->r, status, body);
        return;
    }
    sg_port_remember_endpoint(lc->id, lc->route.port, lc->rec.expires_at_ms, lc->asked_ms, body);
    sg_endpoint_send(lc->r, lc->id, lc->route.port, &lc->endpoint);
}

/* POST .../snapshots once the quota holds it; the backend keeps the tenant in the snapshot's name (snapshot_tag.h) */
static void create_snapshot(sg_request_t *r, void *data)
{
    lc_t *lc = data;
    const char *bad = NULL;
    h2o_iovec_t body = sg_snapshot_tag_request(&r->req->pool, r->config->lifecycle.tenant_tag, r->tenant, r->req->entity, &bad);
    if (body.base == NULL) {
        sg_request_fail(r, SG_ERR_INVALID_REQUEST, bad);
        return;
    }
    sg_quota_sent(lc->quota);
    sg_lifecycle_call(r, lc->be, "POST", r->req->input.path, body, on_snapshot_created, lc);
}

static void on_sandbox_owner(sg_request_t *r, void *data, const char *err, const sg_sandbox_rec_t *rec)
{
    lc_t *lc = data;
    h2o_req_t *req = r->req;
    if ((lc->be = sg_lifecycle_owner_backend(r, err, rec != NULL ? rec->tenant : NULL, rec != NULL ? rec->backend : NULL, 0,
                                             lc->id)) == NULL)
        return;
    lc->rec = *rec;
    char msg[SG_STORE_ID_MAX + 64];
    snprintf(msg, sizeof(msg), "Sandbox %s not found.", lc->id);
    sg_proxy_target_t opts = {.not_found_code = SG_ERR_CODE(SG_ERR_SANDBOX_NOT_FOUND),
                              .not_found_message = h2o_strdup(&req->pool, msg, strlen(msg)).base};
    switch (lc->route.op) {
    case SG_LC_ENDPOINT: {
        if (sg_endpoint_parse_query(r, &lc->endpoint) != 0)
            return;
        /* the backend confirms the sandbox and port (and its answer warms the port traffic cache) */
        char path[SG_STORE_ID_MAX + 48];
        int n = snprintf(path, sizeof(path), "/v1/sandboxes/%s/endpoints/%u", lc->id, (unsigned)lc->route.port);
        lc->asked_ms = sg_now_us() / 1000;
        sg_lifecycle_call(r, lc->be, "GET", h2o_iovec_init(h2o_strdup(&req->pool, path, (size_t)n).base, (size_t)n),
                          h2o_iovec_init(NULL, 0), on_endpoint_checked, lc);
        return;
    }
    case SG_LC_DELETE_SANDBOX:
        opts.on_status = on_delete_status;
        opts.on_status_data = lc;
        break;
    case SG_LC_PATCH_METADATA:
    case SG_LC_NETWORK_POLICY:
        if (check_change(lc))
            return;
        break;
    case SG_LC_RENEW: {
        uint64_t max_s = r->tenant_def->policy.max_timeout_s;
        json_t *body = parse_body(r, 1);
        if (body == NULL)
            return;
        json_t *exp = json_object_get(body, "expiresAt");
        int64_t exp_ms = 0;
        int bad = !json_is_string(exp) || sg_parse_rfc3339_ms(json_string_value(exp), &exp_ms) != 0;
        json_decref(body);
        if (bad) {
            sg_request_fail(r, SG_ERR_INVALID_REQUEST, "expiresAt must be an RFC 3339 date-time");
            return;
        }
        /* in milliseconds: a second rounded away would let a renew pass max_timeout */
        int64_t ahead_ms = exp_ms - (int64_t)(sg_now_us() / 1000);
        if (max_s != 0 && ahead_ms > (int64_t)max_s * 1000) {
            char msg[256];
            snprintf(msg, sizeof(msg), "expiresAt is %.3f s ahead, beyond the max_timeout of tenant %s (%llu s)",
                     (double)ahead_ms / 1000, r->tenant_def->id, (unsigned long long)max_s);
            sg_request_fail(r, SG_ERR_TIMEOUT_TOO_LONG, msg);
            return;
        }
        sg_lifecycle_call(r, lc->be, "POST", req->input.path, req->entity, on_renewed, lc);
        return;
    }
    case SG_LC_CREATE_SNAPSHOT:
        sg_quota_reserve(r, &lc->quota, SG_QUOTA_KIND_SNAPSHOT, 0, 0, create_snapshot, lc);
        return;
    default:
        break;
    }
    sg_proxy_to_backend(r, lc->be, req->input.path, &opts);
}

/* ---- snapshot-scoped operations ---- */

static void on_snapshot_delete_status(sg_request_t *r, void *data, int status)
{
    lc_t *lc = data;
    if ((status >= 200 && status < 300) || status == 404) {
        sg_quota_forget_deleted(r, SG_QUOTA_KIND_SNAPSHOT, lc->id);
        sg_ownership_forget_snapshot(r, lc->id);
    }
}

static void on_snapshot_fetched(void *data, const char *err, int status, h2o_iovec_t body)
{
    lc_t *lc = data;
    sg_request_t *r = lc->r;
    if (err != NULL) {
        sg_lifecycle_backend_error(r, err);
    } else if (status == 404) {
        sg_lifecycle_snapshot_not_found(r, lc->id);
    } else {
        sg_lifecycle_send_backend_response(r, status,
                                           sg_snapshot_tag_strip_body(&r->req->pool, r->config->lifecycle.tenant_tag, body));
    }
}

static void on_snapshot_owner(sg_request_t *r, void *data, const char *err, const sg_snapshot_rec_t *rec)
{
    lc_t *lc = data;
    if ((lc->be = sg_lifecycle_owner_backend(r, err, rec != NULL ? rec->tenant : NULL, rec != NULL ? rec->backend : NULL, 1,
                                             lc->id)) == NULL)
        return;
    if (lc->route.op == SG_LC_GET_SNAPSHOT) { /* buffered: the tenant tag is taken out of the name */
        sg_lifecycle_call(r, lc->be, "GET", r->req->input.path, h2o_iovec_init(NULL, 0), on_snapshot_fetched, lc);
        return;
    }
    char msg[SG_STORE_ID_MAX + 64];
    snprintf(msg, sizeof(msg), "Snapshot %s not found.", lc->id);
    sg_proxy_target_t opts = {.not_found_code = SG_ERR_CODE(SG_ERR_SNAPSHOT_NOT_FOUND),
                              .not_found_message = h2o_strdup(&r->req->pool, msg, strlen(msg)).base};
    if (lc->route.op == SG_LC_DELETE_SNAPSHOT) {
        opts.on_status = on_snapshot_delete_status;
        opts.on_status_data = lc;
    }
    sg_proxy_to_backend(r, lc->be, r->req->input.path, &opts);
}

void sg_lifecycle_handle(sg_request_t *r)
{
    h2o_req_t *req = r->req;
    if (r->tenant_def == NULL) {
        sg_request_fail(r, SG_ERR_MISSING_API_KEY, NULL);
        return;
    }
    lc_t *lc = h2o_mem_alloc_pool(&req->pool, sizeof(*lc));
    memset(lc, 0, sizeof(*lc));
    lc->r = r;
    sg_lc_route_parse(req->method.base, req->method.len, req->input.path.base, req->input.path.len, &lc->route);
    if (lc->route.id != NULL)
        snprintf(lc->id, sizeof(lc->id), "%.*s", (int)(lc->route.id_len < SG_STORE_ID_MAX ? lc->route.id_len : SG_STORE_ID_MAX),
                 lc->route.id);

    switch (lc->route.op) {
    case SG_LC_UNKNOWN:
        sg_request_fail(r, SG_ERR_ROUTE_NOT_FOUND, "no lifecycle route matches this path");
        return;
    case SG_LC_METHOD_NOT_ALLOWED:
        sg_request_fail(r, SG_ERR_METHOD_NOT_ALLOWED, "this method is not allowed on this lifecycle route");
        return;
    case SG_LC_LIST_SANDBOXES:
        sg_lifecycle_list_sandboxes(r);
        return;
    case SG_LC_LIST_SNAPSHOTS:
        sg_lifecycle_list_snapshots(r);
        return;
    case SG_LC_CREATE_SANDBOX:
        create_sandbox(lc);
        return;
    default:
        break;
    }
    /* an id that cannot exist is answered like an unknown one */
    int is_sandbox = sg_lc_op_is_sandbox_scoped(lc->route.op);
    if (!lc->route.id_valid) {
        if (is_sandbox)
            sg_lifecycle_sandbox_not_found(r, lc->id);
        else
            sg_lifecycle_snapshot_not_found(r, lc->id);
        return;
    }
    if (is_sandbox) {
        r->sandbox_id = h2o_strdup(&req->pool, lc->id, strlen(lc->id));
        sg_ownership_sandbox(r, lc->id, on_sandbox_owner, lc);
    } else {
        sg_ownership_snapshot(r, lc->id, on_snapshot_owner, lc);
    }
}
