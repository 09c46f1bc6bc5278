/*
 * The plugin pipeline: runs the phases of a route's plugin chain for a request
 * (on_request with suspend/resume, on_response_headers, on_log), the function
 * table plugins call, and the plugin registry (built-ins and .so files).
 */
#ifndef SG_PIPELINE_H
#define SG_PIPELINE_H

#include "plugin.h"
#include "runtime/request.h"
#include "util/yamlconf.h"

struct st_sg_plugin_conf_t {
    sg_yaml_t *y;
    yaml_node_t *map;   /* the plugin's `config:` mapping (may be NULL: no config) */
    yaml_node_t *owner; /* the plugin entry, for errors without a key */
};

extern const sg_plugin_api_t sg_plugin_api;

/* Built-in plugin by name, or NULL. */
const sg_plugin_t *sg_plugin_find_builtin(const char *name);
/*
 * Loads an external plugin from a .so (once per path; kept until exit). Returns
 * NULL with a message in err when the file cannot be loaded, lacks the
 * descriptor or was built for another ABI version.
 */
const sg_plugin_t *sg_plugin_load_so(const char *path, char *err, size_t errlen);
void sg_plugin_unload_all(void);

/* Runs on_request of the chain from r->next_plugin on; when all continue, dispatches the route. */
void sg_pipeline_run(sg_request_t *r);
/* Adds plugin response headers and runs on_response_headers (called as the response starts). */
void sg_pipeline_response_headers(sg_request_t *r);
/* Runs on_log of the chain. */
void sg_pipeline_log(sg_request_t *r);
/* Runs the plugins' dispose callbacks (request teardown). */
void sg_pipeline_dispose(sg_request_t *r);

/* implemented by the router/handler: serves the route once the chain let the request through */
void sg_handler_dispatch(sg_request_t *r);

#endif
