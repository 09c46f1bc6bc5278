/*
 * sg_config_load() (gateway/config.h) on YAML files written by the test: defaults,
 * explicit values, TLS listeners (certificates made with the openssl CLI, SNI checked
 * with an in-memory handshake), plugin chains per route class, and the exact
 * "file:line: message" errors.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include "backend/backend.h"
#include "config/config.h"
#include "util/keyhash.h"
#include "plugin/pipeline.h"
#include "util.h"

#ifndef SG_SOURCE_DIR
#error "SG_SOURCE_DIR must be defined (the top of the source tree)"
#endif

/* three lines: one backend */
#define BASE_BACKENDS                                                                                                              \
    "backends:\n"                                                                                                                  \
    "  - name: a\n"                                                                                                                \
    "    url: http://127.0.0.1:1\n"

/* lines 1-5 of most test configs: one plain listener and one backend */
#define BASE                                                                                                                       \
    "listen:\n"                                                                                                                    \
    "  - address: 127.0.0.1:0\n" BASE_BACKENDS

#define ABC_HASH "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static void check_sockaddr_in(const struct sockaddr_storage *ss, socklen_t len, const char *ip, unsigned port)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
    char buf[INET_ADDRSTRLEN] = "";
    CHECK_INT(ss->ss_family, AF_INET);
    CHECK_INT(len, sizeof(struct sockaddr_in));
    inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
    CHECK_STR(buf, ip);
    CHECK_INT(ntohs(sin->sin_port), port);
}

static void test_minimal_defaults(void)
{
    char path[512];
    write_file(path, sizeof(path), "minimal.yaml", BASE);
    sg_config_t *conf = load_ok(path);
    if (conf == NULL)
        return;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    CHECK_STR(conf->file, path);
    CHECK_INT(conf->refcnt, 1);
    CHECK_U64(conf->workers, ncpu > 0 ? (uint64_t)ncpu : 1);
    CHECK_INT(conf->log_level, SG_LOG_INFO);
    CHECK_INT(conf->has_admin, 0);

    CHECK_INT(conf->num_listeners, 1);
    sg_listener_conf_t *l = conf->listeners;
    CHECK_STR(l->address, "127.0.0.1:0");
    CHECK_INT(l->is_admin, 0);
    CHECK(l->certs == NULL);
    CHECK_INT(l->num_certs, 0);
    CHECK(l->ssl_ctx == NULL);
    check_sockaddr_in(&l->addr, l->addrlen, "127.0.0.1", 0);

    /* limits: the defaults documented in conf/sandgate.yaml */
    CHECK_U64(conf->limits.max_header_size, 64 * 1024);
    CHECK_U64(conf->limits.max_request_body, 64 * 1024 * 1024);
    CHECK_U64(conf->limits.client_idle_timeout_ms, 60000);
    CHECK_U64(conf->limits.upstream_connect_timeout_ms, 5000);
    CHECK_U64(conf->limits.upstream_io_timeout_ms, 60000);
    CHECK_U64(conf->limits.upstream_buffer, 256 * 1024);
    CHECK_U64(conf->limits.upstream_keepalive_timeout_ms, 30000);
    CHECK_U64(conf->limits.websocket_idle_timeout_ms, 3600000);
    CHECK_U64(conf->limits.graceful_shutdown_timeout_ms, 30000);
    CHECK_U64(conf->limits.lingering_time_ms, 30000);
    CHECK_U64(conf->limits.lingering_timeout_ms, 5000);

    CHECK_STR(conf->health.path, "/health");
    CHECK_U64(conf->health.interval_ms, 5000);
    CHECK_U64(conf->health.timeout_ms, 2000);
    CHECK_U64(conf->health.healthy_threshold, 2);
    CHECK_U64(conf->health.unhealthy_threshold, 3);

    CHECK_INT(conf->num_backends, 1);
    sg_backend_conf_t *be = conf->backends;
    CHECK_STR(be->name, "a");
    CHECK_STR(be->url, "http://127.0.0.1:1");
    CHECK_INT(be->is_tls, 0);
    CHECK_STR(be->host, "127.0.0.1");
    CHECK_INT(be->port, 1);
    CHECK_STR(be->authority, "127.0.0.1:1");
    CHECK_STR(be->path_prefix, "");
    check_sockaddr_in(&be->addr, be->addrlen, "127.0.0.1", 1);
    CHECK_STR(be->api_key, "");
    CHECK(be->tls_ca == NULL);
    CHECK(be->ssl_ctx == NULL);
    CHECK_U64(be->weight, 1);
    CHECK_U64(be->capacity, 0);
    CHECK_U64(be->max_connections, 128);
    CHECK_INT(be->num_labels, 0);
    CHECK(be->rt != NULL);
    CHECK(be->rt == sg_backend_get("a"));
    CHECK_U64(conf->total_weight, 1);
    CHECK(sg_config_find_backend(conf, "a") == be);
    CHECK(sg_config_find_backend(conf, "b") == NULL);
    CHECK(sg_config_find_backend(conf, "") == NULL);

    /* no plugins: every route class has an empty chain */
    CHECK_INT(conf->num_instances, 0);
    for (int cls = 0; cls != SG_ROUTE_MAX; ++cls) {
        CHECK_INT(conf->routes[cls].num_plugins, 0);
        CHECK(conf->routes[cls].plugins != NULL);
        CHECK_INT(conf->routes[cls].ctx_size, 0);
    }

    /* reference counting */
    sg_config_retain(conf);
    CHECK_INT(conf->refcnt, 2);
    sg_config_release(conf);
    CHECK_INT(conf->refcnt, 1);
    sg_config_release(conf);

    /* errors == NULL is allowed */
    sg_config_t *again = sg_config_load(path, NULL);
    CHECK(again != NULL);
    sg_config_release(again);
    sg_config_release(NULL);
}

static void test_explicit_values(void)
{
    char path[512], log_path[512];
    tmp_path(log_path, sizeof(log_path), "access.log");
    setenv("SG_UNIT_TEST_KEY", "k2", 1);
    write_file(path, sizeof(path), "explicit.yaml",
               "workers: 3\n"
               "listen:\n"
               "  - address: 127.0.0.1:0\n"
               "  - address: \"[::1]:0\"\n"
               "  - address: \":8080\"\n"
               "admin:\n"
               "  address: 127.0.0.1:0\n"
               "  api_key_hash: \"" ABC_HASH "\"\n"
               "limits:\n"
               "  max_header_size: 8k\n"
               "  max_request_body: 1m\n"
               "  client_idle_timeout: 250ms\n"
               "  upstream_connect_timeout: 2s\n"
               "  upstream_io_timeout: 1m\n"
               "  upstream_buffer: 4k\n"
               "  upstream_keepalive_timeout: 0\n"
               "  websocket_idle_timeout: 2h\n"
               "  graceful_shutdown_timeout: 1.5s\n"
               "  lingering_time: 0s\n"
               "  lingering_timeout: 250ms\n"
               "health_check:\n"
               "  path: /ready\n"
               "  interval: 100ms\n"
               "  timeout: 1\n"
               "  healthy_threshold: 1\n"
               "  unhealthy_threshold: 100\n"
               "backends:\n"
               "  - name: a\n"
               "    url: http://127.0.0.1:1/api/\n"
               "    api_key: k1\n"
               "    weight: 3\n"
               "    capacity: 10\n"
               "    max_connections: 7\n"
               "    labels: {runtime: docker, zone: eu}\n"
               "  - name: b\n"
               "    url: https://localhost\n"
               "    api_key_env: SG_UNIT_TEST_KEY\n"
               "    weight: 0\n"
               "plugins:\n"
               "  - name: request-id\n"
               "    config: {header: X-Trace-Id, trust_client: false}\n"
               "routes:\n"
               "  port:\n"
               "    plugins:\n"
               "      - name: access-log\n"
               "        config: {path: %s}\n"
               "log:\n"
               "  level: debug\n",
               log_path);
    sg_config_t *conf = load_ok(path);
    if (conf == NULL)
        return;
    CHECK_U64(conf->workers, 3);
    CHECK_INT(conf->log_level, SG_LOG_DEBUG);

    /* public listeners first, then the admin one */
    CHECK_INT(conf->num_listeners, 4);
    check_sockaddr_in(&conf->listeners[0].addr, conf->listeners[0].addrlen, "127.0.0.1", 0);
    CHECK_STR(conf->listeners[1].address, "[::1]:0");
    CHECK_INT(conf->listeners[1].addr.ss_family, AF_INET6);
    CHECK_INT(conf->listeners[1].addrlen, sizeof(struct sockaddr_in6));
    CHECK(IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&conf->listeners[1].addr)->sin6_addr));
    check_sockaddr_in(&conf->listeners[2].addr, conf->listeners[2].addrlen, "0.0.0.0", 8080);
    for (size_t i = 0; i != 3; ++i)
        CHECK_INT(conf->listeners[i].is_admin, 0);
    CHECK_INT(conf->listeners[3].is_admin, 1);
    CHECK_STR(conf->listeners[3].address, "127.0.0.1:0");
    CHECK(conf->listeners[3].ssl_ctx == NULL);
    CHECK_INT(conf->has_admin, 1);
    unsigned char abc[SG_KEYHASH_LEN];
    sg_keyhash_compute("abc", 3, abc);
    CHECK(memcmp(conf->admin_key_hash, abc, SG_KEYHASH_LEN) == 0);

    CHECK_U64(conf->limits.max_header_size, 8192);
    CHECK_U64(conf->limits.max_request_body, 1048576);
    CHECK_U64(conf->limits.client_idle_timeout_ms, 250);
    CHECK_U64(conf->limits.upstream_connect_timeout_ms, 2000);
    CHECK_U64(conf->limits.upstream_io_timeout_ms, 60000);
    CHECK_U64(conf->limits.upstream_buffer, 4096);
    CHECK_U64(conf->limits.upstream_keepalive_timeout_ms, 0);
    CHECK_U64(conf->limits.websocket_idle_timeout_ms, 7200000);
    CHECK_U64(conf->limits.graceful_shutdown_timeout_ms, 1500);
    CHECK_U64(conf->limits.lingering_time_ms, 0);
    CHECK_U64(conf->limits.lingering_timeout_ms, 250);

    CHECK_STR(conf->health.path, "/ready");
    CHECK_U64(conf->health.interval_ms, 100);
    CHECK_U64(conf->health.timeout_ms, 1000);
    CHECK_U64(conf->health.healthy_threshold, 1);
    CHECK_U64(conf->health.unhealthy_threshold, 100);

    CHECK_INT(conf->num_backends, 2);
    sg_backend_conf_t *a = conf->backends, *b = conf->backends + 1;
    CHECK_STR(a->host, "127.0.0.1");
    CHECK_INT(a->port, 1);
    CHECK_STR(a->authority, "127.0.0.1:1");
    CHECK_STR(a->path_prefix, "/api");
    CHECK_STR(a->api_key, "k1");
    CHECK_U64(a->weight, 3);
    CHECK_U64(a->capacity, 10);
    CHECK_U64(a->max_connections, 7);
    CHECK_INT(a->num_labels, 2);
    if (a->num_labels == 2) {
        CHECK_STR(a->labels[0].key, "runtime");
        CHECK_STR(a->labels[0].value, "docker");
        CHECK_STR(a->labels[1].key, "zone");
        CHECK_STR(a->labels[1].value, "eu");
    }
    CHECK_STR(b->name, "b");
    CHECK_INT(b->is_tls, 1);
    CHECK(b->ssl_ctx != NULL);
    CHECK_STR(b->host, "localhost");
    CHECK_INT(b->port, 443);
    CHECK_STR(b->authority, "localhost");
    CHECK_STR(b->path_prefix, "");
    CHECK_STR(b->api_key, "k2");
    CHECK_U64(b->weight, 0);
    CHECK_U64(b->max_connections, 128);
    CHECK_U64(conf->total_weight, 3);
    CHECK(a->rt != NULL && b->rt != NULL && a->rt != b->rt);

    /* the default chain everywhere except the port class, which has its own */
    const sg_plugin_t *rid = sg_plugin_find_builtin("request-id"), *alog = sg_plugin_find_builtin("access-log");
    CHECK_INT(conf->num_instances, 2);
    for (int cls = 0; cls != SG_ROUTE_MAX; ++cls) {
        CHECK_INT(conf->routes[cls].num_plugins, 1);
        if (conf->routes[cls].num_plugins == 1)
            CHECK(conf->routes[cls].plugins[0]->plugin == (cls == SG_ROUTE_PORT ? alog : rid));
    }
    CHECK(conf->routes[SG_ROUTE_HEALTH].plugins[0] == conf->routes[SG_ROUTE_ADMIN].plugins[0]);
    CHECK(access(log_path, F_OK) == 0); /* access-log opened (created) its file */
    sg_config_release(conf);
    unsetenv("SG_UNIT_TEST_KEY");
}

static void test_route_chains(void)
{
    char path[512];
    write_file(path, sizeof(path), "routes.yaml",
               BASE "plugins:\n"
                    "  - name: request-id\n"
                    "  - name: access-log\n"
                    "routes:\n"
                    "  health:\n"
                    "    plugins: []\n");
    sg_config_t *conf = load_ok(path);
    if (conf == NULL)
        return;
    const sg_plugin_t *rid = sg_plugin_find_builtin("request-id"), *alog = sg_plugin_find_builtin("access-log");
    CHECK_INT(conf->num_instances, 2);
    CHECK_INT(conf->routes[SG_ROUTE_HEALTH].num_plugins, 0);
    static const sg_route_class_t with_default[] = {SG_ROUTE_UNKNOWN, SG_ROUTE_LIFECYCLE, SG_ROUTE_PORT, SG_ROUTE_ADMIN};
    for (size_t i = 0; i != sizeof(with_default) / sizeof(with_default[0]); ++i) {
        sg_route_conf_t *r = conf->routes + with_default[i];
        CHECK_INT(r->num_plugins, 2);
        if (r->num_plugins == 2) {
            CHECK(r->plugins[0]->plugin == rid);
            CHECK(r->plugins[1]->plugin == alog);
            /* the default chain's instances are shared, not duplicated */
            CHECK(r->plugins[0] == conf->instances + 0);
            CHECK(r->plugins[1] == conf->instances + 1);
        }
    }
    sg_config_release(conf);

    /* a route class with its own chain of two, the default of one */
    write_file(path, sizeof(path), "routes2.yaml",
               BASE "plugins:\n"
                    "  - name: request-id\n"
                    "routes:\n"
                    "  lifecycle:\n"
                    "    plugins:\n"
                    "      - name: access-log\n"
                    "      - name: request-id\n"
                    "        config: {header: x-other}\n");
    if ((conf = load_ok(path)) == NULL)
        return;
    CHECK_INT(conf->num_instances, 3);
    CHECK_INT(conf->routes[SG_ROUTE_LIFECYCLE].num_plugins, 2);
    CHECK(conf->routes[SG_ROUTE_LIFECYCLE].plugins[0]->plugin == alog);
    CHECK(conf->routes[SG_ROUTE_LIFECYCLE].plugins[1]->plugin == rid);
    CHECK(conf->routes[SG_ROUTE_LIFECYCLE].plugins[1] != conf->routes[SG_ROUTE_PORT].plugins[0]);
    CHECK_INT(conf->routes[SG_ROUTE_PORT].num_plugins, 1);
    CHECK_INT(conf->routes[SG_ROUTE_HEALTH].num_plugins, 1);
    CHECK_INT(conf->routes[SG_ROUTE_ADMIN].num_plugins, 1);
    sg_config_release(conf);
}

static void test_errors_single(void)
{
    EXPECT_ERRORS("unknown-top", BASE "bogus: 1\n", "6: unknown key 'bogus' in the top level");
    /* a key quoted in a message keeps the error on its line (found by tests/fuzz/fuzz_config) */
    EXPECT_ERRORS("unknown-newline", BASE "\"bo\\ngus\\t\": 1\n", "6: unknown key 'bo?gus?' in the top level");
    EXPECT_ERRORS("unknown-limits", BASE "limits:\n  max_header_size: 8k\n  max_body: 1m\n", "8: unknown key 'max_body' in limits");
    EXPECT_ERRORS("unknown-listener", "listen:\n  - address: 127.0.0.1:0\n    port: 80\n", "3: unknown key 'port' in a listener");
    EXPECT_ERRORS("unknown-backend", BASE "    wieght: 2\n", "6: unknown key 'wieght' in a backend");
    EXPECT_ERRORS("unknown-health", BASE "health_check:\n  intervall: 5s\n", "7: unknown key 'intervall' in health_check");
    EXPECT_ERRORS("unknown-log", BASE "log:\n  level: info\n  format: json\n", "8: unknown key 'format' in log");

    /* wrong types */
    EXPECT_ERRORS("workers-abc", "workers: abc\n" BASE, "1: 'workers' must be an integer, got 'abc'");
    EXPECT_ERRORS("workers-0", "workers: 0\n" BASE, "1: 'workers' must be between 1 and 256");
    EXPECT_ERRORS("workers-257", BASE "workers: 257\n", "6: 'workers' must be between 1 and 256");
    EXPECT_ERRORS("workers-neg", BASE "workers: -2\n", "6: 'workers' must be between 1 and 256");
    EXPECT_ERRORS("workers-list", BASE "workers: [1]\n", "6: 'workers' must be a scalar value");
    EXPECT_ERRORS("body-12xyz", BASE "limits:\n  max_request_body: 12xyz\n",
                  "7: 'max_request_body' must be a size (e.g. 512, 64k, 10m), got '12xyz'");
    EXPECT_ERRORS("interval-fast", BASE "health_check:\n  path: /healthz\n  interval: fast\n",
                  "8: 'interval' must be a duration (e.g. 250ms, 5s, 2m), got 'fast'");
    EXPECT_ERRORS("limits-list", BASE "limits: [1]\n", "6: 'limits' must be a mapping");
    EXPECT_ERRORS("buffer-small", BASE "limits:\n  upstream_buffer: 4095\n", "7: upstream_buffer must be at least 4k");
    EXPECT_ERRORS("io-timeout-0", BASE "limits:\n  upstream_io_timeout: 0s\n", "7: upstream timeouts must be greater than zero");
    EXPECT_ERRORS("interval-small", BASE "health_check:\n  interval: 99ms\n",
                  "7: interval must be at least 100ms and timeout greater than zero");
    EXPECT_ERRORS("health-path", BASE "health_check:\n  interval: 1s\n  path: health\n", "8: path must start with '/'");
    EXPECT_ERRORS("threshold", BASE "health_check:\n  healthy_threshold: 101\n",
                  "7: 'healthy_threshold' must be between 1 and 100");
    EXPECT_ERRORS("weight", BASE "    weight: 10001\n", "6: 'weight' must be between 0 and 10000");
    EXPECT_ERRORS("max-conns", BASE "    max_connections: 0\n", "6: 'max_connections' must be between 1 and 100000");
    EXPECT_ERRORS("labels", BASE "    labels: [docker]\n", "6: labels must be a mapping of strings");
    EXPECT_ERRORS("log-level", BASE "log:\n  level: verbose\n", "7: log.level must be debug, info, warn or error, got 'verbose'");

    /* missing required keys */
    EXPECT_ERRORS("backend-no-url", "listen:\n  - address: 127.0.0.1:0\nbackends:\n  - name: a\n    weight: 2\n",
                  "4: a backend needs 'url'");
    EXPECT_ERRORS("backend-no-name", "listen:\n  - address: 127.0.0.1:0\nbackends:\n  - url: http://127.0.0.1:1\n",
                  "4: a backend needs 'name'");
    /* a tenant entry that is no mapping, then a tenant: both reported, no crash (found by tests/fuzz/fuzz_config) */
    EXPECT_ERRORS("tenant-scalar-then-tenant", BASE "tenants:\n  - just-a-scalar\n  - id: t\n", "7: a tenant must be a mapping");
    /* an empty name is no name (found by tests/fuzz/fuzz_config) */
    EXPECT_ERRORS("backend-empty-name", "listen:\n  - address: 127.0.0.1:0\nbackends:\n  - name: \n    url: http://127.0.0.1:1\n",
                  "4: a backend's 'name' must not be empty");
    EXPECT_ERRORS("backend-empty-quoted-name",
                  "listen:\n  - address: 127.0.0.1:0\nbackends:\n  - name: ''\n    url: http://127.0.0.1:1\n",
                  "4: a backend's 'name' must not be empty");
    EXPECT_ERRORS("no-listen", "backends:\n  - name: a\n    url: http://127.0.0.1:1\n",
                  "1: 'listen' must be a non-empty list of listeners");
    EXPECT_ERRORS("listen-empty", "listen: []\n", "1: 'listen' must be a non-empty list of listeners");
    EXPECT_ERRORS("listener-no-address", "listen:\n  - tls_off: 1\n", "2: a listener needs 'address' (host:port)",
                  "2: unknown key 'tls_off' in a listener");
    EXPECT_ERRORS("backends-map", "listen:\n  - address: 127.0.0.1:0\nbackends:\n  a: http://127.0.0.1:1\n",
                  "4: 'backends' must be a list");

    /* addresses and URLs */
    EXPECT_ERRORS("listen-port", "listen:\n  - address: 127.0.0.1:65536\n",
                  "2: malformed address '127.0.0.1:65536' (expected host:port)");
    EXPECT_ERRORS("listen-noport", "listen:\n  - address: \"127.0.0.1:\"\n",
                  "2: malformed address '127.0.0.1:' (expected host:port)");
    EXPECT_ERRORS("url-ftp", "listen:\n  - address: 127.0.0.1:0\nbackends:\n  - name: a\n    url: ftp://x\n",
                  "5: url must be http://host[:port][/path] or https://..., got 'ftp://x'");
    EXPECT_ERRORS("url-nohost", "listen:\n  - address: 127.0.0.1:0\nbackends:\n  - name: a\n    url: http://\n",
                  "5: url must be http://host[:port][/path] or https://..., got 'http://'");
    EXPECT_ERRORS("url-relative", "listen:\n  - address: 127.0.0.1:0\nbackends:\n  - name: a\n    url: /api\n",
                  "5: url must be http://host[:port][/path] or https://..., got '/api'");
    EXPECT_ERRORS("url-query", "listen:\n  - address: 127.0.0.1:0\nbackends:\n  - name: a\n    url: http://127.0.0.1:1/?x=1\n",
                  "5: url must not have a query or fragment");
    EXPECT_ERRORS("url-unresolvable",
                  "listen:\n  - address: 127.0.0.1:0\nbackends:\n  - name: a\n    url: http://nonexistent.invalid:8080/api\n",
                  "5: cannot resolve 'nonexistent.invalid:8080': *");
    EXPECT_ERRORS("tls-ca-http", BASE "    tls_ca: /etc/ssl/certs/ca-certificates.crt\n",
                  "6: tls_ca is only meaningful for https backends");
    EXPECT_ERRORS("tls-ca-missing",
                  "listen:\n  - address: 127.0.0.1:0\nbackends:\n  - name: a\n    url: https://127.0.0.1:1\n"
                  "    tls_ca: /nonexistent/ca.pem\n",
                  "6: cannot load CA file /nonexistent/ca.pem: *");

    EXPECT_ERRORS("duplicate-backend", BASE "  - name: a\n    url: http://127.0.0.1:2\n", "6: duplicate backend name 'a'");

    /* plugins */
    EXPECT_ERRORS("unknown-plugin", BASE "plugins:\n  - name: nope\n",
                  "7: unknown plugin 'nope' (built-in: request-id, access-log, key-auth; external plugins need 'path')");
    EXPECT_ERRORS("plugin-config-key", BASE "plugins:\n  - name: access-log\n    config: {bogus: 1}\n",
                  "8: unknown key 'bogus' in the config of plugin access-log");
    EXPECT_ERRORS("plugin-entry-key", BASE "plugins:\n  - name: access-log\n    conf: {path: '-'}\n",
                  "8: unknown key 'conf' in a plugin entry");
    EXPECT_ERRORS("plugin-no-name", BASE "plugins:\n  - config: {}\n", "7: a plugin entry needs 'name'");
    EXPECT_ERRORS("plugin-scalar", BASE "plugins:\n  - request-id\n",
                  "7: a plugin entry must be a mapping {name, [path], [config]}");
    EXPECT_ERRORS("plugin-config-list", BASE "plugins:\n  - name: request-id\n    config: [1]\n",
                  "8: config of plugin request-id must be a mapping");
    EXPECT_ERRORS("plugin-config-type", BASE "plugins:\n  - name: request-id\n    config:\n      trust_client: maybe\n",
                  "9: 'trust_client' must be true or false, got 'maybe'");
    EXPECT_ERRORS("plugin-config-error", BASE "plugins:\n  - name: request-id\n    config: {header: ''}\n",
                  "8: header: must not be empty");
    EXPECT_ERRORS("access-log-path", BASE "plugins:\n  - name: access-log\n    config:\n      path: /nonexistent/dir/a.log\n",
                  "9: path: cannot open /nonexistent/dir/a.log: No such file or directory");
    EXPECT_ERRORS("routes-class", BASE "routes:\n  sandbox:\n    plugins: []\n",
                  "7: unknown key 'sandbox' in routes (known route classes: health, lifecycle, port, admin)");
    EXPECT_ERRORS("routes-no-plugins", BASE "routes:\n  health:\n    plugin: []\n",
                  "8: routes.health must be a mapping with 'plugins'", "8: unknown key 'plugin' in a route class");
    EXPECT_ERRORS("routes-plugins-map", BASE "routes:\n  admin:\n    plugins: {name: request-id}\n",
                  "8: a plugin list must be a list");

    /* keys */
    unsetenv("SG_UNIT_TEST_UNSET_VAR");
    EXPECT_ERRORS("api-key-env", BASE "    api_key_env: SG_UNIT_TEST_UNSET_VAR\n",
                  "6: environment variable SG_UNIT_TEST_UNSET_VAR is not set");
    EXPECT_ERRORS("api-key-both", BASE "    api_key: x\n    api_key_env: HOME\n",
                  "7: give either api_key or api_key_env, not both");
    EXPECT_ERRORS("admin-hash-short", BASE "admin:\n  address: 127.0.0.1:0\n  api_key_hash: sha256:abc\n",
                  "8: api_key_hash must be 'sha256:' followed by 64 hex digits");
    EXPECT_ERRORS("admin-hash-nonhex",
                  BASE "admin:\n  address: 127.0.0.1:0\n"
                       "  api_key_hash: sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015az\n",
                  "8: api_key_hash must be 'sha256:' followed by 64 hex digits");
    EXPECT_ERRORS("admin-hash-plain", BASE "admin:\n  address: 127.0.0.1:0\n  api_key_hash: secret\n",
                  "8: api_key_hash must be 'sha256:' followed by 64 hex digits");
    /* a mapping's own errors point at its first key */
    EXPECT_ERRORS("admin-no-hash", BASE "admin:\n  address: 127.0.0.1:0\n",
                  "7: admin needs 'api_key_hash' (print one with `sandgate hash-key KEY`)");
    EXPECT_ERRORS("admin-scalar", BASE "admin: 127.0.0.1:9901\n", "6: 'admin' must be a mapping");

    /* the file itself */
    EXPECT_ERRORS("syntax", BASE "limits: {max_header_size: 8k\n", "7: YAML syntax error: *");
    EXPECT_ERRORS("root-list", "- listen\n", "1: the configuration must be a mapping");
    EXPECT_ERRORS("empty", "", "1: the configuration must be a mapping");

    char path[512], *errors = NULL;
    tmp_path(path, sizeof(path), "does-not-exist.yaml");
    CHECK(sg_config_load(path, &errors) == NULL);
    check_error_lines("missing file", path, errors, (const char *const[]){"1: cannot open: No such file or directory"}, 1);
    free(errors);
    CHECK(sg_config_load(path, NULL) == NULL);
}

/* several errors: all reported, in the order the sections are read */
static void test_errors_all_reported(void)
{
    char path[512];
    write_file(path, sizeof(path), "many.yaml",
               "workers: abc\n"                       /* 1 */
               "listen:\n"                            /* 2 */
               "  - address: 127.0.0.1:0\n"           /* 3 */
               "    tls:\n"                           /* 4 */
               "      certificates:\n"                /* 5 */
               "        - cert: /nonexistent/a.crt\n" /* 6 */
               "          key: /nonexistent/a.key\n"  /* 7 */
               "  - address: 127.0.0.1:99999\n"       /* 8 */
               "    colour: blue\n"                   /* 9 */
               "limits:\n"                            /* 10 */
               "  max_body: 1m\n"                     /* 11 */
               "  upstream_buffer: 1k\n"              /* 12 */
               "health_check:\n"                      /* 13 */
               "  interval: fast\n"                   /* 14 */
               "backends:\n"                          /* 15 */
               "  - name: a\n"                        /* 16 */
               "  - name: a\n"                        /* 17 */
               "    url: ftp://x\n"                   /* 18 */
               "plugins:\n"                           /* 19 */
               "  - name: nope\n"                     /* 20 */
               "log:\n"                               /* 21 */
               "  level: loud\n"                      /* 22 */
               "bogus: 1\n");                         /* 23 */
    char *errors = load_errors(path);
    static const char *const expected[] = {
        "1: 'workers' must be an integer, got 'abc'",
        "6: cannot load certificate /nonexistent/a.crt: *",
        "8: malformed address '127.0.0.1:99999' (expected host:port)",
        "9: unknown key 'colour' in a listener",
        "12: upstream_buffer must be at least 4k",
        "11: unknown key 'max_body' in limits",
        "14: 'interval' must be a duration (e.g. 250ms, 5s, 2m), got 'fast'",
        "16: a backend needs 'url'",
        "18: url must be http://host[:port][/path] or https://..., got 'ftp://x'",
        "17: duplicate backend name 'a'",
        "20: unknown plugin 'nope' (built-in: request-id, access-log, key-auth; external plugins need 'path')",
        "22: log.level must be debug, info, warn or error, got 'loud'",
        "23: unknown key 'bogus' in the top level",
    };
    check_error_lines("many", path, errors, expected, sizeof(expected) / sizeof(expected[0]));
    free(errors);
}

/* an error in a config file whose path is longer than the 1024-byte message buffer (paths go up to PATH_MAX) */
static void test_errors_long_path(void)
{
    char dir[2048], component[201];
    memset(component, 'd', 200);
    component[200] = '\0';
    snprintf(dir, sizeof(dir), "%s", sg_tmpdir);
    for (int i = 0; i != 6; ++i) {
        snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/%s", component);
        if (mkdir(dir, 0700) != 0) {
            CHECK(!"mkdir failed");
            return;
        }
    }
    char file[2100];
    snprintf(file, sizeof(file), "%s/c.yaml", dir);
    FILE *fp = fopen(file, "w");
    if (fp == NULL) {
        CHECK(!"fopen failed");
        return;
    }
    fputs("bogus: 1\n" BASE, fp);
    fclose(fp);

    /* in a child: the bug is a stack buffer overflow */
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        char *errors = NULL;
        sg_config_t *conf = sg_config_load(file, &errors);
        /* the line is still "file:1: message" (the message may be cut, the file name not lost) */
        int ok = conf == NULL && errors != NULL && strncmp(errors, file, strlen(file)) == 0 && count_lines(errors) == 1;
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

#include "test_config_tls.c.h"

int main(void)
{
    tmpdir_create("config");
    test_minimal_defaults();
    test_explicit_values();
    test_route_chains();
    test_errors_single();
    test_errors_all_reported();
    test_errors_long_path();
    test_tls();
    test_shipped_example();
    sg_plugin_unload_all();
    sg_backend_free_all();
    tmpdir_remove();
    return TEST_DONE();
}
