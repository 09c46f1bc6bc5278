/*
 * Feeds: bytes to the percent-decoder, encoder and query iterator (util/urlenc.h), and a request made of lines
 * ("path", "host", then "name: value" client headers and "!name: value" extra headers) to the upstream head
 * builder sg_headers_build_request (proxy/headers.h). Only what h2o would hand the gateway is kept for the head:
 * a method token, a target sg_reqcheck_target accepts, an authority the edge check accepts, header names that are
 * lower-case tokens and values without control characters other than HTAB.
 * Asserts beyond "no crash": decode(encode(x)) == x and the encoding is only unreserved characters and %XX; a decoded
 * string re-encodes to something that decodes to it again; the query iterator covers its input in order with names
 * and values free of '&'; the built head parses as exactly one HTTP/1.1 request head (nothing smuggled after it),
 * with the gateway's own Host, at most one Content-Length, no Transfer-Encoding and one X-Forwarded-For: no CR/LF
 * injection through names or values.
 */
#include "core/reqcheck.h"
#include "proxy/headers.h"
#include "util/picohttp.h"
#include "util/urlenc.h"
#include "fuzz.h"

#define MAX_CLIENT 64

static void fuzz_urlenc(h2o_mem_pool_t *pool, const char *in, size_t len)
{
    h2o_iovec_t enc = sg_url_encode(pool, in, len);
    for (size_t i = 0; i != enc.len; ++i) {
        char c = enc.base[i];
        FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~%", c) != NULL);
    }
    for (int form = 0; form != 2; ++form) {
        h2o_iovec_t dec = sg_url_decode(pool, enc.base, enc.len, form);
        FUZZ_CHECK(dec.base != NULL && dec.len == len && memcmp(dec.base, in, len) == 0);
        h2o_iovec_t d = sg_url_decode(pool, in, len, form);
        if (d.base != NULL) {
            FUZZ_CHECK(d.len <= len && d.base[d.len] == '\0');
            h2o_iovec_t e = sg_url_encode(pool, d.base, d.len), dd = sg_url_decode(pool, e.base, e.len, form);
            FUZZ_CHECK(dd.base != NULL && dd.len == d.len && memcmp(dd.base, d.base, d.len) == 0);
        }
    }
    const char *p = in, *end = in + len, *prev = in;
    h2o_iovec_t name, value;
    size_t n = 0;
    while (sg_query_next(&p, end, &name, &value)) {
        FUZZ_CHECK(++n <= len);
        FUZZ_CHECK(name.base >= prev && fuzz_within(name.base, name.len, in, len) && memchr(name.base, '&', name.len) == NULL);
        FUZZ_CHECK(memchr(name.base, '=', name.len) == NULL);
        if (value.base != NULL) {
            FUZZ_CHECK(value.base == name.base + name.len + 1 && fuzz_within(value.base, value.len, in, len));
            FUZZ_CHECK(memchr(value.base, '&', value.len) == NULL);
        }
        prev = p;
    }
}

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int is_value(const char *v, size_t len)
{
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

static int is_authority(const char *a, size_t len)
{
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)a[i];
        if (c <= 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '?' || c == '#' || c == '@')
            return 0;
    }
    return 1;
}

static void fuzz_head(h2o_mem_pool_t *pool, uint8_t flags, const char *in, size_t len)
{
    h2o_iovec_t lines[2 + 2 * MAX_CLIENT];
    size_t num_lines = 0;
    for (const char *p = in, *end = in + len; p < end && num_lines != sizeof(lines) / sizeof(lines[0]);) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl != NULL ? nl : end;
        lines[num_lines++] = h2o_iovec_init(p, (size_t)(stop - p));
        p = stop + 1;
    }
    if (num_lines < 2 || sg_reqcheck_target(lines[0].base, lines[0].len) != NULL || !is_authority(lines[1].base, lines[1].len))
        return;
    h2o_header_t client[MAX_CLIENT], extra[MAX_CLIENT];
    h2o_iovec_t names[2 * MAX_CLIENT];
    size_t num_client = 0, num_extra = 0;
    for (size_t i = 2; i != num_lines; ++i) {
        int is_extra = lines[i].len != 0 && lines[i].base[0] == '!';
        const char *l = lines[i].base + is_extra, *colon = memchr(l, ':', lines[i].len - (size_t)is_extra);
        if (colon == NULL || colon == l)
            continue;
        size_t nlen = (size_t)(colon - l);
        int ok = 1;
        for (size_t j = 0; j != nlen && ok; ++j)
            ok = is_tchar((unsigned char)l[j]);
        const char *v = colon + 1, *vend = lines[i].base + lines[i].len;
        while (v != vend && (*v == ' ' || *v == '\t'))
            ++v;
        if (!ok || !is_value(v, (size_t)(vend - v)) || (is_extra ? num_extra : num_client) == MAX_CLIENT)
            continue;
        names[num_client + num_extra] = h2o_iovec_init(l, nlen);
        h2o_header_t *h = is_extra ? extra + num_extra++ : client + num_client++;
        *h = (h2o_header_t){&names[num_client + num_extra - 1], NULL, h2o_iovec_init(v, (size_t)(vend - v))};
    }
    static const h2o_iovec_t strip[] = {{H2O_STRLIT("authorization")}, {H2O_STRLIT("x-sandgate-token")}};
    sg_upstream_head_t h = {.method = h2o_iovec_init(H2O_STRLIT("POST")),
                            .path_prefix = h2o_iovec_init(flags & 1 ? "/proxy/8080" : "", flags & 1 ? 11 : 0),
                            .path = lines[0],
                            .host = lines[1],
                            .client_addr = h2o_iovec_init(H2O_STRLIT("127.0.0.1")),
                            .client_proto = h2o_iovec_init(H2O_STRLIT("https")),
                            .client_host = lines[1],
                            .request_id = h2o_iovec_init(H2O_STRLIT("rid-1")),
                            .content_length = flags & 2 ? SIZE_MAX : len,
                            .is_websocket = (flags & 4) != 0,
                            .extra = extra,
                            .num_extra = num_extra,
                            .strip = strip,
                            .num_strip = 2};
    h2o_iovec_t head = sg_headers_build_request(pool, &h, client, num_client);
    const char *method, *path;
    size_t method_len, path_len, num_headers = 16 + 2 * MAX_CLIENT;
    int minor;
    struct phr_header headers[16 + 2 * MAX_CLIENT];
    int ret = phr_parse_request(head.base, head.len, &method, &method_len, &path, &path_len, &minor, headers, &num_headers, 0);
    if (ret != (int)head.len)
        fprintf(stderr, "unparsable head (%d of %zu):\n%.*s\n", ret, head.len, (int)head.len, head.base);
    FUZZ_CHECK(ret == (int)head.len && minor == 1);
    size_t hosts = 0, lengths = 0, te = 0, xff = 0;
    for (size_t i = 0; i != num_headers; ++i) {
        FUZZ_CHECK(headers[i].name != NULL);
        hosts += h2o_lcstris(headers[i].name, headers[i].name_len, H2O_STRLIT("host"));
        lengths += h2o_lcstris(headers[i].name, headers[i].name_len, H2O_STRLIT("content-length"));
        te += h2o_lcstris(headers[i].name, headers[i].name_len, H2O_STRLIT("transfer-encoding"));
        xff += h2o_lcstris(headers[i].name, headers[i].name_len, H2O_STRLIT("x-forwarded-for"));
    }
    /* extra headers are the gateway's own (endpoint headers): they could name anything, so only client ones count */
    int extra_framing = 0;
    for (size_t i = 0; i != num_extra; ++i)
        extra_framing |= h2o_lcstris(extra[i].name->base, extra[i].name->len, H2O_STRLIT("host")) ||
                         h2o_lcstris(extra[i].name->base, extra[i].name->len, H2O_STRLIT("content-length")) ||
                         h2o_lcstris(extra[i].name->base, extra[i].name->len, H2O_STRLIT("transfer-encoding")) ||
                         h2o_lcstris(extra[i].name->base, extra[i].name->len, H2O_STRLIT("x-forwarded-for"));
    if (!extra_framing)
        FUZZ_CHECK(hosts == 1 && lengths == (h.content_length != SIZE_MAX) && te == 0 && xff == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t flags = fuzz_take_byte(&data, &size);
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    fuzz_urlenc(&pool, (const char *)data, size);
    fuzz_head(&pool, flags, (const char *)data, size);
    h2o_mem_clear_pool(&pool);
    return 0;
}
