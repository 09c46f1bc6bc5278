/*
 * Tenant definitions kept in the state store: a JSON document with the fields
 * of a `tenants:` entry of the config, except keys (stored keys are separate
 * key records, see docs/STORE.md).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/router.h"
#include "config/tenant.h"
#include "util/yamlconf.h"

/* A JSON string or list of strings as a NULL-terminated malloc'd array. Returns -1 on a wrong type. */
static int string_list(json_t *v, char ***out, size_t *n)
{
    *n = 0;
    *out = NULL;
    if (json_is_string(v)) {
        if ((*out = calloc(2, sizeof(char *))) == NULL)
            return -1;
        (*out)[(*n)++] = strdup(json_string_value(v));
        return 0;
    }
    if (!json_is_array(v))
        return -1;
    if ((*out = calloc(json_array_size(v) + 1, sizeof(char *))) == NULL)
        return -1;
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        if (!json_is_string(item))
            return -1;
        (*out)[(*n)++] = strdup(json_string_value(item));
    }
    return 0;
}

static int parse_policy(json_t *p, sg_tenant_policy_t *out, char *err, size_t errlen)
{
    const char *k;
    json_t *v;
    if (!json_is_object(p))
        return sg_conf_errorf(err, errlen, "policy must be an object");
    json_object_foreach(p, k, v)
    {
        char sub[256];
        int rc = sg_tenant_policy_set(out, k, v, 0, sub, sizeof(sub));
        if (rc == -2)
            return sg_conf_errorf(err, errlen, "unknown key 'policy.%s'", k);
        if (rc != 0)
            return sg_conf_errorf(err, errlen, "policy.%s", sub);
    }
    return 0;
}

static int parse_labels(json_t *l, sg_tenant_t *t, char *err, size_t errlen)
{
    const char *k;
    json_t *v;
    if (!json_is_object(l))
        return sg_conf_errorf(err, errlen, "backend_labels must map label names to allowed values");
    t->backend_labels = calloc(json_object_size(l) + 1, sizeof(*t->backend_labels));
    json_object_foreach(l, k, v)
    {
        sg_label_selector_t *sel = t->backend_labels + t->num_backend_labels++;
        sel->key = strdup(k);
        if (string_list(v, &sel->values, &sel->num_values) != 0)
            return sg_conf_errorf(err, errlen, "backend_labels.%s must be a string or a list of strings", k);
    }
    return 0;
}

int sg_tenant_parse_json(const char *json, size_t len, const char *id, sg_tenant_t *out, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *doc = json_loadb(json, len, 0, &jerr);
    const char *k;
    json_t *v;
    int ret = -1;

    *out = (sg_tenant_t){0};
    if (doc == NULL) {
        sg_conf_errorf(err, errlen, "not JSON: %s", jerr.text);
        goto Exit;
    }
    if (!json_is_object(doc)) {
        sg_conf_errorf(err, errlen, "a tenant must be a JSON object");
        goto Exit;
    }
    if (!sg_router_valid_id(id, strlen(id))) {
        sg_conf_errorf(err, errlen, "tenant id must be 1-128 characters of [A-Za-z0-9._-]");
        goto Exit;
    }
    out->id = strdup(id);
    json_object_foreach(doc, k, v)
    {
        if (strcmp(k, "id") == 0) {
            if (!json_is_string(v) || strcmp(json_string_value(v), id) != 0) {
                sg_conf_errorf(err, errlen, "'id' does not match the key it is stored under ('%s')", id);
                goto Exit;
            }
        } else if (strcmp(k, "name") == 0) {
            if (!json_is_string(v)) {
                sg_conf_errorf(err, errlen, "'name' must be a string");
                goto Exit;
            }
            free(out->name);
            out->name = strdup(json_string_value(v));
        } else if (strcmp(k, "backend_labels") == 0) {
            if (parse_labels(v, out, err, errlen) != 0)
                goto Exit;
        } else if (strcmp(k, "policy") == 0) {
            if (parse_policy(v, &out->policy, err, errlen) != 0)
                goto Exit;
        } else if (strcmp(k, "admission") == 0) {
            if (sg_admission_parse_json(v, &out->admission, err, errlen) != 0)
                goto Exit;
        } else if (strcmp(k, "keys") == 0) {
            sg_conf_errorf(err, errlen, "stored tenants have no 'keys': store each key as its own key record");
            goto Exit;
        } else {
            sg_conf_errorf(err, errlen, "unknown key '%s'", k);
            goto Exit;
        }
    }
    if (out->name == NULL)
        out->name = strdup(id);
    ret = 0;

Exit:
    if (doc != NULL)
        json_decref(doc);
    if (ret != 0) {
        sg_tenant_dispose(out);
        *out = (sg_tenant_t){0};
    }
    return ret;
}
