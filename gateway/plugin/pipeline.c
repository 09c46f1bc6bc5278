#include "plugin/pipeline.h"
#include "runtime/thread.h"
#include "tenancy/tenant_cache.h"

void sg_pipeline_init(void)
{
    sg_plugin_registry_set_api(&sg_plugin_api);
}

static void *ctx_of(sg_request_t *r, size_t i)
{
    return r->chain->plugins[i]->plugin->ctx_size != 0 ? r->plugin_ctx + r->chain->plugins[i]->ctx_offset : NULL;
}

/* makes inst's plugin current, its thread state created first if the .so came with a reload (plugin_thread.h) */
static const sg_plugin_t *enter(sg_request_t *r, sg_plugin_instance_t *inst)
{
    if (inst->slot < SG_THREAD_MAX_PLUGINS && r->thread->plugin_threads[inst->slot] == NULL)
        sg_plugin_thread_get(r->thread, inst->slot);
    return sg_plugin_enter(inst->plugin);
}

void sg_pipeline_run(sg_request_t *r)
{
    while (r->next_plugin < r->chain->num_plugins) {
        sg_plugin_instance_t *inst = r->chain->plugins[r->next_plugin];
        if (inst->plugin->on_request == NULL) {
            ++r->next_plugin;
            continue;
        }
        r->in_on_request = 1;
        r->resume_pending = 0;
        const sg_plugin_t *prev = enter(r, inst);
        sg_plugin_status_t st =
            inst->plugin->on_request(&sg_plugin_api, (sg_plugin_req_t *)r, inst->conf, ctx_of(r, r->next_plugin));
        sg_plugin_enter(prev);
        r->in_on_request = 0;
        if (st == SG_PLUGIN_SUSPENDED) {
            if (!r->resume_pending) {
                r->suspended = 1;
                return; /* sg_plugin_api.resume continues */
            }
            st = r->resume_status; /* resumed before returning */
        }
        if (st == SG_PLUGIN_RESPONDED)
            return;
        ++r->next_plugin;
    }
    if (r->tenant.base != NULL && r->tenant_def == NULL) {
        sg_tenant_cache_resolve(r, r->dispatch);
        return;
    }
    r->dispatch(r);
}

void sg_pipeline_response_headers(sg_request_t *r)
{
    h2o_req_t *req = r->req;
    /* plugins first: what they add in this phase goes out with the rest */
    for (size_t i = 0; i != r->chain->num_plugins; ++i) {
        sg_plugin_instance_t *inst = r->chain->plugins[i];
        if (inst->plugin->on_response_headers != NULL) {
            const sg_plugin_t *prev = enter(r, inst);
            inst->plugin->on_response_headers(&sg_plugin_api, (sg_plugin_req_t *)r, inst->conf, ctx_of(r, i), req->res.status);
            sg_plugin_enter(prev);
        }
    }
    /* res_set_header: the plugin's value is the only one (the upstream's and the gateway's are dropped) */
    for (size_t i = 0; i != r->replace_headers.size; ++i) {
        h2o_iovec_t name = r->replace_headers.entries[i]; /* lower-case */
        for (size_t j = req->res.headers.size; j-- != 0;)
            if (h2o_lcstris(req->res.headers.entries[j].name->base, req->res.headers.entries[j].name->len, name.base, name.len))
                h2o_delete_header(&req->res.headers, (ssize_t)j);
    }
    for (size_t i = 0; i != r->response_headers.size; ++i) {
        h2o_header_t *h = r->response_headers.entries + i;
        /* Retry-After is single-valued: the plugin's value replaces the gateway's default (or the upstream's) */
        if (h2o_lookup_token(h->name->base, h->name->len) == H2O_TOKEN_RETRY_AFTER) {
            ssize_t at;
            while ((at = h2o_find_header(&req->res.headers, H2O_TOKEN_RETRY_AFTER, -1)) != -1)
                h2o_delete_header(&req->res.headers, at);
        }
        h2o_add_header_by_str(&req->pool, &req->res.headers, h->name->base, h->name->len, 1, NULL, h->value.base, h->value.len);
    }
}

void sg_pipeline_log(sg_request_t *r)
{
    for (size_t i = 0; i != r->chain->num_plugins; ++i) {
        sg_plugin_instance_t *inst = r->chain->plugins[i];
        if (inst->plugin->on_log != NULL) {
            const sg_plugin_t *prev = enter(r, inst);
            inst->plugin->on_log(&sg_plugin_api, (sg_plugin_req_t *)r, inst->conf, ctx_of(r, i));
            sg_plugin_enter(prev);
        }
    }
}
