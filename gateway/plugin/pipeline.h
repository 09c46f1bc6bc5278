/*
 * The plugin pipeline: runs the phases of a route's plugin chain for a request
 * (on_request with suspend/resume, on_response_headers, on_log), and the
 * function table plugins call (plugin_api.c). Which plugins exist is the
 * registry's business (config/plugin_registry.h).
 */
#ifndef SG_PIPELINE_H
#define SG_PIPELINE_H

#include "plugin.h"
#include "runtime/request.h"
#include "config/plugin_registry.h"

/* The function table plugins call (plugin_api.c). */
extern const sg_plugin_api_t sg_plugin_api;
/* Hands the table down to the plugin registry, for config_parse: once, before any config is loaded. */
void sg_pipeline_init(void);
/* Runs on_request of the chain from r->next_plugin on; when all continue, serves the route with r->dispatch. */
void sg_pipeline_run(sg_request_t *r);
/* Adds plugin response headers and runs on_response_headers (called as the response starts). */
void sg_pipeline_response_headers(sg_request_t *r);
/* Runs on_log of the chain. */
void sg_pipeline_log(sg_request_t *r);

#endif
