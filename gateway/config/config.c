#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <h2o.h>
#include "config/backend_state.h"
#include "config/config.h"
#include "config/config_parse.h"
#include "util/keyhash.h"
#include "config/plugin_registry.h"
#include "config/tls.h"
#include "util/yamlconf.h"

static char *dup_or_empty(const char *s)
{
    return strdup(s != NULL ? s : "");
}

/* "host:port", "[v6]:port", ":port" or "port"; resolves host (numeric or by name) */
static int parse_address(const char *s, int passive, struct sockaddr_storage *ss, socklen_t *len, char *err, size_t errlen)
{
    char host[256] = "", port[16];
    const char *colon = strrchr(s, ':');
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host)) {
            snprintf(err, errlen, "malformed address '%s'", s);
            return -1;
        }
        memcpy(host, s + 1, close - s - 1);
        host[close - s - 1] = '\0';
        colon = close + 1;
    } else if (colon != NULL) {
        if ((size_t)(colon - s) >= sizeof(host)) {
            snprintf(err, errlen, "malformed address '%s'", s);
            return -1;
        }
        memcpy(host, s, colon - s);
        host[colon - s] = '\0';
    }
    const char *p = colon != NULL ? colon + 1 : s;
    char *end;
    long portnum = strtol(p, &end, 10);
    if (*p < '0' || *p > '9' || *end != '\0' || portnum < 0 || portnum > 65535 || (!passive && portnum == 0)) {
        snprintf(err, errlen, "malformed address '%s' (expected host:port)", s);
        return -1;
    }
    snprintf(port, sizeof(port), "%ld", portnum);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0}, *res;
    int gai = getaddrinfo(host[0] != '\0' ? host : (passive ? "0.0.0.0" : "127.0.0.1"), port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve '%s': %s", s, gai_strerror(gai));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void parse_tls(sg_yaml_t *y, yaml_node_t *tls, sg_listener_conf_t *l)
{
    size_t errors_before = y->num_errors;
    yaml_node_t *certs = sg_yaml_get(y, tls, "certificates");
    const char *minv = "TLSv1.2";
    if (!sg_yaml_is_seq(certs) || sg_yaml_seq_len(certs) == 0) {
        sg_yaml_error(y, certs != NULL ? certs : tls, "tls.certificates must be a non-empty list of {cert, key}");
        return;
    }
    l->num_certs = sg_yaml_seq_len(certs);
    l->certs = calloc(l->num_certs, sizeof(*l->certs));
    for (size_t i = 0; i != l->num_certs; ++i) {
        yaml_node_t *c = sg_yaml_seq_at(y, certs, i);
        const char *cert = NULL, *key = NULL;
        sg_yaml_str(y, c, "cert", &cert);
        sg_yaml_str(y, c, "key", &key);
        if (cert == NULL || key == NULL)
            sg_yaml_error(y, c, "a certificate needs both 'cert' and 'key'");
        sg_yaml_check_unknown(y, c, "a certificate");
        l->certs[i].cert_file = dup_or_empty(cert);
        l->certs[i].key_file = dup_or_empty(key);
    }
    sg_yaml_str(y, tls, "min_version", &minv);
    if (strcmp(minv, "TLSv1.2") == 0) {
        l->tls_min_version = TLS1_2_VERSION;
    } else if (strcmp(minv, "TLSv1.3") == 0) {
        l->tls_min_version = TLS1_3_VERSION;
    } else {
        sg_yaml_error(y, sg_yaml_get(y, tls, "min_version"), "min_version must be TLSv1.2 or TLSv1.3, got '%s'", minv);
    }
    sg_yaml_check_unknown(y, tls, "tls");
    if (y->num_errors == errors_before) {
        /* errors elsewhere do not hide a certificate that cannot be loaded */
        char err[512];
        size_t failed = 0;
        if ((l->ssl_ctx = sg_tls_server_ctx_new(l, err, sizeof(err), &failed)) == NULL)
            sg_yaml_error(y, failed < sg_yaml_seq_len(certs) ? sg_yaml_seq_at(y, certs, failed) : tls, "%s", err);
    }
}

static void parse_listener(sg_yaml_t *y, yaml_node_t *node, sg_listener_conf_t *l, int is_admin)
{
    const char *addr = NULL;
    char err[256];
    l->is_admin = is_admin;
    if (sg_yaml_str(y, node, "address", &addr) == 0)
        sg_yaml_error(y, node, "a listener needs 'address' (host:port)");
    l->address = dup_or_empty(addr);
    if (addr != NULL && parse_address(addr, 1, &l->addr, &l->addrlen, err, sizeof(err)) != 0)
        sg_yaml_error(y, sg_yaml_get(y, node, "address"), "%s", err);
    yaml_node_t *tls = sg_yaml_get(y, node, "tls");
    if (tls != NULL) {
        if (sg_yaml_is_map(tls))
            parse_tls(y, tls, l);
        else
            sg_yaml_error(y, tls, "tls must be a mapping");
    }
}

static void parse_listen(sg_yaml_t *y, yaml_node_t *root, sg_config_t *conf)
{
    yaml_node_t *listen = sg_yaml_get(y, root, "listen"), *admin = sg_yaml_get(y, root, "admin");
    if (!sg_yaml_is_seq(listen) || sg_yaml_seq_len(listen) == 0) {
        sg_yaml_error(y, listen != NULL ? listen : root, "'listen' must be a non-empty list of listeners");
        return;
    }
    size_t n = sg_yaml_seq_len(listen);
    conf->listeners = calloc(n + 1, sizeof(*conf->listeners));
    for (size_t i = 0; i != n; ++i) {
        yaml_node_t *node = sg_yaml_seq_at(y, listen, i);
        parse_listener(y, node, conf->listeners + conf->num_listeners++, 0);
        sg_yaml_check_unknown(y, node, "a listener");
    }
    if (admin != NULL) {
        const char *hash = NULL;
        if (!sg_yaml_is_map(admin)) {
            sg_yaml_error(y, admin, "'admin' must be a mapping");
            return;
        }
        parse_listener(y, admin, conf->listeners + conf->num_listeners++, 1);
        if (sg_yaml_str(y, admin, "api_key_hash", &hash) == 0)
            sg_yaml_error(y, admin, "admin needs 'api_key_hash' (print one with `sandgate hash-key KEY`)");
        else if (hash != NULL && sg_keyhash_parse(hash, conf->admin_key_hash) != 0)
            sg_yaml_error(y, sg_yaml_get(y, admin, "api_key_hash"), "api_key_hash must be 'sha256:' followed by 64 hex digits");
        conf->has_admin = 1;
        sg_yaml_check_unknown(y, admin, "admin");
    }
}

static void parse_limits(sg_yaml_t *y, yaml_node_t *root, sg_limits_conf_t *l)
{
    *l = (sg_limits_conf_t){.max_header_size = 64 * 1024,
                            .max_request_body = 64 * 1024 * 1024,
                            .client_idle_timeout_ms = 60000,
                            .upstream_connect_timeout_ms = 5000,
                            .upstream_io_timeout_ms = 60000,
                            .upstream_buffer = 256 * 1024,
                            .upstream_keepalive_timeout_ms = 30000,
                            .websocket_idle_timeout_ms = 3600000,
                            .graceful_shutdown_timeout_ms = 30000,
                            .lingering_time_ms = 30000,
                            .lingering_timeout_ms = 5000,
                            .request_buffer_budget = 128 * 1024 * 1024,
                            .max_unauthenticated_body = 64 * 1024};
    yaml_node_t *node = sg_yaml_get(y, root, "limits");
    if (node == NULL)
        return;
    if (!sg_yaml_is_map(node)) {
        sg_yaml_error(y, node, "'limits' must be a mapping");
        return;
    }
    sg_yaml_size(y, node, "max_header_size", &l->max_header_size);
    sg_yaml_size(y, node, "max_request_body", &l->max_request_body);
    sg_yaml_duration_ms(y, node, "client_idle_timeout", &l->client_idle_timeout_ms);
    sg_yaml_duration_ms(y, node, "upstream_connect_timeout", &l->upstream_connect_timeout_ms);
    sg_yaml_duration_ms(y, node, "upstream_io_timeout", &l->upstream_io_timeout_ms);
    sg_yaml_size(y, node, "upstream_buffer", &l->upstream_buffer);
    sg_yaml_duration_ms(y, node, "upstream_keepalive_timeout", &l->upstream_keepalive_timeout_ms);
    sg_yaml_duration_ms(y, node, "websocket_idle_timeout", &l->websocket_idle_timeout_ms);
    sg_yaml_duration_ms(y, node, "graceful_shutdown_timeout", &l->graceful_shutdown_timeout_ms);
    sg_yaml_duration_ms(y, node, "lingering_time", &l->lingering_time_ms);
    sg_yaml_duration_ms(y, node, "lingering_timeout", &l->lingering_timeout_ms);
    sg_yaml_size(y, node, "request_buffer_budget", &l->request_buffer_budget);
    sg_yaml_size(y, node, "max_unauthenticated_body", &l->max_unauthenticated_body);
    if (l->request_buffer_budget < 1024 * 1024)
        sg_yaml_error(y, sg_yaml_get(y, node, "request_buffer_budget"), "request_buffer_budget must be at least 1m");
    if (l->upstream_buffer < 4096)
        sg_yaml_error(y, sg_yaml_get(y, node, "upstream_buffer"), "upstream_buffer must be at least 4k");
    if (l->upstream_connect_timeout_ms == 0 || l->upstream_io_timeout_ms == 0)
        sg_yaml_error(y, node, "upstream timeouts must be greater than zero");
    sg_yaml_check_unknown(y, node, "limits");
}

static void parse_health(sg_yaml_t *y, yaml_node_t *root, sg_health_conf_t *h)
{
    const char *path = "/health";
    *h = (sg_health_conf_t){.interval_ms = 5000, .timeout_ms = 2000, .healthy_threshold = 2, .unhealthy_threshold = 3};
    yaml_node_t *node = sg_yaml_get(y, root, "health_check");
    if (node != NULL && !sg_yaml_is_map(node))
        sg_yaml_error(y, node, "'health_check' must be a mapping");
    if (sg_yaml_is_map(node)) {
        sg_yaml_str(y, node, "path", &path);
        sg_yaml_duration_ms(y, node, "interval", &h->interval_ms);
        sg_yaml_duration_ms(y, node, "timeout", &h->timeout_ms);
        sg_yaml_uint(y, node, "healthy_threshold", &h->healthy_threshold, 1, 100);
        sg_yaml_uint(y, node, "unhealthy_threshold", &h->unhealthy_threshold, 1, 100);
        if (path[0] != '/')
            sg_yaml_error(y, sg_yaml_get(y, node, "path"), "path must start with '/'");
        if (h->interval_ms < 100 || h->timeout_ms == 0)
            sg_yaml_error(y, node, "interval must be at least 100ms and timeout greater than zero");
        sg_yaml_check_unknown(y, node, "health_check");
    }
    h->path = strdup(path);
}

static void parse_backend(sg_yaml_t *y, yaml_node_t *node, sg_backend_conf_t *be)
{
    const char *name = NULL, *url = NULL, *key = NULL, *key_env = NULL, *ca = NULL;
    char err[512];
    be->weight = 1;
    be->max_connections = 128;
    int has_name = sg_yaml_str(y, node, "name", &name);
    if (has_name == 0)
        sg_yaml_error(y, node, "a backend needs 'name'");
    else if (has_name == 1 && name[0] == '\0')
        sg_yaml_error(y, sg_yaml_get(y, node, "name"), "a backend's 'name' must not be empty");
    if (sg_yaml_str(y, node, "url", &url) == 0)
        sg_yaml_error(y, node, "a backend needs 'url'");
    sg_yaml_str(y, node, "api_key", &key);
    sg_yaml_str(y, node, "api_key_env", &key_env);
    sg_yaml_str(y, node, "tls_ca", &ca);
    sg_yaml_uint(y, node, "weight", &be->weight, 0, 10000);
    sg_yaml_uint(y, node, "capacity", &be->capacity, 0, UINT32_MAX);
    sg_yaml_uint(y, node, "max_connections", &be->max_connections, 1, 100000);
    be->name = dup_or_empty(name);
    be->url = dup_or_empty(url);
    if (key_env != NULL) {
        const char *v = getenv(key_env);
        if (key != NULL)
            sg_yaml_error(y, sg_yaml_get(y, node, "api_key_env"), "give either api_key or api_key_env, not both");
        else if (v == NULL)
            sg_yaml_error(y, sg_yaml_get(y, node, "api_key_env"), "environment variable %s is not set", key_env);
        key = v;
    }
    be->api_key = dup_or_empty(key);
    be->tls_ca = ca != NULL ? strdup(ca) : NULL;

    yaml_node_t *labels = sg_yaml_get(y, node, "labels");
    if (labels != NULL && !sg_yaml_is_map(labels))
        sg_yaml_error(y, labels, "labels must be a mapping of strings");
    size_t it = 0;
    yaml_node_t *k, *v;
    while (sg_yaml_map_next(y, labels, &it, &k, &v)) {
        if (sg_yaml_scalar(k) == NULL || sg_yaml_scalar(v) == NULL) {
            sg_yaml_error(y, k, "labels must map strings to strings");
            continue;
        }
        void *grown = realloc(be->labels, sizeof(*be->labels) * (be->num_labels + 1));
        if (grown == NULL) {
            sg_yaml_error(y, k, "out of memory");
            break;
        }
        be->labels = grown;
        be->labels[be->num_labels].key = strdup(sg_yaml_scalar(k));
        be->labels[be->num_labels].value = strdup(sg_yaml_scalar(v));
        be->num_labels++;
    }
    sg_config_parse_renew_intent(y, node, be);
    sg_yaml_check_unknown(y, node, "a backend");
    if (url == NULL)
        return;

    h2o_url_t parsed;
    yaml_node_t *url_node = sg_yaml_get(y, node, "url");
    if (h2o_url_parse(url, strlen(url), &parsed) != 0 ||
        (parsed.scheme != &H2O_URL_SCHEME_HTTP && parsed.scheme != &H2O_URL_SCHEME_HTTPS) || parsed.host.len == 0) {
        sg_yaml_error(y, url_node, "url must be http://host[:port][/path] or https://..., got '%s'", url);
        return;
    }
    if (strpbrk(url, "?#") != NULL) {
        sg_yaml_error(y, url_node, "url must not have a query or fragment");
        return;
    }
    be->is_tls = parsed.scheme == &H2O_URL_SCHEME_HTTPS;
    be->port = h2o_url_get_port(&parsed);
    be->host = strndup(parsed.host.base, parsed.host.len);
    be->authority = strndup(parsed.authority.base, parsed.authority.len);
    size_t plen = parsed.path.len;
    while (plen != 0 && parsed.path.base[plen - 1] == '/')
        --plen;
    be->path_prefix = strndup(parsed.path.base, plen);
    char hostport[300];
    snprintf(hostport, sizeof(hostport), "%s%s%s:%u", strchr(be->host, ':') != NULL ? "[" : "", be->host,
             strchr(be->host, ':') != NULL ? "]" : "", (unsigned)be->port);
    if (parse_address(hostport, 0, &be->addr, &be->addrlen, err, sizeof(err)) != 0)
        sg_yaml_error(y, url_node, "%s", err);
    if (be->tls_ca != NULL && !be->is_tls)
        sg_yaml_error(y, sg_yaml_get(y, node, "tls_ca"), "tls_ca is only meaningful for https backends");
    if (be->is_tls && (be->ssl_ctx = sg_tls_client_ctx_new(be->tls_ca, err, sizeof(err))) == NULL)
        sg_yaml_error(y, sg_yaml_get(y, node, be->tls_ca != NULL ? "tls_ca" : "url"), "%s", err);
}

static void parse_backends(sg_yaml_t *y, yaml_node_t *root, sg_config_t *conf)
{
    yaml_node_t *list = sg_yaml_get(y, root, "backends");
    if (list == NULL)
        return;
    if (!sg_yaml_is_seq(list)) {
        sg_yaml_error(y, list, "'backends' must be a list");
        return;
    }
    conf->num_backends = sg_yaml_seq_len(list);
    conf->backends = calloc(conf->num_backends + 1, sizeof(*conf->backends));
    for (size_t i = 0; i != conf->num_backends; ++i) {
        yaml_node_t *node = sg_yaml_seq_at(y, list, i);
        parse_backend(y, node, conf->backends + i);
        for (size_t j = 0; j != i; ++j)
            if (strcmp(conf->backends[i].name, conf->backends[j].name) == 0)
                sg_yaml_error(y, node, "duplicate backend name '%s'", conf->backends[i].name);
        conf->total_weight += conf->backends[i].weight;
    }
}

/* parses one plugin entry into conf->instances[conf->num_instances++]; returns it or NULL */
static sg_plugin_instance_t *parse_plugin(sg_yaml_t *y, yaml_node_t *node, sg_config_t *conf, size_t *ctx_total)
{
    const char *name = NULL, *path = NULL;
    char err[512];
    const sg_plugin_t *plugin;
    if (!sg_yaml_is_map(node)) {
        sg_yaml_error(y, node, "a plugin entry must be a mapping {name, [path], [config]}");
        return NULL;
    }
    if (sg_yaml_str(y, node, "name", &name) == 0)
        sg_yaml_error(y, node, "a plugin entry needs 'name'");
    sg_yaml_str(y, node, "path", &path);
    yaml_node_t *cfg = sg_yaml_get(y, node, "config");
    sg_yaml_check_unknown(y, node, "a plugin entry");
    if (name == NULL)
        return NULL;
    if (path != NULL) {
        if ((plugin = sg_plugin_load_so(path, err, sizeof(err))) == NULL) {
            sg_yaml_error(y, sg_yaml_get(y, node, "path"), "%s", err);
            return NULL;
        }
        if (strcmp(plugin->name, name) != 0) {
            sg_yaml_error(y, node, "plugin %s is named '%s', not '%s'", path, plugin->name, name);
            return NULL;
        }
    } else if ((plugin = sg_plugin_find_builtin(name)) == NULL) {
        sg_yaml_error(y, node, "unknown plugin '%s' (built-in: request-id, access-log, key-auth; external plugins need 'path')",
                      name);
        return NULL;
    }
    if (cfg != NULL && !sg_yaml_is_map(cfg)) {
        sg_yaml_error(y, cfg, "config of plugin %s must be a mapping", name);
        return NULL;
    }
    sg_plugin_conf_t pc;
    sg_plugin_conf_init(&pc, y, cfg, node);
    size_t errors_before = y->num_errors;
    const sg_plugin_api_t *api = sg_plugin_registry_api();
    if (plugin->config_parse != NULL && api == NULL) {
        sg_yaml_error(y, node, "plugin %s cannot be configured: the plugin layer is not set up (sg_pipeline_init)", name);
        return NULL;
    }
    const sg_plugin_t *prev = sg_plugin_enter(plugin);
    void *pconf = plugin->config_parse != NULL ? plugin->config_parse(api, &pc) : NULL;
    sg_plugin_enter(prev);
    if (plugin->config_parse != NULL && pconf == NULL) {
        sg_plugin_conf_finish(&pc, NULL);
        if (y->num_errors == errors_before)
            sg_yaml_error(y, node, "plugin %s rejected its configuration", name);
        return NULL;
    }
    char section[128];
    snprintf(section, sizeof(section), "the config of plugin %s", name);
    sg_plugin_conf_finish(&pc, section);
    sg_plugin_instance_t *inst = conf->instances + conf->num_instances++;
    inst->plugin = plugin;
    inst->slot = sg_plugin_registry_slot(plugin);
    inst->conf = pconf;
    inst->ctx_offset = *ctx_total;
    *ctx_total += (plugin->ctx_size + 15) & ~(size_t)15;
    return inst;
}

static void parse_chain(sg_yaml_t *y, yaml_node_t *list, sg_config_t *conf, sg_route_conf_t *route, size_t *ctx_total)
{
    if (!sg_yaml_is_seq(list)) {
        sg_yaml_error(y, list, "a plugin list must be a list");
        return;
    }
    size_t n = sg_yaml_seq_len(list);
    route->plugins = calloc(n + 1, sizeof(*route->plugins));
    for (size_t i = 0; i != n; ++i) {
        sg_plugin_instance_t *inst = parse_plugin(y, sg_yaml_seq_at(y, list, i), conf, ctx_total);
        if (inst != NULL)
            route->plugins[route->num_plugins++] = inst;
    }
}

static void parse_plugins(sg_yaml_t *y, yaml_node_t *root, sg_config_t *conf)
{
    yaml_node_t *global = sg_yaml_get(y, root, "plugins"), *routes = sg_yaml_get(y, root, "routes");
    yaml_node_t *route_lists[SG_ROUTE_MAX] = {NULL};
    size_t total = sg_yaml_seq_len(global), ctx_total = 0;

    if (routes != NULL && !sg_yaml_is_map(routes))
        sg_yaml_error(y, routes, "'routes' must be a mapping of route classes");
    for (int cls = SG_ROUTE_HEALTH; cls != SG_ROUTE_MAX; ++cls) {
        yaml_node_t *rc = sg_yaml_get(y, routes, sg_route_class_name(cls));
        if (rc == NULL)
            continue;
        route_lists[cls] = sg_yaml_get(y, rc, "plugins");
        if (!sg_yaml_is_map(rc) || route_lists[cls] == NULL)
            sg_yaml_error(y, rc, "routes.%s must be a mapping with 'plugins'", sg_route_class_name(cls));
        sg_yaml_check_unknown(y, rc, "a route class");
        total += sg_yaml_seq_len(route_lists[cls]);
    }
    sg_yaml_check_unknown(y, routes, "routes (known route classes: health, lifecycle, port, admin)");
    conf->instances = calloc(total + 1, sizeof(*conf->instances));

    sg_route_conf_t def = {NULL, 0, 0};
    if (global != NULL)
        parse_chain(y, global, conf, &def, &ctx_total);
    for (int cls = 0; cls != SG_ROUTE_MAX; ++cls) {
        if (route_lists[cls] != NULL) {
            parse_chain(y, route_lists[cls], conf, conf->routes + cls, &ctx_total);
        } else {
            conf->routes[cls].plugins = calloc(def.num_plugins + 1, sizeof(*def.plugins));
            if (def.num_plugins != 0)
                memcpy(conf->routes[cls].plugins, def.plugins, sizeof(*def.plugins) * def.num_plugins);
            conf->routes[cls].num_plugins = def.num_plugins;
        }
    }
    free(def.plugins);
    /* one context area per request holds every instance's slot (a few bytes each) */
    for (int cls = 0; cls != SG_ROUTE_MAX; ++cls)
        conf->routes[cls].ctx_size = ctx_total;
}

static void parse_log(sg_yaml_t *y, yaml_node_t *root, sg_config_t *conf)
{
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    const char *level = "info";
    yaml_node_t *node = sg_yaml_get(y, root, "log");
    conf->log_level = SG_LOG_INFO;
    if (node == NULL)
        return;
    sg_yaml_str(y, node, "level", &level);
    size_t i;
    for (i = 0; i != 4; ++i)
        if (strcmp(levels[i], level) == 0)
            break;
    if (i == 4)
        sg_yaml_error(y, sg_yaml_get(y, node, "level"), "log.level must be debug, info, warn or error, got '%s'", level);
    else
        conf->log_level = (sg_log_level_t)i;
    sg_yaml_check_unknown(y, node, "log");
}

sg_config_t *sg_config_load(const char *file, char **errors)
{
    sg_yaml_t y;
    sg_config_t *conf = calloc(1, sizeof(*conf));
    conf->refcnt = 1;
    conf->file = strdup(file);
    if (errors != NULL)
        *errors = NULL;

    if (sg_yaml_load(&y, file) != 0)
        goto Error;
    yaml_node_t *root = sg_yaml_root(&y);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    conf->workers = ncpu > 0 ? (uint64_t)ncpu : 1;
    sg_yaml_uint(&y, root, "workers", &conf->workers, 1, 256);
    parse_listen(&y, root, conf);
    parse_limits(&y, root, &conf->limits);
    parse_health(&y, root, &conf->health);
    parse_backends(&y, root, conf);
    parse_plugins(&y, root, conf);
    parse_log(&y, root, conf);
    sg_config_parse_tenants(&y, root, conf);
    sg_config_parse_store(&y, root, conf);
    sg_config_parse_lifecycle(&y, root, conf);
    sg_config_parse_port_tokens(&y, root, conf);
    sg_config_parse_ports(&y, root, conf);
    sg_yaml_check_unknown(&y, root, "the top level");
    if (y.num_errors != 0)
        goto Error;
    for (size_t i = 0; i != conf->num_backends; ++i) {
        if ((conf->backends[i].rt = sg_backend_get(conf->backends[i].name)) == NULL) {
            sg_yaml_error(&y, NULL, "out of memory registering backend %s", conf->backends[i].name);
            goto Error;
        }
    }
    sg_yaml_dispose(&y);
    return conf;

Error:
    if (errors != NULL) {
        *errors = y.errors;
        y.errors = NULL;
    }
    sg_yaml_dispose(&y);
    sg_config_release(conf);
    return NULL;
}

void sg_config_retain(sg_config_t *conf)
{
    __atomic_add_fetch(&conf->refcnt, 1, __ATOMIC_RELAXED);
}

void sg_config_release(sg_config_t *conf)
{
    if (conf == NULL || __atomic_sub_fetch(&conf->refcnt, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (size_t i = 0; i != conf->num_listeners; ++i) {
        sg_listener_conf_t *l = conf->listeners + i;
        for (size_t j = 0; j != l->num_certs; ++j) {
            free(l->certs[j].cert_file);
            free(l->certs[j].key_file);
        }
        free(l->certs);
        free(l->address);
        if (l->ssl_ctx != NULL)
            SSL_CTX_free(l->ssl_ctx);
    }
    free(conf->listeners);
    for (size_t i = 0; i != conf->num_backends; ++i) {
        sg_backend_conf_t *be = conf->backends + i;
        free(be->name);
        free(be->url);
        free(be->host);
        free(be->authority);
        free(be->path_prefix);
        free(be->api_key);
        free(be->tls_ca);
        if (be->ssl_ctx != NULL)
            SSL_CTX_free(be->ssl_ctx);
        for (size_t j = 0; j != be->num_labels; ++j) {
            free(be->labels[j].key);
            free(be->labels[j].value);
        }
        free(be->labels);
        free(be->renew_intent_addr);
        free(be->renew_intent_key);
    }
    free(conf->backends);
    for (size_t i = 0; i != conf->num_instances; ++i)
        if (conf->instances[i].plugin->config_free != NULL && conf->instances[i].conf != NULL)
            conf->instances[i].plugin->config_free(conf->instances[i].conf);
    free(conf->instances);
    for (int cls = 0; cls != SG_ROUTE_MAX; ++cls)
        free(conf->routes[cls].plugins);
    free(conf->health.path);
    for (size_t i = 0; i != conf->num_tenants; ++i)
        sg_tenant_dispose(conf->tenants + i);
    free(conf->tenants);
    free(conf->store.host);
    free(conf->store.unix_path);
    free(conf->store.password);
    free(conf->store.prefix);
    free(conf->lifecycle.tenant_tag);
    free(conf->lifecycle.public_url);
    sg_port_token_conf_dispose(&conf->port_tokens);
    sg_config_ports_dispose(conf);
    free(conf->file);
    free(conf);
}

sg_backend_conf_t *sg_config_find_backend(sg_config_t *conf, const char *name)
{
    for (size_t i = 0; i != conf->num_backends; ++i)
        if (strcmp(conf->backends[i].name, name) == 0)
            return conf->backends + i;
    return NULL;
}

const sg_tenant_t *sg_config_find_tenant(sg_config_t *conf, const char *id)
{
    for (size_t i = 0; i != conf->num_tenants; ++i)
        if (strcmp(conf->tenants[i].id, id) == 0)
            return conf->tenants + i;
    return NULL;
}

int sg_config_tenancy_enabled(const sg_config_t *conf)
{
    return conf->num_tenants != 0 || conf->store.use_redis;
}
