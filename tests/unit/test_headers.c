/*
 * sg_headers_is_hop_by_hop / sg_headers_connection / sg_headers_build_request
 * (gateway/headers.h): the exact bytes of the request head sent upstream.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "proxy/headers.h"
#include "test.h"

static h2o_mem_pool_t pool;

static h2o_iovec_t iov(const char *s)
{
    return h2o_iovec_init(s, strlen(s));
}

/*
 * A client header as h2o hands it over: lower-case NAME (a token when h2o knows the
 * name, like the parser does), the name as received in ORIG (NULL: same as NAME).
 */
static h2o_header_t hdr_orig(const char *name, const char *orig, const char *value)
{
    const h2o_token_t *token = h2o_lookup_token(name, strlen(name));
    h2o_iovec_t *n;
    if (token != NULL) {
        n = (h2o_iovec_t *)&token->buf;
    } else {
        n = h2o_mem_alloc_pool(&pool, sizeof(*n));
        *n = iov(name);
    }
    return (h2o_header_t){n, orig, iov(value)};
}

static h2o_header_t hdr(const char *name, const char *value)
{
    return hdr_orig(name, NULL, value);
}

static sg_upstream_head_t base_head(void)
{
    return (sg_upstream_head_t){.method = iov("GET"),
                                .path_prefix = iov(""),
                                .path = iov("/"),
                                .host = iov("backend:8080"),
                                .client_addr = iov("192.0.2.7"),
                                .client_proto = iov("http"),
                                .client_host = iov(""),
                                .request_id = iov(""),
                                .content_length = SIZE_MAX};
}

static void test_hop_by_hop(void)
{
    static const char *const hop[] = {"connection",       "keep-alive",         "te",
                                      "trailer",          "transfer-encoding",  "upgrade",
                                      "proxy-connection", "proxy-authenticate", "proxy-authorization",
                                      "http2-settings"};
    static const char *const end_to_end[] = {"host",         "content-length",
                                             "accept",       "authorization",
                                             "cookie",       "x-request-id",
                                             "tee",          "t",
                                             "keep-alive2",  "upgrade-insecure-requests",
                                             "content-type", "trailers"};
    for (size_t i = 0; i != sizeof(hop) / sizeof(hop[0]); ++i) {
        if (!sg_headers_is_hop_by_hop(iov(hop[i]), iov("")))
            fprintf(stderr, "  (name: %s)\n", hop[i]);
        CHECK_INT(sg_headers_is_hop_by_hop(iov(hop[i]), iov("")), 1);
    }
    for (size_t i = 0; i != sizeof(end_to_end) / sizeof(end_to_end[0]); ++i) {
        if (sg_headers_is_hop_by_hop(iov(end_to_end[i]), iov("")))
            fprintf(stderr, "  (name: %s)\n", end_to_end[i]);
        CHECK_INT(sg_headers_is_hop_by_hop(iov(end_to_end[i]), iov("")), 0);
    }
    /* the length of the name is what counts */
    CHECK_INT(sg_headers_is_hop_by_hop(h2o_iovec_init("text", 2), iov("")), 1);

    /* names listed in Connection, case-insensitively, with any spacing */
    h2o_iovec_t conn = iov("keep-alive, X-Secret,,\tFoo-Bar ,baz");
    CHECK_INT(sg_headers_is_hop_by_hop(iov("x-secret"), conn), 1);
    CHECK_INT(sg_headers_is_hop_by_hop(iov("foo-bar"), conn), 1);
    CHECK_INT(sg_headers_is_hop_by_hop(iov("baz"), conn), 1);
    CHECK_INT(sg_headers_is_hop_by_hop(iov("x-secre"), conn), 0);
    CHECK_INT(sg_headers_is_hop_by_hop(iov("x-secret2"), conn), 0);
    CHECK_INT(sg_headers_is_hop_by_hop(iov("foo"), conn), 0);
    CHECK_INT(sg_headers_is_hop_by_hop(iov("accept"), conn), 0);
    CHECK_INT(sg_headers_is_hop_by_hop(iov("close"), iov("close")), 1);
    CHECK_INT(sg_headers_is_hop_by_hop(iov("accept"), iov(",, ,")), 0);
}

static void test_connection(void)
{
    h2o_header_t none[] = {hdr("accept", "*/*"), hdr("x-connection", "a")};
    h2o_iovec_t c = sg_headers_connection(&pool, none, 2);
    CHECK_INT(c.len, 0);
    c = sg_headers_connection(&pool, NULL, 0);
    CHECK_INT(c.len, 0);

    h2o_header_t one[] = {hdr("accept", "*/*"), hdr("connection", "close")};
    c = sg_headers_connection(&pool, one, 2);
    CHECK_MEM(c.base, c.len, "close");

    h2o_header_t three[] = {hdr("connection", "keep-alive"), hdr("accept", "*/*"), hdr("connection", "X-A, x-b"),
                            hdr("connection", "upgrade")};
    c = sg_headers_connection(&pool, three, 4);
    CHECK_MEM(c.base, c.len, "keep-alive,X-A, x-b,upgrade");
    CHECK_INT(sg_headers_is_hop_by_hop(iov("x-b"), c), 1);
    CHECK_INT(sg_headers_is_hop_by_hop(iov("x-a"), c), 1);
}

/* everything at once: a proxied request with all kinds of client headers */
static void test_build_full(void)
{
    h2o_header_t client[] = {
        hdr("host", "client.example"),
        hdr_orig("user-agent", "User-Agent", "curl/8"),
        hdr("connection", "keep-alive, X-Secret"),
        hdr("x-secret", "listed in connection"),
        hdr("keep-alive", "timeout=5"),
        hdr("te", "trailers"),
        hdr("trailer", "x-checksum"),
        hdr("transfer-encoding", "chunked"),
        hdr("upgrade", "h2c"),
        hdr("proxy-connection", "keep-alive"),
        hdr("proxy-authorization", "Basic eDp5"),
        hdr("x-forwarded-for", "203.0.113.1"),
        hdr("accept", "*/*"),
        hdr("x-forwarded-proto", "http"),
        hdr("x-forwarded-host", "evil.example"),
        hdr("x-request-id", "client-chosen"),
        hdr("content-length", "5"),
        hdr_orig("open-sandbox-api-key", "OPEN-Sandbox-API-KEY", "client-key"),
        hdr_orig("authorization", "Authorization", "Bearer client"),
        hdr("x-forwarded-for", "198.51.100.2, 10.1.1.1"),
        hdr("connection", "Upgrade, x-other"),
        hdr("x-other", "also listed"),
        hdr("cookie", "a=b"),
        hdr("expect", "100-continue"),
        hdr("x-plugin", "from the client"),
        hdr_orig("x-keep", "X-Keep", "1"),
        hdr("accept", "text/html"),
    };
    static h2o_iovec_t key_name = {H2O_STRLIT("open-sandbox-api-key")}, plugin_name = {H2O_STRLIT("x-plugin")};
    h2o_header_t extra[] = {{&key_name, NULL, {H2O_STRLIT("backend-key")}}, {&plugin_name, NULL, {H2O_STRLIT("p")}}};
    static const h2o_iovec_t strip[] = {{H2O_STRLIT("open-sandbox-api-key")}, {H2O_STRLIT("authorization")}};

    sg_upstream_head_t h = base_head();
    h.path_prefix = iov("/proxy/8080");
    h.path = iov("/a%2Fb/../c//d?q=1&r=%2F..");
    h.host = iov("10.0.0.1:8080");
    h.client_proto = iov("https");
    h.client_host = iov("gw.example.com");
    h.request_id = iov("rid-1");
    h.extra = extra;
    h.num_extra = 2;
    h.strip = strip;
    h.num_strip = 2;

    h2o_iovec_t out = sg_headers_build_request(&pool, &h, client, sizeof(client) / sizeof(client[0]));
    CHECK_MEM(out.base, out.len,
              "GET /proxy/8080/a%2Fb/../c//d?q=1&r=%2F.. HTTP/1.1\r\n"
              "host: 10.0.0.1:8080\r\n"
              "User-Agent: curl/8\r\n"
              "accept: */*\r\n"
              "cookie: a=b\r\n"
              "X-Keep: 1\r\n"
              "accept: text/html\r\n"
              "x-forwarded-for: 203.0.113.1, 198.51.100.2, 10.1.1.1, 192.0.2.7\r\n"
              "x-forwarded-proto: https\r\n"
              "x-forwarded-host: gw.example.com\r\n"
              "x-request-id: rid-1\r\n"
              "connection: keep-alive\r\n"
              "open-sandbox-api-key: backend-key\r\n"
              "x-plugin: p\r\n"
              "\r\n");
}

static void test_build_minimal(void)
{
    /* no client headers, no forwarded host, no request id, no body */
    sg_upstream_head_t h = base_head();
    h2o_iovec_t out = sg_headers_build_request(&pool, &h, NULL, 0);
    CHECK_MEM(out.base, out.len,
              "GET / HTTP/1.1\r\n"
              "host: backend:8080\r\n"
              "x-forwarded-for: 192.0.2.7\r\n"
              "x-forwarded-proto: http\r\n"
              "connection: keep-alive\r\n"
              "\r\n");
}

static void test_build_paths(void)
{
    static const struct {
        const char *prefix, *path, *line;
    } cases[] = {
        {"", "", "GET / HTTP/1.1\r\n"},
        {"", "?a=b", "GET /?a=b HTTP/1.1\r\n"},
        {"/api", "", "GET /api/ HTTP/1.1\r\n"},
        {"/api", "/v1/sandboxes", "GET /api/v1/sandboxes HTTP/1.1\r\n"},
        {"/api", "?x", "GET /api/?x HTTP/1.1\r\n"},
        {"", "/%2e%2e/%2F/..;/./", "GET /%2e%2e/%2F/..;/./ HTTP/1.1\r\n"},
        {"", "/../../etc/passwd", "GET /../../etc/passwd HTTP/1.1\r\n"},
        {"", "/a b", "GET /a b HTTP/1.1\r\n"}, /* not re-encoded: what h2o accepted goes through */
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        sg_upstream_head_t h = base_head();
        h.path_prefix = iov(cases[i].prefix);
        h.path = iov(cases[i].path);
        h2o_iovec_t out = sg_headers_build_request(&pool, &h, NULL, 0);
        size_t line_len = strlen(cases[i].line);
        if (!(out.len > line_len && memcmp(out.base, cases[i].line, line_len) == 0))
            fprintf(stderr, "  (prefix \"%s\", path \"%s\")\n", cases[i].prefix, cases[i].path);
        CHECK_MEM(out.base, out.len > line_len ? line_len : out.len, cases[i].line);
    }

    /* a 10 KB query string goes through byte for byte */
    size_t qlen = 10 * 1024;
    char *path = malloc(qlen + 3), *expected = malloc(qlen + 256);
    memcpy(path, "/q?", 3);
    for (size_t i = 0; i != qlen - 3; ++i)
        path[3 + i] = "a=%2F&..;/b"[i % 11];
    path[qlen] = '\0';
    sg_upstream_head_t h = base_head();
    h.method = iov("DELETE");
    h.path_prefix = iov("/pre");
    h.path = h2o_iovec_init(path, qlen);
    h2o_iovec_t out = sg_headers_build_request(&pool, &h, NULL, 0);
    snprintf(expected, qlen + 256,
             "DELETE /pre%s HTTP/1.1\r\nhost: backend:8080\r\nx-forwarded-for: 192.0.2.7\r\nx-forwarded-proto: http\r\n"
             "connection: keep-alive\r\n\r\n",
             path);
    CHECK_INT(out.len, strlen(expected));
    CHECK(out.len == strlen(expected) && memcmp(out.base, expected, out.len) == 0);
    free(path);
    free(expected);
}

static void test_build_content_length(void)
{
    static const struct {
        size_t cl;
        const char *expected;
    } cases[] = {
        {SIZE_MAX, "POST /upload HTTP/1.1\r\nhost: backend:8080\r\naccept: */*\r\nx-forwarded-for: 192.0.2.7\r\n"
                   "x-forwarded-proto: http\r\nconnection: keep-alive\r\n\r\n"},
        {0, "POST /upload HTTP/1.1\r\nhost: backend:8080\r\naccept: */*\r\ncontent-length: 0\r\nx-forwarded-for: 192.0.2.7\r\n"
            "x-forwarded-proto: http\r\nconnection: keep-alive\r\n\r\n"},
        {5, "POST /upload HTTP/1.1\r\nhost: backend:8080\r\naccept: */*\r\ncontent-length: 5\r\nx-forwarded-for: 192.0.2.7\r\n"
            "x-forwarded-proto: http\r\nconnection: keep-alive\r\n\r\n"},
        {SIZE_MAX - 1, "POST /upload HTTP/1.1\r\nhost: backend:8080\r\naccept: */*\r\ncontent-length: 18446744073709551614\r\n"
                       "x-forwarded-for: 192.0.2.7\r\nx-forwarded-proto: http\r\nconnection: keep-alive\r\n\r\n"},
    };
    /* the client's own Content-Length (and Transfer-Encoding) never go through */
    h2o_header_t client[] = {hdr("content-length", "999"), hdr("accept", "*/*"), hdr("transfer-encoding", "chunked")};
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        sg_upstream_head_t h = base_head();
        h.method = iov("POST");
        h.path = iov("/upload");
        h.content_length = cases[i].cl;
        h2o_iovec_t out = sg_headers_build_request(&pool, &h, client, 3);
        CHECK_MEM(out.base, out.len, cases[i].expected);
    }
}

static void test_build_websocket(void)
{
    h2o_header_t client[] = {hdr("connection", "Upgrade"), hdr("upgrade", "websocket"),
                             hdr("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="), hdr("sec-websocket-version", "13"),
                             hdr("sec-websocket-protocol", "chat")};
    sg_upstream_head_t h = base_head();
    h.path = iov("/ws?token=1");
    h.is_websocket = 1;
    h.request_id = iov("r");
    h2o_iovec_t out = sg_headers_build_request(&pool, &h, client, 5);
    CHECK_MEM(out.base, out.len,
              "GET /ws?token=1 HTTP/1.1\r\n"
              "host: backend:8080\r\n"
              "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              "sec-websocket-version: 13\r\n"
              "sec-websocket-protocol: chat\r\n"
              "x-forwarded-for: 192.0.2.7\r\n"
              "x-forwarded-proto: http\r\n"
              "x-request-id: r\r\n"
              "connection: upgrade\r\n"
              "upgrade: websocket\r\n"
              "\r\n");
}

static void test_build_strip_and_extra(void)
{
    /* strip and extra: client names are lower-case (orig_name keeps the received case) */
    static const h2o_iovec_t strip[] = {{H2O_STRLIT("x-api-key")}};
    static h2o_iovec_t extra_name = {H2O_STRLIT("x-tenant")};
    h2o_header_t extra[] = {{&extra_name, NULL, {H2O_STRLIT("t1")}}};
    h2o_header_t client[] = {hdr_orig("x-api-key", "X-API-KEY", "k1"), hdr_orig("x-tenant", "X-TENANT", "forged"),
                             hdr("x-tenant", "forged2"), hdr("x-api-key-id", "kept"), hdr_orig("x-api-key", "x-Api-Key", "k2")};
    sg_upstream_head_t h = base_head();
    h.strip = strip;
    h.num_strip = 1;
    h.extra = extra;
    h.num_extra = 1;
    h2o_iovec_t out = sg_headers_build_request(&pool, &h, client, 5);
    CHECK_MEM(out.base, out.len,
              "GET / HTTP/1.1\r\n"
              "host: backend:8080\r\n"
              "x-api-key-id: kept\r\n"
              "x-forwarded-for: 192.0.2.7\r\n"
              "x-forwarded-proto: http\r\n"
              "connection: keep-alive\r\n"
              "x-tenant: t1\r\n"
              "\r\n");

    /* an extra header listed in the client's Connection header still goes upstream (it is ours) */
    h2o_header_t client2[] = {hdr("connection", "x-tenant"), hdr("x-tenant", "forged")};
    out = sg_headers_build_request(&pool, &h, client2, 2);
    CHECK_MEM(out.base, out.len,
              "GET / HTTP/1.1\r\n"
              "host: backend:8080\r\n"
              "x-forwarded-for: 192.0.2.7\r\n"
              "x-forwarded-proto: http\r\n"
              "connection: keep-alive\r\n"
              "x-tenant: t1\r\n"
              "\r\n");

    /* an extra header whose name is not lower-case replaces the client's too (the comparison is case-insensitive) */
    static h2o_iovec_t mixed_name = {H2O_STRLIT("X-Tenant")};
    h2o_header_t mixed[] = {{&mixed_name, NULL, {H2O_STRLIT("t1")}}};
    sg_upstream_head_t hm = base_head();
    hm.extra = mixed;
    hm.num_extra = 1;
    out = sg_headers_build_request(&pool, &hm, client2 + 1, 1);
    CHECK(h2o_memis(out.base, out.len,
                    H2O_STRLIT("GET / HTTP/1.1\r\nhost: backend:8080\r\nx-forwarded-for: 192.0.2.7\r\nx-forwarded-proto: http\r\n"
                               "connection: keep-alive\r\nX-Tenant: t1\r\n\r\n")));

    /* many long headers: the buffer is sized from the inputs */
    enum { N = 64 };
    h2o_header_t many[N];
    char *values[N];
    for (size_t i = 0; i != N; ++i) {
        values[i] = malloc(1001);
        memset(values[i], 'a' + (char)(i % 26), 1000);
        values[i][1000] = '\0';
        many[i] = hdr(i % 2 == 0 ? "x-forwarded-for" : "x-long", values[i]);
    }
    out = sg_headers_build_request(&pool, &h, many, N);
    size_t expected_len = strlen("GET / HTTP/1.1\r\nhost: backend:8080\r\n") + (N / 2) * strlen("x-long: \r\n") + (N / 2) * 1000 +
                          strlen("x-forwarded-for: ") + (N / 2) * 1002 + strlen("192.0.2.7\r\n") +
                          strlen("x-forwarded-proto: http\r\nconnection: keep-alive\r\nx-tenant: t1\r\n\r\n");
    CHECK_INT(out.len, expected_len);
    for (size_t i = 0; i != N; ++i)
        free(values[i]);
}

int main(void)
{
    h2o_mem_init_pool(&pool);
    test_hop_by_hop();
    test_connection();
    test_build_full();
    test_build_minimal();
    test_build_paths();
    test_build_content_length();
    test_build_websocket();
    test_build_strip_and_extra();
    h2o_mem_clear_pool(&pool);
    return TEST_DONE();
}
