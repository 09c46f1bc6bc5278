#include <string.h>
#include "util/urlenc.h"

int sg_hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

h2o_iovec_t sg_url_decode(h2o_mem_pool_t *pool, const char *s, size_t len, int form)
{
    char *out = h2o_mem_alloc_pool(pool, len + 1), *d = out;
    for (size_t i = 0; i != len; ++i) {
        if (s[i] == '%') {
            int hi, lo;
            if (i + 2 >= len || (hi = sg_hexval(s[i + 1])) < 0 || (lo = sg_hexval(s[i + 2])) < 0)
                return h2o_iovec_init(NULL, 0);
            *d++ = (char)(hi << 4 | lo);
            i += 2;
        } else if (form && s[i] == '+') {
            *d++ = ' ';
        } else {
            *d++ = s[i];
        }
    }
    *d = '\0';
    return h2o_iovec_init(out, d - out);
}

h2o_iovec_t sg_url_encode(h2o_mem_pool_t *pool, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = h2o_mem_alloc_pool(pool, len * 3 + 1), *d = out;
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~') {
            *d++ = (char)c;
        } else {
            *d++ = '%';
            *d++ = hex[c >> 4];
            *d++ = hex[c & 15];
        }
    }
    *d = '\0';
    return h2o_iovec_init(out, d - out);
}

int sg_query_next(const char **p, const char *end, h2o_iovec_t *name, h2o_iovec_t *value)
{
    while (*p < end && **p == '&')
        ++*p;
    if (*p >= end)
        return 0;
    const char *start = *p, *amp = memchr(start, '&', end - start);
    const char *stop = amp != NULL ? amp : end;
    const char *eq = memchr(start, '=', stop - start);
    if (eq != NULL) {
        *name = h2o_iovec_init(start, eq - start);
        *value = h2o_iovec_init(eq + 1, stop - eq - 1);
    } else {
        *name = h2o_iovec_init(start, stop - start);
        *value = h2o_iovec_init(NULL, 0);
    }
    *p = stop;
    return 1;
}
