/*
 * Tenants: identity, API keys (hashes only) and the per-sandbox policy that
 * create requests are checked against. Part of the configuration (immutable
 * after load). Pure functions, unit tested.
 */
#ifndef SG_TENANT_H
#define SG_TENANT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "config/admission.h"
#include "util/keyhash.h"

typedef struct st_sg_tenant_key_t {
    unsigned char hash[SG_KEYHASH_LEN];
    char *name;
    int64_t expires_at_ms; /* 0: never */
    int revoked;
} sg_tenant_key_t;

typedef struct st_sg_label_selector_t {
    char *key;
    char **values; /* the backend's label value must be one of these */
    size_t num_values;
} sg_label_selector_t;

typedef struct st_sg_tenant_policy_t {
    char **allowed_images; /* fnmatch(3) patterns; none = any image */
    size_t num_allowed_images;
    uint64_t max_timeout_s;   /* 0: no cap */
    int allow_manual_cleanup; /* timeout null/absent (no expiry) allowed */
    uint64_t max_cpu_millis;  /* per sandbox, 0: no cap */
    uint64_t max_memory_mb;   /* per sandbox, 0: no cap */
    /* quotas over every live sandbox / snapshot of the tenant (tenancy/quota.c), 0: no cap */
    uint64_t max_sandboxes;
    uint64_t max_total_cpu_millis;
    uint64_t max_total_memory_mb;
    uint64_t max_snapshots;
    int quota_fail_open; /* the quota ledger unreachable: create anyway (1) or 503 (0) */
    /* sandbox ports (docs/PORTS.md) */
    uint64_t endpoint_form;         /* SG_ENDPOINT_FORM_* (0: the global ports.endpoint_form) */
    uint64_t max_signed_lifetime_s; /* longest ?expires= ahead (0: the global ports.max_signed_lifetime) */
    uint64_t renew_on_access_s;     /* port traffic extends every sandbox of the tenant by this (0: only opted-in ones) */
} sg_tenant_policy_t;

/* how GET .../endpoints/{port} names a port (0 in a policy: inherit) */
#define SG_ENDPOINT_FORM_PATH 1
#define SG_ENDPOINT_FORM_HOST 2

/* the types of the `policy:` keys (tenant_policy.c) */
typedef enum en_sg_policy_type_t {
    SG_POLICY_PATTERNS,   /* list of fnmatch(3) patterns: char ** and a size_t count */
    SG_POLICY_DURATION_S, /* seconds, or a duration string ("2h"): uint64_t seconds */
    SG_POLICY_BOOL,       /* int */
    SG_POLICY_CPU_MILLIS, /* CPU quantity ("500m", "2"): uint64_t millicores */
    SG_POLICY_MEMORY_MB,  /* memory quantity ("512Mi"): uint64_t MiB */
    SG_POLICY_COUNT,      /* non-negative integer: uint64_t */
    SG_POLICY_ENUM        /* one of values[]: uint64_t index + 1 */
} sg_policy_type_t;

/* one `policy:` key: the table both front-ends (YAML, JSON) read */
typedef struct st_sg_policy_field_t {
    const char *name;
    sg_policy_type_t type;
    size_t offset;             /* of the value in sg_tenant_policy_t */
    size_t count_offset;       /* SG_POLICY_PATTERNS: of the count */
    uint64_t max;              /* upper bound of a number (0: none) */
    uint64_t def;              /* default of a number or bool (a zeroed policy holds it: 0) */
    const char *hint;          /* "must be ..." in error messages */
    const char *const *values; /* SG_POLICY_ENUM: the words, NULL-terminated */
} sg_policy_field_t;

const sg_policy_field_t *sg_tenant_policy_fields(size_t *n);
/*
 * Sets the policy key name from v (untyped: v comes from YAML, where scalars are strings; "yes" is a bool).
 * Returns 0, -2 when name is not a policy key, or -1 with "NAME must be ..." in err.
 */
int sg_tenant_policy_set(sg_tenant_policy_t *p, const char *name, json_t *v, int untyped, char *err, size_t errlen);

typedef struct st_sg_tenant_t {
    char *id;
    char *name;
    sg_tenant_key_t *keys;
    size_t num_keys;
    sg_label_selector_t *backend_labels; /* all must match; none = any backend */
    size_t num_backend_labels;
    sg_tenant_policy_t policy;
    sg_admission_t admission; /* zeroed: the safe defaults */
} sg_tenant_t;

/* What a create request asks for, extracted by sg_tenant_check_create. */
typedef struct st_sg_create_request_t {
    const char *image;       /* NULL when restoring a snapshot */
    const char *snapshot_id; /* NULL when creating from an image */
    int64_t timeout_s;       /* 0: no expiry */
    uint64_t cpu_millis;
    uint64_t memory_mb;
} sg_create_request_t;

/*
 * Checks a parsed CreateSandboxRequest against the tenant's policy and its
 * admission policy (admission.h, which may change body: forced values, the
 * tenant's default network policy) and fills out. The one check of a create.
 * Returns 0 if allowed. Otherwise returns the HTTP status (400 malformed, 403
 * policy) and writes the error code (static) and a message naming the rule and
 * the value into msg.
 */
int sg_tenant_check_create(const sg_tenant_t *t, json_t *body, sg_create_request_t *out, const char **code, char *msg,
                           size_t msglen);

/* 1 if the tenant may place sandboxes on a backend with these labels. */
int sg_tenant_backend_allowed(const sg_tenant_t *t, const char *const *label_keys, const char *const *label_values, size_t n);

/* Finds a config key by hash in constant time per key; returns the tenant or NULL. */
const sg_tenant_t *sg_tenant_find_key(const sg_tenant_t *tenants, size_t n, const unsigned char hash[SG_KEYHASH_LEN],
                                      const sg_tenant_key_t **key);

/* "500m" -> 500, "2" -> 2000, "1.5" -> 1500. Returns 0 on success. */
int sg_parse_cpu_millis(const char *s, uint64_t *out);
/* "512Mi" -> 512, "1Gi" -> 1024, "1G" -> 954 (rounded up to MiB), "1048576" (bytes) -> 1. Returns 0 on success. */
int sg_parse_memory_mb(const char *s, uint64_t *out);
/* "2027-01-01T00:00:00Z" -> unix ms. Returns 0 on success. */
int sg_parse_rfc3339_ms(const char *s, int64_t *out);

/*
 * Parses a tenant definition stored as JSON under id (tenant_json.c). Returns 0
 * and fills out (release with sg_tenant_dispose), or -1 with a message in err.
 */
int sg_tenant_parse_json(const char *json, size_t len, const char *id, sg_tenant_t *out, char *err, size_t errlen);

void sg_tenant_dispose(sg_tenant_t *t);

#endif
