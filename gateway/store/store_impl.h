/*
 * Internals of the state store shared by the dispatch layer (store.c) and its two
 * backends (store_memory.c, store_redis.c). Not for use outside those files.
 *
 * An operation (sg_store_op_t) is created by store.c with its arguments copied and
 * validated, then handed to the backend's start function. The backend fills the
 * result fields and completes the operation exactly once, with sg_store__finish
 * (from an event of the loop, e.g. a Redis reply) or sg_store__finish_later (from
 * inside the call that started it: the callback then runs from a zero-delay timer).
 * Completion and cancellation unlink the operation from its store; the memory is
 * released once the backend holds no more references (refs: outstanding Redis
 * replies that point at it).
 */
#ifndef SG_STORE_IMPL_H
#define SG_STORE_IMPL_H

#include "store/store.h"

typedef enum en_sg_store_req_t {
    SG_STORE_GET_SANDBOX,
    SG_STORE_PUT_SANDBOX,
    SG_STORE_DEL_SANDBOX,
    SG_STORE_LIST_SANDBOXES,
    SG_STORE_GET_SNAPSHOT,
    SG_STORE_PUT_SNAPSHOT,
    SG_STORE_DEL_SNAPSHOT,
    SG_STORE_LIST_SNAPSHOTS,
    SG_STORE_GET_KEY,
    SG_STORE_PUT_KEY,
    SG_STORE_DEL_KEY,
    SG_STORE_GET_TENANT,
    SG_STORE_PUT_TENANT,
    SG_STORE_COUNTERS,
    SG_STORE_QUOTA_RESERVE,
    SG_STORE_QUOTA_RELEASE,
    SG_STORE_QUOTA_FORGET,
    SG_STORE_QUOTA_USAGE,
    SG_STORE_CLAIM
} sg_store_req_t;

struct st_sg_store_op_t {
    sg_store_t *store;
    sg_store_req_t req;
    void (*cb)(void); /* one of the sg_store_*_cb types, per req; NULL: fire and forget */
    void *data;
    h2o_linklist_t link;       /* in store->ops while pending */
    h2o_timeout_entry_t timer; /* deferred completion, or the backend's command timeout */
    const char *err;           /* for sg_store__finish_later */
    unsigned done : 1;         /* completed or cancelled: the callback is not to be called any more */
    size_t refs;               /* backend references (outstanding replies); the op is freed when done and 0 */
    /* arguments */
    char id[SG_STORE_ID_MAX + 1]; /* id, or tenant of a list ("" = all tenants) */
    unsigned char key_hash[32];
    union {
        sg_sandbox_rec_t sandbox;
        sg_snapshot_rec_t snapshot;
        sg_key_rec_t key;
        sg_quota_request_t quota; /* reserve; release and forget use tenant and rid (forget: the sandbox id in id) */
    } in;
    char *json;                   /* put_tenant argument, get_tenant result (malloc'd) */
    sg_store_counter_t *counters; /* counters: one malloc'd block with the full keys (ns + key, NUL-terminated) */
    size_t num_counters;
    /* claim: the full key (ns + key, malloc'd), its holder and interval; the results */
    char *claim_key;
    char claim_holder[SG_STORE_ID_MAX + 1];
    uint64_t claim_ms;
    int claimed;
    uint64_t claim_remaining_ms;
    /* results: found (single record) or n records of sandboxes / snapshots (malloc'd arrays) */
    int found;
    sg_key_rec_t key;
    sg_sandbox_rec_t *sandboxes;
    sg_snapshot_rec_t *snapshots;
    size_t n, cap;
    /* backend state */
    size_t step;
    size_t replies; /* replies received in the current step */
    char (*ids)[SG_STORE_ID_MAX + 1];
    size_t num_ids;
    /* quota results and the Redis backend's transaction state (store_redis_quota.c) */
    sg_quota_verdict_t verdict;
    sg_quota_usage_t usage;
    h2o_linklist_t txn_link; /* in the connection's queue of transactions */
    unsigned attempts;       /* transactions tried (a conflict retries) */
    size_t outstanding;      /* replies the current transaction step still waits for */
};

struct st_sg_store_t {
    sg_loop_t *loop;
    h2o_linklist_t ops; /* pending operations */
    void *impl;         /* the backend's per-loop state */
    int closing;        /* sg_store_close is running: new operations fail */
    sg_store_t *txn;    /* a second handle of the same loop for quota transactions (backend->own_txn_connection) */
};

extern sg_store_conf_t sg_store__conf;

/* Completes a pending op: runs its callback (none when cb is NULL: fire and forget) with err and the results, then releases it. */
void sg_store__finish(sg_store_op_t *op, const char *err);
/* The same, from a zero-delay timer of the store's loop. */
void sg_store__finish_later(sg_store_op_t *op, const char *err);
/* Drops one backend reference; returns 1 when op is done (it may have been freed: do not touch it any more). */
int sg_store__unref(sg_store_op_t *op);
/* Appends a zeroed record to op's result array and returns it. */
sg_sandbox_rec_t *sg_store__add_sandbox(sg_store_op_t *op);
sg_snapshot_rec_t *sg_store__add_snapshot(sg_store_op_t *op);
/* runs the hook of sg_store_set_sandbox_hook, if any (memory store) */
void sg_store__sandbox_changed(const char *id, const char *tenant);
/* 1 when s is a valid id (1..SG_STORE_ID_MAX bytes, no whitespace or control characters) */
int sg_store__valid_id(const char *s);

/*
 * A backend: the one place that knows how to run operations. sg_store_global_init picks one (the `redis:`
 * section chooses Redis) and every call of store.c goes through it; a new backend is a new table of this type.
 * Except for global_init, none of them fails: errors surface per operation.
 */
typedef struct st_sg_store_backend_t {
    const char *name;
    /* process-wide setup from sg_store__conf (which it may check), before any loop opens a store; 0 on success */
    int (*global_init)(void);
    void (*global_dispose)(void);
    /* the backend's per-loop state (sg_store_t.impl), or NULL */
    void *(*open)(sg_store_t *s);
    /* fails every op of the store that the backend still serves, then frees the per-loop state */
    void (*close)(sg_store_t *s);
    int (*is_available)(sg_store_t *s); /* see sg_store_is_available */
    int (*is_down)(sg_store_t *s);      /* see sg_store_is_down */
    /* runs a validated op of any sg_store_req_t; completes it with sg_store__finish or sg_store__finish_later */
    void (*start)(sg_store_op_t *op);
    /* see sg_store_purge_sandbox (arguments validated) */
    void (*purge_sandbox)(sg_store_t *s, const char *id, const char *tenant);
    /* quota reservations run on a handle of their own (a WATCH must not share a connection with other commands) */
    int own_txn_connection;
} sg_store_backend_t;

/* the name of an operation, for metrics ("get_sandbox", ...; "other" for one without a name) */
const char *sg_store__req_name(sg_store_req_t req);
/* counters (store_memory_counter.c, store_redis_counter.c) */
void sg_store__memory_counters(sg_store_op_t *op); /* runs op at once */
void sg_store__memory_counters_dispose(void);
void sg_store__memory_claim(sg_store_op_t *op);       /* runs op at once, in the counters' table */
int sg_store__redis_counters_send(sg_store_op_t *op); /* queues the batch; 0 on success */
void sg_store__redis_counters_reply(sg_store_op_t *op, const void *reply, size_t index); /* a redisReply of the batch */
int sg_store__redis_claim_send(sg_store_op_t *op);                                       /* SET NX PX + PTTL; 0 on success */
void sg_store__redis_claim_reply(sg_store_op_t *op, const void *reply, size_t index);
/* takes the index-th reply (a redisReply) of op's current step into its results (store_redis_reply.c) */
void sg_store__redis_take_reply(sg_store_op_t *op, const void *reply, size_t index);
/* store_redis.c: queues one command for op (its reply goes to op); 0 on success */
int sg_store__redis_send(sg_store_op_t *op, int argc, const char **argv);

extern const sg_store_backend_t sg_store_memory_backend;
extern const sg_store_backend_t sg_store_redis_backend;

#endif
