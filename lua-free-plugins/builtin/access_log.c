/*
 * access-log: one JSON object per line per request, written with a single
 * write(2) so lines from different threads never interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "plugin.h"

typedef struct st_conf_t {
    int fd;
    int owns_fd;
} conf_t;

static void *config_parse(const sg_plugin_api_t *api, sg_plugin_conf_t *c)
{
    const char *path = "-";
    if (api->conf_string(c, "path", &path) < 0)
        return NULL;
    conf_t *conf = calloc(1, sizeof(*conf));
    if (strcmp(path, "-") == 0) {
        conf->fd = 1;
    } else if ((conf->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0) {
        api->conf_error(c, "path", "cannot open %s: %s", path, strerror(errno));
        free(conf);
        return NULL;
    } else {
        conf->owns_fd = 1;
    }
    return conf;
}

static void config_free(void *p)
{
    conf_t *conf = p;
    if (conf->owns_fd)
        close(conf->fd);
    free(conf);
}

typedef struct st_out_t {
    char *buf;
    size_t len, cap;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->len + n > o->cap)
        n = o->cap - o->len;
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void put_str(out_t *o, const char *key, sg_plugin_str_t v)
{
    static const char hex[] = "0123456789abcdef";
    put(o, ",\"", 2);
    put(o, key, strlen(key));
    put(o, "\":\"", 3);
    for (size_t i = 0; i != v.len && o->len + 8 < o->cap; ++i) {
        unsigned char ch = (unsigned char)v.base[i];
        if (ch == '"' || ch == '\\') {
            char e[2] = {'\\', (char)ch};
            put(o, e, 2);
        } else if (ch < 0x20 || ch >= 0x7f) {
            /* bytes outside printable ASCII are escaped so every line is valid JSON */
            char e[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
            put(o, e, 6);
        } else {
            put(o, (const char *)&ch, 1);
        }
    }
    put(o, "\"", 1);
}

/* decimal digits by hand: one line per request costs no printf */
static void put_num(out_t *o, const char *key, unsigned long long v)
{
    char tmp[24], *p = tmp + sizeof(tmp);
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    put(o, ",\"", 2);
    put(o, key, strlen(key));
    put(o, "\":", 2);
    put(o, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" into ts (at least 30 bytes); gmtime and strftime once per second and thread */
static size_t format_time(char *ts, uint64_t us)
{
    static __thread time_t cached_sec = (time_t)-1;
    static __thread char cached[24];
    static __thread size_t cached_len;
    time_t sec = (time_t)(us / 1000000);
    if (sec != cached_sec) {
        struct tm tm;
        gmtime_r(&sec, &tm);
        cached_len = strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = sec;
    }
    unsigned ms = (unsigned)(us / 1000 % 1000);
    size_t n = cached_len < sizeof(cached) ? cached_len : 0; /* strftime's result is below the size */
    memcpy(ts, cached, n);
    char *p = ts + n;
    *p++ = '.';
    *p++ = (char)('0' + ms / 100);
    *p++ = (char)('0' + ms / 10 % 10);
    *p++ = (char)('0' + ms % 10);
    *p++ = 'Z';
    *p = '\0';
    return (size_t)(p - ts);
}

static void on_log(const sg_plugin_api_t *api, sg_plugin_req_t *req, void *p, void *ctx)
{
    (void)ctx;
    conf_t *conf = p;
    const sg_plugin_req_info_t *info = api->req_info(req);
    char buf[8192];
    out_t o = {buf, 0, sizeof(buf) - 2};
    put(&o, "{\"time\":\"", 9);
    o.len += format_time(buf + o.len, info->started_at_us); /* at the start of an 8 KiB buffer */
    put(&o, "\"", 1);
    put_str(&o, "request_id", info->request_id);
    put_str(&o, "remote", info->remote_addr);
    put_str(&o, "method", info->method);
    put_str(&o, "path", info->path);
    put_str(&o, "host", info->authority);
    put_num(&o, "http", info->http_version == 0x200 ? 2 : 1);
    put_num(&o, "status", (unsigned long long)info->status);
    put_str(&o, "route", info->route_class);
    put_str(&o, "tenant", info->tenant);
    put_str(&o, "sandbox_id", info->sandbox_id);
    put_str(&o, "backend", info->backend);
    put_num(&o, "bytes_in", info->bytes_received);
    put_num(&o, "bytes_out", info->bytes_sent);
    put_num(&o, "duration_us", info->duration_us);
    put_num(&o, "upstream_us", info->upstream_us);
    if (info->error_code.len != 0)
        put_str(&o, "error", info->error_code);
    o.cap += 2;
    put(&o, "}\n", 2);
    ssize_t r;
    do {
        r = write(conf->fd, buf, o.len);
    } while (r < 0 && errno == EINTR);
}

const sg_plugin_t sg_plugin_access_log = {
    .abi_version = SG_PLUGIN_ABI_VERSION,
    .descriptor_size = sizeof(sg_plugin_t),
    .name = "access-log",
    .config_parse = config_parse,
    .config_free = config_free,
    .on_log = on_log,
};
