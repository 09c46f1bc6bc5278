/*
 * Sandbox port traffic under tenancy: /sandboxes/{id}/port/{port}/..., the
 * server-proxy forms /sandboxes/{id}/proxy/{port}/... and
 * /v1/sandboxes/{id}/proxy/{port}/.... The caller must own the sandbox; the
 * real endpoint is asked from the owning backend (endpoints API, cached
 * process-wide) and the request is streamed there with the endpoint's path prefix and
 * headers. The tenant's credentials are not forwarded.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/backend.h"
#include "tenancy/cache_events.h"
#include "util/hashmap.h"
#include "util/keyhash.h"
#include "tenancy/lifecycle.h"
#include "tenancy/port.h"
#include "tenancy/port_auth.h"
#include "tenancy/ownership.h"
#include "config/port_token.h"
#include "tenancy/tenant_cache.h"
#include "proxy/proxy.h"
#include "runtime/thread.h"

#define CACHE_SIZE 1024
#define CACHE_TTL_MS 30000
#define MAX_ENDPOINT_HEADERS 8

typedef struct st_endpoint_t {
    char id[SG_STORE_ID_MAX + 1];
    uint16_t port;
    uint64_t until_ms;
    uint64_t verified_ms;  /* when the backend was asked (trust rule: cache_events.h) */
    int64_t expires_at_ms; /* the sandbox's expiresAt (0: none): the entry dies with the sandbox */
    int is_tls;
    int resolved;     /* addr is set: the host was numeric, or a name resolved (then cached with the endpoint) */
    int unresolvable; /* the name did not resolve: remembered for UNRESOLVABLE_TTL_MS */
    uint16_t tcp_port;
    char host[256];
    char authority[300];
    char prefix[512];
    struct sockaddr_storage addr;
    socklen_t addrlen;
    size_t num_headers;
    char header_names[MAX_ENDPOINT_HEADERS][64];
    char header_values[MAX_ENDPOINT_HEADERS][256];
} endpoint_t;

typedef struct st_port_req_t {
    sg_request_t *r;
    char id[SG_STORE_ID_MAX + 1];
    sg_backend_conf_t *be;
    int64_t expires_at_ms; /* the owner record's */
    uint64_t asked_ms;     /* when the endpoint was asked from the backend */
    endpoint_t ep;
    struct st_dns_lookup_t *lookup; /* a name lookup in flight */
    h2o_timeout_entry_t lookup_timer;
} port_req_t;

/* h2o's resolver threads always answer (a cancel does not stop a lookup already running), so the answer goes to
 * this, which the request detaches from when it ends; the thread counts these to not dispose its context under one */
typedef struct st_dns_lookup_t {
    port_req_t *pr; /* NULL once detached */
    sg_thread_t *thread;
} dns_lookup_t;

#define UNRESOLVABLE_TTL_MS 5000

/* process-wide, so that forgetting a deleted sandbox's endpoints is seen by every worker thread */
static endpoint_t cache[CACHE_SIZE];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* keyed hash: ids are chosen by clients, who must not be able to aim them at one slot */
static size_t slot_of(const char *id, uint16_t port)
{
    return (sg_hashmap_hash(id, strlen(id)) ^ port) & (CACHE_SIZE - 1);
}

static int cache_get(const char *id, uint16_t port, endpoint_t *out)
{
    size_t i = slot_of(id, port);
    int hit = 0;
    uint64_t now = sg_now_us() / 1000;
    pthread_mutex_lock(&cache_lock);
    endpoint_t *e = cache + i;
    if (e->until_ms > now && e->port == port && strcmp(e->id, id) == 0 &&
        (e->expires_at_ms == 0 || (uint64_t)e->expires_at_ms > now) && sg_cache_events_trusted(e->verified_ms, now)) {
        *out = cache[i];
        hit = 1;
    }
    pthread_mutex_unlock(&cache_lock);
    return hit;
}

static void cache_put(const endpoint_t *ep)
{
    size_t i = slot_of(ep->id, ep->port);
    pthread_mutex_lock(&cache_lock);
    cache[i] = *ep;
    pthread_mutex_unlock(&cache_lock);
}

static void cache_forget(const char *id, uint16_t port)
{
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i != CACHE_SIZE; ++i)
        if ((port == 0 || cache[i].port == port) && strcmp(cache[i].id, id) == 0)
            cache[i].until_ms = 0;
    pthread_mutex_unlock(&cache_lock);
}

void sg_port_forget(const char *id)
{
    cache_forget(id, 0);
}

/* parses "[scheme://]host:port[/prefix]" into ep; returns 0 on success */
static int parse_endpoint(const char *s, endpoint_t *ep)
{
    ep->is_tls = 0;
    if (strncmp(s, "http://", 7) == 0) {
        s += 7;
    } else if (strncmp(s, "https://", 8) == 0) {
        s += 8;
        ep->is_tls = 1;
    }
    const char *slash = strchr(s, '/');
    size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
    if (alen == 0 || alen >= sizeof(ep->authority) || (slash != NULL && strlen(slash) >= sizeof(ep->prefix)))
        return -1;
    memcpy(ep->authority, s, alen);
    ep->authority[alen] = '\0';
    snprintf(ep->prefix, sizeof(ep->prefix), "%s", slash != NULL ? slash : "");
    size_t plen = strlen(ep->prefix);
    while (plen != 0 && ep->prefix[plen - 1] == '/')
        ep->prefix[--plen] = '\0';
    const char *colon = strrchr(ep->authority, ':');
    const char *host = ep->authority;
    size_t hlen = colon != NULL ? (size_t)(colon - host) : alen;
    if (host[0] == '[' && hlen >= 2 && host[hlen - 1] == ']')
        ++host, hlen -= 2;
    if (hlen >= sizeof(ep->host))
        return -1;
    memcpy(ep->host, host, hlen);
    ep->host[hlen] = '\0';
    long port = colon != NULL ? strtol(colon + 1, NULL, 10) : (ep->is_tls ? 443 : 80);
    if (port <= 0 || port > 65535)
        return -1;
    /* numeric hosts are used as they are; names are resolved off the loop before connecting (resolve()) */
    struct sockaddr_in *sin = (void *)&ep->addr;
    struct sockaddr_in6 *sin6 = (void *)&ep->addr;
    memset(&ep->addr, 0, sizeof(ep->addr));
    ep->tcp_port = (uint16_t)port;
    ep->resolved = 1;
    if (inet_pton(AF_INET, ep->host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        ep->addrlen = sizeof(*sin);
    } else if (inet_pton(AF_INET6, ep->host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        ep->addrlen = sizeof(*sin6);
    } else if (ep->host[0] != '\0') {
        ep->resolved = 0;
    } else {
        return -1;
    }
    return 0;
}

/* the endpoint did not answer: the sandbox may be gone or moved; resolve both again next time */
static void on_upstream_error(sg_request_t *r, void *data)
{
    port_req_t *pr = data;
    cache_forget(pr->id, r->route.port);
    sg_ownership_invalidate(pr->id);
}

static void forward(port_req_t *pr)
{
    sg_request_t *r = pr->r;
    h2o_req_t *req = r->req;
    endpoint_t *ep = &pr->ep;
    if (ep->is_tls && pr->be->ssl_ctx == NULL) {
        sg_request_fail(r, SG_ERR_BAD_GATEWAY, "the sandbox endpoint needs TLS but the backend is configured for http");
        return;
    }
    h2o_header_t *extra = h2o_mem_alloc_pool(&req->pool, sizeof(*extra) * (ep->num_headers + 1));
    size_t num_extra = ep->num_headers;
    for (size_t i = 0; i != ep->num_headers; ++i) {
        h2o_iovec_t *name = h2o_mem_alloc_pool(&req->pool, sizeof(*name));
        *name = h2o_strdup(&req->pool, ep->header_names[i], strlen(ep->header_names[i]));
        h2o_strtolower(name->base, name->len);
        extra[i] = (h2o_header_t){name, NULL, h2o_strdup(&req->pool, ep->header_values[i], strlen(ep->header_values[i]))};
    }
    sg_upstream_t *u = h2o_mem_alloc_pool(&req->pool, sizeof(*u));
    *u = (sg_upstream_t){.is_tls = ep->is_tls,
                         .host = h2o_strdup(&req->pool, ep->host, strlen(ep->host)).base,
                         .addr = ep->addr,
                         .addrlen = ep->addrlen,
                         .ssl_ctx = ep->is_tls ? pr->be->ssl_ctx : NULL,
                         .max_connections = pr->be->max_connections};
    /* the gateway's credentials never reach the sandbox; the /proxy/ forms also drop the caller's Authorization and
     * cookies, as OpenSandbox's server proxy does. Elsewhere the sandbox's own cookies go through, without ours. */
    static const h2o_iovec_t strip[] = {{H2O_STRLIT("open-sandbox-api-key")},
                                        {H2O_STRLIT(SG_PORT_TOKEN_HEADER_LC)},
                                        {H2O_STRLIT("opensandbox-ingress-to")},
                                        {H2O_STRLIT("cookie")},
                                        {H2O_STRLIT("authorization")}};
    size_t num_strip = sizeof(strip) / sizeof(strip[0]);
    if (r->route.form != SG_PORT_FORM_PROXY) {
        num_strip--; /* Authorization belongs to the sandbox's service */
        h2o_iovec_t cookies = sg_port_auth_sandbox_cookies(r);
        if (cookies.len != 0)
            extra[num_extra++] = (h2o_header_t){&H2O_TOKEN_COOKIE->buf, NULL, cookies};
    }
    sg_proxy_target_t t = {.upstream = u,
                           .authority = h2o_strdup(&req->pool, ep->authority, strlen(ep->authority)),
                           .path_prefix = h2o_strdup(&req->pool, ep->prefix, strlen(ep->prefix)),
                           .path = h2o_iovec_init(r->route.rest, r->route.rest_len),
                           .extra = extra,
                           .num_extra = num_extra,
                           .strip = strip,
                           .num_strip = num_strip,
                           .on_upstream_error = on_upstream_error,
                           .on_status_data = pr};
    sg_proxy_start(r, &t);
}

/* fills ep from a backend's Endpoint JSON (asked at verified_ms) and caches it; returns 0 on success */
static int endpoint_from_json(const char *id, uint16_t port, int64_t expires_at_ms, uint64_t verified_ms, h2o_iovec_t body,
                              endpoint_t *ep)
{
    json_t *obj = json_loadb(body.base, body.len, 0, NULL);
    json_t *endpoint = json_object_get(obj, "endpoint"), *headers = json_object_get(obj, "headers");
    memset(ep, 0, sizeof(*ep));
    if (!json_is_string(endpoint) || parse_endpoint(json_string_value(endpoint), ep) != 0) {
        json_decref(obj);
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(headers, k, v)
    {
        if (ep->num_headers == MAX_ENDPOINT_HEADERS || !json_is_string(v) || strlen(k) >= 64 || json_string_length(v) >= 256)
            continue;
        snprintf(ep->header_names[ep->num_headers], 64, "%s", k);
        snprintf(ep->header_values[ep->num_headers], 256, "%s", json_string_value(v));
        ep->num_headers++;
    }
    json_decref(obj);
    snprintf(ep->id, sizeof(ep->id), "%s", id);
    ep->port = port;
    ep->until_ms = sg_now_us() / 1000 + CACHE_TTL_MS;
    ep->verified_ms = verified_ms;
    ep->expires_at_ms = expires_at_ms;
    if (ep->resolved)
        cache_put(ep);
    else
        cache_forget(id, port); /* a name: cached once resolved; an older entry for this port must not linger */
    return 0;
}

int sg_port_remember_endpoint(const char *id, uint16_t port, int64_t expires_at_ms, uint64_t asked_at_ms, h2o_iovec_t body)
{
    endpoint_t ep;
    return endpoint_from_json(id, port, expires_at_ms, asked_at_ms, body, &ep);
}

static void detach_lookup(port_req_t *pr)
{
    if (h2o_timeout_is_linked(&pr->lookup_timer))
        h2o_timeout_unlink(&pr->lookup_timer);
    if (pr->lookup != NULL) {
        pr->lookup->pr = NULL;
        pr->lookup = NULL;
    }
}

static void cancel_resolve(void *data)
{
    detach_lookup(data);
}

static void on_lookup_timeout(h2o_timeout_entry_t *entry)
{
    port_req_t *pr = H2O_STRUCT_FROM_MEMBER(port_req_t, lookup_timer, entry);
    char msg[400];
    detach_lookup(pr);
    snprintf(msg, sizeof(msg), "resolving the sandbox endpoint host '%s' timed out", pr->ep.host);
    sg_request_fail(pr->r, SG_ERR_UPSTREAM_TIMEOUT, msg);
}

static void unresolvable(port_req_t *pr, const char *why)
{
    char msg[400];
    snprintf(msg, sizeof(msg), "cannot resolve the sandbox endpoint host '%s': %s", pr->ep.host, why);
    sg_request_fail(pr->r, SG_ERR_UPSTREAM_CONNECT_FAILED, msg);
}

/* IPv4 first: endpoints named by the backend are usually reachable over v4, and we connect to one address */
static struct addrinfo *pick_address(struct addrinfo *res)
{
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
        if (ai->ai_family == AF_INET)
            return ai;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
        if (ai->ai_family == AF_INET6)
            return ai;
    return NULL;
}

static void on_resolved(h2o_hostinfo_getaddr_req_t *greq, const char *errstr, struct addrinfo *res, void *data)
{
    (void)greq;
    dns_lookup_t *lk = data;
    port_req_t *pr = lk->pr;
    lk->thread->dns_inflight--;
    free(lk);
    if (pr == NULL) /* the request ended or timed out meanwhile */
        return;
    pr->lookup = NULL;
    detach_lookup(pr);
    struct addrinfo *ai = errstr == NULL ? pick_address(res) : NULL;
    if (ai == NULL || ai->ai_addrlen > sizeof(pr->ep.addr)) {
        /* remembered for a while: a name that does not resolve must not cost a lookup per request */
        pr->ep.unresolvable = 1;
        pr->ep.until_ms = sg_now_us() / 1000 + UNRESOLVABLE_TTL_MS;
        cache_put(&pr->ep);
        unresolvable(pr, errstr != NULL ? errstr : "no IPv4 or IPv6 address");
        return;
    }
    memcpy(&pr->ep.addr, ai->ai_addr, ai->ai_addrlen);
    pr->ep.addrlen = ai->ai_addrlen;
    pr->ep.resolved = 1;
    pr->ep.until_ms = sg_now_us() / 1000 + CACHE_TTL_MS;
    cache_put(&pr->ep); /* the name is resolved again when the cached endpoint expires */
    forward(pr);
}

/* Resolves pr->ep.host with h2o's getaddrinfo threads; the answer comes back on this loop, or the request gets a
 * 504 after upstream_connect_timeout. */
static void resolve(port_req_t *pr)
{
    sg_request_t *r = pr->r;
    char serv[8];
    int n = snprintf(serv, sizeof(serv), "%u", (unsigned)pr->ep.tcp_port);
    dns_lookup_t *lk = malloc(sizeof(*lk));
    if (lk == NULL) {
        unresolvable(pr, "out of memory");
        return;
    }
    *lk = (dns_lookup_t){.pr = pr, .thread = r->thread};
    pr->lookup = lk;
    r->thread->dns_inflight++;
    sg_request_on_dispose(r, cancel_resolve, pr);
    pr->lookup_timer.cb = on_lookup_timeout;
    sg_loop_set_timer(&r->thread->loop, &pr->lookup_timer, r->config->limits.upstream_connect_timeout_ms);
    h2o_hostinfo_getaddr(&r->req->conn->ctx->receivers.hostinfo_getaddr, h2o_iovec_init(pr->ep.host, strlen(pr->ep.host)),
                         h2o_iovec_init(serv, (size_t)n), AF_UNSPEC, SOCK_STREAM, IPPROTO_TCP, AI_NUMERICSERV, on_resolved, lk);
}

static void on_endpoint(void *data, const char *err, int status, h2o_iovec_t body)
{
    port_req_t *pr = data;
    sg_request_t *r = pr->r;
    if (err != NULL) {
        sg_lifecycle_backend_error(r, err);
        return;
    }
    if (status == 404) {
        sg_lifecycle_sandbox_not_found(r, pr->id);
        return;
    }
    if (status != 200) {
        sg_lifecycle_send_backend_response(r, status, body);
        return;
    }
    if (endpoint_from_json(pr->id, r->route.port, pr->expires_at_ms, pr->asked_ms, body, &pr->ep) != 0) {
        sg_request_fail(r, SG_ERR_BAD_GATEWAY, "the backend reported an endpoint the gateway cannot reach");
        return;
    }
    if (!pr->ep.resolved) {
        resolve(pr);
        return;
    }
    forward(pr);
}

static void on_owner(sg_request_t *r, void *data, const char *err, const sg_sandbox_rec_t *rec)
{
    port_req_t *pr = data;
    if ((pr->be = sg_lifecycle_owner_backend(r, err, rec != NULL ? rec->tenant : NULL, rec != NULL ? rec->backend : NULL, 0,
                                             pr->id)) == NULL)
        return;
    r->backend = h2o_iovec_init(pr->be->name, strlen(pr->be->name));
    pr->expires_at_ms = rec->expires_at_ms;
    if (sg_port_auth_redirect(r))
        return;
    if (cache_get(pr->id, r->route.port, &pr->ep)) {
        if (pr->ep.unresolvable)
            unresolvable(pr, "the name did not resolve moments ago");
        else
            forward(pr);
        return;
    }
    char path[SG_STORE_ID_MAX + 48];
    int n = snprintf(path, sizeof(path), "/v1/sandboxes/%s/endpoints/%u", pr->id, (unsigned)r->route.port);
    pr->asked_ms = sg_now_us() / 1000;
    sg_lifecycle_call(r, pr->be, "GET", h2o_iovec_init(path, (size_t)n), h2o_iovec_init(NULL, 0), on_endpoint, pr);
}

void sg_port_handle(sg_request_t *r)
{
    h2o_req_t *req = r->req;
    /* no tenant key, and no other credential bound one before the chain (port_auth.h) */
    if (r->tenant_def == NULL) {
        sg_port_auth_refuse(r);
        return;
    }
    port_req_t *pr = h2o_mem_alloc_pool(&req->pool, sizeof(*pr));
    memset(pr, 0, sizeof(*pr));
    pr->r = r;
    if (r->route.sandbox_id != NULL)
        snprintf(pr->id, sizeof(pr->id), "%.*s",
                 (int)(r->route.sandbox_id_len < SG_STORE_ID_MAX ? r->route.sandbox_id_len : SG_STORE_ID_MAX), r->route.sandbox_id);
    if (r->route.sandbox_id == NULL || r->route.port == 0 || !sg_router_valid_id(r->route.sandbox_id, r->route.sandbox_id_len)) {
        sg_lifecycle_sandbox_not_found(r, pr->id);
        return;
    }
    r->sandbox_id = h2o_strdup(&req->pool, pr->id, strlen(pr->id));
    sg_ownership_sandbox(r, pr->id, on_owner, pr);
}
