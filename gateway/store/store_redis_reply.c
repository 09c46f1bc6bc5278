/*
 * Decoding of the Redis store's replies into an operation's results (records, id
 * lists, keys, tenant documents): pure functions of a reply, kept apart from the
 * connection and command logic of store_redis.c.
 */
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>
#include "store/store_quota_impl.h"

/* copies a reply string into a record field; returns 1 when it is a valid id */
static int take_str(char (*dst)[SG_STORE_ID_MAX + 1], const redisReply *v)
{
    if (v->type != REDIS_REPLY_STRING || v->len > SG_STORE_ID_MAX)
        return 0;
    memcpy(*dst, v->str, v->len);
    (*dst)[v->len] = '\0';
    return sg_store__valid_id(*dst);
}

static int64_t to_i64(const redisReply *v)
{
    return v->type == REDIS_REPLY_STRING ? strtoll(v->str, NULL, 10) : 0;
}

/* fills rec (rec->id preset) from an HGETALL reply of a sandbox or snapshot; 0 when absent or unusable */
static int parse_record(const redisReply *reply, sg_sandbox_rec_t *sbx, sg_snapshot_rec_t *snap)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0 || reply->elements % 2 != 0)
        return 0;
    int has_tenant = 0, has_backend = 0;
    for (size_t i = 0; i != reply->elements; i += 2) {
        const redisReply *f = reply->element[i], *v = reply->element[i + 1];
        if (f->type != REDIS_REPLY_STRING)
            continue;
        if (strcmp(f->str, "tenant") == 0) {
            has_tenant = take_str(sbx != NULL ? &sbx->tenant : &snap->tenant, v);
        } else if (strcmp(f->str, "backend") == 0) {
            has_backend = take_str(sbx != NULL ? &sbx->backend : &snap->backend, v);
        } else if (sbx != NULL) {
            if (strcmp(f->str, "expires_at_ms") == 0)
                sbx->expires_at_ms = to_i64(v);
            else if (strcmp(f->str, "created_at_ms") == 0)
                sbx->created_at_ms = to_i64(v);
            else if (strcmp(f->str, "cpu_millis") == 0)
                sbx->cpu_millis = (uint64_t)to_i64(v);
            else if (strcmp(f->str, "memory_mb") == 0)
                sbx->memory_mb = (uint64_t)to_i64(v);
            else if (strcmp(f->str, "renew_extend_s") == 0) /* absent in records written before it existed: 0 */
                sbx->renew_extend_s = to_i64(v) > 0 && to_i64(v) <= UINT32_MAX ? (uint32_t)to_i64(v) : 0;
        }
    }
    return has_tenant && has_backend;
}

/*
 * An HGETALL reply for id: the record joins op's results when it qualifies (for a list by tenant: still that
 * tenant's). Returns 0 when the index entry that led to id is stale (record gone, or
 * now another tenant's).
 */
static int take_record(sg_store_op_t *op, const redisReply *reply, const char *id)
{
    int ok;
    if (op->req == SG_STORE_GET_SNAPSHOT || op->req == SG_STORE_LIST_SNAPSHOTS) {
        sg_snapshot_rec_t rec = {{0}};
        strcpy(rec.id, id);
        if ((ok = parse_record(reply, NULL, &rec)) &&
            (op->req == SG_STORE_GET_SNAPSHOT || op->id[0] == '\0' || strcmp(rec.tenant, op->id) == 0))
            *sg_store__add_snapshot(op) = rec;
        else
            ok = 0;
    } else {
        sg_sandbox_rec_t rec = {{0}};
        strcpy(rec.id, id);
        if ((ok = parse_record(reply, &rec, NULL)) &&
            (op->req == SG_STORE_GET_SANDBOX || op->id[0] == '\0' || strcmp(rec.tenant, op->id) == 0))
            *sg_store__add_sandbox(op) = rec;
        else
            ok = 0;
    }
    return ok;
}

/* the list of ids of step 0 of a list operation */
static void take_ids(sg_store_op_t *op, const redisReply *reply)
{
    if (reply->type != REDIS_REPLY_ARRAY)
        return;
    op->ids = malloc(sizeof(*op->ids) * (reply->elements != 0 ? reply->elements : 1));
    for (size_t i = 0; i != reply->elements; ++i)
        if (take_str(&op->ids[op->num_ids], reply->element[i]))
            ++op->num_ids;
}

/* takes the index-th reply of op's current step into its results */
void sg_store__redis_take_reply(sg_store_op_t *op, const void *_reply, size_t index)
{
    const redisReply *reply = _reply;
    switch (op->req) {
    case SG_STORE_GET_SANDBOX:
    case SG_STORE_GET_SNAPSHOT:
        take_record(op, reply, op->id);
        break;
    case SG_STORE_LIST_SANDBOXES:
    case SG_STORE_LIST_SNAPSHOTS:
        if (op->step == 0) {
            take_ids(op, reply);
        } else if (index < op->num_ids && take_record(op, reply, op->ids[index])) {
            op->ids[index][0] = '\0'; /* what remains are stale index entries */
        }
        break;
    case SG_STORE_DEL_SANDBOX:
    case SG_STORE_DEL_SNAPSHOT:
        if (op->step == 0 && !take_str(&op->in.sandbox.tenant, reply))
            op->in.sandbox.tenant[0] = '\0';
        break;
    case SG_STORE_GET_KEY:
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements % 2 == 0) {
            memcpy(op->key.hash, op->key_hash, sizeof(op->key.hash));
            for (size_t i = 0; i != reply->elements; i += 2) {
                const redisReply *f = reply->element[i], *v = reply->element[i + 1];
                if (f->type != REDIS_REPLY_STRING)
                    continue;
                if (strcmp(f->str, "tenant") == 0)
                    op->found = take_str(&op->key.tenant, v);
                else if (strcmp(f->str, "expires_at_ms") == 0)
                    op->key.expires_at_ms = to_i64(v);
                else if (strcmp(f->str, "revoked") == 0)
                    op->key.revoked = to_i64(v) != 0;
            }
        }
        break;
    case SG_STORE_GET_TENANT:
        if (reply->type == REDIS_REPLY_STRING)
            op->json = strndup(reply->str, reply->len);
        break;
    case SG_STORE_PUT_SANDBOX:
    case SG_STORE_PUT_SNAPSHOT:
        if (reply->type != REDIS_REPLY_ARRAY) /* EXEC: nil would mean an aborted transaction */
            op->err = sg_store_err_unavailable;
        break;
    case SG_STORE_COUNTERS:
        sg_store__redis_counters_reply(op, reply, index);
        break;
    case SG_STORE_CLAIM:
        sg_store__redis_claim_reply(op, reply, index);
        break;
    case SG_STORE_QUOTA_USAGE:
        sg_store__redisq_take_usage(op, reply);
        break;
    case SG_STORE_PUT_KEY:
    case SG_STORE_DEL_KEY:
    case SG_STORE_PUT_TENANT:
    case SG_STORE_QUOTA_RESERVE:
    case SG_STORE_QUOTA_RELEASE:
    case SG_STORE_QUOTA_FORGET:
        break;
    }
}
