/*
 * Port access tokens (gateway/port_token.h): mint then verify; every way a token must fail (another sandbox, another
 * port, another tenant written in clear, a flipped MAC bit, an unknown key id, a removed secret, malformed text);
 * rotation (first secret signs, all verify); the process secret; and the `port_tokens:` config section with its
 * file:line errors (secrets shorter than 32 bytes, bad or duplicate ids).
 */
#include <stdlib.h>
#include <string.h>
#include "config/config.h"
#include "config/port_token.h"
#include "util.h"

#define S1 "0123456789abcdef0123456789abcdef-one"
#define S2 "fedcba9876543210fedcba9876543210-two"

static sg_port_token_conf_t conf_of(const char *const *ids, const char *const *secrets, size_t n)
{
    sg_port_token_conf_t c = {calloc(n + 1, sizeof(sg_port_token_secret_t)), n};
    for (size_t i = 0; i != n; ++i) {
        c.secrets[i].id = strdup(ids[i]);
        c.secrets[i].len = strlen(secrets[i]);
        c.secrets[i].secret = (unsigned char *)strdup(secrets[i]);
        CHECK_INT(sg_port_token_secret_prepare(c.secrets + i), 0);
    }
    return c;
}

static sg_port_token_result_t verify(const sg_port_token_conf_t *c, const char *token, const char *id, uint16_t port, char *tenant)
{
    return sg_port_token_verify(c, token, strlen(token), id, strlen(id), port, tenant, SG_STORE_ID_MAX + 1);
}

static void test_roundtrip_and_failures(void)
{
    sg_port_token_conf_t c = conf_of((const char *const[]){"k1"}, (const char *const[]){S1}, 1);
    char tok[SG_PORT_TOKEN_MAX + 1], tenant[SG_STORE_ID_MAX + 1];
    CHECK_INT(sg_port_token_mint(&c, "acme", 4, "sbx-1", 5, 44772, tok, sizeof(tok)), SG_PORT_TOKEN_OK);
    CHECK(strncmp(tok, "sgt1.k1.", 8) == 0);
    CHECK_INT(strlen(strrchr(tok, '.') + 1), 43); /* full-length MAC */
    CHECK_INT(verify(&c, tok, "sbx-1", 44772, tenant), SG_PORT_TOKEN_OK);
    CHECK_STR(tenant, "acme");
    /* bound to the sandbox and the port */
    CHECK_INT(verify(&c, tok, "sbx-2", 44772, tenant), SG_PORT_TOKEN_INVALID);
    CHECK_INT(verify(&c, tok, "sbx-1", 8080, tenant), SG_PORT_TOKEN_INVALID);
    /* the tenant is in clear but covered by the MAC: rewriting it fails */
    char other[SG_PORT_TOKEN_MAX + 1], o2[SG_PORT_TOKEN_MAX + 1];
    CHECK_INT(sg_port_token_mint(&c, "evil", 4, "sbx-9", 5, 44772, o2, sizeof(o2)), SG_PORT_TOKEN_OK);
    /* splice evil's tenant field into acme's token */
    const char *t1 = strchr(tok + 8, '.'), *t2 = strchr(o2 + 8, '.');
    snprintf(other, sizeof(other), "sgt1.k1.%.*s%s", (int)(t2 - (o2 + 8)), o2 + 8, t1);
    CHECK(strcmp(other, tok) != 0);
    CHECK_INT(verify(&c, other, "sbx-1", 44772, tenant), SG_PORT_TOKEN_INVALID);
    /* every single-character change of the MAC fails */
    size_t len = strlen(tok);
    for (size_t i = len - 43; i != len; ++i) {
        strcpy(other, tok);
        other[i] = other[i] == 'A' ? 'B' : 'A';
        CHECK_INT(verify(&c, other, "sbx-1", 44772, tenant), SG_PORT_TOKEN_INVALID);
    }
    /* unknown key id (same MAC: the id is covered too) */
    strcpy(other, tok);
    other[6] = '2';
    CHECK_INT(verify(&c, other, "sbx-1", 44772, tenant), SG_PORT_TOKEN_INVALID);
    /* malformed */
    static const char *const bad[] = {"",
                                      "sgt1",
                                      "sgt1.k1",
                                      "sgt2.k1.YWNtZQ.44772.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                      "sgt1..YWNtZQ.44772.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                      "sgt1.k1.YWNtZQ.044772.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                      "sgt1.k1.YWNt*Q.44772.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i)
        CHECK_INT(verify(&c, bad[i], "sbx-1", 44772, tenant), SG_PORT_TOKEN_INVALID);
    /* a trailing field or a truncated MAC */
    snprintf(other, sizeof(other), "%s.x", tok);
    CHECK_INT(verify(&c, other, "sbx-1", 44772, tenant), SG_PORT_TOKEN_INVALID);
    strcpy(other, tok);
    other[len - 1] = '\0';
    CHECK_INT(verify(&c, other, "sbx-1", 44772, tenant), SG_PORT_TOKEN_INVALID);
    sg_port_token_conf_dispose(&c);
}

static void test_rotation(void)
{
    sg_port_token_conf_t old = conf_of((const char *const[]){"k1"}, (const char *const[]){S1}, 1);
    sg_port_token_conf_t both = conf_of((const char *const[]){"k2", "k1"}, (const char *const[]){S2, S1}, 2);
    sg_port_token_conf_t next = conf_of((const char *const[]){"k2"}, (const char *const[]){S2}, 1);
    /* the same id with another secret (a secret replaced in place): old tokens fail */
    sg_port_token_conf_t replaced = conf_of((const char *const[]){"k1"}, (const char *const[]){S2}, 1);
    char t_old[SG_PORT_TOKEN_MAX + 1], t_new[SG_PORT_TOKEN_MAX + 1], tenant[SG_STORE_ID_MAX + 1];
    CHECK_INT(sg_port_token_mint(&old, "acme", 4, "s", 1, 80, t_old, sizeof(t_old)), SG_PORT_TOKEN_OK);
    CHECK_INT(sg_port_token_mint(&both, "acme", 4, "s", 1, 80, t_new, sizeof(t_new)), SG_PORT_TOKEN_OK);
    CHECK(strncmp(t_new, "sgt1.k2.", 8) == 0); /* the first one signs */
    CHECK_INT(verify(&both, t_old, "s", 80, tenant), SG_PORT_TOKEN_OK);
    CHECK_INT(verify(&both, t_new, "s", 80, tenant), SG_PORT_TOKEN_OK);
    CHECK_INT(verify(&next, t_old, "s", 80, tenant), SG_PORT_TOKEN_INVALID);
    CHECK_INT(verify(&next, t_new, "s", 80, tenant), SG_PORT_TOKEN_OK);
    CHECK_INT(verify(&replaced, t_old, "s", 80, tenant), SG_PORT_TOKEN_INVALID);
    /* config secrets present: the process secret does not verify, and vice versa */
    sg_port_token_conf_t none = {NULL, 0};
    CHECK_INT(sg_port_token_mint(&none, "acme", 4, "s", 1, 80, t_new, sizeof(t_new)), SG_PORT_TOKEN_UNAVAILABLE);
    CHECK_INT(verify(&none, t_old, "s", 80, tenant), SG_PORT_TOKEN_UNAVAILABLE); /* no process secret yet */
    sg_port_token_set_process_secret("p1", (const unsigned char *)S1, 32);
    CHECK_INT(sg_port_token_mint(&none, "acme", 4, "s", 1, 80, t_new, sizeof(t_new)), SG_PORT_TOKEN_OK);
    CHECK(strncmp(t_new, "sgt1.p1.", 8) == 0);
    CHECK_INT(verify(&none, t_new, "s", 80, tenant), SG_PORT_TOKEN_OK);
    CHECK_INT(verify(&none, t_old, "s", 80, tenant), SG_PORT_TOKEN_INVALID);
    CHECK_INT(verify(&both, t_new, "s", 80, tenant), SG_PORT_TOKEN_INVALID);
    sg_port_token_conf_dispose(&old);
    sg_port_token_conf_dispose(&both);
    sg_port_token_conf_dispose(&next);
    sg_port_token_conf_dispose(&replaced);
}

#define BASE SG_TEST_BASE_CONF

static void test_config(void)
{
    char path[512];
    write_file(path, sizeof(path), "pt-ok.yaml",
               BASE "port_tokens:\n  secrets:\n    - id: new\n      secret: \"" S2 "\"\n    - id: old\n      secret: \"" S1 "\"\n");
    sg_config_t *conf = load_ok(path);
    if (conf != NULL) {
        CHECK_INT(conf->port_tokens.num_secrets, 2);
        CHECK_STR(conf->port_tokens.secrets[0].id, "new");
        CHECK_INT(conf->port_tokens.secrets[1].len, strlen(S1));
        sg_config_release(conf);
    }
    EXPECT_ERRORS("pt-short", BASE "port_tokens:\n  secrets:\n    - id: k1\n      secret: short-secret-31-bytes-long-xxxx\n",
                  "9: port token secret 'k1' must be at least 32 bytes long (e.g. `openssl rand -base64 48`)");
    EXPECT_ERRORS("pt-no-secret", BASE "port_tokens:\n  secrets:\n    - id: k1\n",
                  "8: port token secret 'k1' must be at least 32 bytes long (e.g. `openssl rand -base64 48`)");
    EXPECT_ERRORS("pt-bad-id", BASE "port_tokens:\n  secrets:\n    - id: a.b\n      secret: \"" S1 "\"\n",
                  "8: a port token secret needs an 'id' of 1 to 32 characters among A-Z a-z 0-9 - _");
    EXPECT_ERRORS("pt-dup",
                  BASE "port_tokens:\n  secrets:\n    - id: k\n      secret: \"" S1 "\"\n    - id: k\n      secret: \"" S2 "\"\n",
                  "10: port token secret id 'k' is listed twice");
    EXPECT_ERRORS("pt-unknown", BASE "port_tokens:\n  secret: x\n", "7: unknown key 'secret' in port_tokens");
    EXPECT_ERRORS("pt-list", BASE "port_tokens:\n  secrets: abc\n", "7: port_tokens.secrets must be a list of {id, secret}");
}

int main(void)
{
    test_roundtrip_and_failures();
    test_rotation();
    test_config();
    return TEST_DONE();
}
