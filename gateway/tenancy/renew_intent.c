/*
 * The publisher of OSEP-0009 renew intents (renew_intent.h): a table per worker thread of connections to the
 * backends' Redis servers, by configured address (so reloads that keep the address keep the connection). A
 * connection is opened when an intent needs it and none is open, no sooner than its backoff allows; commands queue
 * behind the connect. It is given up (and the backoff doubled, 100 ms to 5 s) when hiredis reports an error, or when
 * replies are awaited and none came for REPLY_TIMEOUT_MS (a stalled Redis: commands would pile up in memory).
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/async.h>
#include "store/redis_evloop.h"
#include "tenancy/renew_intent.h"
#include "util/log.h"

#define MAX_PENDING 1024      /* replies awaited on one connection; past it intents are dropped */
#define REPLY_TIMEOUT_MS 2000 /* replies awaited and none for this long: the connection is dropped */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

typedef struct st_resolve_t resolve_t;

typedef struct st_intent_conn_t {
    char *addr; /* "host:port" as configured: the table's key */
    char host[256];
    uint16_t port;
    char numeric[INET6_ADDRSTRLEN]; /* the address connected to ("" until a name is resolved) */
    int is_name;                    /* host is a name: resolved again after a failure */
    resolve_t *resolve;             /* a lookup in flight */
    sg_thread_t *thread;
    redisAsyncContext *ac; /* NULL: no connection */
    size_t pending;        /* replies awaited */
    uint64_t retry_at_ms;  /* no new connection before then (h2o_now) */
    uint64_t backoff_ms;
    int failing; /* a failure was logged as a warning since the last reply */
    h2o_timeout_entry_t reply_timer;
} intent_conn_t;

/* h2o's resolver threads always answer: the answer goes here, detached (c = NULL) if the table went first */
struct st_resolve_t {
    intent_conn_t *c;
    sg_thread_t *thread;
};

static __thread intent_conn_t **conns;
static __thread size_t num_conns;

static void on_reply_timeout(h2o_timeout_entry_t *entry);

/* the connection failed: forget it (ac is hiredis's to free, or already freed) and wait before the next one */
static void lost(intent_conn_t *c, const char *why)
{
    if (c->ac != NULL)
        c->ac->data = NULL;
    c->ac = NULL;
    c->pending = 0;
    if (h2o_timeout_is_linked(&c->reply_timer))
        h2o_timeout_unlink(&c->reply_timer);
    sg_log(c->failing ? SG_LOG_DEBUG : SG_LOG_WARN, "renew intents: redis %s: %s; intents are dropped for %llu ms", c->addr, why,
           (unsigned long long)c->backoff_ms);
    c->failing = 1;
    c->retry_at_ms = h2o_now(c->thread->loop.loop) + c->backoff_ms;
    c->backoff_ms = c->backoff_ms * 2 < BACKOFF_MAX_MS ? c->backoff_ms * 2 : BACKOFF_MAX_MS;
    if (c->is_name)
        c->numeric[0] = '\0'; /* the name may point elsewhere now */
}

/* gives up the connection ourselves (its pending callbacks see ac->data NULL and do nothing) */
static void drop(intent_conn_t *c, const char *why)
{
    redisAsyncContext *ac = c->ac;
    lost(c, why);
    if (ac != NULL)
        redisAsyncFree(ac);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    intent_conn_t *c = ac->data;
    if (c != NULL && c->ac == ac && status != REDIS_OK)
        lost(c, ac->errstr[0] != '\0' ? ac->errstr : "cannot connect");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    intent_conn_t *c = ac->data;
    if (c != NULL && c->ac == ac)
        lost(c, ac->errstr[0] != '\0' ? ac->errstr : "connection closed");
}

static void on_reply(redisAsyncContext *ac, void *_reply, void *privdata)
{
    (void)privdata;
    redisReply *reply = _reply;
    intent_conn_t *c = ac->data;
    if (c == NULL || c->ac != ac || reply == NULL) /* NULL: the connection is going; on_disconnect tells */
        return;
    if (reply->type == REDIS_REPLY_ERROR)
        sg_log(SG_LOG_DEBUG, "renew intents: redis %s refused: %s", c->addr, reply->str);
    else
        c->failing = 0;
    c->backoff_ms = BACKOFF_MIN_MS;
    if (--c->pending == 0)
        h2o_timeout_unlink(&c->reply_timer);
    else
        sg_loop_set_timer(&c->thread->loop, &c->reply_timer, REPLY_TIMEOUT_MS);
}

static void on_reply_timeout(h2o_timeout_entry_t *entry)
{
    intent_conn_t *c = H2O_STRUCT_FROM_MEMBER(intent_conn_t, reply_timer, entry);
    drop(c, "no reply in time");
}

static void connect_now(intent_conn_t *c)
{
    redisAsyncContext *ac = redisAsyncConnect(c->numeric, c->port);
    if (ac == NULL || ac->err != 0) {
        c->ac = NULL;
        lost(c, ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        return;
    }
    if (sg_redis_evloop_attach(ac, c->thread->loop.loop) != 0) {
        redisAsyncFree(ac);
        lost(c, "cannot watch the connection");
        return;
    }
    ac->data = c;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    c->ac = ac;
}

static void on_resolved(h2o_hostinfo_getaddr_req_t *greq, const char *errstr, struct addrinfo *res, void *data)
{
    (void)greq;
    resolve_t *rs = data;
    intent_conn_t *c = rs->c;
    rs->thread->dns_inflight--;
    free(rs);
    if (c == NULL)
        return;
    c->resolve = NULL;
    const struct addrinfo *ai = res;
    while (errstr == NULL && ai != NULL && ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
        ai = ai->ai_next;
    const void *addr = ai == NULL                  ? NULL
                       : ai->ai_family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
                                                   : (void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;
    if (errstr != NULL || addr == NULL || inet_ntop(ai->ai_family, addr, c->numeric, sizeof(c->numeric)) == NULL) {
        c->numeric[0] = '\0';
        lost(c, errstr != NULL ? errstr : "the name has no address");
    }
}

/* resolves c->host on h2o's resolver threads (the shutdown waits for it: dns_inflight) */
static void resolve(intent_conn_t *c)
{
    resolve_t *rs = malloc(sizeof(*rs));
    if (rs == NULL)
        return;
    *rs = (resolve_t){c, c->thread};
    c->resolve = rs;
    c->thread->dns_inflight++;
    char serv[8];
    snprintf(serv, sizeof(serv), "%u", (unsigned)c->port);
    h2o_hostinfo_getaddr(&c->thread->ctx.receivers.hostinfo_getaddr, h2o_iovec_init(c->host, strlen(c->host)),
                         h2o_iovec_init(serv, strlen(serv)), AF_UNSPEC, SOCK_STREAM, IPPROTO_TCP, AI_NUMERICSERV, on_resolved, rs);
}

static void dispose_all(sg_loop_t *l)
{
    (void)l;
    for (size_t i = 0; i != num_conns; ++i) {
        intent_conn_t *c = conns[i];
        if (c->ac != NULL) {
            redisAsyncContext *ac = c->ac;
            ac->data = NULL;
            c->ac = NULL;
            redisAsyncFree(ac);
        }
        if (h2o_timeout_is_linked(&c->reply_timer))
            h2o_timeout_unlink(&c->reply_timer);
        if (c->resolve != NULL)
            c->resolve->c = NULL;
        free(c->addr);
        free(c);
    }
    free(conns);
    conns = NULL;
    num_conns = 0;
}

/* this thread's connection state for addr ("host:port", checked by the config), created on first use */
static intent_conn_t *conn_of(sg_thread_t *thread, const char *addr)
{
    for (size_t i = 0; i != num_conns; ++i)
        if (strcmp(conns[i]->addr, addr) == 0)
            return conns[i];
    const char *colon = strrchr(addr, ':'), *host = addr;
    size_t hlen = colon != NULL ? (size_t)(colon - addr) : 0;
    if (host[0] == '[' && hlen >= 2 && host[hlen - 1] == ']') /* [v6]:port */
        ++host, hlen -= 2;
    intent_conn_t *c = calloc(1, sizeof(*c)), **grown = realloc(conns, sizeof(*conns) * (num_conns + 1));
    if (grown != NULL)
        conns = grown;
    if (colon == NULL || hlen == 0 || hlen >= sizeof(c->host) || grown == NULL || c == NULL || (c->addr = strdup(addr)) == NULL) {
        free(c);
        return NULL;
    }
    if (num_conns == 0)
        sg_loop_on_dispose(&thread->loop, dispose_all);
    memcpy(c->host, host, hlen);
    c->host[hlen] = '\0';
    c->port = (uint16_t)strtoul(colon + 1, NULL, 10);
    c->thread = thread;
    c->backoff_ms = BACKOFF_MIN_MS;
    c->reply_timer.cb = on_reply_timeout;
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, c->host, buf) == 1 || inet_pton(AF_INET6, c->host, buf) == 1)
        memcpy(c->numeric, c->host, hlen + 1); /* a numeric host fits: inet_pton accepted it */
    else
        c->is_name = 1;
    conns[num_conns++] = c;
    return c;
}

int sg_renew_intent_publish(sg_thread_t *thread, const sg_backend_conf_t *be, const char *json)
{
    intent_conn_t *c = conn_of(thread, be->renew_intent_addr);
    if (c == NULL)
        return -1;
    if (c->ac == NULL) {
        if (c->resolve != NULL || h2o_now(thread->loop.loop) < c->retry_at_ms)
            return -1;
        if (c->numeric[0] == '\0') {
            resolve(c); /* this intent is lost; the next ones go once the name is resolved */
            return -1;
        }
        connect_now(c);
        if (c->ac == NULL)
            return -1;
    }
    size_t cmds = be->renew_intent_max_len != 0 ? 2 : 1;
    if (c->pending + cmds > MAX_PENDING)
        return -1;
    char stop[24];
    snprintf(stop, sizeof(stop), "%llu", (unsigned long long)be->renew_intent_max_len - 1);
    if (redisAsyncCommand(c->ac, on_reply, NULL, "LPUSH %s %s", be->renew_intent_key, json) != REDIS_OK ||
        (cmds == 2 && redisAsyncCommand(c->ac, on_reply, NULL, "LTRIM %s 0 %s", be->renew_intent_key, stop) != REDIS_OK)) {
        drop(c, "cannot queue a command");
        return -1;
    }
    c->pending += cmds;
    if (!h2o_timeout_is_linked(&c->reply_timer))
        sg_loop_set_timer(&thread->loop, &c->reply_timer, REPLY_TIMEOUT_MS);
    return 0;
}
