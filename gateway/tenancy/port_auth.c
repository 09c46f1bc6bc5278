/*
 * Port credentials other than the tenant key (port_auth.h): access tokens, signed routes, the browser cookie.
 */
#include <stdio.h>
#include <string.h>
#include "config/port_token.h"
#include "tenancy/ownership.h"
#include "tenancy/port_auth.h"
#include "util/keyhash.h"
#include "util/router.h"
#include "runtime/thread.h"

#define MAX_COOKIE_TRIES 4

typedef struct st_signed_check_t {
    sg_request_t *r;
    void (*next)(sg_request_t *r);
    char id[SG_STORE_ID_MAX + 1];
    const char *expires_b36; /* from the route or the cookie */
    size_t expires_len;
    const char *sig;
    sg_port_auth_t ok;                     /* SG_PORT_AUTH_SIGNED or _COOKIE */
    h2o_iovec_t cookies[MAX_COOKIE_TRIES]; /* more cookie values to try when the first does not verify */
    size_t num_cookies, next_cookie;
} signed_check_t;

/* the credential id plugins see (req_context): a prefix and the first 12 hex digits of the credential's SHA-256 */
static void set_key_id(sg_request_t *r, const char *prefix, const char *cred, size_t len)
{
    unsigned char hash[32];
    sg_keyhash_compute(cred, len, hash);
    char *id = h2o_mem_alloc_pool(&r->req->pool, 17);
    memcpy(id, prefix, 4);
    for (size_t i = 0; i != 6; ++i)
        sprintf(id + 4 + i * 2, "%02x", hash[i]);
    r->key_id = h2o_iovec_init(id, 16);
}

/* Binds tenant (a NUL-terminated name): 1 when bound (tenant_def stays NULL for a tenant kept in the store, resolved by
 * the pipeline), 0 when no such tenant can exist. */
static int bind_tenant(sg_request_t *r, const char *tenant)
{
    size_t len = strlen(tenant);
    const sg_tenant_t *t = sg_config_find_tenant(r->config, tenant);
    if (t == NULL && !(r->config->store.use_redis && sg_router_valid_id(tenant, len)))
        return 0;
    if (t != NULL) {
        r->tenant = h2o_iovec_init(t->id, len);
        r->tenant_def = t;
    } else {
        r->tenant = h2o_strdup(&r->req->pool, tenant, len);
    }
    return 1;
}

static void check_token(sg_request_t *r, h2o_iovec_t token)
{
    char tenant[SG_STORE_ID_MAX + 1];
    switch (sg_port_token_verify(&r->config->port_tokens, token.base, token.len, r->route.sandbox_id, r->route.sandbox_id_len,
                                 r->route.port, tenant, sizeof(tenant))) {
    case SG_PORT_TOKEN_OK:
        if (bind_tenant(r, tenant)) {
            set_key_id(r, "tok:", token.base, token.len);
            r->port_auth = SG_PORT_AUTH_TOKEN;
            return;
        }
        break;
    case SG_PORT_TOKEN_UNAVAILABLE:
        r->port_auth = SG_PORT_AUTH_UNAVAILABLE;
        return;
    default:
        break;
    }
    r->port_auth = SG_PORT_AUTH_BAD_TOKEN;
}

void sg_port_auth_each_cookie(const h2o_headers_t *headers, int (*fn)(void *data, h2o_iovec_t name, h2o_iovec_t value), void *data)
{
    for (ssize_t i = -1; (i = h2o_find_header(headers, H2O_TOKEN_COOKIE, i)) != -1;) {
        const char *p = headers->entries[i].value.base, *end = p + headers->entries[i].value.len;
        while (p < end) {
            const char *semi = memchr(p, ';', (size_t)(end - p)), *stop = semi != NULL ? semi : end;
            while (p < stop && (*p == ' ' || *p == '\t'))
                ++p;
            const char *eq = memchr(p, '=', (size_t)(stop - p));
            h2o_iovec_t name = h2o_iovec_init(p, eq != NULL ? (size_t)(eq - p) : (size_t)(stop - p));
            h2o_iovec_t value = eq != NULL ? h2o_iovec_init(eq + 1, (size_t)(stop - eq - 1)) : h2o_iovec_init(NULL, 0);
            while (value.len != 0 && (value.base[value.len - 1] == ' ' || value.base[value.len - 1] == '\t'))
                --value.len;
            if (name.len != 0 && fn(data, name, value))
                return;
            if (stop == end)
                break; /* end + 1 would point past the buffer */
            p = stop + 1;
        }
    }
}

static int collect_gateway_cookie(void *data, h2o_iovec_t name, h2o_iovec_t value)
{
    signed_check_t *sc = data;
    const char *cname = sc->r->config->ports.cookie_name;
    if (value.base != NULL && h2o_memis(name.base, name.len, cname, strlen(cname)))
        sc->cookies[sc->num_cookies++] = value;
    return sc->num_cookies == MAX_COOKIE_TRIES;
}

/* the next cookie value of the gateway's name that has the right shape; 0 when one was loaded into sc */
static int next_cookie(signed_check_t *sc)
{
    while (sc->next_cookie != sc->num_cookies) {
        h2o_iovec_t v = sc->cookies[sc->next_cookie++];
        if (sg_router_parse_signature(v.base, v.len, &sc->expires_b36, &sc->expires_len, &sc->sig) == 0)
            return 0;
    }
    return -1;
}

static void on_signed_owner(sg_request_t *r, void *data, const char *err, const sg_sandbox_rec_t *rec)
{
    signed_check_t *sc = data;
    if (err != NULL) {
        r->port_auth = SG_PORT_AUTH_UNAVAILABLE;
    } else if (rec == NULL) {
        r->port_auth = SG_PORT_AUTH_NOT_FOUND;
    } else {
        uint64_t expires = 0, now_s = sg_now_us() / 1000000;
        do {
            sg_port_token_result_t res =
                sg_port_token_verify_route(&r->config->port_tokens, rec->tenant, strlen(rec->tenant), sc->id, strlen(sc->id),
                                           r->route.port, sc->expires_b36, sc->expires_len, sc->sig);
            if (res == SG_PORT_TOKEN_UNAVAILABLE) {
                r->port_auth = SG_PORT_AUTH_UNAVAILABLE;
                break;
            }
            if (res != SG_PORT_TOKEN_OK) {
                r->port_auth = SG_PORT_AUTH_BAD_SIGNATURE;
                continue;
            }
            /* genuine: its expiry is the one that was signed */
            sg_router_parse_b36(sc->expires_b36, sc->expires_len, &expires);
            if (expires <= now_s) { /* valid strictly before E, as minting refuses E <= now */
                r->port_auth = SG_PORT_AUTH_EXPIRED;
                continue;
            }
            if (bind_tenant(r, rec->tenant)) {
                set_key_id(r, "url:", sc->sig, SG_ROUTE_SIG_LEN);
                r->port_auth = sc->ok;
            } else {
                r->port_auth = SG_PORT_AUTH_BAD_SIGNATURE;
            }
            break;
        } while (sc->ok == SG_PORT_AUTH_COOKIE && next_cookie(sc) == 0);
    }
    /* refused at once: without a tenant key (checked before) nothing in the chain could authenticate it, and key-auth
     * would only say the key is missing */
    if (r->port_auth == sc->ok)
        sc->next(r);
    else
        sg_port_auth_refuse(r);
}

void sg_port_auth_before_chain(sg_request_t *r, void (*next)(sg_request_t *r))
{
    h2o_req_t *req = r->req;
    if (r->route.cls != SG_ROUTE_PORT || r->route.sandbox_id == NULL || r->tenant.base != NULL ||
        h2o_find_header_by_str(&req->headers, H2O_STRLIT("open-sandbox-api-key"), -1) != -1) {
        next(r);
        return;
    }
    /* the signature in the route first, then the token header, then the browser cookie (path form only) */
    signed_check_t *sc = NULL;
    if (r->route.sig != NULL) {
        sc = h2o_mem_alloc_pool(&req->pool, sizeof(*sc));
        *sc = (signed_check_t){.expires_b36 = r->route.expires_b36,
                               .expires_len = r->route.expires_b36_len,
                               .sig = r->route.sig,
                               .ok = SG_PORT_AUTH_SIGNED};
    } else {
        ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT(SG_PORT_TOKEN_HEADER_LC), -1);
        if (i != -1) {
            check_token(r, req->headers.entries[i].value);
            next(r);
            return;
        }
        if (r->route.form == SG_PORT_FORM_PATH) {
            sc = h2o_mem_alloc_pool(&req->pool, sizeof(*sc));
            *sc = (signed_check_t){.ok = SG_PORT_AUTH_COOKIE};
            sc->r = r;
            sg_port_auth_each_cookie(&r->req->headers, collect_gateway_cookie, sc);
            if (next_cookie(sc) != 0)
                sc = NULL;
        }
    }
    if (sc == NULL || !sg_router_valid_id(r->route.sandbox_id, r->route.sandbox_id_len)) {
        next(r);
        return;
    }
    sc->r = r;
    sc->next = next;
    memcpy(sc->id, r->route.sandbox_id, r->route.sandbox_id_len);
    sc->id[r->route.sandbox_id_len] = '\0';
    sg_ownership_sandbox_any(r, sc->id, on_signed_owner, sc);
}

void sg_port_auth_refuse(sg_request_t *r)
{
    switch ((sg_port_auth_t)r->port_auth) {
    case SG_PORT_AUTH_BAD_TOKEN:
        /* one body for every failure: a caller learns nothing about which part was wrong */
        sg_request_fail(r, SG_ERR_INVALID_API_KEY, "Invalid access token.");
        return;
    case SG_PORT_AUTH_BAD_SIGNATURE:
        sg_request_fail(r, SG_ERR_INVALID_SIGNATURE, "Invalid signed URL.");
        return;
    case SG_PORT_AUTH_EXPIRED:
        sg_request_fail(r, SG_ERR_SIGNED_URL_EXPIRED, NULL);
        return;
    case SG_PORT_AUTH_UNAVAILABLE:
        sg_request_fail(r, SG_ERR_STORE_UNAVAILABLE, "cannot verify the port credential now (shared secret or owner record)");
        return;
    case SG_PORT_AUTH_NOT_FOUND: {
        char msg[SG_STORE_ID_MAX + 32];
        snprintf(msg, sizeof(msg), "Sandbox %.*s not found.", (int)r->route.sandbox_id_len, r->route.sandbox_id);
        sg_request_fail(r, SG_ERR_SANDBOX_NOT_FOUND, msg);
        return;
    }
    default:
        sg_request_fail(r, SG_ERR_MISSING_API_KEY, NULL);
        return;
    }
}

/* a top-level navigation by a browser (not a fetch, an <img> or an API client) */
static int is_navigation(h2o_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-fetch-mode"), -1);
    if (i != -1)
        return h2o_memis(req->headers.entries[i].value.base, req->headers.entries[i].value.len, H2O_STRLIT("navigate"));
    i = h2o_find_header(&req->headers, H2O_TOKEN_ACCEPT, -1);
    return i != -1 &&
           h2o_strstr(req->headers.entries[i].value.base, req->headers.entries[i].value.len, H2O_STRLIT("text/html")) != SIZE_MAX;
}

int sg_port_auth_redirect(sg_request_t *r)
{
    h2o_req_t *req = r->req;
    if (r->port_auth != SG_PORT_AUTH_SIGNED || r->route.form != SG_PORT_FORM_PATH ||
        !(h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
          h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) ||
        !is_navigation(req))
        return 0;
    uint64_t expires = 0, now_s = sg_now_us() / 1000000;
    sg_router_parse_b36(r->route.expires_b36, r->route.expires_b36_len, &expires);
    char base[SG_STORE_ID_MAX + 40];
    int bn = snprintf(base, sizeof(base), "/sandboxes/%.*s/port/%u", (int)r->route.sandbox_id_len, r->route.sandbox_id,
                      (unsigned)r->route.port);
    h2o_iovec_t rest = h2o_iovec_init(r->route.rest, r->route.rest_len);
    h2o_iovec_t location =
        h2o_concat(&req->pool, h2o_iovec_init(base, (size_t)bn),
                   rest.len == 0 || rest.base[0] == '?' ? h2o_iovec_init(H2O_STRLIT("/")) : h2o_iovec_init("", 0), rest);
    /* the cookie holds the same signature, scoped to this sandbox and port; it dies with the URL */
    char cookie[512];
    int cn =
        snprintf(cookie, sizeof(cookie), "%s=%.*s-%.*s; Path=%.*s; Max-Age=%llu; HttpOnly; SameSite=Lax%s",
                 r->config->ports.cookie_name, (int)r->route.expires_b36_len, r->route.expires_b36, SG_ROUTE_SIG_LEN, r->route.sig,
                 bn, base, (unsigned long long)(expires - now_s), req->scheme == &H2O_URL_SCHEME_HTTPS ? "; Secure" : "");
    req->res.status = 302;
    req->res.reason = sg_reason_phrase(302);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL, location.base, location.len);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SET_COOKIE, NULL, h2o_strdup(&req->pool, cookie, (size_t)cn).base,
                   (size_t)cn);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("referrer-policy"), 0, NULL, H2O_STRLIT("no-referrer"));
    req->res.content_length = 0;
    h2o_send_inline(req, "", 0);
    return 1;
}

typedef struct st_cookie_join_t {
    sg_request_t *r;
    h2o_iovec_t out;
} cookie_join_t;

static int join_sandbox_cookie(void *data, h2o_iovec_t name, h2o_iovec_t value)
{
    cookie_join_t *j = data;
    const char *cname = j->r->config->ports.cookie_name;
    if (h2o_memis(name.base, name.len, cname, strlen(cname)))
        return 0;
    h2o_iovec_t pair = value.base != NULL ? h2o_iovec_init(name.base, (size_t)(value.base + value.len - name.base)) : name;
    j->out = j->out.len == 0 ? pair : h2o_concat(&j->r->req->pool, j->out, h2o_iovec_init(H2O_STRLIT("; ")), pair);
    return 0;
}

h2o_iovec_t sg_port_auth_sandbox_cookies(sg_request_t *r)
{
    cookie_join_t j = {r, {NULL, 0}};
    sg_port_auth_each_cookie(&r->req->headers, join_sandbox_cookie, &j);
    return j.out;
}
