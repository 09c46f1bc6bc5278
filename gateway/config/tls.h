/*
 * TLS contexts: server side (certificates chosen by SNI, ALPN h2/http1.1, TLS 1.2+)
 * and client side (towards https backends, verifying against a CA file).
 */
#ifndef SG_TLS_H
#define SG_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>
#include "config/config.h"

/*
 * Builds the server SSL_CTX of a listener. The first certificate is the default;
 * the others are selected by SNI (exact names, then one-label wildcards, from the
 * certificate's SAN DNS names, or its CN when it has none). Returns NULL and
 * writes a message to err on failure. The caller owns the returned context; the
 * contexts of the other certificates are owned by it (freed with it). On failure
 * *failed_index is the index of the certificate that could not be loaded.
 */
SSL_CTX *sg_tls_server_ctx_new(const sg_listener_conf_t *l, char *err, size_t errlen, size_t *failed_index);

/* Client context verifying peers against ca_file (NULL = system store). */
SSL_CTX *sg_tls_client_ctx_new(const char *ca_file, char *err, size_t errlen);

/* 1 if the DNS name matches pattern (exact or "*.rest" for exactly one label), case-insensitive. */
int sg_tls_name_matches(const char *pattern, const char *name);

#endif
