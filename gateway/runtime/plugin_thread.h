/*
 * Per-thread plugin state (plugin ABI 2): for each worker thread and each plugin
 * of the registry, what the plugin's thread_init returned, its thread timers and
 * its background store operations. Created for every known plugin when the thread
 * starts (before it serves requests), lazily for a .so loaded later by a reload
 * (first use on the thread); at thread exit its timers are cancelled, its pending
 * operations fail (their callbacks run with an error), then thread_dispose runs.
 * Not tied to a config generation: it survives reloads.
 */
#ifndef SG_PLUGIN_THREAD_H
#define SG_PLUGIN_THREAD_H

#include <h2o.h>
#include "plugin.h"
#include "util/evloop.h"

struct st_sg_thread_t;

/* a plugin timer: tied to a request (pool memory, cancelled at dispose) or to a plugin thread (malloc'd) */
struct st_sg_plugin_timer_t {
    sg_timer_t timer;
    sg_plugin_timer_cb cb;
    void *data;
    const sg_plugin_t *plugin;
    struct st_sg_plugin_thread_t *pt; /* NULL: a request's timer */
    h2o_linklist_t link;              /* in pt->timers */
};

struct st_sg_plugin_thread_t {
    struct st_sg_thread_t *thread;
    const sg_plugin_t *plugin;
    void *state; /* what thread_init returned */
    h2o_linklist_t timers;
    h2o_linklist_t ops; /* pending background operations (plugin layer), each starting with an sg_plugin_thread_op_t */
};

/* a pending background operation of a plugin thread, failed by cancel(self) at thread exit */
typedef struct st_sg_plugin_thread_op_t {
    h2o_linklist_t link;
    void (*cancel)(struct st_sg_plugin_thread_op_t *self); /* must unlink self and run the plugin's callback with an error */
} sg_plugin_thread_op_t;

/* Creates the state of every plugin of the registry on t (thread start, on t's thread). */
void sg_plugin_threads_start(struct st_sg_thread_t *t);
/* The state of the plugin of slot on t, created on first use (a .so loaded after t started); NULL when unknown. */
sg_plugin_thread_t *sg_plugin_thread_get(struct st_sg_thread_t *t, size_t slot);
/* Thread exit: cancels timers, fails pending operations, runs thread_dispose of each plugin, frees everything. */
void sg_plugin_threads_stop(struct st_sg_thread_t *t);

#endif
