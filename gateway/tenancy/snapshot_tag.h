/*
 * The tenant tag of a snapshot, kept by the backend so that snapshot ownership
 * can be rebuilt after the store is lost (as the sandbox metadata tag does for
 * sandboxes). A snapshot has no metadata; the only field the create request
 * takes and the backend keeps is `name`. The gateway therefore always sends
 * `name` = "<tenant_metadata_key>=<tenant>;<the name the tenant asked for>"
 * and shows tenants only the part after the first ';'. A tenant cannot forge
 * the tag: whatever it asks for comes after the gateway's own prefix, and only
 * the first prefix counts. Tenant ids cannot contain '=' or ';'.
 */
#ifndef SG_SNAPSHOT_TAG_H
#define SG_SNAPSHOT_TAG_H

#include <h2o.h>
#include "store/store.h"

/*
 * Builds the body sent to the backend for a create-snapshot request of tenant (body may be empty: `{}`). Returns
 * a pool string, or NULL with *err set when the body is not a JSON object or its name is not a string.
 */
h2o_iovec_t sg_snapshot_tag_request(h2o_mem_pool_t *pool, const char *tag, h2o_iovec_t tenant, h2o_iovec_t body, const char **err);
/* 1 and the tenant in *tenant when the Snapshot JSON object carries the gateway's tag; else 0 */
int sg_snapshot_tag_owner(const char *tag, void *snapshot_json, char tenant[SG_STORE_ID_MAX + 1]);
/* Removes the tag from the name of a Snapshot JSON object (the name disappears when the tenant gave none). */
void sg_snapshot_tag_strip(const char *tag, void *snapshot_json);
/* The same on a serialized Snapshot; returns body unchanged when it is not a JSON object. */
h2o_iovec_t sg_snapshot_tag_strip_body(h2o_mem_pool_t *pool, const char *tag, h2o_iovec_t body);

#endif
