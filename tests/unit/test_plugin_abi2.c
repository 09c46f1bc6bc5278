/*
 * Plugin ABI 2, gateway side: the loader (ABI 1 and 2 descriptors, descriptor_size), the structured
 * configuration getters (directly on YAML nodes, and through a real .so's config_parse: file:line errors and
 * unknown keys inside child mappings), the labelled metric registry (runtime/metric_family.h) and the memory
 * store's counters (expiry, validation, callbacks never from inside the call).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "backend/backend.h"
#include "config/config.h"
#include "config/plugin_registry.h"
#include "plugin/pipeline.h"
#include "runtime/metric_family.h"
#include "store/store.h"
#include "util.h"

#if !defined(SG_EXAMPLE_PLUGIN_ABI1) || !defined(SG_ABI2_PROBE) || !defined(SG_ZERO_SIZE_PLUGIN)
#error "the paths of the test plugins must be defined by tests/unit/CMakeLists.txt"
#endif

#define BASE SG_TEST_BASE_CONF

static void test_loader(void)
{
    char err[1024];
    const sg_plugin_t *old = sg_plugin_load_so(SG_EXAMPLE_PLUGIN_ABI1, err, sizeof(err));
    CHECK(old != NULL);
    if (old != NULL) {
        CHECK_INT(old->abi_version, 1);
        CHECK_STR(old->name, "header-stamp");
        /* nothing past on_log is read from an ABI 1 descriptor */
        CHECK(sg_plugin_thread_init_of(old) == NULL);
        CHECK(sg_plugin_thread_dispose_of(old) == NULL);
        CHECK(sg_plugin_registry_slot(old) != SIZE_MAX);
    }
    const sg_plugin_t *probe = sg_plugin_load_so(SG_ABI2_PROBE, err, sizeof(err));
    CHECK(probe != NULL);
    if (probe != NULL) {
        CHECK_INT(probe->abi_version, 2);
        CHECK_INT(probe->descriptor_size, sizeof(sg_plugin_t));
        CHECK(sg_plugin_thread_init_of(probe) == probe->thread_init && probe->thread_init != NULL);
        CHECK(sg_plugin_thread_dispose_of(probe) == probe->thread_dispose && probe->thread_dispose != NULL);
        size_t slot = sg_plugin_registry_slot(probe);
        CHECK(slot < sg_plugin_registry_count());
        CHECK(sg_plugin_registry_at(slot) == probe);
    }
    char expected[1024];
    CHECK(sg_plugin_load_so(SG_ZERO_SIZE_PLUGIN, err, sizeof(err)) == NULL);
    snprintf(
        expected, sizeof(expected),
        "plugin %s declares plugin ABI version 2 but a descriptor_size of 0 bytes (set .descriptor_size = sizeof(sg_plugin_t))",
        SG_ZERO_SIZE_PLUGIN);
    CHECK_STR(err, expected);
    /* the table plugins get says which ABI it has */
    CHECK_INT(sg_plugin_api.abi_version, 2);
    CHECK_INT(sg_plugin_api.api_size, sizeof(sg_plugin_api_t));
    CHECK(SG_PLUGIN_API_HAS(&sg_plugin_api, metric_set));
    sg_plugin_api_t v1 = sg_plugin_api;
    v1.abi_version = 1;
    CHECK(!SG_PLUGIN_API_HAS(&v1, req_context));
    /* builtins have their slots first */
    CHECK(sg_plugin_registry_slot(sg_plugin_find_builtin("key-auth")) < 3);
}

/* ---- structured configuration, on the YAML directly ---- */

static void test_conf_getters(void)
{
    char path[512];
    write_file(path, sizeof(path), "getters.yaml",
               "cfg:\n"                                /* 1 */
               "  list: [7, true, 250ms, 64k, text]\n" /* 2 */
               "  map:\n"                              /* 3 */
               "    a: {rate: 5}\n"                    /* 4 */
               "    b: 9\n"                            /* 5 */
               "  scalar: hello\n"                     /* 6 */
               "  bad: [x]\n");                        /* 7 */
    sg_yaml_t y;
    CHECK(sg_yaml_load(&y, path) == 0);
    const sg_plugin_api_t *api = &sg_plugin_api;
    sg_plugin_conf_t root;
    sg_plugin_conf_init(&root, &y, sg_yaml_get(&y, sg_yaml_root(&y), "cfg"), sg_yaml_root(&y));
    size_t n = 12345;
    CHECK_INT(api->conf_seq(&root, "missing", &n), 0);
    CHECK_INT(n, 12345); /* untouched when absent */
    CHECK_INT(api->conf_seq(&root, "list", &n), 1);
    CHECK_INT(n, 5);
    int64_t i64 = 0;
    int b = 0;
    uint64_t u = 0;
    const char *s = NULL;
    CHECK_INT(api->conf_int(api->conf_seq_item(&root, "list", 0), NULL, &i64), 1);
    CHECK_INT(i64, 7);
    CHECK_INT(api->conf_bool(api->conf_seq_item(&root, "list", 1), NULL, &b), 1);
    CHECK_INT(b, 1);
    CHECK_INT(api->conf_duration_ms(api->conf_seq_item(&root, "list", 2), NULL, &u), 1);
    CHECK_U64(u, 250);
    CHECK_INT(api->conf_size(api->conf_seq_item(&root, "list", 3), NULL, &u), 1);
    CHECK_U64(u, 65536);
    CHECK_INT(api->conf_string(api->conf_seq_item(&root, "list", 4), NULL, &s), 1);
    CHECK_STR(s, "text");
    CHECK(api->conf_seq_item(&root, "list", 5) == NULL);
    CHECK(api->conf_seq_item(&root, "map", 0) == NULL); /* not a list */
    CHECK_INT(api->conf_map(&root, "map", &n), 1);
    CHECK_INT(n, 2);
    CHECK_INT(api->conf_map(&root, NULL, &n), 1); /* the root itself */
    CHECK_INT(n, 4);
    const char *name = NULL;
    sg_plugin_conf_t *a = api->conf_map_entry(&root, "map", 0, &name);
    CHECK(a != NULL);
    CHECK_STR(name, "a");
    CHECK_INT(api->conf_int(a, "rate", &i64), 1);
    CHECK_INT(i64, 5);
    sg_plugin_conf_t *bb = api->conf_map_entry(&root, "map", 1, &name);
    CHECK_STR(name, "b");
    CHECK_INT(api->conf_int(bb, NULL, &i64), 1);
    CHECK_INT(i64, 9);
    CHECK(api->conf_map_entry(&root, "map", 2, &name) == NULL);
    CHECK_INT(api->conf_string(&root, "scalar", &s), 1);
    CHECK_STR(s, "hello");
    CHECK_INT(y.num_errors, 0);
    /* type errors carry the node's line */
    CHECK_INT(api->conf_seq(&root, "scalar", &n), -1);
    CHECK_INT(api->conf_map(&root, "list", &n), -1);
    CHECK_INT(api->conf_int(api->conf_seq_item(&root, "bad", 0), NULL, &i64), -1);
    CHECK_INT(api->conf_string(&root, NULL, &s), -1); /* the root is a mapping */
    CHECK_INT(api->conf_int(api->conf_seq_item(&root, "list", 1), NULL, &i64), -1);
    sg_plugin_conf_finish(&root, "cfg");
    char exp[4096];
    snprintf(exp, sizeof(exp),
             "%s:6: 'scalar' must be a list\n"
             "%s:2: 'list' must be a mapping\n"
             "%s:7: the value must be an integer, got 'x'\n"
             "%s:2: the value must be a scalar\n"
             "%s:2: the value must be an integer, got 'true'\n",
             path, path, path, path, path);
    CHECK_STR(y.errors != NULL ? y.errors : "", exp);
    sg_yaml_dispose(&y);
}

/* ---- structured configuration through a .so's config_parse ---- */

static void test_conf_through_plugin(void)
{
    char cfg[4096];
    /* child mappings: unknown keys reported at their lines (the root's first, then children in the order read) */
    snprintf(cfg, sizeof(cfg),
             BASE "plugins:\n"                                 /* 6 */
                  "  - name: abi2-probe\n"                     /* 7 */
                  "    path: %s\n"                             /* 8 */
                  "    config:\n"                              /* 9 */
                  "      tenants:\n"                           /* 10 */
                  "        team-a: {weight: 1}\n"              /* 11 */
                  "        team-b:\n"                          /* 12 */
                  "          weight: 2\n"                      /* 13 */
                  "          wieght: 3\n"                      /* 14 */
                  "      rules:\n"                             /* 15 */
                  "        - {match: /a, limit: 1, typo: 1}\n" /* 16 */
                  "      colour: red\n",                       /* 17 */
             SG_ABI2_PROBE);
    EXPECT_ERRORS("probe-unknown", cfg, "17: unknown key 'colour' in the config of plugin abi2-probe",
                  "14: unknown key 'wieght' in the config of plugin abi2-probe",
                  "16: unknown key 'typo' in the config of plugin abi2-probe");
    /* type errors inside lists and mappings */
    snprintf(cfg, sizeof(cfg),
             BASE "plugins:\n"                    /* 6 */
                  "  - name: abi2-probe\n"        /* 7 */
                  "    path: %s\n"                /* 8 */
                  "    config:\n"                 /* 9 */
                  "      tags: [one, {a: b}]\n"   /* 10 */
                  "      tenants:\n"              /* 11 */
                  "        team-a: {weight: x}\n" /* 12 */
                  "        team-b: 5\n"           /* 13 */
                  "      rules:\n"                /* 14 */
                  "        - limit: many\n",      /* 15 */
             SG_ABI2_PROBE);
    EXPECT_ERRORS("probe-types", cfg, "10: the value must be a scalar", "12: 'weight' must be an integer, got 'x'",
                  "13: the value must be a mapping", "13: tenant team-b: a mapping {weight} is expected",
                  "15: 'limit' must be an integer, got 'many'");
    snprintf(cfg, sizeof(cfg),
             BASE "plugins:\n  - name: abi2-probe\n    path: %s\n    config:\n      tags: notalist\n      tenants: [1]\n",
             SG_ABI2_PROBE);
    EXPECT_ERRORS("probe-kinds", cfg, "10: 'tags' must be a list", "11: 'tenants' must be a mapping");
    /* a valid one loads */
    char path[512];
    snprintf(cfg, sizeof(cfg),
             BASE "plugins:\n  - name: abi2-probe\n    path: %s\n    config:\n      tags: [a]\n      tenants: {t: {weight: 1}}\n"
                  "      rules: [{match: /x, limit: 2}]\n",
             SG_ABI2_PROBE);
    write_file(path, sizeof(path), "probe-ok.yaml", "%s", cfg);
    sg_config_t *conf = load_ok(path);
    if (conf != NULL)
        sg_config_release(conf);
}

/* ---- metric registry ---- */

static void test_metrics(void)
{
    static const char *const labels[] = {"tenant", "reason"};
    sg_metric_family_t *f = sg_metric_register("test_refusals_total", "Refusals.\nBy \\ tenant.", SG_METRIC_COUNTER, labels, 2);
    CHECK(f != NULL);
    CHECK(sg_metric_register("test_refusals_total", "other help", SG_METRIC_COUNTER, labels, 2) == f);
    CHECK(sg_metric_register("test_refusals_total", "x", SG_METRIC_GAUGE, labels, 2) == NULL);   /* another kind */
    CHECK(sg_metric_register("test_refusals_total", "x", SG_METRIC_COUNTER, labels, 1) == NULL); /* other labels */
    CHECK(sg_metric_register("9bad", "x", SG_METRIC_COUNTER, NULL, 0) == NULL);
    CHECK(sg_metric_register("bad-name", "x", SG_METRIC_COUNTER, NULL, 0) == NULL);
    static const char *const bad_label[] = {"le-x"};
    CHECK(sg_metric_register("test_x", "x", SG_METRIC_COUNTER, bad_label, 1) == NULL);
    const char *v1[] = {"team-a", "GATEWAY::RATE_LIMITED"}, *v2[] = {"q\"\\\nz", NULL};
    sg_metric_add(f, v1, 1);
    sg_metric_add(f, v1, 2);
    sg_metric_add(f, v2, 5);
    CHECK_INT(sg_metric_get(f, v1), 3);
    CHECK_INT(sg_metric_get(f, v2), 5);
    sg_metric_set(f, v1, 100); /* not on a counter */
    CHECK_INT(sg_metric_get(f, v1), 3);
    sg_metric_family_t *g = sg_metric_register("test_gauge", "A gauge.", SG_METRIC_GAUGE, NULL, 0);
    sg_metric_set(g, NULL, -7);
    CHECK_INT(sg_metric_get(g, NULL), -7);
    /* many series: the table grows while readers keep finding the old ones */
    sg_metric_family_t *many = sg_metric_register("test_many", "Many.", SG_METRIC_COUNTER, labels, 1);
    char buf[32];
    for (int i = 0; i != 3000; ++i) {
        snprintf(buf, sizeof(buf), "t%d", i);
        const char *v[] = {buf};
        sg_metric_add(many, v, i);
    }
    int all = 1;
    for (int i = 0; i != 3000; ++i) {
        snprintf(buf, sizeof(buf), "t%d", i);
        const char *v[] = {buf};
        all &= sg_metric_get(many, v) == i;
    }
    CHECK(all);
    char *text = NULL;
    size_t len = 0, cap = 0;
    CHECK_INT(sg_metric_render(&text, &len, &cap), 0);
    CHECK(text != NULL && strlen(text) == len);
    CHECK(strstr(text, "# HELP test_refusals_total Refusals.\\nBy \\\\ tenant.\n# TYPE test_refusals_total counter\n"
                       "test_refusals_total{tenant=\"team-a\",reason=\"GATEWAY::RATE_LIMITED\"} 3\n"
                       "test_refusals_total{tenant=\"q\\\"\\\\\\nz\",reason=\"\"} 5\n") != NULL);
    CHECK(strstr(text, "# TYPE test_gauge gauge\ntest_gauge -7\n") != NULL);
    CHECK(strstr(text, "test_many{tenant=\"t2999\"} 2999\n") != NULL);
    CHECK(strstr(text, "sandgate_metric_series_dropped_total 0\n") != NULL);
    free(text);
    sg_metric_dispose_all();
}

/* ---- memory store counters ---- */

typedef struct st_counted_t {
    int called;
    const char *err;
    int64_t values[4];
    size_t n;
} counted_t;

static int in_call;

static void on_counters(void *data, const char *err, const sg_store_counter_t *c, size_t n)
{
    counted_t *r = data;
    CHECK(!in_call);
    r->called = 1;
    r->err = err;
    r->n = n;
    for (size_t i = 0; i != n && i != 4; ++i)
        r->values[i] = c[i].value;
}

static void run(h2o_evloop_t *loop, counted_t *r)
{
    for (int i = 0; i != 200 && !r->called; ++i)
        h2o_evloop_run(loop, 10);
}

static void counters(sg_store_t *s, h2o_evloop_t *loop, const sg_store_counter_t *c, size_t n, counted_t *r)
{
    memset(r, 0, sizeof(*r));
    in_call = 1;
    sg_store_counters(s, "plugin:test:", c, n, on_counters, r);
    in_call = 0;
    CHECK(!r->called);
    run(loop, r);
    CHECK(r->called);
}

static void test_memory_counters(void)
{
    sg_store_conf_t conf = {0};
    CHECK_INT(sg_store_global_init(&conf), 0);
    CHECK_INT(sg_store_is_shared(), 0);
    h2o_evloop_t *loop = h2o_evloop_create();
    sg_loop_t l;
    sg_loop_init(&l, loop, 0);
    sg_store_t *s = sg_store_open(&l);
    counted_t r;
    sg_store_counter_t c[3] = {{"w", 1, 5, 80, 0}, {"w", 1, 2, 80, 0}, {"other", 1, 0, 0, 0}};
    counters(s, loop, c, 3, &r);
    CHECK(r.err == NULL);
    CHECK_INT(r.values[0], 5);
    CHECK_INT(r.values[1], 7);
    CHECK_INT(r.values[2], 0);
    counters(s, loop, c + 2, 1, &r);
    CHECK_INT(r.values[0], 0); /* a missing key reads 0 */
    usleep(120 * 1000);        /* past the expiry */
    sg_store_counter_t again[2] = {{"w", 1, 0, 0, 0}, {"w", 1, 1, 0, 0}};
    counters(s, loop, again, 2, &r);
    CHECK_INT(r.values[0], 0);
    CHECK_INT(r.values[1], 1); /* started over, without expiry now */
    usleep(120 * 1000);
    counters(s, loop, again, 1, &r);
    CHECK_INT(r.values[0], 1);
    /* invalid batches fail, later, never from inside the call */
    sg_store_counter_t bad[1] = {{"has space", 9, 1, 0, 0}};
    counters(s, loop, bad, 1, &r);
    CHECK(r.err != NULL);
    char big[300];
    memset(big, 'k', sizeof(big));
    sg_store_counter_t toolong[1] = {{big, SG_STORE_COUNTER_KEY_MAX + 1, 1, 0, 0}};
    counters(s, loop, toolong, 1, &r);
    CHECK(r.err != NULL);
    counters(s, loop, c, 0, &r);
    CHECK(r.err != NULL);
    /* many expiring keys: the table is swept (no way to see its size from here; ASan checks the memory) */
    for (int i = 0; i != 500; ++i) {
        char k[32];
        snprintf(k, sizeof(k), "k%d", i);
        sg_store_counter_t one[1] = {{k, strlen(k), 1, 1, 0}};
        counters(s, loop, one, 1, &r);
    }
    sg_store_close(s);
    sg_loop_dispose(&l);
    h2o_evloop_destroy(loop);
    sg_store_global_dispose();
}

int main(void)
{
    tmpdir_create("abi2");
    test_loader();
    test_conf_getters();
    test_conf_through_plugin();
    test_metrics();
    test_memory_counters();
    sg_plugin_unload_all();
    sg_backend_free_all();
    tmpdir_remove();
    return TEST_DONE();
}
