/*
 * request-id: accepts a well-formed X-Request-ID from the client (or the header
 * named in `header`), otherwise generates one; the id goes upstream, into the
 * response, the error bodies and the access log.
 */
#include <stdlib.h>
#include <string.h>
#include "plugin.h"

typedef struct st_conf_t {
    char *header;
    size_t header_len;
    int trust_client;
} conf_t;

static __thread uint64_t rng_state;

static void *config_parse(const sg_plugin_api_t *api, sg_plugin_conf_t *c)
{
    const char *header = "x-request-id";
    int trust = 1;
    if (api->conf_string(c, "header", &header) < 0 || api->conf_bool(c, "trust_client", &trust) < 0)
        return NULL;
    if (header[0] == '\0') {
        api->conf_error(c, "header", "must not be empty");
        return NULL;
    }
    conf_t *conf = calloc(1, sizeof(*conf));
    conf->header = strdup(header);
    conf->header_len = strlen(header);
    for (char *p = conf->header; *p != '\0'; ++p)
        if (*p >= 'A' && *p <= 'Z')
            *p += 'a' - 'A';
    conf->trust_client = trust;
    return conf;
}

static void config_free(void *p)
{
    conf_t *conf = p;
    free(conf->header);
    free(conf);
}

static int well_formed(sg_plugin_str_t v)
{
    if (v.len == 0 || v.len > 128)
        return 0;
    for (size_t i = 0; i != v.len; ++i) {
        char ch = v.base[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
              ch == '.' || ch == ':'))
            return 0;
    }
    return 1;
}

static uint64_t next_random(const sg_plugin_api_t *api)
{
    /* splitmix64 seeded once per thread from the OS: ids are unique, not secret */
    if (rng_state == 0 && api->random_bytes(&rng_state, sizeof(rng_state)) != 0)
        rng_state = (uint64_t)(uintptr_t)&rng_state;
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static sg_plugin_status_t on_request(const sg_plugin_api_t *api, sg_plugin_req_t *req, void *p, void *ctx)
{
    (void)ctx;
    conf_t *conf = p;
    sg_plugin_str_t v;
    char buf[32];
    if (!(conf->trust_client && api->req_header(req, conf->header, conf->header_len, &v) && well_formed(v))) {
        static const char hex[] = "0123456789abcdef";
        uint64_t a = next_random(api), b = next_random(api);
        for (int i = 0; i != 16; ++i) {
            buf[i] = hex[(a >> (i * 4)) & 15];
            buf[16 + i] = hex[(b >> (i * 4)) & 15];
        }
        v.base = buf;
        v.len = sizeof(buf);
    }
    api->req_set_request_id(req, v.base, v.len);
    api->res_add_header(req, conf->header, conf->header_len, v.base, v.len);
    return SG_PLUGIN_CONTINUE;
}

const sg_plugin_t sg_plugin_request_id = {
    .abi_version = SG_PLUGIN_ABI_VERSION,
    .descriptor_size = sizeof(sg_plugin_t),
    .name = "request-id",
    .config_parse = config_parse,
    .config_free = config_free,
    .on_request = on_request,
};
