#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "config/tenant.h"
#include "util/errors.h"

int sg_parse_cpu_millis(const char *s, uint64_t *out)
{
    char *end;
    if (s == NULL || !((*s >= '0' && *s <= '9') || *s == '.'))
        return -1;
    double v = strtod(s, &end);
    if (end == s || v < 0 || v > 1e9)
        return -1;
    if (strcmp(end, "m") == 0)
        *out = (uint64_t)ceil(v);
    else if (*end == '\0')
        *out = (uint64_t)ceil(v * 1000);
    else
        return -1;
    return 0;
}

int sg_parse_memory_mb(const char *s, uint64_t *out)
{
    static const struct {
        const char *suffix;
        double bytes;
    } units[] = {{"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
                 {"k", 1e3},     {"K", 1e3},        {"M", 1e6},           {"G", 1e9},
                 {"T", 1e12},    {"", 1.0}};
    char *end;
    if (s == NULL || !((*s >= '0' && *s <= '9') || *s == '.'))
        return -1;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    for (size_t i = 0; i != sizeof(units) / sizeof(units[0]); ++i) {
        if (strcmp(end, units[i].suffix) == 0) {
            double mb = ceil(v * units[i].bytes / 1048576.0);
            if (mb > 1e15)
                return -1;
            *out = (uint64_t)mb;
            return 0;
        }
    }
    return -1;
}

int sg_parse_rfc3339_ms(const char *s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL)
        return -1;
    int64_t ms = 0;
    if (*p == '.') {
        int digits = 0;
        for (++p; *p >= '0' && *p <= '9'; ++p)
            if (digits++ < 3)
                ms = ms * 10 + (*p - '0');
        while (digits++ < 3)
            ms *= 10;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        ++p;
    } else if (*p == '+' || *p == '-') {
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
            return -1;
        offset_s = (hh * 3600 + mm * 60) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    *out = ((int64_t)timegm(&tm) - offset_s) * 1000 + ms;
    return 0;
}

const sg_tenant_t *sg_tenant_find_key(const sg_tenant_t *tenants, size_t n, const unsigned char hash[SG_KEYHASH_LEN],
                                      const sg_tenant_key_t **key)
{
    const sg_tenant_t *found = NULL;
    /* every key is compared (constant time each) so timing does not tell which tenant matched */
    for (size_t i = 0; i != n; ++i) {
        for (size_t j = 0; j != tenants[i].num_keys; ++j) {
            if (sg_keyhash_equal(tenants[i].keys[j].hash, hash) && found == NULL) {
                found = tenants + i;
                *key = tenants[i].keys + j;
            }
        }
    }
    return found;
}

int sg_tenant_backend_allowed(const sg_tenant_t *t, const char *const *label_keys, const char *const *label_values, size_t n)
{
    for (size_t i = 0; i != t->num_backend_labels; ++i) {
        const sg_label_selector_t *sel = t->backend_labels + i;
        int ok = 0;
        for (size_t j = 0; j != n && !ok; ++j) {
            if (strcmp(label_keys[j], sel->key) != 0)
                continue;
            for (size_t k = 0; k != sel->num_values && !ok; ++k)
                ok = strcmp(sel->values[k], label_values[j]) == 0;
        }
        if (!ok)
            return 0;
    }
    return 1;
}

#define FAIL(e, ...)                                                                                                               \
    do {                                                                                                                           \
        *code = sg_errors[e].code;                                                                                                 \
        snprintf(msg, msglen, __VA_ARGS__);                                                                                        \
        return sg_errors[e].status;                                                                                                \
    } while (0)

int sg_tenant_check_create(const sg_tenant_t *t, json_t *body, sg_create_request_t *out, const char **code, char *msg,
                           size_t msglen)
{
    const sg_tenant_policy_t *p = &t->policy;
    memset(out, 0, sizeof(*out));
    if (!json_is_object(body))
        FAIL(SG_ERR_INVALID_REQUEST, "the request body must be a JSON object");

    json_t *image = json_object_get(body, "image"), *snap = json_object_get(body, "snapshotId");
    if (image != NULL && !json_is_null(image)) {
        json_t *uri = json_object_get(image, "uri");
        if (!json_is_object(image) || !json_is_string(uri) || json_string_length(uri) == 0)
            FAIL(SG_ERR_INVALID_REQUEST, "image.uri must be a non-empty string");
        out->image = json_string_value(uri);
    }
    if (snap != NULL && !json_is_null(snap)) {
        if (!json_is_string(snap) || json_string_length(snap) == 0)
            FAIL(SG_ERR_INVALID_REQUEST, "snapshotId must be a non-empty string");
        out->snapshot_id = json_string_value(snap);
    }
    if ((out->image == NULL) == (out->snapshot_id == NULL))
        FAIL(SG_ERR_INVALID_REQUEST, "exactly one of image and snapshotId must be given");
    if (out->image != NULL && p->num_allowed_images != 0) {
        size_t i;
        for (i = 0; i != p->num_allowed_images; ++i)
            if (fnmatch(p->allowed_images[i], out->image, 0) == 0)
                break;
        if (i == p->num_allowed_images)
            FAIL(SG_ERR_IMAGE_NOT_ALLOWED, "image '%.200s' is not allowed for tenant %s (allowed_images policy)", out->image,
                 t->id);
    }

    json_t *timeout = json_object_get(body, "timeout");
    if (timeout == NULL || json_is_null(timeout)) {
        if (!p->allow_manual_cleanup)
            FAIL(SG_ERR_MANUAL_CLEANUP_NOT_ALLOWED,
                 "tenant %s must set a timeout: sandboxes without expiry are not allowed (allow_manual_cleanup policy)", t->id);
        out->timeout_s = 0;
    } else {
        if (!json_is_integer(timeout) || json_integer_value(timeout) <= 0)
            FAIL(SG_ERR_INVALID_REQUEST, "timeout must be a positive integer number of seconds or null");
        out->timeout_s = json_integer_value(timeout);
        if (p->max_timeout_s != 0 && (uint64_t)out->timeout_s > p->max_timeout_s)
            FAIL(SG_ERR_TIMEOUT_TOO_LONG, "timeout %lld s exceeds the max_timeout of tenant %s (%llu s)", (long long)out->timeout_s,
                 t->id, (unsigned long long)p->max_timeout_s);
    }

    json_t *limits = json_object_get(body, "resourceLimits");
    if (limits != NULL && !json_is_null(limits)) {
        if (!json_is_object(limits))
            FAIL(SG_ERR_INVALID_REQUEST, "resourceLimits must be an object of strings");
        json_t *cpu = json_object_get(limits, "cpu"), *mem = json_object_get(limits, "memory");
        if (cpu != NULL && (!json_is_string(cpu) || sg_parse_cpu_millis(json_string_value(cpu), &out->cpu_millis) != 0))
            FAIL(SG_ERR_INVALID_REQUEST, "resourceLimits.cpu must be a quantity like \"500m\" or \"2\"");
        if (mem != NULL && (!json_is_string(mem) || sg_parse_memory_mb(json_string_value(mem), &out->memory_mb) != 0))
            FAIL(SG_ERR_INVALID_REQUEST, "resourceLimits.memory must be a quantity like \"512Mi\" or \"2Gi\"");
    }
    if (p->max_cpu_millis != 0 && out->cpu_millis > p->max_cpu_millis)
        FAIL(SG_ERR_CPU_LIMIT_EXCEEDED, "resourceLimits.cpu %llum exceeds the per-sandbox max_cpu of tenant %s (%llum)",
             (unsigned long long)out->cpu_millis, t->id, (unsigned long long)p->max_cpu_millis);
    if (p->max_memory_mb != 0 && out->memory_mb > p->max_memory_mb)
        FAIL(SG_ERR_MEMORY_LIMIT_EXCEEDED, "resourceLimits.memory %lluMi exceeds the per-sandbox max_memory of tenant %s (%lluMi)",
             (unsigned long long)out->memory_mb, t->id, (unsigned long long)p->max_memory_mb);
    return sg_admission_check_create(&t->admission, t->id, p->max_cpu_millis, p->max_memory_mb, body, code, msg, msglen);
}

void sg_tenant_dispose(sg_tenant_t *t)
{
    free(t->id);
    free(t->name);
    for (size_t i = 0; i != t->num_keys; ++i)
        free(t->keys[i].name);
    free(t->keys);
    for (size_t i = 0; i != t->num_backend_labels; ++i) {
        free(t->backend_labels[i].key);
        for (size_t j = 0; j != t->backend_labels[i].num_values; ++j)
            free(t->backend_labels[i].values[j]);
        free(t->backend_labels[i].values);
    }
    free(t->backend_labels);
    for (size_t i = 0; i != t->policy.num_allowed_images; ++i)
        free(t->policy.allowed_images[i]);
    free(t->policy.allowed_images);
    sg_admission_dispose(&t->admission);
}
