/*
 * Tenancy building blocks: policy checks, quantity/time parsing, key lookup,
 * label pinning, lifecycle route parsing, URL encoding.
 */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "tenancy/lifecycle_route.h"
#include "tenancy/renew.h"
#include "tenancy/snapshot_tag.h"
#include "config/tenant.h"
#include "test.h"
#include "util/urlenc.h"

static int check(const sg_tenant_t *t, const char *body, const char **code, sg_create_request_t *out)
{
    char msg[512];
    json_t *j = json_loads(body, 0, NULL);
    int st = sg_tenant_check_create(t, j, out, code, msg, sizeof(msg));
    json_decref(j);
    return st;
}

static void test_policy(void)
{
    char *images[] = {"python:*", "ubuntu:22.04"};
    sg_tenant_t t = {.id = "a",
                     .policy = {.allowed_images = images,
                                .num_allowed_images = 2,
                                .max_timeout_s = 3600,
                                .allow_manual_cleanup = 0,
                                .max_cpu_millis = 2000,
                                .max_memory_mb = 4096}};
    const char *code = NULL;
    sg_create_request_t out;
    CHECK_INT(
        check(&t,
              "{\"image\":{\"uri\":\"python:3.11\"},\"timeout\":600,\"resourceLimits\":{\"cpu\":\"500m\",\"memory\":\"512Mi\"}}",
              &code, &out),
        0);
    CHECK_INT(out.timeout_s, 600);
    CHECK_INT(out.cpu_millis, 500);
    CHECK_INT(out.memory_mb, 512);
    CHECK_INT(check(&t, "{\"image\":{\"uri\":\"nginx\"},\"timeout\":600}", &code, &out), 403);
    CHECK(strcmp(code, "GATEWAY::IMAGE_NOT_ALLOWED") == 0);
    CHECK_INT(check(&t, "{\"image\":{\"uri\":\"python:3\"},\"timeout\":3601}", &code, &out), 403);
    CHECK(strcmp(code, "GATEWAY::TIMEOUT_TOO_LONG") == 0);
    CHECK_INT(check(&t, "{\"image\":{\"uri\":\"python:3\"}}", &code, &out), 403);
    CHECK(strcmp(code, "GATEWAY::MANUAL_CLEANUP_NOT_ALLOWED") == 0);
    CHECK_INT(check(&t, "{\"image\":{\"uri\":\"python:3\"},\"timeout\":null}", &code, &out), 403);
    CHECK_INT(check(&t, "{\"image\":{\"uri\":\"python:3\"},\"timeout\":60,\"resourceLimits\":{\"cpu\":\"2.5\"}}", &code, &out),
              403);
    CHECK(strcmp(code, "GATEWAY::CPU_LIMIT_EXCEEDED") == 0);
    CHECK_INT(check(&t, "{\"image\":{\"uri\":\"python:3\"},\"timeout\":60,\"resourceLimits\":{\"memory\":\"5Gi\"}}", &code, &out),
              403);
    CHECK(strcmp(code, "GATEWAY::MEMORY_LIMIT_EXCEEDED") == 0);
    /* malformed */
    CHECK_INT(check(&t, "{\"image\":{\"uri\":\"python:3\"},\"timeout\":\"abc\"}", &code, &out), 400);
    CHECK_INT(check(&t, "{\"timeout\":60}", &code, &out), 400);
    CHECK_INT(check(&t, "{\"image\":{\"uri\":\"python:3\"},\"snapshotId\":\"s\",\"timeout\":60}", &code, &out), 400);
    CHECK_INT(check(&t, "{\"image\":{\"uri\":\"python:3\"},\"timeout\":60,\"resourceLimits\":{\"cpu\":5}}", &code, &out), 400);
    CHECK_INT(check(&t, "[1,2]", &code, &out), 400);
    /* snapshots skip the image policy */
    {
        /* out's strings point into the parsed body: keep it alive while checking them */
        char msg[256];
        json_t *j = json_loads("{\"snapshotId\":\"snap-1\",\"timeout\":60}", 0, NULL);
        CHECK_INT(sg_tenant_check_create(&t, j, &out, &code, msg, sizeof(msg)), 0);
        CHECK(out.image == NULL && out.snapshot_id != NULL && strcmp(out.snapshot_id, "snap-1") == 0);
        json_decref(j);
    }
    t.policy.allow_manual_cleanup = 1;
    CHECK_INT(check(&t, "{\"image\":{\"uri\":\"ubuntu:22.04\"}}", &code, &out), 0);
    CHECK_INT(out.timeout_s, 0);
}

static void test_quantities(void)
{
    uint64_t v = 0;
    int64_t ms = 0;
    CHECK(sg_parse_cpu_millis("500m", &v) == 0 && v == 500);
    CHECK(sg_parse_cpu_millis("2", &v) == 0 && v == 2000);
    CHECK(sg_parse_cpu_millis("1.5", &v) == 0 && v == 1500);
    CHECK(sg_parse_cpu_millis("x", &v) != 0);
    CHECK(sg_parse_cpu_millis("2cores", &v) != 0);
    CHECK(sg_parse_memory_mb("512Mi", &v) == 0 && v == 512);
    CHECK(sg_parse_memory_mb("1Gi", &v) == 0 && v == 1024);
    CHECK(sg_parse_memory_mb("1G", &v) == 0 && v == 954);
    CHECK(sg_parse_memory_mb("1048576", &v) == 0 && v == 1);
    CHECK(sg_parse_memory_mb("12Qi", &v) != 0);
    CHECK(sg_parse_rfc3339_ms("1970-01-01T00:00:01Z", &ms) == 0 && ms == 1000);
    CHECK(sg_parse_rfc3339_ms("2026-11-24T00:00:00.250Z", &ms) == 0 && ms == 1795478400250LL);
    CHECK(sg_parse_rfc3339_ms("1970-01-01T01:00:00+01:00", &ms) == 0 && ms == 0);
    CHECK(sg_parse_rfc3339_ms("yesterday", &ms) != 0);
    CHECK(sg_parse_rfc3339_ms("1970-01-01T00:00:01", &ms) != 0);
}

static void test_keys_and_labels(void)
{
    sg_tenant_key_t ka = {.name = "k"}, kb = {.name = "k"};
    sg_keyhash_compute("alpha", 5, ka.hash);
    sg_keyhash_compute("beta", 4, kb.hash);
    sg_tenant_t tenants[2] = {{.id = "a", .keys = &ka, .num_keys = 1}, {.id = "b", .keys = &kb, .num_keys = 1}};
    unsigned char h[32];
    const sg_tenant_key_t *key = NULL;
    sg_keyhash_compute("beta", 4, h);
    const sg_tenant_t *t = sg_tenant_find_key(tenants, 2, h, &key);
    CHECK(t == tenants + 1 && key == &kb);
    sg_keyhash_compute("gamma", 5, h);
    CHECK(sg_tenant_find_key(tenants, 2, h, &key) == NULL);

    char *vals[] = {"docker", "gvisor"};
    sg_label_selector_t sel = {.key = "runtime", .values = vals, .num_values = 2};
    sg_tenant_t pinned = {.id = "p", .backend_labels = &sel, .num_backend_labels = 1};
    const char *k1[] = {"runtime"}, *v1[] = {"gvisor"}, *v2[] = {"kata"};
    CHECK(sg_tenant_backend_allowed(&pinned, k1, v1, 1));
    CHECK(!sg_tenant_backend_allowed(&pinned, k1, v2, 1));
    CHECK(!sg_tenant_backend_allowed(&pinned, NULL, NULL, 0));
    CHECK(sg_tenant_backend_allowed(tenants, NULL, NULL, 0));
}

static sg_lc_route_t route(const char *method, const char *path)
{
    sg_lc_route_t r;
    sg_lc_route_parse(method, strlen(method), path, strlen(path), &r);
    return r;
}

static void test_routes(void)
{
    CHECK_INT(route("GET", "/v1/sandboxes").op, SG_LC_LIST_SANDBOXES);
    CHECK_INT(route("GET", "/v1/sandboxes?state=Running&page=2").op, SG_LC_LIST_SANDBOXES);
    CHECK_INT(route("POST", "/v1/sandboxes").op, SG_LC_CREATE_SANDBOX);
    CHECK_INT(route("PUT", "/v1/sandboxes").op, SG_LC_METHOD_NOT_ALLOWED);
    sg_lc_route_t r = route("GET", "/v1/sandboxes/abc-1");
    CHECK_INT(r.op, SG_LC_GET_SANDBOX);
    CHECK(r.id_len == 5 && memcmp(r.id, "abc-1", 5) == 0 && r.id_valid);
    CHECK_INT(route("DELETE", "/v1/sandboxes/abc").op, SG_LC_DELETE_SANDBOX);
    CHECK_INT(route("PATCH", "/v1/sandboxes/abc/metadata").op, SG_LC_PATCH_METADATA);
    CHECK_INT(route("POST", "/v1/sandboxes/abc/pause").op, SG_LC_PAUSE);
    CHECK_INT(route("POST", "/v1/sandboxes/abc/resume").op, SG_LC_RESUME);
    CHECK_INT(route("POST", "/v1/sandboxes/abc/renew-expiration").op, SG_LC_RENEW);
    CHECK_INT(route("POST", "/v1/sandboxes/abc/snapshots").op, SG_LC_CREATE_SNAPSHOT);
    CHECK_INT(route("GET", "/v1/sandboxes/abc/pause").op, SG_LC_METHOD_NOT_ALLOWED);
    r = route("GET", "/v1/sandboxes/abc/endpoints/44772?use_server_proxy=true");
    CHECK_INT(r.op, SG_LC_ENDPOINT);
    CHECK_INT(r.port, 44772);
    CHECK_INT(route("GET", "/v1/sandboxes/abc/endpoints/0").op, SG_LC_UNKNOWN);
    CHECK_INT(route("GET", "/v1/sandboxes/abc/endpoints/65536").op, SG_LC_UNKNOWN);
    CHECK_INT(route("GET", "/v1/sandboxes/abc/diagnostics/logs").op, SG_LC_DIAGNOSTICS);
    CHECK_INT(route("GET", "/v1/sandboxes/abc/diagnostics/events").op, SG_LC_DIAGNOSTICS);
    CHECK_INT(route("GET", "/v1/sandboxes/abc/diagnostics/other").op, SG_LC_UNKNOWN);
    CHECK_INT(route("GET", "/v1/sandboxes/abc/networkpolicy").op, SG_LC_NETWORK_POLICY);
    CHECK_INT(route("PATCH", "/v1/sandboxes/abc/networkpolicy").op, SG_LC_NETWORK_POLICY);
    CHECK_INT(route("DELETE", "/v1/sandboxes/abc/networkpolicy").op, SG_LC_NETWORK_POLICY);
    CHECK_INT(route("HEAD", "/v1/sandboxes/abc/networkpolicy").op, SG_LC_METHOD_NOT_ALLOWED);
    CHECK(sg_lc_op_is_sandbox_scoped(SG_LC_NETWORK_POLICY));
    CHECK_INT(route("GET", "/v1/snapshots").op, SG_LC_LIST_SNAPSHOTS);
    CHECK_INT(route("GET", "/v1/snapshots/s1").op, SG_LC_GET_SNAPSHOT);
    CHECK_INT(route("DELETE", "/v1/snapshots/s1").op, SG_LC_DELETE_SNAPSHOT);
    CHECK_INT(route("GET", "/v1/other").op, SG_LC_UNKNOWN);
    CHECK_INT(route("GET", "/v2/sandboxes").op, SG_LC_UNKNOWN);
    /* ids that cannot exist are flagged, the route still parses (answered 404 like an unknown id) */
    r = route("GET", "/v1/sandboxes/a%2Fb");
    CHECK_INT(r.op, SG_LC_GET_SANDBOX);
    CHECK(!r.id_valid);
    CHECK(!route("GET", "/v1/sandboxes/..").id_valid);
    CHECK(!route("GET", "/v1/sandboxes/\xc3\xa9t\xc3\xa9").id_valid);
    CHECK(sg_lc_op_is_sandbox_scoped(SG_LC_DIAGNOSTICS) && !sg_lc_op_is_sandbox_scoped(SG_LC_GET_SNAPSHOT));
}

static void test_urlenc(void)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    h2o_iovec_t v = sg_url_decode(&pool, H2O_STRLIT("a%3Db%26c+d"), 1);
    CHECK(v.base != NULL && strcmp(v.base, "a=b&c d") == 0);
    CHECK(sg_url_decode(&pool, H2O_STRLIT("%4"), 0).base == NULL);
    CHECK(sg_url_decode(&pool, H2O_STRLIT("%zz"), 0).base == NULL);
    v = sg_url_encode(&pool, H2O_STRLIT("sandgate.io/tenant=a b"));
    CHECK(strcmp(v.base, "sandgate.io%2Ftenant%3Da%20b") == 0);
    const char *q = "state=Running&&metadata=x%3D1&flag", *p = q, *end = q + strlen(q);
    h2o_iovec_t name, value;
    CHECK(sg_query_next(&p, end, &name, &value) && name.len == 5 && value.len == 7);
    CHECK(sg_query_next(&p, end, &name, &value) && h2o_memis(name.base, name.len, H2O_STRLIT("metadata")) && value.len == 5);
    CHECK(sg_query_next(&p, end, &name, &value) && name.len == 4 && value.base == NULL);
    CHECK(!sg_query_next(&p, end, &name, &value));
    h2o_mem_clear_pool(&pool);
}

static void test_stored_tenant_json(void)
{
    static const char doc[] =
        "{\"id\":\"gamma\",\"name\":\"Gamma team\",\"backend_labels\":{\"zone\":\"b\",\"rt\":[\"runc\",\"gvisor\"]},"
        "\"policy\":{\"allowed_images\":[\"python:*\"],\"max_timeout\":\"2h\",\"allow_manual_cleanup\":true,"
        "\"max_cpu\":\"1500m\",\"max_memory\":\"2Gi\"}}";
    sg_tenant_t t;
    char err[256] = "";
    CHECK_INT(sg_tenant_parse_json(doc, strlen(doc), "gamma", &t, err, sizeof(err)), 0);
    CHECK_STR(t.id, "gamma");
    CHECK_STR(t.name, "Gamma team");
    CHECK_U64(t.policy.max_timeout_s, 7200);
    CHECK_INT(t.policy.allow_manual_cleanup, 1);
    CHECK_U64(t.policy.max_cpu_millis, 1500);
    CHECK_U64(t.policy.max_memory_mb, 2048);
    CHECK_U64(t.policy.num_allowed_images, 1);
    CHECK_U64(t.num_backend_labels, 2);
    CHECK_U64(t.num_keys, 0);
    const char *keys[] = {"zone", "rt"}, *ok_values[] = {"b", "gvisor"}, *bad_values[] = {"a", "gvisor"};
    CHECK_INT(sg_tenant_backend_allowed(&t, keys, ok_values, 2), 1);
    CHECK_INT(sg_tenant_backend_allowed(&t, keys, bad_values, 2), 0);
    sg_tenant_dispose(&t);

    /* defaults: name = id, no caps, no manual cleanup; max_timeout as seconds */
    static const char minimal[] = "{\"policy\":{\"max_timeout\":60}}";
    CHECK_INT(sg_tenant_parse_json(minimal, strlen(minimal), "t-1", &t, err, sizeof(err)), 0);
    CHECK_STR(t.name, "t-1");
    CHECK_U64(t.policy.max_timeout_s, 60);
    CHECK_INT(t.policy.allow_manual_cleanup, 0);
    sg_tenant_dispose(&t);

    static const struct {
        const char *doc, *id, *err;
    } bad[] = {
        {"not json", "x", "not JSON"},
        {"[1]", "x", "JSON object"},
        {"{\"id\":\"other\"}", "x", "does not match"},
        {"{}", "bad id/..", "tenant id"},
        {"{\"name\":3}", "x", "'name'"},
        {"{\"colour\":\"red\"}", "x", "unknown key 'colour'"},
        {"{\"keys\":[]}", "x", "key record"},
        {"{\"backend_labels\":[\"a\"]}", "x", "backend_labels"},
        {"{\"backend_labels\":{\"zone\":[1]}}", "x", "backend_labels.zone"},
        {"{\"policy\":[]}", "x", "policy must be an object"},
        {"{\"policy\":{\"allowed_images\":\"python:*\"}}", "x", "allowed_images"},
        {"{\"policy\":{\"allowed_images\":[\"a\",2]}}", "x", "allowed_images"},
        {"{\"policy\":{\"max_timeout\":\"soon\"}}", "x", "policy.max_timeout"},
        {"{\"policy\":{\"max_timeout\":-1}}", "x", "policy.max_timeout"},
        {"{\"policy\":{\"allow_manual_cleanup\":\"yes\"}}", "x", "allow_manual_cleanup"},
        {"{\"policy\":{\"max_cpu\":\"lots\"}}", "x", "policy.max_cpu"},
        {"{\"policy\":{\"max_memory\":2}}", "x", "policy.max_memory"},
        {"{\"policy\":{\"max_gpus\":2}}", "x", "unknown key 'policy.max_gpus'"},
    };
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        err[0] = '\0';
        CHECK_INT(sg_tenant_parse_json(bad[i].doc, strlen(bad[i].doc), bad[i].id, &t, err, sizeof(err)), -1);
        CHECK(strstr(err, bad[i].err) != NULL);
        CHECK(t.id == NULL && t.backend_labels == NULL && t.policy.allowed_images == NULL);
    }
}

/* the tenant tag kept in snapshot names: built first, only the first prefix counts, hidden from tenants */
static void test_snapshot_tag(void)
{
    const char *tag = "sandgate.io/tenant";
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    const char *err = NULL;
    char tenant[SG_STORE_ID_MAX + 1];

    h2o_iovec_t b = sg_snapshot_tag_request(&pool, tag, h2o_iovec_init(H2O_STRLIT("team-a")), h2o_iovec_init(NULL, 0), &err);
    CHECK(b.base != NULL && strcmp(b.base, "{\"name\":\"sandgate.io/tenant=team-a;\"}") == 0);
    /* a tenant naming its snapshot like another tenant's tag stays the owner */
    b = sg_snapshot_tag_request(&pool, tag, h2o_iovec_init(H2O_STRLIT("team-b")),
                                h2o_iovec_init(H2O_STRLIT("{\"name\":\"sandgate.io/tenant=team-a;x\"}")), &err);
    json_t *snap = json_loadb(b.base, b.len, 0, NULL);
    CHECK(sg_snapshot_tag_owner(tag, snap, tenant) && strcmp(tenant, "team-b") == 0);
    sg_snapshot_tag_strip(tag, snap);
    CHECK(strcmp(json_string_value(json_object_get(snap, "name")), "sandgate.io/tenant=team-a;x") == 0);
    json_decref(snap);
    /* no name given: the name disappears for the tenant */
    snap = json_pack("{s:s, s:s}", "id", "s1", "name", "sandgate.io/tenant=team-a;");
    CHECK(sg_snapshot_tag_owner(tag, snap, tenant) && strcmp(tenant, "team-a") == 0);
    sg_snapshot_tag_strip(tag, snap);
    CHECK(json_object_get(snap, "name") == NULL);
    json_decref(snap);
    /* untagged or malformed names are not tags, and stay as they are */
    static const char *const untagged[] = {"mine",
                                           "sandgate.io/tenant",
                                           "sandgate.io/tenant=",
                                           "sandgate.io/tenant=a b;x",
                                           "sandgate.io/tenant=;x",
                                           "sandgate.io/tenantX=a;x",
                                           "sandgate.io/tenant=team-a"};
    for (size_t i = 0; i != sizeof(untagged) / sizeof(untagged[0]); ++i) {
        snap = json_pack("{s:s}", "name", untagged[i]);
        CHECK(!sg_snapshot_tag_owner(tag, snap, tenant));
        sg_snapshot_tag_strip(tag, snap);
        CHECK(strcmp(json_string_value(json_object_get(snap, "name")), untagged[i]) == 0);
        json_decref(snap);
    }
    /* bad request bodies */
    err = NULL;
    CHECK(sg_snapshot_tag_request(&pool, tag, h2o_iovec_init(H2O_STRLIT("t")), h2o_iovec_init(H2O_STRLIT("[1]")), &err).base ==
              NULL &&
          err != NULL);
    err = NULL;
    CHECK(sg_snapshot_tag_request(&pool, tag, h2o_iovec_init(H2O_STRLIT("t")), h2o_iovec_init(H2O_STRLIT("{\"name\":1}")), &err)
                  .base == NULL &&
          err != NULL);
    h2o_mem_clear_pool(&pool);
}

/* the create extension renew on access records: OpenSandbox's rule, a decimal string of 300..86400 */
static uint32_t extension_of(const char *body)
{
    json_t *j = json_loads(body, 0, NULL);
    uint32_t v = sg_renew_extension(j);
    json_decref(j);
    return v;
}

static void test_renew_extension(void)
{
    CHECK_U64(extension_of("{\"extensions\":{\"access.renew.extend.seconds\":\"300\"}}"), 300);
    CHECK_U64(extension_of("{\"extensions\":{\"access.renew.extend.seconds\":\"86400\"}}"), 86400);
    CHECK_U64(extension_of("{\"extensions\":{\"access.renew.extend.seconds\":\"1800\",\"other\":\"x\"}}"), 1800);
    const char *bad[] = {"{}",
                         "{\"extensions\":null}",
                         "{\"extensions\":{}}",
                         "{\"extensions\":{\"access.renew.extend.seconds\":300}}",
                         "{\"extensions\":{\"access.renew.extend.seconds\":\"299\"}}",
                         "{\"extensions\":{\"access.renew.extend.seconds\":\"86401\"}}",
                         "{\"extensions\":{\"access.renew.extend.seconds\":\"0300\"}}",
                         "{\"extensions\":{\"access.renew.extend.seconds\":\"3e2\"}}",
                         "{\"extensions\":{\"access.renew.extend.seconds\":\" 300\"}}",
                         "{\"extensions\":{\"access.renew.extend.seconds\":\"300 \"}}",
                         "{\"extensions\":{\"access.renew.extend.seconds\":\"-300\"}}",
                         "{\"extensions\":{\"access.renew.extend.seconds\":\"99999999999999999999\"}}",
                         "{\"extensions\":{\"access.renew.extend.seconds\":\"\"}}"};
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i)
        CHECK_U64(extension_of(bad[i]), 0);
    CHECK_U64(sg_renew_extension(NULL), 0);
}

int main(void)
{
    test_renew_extension();
    test_policy();
    test_quantities();
    test_keys_and_labels();
    test_stored_tenant_json();
    test_routes();
    test_urlenc();
    test_snapshot_tag();
    return TEST_DONE();
}
