/*
 * Admission policy of a tenant: what a CreateSandboxRequest (and the routes
 * that change a running sandbox) may ask of a backend beyond image, timeout,
 * cpu and memory. Volumes, network policy, credential proxy, registry
 * credentials, platform, entrypoint, env, extensions, secure access, every
 * resource name, unknown fields, metadata size.
 *
 * The keys live in one declarative table (admission_conf.c: name, type,
 * default) that both tenant front-ends read: the YAML `tenants:` section
 * (config_tenants.c) and tenant documents stored as JSON (tenant_json.c).
 * A zeroed sg_admission_t is the defaults: every key not configured falls back
 * to its table default, which is safe (host mounts, pvc, ossfs, credential
 * proxy, registry auth, platform, extensions, unknown fields, extended
 * resources and allow-all networks are refused) but lets what the official
 * SDKs send on an ordinary create through.
 *
 * The checks are pure functions over jansson objects (admission.c), unit
 * tested. A refusal is 403 with a GATEWAY::ADMISSION_* code per rule, a
 * malformed field is 400 GATEWAY::INVALID_REQUEST.
 */
#ifndef SG_ADMISSION_H
#define SG_ADMISSION_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* the keys of an `admission:` section; the order is the table's (admission_conf.c) */
typedef enum en_sg_admission_key_t {
    SG_ADM_UNKNOWN_FIELDS = 0,  /* enum reject|pass */
    SG_ADM_MAX_VOLUMES,         /* uint */
    SG_ADM_HOST_PATH_PREFIXES,  /* absolute paths */
    SG_ADM_HOST_READ_ONLY,      /* bool */
    SG_ADM_PVC_CLAIMS,          /* fnmatch patterns */
    SG_ADM_OSSFS_BUCKETS,       /* fnmatch patterns */
    SG_ADM_EGRESS_ALLOW,        /* egress targets: name, *.name or * */
    SG_ADM_NETWORK_ALLOW_ALL,   /* bool */
    SG_ADM_DEFAULT_NETWORK,     /* NetworkPolicy object */
    SG_ADM_CREDENTIAL_PROXY,    /* bool */
    SG_ADM_IMAGE_AUTH,          /* bool */
    SG_ADM_PLATFORM_OS,         /* names */
    SG_ADM_PLATFORM_ARCH,       /* names */
    SG_ADM_ENTRYPOINTS,         /* commands; unset = any */
    SG_ADM_ENV_DENY,            /* fnmatch patterns */
    SG_ADM_ENV_ALLOW,           /* fnmatch patterns; unset = any not denied */
    SG_ADM_EXTENSION_KEYS,      /* names */
    SG_ADM_FORCE_SECURE_ACCESS, /* bool */
    SG_ADM_MAX_RESOURCES,       /* map resource name -> quantity */
    SG_ADM_MAX_METADATA_KEYS,   /* uint, 0: no cap */
    SG_ADM_NUM_KEYS
} sg_admission_key_t;

typedef struct st_sg_admission_resource_t {
    char *name;
    double max; /* in the resource's unit (suffixes resolved) */
} sg_admission_resource_t;

typedef struct st_sg_admission_t {
    uint32_t set;                       /* bit per key: configured (otherwise the table default applies) */
    int64_t num[SG_ADM_NUM_KEYS];       /* bool, uint and enum keys */
    char **list[SG_ADM_NUM_KEYS];       /* list keys (NULL-terminated) */
    size_t list_len[SG_ADM_NUM_KEYS];   /* list keys */
    json_t *default_network;            /* SG_ADM_DEFAULT_NETWORK */
    sg_admission_resource_t *resources; /* SG_ADM_MAX_RESOURCES */
    size_t num_resources;
} sg_admission_t;

/* ---- configuration (admission_conf.c) ---- */

/* name of a key as written in the config ("host_path_prefixes") */
const char *sg_admission_key_name(sg_admission_key_t key);
/* the kind of a key's value (docs checks); *max: the upper bound of an integer key */
typedef enum en_sg_admission_kind_t { SG_ADM_KIND_BOOL, SG_ADM_KIND_UINT, SG_ADM_KIND_LIST, SG_ADM_KIND_OTHER } sg_admission_kind_t;
sg_admission_kind_t sg_admission_key_kind(sg_admission_key_t key, int64_t *max);
/*
 * Sets the key NAME from a JSON value. untyped: scalars come as strings (YAML),
 * so "true"/"false" and digits are accepted for booleans and integers.
 * Returns 0, -1 with a message in err (a bad value), or -2 if NAME is no key.
 */
int sg_admission_set(sg_admission_t *adm, const char *name, json_t *value, int untyped, char *err, size_t errlen);
/* Checks the keys against each other once all are set (the default network policy within the tenant's own rules). */
int sg_admission_finish(sg_admission_t *adm, char *err, size_t errlen);
/* Parses a whole `admission` JSON object (stored tenants). Returns 0 or -1 with err ("admission.KEY: ..."). */
int sg_admission_parse_json(json_t *obj, sg_admission_t *adm, char *err, size_t errlen);
void sg_admission_dispose(sg_admission_t *adm);

/* the effective value of a bool/uint/enum key */
int64_t sg_admission_num(const sg_admission_t *adm, sg_admission_key_t key);
/* the effective list of a list key; *is_set tells a configured list from the default */
char *const *sg_admission_list(const sg_admission_t *adm, sg_admission_key_t key, size_t *n, int *is_set);

/* ---- checks (admission.c) ---- */

/*
 * Checks every field of a CreateSandboxRequest except image, snapshotId,
 * timeout and resourceLimits cpu/memory (sg_tenant_check_create checks those
 * and calls this). May change body: forced readOnly on host mounts, forced
 * secureAccess, the tenant's default networkPolicy. Returns 0 if admitted,
 * else 400 or 403 with *code (static) and a message naming the rule and the
 * offending value.
 */
int sg_admission_check_create(const sg_admission_t *adm, const char *tenant_id, uint64_t max_cpu_millis, uint64_t max_memory_mb,
                              json_t *body, const char **code, char *msg, size_t msglen);
/* A metadata merge patch (PATCH .../metadata): string or null values, at most max_metadata_keys keys. */
int sg_admission_check_metadata_patch(const sg_admission_t *adm, const char *tenant_id, json_t *patch, const char **code, char *msg,
                                      size_t msglen);
/*
 * A network policy sent to a running sandbox (.../networkpolicy). The same rules
 * as networkPolicy on create; in addition defaultAction must be explicit, since
 * an update whose merge left an empty policy would mean allow-all.
 */
int sg_admission_check_network_update(const sg_admission_t *adm, const char *tenant_id, json_t *policy, const char **code,
                                      char *msg, size_t msglen);

/* 1 if the egress target TARGET of a request is within the allowlist entry PATTERN ("a.b", "*.b", "*") */
int sg_admission_egress_covers(const char *pattern, const char *target);
/* 1 if PATH contains a ".." segment ('/' and '\' separate segments) */
int sg_admission_has_dotdot(const char *path);
/* "8" -> 8, "500m" -> 0.5, "2Ki" -> 2048, "1G" -> 1e9. Returns 0 on success. */
int sg_admission_parse_quantity(const char *s, double *out);

#endif
