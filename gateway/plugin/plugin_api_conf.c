/*
 * Plugin configuration getters (sg_plugin_api_t, "configuration"): typed reads
 * of the YAML being loaded, through views of its nodes (config/plugin_registry.h:
 * the plugin's `config:` mapping and the children handed out by the structured
 * getters). Errors are "file:line: message" of the node at fault.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config/plugin_registry.h"
#include "plugin/plugin_api_impl.h"

/* the scalar a getter reads: at key in the viewed mapping, or (key NULL) the viewed node itself; ret as the getters' */
static const char *scalar_at(sg_plugin_conf_t *conf, const char *key, yaml_node_t **node, int *ret)
{
    yaml_node_t *n = key != NULL ? sg_yaml_get(conf->y, conf->map, key) : conf->map;
    *node = n;
    *ret = 0;
    if (n == NULL)
        return NULL;
    if (n->type != YAML_SCALAR_NODE) {
        if (key != NULL)
            sg_yaml_error(conf->y, n, "'%s' must be a scalar value", key);
        else
            sg_yaml_error(conf->y, n, "the value must be a scalar");
        *ret = -1;
        return NULL;
    }
    *ret = 1;
    return sg_yaml_scalar(n);
}

int sg_plugin__conf_string(sg_plugin_conf_t *conf, const char *key, const char **out)
{
    if (key != NULL)
        return sg_yaml_str(conf->y, conf->map, key, out);
    yaml_node_t *n;
    int ret;
    const char *s = scalar_at(conf, key, &n, &ret);
    if (s != NULL)
        *out = s;
    return ret;
}

int sg_plugin__conf_int(sg_plugin_conf_t *conf, const char *key, int64_t *out)
{
    if (key != NULL)
        return sg_yaml_int(conf->y, conf->map, key, out);
    yaml_node_t *n;
    int ret;
    const char *s = scalar_at(conf, key, &n, &ret);
    if (s == NULL)
        return ret;
    if (sg_parse_int(s, out) != 0) {
        sg_yaml_error(conf->y, n, "the value must be an integer, got '%s'", s);
        return -1;
    }
    return 1;
}

int sg_plugin__conf_bool(sg_plugin_conf_t *conf, const char *key, int *out)
{
    if (key != NULL)
        return sg_yaml_bool(conf->y, conf->map, key, out);
    yaml_node_t *n;
    int ret;
    const char *s = scalar_at(conf, key, &n, &ret);
    if (s == NULL)
        return ret;
    if (sg_parse_bool(s, out) != 0) {
        sg_yaml_error(conf->y, n, "the value must be true or false, got '%s'", s);
        return -1;
    }
    return 1;
}

static int typed_self(sg_plugin_conf_t *conf, uint64_t *out, int (*parse)(const char *, uint64_t *), const char *what)
{
    yaml_node_t *n;
    int ret;
    const char *s = scalar_at(conf, NULL, &n, &ret);
    if (s == NULL)
        return ret;
    if (parse(s, out) != 0) {
        sg_yaml_error(conf->y, n, "the value must be %s, got '%s'", what, s);
        return -1;
    }
    return 1;
}

int sg_plugin__conf_duration_ms(sg_plugin_conf_t *conf, const char *key, uint64_t *out)
{
    if (key != NULL)
        return sg_yaml_duration_ms(conf->y, conf->map, key, out);
    return typed_self(conf, out, sg_parse_duration_ms, "a duration (e.g. 250ms, 5s, 2m)");
}

int sg_plugin__conf_size(sg_plugin_conf_t *conf, const char *key, uint64_t *out)
{
    if (key != NULL)
        return sg_yaml_size(conf->y, conf->map, key, out);
    return typed_self(conf, out, sg_parse_size, "a size (e.g. 512, 64k, 10m)");
}

void sg_plugin__conf_error(sg_plugin_conf_t *conf, const char *key, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    yaml_node_t *node = key != NULL ? sg_yaml_get(conf->y, conf->map, key) : NULL;
    if (node == NULL)
        node = conf->map != NULL ? conf->map : conf->owner;
    if (key != NULL)
        sg_yaml_error(conf->y, node, "%s: %s", key, msg);
    else
        sg_yaml_error(conf->y, node, "%s", msg);
}

/* the node at key (key NULL: the viewed node); NULL when absent */
static yaml_node_t *node_at(sg_plugin_conf_t *conf, const char *key)
{
    return key != NULL ? sg_yaml_get(conf->y, conf->map, key) : conf->map;
}

/* the getters' verdict on the node at key: 0 absent, -1 not of the kind (error recorded, naming what), 1 found */
static int check_node(sg_plugin_conf_t *conf, const char *key, yaml_node_t *node, int is_kind, const char *what)
{
    if (node == NULL)
        return 0;
    if (!is_kind) {
        if (key != NULL)
            sg_yaml_error(conf->y, node, "'%s' must be a %s", key, what);
        else
            sg_yaml_error(conf->y, node, "the value must be a %s", what);
        return -1;
    }
    return 1;
}

int sg_plugin__conf_seq(sg_plugin_conf_t *conf, const char *key, size_t *n)
{
    yaml_node_t *node = node_at(conf, key);
    int ret = check_node(conf, key, node, node != NULL && sg_yaml_is_seq(node), "list");
    if (ret == 1)
        *n = sg_yaml_seq_len(node);
    return ret;
}

sg_plugin_conf_t *sg_plugin__conf_seq_item(sg_plugin_conf_t *conf, const char *key, size_t i)
{
    yaml_node_t *node = node_at(conf, key);
    if (!sg_yaml_is_seq(node) || i >= sg_yaml_seq_len(node))
        return NULL;
    return sg_plugin_conf_child(conf, sg_yaml_seq_at(conf->y, node, i));
}

int sg_plugin__conf_map(sg_plugin_conf_t *conf, const char *key, size_t *n)
{
    yaml_node_t *node = node_at(conf, key);
    int ret = check_node(conf, key, node, node != NULL && sg_yaml_is_map(node), "mapping");
    if (ret == 1)
        *n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    return ret;
}

sg_plugin_conf_t *sg_plugin__conf_map_entry(sg_plugin_conf_t *conf, const char *key, size_t i, const char **name)
{
    yaml_node_t *node = node_at(conf, key), *k, *v;
    size_t iter = i;
    if (!sg_yaml_is_map(node) || !sg_yaml_map_next(conf->y, node, &iter, &k, &v))
        return NULL;
    if (sg_yaml_scalar(k) == NULL) {
        sg_yaml_error(conf->y, k, "mapping keys must be scalars");
        return NULL;
    }
    *name = sg_yaml_scalar(k);
    return sg_plugin_conf_child(conf, v);
}
