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

/* how a port request named its sandbox and port */
typedef enum en_sg_port_form_t {
    SG_PORT_FORM_PATH = 0, /* /sandboxes/{id}/port/{port}[-{expires}-{sig}]/... */
    SG_PORT_FORM_PROXY,    /* /sandboxes/{id}/proxy/{port}/..., /v1/sandboxes/{id}/proxy/{port}/... */
    SG_PORT_FORM_HOST,     /* Host: {token}.{sandbox_domain} */
    SG_PORT_FORM_HEADER    /* OpenSandbox-Ingress-To: {token} */
} sg_port_form_t;

/* a signed route (OSEP-0011 shape): "{id}-{port}-{expires_b36}-{sig}", sig = key char + 11 MAC chars */
#define SG_ROUTE_SIG_LEN 12
#define SG_ROUTE_EXPIRES_MAX 13

typedef struct st_sg_route_t {
    sg_route_class_t cls;
    /* SG_ROUTE_PORT only */
    const char *sandbox_id;
    size_t sandbox_id_len;
    uint16_t port;
    const char *rest; /* path sent to the sandbox, query included: "/x?q", or "" / "?q" meaning "/" */
    size_t rest_len;
    sg_port_form_t form;
    const char *expires_b36; /* a signed route: both set (syntax checked, signature not) */
    size_t expires_b36_len;
    const char *sig;
} sg_route_t;

/*
 * Classifies the request-target PATH (as received, query included). On the admin
 * listener everything is SG_ROUTE_ADMIN. Returns 0; for a malformed sandbox port
 * path (bad id or port) returns -1 with out->cls = SG_ROUTE_PORT.
 */
int sg_router_classify(const char *path, size_t len, int is_admin_listener, sg_route_t *out);

/* Returns "lifecycle", "port", ... (static strings). */
const char *sg_route_class_name(sg_route_class_t cls);

/*
 * Classifies a port request routed by name rather than path: token is "{id}-{port}" or the signed
 * "{id}-{port}-{expires_b36}-{sig}" (a host label or the OpenSandbox-Ingress-To header), split from the right since
 * ids contain dashes; the whole path goes to the sandbox. Returns 0, or -1 (cls SG_ROUTE_PORT) for a malformed token.
 */
int sg_router_classify_token(const char *token, size_t len, const char *path, size_t path_len, sg_port_form_t form,
                             sg_route_t *out);
/*
 * The label of a Host (authority, port ignored) that is exactly one label under domain (compared without case):
 * "{label}.{domain}". NULL when the host is anything else (the domain itself, a deeper name, "xdomain").
 */
const char *sg_router_host_label(const char *authority, size_t len, const char *domain, size_t *label_len);
/* "{expires_b36}-{sig}" (the signed part of a route, and the browser cookie's value): 0 and the parts, or -1 */
int sg_router_parse_signature(const char *s, size_t len, const char **expires_b36, size_t *expires_len, const char **sig);
/* OSEP-0011 expires_b36: 1..13 of [0-9a-z], no leading zero (but "0"), fits uint64. Returns 0 and *out, or -1. */
int sg_router_parse_b36(const char *s, size_t len, uint64_t *out);
/* writes v in base 36 (lower case, no leading zero) and a NUL into out (14 bytes); returns the length */
size_t sg_router_format_b36(uint64_t v, char *out);

/* 1 if id is a plausible sandbox/snapshot id: 1..128 chars of [A-Za-z0-9._-], not "." or "..". */
int sg_router_valid_id(const char *id, size_t len);

#endif
