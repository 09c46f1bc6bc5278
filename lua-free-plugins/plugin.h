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
 *   - per-thread state (ABI 2): what `thread_init` returns, once per plugin and
 *     worker thread, for the life of the process: it is not tied to a config
 *     generation, so it survives reloads. `thread_dispose` frees it at exit.
 *   - named shared state (ABI 2): `api->shared_state(name, size)`, process-wide,
 *     zeroed at first use, kept until exit; the plugin synchronises access.
 *
 * Growth without breakage: fields are only ever appended, to both tables.
 * A plugin built against ABI 1 (no fields past `on_log`) still loads: the
 * gateway reads its descriptor's ABI 2 fields only when `abi_version >= 2`,
 * and past that by `descriptor_size`. A plugin reads the ABI 2 part of the
 * api table only when `api->abi_version >= 2` (and later parts when
 * `api->api_size` covers them): SG_PLUGIN_API_HAS(api, field) says so.
 * A descriptor of a newer ABI than the gateway's is refused, with both versions
 * named in the message.
 */
#ifndef SG_PLUGIN_H
#define SG_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI this header describes. The gateway loads plugins built for SG_PLUGIN_ABI_MIN..SG_PLUGIN_ABI_VERSION. */
#define SG_PLUGIN_ABI_VERSION 2
#define SG_PLUGIN_ABI_MIN 1

/* The symbol an external (.so) plugin exports: `const sg_plugin_t sg_plugin_descriptor`. */
#define SG_PLUGIN_DESCRIPTOR_SYMBOL "sg_plugin_descriptor"

typedef struct st_sg_plugin_req_t sg_plugin_req_t;   /* a request, opaque */
typedef struct st_sg_plugin_conf_t sg_plugin_conf_t; /* a config mapping being parsed, opaque */
typedef struct st_sg_plugin_timer_t sg_plugin_timer_t;
typedef struct st_sg_plugin_thread_t sg_plugin_thread_t; /* a worker thread, opaque (ABI 2) */
typedef struct st_sg_plugin_metric_t sg_plugin_metric_t; /* a metric family in /metrics, opaque (ABI 2) */

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

/* ---- ABI 2 types ---- */

/* What on_request can read about the request (ABI 2). Strings may be empty, never NULL; valid until on_log returns. */
typedef struct st_sg_plugin_req_ctx_t {
    sg_plugin_str_t route_class; /* "lifecycle", "port", "health", "admin", "unknown" */
    /* lifecycle operation: "create_sandbox", "list_sandboxes", "get_sandbox", "delete_sandbox", "patch_metadata",
     * "pause", "resume", "renew", "create_snapshot", "endpoint", "network_policy", "diagnostics",
     * "list_snapshots", "get_snapshot", "delete_snapshot"; "port" for port traffic; empty otherwise */
    sg_plugin_str_t operation;
    sg_plugin_str_t tenant; /* empty until an authentication plugin bound the request to a tenant */
    sg_plugin_str_t key_id; /* the credential's id (not the secret) once authenticated; empty otherwise */
    sg_plugin_str_t sandbox_id;
    uint16_t port; /* sandbox port of port traffic and of the endpoint operation; 0 otherwise */
} sg_plugin_req_ctx_t;

/*
 * One counter operation on the shared store (ABI 2): the memory store with a single gateway, Redis when the
 * config has a `redis:` section (INCRBY + PEXPIRE, or GET; a batch is one pipelined round trip). Keys are
 * namespaced by the gateway under the plugin's name, so plugins cannot touch each other's or the gateway's keys.
 */
typedef struct st_sg_plugin_counter_op_t {
    sg_plugin_str_t key; /* at most 200 bytes, no whitespace or control characters */
    int64_t incr;        /* added to the counter (created at 0); 0: read only */
    uint64_t ttl_ms;     /* with incr != 0 and ttl_ms != 0, the key expires ttl_ms after this operation */
    int64_t value;       /* out: the value after the operation (0 for a missing key) */
} sg_plugin_counter_op_t;

/* err is 0 when every op ran (values filled in), -1 when the store could not answer (unavailable, timed out). */
typedef void (*sg_plugin_counters_cb)(void *data, int err, sg_plugin_counter_op_t *ops, size_t n);

typedef enum en_sg_plugin_metric_kind_t { SG_PLUGIN_METRIC_COUNTER = 0, SG_PLUGIN_METRIC_GAUGE = 1 } sg_plugin_metric_kind_t;

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

    /* ================= ABI 2 (present when abi_version >= 2) ================= */
    size_t api_size; /* sizeof(sg_plugin_api_t) of the gateway: later additions are present when it covers them */

    /* ---- structured configuration (only valid inside config_parse) ----
     * A child conf is a view of a nested node with the same getters (scalar getters with key NULL read the
     * child itself when it is a scalar); it is valid until config_parse returns. Errors carry file:line. */
    /* sequence at key: 1 and *n = its length, 0 when absent, -1 when not a sequence (error recorded) */
    int (*conf_seq)(sg_plugin_conf_t *conf, const char *key, size_t *n);
    /* item i of the sequence at key, as a child conf */
    sg_plugin_conf_t *(*conf_seq_item)(sg_plugin_conf_t *conf, const char *key, size_t i);
    /* mapping at key (key NULL: conf itself): 1 and *n = number of entries, 0 when absent, -1 when not a mapping */
    int (*conf_map)(sg_plugin_conf_t *conf, const char *key, size_t *n);
    /* entry i of the mapping at key (key NULL: conf itself): its key in *name, its value as a child conf. The
     * entries of a mapping read this way are not reported as unknown keys. */
    sg_plugin_conf_t *(*conf_map_entry)(sg_plugin_conf_t *conf, const char *key, size_t i, const char **name);

    /* ---- request ---- */
    /* the request's context for on_request (and later phases); recomputed as plugins bind a tenant or key */
    const sg_plugin_req_ctx_t *(*req_context)(sg_plugin_req_t *req);
    /* sets the credential id shown in req_context (an authentication plugin calls it with req_set_tenant); copies */
    void (*req_set_key_id)(sg_plugin_req_t *req, const char *id, size_t len);
    /* replaces every response header of that name (or adds it) on the response the client gets; copies */
    void (*res_set_header)(sg_plugin_req_t *req, const char *name, size_t name_len, const char *value, size_t value_len);
    /* this plugin's per-thread state on the request's thread (what thread_init returned), or NULL */
    void *(*req_thread_state)(sg_plugin_req_t *req);

    /* ---- threads and state ---- */
    /* process-wide state by name (per plugin): size zeroed bytes at first call, the same pointer afterwards,
     * kept until exit, whatever reloads happen; NULL if size differs from the first call's */
    void *(*shared_state)(const char *name, size_t size);
    /* loop clock of a thread, milliseconds */
    uint64_t (*thread_now_ms)(sg_plugin_thread_t *thread);
    /* timer on the thread's loop, not tied to a request; cancelled automatically before thread_dispose */
    sg_plugin_timer_t *(*thread_timer_start)(sg_plugin_thread_t *thread, uint64_t delay_ms, sg_plugin_timer_cb cb, void *data);

    /* ---- shared store: counters ----
     * ops (and their keys) stay owned by the caller until cb. req_counters ties the work to the request: cb is
     * never called after the request is gone. thread_counters is for background work (batched sync) and its cb
     * always runs, with err -1 when the thread stops first. cb never runs from inside the call. */
    void (*req_counters)(sg_plugin_req_t *req, sg_plugin_counter_op_t *ops, size_t n, sg_plugin_counters_cb cb, void *data);
    void (*thread_counters)(sg_plugin_thread_t *thread, sg_plugin_counter_op_t *ops, size_t n, sg_plugin_counters_cb cb,
                            void *data);
    /* 1 when the shared store is Redis (shared by every gateway), 0 for the in-process store */
    int (*store_is_shared)(void);

    /* ---- metrics (in /metrics; process-wide, survive reloads) ----
     * metric_register may be called from config_parse or thread_init; the same name returns the same family
     * (name must match [a-z_][a-z0-9_]* and is exported as sandgate_plugin_<name>). label_names: n names. */
    sg_plugin_metric_t *(*metric_register)(const char *name, const char *help, sg_plugin_metric_kind_t kind,
                                           const char *const *label_names, size_t n);
    /* label_values: as many as label names (escaped by the gateway); add for counters and gauges, set for gauges */
    void (*metric_add)(sg_plugin_metric_t *metric, const char *const *label_values, int64_t delta);
    void (*metric_set)(sg_plugin_metric_t *metric, const char *const *label_values, int64_t value);
} sg_plugin_api_t;

/* 1 when the api table has field (a plugin built against this header, loaded by an older or newer gateway) */
#define SG_PLUGIN_API_HAS(api, field)                                                                                              \
    ((api)->abi_version >= 2 && (api)->api_size >= offsetof(sg_plugin_api_t, field) + sizeof((api)->field))

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

    /* ================= ABI 2 (read when abi_version >= 2) ================= */
    size_t descriptor_size; /* sizeof(sg_plugin_t) the plugin was built with */
    /* per worker thread, at start (before the thread serves requests) and at exit; any may be NULL. The returned
     * state is handed to every call on that thread (api->req_thread_state) for the life of the process. */
    void *(*thread_init)(const sg_plugin_api_t *api, sg_plugin_thread_t *thread);
    void (*thread_dispose)(const sg_plugin_api_t *api, sg_plugin_thread_t *thread, void *state);
} sg_plugin_t;

#ifdef __cplusplus
}
#endif

#endif
