/*
 * The configuration: loaded from YAML, validated, then immutable. Shared by all
 * threads; reference counted so that a SIGHUP reload can replace it while
 * requests that started under the old one finish with it.
 */
#ifndef SG_CONFIG_H
#define SG_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <openssl/ssl.h>
#include "util/log.h"
#include "util/router.h"
#include "store/store.h"
#include "config/tenant.h"
#include "config/port_token.h"

struct st_sg_plugin_t;
struct st_sg_backend_t;

typedef struct st_sg_tls_cert_conf_t {
    char *cert_file;
    char *key_file;
} sg_tls_cert_conf_t;

typedef struct st_sg_listener_conf_t {
    char *address; /* as written, "host:port" */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int is_admin;
    sg_tls_cert_conf_t *certs; /* NULL = plain HTTP */
    size_t num_certs;
    int tls_min_version; /* TLS1_2_VERSION or TLS1_3_VERSION */
    SSL_CTX *ssl_ctx;    /* built at load; owned */
} sg_listener_conf_t;

typedef struct st_sg_label_t {
    char *key;
    char *value;
} sg_label_t;

typedef struct st_sg_backend_conf_t {
    char *name;
    char *url;
    int is_tls;
    char *host; /* for Host/SNI */
    uint16_t port;
    char *authority;              /* "host:port" as sent in Host */
    char *path_prefix;            /* URL path without trailing slash, "" if none */
    struct sockaddr_storage addr; /* resolved at load */
    socklen_t addrlen;
    char *api_key;
    char *tls_ca;
    SSL_CTX *ssl_ctx; /* client context for https backends; owned */
    uint64_t weight;
    uint64_t capacity;
    uint64_t max_connections;
    sg_label_t *labels;
    size_t num_labels;
    /* OSEP-0009 renew intents published to the backend's own Redis (renew_intent:; NULL: none) */
    char *renew_intent_addr; /* "host:port" */
    char *renew_intent_key;
    uint64_t renew_intent_max_len; /* LTRIM after LPUSH (0: no trim) */
    struct st_sg_backend_t *rt;    /* runtime state (health, counters); outlives configs */
} sg_backend_conf_t;

typedef struct st_sg_plugin_instance_t {
    const struct st_sg_plugin_t *plugin;
    void *conf;        /* owned, freed with plugin->config_free */
    size_t slot;       /* the plugin's registry slot (per-thread state) */
    size_t ctx_offset; /* offset of this instance's ctx in the per-request plugin area */
} sg_plugin_instance_t;

typedef struct st_sg_route_conf_t {
    sg_plugin_instance_t **plugins; /* points into sg_config_t::instances */
    size_t num_plugins;
    size_t ctx_size; /* total per-request plugin context bytes */
} sg_route_conf_t;

typedef struct st_sg_limits_conf_t {
    uint64_t max_header_size;
    uint64_t max_request_body;
    uint64_t client_idle_timeout_ms;
    uint64_t upstream_connect_timeout_ms;
    uint64_t upstream_io_timeout_ms;
    uint64_t upstream_buffer;
    uint64_t upstream_keepalive_timeout_ms;
    uint64_t websocket_idle_timeout_ms;
    uint64_t graceful_shutdown_timeout_ms;
    uint64_t lingering_time_ms;        /* after an early error answer on HTTP/1: how long to drain the client's body */
    uint64_t lingering_timeout_ms;     /* ... and how long to wait for more of it */
    uint64_t request_buffer_budget;    /* request body bytes all connections may hold before the handler (intake.c) */
    uint64_t max_unauthenticated_body; /* larger bodies without any credential are refused before they are read */
} sg_limits_conf_t;

typedef struct st_sg_health_conf_t {
    char *path;
    uint64_t interval_ms;
    uint64_t timeout_ms;
    uint64_t healthy_threshold;
    uint64_t unhealthy_threshold;
} sg_health_conf_t;

typedef struct st_sg_config_t {
    char *file;
    uint64_t workers;
    sg_listener_conf_t *listeners; /* public ones, then the admin one (is_admin) */
    size_t num_listeners;
    unsigned char admin_key_hash[32];
    int has_admin;
    sg_limits_conf_t limits;
    sg_health_conf_t health;
    sg_backend_conf_t *backends;
    size_t num_backends;
    uint64_t total_weight;
    sg_plugin_instance_t *instances; /* every plugin instance of every chain */
    size_t num_instances;
    sg_route_conf_t routes[SG_ROUTE_MAX];
    sg_log_level_t log_level;
    sg_tenant_t *tenants;
    size_t num_tenants;
    sg_store_conf_t store;
    struct {
        char *tenant_tag; /* metadata key naming the owning tenant on each sandbox */
        char *public_url; /* base of endpoint URLs given to clients (NULL: from the request's Host) */
        uint64_t reconcile_interval_ms;
        uint64_t max_body;        /* lifecycle JSON bodies the gateway parses */
        uint64_t max_probes;      /* concurrent backend probes for unknown (or foreign) ids, per tenant */
        uint64_t negative_ttl_ms; /* how long a "not found" answer is remembered per tenant and id */
        uint64_t quota_lease_ms;  /* how long a quota reservation of a create in flight holds (0: from the upstream timeouts) */
    } lifecycle;
    sg_port_token_conf_t port_tokens; /* `port_tokens.secrets` (port_token.h) */
    struct {
        char *sandbox_domain;           /* host form {id}-{port}.{sandbox_domain} (NULL: off) */
        uint64_t endpoint_form;         /* SG_ENDPOINT_FORM_* */
        uint64_t max_signed_lifetime_s; /* longest ?expires= ahead when the tenant's policy sets none */
        uint64_t renew_interval_ms;     /* renew on access: at most one renew per sandbox per interval */
        char *cookie_name;              /* the browser cookie a signed path URL leaves */
    } ports;
    int refcnt; /* atomic */
} sg_config_t;

/*
 * Loads and validates FILE. On success returns a config with refcnt 1. On failure
 * returns NULL and, if errors != NULL, *errors holds one "file:line: message" per
 * line (malloc'd; caller frees). Does not bind sockets.
 */
sg_config_t *sg_config_load(const char *file, char **errors);
void sg_config_retain(sg_config_t *conf);
/* drops a reference; frees the config (and plugin configs) on the last one */
void sg_config_release(sg_config_t *conf);
sg_backend_conf_t *sg_config_find_backend(sg_config_t *conf, const char *name);
const sg_tenant_t *sg_config_find_tenant(sg_config_t *conf, const char *id);
/* 1 when tenants are configured (or kept in Redis): lifecycle calls need a tenant. */
int sg_config_tenancy_enabled(const sg_config_t *conf);

#endif
