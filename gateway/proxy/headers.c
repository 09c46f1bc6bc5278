#include <string.h>
#include <strings.h>
#include "proxy/headers.h"

static const char *const hop_by_hop[] = {
    "connection",         "keep-alive",          "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
    "proxy-authenticate", "proxy-authorization", "http2-settings"};

static int eq(h2o_iovec_t a, const char *b, size_t blen)
{
    return a.len == blen && memcmp(a.base, b, blen) == 0;
}

static int in_token_list(h2o_iovec_t list, h2o_iovec_t name)
{
    size_t i = 0;
    while (i < list.len) {
        while (i < list.len && (list.base[i] == ' ' || list.base[i] == '\t' || list.base[i] == ','))
            ++i;
        size_t start = i;
        while (i < list.len && list.base[i] != ',' && list.base[i] != ' ' && list.base[i] != '\t')
            ++i;
        if (i - start == name.len && h2o_lcstris(list.base + start, i - start, name.base, name.len))
            return 1;
        while (i < list.len && list.base[i] != ',')
            ++i;
    }
    return 0;
}

int sg_headers_is_hop_by_hop(h2o_iovec_t name, h2o_iovec_t connection)
{
    for (size_t i = 0; i != sizeof(hop_by_hop) / sizeof(hop_by_hop[0]); ++i)
        if (eq(name, hop_by_hop[i], strlen(hop_by_hop[i])))
            return 1;
    return connection.len != 0 && in_token_list(connection, name);
}

h2o_iovec_t sg_headers_connection(h2o_mem_pool_t *pool, const h2o_header_t *headers, size_t n)
{
    h2o_iovec_t out = {NULL, 0};
    for (size_t i = 0; i != n; ++i) {
        if (!eq(*headers[i].name, "connection", 10))
            continue;
        if (out.len == 0) {
            out = headers[i].value;
        } else {
            out = h2o_concat(pool, out, h2o_iovec_init(H2O_STRLIT(",")), headers[i].value);
        }
    }
    return out;
}

static int is_dropped(const sg_upstream_head_t *h, h2o_iovec_t name, h2o_iovec_t connection)
{
    static const char *const own[] = {"host",         "content-length", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
                                      "x-request-id", "expect"};
    if (sg_headers_is_hop_by_hop(name, connection))
        return 1;
    for (size_t i = 0; i != sizeof(own) / sizeof(own[0]); ++i)
        if (eq(name, own[i], strlen(own[i])))
            return 1;
    for (size_t i = 0; i != h->num_strip; ++i)
        if (h2o_memis(name.base, name.len, h->strip[i].base, h->strip[i].len))
            return 1;
    for (size_t i = 0; i != h->num_extra; ++i)
        if (name.len == h->extra[i].name->len && strncasecmp(name.base, h->extra[i].name->base, name.len) == 0)
            return 1;
    return 0;
}

#define APPEND(s, l)                                                                                                               \
    do {                                                                                                                           \
        memcpy(dst, (s), (l));                                                                                                     \
        dst += (l);                                                                                                                \
    } while (0)
#define APPEND_LIT(s) APPEND(s, sizeof(s) - 1)
#define APPEND_HEADER(n, nl, v, vl)                                                                                                \
    do {                                                                                                                           \
        APPEND(n, nl);                                                                                                             \
        APPEND_LIT(": ");                                                                                                          \
        APPEND(v, vl);                                                                                                             \
        APPEND_LIT("\r\n");                                                                                                        \
    } while (0)

h2o_iovec_t sg_headers_build_request(h2o_mem_pool_t *pool, const sg_upstream_head_t *h, const h2o_header_t *client,
                                     size_t num_client)
{
    h2o_iovec_t connection = sg_headers_connection(pool, client, num_client);
    h2o_iovec_t xff = {NULL, 0};
    size_t cap = h->method.len + h->path_prefix.len + h->path.len + h->host.len + h->client_addr.len + h->client_proto.len +
                 h->client_host.len + h->request_id.len + 512;
    for (size_t i = 0; i != num_client; ++i) {
        cap += client[i].name->len + client[i].value.len + 4;
        if (eq(*client[i].name, "x-forwarded-for", 15))
            xff = xff.len == 0 ? client[i].value : h2o_concat(pool, xff, h2o_iovec_init(H2O_STRLIT(", ")), client[i].value);
    }
    for (size_t i = 0; i != h->num_extra; ++i)
        cap += h->extra[i].name->len + h->extra[i].value.len + 4;
    cap += xff.len;

    char *buf = h2o_mem_alloc_pool(pool, cap), *dst = buf;
    APPEND(h->method.base, h->method.len);
    APPEND_LIT(" ");
    APPEND(h->path_prefix.base, h->path_prefix.len);
    if (h->path.len == 0 || h->path.base[0] == '?')
        APPEND_LIT("/");
    APPEND(h->path.base, h->path.len);
    APPEND_LIT(" HTTP/1.1\r\n");
    APPEND_HEADER("host", 4, h->host.base, h->host.len);
    for (size_t i = 0; i != num_client; ++i) {
        if (is_dropped(h, *client[i].name, connection))
            continue;
        const char *n = client[i].orig_name != NULL ? client[i].orig_name : client[i].name->base;
        APPEND_HEADER(n, client[i].name->len, client[i].value.base, client[i].value.len);
    }
    if (h->content_length != SIZE_MAX) {
        char num[32];
        int l = snprintf(num, sizeof(num), "%zu", h->content_length);
        APPEND_HEADER("content-length", 14, num, (size_t)l);
    }
    APPEND_LIT("x-forwarded-for: ");
    if (xff.len != 0) {
        APPEND(xff.base, xff.len);
        APPEND_LIT(", ");
    }
    APPEND(h->client_addr.base, h->client_addr.len);
    APPEND_LIT("\r\n");
    APPEND_HEADER("x-forwarded-proto", 17, h->client_proto.base, h->client_proto.len);
    if (h->client_host.len != 0)
        APPEND_HEADER("x-forwarded-host", 16, h->client_host.base, h->client_host.len);
    if (h->request_id.len != 0)
        APPEND_HEADER("x-request-id", 12, h->request_id.base, h->request_id.len);
    if (h->is_websocket) {
        APPEND_LIT("connection: upgrade\r\nupgrade: websocket\r\n");
    } else {
        APPEND_LIT("connection: keep-alive\r\n");
    }
    for (size_t i = 0; i != h->num_extra; ++i)
        APPEND_HEADER(h->extra[i].name->base, h->extra[i].name->len, h->extra[i].value.base, h->extra[i].value.len);
    APPEND_LIT("\r\n");
    return h2o_iovec_init(buf, dst - buf);
}
