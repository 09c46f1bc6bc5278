#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config/plugin_registry.h"

extern const sg_plugin_t sg_plugin_request_id;
extern const sg_plugin_t sg_plugin_access_log;
extern const sg_plugin_t sg_plugin_key_auth;
extern const sg_plugin_t sg_plugin_rate_limit;

static const sg_plugin_t *const builtins[] = {&sg_plugin_request_id, &sg_plugin_access_log, &sg_plugin_key_auth, &sg_plugin_rate_limit};

static pthread_mutex_t so_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *path;
    void *handle;
    const sg_plugin_t *plugin;
} * loaded;
static size_t num_loaded;

static const sg_plugin_api_t *registry_api;

void sg_plugin_registry_set_api(const sg_plugin_api_t *api)
{
    registry_api = api;
}

const sg_plugin_api_t *sg_plugin_registry_api(void)
{
    return registry_api;
}

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
    void *grown = realloc(loaded, sizeof(*loaded) * (num_loaded + 1));
    if (grown == NULL) {
        snprintf(err, errlen, "out of memory loading plugin %s", path);
        goto Exit;
    }
    loaded = grown;
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
