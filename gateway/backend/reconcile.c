/*
 * Periodic reconciliation of the store against the backends (on the health
 * thread's loop): sandboxes that expired or were deleted behind the gateway's
 * back are forgotten, tagged sandboxes the store does not know are adopted
 * (this is how the mapping is rebuilt after a store loss), and each backend's
 * live sandbox count used for placement is refreshed. Forgetting a record drops
 * its quota ledger entry (same store write); a sandbox the backend reports Failed
 * or Terminated keeps its record but stops counting against its tenant's quota.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "backend/backend.h"
#include "backend/backend_call.h"
#include "util/log.h"
#include "backend/sandbox_rec.h"
#include "backend/reconcile.h"
#include "util/clock.h"
#include "util/router.h"
#include "store/store.h"

#define PAGE_SIZE 200
#define MAX_PAGES 500

typedef struct st_round_t round_t;

typedef struct st_scan_t {
    round_t *round;
    sg_backend_conf_t *be;
    int page;
    int ok;       /* the whole list was read */
    json_t *ids;  /* object used as a set of sandbox ids seen on this backend */
    json_t *dead; /* the ids among them the backend reports Failed or Terminated */
    int64_t live;
} scan_t;

struct st_round_t {
    sg_loop_t *loop;
    sg_store_t *store;
    sg_config_t *config; /* retained for the round */
    scan_t *scans;
    size_t pending;
    size_t adopting; /* adoptions being verified with their backend */
    size_t adopted, forgotten;
    int64_t started_ms;
    int *running;
};

static void ignore(void *data, const char *err)
{
    (void)data, (void)err;
}

static void end_round(round_t *rd)
{
    if (rd->adopted != 0 || rd->forgotten != 0)
        sg_log(SG_LOG_INFO, "reconciliation: %zu sandbox(es) adopted, %zu forgotten", rd->adopted, rd->forgotten);
    for (size_t i = 0; i != rd->config->num_backends; ++i) {
        json_decref(rd->scans[i].ids);
        json_decref(rd->scans[i].dead);
    }
    free(rd->scans);
    *rd->running = 0;
    sg_config_release(rd->config);
    free(rd);
}

static scan_t *scan_of(round_t *rd, const char *backend)
{
    for (size_t i = 0; i != rd->config->num_backends; ++i)
        if (strcmp(rd->scans[i].be->name, backend) == 0)
            return rd->scans + i;
    return NULL;
}

/*
 * A sandbox the store does not know is adopted only once its backend confirms it again: the listing may be seconds
 * old, and a sandbox deleted in between (its record and ledger entry already gone) would come back as a ghost that
 * counts against its tenant's quota until the next round.
 */
typedef struct st_adopt_t {
    round_t *rd;
    sg_sandbox_rec_t rec;
} adopt_t;

static void adoption_done(round_t *rd)
{
    if (--rd->adopting == 0)
        end_round(rd);
}

static void on_adoption_checked(void *data, const char *err, int status, h2o_iovec_t body)
{
    adopt_t *a = data;
    round_t *rd = a->rd;
    json_t *obj = err == NULL && status == 200 ? json_loadb(body.base, body.len, 0, NULL) : NULL;
    const char *state = json_string_value(json_object_get(json_object_get(obj, "status"), "state"));
    if (obj != NULL) {
        sg_store_put_sandbox(rd->store, &a->rec, ignore, NULL);
        /* a Failed or Terminated sandbox keeps its record but does not count */
        if (state != NULL && (strcmp(state, "Terminated") == 0 || strcmp(state, "Failed") == 0))
            sg_store_quota_forget(rd->store, a->rec.tenant, SG_QUOTA_KIND_SANDBOX, a->rec.id);
        rd->adopted++;
    }
    json_decref(obj);
    free(a);
    adoption_done(rd);
}

static void verify_adoption(adopt_t *a, sg_backend_conf_t *be)
{
    char path[SG_STORE_ID_MAX + 32];
    int n = snprintf(path, sizeof(path), "/v1/sandboxes/%s", a->rec.id);
    sg_backend_call(a->rd->loop, a->rd->config, be, "GET", h2o_iovec_init(path, (size_t)n), h2o_iovec_init(NULL, 0),
                    h2o_iovec_init(NULL, 0), 1024 * 1024, on_adoption_checked, a);
}

static void on_store_list(void *data, const char *err, const sg_sandbox_rec_t *recs, size_t n)
{
    round_t *rd = data;
    if (err != NULL) {
        end_round(rd);
        return;
    }
    int64_t now = (int64_t)(sg_now_us() / 1000);
    json_t *known = json_object();
    for (size_t i = 0; i != n; ++i) {
        const sg_sandbox_rec_t *rec = recs + i;
        json_object_set_new(known, rec->id, json_true());
        scan_t *s = scan_of(rd, rec->backend);
        int expired = rec->expires_at_ms != 0 && rec->expires_at_ms + 60000 < now;
        /* a sandbox created while the backends were being listed is not missing */
        int vanished = s != NULL && s->ok && json_object_get(s->ids, rec->id) == NULL && rec->created_at_ms != 0 &&
                       rec->created_at_ms < rd->started_ms - 5000;
        if (expired || vanished) {
            sg_store_del_sandbox(rd->store, rec->id, ignore, NULL);
            rd->forgotten++;
        } else if (s != NULL && json_object_get(s->dead, rec->id) != NULL) {
            sg_store_quota_forget(rd->store, rec->tenant, SG_QUOTA_KIND_SANDBOX, rec->id);
        }
    }
    /* adopt what the backends hold for known tenants but the store forgot */
    rd->adopting = 1; /* held until every candidate is started */
    for (size_t i = 0; i != rd->config->num_backends; ++i) {
        scan_t *s = rd->scans + i;
        const char *id;
        json_t *item;
        json_object_foreach(s->ids, id, item)
        {
            if (json_object_get(known, id) != NULL || !json_is_object(item))
                continue;
            adopt_t *a = calloc(1, sizeof(*a));
            if (a == NULL || sg_sandbox_rec_from_json(rd->config->lifecycle.tenant_tag, s->be->name, item, &a->rec) != 0 ||
                a->rec.tenant[0] == '\0') {
                free(a);
                continue;
            }
            a->rd = rd;
            ++rd->adopting;
            verify_adoption(a, s->be);
        }
    }
    json_decref(known);
    adoption_done(rd);
}

static void scan_page(scan_t *s);

static void scan_done(scan_t *s)
{
    round_t *rd = s->round;
    if (s->ok)
        __atomic_store_n(&s->be->rt->live_sandboxes, s->live, __ATOMIC_RELAXED);
    if (--rd->pending == 0)
        sg_store_list_sandboxes(rd->store, NULL, on_store_list, rd);
}

static void on_page(void *data, const char *err, int status, h2o_iovec_t body)
{
    scan_t *s = data;
    json_t *obj = err == NULL && status == 200 ? json_loadb(body.base, body.len, 0, NULL) : NULL;
    json_t *items = json_object_get(obj, "items");
    if (!json_is_array(items)) {
        json_decref(obj);
        s->ok = 0;
        scan_done(s);
        return;
    }
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        json_t *id = json_object_get(item, "id");
        json_t *tag = json_object_get(json_object_get(item, "metadata"), s->round->config->lifecycle.tenant_tag);
        if (!json_is_string(id) || !json_is_string(tag))
            continue;
        json_object_set(s->ids, json_string_value(id), item);
        const char *state = json_string_value(json_object_get(json_object_get(item, "status"), "state"));
        if (state == NULL || (strcmp(state, "Terminated") != 0 && strcmp(state, "Failed") != 0))
            s->live++;
        else
            json_object_set_new(s->dead, json_string_value(id), json_true());
    }
    json_t *more = json_object_get(json_object_get(obj, "pagination"), "hasNextPage");
    int next = json_is_true(more) && s->page < MAX_PAGES;
    json_decref(obj);
    if (next) {
        s->page++;
        scan_page(s);
        return;
    }
    scan_done(s);
}

static void scan_page(scan_t *s)
{
    char path[64];
    int n = snprintf(path, sizeof(path), "/v1/sandboxes?page=%d&pageSize=%d", s->page, PAGE_SIZE);
    sg_backend_call(s->round->loop, s->round->config, s->be, "GET", h2o_iovec_init(path, (size_t)n), h2o_iovec_init(NULL, 0),
                    h2o_iovec_init(NULL, 0), 16 * 1024 * 1024, on_page, s);
}

void sg_reconcile_start(sg_loop_t *loop, sg_store_t *store, sg_config_t *conf, int *running)
{
    round_t *rd = calloc(1, sizeof(*rd));
    rd->loop = loop;
    rd->store = store;
    sg_config_retain(conf);
    rd->config = conf;
    rd->running = running;
    rd->started_ms = (int64_t)(sg_now_us() / 1000);
    *running = 1;
    rd->scans = calloc(conf->num_backends + 1, sizeof(*rd->scans));
    for (size_t i = 0; i != conf->num_backends; ++i) {
        rd->scans[i] = (scan_t){rd, conf->backends + i, 1, 1, json_object(), json_object(), 0};
        if (sg_backend_is_up(conf->backends[i].rt))
            rd->pending++;
        else
            rd->scans[i].ok = 0;
    }
    if (rd->pending == 0) {
        sg_store_list_sandboxes(store, NULL, on_store_list, rd);
        return;
    }
    for (size_t i = 0; i != conf->num_backends; ++i)
        if (rd->scans[i].ok)
            scan_page(rd->scans + i);
}
