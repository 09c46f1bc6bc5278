/*
 * Per-thread event loop context shared by everything that runs on a loop
 * (worker threads and the health-check thread): the h2o loop, timers and the
 * upstream connection pools of that loop (owned by backend/upstream_pool.c,
 * which registers their disposal: the loop knows nothing about pools).
 *
 * Two kinds of timers:
 * - sg_loop_set_timer / sg_loop_timeout: h2o timeout lists, one per distinct
 *   duration (an h2o 2.2 timeout list has one fixed duration). O(1), for
 *   durations that are constants or fixed by the configuration (a handful of
 *   values per config generation).
 * - sg_timer_t: a min-heap per loop for arbitrary delays (plugin timers,
 *   backoffs), so that any number of distinct delays costs no list each. The
 *   heap is driven by one h2o timeout entry whose list holds only it.
 */
#ifndef SG_EVLOOP_H
#define SG_EVLOOP_H

#include <stdint.h>
#include <h2o.h>

#define SG_LOOP_MAX_DISPOSERS 4

typedef struct st_sg_pool_t sg_pool_t;
typedef struct st_sg_loop_t sg_loop_t;
typedef struct st_sg_timer_t sg_timer_t;
typedef void (*sg_timer_cb)(sg_timer_t *timer);
typedef void (*sg_loop_dispose_cb)(sg_loop_t *l);

/* An arbitrary-delay timer; zero-initialise (or sg_timer_init) before use. */
struct st_sg_timer_t {
    sg_timer_cb cb;
    sg_loop_t *loop;   /* set while armed */
    uint64_t due_at;   /* h2o_now() milliseconds */
    uint64_t seq;      /* arming order: FIFO among equal due times */
    size_t heap_index; /* 1-based position in the heap; 0 = not armed */
};

struct st_sg_loop_t {
    h2o_evloop_t *loop;
    size_t thread_index;
    struct sg_loop_timeout_t {
        uint64_t ms;
        h2o_timeout_t *timeout; /* malloc'd: an h2o_timeout_t must never move */
    } * timeouts;
    size_t num_timeouts, cap_timeouts;
    struct {
        sg_timer_t **heap;
        size_t len, cap;
        uint64_t next_seq;
        int running;                /* inside the driver's callback: it re-arms the driver once at the end */
        h2o_timeout_t *driver_list; /* malloc'd; holds only `driver`, its duration is set at each link */
        h2o_timeout_entry_t driver;
    } timers;
    sg_pool_t **pools;
    size_t num_pools;
    sg_loop_dispose_cb disposers[SG_LOOP_MAX_DISPOSERS]; /* run by sg_loop_dispose, latest first */
    size_t num_disposers;
};

void sg_loop_init(sg_loop_t *l, h2o_evloop_t *loop, size_t thread_index);
/* runs the registered disposers (closing pooled connections) and frees timeouts; the loop itself is not destroyed */
void sg_loop_dispose(sg_loop_t *l);
/* Registers cb to run when l is disposed (once: a cb already registered is not added again). */
void sg_loop_on_dispose(sg_loop_t *l, sg_loop_dispose_cb cb);
/*
 * Returns the timeout list of the given duration on this loop, creating it on
 * first use (h2o_mem_alloc: aborts when out of memory, as h2o does). Meant for
 * fixed durations: every distinct value costs a list for the loop's lifetime.
 */
h2o_timeout_t *sg_loop_timeout(sg_loop_t *l, uint64_t ms);
/* links entry to fire after exactly ms (a fixed duration, see above); unlinks it first if linked */
void sg_loop_set_timer(sg_loop_t *l, h2o_timeout_entry_t *entry, uint64_t ms);

static inline void sg_timer_init(sg_timer_t *t, sg_timer_cb cb)
{
    *t = (sg_timer_t){.cb = cb};
}
/*
 * Arms t to fire delay_ms from the loop's current time (re-arms it if armed).
 * Fires on time for any delay. A timer armed with 0 from inside a timer
 * callback fires on the next loop turn, never in the same run. Aborts when out
 * of memory (the heap grows by h2o_mem_realloc).
 */
void sg_timer_set(sg_loop_t *l, sg_timer_t *t, uint64_t delay_ms);
/* disarms t if armed; safe on a timer that was never armed */
void sg_timer_cancel(sg_timer_t *t);
static inline int sg_timer_is_set(const sg_timer_t *t)
{
    return t->heap_index != 0;
}

/*
 * A finished loop thread does not exit: libh2o keeps per-thread free lists
 * (memory-pool chunks, socket buffers) in thread-local storage it offers no way
 * to release, and they would be reported as leaks once the thread is gone. A
 * parked thread's TLS stays reachable until the process exits. Never returns.
 */
void sg_loop_park_thread(void) __attribute__((noreturn));
/* Waits until n threads in total have parked. */
void sg_loop_wait_parked(size_t n);

#endif
