/*
 * The quota ledger inside the two store backends (docs/STORE.md, "Quota ledger"):
 * store_memory_quota.c and store_redis_quota.c. Not for use outside gateway/store/.
 */
#ifndef SG_STORE_QUOTA_IMPL_H
#define SG_STORE_QUOTA_IMPL_H

#include "store/store_impl.h"

/* ---- memory backend (called with the memory store's mutex held) ---- */

/* runs a quota op (reserve, release, forget, usage); the caller completes it */
void sg_store__memq_run(sg_store_op_t *op);
/* a sandbox or snapshot record was written (its reservation, if any, becomes the live member) or deleted */
void sg_store__memq_put(const char *tenant, sg_quota_kind_t kind, const char *id, int64_t expires_at_ms, uint64_t cpu_millis,
                        uint64_t memory_mb, const char *reservation);
void sg_store__memq_del(const char *tenant, sg_quota_kind_t kind, const char *id);
void sg_store__memq_dispose(void);

/* ---- Redis backend: what store_redis.c lends store_redis_quota.c ---- */

struct redisAsyncContext;
typedef void sg_redis_reply_fn(struct redisAsyncContext *ac, void *reply, void *privdata);

/* queues a command on s's connection; fn(privdata) gets its reply (fn NULL: ignored). -1 when there is no connection */
int sg_redis__send_raw(sg_store_t *s, sg_redis_reply_fn *fn, void *privdata, int argc, const char **argv);
/* queues a command of op (its reply goes through the generic reply path and step machine of store_redis.c) */
int sg_redis__send_op(sg_store_t *s, sg_store_op_t *op, int argc, const char **argv);
/* 1 when commands can be queued (connected or connecting) */
int sg_redis__usable(sg_store_t *s);
/* gives up s's connection (every pending reply is called back with NULL) */
void sg_redis__drop(sg_store_t *s, const char *why);
/* per-connection state of store_redis_quota.c (NULL until it is needed) */
void **sg_redis__quota_slot(sg_store_t *s);

/* ---- Redis backend: store_redis_quota.c ---- */

/* starts a reservation: queued, one transaction in flight per connection */
void sg_store__redisq_reserve(sg_store_op_t *op);
/* queues the commands of release, forget and usage (one step; the last command carries op) */
int sg_store__redisq_send(sg_store_t *s, sg_store_op_t *op);
/* takes the EXEC reply of a usage op */
void sg_store__redisq_take_usage(sg_store_op_t *op, const void *reply);
/* queues, inside a record write's MULTI block, the ledger change of a put (committing reservation) or delete */
int sg_store__redisq_on_put(sg_store_t *s, const char *tenant, sg_quota_kind_t kind, const char *id, int64_t expires_at_ms,
                            uint64_t cpu_millis, uint64_t memory_mb, const char *reservation);
int sg_store__redisq_on_del(sg_store_t *s, const char *tenant, sg_quota_kind_t kind, const char *id);
/* fails what is queued and frees the per-connection state (the connection is gone) */
void sg_store__redisq_close(sg_store_t *s);

#endif
