/*
 * rate-limit plugin, internal interface between its files (not part of the plugin ABI):
 *   rate_limit_window.c  the sliding-window arithmetic and the counter table (pure, unit-tested)
 *   rate_limit_conf.c    the `config:` schema (limits, per-tenant overrides)
 *   rate_limit.c         the plugin: matching, the three modes, headers, errors, metrics
 *
 * Algorithm: sliding window with the two-window estimate (Cloudflare's). A limit of `rate`
 * requests per `per` with a `burst` becomes a window W = per * burst / rate holding at most
 * L = burst requests: a client can send `burst` at once, and `rate` per `per` in the long run.
 * A request at offset e into window i is allowed when
 *     count(i-1) * (W - e) / W + count(i) + 1 <= L
 * Each window is one integer counter, which maps onto Redis as INCRBY + PEXPIRE on window i and
 * GET on window i-1, in one pipelined round trip, without EVAL (GCRA needs a read-modify-write).
 */
#ifndef SG_RATE_LIMIT_H
#define SG_RATE_LIMIT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "plugin.h"

/* ---- sliding-window arithmetic ---- */

typedef struct st_rl_decision_t {
    int allowed;
    int64_t remaining;       /* requests still allowed now (after this one when allowed) */
    uint64_t reset_ms;       /* until the current window ends */
    uint64_t retry_after_ms; /* refused: until one request would be allowed if nothing else is counted */
} rl_decision_t;

/* The window index of a time (ms since the epoch: every gateway computes the same one). */
static inline uint64_t rl_window_index(uint64_t now_ms, uint64_t window_ms)
{
    return now_ms / window_ms;
}

/* Decides a request of `cost` given the counts of the previous and the current window (this request not counted). */
void rl_decide(int64_t limit, uint64_t window_ms, uint64_t now_ms, int64_t prev, int64_t cur, int64_t cost, rl_decision_t *d);

/* ---- counter table: the process-wide table of `local` mode, and each thread's batched counts and over-limit cache ---- */

typedef struct st_rl_slot_t {
    uint64_t idx;     /* window index these counts belong to */
    int64_t known;    /* local mode: the count; batched: the shared count at the last sync */
    int64_t pending;  /* batched: counted here, not sent yet */
    int64_t inflight; /* batched: sent, not acknowledged yet */
} rl_slot_t;

typedef struct st_rl_entry_t {
    struct st_rl_entry_t *next;
    uint64_t hash;
    uint64_t window_ms;
    uint64_t last_used_ms;
    uint64_t blocked_until_ms; /* over-limit cache: refused locally until then */
    int touched;               /* batched: used since the last sync */
    rl_slot_t slots[2];        /* by window index parity: the current and the previous window */
    size_t key_len;
    char key[]; /* "<limit>:<window ms>:<partition>" */
} rl_entry_t;

typedef struct st_rl_table_t {
    rl_entry_t **buckets;
    size_t num_buckets; /* power of two */
    size_t count;
    size_t max_entries;
    size_t sweep_pos;
} rl_table_t;

void rl_table_init(rl_table_t *t, size_t max_entries);
void rl_table_dispose(rl_table_t *t);
/* The entry of key; with create, a new one when absent (NULL when the table is full of live entries). */
rl_entry_t *rl_table_get(rl_table_t *t, const char *key, size_t len, uint64_t window_ms, uint64_t now_ms, int create);
/* Frees entries unused for two windows with nothing left to sync, visiting at most max_buckets buckets. */
void rl_table_sweep(rl_table_t *t, uint64_t now_ms, size_t max_buckets);
/* The slot of window idx, cleared first when it held an older window. */
rl_slot_t *rl_entry_slot(rl_entry_t *e, uint64_t idx);
/* What this process knows of window idx: known + pending + inflight (0 for a window it has no slot for). */
int64_t rl_entry_count(const rl_entry_t *e, uint64_t idx);

/* ---- configuration ---- */

#define RL_MAX_LIMITS 32 /* limits per plugin instance */
#define RL_MAX_MATCH 8   /* limits that may apply to one request */
#define RL_MAX_DIMS 6
#define RL_PARTITION_MAX 160
#define RL_KEY_MAX 200 /* the store's key limit */

enum { RL_MODE_LOCAL = 0, RL_MODE_REDIS = 1 };
enum { RL_ROUTE_LIFECYCLE = 1, RL_ROUTE_PORT = 2 };
enum { RL_DIM_TENANT = 0, RL_DIM_KEY, RL_DIM_SANDBOX, RL_DIM_PORT, RL_DIM_OPERATION, RL_DIM_ROUTE };

typedef struct st_rl_rate_t {
    int set;      /* the limit applies (rate given, not unlimited) */
    int64_t rate; /* requests per per_ms */
    uint64_t per_ms;
    int64_t burst; /* = L, the requests a window holds */
    uint64_t window_ms;
    /* this rate's RateLimit-Policy item, "name";q=burst;w=window_s: constant, so formatted once at config time */
    char policy[80];
    size_t policy_len;
} rl_rate_t;

typedef struct st_rl_override_t {
    char *tenant;
    rl_rate_t rate;
} rl_override_t;

typedef struct st_rl_limit_t {
    char *name;
    unsigned routes; /* RL_ROUTE_* bits; 0 = every route class */
    char **operations;
    size_t num_operations; /* 0 = every operation */
    int dims[RL_MAX_DIMS];
    size_t num_dims;
    rl_rate_t rate; /* the default (set = 0: only the tenants listed are limited) */
    rl_override_t *overrides;
    size_t num_overrides;
    int fail_closed;
} rl_limit_t;

/* process-wide state (shared_state): the table of local mode, created by the first request that needs it and freed
 * when the last worker thread exits (nothing else frees memory it points to) */
typedef struct st_rl_shared_t {
    pthread_mutex_t lock;
    int lock_ready;
    int table_ready;
    size_t threads;
    rl_table_t table;
} rl_shared_t;

/* the process-wide state, its lock initialised (rate_limit_conf.c) */
rl_shared_t *rl_shared_get(const sg_plugin_api_t *api);

typedef struct st_rl_conf_t {
    int mode;
    uint64_t sync_interval_ms; /* redis mode: 0 = one round trip per request */
    int over_limit_cache;
    size_t max_keys;
    rl_limit_t limits[RL_MAX_LIMITS];
    size_t num_limits;
    rl_shared_t *shared; /* local mode */
    sg_plugin_metric_t *m_refused, *m_fail_open, *m_fail_closed;
} rl_conf_t;

/* Parses the plugin's config (rate_limit_conf.c); NULL after recording errors. */
rl_conf_t *rl_conf_parse(const sg_plugin_api_t *api, sg_plugin_conf_t *c);
void rl_conf_free(rl_conf_t *conf);
/* The rate that applies to tenant under limit: an override, else the default (may be unset). */
const rl_rate_t *rl_limit_rate(const rl_limit_t *l, const char *tenant, size_t tenant_len);

#endif
