/*
 * Configuration sections of tenancy: `tenants:`, `redis:` and `lifecycle:`.
 */
#include <stdlib.h>
#include <string.h>
#include "config/config.h"
#include "config/config_parse.h"

static char **parse_string_list(sg_yaml_t *y, yaml_node_t *seq, const char *what, size_t *n)
{
    *n = 0;
    if (seq == NULL)
        return NULL;
    if (!sg_yaml_is_seq(seq)) {
        sg_yaml_error(y, seq, "%s must be a list of strings", what);
        return NULL;
    }
    char **out = calloc(sg_yaml_seq_len(seq) + 1, sizeof(*out));
    for (size_t i = 0; i != sg_yaml_seq_len(seq); ++i) {
        yaml_node_t *item = sg_yaml_seq_at(y, seq, i);
        if (sg_yaml_scalar(item) == NULL) {
            sg_yaml_error(y, item, "%s must be a list of strings", what);
            continue;
        }
        out[(*n)++] = strdup(sg_yaml_scalar(item));
    }
    return out;
}

static void parse_keys(sg_yaml_t *y, yaml_node_t *seq, sg_tenant_t *t)
{
    if (!sg_yaml_is_seq(seq)) {
        sg_yaml_error(y, seq, "keys must be a list of {hash, [name], [expires_at], [revoked]}");
        return;
    }
    t->keys = calloc(sg_yaml_seq_len(seq) + 1, sizeof(*t->keys));
    for (size_t i = 0; i != sg_yaml_seq_len(seq); ++i) {
        yaml_node_t *node = sg_yaml_seq_at(y, seq, i);
        sg_tenant_key_t *k = t->keys + t->num_keys++;
        const char *hash = NULL, *name = "", *expires = NULL;
        if (sg_yaml_scalar(node) != NULL) {
            hash = sg_yaml_scalar(node); /* the short form: just the hash */
        } else {
            sg_yaml_str(y, node, "hash", &hash);
            sg_yaml_str(y, node, "name", &name);
            sg_yaml_str(y, node, "expires_at", &expires);
            sg_yaml_bool(y, node, "revoked", &k->revoked);
            sg_yaml_check_unknown(y, node, "a tenant key");
        }
        k->name = strdup(name);
        if (hash == NULL || sg_keyhash_parse(hash, k->hash) != 0)
            sg_yaml_error(y, node,
                          "a key needs 'hash: sha256:<64 hex digits>' (print one with `sandgate hash-key KEY`); "
                          "keys are never written in clear");
        if (expires != NULL && sg_parse_rfc3339_ms(expires, &k->expires_at_ms) != 0)
            sg_yaml_error(y, sg_yaml_get(y, node, "expires_at"), "expires_at must be an RFC 3339 time like 2027-01-31T00:00:00Z");
    }
}

/* a YAML value as JSON: scalars become strings (typed by sg_admission_set in untyped mode) */
static json_t *yaml_to_json(sg_yaml_t *y, yaml_node_t *n)
{
    if (sg_yaml_scalar(n) != NULL)
        return json_string(sg_yaml_scalar(n));
    if (sg_yaml_is_seq(n)) {
        json_t *a = json_array();
        for (size_t i = 0; i != sg_yaml_seq_len(n); ++i)
            json_array_append_new(a, yaml_to_json(y, sg_yaml_seq_at(y, n, i)));
        return a;
    }
    json_t *o = json_object();
    size_t it = 0;
    yaml_node_t *k, *v;
    while (sg_yaml_is_map(n) && sg_yaml_map_next(y, n, &it, &k, &v))
        if (sg_yaml_scalar(k) != NULL)
            json_object_set_new(o, sg_yaml_scalar(k), yaml_to_json(y, v));
    return o;
}

/* the `policy:` sub-section of a tenant, through the table of tenant_policy.c */
static void parse_policy(sg_yaml_t *y, yaml_node_t *node, sg_tenant_policy_t *p)
{
    char err[256];
    size_t it = 0;
    yaml_node_t *k, *v;
    if (node == NULL)
        return;
    if (!sg_yaml_is_map(node)) {
        sg_yaml_error(y, node, "policy must be a mapping");
        return;
    }
    while (sg_yaml_map_next(y, node, &it, &k, &v)) {
        const char *name = sg_yaml_scalar(k) != NULL ? sg_yaml_scalar(k) : "";
        json_t *value = yaml_to_json(y, v);
        int rc = sg_tenant_policy_set(p, name, value, 1, err, sizeof(err));
        json_decref(value);
        if (rc == -2)
            sg_yaml_error(y, k, "unknown key '%s' in policy", name);
        else if (rc != 0)
            sg_yaml_error(y, v, "policy.%s", err);
    }
    sg_yaml_check_unknown(y, node, "policy"); /* duplicate keys */
}

/* the `admission:` sub-section of a tenant, through the table of admission_conf.c */
static void parse_admission(sg_yaml_t *y, yaml_node_t *node, sg_admission_t *adm)
{
    char err[512];
    size_t it = 0;
    yaml_node_t *k, *v;
    if (node == NULL)
        return;
    if (!sg_yaml_is_map(node)) {
        sg_yaml_error(y, node, "admission must be a mapping");
        return;
    }
    while (sg_yaml_map_next(y, node, &it, &k, &v)) {
        const char *name = sg_yaml_scalar(k) != NULL ? sg_yaml_scalar(k) : "";
        json_t *value = yaml_to_json(y, v);
        int rc = sg_admission_set(adm, name, value, 1, err, sizeof(err));
        json_decref(value);
        if (rc == -2)
            sg_yaml_error(y, k, "unknown key '%s' in admission", name);
        else if (rc != 0)
            sg_yaml_error(y, v, "admission.%s", err);
    }
    sg_yaml_check_unknown(y, node, "admission"); /* duplicate keys */
    if (sg_admission_finish(adm, err, sizeof(err)) != 0)
        sg_yaml_error(y, node, "admission.%s", err);
}

static void parse_backend_labels(sg_yaml_t *y, yaml_node_t *node, sg_tenant_t *t)
{
    if (node == NULL)
        return;
    if (!sg_yaml_is_map(node)) {
        sg_yaml_error(y, node, "backend_labels must map label names to allowed values");
        return;
    }
    size_t it = 0, n = node->data.mapping.pairs.top - node->data.mapping.pairs.start;
    yaml_node_t *k, *v;
    t->backend_labels = calloc(n + 1, sizeof(*t->backend_labels));
    while (sg_yaml_map_next(y, node, &it, &k, &v)) {
        sg_label_selector_t *sel = t->backend_labels + t->num_backend_labels++;
        sel->key = strdup(sg_yaml_scalar(k) != NULL ? sg_yaml_scalar(k) : "");
        if (sg_yaml_scalar(v) != NULL) {
            sel->values = calloc(2, sizeof(char *));
            sel->values[0] = strdup(sg_yaml_scalar(v));
            sel->num_values = 1;
        } else {
            sel->values = parse_string_list(y, v, "backend_labels values", &sel->num_values);
        }
    }
}

void sg_config_parse_tenants(sg_yaml_t *y, yaml_node_t *root, sg_config_t *conf)
{
    yaml_node_t *list = sg_yaml_get(y, root, "tenants");
    if (list == NULL)
        return;
    if (!sg_yaml_is_seq(list)) {
        sg_yaml_error(y, list, "'tenants' must be a list");
        return;
    }
    conf->tenants = calloc(sg_yaml_seq_len(list) + 1, sizeof(*conf->tenants));
    for (size_t i = 0; i != sg_yaml_seq_len(list); ++i) {
        yaml_node_t *node = sg_yaml_seq_at(y, list, i);
        sg_tenant_t *t = conf->tenants + conf->num_tenants++;
        const char *id = NULL, *name = NULL;
        if (!sg_yaml_is_map(node)) {
            sg_yaml_error(y, node, "a tenant must be a mapping");
            continue;
        }
        if (sg_yaml_str(y, node, "id", &id) == 0)
            sg_yaml_error(y, node, "a tenant needs 'id'");
        else if (id != NULL && !sg_router_valid_id(id, strlen(id)))
            sg_yaml_error(y, sg_yaml_get(y, node, "id"), "tenant id must be 1-128 characters of [A-Za-z0-9._-]");
        sg_yaml_str(y, node, "name", &name);
        t->id = strdup(id != NULL ? id : "");
        t->name = strdup(name != NULL ? name : t->id);
        yaml_node_t *keys = sg_yaml_get(y, node, "keys");
        if (keys != NULL)
            parse_keys(y, keys, t);
        parse_backend_labels(y, sg_yaml_get(y, node, "backend_labels"), t);
        parse_policy(y, sg_yaml_get(y, node, "policy"), &t->policy);
        parse_admission(y, sg_yaml_get(y, node, "admission"), &t->admission);
        sg_yaml_check_unknown(y, node, "a tenant");
        for (size_t j = 0; j + 1 < conf->num_tenants; ++j)
            if (conf->tenants[j].id != NULL && strcmp(conf->tenants[j].id, t->id) == 0) /* NULL: an entry that was no mapping */
                sg_yaml_error(y, node, "duplicate tenant id '%s'", t->id);
    }
    /* the same key must not open two tenants */
    for (size_t a = 0; a != conf->num_tenants; ++a)
        for (size_t ka = 0; ka != conf->tenants[a].num_keys; ++ka)
            for (size_t b = a; b != conf->num_tenants; ++b)
                for (size_t kb = (a == b ? ka + 1 : 0); kb < conf->tenants[b].num_keys; ++kb)
                    if (sg_keyhash_equal(conf->tenants[a].keys[ka].hash, conf->tenants[b].keys[kb].hash))
                        sg_yaml_error(y, list, "the same key hash is configured twice (tenants %s and %s)", conf->tenants[a].id,
                                      conf->tenants[b].id);
}

void sg_config_parse_store(sg_yaml_t *y, yaml_node_t *root, sg_config_t *conf)
{
    sg_store_conf_t *s = &conf->store;
    const char *address = "127.0.0.1:6379", *password = NULL, *password_env = NULL, *prefix = "sandgate:";
    yaml_node_t *node = sg_yaml_get(y, root, "redis");
    s->connect_timeout_ms = 1000;
    s->command_timeout_ms = 500;
    s->tenant_cache_ttl_ms = 10000;
    s->prefix = NULL;
    if (node != NULL && !sg_yaml_is_map(node)) {
        sg_yaml_error(y, node, "'redis' must be a mapping");
        node = NULL;
    }
    if (node != NULL) {
        s->use_redis = 1;
        sg_yaml_str(y, node, "address", &address);
        sg_yaml_str(y, node, "password", &password);
        sg_yaml_str(y, node, "password_env", &password_env);
        sg_yaml_uint(y, node, "db", &s->db, 0, 1000);
        sg_yaml_str(y, node, "prefix", &prefix);
        sg_yaml_duration_ms(y, node, "connect_timeout", &s->connect_timeout_ms);
        sg_yaml_duration_ms(y, node, "command_timeout", &s->command_timeout_ms);
        sg_yaml_duration_ms(y, node, "tenant_cache_ttl", &s->tenant_cache_ttl_ms);
        sg_yaml_check_unknown(y, node, "redis");
        if (password_env != NULL) {
            if (password != NULL)
                sg_yaml_error(y, node, "give either password or password_env, not both");
            else if ((password = getenv(password_env)) == NULL)
                sg_yaml_error(y, sg_yaml_get(y, node, "password_env"), "environment variable %s is not set", password_env);
        }
        if (strncmp(address, "unix:", 5) == 0) {
            s->unix_path = strdup(address + 5);
        } else {
            const char *colon = strrchr(address, ':');
            char *end;
            long port = colon != NULL ? strtol(colon + 1, &end, 10) : 0;
            if (colon == NULL || colon == address || *end != '\0' || port <= 0 || port > 65535)
                sg_yaml_error(y, sg_yaml_get(y, node, "address"), "redis address must be host:port or unix:/path, got '%s'",
                              address);
            else {
                s->host = strndup(address, colon - address);
                s->port = (uint16_t)port;
            }
        }
        s->password = password != NULL ? strdup(password) : NULL;
    }
    s->prefix = strdup(prefix);
}

void sg_config_parse_lifecycle(sg_yaml_t *y, yaml_node_t *root, sg_config_t *conf)
{
    const char *tag = "sandgate.io/tenant", *public_url = NULL;
    conf->lifecycle.reconcile_interval_ms = 30000;
    conf->lifecycle.max_body = 1024 * 1024;
    conf->lifecycle.max_probes = 8;
    conf->lifecycle.negative_ttl_ms = 10000;
    yaml_node_t *node = sg_yaml_get(y, root, "lifecycle");
    if (node != NULL && !sg_yaml_is_map(node)) {
        sg_yaml_error(y, node, "'lifecycle' must be a mapping");
        node = NULL;
    }
    if (node != NULL) {
        sg_yaml_str(y, node, "tenant_metadata_key", &tag);
        sg_yaml_str(y, node, "public_url", &public_url);
        sg_yaml_duration_ms(y, node, "reconcile_interval", &conf->lifecycle.reconcile_interval_ms);
        sg_yaml_size(y, node, "max_json_body", &conf->lifecycle.max_body);
        sg_yaml_uint(y, node, "max_probes_per_tenant", &conf->lifecycle.max_probes, 1, 1024);
        sg_yaml_duration_ms(y, node, "negative_cache_ttl", &conf->lifecycle.negative_ttl_ms);
        sg_yaml_duration_ms(y, node, "quota_lease", &conf->lifecycle.quota_lease_ms);
        sg_yaml_check_unknown(y, node, "lifecycle");
        if (strncmp(tag, "opensandbox.io/", 15) == 0 || tag[0] == '\0')
            sg_yaml_error(y, sg_yaml_get(y, node, "tenant_metadata_key"),
                          "tenant_metadata_key must be non-empty and outside the reserved opensandbox.io/ prefix");
    }
    conf->lifecycle.tenant_tag = strdup(tag);
    conf->lifecycle.public_url = public_url != NULL ? strdup(public_url) : NULL;
}

/* `port_tokens: {secrets: [{id, secret}, ...]}`: the first secret signs, all verify (rotation with overlap) */
void sg_config_parse_port_tokens(sg_yaml_t *y, yaml_node_t *root, sg_config_t *conf)
{
    yaml_node_t *node = sg_yaml_get(y, root, "port_tokens"), *seq;
    if (node == NULL)
        return;
    if (!sg_yaml_is_map(node)) {
        sg_yaml_error(y, node, "'port_tokens' must be a mapping");
        return;
    }
    seq = sg_yaml_get(y, node, "secrets");
    sg_yaml_check_unknown(y, node, "port_tokens");
    if (seq == NULL)
        return;
    if (!sg_yaml_is_seq(seq)) {
        sg_yaml_error(y, seq, "port_tokens.secrets must be a list of {id, secret}");
        return;
    }
    sg_port_token_conf_t *pt = &conf->port_tokens;
    pt->secrets = calloc(sg_yaml_seq_len(seq) + 1, sizeof(*pt->secrets));
    for (size_t i = 0; i != sg_yaml_seq_len(seq); ++i) {
        yaml_node_t *item = sg_yaml_seq_at(y, seq, i);
        const char *id = NULL, *secret = NULL;
        if (!sg_yaml_is_map(item)) {
            sg_yaml_error(y, item, "port_tokens.secrets must be a list of {id, secret}");
            continue;
        }
        sg_yaml_str(y, item, "id", &id);
        sg_yaml_str(y, item, "secret", &secret);
        sg_yaml_check_unknown(y, item, "a port token secret");
        size_t idlen = id != NULL ? strlen(id) : 0;
        int id_ok = idlen != 0 && idlen <= SG_PORT_TOKEN_KID_MAX;
        for (size_t j = 0; id_ok && j != idlen; ++j)
            id_ok = (id[j] >= 'a' && id[j] <= 'z') || (id[j] >= 'A' && id[j] <= 'Z') || (id[j] >= '0' && id[j] <= '9') ||
                    id[j] == '-' || id[j] == '_';
        if (!id_ok) {
            sg_yaml_error(y, id != NULL ? sg_yaml_get(y, item, "id") : item,
                          "a port token secret needs an 'id' of 1 to %d characters among A-Z a-z 0-9 - _", SG_PORT_TOKEN_KID_MAX);
            continue;
        }
        for (size_t j = 0; j != pt->num_secrets; ++j)
            if (strcmp(pt->secrets[j].id, id) == 0)
                sg_yaml_error(y, sg_yaml_get(y, item, "id"), "port token secret id '%s' is listed twice", id);
        /* the value is never repeated in a message */
        if (secret == NULL || strlen(secret) < SG_PORT_TOKEN_SECRET_MIN) {
            sg_yaml_error(y, secret != NULL ? sg_yaml_get(y, item, "secret") : item,
                          "port token secret '%s' must be at least %d bytes long (e.g. `openssl rand -base64 48`)", id,
                          SG_PORT_TOKEN_SECRET_MIN);
            continue;
        }
        sg_port_token_secret_t *s = pt->secrets + pt->num_secrets++;
        s->id = strdup(id);
        s->len = strlen(secret);
        s->secret = malloc(s->len);
        memcpy(s->secret, secret, s->len);
        if (sg_port_token_secret_prepare(s) != 0)
            sg_yaml_error(y, sg_yaml_get(y, item, "secret"), "cannot prepare port token secret '%s' (OpenSSL)", id);
    }
}
