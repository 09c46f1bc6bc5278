/*
 * <h2o/http2_internal.h> includes "khash.h", which Debian's libh2o headers do
 * not ship. intake.c needs that header for the HTTP/2 stream and connection
 * structs but never touches the stream hash (it walks the priority tree), so
 * the hash type is declared opaque (a pointer member keeps the struct layout)
 * and the look-up used by the header's inline helpers finds nothing.
 */
#ifndef SG_COMPAT_KHASH_H
#define SG_COMPAT_KHASH_H

typedef unsigned sg_khiter_t;
#define khiter_t sg_khiter_t
#define khash_t(name) struct sg_kh_##name##_s
#define KHASH_MAP_INIT_INT64(name, khval_t) struct sg_kh_##name##_s;
#define kh_get(name, h, k) ((void)(h), (void)(k), (khiter_t)0)
#define kh_end(h) ((void)(h), (khiter_t)0)
#define kh_val(h, x) ((void)(h), (void)(x), NULL)

#endif
