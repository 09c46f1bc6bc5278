/*
 * Per-sandbox access tokens for port traffic: minting, verification and the process secret (port_token.h).
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include "config/config.h"
#include "util/log.h"
#include "config/port_token.h"
#include "util/router.h"

#define VERSION "sgt1"
#define MAC_B64_LEN 43 /* 32 bytes, base64url without padding */
#define PROCESS_SECRET_LEN 32
#define STORE_KEY "port_token_secret"

/* HMAC-SHA256 (RFC 2104) with the two padded-key blocks hashed once per secret: OpenSSL 3's one-shot HMAC()
 * fetches the algorithm and re-keys on every call, which cost ~2.5 us against ~0.4 us for this */
struct st_sg_port_token_keyed_t {
    EVP_MD_CTX *inner, *outer;
};

static void keyed_free(struct st_sg_port_token_keyed_t *k)
{
    if (k == NULL)
        return;
    EVP_MD_CTX_free(k->inner);
    EVP_MD_CTX_free(k->outer);
    free(k);
}

static struct st_sg_port_token_keyed_t *keyed_new(const unsigned char *secret, size_t len)
{
    static EVP_MD *md; /* fetched once, kept for the process */
    unsigned char key[64] = {0}, ipad[64], opad[64];
    struct st_sg_port_token_keyed_t *k = calloc(1, sizeof(*k));
    if (len > sizeof(key)) {
        unsigned hl = 0;
        if (EVP_Digest(secret, len, key, &hl, EVP_sha256(), NULL) != 1)
            goto Error;
    } else {
        memcpy(key, secret, len);
    }
    for (size_t i = 0; i != 64; ++i) {
        ipad[i] = key[i] ^ 0x36;
        opad[i] = key[i] ^ 0x5c;
    }
    if (__atomic_load_n(&md, __ATOMIC_ACQUIRE) == NULL) {
        EVP_MD *m = EVP_MD_fetch(NULL, "SHA256", NULL), *expected = NULL;
        if (m == NULL)
            goto Error;
        if (!__atomic_compare_exchange_n(&md, &expected, m, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            EVP_MD_free(m);
    }
    if (k == NULL || (k->inner = EVP_MD_CTX_new()) == NULL || (k->outer = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestInit_ex(k->inner, md, NULL) != 1 || EVP_DigestUpdate(k->inner, ipad, 64) != 1 ||
        EVP_DigestInit_ex(k->outer, md, NULL) != 1 || EVP_DigestUpdate(k->outer, opad, 64) != 1)
        goto Error;
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(ipad, sizeof(ipad));
    OPENSSL_cleanse(opad, sizeof(opad));
    return k;
Error:
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(ipad, sizeof(ipad));
    OPENSSL_cleanse(opad, sizeof(opad));
    keyed_free(k);
    return NULL;
}

static int keyed_mac(const struct st_sg_port_token_keyed_t *k, const unsigned char *msg, size_t len, unsigned char out[32])
{
    unsigned char h[32];
    unsigned hl = 0;
    int ok = 0;
    EVP_MD_CTX *t = EVP_MD_CTX_new();
    if (t != NULL && EVP_MD_CTX_copy_ex(t, k->inner) == 1 && EVP_DigestUpdate(t, msg, len) == 1 &&
        EVP_DigestFinal_ex(t, h, &hl) == 1 && EVP_MD_CTX_copy_ex(t, k->outer) == 1 && EVP_DigestUpdate(t, h, 32) == 1 &&
        EVP_DigestFinal_ex(t, out, &hl) == 1)
        ok = 1;
    EVP_MD_CTX_free(t);
    return ok ? 0 : -1;
}

int sg_port_token_secret_prepare(sg_port_token_secret_t *s)
{
    keyed_free(s->keyed);
    return (s->keyed = keyed_new(s->secret, s->len)) != NULL ? 0 : -1;
}

/* The process secret: written once (at start, or by the loader thread), then only read. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int loaded; /* atomic: kid and secret are set */
    char kid[SG_PORT_TOKEN_KID_MAX + 1];
    unsigned char secret[PROCESS_SECRET_LEN];
    struct st_sg_port_token_keyed_t *keyed;
    pthread_t loader;
    int loader_running, stopping;
    sg_store_conf_t store; /* copy for the loader thread */
} proc = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64url_encode(const unsigned char *in, size_t len, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64chars[v >> 18 & 63];
        out[o++] = b64chars[v >> 12 & 63];
        out[o++] = b64chars[v >> 6 & 63];
        out[o++] = b64chars[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64chars[v >> 18 & 63];
        out[o++] = b64chars[v >> 12 & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64chars[v >> 18 & 63];
        out[o++] = b64chars[v >> 12 & 63];
        out[o++] = b64chars[v >> 6 & 63];
    }
    out[o] = '\0';
    return o;
}

static int b64val(char c)
{
    const char *p = c != '\0' ? strchr(b64chars, c) : NULL;
    return p != NULL ? (int)(p - b64chars) : -1;
}

/* decodes unpadded base64url; returns the length, or -1 if malformed or longer than cap */
static ssize_t b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    if (len % 4 == 1)
        return -1;
    for (size_t i = 0; i != len; ++i) {
        int v = b64val(in[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == cap)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (bits != 0 && (acc & ((1u << bits) - 1)) != 0)
        return -1; /* non-canonical trailing bits: one token, one spelling */
    return (ssize_t)o;
}

static int valid_kid(const char *s, size_t len)
{
    if (len == 0 || len > SG_PORT_TOKEN_KID_MAX)
        return 0;
    for (size_t i = 0; i != len; ++i)
        if (b64val(s[i]) < 0)
            return 0;
    return 1;
}

static void put_field(unsigned char *msg, size_t *n, const void *p, size_t len)
{
    msg[(*n)++] = (unsigned char)(len >> 8);
    msg[(*n)++] = (unsigned char)len;
    memcpy(msg + *n, p, len);
    *n += len;
}

/* base64url(HMAC-SHA256(secret, version | kid | tenant | id | port)), each field length-prefixed */
static int compute_mac(const struct st_sg_port_token_keyed_t *keyed, const char *kid, size_t kid_len, const char *tenant,
                       size_t tenant_len, const char *id, size_t id_len, uint16_t port, char out[MAC_B64_LEN + 1])
{
    unsigned char msg[16 + SG_PORT_TOKEN_KID_MAX + 2 * (SG_STORE_ID_MAX + 2)], mac[32];
    size_t n = 0;
    if (kid_len > SG_PORT_TOKEN_KID_MAX || tenant_len > SG_STORE_ID_MAX || id_len > SG_STORE_ID_MAX)
        return -1;
    put_field(msg, &n, VERSION, sizeof(VERSION) - 1);
    put_field(msg, &n, kid, kid_len);
    put_field(msg, &n, tenant, tenant_len);
    put_field(msg, &n, id, id_len);
    msg[n++] = (unsigned char)(port >> 8);
    msg[n++] = (unsigned char)port;
    if (keyed == NULL || keyed_mac(keyed, msg, n, mac) != 0)
        return -1;
    b64url_encode(mac, 32, out);
    OPENSSL_cleanse(mac, sizeof(mac));
    return 0;
}

/* the secret that signs (index 0) or the one named kid; NULL if none */
static const struct st_sg_port_token_keyed_t *find_secret(const sg_port_token_conf_t *conf, const char *kid, size_t kid_len,
                                                          const char **kid_out)
{
    if (conf != NULL && conf->num_secrets != 0) {
        for (size_t i = 0; i != conf->num_secrets; ++i) {
            const sg_port_token_secret_t *s = conf->secrets + i;
            if (kid == NULL || (strlen(s->id) == kid_len && memcmp(s->id, kid, kid_len) == 0)) {
                *kid_out = s->id;
                return s->keyed;
            }
        }
        return NULL;
    }
    if (!__atomic_load_n(&proc.loaded, __ATOMIC_ACQUIRE))
        return NULL;
    if (kid != NULL && (strlen(proc.kid) != kid_len || memcmp(proc.kid, kid, kid_len) != 0))
        return NULL;
    *kid_out = proc.kid;
    return proc.keyed;
}

static int process_secret_pending(const sg_port_token_conf_t *conf)
{
    return (conf == NULL || conf->num_secrets == 0) && !__atomic_load_n(&proc.loaded, __ATOMIC_ACQUIRE);
}

sg_port_token_result_t sg_port_token_mint(const sg_port_token_conf_t *conf, const char *tenant, size_t tenant_len, const char *id,
                                          size_t id_len, uint16_t port, char *out, size_t outlen)
{
    const char *kid;
    const struct st_sg_port_token_keyed_t *secret = find_secret(conf, NULL, 0, &kid);
    char tenant64[(SG_STORE_ID_MAX + 2) / 3 * 4 + 1], mac[MAC_B64_LEN + 1];
    if (secret == NULL || tenant_len > SG_STORE_ID_MAX)
        return SG_PORT_TOKEN_UNAVAILABLE;
    if (compute_mac(secret, kid, strlen(kid), tenant, tenant_len, id, id_len, port, mac) != 0)
        return SG_PORT_TOKEN_UNAVAILABLE;
    b64url_encode((const unsigned char *)tenant, tenant_len, tenant64);
    int n = snprintf(out, outlen, VERSION ".%s.%s.%u.%s", kid, tenant64, (unsigned)port, mac);
    return n > 0 && (size_t)n < outlen ? SG_PORT_TOKEN_OK : SG_PORT_TOKEN_UNAVAILABLE;
}

sg_port_token_result_t sg_port_token_verify(const sg_port_token_conf_t *conf, const char *token, size_t token_len, const char *id,
                                            size_t id_len, uint16_t port, char *tenant_out, size_t tenant_cap)
{
    const char *f[5];
    size_t fl[5], nf = 0;
    const char *p = token, *end = token + token_len;
    if (token_len > SG_PORT_TOKEN_MAX)
        return SG_PORT_TOKEN_INVALID;
    while (nf != 5) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        f[nf] = p;
        fl[nf] = (size_t)((dot != NULL ? dot : end) - p);
        ++nf;
        if (dot == NULL)
            break;
        p = dot + 1;
    }
    if (nf != 5 || f[4] + fl[4] != end || fl[0] != 4 || memcmp(f[0], VERSION, 4) != 0 || !valid_kid(f[1], fl[1]) ||
        fl[4] != MAC_B64_LEN)
        return SG_PORT_TOKEN_INVALID;
    char portbuf[8];
    int pn = snprintf(portbuf, sizeof(portbuf), "%u", (unsigned)port);
    if (fl[3] != (size_t)pn || memcmp(f[3], portbuf, fl[3]) != 0)
        return SG_PORT_TOKEN_INVALID; /* minted for another port (or not a canonical number) */
    unsigned char tenant[SG_STORE_ID_MAX];
    ssize_t tl = b64url_decode(f[2], fl[2], tenant, sizeof(tenant));
    if (tl <= 0 || (size_t)tl >= tenant_cap || memchr(tenant, '\0', (size_t)tl) != NULL)
        return SG_PORT_TOKEN_INVALID;
    const char *kid;
    const struct st_sg_port_token_keyed_t *secret = find_secret(conf, f[1], fl[1], &kid);
    if (secret == NULL)
        return process_secret_pending(conf) ? SG_PORT_TOKEN_UNAVAILABLE : SG_PORT_TOKEN_INVALID;
    char mac[MAC_B64_LEN + 1];
    if (compute_mac(secret, f[1], fl[1], (const char *)tenant, (size_t)tl, id, id_len, port, mac) != 0)
        return SG_PORT_TOKEN_INVALID;
    if (CRYPTO_memcmp(mac, f[4], MAC_B64_LEN) != 0)
        return SG_PORT_TOKEN_INVALID;
    memcpy(tenant_out, tenant, (size_t)tl);
    tenant_out[tl] = '\0';
    return SG_PORT_TOKEN_OK;
}

/* ---- signed routes (port_token.h) ---- */

#define ROUTE_VERSION "sgr1"
#define ROUTE_MAC_LEN (SG_ROUTE_SIG_LEN - 1)

static const char b36chars[] = "0123456789abcdefghijklmnopqrstuvwxyz";

/* the one character a signed route names its secret by: a selector, not a secret (FNV-1a of the key id) */
static char route_key_char(const char *kid)
{
    uint32_t h = 2166136261u;
    for (; *kid != '\0'; ++kid)
        h = (h ^ (unsigned char)*kid) * 16777619u;
    return b36chars[h % 36];
}

/* the first 55 bits of HMAC-SHA256(secret, version | tenant | id | port | expires_b36) in lower-case base32 */
static int route_mac(const struct st_sg_port_token_keyed_t *keyed, const char *tenant, size_t tenant_len, const char *id,
                     size_t id_len, uint16_t port, const char *expires, size_t expires_len, char out[ROUTE_MAC_LEN])
{
    static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
    unsigned char msg[16 + 2 * (SG_STORE_ID_MAX + 2) + SG_ROUTE_EXPIRES_MAX + 2], mac[32];
    size_t n = 0;
    if (tenant_len > SG_STORE_ID_MAX || id_len > SG_STORE_ID_MAX || expires_len > SG_ROUTE_EXPIRES_MAX || keyed == NULL)
        return -1;
    put_field(msg, &n, ROUTE_VERSION, sizeof(ROUTE_VERSION) - 1);
    put_field(msg, &n, tenant, tenant_len);
    put_field(msg, &n, id, id_len);
    msg[n++] = (unsigned char)(port >> 8);
    msg[n++] = (unsigned char)port;
    put_field(msg, &n, expires, expires_len);
    if (keyed_mac(keyed, msg, n, mac) != 0)
        return -1;
    uint64_t bits = 0;
    for (size_t i = 0; i != 7; ++i)
        bits = bits << 8 | mac[i];
    for (size_t i = 0; i != ROUTE_MAC_LEN; ++i)
        out[i] = b32[(bits >> (51 - 5 * i)) & 31];
    OPENSSL_cleanse(mac, sizeof(mac));
    return 0;
}

sg_port_token_result_t sg_port_token_sign_route(const sg_port_token_conf_t *conf, const char *tenant, size_t tenant_len,
                                                const char *id, size_t id_len, uint16_t port, const char *expires_b36,
                                                size_t expires_len, char out[SG_ROUTE_SIG_LEN + 1])
{
    const char *kid;
    const struct st_sg_port_token_keyed_t *secret = find_secret(conf, NULL, 0, &kid);
    if (secret == NULL || route_mac(secret, tenant, tenant_len, id, id_len, port, expires_b36, expires_len, out + 1) != 0)
        return SG_PORT_TOKEN_UNAVAILABLE;
    out[0] = route_key_char(kid);
    out[SG_ROUTE_SIG_LEN] = '\0';
    return SG_PORT_TOKEN_OK;
}

/* 1 when keyed (named kid) made sig for these fields */
static int route_matches(const struct st_sg_port_token_keyed_t *keyed, const char *kid, const char *sig, const char *tenant,
                         size_t tenant_len, const char *id, size_t id_len, uint16_t port, const char *expires, size_t expires_len)
{
    char mac[ROUTE_MAC_LEN];
    if (route_key_char(kid) != sig[0] || route_mac(keyed, tenant, tenant_len, id, id_len, port, expires, expires_len, mac) != 0)
        return 0;
    return CRYPTO_memcmp(mac, sig + 1, ROUTE_MAC_LEN) == 0;
}

sg_port_token_result_t sg_port_token_verify_route(const sg_port_token_conf_t *conf, const char *tenant, size_t tenant_len,
                                                  const char *id, size_t id_len, uint16_t port, const char *expires_b36,
                                                  size_t expires_len, const char *sig)
{
    if (conf != NULL && conf->num_secrets != 0) {
        /* key characters may collide: every secret that carries this one is tried */
        for (size_t i = 0; i != conf->num_secrets; ++i)
            if (route_matches(conf->secrets[i].keyed, conf->secrets[i].id, sig, tenant, tenant_len, id, id_len, port, expires_b36,
                              expires_len))
                return SG_PORT_TOKEN_OK;
        return SG_PORT_TOKEN_INVALID;
    }
    if (!__atomic_load_n(&proc.loaded, __ATOMIC_ACQUIRE))
        return SG_PORT_TOKEN_UNAVAILABLE;
    return route_matches(proc.keyed, proc.kid, sig, tenant, tenant_len, id, id_len, port, expires_b36, expires_len)
               ? SG_PORT_TOKEN_OK
               : SG_PORT_TOKEN_INVALID;
}

void sg_port_token_conf_dispose(sg_port_token_conf_t *conf)
{
    for (size_t i = 0; i != conf->num_secrets; ++i) {
        free(conf->secrets[i].id);
        keyed_free(conf->secrets[i].keyed);
        if (conf->secrets[i].secret != NULL) {
            OPENSSL_cleanse(conf->secrets[i].secret, conf->secrets[i].len);
            free(conf->secrets[i].secret);
        }
    }
    free(conf->secrets);
    conf->secrets = NULL;
    conf->num_secrets = 0;
}

/* ---- the process secret ---- */

static int fill_random(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n != 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static void publish(const char *kid, const unsigned char *secret)
{
    pthread_mutex_lock(&proc.lock);
    if (!proc.loaded) {
        snprintf(proc.kid, sizeof(proc.kid), "%s", kid);
        memcpy(proc.secret, secret, sizeof(proc.secret));
        if ((proc.keyed = keyed_new(proc.secret, sizeof(proc.secret))) != NULL)
            __atomic_store_n(&proc.loaded, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&proc.lock);
}

void sg_port_token_set_process_secret(const char *kid, const unsigned char *secret, size_t len)
{
    unsigned char s[PROCESS_SECRET_LEN] = {0};
    memcpy(s, secret, len < sizeof(s) ? len : sizeof(s));
    publish(kid, s);
    OPENSSL_cleanse(s, sizeof(s));
}

static redisReply *command(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        freeReplyObject(reply);
        return NULL;
    }
    return reply;
}

/* Reads the shared secret from Redis, creating it first if no gateway did (SET NX: the first writer wins and every
 * gateway then reads the same value). Returns 0 once published. Blocking: runs at start and on the loader thread. */
static int load_from_store(const sg_store_conf_t *sc)
{
    int ret = -1;
    struct timeval ctv = {(time_t)(sc->connect_timeout_ms / 1000), (suseconds_t)(sc->connect_timeout_ms % 1000 * 1000)};
    struct timeval ttv = {(time_t)(sc->command_timeout_ms / 1000), (suseconds_t)(sc->command_timeout_ms % 1000 * 1000)};
    redisContext *c =
        sc->unix_path != NULL ? redisConnectUnixWithTimeout(sc->unix_path, ctv) : redisConnectWithTimeout(sc->host, sc->port, ctv);
    redisReply *reply = NULL;
    unsigned char fresh[PROCESS_SECRET_LEN], got[PROCESS_SECRET_LEN + 8];
    char key[512], value[SG_PORT_TOKEN_KID_MAX + 128], kid[SG_PORT_TOKEN_KID_MAX + 1], s64[64];
    unsigned char rnd[4];
    if (c == NULL || c->err != 0 || redisSetTimeout(c, ttv) != REDIS_OK)
        goto Exit;
    if (sc->password != NULL) {
        if ((reply = command(c, "AUTH %s", sc->password)) == NULL)
            goto Exit;
        freeReplyObject(reply);
    }
    if (sc->db != 0) {
        if ((reply = command(c, "SELECT %llu", (unsigned long long)sc->db)) == NULL)
            goto Exit;
        freeReplyObject(reply);
    }
    if (fill_random(fresh, sizeof(fresh)) != 0 || fill_random(rnd, sizeof(rnd)) != 0)
        goto Exit;
    snprintf(kid, sizeof(kid), "s%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
    b64url_encode(fresh, sizeof(fresh), s64);
    snprintf(value, sizeof(value), "%s:%s", kid, s64);
    snprintf(key, sizeof(key), "%s" STORE_KEY, sc->prefix != NULL ? sc->prefix : "");
    if ((reply = command(c, "SET %s %s NX", key, value)) == NULL)
        goto Exit;
    freeReplyObject(reply);
    if ((reply = command(c, "GET %s", key)) == NULL || reply->type != REDIS_REPLY_STRING)
        goto Exit;
    const char *colon = memchr(reply->str, ':', reply->len);
    if (colon == NULL || !valid_kid(reply->str, (size_t)(colon - reply->str)) ||
        b64url_decode(colon + 1, reply->len - (size_t)(colon - reply->str) - 1, got, sizeof(got)) != PROCESS_SECRET_LEN) {
        sg_log(SG_LOG_ERROR, "port tokens: the secret kept in Redis under %s is malformed; delete that key to have it recreated",
               key);
        goto Exit;
    }
    snprintf(kid, sizeof(kid), "%.*s", (int)(colon - reply->str), reply->str);
    publish(kid, got);
    sg_log(SG_LOG_INFO, "port tokens: using the secret shared through Redis (key id %s)", kid);
    ret = 0;
Exit:
    OPENSSL_cleanse(fresh, sizeof(fresh));
    OPENSSL_cleanse(got, sizeof(got));
    OPENSSL_cleanse(value, sizeof(value));
    OPENSSL_cleanse(s64, sizeof(s64));
    if (reply != NULL) {
        if (reply->type == REDIS_REPLY_STRING)
            OPENSSL_cleanse(reply->str, reply->len);
        freeReplyObject(reply);
    }
    if (c != NULL)
        redisFree(c);
    return ret;
}

static void *loader_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&proc.lock);
    while (!proc.stopping && !proc.loaded) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&proc.cond, &proc.lock, &until);
        if (proc.stopping)
            break;
        pthread_mutex_unlock(&proc.lock);
        load_from_store(&proc.store);
        pthread_mutex_lock(&proc.lock);
    }
    pthread_mutex_unlock(&proc.lock);
    return NULL;
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

void sg_port_token_start(const sg_store_conf_t *store, int conf_has_secrets)
{
    if (store->use_redis) {
        if (load_from_store(store) == 0)
            return;
        sg_log(SG_LOG_WARN, "port tokens: cannot read the shared secret from Redis yet; retrying every second "
                            "(until then endpoints answer 503 and tokens cannot be verified)");
        proc.store = *store;
        proc.store.host = dup_or_null(store->host);
        proc.store.unix_path = dup_or_null(store->unix_path);
        proc.store.password = dup_or_null(store->password);
        proc.store.prefix = dup_or_null(store->prefix);
        if (pthread_create(&proc.loader, NULL, loader_main, NULL) == 0)
            proc.loader_running = 1;
        return;
    }
    unsigned char s[PROCESS_SECRET_LEN], rnd[4];
    char kid[24];
    if (fill_random(s, sizeof(s)) != 0 || fill_random(rnd, sizeof(rnd)) != 0) {
        sg_log(SG_LOG_ERROR, "port tokens: no randomness for a secret; tokens cannot be minted");
        return;
    }
    snprintf(kid, sizeof(kid), "g%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
    publish(kid, s);
    OPENSSL_cleanse(s, sizeof(s));
    if (!conf_has_secrets)
        sg_log(SG_LOG_WARN, "port tokens: no port_tokens.secrets and no Redis: using a secret generated at start; "
                            "tokens will not survive a restart and are not accepted by other gateways");
}

void sg_port_token_stop(void)
{
    if (!proc.loader_running)
        goto Exit;
    pthread_mutex_lock(&proc.lock);
    proc.stopping = 1;
    pthread_cond_signal(&proc.cond);
    pthread_mutex_unlock(&proc.lock);
    pthread_join(proc.loader, NULL);
    proc.loader_running = 0;
    free(proc.store.host);
    free(proc.store.unix_path);
    free(proc.store.password);
    free(proc.store.prefix);
Exit:
    pthread_mutex_lock(&proc.lock);
    __atomic_store_n(&proc.loaded, 0, __ATOMIC_RELEASE);
    keyed_free(proc.keyed);
    proc.keyed = NULL;
    OPENSSL_cleanse(proc.secret, sizeof(proc.secret));
    pthread_mutex_unlock(&proc.lock);
}
