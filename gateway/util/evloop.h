/*
 * Per-thread event loop context shared by everything that runs on a loop
 * (worker threads and the health-check thread): the h2o loop, timeouts by
 * duration (h2o 2.2 timeouts have one fixed duration each) and the upstream
 * connection pools of that loop (owned by backend/upstream_pool.c, which
 * registers their disposal: the loop knows nothing about pools).
 */
#ifndef SG_EVLOOP_H
#define SG_EVLOOP_H

#include <stdint.h>
#include <h2o.h>

#define SG_LOOP_MAX_TIMEOUTS 64
#define SG_LOOP_MAX_DISPOSERS 4

typedef struct st_sg_pool_t sg_pool_t;
struct st_sg_loop_t;
typedef void (*sg_loop_dispose_cb)(struct st_sg_loop_t *l);

typedef struct st_sg_loop_t {
    h2o_evloop_t *loop;
    size_t thread_index;
    struct {
        uint64_t ms;
        h2o_timeout_t *timeout; /* malloc'd: an h2o_timeout_t must never move */
    } timeouts[SG_LOOP_MAX_TIMEOUTS];
    size_t num_timeouts;
    sg_pool_t **pools;
    size_t num_pools;
    sg_loop_dispose_cb disposers[SG_LOOP_MAX_DISPOSERS]; /* run by sg_loop_dispose, latest first */
    size_t num_disposers;
} sg_loop_t;

void sg_loop_init(sg_loop_t *l, h2o_evloop_t *loop, size_t thread_index);
/* runs the registered disposers (closing pooled connections) and frees timeouts; the loop itself is not destroyed */
void sg_loop_dispose(sg_loop_t *l);
/* Registers cb to run when l is disposed (once: a cb already registered is not added again). */
void sg_loop_on_dispose(sg_loop_t *l, sg_loop_dispose_cb cb);
/*
 * Returns the timeout list of the given duration on this loop, creating it on
 * first use. Past SG_LOOP_MAX_TIMEOUTS distinct durations, returns the nearest
 * longer one (or the longest).
 */
h2o_timeout_t *sg_loop_timeout(sg_loop_t *l, uint64_t ms);
/* links entry to fire after ms; unlinks it first if linked */
void sg_loop_set_timer(sg_loop_t *l, h2o_timeout_entry_t *entry, uint64_t ms);

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
