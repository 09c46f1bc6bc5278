#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include "backend/backend.h"
#include "util/log.h"
#include "backend/upstream_pool.h"

static uint64_t unix_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void set_state(sg_backend_t *b, int from, int to, const char *why)
{
    /* the CAS makes the transition (and its log line) happen once across threads */
    if (__atomic_compare_exchange_n(&b->state, &from, to, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        __atomic_store_n(&b->last_change_ms, unix_ms(), __ATOMIC_RELAXED);
        if (to == SG_BACKEND_DOWN)
            sg_log(SG_LOG_WARN, "backend %s: up -> down (%s)", b->name, why != NULL ? why : "failures");
        else
            sg_log(SG_LOG_INFO, "backend %s: down -> up", b->name);
    }
}

void sg_backend_report(sg_backend_t *b, const sg_health_conf_t *h, int ok, int active, const char *why)
{
    if (active) {
        __atomic_add_fetch(&b->checks, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&b->last_check_ms, unix_ms(), __ATOMIC_RELAXED);
    }
    if (ok) {
        __atomic_store_n(&b->consecutive_fail, 0, __ATOMIC_RELAXED);
        if (!active)
            return;
        uint64_t n = __atomic_add_fetch(&b->consecutive_ok, 1, __ATOMIC_RELAXED);
        pthread_mutex_lock(&b->lock);
        b->last_error[0] = '\0';
        pthread_mutex_unlock(&b->lock);
        if (n >= h->healthy_threshold)
            set_state(b, SG_BACKEND_DOWN, SG_BACKEND_UP, NULL);
    } else {
        __atomic_add_fetch(&b->failures, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&b->consecutive_ok, 0, __ATOMIC_RELAXED);
        uint64_t n = __atomic_add_fetch(&b->consecutive_fail, 1, __ATOMIC_RELAXED);
        if (why != NULL) {
            pthread_mutex_lock(&b->lock);
            snprintf(b->last_error, sizeof(b->last_error), "%s", why);
            pthread_mutex_unlock(&b->lock);
        }
        if (n >= h->unhealthy_threshold)
            set_state(b, SG_BACKEND_UP, SG_BACKEND_DOWN, why);
    }
}

sg_backend_conf_t *sg_backend_pick(sg_config_t *conf, uint64_t rnd)
{
    uint64_t total = 0;
    for (size_t i = 0; i != conf->num_backends; ++i)
        if (sg_backend_is_up(conf->backends[i].rt))
            total += conf->backends[i].weight;
    if (total == 0)
        return NULL;
    uint64_t x = rnd % total;
    for (size_t i = 0; i != conf->num_backends; ++i) {
        sg_backend_conf_t *be = conf->backends + i;
        if (!sg_backend_is_up(be->rt))
            continue;
        if (x < be->weight)
            return be;
        x -= be->weight;
    }
    return NULL;
}

void sg_backend_upstream(const sg_backend_conf_t *be, sg_upstream_t *u)
{
    *u = (sg_upstream_t){.is_tls = be->is_tls,
                         .host = be->host,
                         .addr = be->addr,
                         .addrlen = be->addrlen,
                         .ssl_ctx = be->ssl_ctx,
                         .max_connections = be->max_connections,
                         .backend = be->rt};
}
