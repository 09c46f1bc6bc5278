/*
 * The state store: who owns which sandbox and snapshot (tenant, backend,
 * resources, expiry), and tenants' keys. One interface, two implementations:
 *   - memory: in-process tables shared by the worker threads (single gateway
 *     instance; the embedded default when the config has no `redis:` section);
 *   - redis: hiredis async on the h2o event loop; any number of gateway
 *     instances share it. Key schema: docs/STORE.md.
 *
 * Every thread (event loop) opens its own sg_store_t. Operations are
 * asynchronous: the callback runs later on the same loop, never from inside the
 * call that started it. An operation can be cancelled until its callback ran;
 * then the callback is never called (requests cancel theirs when they die).
 * Strings passed in are copied; records passed to callbacks are valid only
 * during the callback. err is NULL on success, else a static message (e.g.
 * sg_store_err_unavailable when Redis is down or a command timed out).
 */
#ifndef SG_STORE_H
#define SG_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "util/evloop.h"
#include "store/quota_ledger.h"

#define SG_STORE_ID_MAX 128

typedef struct st_sg_store_conf_t {
    int use_redis;
    char *host; /* redis host (NULL when unix_path is used) */
    uint16_t port;
    char *unix_path; /* "unix:/path" in config */
    char *password;  /* NULL = no AUTH */
    uint64_t db;
    char *prefix; /* key prefix, default "sandgate:" */
    uint64_t connect_timeout_ms;
    uint64_t command_timeout_ms;
    uint64_t tenant_cache_ttl_ms; /* how long a tenant definition read from the store is reused */
} sg_store_conf_t;

typedef struct st_sg_sandbox_rec_t {
    char id[SG_STORE_ID_MAX + 1];
    char tenant[SG_STORE_ID_MAX + 1];
    char backend[SG_STORE_ID_MAX + 1];
    int64_t expires_at_ms; /* 0: no expiry (manual cleanup) */
    int64_t created_at_ms;
    uint64_t cpu_millis; /* requested CPU, 1000 = one core */
    uint64_t memory_mb;
    uint32_t renew_extend_s; /* renew on access: seconds an access extends the expiry by (0: not opted in; tenancy/renew.h) */
    char reservation[SG_QUOTA_RID_MAX + 1]; /* put: the quota reservation this write commits ("" none); never stored */
} sg_sandbox_rec_t;

typedef struct st_sg_snapshot_rec_t {
    char id[SG_STORE_ID_MAX + 1];
    char tenant[SG_STORE_ID_MAX + 1];
    char backend[SG_STORE_ID_MAX + 1];
    char reservation[SG_QUOTA_RID_MAX + 1]; /* put: the quota reservation this write commits ("" none); never stored */
} sg_snapshot_rec_t;

typedef struct st_sg_key_rec_t {
    unsigned char hash[32];
    char tenant[SG_STORE_ID_MAX + 1];
    int64_t expires_at_ms; /* 0: never */
    int revoked;
} sg_key_rec_t;

typedef struct st_sg_store_t sg_store_t;
typedef struct st_sg_store_op_t sg_store_op_t;

typedef void (*sg_store_done_cb)(void *data, const char *err);
/* rec is NULL when the id is unknown */
typedef void (*sg_store_sandbox_cb)(void *data, const char *err, const sg_sandbox_rec_t *rec);
typedef void (*sg_store_sandboxes_cb)(void *data, const char *err, const sg_sandbox_rec_t *recs, size_t n);
typedef void (*sg_store_snapshot_cb)(void *data, const char *err, const sg_snapshot_rec_t *rec);
typedef void (*sg_store_snapshots_cb)(void *data, const char *err, const sg_snapshot_rec_t *recs, size_t n);
typedef void (*sg_store_key_cb)(void *data, const char *err, const sg_key_rec_t *rec);
typedef void (*sg_store_string_cb)(void *data, const char *err, const char *value /* NULL if absent */);
/* verdict SG_QUOTA_OK for a usage query; usage is the tenant's at the time of the decision (NULL on error) */
typedef void (*sg_store_quota_cb)(void *data, const char *err, sg_quota_verdict_t verdict, const sg_quota_usage_t *usage);

extern const char sg_store_err_unavailable[];
extern const char sg_store_err_invalid[];

/* Process-wide setup before any thread opens a store (memory tables, conf copy). Returns 0 on success. */
int sg_store_global_init(const sg_store_conf_t *conf);
void sg_store_global_dispose(void);

/* Opens this loop's handle (for Redis: starts connecting; never fails, errors surface per operation). */
sg_store_t *sg_store_open(sg_loop_t *loop);
/* Closes the handle; pending operations get their callback with sg_store_err_unavailable first. */
void sg_store_close(sg_store_t *s);
/* 1 when the store can serve now (memory: always; Redis: connected). */
int sg_store_is_available(sg_store_t *s);
/*
 * 1 when operations would fail at once (Redis: disconnected, waiting to retry).
 * While a connection is being set up this is 0: operations queue behind the handshake.
 */
int sg_store_is_down(sg_store_t *s);

sg_store_op_t *sg_store_get_sandbox(sg_store_t *s, const char *id, sg_store_sandbox_cb cb, void *data);
/* creates or replaces the record rec->id and indexes it under rec->tenant */
sg_store_op_t *sg_store_put_sandbox(sg_store_t *s, const sg_sandbox_rec_t *rec, sg_store_done_cb cb, void *data);
sg_store_op_t *sg_store_del_sandbox(sg_store_t *s, const char *id, sg_store_done_cb cb, void *data);
/*
 * Deletes the record of a sandbox whose record write failed but may still be executed late (with Redis: it was
 * sent on a connection that was then dropped; Redis runs what it had received when it resumes). Not tied to any
 * request: repeated on later connections until confirmed (docs/STORE.md, "Purges"). tenant is the record's.
 */
void sg_store_purge_sandbox(sg_store_t *s, const char *id, const char *tenant);
/* every sandbox of tenant (NULL = of all tenants), in no particular order */
sg_store_op_t *sg_store_list_sandboxes(sg_store_t *s, const char *tenant, sg_store_sandboxes_cb cb, void *data);

sg_store_op_t *sg_store_get_snapshot(sg_store_t *s, const char *id, sg_store_snapshot_cb cb, void *data);
sg_store_op_t *sg_store_put_snapshot(sg_store_t *s, const sg_snapshot_rec_t *rec, sg_store_done_cb cb, void *data);
sg_store_op_t *sg_store_del_snapshot(sg_store_t *s, const char *id, sg_store_done_cb cb, void *data);
sg_store_op_t *sg_store_list_snapshots(sg_store_t *s, const char *tenant, sg_store_snapshots_cb cb, void *data);

/* API keys by hash (for keys managed through the store rather than the config file) */
sg_store_op_t *sg_store_get_key(sg_store_t *s, const unsigned char hash[32], sg_store_key_cb cb, void *data);
sg_store_op_t *sg_store_put_key(sg_store_t *s, const sg_key_rec_t *rec, sg_store_done_cb cb, void *data);
sg_store_op_t *sg_store_del_key(sg_store_t *s, const unsigned char hash[32], sg_store_done_cb cb, void *data);
/* tenant definitions as JSON documents (same fields as a `tenants:` entry of the config) */
sg_store_op_t *sg_store_get_tenant(sg_store_t *s, const char *id, sg_store_string_cb cb, void *data);
sg_store_op_t *sg_store_put_tenant(sg_store_t *s, const char *id, const char *json, sg_store_done_cb cb, void *data);

/*
 * Counters (for plugins, plugin.h): each counter is incremented by incr (created at 0) and, with incr != 0 and
 * ttl_ms != 0, expires ttl_ms later; incr 0 reads it. Keys are ns + key (ns e.g. "plugin:<name>:"; with Redis
 * after the key prefix), at most SG_STORE_COUNTER_KEY_MAX bytes each, no whitespace or control characters. Redis
 * runs a batch as one pipelined round trip (INCRBY + PEXPIRE, or GET); the memory store keeps an expiring table.
 * The callback gets the counters in order with value set (0 for a missing key); keys point into the op's copies.
 */
#define SG_STORE_COUNTER_KEY_MAX 200
#define SG_STORE_COUNTERS_MAX 64 /* counters per batch */
typedef struct st_sg_store_counter_t {
    const char *key;
    size_t key_len;
    int64_t incr;
    uint64_t ttl_ms;
    int64_t value; /* out */
} sg_store_counter_t;
typedef void (*sg_store_counters_cb)(void *data, const char *err, const sg_store_counter_t *counters, size_t n);
sg_store_op_t *sg_store_counters(sg_store_t *s, const char *ns, const sg_store_counter_t *counters, size_t n,
                                 sg_store_counters_cb cb, void *data);
/*
 * Claims: one taker per interval and key across every gateway sharing the store (renew on access,
 * tenancy/renew.c). The claim of ns + key (checked like a counter key) goes to the caller when nobody holds it, for
 * interval_ms; claimed is 1 for that caller and 0 for the others until it lapses, remaining_ms what is left of the
 * current holder's interval (the caller's own when claimed; 0 when unknown). holder names the taker (kept as the
 * Redis value, for operators). Redis: SET key holder NX PX interval, then PTTL key, pipelined (one round trip);
 * memory: entries of the counters' expiring table.
 */
typedef void (*sg_store_claim_cb)(void *data, const char *err, int claimed, uint64_t remaining_ms);
sg_store_op_t *sg_store_claim(sg_store_t *s, const char *ns, const char *key, uint64_t interval_ms, const char *holder,
                              sg_store_claim_cb cb, void *data);
/* 1 when the store is Redis (shared by every gateway), 0 for the memory store (or before sg_store_global_init). */
int sg_store_is_shared(void);
/* Errors of operations (err != NULL at completion) are reported to hook(name of the operation); set once at start. */
void sg_store_set_error_hook(void (*hook)(const char *op));

/*
 * Quota ledger (quota_ledger.h; docs/STORE.md, "Quota ledger"). Recording a sandbox or snapshot (put) adds it to
 * its tenant's ledger and, in the same atomic write, removes rec->reservation; deleting one removes it.
 *
 * reserve: adds reservation req->rid if one more item fits req->limits, atomically against every gateway (Redis:
 * WATCH/MULTI/EXEC on a connection of its own, retried on conflict); expired members are pruned on the way.
 * The callback gets the verdict and the usage it was decided on.
 */
sg_store_op_t *sg_store_quota_reserve(sg_store_t *s, const sg_quota_request_t *req, sg_store_quota_cb cb, void *data);
/* drops a reservation that will not be committed (the backend refused the create); fire and forget */
void sg_store_quota_release(sg_store_t *s, const char *tenant, const char *rid);
/*
 * Stops counting a sandbox or snapshot (its record, if any, stays): a sandbox its backend reports Failed or
 * Terminated, or one just deleted (ahead of the record's delete, which needs a look-up first); fire and forget.
 */
void sg_store_quota_forget(sg_store_t *s, const char *tenant, sg_quota_kind_t kind, const char *id);
/* the tenant's current usage */
sg_store_op_t *sg_store_quota_usage(sg_store_t *s, const char *tenant, sg_store_quota_cb cb, void *data);

/* The callback of op will not be called. op must be pending (its callback not yet run). */
void sg_store_cancel(sg_store_op_t *op);

/*
 * Channel of the sandbox change events ("put <id> <tenant>", "del <id>"; cache_events.h): the Redis store
 * publishes one with every write of a sandbox record, in the same MULTI block. The memory store calls the hook
 * instead (set once, before any thread opens a store), after the change is made and before the op's callback;
 * tenant is NULL for a delete.
 */
const char *sg_store_events_channel(void);
void sg_store_set_sandbox_hook(void (*hook)(const char *id, const char *tenant));

#endif
