/*
 * picohttpparser's request parser, which libh2o links in and exports but for
 * which Debian ships no header. Used to look at a raw HTTP/1 request head
 * that h2o has already parsed (h2o keeps only part of what it saw).
 */
#ifndef SG_PICOHTTP_H
#define SG_PICOHTTP_H

#include <stddef.h>

struct phr_header {
    const char *name; /* NULL for an obs-fold continuation line */
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* Returns the length of the head (> 0), -1 if malformed, -2 if incomplete. */
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path, size_t *path_len,
                      int *minor_version, struct phr_header *headers, size_t *num_headers, size_t last_len);

#endif
