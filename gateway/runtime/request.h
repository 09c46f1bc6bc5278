/*
 * Per-request state. Lives in the request's memory pool (allocated as an h2o
 * prefilter so it can be found from the h2o_req_t); everything it references is
 * released by the pool's dispose hook: config reference, plugin dispose callbacks,
 * plugin timers. Nothing of it outlives the request.
 */
#ifndef SG_REQUEST_H
#define SG_REQUEST_H

#include <h2o.h>
#include "config/config.h"
#include "util/errors.h"
#include "util/router.h"
#include "util/clock.h"
#include "plugin.h"

struct st_sg_thread_t;

typedef struct st_sg_dispose_entry_t {
    struct st_sg_dispose_entry_t *next;
    sg_plugin_dispose_cb cb;
    void *data;
} sg_dispose_entry_t;

typedef struct st_sg_request_t {
    h2o_req_prefilter_t prefilter; /* must stay first */
    h2o_req_t *req;
    struct st_sg_thread_t *thread;
    sg_config_t *config; /* retained until dispose */
    sg_route_t route;
    sg_route_conf_t *chain;
    size_t next_plugin;
    char *plugin_ctx;
    h2o_iovec_t request_id;
    H2O_VECTOR(h2o_header_t) upstream_headers; /* set by plugins, sent upstream */
    H2O_VECTOR(h2o_header_t) response_headers; /* added by plugins to the response */
    H2O_VECTOR(h2o_iovec_t) replace_headers;   /* names set by plugins (res_set_header): no other value reaches the client */
    const char *error_code;                    /* code of a gateway-made error */
    h2o_iovec_t backend, tenant, sandbox_id;
    /* set with tenant by key-auth: the config's definition, or one from the store held until the request ends
     * (NULL after key-auth until the pipeline resolved it, see tenant_cache.h) */
    const struct st_sg_tenant_t *tenant_def;
    H2O_VECTOR(h2o_iovec_t) strip_headers; /* credentials never forwarded upstream (lower-case) */
    h2o_iovec_t key_id;                    /* id of the credential that authenticated the request (not a secret) */
    uint8_t port_auth;                     /* port traffic: the verdict on its credential (tenancy/port_auth.h) */
    sg_plugin_req_ctx_t plugin_view;       /* what req_context shows plugins (plugin_api.c) */
    uint64_t started_at_us;
    uint64_t upstream_started_us;
    uint64_t upstream_us;
    sg_dispose_entry_t *disposers;
    sg_plugin_req_info_t info;
    unsigned suspended : 1;
    unsigned in_on_request : 1;
    unsigned resume_pending : 1;
    unsigned proxied : 1; /* the response comes from an upstream */
    unsigned disposed : 1;
    unsigned plugin_view_ready : 1; /* plugin_view's route part is computed */
    sg_plugin_status_t resume_status;
    void (*dispatch)(struct st_sg_request_t *r); /* serves the route once the plugin chain let the request through */
} sg_request_t;

/* Creates the state of a new request (never fails; memory from req->pool). */
sg_request_t *sg_request_create(struct st_sg_thread_t *thread, h2o_req_t *req, int is_admin_listener);
/* Finds the state of req, or NULL if the request never reached the gateway's handler. */
sg_request_t *sg_request_of(h2o_req_t *req);

/*
 * Sends a gateway error {"code","message"} with the given status. message is copied.
 * Must be called at most once per request, before any other response.
 */
void sg_request_error(sg_request_t *r, int status, const char *code, const char *message);
/* Sends the gateway error e (errors.h) with its status; message NULL: the table's default message. */
void sg_request_fail(sg_request_t *r, sg_error_t e, const char *message);
/* sg_request_error with this Retry-After (NULL: none, even on a 429 or 503, where sg_request_error sends "1") */
void sg_request_error_retry(sg_request_t *r, int status, const char *code, const char *message, const char *retry_after);
/* Sends the gateway's JSON error for an upstream error answer that was not JSON, with the upstream's status. */
void sg_request_backend_error(sg_request_t *r, int status);
/* The client's numeric address in pool memory, or {NULL, 0} if unknown. */
h2o_iovec_t sg_request_remote_addr(h2o_req_t *req);
/* The standard reason phrase of an HTTP status (RFC 9110 15; a class name for unregistered codes). Static. */
const char *sg_reason_phrase(int status);
/* Registers cb(data) to run when the request is torn down (completion or abort); runs in reverse order. */
void sg_request_on_dispose(sg_request_t *r, void (*cb)(void *data), void *data);
/*
 * The response-headers phase (plugin headers, on_response_headers): run as each response starts, and by the proxy for a
 * 101 that bypasses h2o's filters. The hook is the plugin pipeline's, handed over at startup (core/handler.c).
 */
void sg_request_set_response_headers_hook(void (*cb)(sg_request_t *r));
void sg_request_response_headers(sg_request_t *r);
/* Sends a JSON body (copied) with the given status. */
void sg_request_json(sg_request_t *r, int status, const char *json, size_t len);

#endif
