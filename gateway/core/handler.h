/*
 * The dispatcher, top of the request path: registers the gateway's handler,
 * filter and logger on h2o host configs, runs the edge checks and the plugin
 * pipeline, then serves the route. The only module that knows every route
 * class (lifecycle, port, admin, proxy).
 */
#ifndef SG_HANDLER_H
#define SG_HANDLER_H

#include <h2o.h>

struct st_sg_request_t;

/* Installs the handler on "/" and the JSON-error filter and logger on every path of hostconf. */
void sg_handler_register(h2o_hostconf_t *hostconf, int is_admin);
/* Code and message of the JSON body that replaces an h2o-made error of this status. */
void sg_errors_for_status(int status, const char **code, const char **message);
/* Serves the route of r once the plugin chain let it through (handed to the pipeline as r->dispatch). */
void sg_handler_dispatch(struct st_sg_request_t *r);

#endif
