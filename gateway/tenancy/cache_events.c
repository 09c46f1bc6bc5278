/*
 * The subscriber side of the sandbox change events (see cache_events.h for the
 * protocol and the trust rule). One session is a pair of hiredis async
 * connections on the health thread's loop:
 *   - sub: [AUTH], SUBSCRIBE {prefix}events; its replies are the subscribe
 *     confirmation, then one "message" per event;
 *   - pub: [AUTH], then PUBLISH "hb <nonce> <ms>" every heartbeat (hiredis 0.14
 *     cannot PING on a subscribed connection, so liveness is proven end to end
 *     by our own heartbeat coming back through Redis).
 * A session that fails in any way (connect error, EOF, AUTH refused, no
 * subscription within the connect timeout, no heartbeat echo within the bound)
 * is dropped whole and retried with backoff.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/async.h>
#include "tenancy/cache_events.h"
#include "util/keyhash.h"
#include "tenancy/port.h"
#include "util/log.h"
#include "tenancy/ownership.h"
#include "store/redis_evloop.h"
#include "store/store_impl.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

typedef struct st_events_t {
    sg_loop_t *loop;
    redisAsyncContext *sub, *pub; /* ->data points here while they belong to the current session */
    int connected;                /* a session is being set up or is up */
    uint64_t session_started_ms;
    uint64_t retry_at_ms;
    uint64_t backoff_ms;
    int failing; /* a failure was logged as a warning since the last good session: log repeats quietly */
    h2o_timeout_entry_t tick;
    char nonce[33];
} events_t;

static events_t *events;
/* read by every worker thread (sg_cache_events_trusted) */
static uint64_t subscribed_since_ms = UINT64_MAX; /* when the current subscription was confirmed; MAX: none */
static uint64_t confirmed_ms;                     /* send time of the newest heartbeat we got back */

static uint64_t now_ms(void)
{
    return sg_now_us() / 1000;
}

int sg_cache_events_trusted(uint64_t verified_ms, uint64_t now)
{
    if (!sg_store__conf.use_redis)
        return 1;
    if (verified_ms + SG_CACHE_EVENTS_BOUND_MS > now)
        return 1;
    return verified_ms >= __atomic_load_n(&subscribed_since_ms, __ATOMIC_ACQUIRE) &&
           __atomic_load_n(&confirmed_ms, __ATOMIC_ACQUIRE) + SG_CACHE_EVENTS_BOUND_MS > now;
}

void sg_cache_events_apply(const char *id, const char *tenant)
{
    if (tenant == NULL) {
        sg_ownership_invalidate(id);
        sg_port_forget(id);
    } else {
        /* known now (created, adopted) as tenant's: tenant may no longer be told it does not exist */
        sg_ownership_known(id, tenant);
    }
}

static void on_store_change(const char *id, const char *tenant)
{
    sg_cache_events_apply(id, tenant);
}

void sg_cache_events_init(void)
{
    sg_store_set_sandbox_hook(sg_store__conf.use_redis ? NULL : on_store_change);
}

/* ---- session ---- */

static void log_failure(events_t *ev, const char *why)
{
    sg_log(ev->failing ? SG_LOG_DEBUG : SG_LOG_WARN, "cache events: %s; caches are trusted for %d ms until resubscribed", why,
           SG_CACHE_EVENTS_BOUND_MS);
    ev->failing = 1;
}

static void release(redisAsyncContext **slot)
{
    redisAsyncContext *ac = *slot;
    *slot = NULL;
    if (ac != NULL) {
        ac->data = NULL;
        redisAsyncFree(ac); /* callbacks run with NULL replies and find ac->data NULL */
    }
}

/* ends the session (both connections) and schedules the next one */
static void drop(events_t *ev, const char *why)
{
    __atomic_store_n(&subscribed_since_ms, UINT64_MAX, __ATOMIC_RELEASE);
    __atomic_store_n(&confirmed_ms, 0, __ATOMIC_RELEASE);
    log_failure(ev, why);
    ev->connected = 0;
    release(&ev->sub);
    release(&ev->pub);
    ev->retry_at_ms = now_ms() + ev->backoff_ms;
    ev->backoff_ms = ev->backoff_ms * 2 < BACKOFF_MAX_MS ? ev->backoff_ms * 2 : BACKOFF_MAX_MS;
}

/* hiredis is freeing ac by itself (error, EOF, failed connect) */
static void lost(const redisAsyncContext *ac)
{
    events_t *ev = ac->data;
    if (ev == NULL)
        return;
    if (ev->sub == ac)
        ev->sub = NULL;
    if (ev->pub == ac)
        ev->pub = NULL;
    ((redisAsyncContext *)ac)->data = NULL;
    char why[256];
    snprintf(why, sizeof(why), "redis connection lost: %s", ac->errstr[0] != '\0' ? ac->errstr : "closed");
    drop(ev, why);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK)
        lost(ac);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    lost(ac);
}

static void on_auth(redisAsyncContext *ac, void *_reply, void *privdata)
{
    (void)privdata;
    redisReply *reply = _reply;
    events_t *ev = ac->data;
    if (ev == NULL || reply == NULL || reply->type != REDIS_REPLY_ERROR)
        return;
    char why[256];
    snprintf(why, sizeof(why), "AUTH refused: %.*s", (int)reply->len, reply->str);
    drop(ev, why);
}

/* "hb <nonce> <ms>": ours proves delivery up to ms; "put|del <id>": invalidate */
static void on_event(events_t *ev, const char *msg, size_t len)
{
    char buf[2 * SG_STORE_ID_MAX + 64];
    if (len >= sizeof(buf))
        return;
    memcpy(buf, msg, len);
    buf[len] = '\0';
    if (strncmp(buf, "hb ", 3) == 0) {
        char *sp = strchr(buf + 3, ' ');
        if (sp != NULL && (size_t)(sp - (buf + 3)) == strlen(ev->nonce) && memcmp(buf + 3, ev->nonce, strlen(ev->nonce)) == 0) {
            uint64_t sent = strtoull(sp + 1, NULL, 10);
            if (sent > __atomic_load_n(&confirmed_ms, __ATOMIC_RELAXED))
                __atomic_store_n(&confirmed_ms, sent, __ATOMIC_RELEASE);
            if (ev->failing) {
                sg_log(SG_LOG_INFO, "cache events: subscribed again to %s", sg_store_events_channel());
                ev->failing = 0;
            }
            ev->backoff_ms = BACKOFF_MIN_MS;
        }
    } else if (strncmp(buf, "del ", 4) == 0 && buf[4] != '\0') {
        sg_cache_events_apply(buf + 4, NULL);
    } else if (strncmp(buf, "put ", 4) == 0) {
        char *sp = strchr(buf + 4, ' ');
        if (sp != NULL && sp != buf + 4 && sp[1] != '\0') {
            *sp = '\0';
            sg_cache_events_apply(buf + 4, sp + 1);
        }
    }
}

static void on_subscribed(redisAsyncContext *ac, void *_reply, void *privdata)
{
    (void)privdata;
    redisReply *reply = _reply;
    events_t *ev = ac->data;
    if (ev == NULL || reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = reply->element[0]->str;
    if (strcmp(kind, "subscribe") == 0) {
        /* lookups that start from now on are covered: later deletes reach us */
        __atomic_store_n(&subscribed_since_ms, now_ms(), __ATOMIC_RELEASE);
    } else if (strcmp(kind, "message") == 0 && reply->element[2]->type == REDIS_REPLY_STRING) {
        on_event(ev, reply->element[2]->str, reply->element[2]->len);
    }
}

/* opens one connection of the session (AUTH queued first); NULL on failure */
static redisAsyncContext *open_conn(events_t *ev)
{
    redisAsyncContext *ac = sg_store__conf.unix_path != NULL ? redisAsyncConnectUnix(sg_store__conf.unix_path)
                                                             : redisAsyncConnect(sg_store__conf.host, sg_store__conf.port);
    if (ac == NULL)
        return NULL;
    if (ac->err != 0 || sg_redis_evloop_attach(ac, ev->loop->loop) != 0) {
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = ev;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (sg_store__conf.password != NULL && redisAsyncCommand(ac, on_auth, NULL, "AUTH %s", sg_store__conf.password) != REDIS_OK) {
        ac->data = NULL;
        redisAsyncFree(ac);
        return NULL;
    }
    return ac;
}

static void start_session(events_t *ev)
{
    ev->connected = 1;
    ev->session_started_ms = now_ms();
    if ((ev->sub = open_conn(ev)) == NULL || (ev->pub = open_conn(ev)) == NULL ||
        redisAsyncCommand(ev->sub, on_subscribed, NULL, "SUBSCRIBE %s", sg_store_events_channel()) != REDIS_OK) {
        drop(ev, "cannot connect to redis");
        return;
    }
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    events_t *ev = H2O_STRUCT_FROM_MEMBER(events_t, tick, entry);
    uint64_t now = now_ms();
    sg_loop_set_timer(ev->loop, &ev->tick, SG_CACHE_EVENTS_HEARTBEAT_MS);
    if (!ev->connected) {
        if (now >= ev->retry_at_ms)
            start_session(ev);
        return;
    }
    uint64_t since = __atomic_load_n(&subscribed_since_ms, __ATOMIC_RELAXED);
    if (since == UINT64_MAX) {
        uint64_t limit = sg_store__conf.connect_timeout_ms > SG_CACHE_EVENTS_BOUND_MS ? sg_store__conf.connect_timeout_ms
                                                                                      : SG_CACHE_EVENTS_BOUND_MS;
        if (now - ev->session_started_ms > limit)
            drop(ev, "no subscription within the connect timeout");
        return;
    }
    uint64_t confirmed = __atomic_load_n(&confirmed_ms, __ATOMIC_RELAXED);
    if (now - (confirmed > since ? confirmed : since) > SG_CACHE_EVENTS_BOUND_MS) {
        drop(ev, "heartbeats stopped coming back (stalled connection)");
        return;
    }
    char msg[64];
    snprintf(msg, sizeof(msg), "hb %s %" PRIu64, ev->nonce, now);
    if (redisAsyncCommand(ev->pub, NULL, NULL, "PUBLISH %s %s", sg_store_events_channel(), msg) != REDIS_OK)
        drop(ev, "cannot publish a heartbeat");
}

void sg_cache_events_start(sg_loop_t *loop)
{
    if (!sg_store__conf.use_redis || events != NULL)
        return;
    events_t *ev = calloc(1, sizeof(*ev));
    ev->loop = loop;
    ev->backoff_ms = BACKOFF_MIN_MS;
    ev->tick.cb = on_tick;
    char key[SG_KEYHASH_LEN * 2 + 8];
    if (sg_keyhash_generate(key, sizeof(key)) != 0)
        snprintf(key, sizeof(key), "%016" PRIx64, sg_now_us());
    snprintf(ev->nonce, sizeof(ev->nonce), "%.32s", key);
    for (char *p = ev->nonce; *p != '\0'; ++p)
        if (*p == ' ')
            *p = '_';
    events = ev;
    start_session(ev);
    sg_loop_set_timer(loop, &ev->tick, SG_CACHE_EVENTS_HEARTBEAT_MS);
}

void sg_cache_events_stop(void)
{
    events_t *ev = events;
    if (ev == NULL)
        return;
    events = NULL;
    if (h2o_timeout_is_linked(&ev->tick))
        h2o_timeout_unlink(&ev->tick);
    __atomic_store_n(&subscribed_since_ms, UINT64_MAX, __ATOMIC_RELEASE);
    __atomic_store_n(&confirmed_ms, 0, __ATOMIC_RELEASE);
    release(&ev->sub);
    release(&ev->pub);
    free(ev);
}
