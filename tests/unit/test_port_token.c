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

static sg_port_token_result_t vroute(const sg_port_token_conf_t *c, const char *tenant, const char *id, uint16_t port,
                                     const char *e36, const char *sig)
{
    return sg_port_token_verify_route(c, tenant, strlen(tenant), id, strlen(id), port, e36, strlen(e36), sig);
}

/* signed routes: every field is bound (tenant, id, port, expiry), every signature character counts, rotation */
static void test_signed_routes(void)
{
    sg_port_token_conf_t c = conf_of((const char *const[]){"k1"}, (const char *const[]){S1}, 1);
    sg_port_token_conf_t both = conf_of((const char *const[]){"k2", "k1"}, (const char *const[]){S2, S1}, 2);
    sg_port_token_conf_t next = conf_of((const char *const[]){"k2"}, (const char *const[]){S2}, 1);
    char sig[SG_ROUTE_SIG_LEN + 1], sig2[SG_ROUTE_SIG_LEN + 1];
    CHECK_INT(sg_port_token_sign_route(&c, "acme", 4, "sb-1", 4, 8080, "x2qxvk", 6, sig), SG_PORT_TOKEN_OK);
    CHECK_INT(strlen(sig), SG_ROUTE_SIG_LEN);
    for (size_t i = 0; i != SG_ROUTE_SIG_LEN; ++i)
        CHECK((sig[i] >= '0' && sig[i] <= '9') || (sig[i] >= 'a' && sig[i] <= 'z'));
    CHECK_INT(vroute(&c, "acme", "sb-1", 8080, "x2qxvk", sig), SG_PORT_TOKEN_OK);
    CHECK_INT(vroute(&c, "acmf", "sb-1", 8080, "x2qxvk", sig), SG_PORT_TOKEN_INVALID); /* another tenant owns it */
    CHECK_INT(vroute(&c, "acme", "sb-2", 8080, "x2qxvk", sig), SG_PORT_TOKEN_INVALID);
    CHECK_INT(vroute(&c, "acme", "sb-1", 8081, "x2qxvk", sig), SG_PORT_TOKEN_INVALID);
    CHECK_INT(vroute(&c, "acme", "sb-1", 8080, "x2qxvl", sig), SG_PORT_TOKEN_INVALID);
    /* fields are length-prefixed: moving a dash between tenant and id changes the MAC */
    CHECK_INT(sg_port_token_sign_route(&c, "ac", 2, "me", 2, 80, "1", 1, sig2), SG_PORT_TOKEN_OK);
    CHECK_INT(vroute(&c, "a", "cme", 80, "1", sig2), SG_PORT_TOKEN_INVALID);
    for (size_t i = 0; i != SG_ROUTE_SIG_LEN; ++i) {
        memcpy(sig2, sig, sizeof(sig2));
        sig2[i] = sig2[i] == 'a' ? 'b' : 'a';
        CHECK_INT(vroute(&c, "acme", "sb-1", 8080, "x2qxvk", sig2), SG_PORT_TOKEN_INVALID);
    }
    /* rotation: the first secret signs, all verify; a removed secret's signatures fail */
    CHECK_INT(vroute(&both, "acme", "sb-1", 8080, "x2qxvk", sig), SG_PORT_TOKEN_OK);
    CHECK_INT(vroute(&next, "acme", "sb-1", 8080, "x2qxvk", sig), SG_PORT_TOKEN_INVALID);
    CHECK_INT(sg_port_token_sign_route(&both, "acme", 4, "sb-1", 4, 8080, "x2qxvk", 6, sig2), SG_PORT_TOKEN_OK);
    CHECK_INT(vroute(&next, "acme", "sb-1", 8080, "x2qxvk", sig2), SG_PORT_TOKEN_OK);
    CHECK(sig2[0] != sig[0] || strcmp(sig2, sig) != 0);
    sg_port_token_conf_dispose(&c);
    sg_port_token_conf_dispose(&both);
    sg_port_token_conf_dispose(&next);
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
    /* the ports: section */
    write_file(path, sizeof(path), "ports-ok.yaml",
               BASE "ports:\n  sandbox_domain: sb.example.com\n  endpoint_form: host\n  max_signed_lifetime: 2h\n");
    if ((conf = load_ok(path)) != NULL) {
        CHECK_STR(conf->ports.sandbox_domain, "sb.example.com");
        CHECK_INT(conf->ports.endpoint_form, SG_ENDPOINT_FORM_HOST);
        CHECK_INT(conf->ports.max_signed_lifetime_s, 7200);
        CHECK_INT(conf->ports.renew_interval_ms, 60000);
        CHECK_STR(conf->ports.cookie_name, "sg_access");
        sg_config_release(conf);
    }
    EXPECT_ERRORS("ports-wild", BASE "ports:\n  sandbox_domain: \"*.sb.example.com\"\n",
                  "7: sandbox_domain must be a DNS name of lower-case letters, digits, '-' and '.' (without \"*.\"; the "
                  "wildcard certificate *.sb.example.com goes in listen[].tls.certificates)");
    EXPECT_ERRORS("ports-host", BASE "ports:\n  endpoint_form: host\n", "7: endpoint_form: host needs ports.sandbox_domain");
    EXPECT_ERRORS("ports-form", BASE "ports:\n  endpoint_form: both\n", "7: endpoint_form must be path or host");
    EXPECT_ERRORS("ports-cookie", BASE "ports:\n  cookie_name: \"a b\"\n", "7: cookie_name must be 1 to 64 of A-Z a-z 0-9 _ -");
}

int main(void)
{
    test_roundtrip_and_failures();
    test_rotation();
    test_signed_routes();
    test_config();
    return TEST_DONE();
}
