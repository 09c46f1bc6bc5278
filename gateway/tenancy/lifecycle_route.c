#include <string.h>
#include "tenancy/lifecycle_route.h"
#include "util/router.h"

static int is(const char *s, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

int sg_lc_op_is_sandbox_scoped(sg_lc_op_t op)
{
    return op >= SG_LC_GET_SANDBOX && op <= SG_LC_DIAGNOSTICS;
}

void sg_lc_route_parse(const char *method, size_t method_len, const char *path, size_t path_len, sg_lc_route_t *out)
{
    const char *q = memchr(path, '?', path_len);
    const char *end = q != NULL ? q : path + path_len;
    const char *seg[6];
    size_t seglen[6], n = 0;

    memset(out, 0, sizeof(*out));
    /* split "/v1/a/b/c" into segments; a trailing slash is not a segment */
    const char *p = path;
    while (p < end && n < 6) {
        if (*p == '/')
            ++p;
        const char *s = p;
        while (p < end && *p != '/')
            ++p;
        if (p == s && p == end)
            break;
        seg[n] = s;
        seglen[n++] = p - s;
    }
    if (p < end || n < 2 || !is(seg[0], seglen[0], "v1"))
        return;
#define METHOD(m) is(method, method_len, m)
#define SEG(i, lit) is(seg[i], seglen[i], lit)
    if (n >= 3) {
        out->id = seg[2];
        out->id_len = seglen[2];
        out->id_valid = sg_router_valid_id(seg[2], seglen[2]);
    }
    sg_lc_op_t op = SG_LC_UNKNOWN;
    if (SEG(1, "sandboxes")) {
        if (n == 2)
            op = METHOD("GET") ? SG_LC_LIST_SANDBOXES : METHOD("POST") ? SG_LC_CREATE_SANDBOX : SG_LC_METHOD_NOT_ALLOWED;
        else if (n == 3)
            op = METHOD("GET") ? SG_LC_GET_SANDBOX : METHOD("DELETE") ? SG_LC_DELETE_SANDBOX : SG_LC_METHOD_NOT_ALLOWED;
        else if (n == 4 && SEG(3, "metadata"))
            op = METHOD("PATCH") ? SG_LC_PATCH_METADATA : SG_LC_METHOD_NOT_ALLOWED;
        else if (n == 4 && (SEG(3, "pause") || SEG(3, "resume") || SEG(3, "renew-expiration") || SEG(3, "snapshots")))
            op = !METHOD("POST")       ? SG_LC_METHOD_NOT_ALLOWED
                 : SEG(3, "pause")     ? SG_LC_PAUSE
                 : SEG(3, "resume")    ? SG_LC_RESUME
                 : SEG(3, "snapshots") ? SG_LC_CREATE_SNAPSHOT
                                       : SG_LC_RENEW;
        else if (n == 4 && SEG(3, "networkpolicy"))
            op = METHOD("GET") || METHOD("PUT") || METHOD("PATCH") || METHOD("POST") || METHOD("DELETE") ? SG_LC_NETWORK_POLICY
                                                                                                         : SG_LC_METHOD_NOT_ALLOWED;
        else if (n == 5 && SEG(3, "endpoints")) {
            unsigned port = 0;
            size_t i;
            for (i = 0; i != seglen[4] && i < 6 && seg[4][i] >= '0' && seg[4][i] <= '9'; ++i)
                port = port * 10 + (seg[4][i] - '0');
            if (i == seglen[4] && i != 0 && port >= 1 && port <= 65535) {
                out->port = (uint16_t)port;
                op = METHOD("GET") ? SG_LC_ENDPOINT : SG_LC_METHOD_NOT_ALLOWED;
            }
        } else if (n == 5 && SEG(3, "diagnostics") && (SEG(4, "logs") || SEG(4, "events")))
            op = METHOD("GET") ? SG_LC_DIAGNOSTICS : SG_LC_METHOD_NOT_ALLOWED;
    } else if (SEG(1, "snapshots")) {
        if (n == 2)
            op = METHOD("GET") ? SG_LC_LIST_SNAPSHOTS : SG_LC_METHOD_NOT_ALLOWED;
        else if (n == 3)
            op = METHOD("GET") ? SG_LC_GET_SNAPSHOT : METHOD("DELETE") ? SG_LC_DELETE_SNAPSHOT : SG_LC_METHOD_NOT_ALLOWED;
    }
#undef METHOD
#undef SEG
    out->op = op;
}
