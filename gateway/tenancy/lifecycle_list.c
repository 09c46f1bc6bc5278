/*
 * GET /v1/sandboxes and GET /v1/snapshots for a tenant: every backend is asked
 * (all pages), the caller's items are kept, merged newest first, and paginated
 * again so that page/pageSize/totalItems/totalPages/hasNextPage are right
 * across backends. A backend that cannot answer is skipped and counted in the
 * response header X-Sandgate-Unavailable-Backends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/backend.h"
#include "tenancy/lifecycle.h"
#include "tenancy/ownership.h"
#include "runtime/thread.h"
#include "tenancy/snapshot_tag.h"
#include "config/tenant.h"
#include "util/urlenc.h"

#define FETCH_PAGE_SIZE 200
#define MAX_PAGES 100

typedef struct st_list_t list_t;

typedef struct st_fetch_t {
    list_t *list;
    sg_backend_conf_t *be;
    int page;
} fetch_t;

struct st_list_t {
    sg_request_t *r;
    int snapshots;
    h2o_iovec_t query; /* filters passed to the backends */
    long page, page_size;
    json_t *items;
    size_t pending, unavailable;
    json_t *owned_snapshots; /* snapshot ids of the tenant (object used as a set) */
    json_t *owned_sandboxes; /* sandbox ids of the tenant */
    sg_store_op_t *op;
    h2o_iovec_t bad_request; /* a backend's 400 answer, relayed as is */
};

static void list_dispose(void *p)
{
    list_t *l = p;
    if (l->op != NULL)
        sg_store_cancel(l->op);
    l->op = NULL;
    json_decref(l->items);
    json_decref(l->owned_snapshots);
    json_decref(l->owned_sandboxes);
}

static int64_t created_ms(json_t *item)
{
    int64_t ms = 0;
    json_t *c = json_object_get(item, "createdAt");
    if (json_is_string(c))
        sg_parse_rfc3339_ms(json_string_value(c), &ms);
    return ms;
}

static int newest_first(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int64_t cx = created_ms(x), cy = created_ms(y);
    if (cx != cy)
        return cx > cy ? -1 : 1;
    const char *ix = json_string_value(json_object_get(x, "id")), *iy = json_string_value(json_object_get(y, "id"));
    return strcmp(ix != NULL ? ix : "", iy != NULL ? iy : "");
}

/* 1 if the item belongs to the caller; adopts snapshots of the caller's sandboxes */
static int is_owned(list_t *l, json_t *item)
{
    sg_request_t *r = l->r;
    const char *id = json_string_value(json_object_get(item, "id"));
    if (id == NULL)
        return 0;
    if (!l->snapshots) {
        json_t *tag = json_object_get(json_object_get(item, "metadata"), r->config->lifecycle.tenant_tag);
        return json_is_string(tag) && h2o_memis(json_string_value(tag), json_string_length(tag), r->tenant.base, r->tenant.len);
    }
    char tenant[SG_STORE_ID_MAX + 1];
    if (sg_snapshot_tag_owner(r->config->lifecycle.tenant_tag, item, tenant)) /* the tag decides (snapshot_tag.h) */
        return h2o_memis(tenant, strlen(tenant), r->tenant.base, r->tenant.len);
    if (json_object_get(l->owned_snapshots, id) != NULL)
        return 1;
    const char *sandbox = json_string_value(json_object_get(item, "sandboxId"));
    return sandbox != NULL && json_object_get(l->owned_sandboxes, sandbox) != NULL;
}

static void respond(list_t *l)
{
    sg_request_t *r = l->r;
    if (l->bad_request.base != NULL) {
        sg_lifecycle_send_backend_response(r, 400, l->bad_request);
        return;
    }
    size_t n = json_array_size(l->items), kept = 0;
    json_t **arr = malloc(sizeof(*arr) * (n + 1));
    for (size_t i = 0; i != n; ++i) {
        json_t *item = json_array_get(l->items, i);
        if (!is_owned(l, item))
            continue;
        if (l->snapshots)
            sg_snapshot_tag_strip(r->config->lifecycle.tenant_tag, item);
        arr[kept++] = item;
    }
    qsort(arr, kept, sizeof(*arr), newest_first);
    size_t total_pages = (kept + (size_t)l->page_size - 1) / (size_t)l->page_size;
    size_t from = (size_t)(l->page - 1) * (size_t)l->page_size;
    json_t *page_items = json_array();
    for (size_t i = from; i < kept && i < from + (size_t)l->page_size; ++i)
        json_array_append(page_items, arr[i]);
    free(arr);
    json_t *out = json_pack("{s:o, s:{s:I, s:I, s:I, s:I, s:b}}", "items", page_items, "pagination", "page", (json_int_t)l->page,
                            "pageSize", (json_int_t)l->page_size, "totalItems", (json_int_t)kept, "totalPages",
                            (json_int_t)total_pages, "hasNextPage", (size_t)l->page < total_pages);
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    if (l->unavailable != 0) {
        char num[16];
        int len = snprintf(num, sizeof(num), "%zu", l->unavailable);
        h2o_add_header_by_str(&r->req->pool, &r->req->res.headers, H2O_STRLIT("x-sandgate-unavailable-backends"), 0, NULL,
                              h2o_strdup(&r->req->pool, num, (size_t)len).base, (size_t)len);
    }
    sg_request_json(r, 200, text, strlen(text));
    free(text);
}

static void fetch_page(fetch_t *f);

static void on_page(void *data, const char *err, int status, h2o_iovec_t body)
{
    fetch_t *f = data;
    list_t *l = f->list;
    json_t *obj = err == NULL && status == 200 ? json_loadb(body.base, body.len, 0, NULL) : NULL;
    json_t *items = json_object_get(obj, "items");
    if (err == NULL && status == 400 && l->bad_request.base == NULL) {
        /* the backends refuse the filters themselves: that is the client's error, not an outage */
        l->bad_request = h2o_strdup(&l->r->req->pool, body.base, body.len);
    } else if (!json_is_array(items)) {
        l->unavailable++;
    } else {
        json_array_extend(l->items, items);
        json_t *more = json_object_get(json_object_get(obj, "pagination"), "hasNextPage");
        if (json_is_true(more) && f->page < MAX_PAGES) {
            json_decref(obj);
            f->page++;
            fetch_page(f);
            return;
        }
    }
    json_decref(obj);
    if (--l->pending == 0)
        respond(l);
}

static void fetch_page(fetch_t *f)
{
    list_t *l = f->list;
    sg_request_t *r = l->r;
    char tail[64];
    int n = snprintf(tail, sizeof(tail), "%spage=%d&pageSize=%d", l->query.len != 0 ? "&" : "", f->page, FETCH_PAGE_SIZE);
    h2o_iovec_t path = h2o_concat(&r->req->pool, h2o_iovec_init(l->snapshots ? "/v1/snapshots?" : "/v1/sandboxes?", 14), l->query,
                                  h2o_iovec_init(tail, (size_t)n));
    sg_lifecycle_call(r, f->be, "GET", path, h2o_iovec_init(NULL, 0), on_page, f);
    r->backend = h2o_iovec_init(NULL, 0); /* a list involves every backend */
}

static void fan_out(list_t *l)
{
    sg_request_t *r = l->r;
    sg_config_t *conf = r->config;
    for (size_t i = 0; i != conf->num_backends; ++i)
        sg_backend_is_up(conf->backends[i].rt) ? ++l->pending : ++l->unavailable;
    if (l->pending == 0) {
        respond(l);
        return;
    }
    /* callbacks never run inside sg_lifecycle_call, so pending is complete before any answer */
    for (size_t i = 0; i != conf->num_backends; ++i) {
        if (!sg_backend_is_up(conf->backends[i].rt))
            continue;
        fetch_t *f = h2o_mem_alloc_pool(&r->req->pool, sizeof(*f));
        *f = (fetch_t){l, conf->backends + i, 1};
        fetch_page(f);
    }
}

const char *sg_lifecycle_list_query(h2o_mem_pool_t *pool, h2o_iovec_t q, int snapshots, const char *tag, h2o_iovec_t tenant,
                                    long *page, long *page_size, h2o_iovec_t *backend_query)
{
    h2o_iovec_t out = h2o_iovec_init("", 0), inner = h2o_iovec_init("", 0), name, value;
    const char *p = q.base, *end = q.base + q.len;
    *page = 1;
    *page_size = 20;
    while (sg_query_next(&p, end, &name, &value)) {
        h2o_iovec_t v = value.base != NULL ? sg_url_decode(pool, value.base, value.len, 1) : h2o_iovec_init("", 0);
        if (v.base == NULL)
            return "malformed percent-encoding in the query string";
        if (h2o_memis(name.base, name.len, H2O_STRLIT("page")) || h2o_memis(name.base, name.len, H2O_STRLIT("pageSize"))) {
            char *e;
            long n = strtol(v.base, &e, 10);
            if (v.len == 0 || *e != '\0' || n < 1 || n > 1000000)
                return "page and pageSize must be positive integers";
            *(name.len == 4 ? page : page_size) = n;
        } else if (!snapshots && h2o_memis(name.base, name.len, H2O_STRLIT("metadata"))) {
            /* v is "k=v&k2=v2" with keys and values encoded once more; the tenant tag is the gateway's */
            const char *ip = v.base, *iend = v.base + v.len;
            h2o_iovec_t k, kv;
            while (sg_query_next(&ip, iend, &k, &kv)) {
                h2o_iovec_t dk = sg_url_decode(pool, k.base, k.len, 1);
                if (k.len == 0 || kv.base == NULL || dk.base == NULL || sg_url_decode(pool, kv.base, kv.len, 1).base == NULL)
                    return "metadata filter must be url-encoded key=value pairs joined by '&'";
                if (dk.base != NULL && strcmp(dk.base, tag) == 0)
                    continue;
                h2o_iovec_t pair = h2o_iovec_init(k.base, (kv.base != NULL ? (size_t)(kv.base + kv.len - k.base) : k.len));
                inner = inner.len == 0 ? pair : h2o_concat(pool, inner, h2o_iovec_init(H2O_STRLIT("&")), pair);
            }
        } else if (h2o_memis(name.base, name.len, H2O_STRLIT("state")) ||
                   (snapshots && h2o_memis(name.base, name.len, H2O_STRLIT("sandboxId")))) {
            h2o_iovec_t enc = sg_url_encode(pool, v.base, v.len);
            out = h2o_concat(pool, out, out.len != 0 ? h2o_iovec_init(H2O_STRLIT("&")) : h2o_iovec_init("", 0), name,
                             h2o_iovec_init(H2O_STRLIT("=")), enc);
        }
    }
    if (!snapshots) {
        h2o_iovec_t own = h2o_concat(pool, sg_url_encode(pool, tag, strlen(tag)), h2o_iovec_init(H2O_STRLIT("=")),
                                     sg_url_encode(pool, tenant.base, tenant.len));
        inner = inner.len == 0 ? own : h2o_concat(pool, inner, h2o_iovec_init(H2O_STRLIT("&")), own);
        out = h2o_concat(pool, out, out.len != 0 ? h2o_iovec_init(H2O_STRLIT("&")) : h2o_iovec_init("", 0),
                         h2o_iovec_init(H2O_STRLIT("metadata=")), sg_url_encode(pool, inner.base, inner.len));
    }
    *backend_query = out;
    return NULL;
}

/* parses page/pageSize and the filters; sends 400 and returns -1 on bad input */
static int parse_query(list_t *l)
{
    sg_request_t *r = l->r;
    h2o_req_t *req = r->req;
    h2o_iovec_t q = req->query_at != SIZE_MAX
                        ? h2o_iovec_init(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1)
                        : h2o_iovec_init("", 0);
    const char *why = sg_lifecycle_list_query(&req->pool, q, l->snapshots, r->config->lifecycle.tenant_tag, r->tenant, &l->page,
                                              &l->page_size, &l->query);
    if (why != NULL) {
        sg_request_fail(r, SG_ERR_INVALID_REQUEST, why);
        return -1;
    }
    return 0;
}

static list_t *new_list(sg_request_t *r, int snapshots)
{
    if (r->tenant_def == NULL) {
        sg_request_fail(r, SG_ERR_MISSING_API_KEY, NULL);
        return NULL;
    }
    list_t *l = h2o_mem_alloc_pool(&r->req->pool, sizeof(*l));
    memset(l, 0, sizeof(*l));
    l->r = r;
    l->snapshots = snapshots;
    l->items = json_array();
    sg_request_on_dispose(r, list_dispose, l);
    if (parse_query(l) != 0)
        return NULL;
    return l;
}

void sg_lifecycle_list_sandboxes(sg_request_t *r)
{
    list_t *l = new_list(r, 0);
    if (l != NULL)
        fan_out(l);
}

static void on_owned_sandboxes(void *data, const char *err, const sg_sandbox_rec_t *recs, size_t n)
{
    list_t *l = data;
    l->op = NULL;
    if (err != NULL) {
        sg_request_fail(l->r, SG_ERR_STORE_UNAVAILABLE, NULL);
        return;
    }
    l->owned_sandboxes = json_object();
    for (size_t i = 0; i != n; ++i)
        json_object_set_new(l->owned_sandboxes, recs[i].id, json_true());
    fan_out(l);
}

static void on_owned_snapshots(void *data, const char *err, const sg_snapshot_rec_t *recs, size_t n)
{
    list_t *l = data;
    l->op = NULL;
    if (err != NULL) {
        sg_request_fail(l->r, SG_ERR_STORE_UNAVAILABLE, NULL);
        return;
    }
    l->owned_snapshots = json_object();
    for (size_t i = 0; i != n; ++i)
        json_object_set_new(l->owned_snapshots, recs[i].id, json_true());
    char tenant[SG_STORE_ID_MAX + 1];
    snprintf(tenant, sizeof(tenant), "%.*s", (int)l->r->tenant.len, l->r->tenant.base);
    l->op = sg_store_list_sandboxes(l->r->thread->store, tenant, on_owned_sandboxes, l);
}

void sg_lifecycle_list_snapshots(sg_request_t *r)
{
    list_t *l = new_list(r, 1);
    if (l == NULL)
        return;
    char tenant[SG_STORE_ID_MAX + 1];
    snprintf(tenant, sizeof(tenant), "%.*s", (int)r->tenant.len, r->tenant.base);
    l->op = sg_store_list_snapshots(r->thread->store, tenant, on_owned_snapshots, l);
}
