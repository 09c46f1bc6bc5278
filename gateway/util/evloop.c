#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include "util/evloop.h"

void sg_loop_init(sg_loop_t *l, h2o_evloop_t *loop, size_t thread_index)
{
    *l = (sg_loop_t){.loop = loop, .thread_index = thread_index};
}

void sg_loop_on_dispose(sg_loop_t *l, sg_loop_dispose_cb cb)
{
    for (size_t i = 0; i != l->num_disposers; ++i)
        if (l->disposers[i] == cb)
            return;
    assert(l->num_disposers < SG_LOOP_MAX_DISPOSERS);
    l->disposers[l->num_disposers++] = cb;
}

void sg_loop_dispose(sg_loop_t *l)
{
    while (l->num_disposers != 0)
        l->disposers[--l->num_disposers](l);
    for (size_t i = 0; i != l->num_timeouts; ++i) {
        h2o_timeout_dispose(l->loop, l->timeouts[i].timeout);
        free(l->timeouts[i].timeout);
    }
    free(l->timeouts);
    l->timeouts = NULL;
    l->num_timeouts = l->cap_timeouts = 0;
    /* timers still armed belong to objects that outlive the loop's run; they are not touched */
    if (l->timers.driver_list != NULL) {
        h2o_timeout_unlink(&l->timers.driver);
        h2o_timeout_dispose(l->loop, l->timers.driver_list);
        free(l->timers.driver_list);
        l->timers.driver_list = NULL;
    }
    free(l->timers.heap);
    l->timers.heap = NULL;
    l->timers.len = l->timers.cap = 0;
}

h2o_timeout_t *sg_loop_timeout(sg_loop_t *l, uint64_t ms)
{
    for (size_t i = 0; i != l->num_timeouts; ++i)
        if (l->timeouts[i].ms == ms)
            return l->timeouts[i].timeout;
    if (l->num_timeouts == l->cap_timeouts) {
        l->cap_timeouts = l->cap_timeouts == 0 ? 8 : l->cap_timeouts * 2;
        l->timeouts = h2o_mem_realloc(l->timeouts, l->cap_timeouts * sizeof(*l->timeouts));
    }
    h2o_timeout_t *t = h2o_mem_alloc(sizeof(*t));
    h2o_timeout_init(l->loop, t, ms);
    l->timeouts[l->num_timeouts].ms = ms;
    l->timeouts[l->num_timeouts].timeout = t;
    l->num_timeouts++;
    return t;
}

void sg_loop_set_timer(sg_loop_t *l, h2o_timeout_entry_t *entry, uint64_t ms)
{
    if (h2o_timeout_is_linked(entry))
        h2o_timeout_unlink(entry);
    h2o_timeout_link(l->loop, sg_loop_timeout(l, ms), entry);
}

/* ---- arbitrary-delay timers: a binary min-heap ordered by (due_at, seq) ---- */

static int fires_before(const sg_timer_t *a, const sg_timer_t *b)
{
    return a->due_at != b->due_at ? a->due_at < b->due_at : a->seq < b->seq;
}

static void heap_place(sg_loop_t *l, size_t i, sg_timer_t *t)
{
    l->timers.heap[i] = t;
    t->heap_index = i + 1;
}

static void sift_up(sg_loop_t *l, size_t i)
{
    sg_timer_t *t = l->timers.heap[i];
    while (i != 0) {
        size_t parent = (i - 1) / 2;
        if (!fires_before(t, l->timers.heap[parent]))
            break;
        heap_place(l, i, l->timers.heap[parent]);
        i = parent;
    }
    heap_place(l, i, t);
}

static void sift_down(sg_loop_t *l, size_t i)
{
    sg_timer_t *t = l->timers.heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= l->timers.len)
            break;
        if (child + 1 < l->timers.len && fires_before(l->timers.heap[child + 1], l->timers.heap[child]))
            ++child;
        if (!fires_before(l->timers.heap[child], t))
            break;
        heap_place(l, i, l->timers.heap[child]);
        i = child;
    }
    heap_place(l, i, t);
}

static void heap_remove(sg_loop_t *l, sg_timer_t *t)
{
    size_t i = t->heap_index - 1;
    sg_timer_t *last = l->timers.heap[--l->timers.len];
    t->heap_index = 0;
    t->loop = NULL;
    if (last != t) {
        heap_place(l, i, last);
        sift_up(l, i);
        sift_down(l, last->heap_index - 1);
    }
}

/*
 * Links the driver entry so that it fires when the earliest timer is due. The
 * driver's list has duration 0 and holds only the driver, whose registered_at
 * is set to that due time: h2o fires an entry once registered_at + duration <=
 * now, and wakes the loop then. min_wait is 1 inside the driver's own run: h2o
 * computes "now - duration" once per run, so an entry due now would fire again
 * in the same run.
 */
static void arm_driver(sg_loop_t *l, uint64_t min_wait)
{
    h2o_timeout_unlink(&l->timers.driver);
    if (l->timers.len == 0)
        return;
    uint64_t now = h2o_now(l->loop), due = l->timers.heap[0]->due_at;
    if (due < now + min_wait)
        due = now + min_wait;
    h2o_timeout_link(l->loop, l->timers.driver_list, &l->timers.driver);
    l->timers.driver.registered_at = due;
}

/* Fires the timers due now that were armed before this run started (re-arming with 0 waits a turn). */
static void on_driver(h2o_timeout_entry_t *entry)
{
    sg_loop_t *l = H2O_STRUCT_FROM_MEMBER(sg_loop_t, timers.driver, entry);
    uint64_t now = h2o_now(l->loop), run_seq = l->timers.next_seq;
    l->timers.running = 1;
    while (l->timers.len != 0) {
        sg_timer_t *t = l->timers.heap[0];
        if (t->due_at > now || t->seq >= run_seq)
            break;
        heap_remove(l, t);
        t->cb(t);
    }
    l->timers.running = 0;
    arm_driver(l, 1);
}

void sg_timer_set(sg_loop_t *l, sg_timer_t *t, uint64_t delay_ms)
{
    sg_timer_t *old_first = l->timers.len != 0 ? l->timers.heap[0] : NULL;
    if (t->heap_index != 0)
        heap_remove(t->loop, t);
    if (l->timers.driver_list == NULL) {
        l->timers.driver_list = h2o_mem_alloc(sizeof(*l->timers.driver_list));
        h2o_timeout_init(l->loop, l->timers.driver_list, 0);
        l->timers.driver = (h2o_timeout_entry_t){.cb = on_driver};
    }
    if (l->timers.len == l->timers.cap) {
        l->timers.cap = l->timers.cap == 0 ? 16 : l->timers.cap * 2;
        l->timers.heap = h2o_mem_realloc(l->timers.heap, l->timers.cap * sizeof(*l->timers.heap));
    }
    uint64_t now = h2o_now(l->loop);
    t->loop = l;
    t->due_at = delay_ms > UINT64_MAX - now ? UINT64_MAX : now + delay_ms;
    t->seq = l->timers.next_seq++;
    l->timers.heap[l->timers.len++] = t;
    sift_up(l, l->timers.len - 1);
    if (!l->timers.running && (l->timers.heap[0] == t || l->timers.heap[0] != old_first))
        arm_driver(l, 0);
}

void sg_timer_cancel(sg_timer_t *t)
{
    if (t->heap_index == 0)
        return;
    sg_loop_t *l = t->loop;
    int was_first = t->heap_index == 1;
    heap_remove(l, t);
    if (!l->timers.running && was_first)
        arm_driver(l, 0);
}

static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;
static size_t num_parked;

void sg_loop_park_thread(void)
{
    pthread_mutex_lock(&park_lock);
    ++num_parked;
    pthread_cond_broadcast(&park_cond);
    for (;;)
        pthread_cond_wait(&park_cond, &park_lock);
}

void sg_loop_wait_parked(size_t n)
{
    pthread_mutex_lock(&park_lock);
    while (num_parked < n)
        pthread_cond_wait(&park_cond, &park_lock);
    pthread_mutex_unlock(&park_lock);
}
