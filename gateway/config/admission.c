/*
 * Admission checks of create bodies, metadata patches and network policy
 * updates against a tenant's admission policy (admission.h).
 */
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config/admission.h"
#include "config/tenant.h"
#include "util/errors.h"

typedef struct st_ctx_t {
    const sg_admission_t *adm;
    const char *tenant;
    const char **code;
    char *msg;
    size_t msglen;
} ctx_t;

static int refuse(ctx_t *c, sg_error_t e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(ctx_t *c, sg_error_t e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, c->msglen, fmt, ap);
    va_end(ap);
    *c->code = sg_errors[e].code;
    return sg_errors[e].status;
}

static int malformed(ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int malformed(ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, c->msglen, fmt, ap);
    va_end(ap);
    *c->code = sg_errors[SG_ERR_INVALID_REQUEST].code;
    return sg_errors[SG_ERR_INVALID_REQUEST].status;
}

/* the effective list of KEY joined with ", " for messages ("none" when empty) */
static const char *describe(const sg_admission_t *adm, sg_admission_key_t key, char *buf, size_t size)
{
    size_t n, len = 0;
    char *const *list = sg_admission_list(adm, key, &n, NULL);
    buf[0] = '\0';
    if (n == 0)
        snprintf(buf, size, "none");
    for (size_t i = 0; i != n && len < size; ++i)
        len += snprintf(buf + len, size - len, "%s%s", i != 0 ? ", " : "", list[i]);
    return buf;
}

static int absent(json_t *v)
{
    return v == NULL || json_is_null(v);
}

static int in_list(char *const *list, size_t n, const char *s, int patterns)
{
    for (size_t i = 0; i != n; ++i)
        if (patterns ? fnmatch(list[i], s, 0) == 0 : strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

int sg_admission_has_dotdot(const char *path)
{
    const char *seg = path;
    for (const char *p = path;; ++p) {
        if (*p == '/' || *p == '\\' || *p == '\0') {
            if (p - seg == 2 && seg[0] == '.' && seg[1] == '.')
                return 1;
            if (*p == '\0')
                return 0;
            seg = p + 1;
        }
    }
}

int sg_admission_egress_covers(const char *pattern, const char *target)
{
    if (strcmp(pattern, "*") == 0)
        return 1;
    if (strncmp(pattern, "*.", 2) != 0)
        return strcasecmp(pattern, target) == 0;
    /* "*.d" covers "x.d" and "*.x.d" (any name strictly below d), never "d" itself or "*" */
    size_t plen = strlen(pattern) - 1, tlen = strlen(target); /* plen counts ".d" */
    return tlen > plen && strcasecmp(target + tlen - plen, pattern + 1) == 0 && target[0] != '.' &&
           (target[0] != '*' || target[1] == '.');
}

/* refuses fields of OBJ that are not in KNOWN (unless the tenant passes unknown fields) */
static int check_fields(ctx_t *c, json_t *obj, const char *const *known, const char *where)
{
    const char *k;
    json_t *v;
    if (sg_admission_num(c->adm, SG_ADM_UNKNOWN_FIELDS) != 0)
        return 0;
    json_object_foreach(obj, k, v)
    {
        size_t i;
        for (i = 0; known[i] != NULL; ++i)
            if (strcmp(known[i], k) == 0)
                break;
        if (known[i] == NULL)
            return refuse(c, SG_ERR_ADMISSION_UNKNOWN_FIELD,
                          "%s has the field '%.100s', which the gateway does not know (admission.unknown_fields of tenant %s: "
                          "reject)",
                          where, k, c->tenant);
    }
    return 0;
}

/* ---- network policy ---- */

/* explicit: defaultAction must be given (updates), else an omitted one means deny (create) */
static int check_network(ctx_t *c, json_t *np, int explicit)
{
    static const char *const known[] = {"defaultAction", "egress", NULL}, *const rule_known[] = {"action", "target", NULL};
    char list[512];
    int allow_all = sg_admission_num(c->adm, SG_ADM_NETWORK_ALLOW_ALL) != 0, st;
    if (!json_is_object(np))
        return malformed(c, "networkPolicy must be an object {defaultAction, egress}");
    if ((st = check_fields(c, np, known, "networkPolicy")) != 0)
        return st;
    json_t *def = json_object_get(np, "defaultAction"), *egress = json_object_get(np, "egress");
    if (def == NULL && explicit && !allow_all)
        return refuse(c, SG_ERR_ADMISSION_NETWORK_POLICY,
                      "a network policy update must give defaultAction: an empty policy means allow-all, which tenant %s may "
                      "not set (admission.network_allow_all)",
                      c->tenant);
    const char *action = json_string_value(def);
    if (def != NULL && (action == NULL || (strcmp(action, "allow") != 0 && strcmp(action, "deny") != 0)))
        return malformed(c, "networkPolicy.defaultAction must be allow or deny");
    if (action != NULL && strcmp(action, "allow") == 0 && !allow_all)
        return refuse(c, SG_ERR_ADMISSION_NETWORK_POLICY,
                      "networkPolicy.defaultAction 'allow' is not allowed for tenant %s (admission.network_allow_all)", c->tenant);
    if (egress == NULL)
        return 0;
    if (!json_is_array(egress))
        return malformed(c, "networkPolicy.egress must be a list of rules");
    size_t i;
    json_t *rule;
    json_array_foreach(egress, i, rule)
    {
        char where[64];
        snprintf(where, sizeof(where), "networkPolicy.egress[%zu]", i);
        if (!json_is_object(rule))
            return malformed(c, "%s must be an object {action, target}", where);
        if ((st = check_fields(c, rule, rule_known, where)) != 0)
            return st;
        const char *a = json_string_value(json_object_get(rule, "action")),
                   *target = json_string_value(json_object_get(rule, "target"));
        if (a == NULL || target == NULL || (strcmp(a, "allow") != 0 && strcmp(a, "deny") != 0))
            return malformed(c, "%s needs action (allow or deny) and target (a string)", where);
        if (strcmp(a, "deny") == 0 || allow_all)
            continue; /* a deny only narrows */
        size_t n;
        char *const *allowed = sg_admission_list(c->adm, SG_ADM_EGRESS_ALLOW, &n, NULL);
        size_t j;
        for (j = 0; j != n; ++j)
            if (sg_admission_egress_covers(allowed[j], target))
                break;
        if (j == n)
            return refuse(c, SG_ERR_ADMISSION_NETWORK_POLICY,
                          "%s allows '%.200s', outside the egress allowlist of tenant %s (admission.egress_allow: %s)", where,
                          target, c->tenant, describe(c->adm, SG_ADM_EGRESS_ALLOW, list, sizeof(list)));
    }
    return 0;
}

static int check_network_on_create(ctx_t *c, json_t *body)
{
    json_t *np = json_object_get(body, "networkPolicy");
    /* none, null and {} all start the sandbox without egress rules: the tenant's default applies */
    if (absent(np) || (json_is_object(np) && json_object_size(np) == 0)) {
        if (c->adm->default_network != NULL)
            json_object_set_new(body, "networkPolicy", json_deep_copy(c->adm->default_network));
        return 0;
    }
    return check_network(c, np, 0);
}

/* ---- volumes ---- */

static int check_host(ctx_t *c, json_t *vol, json_t *host, const char *where)
{
    static const char *const known[] = {"path", NULL};
    char list[512], w[96];
    int st;
    snprintf(w, sizeof(w), "%s.host", where);
    if (!json_is_object(host))
        return malformed(c, "%s must be an object {path}", w);
    if ((st = check_fields(c, host, known, w)) != 0)
        return st;
    const char *path = json_string_value(json_object_get(host, "path"));
    if (path == NULL)
        return malformed(c, "%s.path must be a string", w);
    if (sg_admission_has_dotdot(path))
        return refuse(c, SG_ERR_ADMISSION_VOLUME_PATH, "%s.path '%.200s' has a '..' segment (tenant %s)", w, path, c->tenant);
    size_t n;
    char *const *prefixes = sg_admission_list(c->adm, SG_ADM_HOST_PATH_PREFIXES, &n, NULL);
    if (n == 0)
        return refuse(c, SG_ERR_ADMISSION_HOST_VOLUME,
                      "%s.path '%.200s': host mounts are not allowed for tenant %s (admission.host_path_prefixes: none)", w, path,
                      c->tenant);
    size_t i;
    for (i = 0; i != n; ++i) {
        size_t len = strlen(prefixes[i]);
        if (strcmp(prefixes[i], "/") == 0 && path[0] == '/')
            break;
        if (strncmp(path, prefixes[i], len) == 0 && (path[len] == '\0' || path[len] == '/'))
            break;
    }
    if (i == n)
        return refuse(c, SG_ERR_ADMISSION_HOST_VOLUME,
                      "%s.path '%.200s' is not under a host path prefix allowed for tenant %s (admission.host_path_prefixes: %s)",
                      w, path, c->tenant, describe(c->adm, SG_ADM_HOST_PATH_PREFIXES, list, sizeof(list)));
    if (sg_admission_num(c->adm, SG_ADM_HOST_READ_ONLY))
        json_object_set_new(vol, "readOnly", json_true());
    return 0;
}

static int check_pvc(ctx_t *c, json_t *pvc, const char *where)
{
    static const char *const known[] = {
        "claimName", "createIfNotExists", "deleteOnSandboxTermination", "storageClass", "storage", "accessModes", NULL};
    char list[512], w[96];
    int st;
    snprintf(w, sizeof(w), "%s.pvc", where);
    if (!json_is_object(pvc))
        return malformed(c, "%s must be an object {claimName, ...}", w);
    if ((st = check_fields(c, pvc, known, w)) != 0)
        return st;
    const char *claim = json_string_value(json_object_get(pvc, "claimName"));
    if (claim == NULL)
        return malformed(c, "%s.claimName must be a string", w);
    size_t n;
    char *const *patterns = sg_admission_list(c->adm, SG_ADM_PVC_CLAIMS, &n, NULL);
    if (!in_list(patterns, n, claim, 1))
        return refuse(c, SG_ERR_ADMISSION_PVC_VOLUME,
                      "%s.claimName '%.200s' is not a claim tenant %s may mount (admission.pvc_claims: %s)", w, claim, c->tenant,
                      describe(c->adm, SG_ADM_PVC_CLAIMS, list, sizeof(list)));
    return 0;
}

static int check_ossfs(ctx_t *c, json_t *oss, const char *where)
{
    static const char *const known[] = {"bucket", "endpoint", "version", "options", "accessKeyId", "accessKeySecret", NULL};
    char list[512], w[96];
    int st;
    snprintf(w, sizeof(w), "%s.ossfs", where);
    if (!json_is_object(oss))
        return malformed(c, "%s must be an object {bucket, endpoint, ...}", w);
    if ((st = check_fields(c, oss, known, w)) != 0)
        return st;
    const char *bucket = json_string_value(json_object_get(oss, "bucket"));
    if (bucket == NULL)
        return malformed(c, "%s.bucket must be a string", w);
    size_t n;
    char *const *patterns = sg_admission_list(c->adm, SG_ADM_OSSFS_BUCKETS, &n, NULL);
    if (!in_list(patterns, n, bucket, 1))
        return refuse(c, SG_ERR_ADMISSION_OSSFS_VOLUME,
                      "%s.bucket '%.200s' is not a bucket tenant %s may mount (admission.ossfs_buckets: %s)", w, bucket, c->tenant,
                      describe(c->adm, SG_ADM_OSSFS_BUCKETS, list, sizeof(list)));
    json_t *options = json_object_get(oss, "options");
    if (!absent(options) && (!json_is_array(options) || json_array_size(options) != 0))
        return refuse(c, SG_ERR_ADMISSION_OSSFS_VOLUME,
                      "%s.options: mount options run on the backend host and are not admitted (tenant %s)", w, c->tenant);
    return 0;
}

static int check_volumes(ctx_t *c, json_t *body)
{
    static const char *const known[] = {"name", "host", "pvc", "ossfs", "mountPath", "readOnly", "subPath", NULL};
    json_t *vols = json_object_get(body, "volumes"), *vol;
    size_t i;
    int st;
    if (absent(vols))
        return 0;
    if (!json_is_array(vols))
        return malformed(c, "volumes must be a list");
    int64_t max = sg_admission_num(c->adm, SG_ADM_MAX_VOLUMES);
    if ((int64_t)json_array_size(vols) > max)
        return refuse(c, SG_ERR_ADMISSION_VOLUME_COUNT, "%zu volumes exceed the admission.max_volumes of tenant %s (%lld)",
                      json_array_size(vols), c->tenant, (long long)max);
    json_array_foreach(vols, i, vol)
    {
        char where[48];
        snprintf(where, sizeof(where), "volumes[%zu]", i);
        if (!json_is_object(vol))
            return malformed(c, "%s must be an object", where);
        if ((st = check_fields(c, vol, known, where)) != 0)
            return st;
        static const char *const paths[] = {"mountPath", "subPath"};
        for (size_t p = 0; p != 2; ++p) {
            json_t *v = json_object_get(vol, paths[p]);
            if (absent(v))
                continue;
            const char *s = json_string_value(v);
            if (s == NULL)
                return malformed(c, "%s.%s must be a string", where, paths[p]);
            if (sg_admission_has_dotdot(s))
                return refuse(c, SG_ERR_ADMISSION_VOLUME_PATH, "%s.%s '%.200s' has a '..' segment (tenant %s)", where, paths[p], s,
                              c->tenant);
            /* an absolute subPath replaces the base path in a path join (Python's os.path.join) */
            if (p == 1 && (s[0] == '/' || s[0] == '\\' || (s[0] != '\0' && s[1] == ':')))
                return refuse(c, SG_ERR_ADMISSION_VOLUME_PATH, "%s.subPath '%.200s' must be relative (tenant %s)", where, s,
                              c->tenant);
        }
        json_t *host = json_object_get(vol, "host"), *pvc = json_object_get(vol, "pvc"), *oss = json_object_get(vol, "ossfs");
        if (!absent(json_object_get(vol, "readOnly")) && !json_is_boolean(json_object_get(vol, "readOnly")))
            return malformed(c, "%s.readOnly must be true or false", where);
        if (!absent(host) + !absent(pvc) + !absent(oss) != 1)
            return malformed(c, "%s must name exactly one of host, pvc and ossfs", where);
        if (!absent(host))
            st = check_host(c, vol, host, where);
        else if (!absent(pvc))
            st = check_pvc(c, pvc, where);
        else
            st = check_ossfs(c, oss, where);
        if (st != 0)
            return st;
    }
    return 0;
}

/* ---- the other fields ---- */

static int check_resources(ctx_t *c, json_t *body, const char *field, uint64_t max_cpu, uint64_t max_mem)
{
    json_t *res = json_object_get(body, field), *v;
    const char *k;
    if (absent(res))
        return 0;
    if (!json_is_object(res))
        return malformed(c, "%s must be an object of strings", field);
    json_object_foreach(res, k, v)
    {
        const char *s = json_string_value(v);
        if (s == NULL)
            return malformed(c, "%s.%.100s must be a string quantity", field, k);
        uint64_t q;
        if (strcmp(k, "cpu") == 0 || strcmp(k, "memory") == 0) {
            int cpu = k[0] == 'c';
            if ((cpu ? sg_parse_cpu_millis(s, &q) : sg_parse_memory_mb(s, &q)) != 0)
                return malformed(c, "%s.%s must be a quantity like \"%s\"", field, k, cpu ? "500m" : "512Mi");
            /* resourceLimits cpu/memory are checked (with their own codes) by sg_tenant_check_create */
            if (strcmp(field, "resourceRequests") == 0 && (cpu ? max_cpu : max_mem) != 0 && q > (cpu ? max_cpu : max_mem))
                return refuse(c, SG_ERR_ADMISSION_RESOURCE, "%s.%s '%.60s' exceeds the per-sandbox max_%s of tenant %s", field, k,
                              s, cpu ? "cpu" : "memory", c->tenant);
            continue;
        }
        size_t i;
        for (i = 0; i != c->adm->num_resources; ++i)
            if (strcmp(c->adm->resources[i].name, k) == 0)
                break;
        if (i == c->adm->num_resources)
            return refuse(c, SG_ERR_ADMISSION_RESOURCE,
                          "%s '%.100s' is not a resource tenant %s may ask for (no admission.max_resources entry)", field, k,
                          c->tenant);
        double d;
        if (sg_admission_parse_quantity(s, &d) != 0)
            return malformed(c, "%s.%.100s must be a quantity like \"1\" or \"10Gi\"", field, k);
        if (d > c->adm->resources[i].max)
            return refuse(c, SG_ERR_ADMISSION_RESOURCE, "%s '%.100s' = '%.60s' exceeds admission.max_resources of tenant %s (%g)",
                          field, k, s, c->tenant, c->adm->resources[i].max);
    }
    return 0;
}

static int check_env(ctx_t *c, json_t *body)
{
    json_t *env = json_object_get(body, "env"), *v;
    const char *k;
    char list[512];
    if (absent(env))
        return 0;
    if (!json_is_object(env))
        return malformed(c, "env must be an object of strings");
    size_t ndeny, nallow;
    int allow_set;
    char *const *deny = sg_admission_list(c->adm, SG_ADM_ENV_DENY, &ndeny, NULL);
    char *const *allow = sg_admission_list(c->adm, SG_ADM_ENV_ALLOW, &nallow, &allow_set);
    json_object_foreach(env, k, v)
    {
        if (!json_is_string(v) && !json_is_null(v))
            return malformed(c, "env.%.100s must be a string", k);
        for (size_t i = 0; i != ndeny; ++i)
            if (fnmatch(deny[i], k, 0) == 0)
                return refuse(c, SG_ERR_ADMISSION_ENV, "env '%.100s' is denied for tenant %s (admission.env_deny pattern '%s')", k,
                              c->tenant, deny[i]);
        if (allow_set && !in_list(allow, nallow, k, 1))
            return refuse(c, SG_ERR_ADMISSION_ENV, "env '%.100s' is not allowed for tenant %s (admission.env_allow: %s)", k,
                          c->tenant, describe(c->adm, SG_ADM_ENV_ALLOW, list, sizeof(list)));
    }
    return 0;
}

static int check_entrypoint(ctx_t *c, json_t *body)
{
    json_t *ep = json_object_get(body, "entrypoint"), *arg;
    char joined[1024], list[512];
    size_t i, len = 0, n;
    int set, spaced = 0;
    if (absent(ep))
        return 0;
    if (!json_is_array(ep))
        return malformed(c, "entrypoint must be a list of strings");
    joined[0] = '\0';
    json_array_foreach(ep, i, arg)
    {
        const char *s = json_string_value(arg);
        if (s == NULL)
            return malformed(c, "entrypoint must be a list of strings");
        spaced |= strpbrk(s, " \t\r\n") != NULL || *s == '\0';
        if (len < sizeof(joined))
            len += snprintf(joined + len, sizeof(joined) - len, "%s%s", i != 0 ? " " : "", s);
    }
    char *const *allowed = sg_admission_list(c->adm, SG_ADM_ENTRYPOINTS, &n, &set);
    if (!set)
        return 0;
    /* compared as words joined by one space: an argument holding a space could fake another command */
    if (spaced || len >= sizeof(joined) || !in_list(allowed, n, joined, 0))
        return refuse(c, SG_ERR_ADMISSION_ENTRYPOINT,
                      "entrypoint '%.200s' is not allowed for tenant %s (admission.entrypoints: %s)", joined, c->tenant,
                      describe(c->adm, SG_ADM_ENTRYPOINTS, list, sizeof(list)));
    return 0;
}

static int check_platform(ctx_t *c, json_t *body)
{
    static const char *const known[] = {"os", "arch", NULL};
    static const sg_admission_key_t keys[] = {SG_ADM_PLATFORM_OS, SG_ADM_PLATFORM_ARCH};
    json_t *pf = json_object_get(body, "platform");
    char list[512];
    int st;
    if (absent(pf))
        return 0;
    if (!json_is_object(pf))
        return malformed(c, "platform must be an object {os, arch}");
    if ((st = check_fields(c, pf, known, "platform")) != 0)
        return st;
    for (size_t i = 0; i != 2; ++i) {
        json_t *v = json_object_get(pf, known[i]);
        if (absent(v))
            continue;
        if (!json_is_string(v))
            return malformed(c, "platform.%s must be a string", known[i]);
        size_t n;
        char *const *allowed = sg_admission_list(c->adm, keys[i], &n, NULL);
        if (!in_list(allowed, n, json_string_value(v), 0))
            return refuse(c, SG_ERR_ADMISSION_PLATFORM, "platform.%s '%.100s' is not allowed for tenant %s (admission.%s: %s)",
                          known[i], json_string_value(v), c->tenant, sg_admission_key_name(keys[i]),
                          describe(c->adm, keys[i], list, sizeof(list)));
    }
    return 0;
}

static int check_extensions(ctx_t *c, json_t *body)
{
    json_t *ext = json_object_get(body, "extensions"), *v;
    const char *k;
    char list[512];
    if (absent(ext))
        return 0;
    if (!json_is_object(ext))
        return malformed(c, "extensions must be an object of strings");
    size_t n;
    char *const *allowed = sg_admission_list(c->adm, SG_ADM_EXTENSION_KEYS, &n, NULL);
    json_object_foreach(ext, k, v)
    {
        if (!in_list(allowed, n, k, 0))
            return refuse(c, SG_ERR_ADMISSION_EXTENSIONS,
                          "extensions key '%.100s' is not allowed for tenant %s (admission.extension_keys: %s)", k, c->tenant,
                          describe(c->adm, SG_ADM_EXTENSION_KEYS, list, sizeof(list)));
        if (!json_is_string(v))
            return malformed(c, "extensions.%.100s must be a string", k);
    }
    return 0;
}

static int check_metadata_object(ctx_t *c, json_t *md, int allow_null, const char *what)
{
    json_t *v;
    const char *k;
    int64_t max = sg_admission_num(c->adm, SG_ADM_MAX_METADATA_KEYS);
    json_object_foreach(md, k, v)
    {
        if (!json_is_string(v) && !(allow_null && json_is_null(v)))
            return malformed(c, "%s.%.100s must be a string%s", what, k, allow_null ? " or null" : "");
    }
    if (max != 0 && (int64_t)json_object_size(md) > max)
        return refuse(c, SG_ERR_ADMISSION_METADATA,
                      "%s has %zu keys, more than the admission.max_metadata_keys of tenant %s (%lld)", what, json_object_size(md),
                      c->tenant, (long long)max);
    return 0;
}

int sg_admission_check_create(const sg_admission_t *adm, const char *tenant_id, uint64_t max_cpu_millis, uint64_t max_memory_mb,
                              json_t *body, const char **code, char *msg, size_t msglen)
{
    static const char *const known[] = {
        "image",      "snapshotId",    "platform",        "timeout",      "resourceLimits", "resourceRequests", "env", "metadata",
        "entrypoint", "networkPolicy", "credentialProxy", "secureAccess", "volumes",        "extensions",       NULL};
    static const char *const image_known[] = {"uri", "auth", NULL}, *const proxy_known[] = {"enabled", NULL};
    ctx_t c = {adm, tenant_id, code, msg, msglen};
    int st;
    if (!json_is_object(body))
        return malformed(&c, "the request body must be a JSON object");
    if ((st = check_fields(&c, body, known, "the request")) != 0)
        return st;

    json_t *image = json_object_get(body, "image");
    if (json_is_object(image)) {
        if ((st = check_fields(&c, image, image_known, "image")) != 0)
            return st;
        if (!absent(json_object_get(image, "auth")) && !sg_admission_num(adm, SG_ADM_IMAGE_AUTH))
            return refuse(&c, SG_ERR_ADMISSION_IMAGE_AUTH,
                          "image.auth (registry credentials) is not allowed for tenant %s (admission.allow_image_auth)", tenant_id);
    }
    json_t *proxy = json_object_get(body, "credentialProxy");
    if (!absent(proxy)) {
        if (!json_is_object(proxy))
            return malformed(&c, "credentialProxy must be an object {enabled}");
        if ((st = check_fields(&c, proxy, proxy_known, "credentialProxy")) != 0)
            return st;
        json_t *enabled = json_object_get(proxy, "enabled");
        if (!absent(enabled) && !json_is_boolean(enabled))
            return malformed(&c, "credentialProxy.enabled must be true or false");
        if (json_is_true(enabled) && !sg_admission_num(adm, SG_ADM_CREDENTIAL_PROXY))
            return refuse(&c, SG_ERR_ADMISSION_CREDENTIAL_PROXY,
                          "credentialProxy.enabled true is not allowed for tenant %s (admission.allow_credential_proxy)",
                          tenant_id);
    }
    json_t *secure = json_object_get(body, "secureAccess");
    if (!absent(secure) && !json_is_boolean(secure))
        return malformed(&c, "secureAccess must be true or false");
    json_t *md = json_object_get(body, "metadata");
    if (!absent(md)) {
        if (!json_is_object(md))
            return malformed(&c, "metadata must be an object of strings");
        if ((st = check_metadata_object(&c, md, 0, "metadata")) != 0)
            return st;
    }
    if ((st = check_volumes(&c, body)) != 0 || (st = check_network_on_create(&c, body)) != 0 ||
        (st = check_platform(&c, body)) != 0 || (st = check_entrypoint(&c, body)) != 0 || (st = check_env(&c, body)) != 0 ||
        (st = check_extensions(&c, body)) != 0 ||
        (st = check_resources(&c, body, "resourceLimits", max_cpu_millis, max_memory_mb)) != 0 ||
        (st = check_resources(&c, body, "resourceRequests", max_cpu_millis, max_memory_mb)) != 0)
        return st;
    if (sg_admission_num(adm, SG_ADM_FORCE_SECURE_ACCESS))
        json_object_set_new(body, "secureAccess", json_true());
    return 0;
}

int sg_admission_check_metadata_patch(const sg_admission_t *adm, const char *tenant_id, json_t *patch, const char **code, char *msg,
                                      size_t msglen)
{
    ctx_t c = {adm, tenant_id, code, msg, msglen};
    if (!json_is_object(patch))
        return malformed(&c, "a metadata patch must be a JSON object of strings and nulls");
    return check_metadata_object(&c, patch, 1, "the metadata patch");
}

int sg_admission_check_network_update(const sg_admission_t *adm, const char *tenant_id, json_t *policy, const char **code,
                                      char *msg, size_t msglen)
{
    ctx_t c = {adm, tenant_id, code, msg, msglen};
    return check_network(&c, policy, 1);
}
