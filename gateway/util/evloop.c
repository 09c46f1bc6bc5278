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
    l->num_timeouts = 0;
}

h2o_timeout_t *sg_loop_timeout(sg_loop_t *l, uint64_t ms)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i != l->num_timeouts; ++i) {
        if (l->timeouts[i].ms == ms)
            return l->timeouts[i].timeout;
        if (l->timeouts[i].ms > ms && (best == SIZE_MAX || l->timeouts[i].ms < l->timeouts[best].ms))
            best = i;
    }
    if (l->num_timeouts == SG_LOOP_MAX_TIMEOUTS) {
        if (best == SIZE_MAX) {
            best = 0;
            for (size_t i = 1; i != l->num_timeouts; ++i)
                if (l->timeouts[i].ms > l->timeouts[best].ms)
                    best = i;
        }
        return l->timeouts[best].timeout;
    }
    h2o_timeout_t *t = malloc(sizeof(*t));
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
