/*
 * The Redis backend of the state store (key schema: docs/STORE.md). Each loop has
 * one connection (hiredis async, attached by redis_evloop.c), which is:
 *   - CONNECTING: TCP connect, then AUTH / SELECT / PING sent ahead of anything
 *     else; operations started now are queued behind them;
 *   - READY: the handshake was answered;
 *   - DISCONNECTED: lost or never made; a retry is scheduled with exponential
 *     backoff (100 ms doubling to 5 s, reset once READY). Operations fail at once
 *     (from a zero-delay timer) with sg_store_err_unavailable.
 * A connection is given up on when hiredis reports an error or EOF, when the
 * handshake fails or does not complete within connect_timeout_ms, and when a
 * reply is late by command_timeout_ms (replies come in order, so the connection
 * is stalled); every operation waiting on it fails with sg_store_err_unavailable.
 *
 * Operations take one or two round trips (steps); each step's commands are
 * pipelined and each command holds a reference to the op (refs), so an op that
 * completed (timeout) or was cancelled lives on until its last reply, which is
 * then ignored.
 *
 * Commands written to a connection that is then dropped may still be executed:
 * they sit in Redis's socket buffer (a stalled or stopped Redis runs them when
 * it resumes). Purges (sg_store_purge_sandbox) exist for the writes that must
 * not survive that: see "purges" below. Multi-key writes are MULTI/EXEC blocks (queued in one go, so
 * never interleaved with other operations on the connection); no WATCH (it is
 * connection-wide) and no scripts. Quota reservations, which need WATCH, run on
 * a second handle of the loop, one transaction at a time (store_redis_quota.c).
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/async.h>
#include "util/log.h"
#include "store/redis_evloop.h"
#include "store/store_quota_impl.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define MAX_ARGS 16
#define KEY_MAX 512 /* prefix (<= 256) + a kind + an id (<= 128) */

typedef enum en_state_t { DISCONNECTED, CONNECTING, READY } state_t;

#define PURGE_MAX 4096         /* pending purges per loop; past it the oldest is left to reconciliation */
#define PURGE_INTERVAL_MS 1000 /* between two passes */
#define PURGE_PASSES 2         /* confirmed passes, PURGE_INTERVAL_MS apart, before a purge is done */

typedef struct st_purge_t {
    char id[SG_STORE_ID_MAX + 1];
    char tenant[SG_STORE_ID_MAX + 1];
    uint64_t sent_pass; /* the pass that last sent it */
    unsigned confirmed; /* passes confirmed */
} purge_t;

typedef struct st_redis_t {
    sg_store_t *store;
    redisAsyncContext *ac; /* the current connection; its ->data points back here */
    state_t state;
    size_t handshake_left;
    uint64_t backoff_ms;
    int failing; /* a failure was logged as a warning since the last successful connection: log the next ones quietly */
    h2o_timeout_entry_t retry_timer;
    h2o_timeout_entry_t connect_timer;
    purge_t *purges; /* sandbox records to delete on every pass until confirmed PURGE_PASSES times */
    size_t num_purges;
    uint64_t pass;
    h2o_timeout_entry_t purge_timer;
    void *quota; /* store_redis_quota.c's state of this connection */
} redis_t;

static void connect_now(redis_t *r);
static void purge_pass(redis_t *r);
static void on_purge_timer(h2o_timeout_entry_t *entry);

/* resolves the Redis host name once (getaddrinfo blocks: it must not run on a loop) */
static int global_init(void)
{
    char *host = sg_store__conf.host;
    if (sg_store__conf.unix_path == NULL && (host == NULL || sg_store__conf.port == 0)) {
        sg_log(SG_LOG_ERROR, "store: redis needs host and port, or a unix socket path");
        return -1;
    }
    unsigned char buf[sizeof(struct in6_addr)];
    if (sg_store__conf.unix_path != NULL || inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1)
        return 0;
    /* hiredis resolves on each connect, blocking the loop: resolve once here instead */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int ret = getaddrinfo(host, NULL, &hints, &res);
    if (ret != 0) {
        sg_log(SG_LOG_WARN, "store: cannot resolve redis host %s (%s); will resolve on each connection attempt", host,
               gai_strerror(ret));
        return 0;
    }
    char numeric[INET6_ADDRSTRLEN];
    const void *addr = res->ai_family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                                                  : (void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
    if (inet_ntop(res->ai_family, addr, numeric, sizeof(numeric)) != NULL) {
        sg_log(SG_LOG_INFO, "store: redis host %s is %s", host, numeric);
        sg_store__conf.host = strdup(numeric);
        free(host);
    }
    freeaddrinfo(res);
    return 0;
}

/* ---- connection ---- */

/* logs a connection failure: a warning for the first since the store was last connected, debug for the repeats */
static void log_failure(redis_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_failure(redis_t *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sg_log(r->failing ? SG_LOG_DEBUG : SG_LOG_WARN, "store: %s; retrying in %" PRIu64 " ms", msg, r->backoff_ms);
    r->failing = 1;
}

static void schedule_retry(redis_t *r)
{
    sg_loop_set_timer(r->store->loop, &r->retry_timer, r->backoff_ms);
    r->backoff_ms = r->backoff_ms * 2 < BACKOFF_MAX_MS ? r->backoff_ms * 2 : BACKOFF_MAX_MS;
}

/*
 * Gives up the current connection: pending replies are called back with NULL (their ops fail), from inside this
 * call unless we are inside a hiredis callback. r may be freed when this returns (a callback closed the store).
 */
static void drop(redis_t *r, const char *why)
{
    redisAsyncContext *ac = r->ac;
    if (r->state == READY)
        r->failing = 0; /* a new incident */
    log_failure(r, "dropping redis connection: %s", why);
    r->ac = NULL;
    r->state = DISCONNECTED;
    ac->data = NULL;
    if (h2o_timeout_is_linked(&r->connect_timer))
        h2o_timeout_unlink(&r->connect_timer);
    schedule_retry(r);
    redisAsyncFree(ac);
}

/* hiredis is tearing ac down by itself (error, EOF, failed connect): forget it and retry later */
static void connection_lost(redis_t *r, const redisAsyncContext *ac)
{
    if (r->ac != ac)
        return;
    if (r->state == READY)
        r->failing = 0;
    log_failure(r, "redis connection %s: %s", r->state == READY ? "lost" : "failed",
                ac->errstr != NULL && ac->errstr[0] != '\0' ? ac->errstr : "closed");
    r->ac->data = NULL;
    r->ac = NULL;
    r->state = DISCONNECTED;
    if (h2o_timeout_is_linked(&r->connect_timer))
        h2o_timeout_unlink(&r->connect_timer);
    schedule_retry(r);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    redis_t *r = ac->data;
    if (r != NULL && status != REDIS_OK)
        connection_lost(r, ac);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    redis_t *r = ac->data;
    if (r != NULL)
        connection_lost(r, ac);
}

static void on_connect_timeout(h2o_timeout_entry_t *entry)
{
    redis_t *r = H2O_STRUCT_FROM_MEMBER(redis_t, connect_timer, entry);
    drop(r, "connect timeout");
}

static void on_retry(h2o_timeout_entry_t *entry)
{
    connect_now(H2O_STRUCT_FROM_MEMBER(redis_t, retry_timer, entry));
}

/* a reply to AUTH, SELECT or PING; privdata is unused (ac->data leads to the store while the connection is current) */
static void on_handshake_reply(redisAsyncContext *ac, void *_reply, void *privdata)
{
    (void)privdata;
    redisReply *reply = _reply;
    redis_t *r = ac->data;
    if (r == NULL || r->ac != ac)
        return;
    if (reply == NULL) {
        connection_lost(r, ac);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        char why[256];
        snprintf(why, sizeof(why), "handshake refused: %s", reply->str);
        drop(r, why);
        return;
    }
    if (--r->handshake_left != 0)
        return;
    h2o_timeout_unlink(&r->connect_timer);
    r->state = READY;
    r->backoff_ms = BACKOFF_MIN_MS;
    const char *verb = r->failing ? "reconnected" : "connected";
    r->failing = 0;
    if (sg_store__conf.unix_path != NULL)
        sg_log(SG_LOG_INFO, "store: %s to redis unix:%s db %" PRIu64, verb, sg_store__conf.unix_path, sg_store__conf.db);
    else
        sg_log(SG_LOG_INFO, "store: %s to redis %s:%u db %" PRIu64, verb, sg_store__conf.host, sg_store__conf.port,
               sg_store__conf.db);
    if (r->num_purges != 0)
        purge_pass(r); /* first thing on the new connection */
}

/* opens a connection and queues the handshake; on immediate failure, schedules a retry */
static void connect_now(redis_t *r)
{
    redisAsyncContext *ac = sg_store__conf.unix_path != NULL ? redisAsyncConnectUnix(sg_store__conf.unix_path)
                                                             : redisAsyncConnect(sg_store__conf.host, sg_store__conf.port);
    if (ac == NULL || ac->err != 0) {
        log_failure(r, "cannot connect to redis: %s", ac != NULL ? ac->errstr : "out of memory");
        goto Fail;
    }
    if (sg_redis_evloop_attach(ac, r->store->loop->loop) != 0) {
        log_failure(r, "cannot watch the redis connection");
        goto Fail;
    }
    ac->data = r;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    r->ac = ac;
    r->state = CONNECTING;
    r->handshake_left = 0;
    char db[32];
    snprintf(db, sizeof(db), "%" PRIu64, sg_store__conf.db);
    if ((sg_store__conf.password != NULL &&
         redisAsyncCommand(ac, on_handshake_reply, NULL, "AUTH %s", sg_store__conf.password) != REDIS_OK) ||
        (sg_store__conf.db != 0 && redisAsyncCommand(ac, on_handshake_reply, NULL, "SELECT %s", db) != REDIS_OK) ||
        redisAsyncCommand(ac, on_handshake_reply, NULL, "PING") != REDIS_OK) {
        drop(r, "cannot queue the handshake");
        return;
    }
    r->handshake_left = 1 + (sg_store__conf.password != NULL) + (sg_store__conf.db != 0);
    sg_loop_set_timer(r->store->loop, &r->connect_timer, sg_store__conf.connect_timeout_ms);
    return;
Fail:
    if (ac != NULL)
        redisAsyncFree(ac);
    schedule_retry(r);
}

static void *open_loop(sg_store_t *s)
{
    redis_t *r = calloc(1, sizeof(*r));
    r->store = s;
    r->backoff_ms = BACKOFF_MIN_MS;
    r->retry_timer.cb = on_retry;
    r->connect_timer.cb = on_connect_timeout;
    r->purge_timer.cb = on_purge_timer;
    connect_now(r);
    return r;
}

static void close_loop(sg_store_t *s)
{
    redis_t *r = s->impl;
    if (h2o_timeout_is_linked(&r->retry_timer))
        h2o_timeout_unlink(&r->retry_timer);
    if (h2o_timeout_is_linked(&r->connect_timer))
        h2o_timeout_unlink(&r->connect_timer);
    if (h2o_timeout_is_linked(&r->purge_timer))
        h2o_timeout_unlink(&r->purge_timer);
    if (r->num_purges != 0)
        sg_log(SG_LOG_WARN, "store: %zu sandbox record purge(s) not confirmed at close; reconciliation removes them",
               r->num_purges);
    free(r->purges);
    r->state = DISCONNECTED;
    if (r->ac != NULL) {
        redisAsyncContext *ac = r->ac;
        r->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac); /* ops waiting for replies fail now (or right after the current hiredis callback) */
    }
    sg_store__redisq_close(s);
    free(r);
    s->impl = NULL;
}

static int is_down(sg_store_t *s)
{
    redis_t *r = s->impl;
    return r->state == DISCONNECTED;
}

static int is_available(sg_store_t *s)
{
    redis_t *r = s->impl;
    return r->state == READY;
}

/* ---- keys and commands ---- */

static const char *key(char buf[KEY_MAX], const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *key(char buf[KEY_MAX], const char *fmt, ...)
{
    char tail[KEY_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tail, sizeof(tail), fmt, ap);
    va_end(ap);
    snprintf(buf, KEY_MAX, "%s%s", sg_store__conf.prefix, tail);
    return buf;
}

static const char *key_hash_hex(char buf[65], const unsigned char hash[32])
{
    for (size_t i = 0; i != 32; ++i)
        sprintf(buf + i * 2, "%02x", hash[i]);
    return buf;
}

static void on_reply(redisAsyncContext *ac, void *_reply, void *privdata);

/* queues one command of string arguments; its reply goes to op (NULL: ignored). Returns 0 on success. */
static int send_argv(redis_t *r, sg_store_op_t *op, int argc, const char **argv)
{
    size_t small[MAX_ARGS], *lens = argc <= MAX_ARGS ? small : malloc(sizeof(*lens) * argc);
    int ret = -1;
    for (int i = 0; i != argc; ++i)
        lens[i] = strlen(argv[i]);
    if (redisAsyncCommandArgv(r->ac, op != NULL ? on_reply : NULL, op, argc, argv, lens) != REDIS_OK)
        goto Exit;
    if (op != NULL)
        ++op->refs;
    ret = 0;
Exit:
    if (lens != small)
        free(lens);
    return ret;
}

int sg_store__redis_send(sg_store_op_t *op, int argc, const char **argv)
{
    return send_argv(op->store->impl, op, argc, argv);
}

/* send_argv with the arguments given inline, NULL-terminated (the compiler checks the NULL); -1 past MAX_ARGS */
static int send_cmd(redis_t *r, sg_store_op_t *op, ...) __attribute__((sentinel));
static int send_cmd(redis_t *r, sg_store_op_t *op, ...)
{
    const char *argv[MAX_ARGS + 1];
    int argc = 0;
    va_list ap;
    va_start(ap, op);
    while (argc <= MAX_ARGS && (argv[argc] = va_arg(ap, const char *)) != NULL)
        ++argc;
    va_end(ap);
    return argc <= MAX_ARGS ? send_argv(r, op, argc, argv) : -1;
}

/* queues the cache invalidation event of a sandbox write (inside its MULTI block: published when it commits) */
static int publish_change(redis_t *r, const char *id, const char *tenant /* NULL: a delete */)
{
    char msg[2 * SG_STORE_ID_MAX + 8];
    if (tenant != NULL)
        snprintf(msg, sizeof(msg), "put %s %s", id, tenant);
    else
        snprintf(msg, sizeof(msg), "del %s", id);
    return send_cmd(r, NULL, "PUBLISH", sg_store_events_channel(), msg, NULL);
}

/* ---- purges ---- */

/*
 * A purge deletes a sandbox record whose write may land late: the create's record write was sent, its reply never
 * came (Redis stalled), the connection was dropped and the sandbox deleted again. The write is still in Redis's
 * buffer of the dropped connection and runs when Redis resumes. Redis reads every readable socket in an event-loop
 * turn before it serves a connection accepted in that turn, so a delete sent on a later connection, after its
 * handshake was answered, runs after the stale write. Each pass sends the delete of every pending purge, then a PING;
 * the PING's reply confirms the pass (replies come in order). A purge is done after PURGE_PASSES confirmed passes
 * PURGE_INTERVAL_MS apart: the second one covers a stale backlog too large for one read of Redis. Passes run only on
 * a READY connection; a purge that never gets one stays pending until the store closes (reconciliation then cleans up).
 */
static void on_purge_pinged(redisAsyncContext *ac, void *_reply, void *privdata)
{
    redisReply *reply = _reply;
    redis_t *r = ac->data;
    uint64_t pass = (uint64_t)(uintptr_t)privdata;
    if (r == NULL || r->ac != ac || reply == NULL || reply->type == REDIS_REPLY_ERROR)
        return;
    size_t kept = 0;
    for (size_t i = 0; i != r->num_purges; ++i) {
        purge_t *p = r->purges + i;
        if (p->sent_pass == pass)
            ++p->confirmed;
        if (p->confirmed < PURGE_PASSES)
            r->purges[kept++] = *p;
    }
    r->num_purges = kept;
    if (kept == 0 && h2o_timeout_is_linked(&r->purge_timer))
        h2o_timeout_unlink(&r->purge_timer);
}

static void purge_pass(redis_t *r)
{
    if (r->num_purges == 0)
        return;
    sg_loop_set_timer(r->store->loop, &r->purge_timer, PURGE_INTERVAL_MS);
    if (r->state != READY)
        return;
    uint64_t pass = ++r->pass;
    char k1[KEY_MAX], k2[KEY_MAX], k3[KEY_MAX];
    int ret = 0;
    for (size_t i = 0; i != r->num_purges && ret == 0; ++i) {
        purge_t *p = r->purges + i;
        ret |= send_cmd(r, NULL, "MULTI", NULL);
        ret |= send_cmd(r, NULL, "DEL", key(k1, "sbx:%s", p->id), NULL);
        ret |= send_cmd(r, NULL, "SREM", key(k2, "tenant:%s:sbx", p->tenant), p->id, NULL);
        ret |= send_cmd(r, NULL, "SREM", key(k3, "idx:sbx:all"), p->id, NULL);
        ret |= sg_store__redisq_on_del(r->store, p->tenant, SG_QUOTA_KIND_SANDBOX, p->id);
        ret |= publish_change(r, p->id, NULL);
        ret |= send_cmd(r, NULL, "EXEC", NULL);
        p->sent_pass = pass;
    }
    if (ret == 0)
        redisAsyncCommand(r->ac, on_purge_pinged, (void *)(uintptr_t)pass, "PING");
}

static void on_purge_timer(h2o_timeout_entry_t *entry)
{
    purge_pass(H2O_STRUCT_FROM_MEMBER(redis_t, purge_timer, entry));
}

static void purge_sandbox(sg_store_t *s, const char *id, const char *tenant)
{
    redis_t *r = s->impl;
    if (r->num_purges == PURGE_MAX) {
        sg_log(SG_LOG_WARN, "store: too many pending purges; the record of sandbox %s is left to reconciliation", r->purges[0].id);
        memmove(r->purges, r->purges + 1, sizeof(*r->purges) * --r->num_purges);
    }
    purge_t *grown = realloc(r->purges, sizeof(*r->purges) * (r->num_purges + 1));
    if (grown == NULL) {
        sg_log(SG_LOG_WARN, "store: out of memory; the record of sandbox %s is left to reconciliation", id);
        return;
    }
    r->purges = grown;
    purge_t *p = r->purges + r->num_purges++;
    memset(p, 0, sizeof(*p));
    snprintf(p->id, sizeof(p->id), "%s", id);
    snprintf(p->tenant, sizeof(p->tenant), "%s", tenant);
    purge_pass(r);
}

/* ---- operations ---- */

static void on_command_timeout(h2o_timeout_entry_t *entry)
{
    sg_store_op_t *op = H2O_STRUCT_FROM_MEMBER(sg_store_op_t, timer, entry);
    redis_t *r = op->store->impl;
    char why[64];
    snprintf(why, sizeof(why), "no reply within %" PRIu64 " ms", sg_store__conf.command_timeout_ms);
    ++op->refs; /* keeps op while drop() fails everything pending (this op included) */
    if (r->ac != NULL)
        drop(r, why);
    if (!op->done)
        sg_store__finish(op, sg_store_err_unavailable);
    sg_store__unref(op);
}

/* the commands of op's current step have been queued: start its timeout */
static void sent(redis_t *r, sg_store_op_t *op)
{
    op->replies = 0;
    op->timer.cb = on_command_timeout;
    sg_loop_set_timer(r->store->loop, &op->timer, sg_store__conf.command_timeout_ms);
}

static const char *list_set_key(char buf[KEY_MAX], const sg_store_op_t *op)
{
    int sbx = op->req == SG_STORE_LIST_SANDBOXES;
    if (op->id[0] == '\0')
        return key(buf, "idx:%s:all", sbx ? "sbx" : "snap");
    return key(buf, "tenant:%s:%s", op->id, sbx ? "sbx" : "snap");
}

/* queues the commands of op's current step; returns 0 on success */
static int send_step(redis_t *r, sg_store_op_t *op)
{
    char k1[KEY_MAX], k2[KEY_MAX], k3[KEY_MAX], hex[65];
    char n1[24], n2[24], n3[24], n4[24], n5[24];
    int ret = 0;
    switch (op->req) {
    case SG_STORE_GET_SANDBOX:
        return send_cmd(r, op, "HGETALL", key(k1, "sbx:%s", op->id), NULL);
    case SG_STORE_PUT_SANDBOX: {
        const sg_sandbox_rec_t *s = &op->in.sandbox;
        snprintf(n1, sizeof(n1), "%" PRId64, s->expires_at_ms);
        snprintf(n2, sizeof(n2), "%" PRId64, s->created_at_ms);
        snprintf(n3, sizeof(n3), "%" PRIu64, s->cpu_millis);
        snprintf(n4, sizeof(n4), "%" PRIu64, s->memory_mb);
        snprintf(n5, sizeof(n5), "%" PRIu32, s->renew_extend_s);
        key(k1, "sbx:%s", s->id);
        key(k2, "tenant:%s:sbx", s->tenant);
        key(k3, "idx:sbx:all");
        ret |= send_cmd(r, NULL, "MULTI", NULL);
        ret |= send_cmd(r, NULL, "HSET", k1, "tenant", s->tenant, "backend", s->backend, "expires_at_ms", n1, "created_at_ms", n2,
                        "cpu_millis", n3, "memory_mb", n4, "renew_extend_s", n5, NULL);
        ret |= send_cmd(r, NULL, "SADD", k2, s->id, NULL);
        ret |= send_cmd(r, NULL, "SADD", k3, s->id, NULL);
        ret |= sg_store__redisq_on_put(r->store, s->tenant, SG_QUOTA_KIND_SANDBOX, s->id, s->expires_at_ms, s->cpu_millis,
                                       s->memory_mb, s->reservation);
        ret |= publish_change(r, s->id, s->tenant);
        return ret | send_cmd(r, op, "EXEC", NULL);
    }
    case SG_STORE_DEL_SANDBOX:
    case SG_STORE_DEL_SNAPSHOT: {
        int sbx = op->req == SG_STORE_DEL_SANDBOX;
        key(k1, "%s:%s", sbx ? "sbx" : "snap", op->id);
        if (op->step == 0) /* the owner, to find the tenant's set */
            return send_cmd(r, op, "HGET", k1, "tenant", NULL);
        ret |= send_cmd(r, NULL, "MULTI", NULL);
        ret |= send_cmd(r, NULL, "DEL", k1, NULL);
        if (op->in.sandbox.tenant[0] != '\0') {
            ret |= send_cmd(r, NULL, "SREM", key(k2, "tenant:%s:%s", op->in.sandbox.tenant, sbx ? "sbx" : "snap"), op->id, NULL);
            ret |= sg_store__redisq_on_del(r->store, op->in.sandbox.tenant, sbx ? SG_QUOTA_KIND_SANDBOX : SG_QUOTA_KIND_SNAPSHOT,
                                           op->id);
        }
        ret |= send_cmd(r, NULL, "SREM", key(k3, "idx:%s:all", sbx ? "sbx" : "snap"), op->id, NULL);
        if (sbx)
            ret |= publish_change(r, op->id, NULL);
        return ret | send_cmd(r, op, "EXEC", NULL);
    }
    case SG_STORE_LIST_SANDBOXES:
    case SG_STORE_LIST_SNAPSHOTS:
        if (op->step == 0)
            return send_cmd(r, op, "SMEMBERS", list_set_key(k1, op), NULL);
        for (size_t i = 0; i != op->num_ids; ++i)
            ret |=
                send_cmd(r, op, "HGETALL", key(k1, "%s:%s", op->req == SG_STORE_LIST_SNAPSHOTS ? "snap" : "sbx", op->ids[i]), NULL);
        return ret;
    case SG_STORE_GET_SNAPSHOT:
        return send_cmd(r, op, "HGETALL", key(k1, "snap:%s", op->id), NULL);
    case SG_STORE_PUT_SNAPSHOT: {
        const sg_snapshot_rec_t *s = &op->in.snapshot;
        ret |= send_cmd(r, NULL, "MULTI", NULL);
        ret |= send_cmd(r, NULL, "HSET", key(k1, "snap:%s", s->id), "tenant", s->tenant, "backend", s->backend, NULL);
        ret |= send_cmd(r, NULL, "SADD", key(k2, "tenant:%s:snap", s->tenant), s->id, NULL);
        ret |= send_cmd(r, NULL, "SADD", key(k3, "idx:snap:all"), s->id, NULL);
        ret |= sg_store__redisq_on_put(r->store, s->tenant, SG_QUOTA_KIND_SNAPSHOT, s->id, 0, 0, 0, s->reservation);
        return ret | send_cmd(r, op, "EXEC", NULL);
    }
    case SG_STORE_GET_KEY:
        return send_cmd(r, op, "HGETALL", key(k1, "key:%s", key_hash_hex(hex, op->key_hash)), NULL);
    case SG_STORE_PUT_KEY:
        /* every field is written: one HSET replaces the record atomically */
        snprintf(n1, sizeof(n1), "%" PRId64, op->in.key.expires_at_ms);
        return send_cmd(r, op, "HSET", key(k1, "key:%s", key_hash_hex(hex, op->key_hash)), "tenant", op->in.key.tenant,
                        "expires_at_ms", n1, "revoked", op->in.key.revoked ? "1" : "0", NULL);
    case SG_STORE_DEL_KEY:
        return send_cmd(r, op, "DEL", key(k1, "key:%s", key_hash_hex(hex, op->key_hash)), NULL);
    case SG_STORE_GET_TENANT:
        return send_cmd(r, op, "GET", key(k1, "tenantdef:%s", op->id), NULL);
    case SG_STORE_PUT_TENANT:
        return send_cmd(r, op, "SET", key(k1, "tenantdef:%s", op->id), op->json, NULL);
    case SG_STORE_COUNTERS:
        return sg_store__redis_counters_send(op);
    case SG_STORE_CLAIM:
        return sg_store__redis_claim_send(op);
    case SG_STORE_QUOTA_RESERVE: /* started by sg_store__redisq_reserve */
        break;
    case SG_STORE_QUOTA_RELEASE:
    case SG_STORE_QUOTA_FORGET:
    case SG_STORE_QUOTA_USAGE:
        return sg_store__redisq_send(r->store, op);
    }
    return -1;
}

static void start(sg_store_op_t *op)
{
    redis_t *r = op->store->impl;
    if (op->req == SG_STORE_QUOTA_RESERVE) {
        sg_store__redisq_reserve(op);
        return;
    }
    if (r->state == DISCONNECTED || send_step(r, op) != 0) {
        sg_store__finish_later(op, sg_store_err_unavailable);
        return;
    }
    sent(r, op);
}

/* ---- replies (decoded by store_redis_reply.c) ---- */

/* removes the stale ids left in op->ids from the index they came from (fire and forget) */
static void remove_stale(redis_t *r, sg_store_op_t *op)
{
    char k[KEY_MAX];
    const char **argv = malloc(sizeof(*argv) * (op->num_ids + 2));
    int argc = 2;
    for (size_t i = 0; i != op->num_ids; ++i)
        if (op->ids[i][0] != '\0')
            argv[argc++] = op->ids[i];
    if (argc != 2) {
        argv[0] = "SREM";
        argv[1] = list_set_key(k, op);
        send_argv(r, NULL, argc, argv);
    }
    free(argv);
}

/* every reply of op's current step arrived: next step, or completion */
static void step_done(redis_t *r, sg_store_op_t *op)
{
    if (op->err != NULL) {
        sg_store__finish(op, op->err);
        return;
    }
    int more = 0;
    switch (op->req) {
    case SG_STORE_DEL_SANDBOX:
    case SG_STORE_DEL_SNAPSHOT:
        more = op->step == 0;
        break;
    case SG_STORE_LIST_SANDBOXES:
    case SG_STORE_LIST_SNAPSHOTS:
        if (op->step == 0) {
            more = op->num_ids != 0;
        } else if (r->ac != NULL) {
            remove_stale(r, op);
        }
        break;
    default:
        break;
    }
    if (!more) {
        sg_store__finish(op, NULL);
        return;
    }
    ++op->step;
    if (r->ac == NULL || send_step(r, op) != 0) {
        sg_store__finish(op, sg_store_err_unavailable);
        return;
    }
    sent(r, op);
}

static void on_reply(redisAsyncContext *ac, void *_reply, void *privdata)
{
    redisReply *reply = _reply;
    sg_store_op_t *op = privdata;
    if (sg_store__unref(op))
        return; /* completed or cancelled: a late reply */
    redis_t *r = op->store->impl;
    if (reply == NULL) {
        connection_lost(r, ac);
        sg_store__finish(op, sg_store_err_unavailable);
        return;
    }
    size_t index = op->replies++;
    if (reply->type == REDIS_REPLY_ERROR) {
        sg_log(SG_LOG_WARN, "store: redis error: %.*s", (int)reply->len, reply->str);
        op->err = sg_store_err_unavailable;
    } else if (op->err == NULL) {
        sg_store__redis_take_reply(op, reply, index);
    }
    if (op->refs == 0)
        step_done(r, op);
}

/* ---- what store_redis_quota.c borrows ---- */

int sg_redis__send_raw(sg_store_t *s, sg_redis_reply_fn *fn, void *privdata, int argc, const char **argv)
{
    redis_t *r = s->impl;
    size_t lens[MAX_ARGS * 64];
    if (r->ac == NULL || argc > (int)(sizeof(lens) / sizeof(lens[0])))
        return -1;
    for (int i = 0; i != argc; ++i)
        lens[i] = strlen(argv[i]);
    return redisAsyncCommandArgv(r->ac, (redisCallbackFn *)fn, privdata, argc, argv, lens) == REDIS_OK ? 0 : -1;
}

int sg_redis__send_op(sg_store_t *s, sg_store_op_t *op, int argc, const char **argv)
{
    redis_t *r = s->impl;
    return r->ac != NULL ? send_argv(r, op, argc, argv) : -1;
}

int sg_redis__usable(sg_store_t *s)
{
    redis_t *r = s->impl;
    return r != NULL && r->state != DISCONNECTED && r->ac != NULL;
}

void sg_redis__drop(sg_store_t *s, const char *why)
{
    redis_t *r = s->impl;
    if (r->ac != NULL)
        drop(r, why);
}

void **sg_redis__quota_slot(sg_store_t *s)
{
    return &((redis_t *)s->impl)->quota;
}

static void global_dispose(void)
{
}

const sg_store_backend_t sg_store_redis_backend = {
    .name = "redis",
    .global_init = global_init,
    .global_dispose = global_dispose,
    .open = open_loop,
    .close = close_loop,
    .is_available = is_available,
    .is_down = is_down,
    .start = start,
    .purge_sandbox = purge_sandbox,
    .own_txn_connection = 1,
};
