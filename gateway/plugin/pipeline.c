#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "plugin/pipeline.h"
#include "tenancy/tenant_cache.h"

extern const sg_plugin_t sg_plugin_request_id;
extern const sg_plugin_t sg_plugin_access_log;
extern const sg_plugin_t sg_plugin_key_auth;

static const sg_plugin_t *const builtins[] = {&sg_plugin_request_id, &sg_plugin_access_log, &sg_plugin_key_auth};

static pthread_mutex_t so_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *path;
    void *handle;
    const sg_plugin_t *plugin;
} * loaded;
static size_t num_loaded;

const sg_plugin_t *sg_plugin_find_builtin(const char *name)
{
    for (size_t i = 0; i != sizeof(builtins) / sizeof(builtins[0]); ++i)
        if (strcmp(builtins[i]->name, name) == 0)
            return builtins[i];
    return NULL;
}

const sg_plugin_t *sg_plugin_load_so(const char *path, char *err, size_t errlen)
{
    const sg_plugin_t *plugin = NULL;
    void *handle = NULL;

    pthread_mutex_lock(&so_lock);
    for (size_t i = 0; i != num_loaded; ++i) {
        if (strcmp(loaded[i].path, path) == 0) {
            plugin = loaded[i].plugin;
            goto Exit;
        }
    }
    if ((handle = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        snprintf(err, errlen, "cannot load plugin %s: %s", path, dlerror());
        goto Exit;
    }
    const sg_plugin_t *p = dlsym(handle, SG_PLUGIN_DESCRIPTOR_SYMBOL);
    if (p == NULL) {
        snprintf(err, errlen, "%s is not a sandgate plugin (no symbol %s)", path, SG_PLUGIN_DESCRIPTOR_SYMBOL);
        goto Exit;
    }
    if (p->abi_version != SG_PLUGIN_ABI_VERSION) {
        snprintf(err, errlen, "plugin %s was built for plugin ABI version %u, this sandgate provides version %u", path,
                 (unsigned)p->abi_version, (unsigned)SG_PLUGIN_ABI_VERSION);
        goto Exit;
    }
    if (p->name == NULL || p->name[0] == '\0') {
        snprintf(err, errlen, "plugin %s has no name", path);
        goto Exit;
    }
    loaded = realloc(loaded, sizeof(*loaded) * (num_loaded + 1));
    loaded[num_loaded].path = strdup(path);
    loaded[num_loaded].handle = handle;
    loaded[num_loaded].plugin = p;
    num_loaded++;
    plugin = p;
    handle = NULL;
Exit:
    if (handle != NULL)
        dlclose(handle);
    pthread_mutex_unlock(&so_lock);
    return plugin;
}

void sg_plugin_unload_all(void)
{
    pthread_mutex_lock(&so_lock);
    for (size_t i = 0; i != num_loaded; ++i) {
        dlclose(loaded[i].handle);
        free(loaded[i].path);
    }
    free(loaded);
    loaded = NULL;
    num_loaded = 0;
    pthread_mutex_unlock(&so_lock);
}

static void *ctx_of(sg_request_t *r, size_t i)
{
    return r->chain->plugins[i]->plugin->ctx_size != 0 ? r->plugin_ctx + r->chain->plugins[i]->ctx_offset : NULL;
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
        sg_plugin_status_t st =
            inst->plugin->on_request(&sg_plugin_api, (sg_plugin_req_t *)r, inst->conf, ctx_of(r, r->next_plugin));
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
        sg_tenant_cache_resolve(r, sg_handler_dispatch);
        return;
    }
    sg_handler_dispatch(r);
}

void sg_pipeline_response_headers(sg_request_t *r)
{
    h2o_req_t *req = r->req;
    /* plugins first: what they add in this phase goes out with the rest */
    for (size_t i = 0; i != r->chain->num_plugins; ++i) {
        sg_plugin_instance_t *inst = r->chain->plugins[i];
        if (inst->plugin->on_response_headers != NULL)
            inst->plugin->on_response_headers(&sg_plugin_api, (sg_plugin_req_t *)r, inst->conf, ctx_of(r, i), req->res.status);
    }
    for (size_t i = 0; i != r->response_headers.size; ++i)
        h2o_add_header_by_str(&req->pool, &req->res.headers, r->response_headers.entries[i].name->base,
                              r->response_headers.entries[i].name->len, 1, NULL, r->response_headers.entries[i].value.base,
                              r->response_headers.entries[i].value.len);
}

void sg_pipeline_log(sg_request_t *r)
{
    for (size_t i = 0; i != r->chain->num_plugins; ++i) {
        sg_plugin_instance_t *inst = r->chain->plugins[i];
        if (inst->plugin->on_log != NULL)
            inst->plugin->on_log(&sg_plugin_api, (sg_plugin_req_t *)r, inst->conf, ctx_of(r, i));
    }
}

void sg_pipeline_dispose(sg_request_t *r)
{
    r->disposed = 1;
    while (r->disposers != NULL) {
        sg_dispose_entry_t *e = r->disposers;
        r->disposers = e->next;
        e->cb(e->data);
    }
}
