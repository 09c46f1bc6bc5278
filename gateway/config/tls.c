#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <h2o.h>
#include <h2o/http2.h>
#include "config/tls.h"

typedef struct st_sni_entry_t {
    char *name;
    SSL_CTX *ctx;
} sni_entry_t;

typedef struct st_sni_table_t {
    sni_entry_t *entries;
    size_t num;
    SSL_CTX **ctxs; /* additional contexts owned by the table */
    size_t num_ctxs;
} sni_table_t;

static int sni_index = -1;

static void ssl_error(char *err, size_t errlen, const char *what, const char *file)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e != 0)
        ERR_error_string_n(e, buf, sizeof(buf));
    snprintf(err, errlen, "%s %s: %s", what, file, buf[0] != '\0' ? buf : "unknown error");
    ERR_clear_error();
}

int sg_tls_name_matches(const char *pattern, const char *name)
{
    if (strcasecmp(pattern, name) == 0)
        return 1;
    if (pattern[0] == '*' && pattern[1] == '.') {
        const char *dot = strchr(name, '.');
        return dot != NULL && dot != name && strcasecmp(pattern + 1, dot) == 0;
    }
    return 0;
}

static void free_sni_table(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    sni_table_t *t = ptr;
    if (t == NULL)
        return;
    for (size_t i = 0; i != t->num; ++i)
        free(t->entries[i].name);
    for (size_t i = 0; i != t->num_ctxs; ++i)
        SSL_CTX_free(t->ctxs[i]);
    free(t->entries);
    free(t->ctxs);
    free(t);
}

static int on_servername(SSL *ssl, int *ad, void *arg)
{
    (void)ad, (void)arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    sni_table_t *t = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), sni_index);
    if (name == NULL || t == NULL)
        return SSL_TLSEXT_ERR_OK;
    /* exact names win over wildcards */
    for (int pass = 0; pass != 2; ++pass) {
        for (size_t i = 0; i != t->num; ++i) {
            const char *p = t->entries[i].name;
            int is_wild = p[0] == '*';
            if (is_wild != pass)
                continue;
            if (sg_tls_name_matches(p, name)) {
                if (t->entries[i].ctx != SSL_get_SSL_CTX(ssl))
                    SSL_set_SSL_CTX(ssl, t->entries[i].ctx);
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_OK; /* unknown name: default certificate */
}

static SSL_CTX *new_cert_ctx(const sg_listener_conf_t *l, const sg_tls_cert_conf_t *c, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        ssl_error(err, errlen, "cannot create TLS context for", c->cert_file);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, l->tls_min_version);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"sandgate", 8);
    /* an idle TLS connection (a kept-alive client, a WebSocket) keeps no 16 KiB record buffers, as in nginx: 34 KiB per
     * idle WSS tunnel otherwise (abuse/websockets.test.js) */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, c->cert_file) != 1) {
        ssl_error(err, errlen, "cannot load certificate", c->cert_file);
        goto Error;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, c->key_file, SSL_FILETYPE_PEM) != 1) {
        ssl_error(err, errlen, "cannot load private key", c->key_file);
        goto Error;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ssl_error(err, errlen, "private key does not match certificate", c->cert_file);
        goto Error;
    }
    h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
    return ctx;
Error:
    SSL_CTX_free(ctx);
    return NULL;
}

/* returns -1 when out of memory (the table is left as it was) */
static int add_entry(sni_table_t *t, const char *name, size_t len, SSL_CTX *ctx)
{
    void *grown = realloc(t->entries, sizeof(*t->entries) * (t->num + 1));
    if (grown == NULL)
        return -1;
    t->entries = grown;
    if ((t->entries[t->num].name = strndup(name, len)) == NULL)
        return -1;
    t->entries[t->num].ctx = ctx;
    t->num++;
    return 0;
}

/* registers the DNS names a certificate is valid for; -1 when out of memory */
static int add_cert_names(sni_table_t *t, SSL_CTX *ctx)
{
    X509 *x = SSL_CTX_get0_certificate(ctx);
    GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int found = 0, ret = 0;
    if (sans != NULL) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans) && ret == 0; ++i) {
            GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
            if (gn->type == GEN_DNS) {
                ret = add_entry(t, (const char *)ASN1_STRING_get0_data(gn->d.dNSName), ASN1_STRING_length(gn->d.dNSName), ctx);
                found = 1;
            }
        }
        GENERAL_NAMES_free(sans);
    }
    if (!found) {
        char cn[256];
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)) > 0)
            ret = add_entry(t, cn, strlen(cn), ctx);
    }
    return ret;
}

SSL_CTX *sg_tls_server_ctx_new(const sg_listener_conf_t *l, char *err, size_t errlen, size_t *failed_index)
{
    *failed_index = 0;
    if (sni_index < 0)
        sni_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_sni_table);
    SSL_CTX *def = new_cert_ctx(l, &l->certs[0], err, errlen);
    if (def == NULL)
        return NULL;
    sni_table_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        goto NoMemory;
    SSL_CTX_set_ex_data(def, sni_index, t); /* freed with def from now on */
    if (add_cert_names(t, def) != 0)
        goto NoMemory;
    for (size_t i = 1; i < l->num_certs; ++i) {
        SSL_CTX *ctx = new_cert_ctx(l, &l->certs[i], err, errlen);
        if (ctx == NULL) {
            *failed_index = i;
            SSL_CTX_free(def);
            return NULL;
        }
        SSL_CTX **grown = realloc(t->ctxs, sizeof(*t->ctxs) * (t->num_ctxs + 1));
        if (grown == NULL) {
            SSL_CTX_free(ctx);
            goto NoMemory;
        }
        t->ctxs = grown;
        t->ctxs[t->num_ctxs++] = ctx;
        if (add_cert_names(t, ctx) != 0)
            goto NoMemory;
    }
    SSL_CTX_set_tlsext_servername_callback(def, on_servername);
    return def;
NoMemory:
    snprintf(err, errlen, "out of memory while loading the certificates");
    SSL_CTX_free(def);
    return NULL;
}

SSL_CTX *sg_tls_client_ctx_new(const char *ca_file, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        ssl_error(err, errlen, "cannot create TLS client context", "");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    int ok = ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        ssl_error(err, errlen, "cannot load CA file", ca_file != NULL ? ca_file : "(system)");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}
