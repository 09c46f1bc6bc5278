/*
 * The proxy engine: forwards an h2o request to an upstream over HTTP/1.1 and
 * streams the response back with bounded memory (reading from the upstream
 * pauses while the client is slower), or tunnels a WebSocket upgrade. Used for
 * lifecycle calls and for sandbox port traffic alike.
 */
#ifndef SG_PROXY_H
#define SG_PROXY_H

#include <h2o.h>
#include "backend/backend.h"
#include "runtime/request.h"
#include "backend/upstream_pool.h"

typedef struct st_sg_proxy_target_t {
    const sg_upstream_t *upstream;
    h2o_iovec_t authority;     /* Host sent upstream */
    h2o_iovec_t path_prefix;   /* prepended to path, e.g. "/proxy/8080" */
    h2o_iovec_t path;          /* path and query, byte-exact; "" = "/" */
    const h2o_header_t *extra; /* headers added (replacing the client's of the same name) */
    size_t num_extra;
    const h2o_iovec_t *strip; /* client headers never forwarded (lower-case names) */
    size_t num_strip;
    sg_backend_t *backend; /* passive health accounting (may be NULL) */
    const sg_health_conf_t *health;
    /* called with the upstream's status before the response starts (may be NULL) */
    void (*on_status)(sg_request_t *r, void *data, int status);
    /* called when the upstream could not be reached or failed before answering (may be NULL) */
    void (*on_upstream_error)(sg_request_t *r, void *data);
    void *on_status_data; /* data of both hooks */
    /* when set, an upstream 404 is replaced by this gateway error (same body whatever the upstream said) */
    const char *not_found_code;
    const char *not_found_message;
    /* an error answer (>= 400) that is not JSON becomes the gateway's JSON error with the same status (lifecycle API) */
    int json_errors;
} sg_proxy_target_t;

/*
 * Proxies r to a backend's lifecycle API at path (relative to the backend URL),
 * with the backend's API key; the client's credentials are not forwarded.
 * opts may be NULL; its upstream/authority/path/extra fields are ignored.
 */
void sg_proxy_to_backend(sg_request_t *r, sg_backend_conf_t *be, h2o_iovec_t path, const sg_proxy_target_t *opts);

/*
 * Starts proxying r to the target; the response (or a JSON error: 502 connect
 * failure/bad response, 503 pool exhausted, 504 timeout) is sent asynchronously.
 * The target is copied; nothing it points to needs to outlive the call except
 * memory of the request's pool or of the request's config.
 */
void sg_proxy_start(sg_request_t *r, const sg_proxy_target_t *target);

/*
 * Answers r for an upstream call that failed with err (httpclient, the upstream pools, backend_call): 503 busy,
 * 504 timeout, 502 bad answer, 502 connect failure, each counted in sandgate_upstream_errors_total by its kind.
 * busy_message / connect_message: NULL for the error table's default.
 */
void sg_proxy_fail_upstream(sg_request_t *r, const char *err, const char *busy_message, const char *connect_message);

#endif
