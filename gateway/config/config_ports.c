/*
 * The `ports:` section (how sandbox ports are named and reached: host routing, signed URLs, renew on access) and a
 * backend's `renew_intent:` mapping. docs/CONFIG.md, "ports".
 */
#include <stdlib.h>
#include <string.h>
#include "config/config_parse.h"

#define DEFAULT_MAX_SIGNED_LIFETIME_S (24 * 3600)
#define DEFAULT_RENEW_INTERVAL_MS 60000
#define DOMAIN_MAX 200 /* leaves a 63-byte label and a port within a 255-byte host name */

/* a DNS name the host form can hang labels under: lower-case letters, digits, '-' and inner dots */
static int valid_domain(const char *d)
{
    size_t len = strlen(d);
    if (len == 0 || len > DOMAIN_MAX || d[0] == '.' || d[0] == '-' || d[len - 1] == '.')
        return 0;
    for (size_t i = 0; i != len; ++i) {
        char c = d[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.') || (c == '.' && d[i + 1] == '.'))
            return 0;
    }
    return 1;
}

/* RFC 6265 cookie-name: a token */
static int valid_cookie_name(const char *s)
{
    if (*s == '\0' || strlen(s) > 64)
        return 0;
    for (; *s != '\0'; ++s)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

void sg_config_parse_ports(sg_yaml_t *y, yaml_node_t *root, sg_config_t *conf)
{
    const char *domain = NULL, *form = "path", *cookie = "sg_access";
    uint64_t lifetime_ms = (uint64_t)DEFAULT_MAX_SIGNED_LIFETIME_S * 1000;
    conf->ports.renew_interval_ms = DEFAULT_RENEW_INTERVAL_MS;
    yaml_node_t *node = sg_yaml_get(y, root, "ports");
    if (node != NULL && !sg_yaml_is_map(node)) {
        sg_yaml_error(y, node, "'ports' must be a mapping");
        node = NULL;
    }
    if (node != NULL) {
        sg_yaml_str(y, node, "sandbox_domain", &domain);
        sg_yaml_str(y, node, "endpoint_form", &form);
        sg_yaml_duration_ms(y, node, "max_signed_lifetime", &lifetime_ms);
        sg_yaml_duration_ms(y, node, "renew_interval", &conf->ports.renew_interval_ms);
        sg_yaml_str(y, node, "cookie_name", &cookie);
        sg_yaml_check_unknown(y, node, "ports");
        if (domain != NULL && !valid_domain(domain))
            sg_yaml_error(y, sg_yaml_get(y, node, "sandbox_domain"),
                          "sandbox_domain must be a DNS name of lower-case letters, digits, '-' and '.' (without \"*.\"; "
                          "the wildcard certificate *.%s goes in listen[].tls.certificates)",
                          domain[0] == '*' && domain[1] == '.' ? domain + 2 : "DOMAIN");
        if (lifetime_ms < 1000)
            sg_yaml_error(y, sg_yaml_get(y, node, "max_signed_lifetime"), "max_signed_lifetime must be at least 1s");
        if (conf->ports.renew_interval_ms < 1000)
            sg_yaml_error(y, sg_yaml_get(y, node, "renew_interval"), "renew_interval must be at least 1s");
        if (!valid_cookie_name(cookie))
            sg_yaml_error(y, sg_yaml_get(y, node, "cookie_name"), "cookie_name must be 1 to 64 of A-Z a-z 0-9 _ -");
    }
    if (strcmp(form, "path") == 0)
        conf->ports.endpoint_form = SG_ENDPOINT_FORM_PATH;
    else if (strcmp(form, "host") == 0)
        conf->ports.endpoint_form = SG_ENDPOINT_FORM_HOST;
    else
        sg_yaml_error(y, sg_yaml_get(y, node, "endpoint_form"), "endpoint_form must be path or host");
    if (domain == NULL) {
        if (conf->ports.endpoint_form == SG_ENDPOINT_FORM_HOST)
            sg_yaml_error(y, sg_yaml_get(y, node, "endpoint_form"), "endpoint_form: host needs ports.sandbox_domain");
        for (size_t i = 0; i != conf->num_tenants; ++i)
            if (conf->tenants[i].policy.endpoint_form == SG_ENDPOINT_FORM_HOST)
                sg_yaml_error(y, node, "tenant %s asks for endpoint_form: host, which needs ports.sandbox_domain",
                              conf->tenants[i].id);
    }
    conf->ports.sandbox_domain = domain != NULL ? strdup(domain) : NULL;
    conf->ports.max_signed_lifetime_s = lifetime_ms / 1000;
    conf->ports.cookie_name = strdup(cookie);
}

void sg_config_parse_renew_intent(sg_yaml_t *y, yaml_node_t *backend, sg_backend_conf_t *be)
{
    yaml_node_t *node = sg_yaml_get(y, backend, "renew_intent");
    if (node == NULL)
        return;
    if (!sg_yaml_is_map(node)) {
        sg_yaml_error(y, node, "renew_intent must be a mapping {redis, key, max_len}");
        return;
    }
    const char *addr = NULL, *key = "opensandbox:renew:intent";
    be->renew_intent_max_len = 10000;
    if (sg_yaml_str(y, node, "redis", &addr) == 0)
        sg_yaml_error(y, node, "renew_intent needs 'redis' (host:port of the backend's Redis)");
    sg_yaml_str(y, node, "key", &key);
    sg_yaml_uint(y, node, "max_len", &be->renew_intent_max_len, 0, 100000000);
    sg_yaml_check_unknown(y, node, "renew_intent");
    const char *colon = addr != NULL ? strrchr(addr, ':') : NULL;
    long port = colon != NULL ? strtol(colon + 1, NULL, 10) : 0;
    if (addr != NULL && (colon == NULL || colon == addr || port <= 0 || port > 65535)) {
        sg_yaml_error(y, sg_yaml_get(y, node, "redis"), "renew_intent.redis must be host:port, got '%s'", addr);
        return;
    }
    if (key[0] == '\0')
        sg_yaml_error(y, sg_yaml_get(y, node, "key"), "renew_intent.key must not be empty");
    be->renew_intent_addr = addr != NULL ? strdup(addr) : NULL;
    be->renew_intent_key = strdup(key);
}

void sg_config_ports_dispose(sg_config_t *conf)
{
    free(conf->ports.sandbox_domain);
    free(conf->ports.cookie_name);
}
