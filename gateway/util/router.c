#include <string.h>
#include <strings.h>
#include "util/router.h"

static const char *const class_names[SG_ROUTE_MAX] = {"unknown", "health", "lifecycle", "port", "admin"};

const char *sg_route_class_name(sg_route_class_t cls)
{
    return cls < SG_ROUTE_MAX ? class_names[cls] : "unknown";
}

int sg_router_valid_id(const char *id, size_t len)
{
    if (len == 0 || len > 128)
        return 0;
    if ((len == 1 && id[0] == '.') || (len == 2 && id[0] == '.' && id[1] == '.'))
        return 0;
    for (size_t i = 0; i != len; ++i) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

static int has_prefix(const char *s, size_t len, const char *prefix)
{
    size_t plen = strlen(prefix);
    return len >= plen && memcmp(s, prefix, plen) == 0;
}

int sg_router_parse_b36(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > SG_ROUTE_EXPIRES_MAX || (len > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i != len; ++i) {
        unsigned d;
        if (s[i] >= '0' && s[i] <= '9')
            d = (unsigned)(s[i] - '0');
        else if (s[i] >= 'a' && s[i] <= 'z')
            d = (unsigned)(s[i] - 'a') + 10;
        else
            return -1;
        if (v > (UINT64_MAX - d) / 36)
            return -1;
        v = v * 36 + d;
    }
    *out = v;
    return 0;
}

size_t sg_router_format_b36(uint64_t v, char *out)
{
    char tmp[SG_ROUTE_EXPIRES_MAX];
    size_t n = 0;
    do {
        unsigned d = (unsigned)(v % 36);
        tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= 36;
    } while (v != 0);
    for (size_t i = 0; i != n; ++i)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

static int is_sig(const char *s, size_t len)
{
    if (len != SG_ROUTE_SIG_LEN)
        return 0;
    for (size_t i = 0; i != len; ++i)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z')))
            return 0;
    return 1;
}

/* a port number in canonical spelling (1..65535, no leading zero); 0 if not */
static unsigned parse_port_number(const char *s, size_t len)
{
    unsigned port = 0;
    if (len == 0 || len > 5 || s[0] == '0')
        return 0;
    for (size_t i = 0; i != len; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        port = port * 10 + (unsigned)(s[i] - '0');
    }
    return port <= 65535 ? port : 0;
}

int sg_router_parse_signature(const char *s, size_t len, const char **expires_b36, size_t *expires_len, const char **sig)
{
    uint64_t expires;
    if (len < SG_ROUTE_SIG_LEN + 2)
        return -1;
    const char *at = s + len - SG_ROUTE_SIG_LEN;
    if (at[-1] != '-' || !is_sig(at, SG_ROUTE_SIG_LEN) || sg_router_parse_b36(s, (size_t)(at - 1 - s), &expires) != 0)
        return -1;
    *expires_b36 = s;
    *expires_len = (size_t)(at - 1 - s);
    *sig = at;
    return 0;
}

/* "-{expires_b36}-{sig}" at p (ending at end): the signed parts into out; returns 0 or -1 */
static int parse_signed_tail(const char *p, const char *end, sg_route_t *out)
{
    if (p == end || *p != '-')
        return -1;
    return sg_router_parse_signature(p + 1, (size_t)(end - p - 1), &out->expires_b36, &out->expires_b36_len, &out->sig);
}

int sg_router_classify_token(const char *token, size_t len, const char *path, size_t path_len, sg_port_form_t form, sg_route_t *out)
{
    const char *end = token + len;
    memset(out, 0, sizeof(*out));
    out->cls = SG_ROUTE_PORT;
    out->form = form;
    out->rest = path;
    out->rest_len = path_len;
    /* signed: the last three dash-separated parts are port, expiry and signature */
    const char *d3 = NULL, *d2 = NULL, *d1 = NULL;
    for (const char *p = end; p != token; --p) {
        if (p[-1] != '-')
            continue;
        if (d1 == NULL)
            d1 = p - 1;
        else if (d2 == NULL)
            d2 = p - 1;
        else {
            d3 = p - 1;
            break;
        }
    }
    if (d3 != NULL && d3 != token && parse_signed_tail(d2, end, out) == 0) {
        unsigned port = parse_port_number(d3 + 1, (size_t)(d2 - d3 - 1));
        if (port != 0 && sg_router_valid_id(token, (size_t)(d3 - token))) {
            out->sandbox_id = token;
            out->sandbox_id_len = (size_t)(d3 - token);
            out->port = (uint16_t)port;
            return 0;
        }
    }
    out->expires_b36 = out->sig = NULL;
    out->expires_b36_len = 0;
    /* unsigned: "{id}-{port}" at the last dash */
    unsigned port = d1 != NULL ? parse_port_number(d1 + 1, (size_t)(end - d1 - 1)) : 0;
    if (port == 0 || !sg_router_valid_id(token, (size_t)(d1 - token)))
        return -1;
    out->sandbox_id = token;
    out->sandbox_id_len = (size_t)(d1 - token);
    out->port = (uint16_t)port;
    return 0;
}

const char *sg_router_host_label(const char *authority, size_t len, const char *domain, size_t *label_len)
{
    size_t dlen = strlen(domain), hlen = len;
    if (len != 0 && authority[0] == '[')
        return NULL; /* an IPv6 literal */
    const char *colon = memchr(authority, ':', len);
    if (colon != NULL)
        hlen = (size_t)(colon - authority);
    if (hlen != 0 && authority[hlen - 1] == '.')
        --hlen; /* the absolute form "name.domain." */
    if (hlen < dlen + 2 || authority[hlen - dlen - 1] != '.' || strncasecmp(authority + hlen - dlen, domain, dlen) != 0)
        return NULL;
    size_t l = hlen - dlen - 1;
    if (memchr(authority, '.', l) != NULL)
        return NULL;
    *label_len = l;
    return authority;
}

/* parses "{id}/{kind}/{port}[/rest]" after "/sandboxes/"; kind is "port" or "proxy" */
static int parse_port_route(const char *p, const char *end, int allow_port_kind, sg_route_t *out)
{
    const char *slash = memchr(p, '/', end - p);
    out->cls = SG_ROUTE_PORT;
    if (slash == NULL)
        return -1;
    out->sandbox_id = p;
    out->sandbox_id_len = slash - p;
    p = slash + 1;
    if (has_prefix(p, end - p, "proxy/")) {
        p += 6;
        out->form = SG_PORT_FORM_PROXY;
    } else if (allow_port_kind && has_prefix(p, end - p, "port/")) {
        p += 5;
    } else {
        out->form = SG_PORT_FORM_PROXY;
        return -1;
    }
    unsigned port = 0;
    const char *digits = p;
    while (p != end && *p >= '0' && *p <= '9' && p - digits < 6)
        port = port * 10 + (*p++ - '0');
    if (p != digits && out->form == SG_PORT_FORM_PATH && p != end && *p == '-') {
        /* the signed path form: the port segment is "{port}-{expires_b36}-{sig}" */
        const char *seg_end = p;
        while (seg_end != end && *seg_end != '/' && *seg_end != '?')
            ++seg_end;
        if (parse_signed_tail(p, seg_end, out) != 0 || digits[0] == '0')
            return -1;
        p = seg_end;
    }
    if (p == digits || port == 0 || port > 65535 || (p != end && *p != '/' && *p != '?'))
        return -1;
    out->port = (uint16_t)port;
    /* "/sandboxes/x/port/8080" or "...8080?q" leave rest empty or a bare query: the sandbox sees "/" (+ query) */
    out->rest = p;
    out->rest_len = end - p;
    if (!sg_router_valid_id(out->sandbox_id, out->sandbox_id_len))
        return -1;
    return 0;
}

/* a malformed port path carries no signature: it is refused as an unknown route, not as a bad credential */
static int port_route(const char *p, const char *end, int allow_port_kind, sg_route_t *out)
{
    if (parse_port_route(p, end, allow_port_kind, out) == 0)
        return 0;
    out->sig = out->expires_b36 = NULL;
    out->expires_b36_len = 0;
    return -1;
}

int sg_router_classify(const char *path, size_t len, int is_admin_listener, sg_route_t *out)
{
    const char *end = path + len, *q = memchr(path, '?', len);
    size_t plen = q != NULL ? (size_t)(q - path) : len;

    memset(out, 0, sizeof(*out));
    if (is_admin_listener) {
        out->cls = SG_ROUTE_ADMIN;
        return 0;
    }
    if (plen == 7 && memcmp(path, "/health", 7) == 0) {
        out->cls = SG_ROUTE_HEALTH;
        return 0;
    }
    if (has_prefix(path, plen, "/sandboxes/"))
        return port_route(path + 11, end, 1, out);
    if (has_prefix(path, plen, "/v1/sandboxes/")) {
        /* "/v1/sandboxes/{id}/proxy/{port}" is port traffic, everything else lifecycle */
        const char *id = path + 14, *slash = memchr(id, '/', plen - 14);
        if (slash != NULL && has_prefix(slash, path + plen - slash, "/proxy/"))
            return port_route(id, end, 0, out);
    }
    if (has_prefix(path, plen, "/v1/") || (plen == 3 && memcmp(path, "/v1", 3) == 0)) {
        out->cls = SG_ROUTE_LIFECYCLE;
        return 0;
    }
    out->cls = SG_ROUTE_UNKNOWN;
    return 0;
}
