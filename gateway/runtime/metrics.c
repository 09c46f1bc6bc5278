#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config/backend_state.h"
#include "runtime/h2guard.h"
#include "runtime/intake.h"
#include "runtime/metric_family.h"
#include "runtime/metrics.h"
#include "store/store.h"

int64_t sg_metrics_websockets_total;

/* upper bounds of the latency histogram, microseconds */
static const uint64_t bucket_us[SG_METRICS_NUM_BUCKETS] = {500,    1000,   2500,   5000,    10000,   25000,   50000,
                                                           100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

void sg_metrics_observe(sg_metrics_t *m, sg_route_class_t cls, int status, uint64_t duration_us, uint64_t bytes_in,
                        uint64_t bytes_out)
{
    if (status < 0 || status >= 600)
        status = 0;
    SG_COUNTER_ADD(m->requests[cls][status], 1);
    for (size_t i = 0; i != SG_METRICS_NUM_BUCKETS; ++i) {
        if (duration_us <= bucket_us[i]) {
            SG_COUNTER_ADD(m->latency_buckets[cls][i], 1);
            break;
        }
    }
    SG_COUNTER_ADD(m->latency_count[cls], 1);
    SG_COUNTER_ADD(m->latency_sum_us[cls], duration_us);
    SG_COUNTER_ADD(m->bytes_received[cls], bytes_in);
    SG_COUNTER_ADD(m->bytes_sent[cls], bytes_out);
}

typedef struct st_buf_t {
    char *p;
    size_t len, cap;
} buf_t;

static void out(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(buf_t *b, const char *fmt, ...)
{
    if (b->p == NULL)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n + 1;
        char *grown = realloc(b->p, cap);
        if (grown == NULL) { /* out of memory: the render fails (returns NULL) */
            free(b->p);
            b->p = NULL;
            return;
        }
        b->p = grown;
        b->cap = cap;
    }
}

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

static uint64_t sum(sg_metrics_t *const *shards, size_t n, size_t offset)
{
    uint64_t total = 0;
    for (size_t i = 0; i != n; ++i) {
        const uint64_t *p = (const uint64_t *)((const char *)shards[i] + offset);
        total += LOAD(*p);
    }
    return total;
}

#define SUM(field) sum(shards, num_shards, offsetof(sg_metrics_t, field))

char *sg_metrics_render(sg_metrics_t *const *shards, size_t num_shards, const sg_config_t *conf, size_t *len)
{
    buf_t b = {malloc(16384), 0, 16384}; /* NULL (out of memory): every out() is skipped, NULL is returned */

    out(&b, "# HELP sandgate_requests_total Requests by route class and status.\n# TYPE sandgate_requests_total counter\n");
    for (int cls = 0; cls != SG_ROUTE_MAX; ++cls)
        for (int st = 0; st != 600; ++st) {
            uint64_t v = SUM(requests[cls][st]);
            if (v != 0)
                out(&b, "sandgate_requests_total{route=\"%s\",status=\"%d\"} %llu\n", sg_route_class_name(cls), st,
                    (unsigned long long)v);
        }
    out(&b, "# HELP sandgate_request_duration_seconds Request latency.\n# TYPE sandgate_request_duration_seconds histogram\n");
    for (int cls = 0; cls != SG_ROUTE_MAX; ++cls) {
        uint64_t count = SUM(latency_count[cls]), acc = 0;
        if (count == 0)
            continue;
        for (size_t i = 0; i != SG_METRICS_NUM_BUCKETS; ++i) {
            acc += SUM(latency_buckets[cls][i]);
            out(&b, "sandgate_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n", sg_route_class_name(cls),
                bucket_us[i] / 1e6, (unsigned long long)acc);
        }
        out(&b, "sandgate_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", sg_route_class_name(cls),
            (unsigned long long)count);
        out(&b, "sandgate_request_duration_seconds_sum{route=\"%s\"} %.6f\n", sg_route_class_name(cls),
            SUM(latency_sum_us[cls]) / 1e6);
        out(&b, "sandgate_request_duration_seconds_count{route=\"%s\"} %llu\n", sg_route_class_name(cls),
            (unsigned long long)count);
    }
    out(&b, "# HELP sandgate_bytes_sent_total Response body bytes sent to clients.\n# TYPE sandgate_bytes_sent_total counter\n");
    for (int cls = 0; cls != SG_ROUTE_MAX; ++cls)
        out(&b, "sandgate_bytes_sent_total{route=\"%s\"} %llu\n", sg_route_class_name(cls),
            (unsigned long long)SUM(bytes_sent[cls]));
    out(&b, "# HELP sandgate_bytes_received_total Request body bytes received from clients.\n"
            "# TYPE sandgate_bytes_received_total counter\n");
    for (int cls = 0; cls != SG_ROUTE_MAX; ++cls)
        out(&b, "sandgate_bytes_received_total{route=\"%s\"} %llu\n", sg_route_class_name(cls),
            (unsigned long long)SUM(bytes_received[cls]));
    static const char *const kinds[] = {"connect", "timeout", "protocol", "busy"};
    out(&b, "# HELP sandgate_upstream_errors_total Upstream failures by kind.\n# TYPE sandgate_upstream_errors_total counter\n");
    for (int k = 0; k != 4; ++k)
        out(&b, "sandgate_upstream_errors_total{kind=\"%s\"} %llu\n", kinds[k], (unsigned long long)SUM(upstream_errors[k]));
    out(&b,
        "# HELP sandgate_websockets_total WebSocket tunnels established.\n# TYPE sandgate_websockets_total counter\n"
        "sandgate_websockets_total %lld\n",
        (long long)LOAD(sg_metrics_websockets_total));
    {
        sg_intake_stats_t in;
        sg_intake_get_stats(&in);
        out(&b,
            "# HELP sandgate_request_buffer_bytes Request body bytes held before the handler, charged to "
            "limits.request_buffer_budget.\n# TYPE sandgate_request_buffer_bytes gauge\nsandgate_request_buffer_bytes %lld\n"
            "# HELP sandgate_request_buffer_waiting Connections whose reading waits for request_buffer_budget.\n"
            "# TYPE sandgate_request_buffer_waiting gauge\nsandgate_request_buffer_waiting %lld\n"
            "# HELP sandgate_request_buffer_pauses_total Times a connection's reading was paused for request_buffer_budget.\n"
            "# TYPE sandgate_request_buffer_pauses_total counter\nsandgate_request_buffer_pauses_total %llu\n"
            "# HELP sandgate_unauthenticated_refusals_total Requests without a credential refused before their body was read.\n"
            "# TYPE sandgate_unauthenticated_refusals_total counter\n"
            "sandgate_unauthenticated_refusals_total{protocol=\"http1\"} %llu\n"
            "sandgate_unauthenticated_refusals_total{protocol=\"http2\"} %llu\n",
            (long long)in.buffered_bytes, (long long)in.waiting, (unsigned long long)in.paused_total,
            (unsigned long long)in.refused_http1, (unsigned long long)in.refused_http2);
    }
    out(&b, "# HELP sandgate_http2_flood_closes_total HTTP/2 connections closed (GOAWAY ENHANCE_YOUR_CALM) for a flood.\n"
            "# TYPE sandgate_http2_flood_closes_total counter\n");
    for (int k = SG_H2GUARD_OK + 1; k != SG_H2GUARD_NUM_REASONS; ++k)
        out(&b, "sandgate_http2_flood_closes_total{reason=\"%s\"} %llu\n", sg_h2guard_reason_names[k],
            (unsigned long long)sg_h2guard_closed_total((sg_h2guard_reason_t)k));

    out(&b, "# HELP sandgate_backend_up 1 if the backend is healthy.\n# TYPE sandgate_backend_up gauge\n");
    for (size_t i = 0; i != conf->num_backends; ++i)
        out(&b, "sandgate_backend_up{backend=\"%s\"} %d\n", conf->backends[i].name, sg_backend_is_up(conf->backends[i].rt));
    out(&b, "# HELP sandgate_backend_in_flight Requests in flight to the backend.\n# TYPE sandgate_backend_in_flight gauge\n");
    for (size_t i = 0; i != conf->num_backends; ++i)
        out(&b, "sandgate_backend_in_flight{backend=\"%s\"} %lld\n", conf->backends[i].name,
            (long long)LOAD(conf->backends[i].rt->in_flight));
    out(&b, "# HELP sandgate_backend_connections Open pooled connections to the backend.\n"
            "# TYPE sandgate_backend_connections gauge\n");
    for (size_t i = 0; i != conf->num_backends; ++i)
        out(&b, "sandgate_backend_connections{backend=\"%s\"} %lld\n", conf->backends[i].name,
            (long long)LOAD(conf->backends[i].rt->pool_conns));
    out(&b, "# HELP sandgate_backend_failures_total Failed checks and requests.\n# TYPE sandgate_backend_failures_total counter\n");
    for (size_t i = 0; i != conf->num_backends; ++i)
        out(&b, "sandgate_backend_failures_total{backend=\"%s\"} %llu\n", conf->backends[i].name,
            (unsigned long long)LOAD(conf->backends[i].rt->failures));
    out(&b, "# HELP sandgate_backend_requests_total Requests proxied to the backend.\n"
            "# TYPE sandgate_backend_requests_total counter\n");
    for (size_t i = 0; i != conf->num_backends; ++i)
        out(&b, "sandgate_backend_requests_total{backend=\"%s\"} %llu\n", conf->backends[i].name,
            (unsigned long long)LOAD(conf->backends[i].rt->requests));
    if (b.p != NULL && sg_metric_render(&b.p, &b.len, &b.cap) != 0) {
        free(b.p);
        b.p = NULL;
    }
    *len = b.len;
    return b.p;
}

static void on_store_error(const char *op)
{
    const char *labels[] = {op};
    sg_metric_add(sg_metric_store_errors, labels, 1);
}

void sg_metrics_core_init(void)
{
    static const char *const refusal_labels[] = {"tenant", "reason"}, *const store_labels[] = {"op"};
    sg_metric_refusals = sg_metric_register("sandgate_refusals_total",
                                            "Requests refused by policy (403 and 429 answers of the gateway and its plugins), "
                                            "by tenant (empty before authentication) and error code.",
                                            SG_METRIC_COUNTER, refusal_labels, 2);
    sg_metric_store_errors = sg_metric_register("sandgate_store_errors_total",
                                                "State store operations that failed (store unavailable, timed out or refused), "
                                                "by operation.",
                                                SG_METRIC_COUNTER, store_labels, 1);
    sg_store_set_error_hook(on_store_error);
}

void sg_metrics_refusal(const char *tenant, size_t tenant_len, const char *reason)
{
    char t[256];
    snprintf(t, sizeof(t), "%.*s", (int)(tenant_len < sizeof(t) - 1 ? tenant_len : sizeof(t) - 1), tenant != NULL ? tenant : "");
    const char *labels[] = {t, reason};
    sg_metric_add(sg_metric_refusals, labels, 1);
}
