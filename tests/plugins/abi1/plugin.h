/*
 * sandgate plugin ABI. This is the only header a plugin includes: plugins never
 * see gateway internals, they talk to the gateway through the function table
 * `sg_plugin_api_t` handed to every callback.
 *
 * Lifetimes:
 *   - plugin config (`conf`): created by `config_parse` when a configuration is
 *     loaded, immutable afterwards, shared by all worker threads, destroyed by
 *     `config_free` when the configuration is released (after a reload, once the
 *     last request using it has finished).
 *   - per-request context (`ctx`): `ctx_size` zeroed bytes owned by the gateway,
 *     valid from `on_request` until `on_log` returns. Async work started by a
 *     plugin must be cancelled from the dispose callback registered with
 *     `api->on_dispose`: a request can be torn down while it is suspended (the
 *     client went away), and nothing may touch it afterwards.
 */
#ifndef SG_PLUGIN_H
#define SG_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on every incompatible change of this header. */
#define SG_PLUGIN_ABI_VERSION 1

/* The symbol an external (.so) plugin exports: `const sg_plugin_t sg_plugin_descriptor`. */
#define SG_PLUGIN_DESCRIPTOR_SYMBOL "sg_plugin_descriptor"

typedef struct st_sg_plugin_req_t sg_plugin_req_t;   /* a request, opaque */
typedef struct st_sg_plugin_conf_t sg_plugin_conf_t; /* a config mapping being parsed, opaque */
typedef struct st_sg_plugin_timer_t sg_plugin_timer_t;

typedef struct st_sg_plugin_str_t {
    const char *base;
    size_t len;
} sg_plugin_str_t;

typedef enum en_sg_plugin_status_t {
    SG_PLUGIN_CONTINUE = 0,  /* run the next plugin / the route */
    SG_PLUGIN_RESPONDED = 1, /* the plugin produced the response (e.g. an error); stop */
    SG_PLUGIN_SUSPENDED = 2  /* async work pending; the plugin calls api->resume() later */
} sg_plugin_status_t;

typedef enum en_sg_plugin_log_level_t {
    SG_PLUGIN_LOG_DEBUG = 0,
    SG_PLUGIN_LOG_INFO,
    SG_PLUGIN_LOG_WARN,
    SG_PLUGIN_LOG_ERROR
} sg_plugin_log_level_t;

/* What the log phase can read about a finished request. Strings may be empty, never NULL. */
typedef struct st_sg_plugin_req_info_t {
    sg_plugin_str_t method;
    sg_plugin_str_t path; /* as received, query included */
    sg_plugin_str_t authority;
    sg_plugin_str_t route_class; /* "lifecycle", "port", "health", "admin", "unknown" */
    sg_plugin_str_t request_id;
    sg_plugin_str_t tenant;
    sg_plugin_str_t sandbox_id;
    sg_plugin_str_t backend;
    sg_plugin_str_t remote_addr;
    sg_plugin_str_t error_code; /* code of an error the gateway produced, if any */
    int http_version;           /* 0x101 = HTTP/1.1, 0x200 = HTTP/2 */
    int status;
    uint64_t bytes_received; /* request body bytes */
    uint64_t bytes_sent;     /* response body bytes */
    uint64_t started_at_us;  /* unix time, microseconds */
    uint64_t duration_us;
    uint64_t upstream_us; /* 0 if no upstream was involved */
} sg_plugin_req_info_t;

typedef enum en_sg_plugin_key_status_t {
    SG_PLUGIN_KEY_VALID = 0,
    SG_PLUGIN_KEY_UNKNOWN,
    SG_PLUGIN_KEY_EXPIRED,
    SG_PLUGIN_KEY_REVOKED,
    SG_PLUGIN_KEY_STORE_ERROR /* the store could not answer: neither valid nor invalid */
} sg_plugin_key_status_t;

/* tenant is valid during the call; expires_at_ms is 0 when the key never expires */
typedef void (*sg_plugin_key_cb)(void *data, sg_plugin_key_status_t status, sg_plugin_str_t tenant, int64_t expires_at_ms);
typedef void (*sg_plugin_timer_cb)(void *data);
typedef void (*sg_plugin_dispose_cb)(void *data);

typedef struct st_sg_plugin_api_t {
    uint32_t abi_version;

    /* ---- configuration (only valid inside config_parse) ----
     * Each getter returns 0 when the key is absent (and leaves *out untouched), 1 when
     * a value was read, -1 when the value had the wrong type (an error with file:line
     * has already been recorded). Keys a plugin never reads are reported as unknown. */
    int (*conf_string)(sg_plugin_conf_t *conf, const char *key, const char **out);
    int (*conf_int)(sg_plugin_conf_t *conf, const char *key, int64_t *out);
    int (*conf_bool)(sg_plugin_conf_t *conf, const char *key, int *out);
    int (*conf_duration_ms)(sg_plugin_conf_t *conf, const char *key, uint64_t *out);
    int (*conf_size)(sg_plugin_conf_t *conf, const char *key, uint64_t *out);
    /* records "file:line: message" for key (NULL = the plugin's mapping itself) */
    void (*conf_error)(sg_plugin_conf_t *conf, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

    /* ---- request (valid from on_request until on_log returns) ---- */
    sg_plugin_str_t (*req_method)(sg_plugin_req_t *req);
    sg_plugin_str_t (*req_path)(sg_plugin_req_t *req);
    /* returns 1 and sets *value when the request header exists (first occurrence) */
    int (*req_header)(sg_plugin_req_t *req, const char *name, size_t name_len, sg_plugin_str_t *value);
    /* replaces (or adds) a header sent upstream; name must be lower-case; copies both */
    void (*req_set_upstream_header)(sg_plugin_req_t *req, const char *name, size_t name_len, const char *value, size_t value_len);
    /* adds a header to the response the client gets; copies both */
    void (*res_add_header)(sg_plugin_req_t *req, const char *name, size_t name_len, const char *value, size_t value_len);
    /* sets the request id used in logs, errors and the X-Request-ID sent upstream; copies */
    void (*req_set_request_id)(sg_plugin_req_t *req, const char *id, size_t len);
    /* sends an error {"code","message"} as the response; the plugin then returns
     * SG_PLUGIN_RESPONDED (or calls resume with it when suspended) */
    void (*respond_error)(sg_plugin_req_t *req, int status, const char *code, const char *message);
    /* memory freed with the request */
    void *(*req_alloc)(sg_plugin_req_t *req, size_t size);
    /* called when the request is torn down, whatever the reason (completion or abort) */
    void (*on_dispose)(sg_plugin_req_t *req, sg_plugin_dispose_cb cb, void *data);
    /* resumes a request suspended by this plugin's on_request */
    void (*resume)(sg_plugin_req_t *req, sg_plugin_status_t status);
    /* one-shot timer tied to the request: cancelled automatically at dispose */
    sg_plugin_timer_t *(*timer_start)(sg_plugin_req_t *req, uint64_t delay_ms, sg_plugin_timer_cb cb, void *data);
    void (*timer_cancel)(sg_plugin_timer_t *timer);
    /* only valid in on_log */
    const sg_plugin_req_info_t *(*req_info)(sg_plugin_req_t *req);

    /* ---- misc ---- */
    void (*log)(sg_plugin_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    uint64_t (*now_ms)(sg_plugin_req_t *req); /* loop clock of the request's thread */
    /* fills buf with n random bytes from the OS CSPRNG; returns 0 on success */
    int (*random_bytes)(void *buf, size_t n);

    /* ---- tenancy ---- */
    void (*sha256)(const void *data, size_t len, unsigned char out[32]);
    /* Which tenant owns the key with this SHA-256: the config's keys first, then the
     * store's. cb may run before key_lookup returns; it never runs after the request
     * is gone. Keys are compared in constant time. */
    void (*key_lookup)(sg_plugin_req_t *req, const unsigned char hash[32], sg_plugin_key_cb cb, void *data);
    /* Binds the request to a tenant (copied). Returns 0, or -1 if the tenant is not defined. */
    int (*req_set_tenant)(sg_plugin_req_t *req, const char *tenant, size_t len);
    /* The request header carried a credential: it is never forwarded upstream. */
    void (*req_strip_header)(sg_plugin_req_t *req, const char *name, size_t len);
} sg_plugin_api_t;

typedef struct st_sg_plugin_t {
    uint32_t abi_version; /* SG_PLUGIN_ABI_VERSION the plugin was built against */
    const char *name;
    size_t ctx_size; /* per-request context bytes (0 = none) */
    /* parses the plugin's `config:` mapping; returns the plugin config or NULL after
     * recording errors with api->conf_error. conf may have no keys. */
    void *(*config_parse)(const sg_plugin_api_t *api, sg_plugin_conf_t *conf);
    void (*config_free)(void *plugin_conf);
    /* phases; any may be NULL */
    sg_plugin_status_t (*on_request)(const sg_plugin_api_t *api, sg_plugin_req_t *req, void *plugin_conf, void *ctx);
    void (*on_response_headers)(const sg_plugin_api_t *api, sg_plugin_req_t *req, void *plugin_conf, void *ctx, int status);
    void (*on_log)(const sg_plugin_api_t *api, sg_plugin_req_t *req, void *plugin_conf, void *ctx);
} sg_plugin_t;

#ifdef __cplusplus
}
#endif

#endif
