/*
 * Feeds: JSON request bodies the gateway parses and checks itself, as lifecycle.c parses them (json_loadb with
 * JSON_REJECT_DUPLICATES): CreateSandboxRequest to sg_tenant_check_create (policy + every admission rule,
 * config/admission*.c, config/tenant.c), metadata merge patches to sg_admission_check_metadata_patch and network
 * policy updates to sg_admission_check_network_update. The first byte picks one of three tenants (the defaults;
 * a permissive one with host paths, extra resources and unknown fields passed; a strict one with image, entrypoint,
 * env, extension and metadata limits, a forced secure access and a default network policy); the rest is the body.
 * Asserts beyond "no crash": the status is 0, 400 or 403 with a GATEWAY:: code and a NUL-terminated message; an
 * admitted create reports what it admitted consistently (image xor snapshot, timeout >= 0, cpu/memory within the
 * tenant's caps) and admitting is idempotent: the body as changed by the check (forced values) is admitted again
 * with the same result.
 */
#include <jansson.h>
#include "config/admission.h"
#include "config/tenant.h"
#include "fuzz.h"

static const char *const docs[] = {
    "{}",
    "{\"policy\":{\"allow_manual_cleanup\":true,\"max_cpu\":\"4\",\"max_memory\":\"8Gi\"},"
    "\"admission\":{\"host_path_prefixes\":[\"/srv/data\",\"/tmp/x\"],\"host_read_only\":false,\"max_volumes\":3,"
    "\"unknown_fields\":\"pass\",\"max_resources\":{\"nvidia.com/gpu\":\"2\",\"ephemeral-storage\":\"10Gi\"},"
    "\"pvc_claims\":[\"data-*\"],\"ossfs_buckets\":[\"b?\"],\"egress_allow\":[\"*.example.com\",\"pypi.org\"],"
    "\"allow_credential_proxy\":true,\"allow_image_auth\":true,\"platform_os\":[\"linux\"],\"platform_arch\":[\"amd64\"]}}",
    "{\"policy\":{\"allowed_images\":[\"python:*\",\"node:2?\"],\"max_timeout\":\"2h\",\"max_cpu\":\"1500m\",\"max_memory\":"
    "\"2Gi\"},"
    "\"admission\":{\"entrypoints\":[\"python\",\"tail\"],\"env_allow\":[\"APP_*\",\"DEBUG\"],\"env_deny\":[\"APP_SECRET*\"],"
    "\"extension_keys\":[\"a\"],\"force_secure_access\":true,\"max_metadata_keys\":3,\"max_volumes\":0,"
    "\"egress_allow\":[\"*.example.com\"],\"network_allow_all\":false,"
    "\"default_network_policy\":{\"defaultAction\":\"deny\",\"egress\":[{\"action\":\"allow\",\"target\":\"api.example.com\"}]}}}",
};
#define NUM_TENANTS (sizeof(docs) / sizeof(docs[0]))
static sg_tenant_t tenants[NUM_TENANTS];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    for (size_t i = 0; i != NUM_TENANTS; ++i) {
        char err[512];
        if (sg_tenant_parse_json(docs[i], strlen(docs[i]), "t-fuzz", tenants + i, err, sizeof(err)) != 0) {
            fprintf(stderr, "tenant %zu: %s\n", i, err);
            abort();
        }
    }
    return 0;
}

static void check_answer(int status, const char *code, const char *msg, size_t msglen)
{
    FUZZ_CHECK(status == 0 || status == 400 || status == 403);
    if (status != 0) {
        FUZZ_CHECK(code != NULL && strncmp(code, "GATEWAY::", 9) == 0);
        FUZZ_CHECK(memchr(msg, '\0', msglen) != NULL);
    }
}

static void fuzz_create(const sg_tenant_t *t, json_t *body)
{
    const char *code = NULL;
    char msg[512];
    sg_create_request_t req;
    int status = sg_tenant_check_create(t, body, &req, &code, msg, sizeof(msg));
    check_answer(status, code, msg, sizeof(msg));
    if (status != 0)
        return;
    FUZZ_CHECK((req.image != NULL) != (req.snapshot_id != NULL));
    FUZZ_CHECK(req.timeout_s >= 0);
    FUZZ_CHECK(t->policy.max_cpu_millis == 0 || req.cpu_millis <= t->policy.max_cpu_millis);
    FUZZ_CHECK(t->policy.max_memory_mb == 0 || req.memory_mb <= t->policy.max_memory_mb);
    /* what was admitted (with the forced values in place) is admitted again, unchanged */
    char *once = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    sg_create_request_t again;
    int status2 = sg_tenant_check_create(t, body, &again, &code, msg, sizeof(msg));
    if (status2 != 0)
        fprintf(stderr, "re-check refused: %s %s\n", code, msg);
    FUZZ_CHECK(status2 == 0);
    char *twice = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    FUZZ_CHECK(once != NULL && twice != NULL && strcmp(once, twice) == 0);
    FUZZ_CHECK(again.timeout_s == req.timeout_s && again.cpu_millis == req.cpu_millis && again.memory_mb == req.memory_mb);
    free(once);
    free(twice);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t sel = fuzz_take_byte(&data, &size);
    const sg_tenant_t *t = tenants + (sel % NUM_TENANTS);
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (body == NULL || !json_is_object(body))
        goto Exit;
    const char *code = NULL;
    char msg[512];
    switch ((sel / NUM_TENANTS) % 3) {
    case 0:
        fuzz_create(t, body);
        break;
    case 1:
        check_answer(sg_admission_check_metadata_patch(&t->admission, t->id, body, &code, msg, sizeof(msg)), code, msg,
                     sizeof(msg));
        break;
    default:
        check_answer(sg_admission_check_network_update(&t->admission, t->id, body, &code, msg, sizeof(msg)), code, msg,
                     sizeof(msg));
        break;
    }
Exit:
    json_decref(body);
    return 0;
}
