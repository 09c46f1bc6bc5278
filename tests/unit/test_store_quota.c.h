/*
 * The quota ledger (store/quota_ledger.h, sg_store_quota_*): included by test_store.c and run on both
 * backends. Arithmetic first (no store), then reservations, commits with a record write, releases,
 * forgets, lease expiry and pruning, snapshots, and reservations racing from two loops (with Redis:
 * two connections whose WATCH transactions conflict) for an exact count.
 */

typedef struct st_quota_result_t {
    int called;
    const char *err;
    sg_quota_verdict_t verdict;
    sg_quota_usage_t usage;
} quota_result_t;

static void on_quota(void *data, const char *err, sg_quota_verdict_t verdict, const sg_quota_usage_t *usage)
{
    quota_result_t *q = data;
    CHECK(!in_call);
    CHECK(!q->called);
    q->called = 1;
    q->err = err;
    q->verdict = verdict;
    if (usage != NULL)
        q->usage = *usage;
}

static void test_quota_arithmetic(void)
{
    sg_quota_kind_t kind;
    uint64_t cpu, mem;
    CHECK_INT(sg_quota_parse_amounts(H2O_STRLIT("s 1500 2048"), &kind, &cpu, &mem), 0);
    CHECK_INT(kind, SG_QUOTA_KIND_SANDBOX);
    CHECK_U64(cpu, 1500);
    CHECK_U64(mem, 2048);
    CHECK_INT(sg_quota_parse_amounts(H2O_STRLIT("n 0 0"), &kind, &cpu, &mem), 0);
    CHECK_INT(kind, SG_QUOTA_KIND_SNAPSHOT);
    CHECK_INT(sg_quota_parse_amounts(H2O_STRLIT("x 1 1"), &kind, &cpu, &mem), -1);
    CHECK_INT(sg_quota_parse_amounts(H2O_STRLIT("s 1"), &kind, &cpu, &mem), -1);
    CHECK_INT(sg_quota_parse_amounts(H2O_STRLIT("s 1 2 "), &kind, &cpu, &mem), -1);
    CHECK_INT(sg_quota_parse_amounts(H2O_STRLIT("s 99999999999999999999 1"), &kind, &cpu, &mem), -1);
    char buf[64];
    sg_quota_format_amounts(buf, sizeof(buf), SG_QUOTA_KIND_SANDBOX, 250, 64);
    CHECK_STR(buf, "s 250 64");

    sg_quota_usage_t u = {0};
    CHECK_INT(sg_quota_usage_add(&u, H2O_STRLIT("s:a"), SG_QUOTA_NO_EXPIRY, H2O_STRLIT("s 1000 512"), 100), 1);
    CHECK_INT(sg_quota_usage_add(&u, H2O_STRLIT("s:b"), 99, H2O_STRLIT("s 1000 512"), 100), 0); /* expired */
    CHECK_INT(sg_quota_usage_add(&u, H2O_STRLIT("r:x"), 200, H2O_STRLIT("s 500 256"), 100), 1);
    CHECK_INT(sg_quota_usage_add(&u, H2O_STRLIT("r:y"), 200, H2O_STRLIT("n 0 0"), 100), 1);
    CHECK_INT(sg_quota_usage_add(&u, H2O_STRLIT("n:s1"), SG_QUOTA_NO_EXPIRY, H2O_STRLIT("n 0 0"), 100), 1);
    CHECK_INT(sg_quota_usage_add(&u, H2O_STRLIT("s:c"), 500, H2O_STRLIT("garbage"), 100), 0);
    CHECK_U64(u.live, 1);
    CHECK_U64(u.cpu_millis, 1000);
    CHECK_U64(u.pending_live, 1);
    CHECK_U64(u.pending_cpu_millis, 500);
    CHECK_U64(u.pending_snapshots, 1);
    CHECK_U64(u.snapshots, 1);

    int pending_only = -1;
    sg_quota_limits_t l = {.max_live = 2};
    CHECK_INT(sg_quota_check(&l, &u, SG_QUOTA_KIND_SANDBOX, 0, 0, &pending_only), SG_QUOTA_OVER_LIVE);
    CHECK_INT(pending_only, 1); /* 1 live + 1 pending: without the pending one it would fit */
    l = (sg_quota_limits_t){.max_live = 1};
    CHECK_INT(sg_quota_check(&l, &u, SG_QUOTA_KIND_SANDBOX, 0, 0, &pending_only), SG_QUOTA_OVER_LIVE);
    CHECK_INT(pending_only, 0);
    l = (sg_quota_limits_t){.max_live = 3, .max_cpu_millis = 2000};
    CHECK_INT(sg_quota_check(&l, &u, SG_QUOTA_KIND_SANDBOX, 500, 0, &pending_only), SG_QUOTA_OK);
    CHECK_INT(sg_quota_check(&l, &u, SG_QUOTA_KIND_SANDBOX, 501, 0, &pending_only), SG_QUOTA_OVER_CPU);
    l = (sg_quota_limits_t){.max_memory_mb = 768};
    CHECK_INT(sg_quota_check(&l, &u, SG_QUOTA_KIND_SANDBOX, 0, 1, NULL), SG_QUOTA_OVER_MEMORY);
    l = (sg_quota_limits_t){.max_snapshots = 2};
    CHECK_INT(sg_quota_check(&l, &u, SG_QUOTA_KIND_SNAPSHOT, 0, 0, &pending_only), SG_QUOTA_OVER_SNAPSHOTS);
    CHECK_INT(pending_only, 1);
    CHECK(sg_quota_limits_none(&(sg_quota_limits_t){.max_snapshots = 1}, SG_QUOTA_KIND_SANDBOX));
    CHECK(!sg_quota_limits_none(&(sg_quota_limits_t){.max_snapshots = 1}, SG_QUOTA_KIND_SNAPSHOT));
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static sg_quota_request_t quota_req(const char *tenant, const char *rid, sg_quota_kind_t kind, uint64_t max_live, int64_t lease_ms)
{
    sg_quota_request_t q = {.kind = kind, .cpu_millis = 500, .memory_mb = 256, .lease_until_ms = wall_ms() + lease_ms};
    q.limits.max_live = max_live;
    q.limits.max_snapshots = max_live;
    strcpy(q.tenant, tenant);
    strcpy(q.rid, rid);
    return q;
}

#define RUNQ(q, expr)                                                                                                              \
    do {                                                                                                                           \
        memset(&(q), 0, sizeof(q));                                                                                                \
        in_call = 1;                                                                                                               \
        (expr);                                                                                                                    \
        in_call = 0;                                                                                                               \
        CHECK(!(q).called);                                                                                                        \
        run_until(&(q).called, 5000);                                                                                              \
        CHECK((q).called);                                                                                                         \
    } while (0)

static void usage_of(sg_store_t *s, const char *tenant, quota_result_t *q)
{
    RUNQ(*q, sg_store_quota_usage(s, tenant, on_quota, q));
    CHECK(q->err == NULL);
}

static void test_quota_store(sg_store_t *s)
{
    quota_result_t q;
    result_t r = {0};
    sg_quota_request_t req;
    /* two reservations fit a quota of 2, the third does not */
    req = quota_req("qt", "r1", SG_QUOTA_KIND_SANDBOX, 2, 60000);
    RUNQ(q, sg_store_quota_reserve(s, &req, on_quota, &q));
    CHECK(q.err == NULL);
    CHECK_INT(q.verdict, SG_QUOTA_OK);
    req = quota_req("qt", "r2", SG_QUOTA_KIND_SANDBOX, 2, 60000);
    RUNQ(q, sg_store_quota_reserve(s, &req, on_quota, &q));
    CHECK_INT(q.verdict, SG_QUOTA_OK);
    CHECK_U64(q.usage.pending_live, 1);
    req = quota_req("qt", "r3", SG_QUOTA_KIND_SANDBOX, 2, 60000);
    RUNQ(q, sg_store_quota_reserve(s, &req, on_quota, &q));
    CHECK_INT(q.verdict, SG_QUOTA_OVER_LIVE);
    CHECK_U64(q.usage.pending_live, 2);
    /* the record write of r1 commits it: one live, one pending */
    sg_sandbox_rec_t rec = sbx("q-sbx-1", "qt", 0);
    strcpy(rec.reservation, "r1");
    RUN(r, sg_store_put_sandbox(s, &rec, on_done, &r));
    CHECK(r.err == NULL);
    usage_of(s, "qt", &q);
    CHECK_U64(q.usage.live, 1);
    CHECK_U64(q.usage.cpu_millis, 500);
    CHECK_U64(q.usage.memory_mb, 256);
    CHECK_U64(q.usage.pending_live, 1);
    /* the stored record does not carry the reservation */
    RUN(r, sg_store_get_sandbox(s, "q-sbx-1", on_sandbox, &r));
    CHECK_STR(r.sbx.reservation, "");
    /* a release gives r2 back; a renew (put again) does not count twice */
    sg_store_quota_release(s, "qt", "r2");
    rec.reservation[0] = '\0';
    rec.expires_at_ms = wall_ms() + 3600000;
    RUN(r, sg_store_put_sandbox(s, &rec, on_done, &r));
    usage_of(s, "qt", &q);
    CHECK_U64(q.usage.live, 1);
    CHECK_U64(q.usage.pending_live, 0);
    /* a delete stops counting; so does a forget (Failed sandbox, record kept) */
    RUN(r, sg_store_del_sandbox(s, "q-sbx-1", on_done, &r));
    usage_of(s, "qt", &q);
    CHECK_U64(q.usage.live, 0);
    rec = sbx("q-sbx-2", "qt", 0);
    RUN(r, sg_store_put_sandbox(s, &rec, on_done, &r));
    sg_store_quota_forget(s, "qt", SG_QUOTA_KIND_SANDBOX, "q-sbx-2");
    usage_of(s, "qt", &q);
    CHECK_U64(q.usage.live, 0);
    RUN(r, sg_store_del_sandbox(s, "q-sbx-2", on_done, &r));
    /* an expired sandbox (TTL) does not count */
    rec = sbx("q-sbx-3", "qt", wall_ms() - 1000);
    RUN(r, sg_store_put_sandbox(s, &rec, on_done, &r));
    usage_of(s, "qt", &q);
    CHECK_U64(q.usage.live, 0);
    RUN(r, sg_store_del_sandbox(s, "q-sbx-3", on_done, &r));
    /* a reservation whose lease ended stops counting, and the next reservation prunes it */
    req = quota_req("qt", "short", SG_QUOTA_KIND_SANDBOX, 1, 150);
    RUNQ(q, sg_store_quota_reserve(s, &req, on_quota, &q));
    CHECK_INT(q.verdict, SG_QUOTA_OK);
    req = quota_req("qt", "blocked", SG_QUOTA_KIND_SANDBOX, 1, 60000);
    RUNQ(q, sg_store_quota_reserve(s, &req, on_quota, &q));
    CHECK_INT(q.verdict, SG_QUOTA_OVER_LIVE);
    run_until(NULL, 250);
    req = quota_req("qt", "after", SG_QUOTA_KIND_SANDBOX, 1, 60000);
    RUNQ(q, sg_store_quota_reserve(s, &req, on_quota, &q));
    CHECK_INT(q.verdict, SG_QUOTA_OK);
    CHECK_U64(q.usage.pending_live, 0);
    sg_store_quota_release(s, "qt", "after");
    /* snapshots */
    req = quota_req("qt", "n1", SG_QUOTA_KIND_SNAPSHOT, 1, 60000);
    RUNQ(q, sg_store_quota_reserve(s, &req, on_quota, &q));
    CHECK_INT(q.verdict, SG_QUOTA_OK);
    sg_snapshot_rec_t snap = {{0}};
    strcpy(snap.id, "q-snap-1");
    strcpy(snap.tenant, "qt");
    strcpy(snap.backend, "b1");
    strcpy(snap.reservation, "n1");
    RUN(r, sg_store_put_snapshot(s, &snap, on_done, &r));
    req = quota_req("qt", "n2", SG_QUOTA_KIND_SNAPSHOT, 1, 60000);
    RUNQ(q, sg_store_quota_reserve(s, &req, on_quota, &q));
    CHECK_INT(q.verdict, SG_QUOTA_OVER_SNAPSHOTS);
    CHECK_U64(q.usage.snapshots, 1);
    CHECK_U64(q.usage.pending_snapshots, 0);
    RUN(r, sg_store_del_snapshot(s, "q-snap-1", on_done, &r));
    RUNQ(q, sg_store_quota_reserve(s, &req, on_quota, &q));
    CHECK_INT(q.verdict, SG_QUOTA_OK);
    sg_store_quota_release(s, "qt", "n2");
    usage_of(s, "qt", &q);
    CHECK_U64(q.usage.snapshots + q.usage.pending_snapshots + q.usage.live + q.usage.pending_live, 0);
    /* invalid arguments */
    req = quota_req("qt", "bad id", SG_QUOTA_KIND_SANDBOX, 1, 60000);
    RUNQ(q, sg_store_quota_reserve(s, &req, on_quota, &q));
    CHECK(q.err == sg_store_err_invalid);
    /* a cancelled reservation never calls back, and the connection goes on serving the next ones */
    req = quota_req("qt", "cancelled", SG_QUOTA_KIND_SANDBOX, 5, 60000);
    memset(&q, 0, sizeof(q));
    sg_store_cancel(sg_store_quota_reserve(s, &req, on_quota, &q));
    req = quota_req("qt", "next", SG_QUOTA_KIND_SANDBOX, 5, 60000);
    quota_result_t q2;
    RUNQ(q2, sg_store_quota_reserve(s, &req, on_quota, &q2));
    CHECK(!q.called);
    CHECK_INT(q2.verdict, SG_QUOTA_OK);
    sg_store_quota_release(s, "qt", "next");
    sg_store_quota_release(s, "qt", "cancelled");
}

/*
 * 40 reservations started at once from four stores on two loops (with Redis: four transaction connections whose
 * reads interleave) for a quota of 10: exactly 10 granted.
 */
static void test_quota_race(sg_store_t *s1)
{
    sg_loop_t l2;
    loops[num_loops++] = h2o_evloop_create();
    sg_loop_init(&l2, loops[1], 1);
    sg_store_t *stores[4] = {s1, sg_store_open(&l2), sg_store_open(main_loop), sg_store_open(&l2)};
    quota_result_t q[40];
    memset(q, 0, sizeof(q));
    for (int i = 0; i != 40; ++i) {
        char rid[16];
        sprintf(rid, "race%02d", i);
        sg_quota_request_t req = quota_req("qrace", rid, SG_QUOTA_KIND_SANDBOX, 10, 60000);
        sg_store_quota_reserve(stores[i % 4], &req, on_quota, q + i);
    }
    uint64_t deadline = now_ms() + 10000;
    int done;
    do {
        run_until(NULL, 5);
        done = 0;
        for (int i = 0; i != 40; ++i)
            done += q[i].called;
    } while (done != 40 && now_ms() < deadline);
    CHECK_INT(done, 40);
    int granted = 0, refused = 0;
    for (int i = 0; i != 40; ++i) {
        CHECK(q[i].err == NULL);
        granted += q[i].called && q[i].err == NULL && q[i].verdict == SG_QUOTA_OK;
        refused += q[i].called && q[i].err == NULL && q[i].verdict == SG_QUOTA_OVER_LIVE;
    }
    CHECK_INT(granted, 10);
    CHECK_INT(refused, 30);
    quota_result_t u;
    usage_of(s1, "qrace", &u);
    CHECK_U64(u.usage.pending_live, 10);
    for (int i = 0; i != 40; ++i) {
        char rid[16];
        sprintf(rid, "race%02d", i);
        sg_store_quota_release(s1, "qrace", rid);
    }
    usage_of(s1, "qrace", &u);
    CHECK_U64(u.usage.pending_live, 0);
    for (int i = 1; i != 4; ++i)
        sg_store_close(stores[i]);
    run_until(NULL, 20);
    sg_loop_dispose(&l2);
    h2o_evloop_destroy(loops[--num_loops]);
}
