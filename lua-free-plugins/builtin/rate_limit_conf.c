/*
 * rate-limit: the `config:` schema, a declarative list of limits (docs/CONFIG.md, "rate-limit"):
 *
 *   mode: local | redis          sync_interval: 0 | duration      over_limit_cache: true
 *   max_keys: 65536
 *   limits:
 *     - name: lifecycle          # [a-z0-9_-]{1,32}: RateLimit-Policy name and metric label
 *       route: lifecycle         # lifecycle | port | any
 *       operations: [create_sandbox]
 *       by: [tenant]             # tenant, key, sandbox, port, operation, route; [] = one global counter
 *       rate: 5                  # requests per `per`; absent: only the tenants listed below are limited
 *       per: 1s
 *       burst: 10                # default: rate
 *       on_store_error: fail_open | fail_closed
 *       tenants: {team-b: {rate: 2, burst: 4}, team-a: {unlimited: true}}
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rate_limit.h"

static const char *const operation_names[] = {"create_sandbox",  "list_sandboxes", "get_sandbox",     "delete_sandbox",
                                              "patch_metadata",  "pause",          "resume",          "renew",
                                              "create_snapshot", "endpoint",       "network_policy",  "diagnostics",
                                              "list_snapshots",  "get_snapshot",   "delete_snapshot", "port"};
static const char *const dim_names[] = {"tenant", "key", "sandbox", "port", "operation", "route"};

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32)
        return 0;
    for (; *s != '\0'; ++s)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* rate, per, burst (or unlimited) of a limit or of a tenant override; returns -1 after recording an error */
static int parse_rate(const sg_plugin_api_t *api, sg_plugin_conf_t *c, const rl_rate_t *inherit, rl_rate_t *out)
{
    int64_t rate = -1, burst = -1;
    uint64_t per = 0;
    int unlimited = 0;
    int has_rate, has_per, has_burst;
    if (api->conf_bool(c, "unlimited", &unlimited) < 0 || (has_rate = api->conf_int(c, "rate", &rate)) < 0 ||
        (has_per = api->conf_duration_ms(c, "per", &per)) < 0 || (has_burst = api->conf_int(c, "burst", &burst)) < 0)
        return -1;
    memset(out, 0, sizeof(*out));
    if (unlimited) {
        if (has_rate || has_burst || has_per) {
            api->conf_error(c, "unlimited", "excludes rate, per and burst");
            return -1;
        }
        return 0;
    }
    if (!has_rate) {
        if (inherit != NULL && inherit->set) {
            rate = inherit->rate;
        } else {
            if (has_burst || has_per) {
                api->conf_error(c, has_burst ? "burst" : "per", "needs a rate");
                return -1;
            }
            return 0; /* no rate: not limited */
        }
    }
    if (rate < 1 || rate > 1000000000) {
        api->conf_error(c, "rate", "must be between 1 and 1000000000");
        return -1;
    }
    if (!has_per)
        per = inherit != NULL && inherit->set ? inherit->per_ms : 1000;
    if (per < 1 || per > 86400000) {
        api->conf_error(c, "per", "must be between 1ms and 24h");
        return -1;
    }
    if (!has_burst)
        burst = has_rate || inherit == NULL || !inherit->set ? rate : inherit->burst;
    if (burst < 1 || burst > 1000000000) {
        api->conf_error(c, "burst", "must be between 1 and 1000000000");
        return -1;
    }
    /* the window that holds `burst` requests at `rate` per `per` */
    uint64_t w = (uint64_t)(((unsigned __int128)per * (uint64_t)burst) / (uint64_t)rate);
    if (w < 10 || w > 7 * 86400000ull) {
        api->conf_error(c, has_burst ? "burst" : "rate",
                        "gives a window of %llu ms (burst / rate * per); it must be between 10ms and 7 days",
                        (unsigned long long)w);
        return -1;
    }
    out->set = 1;
    out->rate = rate;
    out->per_ms = per;
    out->burst = burst;
    out->window_ms = w;
    return 0;
}

static int parse_string_seq(const sg_plugin_api_t *api, sg_plugin_conf_t *c, const char *key, size_t max,
                            int (*each)(void *, const char *), void *data)
{
    size_t n = 0;
    int r = api->conf_seq(c, key, &n);
    if (r <= 0)
        return r;
    if (n > max) {
        api->conf_error(c, key, "at most %zu items", max);
        return -1;
    }
    for (size_t i = 0; i != n; ++i) {
        sg_plugin_conf_t *item = api->conf_seq_item(c, key, i);
        const char *s = NULL;
        if (item == NULL || api->conf_string(item, NULL, &s) != 1)
            return -1;
        if (each(data, s) != 0) {
            api->conf_error(item, NULL, "'%s' is not allowed here", s);
            return -1;
        }
    }
    return 1;
}

static int add_operation(void *data, const char *s)
{
    rl_limit_t *l = data;
    for (size_t i = 0; i != sizeof(operation_names) / sizeof(operation_names[0]); ++i) {
        if (strcmp(s, operation_names[i]) == 0) {
            l->operations[l->num_operations++] = (char *)operation_names[i];
            return 0;
        }
    }
    return -1;
}

static int add_dim(void *data, const char *s)
{
    rl_limit_t *l = data;
    for (int i = 0; i != (int)(sizeof(dim_names) / sizeof(dim_names[0])); ++i) {
        if (strcmp(s, dim_names[i]) == 0) {
            for (size_t j = 0; j != l->num_dims; ++j)
                if (l->dims[j] == i)
                    return -1;
            l->dims[l->num_dims++] = i;
            return 0;
        }
    }
    return -1;
}

static int parse_limit(const sg_plugin_api_t *api, sg_plugin_conf_t *c, rl_conf_t *conf, rl_limit_t *l)
{
    const char *name = NULL, *route = "any", *fail = "fail_open";
    if (api->conf_string(c, "name", &name) < 0 || api->conf_string(c, "route", &route) < 0 ||
        api->conf_string(c, "on_store_error", &fail) < 0)
        return -1;
    if (name == NULL) {
        api->conf_error(c, NULL, "a limit needs a name");
        return -1;
    }
    if (!valid_name(name)) {
        api->conf_error(c, "name", "must be 1-32 characters of [a-z0-9_-]");
        return -1;
    }
    for (size_t i = 0; i != conf->num_limits; ++i) {
        if (&conf->limits[i] != l && strcmp(conf->limits[i].name, name) == 0) {
            api->conf_error(c, "name", "limit '%s' is defined twice", name);
            return -1;
        }
    }
    l->name = strdup(name);
    if (strcmp(route, "lifecycle") == 0) {
        l->routes = RL_ROUTE_LIFECYCLE;
    } else if (strcmp(route, "port") == 0) {
        l->routes = RL_ROUTE_PORT;
    } else if (strcmp(route, "any") != 0) {
        api->conf_error(c, "route", "must be lifecycle, port or any");
        return -1;
    }
    if (strcmp(fail, "fail_closed") == 0) {
        l->fail_closed = 1;
    } else if (strcmp(fail, "fail_open") != 0) {
        api->conf_error(c, "on_store_error", "must be fail_open or fail_closed");
        return -1;
    }
    l->operations = calloc(sizeof(operation_names) / sizeof(operation_names[0]), sizeof(*l->operations));
    if (parse_string_seq(api, c, "operations", sizeof(operation_names) / sizeof(operation_names[0]), add_operation, l) < 0)
        return -1;
    int r = parse_string_seq(api, c, "by", RL_MAX_DIMS, add_dim, l);
    if (r < 0)
        return -1;
    if (r == 0) {
        l->dims[0] = RL_DIM_TENANT;
        l->num_dims = 1;
    }
    if (parse_rate(api, c, NULL, &l->rate) < 0)
        return -1;
    size_t n = 0;
    if ((r = api->conf_map(c, "tenants", &n)) < 0)
        return -1;
    if (r == 1 && n != 0) {
        l->overrides = calloc(n, sizeof(*l->overrides));
        for (size_t i = 0; i != n; ++i) {
            const char *tenant = NULL;
            sg_plugin_conf_t *t = api->conf_map_entry(c, "tenants", i, &tenant);
            if (t == NULL || tenant == NULL)
                return -1;
            l->overrides[l->num_overrides].tenant = strdup(tenant);
            ++l->num_overrides;
            if (api->conf_map(t, NULL, &(size_t){0}) != 1)
                return -1;
            if (parse_rate(api, t, &l->rate, &l->overrides[i].rate) < 0)
                return -1;
        }
    }
    if (!l->rate.set && l->num_overrides == 0) {
        api->conf_error(c, NULL, "limit '%s' has neither a rate nor tenants", name);
        return -1;
    }
    return 0;
}

void rl_conf_free(rl_conf_t *conf)
{
    if (conf == NULL)
        return;
    for (size_t i = 0; i != conf->num_limits; ++i) {
        rl_limit_t *l = &conf->limits[i];
        free(l->name);
        free(l->operations);
        for (size_t j = 0; j != l->num_overrides; ++j)
            free(l->overrides[j].tenant);
        free(l->overrides);
    }
    free(conf);
}

rl_shared_t *rl_shared_get(const sg_plugin_api_t *api)
{
    static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
    rl_shared_t *s = api->shared_state("local-counters", sizeof(rl_shared_t));
    if (s == NULL)
        return NULL;
    pthread_mutex_lock(&init_lock);
    if (!s->lock_ready) {
        pthread_mutex_init(&s->lock, NULL);
        s->lock_ready = 1;
    }
    pthread_mutex_unlock(&init_lock);
    return s;
}

rl_conf_t *rl_conf_parse(const sg_plugin_api_t *api, sg_plugin_conf_t *c)
{
    if (!SG_PLUGIN_API_HAS(api, metric_set)) {
        api->conf_error(c, NULL, "rate-limit needs a gateway with plugin ABI 2");
        return NULL;
    }
    rl_conf_t *conf = calloc(1, sizeof(*conf));
    const char *mode = "local";
    int64_t max_keys = 65536;
    size_t n = 0;
    int has_sync;
    conf->over_limit_cache = 1;
    if (api->conf_string(c, "mode", &mode) < 0 ||
        (has_sync = api->conf_duration_ms(c, "sync_interval", &conf->sync_interval_ms)) < 0 ||
        api->conf_bool(c, "over_limit_cache", &conf->over_limit_cache) < 0 || api->conf_int(c, "max_keys", &max_keys) < 0)
        goto Error;
    if (strcmp(mode, "redis") == 0) {
        conf->mode = RL_MODE_REDIS;
    } else if (strcmp(mode, "local") != 0) {
        api->conf_error(c, "mode", "must be local or redis");
        goto Error;
    }
    if (has_sync && conf->mode != RL_MODE_REDIS) {
        api->conf_error(c, "sync_interval", "only applies to mode: redis");
        goto Error;
    }
    if (max_keys < 16 || max_keys > (1 << 24)) {
        api->conf_error(c, "max_keys", "must be between 16 and 16777216");
        goto Error;
    }
    conf->max_keys = (size_t)max_keys;
    if (api->conf_seq(c, "limits", &n) != 1 || n == 0) {
        api->conf_error(c, "limits", "must list at least one limit");
        goto Error;
    }
    if (n > RL_MAX_LIMITS) {
        api->conf_error(c, "limits", "at most %d limits", RL_MAX_LIMITS);
        goto Error;
    }
    for (size_t i = 0; i != n; ++i) {
        sg_plugin_conf_t *item = api->conf_seq_item(c, "limits", i);
        if (item == NULL)
            goto Error;
        if (api->conf_map(item, NULL, &(size_t){0}) != 1) {
            api->conf_error(item, NULL, "a limit is a mapping");
            goto Error;
        }
        rl_limit_t *l = &conf->limits[conf->num_limits++];
        if (parse_limit(api, item, conf, l) < 0)
            goto Error;
        for (size_t j = 0; j <= l->num_overrides; ++j) {
            rl_rate_t *r = j == 0 ? &l->rate : &l->overrides[j - 1].rate;
            if (r->set) {
                int len = snprintf(r->policy, sizeof(r->policy), "\"%s\";q=%" PRId64 ";w=%" PRIu64, l->name, r->burst,
                                   (r->window_ms + 999) / 1000);
                r->policy_len = len < 0 ? 0 : (size_t)len < sizeof(r->policy) ? (size_t)len : sizeof(r->policy) - 1;
            }
            /* batched counts of a window must be sent before the window after it starts */
            if (conf->sync_interval_ms != 0 && r->set && r->window_ms < conf->sync_interval_ms) {
                api->conf_error(item, NULL, "limit '%s' has a %llu ms window, shorter than sync_interval", l->name,
                                (unsigned long long)r->window_ms);
                goto Error;
            }
        }
    }
    if (conf->mode == RL_MODE_LOCAL && (conf->shared = rl_shared_get(api)) == NULL) {
        api->conf_error(c, NULL, "cannot get the shared counter table");
        goto Error;
    }
    static const char *const limit_label[] = {"limit"}, *const refused_labels[] = {"tenant", "limit"};
    conf->m_refused = api->metric_register("ratelimit_refused_total", "Requests refused with 429 by a rate limit",
                                           SG_PLUGIN_METRIC_COUNTER, refused_labels, 2);
    conf->m_fail_open = api->metric_register("ratelimit_fail_open_total",
                                             "Requests let through by a fail_open rate limit because the store could not answer",
                                             SG_PLUGIN_METRIC_COUNTER, limit_label, 1);
    conf->m_fail_closed = api->metric_register(
        "ratelimit_fail_closed_total", "Requests refused with 503 by a fail_closed rate limit because the store could not answer",
        SG_PLUGIN_METRIC_COUNTER, limit_label, 1);
    return conf;
Error:
    rl_conf_free(conf);
    return NULL;
}

const rl_rate_t *rl_limit_rate(const rl_limit_t *l, const char *tenant, size_t tenant_len)
{
    for (size_t i = 0; i != l->num_overrides; ++i)
        if (strlen(l->overrides[i].tenant) == tenant_len && memcmp(l->overrides[i].tenant, tenant, tenant_len) == 0)
            return &l->overrides[i].rate;
    return &l->rate;
}
