/*
 * The rate-limit plugin's pure parts (lua-free-plugins/builtin/rate_limit_window.c): the two-window
 * sliding estimate (decisions, remaining, reset, retry-after), the long-run rate it lets through,
 * and the counter table (slots by window, sweeping, the max_keys bound). A fake clock drives it.
 */
#include <stdlib.h>
#include "test.h"
#include "../../lua-free-plugins/builtin/rate_limit.h"

#define T0 1700000000000ull /* a window-aligned wall-clock time for W = 2000 */

static void test_decide_basics(void)
{
    rl_decision_t d;
    /* empty windows: allowed, 9 left of 10, the window ends in 2 s */
    rl_decide(10, 2000, T0, 0, 0, 1, &d);
    CHECK(d.allowed);
    CHECK_INT(d.remaining, 9);
    CHECK_U64(d.reset_ms, 2000);
    CHECK_U64(d.retry_after_ms, 0);
    /* the 10th request of a window is allowed with 0 left, the 11th is refused */
    rl_decide(10, 2000, T0 + 500, 0, 9, 1, &d);
    CHECK(d.allowed);
    CHECK_INT(d.remaining, 0);
    CHECK_U64(d.reset_ms, 1500);
    rl_decide(10, 2000, T0 + 500, 0, 10, 1, &d);
    CHECK(!d.allowed);
    CHECK_INT(d.remaining, 0);
    /* with nothing else counted: allowed once floor(10 * (W - e') / W) <= 9 in the next window, i.e. at its 2nd ms */
    CHECK_U64(d.retry_after_ms, 1500 + 1);
    /* half-way through a window, the previous window weighs half: 10 * 0.5 + 0 = 5 used, 4 left after this one */
    rl_decide(10, 2000, T0 + 1000, 10, 0, 1, &d);
    CHECK(d.allowed);
    CHECK_INT(d.remaining, 4);
    /* 10 * 0.5 + 5 = 10: refused; 1 ms later the weighted 4.995 rounds down to 4 */
    rl_decide(10, 2000, T0 + 1000, 10, 5, 1, &d);
    CHECK(!d.allowed);
    CHECK_U64(d.retry_after_ms, 1);
    /* a request costing more than the limit is never allowed */
    rl_decide(1, 2000, T0, 0, 0, 2, &d);
    CHECK(!d.allowed);
    CHECK(d.retry_after_ms >= 2000);
}

/* retry_after is exact: refused 1 ms before, allowed at that time, for many states (nothing else counted meanwhile) */
static void test_retry_after_exact(void)
{
    uint64_t seed = 42;
    int checked = 0;
    for (int i = 0; i != 20000; ++i) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        int64_t limit = 1 + (int64_t)((seed >> 33) % 50);
        uint64_t w = 10 + (seed >> 20) % 5000;
        int64_t prev = (int64_t)((seed >> 8) % (uint64_t)(2 * limit + 1));
        int64_t cur = (int64_t)((seed >> 40) % (uint64_t)(limit + 2));
        uint64_t now = T0 + (seed >> 3) % 100000;
        rl_decision_t d, at, before;
        rl_decide(limit, w, now, prev, cur, 1, &d);
        if (d.allowed)
            continue;
        uint64_t idx = now / w, t = now + d.retry_after_ms;
        /* the counts as seen at time t: this window's count becomes the previous one if t is in the next window */
        int64_t p = t / w == idx ? prev : t / w == idx + 1 ? cur : 0, c = t / w == idx ? cur : 0;
        rl_decide(limit, w, t, p, c, 1, &at);
        CHECK(at.allowed);
        if (!at.allowed) {
            fprintf(stderr, "  limit %jd w %ju prev %jd cur %jd now+%ju retry %ju\n", (intmax_t)limit, (uintmax_t)w, (intmax_t)prev,
                    (intmax_t)cur, (uintmax_t)(now % w), (uintmax_t)d.retry_after_ms);
            return;
        }
        if (d.retry_after_ms != 0) {
            uint64_t t1 = t - 1;
            p = t1 / w == idx ? prev : t1 / w == idx + 1 ? cur : 0;
            c = t1 / w == idx ? cur : 0;
            rl_decide(limit, w, t1, p, c, 1, &before);
            CHECK(!before.allowed);
        }
        ++checked;
    }
    CHECK(checked > 1000);
}

/* driven at 4x the rate for 60 s, the estimate admits the rate (plus at most one burst) */
static void test_long_run_rate(void)
{
    const int64_t rate = 5, burst = 10; /* 5/s, burst 10: W = 2 s, L = 10 */
    const uint64_t w = 1000 * burst / rate;
    rl_table_t t;
    rl_table_init(&t, 16);
    int64_t allowed = 0;
    for (uint64_t now = T0; now < T0 + 60000; now += 50) { /* 20 requests per second */
        rl_entry_t *e = rl_table_get(&t, "k", 1, w, now, 1);
        uint64_t idx = now / w;
        rl_decision_t d;
        rl_decide(burst, w, now, rl_entry_count(e, idx - 1), rl_entry_count(e, idx), 1, &d);
        if (d.allowed) {
            rl_entry_slot(e, idx)->known += 1;
            ++allowed;
        }
        e->last_used_ms = now;
    }
    fprintf(stderr, "  60 s at 20/s through 5/s burst 10: %jd allowed (ideal 300 + burst 10)\n", (intmax_t)allowed);
    CHECK(allowed >= 300 && allowed <= 310);
    rl_table_dispose(&t);
}

static void test_table(void)
{
    rl_table_t t;
    rl_table_init(&t, 100);
    /* slots by window parity; a slot of an older window is cleared when reused */
    rl_entry_t *e = rl_table_get(&t, "lim:1000:a", 10, 1000, T0, 1);
    CHECK(e != NULL);
    CHECK(rl_table_get(&t, "lim:1000:a", 10, 1000, T0, 0) == e);
    CHECK(rl_table_get(&t, "lim:1000:b", 10, 1000, T0, 0) == NULL);
    uint64_t idx = T0 / 1000;
    rl_entry_slot(e, idx)->known = 7;
    rl_entry_slot(e, idx)->pending = 2;
    CHECK_INT(rl_entry_count(e, idx), 9);
    CHECK_INT(rl_entry_count(e, idx - 1), 0);
    CHECK_INT(rl_entry_count(e, idx + 1), 0);
    rl_entry_slot(e, idx + 1)->known = 1;
    CHECK_INT(rl_entry_count(e, idx), 9); /* the other slot */
    CHECK_INT(rl_entry_slot(e, idx + 2)->known, 0);
    CHECK_INT(rl_entry_count(e, idx), 0); /* reused for idx + 2 */
    /* 1000 keys: the table grows; at max_entries live keys, no new one */
    size_t made = 0;
    char k[32];
    for (int i = 0; i != 200; ++i) {
        int n = snprintf(k, sizeof(k), "lim:1000:%d", i);
        if (rl_table_get(&t, k, (size_t)n, 1000, T0, 1) != NULL)
            ++made;
    }
    CHECK_INT(t.count, 100);
    CHECK_INT(made, 99); /* key "a" was there already */
    /* two windows later, unused entries with nothing to sync are swept, and new keys fit again */
    e->slots[0].pending = e->slots[1].pending = 0;
    e->slots[0].inflight = 1; /* not this one: it has counts in flight */
    rl_table_sweep(&t, T0 + 2000, t.num_buckets);
    CHECK_INT(t.count, 1);
    CHECK(rl_table_get(&t, "lim:1000:a", 10, 1000, T0, 0) == e);
    CHECK(rl_table_get(&t, "lim:1000:new", 12, 1000, T0 + 2000, 1) != NULL);
    /* an entry of the over-limit cache lives until its block ends */
    rl_entry_t *b = rl_table_get(&t, "lim:1000:blocked", 16, 1000, T0 + 2000, 1);
    b->blocked_until_ms = T0 + 10000;
    rl_table_sweep(&t, T0 + 5000, t.num_buckets);
    CHECK(rl_table_get(&t, "lim:1000:blocked", 16, 1000, T0, 0) == b);
    rl_table_sweep(&t, T0 + 10000, t.num_buckets);
    CHECK(rl_table_get(&t, "lim:1000:blocked", 16, 1000, T0, 0) == NULL);
    rl_table_dispose(&t);
}

int main(void)
{
    test_decide_basics();
    test_retry_after_exact();
    test_long_run_rate();
    test_table();
    return TEST_DONE();
}
