/*
 * key-auth: authenticates the tenant key in OPEN-SANDBOX-API-KEY (what the
 * OpenSandbox SDKs send) or `Authorization: Bearer KEY`. Keys are looked up by
 * their SHA-256 through the gateway (config keys, then the store); answers are
 * kept in a bounded cache (positive and negative entries, short TTLs) so that a
 * warm key costs no store round trip. The credential header is never forwarded.
 *
 *   - name: key-auth
 *     config: {cache_size: 4096, positive_ttl: 10s, negative_ttl: 2s}
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "plugin.h"

typedef struct st_entry_t {
    unsigned char hash[32];
    int used;
    sg_plugin_key_status_t status;
    char tenant[129];
    int64_t key_expires_at_ms;
    uint64_t cached_until_ms;
    uint64_t claim_until_ms; /* a refresh ahead of expiry was handed out until then */
} entry_t;

/* Refresh ahead: in the last fifth of a valid entry's life, one request per second looks the key up again (and
 * renews the entry) while the others keep hitting, so a hot key does not send every connection to the store at
 * the instant it expires. */
#define REFRESH_CLAIM_MS 1000

typedef struct st_conf_t {
    pthread_mutex_t lock;
    entry_t *entries;
    size_t size; /* power of two */
    uint64_t positive_ttl_ms, negative_ttl_ms;
} conf_t;

typedef struct st_ctx_t {
    const sg_plugin_api_t *api;
    sg_plugin_req_t *req;
    conf_t *conf;
    unsigned char hash[32];
    /* a second credential in Authorization: Bearer, checked once the first one passed */
    unsigned char bearer_hash[32];
    int has_bearer;
    int checking_bearer;
} ctx_t;

static void *config_parse(const sg_plugin_api_t *api, sg_plugin_conf_t *c)
{
    int64_t size = 4096;
    uint64_t pos = 10000, neg = 2000;
    if (api->conf_int(c, "cache_size", &size) < 0 || api->conf_duration_ms(c, "positive_ttl", &pos) < 0 ||
        api->conf_duration_ms(c, "negative_ttl", &neg) < 0)
        return NULL;
    if (size < 16 || size > (1 << 24)) {
        api->conf_error(c, "cache_size", "must be between 16 and 16777216");
        return NULL;
    }
    conf_t *conf = calloc(1, sizeof(*conf));
    for (conf->size = 16; conf->size < (size_t)size; conf->size *= 2)
        ;
    conf->entries = calloc(conf->size, sizeof(*conf->entries));
    conf->positive_ttl_ms = pos;
    conf->negative_ttl_ms = neg;
    pthread_mutex_init(&conf->lock, NULL);
    return conf;
}

static void config_free(void *p)
{
    conf_t *conf = p;
    pthread_mutex_destroy(&conf->lock);
    free(conf->entries);
    free(conf);
}

static entry_t *slot_of(conf_t *conf, const unsigned char *hash)
{
    size_t idx;
    memcpy(&idx, hash, sizeof(idx)); /* the hash is uniformly distributed */
    return conf->entries + (idx & (conf->size - 1));
}

/* copies a live cache entry into *out; returns 1 on a hit */
static int cache_get(conf_t *conf, const unsigned char *hash, uint64_t now, entry_t *out)
{
    int hit = 0;
    pthread_mutex_lock(&conf->lock);
    entry_t *e = slot_of(conf, hash);
    if (e->used && e->cached_until_ms > now && memcmp(e->hash, hash, 32) == 0) {
        if (e->status == SG_PLUGIN_KEY_VALID && e->cached_until_ms - now <= conf->positive_ttl_ms / 5 && e->claim_until_ms <= now) {
            e->claim_until_ms = now + REFRESH_CLAIM_MS; /* this caller refreshes */
        } else {
            *out = *e;
            hit = 1;
        }
    }
    pthread_mutex_unlock(&conf->lock);
    return hit;
}

static void cache_put(conf_t *conf, const unsigned char *hash, sg_plugin_key_status_t st, sg_plugin_str_t tenant,
                      int64_t key_expires_at_ms, uint64_t now)
{
    if (st == SG_PLUGIN_KEY_STORE_ERROR || tenant.len >= sizeof(((entry_t *)0)->tenant))
        return;
    pthread_mutex_lock(&conf->lock);
    entry_t *e = slot_of(conf, hash); /* a collision evicts: the cache stays bounded */
    memcpy(e->hash, hash, 32);
    e->used = 1;
    e->status = st;
    memcpy(e->tenant, tenant.base, tenant.len);
    e->tenant[tenant.len] = '\0';
    e->key_expires_at_ms = key_expires_at_ms;
    e->cached_until_ms = now + (st == SG_PLUGIN_KEY_VALID ? conf->positive_ttl_ms : conf->negative_ttl_ms);
    e->claim_until_ms = 0;
    pthread_mutex_unlock(&conf->lock);
}

/* the key's id shown to other plugins (req_context): the first 12 hex digits of its SHA-256, never the secret */
static void set_key_id(const sg_plugin_api_t *api, sg_plugin_req_t *req, const unsigned char *hash)
{
    static const char hex[] = "0123456789abcdef";
    char id[12];
    if (!SG_PLUGIN_API_HAS(api, req_set_key_id))
        return;
    for (size_t i = 0; i != sizeof(id) / 2; ++i) {
        id[i * 2] = hex[hash[i] >> 4];
        id[i * 2 + 1] = hex[hash[i] & 15];
    }
    api->req_set_key_id(req, id, sizeof(id));
}

/* applies a lookup result for the key with this hash; returns SG_PLUGIN_CONTINUE or SG_PLUGIN_RESPONDED */
static sg_plugin_status_t apply(const sg_plugin_api_t *api, sg_plugin_req_t *req, const unsigned char *hash,
                                sg_plugin_key_status_t st, const char *tenant, size_t tenant_len)
{
    switch (st) {
    case SG_PLUGIN_KEY_VALID:
        if (api->req_set_tenant(req, tenant, tenant_len) == 0) {
            set_key_id(api, req, hash);
            return SG_PLUGIN_CONTINUE;
        }
        api->log(SG_PLUGIN_LOG_WARN, "key-auth: a valid key names tenant '%.*s', which is not defined", (int)tenant_len, tenant);
        api->respond_error(req, 401, "INVALID_API_KEY", "Invalid API key.");
        return SG_PLUGIN_RESPONDED;
    case SG_PLUGIN_KEY_EXPIRED:
        api->respond_error(req, 401, "INVALID_API_KEY", "The API key has expired.");
        return SG_PLUGIN_RESPONDED;
    case SG_PLUGIN_KEY_STORE_ERROR:
        api->respond_error(req, 503, "GATEWAY::STORE_UNAVAILABLE", "cannot verify the API key: the state store is unavailable");
        return SG_PLUGIN_RESPONDED;
    default:
        api->respond_error(req, 401, "INVALID_API_KEY", "Invalid API key.");
        return SG_PLUGIN_RESPONDED;
    }
}

static void on_lookup(void *data, sg_plugin_key_status_t st, sg_plugin_str_t tenant, int64_t expires_at_ms);

/* a key the gateway knows (valid or not) in Authorization is a credential too: it must not reach the upstream */
static sg_plugin_status_t check_bearer(ctx_t *ctx)
{
    const sg_plugin_api_t *api = ctx->api;
    entry_t e;
    if (!ctx->has_bearer)
        return SG_PLUGIN_CONTINUE;
    if (cache_get(ctx->conf, ctx->bearer_hash, api->now_ms(ctx->req), &e)) {
        if (e.status != SG_PLUGIN_KEY_UNKNOWN)
            api->req_strip_header(ctx->req, "authorization", 13);
        return SG_PLUGIN_CONTINUE;
    }
    ctx->checking_bearer = 1;
    api->key_lookup(ctx->req, ctx->bearer_hash, on_lookup, ctx);
    return SG_PLUGIN_SUSPENDED;
}

static void on_lookup(void *data, sg_plugin_key_status_t st, sg_plugin_str_t tenant, int64_t expires_at_ms)
{
    ctx_t *ctx = data;
    const sg_plugin_api_t *api = ctx->api;
    uint64_t now = api->now_ms(ctx->req);
    if (ctx->checking_bearer) {
        cache_put(ctx->conf, ctx->bearer_hash, st, tenant, expires_at_ms, now);
        if (st != SG_PLUGIN_KEY_UNKNOWN)
            api->req_strip_header(ctx->req, "authorization", 13);
        api->resume(ctx->req, SG_PLUGIN_CONTINUE);
        return;
    }
    cache_put(ctx->conf, ctx->hash, st, tenant, expires_at_ms, now);
    sg_plugin_status_t result = apply(api, ctx->req, ctx->hash, st, tenant.base, tenant.len);
    if (result == SG_PLUGIN_CONTINUE && ctx->has_bearer) {
        if (check_bearer(ctx) == SG_PLUGIN_SUSPENDED)
            return; /* resumed by the bearer lookup */
    }
    api->resume(ctx->req, result);
}

static sg_plugin_status_t on_request(const sg_plugin_api_t *api, sg_plugin_req_t *req, void *p, void *c)
{
    conf_t *conf = p;
    ctx_t *ctx = c;
    sg_plugin_str_t key = {NULL, 0}, auth, bearer = {NULL, 0}, token;
    /* the auth scheme is case-insensitive (RFC 9110 11.1) */
    if (api->req_header(req, "authorization", 13, &auth) && auth.len > 7 && strncasecmp(auth.base, "bearer ", 7) == 0) {
        bearer.base = auth.base + 7;
        bearer.len = auth.len - 7;
        while (bearer.len != 0 && bearer.base[0] == ' ')
            ++bearer.base, --bearer.len;
    }
    if (api->req_header(req, "open-sandbox-api-key", 20, &key) && key.len != 0) {
        api->req_strip_header(req, "open-sandbox-api-key", 20);
        /* the same key sent twice: neither copy may reach the upstream; another one is looked up */
        if (bearer.len == key.len && memcmp(bearer.base, key.base, key.len) == 0) {
            api->req_strip_header(req, "authorization", 13);
        } else if (bearer.len != 0) {
            api->sha256(bearer.base, bearer.len, ctx->bearer_hash);
            ctx->has_bearer = 1;
        }
    }
    /* the gateway already bound a tenant from a port credential it verified itself (a signed URL or its cookie) */
    int port_credential = (api->req_header(req, "x-sandgate-token", 16, &token) && token.len != 0) ||
                          (SG_PLUGIN_API_HAS(api, req_context) && api->req_context(req)->tenant.len != 0);
    if ((key.base == NULL || key.len == 0) && bearer.len != 0 && !port_credential) {
        key = bearer;
        api->req_strip_header(req, "authorization", 13);
    }
    if ((key.base == NULL || key.len == 0) && port_credential) {
        /* no key but a port access token (Endpoint.headers) or a signed URL: the gateway verifies it on port routes,
         * against the sandbox and port of the route, and refuses it elsewhere. A gateway key in Authorization is
         * still a credential and is not forwarded; anything else there belongs to the sandbox's service. */
        if (bearer.len == 0)
            return SG_PLUGIN_CONTINUE;
        ctx->api = api;
        ctx->req = req;
        ctx->conf = conf;
        api->sha256(bearer.base, bearer.len, ctx->bearer_hash);
        ctx->has_bearer = 1;
        return check_bearer(ctx);
    }
    if (key.base == NULL || key.len == 0) {
        api->respond_error(req, 401, "MISSING_API_KEY",
                           "Authentication credentials are missing. Provide the OPEN-SANDBOX-API-KEY header.");
        return SG_PLUGIN_RESPONDED;
    }
    ctx->api = api;
    ctx->req = req;
    ctx->conf = conf;
    api->sha256(key.base, key.len, ctx->hash);

    entry_t e;
    uint64_t now = api->now_ms(req);
    if (cache_get(conf, ctx->hash, now, &e)) {
        sg_plugin_key_status_t st = e.status;
        if (st == SG_PLUGIN_KEY_VALID && e.key_expires_at_ms != 0 && (uint64_t)e.key_expires_at_ms <= now)
            st = SG_PLUGIN_KEY_EXPIRED;
        sg_plugin_status_t result = apply(api, req, ctx->hash, st, e.tenant, strlen(e.tenant));
        return result == SG_PLUGIN_CONTINUE ? check_bearer(ctx) : result;
    }
    api->key_lookup(req, ctx->hash, on_lookup, ctx);
    return SG_PLUGIN_SUSPENDED;
}

const sg_plugin_t sg_plugin_key_auth = {
    .abi_version = SG_PLUGIN_ABI_VERSION,
    .name = "key-auth",
    .ctx_size = sizeof(ctx_t),
    .config_parse = config_parse,
    .config_free = config_free,
    .on_request = on_request,
    .descriptor_size = sizeof(sg_plugin_t),
};
