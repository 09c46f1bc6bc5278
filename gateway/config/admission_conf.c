/*
 * The admission keys of a tenant: one declarative table (name, type, default)
 * and the setters both tenant front-ends use (config_tenants.c for YAML,
 * tenant_json.c for tenants stored as JSON), so that the two cannot drift.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config/admission.h"
#include "util/yamlconf.h"

typedef enum en_type_t {
    T_BOOL,
    T_UINT,
    T_UNKNOWN_FIELDS, /* reject | pass */
    T_PATHS,          /* absolute host paths */
    T_PATTERNS,       /* fnmatch(3) patterns */
    T_EGRESS,         /* egress allowlist entries */
    T_NAMES,          /* plain strings */
    T_NETWORK,        /* a NetworkPolicy object */
    T_RESOURCES       /* map of resource name to quantity */
} type_t;

static const char *const default_env_deny[] = {"LD_*", "GCONV_PATH", "OPENSANDBOX_*", "EXECD_*", NULL};

static const struct {
    const char *name;
    type_t type;
    int64_t num;             /* default of bool, uint and enum keys */
    const char *const *list; /* default of list keys (NULL: empty) */
    int64_t max;             /* uint keys */
} table[SG_ADM_NUM_KEYS] = {
    [SG_ADM_UNKNOWN_FIELDS] = {"unknown_fields", T_UNKNOWN_FIELDS, 0},
    [SG_ADM_MAX_VOLUMES] = {"max_volumes", T_UINT, 8, NULL, 1000},
    [SG_ADM_HOST_PATH_PREFIXES] = {"host_path_prefixes", T_PATHS},
    [SG_ADM_HOST_READ_ONLY] = {"host_read_only", T_BOOL, 1},
    [SG_ADM_PVC_CLAIMS] = {"pvc_claims", T_PATTERNS},
    [SG_ADM_OSSFS_BUCKETS] = {"ossfs_buckets", T_PATTERNS},
    [SG_ADM_EGRESS_ALLOW] = {"egress_allow", T_EGRESS},
    [SG_ADM_NETWORK_ALLOW_ALL] = {"network_allow_all", T_BOOL, 0},
    [SG_ADM_DEFAULT_NETWORK] = {"default_network_policy", T_NETWORK},
    [SG_ADM_CREDENTIAL_PROXY] = {"allow_credential_proxy", T_BOOL, 0},
    [SG_ADM_IMAGE_AUTH] = {"allow_image_auth", T_BOOL, 0},
    [SG_ADM_PLATFORM_OS] = {"platform_os", T_NAMES},
    [SG_ADM_PLATFORM_ARCH] = {"platform_arch", T_NAMES},
    [SG_ADM_ENTRYPOINTS] = {"entrypoints", T_NAMES},
    [SG_ADM_ENV_DENY] = {"env_deny", T_PATTERNS, 0, default_env_deny},
    [SG_ADM_ENV_ALLOW] = {"env_allow", T_PATTERNS},
    [SG_ADM_EXTENSION_KEYS] = {"extension_keys", T_NAMES},
    [SG_ADM_FORCE_SECURE_ACCESS] = {"force_secure_access", T_BOOL, 0},
    [SG_ADM_MAX_RESOURCES] = {"max_resources", T_RESOURCES},
    [SG_ADM_MAX_METADATA_KEYS] = {"max_metadata_keys", T_UINT, 0, NULL, 100000}, /* 0: no cap */
};

const char *sg_admission_key_name(sg_admission_key_t key)
{
    return key < SG_ADM_NUM_KEYS ? table[key].name : "?";
}

sg_admission_kind_t sg_admission_key_kind(sg_admission_key_t key, int64_t *max)
{
    *max = table[key].max;
    switch (table[key].type) {
    case T_BOOL:
        return SG_ADM_KIND_BOOL;
    case T_UINT:
        return SG_ADM_KIND_UINT;
    case T_PATHS:
    case T_PATTERNS:
    case T_EGRESS:
    case T_NAMES:
        return SG_ADM_KIND_LIST;
    default:
        return SG_ADM_KIND_OTHER;
    }
}

int64_t sg_admission_num(const sg_admission_t *adm, sg_admission_key_t key)
{
    return (adm->set & (1u << key)) != 0 ? adm->num[key] : table[key].num;
}

char *const *sg_admission_list(const sg_admission_t *adm, sg_admission_key_t key, size_t *n, int *is_set)
{
    static char *const empty[] = {NULL};
    int set = (adm->set & (1u << key)) != 0;
    if (is_set != NULL)
        *is_set = set;
    if (set) {
        *n = adm->list_len[key];
        return adm->list[key] != NULL ? adm->list[key] : empty;
    }
    if (table[key].list == NULL) {
        *n = 0;
        return empty;
    }
    for (*n = 0; table[key].list[*n] != NULL; ++*n)
        ;
    return (char *const *)table[key].list;
}

int sg_admission_parse_quantity(const char *s, double *out)
{
    static const struct {
        const char *suffix;
        double mult;
    } units[] = {{"", 1},
                 {"m", 1e-3},
                 {"k", 1e3},
                 {"K", 1e3},
                 {"M", 1e6},
                 {"G", 1e9},
                 {"T", 1e12},
                 {"P", 1e15},
                 {"Ki", 1024.0},
                 {"Mi", 1048576.0},
                 {"Gi", 1073741824.0},
                 {"Ti", 1099511627776.0},
                 {"Pi", 1125899906842624.0}};
    char *end;
    if (s == NULL || !((*s >= '0' && *s <= '9') || *s == '.'))
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || !isfinite(v) || v < 0)
        return -1;
    for (size_t i = 0; i != sizeof(units) / sizeof(units[0]); ++i) {
        if (strcmp(end, units[i].suffix) == 0) {
            *out = v * units[i].mult;
            return 0;
        }
    }
    return -1;
}

/* an egress allowlist entry: "*", or a name of [A-Za-z0-9._:/-] optionally after "*." */
static int valid_egress_entry(const char *s)
{
    if (strcmp(s, "*") == 0)
        return 1;
    if (strncmp(s, "*.", 2) == 0)
        s += 2;
    if (*s == '\0' || *s == '.')
        return 0;
    for (; *s != '\0'; ++s)
        if (!(isalnum((unsigned char)*s) || strchr("._:/-", *s) != NULL))
            return 0;
    return 1;
}

static int set_list(sg_admission_t *adm, sg_admission_key_t key, json_t *v, char *err, size_t errlen)
{
    const char *name = table[key].name;
    size_t i;
    json_t *item;
    if (!json_is_array(v))
        return sg_conf_errorf(err, errlen, "%s must be a list of strings", name);
    char **list = calloc(json_array_size(v) + 1, sizeof(char *));
    size_t n = 0;
    json_array_foreach(v, i, item)
    {
        const char *s = json_string_value(item);
        if (s == NULL || *s == '\0' || strlen(s) != json_string_length(item)) {
            sg_conf_errorf(err, errlen, "%s must be a list of non-empty strings", name);
            goto Error;
        }
        char *copy = strdup(s);
        list[n++] = copy;
        switch (table[key].type) {
        case T_PATHS: {
            if (copy[0] != '/' || sg_admission_has_dotdot(copy)) {
                sg_conf_errorf(err, errlen, "%s: '%s' must be an absolute path without '..'", name, s);
                goto Error;
            }
            size_t len = strlen(copy);
            while (len > 1 && copy[len - 1] == '/')
                copy[--len] = '\0';
            break;
        }
        case T_EGRESS:
            if (!valid_egress_entry(s)) {
                sg_conf_errorf(err, errlen, "%s: '%s' must be a host name, '*.' and a domain, or '*'", name, s);
                goto Error;
            }
            break;
        default:
            break;
        }
    }
    for (size_t j = 0; j != adm->list_len[key]; ++j)
        free(adm->list[key][j]);
    free(adm->list[key]);
    adm->list[key] = list;
    adm->list_len[key] = n;
    return 0;

Error:
    for (size_t j = 0; j != n; ++j)
        free(list[j]);
    free(list);
    return -1;
}

static void free_resources(sg_admission_t *adm)
{
    for (size_t i = 0; i != adm->num_resources; ++i)
        free(adm->resources[i].name);
    free(adm->resources);
    adm->resources = NULL;
    adm->num_resources = 0;
}

static int set_resources(sg_admission_t *adm, json_t *v, char *err, size_t errlen)
{
    const char *k;
    json_t *q;
    if (!json_is_object(v))
        return sg_conf_errorf(err, errlen, "max_resources must map resource names to quantities");
    free_resources(adm);
    adm->resources = calloc(json_object_size(v) + 1, sizeof(*adm->resources));
    json_object_foreach(v, k, q)
    {
        double max;
        char num[64];
        const char *text = json_string_value(q);
        if (json_is_integer(q)) {
            snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(q));
            text = num;
        }
        if (strcmp(k, "cpu") == 0 || strcmp(k, "memory") == 0)
            return sg_conf_errorf(err, errlen,
                                  "max_resources.%s: cpu and memory are capped by policy.max_cpu and policy.max_memory", k);
        if (*k == '\0' || text == NULL || sg_admission_parse_quantity(text, &max) != 0)
            return sg_conf_errorf(err, errlen, "max_resources.%s must be a quantity like \"1\", \"500m\" or \"10Gi\"", k);
        adm->resources[adm->num_resources].name = strdup(k);
        adm->resources[adm->num_resources++].max = max;
    }
    return 0;
}

static int set_network(sg_admission_t *adm, json_t *v, char *err, size_t errlen)
{
    if (!json_is_object(v))
        return sg_conf_errorf(err, errlen, "default_network_policy must be a network policy {defaultAction, egress}");
    json_decref(adm->default_network);
    adm->default_network = json_deep_copy(v);
    return 0;
}

int sg_admission_set(sg_admission_t *adm, const char *name, json_t *v, int untyped, char *err, size_t errlen)
{
    size_t key;
    for (key = 0; key != SG_ADM_NUM_KEYS; ++key)
        if (strcmp(table[key].name, name) == 0)
            break;
    if (key == SG_ADM_NUM_KEYS)
        return -2;
    const char *s = json_string_value(v);
    switch (table[key].type) {
    case T_BOOL: {
        int b;
        if (json_is_boolean(v))
            adm->num[key] = json_is_true(v);
        else if (untyped && s != NULL && sg_parse_bool(s, &b) == 0)
            adm->num[key] = b;
        else
            return sg_conf_errorf(err, errlen, "%s must be true or false", name);
        break;
    }
    case T_UINT: {
        long long n = -1;
        char *end;
        if (json_is_integer(v))
            n = json_integer_value(v);
        else if (untyped && s != NULL && *s >= '0' && *s <= '9') {
            errno = 0;
            n = strtoll(s, &end, 10);
            if (*end != '\0' || errno != 0)
                n = -1;
        }
        if (n < 0 || n > table[key].max)
            return sg_conf_errorf(err, errlen, "%s must be an integer between 0 and %lld", name, (long long)table[key].max);
        adm->num[key] = n;
        break;
    }
    case T_UNKNOWN_FIELDS:
        if (s == NULL || (strcmp(s, "reject") != 0 && strcmp(s, "pass") != 0))
            return sg_conf_errorf(err, errlen, "unknown_fields must be reject or pass");
        adm->num[key] = strcmp(s, "pass") == 0;
        break;
    case T_PATHS:
    case T_PATTERNS:
    case T_EGRESS:
    case T_NAMES:
        if (set_list(adm, key, v, err, errlen) != 0)
            return -1;
        break;
    case T_NETWORK:
        if (set_network(adm, v, err, errlen) != 0)
            return -1;
        break;
    case T_RESOURCES:
        if (set_resources(adm, v, err, errlen) != 0)
            return -1;
        break;
    }
    adm->set |= 1u << key;
    return 0;
}

int sg_admission_finish(sg_admission_t *adm, char *err, size_t errlen)
{
    if (adm->default_network != NULL) {
        const char *code;
        char msg[512];
        if (sg_admission_check_network_update(adm, "(this tenant)", adm->default_network, &code, msg, sizeof(msg)) != 0)
            return sg_conf_errorf(err, errlen, "default_network_policy is outside the tenant's own rules: %s", msg);
    }
    return 0;
}

int sg_admission_parse_json(json_t *obj, sg_admission_t *adm, char *err, size_t errlen)
{
    const char *k;
    json_t *v;
    char sub[384];
    if (!json_is_object(obj))
        return sg_conf_errorf(err, errlen, "admission must be an object");
    json_object_foreach(obj, k, v)
    {
        int rc = sg_admission_set(adm, k, v, 0, sub, sizeof(sub));
        if (rc == -2)
            return sg_conf_errorf(err, errlen, "unknown key 'admission.%s'", k);
        if (rc != 0)
            return sg_conf_errorf(err, errlen, "admission.%s", sub);
    }
    if (sg_admission_finish(adm, sub, sizeof(sub)) != 0)
        return sg_conf_errorf(err, errlen, "admission.%s", sub);
    return 0;
}

void sg_admission_dispose(sg_admission_t *adm)
{
    for (size_t k = 0; k != SG_ADM_NUM_KEYS; ++k) {
        for (size_t j = 0; j != adm->list_len[k]; ++j)
            free(adm->list[k][j]);
        free(adm->list[k]);
    }
    json_decref(adm->default_network);
    free_resources(adm);
    memset(adm, 0, sizeof(*adm));
}
