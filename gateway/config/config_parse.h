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
/* `ports:` (config_ports.c); after the tenants, whose endpoint_form it checks */
void sg_config_parse_ports(sg_yaml_t *y, yaml_node_t *root, sg_config_t *conf);
/* a backend's `renew_intent:` mapping (node: the backend) */
void sg_config_parse_renew_intent(sg_yaml_t *y, yaml_node_t *backend, sg_backend_conf_t *be);
void sg_config_ports_dispose(sg_config_t *conf);

#endif
