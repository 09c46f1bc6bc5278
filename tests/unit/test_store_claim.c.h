/*
 * Claims (sg_store_claim): one taker per interval and key, whoever asks. Included by test_store.c and run on both
 * backends: the first claim wins and learns its interval, a second handle (another gateway, with Redis) is refused
 * until the interval lapses, keys are independent, concurrent claims from two loops have exactly one winner, bad
 * arguments are refused, a cancelled claim never calls back.
 */

typedef struct st_claim_result_t {
    int called;
    const char *err;
    int claimed;
    uint64_t remaining_ms;
} claim_result_t;

static void on_claim(void *data, const char *err, int claimed, uint64_t remaining_ms)
{
    claim_result_t *c = data;
    CHECK(!in_call);
    CHECK(!c->called);
    c->called = 1;
    c->err = err;
    c->claimed = claimed;
    c->remaining_ms = remaining_ms;
}

static claim_result_t claim(sg_store_t *s, const char *key, uint64_t interval_ms, const char *holder)
{
    claim_result_t c = {0};
    in_call = 1;
    sg_store_claim(s, "renew:", key, interval_ms, holder, on_claim, &c);
    in_call = 0;
    CHECK(!c.called);
    run_until(&c.called, 5000);
    CHECK(c.called);
    return c;
}

static void test_claims(sg_store_t *s1)
{
    sg_loop_t l2;
    loops[num_loops++] = h2o_evloop_create();
    sg_loop_init(&l2, loops[1], 1);
    sg_store_t *s2 = sg_store_open(&l2);

    claim_result_t c = claim(s1, "cl-a", 400, "gw1");
    CHECK(c.err == NULL);
    CHECK(c.claimed);
    CHECK(c.remaining_ms > 300 && c.remaining_ms <= 400);
    /* held: refused to anyone, the holder included, with what is left of the interval */
    c = claim(s2, "cl-a", 400, "gw2");
    CHECK(c.err == NULL);
    CHECK(!c.claimed);
    CHECK(c.remaining_ms > 0 && c.remaining_ms <= 400);
    c = claim(s1, "cl-a", 5000, "gw1");
    CHECK(!c.claimed);
    CHECK(c.remaining_ms <= 400); /* the holder's interval, not the asker's */
    /* another key is free */
    c = claim(s2, "cl-b", 400, "gw2");
    CHECK(c.claimed);
    /* after the interval: free again */
    run_until(NULL, 450);
    c = claim(s2, "cl-a", 400, "gw2");
    CHECK(c.err == NULL);
    CHECK(c.claimed);

    /* concurrent claims from two loops: exactly one winner */
    claim_result_t many[20];
    memset(many, 0, sizeof(many));
    in_call = 1;
    for (size_t i = 0; i != 20; ++i)
        sg_store_claim(i % 2 == 0 ? s1 : s2, "renew:", "cl-race", 60000, i % 2 == 0 ? "gw1" : "gw2", on_claim, many + i);
    in_call = 0;
    uint64_t deadline = now_ms() + 5000;
    size_t done = 0, winners = 0;
    while (done != 20 && now_ms() < deadline) {
        run_until(NULL, 5);
        done = 0;
        for (size_t i = 0; i != 20; ++i)
            done += many[i].called;
    }
    CHECK_INT(done, 20);
    for (size_t i = 0; i != 20; ++i) {
        CHECK(many[i].err == NULL);
        winners += many[i].claimed;
    }
    CHECK_INT(winners, 1);

    /* bad arguments */
    c = claim(s1, "with space", 400, "gw1");
    CHECK(c.err == sg_store_err_invalid);
    c = claim(s1, "", 400, "gw1");
    CHECK(c.err == sg_store_err_invalid);
    c = claim(s1, "cl-c", 0, "gw1");
    CHECK(c.err == sg_store_err_invalid);
    c = claim(s1, "cl-c", 400, "");
    CHECK(c.err == sg_store_err_invalid);
    CHECK(!c.claimed);

    /* a cancelled claim does not call back (with Redis, its replies still arrive and are ignored) */
    claim_result_t cancelled = {0};
    sg_store_cancel(sg_store_claim(s1, "renew:", "cl-d", 400, "gw1", on_claim, &cancelled));
    run_until(NULL, 100);
    CHECK(!cancelled.called);

    sg_store_close(s2);
    run_until(NULL, 20);
    sg_loop_dispose(&l2);
    h2o_evloop_destroy(loops[--num_loops]);
}
