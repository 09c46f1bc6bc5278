/*
 * Admission policy: the checks of create bodies (defaults, every rule, the SDK
 * bodies), metadata patches and network policy updates; both configuration
 * front-ends (YAML with file:line errors, JSON stored tenants) over the one table.
 */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "config/admission.h"
#include "config/config.h"
#include "config/tenant.h"
#include "test.h"
#include "util.h"

#define BASE                                                                                                                       \
    "listen:\n"                                                                                                                    \
    "  - address: 127.0.0.1:0\n"                                                                                                   \
    "backends:\n"                                                                                                                  \
    "  - name: a\n"                                                                                                                \
    "    url: http://127.0.0.1:1\n"                                                                                                \
    "tenants:\n"                                                                                                                   \
    "  - id: t\n"                                                                                                                  \
    "    admission:\n"

/* runs sg_tenant_check_create on BODY; returns the status, *code and the (possibly changed) body in *out if asked */
static int create(const sg_tenant_t *t, const char *body, const char **code, json_t **out)
{
    char msg[512] = "";
    sg_create_request_t req;
    json_error_t jerr;
    json_t *j = json_loads(body, 0, &jerr);
    if (j == NULL) {
        fprintf(stderr, "bad test JSON %s: %s\n", body, jerr.text);
        CHECK(!"test JSON");
        return -1;
    }
    *code = "";
    int st = sg_tenant_check_create(t, j, &req, code, msg, sizeof(msg));
    if (st != 0 && getenv("SG_TEST_VERBOSE") != NULL)
        fprintf(stderr, "  %d %s %s\n", st, *code, msg);
    if (out != NULL)
        *out = j;
    else
        json_decref(j);
    return st;
}

#define ORDINARY "\"image\":{\"uri\":\"python:3.11\"},\"timeout\":600,\"resourceLimits\":{\"cpu\":\"500m\",\"memory\":\"512Mi\"}"

#define EXPECT_REFUSED(t, body, expected_code)                                                                                     \
    do {                                                                                                                           \
        const char *c_;                                                                                                            \
        CHECK_INT(create((t), (body), &c_, NULL), 403);                                                                            \
        CHECK_STR(c_, (expected_code));                                                                                            \
    } while (0)

#define EXPECT_ADMITTED(t, body)                                                                                                   \
    do {                                                                                                                           \
        const char *c_;                                                                                                            \
        CHECK_INT(create((t), (body), &c_, NULL), 0);                                                                              \
    } while (0)

static void test_defaults(void)
{
    sg_tenant_t t = {.id = "b", .policy = {.allow_manual_cleanup = 1}};
    const char *code;

    /* what the SDKs send on an ordinary create */
    /* JS SDK 0.1.11 Sandbox.create({image}) (tests/node_modules/@alibaba-group/opensandbox dist/index.js) */
    EXPECT_ADMITTED(&t, "{\"image\":{\"uri\":\"python:3.11\"},\"entrypoint\":[\"tail\",\"-f\",\"/dev/null\"],"
                        "\"resourceLimits\":{\"cpu\":\"1\",\"memory\":\"2Gi\"},\"secureAccess\":false,\"env\":{},\"metadata\":{},"
                        "\"extensions\":{},\"timeout\":600}");
    /* Python SDK Sandbox.create(image) (sandbox_model_converter.to_api_create_sandbox_request + CreateSandboxRequest.to_dict) */
    EXPECT_ADMITTED(&t, "{\"image\":{\"uri\":\"python:3.11\"},\"resourceLimits\":{\"cpu\":\"1\",\"memory\":\"2Gi\"},"
                        "\"entrypoint\":[\"tail\",\"-f\",\"/dev/null\"],\"timeout\":600}");
    EXPECT_ADMITTED(&t, "{\"image\":{\"uri\":\"python:3.11\"},\"resourceLimits\":{\"cpu\":\"1\",\"memory\":\"2Gi\"},"
                        "\"entrypoint\":[\"python\",\"/app/main.py\"],\"timeout\":600,\"env\":{\"DEBUG\":\"true\",\"PATH\":\"/x\"},"
                        "\"metadata\":{\"project\":\"p\"},\"resourceRequests\":{\"cpu\":\"250m\",\"memory\":\"256Mi\"}}");
    /* a deny-default policy with deny rules only narrows */
    EXPECT_ADMITTED(&t, "{" ORDINARY
                        ",\"networkPolicy\":{\"defaultAction\":\"deny\",\"egress\":[{\"action\":\"deny\",\"target\":\"x.com\"}]}}");
    EXPECT_ADMITTED(&t, "{" ORDINARY ",\"credentialProxy\":{\"enabled\":false},\"volumes\":[],\"platform\":null}");
    EXPECT_ADMITTED(&t, "{\"snapshotId\":\"snap-1\",\"timeout\":600}");

    /* the attacks of issue 6 item 2, under the defaults */
    EXPECT_REFUSED(&t, "{" ORDINARY ",\"volumes\":[{\"name\":\"root\",\"host\":{\"path\":\"/\"},\"mountPath\":\"/host\"}]}",
                   "GATEWAY::ADMISSION_HOST_VOLUME");
    EXPECT_REFUSED(
        &t, "{" ORDINARY ",\"volumes\":[{\"name\":\"e\",\"host\":{\"path\":\"/etc\"},\"mountPath\":\"/e\",\"readOnly\":true}]}",
        "GATEWAY::ADMISSION_HOST_VOLUME");
    EXPECT_REFUSED(
        &t, "{" ORDINARY ",\"volumes\":[{\"name\":\"d\",\"host\":{\"path\":\"/var/run/docker.sock\"},\"mountPath\":\"/d\"}]}",
        "GATEWAY::ADMISSION_HOST_VOLUME");
    EXPECT_REFUSED(&t, "{" ORDINARY ",\"volumes\":[{\"name\":\"p\",\"pvc\":{\"claimName\":\"other-team\"},\"mountPath\":\"/p\"}]}",
                   "GATEWAY::ADMISSION_PVC_VOLUME");
    EXPECT_REFUSED(&t,
                   "{" ORDINARY
                   ",\"volumes\":[{\"name\":\"o\",\"ossfs\":{\"bucket\":\"b\",\"endpoint\":\"e\",\"accessKeyId\":\"a\","
                   "\"accessKeySecret\":\"s\"},\"mountPath\":\"/o\"}]}",
                   "GATEWAY::ADMISSION_OSSFS_VOLUME");
    EXPECT_REFUSED(&t, "{" ORDINARY ",\"networkPolicy\":{\"defaultAction\":\"allow\"}}", "GATEWAY::ADMISSION_NETWORK_POLICY");
    EXPECT_REFUSED(
        &t, "{" ORDINARY ",\"networkPolicy\":{\"defaultAction\":\"deny\",\"egress\":[{\"action\":\"allow\",\"target\":\"*\"}]}}",
        "GATEWAY::ADMISSION_NETWORK_POLICY");
    EXPECT_REFUSED(&t, "{" ORDINARY ",\"networkPolicy\":{\"defaultAction\":\"deny\"},\"credentialProxy\":{\"enabled\":true}}",
                   "GATEWAY::ADMISSION_CREDENTIAL_PROXY");
    EXPECT_REFUSED(&t, "{" ORDINARY ",\"env\":{\"LD_PRELOAD\":\"/tmp/x.so\"}}", "GATEWAY::ADMISSION_ENV");
    EXPECT_REFUSED(&t, "{" ORDINARY ",\"env\":{\"LD_AUDIT\":\"x\"}}", "GATEWAY::ADMISSION_ENV");
    EXPECT_REFUSED(&t, "{" ORDINARY ",\"env\":{\"EXECD_BOOTSTRAP_PRE_SCRIPT\":\"x\"}}", "GATEWAY::ADMISSION_ENV");
    EXPECT_REFUSED(&t, "{" ORDINARY ",\"extensions\":{\"poolRef\":\"p\"}}", "GATEWAY::ADMISSION_EXTENSIONS");
    EXPECT_REFUSED(&t, "{" ORDINARY ",\"platform\":{\"os\":\"linux\",\"arch\":\"amd64\"}}", "GATEWAY::ADMISSION_PLATFORM");
    EXPECT_REFUSED(&t, "{\"image\":{\"uri\":\"p\"},\"timeout\":60,\"resourceLimits\":{\"cpu\":\"1\",\"nvidia.com/gpu\":\"8\"}}",
                   "GATEWAY::ADMISSION_RESOURCE");
    EXPECT_REFUSED(&t, "{" ORDINARY ",\"resourceRequests\":{\"gpu\":\"1\"}}", "GATEWAY::ADMISSION_RESOURCE");
    EXPECT_REFUSED(&t, "{" ORDINARY ",\"privileged\":true}", "GATEWAY::ADMISSION_UNKNOWN_FIELD");
    EXPECT_REFUSED(&t, "{\"image\":{\"uri\":\"p\",\"pullPolicy\":\"x\"},\"timeout\":60}", "GATEWAY::ADMISSION_UNKNOWN_FIELD");
    EXPECT_REFUSED(&t,
                   "{" ORDINARY
                   ",\"volumes\":[{\"name\":\"n\",\"nfs\":{\"server\":\"x\"},\"pvc\":{\"claimName\":\"c\"},\"mountPath\":\"/n\"}]}",
                   "GATEWAY::ADMISSION_UNKNOWN_FIELD");
    EXPECT_REFUSED(&t, "{\"image\":{\"uri\":\"p\",\"auth\":{\"username\":\"u\",\"password\":\"p\"}},\"timeout\":60}",
                   "GATEWAY::ADMISSION_IMAGE_AUTH");
    EXPECT_REFUSED(&t,
                   "{" ORDINARY
                   ",\"volumes\":[{\"name\":\"a\",\"pvc\":{\"claimName\":\"c\"},\"mountPath\":\"/a\",\"subPath\":\"../../x\"}]}",
                   "GATEWAY::ADMISSION_VOLUME_PATH");
    EXPECT_REFUSED(&t, "{" ORDINARY ",\"volumes\":[{\"name\":\"a\",\"host\":{\"path\":\"/srv/../etc\"},\"mountPath\":\"/a\"}]}",
                   "GATEWAY::ADMISSION_VOLUME_PATH");
    /* nine volumes: more than the default max_volumes (8) */
    EXPECT_REFUSED(&t, "{" ORDINARY ",\"volumes\":[{},{},{},{},{},{},{},{},{}]}", "GATEWAY::ADMISSION_VOLUME_COUNT");

    /* malformed fields are 400 */
    CHECK_INT(create(&t, "{" ORDINARY ",\"volumes\":{}}", &code, NULL), 400);
    CHECK_INT(create(&t, "{" ORDINARY ",\"volumes\":[{\"name\":\"a\",\"mountPath\":\"/a\"}]}", &code, NULL), 400);
    CHECK_INT(create(&t, "{" ORDINARY ",\"env\":{\"A\":1}}", &code, NULL), 400);
    CHECK_INT(create(&t, "{" ORDINARY ",\"entrypoint\":\"sh\"}", &code, NULL), 400);
    CHECK_INT(create(&t, "{" ORDINARY ",\"secureAccess\":\"yes\"}", &code, NULL), 400);
    CHECK_INT(create(&t, "{" ORDINARY ",\"networkPolicy\":{\"defaultAction\":\"maybe\"}}", &code, NULL), 400);
    CHECK_INT(create(&t, "{" ORDINARY ",\"metadata\":{\"a\":1}}", &code, NULL), 400);
    CHECK_STR(code, "GATEWAY::INVALID_REQUEST");
}

static sg_tenant_t *load_tenant(const char *yaml, sg_config_t **conf)
{
    char path[512];
    write_file(path, sizeof(path), "t.yaml", "%s", yaml);
    *conf = load_ok(path);
    return *conf != NULL ? (*conf)->tenants : NULL;
}

static void test_configured(void)
{
    sg_config_t *conf;
    sg_tenant_t *t = load_tenant(BASE "      host_path_prefixes: [/srv/demo-data/]\n"
                                      "      pvc_claims: [\"team-a-*\"]\n"
                                      "      ossfs_buckets: [team-a-bucket]\n"
                                      "      egress_allow: [\"*.pypi.org\", github.com]\n"
                                      "      default_network_policy:\n"
                                      "        defaultAction: deny\n"
                                      "        egress:\n"
                                      "          - {action: allow, target: pypi.pypi.org}\n"
                                      "      platform_os: [linux]\n"
                                      "      platform_arch: [arm64]\n"
                                      "      entrypoints: [\"tail -f /dev/null\", \"python /app/main.py\"]\n"
                                      "      env_deny: [SECRET_*]\n"
                                      "      env_allow: [\"APP_*\", LD_PRELOAD, SECRET_X]\n"
                                      "      extension_keys: [access.renew.extend.seconds]\n"
                                      "      force_secure_access: true\n"
                                      "      max_resources: {nvidia.com/gpu: 1, ephemeral-storage: 10Gi}\n"
                                      "      max_volumes: 2\n"
                                      "      max_metadata_keys: 2\n"
                                      "      allow_image_auth: true\n"
                                      "      allow_credential_proxy: yes\n",
                                 &conf);
    if (t == NULL)
        return;
    const char *code;
    json_t *out;

    /* host mount under the prefix: admitted and forced read-only */
    CHECK_INT(create(t,
                     "{" ORDINARY ",\"volumes\":[{\"name\":\"d\",\"host\":{\"path\":\"/srv/demo-data/x\"},\"mountPath\":\"/d\","
                     "\"readOnly\":false}]}",
                     &code, &out),
              0);
    CHECK(json_is_true(json_object_get(json_array_get(json_object_get(out, "volumes"), 0), "readOnly")));
    /* forced secureAccess, default network policy inserted */
    CHECK(json_is_true(json_object_get(out, "secureAccess")));
    CHECK_STR(json_string_value(json_object_get(json_object_get(out, "networkPolicy"), "defaultAction")), "deny");
    json_decref(out);
    /* {} means allow-all at the sidecar: replaced by the default too */
    CHECK_INT(create(t, "{" ORDINARY ",\"networkPolicy\":{}}", &code, &out), 0);
    CHECK_INT(json_array_size(json_object_get(json_object_get(out, "networkPolicy"), "egress")), 1);
    json_decref(out);
    EXPECT_ADMITTED(t, "{" ORDINARY ",\"volumes\":[{\"name\":\"d\",\"host\":{\"path\":\"/srv/demo-data\"},\"mountPath\":\"/d\"}]}");
    EXPECT_REFUSED(t, "{" ORDINARY ",\"volumes\":[{\"name\":\"d\",\"host\":{\"path\":\"/srv/demo-data2\"},\"mountPath\":\"/d\"}]}",
                   "GATEWAY::ADMISSION_HOST_VOLUME");
    EXPECT_REFUSED(t, "{" ORDINARY ",\"volumes\":[{\"name\":\"d\",\"host\":{\"path\":\"/srv\"},\"mountPath\":\"/d\"}]}",
                   "GATEWAY::ADMISSION_HOST_VOLUME");
    EXPECT_REFUSED(t,
                   "{" ORDINARY ",\"volumes\":[{\"name\":\"d\",\"host\":{\"path\":\"/srv/demo-data\"},\"mountPath\":\"/d\","
                   "\"subPath\":\"/etc\"}]}",
                   "GATEWAY::ADMISSION_VOLUME_PATH");
    EXPECT_REFUSED(t,
                   "{" ORDINARY ",\"volumes\":[{\"name\":\"d\",\"host\":{\"path\":\"/srv/demo-data\"},\"mountPath\":\"/d/..\"}]}",
                   "GATEWAY::ADMISSION_VOLUME_PATH");
    EXPECT_ADMITTED(t,
                    "{" ORDINARY ",\"volumes\":[{\"name\":\"p\",\"pvc\":{\"claimName\":\"team-a-cache\"},\"mountPath\":\"/p\"}]}");
    EXPECT_REFUSED(t, "{" ORDINARY ",\"volumes\":[{\"name\":\"p\",\"pvc\":{\"claimName\":\"team-b-cache\"},\"mountPath\":\"/p\"}]}",
                   "GATEWAY::ADMISSION_PVC_VOLUME");
    EXPECT_REFUSED(t, "{" ORDINARY ",\"volumes\":[{},{},{}]}", "GATEWAY::ADMISSION_VOLUME_COUNT");
    EXPECT_ADMITTED(t, "{" ORDINARY ",\"volumes\":[{\"name\":\"o\",\"ossfs\":{\"bucket\":\"team-a-bucket\",\"endpoint\":\"e\","
                       "\"accessKeyId\":\"a\",\"accessKeySecret\":\"s\"},\"mountPath\":\"/o\"}]}");
    EXPECT_REFUSED(t,
                   "{" ORDINARY ",\"volumes\":[{\"name\":\"o\",\"ossfs\":{\"bucket\":\"team-a-bucket\",\"endpoint\":\"e\","
                   "\"accessKeyId\":\"a\",\"accessKeySecret\":\"s\",\"options\":[\"allow_other\"]},\"mountPath\":\"/o\"}]}",
                   "GATEWAY::ADMISSION_OSSFS_VOLUME");
    /* network: narrowing admitted, widening refused */
    EXPECT_ADMITTED(t, "{" ORDINARY ",\"networkPolicy\":{\"defaultAction\":\"deny\",\"egress\":[{\"action\":\"allow\","
                       "\"target\":\"files.pypi.org\"},{\"action\":\"allow\",\"target\":\"GitHub.com\"},{\"action\":\"allow\","
                       "\"target\":\"*.x.pypi.org\"},{\"action\":\"deny\",\"target\":\"*\"}]}}");
    EXPECT_REFUSED(t, "{" ORDINARY ",\"networkPolicy\":{\"egress\":[{\"action\":\"allow\",\"target\":\"pypi.org\"}]}}",
                   "GATEWAY::ADMISSION_NETWORK_POLICY");
    EXPECT_REFUSED(t, "{" ORDINARY ",\"networkPolicy\":{\"egress\":[{\"action\":\"allow\",\"target\":\"api.github.com\"}]}}",
                   "GATEWAY::ADMISSION_NETWORK_POLICY");
    EXPECT_REFUSED(t, "{" ORDINARY ",\"networkPolicy\":{\"egress\":[{\"action\":\"allow\",\"target\":\"*.org\"}]}}",
                   "GATEWAY::ADMISSION_NETWORK_POLICY");
    EXPECT_REFUSED(t, "{" ORDINARY ",\"networkPolicy\":{\"defaultAction\":\"allow\"}}", "GATEWAY::ADMISSION_NETWORK_POLICY");
    /* platform, entrypoint, env, extensions, resources */
    EXPECT_ADMITTED(t, "{" ORDINARY ",\"platform\":{\"os\":\"linux\",\"arch\":\"arm64\"}}");
    EXPECT_REFUSED(t, "{" ORDINARY ",\"platform\":{\"os\":\"linux\",\"arch\":\"amd64\"}}", "GATEWAY::ADMISSION_PLATFORM");
    EXPECT_REFUSED(t, "{" ORDINARY ",\"platform\":{\"os\":\"windows\",\"arch\":\"arm64\"}}", "GATEWAY::ADMISSION_PLATFORM");
    EXPECT_ADMITTED(t, "{" ORDINARY ",\"entrypoint\":[\"tail\",\"-f\",\"/dev/null\"]}");
    EXPECT_REFUSED(t, "{" ORDINARY ",\"entrypoint\":[\"nsenter\",\"-t\",\"1\",\"-m\",\"sh\"]}", "GATEWAY::ADMISSION_ENTRYPOINT");
    EXPECT_REFUSED(t, "{" ORDINARY ",\"entrypoint\":[\"tail -f\",\"/dev/null\"]}", "GATEWAY::ADMISSION_ENTRYPOINT");
    EXPECT_ADMITTED(t, "{" ORDINARY
                       ",\"env\":{\"APP_MODE\":\"x\",\"LD_PRELOAD\":\"y\"}}"); /* the tenant's own env_deny replaced the default */
    EXPECT_REFUSED(t, "{" ORDINARY ",\"env\":{\"SECRET_X\":\"x\"}}", "GATEWAY::ADMISSION_ENV"); /* deny wins over allow */
    EXPECT_REFUSED(t, "{" ORDINARY ",\"env\":{\"HOME\":\"x\"}}", "GATEWAY::ADMISSION_ENV");
    EXPECT_ADMITTED(t, "{" ORDINARY ",\"extensions\":{\"access.renew.extend.seconds\":\"600\"}}");
    EXPECT_REFUSED(t, "{" ORDINARY ",\"extensions\":{\"poolRef\":\"x\"}}", "GATEWAY::ADMISSION_EXTENSIONS");
    EXPECT_ADMITTED(t, "{" ORDINARY ",\"resourceRequests\":{\"nvidia.com/gpu\":\"1\",\"ephemeral-storage\":\"10Gi\"}}");
    EXPECT_REFUSED(t, "{" ORDINARY ",\"resourceRequests\":{\"nvidia.com/gpu\":\"2\"}}", "GATEWAY::ADMISSION_RESOURCE");
    EXPECT_REFUSED(t, "{" ORDINARY ",\"resourceRequests\":{\"ephemeral-storage\":\"11Gi\"}}", "GATEWAY::ADMISSION_RESOURCE");
    EXPECT_ADMITTED(t, "{" ORDINARY ",\"image\":{\"uri\":\"p\",\"auth\":{\"username\":\"u\",\"password\":\"p\"}}}");
    EXPECT_ADMITTED(t, "{" ORDINARY ",\"networkPolicy\":{\"defaultAction\":\"deny\"},\"credentialProxy\":{\"enabled\":true}}");
    EXPECT_REFUSED(t, "{" ORDINARY ",\"metadata\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}}", "GATEWAY::ADMISSION_METADATA");

    /* metadata patches and network policy updates */
    char msg[512];
    json_t *j = json_loads("{\"a\":\"1\",\"b\":null}", 0, NULL);
    CHECK_INT(sg_admission_check_metadata_patch(&t->admission, t->id, j, &code, msg, sizeof(msg)), 0);
    json_decref(j);
    j = json_loads("{\"a\":\"1\",\"b\":null,\"c\":\"x\"}", 0, NULL);
    CHECK_INT(sg_admission_check_metadata_patch(&t->admission, t->id, j, &code, msg, sizeof(msg)), 403);
    CHECK_STR(code, "GATEWAY::ADMISSION_METADATA");
    json_decref(j);
    j = json_loads("{\"a\":7}", 0, NULL);
    CHECK_INT(sg_admission_check_metadata_patch(&t->admission, t->id, j, &code, msg, sizeof(msg)), 400);
    json_decref(j);
    static const struct {
        const char *body;
        int status;
    } updates[] = {
        {"{\"defaultAction\":\"deny\",\"egress\":[{\"action\":\"allow\",\"target\":\"github.com\"}]}", 0},
        {"{\"defaultAction\":\"deny\",\"egress\":[{\"action\":\"allow\",\"target\":\"evil.com\"}]}", 403},
        {"{\"defaultAction\":\"allow\"}", 403},
        {"{}", 403}, /* clearing: allow-all */
        {"{\"egress\":[{\"action\":\"deny\",\"target\":\"x.com\"}]}", 403},
        {"{\"defaultAction\":null}", 400},
    };
    for (size_t i = 0; i != sizeof(updates) / sizeof(updates[0]); ++i) {
        j = json_loads(updates[i].body, 0, NULL);
        CHECK_INT(sg_admission_check_network_update(&t->admission, t->id, j, &code, msg, sizeof(msg)), updates[i].status);
        json_decref(j);
    }
    sg_config_release(conf);

    /* unknown_fields: pass lets an unknown field through, but never an unknown volume type */
    t = load_tenant(BASE "      unknown_fields: pass\n      pvc_claims: ['*']\n      network_allow_all: true\n", &conf);
    if (t == NULL)
        return;
    EXPECT_ADMITTED(t, "{" ORDINARY ",\"futureField\":1,\"networkPolicy\":{\"defaultAction\":\"allow\"}}");
    CHECK_INT(create(t, "{" ORDINARY ",\"volumes\":[{\"name\":\"n\",\"nfs\":{},\"mountPath\":\"/n\"}]}", &code, NULL), 400);
    j = json_loads("{}", 0, NULL);
    CHECK_INT(sg_admission_check_network_update(&t->admission, t->id, j, &code, msg, sizeof(msg)), 0);
    json_decref(j);
    sg_config_release(conf);
}

static void test_helpers(void)
{
    CHECK(sg_admission_has_dotdot(".."));
    CHECK(sg_admission_has_dotdot("a/../b"));
    CHECK(sg_admission_has_dotdot("a/.."));
    CHECK(sg_admission_has_dotdot("..\\x"));
    CHECK(!sg_admission_has_dotdot("a/..b/c..d/.../x.."));
    CHECK(!sg_admission_has_dotdot("/srv/./x"));
    CHECK(sg_admission_egress_covers("*", "anything"));
    CHECK(sg_admission_egress_covers("a.com", "A.COM"));
    CHECK(!sg_admission_egress_covers("a.com", "b.a.com"));
    CHECK(sg_admission_egress_covers("*.a.com", "b.a.com"));
    CHECK(sg_admission_egress_covers("*.a.com", "*.b.a.com"));
    CHECK(!sg_admission_egress_covers("*.a.com", "a.com"));
    CHECK(!sg_admission_egress_covers("*.a.com", "*.com"));
    CHECK(!sg_admission_egress_covers("*.a.com", "*a.com"));
    CHECK(!sg_admission_egress_covers("*.a.com", "ba.com"));
    CHECK(!sg_admission_egress_covers("*.a.com", "*"));
    CHECK(!sg_admission_egress_covers("*.a.com", ".a.com"));
    double q;
    CHECK(sg_admission_parse_quantity("8", &q) == 0 && q == 8);
    CHECK(sg_admission_parse_quantity("500m", &q) == 0 && q == 0.5);
    CHECK(sg_admission_parse_quantity("2Ki", &q) == 0 && q == 2048);
    CHECK(sg_admission_parse_quantity("1G", &q) == 0 && q == 1e9);
    CHECK(sg_admission_parse_quantity("-1", &q) != 0);
    CHECK(sg_admission_parse_quantity("1X", &q) != 0);
    CHECK(sg_admission_parse_quantity("", &q) != 0);
}

static void test_yaml_errors(void)
{
    EXPECT_ERRORS("adm-unknown", BASE "      host_paths: [/x]\n", "9: unknown key 'host_paths' in admission");
    EXPECT_ERRORS("adm-map", BASE "      [1]\n", "9: admission must be a mapping");
    EXPECT_ERRORS("adm-bool", BASE "      host_read_only: maybe\n", "9: admission.host_read_only must be true or false");
    EXPECT_ERRORS("adm-uint", BASE "      max_volumes: -1\n", "9: admission.max_volumes must be an integer between 0 and 1000");
    EXPECT_ERRORS("adm-enum", BASE "      unknown_fields: allow\n", "9: admission.unknown_fields must be reject or pass");
    EXPECT_ERRORS("adm-list", BASE "      pvc_claims: team-a\n", "9: admission.pvc_claims must be a list of strings");
    EXPECT_ERRORS("adm-path", BASE "      host_path_prefixes: [srv]\n",
                  "9: admission.host_path_prefixes: 'srv' must be an absolute path without '..'");
    EXPECT_ERRORS("adm-dotdot", BASE "      host_path_prefixes:\n        - /srv\n        - /srv/../etc\n",
                  "10: admission.host_path_prefixes: '/srv/../etc' must be an absolute path without '..'");
    EXPECT_ERRORS("adm-egress", BASE "      egress_allow: ['a*.com']\n",
                  "9: admission.egress_allow: 'a*.com' must be a host name, '*.' and a domain, or '*'");
    EXPECT_ERRORS("adm-res", BASE "      max_resources: {nvidia.com/gpu: lots}\n",
                  "9: admission.max_resources.nvidia.com/gpu must be a quantity like \"1\", \"500m\" or \"10Gi\"");
    EXPECT_ERRORS("adm-res-cpu", BASE "      max_resources: {cpu: 2}\n",
                  "9: admission.max_resources.cpu: cpu and memory are capped by policy.max_cpu and policy.max_memory");
    EXPECT_ERRORS("adm-net", BASE "      default_network_policy: allow\n",
                  "9: admission.default_network_policy must be a network policy {defaultAction, egress}");
    EXPECT_ERRORS("adm-net-wide",
                  BASE "      default_network_policy: {defaultAction: deny, egress: [{action: allow, target: x.com}]}\n",
                  "9: admission.default_network_policy is outside the tenant's own rules: networkPolicy.egress[0] allows 'x.com', "
                  "outside the egress allowlist of tenant (this tenant) (admission.egress_allow: none)");
    EXPECT_ERRORS("adm-dup", BASE "      max_volumes: 1\n      max_volumes: 2\n", "10: duplicate key 'max_volumes' in admission");
}

static void test_json(void)
{
    static const char doc[] = "{\"admission\":{\"host_path_prefixes\":[\"/srv/demo-data\"],\"host_read_only\":false,"
                              "\"max_volumes\":3,\"unknown_fields\":\"pass\",\"max_resources\":{\"nvidia.com/gpu\":\"2\"},"
                              "\"entrypoints\":[]}}";
    sg_tenant_t t;
    char err[512] = "";
    const char *code;
    json_t *out;
    CHECK_INT(sg_tenant_parse_json(doc, strlen(doc), "j", &t, err, sizeof(err)), 0);
    CHECK_INT(sg_admission_num(&t.admission, SG_ADM_MAX_VOLUMES), 3);
    CHECK_INT(sg_admission_num(&t.admission, SG_ADM_MAX_METADATA_KEYS), 0); /* default: no cap */
    t.policy.allow_manual_cleanup = 1;
    CHECK_INT(create(&t,
                     "{" ORDINARY ",\"volumes\":[{\"name\":\"d\",\"host\":{\"path\":\"/srv/demo-data/a\"},\"mountPath\":\"/d\"}]}",
                     &code, &out),
              0);
    CHECK(json_object_get(json_array_get(json_object_get(out, "volumes"), 0), "readOnly") == NULL); /* not forced */
    json_decref(out);
    EXPECT_REFUSED(&t, "{" ORDINARY ",\"entrypoint\":[\"tail\",\"-f\",\"/dev/null\"]}", "GATEWAY::ADMISSION_ENTRYPOINT");
    EXPECT_ADMITTED(&t, "{\"snapshotId\":\"s\",\"timeout\":60,\"resourceLimits\":{\"nvidia.com/gpu\":\"2\"},\"new\":1}");
    sg_tenant_dispose(&t);

    static const struct {
        const char *doc, *err;
    } bad[] = {
        {"{\"admission\":[]}", "admission must be an object"},
        {"{\"admission\":{\"nope\":1}}", "unknown key 'admission.nope'"},
        {"{\"admission\":{\"host_read_only\":\"true\"}}", "admission.host_read_only must be true or false"},
        {"{\"admission\":{\"max_volumes\":\"3\"}}", "admission.max_volumes must be an integer"},
        {"{\"admission\":{\"env_deny\":[\"\"]}}", "admission.env_deny must be a list of non-empty strings"},
        {"{\"admission\":{\"egress_allow\":[\"?.com\"]}}", "admission.egress_allow: '?.com' must be a host name"},
        {"{\"admission\":{\"network_allow_all\":false,\"default_network_policy\":{\"defaultAction\":\"allow\"}}}",
         "admission.default_network_policy is outside the tenant's own rules"},
    };
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        err[0] = '\0';
        CHECK_INT(sg_tenant_parse_json(bad[i].doc, strlen(bad[i].doc), "j", &t, err, sizeof(err)), -1);
        if (strstr(err, bad[i].err) == NULL)
            fprintf(stderr, "  got '%s', expected '%s'\n", err, bad[i].err);
        CHECK(strstr(err, bad[i].err) != NULL);
    }
}

int main(void)
{
    tmpdir_create("admission");
    test_defaults();
    test_configured();
    test_helpers();
    test_yaml_errors();
    test_json();
    tmpdir_remove();
    return TEST_DONE();
}
