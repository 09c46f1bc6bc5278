/*
 * Active health checks on their own thread and event loop, so that a busy
 * worker never delays them: every interval each backend gets a fresh
 * connection and `GET {path}`; 2xx/3xx within the timeout is a success.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/backend.h"
#include "tenancy/cache_events.h"
#include "core/health.h"
#include "backend/reconcile.h"
#include "tenancy/usage.h"
#include "store/store.h"
#include "backend/httpclient.h"
#include "util/log.h"
#include "runtime/thread.h"

typedef struct st_check_t {
    sg_config_t *config; /* retained while the check runs */
    sg_backend_conf_t *be;
    h2o_iovec_t head;
    int *in_progress;
} check_t;

static pthread_t health_tid;
static int stop_requested;
static sg_loop_t hloop;

static void finish(check_t *chk, int ok, const char *why)
{
    sg_backend_report(chk->be->rt, &chk->config->health, ok, 1, why);
    *chk->in_progress = 0;
    sg_config_release(chk->config);
    free(chk->head.base);
    free(chk);
}

static int on_head(sg_httpclient_t *c, const char *err, int status, h2o_header_t *headers, size_t num_headers)
{
    (void)headers, (void)num_headers;
    check_t *chk = c->data;
    char why[96];
    if (err != NULL) {
        finish(chk, 0, err);
    } else if (status >= 200 && status < 400) {
        finish(chk, 1, NULL);
    } else {
        snprintf(why, sizeof(why), "health check answered HTTP %d", status);
        finish(chk, 0, why);
    }
    return -1; /* the body does not matter; the connection is closed */
}

static void on_body(sg_httpclient_t *c, const char *err, int is_end)
{
    (void)c, (void)err, (void)is_end; /* never reached: on_head aborts */
}

static const sg_httpclient_cb_t callbacks = {on_head, on_body};

static void start_check(sg_config_t *conf, sg_backend_conf_t *be, int *in_progress)
{
    check_t *chk = calloc(1, sizeof(*chk));
    sg_config_retain(conf);
    chk->config = conf;
    chk->be = be;
    chk->in_progress = in_progress;
    *in_progress = 1;
    size_t cap = strlen(be->path_prefix) + strlen(conf->health.path) + strlen(be->authority) + 128;
    chk->head.base = malloc(cap);
    chk->head.len = (size_t)snprintf(chk->head.base, cap,
                                     "GET %s%s HTTP/1.1\r\nhost: %s\r\nuser-agent: sandgate-health\r\nconnection: close\r\n\r\n",
                                     be->path_prefix, conf->health.path, be->authority);
    sg_upstream_t u;
    sg_backend_upstream(be, &u);
    u.max_connections = 0; /* checks are not counted against the traffic pool */
    u.backend = NULL;
    sg_httpclient_req_t req = {.loop = &hloop,
                               .pool = sg_pool_get(&hloop, &u, 1000),
                               .head = chk->head,
                               .connect_timeout_ms = conf->health.timeout_ms,
                               .io_timeout_ms = conf->health.timeout_ms,
                               .max_buffer = 4096,
                               .is_upgrade = 1 /* never pooled: each check proves a new connection works */};
    sg_httpclient_start(&req, &callbacks, chk);
}

static void *health_main(void *arg)
{
    (void)arg;
    h2o_evloop_t *loop = h2o_evloop_create();
    sg_loop_init(&hloop, loop, SIZE_MAX);
    /* per backend name: next check time and whether a check is running; entries are
     * allocated one by one because running checks point at in_progress */
    typedef struct st_state_t {
        char *name;
        uint64_t next_at;
        int in_progress;
    } state_t;
    state_t **state = NULL;
    size_t num_state = 0;
    sg_store_t *store = sg_store_open(&hloop);
    /* one subscriber per process keeps the process-wide caches in step with the other gateways */
    sg_cache_events_start(&hloop);
    int reconciling = 0, publishing = 0;
    uint64_t next_reconcile = h2o_now(loop) + 2000, next_usage = h2o_now(loop) + 1000;

    while (!__atomic_load_n(&stop_requested, __ATOMIC_RELAXED)) {
        sg_config_t *conf = sg_thread_current_config();
        uint64_t now = h2o_now(loop);
        for (size_t i = 0; i != conf->num_backends; ++i) {
            sg_backend_conf_t *be = conf->backends + i;
            size_t j;
            for (j = 0; j != num_state; ++j)
                if (strcmp(state[j]->name, be->name) == 0)
                    break;
            if (j == num_state) {
                /* out of memory: this backend goes unchecked this round (it keeps its last state) */
                state_t **grown = realloc(state, sizeof(*state) * (num_state + 1));
                if (grown == NULL)
                    continue;
                state = grown;
                if ((state[num_state] = calloc(1, sizeof(state_t))) == NULL)
                    continue;
                if ((state[num_state]->name = strdup(be->name)) == NULL) {
                    free(state[num_state]);
                    continue;
                }
                state[num_state]->next_at = now;
                ++num_state;
            }
            if (!state[j]->in_progress && state[j]->next_at <= now) {
                state[j]->next_at = now + conf->health.interval_ms;
                start_check(conf, be, &state[j]->in_progress);
            }
        }
        if (sg_config_tenancy_enabled(conf) && !reconciling && now >= next_reconcile) {
            next_reconcile = now + conf->lifecycle.reconcile_interval_ms;
            sg_reconcile_start(&hloop, store, conf, &reconciling);
        }
        /* the usage gauges of /metrics follow the records at the pace of reconciliation (at least every 5 s) */
        if (sg_config_tenancy_enabled(conf) && !publishing && now >= next_usage) {
            uint64_t interval = conf->lifecycle.reconcile_interval_ms;
            next_usage = now + (interval != 0 && interval < 5000 ? interval : 5000);
            sg_usage_publish(store, &publishing);
        }
        sg_config_release(conf);
        h2o_evloop_run(loop, 50);
    }
    /* let running checks finish or time out so nothing leaks */
    for (int tries = 0; tries != 200; ++tries) {
        int busy = reconciling | publishing;
        for (size_t k = 0; k != num_state; ++k)
            busy |= state[k]->in_progress;
        if (!busy)
            break;
        h2o_evloop_run(loop, 50);
    }
    for (size_t k = 0; k != num_state; ++k) {
        free(state[k]->name);
        free(state[k]);
    }
    free(state);
    sg_cache_events_stop();
    sg_store_close(store);
    if (!publishing)
        sg_usage_dispose();
    sg_loop_dispose(&hloop);
    h2o_evloop_destroy(loop);
    sg_loop_park_thread();
}

static size_t parked_before;

void sg_health_start(size_t threads_parked_before)
{
    parked_before = threads_parked_before;
    stop_requested = 0;
    pthread_create(&health_tid, NULL, health_main, NULL);
}

void sg_health_stop(void)
{
    __atomic_store_n(&stop_requested, 1, __ATOMIC_RELAXED);
    sg_loop_wait_parked(parked_before + 1);
}
