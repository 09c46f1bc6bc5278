/*
 * The Redis store's counters: a batch is queued as one pipeline (one round
 * trip): for each counter, INCRBY key incr then PEXPIRE key ttl (with a ttl), or
 * GET key for a read. No MULTI: each counter is independent, and INCRBY followed
 * by PEXPIRE on the same connection is as good as atomic for an expiring window
 * (a key left without expiry by a dropped connection gets it with the next
 * increment). Keys: <prefix><ns><key> (docs/STORE.md).
 *
 * A claim is SET key holder NX PX interval followed by PTTL key, pipelined: SET
 * answers OK to the one taker (NX makes the check and the write one step in
 * Redis, whichever gateway asks), nil to the others; PTTL tells what is left.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>
#include "store/store_impl.h"

#define KEY_MAX (256 + SG_STORE_ID_MAX + SG_STORE_COUNTER_KEY_MAX + 1)

int sg_store__redis_counters_send(sg_store_op_t *op)
{
    char key[KEY_MAX], num[24], ttl[24];
    int ret = 0;
    for (size_t i = 0; i != op->num_counters && ret == 0; ++i) {
        const sg_store_counter_t *c = op->counters + i;
        snprintf(key, sizeof(key), "%s%s", sg_store__conf.prefix, c->key);
        if (c->incr == 0) {
            const char *argv[] = {"GET", key};
            ret = sg_store__redis_send(op, 2, argv);
            continue;
        }
        snprintf(num, sizeof(num), "%" PRId64, c->incr);
        const char *incr[] = {"INCRBY", key, num};
        ret = sg_store__redis_send(op, 3, incr);
        if (ret == 0 && c->ttl_ms != 0) {
            snprintf(ttl, sizeof(ttl), "%" PRIu64, c->ttl_ms);
            const char *expire[] = {"PEXPIRE", key, ttl};
            ret = sg_store__redis_send(op, 3, expire);
        }
    }
    return ret;
}

void sg_store__redis_counters_reply(sg_store_op_t *op, const void *_reply, size_t index)
{
    const redisReply *reply = _reply;
    /* find the counter whose value reply this is (a counter with an expiry has a second reply, PEXPIRE's) */
    size_t at = 0;
    for (size_t i = 0; i != op->num_counters; ++i) {
        sg_store_counter_t *c = op->counters + i;
        if (at == index) {
            if (reply->type == REDIS_REPLY_INTEGER)
                c->value = reply->integer;
            else if (reply->type == REDIS_REPLY_STRING)
                c->value = strtoll(reply->str, NULL, 10);
            else
                c->value = 0; /* nil: a missing key */
            return;
        }
        at += c->incr != 0 && c->ttl_ms != 0 ? 2 : 1;
        if (at > index)
            return; /* PEXPIRE's reply */
    }
}

int sg_store__redis_claim_send(sg_store_op_t *op)
{
    char key[KEY_MAX], ms[24];
    snprintf(key, sizeof(key), "%s%s", sg_store__conf.prefix, op->claim_key);
    snprintf(ms, sizeof(ms), "%" PRIu64, op->claim_ms);
    const char *set[] = {"SET", key, op->claim_holder, "NX", "PX", ms};
    const char *pttl[] = {"PTTL", key};
    return sg_store__redis_send(op, 6, set) != 0 || sg_store__redis_send(op, 2, pttl) != 0 ? -1 : 0;
}

void sg_store__redis_claim_reply(sg_store_op_t *op, const void *_reply, size_t index)
{
    const redisReply *reply = _reply;
    if (index == 0) {
        op->claimed = reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "OK") == 0;
    } else if (reply->type == REDIS_REPLY_INTEGER) {
        /* -2 (gone since) or -1 (no expiry: not ours) tell nothing about the interval */
        op->claim_remaining_ms = reply->integer > 0 ? (uint64_t)reply->integer : 0;
    }
}
