/*
 * Section parsers shared between config.c and config_tenants.c (internal to the config module).
 */
#ifndef SG_CONFIG_PARSE_H
#define SG_CONFIG_PARSE_H

#include "config/config.h"
#include "util/router.h"
#include "util/yamlconf.h"

void sg_config_parse_tenants(sg_yaml_t *y, yaml_node_t *root, sg_config_t *conf);
void sg_config_parse_store(sg_yaml_t *y, yaml_node_t *root, sg_config_t *conf);
void sg_config_parse_lifecycle(sg_yaml_t *y, yaml_node_t *root, sg_config_t *conf);
void sg_config_parse_port_tokens(sg_yaml_t *y, yaml_node_t *root, sg_config_t *conf);

#endif
