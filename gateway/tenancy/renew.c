/*
 * Renew on access (renew.h). For a port request of a sandbox that takes part, and whose expiry is short of the
 * target, a renew goes through three gates, cheapest first:
 *   1. a process-wide table of "not before" times per sandbox id (striped by a keyed hash; a collision only costs
 *      an extra store claim), so that a busy sandbox costs one store round trip per interval and per gateway, not
 *      one per request;
 *   2. the store claim "renew:{id}" for ports.renew_interval (sg_store_claim): one winner per interval across
 *      every gateway sharing the store; a loser learns how long the winner holds it and waits that long locally;
 *   3. the backend: POST /v1/sandboxes/{id}/renew-expiration {"expiresAt"} with the backend's own key, as the
 *      tenant's renew does; its answer updates the owner record and the quota ledger (sg_ownership_renewed).
 * With the store unreachable there is no renew (the cross-gateway bound cannot be kept); the request is not
 * affected either way. Outcomes are counted in sandgate_renew_on_access_total{result}: renewed, skipped_interval
 * (a gate said not yet), failed (store or backend error or refusal).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "backend/backend_call.h"
#include "runtime/metric_family.h"
#include "runtime/thread.h"
#include "tenancy/ownership.h"
#include "tenancy/renew.h"
#include "tenancy/renew_intent.h"
#include "util/clock.h"
#include "util/hashmap.h"

#define GATE_SLOTS 4096
#define GATE_STRIPES 16
#define EXTENSION_KEY "access.renew.extend.seconds"
#define EXTENSION_MIN 300
#define EXTENSION_MAX 86400
#define REQUEST_URI_MAX 2048 /* of an intent's request_uri */
#define STORE_NS "renew:"

typedef struct st_gate_t {
    char id[SG_STORE_ID_MAX + 1];
    uint64_t not_before_ms; /* monotonic */
} gate_t;

static gate_t gates[GATE_SLOTS];
static pthread_mutex_t gate_locks[GATE_STRIPES] = {[0 ... GATE_STRIPES - 1] = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static sg_metric_family_t *family;
static char holder[SG_STORE_ID_MAX + 1]; /* this gateway, as the holder of its claims: "host:pid" */

/* a renew in flight: owns copies of all it needs (the request may be gone before it ends) */
typedef struct st_renew_t {
    sg_thread_t *thread;
    sg_config_t *config; /* retained: be points into it */
    sg_backend_conf_t *be;
    sg_sandbox_rec_t rec; /* the owner record, expiry as the request saw it */
    int64_t target_ms;    /* the expiry asked for */
    uint64_t interval_ms;
    char *intent; /* the OSEP-0009 intent to publish once the claim is won (NULL: the backend has none) */
    char request_id[64];
} renew_t;

static void init(void)
{
    static const char *const labels[] = {"result"};
    family = sg_metric_register("sandgate_renew_on_access_total",
                                "Renew-on-access attempts of port traffic by result (renewed, skipped_interval, failed)",
                                SG_METRIC_COUNTER, labels, 1);
    char host[64] = "gateway";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    for (char *p = host; *p != '\0'; ++p)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            *p = '_';
    snprintf(holder, sizeof(holder), "%s:%ld", host, (long)getpid());
}

static void count(const char *result)
{
    const char *values[] = {result};
    if (family != NULL)
        sg_metric_add(family, values, 1);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* keyed hash: ids are chosen by clients, who must not be able to aim them at one slot */
static size_t slot_of(const char *id)
{
    return sg_hashmap_hash(id, strlen(id)) & (GATE_SLOTS - 1);
}

/* gate 1: 1 when id may try the store now, and then nobody else of this process may for hold_ms */
static int gate_try(const char *id, uint64_t hold_ms)
{
    size_t i = slot_of(id);
    uint64_t now = mono_ms();
    int ok = 0;
    pthread_mutex_lock(gate_locks + i % GATE_STRIPES);
    gate_t *g = gates + i;
    if (strcmp(g->id, id) != 0 || g->not_before_ms <= now) {
        snprintf(g->id, sizeof(g->id), "%s", id);
        g->not_before_ms = now + hold_ms;
        ok = 1;
    }
    pthread_mutex_unlock(gate_locks + i % GATE_STRIPES);
    return ok;
}

/* gate 1 after the store spoke: nobody of this process tries id again for wait_ms */
static void gate_hold(const char *id, uint64_t wait_ms)
{
    size_t i = slot_of(id);
    pthread_mutex_lock(gate_locks + i % GATE_STRIPES);
    if (strcmp(gates[i].id, id) == 0)
        gates[i].not_before_ms = mono_ms() + wait_ms;
    pthread_mutex_unlock(gate_locks + i % GATE_STRIPES);
}

static void finish(renew_t *rn, const char *result)
{
    count(result);
    sg_config_release(rn->config);
    rn->thread->inflight--;
    free(rn->intent);
    free(rn);
}

static void on_renewed(void *data, const char *err, int status, h2o_iovec_t body)
{
    renew_t *rn = data;
    int ok =
        err == NULL && status == 200 && rn->thread->store != NULL && sg_ownership_renewed(rn->thread->store, &rn->rec, body) == 0;
    finish(rn, ok ? "renewed" : "failed");
}

static void on_claim(void *data, const char *err, int claimed, uint64_t remaining_ms)
{
    renew_t *rn = data;
    if (err != NULL || !claimed) {
        /* lost: wait out the winner's interval; store trouble: try again next interval */
        gate_hold(rn->rec.id, err == NULL && remaining_ms != 0 ? remaining_ms : rn->interval_ms);
        finish(rn, err != NULL ? "failed" : "skipped_interval");
        return;
    }
    if (rn->intent != NULL)
        sg_renew_intent_publish(rn->thread, rn->be, rn->intent);
    char path[SG_STORE_ID_MAX + 48], body[64], when[40];
    int n = snprintf(path, sizeof(path), "/v1/sandboxes/%s/renew-expiration", rn->rec.id);
    sg_format_rfc3339_ms(when, sizeof(when), rn->target_ms);
    int len = snprintf(body, sizeof(body), "{\"expiresAt\":\"%s\"}", when);
    sg_backend_call(&rn->thread->loop, rn->config, rn->be, "POST", h2o_iovec_init(path, (size_t)n),
                    h2o_iovec_init(body, (size_t)len), h2o_iovec_init(rn->request_id, strlen(rn->request_id)), 65536, on_renewed,
                    rn);
}

/* the OSEP-0009 intent of this access (malloc'd JSON) */
static char *make_intent(sg_request_t *r, const char *id, int64_t now_ms)
{
    char when[40], uri[REQUEST_URI_MAX + 2];
    sg_format_rfc3339_ms(when, sizeof(when), now_ms);
    const char *rest = r->route.rest != NULL ? r->route.rest : "";
    size_t len = r->route.rest_len < REQUEST_URI_MAX ? r->route.rest_len : REQUEST_URI_MAX;
    /* the path forwarded to the sandbox: "" and "?q" mean "/" (router.h) */
    int slash = len == 0 || rest[0] != '/';
    snprintf(uri, sizeof(uri), "%s%.*s", slash ? "/" : "", (int)len, rest);
    json_t *obj = json_pack("{s:s, s:s, s:i, s:s}", "sandbox_id", id, "observed_at", when, "port", (json_int_t)r->route.port,
                            "request_uri", uri);
    char *text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    return text;
}

void sg_renew_on_access(sg_request_t *r, const sg_sandbox_rec_t *rec, sg_backend_conf_t *be)
{
    const sg_tenant_t *t = r->tenant_def;
    uint64_t extend_s = rec->renew_extend_s != 0 ? rec->renew_extend_s : t != NULL ? t->policy.renew_on_access_s : 0;
    if (extend_s == 0 || rec->expires_at_ms <= 0) /* not taking part, or never expires */
        return;
    pthread_once(&init_once, init);
    int64_t now = (int64_t)(sg_now_us() / 1000);
    int64_t target = now + (int64_t)extend_s * 1000;
    uint64_t max_s = t != NULL ? t->policy.max_timeout_s : 0;
    if (max_s != 0 && target > now + (int64_t)max_s * 1000)
        target = now + (int64_t)max_s * 1000;
    if (target <= rec->expires_at_ms) /* nothing to gain (already far enough, or at the tenant's cap) */
        return;
    uint64_t interval_ms = r->config->ports.renew_interval_ms; /* at least 1 s (config_ports.c) */
    if (!gate_try(rec->id, interval_ms)) {
        count("skipped_interval");
        return;
    }
    renew_t *rn = calloc(1, sizeof(*rn));
    if (rn == NULL)
        return;
    rn->thread = r->thread;
    sg_config_retain(r->config);
    rn->config = r->config;
    rn->be = be;
    rn->rec = *rec;
    rn->rec.reservation[0] = '\0';
    rn->target_ms = target;
    rn->interval_ms = interval_ms;
    snprintf(rn->request_id, sizeof(rn->request_id), "%.*s", (int)r->request_id.len, r->request_id.base);
    if (be->renew_intent_addr != NULL)
        rn->intent = make_intent(r, rec->id, now);
    rn->thread->inflight++;
    sg_store_claim(r->thread->store, STORE_NS, rec->id, interval_ms, holder, on_claim, rn);
}

uint32_t sg_renew_extension(const void *create_body)
{
    json_t *v = json_object_get(json_object_get((const json_t *)create_body, "extensions"), EXTENSION_KEY);
    const char *s = json_string_value(v);
    if (s == NULL || s[0] < '1' || s[0] > '9' || strlen(s) > 5)
        return 0;
    unsigned long n = 0;
    for (; *s != '\0'; ++s) {
        if (*s < '0' || *s > '9')
            return 0;
        n = n * 10 + (unsigned long)(*s - '0');
    }
    return n >= EXTENSION_MIN && n <= EXTENSION_MAX ? (uint32_t)n : 0;
}
