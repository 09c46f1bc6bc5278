/*
 * Feeds: the query string of GET /v1/sandboxes and GET /v1/snapshots (after '?', as received) to
 * sg_lifecycle_list_query (tenancy/lifecycle.h), the pure parser of page, pageSize, state, sandboxId and the
 * metadata filter. The first byte chooses sandboxes or snapshots; the rest is the query.
 * Asserts beyond "no crash": page and pageSize are 1..1000000; the query sent to the backends holds only
 * unreserved characters, '%', '&' and '='; for sandboxes it ends with one metadata filter in which, decoded the way
 * a backend decodes it, the tenant tag appears exactly once with the caller's tenant as its value (a client can
 * neither drop nor override the tag); for snapshots it carries no metadata filter.
 */
#include "tenancy/lifecycle.h"
#include "util/urlenc.h"
#include "fuzz.h"

#define TAG "sandgate.io/tenant"
#define TENANT "acme-1"

static void check_metadata_filter(h2o_mem_pool_t *pool, h2o_iovec_t filter)
{
    h2o_iovec_t inner = sg_url_decode(pool, filter.base, filter.len, 0);
    FUZZ_CHECK(inner.base != NULL);
    const char *p = inner.base, *end = inner.base + inner.len;
    h2o_iovec_t k, v;
    size_t tags = 0;
    while (sg_query_next(&p, end, &k, &v)) {
        FUZZ_CHECK(k.len != 0 && v.base != NULL);
        h2o_iovec_t dk = sg_url_decode(pool, k.base, k.len, 1), dv = sg_url_decode(pool, v.base, v.len, 1);
        FUZZ_CHECK(dk.base != NULL && dv.base != NULL);
        if (h2o_memis(dk.base, dk.len, H2O_STRLIT(TAG))) {
            ++tags;
            FUZZ_CHECK(h2o_memis(dv.base, dv.len, H2O_STRLIT(TENANT)));
        }
    }
    FUZZ_CHECK(tags == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int snapshots = fuzz_take_byte(&data, &size) & 1;
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    long page = -1, page_size = -1;
    h2o_iovec_t out = {NULL, 0};
    const char *why = sg_lifecycle_list_query(&pool, h2o_iovec_init((const char *)data, size), snapshots, TAG,
                                              h2o_iovec_init(H2O_STRLIT(TENANT)), &page, &page_size, &out);
    if (why == NULL) {
        FUZZ_CHECK(page >= 1 && page <= 1000000 && page_size >= 1 && page_size <= 1000000);
        FUZZ_CHECK(out.base != NULL);
        for (size_t i = 0; i != out.len; ++i) {
            char c = out.base[i];
            FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~%&=", c) != NULL);
        }
        const char *last = NULL;
        for (const char *p = out.base; (p = memchr(p, 'm', (size_t)(out.base + out.len - p))) != NULL; ++p)
            if ((p == out.base || p[-1] == '&') && (size_t)(out.base + out.len - p) >= 9 && memcmp(p, "metadata=", 9) == 0) {
                FUZZ_CHECK(last == NULL);
                last = p;
            }
        if (snapshots) {
            FUZZ_CHECK(last == NULL);
        } else {
            FUZZ_CHECK(last != NULL && memchr(last, '&', (size_t)(out.base + out.len - last)) == NULL);
            check_metadata_filter(&pool, h2o_iovec_init(last + 9, (size_t)(out.base + out.len - last - 9)));
        }
    }
    h2o_mem_clear_pool(&pool);
    return 0;
}
