/*
 * rate-limit: limits per tenant, key, route class, operation, sandbox or port, each with a rate and
 * a burst, counted with a sliding window (two-window estimate, rate_limit.h), in one of three modes:
 *
 *   local                 one counter table per process (shared_state, one mutex): exact per process.
 *   redis                 the shared store, one pipelined round trip per request (INCRBY+PEXPIRE the
 *                         current window, GET the previous). A refused request's increment is taken
 *                         back (INCRBY -1 in the background), so refusals do not count. Keys found over
 *                         their limit are refused on this thread without a round trip until the
 *                         estimate allows a request again (the over-limit cache).
 *   redis, sync_interval  every worker thread counts locally and sends its increments, and reads the
 *                         shared totals, in one batch per sync_interval (thread timer): far less than
 *                         one round trip per request; the overshoot is bounded by what the other
 *                         threads of every gateway admit in one interval.
 *
 * Every response of a limited request carries RateLimit-Policy and RateLimit
 * (draft-ietf-httpapi-ratelimit-headers) and RateLimit-Limit/-Remaining/-Reset; a refusal is
 * 429 GATEWAY::RATE_LIMITED with one Retry-After. Counts live in shared_state and per-thread
 * state, so they survive reloads; a reload applies changed limits to them at once.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rate_limit.h"

/* A worker thread's state: batched counts and the over-limit cache, kept for the life of the process. */
/* A refused request's increment to take back (INCRBY -n), sent with the next request's pipeline or by a timer. */
#define RL_TAKEBACK_MAX 16
#define RL_TAKEBACK_DELAY_MS 2

typedef struct st_rl_takeback_t {
    size_t len;
    int64_t incr;
    uint64_t ttl_ms;
    char key[RL_KEY_MAX];
} rl_takeback_t;

typedef struct st_rl_thread_t {
    const sg_plugin_api_t *api;
    sg_plugin_thread_t *thread;
    rl_table_t table;
    uint64_t sync_interval_ms; /* of the latest config that used batching on this thread */
    int timer_armed;
    int store_down; /* the last batched sync failed */
    size_t batches_inflight;
    int disposed;
    rl_takeback_t takebacks[RL_TAKEBACK_MAX];
    size_t num_takebacks;
    int takeback_timer_armed;
} rl_thread_t;

typedef struct st_rl_match_t {
    const rl_limit_t *limit;
    const rl_rate_t *rate;
    uint64_t idx;
    rl_decision_t d;
    size_t key_len;
    char key[RL_KEY_MAX]; /* "<limit>:<window ms>:<partition>" */
} rl_match_t;

/* One request's limits; on the stack for local and batched decisions, in request memory for a round trip. */
typedef struct st_rl_work_t {
    const sg_plugin_api_t *api;
    sg_plugin_req_t *req;
    rl_conf_t *conf;
    rl_thread_t *ts;
    uint64_t now;
    size_t base; /* ops[base + 2 * i] and ops[base + 2 * i + 1]: the current and the previous window of limit i */
    char tenant[130];
    size_t n;
    rl_match_t m[RL_MAX_MATCH];
    sg_plugin_counter_op_t ops[2 * RL_MAX_MATCH + RL_TAKEBACK_MAX];
    char opkeys[2 * RL_MAX_MATCH + RL_TAKEBACK_MAX][RL_KEY_MAX];
} rl_work_t;

/* A background batch (thread_counters): a sync, or taking back a refused request's increments. */
typedef struct st_rl_batch_t {
    rl_thread_t *ts;
    int is_sync;
    size_t n;
    sg_plugin_counter_op_t *ops;
    uint64_t *idx;    /* window index of each op */
    size_t *key_lens; /* entry key length of each op (the op key is "<entry key>:<idx>") */
    char *keys;       /* n * RL_KEY_MAX */
} rl_batch_t;

#define SYNC_MAX_OPS 4096

/* ---- partition keys ---- */

static int safe_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
           ch == '.' || ch == '@';
}

/* appends one dimension's value; values with other characters, or long ones, are replaced by a hash */
static int append_value(const sg_plugin_api_t *api, char *buf, size_t *len, size_t cap, const char *v, size_t vlen)
{
    int plain = vlen <= 64;
    for (size_t i = 0; plain && i != vlen; ++i)
        plain = safe_char(v[i]);
    if (*len != 0) {
        if (*len + 1 >= cap)
            return -1;
        buf[(*len)++] = '/';
    }
    if (plain) {
        if (*len + vlen >= cap)
            return -1;
        memcpy(buf + *len, v, vlen);
        *len += vlen;
        return 0;
    }
    unsigned char h[32];
    static const char hex[] = "0123456789abcdef";
    api->sha256(v, vlen, h);
    if (*len + 33 >= cap)
        return -1;
    buf[(*len)++] = '~';
    for (int i = 0; i != 16; ++i) {
        buf[(*len)++] = hex[h[i] >> 4];
        buf[(*len)++] = hex[h[i] & 15];
    }
    return 0;
}

/* the entry key of limit l for this request; -1 when one of its dimensions is empty (the limit does not apply) */
static int build_key(const sg_plugin_api_t *api, const rl_limit_t *l, const rl_rate_t *rate, const sg_plugin_req_ctx_t *rc,
                     rl_match_t *m)
{
    char part[RL_PARTITION_MAX], portbuf[8];
    size_t plen = 0;
    for (size_t i = 0; i != l->num_dims; ++i) {
        sg_plugin_str_t v = {NULL, 0};
        switch (l->dims[i]) {
        case RL_DIM_TENANT:
            v = rc->tenant;
            break;
        case RL_DIM_KEY:
            v = rc->key_id;
            break;
        case RL_DIM_SANDBOX:
            v = rc->sandbox_id;
            break;
        case RL_DIM_PORT:
            if (rc->port != 0) {
                v.len = (size_t)snprintf(portbuf, sizeof(portbuf), "%u", (unsigned)rc->port);
                v.base = portbuf;
            }
            break;
        case RL_DIM_OPERATION:
            v = rc->operation;
            break;
        case RL_DIM_ROUTE:
            v = rc->route_class;
            break;
        }
        if (v.len == 0 || append_value(api, part, &plen, sizeof(part), v.base, v.len) != 0)
            return -1;
    }
    int n = snprintf(m->key, sizeof(m->key), "%s:%" PRIu64 ":%.*s", l->name, rate->window_ms, (int)plen, part);
    if (n < 0 || (size_t)n >= sizeof(m->key) - 24) /* room for ":<window index>" */
        return -1;
    m->key_len = (size_t)n;
    return 0;
}

static int str_is(sg_plugin_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.base, lit, n) == 0;
}

/* the limits that apply to the request, with their keys and window indexes */
static size_t match_limits(const sg_plugin_api_t *api, rl_conf_t *conf, const sg_plugin_req_ctx_t *rc, uint64_t now,
                           rl_match_t *out)
{
    unsigned route = str_is(rc->route_class, "lifecycle") ? RL_ROUTE_LIFECYCLE
                     : str_is(rc->route_class, "port")    ? RL_ROUTE_PORT
                                                          : 0;
    size_t n = 0;
    for (size_t i = 0; i != conf->num_limits && n != RL_MAX_MATCH; ++i) {
        const rl_limit_t *l = &conf->limits[i];
        if (l->routes != 0 && (l->routes & route) == 0)
            continue;
        if (l->num_operations != 0) {
            size_t j;
            for (j = 0; j != l->num_operations && !str_is(rc->operation, l->operations[j]); ++j)
                ;
            if (j == l->num_operations)
                continue;
        }
        const rl_rate_t *rate = rl_limit_rate(l, rc->tenant.base, rc->tenant.len);
        if (!rate->set)
            continue;
        rl_match_t *m = &out[n];
        if (build_key(api, l, rate, rc, m) != 0)
            continue;
        m->limit = l;
        m->rate = rate;
        m->idx = rl_window_index(now, rate->window_ms);
        ++n;
    }
    return n;
}

/* ---- headers and answers ---- */

static uint64_t ceil_s(uint64_t ms)
{
    return (ms + 999) / 1000;
}

/* the seconds a refusal tells the client to wait (at least 1) */
static uint64_t retry_s(const rl_decision_t *d)
{
    uint64_t s = ceil_s(d->retry_after_ms);
    return s == 0 ? 1 : s;
}

/* decimal digits of v at dst (room for 20); returns their count. Five numbers per response: no snprintf on this path. */
static size_t put_u64(char *dst, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    for (size_t i = 0; i != n; ++i)
        dst[i] = tmp[n - 1 - i];
    return n;
}

/* appends src to buf (of size cap) at *len when it fits whole */
static void put_mem(char *buf, size_t cap, size_t *len, const char *src, size_t n)
{
    if (*len + n <= cap) {
        memcpy(buf + *len, src, n);
        *len += n;
    }
}

/* RateLimit-Policy, RateLimit and RateLimit-Limit/-Remaining/-Reset (one field each); counted = 0 when the store could
 * not answer: only the policy is known then */
static void set_headers(rl_work_t *w, int counted)
{
    const sg_plugin_api_t *api = w->api;
    char policy[RL_MAX_MATCH * 84], state[RL_MAX_MATCH * 84], num[24];
    size_t plen = 0, slen = 0, primary = 0, n;
    for (size_t i = 0; i != w->n; ++i) {
        const rl_match_t *m = &w->m[i];
        uint64_t t = m->d.allowed ? ceil_s(m->d.reset_ms) : retry_s(&m->d);
        if (i != 0) {
            put_mem(policy, sizeof(policy), &plen, ", ", 2);
            put_mem(state, sizeof(state), &slen, ", ", 2);
        }
        /* the policy item is the rate's, formatted at config time; the state item: "name";r=remaining;t=seconds */
        put_mem(policy, sizeof(policy), &plen, m->rate->policy, m->rate->policy_len);
        put_mem(state, sizeof(state), &slen, "\"", 1);
        put_mem(state, sizeof(state), &slen, m->limit->name, strlen(m->limit->name));
        put_mem(state, sizeof(state), &slen, "\";r=", 4);
        n = put_u64(num, m->d.remaining > 0 ? (uint64_t)m->d.remaining : 0);
        put_mem(state, sizeof(state), &slen, num, n);
        put_mem(state, sizeof(state), &slen, ";t=", 3);
        n = put_u64(num, t);
        put_mem(state, sizeof(state), &slen, num, n);
        /* the limit the client must mind: a refusing one (the longest wait), else the fewest remaining (then the longest reset) */
        const rl_match_t *p = &w->m[primary];
        if (i != 0 && (p->d.allowed != m->d.allowed ? !m->d.allowed
                       : !m->d.allowed              ? m->d.retry_after_ms > p->d.retry_after_ms
                                                    : m->d.remaining < p->d.remaining ||
                                             (m->d.remaining == p->d.remaining && m->d.reset_ms > p->d.reset_ms)))
            primary = i;
    }
    api->res_set_header(w->req, "ratelimit-policy", 16, policy, plen);
    if (!counted)
        return;
    const rl_match_t *p = &w->m[primary];
    api->res_set_header(w->req, "ratelimit", 9, state, slen);
    api->res_set_header(w->req, "ratelimit-limit", 15, num, put_u64(num, (uint64_t)p->rate->burst));
    api->res_set_header(w->req, "ratelimit-remaining", 19, num, put_u64(num, p->d.remaining > 0 ? (uint64_t)p->d.remaining : 0));
    uint64_t t = p->d.allowed ? ceil_s(p->d.reset_ms) : retry_s(&p->d);
    api->res_set_header(w->req, "ratelimit-reset", 15, num, put_u64(num, t));
    if (!p->d.allowed)
        api->res_set_header(w->req, "retry-after", 11, num, put_u64(num, t));
}

static void count_metric(sg_plugin_metric_t *metric, const sg_plugin_api_t *api, const char *tenant, const char *limit,
                         int with_tenant)
{
    const char *labels[2] = {tenant, limit};
    if (metric != NULL)
        api->metric_add(metric, with_tenant ? labels : labels + 1, 1);
}

/* sets the headers and, when a limit refused, answers 429; returns the plugin status */
static sg_plugin_status_t finish(rl_work_t *w)
{
    const sg_plugin_api_t *api = w->api;
    const rl_match_t *refusing = NULL;
    for (size_t i = 0; i != w->n; ++i)
        if (!w->m[i].d.allowed && (refusing == NULL || w->m[i].d.retry_after_ms > refusing->d.retry_after_ms))
            refusing = &w->m[i];
    set_headers(w, 1);
    if (refusing == NULL)
        return SG_PLUGIN_CONTINUE;
    for (size_t i = 0; i != w->n; ++i)
        if (!w->m[i].d.allowed)
            count_metric(w->conf->m_refused, api, w->tenant, w->m[i].limit->name, 1);
    char msg[256];
    snprintf(msg, sizeof(msg), "rate limit '%s' exceeded (%" PRId64 " requests per %" PRIu64 " ms%s%s); retry in %" PRIu64 " s",
             refusing->limit->name, refusing->rate->burst, refusing->rate->window_ms, w->tenant[0] != '\0' ? " for tenant " : "",
             w->tenant, retry_s(&refusing->d));
    api->respond_error(w->req, 429, "GATEWAY::RATE_LIMITED", msg);
    return SG_PLUGIN_RESPONDED;
}

/* the store could not answer: fail_closed limits refuse (503), the others let the request through (counted) */
static sg_plugin_status_t store_failed(rl_work_t *w)
{
    const sg_plugin_api_t *api = w->api;
    const rl_limit_t *closed = NULL;
    for (size_t i = 0; i != w->n; ++i)
        if (w->m[i].limit->fail_closed && closed == NULL)
            closed = w->m[i].limit;
    set_headers(w, 0);
    if (closed != NULL) {
        char msg[160];
        count_metric(w->conf->m_fail_closed, api, NULL, closed->name, 0);
        snprintf(msg, sizeof(msg), "rate limit '%s' cannot be checked: the state store is unavailable", closed->name);
        api->respond_error(w->req, 503, "GATEWAY::STORE_UNAVAILABLE", msg);
        return SG_PLUGIN_RESPONDED;
    }
    for (size_t i = 0; i != w->n; ++i)
        count_metric(w->conf->m_fail_open, api, NULL, w->m[i].limit->name, 0);
    return SG_PLUGIN_CONTINUE;
}

/* ---- local mode: one table for the process, one lock: exact ---- */

static sg_plugin_status_t decide_local(rl_work_t *w)
{
    rl_shared_t *s = w->conf->shared;
    rl_entry_t *e[RL_MAX_MATCH];
    int all = 1;
    pthread_mutex_lock(&s->lock);
    if (!s->table_ready) {
        rl_table_init(&s->table, w->conf->max_keys);
        s->table_ready = 1;
    }
    s->table.max_entries = w->conf->max_keys; /* a reload may change it: entries above it age out */
    rl_table_sweep(&s->table, w->now, 2);
    for (size_t i = 0; i != w->n; ++i) {
        rl_match_t *m = &w->m[i];
        e[i] = rl_table_get(&s->table, m->key, m->key_len, m->rate->window_ms, w->now, 1);
        int64_t prev = e[i] != NULL ? rl_entry_count(e[i], m->idx - 1) : 0, cur = e[i] != NULL ? rl_entry_count(e[i], m->idx) : 0;
        rl_decide(m->rate->burst, m->rate->window_ms, w->now, prev, cur, 1, &m->d);
        all &= m->d.allowed;
    }
    if (all) {
        for (size_t i = 0; i != w->n; ++i) {
            if (e[i] == NULL)
                continue; /* the table is full of live keys: not tracked (max_keys) */
            rl_entry_slot(e[i], w->m[i].idx)->known += 1;
            e[i]->last_used_ms = w->now;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return finish(w);
}

/* ---- background batches (thread_counters) ---- */

static void thread_free(rl_thread_t *ts)
{
    rl_table_dispose(&ts->table);
    free(ts);
}

static rl_batch_t *batch_new(rl_thread_t *ts, size_t n, int is_sync)
{
    rl_batch_t *b = calloc(1, sizeof(*b));
    b->ts = ts;
    b->is_sync = is_sync;
    b->ops = calloc(n, sizeof(*b->ops));
    b->idx = calloc(n, sizeof(*b->idx));
    b->key_lens = calloc(n, sizeof(*b->key_lens));
    b->keys = malloc(n * RL_KEY_MAX);
    return b;
}

static void batch_add(rl_batch_t *b, const char *key, size_t key_len, uint64_t idx, int64_t incr, uint64_t window_ms)
{
    char *k = b->keys + b->n * RL_KEY_MAX;
    int len = snprintf(k, RL_KEY_MAX, "%.*s:%" PRIu64, (int)key_len, key, idx);
    b->ops[b->n] = (sg_plugin_counter_op_t){{k, (size_t)len}, incr, incr != 0 ? 2 * window_ms + 1000 : 0, 0};
    b->idx[b->n] = idx;
    b->key_lens[b->n] = key_len;
    ++b->n;
}

static void arm_sync(rl_thread_t *ts);

static void on_batch_done(void *data, int err, sg_plugin_counter_op_t *ops, size_t n)
{
    rl_batch_t *b = data;
    rl_thread_t *ts = b->ts;
    if (b->is_sync && !ts->disposed) {
        ts->store_down = err != 0;
        for (size_t i = 0; i != n; ++i) {
            rl_entry_t *e = rl_table_get(&ts->table, b->keys + i * RL_KEY_MAX, b->key_lens[i], 0, 0, 0);
            rl_slot_t *s;
            if (e == NULL || (s = &e->slots[b->idx[i] & 1])->idx != b->idx[i])
                continue;
            s->inflight -= ops[i].incr;
            if (err != 0)
                s->pending += ops[i].incr; /* sent again with the next sync */
            else
                s->known = ops[i].value - s->inflight; /* the total includes our increments still in flight */
        }
    }
    if (--ts->batches_inflight == 0 && ts->disposed)
        thread_free(ts);
    free(b->ops);
    free(b->idx);
    free(b->key_lens);
    free(b->keys);
    free(b);
}

/* one sync: this thread's increments of every touched key, and the shared totals of its two windows, in one batch */
static void on_sync_timer(void *data)
{
    rl_thread_t *ts = data;
    const sg_plugin_api_t *api = ts->api;
    uint64_t now = api->thread_now_ms(ts->thread);
    rl_batch_t *b = NULL;
    ts->timer_armed = 0;
    rl_table_sweep(&ts->table, now, 16);
    for (size_t bi = 0; bi != ts->table.num_buckets; ++bi) {
        for (rl_entry_t *e = ts->table.buckets[bi]; e != NULL; e = e->next) {
            if (!e->touched && e->slots[0].pending == 0 && e->slots[1].pending == 0)
                continue;
            if (b == NULL)
                b = batch_new(ts, SYNC_MAX_OPS, 1);
            if (b->n + 2 > SYNC_MAX_OPS)
                goto Send; /* the rest waits for the next sync */
            uint64_t idx = rl_window_index(now, e->window_ms);
            for (uint64_t k = idx - 1; k <= idx; ++k) {
                rl_slot_t *s = rl_entry_slot(e, k);
                batch_add(b, e->key, e->key_len, k, s->pending, e->window_ms);
                s->inflight += s->pending;
                s->pending = 0;
            }
            e->touched = 0;
        }
    }
Send:
    if (b != NULL) {
        ++ts->batches_inflight;
        api->thread_counters(ts->thread, b->ops, b->n, on_batch_done, b);
    }
    arm_sync(ts);
}

static void arm_sync(rl_thread_t *ts)
{
    if (ts->timer_armed || ts->sync_interval_ms == 0 || ts->disposed)
        return;
    if (ts->api->thread_timer_start(ts->thread, ts->sync_interval_ms, on_sync_timer, ts) != NULL)
        ts->timer_armed = 1;
}

/* ---- redis mode, one round trip per request ---- */

/* sends the pending take-backs in a batch of their own */
static void flush_takebacks(rl_thread_t *ts)
{
    if (ts->num_takebacks == 0 || ts->disposed)
        return;
    rl_batch_t *b = batch_new(ts, ts->num_takebacks, 0);
    for (size_t i = 0; i != ts->num_takebacks; ++i) {
        rl_takeback_t *t = &ts->takebacks[i];
        memcpy(b->keys + i * RL_KEY_MAX, t->key, t->len);
        b->ops[i] = (sg_plugin_counter_op_t){{b->keys + i * RL_KEY_MAX, t->len}, t->incr, t->ttl_ms, 0};
    }
    b->n = ts->num_takebacks;
    ts->num_takebacks = 0;
    ++ts->batches_inflight;
    ts->api->thread_counters(ts->thread, b->ops, b->n, on_batch_done, b);
}

static void on_takeback_timer(void *data)
{
    rl_thread_t *ts = data;
    ts->takeback_timer_armed = 0;
    flush_takebacks(ts);
}

/* queues INCRBY -1 on a window counter; it goes out with the next round trip of this thread, at the latest after
 * RL_TAKEBACK_DELAY_MS, so that a refusal costs no round trip of its own while requests keep coming */
static void add_takeback(rl_thread_t *ts, sg_plugin_str_t key, uint64_t ttl_ms)
{
    size_t i;
    for (i = 0; i != ts->num_takebacks; ++i)
        if (ts->takebacks[i].len == key.len && memcmp(ts->takebacks[i].key, key.base, key.len) == 0)
            break;
    if (i == ts->num_takebacks) {
        if (i == RL_TAKEBACK_MAX) {
            flush_takebacks(ts);
            i = 0;
        }
        ts->takebacks[i].len = key.len;
        ts->takebacks[i].incr = 0;
        ts->takebacks[i].ttl_ms = ttl_ms;
        memcpy(ts->takebacks[i].key, key.base, key.len);
        ts->num_takebacks = i + 1;
    }
    --ts->takebacks[i].incr;
    if (!ts->takeback_timer_armed && !ts->disposed &&
        ts->api->thread_timer_start(ts->thread, RL_TAKEBACK_DELAY_MS, on_takeback_timer, ts) != NULL)
        ts->takeback_timer_armed = 1;
}

static void on_counters(void *data, int err, sg_plugin_counter_op_t *ops, size_t n)
{
    rl_work_t *w = data;
    (void)ops;
    (void)n;
    sg_plugin_status_t st;
    if (err != 0) {
        st = store_failed(w);
    } else {
        int all = 1;
        for (size_t i = 0; i != w->n; ++i) {
            rl_match_t *m = &w->m[i];
            rl_decide(m->rate->burst, m->rate->window_ms, w->now, w->ops[w->base + 2 * i + 1].value,
                      w->ops[w->base + 2 * i].value - 1, 1, &m->d);
            all &= m->d.allowed;
        }
        if (!all && w->ts != NULL) {
            /* a refused request does not count: take its increments back; remember the keys over their limit */
            for (size_t i = 0; i != w->n; ++i) {
                rl_match_t *m = &w->m[i];
                add_takeback(w->ts, w->ops[w->base + 2 * i].key, 2 * m->rate->window_ms + 1000);
                if (!m->d.allowed && w->conf->over_limit_cache) {
                    rl_entry_t *e = rl_table_get(&w->ts->table, m->key, m->key_len, m->rate->window_ms, w->now, 1);
                    if (e != NULL) {
                        e->blocked_until_ms = w->now + m->d.retry_after_ms;
                        e->last_used_ms = w->now;
                    }
                }
            }
        }
        st = finish(w);
    }
    w->api->resume(w->req, st);
}

static sg_plugin_status_t decide_redis(rl_work_t *w)
{
    if (w->ts != NULL && w->conf->over_limit_cache) {
        int blocked = 0;
        rl_table_sweep(&w->ts->table, w->now, 1);
        for (size_t i = 0; i != w->n; ++i) {
            rl_match_t *m = &w->m[i];
            rl_entry_t *e = rl_table_get(&w->ts->table, m->key, m->key_len, m->rate->window_ms, w->now, 0);
            if (e != NULL && e->blocked_until_ms > w->now) {
                m->d = (rl_decision_t){0, 0, m->rate->window_ms - w->now % m->rate->window_ms, e->blocked_until_ms - w->now};
                blocked = 1;
            } else {
                m->d = (rl_decision_t){1, 0, m->rate->window_ms - w->now % m->rate->window_ms, 0};
            }
        }
        if (blocked) {
            /* the remaining count of the limits not refused here is unknown without a round trip: 0 is what matters now */
            return finish(w);
        }
    }
    /* pending take-backs go first (so that this request's counts do not include them), in the same round trip */
    size_t nops = 0;
    if (w->ts != NULL) {
        rl_thread_t *ts = w->ts;
        for (; nops != ts->num_takebacks; ++nops) {
            rl_takeback_t *t = &ts->takebacks[nops];
            memcpy(w->opkeys[nops], t->key, t->len);
            w->ops[nops] = (sg_plugin_counter_op_t){{w->opkeys[nops], t->len}, t->incr, t->ttl_ms, 0};
        }
        ts->num_takebacks = 0;
    }
    w->base = nops;
    for (size_t i = 0; i != w->n; ++i) {
        rl_match_t *m = &w->m[i];
        for (int k = 0; k != 2; ++k, ++nops) {
            char *key = w->opkeys[nops];
            int len = snprintf(key, RL_KEY_MAX, "%.*s:%" PRIu64, (int)m->key_len, m->key, m->idx - (uint64_t)k);
            w->ops[nops] =
                (sg_plugin_counter_op_t){{key, (size_t)len}, k == 0 ? 1 : 0, k == 0 ? 2 * m->rate->window_ms + 1000 : 0, 0};
        }
    }
    w->api->req_counters(w->req, w->ops, nops, on_counters, w);
    return SG_PLUGIN_SUSPENDED;
}

/* ---- redis mode with sync_interval: local counts, batched sync ---- */

static sg_plugin_status_t decide_batched(rl_work_t *w)
{
    rl_thread_t *ts = w->ts;
    rl_entry_t *e[RL_MAX_MATCH];
    int all = 1;
    ts->sync_interval_ms = w->conf->sync_interval_ms; /* a reload's interval applies from the next timer */
    arm_sync(ts);
    /* touched keys are synced (read) at the next timer, also while the store is down: that is how recovery is seen */
    for (size_t i = 0; i != w->n; ++i) {
        e[i] = rl_table_get(&ts->table, w->m[i].key, w->m[i].key_len, w->m[i].rate->window_ms, w->now, 1);
        if (e[i] != NULL) {
            e[i]->touched = 1;
            e[i]->last_used_ms = w->now;
        }
    }
    /* the last sync failed: fail_closed limits refuse; fail_open ones go on with what this thread knows (counted) */
    if (ts->store_down && store_failed(w) == SG_PLUGIN_RESPONDED)
        return SG_PLUGIN_RESPONDED;
    for (size_t i = 0; i != w->n; ++i) {
        rl_match_t *m = &w->m[i];
        int64_t prev = e[i] != NULL ? rl_entry_count(e[i], m->idx - 1) : 0, cur = e[i] != NULL ? rl_entry_count(e[i], m->idx) : 0;
        rl_decide(m->rate->burst, m->rate->window_ms, w->now, prev, cur, 1, &m->d);
        all &= m->d.allowed;
    }
    if (all) {
        for (size_t i = 0; i != w->n; ++i)
            if (e[i] != NULL)
                rl_entry_slot(e[i], w->m[i].idx)->pending += 1;
    }
    return finish(w);
}

/* ---- the plugin ---- */

static sg_plugin_status_t on_request(const sg_plugin_api_t *api, sg_plugin_req_t *req, void *p, void *c)
{
    rl_conf_t *conf = p;
    (void)c;
    const sg_plugin_req_ctx_t *rc = api->req_context(req);
    rl_match_t found[RL_MAX_MATCH];
    uint64_t now = api->now_ms(req);
    size_t n = match_limits(api, conf, rc, now, found);
    if (n == 0)
        return SG_PLUGIN_CONTINUE;
    rl_thread_t *ts = api->req_thread_state(req);
    int round_trip = conf->mode == RL_MODE_REDIS && (conf->sync_interval_ms == 0 || ts == NULL);
    rl_work_t stack_w, *w = round_trip ? api->req_alloc(req, sizeof(*w)) : &stack_w;
    w->api = api;
    w->req = req;
    w->conf = conf;
    w->ts = ts;
    w->now = now;
    size_t tl = rc->tenant.len < sizeof(w->tenant) ? rc->tenant.len : sizeof(w->tenant) - 1;
    memcpy(w->tenant, rc->tenant.base, tl);
    w->tenant[tl] = '\0';
    w->n = n;
    memcpy(w->m, found, n * sizeof(found[0]));
    if (conf->mode == RL_MODE_LOCAL)
        return decide_local(w);
    static int warned; /* the store is known once requests flow, not when the config is parsed */
    if (!warned && !api->store_is_shared()) {
        warned = 1;
        api->log(SG_PLUGIN_LOG_WARN, "rate-limit: mode redis without a redis: section counts in this process only");
    }
    if (round_trip)
        return decide_redis(w);
    return decide_batched(w);
}

static void *config_parse(const sg_plugin_api_t *api, sg_plugin_conf_t *c)
{
    return rl_conf_parse(api, c);
}

static void config_free(void *p)
{
    rl_conf_free(p);
}

static void *thread_init(const sg_plugin_api_t *api, sg_plugin_thread_t *thread)
{
    rl_thread_t *ts = calloc(1, sizeof(*ts));
    ts->api = api;
    ts->thread = thread;
    rl_table_init(&ts->table, 65536);
    rl_shared_t *s = rl_shared_get(api);
    if (s != NULL) {
        pthread_mutex_lock(&s->lock);
        ++s->threads;
        pthread_mutex_unlock(&s->lock);
    }
    return ts;
}

static void thread_dispose(const sg_plugin_api_t *api, sg_plugin_thread_t *thread, void *state)
{
    rl_thread_t *ts = state;
    (void)thread;
    if (ts == NULL)
        return;
    rl_shared_t *s = rl_shared_get(api);
    if (s != NULL) {
        pthread_mutex_lock(&s->lock);
        if (--s->threads == 0 && s->table_ready) {
            rl_table_dispose(&s->table); /* the last worker is gone: no request can use the table any more */
            s->table_ready = 0;
        }
        pthread_mutex_unlock(&s->lock);
    }
    ts->disposed = 1;
    if (ts->batches_inflight == 0)
        thread_free(ts);
}

const sg_plugin_t sg_plugin_rate_limit = {
    .abi_version = SG_PLUGIN_ABI_VERSION,
    .name = "rate-limit",
    .ctx_size = 0,
    .config_parse = config_parse,
    .config_free = config_free,
    .on_request = on_request,
    .descriptor_size = sizeof(sg_plugin_t),
    .thread_init = thread_init,
    .thread_dispose = thread_dispose,
};
