/*
 * Prometheus metrics. Counters are sharded per worker thread (plain stores, no
 * atomics on the hot path) and summed when /metrics is scraped.
 */
#ifndef SG_METRICS_H
#define SG_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "config/config.h"
#include "util/router.h"

#define SG_METRICS_NUM_BUCKETS 14

typedef struct st_sg_metrics_t {
    uint64_t requests[SG_ROUTE_MAX][600]; /* by status code */
    uint64_t latency_buckets[SG_ROUTE_MAX][SG_METRICS_NUM_BUCKETS];
    uint64_t latency_count[SG_ROUTE_MAX];
    uint64_t latency_sum_us[SG_ROUTE_MAX];
    uint64_t bytes_sent[SG_ROUTE_MAX];
    uint64_t bytes_received[SG_ROUTE_MAX];
    uint64_t upstream_errors[4]; /* connect, timeout, protocol/closed, busy */
} sg_metrics_t;

enum { SG_UPSTREAM_ERR_CONNECT = 0, SG_UPSTREAM_ERR_TIMEOUT, SG_UPSTREAM_ERR_PROTOCOL, SG_UPSTREAM_ERR_BUSY };

/* shard-local increment: only the owning thread writes, scrapers read relaxed */
#define SG_COUNTER_ADD(var, n) __atomic_store_n(&(var), __atomic_load_n(&(var), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)

void sg_metrics_observe(sg_metrics_t *m, sg_route_class_t cls, int status, uint64_t duration_us, uint64_t bytes_in,
                        uint64_t bytes_out);
/* Renders every shard plus backend state in Prometheus text format; malloc'd, caller frees; NULL when out of memory. */
char *sg_metrics_render(sg_metrics_t *const *shards, size_t num_shards, const sg_config_t *conf, size_t *len);

/*
 * Registers the core's labelled metrics (metric_family.h: refusals, store errors) and hooks the store's error
 * reports to them. Once, at start.
 */
void sg_metrics_core_init(void);
/* Counts a refusal (403/429 of the gateway or a plugin) for tenant (may be empty) and reason (the error code). */
void sg_metrics_refusal(const char *tenant, size_t tenant_len, const char *reason);

/* process-wide gauges */
extern int64_t sg_metrics_websockets_total; /* tunnels established since start */

#endif
