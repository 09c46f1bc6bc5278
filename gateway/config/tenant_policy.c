/*
 * The `policy:` keys of a tenant: one declarative table (name, type, bounds,
 * default, where the value is stored in sg_tenant_policy_t) and the one setter
 * both tenant front-ends use (config_tenants.c for YAML, tenant_json.c for
 * tenants stored as JSON), in the way of admission_conf.c. docs/CONFIG.md's
 * policy rows are checked against the table by tests/unit/test_schemas.c.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "config/tenant.h"
#include "util/yamlconf.h"

#define FIELD(f) offsetof(sg_tenant_policy_t, f)

static const char *const endpoint_forms[] = {"path", "host", NULL}; /* SG_ENDPOINT_FORM_PATH, _HOST */

/* a zeroed sg_tenant_policy_t is the defaults (def is 0 everywhere): no cap, any image, a timeout is required */
static const sg_policy_field_t table[] = {
    {"allowed_images", SG_POLICY_PATTERNS, FIELD(allowed_images), FIELD(num_allowed_images), 0, 0, "a list of strings"},
    {"max_timeout", SG_POLICY_DURATION_S, FIELD(max_timeout_s), 0, 0, 0, "seconds or a duration like \"2h\""},
    {"allow_manual_cleanup", SG_POLICY_BOOL, FIELD(allow_manual_cleanup), 0, 1, 0, "true or false"},
    {"max_cpu", SG_POLICY_CPU_MILLIS, FIELD(max_cpu_millis), 0, 0, 0, "a quantity like \"500m\" or \"2\""},
    {"max_memory", SG_POLICY_MEMORY_MB, FIELD(max_memory_mb), 0, 0, 0, "a quantity like \"512Mi\" or \"4Gi\""},
    {"max_sandboxes", SG_POLICY_COUNT, FIELD(max_sandboxes), 0, 1000000000, 0, "a non-negative integer"},
    {"max_total_cpu", SG_POLICY_CPU_MILLIS, FIELD(max_total_cpu_millis), 0, 0, 0, "a quantity like \"500m\" or \"2\""},
    {"max_total_memory", SG_POLICY_MEMORY_MB, FIELD(max_total_memory_mb), 0, 0, 0, "a quantity like \"512Mi\" or \"4Gi\""},
    {"max_snapshots", SG_POLICY_COUNT, FIELD(max_snapshots), 0, 1000000000, 0, "a non-negative integer"},
    {"quota_fail_open", SG_POLICY_BOOL, FIELD(quota_fail_open), 0, 1, 0, "true or false"},
    {"endpoint_form", SG_POLICY_ENUM, FIELD(endpoint_form), 0, 0, 0, "path or host", endpoint_forms},
    {"max_signed_lifetime", SG_POLICY_DURATION_S, FIELD(max_signed_lifetime_s), 0, 0, 0, "seconds or a duration like \"2h\""},
    {"renew_on_access", SG_POLICY_DURATION_S, FIELD(renew_on_access_s), 0, 86400, 0, "seconds or a duration up to 24h"},
};

const sg_policy_field_t *sg_tenant_policy_fields(size_t *n)
{
    *n = sizeof(table) / sizeof(table[0]);
    return table;
}

/* a JSON list of strings as a NULL-terminated malloc'd array; -1 on any other value */
static int set_patterns(json_t *v, char ***list, size_t *n)
{
    size_t i;
    json_t *item;
    if (!json_is_array(v))
        return -1;
    char **out = calloc(json_array_size(v) + 1, sizeof(*out));
    json_array_foreach(v, i, item)
    {
        if (!json_is_string(item)) {
            for (size_t j = 0; j != i; ++j)
                free(out[j]);
            free(out);
            return -1;
        }
        out[i] = strdup(json_string_value(item));
    }
    for (size_t j = 0; j != *n; ++j)
        free((*list)[j]);
    free(*list);
    *list = out;
    *n = json_array_size(v);
    return 0;
}

static int parse_bool(json_t *v, int untyped, uint64_t *out)
{
    const char *s = untyped ? json_string_value(v) : NULL;
    int b;
    if (json_is_boolean(v))
        *out = json_is_true(v);
    else if (s != NULL && sg_parse_bool(s, &b) == 0)
        *out = (uint64_t)b;
    else
        return -1;
    return 0;
}

int sg_tenant_policy_set(sg_tenant_policy_t *p, const char *name, json_t *v, int untyped, char *err, size_t errlen)
{
    const sg_policy_field_t *f = NULL;
    for (size_t i = 0; i != sizeof(table) / sizeof(table[0]); ++i)
        if (strcmp(table[i].name, name) == 0)
            f = table + i;
    if (f == NULL)
        return -2;
    char *base = (char *)p;
    const char *s = json_string_value(v);
    uint64_t n = 0;
    int rc = -1;
    switch (f->type) {
    case SG_POLICY_PATTERNS:
        rc = set_patterns(v, (char ***)(base + f->offset), (size_t *)(base + f->count_offset));
        goto Exit;
    case SG_POLICY_DURATION_S:
        if (json_is_integer(v) && json_integer_value(v) >= 0) {
            n = (uint64_t)json_integer_value(v);
            rc = 0;
        } else if (s != NULL && sg_parse_duration_ms(s, &n) == 0) {
            n /= 1000;
            rc = 0;
        }
        break;
    case SG_POLICY_BOOL:
        rc = parse_bool(v, untyped, &n);
        break;
    case SG_POLICY_CPU_MILLIS:
        rc = s != NULL ? sg_parse_cpu_millis(s, &n) : -1;
        break;
    case SG_POLICY_MEMORY_MB:
        rc = s != NULL ? sg_parse_memory_mb(s, &n) : -1;
        break;
    case SG_POLICY_COUNT:
        if (json_is_integer(v) && json_integer_value(v) >= 0) {
            n = (uint64_t)json_integer_value(v);
            rc = 0;
        } else if (untyped && s != NULL && s[0] >= '0' && s[0] <= '9' && strlen(s) <= 10) {
            char *end;
            n = strtoull(s, &end, 10);
            rc = *end == '\0' ? 0 : -1;
        }
        break;
    case SG_POLICY_ENUM:
        for (size_t i = 0; s != NULL && f->values[i] != NULL; ++i)
            if (strcmp(f->values[i], s) == 0) {
                n = i + 1;
                rc = 0;
            }
        break;
    }
    if (rc == 0 && f->max != 0 && n > f->max)
        rc = -1;
    if (rc == 0) {
        if (f->type == SG_POLICY_BOOL)
            *(int *)(base + f->offset) = (int)n;
        else
            *(uint64_t *)(base + f->offset) = n;
    }
Exit:
    if (rc != 0)
        return sg_conf_errorf(err, errlen, "%s must be %s", f->name, f->hint);
    return 0;
}
