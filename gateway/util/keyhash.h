/*
 * API keys are only ever stored as SHA-256 hashes, written "sha256:<64 hex>".
 */
#ifndef SG_KEYHASH_H
#define SG_KEYHASH_H

#include <stddef.h>

#define SG_KEYHASH_LEN 32

void sg_keyhash_compute(const char *key, size_t len, unsigned char out[SG_KEYHASH_LEN]);
/* Parses "sha256:<hex>"; returns 0 on success. */
int sg_keyhash_parse(const char *s, unsigned char out[SG_KEYHASH_LEN]);
/* Writes "sha256:<hex>" (72 bytes incl. NUL) into buf. */
void sg_keyhash_format(const unsigned char hash[SG_KEYHASH_LEN], char buf[72]);
/* Constant-time comparison of two hashes; 1 if equal. */
int sg_keyhash_equal(const unsigned char a[SG_KEYHASH_LEN], const unsigned char b[SG_KEYHASH_LEN]);
/* Generates a random key "sgk_<43 base64url chars>" into buf (>= 64 bytes). Returns 0 on success. */
int sg_keyhash_generate(char *buf, size_t size);

#endif
