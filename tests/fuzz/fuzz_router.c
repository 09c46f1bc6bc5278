/*
 * Feeds: request-target paths to sg_router_classify (public and admin listener), port tokens (host labels and
 * OpenSandbox-Ingress-To values) to sg_router_classify_token, Host authorities to sg_router_host_label and base-36
 * expiries to sg_router_parse_b36 (util/router.h).
 * Asserts beyond "no crash": a parsed port route's id is a valid id and lies inside the input, its port is 1..65535,
 * the rest is the input's tail and starts with '/' or '?' when not empty; a signed route's expiry parses and its
 * signature is 12 base-36 characters inside the input; a token splits back into exactly the bytes it came from;
 * a host label is the input's first label; parse_b36 accepts only the canonical spelling (format round trip).
 */
#include <inttypes.h>
#include "util/router.h"
#include "fuzz.h"

static int is_sig_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z');
}

static void check_port_route(const sg_route_t *r, const char *in, size_t len)
{
    FUZZ_CHECK(r->cls == SG_ROUTE_PORT);
    FUZZ_CHECK(sg_router_valid_id(r->sandbox_id, r->sandbox_id_len));
    FUZZ_CHECK(fuzz_within(r->sandbox_id, r->sandbox_id_len, in, len));
    FUZZ_CHECK(r->port != 0);
    if (r->expires_b36 != NULL) {
        uint64_t v;
        FUZZ_CHECK(r->sig != NULL);
        FUZZ_CHECK(fuzz_within(r->expires_b36, r->expires_b36_len, in, len));
        FUZZ_CHECK(sg_router_parse_b36(r->expires_b36, r->expires_b36_len, &v) == 0);
        FUZZ_CHECK(fuzz_within(r->sig, SG_ROUTE_SIG_LEN, in, len));
        for (size_t i = 0; i != SG_ROUTE_SIG_LEN; ++i)
            FUZZ_CHECK(is_sig_char(r->sig[i]));
    } else {
        FUZZ_CHECK(r->sig == NULL && r->expires_b36_len == 0);
    }
}

static void fuzz_classify(const char *path, size_t len, int admin)
{
    sg_route_t r;
    int ret = sg_router_classify(path, len, admin, &r);
    FUZZ_CHECK(ret == 0 || ret == -1);
    FUZZ_CHECK(r.cls < SG_ROUTE_MAX);
    if (ret == -1) {
        FUZZ_CHECK(r.cls == SG_ROUTE_PORT && r.sig == NULL && r.expires_b36 == NULL);
        return;
    }
    if (admin)
        FUZZ_CHECK(r.cls == SG_ROUTE_ADMIN);
    if (r.cls != SG_ROUTE_PORT)
        return;
    check_port_route(&r, path, len);
    FUZZ_CHECK(fuzz_within(r.rest, r.rest_len, path, len) && r.rest + r.rest_len == path + len);
    FUZZ_CHECK(r.rest_len == 0 || r.rest[0] == '/' || r.rest[0] == '?');
    /* the route came from the path, before any query */
    const char *q = memchr(path, '?', len);
    FUZZ_CHECK(q == NULL || r.sandbox_id + r.sandbox_id_len <= q);
}

static void fuzz_token(const char *in, size_t len)
{
    /* "{token}/{path}": the token is what precedes the first '/' */
    const char *slash = memchr(in, '/', len);
    size_t tlen = slash != NULL ? (size_t)(slash - in) : len;
    const char *path = slash != NULL ? slash : "";
    size_t path_len = slash != NULL ? len - tlen : 0;
    sg_route_t r;
    if (sg_router_classify_token(in, tlen, path, path_len, SG_PORT_FORM_HOST, &r) != 0) {
        FUZZ_CHECK(r.cls == SG_ROUTE_PORT);
        return;
    }
    check_port_route(&r, in, tlen);
    FUZZ_CHECK(r.form == SG_PORT_FORM_HOST && r.rest == path && r.rest_len == path_len);
    /* the parts spell the token exactly: "{id}-{port}" or "{id}-{port}-{expires}-{sig}" */
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "%.*s-%u", (int)r.sandbox_id_len, r.sandbox_id, (unsigned)r.port);
    if (r.expires_b36 != NULL)
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, "-%.*s-%.*s", (int)r.expires_b36_len, r.expires_b36, SG_ROUTE_SIG_LEN,
                      r.sig);
    FUZZ_CHECK((size_t)n == tlen && memcmp(buf, in, tlen) == 0);
}

static void fuzz_host(const char *in, size_t len, const char *domain)
{
    size_t label_len = SIZE_MAX;
    const char *label = sg_router_host_label(in, len, domain, &label_len);
    if (label == NULL)
        return;
    size_t dlen = strlen(domain);
    FUZZ_CHECK(label == in && label_len != 0 && label_len + 1 + dlen <= len);
    FUZZ_CHECK(memchr(label, '.', label_len) == NULL && memchr(label, ':', label_len) == NULL);
    FUZZ_CHECK(in[label_len] == '.' && strncasecmp(in + label_len + 1, domain, dlen) == 0);
}

static void fuzz_b36(const char *in, size_t len, const uint8_t *raw, size_t raw_len)
{
    uint64_t v;
    char out[SG_ROUTE_EXPIRES_MAX + 1];
    if (sg_router_parse_b36(in, len, &v) == 0) {
        size_t n = sg_router_format_b36(v, out);
        FUZZ_CHECK(n == len && memcmp(out, in, len) == 0);
    }
    /* and the other way: any 64-bit value formats into something that parses back to it */
    uint64_t x = 0;
    memcpy(&x, raw, raw_len < sizeof(x) ? raw_len : sizeof(x));
    size_t n = sg_router_format_b36(x, out);
    FUZZ_CHECK(n >= 1 && n <= SG_ROUTE_EXPIRES_MAX && out[n] == '\0');
    FUZZ_CHECK(sg_router_parse_b36(out, n, &v) == 0 && v == x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    fuzz_classify(in, size, 0);
    fuzz_classify(in, size, 1);
    fuzz_token(in, size);
    fuzz_host(in, size, "sandbox.example.com");
    fuzz_host(in, size, "x");
    fuzz_b36(in, size, data, size);
    return 0;
}
