/*
 * Which lifecycle operation a /v1 request is (sandbox-lifecycle.yml and
 * diagnostic-api.yml routes). Pure, unit tested.
 */
#ifndef SG_LIFECYCLE_ROUTE_H
#define SG_LIFECYCLE_ROUTE_H

#include <stddef.h>
#include <stdint.h>

typedef enum en_sg_lc_op_t {
    SG_LC_UNKNOWN = 0,
    SG_LC_LIST_SANDBOXES,  /* GET /v1/sandboxes */
    SG_LC_CREATE_SANDBOX,  /* POST /v1/sandboxes */
    SG_LC_GET_SANDBOX,     /* GET /v1/sandboxes/{id} */
    SG_LC_DELETE_SANDBOX,  /* DELETE /v1/sandboxes/{id} */
    SG_LC_PATCH_METADATA,  /* PATCH /v1/sandboxes/{id}/metadata */
    SG_LC_PAUSE,           /* POST .../pause */
    SG_LC_RESUME,          /* POST .../resume */
    SG_LC_RENEW,           /* POST .../renew-expiration */
    SG_LC_CREATE_SNAPSHOT, /* POST .../snapshots */
    SG_LC_ENDPOINT,        /* GET .../endpoints/{port} */
    SG_LC_NETWORK_POLICY,  /* GET, PUT, PATCH, POST, DELETE .../networkpolicy (newer servers) */
    SG_LC_DIAGNOSTICS,     /* GET .../diagnostics/{logs,events} */
    SG_LC_LIST_SNAPSHOTS,  /* GET /v1/snapshots */
    SG_LC_GET_SNAPSHOT,    /* GET /v1/snapshots/{id} */
    SG_LC_DELETE_SNAPSHOT, /* DELETE /v1/snapshots/{id} */
    SG_LC_METHOD_NOT_ALLOWED
} sg_lc_op_t;

typedef struct st_sg_lc_route_t {
    sg_lc_op_t op;
    const char *id; /* sandbox or snapshot id (raw bytes of the path segment) */
    size_t id_len;
    uint16_t port; /* SG_LC_ENDPOINT */
    int id_valid;  /* the id is well-formed (else the answer is 404, like an unknown id) */
} sg_lc_route_t;

/* Parses METHOD and PATH (query ignored). Returns the operation in out->op. */
void sg_lc_route_parse(const char *method, size_t method_len, const char *path, size_t path_len, sg_lc_route_t *out);
/* 1 if the operation names a sandbox (id = sandbox id) */
int sg_lc_op_is_sandbox_scoped(sg_lc_op_t op);

#endif
