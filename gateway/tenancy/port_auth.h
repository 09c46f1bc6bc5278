/*
 * Credentials of sandbox port traffic other than the tenant key: the per-sandbox access token of Endpoint.headers
 * (config/port_token.h), a signed route (path, host or header form) and the cookie a signed path URL leaves in a
 * browser. Each names or implies one tenant; this module checks it and binds that tenant to the request before the
 * plugin chain, so plugins see who is calling; refusals wait until the chain had its say (a key may still
 * authenticate). docs/ARCHITECTURE.md, "Sandbox ports".
 */
#ifndef SG_PORT_AUTH_H
#define SG_PORT_AUTH_H

#include "runtime/request.h"

/* r->port_auth */
typedef enum en_sg_port_auth_t {
    SG_PORT_AUTH_NONE = 0,      /* no credential of this module (maybe a tenant key) */
    SG_PORT_AUTH_TOKEN,         /* a valid X-Sandgate-Token bound the tenant */
    SG_PORT_AUTH_SIGNED,        /* a valid signed route bound the tenant */
    SG_PORT_AUTH_COOKIE,        /* a valid cookie bound the tenant */
    SG_PORT_AUTH_BAD_TOKEN,     /* 401 INVALID_API_KEY "Invalid access token." */
    SG_PORT_AUTH_BAD_SIGNATURE, /* 401 GATEWAY::INVALID_SIGNATURE */
    SG_PORT_AUTH_EXPIRED,       /* 401 GATEWAY::SIGNED_URL_EXPIRED */
    SG_PORT_AUTH_UNAVAILABLE,   /* 503: the shared secret is not loaded yet, or the store cannot say who owns the sandbox */
    SG_PORT_AUTH_NOT_FOUND      /* 404: a signed route or cookie for a sandbox the store does not know */
} sg_port_auth_t;

/*
 * Checks the port credential of r (when it carries no tenant key) and binds its tenant, then calls next(r), at once
 * or after the owner lookup a signed route needs (its tenant is the owner's). A signed route or cookie that fails is
 * refused here; a token that fails is refused by sg_port_auth_refuse after the chain (key-auth knows the header).
 */
void sg_port_auth_before_chain(sg_request_t *r, void (*next)(sg_request_t *r));
/* Answers a port request that no credential authenticated, after the verdict of sg_port_auth_before_chain. */
void sg_port_auth_refuse(sg_request_t *r);
/*
 * A browser's first visit to a signed path URL (a GET/HEAD navigation): answers 302 to the same URL without the
 * signature and sets the cookie that authenticates what the page loads next; returns 1 then, else 0.
 */
int sg_port_auth_redirect(sg_request_t *r);
/* The client's Cookie headers joined ("; ") without the gateway's cookie, for the sandbox; {NULL, 0} if none left. */
h2o_iovec_t sg_port_auth_sandbox_cookies(sg_request_t *r);
/*
 * Calls fn(data, name, value) for every "name=value" pair of the Cookie headers (HTTP/2 may split them; value.base is
 * NULL for a pair without '='); stops when fn returns non-zero. Pure (fuzzed: tests/fuzz/fuzz_cookies.c).
 */
void sg_port_auth_each_cookie(const h2o_headers_t *headers, int (*fn)(void *data, h2o_iovec_t name, h2o_iovec_t value), void *data);

#endif
