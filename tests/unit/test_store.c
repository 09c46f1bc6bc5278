/*
 * The state store (gateway/store.h) against one backend: `test_store memory` or
 * `test_store redis`. The same suite runs on both; for redis the program starts its
 * own redis-server (no persistence, password, db 3) on a free port of 127.0.0.1 in
 * a temporary directory, and additionally checks the key schema, the repair of
 * stale index entries, command timeouts (SIGSTOP), connection loss and automatic
 * reconnection (SIGKILL, restart), a unix socket and a wrong password.
 * The loops run on the main thread, until the awaited callback ran or a deadline.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <hiredis/hiredis.h>
#include "util/hashmap.h"
#include "store/store.h"
#include "test.h"

#define PASSWORD "s3cret pass"
#define DB 3
#define COMMAND_TIMEOUT_MS 300

typedef struct st_result_t {
    int called;
    const char *err;
    int found;
    sg_sandbox_rec_t sbx;
    sg_snapshot_rec_t snap;
    sg_key_rec_t key;
    char *str;
    char list[2048];    /* ids of a list, sorted, comma-separated */
    const char *tenant; /* for lists: every record must be of this tenant */
    uint64_t started_ms, took_ms;
} result_t;

static int in_call; /* set while a store function runs: callbacks must never come from inside it */
static h2o_evloop_t *loops[2];
static size_t num_loops;
static sg_loop_t *main_loop; /* the loop of loops[0] */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* runs the loops until *flag is set or ms passed */
static void run_until(const int *flag, uint64_t ms)
{
    uint64_t deadline = now_ms() + ms;
    while ((flag == NULL || !*flag) && now_ms() < deadline)
        for (size_t i = 0; i != num_loops; ++i)
            h2o_evloop_run(loops[i], num_loops == 1 ? 10 : 1);
}

static void reset(result_t *r)
{
    free(r->str);
    memset(r, 0, sizeof(*r));
    r->started_ms = now_ms();
}

static void got(result_t *r, const char *err)
{
    CHECK(!in_call);
    CHECK(!r->called);
    r->called = 1;
    r->err = err;
    r->took_ms = now_ms() - r->started_ms;
}

static void on_done(void *data, const char *err)
{
    got(data, err);
}

static void on_sandbox(void *data, const char *err, const sg_sandbox_rec_t *rec)
{
    result_t *r = data;
    got(r, err);
    if ((r->found = rec != NULL))
        r->sbx = *rec;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* sorted, comma-separated ids */
static void join_ids(result_t *r, const char **ids, size_t n)
{
    qsort(ids, n, sizeof(*ids), cmp_str);
    for (size_t i = 0; i != n; ++i) {
        if (i != 0)
            strcat(r->list, ",");
        strcat(r->list, ids[i]);
    }
}

static void on_sandboxes(void *data, const char *err, const sg_sandbox_rec_t *recs, size_t n)
{
    result_t *r = data;
    got(r, err);
    const char *ids[64];
    CHECK(n <= 64);
    for (size_t i = 0; i != n && i != 64; ++i) {
        ids[i] = recs[i].id;
        if (r->tenant != NULL)
            CHECK_STR(recs[i].tenant, r->tenant);
        CHECK_STR(recs[i].backend, "b1");
    }
    join_ids(r, ids, n < 64 ? n : 64);
}

static void on_snapshot(void *data, const char *err, const sg_snapshot_rec_t *rec)
{
    result_t *r = data;
    got(r, err);
    if ((r->found = rec != NULL))
        r->snap = *rec;
}

static void on_snapshots(void *data, const char *err, const sg_snapshot_rec_t *recs, size_t n)
{
    result_t *r = data;
    got(r, err);
    const char *ids[64];
    CHECK(n <= 64);
    for (size_t i = 0; i != n && i != 64; ++i) {
        ids[i] = recs[i].id;
        if (r->tenant != NULL)
            CHECK_STR(recs[i].tenant, r->tenant);
    }
    join_ids(r, ids, n < 64 ? n : 64);
}

static void on_key(void *data, const char *err, const sg_key_rec_t *rec)
{
    result_t *r = data;
    got(r, err);
    if ((r->found = rec != NULL))
        r->key = *rec;
}

static void on_string(void *data, const char *err, const char *value)
{
    result_t *r = data;
    got(r, err);
    r->str = value != NULL ? strdup(value) : NULL;
}

/* starts expr (an operation writing to r) and waits for its callback */
#define RUN(r, expr)                                                                                                               \
    do {                                                                                                                           \
        reset(&(r));                                                                                                               \
        in_call = 1;                                                                                                               \
        (expr);                                                                                                                    \
        in_call = 0;                                                                                                               \
        CHECK(!(r).called);                                                                                                        \
        run_until(&(r).called, 5000);                                                                                              \
        CHECK((r).called);                                                                                                         \
    } while (0)

static sg_sandbox_rec_t sbx(const char *id, const char *tenant, int64_t expires_at_ms)
{
    sg_sandbox_rec_t rec = {.expires_at_ms = expires_at_ms, .created_at_ms = 1700000000000, .cpu_millis = 500, .memory_mb = 256};
    strcpy(rec.id, id);
    strcpy(rec.tenant, tenant);
    strcpy(rec.backend, "b1");
    return rec;
}

static const char *put_sbx(sg_store_t *s, const char *id, const char *tenant, int64_t expires_at_ms)
{
    result_t r = {0};
    sg_sandbox_rec_t rec = sbx(id, tenant, expires_at_ms);
    RUN(r, sg_store_put_sandbox(s, &rec, on_done, &r));
    return r.err;
}

static void test_sandboxes(sg_store_t *s)
{
    result_t r = {0};
    CHECK(put_sbx(s, "sbx-1", "acme", 0) == NULL);
    RUN(r, sg_store_get_sandbox(s, "sbx-1", on_sandbox, &r));
    CHECK(r.err == NULL);
    CHECK(r.found);
    CHECK_STR(r.sbx.id, "sbx-1");
    CHECK_STR(r.sbx.tenant, "acme");
    CHECK_STR(r.sbx.backend, "b1");
    CHECK_INT(r.sbx.expires_at_ms, 0);
    CHECK_INT(r.sbx.created_at_ms, 1700000000000);
    CHECK_U64(r.sbx.cpu_millis, 500);
    CHECK_U64(r.sbx.memory_mb, 256);
    CHECK_U64(r.sbx.renew_extend_s, 0);

    RUN(r, sg_store_get_sandbox(s, "no-such-sandbox", on_sandbox, &r));
    CHECK(r.err == NULL);
    CHECK(!r.found);

    /* replace: new expiry and resources */
    sg_sandbox_rec_t rec = sbx("sbx-1", "acme", 1234567);
    rec.cpu_millis = 2000;
    rec.renew_extend_s = 86400;
    RUN(r, sg_store_put_sandbox(s, &rec, on_done, &r));
    CHECK(r.err == NULL);
    RUN(r, sg_store_get_sandbox(s, "sbx-1", on_sandbox, &r));
    CHECK(r.found);
    CHECK_INT(r.sbx.expires_at_ms, 1234567);
    CHECK_U64(r.sbx.cpu_millis, 2000);
    CHECK_U64(r.sbx.renew_extend_s, 86400);
    /* a replacement without it drops it (every field is written) */
    rec.renew_extend_s = 0;
    RUN(r, sg_store_put_sandbox(s, &rec, on_done, &r));
    RUN(r, sg_store_get_sandbox(s, "sbx-1", on_sandbox, &r));
    CHECK_U64(r.sbx.renew_extend_s, 0);
    rec.renew_extend_s = 300;
    RUN(r, sg_store_put_sandbox(s, &rec, on_done, &r));
    RUN(r, sg_store_get_sandbox(s, "sbx-1", on_sandbox, &r));
    CHECK_U64(r.sbx.renew_extend_s, 300);

    RUN(r, sg_store_del_sandbox(s, "sbx-1", on_done, &r));
    CHECK(r.err == NULL);
    RUN(r, sg_store_get_sandbox(s, "sbx-1", on_sandbox, &r));
    CHECK(r.err == NULL);
    CHECK(!r.found);
    /* deleting what does not exist is fine */
    RUN(r, sg_store_del_sandbox(s, "sbx-1", on_done, &r));
    CHECK(r.err == NULL);
}

/* lists the sandboxes of tenant (NULL: all), checking that each is of that tenant */
static void list(sg_store_t *s, const char *tenant, result_t *r)
{
    reset(r);
    r->tenant = tenant;
    in_call = 1;
    sg_store_list_sandboxes(s, tenant, on_sandboxes, r);
    in_call = 0;
    CHECK(!r->called);
    run_until(&r->called, 5000);
    CHECK(r->called);
    CHECK(r->err == NULL);
}

static void test_lists(sg_store_t *s)
{
    result_t r = {0};
    CHECK(put_sbx(s, "l-a1", "ta", 0) == NULL);
    CHECK(put_sbx(s, "l-a2", "ta", 5000) == NULL);
    CHECK(put_sbx(s, "l-b1", "tb", 1000) == NULL);
    CHECK(put_sbx(s, "l-b2", "tb", 2000) == NULL);
    CHECK(put_sbx(s, "l-c1", "tc", 9000) == NULL);

    list(s, "ta", &r);
    CHECK_STR(r.list, "l-a1,l-a2");
    list(s, "tb", &r);
    CHECK_STR(r.list, "l-b1,l-b2");
    list(s, "nobody", &r);
    CHECK_STR(r.list, "");
    list(s, NULL, &r);
    CHECK_STR(r.list, "l-a1,l-a2,l-b1,l-b2,l-c1");

    /* a renewal replaces the record in place */
    CHECK(put_sbx(s, "l-b1", "tb", 8000) == NULL);
    CHECK(put_sbx(s, "l-a2", "ta", 0) == NULL);
    RUN(r, sg_store_get_sandbox(s, "l-b1", on_sandbox, &r));
    CHECK(r.found && r.sbx.expires_at_ms == 8000);
    list(s, "tb", &r);
    CHECK_STR(r.list, "l-b1,l-b2");

    /* moving to another tenant */
    CHECK(put_sbx(s, "l-b2", "ta", 2000) == NULL);
    list(s, "ta", &r);
    CHECK_STR(r.list, "l-a1,l-a2,l-b2");
    list(s, "tb", &r);
    CHECK_STR(r.list, "l-b1");

    /* deletion leaves no index entry behind */
    const char *ids[] = {"l-a1", "l-a2", "l-b1", "l-b2", "l-c1"};
    for (size_t i = 0; i != sizeof(ids) / sizeof(ids[0]); ++i) {
        RUN(r, sg_store_del_sandbox(s, ids[i], on_done, &r));
        CHECK(r.err == NULL);
    }
    list(s, NULL, &r);
    CHECK_STR(r.list, "");
    list(s, "ta", &r);
    CHECK_STR(r.list, "");
}

static void test_snapshots(sg_store_t *s)
{
    result_t r = {0};
    sg_snapshot_rec_t rec = {.id = "snap-1", .tenant = "ta", .backend = "b2"};
    RUN(r, sg_store_put_snapshot(s, &rec, on_done, &r));
    CHECK(r.err == NULL);
    sg_snapshot_rec_t rec2 = {.id = "snap-2", .tenant = "tb", .backend = "b1"};
    RUN(r, sg_store_put_snapshot(s, &rec2, on_done, &r));
    CHECK(r.err == NULL);
    RUN(r, sg_store_get_snapshot(s, "snap-1", on_snapshot, &r));
    CHECK(r.err == NULL);
    CHECK(r.found);
    CHECK_STR(r.snap.id, "snap-1");
    CHECK_STR(r.snap.tenant, "ta");
    CHECK_STR(r.snap.backend, "b2");
    RUN(r, sg_store_get_snapshot(s, "snap-x", on_snapshot, &r));
    CHECK(r.err == NULL);
    CHECK(!r.found);
    RUN(r, sg_store_list_snapshots(s, "ta", on_snapshots, &r));
    CHECK_STR(r.list, "snap-1");
    RUN(r, sg_store_list_snapshots(s, NULL, on_snapshots, &r));
    CHECK_STR(r.list, "snap-1,snap-2");
    RUN(r, sg_store_del_snapshot(s, "snap-1", on_done, &r));
    CHECK(r.err == NULL);
    RUN(r, sg_store_get_snapshot(s, "snap-1", on_snapshot, &r));
    CHECK(!r.found);
    RUN(r, sg_store_list_snapshots(s, "ta", on_snapshots, &r));
    CHECK_STR(r.list, "");
    RUN(r, sg_store_list_snapshots(s, NULL, on_snapshots, &r));
    CHECK_STR(r.list, "snap-2");
    RUN(r, sg_store_del_snapshot(s, "snap-2", on_done, &r));
    CHECK(r.err == NULL);
}

static void test_keys_and_tenants(sg_store_t *s)
{
    result_t r = {0};
    sg_key_rec_t k = {.tenant = "acme", .expires_at_ms = 1800000000000, .revoked = 0};
    for (size_t i = 0; i != 32; ++i)
        k.hash[i] = (unsigned char)(i * 7 + 1);
    RUN(r, sg_store_put_key(s, &k, on_done, &r));
    CHECK(r.err == NULL);
    RUN(r, sg_store_get_key(s, k.hash, on_key, &r));
    CHECK(r.err == NULL);
    CHECK(r.found);
    CHECK(memcmp(r.key.hash, k.hash, 32) == 0);
    CHECK_STR(r.key.tenant, "acme");
    CHECK_INT(r.key.expires_at_ms, 1800000000000);
    CHECK_INT(r.key.revoked, 0);
    k.revoked = 1;
    RUN(r, sg_store_put_key(s, &k, on_done, &r));
    RUN(r, sg_store_get_key(s, k.hash, on_key, &r));
    CHECK(r.found);
    CHECK_INT(r.key.revoked, 1);
    RUN(r, sg_store_del_key(s, k.hash, on_done, &r));
    CHECK(r.err == NULL);
    RUN(r, sg_store_get_key(s, k.hash, on_key, &r));
    CHECK(r.err == NULL);
    CHECK(!r.found);

    RUN(r, sg_store_get_tenant(s, "acme", on_string, &r));
    CHECK(r.err == NULL);
    CHECK(r.str == NULL);
    RUN(r, sg_store_put_tenant(s, "acme", "{\"max_sandboxes\": 3}", on_done, &r));
    CHECK(r.err == NULL);
    RUN(r, sg_store_get_tenant(s, "acme", on_string, &r));
    CHECK_STR(r.str, "{\"max_sandboxes\": 3}");
    RUN(r, sg_store_put_tenant(s, "acme", "{\"max_sandboxes\": 4}", on_done, &r));
    RUN(r, sg_store_get_tenant(s, "acme", on_string, &r));
    CHECK_STR(r.str, "{\"max_sandboxes\": 4}");
    RUN(r, sg_store_put_tenant(s, "acme", "not json", on_done, &r));
    CHECK(r.err == sg_store_err_invalid);
    RUN(r, sg_store_put_tenant(s, "acme", "[1]", on_done, &r));
    CHECK(r.err == sg_store_err_invalid);
    reset(&r);
}

static void test_invalid(sg_store_t *s)
{
    result_t r = {0};
    char long_id[SG_STORE_ID_MAX + 2];
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    const char *bad[] = {"", "a b", "a\tb", "a\nb", "\x01", "a\x7f", long_id};
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        RUN(r, sg_store_get_sandbox(s, bad[i], on_sandbox, &r));
        CHECK(r.err == sg_store_err_invalid);
        RUN(r, sg_store_del_snapshot(s, bad[i], on_done, &r));
        CHECK(r.err == sg_store_err_invalid);
        RUN(r, sg_store_list_sandboxes(s, bad[i], on_sandboxes, &r));
        CHECK(r.err == sg_store_err_invalid);
        RUN(r, sg_store_get_tenant(s, bad[i], on_string, &r));
        CHECK(r.err == sg_store_err_invalid);
    }
    long_id[SG_STORE_ID_MAX] = '\0'; /* exactly the maximum is fine */
    CHECK(put_sbx(s, long_id, "t", 0) == NULL);
    RUN(r, sg_store_get_sandbox(s, long_id, on_sandbox, &r));
    CHECK(r.found);
    RUN(r, sg_store_del_sandbox(s, long_id, on_done, &r));
    CHECK(put_sbx(s, "ok", "bad tenant", 0) == sg_store_err_invalid);
    CHECK(put_sbx(s, "ok", "", 0) == sg_store_err_invalid);
    CHECK(put_sbx(s, "ok", "t", -1) == sg_store_err_invalid);
    RUN(r, sg_store_get_sandbox(s, NULL, on_sandbox, &r));
    CHECK(r.err == sg_store_err_invalid);
    sg_key_rec_t k = {.tenant = "with space"};
    RUN(r, sg_store_put_key(s, &k, on_done, &r));
    CHECK(r.err == sg_store_err_invalid);
}

static void test_cancel(sg_store_t *s)
{
    result_t c1 = {0}, c2 = {0}, c3 = {0}, after = {0};
    in_call = 1;
    sg_store_op_t *op1 = sg_store_get_sandbox(s, "x", on_sandbox, &c1);
    sg_store_op_t *op2 = sg_store_list_sandboxes(s, NULL, on_sandboxes, &c2);
    sg_store_op_t *op3 = sg_store_get_sandbox(s, "bad id", on_sandbox, &c3); /* failing later */
    in_call = 0;
    sg_store_cancel(op2);
    sg_store_cancel(op1);
    sg_store_cancel(op3);
    /* no callback at all: fire and forget */
    sg_sandbox_rec_t rec = sbx("forgotten", "t", 0);
    sg_store_put_sandbox(s, &rec, NULL, NULL);
    sg_store_del_sandbox(s, "forgotten", NULL, NULL);
    /* a later operation completes after what was started before it */
    CHECK(put_sbx(s, "after-cancel", "t", 0) == NULL);
    RUN(after, sg_store_del_sandbox(s, "after-cancel", on_done, &after));
    run_until(NULL, 50);
    CHECK(!c1.called);
    CHECK(!c2.called);
    CHECK(!c3.called);
}

static sg_store_t *chain_store;

/* a callback may start the next operation */
static void on_chain_put(void *data, const char *err)
{
    result_t *r = data;
    CHECK(err == NULL);
    sg_store_get_sandbox(chain_store, "chained", on_sandbox, r);
}

static void test_chain(sg_store_t *s)
{
    result_t r = {0};
    sg_sandbox_rec_t rec = sbx("chained", "t", 0);
    chain_store = s;
    RUN(r, sg_store_put_sandbox(s, &rec, on_chain_put, &r));
    CHECK(r.found);
    RUN(r, sg_store_del_sandbox(s, "chained", on_done, &r));
}

/* a second loop with its own store sees the same state; closing a store fails what it still has pending */
static void test_two_loops(sg_store_t *s1)
{
    sg_loop_t l2;
    loops[num_loops++] = h2o_evloop_create();
    sg_loop_init(&l2, loops[1], 1);
    sg_store_t *s2 = sg_store_open(&l2);
    result_t r = {0};
    CHECK(put_sbx(s1, "shared-1", "t2", 0) == NULL);
    RUN(r, sg_store_get_sandbox(s2, "shared-1", on_sandbox, &r));
    CHECK(r.err == NULL);
    CHECK(r.found);
    CHECK_STR(r.sbx.tenant, "t2");
    CHECK(put_sbx(s2, "shared-2", "t2", 0) == NULL);
    RUN(r, sg_store_list_sandboxes(s1, "t2", on_sandboxes, &r));
    CHECK_STR(r.list, "shared-1,shared-2");
    RUN(r, sg_store_del_sandbox(s2, "shared-1", on_done, &r));
    RUN(r, sg_store_del_sandbox(s1, "shared-2", on_done, &r));
    RUN(r, sg_store_list_sandboxes(s2, NULL, on_sandboxes, &r));
    CHECK_STR(r.list, "");

    reset(&r);
    sg_store_get_sandbox(s2, "x", on_sandbox, &r);
    sg_store_close(s2);
    CHECK(r.called);
    CHECK(r.err == sg_store_err_unavailable);
    run_until(NULL, 20);
    sg_loop_dispose(&l2);
    h2o_evloop_destroy(loops[--num_loops]);
}

/* random puts and deletes, the lists checked against a model after every few */
static void test_random(sg_store_t *s)
{
#define NM 60
    struct {
        int present, tenant;
        int64_t expires_at_ms;
    } model[NM] = {{0}};
    char ids[NM][8];
    const char *tenants[] = {"rt0", "rt1", "rt2"};
    result_t r = {0};
    srand(42);
    for (size_t i = 0; i != NM; ++i)
        sprintf(ids[i], "m%02zu", i);
    for (int step = 1; step <= 600; ++step) {
        size_t i = (size_t)rand() % NM;
        if (rand() % 3 == 0) {
            RUN(r, sg_store_del_sandbox(s, ids[i], on_done, &r));
            CHECK(r.err == NULL);
            model[i].present = 0;
        } else {
            model[i].present = 1;
            model[i].tenant = rand() % 3;
            model[i].expires_at_ms = rand() % 4 == 0 ? 0 : 1 + rand() % 1000;
            CHECK(put_sbx(s, ids[i], tenants[model[i].tenant], model[i].expires_at_ms) == NULL);
        }
        if (step % 10 != 0)
            continue;
        for (int what = -1; what != 3; ++what) { /* -1: all, else a tenant */
            result_t expected = {0};
            const char *sel[NM];
            size_t n = 0;
            for (size_t j = 0; j != NM; ++j)
                if (model[j].present && (what == -1 || model[j].tenant == what))
                    sel[n++] = ids[j];
            join_ids(&expected, sel, n);
            list(s, what == -1 ? NULL : tenants[what], &r);
            CHECK_STR(r.list, expected.list);
        }
    }
    for (size_t i = 0; i != NM; ++i)
        RUN(r, sg_store_del_sandbox(s, ids[i], on_done, &r));
    list(s, NULL, &r);
    CHECK_STR(r.list, "");
#undef NM
}

#include "test_store_quota.c.h"

#include "test_store_claim.c.h"

static void run_common(sg_store_t *s)
{
    test_sandboxes(s);
    test_lists(s);
    test_snapshots(s);
    test_keys_and_tenants(s);
    test_invalid(s);
    test_cancel(s);
    test_chain(s);
    test_two_loops(s);
    test_random(s);
    test_quota_arithmetic();
    test_quota_store(s);
    test_quota_race(s);
    test_claims(s);
}

static void test_hashmap(void)
{
    sg_hashmap_t m = SG_HASHMAP_INITIALIZER;
    static char keys[5000][8];
    for (size_t i = 0; i != 5000; ++i) {
        sprintf(keys[i], "k%zu", i);
        CHECK(sg_hashmap_set(&m, keys[i], strlen(keys[i]), keys[i]) == NULL);
    }
    CHECK_INT(m.size, 5000);
    CHECK(sg_hashmap_set(&m, keys[7], strlen(keys[7]), keys[8]) == keys[7]);
    CHECK(sg_hashmap_set(&m, keys[7], strlen(keys[7]), keys[7]) == keys[8]);
    for (size_t i = 1; i < 5000; i += 2)
        CHECK(sg_hashmap_remove(&m, keys[i], strlen(keys[i])) == keys[i]);
    CHECK(sg_hashmap_remove(&m, keys[1], strlen(keys[1])) == NULL);
    CHECK_INT(m.size, 2500);
    size_t bad = 0, iter = 0, seen = 0;
    for (size_t i = 0; i != 5000; ++i)
        bad += sg_hashmap_get(&m, keys[i], strlen(keys[i])) != (i % 2 == 0 ? keys[i] : NULL);
    CHECK_INT(bad, 0);
    while (sg_hashmap_next(&m, &iter) != NULL)
        ++seen;
    CHECK_INT(seen, 2500);
    for (size_t i = 0; i < 5000; i += 2)
        sg_hashmap_remove(&m, keys[i], strlen(keys[i]));
    CHECK_INT(m.size, 0);
    CHECK(m.capacity <= 16); /* shrinks back */
    CHECK(sg_hashmap_get(&m, "k0", 2) == NULL);
    sg_hashmap_dispose(&m);
}

/* memory backend: loops on several threads hammer the shared tables */
#define THREADS 4
#define THREAD_OPS 300

typedef struct st_thread_ctx_t {
    size_t index;
    size_t failures;
    int called;
    const char *err;
    int found;
} thread_ctx_t;

static void thread_done(void *data, const char *err)
{
    thread_ctx_t *t = data;
    t->called = 1;
    t->err = err;
}

static void thread_got(void *data, const char *err, const sg_sandbox_rec_t *rec)
{
    thread_ctx_t *t = data;
    t->called = 1;
    t->err = err;
    t->found = rec != NULL;
}

static void thread_list(void *data, const char *err, const sg_sandbox_rec_t *recs, size_t n)
{
    (void)recs;
    thread_ctx_t *t = data;
    t->called = 1;
    t->err = err;
    t->found = (int)n;
}

static void *thread_main(void *arg)
{
    thread_ctx_t *t = arg;
    h2o_evloop_t *loop = h2o_evloop_create();
    sg_loop_t l;
    sg_loop_init(&l, loop, t->index);
    sg_store_t *s = sg_store_open(&l);
    char tenant[16];
    sprintf(tenant, "th%zu", t->index);
#define AWAIT(expr)                                                                                                                \
    do {                                                                                                                           \
        t->called = 0;                                                                                                             \
        (expr);                                                                                                                    \
        while (!t->called)                                                                                                         \
            h2o_evloop_run(loop, 10);                                                                                              \
        t->failures += t->err != NULL;                                                                                             \
    } while (0)
    for (size_t i = 0; i != THREAD_OPS; ++i) {
        sg_sandbox_rec_t rec = sbx("", tenant, (int64_t)i + 1);
        sprintf(rec.id, "th%zu-%zu", t->index, i);
        AWAIT(sg_store_put_sandbox(s, &rec, thread_done, t));
        AWAIT(sg_store_get_sandbox(s, rec.id, thread_got, t));
        t->failures += !t->found;
        if (i % 2 == 0)
            AWAIT(sg_store_del_sandbox(s, rec.id, thread_done, t));
        if (i % 50 == 0)
            AWAIT(sg_store_list_sandboxes(s, NULL, thread_list, t));
    }
    AWAIT(sg_store_list_sandboxes(s, tenant, thread_list, t));
    t->failures += t->found != THREAD_OPS / 2;
    for (size_t i = 1; i < THREAD_OPS; i += 2) {
        char id[32];
        sprintf(id, "th%zu-%zu", t->index, i);
        AWAIT(sg_store_del_sandbox(s, id, thread_done, t));
    }
#undef AWAIT
    sg_store_close(s);
    sg_loop_dispose(&l);
    h2o_evloop_destroy(loop);
    return NULL;
}

static void test_threads(void)
{
    pthread_t tids[THREADS];
    thread_ctx_t ctx[THREADS];
    for (size_t i = 0; i != THREADS; ++i) {
        ctx[i] = (thread_ctx_t){.index = i + 1};
        pthread_create(&tids[i], NULL, thread_main, &ctx[i]);
    }
    for (size_t i = 0; i != THREADS; ++i) {
        pthread_join(tids[i], NULL);
        CHECK_INT(ctx[i].failures, 0);
    }
}

#include "test_store_redis.c.h"

int main(int argc, char **argv)
{
    int use_redis = argc > 1 && strcmp(argv[1], "redis") == 0;
    if (argc < 2 || (!use_redis && strcmp(argv[1], "memory") != 0)) {
        fprintf(stderr, "usage: %s memory|redis\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    sg_store_conf_t conf = {.prefix = "sgtest:", .connect_timeout_ms = 500, .command_timeout_ms = COMMAND_TIMEOUT_MS};
    if (use_redis) {
        if (system("command -v redis-server >/dev/null 2>&1") != 0) {
            fprintf(stderr, "redis-server not found: skipped\n");
            return 77;
        }
        if (mkdtemp(tmpdir) == NULL)
            abort();
        snprintf(sock_path, sizeof(sock_path), "%s/redis.sock", tmpdir);
        redis_port = free_port();
        if (start_redis() != 0) {
            fprintf(stderr, "cannot start redis-server\n");
            return 1;
        }
        conf.use_redis = 1;
        conf.host = "127.0.0.1";
        conf.port = redis_port;
        conf.password = PASSWORD;
        conf.db = DB;
    }
    CHECK_INT(sg_store_global_init(&conf), 0);
    sg_loop_t l;
    loops[num_loops++] = h2o_evloop_create();
    sg_loop_init(&l, loops[0], 0);
    main_loop = &l;
    sg_store_t *s = sg_store_open(&l);
    CHECK(use_redis || sg_store_is_available(s));
    /* a store that is still connecting is not down: operations queue behind the handshake */
    CHECK(!sg_store_is_down(s));

    run_common(s);
    if (!use_redis) {
        test_hashmap();
        test_threads();
        result_t r = {0};
        list(s, NULL, &r);
        CHECK_STR(r.list, "");
    }
    if (use_redis) {
        test_schema(s);
        test_timeout(s);
        test_kill_restart(s);
        s = test_other_connections(s, &l, &conf);
    }

    sg_store_close(s);
    run_until(NULL, 20);
    sg_loop_dispose(&l);
    h2o_evloop_destroy(loops[0]);
    sg_store_global_dispose();
    if (use_redis) {
        kill_redis(SIGTERM);
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", tmpdir);
    }
    return TEST_DONE();
}
