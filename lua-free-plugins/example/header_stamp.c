/*
 * Example external plugin (built as sg_example_plugin.so): adds a response
 * header, optionally refuses requests carrying a given header with 403, and
 * optionally delays requests with a timer, to show suspend/resume.
 *
 *   - name: header-stamp
 *     path: build/lua-free-plugins/sg_example_plugin.so
 *     config: {header: X-Stamp, value: hello, deny_header: X-Deny, delay: 50ms}
 */
#include <stdlib.h>
#include <string.h>
/* "plugin.h" from the include path: the build also compiles this file against the ABI 1 header
 * (tests/plugins/abi1/plugin.h) to check that an old plugin still loads */
#include "plugin.h"

typedef struct st_conf_t {
    char *header, *value, *deny_header;
    uint64_t delay_ms;
} conf_t;

typedef struct st_ctx_t {
    const sg_plugin_api_t *api;
    sg_plugin_req_t *req;
} ctx_t;

static void *config_parse(const sg_plugin_api_t *api, sg_plugin_conf_t *c)
{
    const char *header = "x-stamp", *value = "sandgate", *deny = "";
    uint64_t delay = 0;
    if (api->conf_string(c, "header", &header) < 0 || api->conf_string(c, "value", &value) < 0 ||
        api->conf_string(c, "deny_header", &deny) < 0 || api->conf_duration_ms(c, "delay", &delay) < 0)
        return NULL;
    conf_t *conf = calloc(1, sizeof(*conf));
    conf->header = strdup(header);
    conf->value = strdup(value);
    conf->deny_header = strdup(deny);
    conf->delay_ms = delay;
    return conf;
}

static void config_free(void *p)
{
    conf_t *conf = p;
    free(conf->header);
    free(conf->value);
    free(conf->deny_header);
    free(conf);
}

static void on_delay_done(void *data)
{
    ctx_t *ctx = data;
    ctx->api->resume(ctx->req, SG_PLUGIN_CONTINUE);
}

static sg_plugin_status_t on_request(const sg_plugin_api_t *api, sg_plugin_req_t *req, void *p, void *c)
{
    conf_t *conf = p;
    ctx_t *ctx = c;
    sg_plugin_str_t v;
    if (conf->deny_header[0] != '\0' && api->req_header(req, conf->deny_header, strlen(conf->deny_header), &v)) {
        api->respond_error(req, 403, "GATEWAY::DENIED_BY_PLUGIN", "request refused by the header-stamp plugin");
        return SG_PLUGIN_RESPONDED;
    }
    if (conf->delay_ms != 0) {
        ctx->api = api;
        ctx->req = req;
        api->timer_start(req, conf->delay_ms, on_delay_done, ctx);
        return SG_PLUGIN_SUSPENDED;
    }
    return SG_PLUGIN_CONTINUE;
}

static void on_response_headers(const sg_plugin_api_t *api, sg_plugin_req_t *req, void *p, void *ctx, int status)
{
    (void)ctx, (void)status;
    conf_t *conf = p;
    api->res_add_header(req, conf->header, strlen(conf->header), conf->value, strlen(conf->value));
}

const sg_plugin_t sg_plugin_descriptor = {
    .abi_version = SG_PLUGIN_ABI_VERSION,
#if SG_PLUGIN_ABI_VERSION >= 2
    .descriptor_size = sizeof(sg_plugin_t),
#endif
    .name = "header-stamp",
    .ctx_size = sizeof(ctx_t),
    .config_parse = config_parse,
    .config_free = config_free,
    .on_request = on_request,
    .on_response_headers = on_response_headers,
};
