/*
 * Feeds: access tokens (X-Sandgate-Token) to sg_port_token_verify and signed-route signatures to
 * sg_port_token_verify_route (config/port_token.h), with two fixed test secrets (rotation: the first signs, both
 * verify). The first byte picks the mode:
 * even: the input is a token for sandbox "sbx-1" port 8080 (and its first 12 bytes a route signature);
 * odd:  the input describes a tenant, a sandbox id, a port and an expiry; a token and a route signature are minted
 *       for them and then mutated in one byte (position and xor from the input).
 * Asserts beyond "no crash": a token that verifies is exactly the token minted for the tenant it names (random
 * inputs never verify otherwise: one token, one spelling); a minted token verifies, names its tenant, and fails for
 * any other sandbox id or port; a minted token or signature mutated in one byte never verifies.
 */
#include "config/port_token.h"
#include "store/store.h"
#include "fuzz.h"

static sg_port_token_conf_t conf;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    static const char *const ids[] = {"k1", "k0"};
    static const char *const secrets[] = {"fuzz-secret-one-0123456789abcdef0123", "fuzz-secret-zero-0123456789abcdef012"};
    conf.num_secrets = 2;
    conf.secrets = calloc(2, sizeof(*conf.secrets));
    for (size_t i = 0; i != 2; ++i) {
        conf.secrets[i].id = strdup(ids[i]);
        conf.secrets[i].len = strlen(secrets[i]);
        conf.secrets[i].secret = (unsigned char *)strdup(secrets[i]);
        if (sg_port_token_secret_prepare(conf.secrets + i) != 0)
            abort();
    }
    return 0;
}

static void fuzz_random(const uint8_t *data, size_t size)
{
    const char *token = (const char *)data;
    char tenant[SG_STORE_ID_MAX + 1], minted[SG_PORT_TOKEN_MAX + 1];
    if (sg_port_token_verify(&conf, token, size, "sbx-1", 5, 8080, tenant, sizeof(tenant)) == SG_PORT_TOKEN_OK) {
        FUZZ_CHECK(sg_port_token_mint(&conf, tenant, strlen(tenant), "sbx-1", 5, 8080, minted, sizeof(minted)) == SG_PORT_TOKEN_OK);
        FUZZ_CHECK(strlen(minted) == size && memcmp(minted, token, size) == 0);
    }
    if (size >= SG_ROUTE_SIG_LEN) {
        char sig[SG_ROUTE_SIG_LEN + 1];
        if (sg_port_token_verify_route(&conf, "acme-1", 6, "sbx-1", 5, 8080, "1abc", 4, token) == SG_PORT_TOKEN_OK) {
            FUZZ_CHECK(sg_port_token_sign_route(&conf, "acme-1", 6, "sbx-1", 5, 8080, "1abc", 4, sig) == SG_PORT_TOKEN_OK);
            FUZZ_CHECK(memcmp(sig, token, SG_ROUTE_SIG_LEN) == 0);
        }
    }
}

/* the next length-prefixed field of the input (length = one byte, capped at what is left) */
static const char *field(const uint8_t **data, size_t *size, size_t *len)
{
    size_t n = fuzz_take_byte(data, size);
    if (n > *size)
        n = *size;
    const char *f = (const char *)*data;
    *data += n;
    *size -= n;
    *len = n;
    return f;
}

static void fuzz_minted(const uint8_t *data, size_t size)
{
    size_t tenant_len, id_len, exp_len;
    const char *tenant_in = field(&data, &size, &tenant_len), *id = field(&data, &size, &id_len);
    const char *expires = field(&data, &size, &exp_len);
    uint16_t port = (uint16_t)(fuzz_take_byte(&data, &size) << 8 | fuzz_take_byte(&data, &size));
    uint8_t pos = fuzz_take_byte(&data, &size), flip = fuzz_take_byte(&data, &size);
    if (flip == 0)
        flip = 1;
    char token[SG_PORT_TOKEN_MAX + 1], tenant[SG_STORE_ID_MAX + 1];
    sg_port_token_result_t minted = sg_port_token_mint(&conf, tenant_in, tenant_len, id, id_len, port, token, sizeof(token));
    if (minted == SG_PORT_TOKEN_OK && tenant_len != 0 && memchr(tenant_in, '\0', tenant_len) == NULL) {
        size_t len = strlen(token);
        FUZZ_CHECK(sg_port_token_verify(&conf, token, len, id, id_len, port, tenant, sizeof(tenant)) == SG_PORT_TOKEN_OK);
        FUZZ_CHECK(strlen(tenant) == tenant_len && memcmp(tenant, tenant_in, tenant_len) == 0);
        FUZZ_CHECK(sg_port_token_verify(&conf, token, len, id, id_len, (uint16_t)(port + 1), tenant, sizeof(tenant)) !=
                   SG_PORT_TOKEN_OK);
        if (id_len != 0)
            FUZZ_CHECK(sg_port_token_verify(&conf, token, len, id, id_len - 1, port, tenant, sizeof(tenant)) != SG_PORT_TOKEN_OK);
        token[pos % len] ^= (char)flip;
        FUZZ_CHECK(sg_port_token_verify(&conf, token, len, id, id_len, port, tenant, sizeof(tenant)) != SG_PORT_TOKEN_OK);
    }
    char sig[SG_ROUTE_SIG_LEN + 1];
    if (sg_port_token_sign_route(&conf, tenant_in, tenant_len, id, id_len, port, expires, exp_len, sig) == SG_PORT_TOKEN_OK) {
        FUZZ_CHECK(strlen(sig) == SG_ROUTE_SIG_LEN);
        FUZZ_CHECK(sg_port_token_verify_route(&conf, tenant_in, tenant_len, id, id_len, port, expires, exp_len, sig) ==
                   SG_PORT_TOKEN_OK);
        FUZZ_CHECK(sg_port_token_verify_route(&conf, tenant_in, tenant_len, id, id_len, (uint16_t)(port + 1), expires, exp_len,
                                              sig) != SG_PORT_TOKEN_OK);
        sig[pos % SG_ROUTE_SIG_LEN] ^= (char)flip;
        FUZZ_CHECK(sg_port_token_verify_route(&conf, tenant_in, tenant_len, id, id_len, port, expires, exp_len, sig) !=
                   SG_PORT_TOKEN_OK);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t mode = fuzz_take_byte(&data, &size);
    if (mode & 1)
        fuzz_minted(data, size);
    else
        fuzz_random(data, size);
    return 0;
}
