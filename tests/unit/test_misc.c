/*
 * Small pure functions: sg_parse_duration_ms / sg_parse_size (gateway/yamlconf.h),
 * sg_keyhash_* (gateway/keyhash.h), sg_tls_name_matches (gateway/tls.h).
 */
#include <stdint.h>
#include <string.h>
#include "util/keyhash.h"
#include "config/tls.h"
#include "util/yamlconf.h"
#include "test.h"

#define SENTINEL 0xdeadbeefcafef00dull

static void check_duration(const char *s, uint64_t expected)
{
    uint64_t v = SENTINEL;
    int ret = sg_parse_duration_ms(s, &v);
    if (ret != 0 || v != expected)
        fprintf(stderr, "  (duration \"%s\")\n", s);
    CHECK_INT(ret, 0);
    CHECK_U64(v, expected);
}

static void check_bad_duration(const char *s)
{
    uint64_t v = SENTINEL;
    int ret = sg_parse_duration_ms(s, &v);
    if (ret != -1)
        fprintf(stderr, "  (duration \"%s\" accepted as %llu)\n", s != NULL ? s : "(null)", (unsigned long long)v);
    CHECK_INT(ret, -1);
    CHECK_U64(v, SENTINEL); /* untouched on error */
}

static void check_size(const char *s, uint64_t expected)
{
    uint64_t v = SENTINEL;
    int ret = sg_parse_size(s, &v);
    if (ret != 0 || v != expected)
        fprintf(stderr, "  (size \"%s\")\n", s);
    CHECK_INT(ret, 0);
    CHECK_U64(v, expected);
}

static void check_bad_size(const char *s)
{
    uint64_t v = SENTINEL;
    int ret = sg_parse_size(s, &v);
    if (ret != -1)
        fprintf(stderr, "  (size \"%s\" accepted as %llu)\n", s != NULL ? s : "(null)", (unsigned long long)v);
    CHECK_INT(ret, -1);
    CHECK_U64(v, SENTINEL);
}

static void test_duration(void)
{
    check_duration("250ms", 250);
    check_duration("5s", 5000);
    check_duration("5", 5000);
    check_duration("2m", 120000);
    check_duration("1h", 3600000);
    check_duration("0", 0);
    check_duration("0ms", 0);
    check_duration("0s", 0);
    check_duration("1.5s", 1500);
    check_duration("0.5", 500);
    check_duration("1.5ms", 2); /* rounded to the nearest millisecond */
    check_duration("0.4ms", 0);
    check_duration("0.25m", 15000);
    check_duration("007s", 7000);
    check_duration("1000000000000s", 1000000000000000ull); /* the largest accepted: 1e15 ms */

    check_bad_duration(NULL);
    check_bad_duration("");
    check_bad_duration("fast");
    check_bad_duration("ms");
    check_bad_duration("s");
    check_bad_duration("5x");
    check_bad_duration("5 s");
    check_bad_duration("5s ");
    check_bad_duration(" 5s");
    check_bad_duration("5sec");
    check_bad_duration("5S");
    check_bad_duration("5MS");
    check_bad_duration("5mss");
    check_bad_duration("5d");
    check_bad_duration("1h30m");
    check_bad_duration("-1");
    check_bad_duration("-1s");
    check_bad_duration("+1s");
    check_bad_duration(".5s");
    check_bad_duration("inf");
    check_bad_duration("nan");
    check_bad_duration("1e400");
    check_bad_duration("1000000000001s");
    check_bad_duration("300000000000h");

    uint64_t v = SENTINEL;
    CHECK(sg_parse_duration_ms("0x10", &v) == -1);
}

static void test_size(void)
{
    check_size("512", 512);
    check_size("0", 0);
    check_size("64k", 65536);
    check_size("64K", 65536);
    check_size("64kb", 65536);
    check_size("64KB", 65536);
    check_size("10m", 10485760);
    check_size("10M", 10485760);
    check_size("256mb", 268435456);
    check_size("1g", 1073741824);
    check_size("4G", 4294967296ull);
    check_size("5b", 5);
    check_size("007", 7);
    check_size("18446744073709551615", UINT64_MAX);
    check_size("17179869183g", 17179869183ull * 1073741824ull);

    check_bad_size(NULL);
    check_bad_size("");
    check_bad_size("k");
    check_bad_size("12xyz");
    check_bad_size("12 k");
    check_bad_size("12k ");
    check_bad_size(" 12");
    check_bad_size("-1");
    check_bad_size("+1");
    check_bad_size("1.5m");
    check_bad_size("1kk");
    check_bad_size("1bb");
    check_bad_size("1kbb");
    check_bad_size("1t");
    check_bad_size("0x10");
    check_bad_size("18446744073709551616");
    check_bad_size("17179869184g"); /* 2^64 */
    check_bad_size("18014398509481984k");
}

static const char abc_sha256[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
static const char empty_sha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

static void test_keyhash(void)
{
    unsigned char h[SG_KEYHASH_LEN], parsed[SG_KEYHASH_LEN], other[SG_KEYHASH_LEN];
    char buf[72], expected[80];

    sg_keyhash_compute("abc", 3, h);
    memset(buf, 'X', sizeof(buf));
    sg_keyhash_format(h, buf);
    snprintf(expected, sizeof(expected), "sha256:%s", abc_sha256);
    CHECK_STR(buf, expected);
    CHECK_INT(strlen(buf), 71);
    CHECK_INT(h[0], 0xba);
    CHECK_INT(h[31], 0xad);

    /* the length is what is hashed */
    sg_keyhash_compute("abcdef", 3, other);
    CHECK(memcmp(h, other, SG_KEYHASH_LEN) == 0);
    sg_keyhash_compute("", 0, other);
    sg_keyhash_format(other, buf);
    snprintf(expected, sizeof(expected), "sha256:%s", empty_sha256);
    CHECK_STR(buf, expected);

    /* parse / format round trip */
    snprintf(expected, sizeof(expected), "sha256:%s", abc_sha256);
    memset(parsed, 0, sizeof(parsed));
    CHECK_INT(sg_keyhash_parse(expected, parsed), 0);
    CHECK(memcmp(parsed, h, SG_KEYHASH_LEN) == 0);
    CHECK_INT(sg_keyhash_equal(parsed, h), 1);
    sg_keyhash_format(parsed, buf);
    CHECK_STR(buf, expected);
    /* upper-case hex digits are accepted, formatting is lower-case */
    CHECK_INT(sg_keyhash_parse("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", parsed), 0);
    CHECK_INT(sg_keyhash_equal(parsed, h), 1);
    sg_keyhash_format(parsed, buf);
    CHECK_STR(buf, expected);

    static const char *const bad[] = {
        "",
        "sha256:",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "SHA256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "sha256 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "sha1:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015add",
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ag",
        "sha256:ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "sha256: a7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a ",
        "sha256:0x7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    };
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        memset(parsed, 0x5a, sizeof(parsed));
        int ret = sg_keyhash_parse(bad[i], parsed);
        if (ret != -1)
            fprintf(stderr, "  (hash \"%s\" accepted)\n", bad[i]);
        CHECK_INT(ret, -1);
    }

    /* equality looks at every byte */
    memcpy(other, h, SG_KEYHASH_LEN);
    CHECK_INT(sg_keyhash_equal(h, other), 1);
    other[0] ^= 1;
    CHECK_INT(sg_keyhash_equal(h, other), 0);
    other[0] ^= 1;
    other[31] ^= 0x80;
    CHECK_INT(sg_keyhash_equal(h, other), 0);
    other[31] ^= 0x80;
    other[16] = (unsigned char)(other[16] + 1);
    CHECK_INT(sg_keyhash_equal(h, other), 0);
}

static void test_keygen(void)
{
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char k1[64], k2[64], small[63];
    memset(k1, 'X', sizeof(k1));
    memset(k2, 'X', sizeof(k2));
    CHECK_INT(sg_keyhash_generate(k1, sizeof(k1)), 0);
    CHECK_INT(sg_keyhash_generate(k2, sizeof(k2)), 0);
    CHECK_INT(strlen(k1), 47);
    CHECK_INT(strlen(k2), 47);
    CHECK(strncmp(k1, "sgk_", 4) == 0);
    CHECK(strncmp(k2, "sgk_", 4) == 0);
    CHECK_INT(strspn(k1 + 4, b64url), 43);
    CHECK_INT(strspn(k2 + 4, b64url), 43);
    CHECK(strcmp(k1, k2) != 0);
    /* 256 bits = 42 full characters + 4 bits: the last character has its 2 low bits clear */
    CHECK(strchr("AEIMQUYcgkosw048", k1[46]) != NULL);
    CHECK(strchr("AEIMQUYcgkosw048", k2[46]) != NULL);
    /* keys hash to different values */
    unsigned char h1[SG_KEYHASH_LEN], h2[SG_KEYHASH_LEN];
    sg_keyhash_compute(k1, strlen(k1), h1);
    sg_keyhash_compute(k2, strlen(k2), h2);
    CHECK_INT(sg_keyhash_equal(h1, h2), 0);

    /* too small a buffer is refused, and nothing is written */
    memset(small, 'Y', sizeof(small));
    CHECK_INT(sg_keyhash_generate(small, sizeof(small)), -1);
    CHECK(small[0] == 'Y' && small[62] == 'Y');

    /* a few more keys: no duplicates */
    char seen[16][48];
    int dup = 0;
    for (int i = 0; i != 16; ++i) {
        char k[64];
        sg_keyhash_generate(k, sizeof(k));
        memcpy(seen[i], k, 48);
        for (int j = 0; j != i; ++j)
            if (strcmp(seen[i], seen[j]) == 0)
                dup = 1;
    }
    CHECK_INT(dup, 0);
}

static void test_tls_names(void)
{
    CHECK_INT(sg_tls_name_matches("example.com", "example.com"), 1);
    CHECK_INT(sg_tls_name_matches("Example.COM", "eXample.com"), 1);
    CHECK_INT(sg_tls_name_matches("a.example.com", "a.example.com"), 1);
    CHECK_INT(sg_tls_name_matches("a.example.com", "b.example.com"), 0);
    CHECK_INT(sg_tls_name_matches("example.com", "example.org"), 0);
    CHECK_INT(sg_tls_name_matches("example.com", "www.example.com"), 0);
    CHECK_INT(sg_tls_name_matches("www.example.com", "example.com"), 0);

    CHECK_INT(sg_tls_name_matches("*.example.com", "a.example.com"), 1);
    CHECK_INT(sg_tls_name_matches("*.example.com", "A.EXAMPLE.com"), 1);
    CHECK_INT(sg_tls_name_matches("*.Example.Com", "sandbox-1.example.com"), 1);
    CHECK_INT(sg_tls_name_matches("*.example.com", "example.com"), 0);
    CHECK_INT(sg_tls_name_matches("*.example.com", "a.b.example.com"), 0);
    CHECK_INT(sg_tls_name_matches("*.example.com", ".example.com"), 0);
    CHECK_INT(sg_tls_name_matches("*.example.com", "aexample.com"), 0);
    CHECK_INT(sg_tls_name_matches("*.example.com", "a.example.org"), 0);
    CHECK_INT(sg_tls_name_matches("*.example.com", "a.example.com.evil"), 0);
    CHECK_INT(sg_tls_name_matches("*.example.com", ""), 0);
    CHECK_INT(sg_tls_name_matches("*", "example"), 0);
    CHECK_INT(sg_tls_name_matches("a*.example.com", "ab.example.com"), 0); /* partial wildcards are not supported */
    CHECK_INT(sg_tls_name_matches("*.*.com", "a.b.com"), 0);
}

int main(void)
{
    test_duration();
    test_size();
    test_keyhash();
    test_keygen();
    test_tls_names();
    return TEST_DONE();
}
