/*
 * Requests the gateway itself makes to a backend's lifecycle API (list fan-out,
 * create, ownership lookups, endpoint resolution): the whole response body is
 * collected in memory, up to a limit.
 */
#ifndef SG_BACKEND_CALL_H
#define SG_BACKEND_CALL_H

#include <h2o.h>
#include "config/config.h"
#include "util/evloop.h"

typedef struct st_sg_backend_call_t sg_backend_call_t;

/*
 * err != NULL: transport failure (connect, timeout, invalid response, body over
 * the limit); status/body are then meaningless. body is valid during the call.
 * The call is freed after the callback returns.
 */
typedef void (*sg_backend_call_cb)(void *data, const char *err, int status, h2o_iovec_t body);

/*
 * Sends METHOD path_and_query (relative to the backend URL) with the backend's
 * API key, X-Request-ID and, when body.base != NULL, a JSON body. Passive health
 * accounting as for proxied requests. The callback runs later, never from
 * inside this call. conf must outlive the call (hold a reference).
 */
sg_backend_call_t *sg_backend_call(sg_loop_t *loop, sg_config_t *conf, sg_backend_conf_t *be, const char *method,
                                   h2o_iovec_t path_and_query, h2o_iovec_t body, h2o_iovec_t request_id, size_t max_response,
                                   sg_backend_call_cb cb, void *data);
/* The callback will not be called. */
void sg_backend_call_cancel(sg_backend_call_t *call);

extern const char sg_backend_call_err_too_large[];

#endif
