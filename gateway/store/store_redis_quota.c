/*
 * The quota ledger in Redis (docs/STORE.md, "Quota ledger"). Per tenant, two keys:
 *   <prefix>quota:{<tenant>}      sorted set: members r:<reservation>, s:<sandbox>, n:<snapshot>, score = expiry ms
 *   <prefix>quota:{<tenant>}:amt  hash: member -> "<kind> <cpu millis> <memory MiB>"
 *
 * A reservation is an optimistic transaction, no EVAL: WATCH both keys, read them
 * (ZRANGE WITHSCORES, HGETALL), decide in C (quota_ledger.c), then MULTI, prune the
 * expired members, add the reservation, EXEC. A nil EXEC means another gateway (or
 * loop) changed the ledger in between: the transaction is tried again after a
 * short random delay, at most MAX_ATTEMPTS times.
 *
 * WATCH belongs to a connection, and the store's connection pipelines the commands
 * of every request of its loop: a MULTI/EXEC of another operation sent between our
 * WATCH and our EXEC would end our WATCH (EXEC unwatches everything) or be aborted by
 * it. Reservations therefore run on a second handle of the loop (store.c opens it on
 * first use; its connection carries nothing else), and one transaction at a time on
 * it: the others wait in a FIFO queue of the connection. Commits, releases and the
 * deletes of records need no WATCH: they are plain MULTI blocks on the main
 * connection, where they change the ledger in the same step as the records.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/async.h>
#include "util/clock.h"
#include "util/hashmap.h"
#include "util/log.h"
#include "store/store_quota_impl.h"

#define KEY_MAX 512
#define MEMBER_MAX (2 + SG_STORE_ID_MAX)
#define MAX_ATTEMPTS 100 /* transactions of one reservation before it gives up (store unavailable) */
#define MAX_PRUNE 256    /* expired members removed by one transaction */

typedef struct st_txq_t {
    h2o_linklist_t queue;        /* reservations waiting for the connection (each holds a reference) */
    sg_store_op_t *busy;         /* the one transaction in flight (still in its reference), or NULL */
    h2o_timeout_entry_t retry;   /* delay before the next attempt of busy */
    h2o_timeout_entry_t timeout; /* replies of the current step overdue: the connection is stalled */
    sg_store_t *store;
} txq_t;

typedef struct st_member_t {
    char name[MEMBER_MAX + 1];
    int64_t score;
} member_t;

/*
 * What a reservation read in its step 0: one malloc'd block kept in op->ids (which reservations do not use
 * otherwise), so that store.c frees it with the op's results whatever ends the op.
 */
typedef struct st_scratch_t {
    member_t *members; /* within the block */
    size_t num_members;
    char (*prune)[MEMBER_MAX + 1]; /* within the block */
    size_t num_prune;
} scratch_t;

static void kick(txq_t *q);

static void ledger_keys(char zkey[KEY_MAX], char hkey[KEY_MAX], const char *tenant)
{
    snprintf(zkey, KEY_MAX, "%squota:{%s}", sg_store__conf.prefix, tenant);
    snprintf(hkey, KEY_MAX, "%squota:{%s}:amt", sg_store__conf.prefix, tenant);
}

static int64_t parse_score(const redisReply *v)
{
    if (v->type != REDIS_REPLY_STRING)
        return 0;
    double d = strtod(v->str, NULL);
    if (isinf(d) && d > 0)
        return SG_QUOTA_NO_EXPIRY;
    if (d >= 9.2e18)
        return SG_QUOTA_NO_EXPIRY;
    return (int64_t)d;
}

static void free_scratch(sg_store_op_t *op)
{
    free(op->ids);
    op->ids = NULL;
}

/* a scratch block for the members of a ZRANGE WITHSCORES reply */
static scratch_t *new_scratch(const redisReply *z)
{
    size_t n = z->type == REDIS_REPLY_ARRAY ? z->elements / 2 : 0;
    scratch_t *sc = calloc(1, sizeof(*sc) + n * sizeof(member_t) + MAX_PRUNE * (MEMBER_MAX + 1));
    sc->members = (member_t *)(sc + 1);
    sc->prune = (void *)(sc->members + n);
    for (size_t i = 0; i != n; ++i) {
        const redisReply *name = z->element[2 * i];
        if (name->type != REDIS_REPLY_STRING || name->len > MEMBER_MAX)
            continue;
        member_t *m = sc->members + sc->num_members++;
        memcpy(m->name, name->str, name->len);
        m->score = parse_score(z->element[2 * i + 1]);
    }
    return sc;
}

/* ---- usage from a ZRANGE WITHSCORES reply and an HGETALL reply ---- */

/*
 * Computes the usage of the members in zset (names and scores; from a reply or a scratch) with their amounts in
 * hash (HGETALL reply). Members that do not count (expired, or without usable amounts) and amounts without a
 * member are collected into sc (when not NULL) for pruning.
 */
static void compute_usage(const member_t *members, size_t n, const redisReply *hash, int64_t now, sg_quota_usage_t *usage,
                          scratch_t *sc)
{
    sg_hashmap_t amounts = SG_HASHMAP_INITIALIZER, seen = SG_HASHMAP_INITIALIZER;
    memset(usage, 0, sizeof(*usage));
    if (hash->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i + 1 < hash->elements; i += 2)
            if (hash->element[i]->type == REDIS_REPLY_STRING && hash->element[i + 1]->type == REDIS_REPLY_STRING)
                sg_hashmap_set(&amounts, hash->element[i]->str, hash->element[i]->len, hash->element[i + 1]);
    for (size_t i = 0; i != n; ++i) {
        const member_t *m = members + i;
        size_t len = strlen(m->name);
        const redisReply *v = sg_hashmap_get(&amounts, m->name, len);
        sg_hashmap_set(&seen, m->name, len, (void *)m);
        int counted = v != NULL && sg_quota_usage_add(usage, m->name, len, m->score, v->str, v->len, now);
        if (!counted && sc != NULL && sc->num_prune < MAX_PRUNE)
            snprintf(sc->prune[sc->num_prune++], MEMBER_MAX + 1, "%s", m->name);
    }
    /* amounts whose member is gone (a crash between two writes cannot cause it; an operator's edit can) */
    if (sc != NULL && hash->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i + 1 < hash->elements && sc->num_prune < MAX_PRUNE; i += 2) {
            const redisReply *f = hash->element[i];
            if (f->type == REDIS_REPLY_STRING && f->len <= MEMBER_MAX && sg_hashmap_get(&seen, f->str, f->len) == NULL)
                snprintf(sc->prune[sc->num_prune++], MEMBER_MAX + 1, "%.*s", (int)f->len, f->str);
        }
    sg_hashmap_dispose(&amounts);
    sg_hashmap_dispose(&seen);
}

/* members of a ZRANGE WITHSCORES reply; malloc'd (NULL when empty) */
static member_t *take_members(const redisReply *z, size_t *n)
{
    *n = 0;
    if (z->type != REDIS_REPLY_ARRAY || z->elements < 2)
        return NULL;
    member_t *out = calloc(z->elements / 2, sizeof(*out));
    for (size_t i = 0; i + 1 < z->elements; i += 2) {
        const redisReply *name = z->element[i];
        if (name->type != REDIS_REPLY_STRING || name->len > MEMBER_MAX)
            continue;
        memcpy(out[*n].name, name->str, name->len);
        out[*n].name[name->len] = '\0';
        out[*n].score = parse_score(z->element[i + 1]);
        ++*n;
    }
    return out;
}

void sg_store__redisq_take_usage(sg_store_op_t *op, const void *_reply)
{
    const redisReply *reply = _reply;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        op->err = sg_store_err_unavailable;
        return;
    }
    size_t n;
    member_t *members = take_members(reply->element[0], &n);
    compute_usage(members, n, reply->element[1], (int64_t)(sg_now_us() / 1000), &op->usage, NULL);
    op->verdict = SG_QUOTA_OK;
    free(members);
}

/* ---- writes on the main connection ---- */

int sg_store__redisq_send(sg_store_t *s, sg_store_op_t *op)
{
    char zkey[KEY_MAX], hkey[KEY_MAX], member[MEMBER_MAX + 1];
    const sg_quota_request_t *q = &op->in.quota;
    ledger_keys(zkey, hkey, q->tenant);
    if (op->req == SG_STORE_QUOTA_RELEASE)
        snprintf(member, sizeof(member), "r:%s", q->rid);
    else
        snprintf(member, sizeof(member), "%c:%s", q->kind == SG_QUOTA_KIND_SNAPSHOT ? 'n' : 's', op->id);
    int ret = 0;
    ret |= sg_redis__send_raw(s, NULL, NULL, 1, (const char *[]){"MULTI"});
    if (op->req == SG_STORE_QUOTA_USAGE) {
        ret |= sg_redis__send_raw(s, NULL, NULL, 5, (const char *[]){"ZRANGE", zkey, "0", "-1", "WITHSCORES"});
        ret |= sg_redis__send_raw(s, NULL, NULL, 2, (const char *[]){"HGETALL", hkey});
    } else {
        ret |= sg_redis__send_raw(s, NULL, NULL, 3, (const char *[]){"ZREM", zkey, member});
        ret |= sg_redis__send_raw(s, NULL, NULL, 3, (const char *[]){"HDEL", hkey, member});
    }
    return ret | sg_redis__send_op(s, op, 1, (const char *[]){"EXEC"});
}

int sg_store__redisq_on_put(sg_store_t *s, const char *tenant, sg_quota_kind_t kind, const char *id, int64_t expires_at_ms,
                            uint64_t cpu_millis, uint64_t memory_mb, const char *reservation)
{
    char zkey[KEY_MAX], hkey[KEY_MAX], member[MEMBER_MAX + 1], score[32], amounts[64];
    ledger_keys(zkey, hkey, tenant);
    snprintf(member, sizeof(member), "%c:%s", (char)kind, id);
    if (expires_at_ms != 0)
        snprintf(score, sizeof(score), "%" PRId64, expires_at_ms);
    else
        strcpy(score, "+inf");
    sg_quota_format_amounts(amounts, sizeof(amounts), kind, cpu_millis, memory_mb);
    int ret = 0;
    ret |= sg_redis__send_raw(s, NULL, NULL, 4, (const char *[]){"ZADD", zkey, score, member});
    ret |= sg_redis__send_raw(s, NULL, NULL, 4, (const char *[]){"HSET", hkey, member, amounts});
    if (reservation != NULL && reservation[0] != '\0') {
        snprintf(member, sizeof(member), "r:%s", reservation);
        ret |= sg_redis__send_raw(s, NULL, NULL, 3, (const char *[]){"ZREM", zkey, member});
        ret |= sg_redis__send_raw(s, NULL, NULL, 3, (const char *[]){"HDEL", hkey, member});
    }
    return ret;
}

int sg_store__redisq_on_del(sg_store_t *s, const char *tenant, sg_quota_kind_t kind, const char *id)
{
    char zkey[KEY_MAX], hkey[KEY_MAX], member[MEMBER_MAX + 1];
    ledger_keys(zkey, hkey, tenant);
    snprintf(member, sizeof(member), "%c:%s", (char)kind, id);
    int ret = sg_redis__send_raw(s, NULL, NULL, 3, (const char *[]){"ZREM", zkey, member});
    return ret | sg_redis__send_raw(s, NULL, NULL, 3, (const char *[]){"HDEL", hkey, member});
}

/* ---- reservations: one WATCH/MULTI/EXEC transaction at a time per connection ---- */

static txq_t *txq_of(sg_store_t *s, int create)
{
    void **slot = sg_redis__quota_slot(s);
    if (*slot == NULL && create) {
        txq_t *q = calloc(1, sizeof(*q));
        h2o_linklist_init_anchor(&q->queue);
        q->store = s;
        *slot = q;
    }
    return *slot;
}

static void on_step_timeout(h2o_timeout_entry_t *entry)
{
    txq_t *q = H2O_STRUCT_FROM_MEMBER(txq_t, timeout, entry);
    char why[64];
    snprintf(why, sizeof(why), "no reply to a quota transaction within %" PRIu64 " ms", sg_store__conf.command_timeout_ms);
    sg_redis__drop(q->store, why); /* every reply is called back: the transaction ends there */
}

/* the current step's commands are queued: expect their replies */
static void step_sent(txq_t *q, sg_store_op_t *op, size_t replies)
{
    op->outstanding = replies;
    op->replies = 0;
    sg_loop_set_timer(q->store->loop, &q->timeout, sg_store__conf.command_timeout_ms);
}

static void on_txn_reply(redisAsyncContext *ac, void *reply, void *privdata);

/* queues a command whose reply comes back to the transaction (it holds a reference to op) */
static int send_txn(txq_t *q, sg_store_op_t *op, int argc, const char **argv)
{
    if (sg_redis__send_raw(q->store, on_txn_reply, op, argc, argv) != 0)
        return -1;
    ++op->refs;
    return 0;
}

/* step 0: watch and read the ledger */
static int send_read(txq_t *q, sg_store_op_t *op)
{
    char zkey[KEY_MAX], hkey[KEY_MAX];
    ledger_keys(zkey, hkey, op->in.quota.tenant);
    op->step = 0;
    free_scratch(op);
    int ret = send_txn(q, op, 3, (const char *[]){"WATCH", zkey, hkey});
    ret |= send_txn(q, op, 5, (const char *[]){"ZRANGE", zkey, "0", "-1", "WITHSCORES"});
    ret |= send_txn(q, op, 2, (const char *[]){"HGETALL", hkey});
    if (ret == 0)
        step_sent(q, op, 3);
    return ret;
}

/* queues ZREM and HDEL of the members collected for pruning (inside a MULTI block) */
static int send_prune(txq_t *q, scratch_t *sc, const char *zkey, const char *hkey)
{
    if (sc == NULL || sc->num_prune == 0)
        return 0;
    const char **argv = malloc(sizeof(*argv) * (sc->num_prune + 2));
    for (size_t i = 0; i != sc->num_prune; ++i)
        argv[i + 2] = sc->prune[i];
    argv[0] = "ZREM";
    argv[1] = zkey;
    int ret = sg_redis__send_raw(q->store, NULL, NULL, (int)sc->num_prune + 2, argv);
    argv[0] = "HDEL";
    argv[1] = hkey;
    ret |= sg_redis__send_raw(q->store, NULL, NULL, (int)sc->num_prune + 2, argv);
    free(argv);
    return ret;
}

/* step 1: prune, add the reservation, EXEC (only EXEC's reply comes back) */
static int send_write(txq_t *q, sg_store_op_t *op)
{
    const sg_quota_request_t *rq = &op->in.quota;
    char zkey[KEY_MAX], hkey[KEY_MAX], member[MEMBER_MAX + 1], score[32], amounts[64];
    ledger_keys(zkey, hkey, rq->tenant);
    snprintf(member, sizeof(member), "r:%s", rq->rid);
    snprintf(score, sizeof(score), "%" PRId64, rq->lease_until_ms);
    sg_quota_format_amounts(amounts, sizeof(amounts), rq->kind, rq->cpu_millis, rq->memory_mb);
    int ret = sg_redis__send_raw(q->store, NULL, NULL, 1, (const char *[]){"MULTI"});
    ret |= send_prune(q, (scratch_t *)op->ids, zkey, hkey);
    ret |= sg_redis__send_raw(q->store, NULL, NULL, 4, (const char *[]){"ZADD", zkey, score, member});
    ret |= sg_redis__send_raw(q->store, NULL, NULL, 4, (const char *[]){"HSET", hkey, member, amounts});
    ret |= send_txn(q, op, 1, (const char *[]){"EXEC"});
    op->step = 1;
    if (ret == 0)
        step_sent(q, op, 1);
    return ret;
}

/* a refusal still prunes what expired (fire and forget; a conflict just leaves it to the next transaction) */
static void send_refusal_prune(txq_t *q, sg_store_op_t *op)
{
    scratch_t *sc = (scratch_t *)op->ids;
    char zkey[KEY_MAX], hkey[KEY_MAX];
    if (sc == NULL || sc->num_prune == 0 || !sg_redis__usable(q->store))
        return;
    ledger_keys(zkey, hkey, op->in.quota.tenant);
    sg_redis__send_raw(q->store, NULL, NULL, 1, (const char *[]){"MULTI"});
    send_prune(q, sc, zkey, hkey);
    sg_redis__send_raw(q->store, NULL, NULL, 1, (const char *[]){"EXEC"});
}

/* the transaction of q->busy is over (decided, failed or abandoned): the connection serves the next */
static void txn_end(txq_t *q)
{
    sg_store_op_t *op = q->busy;
    q->busy = NULL;
    if (h2o_timeout_is_linked(&q->timeout))
        h2o_timeout_unlink(&q->timeout);
    if (h2o_timeout_is_linked(&q->retry))
        h2o_timeout_unlink(&q->retry);
    if (sg_redis__usable(q->store))
        sg_redis__send_raw(q->store, NULL, NULL, 1, (const char *[]){"UNWATCH"}); /* after a refusal or an abandon */
    free_scratch(op);
    sg_store__unref(op); /* the queue's reference */
    kick(q);
}

static void fail(txq_t *q, sg_store_op_t *op)
{
    if (!op->done)
        sg_store__finish(op, sg_store_err_unavailable);
    txn_end(q);
}

static void on_retry(h2o_timeout_entry_t *entry)
{
    txq_t *q = H2O_STRUCT_FROM_MEMBER(txq_t, retry, entry);
    sg_store_op_t *op = q->busy;
    if (op->done) {
        txn_end(q);
    } else if (!sg_redis__usable(q->store) || send_read(q, op) != 0) {
        fail(q, op);
    }
}

/* every reply of step 0 arrived: decide, then refuse or write */
static void read_done(txq_t *q, sg_store_op_t *op)
{
    const sg_quota_request_t *rq = &op->in.quota;
    int pending_only;
    op->verdict = sg_quota_check(&rq->limits, &op->usage, rq->kind, rq->cpu_millis, rq->memory_mb, &pending_only);
    if (op->verdict != SG_QUOTA_OK) {
        send_refusal_prune(q, op);
        sg_store__finish(op, NULL);
        txn_end(q);
        return;
    }
    if (send_write(q, op) != 0)
        fail(q, op);
}

/* the EXEC of step 1 answered: granted, or a conflict to try again */
static void write_done(txq_t *q, sg_store_op_t *op, int committed)
{
    if (committed) {
        sg_store__finish(op, NULL);
        txn_end(q);
        return;
    }
    if (++op->attempts >= MAX_ATTEMPTS) {
        sg_log(SG_LOG_WARN, "store: quota reservation for tenant %s gave up after %u conflicting transactions", op->in.quota.tenant,
               op->attempts);
        fail(q, op);
        return;
    }
    /* jitter: the transactions that lost the race must not meet again at once */
    uint64_t delay = (uint64_t)(rand() % (int)(op->attempts < 8 ? op->attempts + 1 : 8));
    sg_loop_set_timer(q->store->loop, &q->retry, delay);
}

static void take_txn_reply(sg_store_op_t *op, const redisReply *reply, size_t index, int *committed)
{
    scratch_t *sc = (scratch_t *)op->ids;
    if (op->step == 0) {
        if (index == 1) { /* ZRANGE WITHSCORES */
            free_scratch(op);
            op->ids = (void *)new_scratch(reply);
        } else if (index == 2 && sc != NULL) { /* HGETALL */
            compute_usage(sc->members, sc->num_members, reply, (int64_t)(sg_now_us() / 1000), &op->usage, sc);
        }
    } else {
        *committed = reply->type == REDIS_REPLY_ARRAY; /* nil: a watched key changed */
    }
}

static void on_txn_reply(redisAsyncContext *ac, void *_reply, void *privdata)
{
    (void)ac;
    redisReply *reply = _reply;
    sg_store_op_t *op = privdata;
    txq_t *q = txq_of(op->store, 0);
    size_t index = op->replies++;
    int committed = 0;
    --op->outstanding;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        if (reply != NULL)
            sg_log(SG_LOG_WARN, "store: redis error in a quota transaction: %.*s", (int)reply->len, reply->str);
        op->err = sg_store_err_unavailable;
    } else if (!op->done && op->err == NULL) {
        take_txn_reply(op, reply, index, &committed);
    }
    if (op->outstanding == 0 && q != NULL && q->busy == op) {
        if (h2o_timeout_is_linked(&q->timeout))
            h2o_timeout_unlink(&q->timeout);
        if (op->done) {
            txn_end(q);
        } else if (op->err != NULL || (op->step == 0 && op->ids == NULL)) {
            fail(q, op);
        } else if (op->step == 0) {
            read_done(q, op);
        } else {
            write_done(q, op, committed);
        }
    }
    sg_store__unref(op); /* this reply's reference (the queue's keeps op alive until txn_end) */
}

/* starts queued transactions while the connection is free */
static void kick(txq_t *q)
{
    while (q->busy == NULL && !h2o_linklist_is_empty(&q->queue)) {
        sg_store_op_t *op = H2O_STRUCT_FROM_MEMBER(sg_store_op_t, txn_link, q->queue.next);
        h2o_linklist_unlink(&op->txn_link);
        if (op->done) { /* cancelled while waiting */
            sg_store__unref(op);
            continue;
        }
        q->busy = op;
        op->err = NULL;
        if (!sg_redis__usable(q->store) || send_read(q, op) != 0)
            fail(q, op);
    }
}

void sg_store__redisq_reserve(sg_store_op_t *op)
{
    if (!sg_redis__usable(op->store)) {
        sg_store__finish_later(op, sg_store_err_unavailable);
        return;
    }
    txq_t *q = txq_of(op->store, 1);
    if (q->retry.cb == NULL) {
        q->retry.cb = on_retry;
        q->timeout.cb = on_step_timeout;
    }
    ++op->refs; /* the queue's */
    op->attempts = 0;
    h2o_linklist_insert(&q->queue, &op->txn_link);
    kick(q);
}

void sg_store__redisq_close(sg_store_t *s)
{
    txq_t *q = txq_of(s, 0);
    if (q == NULL)
        return;
    if (h2o_timeout_is_linked(&q->timeout))
        h2o_timeout_unlink(&q->timeout);
    if (h2o_timeout_is_linked(&q->retry))
        h2o_timeout_unlink(&q->retry);
    if (q->busy != NULL) {
        sg_store_op_t *op = q->busy;
        q->busy = NULL;
        if (!op->done)
            sg_store__finish(op, sg_store_err_unavailable);
        free_scratch(op);
        sg_store__unref(op);
    }
    while (!h2o_linklist_is_empty(&q->queue)) {
        sg_store_op_t *op = H2O_STRUCT_FROM_MEMBER(sg_store_op_t, txn_link, q->queue.next);
        h2o_linklist_unlink(&op->txn_link);
        if (!op->done)
            sg_store__finish(op, sg_store_err_unavailable);
        sg_store__unref(op);
    }
    free(q);
    *sg_redis__quota_slot(s) = NULL;
}
