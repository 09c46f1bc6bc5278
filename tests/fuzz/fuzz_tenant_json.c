/*
 * Feeds: tenant documents as stored in the state store (Redis), to sg_tenant_parse_json (config/tenant_json.c:
 * name, keys, backend labels, the policy table and the admission table), under a fixed id; a parsed tenant then
 * checks a fixed ordinary create body (sg_tenant_check_create), so whatever a document sets is used once.
 * Asserts beyond "no crash": a refused document leaves nothing allocated in the output and a NUL-terminated, non-empty
 * message; a parsed one has the id it is stored under, a name, counts matching its arrays, policy values inside the
 * table's bounds, and answers the create with 0, 400 or 403 and a GATEWAY:: code.
 */
#include <jansson.h>
#include "config/tenant.h"
#include "fuzz.h"

static const char ordinary[] = "{\"image\":{\"uri\":\"python:3.11\"},\"timeout\":600,\"resourceLimits\":{\"cpu\":\"500m\","
                               "\"memory\":\"512Mi\"},\"env\":{\"APP\":\"1\"},\"metadata\":{\"project\":\"p\"},"
                               "\"volumes\":[{\"name\":\"d\",\"host\":{\"path\":\"/srv/data/a\"},\"mountPath\":\"/d\"}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_tenant_t t;
    char err[512];
    err[0] = '\0';
    if (sg_tenant_parse_json((const char *)data, size, "t-1", &t, err, sizeof(err)) != 0) {
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
        FUZZ_CHECK(t.id == NULL && t.keys == NULL && t.backend_labels == NULL && t.policy.allowed_images == NULL);
        return 0;
    }
    FUZZ_CHECK(t.id != NULL && strcmp(t.id, "t-1") == 0 && t.name != NULL);
    FUZZ_CHECK((t.num_keys == 0) == (t.keys == NULL) || t.num_keys == 0);
    FUZZ_CHECK((t.num_backend_labels == 0) || t.backend_labels != NULL);
    for (size_t i = 0; i != t.num_backend_labels; ++i)
        FUZZ_CHECK(t.backend_labels[i].key != NULL && (t.backend_labels[i].num_values == 0 || t.backend_labels[i].values != NULL));
    size_t nfields;
    const sg_policy_field_t *fields = sg_tenant_policy_fields(&nfields);
    for (size_t i = 0; i != nfields; ++i) {
        if (fields[i].max == 0 || (fields[i].type != SG_POLICY_COUNT && fields[i].type != SG_POLICY_DURATION_S))
            continue;
        uint64_t v;
        memcpy(&v, (const char *)&t.policy + fields[i].offset, sizeof(v));
        FUZZ_CHECK(v <= fields[i].max);
    }
    FUZZ_CHECK(t.policy.endpoint_form <= SG_ENDPOINT_FORM_HOST);
    json_t *body = json_loads(ordinary, 0, NULL);
    sg_create_request_t req;
    const char *code = NULL;
    char msg[512];
    int status = sg_tenant_check_create(&t, body, &req, &code, msg, sizeof(msg));
    FUZZ_CHECK(status == 0 || status == 400 || status == 403);
    FUZZ_CHECK(status == 0 || (code != NULL && strncmp(code, "GATEWAY::", 9) == 0));
    json_decref(body);
    sg_tenant_dispose(&t);
    return 0;
}
