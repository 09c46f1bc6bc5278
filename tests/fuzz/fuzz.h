/*
 * Shared by the fuzz targets: FUZZ_CHECK states an invariant beyond "no crash"; a violation prints the expression and
 * aborts, which libFuzzer reports as a crash with the input saved.
 */
#ifndef SG_FUZZ_H
#define SG_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(expr)                                                                                                           \
    do {                                                                                                                           \
        if (!(expr)) {                                                                                                             \
            fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #expr);                                         \
            abort();                                                                                                               \
        }                                                                                                                          \
    } while (0)

/* 1 if [p, p + n) lies inside [base, base + len) */
static inline int fuzz_within(const void *p, size_t n, const void *base, size_t len)
{
    const char *c = p, *b = base;
    return c >= b && n <= len && (size_t)(c - b) <= len - n;
}

/* takes the first byte of the input as flags (0 when empty) */
static inline uint8_t fuzz_take_byte(const uint8_t **data, size_t *size)
{
    if (*size == 0)
        return 0;
    uint8_t b = **data;
    ++*data;
    --*size;
    return b;
}

/* a NUL-terminated copy (malloc'd) of the input, so that overreads past the bytes are caught by ASan */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
