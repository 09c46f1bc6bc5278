/*
 * A tiny assertion library for the unit tests. Every CHECK* counts one check; a
 * failing one prints "file:line: the expression" (and the values for the typed
 * variants) and counts a failure; the test goes on. TEST_DONE() prints the totals
 * and evaluates to the exit status of the program (non-zero when a check failed).
 *
 * KNOWN_BUG(expr, why) states the behaviour the code should have but currently
 * lacks: it is reported, never counted as a failure, and announces itself when the
 * behaviour becomes right (then it should be turned into a CHECK).
 */
#ifndef SG_TEST_H
#define SG_TEST_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int sg_test_checks __attribute__((unused));
static int sg_test_failures __attribute__((unused));
static int sg_test_known_bugs __attribute__((unused));

#define CHECK(expr)                                                                                                                \
    do {                                                                                                                           \
        ++sg_test_checks;                                                                                                          \
        if (!(expr)) {                                                                                                             \
            ++sg_test_failures;                                                                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr);                                               \
        }                                                                                                                          \
    } while (0)

/* integers, compared as intmax_t (use for sizes, enums, ports...) */
#define CHECK_INT(actual, expected)                                                                                                \
    do {                                                                                                                           \
        intmax_t sg_a_ = (intmax_t)(actual), sg_e_ = (intmax_t)(expected);                                                         \
        ++sg_test_checks;                                                                                                          \
        if (sg_a_ != sg_e_) {                                                                                                      \
            ++sg_test_failures;                                                                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (got %jd, expected %jd)\n", __FILE__, __LINE__, #actual, #expected,     \
                    sg_a_, sg_e_);                                                                                                 \
        }                                                                                                                          \
    } while (0)

/* unsigned 64-bit values (limits, durations) */
#define CHECK_U64(actual, expected)                                                                                                \
    do {                                                                                                                           \
        uint64_t sg_a_ = (uint64_t)(actual), sg_e_ = (uint64_t)(expected);                                                         \
        ++sg_test_checks;                                                                                                          \
        if (sg_a_ != sg_e_) {                                                                                                      \
            ++sg_test_failures;                                                                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (got %" PRIu64 ", expected %" PRIu64 ")\n", __FILE__, __LINE__,         \
                    #actual, #expected, sg_a_, sg_e_);                                                                             \
        }                                                                                                                          \
    } while (0)

/* NUL-terminated strings; NULL only equals NULL */
#define CHECK_STR(actual, expected)                                                                                                \
    do {                                                                                                                           \
        const char *sg_a_ = (actual), *sg_e_ = (expected);                                                                         \
        ++sg_test_checks;                                                                                                          \
        if (!(sg_a_ == sg_e_ || (sg_a_ != NULL && sg_e_ != NULL && strcmp(sg_a_, sg_e_) == 0))) {                                  \
            ++sg_test_failures;                                                                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s\n  got:      \"%s\"\n  expected: \"%s\"\n", __FILE__, __LINE__,         \
                    #actual, #expected, sg_a_ != NULL ? sg_a_ : "(null)", sg_e_ != NULL ? sg_e_ : "(null)");                       \
        }                                                                                                                          \
    } while (0)

/* a byte range (base, len) equal to a NUL-terminated string */
#define CHECK_MEM(base, len, expected)                                                                                             \
    do {                                                                                                                           \
        const char *sg_b_ = (const char *)(base), *sg_e_ = (expected);                                                             \
        size_t sg_l_ = (size_t)(len);                                                                                              \
        ++sg_test_checks;                                                                                                          \
        if (!(sg_l_ == strlen(sg_e_) && (sg_l_ == 0 || (sg_b_ != NULL && memcmp(sg_b_, sg_e_, sg_l_) == 0)))) {                    \
            ++sg_test_failures;                                                                                                    \
            fprintf(stderr,                                                                                                        \
                    "%s:%d: CHECK failed: [%s, %s] == %s\n  got:      \"%.*s\" (%zu bytes)\n  expected: \"%s\" (%zu bytes)\n",     \
                    __FILE__, __LINE__, #base, #len, #expected, sg_b_ != NULL ? (int)(sg_l_ > 4096 ? 4096 : sg_l_) : 6,            \
                    sg_b_ != NULL ? sg_b_ : "(null)", sg_l_, sg_e_, strlen(sg_e_));                                                \
        }                                                                                                                          \
    } while (0)

#define KNOWN_BUG(expr, why)                                                                                                       \
    do {                                                                                                                           \
        if (!(expr)) {                                                                                                             \
            ++sg_test_known_bugs;                                                                                                  \
            fprintf(stderr, "%s:%d: KNOWN BUG (not counted as a failure): %s -- %s\n", __FILE__, __LINE__, #expr, why);            \
        } else {                                                                                                                   \
            fprintf(stderr, "%s:%d: known bug looks fixed, turn it into a CHECK: %s\n", __FILE__, __LINE__, #expr);                \
        }                                                                                                                          \
    } while (0)

#define TEST_DONE()                                                                                                                \
    (fprintf(stderr, "%s: %d checks, %d failed, %d known bugs\n", __FILE__, sg_test_checks, sg_test_failures, sg_test_known_bugs), \
     sg_test_failures != 0 ? 1 : 0)

#endif
