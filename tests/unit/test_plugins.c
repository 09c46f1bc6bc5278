/*
 * The plugin registry (gateway/pipeline.h): built-ins by name, external plugins from
 * .so files (the example plugin, and modules built by tests/unit/CMakeLists.txt that
 * must be refused), and plugin entries naming a .so in a configuration.
 */
#include <stdlib.h>
#include <string.h>
#include "backend/backend.h"
#include "config/config.h"
#include "plugin/pipeline.h"
#include "util.h"

#if !defined(SG_EXAMPLE_PLUGIN) || !defined(SG_BAD_ABI_PLUGIN) || !defined(SG_NO_DESCRIPTOR_PLUGIN) || !defined(SG_NONAME_PLUGIN)
#error "the paths of the test plugins must be defined by tests/unit/CMakeLists.txt"
#endif

#define BASE SG_TEST_BASE_CONF

/* the configuration of lua-free-plugins/example/header_stamp.c, as it lays it out */
typedef struct st_header_stamp_conf_t {
    char *header, *value, *deny_header;
    uint64_t delay_ms;
} header_stamp_conf_t;

static void test_builtins(void)
{
    const sg_plugin_t *rid = sg_plugin_find_builtin("request-id"), *alog = sg_plugin_find_builtin("access-log");
    CHECK(rid != NULL);
    CHECK(alog != NULL);
    CHECK(rid != alog);
    if (rid != NULL) {
        CHECK_STR(rid->name, "request-id");
        CHECK_INT(rid->abi_version, SG_PLUGIN_ABI_VERSION);
        CHECK(rid->config_parse != NULL);
        CHECK(rid->on_request != NULL);
    }
    if (alog != NULL) {
        CHECK_STR(alog->name, "access-log");
        CHECK_INT(alog->abi_version, SG_PLUGIN_ABI_VERSION);
        CHECK(alog->on_log != NULL);
    }
    CHECK(sg_plugin_find_builtin("nope") == NULL);
    CHECK(sg_plugin_find_builtin("") == NULL);
    CHECK(sg_plugin_find_builtin("Request-ID") == NULL);
    CHECK(sg_plugin_find_builtin("request-id ") == NULL);
    CHECK(sg_plugin_find_builtin("request") == NULL);
    CHECK(sg_plugin_find_builtin("header-stamp") == NULL); /* external plugins are not built-ins */
}

static void test_load_so(void)
{
    char err[512];

    strcpy(err, "untouched");
    const sg_plugin_t *p = sg_plugin_load_so(SG_EXAMPLE_PLUGIN, err, sizeof(err));
    CHECK(p != NULL);
    if (p == NULL) {
        fprintf(stderr, "  (%s)\n", err);
        return;
    }
    CHECK_STR(err, "untouched");
    CHECK_STR(p->name, "header-stamp");
    CHECK_INT(p->abi_version, SG_PLUGIN_ABI_VERSION);
    CHECK_INT(p->ctx_size, 2 * sizeof(void *));
    CHECK(p->config_parse != NULL);
    CHECK(p->config_free != NULL);
    CHECK(p->on_request != NULL);
    CHECK(p->on_response_headers != NULL);
    CHECK(p->on_log == NULL);
    /* loaded once per path */
    CHECK(sg_plugin_load_so(SG_EXAMPLE_PLUGIN, err, sizeof(err)) == p);

    /* another ABI version */
    char expected[2048];
    const sg_plugin_t *bad = sg_plugin_load_so(SG_BAD_ABI_PLUGIN, err, sizeof(err));
    CHECK(bad == NULL);
    snprintf(expected, sizeof(expected), "plugin %s was built for plugin ABI version %u, this sandgate provides version %u",
             SG_BAD_ABI_PLUGIN, (unsigned)SG_PLUGIN_ABI_VERSION + 1, (unsigned)SG_PLUGIN_ABI_VERSION);
    CHECK_STR(err, expected);
    CHECK(strstr(err, "ABI version") != NULL);
    /* refused again (not remembered as loaded) */
    strcpy(err, "");
    CHECK(sg_plugin_load_so(SG_BAD_ABI_PLUGIN, err, sizeof(err)) == NULL);
    CHECK_STR(err, expected);

    /* no descriptor symbol */
    CHECK(sg_plugin_load_so(SG_NO_DESCRIPTOR_PLUGIN, err, sizeof(err)) == NULL);
    snprintf(expected, sizeof(expected), "%s is not a sandgate plugin (no symbol sg_plugin_descriptor)", SG_NO_DESCRIPTOR_PLUGIN);
    CHECK_STR(err, expected);

    /* empty name */
    CHECK(sg_plugin_load_so(SG_NONAME_PLUGIN, err, sizeof(err)) == NULL);
    snprintf(expected, sizeof(expected), "plugin %s has no name", SG_NONAME_PLUGIN);
    CHECK_STR(err, expected);

    /* missing file, and a file that is not a shared object */
    char missing[512];
    tmp_path(missing, sizeof(missing), "missing.so");
    CHECK(sg_plugin_load_so(missing, err, sizeof(err)) == NULL);
    snprintf(expected, sizeof(expected), "cannot load plugin %s: %s: ", missing, missing);
    CHECK(strncmp(err, expected, strlen(expected)) == 0);
    CHECK(strstr(err, "No such file or directory") != NULL);
    if (strstr(err, "No such file or directory") == NULL)
        fprintf(stderr, "  (%s)\n", err);

    char text[512];
    write_file(text, sizeof(text), "text.so", "not an ELF file\n");
    CHECK(sg_plugin_load_so(text, err, sizeof(err)) == NULL);
    snprintf(expected, sizeof(expected), "cannot load plugin %s: ", text);
    CHECK(strncmp(err, expected, strlen(expected)) == 0);

    /* a small error buffer is not overrun */
    char small[16];
    memset(small, 'Z', sizeof(small));
    CHECK(sg_plugin_load_so(SG_BAD_ABI_PLUGIN, small, 8) == NULL);
    CHECK_INT(strlen(small), 7);
    CHECK(small[8] == 'Z');
}

static void test_config_with_path(void)
{
    char path[512];
    write_file(path, sizeof(path), "stamp.yaml",
               BASE "plugins:\n"
                    "  - name: request-id\n"
                    "  - name: header-stamp\n"
                    "    path: %s\n"
                    "    config: {header: X-Stamp, value: hi, delay: 50ms}\n"
                    "routes:\n"
                    "  health:\n"
                    "    plugins:\n"
                    "      - name: header-stamp\n"
                    "        path: %s\n",
               SG_EXAMPLE_PLUGIN, SG_EXAMPLE_PLUGIN);
    sg_config_t *conf = load_ok(path);
    if (conf != NULL) {
        char err[256];
        const sg_plugin_t *stamp = sg_plugin_load_so(SG_EXAMPLE_PLUGIN, err, sizeof(err));
        CHECK_INT(conf->num_instances, 3);
        CHECK_INT(conf->routes[SG_ROUTE_LIFECYCLE].num_plugins, 2);
        CHECK_INT(conf->routes[SG_ROUTE_HEALTH].num_plugins, 1);
        if (conf->num_instances == 3) {
            sg_plugin_instance_t *rid = conf->instances, *s1 = conf->instances + 1, *s2 = conf->instances + 2;
            CHECK(rid->plugin == sg_plugin_find_builtin("request-id"));
            CHECK(s1->plugin == stamp);
            CHECK(s2->plugin == stamp);
            CHECK(conf->routes[SG_ROUTE_LIFECYCLE].plugins[1] == s1);
            CHECK(conf->routes[SG_ROUTE_HEALTH].plugins[0] == s2);
            /* per-request context slots: 16-byte aligned, one per instance */
            CHECK_INT(rid->ctx_offset, 0);
            CHECK_INT(s1->ctx_offset, 0); /* request-id has no context */
            CHECK_INT(s2->ctx_offset, 16);
            for (int cls = 0; cls != SG_ROUTE_MAX; ++cls)
                CHECK_INT(conf->routes[cls].ctx_size, 32);
            header_stamp_conf_t *c1 = s1->conf, *c2 = s2->conf;
            CHECK_STR(c1->header, "X-Stamp");
            CHECK_STR(c1->value, "hi");
            CHECK_STR(c1->deny_header, "");
            CHECK_U64(c1->delay_ms, 50);
            CHECK_STR(c2->header, "x-stamp");
            CHECK_STR(c2->value, "sandgate");
            CHECK_U64(c2->delay_ms, 0);
        }
        sg_config_release(conf);
    }

    char cfg[2048];
    snprintf(cfg, sizeof(cfg), BASE "plugins:\n  - name: stamp\n    path: %s\n", SG_EXAMPLE_PLUGIN);
    {
        char exp[1024];
        snprintf(exp, sizeof(exp), "7: plugin %s is named 'header-stamp', not 'stamp'", SG_EXAMPLE_PLUGIN);
        write_file(path, sizeof(path), "stamp-wrong-name.yaml", "%s", cfg);
        char *errors = load_errors(path);
        check_error_lines("stamp-wrong-name", path, errors, (const char *const[]){exp}, 1);
        free(errors);
    }
    snprintf(cfg, sizeof(cfg), BASE "plugins:\n  - name: bad-abi\n    path: %s\n", SG_BAD_ABI_PLUGIN);
    {
        char exp[1024];
        snprintf(exp, sizeof(exp), "8: plugin %s was built for plugin ABI version %u, this sandgate provides version %u",
                 SG_BAD_ABI_PLUGIN, (unsigned)SG_PLUGIN_ABI_VERSION + 1, (unsigned)SG_PLUGIN_ABI_VERSION);
        write_file(path, sizeof(path), "stamp-bad-abi.yaml", "%s", cfg);
        char *errors = load_errors(path);
        check_error_lines("stamp-bad-abi", path, errors, (const char *const[]){exp}, 1);
        free(errors);
    }
    snprintf(cfg, sizeof(cfg), BASE "plugins:\n  - name: x\n    path: %s/missing.so\n", sg_tmpdir);
    {
        char exp[1024];
        snprintf(exp, sizeof(exp), "8: cannot load plugin %s/missing.so: *", sg_tmpdir);
        write_file(path, sizeof(path), "stamp-missing.yaml", "%s", cfg);
        char *errors = load_errors(path);
        check_error_lines("stamp-missing", path, errors, (const char *const[]){exp}, 1);
        free(errors);
    }
    /* an external plugin's own keys: unknown ones and wrong types are reported with their line */
    snprintf(cfg, sizeof(cfg),
             BASE "plugins:\n  - name: header-stamp\n    path: %s\n    config:\n      header: X-A\n      delay_ms: 50\n",
             SG_EXAMPLE_PLUGIN);
    {
        write_file(path, sizeof(path), "stamp-unknown-key.yaml", "%s", cfg);
        char *errors = load_errors(path);
        check_error_lines("stamp-unknown-key", path, errors,
                          (const char *const[]){"11: unknown key 'delay_ms' in the config of plugin header-stamp"}, 1);
        free(errors);
    }
    snprintf(cfg, sizeof(cfg), BASE "plugins:\n  - name: header-stamp\n    path: %s\n    config: {delay: soon}\n",
             SG_EXAMPLE_PLUGIN);
    {
        write_file(path, sizeof(path), "stamp-bad-delay.yaml", "%s", cfg);
        char *errors = load_errors(path);
        check_error_lines("stamp-bad-delay", path, errors,
                          (const char *const[]){"9: 'delay' must be a duration (e.g. 250ms, 5s, 2m), got 'soon'"}, 1);
        free(errors);
    }
}

int main(void)
{
    tmpdir_create("plugins");
    test_builtins();
    test_load_so();
    test_config_with_path();
    sg_plugin_unload_all();
    sg_backend_free_all();
    tmpdir_remove();
    return TEST_DONE();
}
