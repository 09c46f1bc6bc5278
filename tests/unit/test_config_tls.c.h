/*
 * TLS configuration tests (certificates, SNI selection by handshake, load errors),
 * included by test_config.c (one program, like h2o's *.c.h parts): they share its helpers.
 */
/* ---- TLS ---- */

static int openssl_cert(const char *name, const char *cn, const char *san)
{
    char cmd[2048], crt[512], key[512];
    tmp_path(crt, sizeof(crt), name);
    snprintf(crt + strlen(crt), sizeof(crt) - strlen(crt), ".crt");
    tmp_path(key, sizeof(key), name);
    snprintf(key + strlen(key), sizeof(key) - strlen(key), ".key");
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj '/CN=%s' %s%s%s "
             "-keyout '%s' -out '%s' >/dev/null 2>&1",
             cn, san != NULL ? "-addext 'subjectAltName=" : "", san != NULL ? san : "", san != NULL ? "'" : "", key, crt);
    int ret = system(cmd);
    if (ret != 0)
        fprintf(stderr, "failed: %s\n", cmd);
    return ret;
}

/* handshakes over a BIO pair with SNI (NULL: none); returns the CN of the certificate the server chose */
static const char *handshake_cn(SSL_CTX *server_ctx, const char *sni, char *cn, size_t cnlen)
{
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL *c = SSL_new(cctx), *s = SSL_new(server_ctx);
    BIO *cb, *sb;
    strcpy(cn, "(handshake failed)");
    BIO_new_bio_pair(&cb, 0, &sb, 0);
    SSL_set_bio(c, cb, cb);
    SSL_set_bio(s, sb, sb);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    if (sni != NULL)
        SSL_set_tlsext_host_name(c, sni);
    int done_c = 0, done_s = 0;
    for (int i = 0; i != 50 && !(done_c && done_s); ++i) {
        if (!done_c) {
            int r = SSL_do_handshake(c);
            if (r == 1)
                done_c = 1;
            else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ && SSL_get_error(c, r) != SSL_ERROR_WANT_WRITE)
                break;
        }
        if (!done_s) {
            int r = SSL_do_handshake(s);
            if (r == 1)
                done_s = 1;
            else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ && SSL_get_error(s, r) != SSL_ERROR_WANT_WRITE)
                break;
        }
    }
    if (done_c && done_s) {
        X509 *peer = SSL_get1_peer_certificate(c);
        if (peer != NULL) {
            X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, (int)cnlen);
            X509_free(peer);
        }
    }
    ERR_clear_error();
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    return cn;
}

static void test_tls(void)
{
    if (openssl_cert("a", "a.example.com", "DNS:a.example.com,DNS:*.wild.example.com") != 0 ||
        openssl_cert("b", "b.example.com", NULL) != 0 || openssl_cert("c", "c.example.com", "DNS:c.example.com") != 0) {
        CHECK(!"openssl req failed");
        return;
    }
    char path[512], cn[256];
    write_file(path, sizeof(path), "tls.yaml",
               "listen:\n"
               "  - address: 127.0.0.1:0\n"
               "    tls:\n"
               "      certificates:\n"
               "        - cert: %s/a.crt\n"
               "          key: %s/a.key\n"
               "        - cert: %s/b.crt\n"
               "          key: %s/b.key\n"
               "      min_version: TLSv1.3\n"
               "  - address: 127.0.0.1:0\n"
               "    tls:\n"
               "      certificates: [{cert: %s/c.crt, key: %s/c.key}]\n" BASE_BACKENDS,
               sg_tmpdir, sg_tmpdir, sg_tmpdir, sg_tmpdir, sg_tmpdir, sg_tmpdir);
    sg_config_t *conf = load_ok(path);
    if (conf == NULL)
        return;
    CHECK_INT(conf->num_listeners, 2);
    sg_listener_conf_t *l = conf->listeners;
    CHECK(l->ssl_ctx != NULL);
    CHECK_INT(l->num_certs, 2);
    CHECK_INT(l->tls_min_version, TLS1_3_VERSION);
    char expected[512];
    snprintf(expected, sizeof(expected), "%s/b.crt", sg_tmpdir);
    CHECK_STR(l->certs[1].cert_file, expected);
    snprintf(expected, sizeof(expected), "%s/b.key", sg_tmpdir);
    CHECK_STR(l->certs[1].key_file, expected);
    CHECK(conf->listeners[1].ssl_ctx != NULL);
    CHECK(conf->listeners[1].ssl_ctx != l->ssl_ctx);
    CHECK_INT(conf->listeners[1].num_certs, 1);
    CHECK_INT(conf->listeners[1].tls_min_version, TLS1_2_VERSION);
    if (l->ssl_ctx != NULL) {
        CHECK_INT(SSL_CTX_get_min_proto_version(l->ssl_ctx), TLS1_3_VERSION);
        /* SNI: exact names, then wildcards (from the SAN), then the CN of a certificate without SAN; else the first */
        CHECK_STR(handshake_cn(l->ssl_ctx, "b.example.com", cn, sizeof(cn)), "b.example.com");
        CHECK_STR(handshake_cn(l->ssl_ctx, "B.Example.COM", cn, sizeof(cn)), "b.example.com");
        CHECK_STR(handshake_cn(l->ssl_ctx, "a.example.com", cn, sizeof(cn)), "a.example.com");
        CHECK_STR(handshake_cn(l->ssl_ctx, "x.wild.example.com", cn, sizeof(cn)), "a.example.com");
        CHECK_STR(handshake_cn(l->ssl_ctx, "unknown.example.org", cn, sizeof(cn)), "a.example.com");
        CHECK_STR(handshake_cn(l->ssl_ctx, NULL, cn, sizeof(cn)), "a.example.com");
        /* the default certificate is still served after a handshake that switched contexts */
        CHECK_STR(handshake_cn(l->ssl_ctx, "b.example.com", cn, sizeof(cn)), "b.example.com");
        CHECK_STR(handshake_cn(l->ssl_ctx, "a.example.com", cn, sizeof(cn)), "a.example.com");
    }
    if (conf->listeners[1].ssl_ctx != NULL)
        CHECK_STR(handshake_cn(conf->listeners[1].ssl_ctx, "b.example.com", cn, sizeof(cn)), "c.example.com");
    sg_config_release(conf);

    /* errors */
    char cfg[2048];
    snprintf(cfg, sizeof(cfg),
             "listen:\n"
             "  - address: 127.0.0.1:0\n"
             "    tls:\n"
             "      certificates:\n"
             "        - cert: %s/missing.crt\n"
             "          key: %s/a.key\n" BASE_BACKENDS,
             sg_tmpdir, sg_tmpdir);
    {
        char p[512], exp[1024];
        write_file(p, sizeof(p), "tls-missing.yaml", "%s", cfg);
        char *errors = load_errors(p);
        /* reported on the failing certificate entry */
        snprintf(exp, sizeof(exp), "5: cannot load certificate %s/missing.crt: *", sg_tmpdir);
        check_error_lines("tls-missing", p, errors, (const char *const[]){exp}, 1);
        free(errors);
    }
    snprintf(cfg, sizeof(cfg),
             "listen:\n"
             "  - address: 127.0.0.1:0\n"
             "    tls:\n"
             "      certificates:\n"
             "        - cert: %s/a.crt\n"
             "          key: %s/a.key\n"
             "        - cert: %s/b.crt\n"
             "          key: %s/missing.key\n" BASE_BACKENDS,
             sg_tmpdir, sg_tmpdir, sg_tmpdir, sg_tmpdir);
    {
        char p[512], exp[1024];
        write_file(p, sizeof(p), "tls-missing-key.yaml", "%s", cfg);
        char *errors = load_errors(p);
        /* the second certificate's entry (line 7), not the tls mapping */
        snprintf(exp, sizeof(exp), "7: cannot load private key %s/missing.key: *", sg_tmpdir);
        check_error_lines("tls-missing-key", p, errors, (const char *const[]){exp}, 1);
        free(errors);
    }
    snprintf(cfg, sizeof(cfg),
             "listen:\n"
             "  - address: 127.0.0.1:0\n"
             "    tls:\n"
             "      certificates:\n"
             "        - cert: %s/a.crt\n"
             "          key: %s/b.key\n" BASE_BACKENDS,
             sg_tmpdir, sg_tmpdir);
    {
        char p[512];
        write_file(p, sizeof(p), "tls-mismatch.yaml", "%s", cfg);
        char *errors = load_errors(p);
        /* OpenSSL refuses the key either when loading it or when checking it */
        char exp1[1024], exp2[1024];
        snprintf(exp1, sizeof(exp1), "%s:5: cannot load private key %s/b.key: ", p, sg_tmpdir);
        snprintf(exp2, sizeof(exp2), "%s:5: private key does not match certificate %s/a.crt: ", p, sg_tmpdir);
        CHECK_INT(count_lines(errors), 1);
        CHECK(strncmp(errors, exp1, strlen(exp1)) == 0 || strncmp(errors, exp2, strlen(exp2)) == 0);
        free(errors);
    }
    snprintf(cfg, sizeof(cfg),
             "listen:\n"
             "  - address: 127.0.0.1:0\n"
             "    tls:\n"
             "      certificates:\n"
             "        - cert: %s/a.crt\n"
             "          key: %s/a.key\n"
             "          chain: x\n"
             "      min_version: TLSv1.1\n" BASE_BACKENDS,
             sg_tmpdir, sg_tmpdir);
    EXPECT_ERRORS("tls-bad-keys", cfg, "7: unknown key 'chain' in a certificate",
                  "8: min_version must be TLSv1.2 or TLSv1.3, got 'TLSv1.1'");
    EXPECT_ERRORS("tls-no-certs", "listen:\n  - address: 127.0.0.1:0\n    tls:\n      certificates: []\n" BASE_BACKENDS,
                  "4: tls.certificates must be a non-empty list of {cert, key}");
    EXPECT_ERRORS("tls-no-key", "listen:\n  - address: 127.0.0.1:0\n    tls:\n      certificates:\n        - cert: /x.crt\n",
                  "5: a certificate needs both 'cert' and 'key'");
    EXPECT_ERRORS("tls-scalar", "listen:\n  - address: 127.0.0.1:0\n    tls: on\n", "3: tls must be a mapping");
}

/* the shipped example: only its files and hosts (absent here) may be reported */
static void test_shipped_example(void)
{
    const char *file = SG_SOURCE_DIR "/conf/sandgate.yaml";
    if (access(file, R_OK) != 0) {
        fprintf(stderr, "skipping: %s not readable\n", file);
        return;
    }
    setenv("SANDBOX_B_KEY", "unit-test", 1);
    char *errors = NULL;
    sg_config_t *conf = sg_config_load(file, &errors);
    if (conf != NULL) {
        /* everything it names exists on this machine */
        CHECK_INT(conf->num_backends, 2);
        sg_config_release(conf);
        unsetenv("SANDBOX_B_KEY");
        return;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int resolvable = getaddrinfo("sandbox-b.internal", "8443", &hints, &res) == 0;
    if (res != NULL)
        freeaddrinfo(res);
    struct {
        int present; /* the error must be there */
        int line;
        char prefix[256];
        int seen;
    } allowed[] = {
        {access("/etc/sandgate/tls/gateway.crt", R_OK) != 0, line_of(file, "- cert: /etc/sandgate/tls/gateway.crt"),
         "cannot load certificate /etc/sandgate/tls/gateway.crt: "},
        {!resolvable, line_of(file, "url: https://sandbox-b.internal:8443"), "cannot resolve 'sandbox-b.internal:8443': "},
        {access("/etc/sandgate/tls/backend-ca.pem", R_OK) != 0, line_of(file, "tls_ca: /etc/sandgate/tls/backend-ca.pem"),
         "cannot load CA file /etc/sandgate/tls/backend-ca.pem: "},
        {access("/var/log/sandgate", W_OK) != 0, line_of(file, "path: /var/log/sandgate/access.log"),
         "path: cannot open /var/log/sandgate/access.log: "},
    };
    size_t n = count_lines(errors);
    for (size_t i = 0; i != n; ++i) {
        char line[1024];
        nth_line(errors, i, line, sizeof(line));
        int ok = 0;
        for (size_t j = 0; j != sizeof(allowed) / sizeof(allowed[0]); ++j) {
            char exp[1024];
            snprintf(exp, sizeof(exp), "%s:%d: %s", file, allowed[j].line, allowed[j].prefix);
            if (strncmp(line, exp, strlen(exp)) == 0) {
                allowed[j].seen = 1;
                ok = 1;
            }
        }
        if (!ok)
            fprintf(stderr, "  unexpected error in the shipped config: %s\n", line);
        CHECK(ok);
    }
    for (size_t j = 0; j != sizeof(allowed) / sizeof(allowed[0]); ++j) {
        if (allowed[j].present && !allowed[j].seen)
            fprintf(stderr, "  missing error in the shipped config: line %d: %s\n", allowed[j].line, allowed[j].prefix);
        CHECK(!allowed[j].present || allowed[j].seen);
    }
    free(errors);
    unsetenv("SANDBOX_B_KEY");
}
