#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "util/router.h"
#include "tenancy/snapshot_tag.h"

h2o_iovec_t sg_snapshot_tag_request(h2o_mem_pool_t *pool, const char *tag, h2o_iovec_t tenant, h2o_iovec_t body, const char **err)
{
    h2o_iovec_t out = {NULL, 0};
    json_t *obj =
        body.base != NULL && body.len != 0 ? json_loadb(body.base, body.len, JSON_REJECT_DUPLICATES, NULL) : json_object();
    if (!json_is_object(obj)) {
        *err = "the request body is not a JSON object";
        goto Exit;
    }
    json_t *name = json_object_get(obj, "name");
    if (name != NULL && !json_is_string(name)) {
        *err = "name must be a string";
        goto Exit;
    }
    size_t len = strlen(tag) + tenant.len + (name != NULL ? json_string_length(name) : 0) + 3;
    char *tagged = malloc(len);
    size_t n = (size_t)snprintf(tagged, len, "%s=%.*s;", tag, (int)tenant.len, tenant.base);
    if (name != NULL)
        memcpy(tagged + n, json_string_value(name), json_string_length(name));
    json_object_set_new(obj, "name", json_stringn(tagged, n + (name != NULL ? json_string_length(name) : 0)));
    free(tagged);
    char *text = json_dumps(obj, JSON_COMPACT);
    out = h2o_strdup(pool, text, strlen(text));
    free(text);
Exit:
    json_decref(obj);
    return out;
}

/* the tenant part of a tagged name (*tenant_len, and the start of the tenant's own name in *rest); NULL if untagged */
static const char *parse(const char *tag, const char *name, size_t name_len, size_t *tenant_len, const char **rest)
{
    size_t tag_len = strlen(tag);
    if (name_len <= tag_len + 1 || memcmp(name, tag, tag_len) != 0 || name[tag_len] != '=')
        return NULL;
    const char *tenant = name + tag_len + 1, *end = name + name_len;
    const char *semi = memchr(tenant, ';', (size_t)(end - tenant));
    if (semi == NULL || !sg_router_valid_id(tenant, (size_t)(semi - tenant)) || (size_t)(semi - tenant) > SG_STORE_ID_MAX)
        return NULL;
    *tenant_len = (size_t)(semi - tenant);
    *rest = semi + 1;
    return tenant;
}

int sg_snapshot_tag_owner(const char *tag, void *snapshot_json, char tenant[SG_STORE_ID_MAX + 1])
{
    json_t *name = json_object_get(snapshot_json, "name");
    size_t tenant_len;
    const char *rest, *t;
    if (!json_is_string(name) || (t = parse(tag, json_string_value(name), json_string_length(name), &tenant_len, &rest)) == NULL)
        return 0;
    memcpy(tenant, t, tenant_len);
    tenant[tenant_len] = '\0';
    return 1;
}

void sg_snapshot_tag_strip(const char *tag, void *snapshot_json)
{
    json_t *name = json_object_get(snapshot_json, "name");
    size_t tenant_len;
    const char *rest;
    if (!json_is_string(name) || parse(tag, json_string_value(name), json_string_length(name), &tenant_len, &rest) == NULL)
        return;
    size_t rest_len = json_string_length(name) - (size_t)(rest - json_string_value(name));
    if (rest_len == 0)
        json_object_del(snapshot_json, "name");
    else
        json_object_set_new(snapshot_json, "name", json_stringn(rest, rest_len));
}

h2o_iovec_t sg_snapshot_tag_strip_body(h2o_mem_pool_t *pool, const char *tag, h2o_iovec_t body)
{
    json_t *obj = json_loadb(body.base, body.len, 0, NULL);
    if (!json_is_object(obj) || !json_is_string(json_object_get(obj, "name"))) {
        json_decref(obj);
        return body;
    }
    sg_snapshot_tag_strip(tag, obj);
    char *text = json_dumps(obj, JSON_COMPACT);
    h2o_iovec_t out = h2o_strdup(pool, text, strlen(text));
    free(text);
    json_decref(obj);
    return out;
}
