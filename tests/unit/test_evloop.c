/*
 * Loop timers (evloop.h): arbitrary-delay heap timers fire on time for any
 * number of distinct delays, in due order, and can be cancelled or re-armed;
 * fixed-duration lists stay exact past 64 distinct durations.
 */
#include <stdlib.h>
#include <time.h>
#include "util/evloop.h"
#include "test.h"

/* how late a timer may fire on a shared, loaded machine */
#define TOLERANCE_MS 40

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

typedef struct st_probe_t {
    sg_timer_t timer;
    h2o_timeout_entry_t entry;
    uint64_t delay_ms, armed_at, fired_at;
    int fired;
    size_t order;
} probe_t;

static size_t fired_count;

static void on_probe(sg_timer_t *timer)
{
    probe_t *p = H2O_STRUCT_FROM_MEMBER(probe_t, timer, timer);
    p->fired++;
    p->fired_at = mono_ms();
    p->order = fired_count++;
}

static void on_entry(h2o_timeout_entry_t *entry)
{
    probe_t *p = H2O_STRUCT_FROM_MEMBER(probe_t, entry, entry);
    p->fired++;
    p->fired_at = mono_ms();
    p->order = fired_count++;
}

static void run_until(h2o_evloop_t *loop, size_t count, uint64_t limit_ms)
{
    uint64_t start = mono_ms();
    while (fired_count < count && mono_ms() - start < limit_ms)
        h2o_evloop_run(loop, 10);
}

/* 200 distinct delays (3..400 ms) armed in a scrambled order, plus one long timer: each fires once, on time */
static void test_many_distinct_delays(h2o_evloop_t *loop)
{
    enum { N = 200 };
    sg_loop_t l;
    sg_loop_init(&l, loop, 0);
    static probe_t p[N + 1];
    fired_count = 0;
    for (size_t k = 0; k != N; ++k) {
        size_t i = (k * 7) % N; /* 7 and 200 are coprime: a permutation */
        p[i] = (probe_t){.delay_ms = 3 + 2 * i};
        sg_timer_init(&p[i].timer, on_probe);
        h2o_evloop_run(loop, 0); /* advance the loop clock between armings */
        p[i].armed_at = mono_ms();
        sg_timer_set(&l, &p[i].timer, p[i].delay_ms);
        CHECK(sg_timer_is_set(&p[i].timer));
    }
    p[N] = (probe_t){.delay_ms = 900};
    sg_timer_init(&p[N].timer, on_probe);
    p[N].armed_at = mono_ms();
    sg_timer_set(&l, &p[N].timer, p[N].delay_ms);
    run_until(loop, N + 1, 3000);
    CHECK_INT(fired_count, N + 1);
    size_t late = 0, early = 0;
    for (size_t i = 0; i != N + 1; ++i) {
        CHECK_INT(p[i].fired, 1);
        CHECK(!sg_timer_is_set(&p[i].timer));
        /* h2o's clock is cached per loop turn and has ms resolution: allow 1 ms early */
        if (p[i].fired_at + 1 < p[i].armed_at + p[i].delay_ms)
            ++early;
        if (p[i].fired_at > p[i].armed_at + p[i].delay_ms + TOLERANCE_MS)
            ++late;
    }
    CHECK_INT(early, 0);
    CHECK_INT(late, 0);
    CHECK_INT(p[N].order, N); /* the long one last */
    sg_loop_dispose(&l);
}

/* cancel before due (first, middle and last in the heap), re-arm, cancel twice and cancel never-armed */
static void test_cancel_and_rearm(h2o_evloop_t *loop)
{
    sg_loop_t l;
    sg_loop_init(&l, loop, 0);
    static probe_t p[10];
    fired_count = 0;
    for (size_t i = 0; i != 10; ++i) {
        p[i] = (probe_t){.delay_ms = 20 + 10 * i};
        sg_timer_init(&p[i].timer, on_probe);
        sg_timer_set(&l, &p[i].timer, p[i].delay_ms);
    }
    sg_timer_cancel(&p[0].timer); /* the earliest: the driver must move on */
    sg_timer_cancel(&p[5].timer);
    sg_timer_cancel(&p[9].timer);
    sg_timer_cancel(&p[9].timer);
    CHECK(!sg_timer_is_set(&p[0].timer));
    probe_t never;
    sg_timer_init(&never.timer, on_probe);
    sg_timer_cancel(&never.timer);
    /* re-arming moves a timer: p[1] from 30 ms to 150 ms, p[8] from 100 ms to 5 ms */
    sg_timer_set(&l, &p[1].timer, 150);
    sg_timer_set(&l, &p[8].timer, 5);
    run_until(loop, 7, 2000);
    h2o_evloop_run(loop, 50); /* anything cancelled would fire by now */
    CHECK_INT(fired_count, 7);
    CHECK_INT(p[0].fired + p[5].fired + p[9].fired, 0);
    CHECK_INT(p[1].fired, 1);
    CHECK_INT(p[8].order, 0);
    CHECK_INT(p[1].order, 6);
    sg_loop_dispose(&l);
}

/* a callback that re-arms its timer with 0 runs again on a later loop turn, not in a loop inside one turn */
static size_t rearms;
static sg_loop_t *rearm_loop;
static void on_rearm(sg_timer_t *t)
{
    if (++rearms < 5)
        sg_timer_set(rearm_loop, t, 0);
}

static void test_zero_rearm(h2o_evloop_t *loop)
{
    sg_loop_t l;
    sg_loop_init(&l, loop, 0);
    rearm_loop = &l;
    sg_timer_t t;
    sg_timer_init(&t, on_rearm);
    sg_timer_set(&l, &t, 0);
    h2o_evloop_run(loop, 10);
    CHECK_INT(rearms, 1);
    for (int i = 0; i != 20 && rearms < 5; ++i)
        h2o_evloop_run(loop, 10);
    CHECK_INT(rearms, 5);
    CHECK(!sg_timer_is_set(&t));
    sg_loop_dispose(&l);
}

/* fixed-duration lists: 80 distinct durations each fire after their own duration, none rounded to another list */
static void test_fixed_lists_past_64(h2o_evloop_t *loop)
{
    enum { N = 80 };
    sg_loop_t l;
    sg_loop_init(&l, loop, 0);
    static probe_t p[N];
    fired_count = 0;
    for (size_t i = 0; i != N; ++i) {
        p[i] = (probe_t){.delay_ms = 5 + 3 * i};
        p[i].entry.cb = on_entry;
        p[i].armed_at = mono_ms();
        sg_loop_set_timer(&l, &p[i].entry, p[i].delay_ms);
    }
    run_until(loop, N, 3000);
    CHECK_INT(fired_count, N);
    size_t off = 0;
    for (size_t i = 0; i != N; ++i)
        if (p[i].fired != 1 || p[i].fired_at + 1 < p[i].armed_at + p[i].delay_ms ||
            p[i].fired_at > p[i].armed_at + p[i].delay_ms + TOLERANCE_MS)
            ++off;
    CHECK_INT(off, 0);
    sg_loop_dispose(&l);
}

int main(void)
{
    h2o_evloop_t *loop = h2o_evloop_create();
    test_many_distinct_delays(loop);
    test_cancel_and_rearm(loop);
    test_zero_rearm(loop);
    test_fixed_lists_past_64(loop);
    h2o_evloop_destroy(loop);
    return TEST_DONE();
}
