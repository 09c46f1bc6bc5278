#include <string.h>
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
    if (has_prefix(p, end - p, "proxy/"))
        p += 6;
    else if (allow_port_kind && has_prefix(p, end - p, "port/"))
        p += 5;
    else
        return -1;
    unsigned port = 0;
    const char *digits = p;
    while (p != end && *p >= '0' && *p <= '9' && p - digits < 6)
        port = port * 10 + (*p++ - '0');
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
        return parse_port_route(path + 11, end, 1, out);
    if (has_prefix(path, plen, "/v1/sandboxes/")) {
        /* "/v1/sandboxes/{id}/proxy/{port}" is port traffic, everything else lifecycle */
        const char *id = path + 14, *slash = memchr(id, '/', plen - 14);
        if (slash != NULL && has_prefix(slash, path + plen - slash, "/proxy/"))
            return parse_port_route(id, end, 0, out);
    }
    if (has_prefix(path, plen, "/v1/") || (plen == 3 && memcmp(path, "/v1", 3) == 0)) {
        out->cls = SG_ROUTE_LIFECYCLE;
        return 0;
    }
    out->cls = SG_ROUTE_UNKNOWN;
    return 0;
}
