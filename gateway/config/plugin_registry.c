#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config/plugin_registry.h"

extern const sg_plugin_t sg_plugin_request_id;
extern const sg_plugin_t sg_plugin_access_log;
extern const sg_plugin_t sg_plugin_key_auth;
extern const sg_plugin_t sg_plugin_rate_limit;

static const sg_plugin_t *const builtins[] = {&sg_plugin_request_id, &sg_plugin_access_log, &sg_plugin_key_auth,
                                              &sg_plugin_rate_limit};
#define NUM_BUILTINS (sizeof(builtins) / sizeof(builtins[0]))

/* loaded .so files: a fixed array, so that readers of a slot (worker threads) need no lock; num_loaded is published
 * after its entry is written */
static pthread_mutex_t so_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *path;
    void *handle;
    const sg_plugin_t *plugin;
} loaded[SG_PLUGIN_MAX_SO];
static size_t num_loaded;

typedef struct st_shared_state_t {
    struct st_shared_state_t *next;
    char *plugin, *name;
    size_t size;
    void *data;
} shared_state_t;
static shared_state_t *shared_states; /* under so_lock */

static const sg_plugin_api_t *registry_api;
static __thread const sg_plugin_t *current_plugin;

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
    for (size_t i = 0; i != NUM_BUILTINS; ++i)
        if (strcmp(builtins[i]->name, name) == 0)
            return builtins[i];
    return NULL;
}

/* the descriptor has field (ABI 2 part, covered by descriptor_size) */
#define DESC_HAS(p, field) ((p)->abi_version >= 2 && (p)->descriptor_size >= offsetof(sg_plugin_t, field) + sizeof((p)->field))

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
    /* fields are only appended: abi_version and name are where every ABI has them */
    if (p->abi_version < SG_PLUGIN_ABI_MIN || p->abi_version > SG_PLUGIN_ABI_VERSION) {
        snprintf(err, errlen, "plugin %s was built for plugin ABI version %u, this sandgate provides version %u", path,
                 (unsigned)p->abi_version, (unsigned)SG_PLUGIN_ABI_VERSION);
        goto Exit;
    }
    if (p->name == NULL || p->name[0] == '\0') {
        snprintf(err, errlen, "plugin %s has no name", path);
        goto Exit;
    }
    /* an ABI 2 descriptor ends at least after the ABI 2 fields it is read for: descriptor_size itself */
    if (p->abi_version >= 2 && p->descriptor_size < offsetof(sg_plugin_t, descriptor_size) + sizeof(p->descriptor_size)) {
        snprintf(err, errlen,
                 "plugin %s declares plugin ABI version %u but a descriptor_size of %zu bytes (set .descriptor_size = "
                 "sizeof(sg_plugin_t))",
                 path, (unsigned)p->abi_version, p->descriptor_size);
        goto Exit;
    }
    if (num_loaded == SG_PLUGIN_MAX_SO) {
        snprintf(err, errlen, "cannot load plugin %s: already %d plugin files loaded", path, SG_PLUGIN_MAX_SO);
        goto Exit;
    }
    char *copy = strdup(path);
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory loading plugin %s", path);
        goto Exit;
    }
    loaded[num_loaded].path = copy;
    loaded[num_loaded].handle = handle;
    loaded[num_loaded].plugin = p;
    __atomic_store_n(&num_loaded, num_loaded + 1, __ATOMIC_RELEASE);
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
    memset(loaded, 0, sizeof(loaded));
    __atomic_store_n(&num_loaded, 0, __ATOMIC_RELEASE);
    while (shared_states != NULL) {
        shared_state_t *s = shared_states;
        shared_states = s->next;
        free(s->plugin);
        free(s->name);
        free(s->data);
        free(s);
    }
    pthread_mutex_unlock(&so_lock);
}

size_t sg_plugin_registry_count(void)
{
    return NUM_BUILTINS + __atomic_load_n(&num_loaded, __ATOMIC_ACQUIRE);
}

const sg_plugin_t *sg_plugin_registry_at(size_t i)
{
    return i < NUM_BUILTINS ? builtins[i] : loaded[i - NUM_BUILTINS].plugin;
}

size_t sg_plugin_registry_slot(const sg_plugin_t *p)
{
    size_t n = sg_plugin_registry_count();
    for (size_t i = 0; i != n; ++i)
        if (sg_plugin_registry_at(i) == p)
            return i;
    return SIZE_MAX;
}

void *(*sg_plugin_thread_init_of(const sg_plugin_t *p))(const sg_plugin_api_t *, sg_plugin_thread_t *)
{
    return DESC_HAS(p, thread_init) ? p->thread_init : NULL;
}

void (*sg_plugin_thread_dispose_of(const sg_plugin_t *p))(const sg_plugin_api_t *, sg_plugin_thread_t *, void *)
{
    return DESC_HAS(p, thread_dispose) ? p->thread_dispose : NULL;
}

const sg_plugin_t *sg_plugin_enter(const sg_plugin_t *p)
{
    const sg_plugin_t *prev = current_plugin;
    current_plugin = p;
    return prev;
}

const sg_plugin_t *sg_plugin_current(void)
{
    return current_plugin;
}

void *sg_plugin_shared_state(const char *plugin, const char *name, size_t size)
{
    void *ret = NULL;
    if (plugin == NULL || name == NULL || size == 0)
        return NULL;
    pthread_mutex_lock(&so_lock);
    shared_state_t *s;
    for (s = shared_states; s != NULL; s = s->next)
        if (strcmp(s->plugin, plugin) == 0 && strcmp(s->name, name) == 0)
            break;
    if (s != NULL) {
        ret = s->size == size ? s->data : NULL;
        goto Exit;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL || (s->plugin = strdup(plugin)) == NULL || (s->name = strdup(name)) == NULL ||
        (s->data = calloc(1, size)) == NULL) {
        if (s != NULL) {
            free(s->plugin);
            free(s->name);
            free(s);
        }
        goto Exit;
    }
    s->size = size;
    s->next = shared_states;
    shared_states = s;
    ret = s->data;
Exit:
    pthread_mutex_unlock(&so_lock);
    return ret;
}

/* ---- config views ---- */

void sg_plugin_conf_init(sg_plugin_conf_t *root, sg_yaml_t *y, yaml_node_t *cfg, yaml_node_t *owner)
{
    *root = (sg_plugin_conf_t){y, cfg, owner, NULL, NULL, NULL};
    root->root = root;
    root->last_child = &root->next_child;
}

sg_plugin_conf_t *sg_plugin_conf_child(sg_plugin_conf_t *conf, yaml_node_t *node)
{
    sg_plugin_conf_t *root = conf->root, *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    *c = (sg_plugin_conf_t){conf->y, node, node, root, NULL, NULL};
    *root->last_child = c;
    root->last_child = &c->next_child;
    return c;
}

void sg_plugin_conf_finish(sg_plugin_conf_t *root, const char *section)
{
    if (section != NULL)
        sg_yaml_check_unknown(root->y, root->map, section);
    /* a node handed out twice (read twice) is checked once: reported keys are marked used */
    while (root->next_child != NULL) {
        sg_plugin_conf_t *c = root->next_child;
        if ((root->next_child = c->next_child) == NULL)
            root->last_child = &root->next_child;
        int seen = 0;
        for (sg_plugin_conf_t *o = root->next_child; o != NULL && !seen; o = o->next_child)
            seen = o->map == c->map;
        if (!seen && section != NULL)
            sg_yaml_check_unknown(root->y, c->map, section);
        free(c);
    }
}
