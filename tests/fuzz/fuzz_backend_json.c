/*
 * Feeds: JSON the gateway reads from a backend, or a tenant's body it rewrites for one. The first byte picks:
 * 0: a create-snapshot body to sg_snapshot_tag_request (the tenant tag prefixed to `name`), then the result through
 *    sg_snapshot_tag_owner and sg_snapshot_tag_strip (tenancy/snapshot_tag.h);
 * 1: a Snapshot answer to sg_snapshot_tag_strip_body and sg_snapshot_tag_owner;
 * 2: a Sandbox answer to sg_sandbox_rec_from_json (backend/sandbox_rec.h);
 * 3: an Endpoint answer to sg_port_remember_endpoint (tenancy/port.h: endpoint JSON and "[scheme://]host:port[/p]").
 * Asserts beyond "no crash": a tagged request names the caller's tenant as owner and strips back to the name the
 * tenant sent (gone when it sent none or ""); a tenant's own name can never make it owned by another tenant; a
 * stripped Snapshot is still a JSON object whose owner tag is gone; a sandbox record's id is the backend's id
 * (never a longer or different one) and its tenant the tag's value when that fits.
 */
#include <jansson.h>
#include "backend/sandbox_rec.h"
#include "tenancy/port.h"
#include "tenancy/snapshot_tag.h"
#include "util/router.h"
#include "fuzz.h"

#define TAG "sandgate.io/tenant"
#define TENANT "acme-1"

static void fuzz_tag_request(h2o_mem_pool_t *pool, const char *in, size_t len)
{
    const char *err = NULL;
    h2o_iovec_t out = sg_snapshot_tag_request(pool, TAG, h2o_iovec_init(H2O_STRLIT(TENANT)), h2o_iovec_init(in, len), &err);
    if (out.base == NULL) {
        FUZZ_CHECK(err != NULL);
        return;
    }
    json_t *orig = len != 0 ? json_loadb(in, len, JSON_REJECT_DUPLICATES, NULL) : json_object();
    json_t *sent = json_loadb(out.base, out.len, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_CHECK(json_is_object(orig) && json_is_object(sent));
    char tenant[SG_STORE_ID_MAX + 1];
    FUZZ_CHECK(sg_snapshot_tag_owner(TAG, sent, tenant) == 1 && strcmp(tenant, TENANT) == 0);
    sg_snapshot_tag_strip(TAG, sent);
    json_t *name = json_object_get(orig, "name"), *shown = json_object_get(sent, "name");
    if (name == NULL || json_string_length(name) == 0)
        FUZZ_CHECK(shown == NULL);
    else
        FUZZ_CHECK(json_is_string(shown) && json_equal(name, shown));
    json_decref(orig);
    json_decref(sent);
}

static void fuzz_strip(h2o_mem_pool_t *pool, const char *in, size_t len)
{
    h2o_iovec_t out = sg_snapshot_tag_strip_body(pool, TAG, h2o_iovec_init(in, len));
    json_t *obj = json_loadb(in, len, 0, NULL);
    char tenant[SG_STORE_ID_MAX + 1];
    int owned = obj != NULL && sg_snapshot_tag_owner(TAG, obj, tenant);
    if (owned)
        FUZZ_CHECK(sg_router_valid_id(tenant, strlen(tenant)));
    if (!json_is_object(obj) || !json_is_string(json_object_get(obj, "name"))) {
        FUZZ_CHECK(out.base == in && out.len == len);
    } else {
        json_t *shown = json_loadb(out.base, out.len, 0, NULL);
        FUZZ_CHECK(json_is_object(shown));
        /* what remains was the tenant's own name: a name that was tagged once is not tagged again */
        json_t *name = json_object_get(shown, "name");
        FUZZ_CHECK(name == NULL || json_is_string(name));
        if (!owned)
            FUZZ_CHECK(json_equal(obj, shown));
        json_decref(shown);
    }
    json_decref(obj);
}

static void fuzz_sandbox_rec(const char *in, size_t len)
{
    json_t *obj = json_loadb(in, len, 0, NULL);
    sg_sandbox_rec_t rec;
    if (sg_sandbox_rec_from_json(TAG, "backend-a", obj, &rec) == 0) {
        json_t *id = json_object_get(obj, "id");
        FUZZ_CHECK(json_is_string(id));
        size_t n = strnlen(rec.id, sizeof(rec.id));
        FUZZ_CHECK(n < sizeof(rec.id) && n <= json_string_length(id) && memcmp(rec.id, json_string_value(id), n) == 0);
        FUZZ_CHECK(strcmp(rec.backend, "backend-a") == 0);
        FUZZ_CHECK(strnlen(rec.tenant, sizeof(rec.tenant)) < sizeof(rec.tenant));
    }
    json_decref(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t sel = fuzz_take_byte(&data, &size);
    const char *in = (const char *)data;
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    switch (sel & 3) {
    case 0:
        fuzz_tag_request(&pool, in, size);
        break;
    case 1:
        fuzz_strip(&pool, in, size);
        break;
    case 2:
        fuzz_sandbox_rec(in, size);
        break;
    default: {
        int ret = sg_port_remember_endpoint("sbx-1", (uint16_t)(8000 + (sel >> 2)), 0, 0, h2o_iovec_init(in, size));
        FUZZ_CHECK(ret == 0 || ret == -1);
        break;
    }
    }
    h2o_mem_clear_pool(&pool);
    return 0;
}
