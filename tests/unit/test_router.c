/*
 * sg_router_classify / sg_router_valid_id (gateway/router.h).
 */
#include <string.h>
#include "util/router.h"
#include "test.h"

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
    return TEST_DONE();
}
