/*
 * Request classification: which route class a path belongs to, and for sandbox
 * port traffic, which sandbox, which port and what path goes to the sandbox.
 * Pure functions over bytes (no h2o), unit tested.
 */
#ifndef SG_ROUTER_H
#define SG_ROUTER_H

#include <stddef.h>
#include <stdint.h>

typedef enum en_sg_route_class_t {
    SG_ROUTE_UNKNOWN = 0,
    SG_ROUTE_HEALTH,
    SG_ROUTE_LIFECYCLE,
    SG_ROUTE_PORT,
    SG_ROUTE_ADMIN,
    SG_ROUTE_MAX
} sg_route_class_t;

typedef struct st_sg_route_t {
    sg_route_class_t cls;
    /* SG_ROUTE_PORT only */
    const char *sandbox_id;
    size_t sandbox_id_len;
    uint16_t port;
    const char *rest; /* path sent to the sandbox, query included: "/x?q", or "" / "?q" meaning "/" */
    size_t rest_len;
} sg_route_t;

/*
 * Classifies the request-target PATH (as received, query included). On the admin
 * listener everything is SG_ROUTE_ADMIN. Returns 0; for a malformed sandbox port
 * path (bad id or port) returns -1 with out->cls = SG_ROUTE_PORT.
 */
int sg_router_classify(const char *path, size_t len, int is_admin_listener, sg_route_t *out);

/* Returns "lifecycle", "port", ... (static strings). */
const char *sg_route_class_name(sg_route_class_t cls);

/* 1 if id is a plausible sandbox/snapshot id: 1..128 chars of [A-Za-z0-9._-], not "." or "..". */
int sg_router_valid_id(const char *id, size_t len);

#endif
