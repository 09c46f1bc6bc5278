#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include "backend/sandbox_rec.h"
#include "config/tenant.h"

int sg_sandbox_rec_from_json(const char *tenant_tag, const char *backend, void *json, sg_sandbox_rec_t *rec)
{
    json_t *sb = json;
    json_t *id = json_object_get(sb, "id"), *meta = json_object_get(sb, "metadata");
    memset(rec, 0, sizeof(*rec));
    if (!json_is_string(id) || json_string_length(id) > SG_STORE_ID_MAX)
        return -1;
    snprintf(rec->id, sizeof(rec->id), "%s", json_string_value(id));
    snprintf(rec->backend, sizeof(rec->backend), "%s", backend);
    json_t *tag = json_object_get(meta, tenant_tag);
    if (json_is_string(tag) && json_string_length(tag) <= SG_STORE_ID_MAX)
        snprintf(rec->tenant, sizeof(rec->tenant), "%s", json_string_value(tag));
    json_t *exp = json_object_get(sb, "expiresAt"), *created = json_object_get(sb, "createdAt");
    if (json_is_string(exp))
        sg_parse_rfc3339_ms(json_string_value(exp), &rec->expires_at_ms);
    if (json_is_string(created))
        sg_parse_rfc3339_ms(json_string_value(created), &rec->created_at_ms);
    return 0;
}
