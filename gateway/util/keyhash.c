#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include "util/keyhash.h"
#include "util/urlenc.h"

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void sg_keyhash_compute(const char *key, size_t len, unsigned char out[SG_KEYHASH_LEN])
{
    /* SHA256() of OpenSSL 3 looks the algorithm up (lock + table) on every call: fetch it once */
    pthread_once(&sha256_once, fetch_sha256);
    if (sha256_md == NULL || EVP_Digest(key, len, out, NULL, sha256_md, NULL) != 1)
        SHA256((const unsigned char *)key, len, out);
}

int sg_keyhash_parse(const char *s, unsigned char out[SG_KEYHASH_LEN])
{
    if (strncmp(s, "sha256:", 7) != 0 || strlen(s + 7) != SG_KEYHASH_LEN * 2)
        return -1;
    s += 7;
    for (size_t i = 0; i != SG_KEYHASH_LEN; ++i) {
        int hi = sg_hexval(s[2 * i]), lo = sg_hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

void sg_keyhash_format(const unsigned char hash[SG_KEYHASH_LEN], char buf[72])
{
    memcpy(buf, "sha256:", 7);
    for (size_t i = 0; i != SG_KEYHASH_LEN; ++i)
        sprintf(buf + 7 + 2 * i, "%02x", hash[i]);
}

int sg_keyhash_equal(const unsigned char a[SG_KEYHASH_LEN], const unsigned char b[SG_KEYHASH_LEN])
{
    return CRYPTO_memcmp(a, b, SG_KEYHASH_LEN) == 0;
}

int sg_keyhash_generate(char *buf, size_t size)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char rnd[32];
    if (size < 64 || RAND_bytes(rnd, sizeof(rnd)) != 1)
        return -1;
    char *p = buf;
    memcpy(p, "sgk_", 4);
    p += 4;
    /* 32 bytes -> 43 base64url chars (256 bits, the last char carries 4 bits) */
    unsigned acc = 0, bits = 0;
    for (size_t i = 0; i != sizeof(rnd); ++i) {
        acc = (acc << 8) | rnd[i];
        bits += 8;
        while (bits >= 6) {
            *p++ = b64[(acc >> (bits - 6)) & 63];
            bits -= 6;
        }
    }
    if (bits != 0)
        *p++ = b64[(acc << (6 - bits)) & 63];
    *p = '\0';
    return 0;
}
