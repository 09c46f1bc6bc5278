/*
 * The plugin registry: finds a plugin by name (the built-ins of
 * lua-free-plugins/builtin) or loads it from a .so, for the config loader.
 * Running plugins is the pipeline's job (plugin/pipeline.h).
 */
#ifndef SG_PLUGIN_REGISTRY_H
#define SG_PLUGIN_REGISTRY_H

#include <stddef.h>
#include "plugin.h"
#include "util/yamlconf.h"

struct st_sg_plugin_conf_t {
    sg_yaml_t *y;
    yaml_node_t *map;   /* the plugin's `config:` mapping (may be NULL: no config) */
    yaml_node_t *owner; /* the plugin entry, for errors without a key */
};

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
 * descriptor or was built for another ABI version.
 */
const sg_plugin_t *sg_plugin_load_so(const char *path, char *err, size_t errlen);
void sg_plugin_unload_all(void);

#endif
