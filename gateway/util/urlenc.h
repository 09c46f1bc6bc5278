/*
 * Percent-encoding and query-string iteration. Pure functions, unit tested.
 */
#ifndef SG_URLENC_H
#define SG_URLENC_H

#include <h2o.h>

/* The value of a hexadecimal digit, or -1. */
int sg_hexval(int c);
/* Decodes %XX (and '+' as space when form is set) into pool memory. Returns {NULL,0} on a malformed escape. */
h2o_iovec_t sg_url_decode(h2o_mem_pool_t *pool, const char *s, size_t len, int form);
/* Encodes everything but RFC 3986 unreserved characters. */
h2o_iovec_t sg_url_encode(h2o_mem_pool_t *pool, const char *s, size_t len);
/*
 * Iterates "a=1&b=2": returns 0 at the end, else sets the raw (still encoded)
 * name and value (value.base == NULL when there is no '=').
 */
int sg_query_next(const char **p, const char *end, h2o_iovec_t *name, h2o_iovec_t *value);

#endif
