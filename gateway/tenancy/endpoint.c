/*
 * Endpoint answers (endpoint.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "config/config.h"
#include "config/port_token.h"
#include "tenancy/endpoint.h"
#include "util/router.h"
#include "util/urlenc.h"

int sg_endpoint_parse_query(sg_request_t *r, sg_endpoint_query_t *q)
{
    h2o_req_t *req = r->req;
    const char *p = req->query_at != SIZE_MAX ? req->path.base + req->query_at + 1 : "", *end = p;
    h2o_iovec_t name, value;
    int has_expires = 0;
    char msg[256];
    memset(q, 0, sizeof(*q));
    if (req->query_at != SIZE_MAX)
        end = req->path.base + req->path.len;
    while (sg_query_next(&p, end, &name, &value)) {
        if (h2o_memis(name.base, name.len, H2O_STRLIT("use_server_proxy"))) {
            q->server_proxy = value.base != NULL && h2o_memis(value.base, value.len, H2O_STRLIT("true"));
        } else if (h2o_memis(name.base, name.len, H2O_STRLIT("expires"))) {
            /* the spec's pattern ^(0|[1-9][0-9]*)$, at most 20 digits, and it must fit a uint64 */
            uint64_t v = 0;
            int ok = value.base != NULL && value.len != 0 && value.len <= 20 && (value.len == 1 || value.base[0] != '0');
            for (size_t i = 0; ok && i != value.len; ++i) {
                unsigned d = (unsigned)(value.base[i] - '0');
                ok = value.base[i] >= '0' && value.base[i] <= '9' && v <= (UINT64_MAX - d) / 10;
                v = v * 10 + d;
            }
            if (!ok) {
                sg_request_fail(r, SG_ERR_INVALID_REQUEST, "expires must be a whole number of Unix epoch seconds");
                return -1;
            }
            q->expires_s = v;
            has_expires = 1;
        }
    }
    if (!has_expires)
        return 0;
    if (q->server_proxy) {
        sg_request_fail(r, SG_ERR_INVALID_REQUEST, "expires cannot be combined with use_server_proxy=true");
        return -1;
    }
    uint64_t now_s = sg_now_us() / 1000000;
    if (q->expires_s <= now_s) {
        snprintf(msg, sizeof(msg), "expires is in the past (%llu, now %llu)", (unsigned long long)q->expires_s,
                 (unsigned long long)now_s);
        sg_request_fail(r, SG_ERR_INVALID_REQUEST, msg);
        return -1;
    }
    uint64_t max_s = r->tenant_def->policy.max_signed_lifetime_s != 0 ? r->tenant_def->policy.max_signed_lifetime_s
                                                                      : r->config->ports.max_signed_lifetime_s;
    if (q->expires_s - now_s > max_s) {
        snprintf(msg, sizeof(msg), "expires is %llu s ahead, beyond the longest signed URL lifetime of tenant %s (%llu s)",
                 (unsigned long long)(q->expires_s - now_s), r->tenant_def->id, (unsigned long long)max_s);
        sg_request_fail(r, SG_ERR_SIGNED_URL_TOO_LONG, msg);
        return -1;
    }
    return 0;
}

/* the host[:port] clients reach the gateway by: lifecycle.public_url, else the request's authority */
static h2o_iovec_t public_base(sg_request_t *r)
{
    const char *base = r->config->lifecycle.public_url;
    if (base == NULL)
        return r->req->input.authority;
    const char *p = strstr(base, "://");
    p = p != NULL ? p + 3 : base;
    size_t len = strlen(p);
    while (len != 0 && p[len - 1] == '/')
        --len;
    return h2o_iovec_init(p, len);
}

/* ":port" of a host[:port] ("" when it has none) */
static h2o_iovec_t port_suffix(h2o_iovec_t base)
{
    for (size_t i = base.len; i != 0; --i) {
        if (base.base[i - 1] == ':')
            return h2o_iovec_init(base.base + i - 1, base.len - (i - 1));
        if (base.base[i - 1] == ']' || base.base[i - 1] == '/')
            break;
    }
    return h2o_iovec_init("", 0);
}

void sg_endpoint_send(sg_request_t *r, const char *id, uint16_t port, const sg_endpoint_query_t *q)
{
    h2o_iovec_t base = public_base(r);
    const sg_port_token_conf_t *pt = &r->config->port_tokens;
    uint64_t form = r->tenant_def->policy.endpoint_form != 0 ? r->tenant_def->policy.endpoint_form : r->config->ports.endpoint_form;
    if (r->config->ports.sandbox_domain == NULL)
        form = SG_ENDPOINT_FORM_PATH; /* a tenant kept in the store may ask for host without a domain */
    char signed_part[SG_ROUTE_EXPIRES_MAX + SG_ROUTE_SIG_LEN + 4] = "", buf[1024];
    if (q->expires_s != 0) {
        char e36[SG_ROUTE_EXPIRES_MAX + 1], sig[SG_ROUTE_SIG_LEN + 1];
        size_t elen = sg_router_format_b36(q->expires_s, e36);
        if (sg_port_token_sign_route(pt, r->tenant.base, r->tenant.len, id, strlen(id), port, e36, elen, sig) != SG_PORT_TOKEN_OK)
            goto Unavailable;
        snprintf(signed_part, sizeof(signed_part), "-%s-%s", e36, sig);
    }
    if (q->server_proxy)
        snprintf(buf, sizeof(buf), "%.*s/v1/sandboxes/%s/proxy/%u", (int)base.len, base.base, id, (unsigned)port);
    else if (form == SG_ENDPOINT_FORM_HOST) {
        h2o_iovec_t suffix = port_suffix(base);
        snprintf(buf, sizeof(buf), "%s-%u%s.%s%.*s", id, (unsigned)port, signed_part, r->config->ports.sandbox_domain,
                 (int)suffix.len, suffix.base);
    } else
        snprintf(buf, sizeof(buf), "%.*s/sandboxes/%s/port/%u%s", (int)base.len, base.base, id, (unsigned)port, signed_part);
    json_t *obj;
    if (q->expires_s != 0) {
        obj = json_pack("{s:s}", "endpoint", buf); /* the URL is the credential */
    } else {
        /* the SDKs copy Endpoint.headers onto every request to the endpoint; the Python SDK sends nothing else there
         * (no tenant key), so this token is what authenticates its execd traffic (port_token.h). The backend's own
         * endpoint headers are applied toward the backend by port.c and never shown. */
        char token[SG_PORT_TOKEN_MAX + 1];
        if (sg_port_token_mint(pt, r->tenant.base, r->tenant.len, id, strlen(id), port, token, sizeof(token)) != SG_PORT_TOKEN_OK)
            goto Unavailable;
        obj = json_pack("{s:s, s:{s:s}}", "endpoint", buf, "headers", SG_PORT_TOKEN_HEADER, token);
    }
    char *text = json_dumps(obj, JSON_COMPACT);
    sg_request_json(r, 200, text, strlen(text));
    free(text);
    json_decref(obj);
    return;
Unavailable:
    sg_request_fail(r, SG_ERR_STORE_UNAVAILABLE, "cannot sign the endpoint: the shared secret is not loaded yet");
}
