/*
 * sg_router_classify / sg_router_valid_id (gateway/router.h).
 */
#include <string.h>
#include <stdint.h>
#include "util/router.h"
#include "test.h"

#define LIT(s) (s), sizeof(s) - 1

/* classifies the NUL-terminated PATH on the public listener */
static int classify(const char *path, sg_route_t *out)
{
    return sg_router_classify(path, strlen(path), 0, out);
}

/* a route that is not port traffic carries no sandbox fields */
static void check_plain(const char *path, sg_route_class_t cls)
{
    sg_route_t r;
    memset(&r, 0xa5, sizeof(r));
    CHECK_INT(classify(path, &r), 0);
    CHECK_INT(r.cls, cls);
    CHECK(r.sandbox_id == NULL);
    CHECK_INT(r.sandbox_id_len, 0);
    CHECK_INT(r.port, 0);
    CHECK(r.rest == NULL);
    CHECK_INT(r.rest_len, 0);
}

/* port traffic: id, port and the path sent to the sandbox */
static void check_port(const char *path, const char *id, unsigned port, const char *rest)
{
    sg_route_t r;
    CHECK_INT(classify(path, &r), 0);
    CHECK_INT(r.cls, SG_ROUTE_PORT);
    CHECK_MEM(r.sandbox_id, r.sandbox_id_len, id);
    CHECK_INT(r.port, port);
    CHECK_MEM(r.rest, r.rest_len, rest);
    /* rest is the tail of the received target, not a copy */
    CHECK(r.rest == path + strlen(path) - strlen(rest));
}

/* malformed port traffic: -1 with the port class */
static void check_port_error(const char *path, size_t len)
{
    sg_route_t r;
    CHECK_INT(sg_router_classify(path, len, 0, &r), -1);
    CHECK_INT(r.cls, SG_ROUTE_PORT);
}

static void test_health(void)
{
    check_plain("/health", SG_ROUTE_HEALTH);
    check_plain("/health?x", SG_ROUTE_HEALTH);
    check_plain("/health?", SG_ROUTE_HEALTH);
    check_plain("/health/", SG_ROUTE_UNKNOWN);
    check_plain("/healthz", SG_ROUTE_UNKNOWN);
    check_plain("/Health", SG_ROUTE_UNKNOWN);
    /* the length is what counts, not a NUL */
    sg_route_t r;
    CHECK_INT(sg_router_classify("/healthXYZ", 7, 0, &r), 0);
    CHECK_INT(r.cls, SG_ROUTE_HEALTH);
}

static void test_lifecycle(void)
{
    check_plain("/v1/sandboxes", SG_ROUTE_LIFECYCLE);
    check_plain("/v1/sandboxes/", SG_ROUTE_LIFECYCLE);
    check_plain("/v1/sandboxes/abc", SG_ROUTE_LIFECYCLE);
    check_plain("/v1/sandboxes/abc/pause", SG_ROUTE_LIFECYCLE);
    check_plain("/v1/sandboxes/abc/proxy", SG_ROUTE_LIFECYCLE); /* no "/proxy/" */
    check_plain("/v1/sandboxes/abc/endpoints/8080", SG_ROUTE_LIFECYCLE);
    check_plain("/v1/sandboxes?state=Running", SG_ROUTE_LIFECYCLE);
    check_plain("/v1", SG_ROUTE_LIFECYCLE);
    check_plain("/v1/", SG_ROUTE_LIFECYCLE);
    check_plain("/v1?x", SG_ROUTE_LIFECYCLE);
    /* "/proxy/" only counts in the path, not in the query */
    check_plain("/v1/sandboxes/abc?next=/proxy/8080", SG_ROUTE_LIFECYCLE);
}

static void test_unknown(void)
{
    check_plain("/", SG_ROUTE_UNKNOWN);
    check_plain("", SG_ROUTE_UNKNOWN);
    check_plain("/v10/sandboxes", SG_ROUTE_UNKNOWN);
    check_plain("/v1x", SG_ROUTE_UNKNOWN);
    check_plain("/v2/sandboxes", SG_ROUTE_UNKNOWN);
    check_plain("/admin/v1/backends", SG_ROUTE_UNKNOWN);
    check_plain("/metrics", SG_ROUTE_UNKNOWN);
    check_plain("/sandboxes", SG_ROUTE_UNKNOWN); /* no trailing slash: not the port prefix */
    check_plain("/x?/sandboxes/abc/port/80", SG_ROUTE_UNKNOWN);
    check_plain("*", SG_ROUTE_UNKNOWN);
}

static void test_admin(void)
{
    static const char *const paths[] = {"/admin/v1/backends", "/metrics", "/health", "/v1/sandboxes", "/sandboxes/abc/port/0", ""};
    for (size_t i = 0; i != sizeof(paths) / sizeof(paths[0]); ++i) {
        sg_route_t r;
        CHECK_INT(sg_router_classify(paths[i], strlen(paths[i]), 1, &r), 0);
        CHECK_INT(r.cls, SG_ROUTE_ADMIN);
        CHECK(r.sandbox_id == NULL);
    }
}

static void test_port(void)
{
    check_port("/v1/sandboxes/abc/proxy/8080/x?y", "abc", 8080, "/x?y");
    check_port("/v1/sandboxes/abc/proxy/8080", "abc", 8080, "");
    check_port("/v1/sandboxes/abc/proxy/8080/", "abc", 8080, "/");
    check_port("/v1/sandboxes/abc/proxy/8080?q=1", "abc", 8080, "?q=1");
    check_port("/sandboxes/abc/port/44772", "abc", 44772, "");
    check_port("/sandboxes/abc/port/44772/", "abc", 44772, "/");
    check_port("/sandboxes/abc/port/1/a/b%2Fc/../d?e=/f", "abc", 1, "/a/b%2Fc/../d?e=/f");
    check_port("/sandboxes/abc/proxy/65535/z", "abc", 65535, "/z");
    check_port("/sandboxes/A-b_c.9/port/80/", "A-b_c.9", 80, "/");
    check_port("/sandboxes/abc/port/0080/x", "abc", 80, "/x"); /* leading zeros are accepted */

    /* a sandbox id is one path segment */
    char id128[128 + 1], path[256];
    memset(id128, 'a', 128);
    id128[128] = '\0';
    snprintf(path, sizeof(path), "/sandboxes/%s/port/8080/q", id128);
    check_port(path, id128, 8080, "/q");
}

static void test_port_errors(void)
{
    static const char *const bad[] = {
        "/sandboxes/abc/port/0",
        "/sandboxes/abc/port/99999",
        "/sandboxes/abc/port/65536",
        "/sandboxes/abc/port/8080x",
        "/sandboxes/abc/port/8080x/y",
        "/sandboxes/abc/port/",
        "/sandboxes/abc/port",
        "/sandboxes/abc/port/-1",
        "/sandboxes/abc/port/1000000",
        "/sandboxes/abc/port/0000080",
        "/sandboxes/abc",
        "/sandboxes/",
        "/sandboxes/abc/",
        "/sandboxes/abc/ports/80",
        "/sandboxes/abc/proxy/x",
        "/sandboxes//port/80",
        "/sandboxes/a%2Fb/port/80",
        "/sandboxes/../port/80",
        "/sandboxes/./port/80",
        "/sandboxes/abc?x=/port/80",
        "/sandboxes/a b/port/80",
        "/sandboxes/\xc3\xa9t\xc3\xa9/port/80",
        "/v1/sandboxes/abc/proxy/0",
        "/v1/sandboxes/abc/proxy/99999",
        "/v1/sandboxes/abc/proxy/8080x",
        "/v1/sandboxes/abc/proxy/",
        "/v1/sandboxes/a%2Fb/proxy/80",
        "/v1/sandboxes/../proxy/80",
        "/v1/sandboxes//proxy/80",
        /* the public API only knows "proxy" under /v1 */
        "/v1/sandboxes/abc/proxy/port/80",
    };
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        sg_route_t r;
        int ret = sg_router_classify(bad[i], strlen(bad[i]), 0, &r);
        if (ret != -1 || r.cls != SG_ROUTE_PORT)
            fprintf(stderr, "  (path: \"%s\")\n", bad[i]);
        CHECK_INT(ret, -1);
        CHECK_INT(r.cls, SG_ROUTE_PORT);
    }
    /* "/v1/sandboxes/abc/port/80" is not port traffic at all (only "proxy" there) */
    check_plain("/v1/sandboxes/abc/port/80", SG_ROUTE_LIFECYCLE);

    char id129[129 + 1], path[256];
    memset(id129, 'a', 129);
    id129[129] = '\0';
    snprintf(path, sizeof(path), "/sandboxes/%s/port/8080", id129);
    check_port_error(path, strlen(path));
    snprintf(path, sizeof(path), "/v1/sandboxes/%s/proxy/8080", id129);
    check_port_error(path, strlen(path));
    /* a NUL inside the id */
    check_port_error("/sandboxes/a\0b/port/80", sizeof("/sandboxes/a\0b/port/80") - 1);
}

static void test_valid_id(void)
{
    CHECK_INT(sg_router_valid_id("abc", 3), 1);
    CHECK_INT(sg_router_valid_id("a", 1), 1);
    CHECK_INT(sg_router_valid_id("Az09._-", 7), 1);
    CHECK_INT(sg_router_valid_id("...", 3), 1); /* only "." and ".." are refused */
    CHECK_INT(sg_router_valid_id(".a", 2), 1);
    CHECK_INT(sg_router_valid_id("", 0), 0);
    CHECK_INT(sg_router_valid_id(".", 1), 0);
    CHECK_INT(sg_router_valid_id("..", 2), 0);
    CHECK_INT(sg_router_valid_id("a%2Fb", 5), 0);
    CHECK_INT(sg_router_valid_id("a/b", 3), 0);
    CHECK_INT(sg_router_valid_id("a b", 3), 0);
    CHECK_INT(sg_router_valid_id("a?b", 3), 0);
    CHECK_INT(sg_router_valid_id("a:b", 3), 0);
    CHECK_INT(sg_router_valid_id("\xc3\xa9", 2), 0);
    CHECK_INT(sg_router_valid_id("a\xff", 2), 0);
    CHECK_INT(sg_router_valid_id("a\0b", 3), 0);
    /* the length is what counts: "ab" of "ab/c" */
    CHECK_INT(sg_router_valid_id("ab/c", 2), 1);

    char id[130];
    memset(id, 'x', sizeof(id));
    CHECK_INT(sg_router_valid_id(id, 128), 1);
    CHECK_INT(sg_router_valid_id(id, 129), 0);
    CHECK_INT(sg_router_valid_id(id, 130), 0);
}

static void test_class_names(void)
{
    CHECK_STR(sg_route_class_name(SG_ROUTE_UNKNOWN), "unknown");
    CHECK_STR(sg_route_class_name(SG_ROUTE_HEALTH), "health");
    CHECK_STR(sg_route_class_name(SG_ROUTE_LIFECYCLE), "lifecycle");
    CHECK_STR(sg_route_class_name(SG_ROUTE_PORT), "port");
    CHECK_STR(sg_route_class_name(SG_ROUTE_ADMIN), "admin");
    CHECK_STR(sg_route_class_name(SG_ROUTE_MAX), "unknown");
}

static void test_signed_routes(void)
{
    sg_route_t r;
    char buf[64];
    uint64_t v;
    /* OSEP-0011 expires_b36: 2000000000 is "x2qxvk"; no leading zeros, lower case only, fits uint64 */
    CHECK_INT(sg_router_format_b36(2000000000, buf), 6);
    CHECK_STR(buf, "x2qxvk");
    CHECK_INT(sg_router_format_b36(0, buf), 1);
    CHECK_STR(buf, "0");
    CHECK_INT(sg_router_format_b36(UINT64_MAX, buf), 13);
    CHECK_STR(buf, "3w5e11264sgsf");
    CHECK_INT(sg_router_parse_b36(LIT("x2qxvk"), &v), 0);
    CHECK(v == 2000000000);
    CHECK_INT(sg_router_parse_b36(LIT("3w5e11264sgsf"), &v), 0);
    CHECK(v == UINT64_MAX);
    CHECK_INT(sg_router_parse_b36(LIT("3w5e11264sgsg"), &v), -1); /* overflow */
    CHECK_INT(sg_router_parse_b36(LIT("0x2qxvk"), &v), -1);
    CHECK_INT(sg_router_parse_b36(LIT("X2QXVK"), &v), -1);
    CHECK_INT(sg_router_parse_b36(LIT(""), &v), -1);
    CHECK_INT(sg_router_parse_b36(LIT("0"), &v), 0);

    /* the signed path form: the port segment carries expiry and signature; the rest goes to the sandbox */
    const char *p = "/sandboxes/ab-cd-1/port/8080-x2qxvk-k1234567890a/app.js?x=1";
    CHECK_INT(sg_router_classify(p, strlen(p), 0, &r), 0);
    CHECK_INT(r.cls, SG_ROUTE_PORT);
    CHECK_INT(r.form, SG_PORT_FORM_PATH);
    CHECK(r.sandbox_id_len == 7 && memcmp(r.sandbox_id, "ab-cd-1", 7) == 0);
    CHECK_INT(r.port, 8080);
    CHECK(r.expires_b36_len == 6 && memcmp(r.expires_b36, "x2qxvk", 6) == 0);
    CHECK(r.sig != NULL && memcmp(r.sig, "k1234567890a", 12) == 0);
    CHECK(r.rest_len == 11 && memcmp(r.rest, "/app.js?x=1", 11) == 0);
    p = "/sandboxes/x/port/80-1-k1234567890a";
    CHECK_INT(sg_router_classify(p, strlen(p), 0, &r), 0);
    CHECK(r.rest_len == 0 && r.port == 80 && r.sig != NULL);
    /* malformed signed segments are not routes (a 404 as before), never a prefix the sandbox sees */
    static const char *const bad[] = {"/sandboxes/x/port/8080-x2qxvk-k1234567890", "/sandboxes/x/port/8080-x2qxvk-K1234567890a",
                                      "/sandboxes/x/port/8080-X2-k1234567890a",    "/sandboxes/x/port/8080--k1234567890a",
                                      "/sandboxes/x/port/08080-x2-k1234567890a",   "/sandboxes/x/proxy/8080-x2-k1234567890a",
                                      "/sandboxes/x/port/8080-x2-k1234567890ab",   "/sandboxes/x/port/8080-x2-k1234567890a-"};
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        CHECK_INT(sg_router_classify(bad[i], strlen(bad[i]), 0, &r), -1);
        CHECK(r.sig == NULL);
    }

    /* tokens (host labels, OpenSandbox-Ingress-To): split from the right, ids keep their dashes */
    CHECK_INT(sg_router_classify_token(LIT("0e57-44b0-acf9-8080"), LIT("/x"), SG_PORT_FORM_HOST, &r), 0);
    CHECK(r.sandbox_id_len == 14 && memcmp(r.sandbox_id, "0e57-44b0-acf9", 14) == 0 && r.port == 8080 && r.sig == NULL);
    CHECK(r.rest_len == 2 && r.form == SG_PORT_FORM_HOST);
    CHECK_INT(sg_router_classify_token(LIT("0e57-44b0-8080-tpcs47-06mqodyhnhn4"), LIT("/"), SG_PORT_FORM_HEADER, &r), 0);
    CHECK(r.sandbox_id_len == 9 && r.port == 8080 && r.sig != NULL && r.expires_b36_len == 6);
    /* a signature made only of digits is still read as one (no port has 12 digits) */
    CHECK_INT(sg_router_classify_token(LIT("sb-1-x2-123456789012"), LIT("/"), SG_PORT_FORM_HOST, &r), 0);
    CHECK(r.sig != NULL && r.port == 1 && r.sandbox_id_len == 2);
    /* a three-part token with a bad signature falls back to "{id}-{port}" at the last dash */
    CHECK_INT(sg_router_classify_token(LIT("a-80-x2-9090"), LIT("/"), SG_PORT_FORM_HOST, &r), 0);
    CHECK(r.sig == NULL && r.port == 9090 && r.sandbox_id_len == 7);
    static const char *const bad_tokens[] = {"8080",      "-8080",   "abc",    "abc-",  "abc-0",
                                             "abc-65536", "abc-080", "a/b-80", "..-80", ""};
    for (size_t i = 0; i != sizeof(bad_tokens) / sizeof(bad_tokens[0]); ++i) {
        CHECK_INT(sg_router_classify_token(bad_tokens[i], strlen(bad_tokens[i]), LIT("/"), SG_PORT_FORM_HOST, &r), -1);
        CHECK_INT(r.cls, SG_ROUTE_PORT);
    }

    /* host labels: exactly one label under the domain, without case, any port */
    size_t len;
    const char *l = sg_router_host_label(LIT("Sb-1-8080.Sandbox.Test:8443"), "sandbox.test", &len);
    CHECK(l != NULL && len == 9 && memcmp(l, "Sb-1-8080", 9) == 0);
    CHECK(sg_router_host_label(LIT("sb-1-8080.sandbox.test."), "sandbox.test", &len) != NULL && len == 9);
    CHECK(sg_router_host_label(LIT("sandbox.test"), "sandbox.test", &len) == NULL);
    CHECK(sg_router_host_label(LIT(".sandbox.test"), "sandbox.test", &len) == NULL);
    CHECK(sg_router_host_label(LIT("evilsandbox.test"), "sandbox.test", &len) == NULL);
    CHECK(sg_router_host_label(LIT("a.b-80.sandbox.test"), "sandbox.test", &len) == NULL);
    CHECK(sg_router_host_label(LIT("[::1]:80"), "sandbox.test", &len) == NULL);
    CHECK(sg_router_host_label(LIT("sb-80.sandbox.testx"), "sandbox.test", &len) == NULL);
}

int main(void)
{
    test_health();
    test_lifecycle();
    test_unknown();
    test_admin();
    test_port();
    test_port_errors();
    test_valid_id();
    test_class_names();
    test_signed_routes();
    return TEST_DONE();
}
