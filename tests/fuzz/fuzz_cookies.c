/*
 * Feeds: Cookie request headers (one per input line; HTTP/2 clients may send several) to sg_port_auth_each_cookie
 * (tenancy/port_auth.h), the splitter behind the signed-URL cookie check and the cookies forwarded to a sandbox.
 * The first byte says after how many pairs the callback asks to stop.
 * Asserts beyond "no crash": every pair lies inside one header value, names are non-empty and hold no ';' or '=' and
 * no leading blank, values follow their '=' directly, hold no ';' and no trailing blank; pairs come in input order;
 * no call follows a stop.
 */
#include "tenancy/port_auth.h"
#include "fuzz.h"

typedef struct st_walk_t {
    const h2o_headers_t *headers;
    size_t calls, stop_after;
    int stopped;
    const char *last;
} walk_t;

static int on_pair(void *data, h2o_iovec_t name, h2o_iovec_t value)
{
    walk_t *w = data;
    FUZZ_CHECK(!w->stopped);
    FUZZ_CHECK(name.len != 0 && name.base[0] != ' ' && name.base[0] != '\t');
    FUZZ_CHECK(memchr(name.base, ';', name.len) == NULL && memchr(name.base, '=', name.len) == NULL);
    size_t in = SIZE_MAX;
    for (size_t i = 0; i != w->headers->size && in == SIZE_MAX; ++i)
        if (fuzz_within(name.base, name.len, w->headers->entries[i].value.base, w->headers->entries[i].value.len))
            in = i;
    FUZZ_CHECK(in != SIZE_MAX && w->headers->entries[in].name == &H2O_TOKEN_COOKIE->buf);
    if (value.base != NULL) {
        FUZZ_CHECK(value.base == name.base + name.len + 1 && value.base[-1] == '=');
        FUZZ_CHECK(fuzz_within(value.base, value.len, w->headers->entries[in].value.base, w->headers->entries[in].value.len));
        FUZZ_CHECK(memchr(value.base, ';', value.len) == NULL);
        FUZZ_CHECK(value.len == 0 || (value.base[value.len - 1] != ' ' && value.base[value.len - 1] != '\t'));
    }
    w->last = name.base;
    if (++w->calls == w->stop_after)
        w->stopped = 1;
    return w->stopped;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t stop = fuzz_take_byte(&data, &size);
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    h2o_headers_t headers = {NULL};
    char *copies[64];
    size_t num_copies = 0;
    const char *p = (const char *)data, *end = p + size;
    while (p < end && num_copies != sizeof(copies) / sizeof(copies[0])) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *stop_at = nl != NULL ? nl : end;
        /* a malloc'd copy of exactly the value's bytes: a read past it is caught */
        size_t len = (size_t)(stop_at - p);
        char *v = copies[num_copies++] = malloc(len != 0 ? len : 1);
        memcpy(v, p, len);
        h2o_add_header(&pool, &headers, H2O_TOKEN_COOKIE, NULL, v, len);
        h2o_add_header(&pool, &headers, H2O_TOKEN_ACCEPT, NULL, H2O_STRLIT("a=b; c=d"));
        p = stop_at + (nl != NULL);
    }
    walk_t w = {&headers, 0, stop, 0, NULL};
    sg_port_auth_each_cookie(&headers, on_pair, &w);
    FUZZ_CHECK(w.calls <= size);
    for (size_t i = 0; i != num_copies; ++i)
        free(copies[i]);
    h2o_mem_clear_pool(&pool);
    return 0;
}
