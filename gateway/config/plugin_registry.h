/*
 * The plugin registry: finds a plugin by name (the built-ins of
 * lua-free-plugins/builtin) or loads it from a .so, for the config loader.
 * Running plugins is the pipeline's job (plugin/pipeline.h).
 *
 * Every known plugin has a slot (built-ins first, then .so files in load order,
 * kept until exit): per-thread plugin state is indexed by it
 * (runtime/plugin_thread.h). The registry also reads the ABI-dependent parts of
 * a descriptor (sg_plugin_thread_init_of...), so that nothing else looks past
 * what an older plugin's descriptor has.
 */
#ifndef SG_PLUGIN_REGISTRY_H
#define SG_PLUGIN_REGISTRY_H

#include <stddef.h>
#include "plugin.h"
#include "util/yamlconf.h"

/* .so plugins a process can load (distinct paths) */
#define SG_PLUGIN_MAX_SO 64

/*
 * A view of a node of a plugin's config: the plugin's `config:` mapping (the root), or a child handed out by
 * conf_seq_item / conf_map_entry (any node kind). Children are kept on the root's list until
 * sg_plugin_conf_finish, which reports the unknown keys of every mapping among them.
 */
struct st_sg_plugin_conf_t {
    sg_yaml_t *y;
    yaml_node_t *map;   /* the node viewed (for the root: the `config:` mapping, or NULL: no config) */
    yaml_node_t *owner; /* the plugin entry, for errors without a node */
    struct st_sg_plugin_conf_t *root;
    struct st_sg_plugin_conf_t *next_child;  /* on root's list, in creation order */
    struct st_sg_plugin_conf_t **last_child; /* root only: the list's tail */
};

/* Initialises a root view of cfg (may be NULL) for the plugin entry owner. */
void sg_plugin_conf_init(sg_plugin_conf_t *root, sg_yaml_t *y, yaml_node_t *cfg, yaml_node_t *owner);
/* A child view of node, kept on root's list (NULL when out of memory). */
sg_plugin_conf_t *sg_plugin_conf_child(sg_plugin_conf_t *conf, yaml_node_t *node);
/* After config_parse: reports unknown keys of the root and of every child mapping (section NULL: not), frees the children. */
void sg_plugin_conf_finish(sg_plugin_conf_t *root, const char *section);

/*
 * The function table handed to plugins' config_parse. It is defined by the
 * plugin layer (plugin/plugin_api.c), above this one, which hands it down once
 * at start (sg_pipeline_init) instead of being called up from here. NULL until
 * then: a plugin with a config_parse cannot be configured before it.
 */
void sg_plugin_registry_set_api(const sg_plugin_api_t *api);
const sg_plugin_api_t *sg_plugin_registry_api(void);

/* Built-in plugin by name, or NULL. */
const sg_plugin_t *sg_plugin_find_builtin(const char *name);
/*
 * Loads an external plugin from a .so (once per path; kept until exit). Returns
 * NULL with a message in err when the file cannot be loaded, lacks the
 * descriptor, was built for an ABI outside SG_PLUGIN_ABI_MIN..SG_PLUGIN_ABI_VERSION
 * (both versions named) or has a descriptor_size too small for its ABI.
 */
const sg_plugin_t *sg_plugin_load_so(const char *path, char *err, size_t errlen);
/* Unloads the .so plugins and frees the shared states (at exit, after every thread stopped). */
void sg_plugin_unload_all(void);

/* Number of slots in use (built-ins plus loaded .so files; grows, never shrinks). */
size_t sg_plugin_registry_count(void);
/* The plugin of slot i < sg_plugin_registry_count(). */
const sg_plugin_t *sg_plugin_registry_at(size_t i);
/* The slot of a plugin known to the registry; SIZE_MAX otherwise. */
size_t sg_plugin_registry_slot(const sg_plugin_t *p);

/* The descriptor's thread hooks (NULL for ABI 1 plugins and for descriptors too short to have them). */
void *(*sg_plugin_thread_init_of(const sg_plugin_t *p))(const sg_plugin_api_t *, sg_plugin_thread_t *);
void (*sg_plugin_thread_dispose_of(const sg_plugin_t *p))(const sg_plugin_api_t *, sg_plugin_thread_t *, void *);

/*
 * The plugin whose code runs on this thread (set around every call into a plugin): the api functions that take no
 * request or thread (shared_state) find their plugin with it. sg_plugin_enter returns the previous one, to restore.
 */
const sg_plugin_t *sg_plugin_enter(const sg_plugin_t *p);
const sg_plugin_t *sg_plugin_current(void);

/*
 * Process-wide state by (plugin name, name): size zeroed bytes at first use, the same pointer afterwards; NULL when
 * size differs from the first call's or out of memory. Freed by sg_plugin_unload_all.
 */
void *sg_plugin_shared_state(const char *plugin, const char *name, size_t size);

#endif
