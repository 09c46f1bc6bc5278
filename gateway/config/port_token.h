/*
 * Per-sandbox access tokens for port traffic (issue 7).
 *
 * The Python SDK (and so the Dify plugin) sends the tenant key only to the lifecycle API; toward execd and a
 * sandbox's own ports it sends only what `Endpoint.headers` told it. So `GET /v1/sandboxes/{id}/endpoints/{port}`
 * answers `headers: {"X-Sandgate-Token": <token>}` and port routes accept that token instead of the key.
 *
 * A token is stateless and verified locally (no store round trip):
 *
 *     sgt1.<key id>.<base64url(tenant)>.<port>.<base64url(HMAC-SHA256(secret, message))>
 *
 * where message binds the format version, key id, tenant, sandbox id and port (length-prefixed fields, so no two
 * tuples share a message). The sandbox id is not in the token: it is taken from the route, so a token used on
 * another sandbox or port fails the MAC. The MAC is compared in constant time (CRYPTO_memcmp). A valid token
 * only names a tenant; the owner check that follows (ownership.c) proves the sandbox still belongs to it.
 *
 * Secrets: the config's `port_tokens.secrets` (first signs, all verify; reload applies), else the process secret:
 * kept in Redis (SET NX, shared by every gateway on that store) when Redis is configured, else generated at start.
 */
#ifndef SG_PORT_TOKEN_H
#define SG_PORT_TOKEN_H

#include <stddef.h>
#include <stdint.h>
#include "store/store.h"
#include "util/router.h"

#define SG_PORT_TOKEN_HEADER "X-Sandgate-Token"
#define SG_PORT_TOKEN_HEADER_LC "x-sandgate-token"
#define SG_PORT_TOKEN_SECRET_MIN 32
#define SG_PORT_TOKEN_KID_MAX 32
#define SG_PORT_TOKEN_MAX 320 /* "sgt1." + kid + base64url(tenant <= 128) + port + MAC, with room */

typedef struct st_sg_port_token_secret_t {
    char *id;
    unsigned char *secret;
    size_t len;
    struct st_sg_port_token_keyed_t *keyed; /* HMAC state after the padded key, so a MAC costs two hash finals */
} sg_port_token_secret_t;

typedef struct st_sg_port_token_conf_t {
    sg_port_token_secret_t *secrets; /* [0] signs; all verify; none: the process secret */
    size_t num_secrets;
} sg_port_token_conf_t;

typedef enum en_sg_port_token_result_t {
    SG_PORT_TOKEN_OK = 0,
    SG_PORT_TOKEN_INVALID,    /* malformed, tampered, other sandbox/port, unknown key id: all alike */
    SG_PORT_TOKEN_UNAVAILABLE /* no secret yet (the shared one is still being read from Redis) */
} sg_port_token_result_t;

/*
 * Sets up the process secret once at start: with Redis, read it (or create it, SET NX) from the store, retrying in
 * the background until Redis answers; without, generate one. Logs which, never the secret. conf_has_secrets only
 * chooses whether to say that tokens will not survive a restart.
 */
void sg_port_token_start(const sg_store_conf_t *store, int conf_has_secrets);
void sg_port_token_stop(void);
/* For tests: installs a process secret directly (as if read from the store). */
void sg_port_token_set_process_secret(const char *kid, const unsigned char *secret, size_t len);

/* Mints the token for (tenant, sandbox id, port) into out (NUL-terminated); returns OK or UNAVAILABLE. */
sg_port_token_result_t sg_port_token_mint(const sg_port_token_conf_t *conf, const char *tenant, size_t tenant_len, const char *id,
                                          size_t id_len, uint16_t port, char *out, size_t outlen);
/*
 * Verifies token for the sandbox id and port of the route. On OK, *tenant_out (tenant_cap bytes, NUL-terminated)
 * names the tenant the token was minted for. Costs one HMAC; reads no store.
 */
sg_port_token_result_t sg_port_token_verify(const sg_port_token_conf_t *conf, const char *token, size_t token_len, const char *id,
                                            size_t id_len, uint16_t port, char *tenant_out, size_t tenant_cap);

/*
 * Signed routes (docs/ARCHITECTURE.md, "Signed URLs"): the OSEP-0011 shape "{id}-{port}-{expires_b36}-{sig}" with
 * sig = one key character (which secret) + 11 characters (55 bits) of HMAC-SHA256 over the tenant, id, port and
 * expires_b36 with the same secrets as the tokens. 55 bits because a host label holds 63 bytes and a uuid id takes
 * 36; a forgery can only be tried online against the gateway. The tenant is not in the URL: the verifier takes it
 * from the sandbox's owner record. Expiry is the caller's to check.
 */
sg_port_token_result_t sg_port_token_sign_route(const sg_port_token_conf_t *conf, const char *tenant, size_t tenant_len,
                                                const char *id, size_t id_len, uint16_t port, const char *expires_b36,
                                                size_t expires_len, char out[SG_ROUTE_SIG_LEN + 1]);
/* OK when sig (SG_ROUTE_SIG_LEN chars) was made by one of the secrets for exactly these fields */
sg_port_token_result_t sg_port_token_verify_route(const sg_port_token_conf_t *conf, const char *tenant, size_t tenant_len,
                                                  const char *id, size_t id_len, uint16_t port, const char *expires_b36,
                                                  size_t expires_len, const char *sig);

/* Prepares s for use (the keyed HMAC state); returns 0, or -1 when OpenSSL fails. */
int sg_port_token_secret_prepare(sg_port_token_secret_t *s);
void sg_port_token_conf_dispose(sg_port_token_conf_t *conf);

#endif
