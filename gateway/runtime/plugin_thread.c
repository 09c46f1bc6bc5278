#include <stdlib.h>
#include "config/plugin_registry.h"
#include "runtime/plugin_thread.h"
#include "runtime/thread.h"
#include "util/log.h"

static sg_plugin_thread_t *create(sg_thread_t *t, size_t slot)
{
    const sg_plugin_t *p = sg_plugin_registry_at(slot);
    sg_plugin_thread_t *pt = calloc(1, sizeof(*pt));
    if (pt == NULL)
        return NULL;
    pt->thread = t;
    pt->plugin = p;
    h2o_linklist_init_anchor(&pt->timers);
    h2o_linklist_init_anchor(&pt->ops);
    t->plugin_threads[slot] = pt;
    void *(*init)(const sg_plugin_api_t *, sg_plugin_thread_t *) = sg_plugin_thread_init_of(p);
    const sg_plugin_api_t *api = sg_plugin_registry_api();
    if (init != NULL && api != NULL) {
        const sg_plugin_t *prev = sg_plugin_enter(p);
        pt->state = init(api, pt);
        sg_plugin_enter(prev);
    }
    return pt;
}

void sg_plugin_threads_start(sg_thread_t *t)
{
    size_t n = sg_plugin_registry_count();
    for (size_t i = 0; i != n; ++i)
        sg_plugin_thread_get(t, i);
}

sg_plugin_thread_t *sg_plugin_thread_get(sg_thread_t *t, size_t slot)
{
    if (slot >= SG_THREAD_MAX_PLUGINS || slot >= sg_plugin_registry_count())
        return NULL;
    if (t->plugin_threads[slot] != NULL)
        return t->plugin_threads[slot];
    return create(t, slot);
}

/* cancels the timers and fails the pending operations of pt (callbacks may start more: until none is left); returns
 * 1 when there was any */
static int cancel_all(sg_plugin_thread_t *pt)
{
    int any = 0;
    for (;;) {
        if (!h2o_linklist_is_empty(&pt->timers)) {
            sg_plugin_timer_t *tm = H2O_STRUCT_FROM_MEMBER(sg_plugin_timer_t, link, pt->timers.next);
            h2o_linklist_unlink(&tm->link);
            sg_timer_cancel(&tm->timer);
            free(tm);
        } else if (!h2o_linklist_is_empty(&pt->ops)) {
            sg_plugin_thread_op_t *op = H2O_STRUCT_FROM_MEMBER(sg_plugin_thread_op_t, link, pt->ops.next);
            op->cancel(op);
        } else {
            return any;
        }
        any = 1;
    }
}

void sg_plugin_threads_stop(sg_thread_t *t)
{
    const sg_plugin_api_t *api = sg_plugin_registry_api();
    for (size_t i = 0; i != SG_THREAD_MAX_PLUGINS; ++i) {
        sg_plugin_thread_t *pt = t->plugin_threads[i];
        if (pt == NULL)
            continue;
        const sg_plugin_t *prev = sg_plugin_enter(pt->plugin);
        cancel_all(pt); /* timers first: nothing fires once the plugin is being torn down */
        void (*dispose)(const sg_plugin_api_t *, sg_plugin_thread_t *, void *) = sg_plugin_thread_dispose_of(pt->plugin);
        if (dispose != NULL && api != NULL)
            dispose(api, pt, pt->state);
        if (cancel_all(pt))
            sg_log(SG_LOG_WARN, "plugin %s started timers or store operations in thread_dispose; they were dropped",
                   pt->plugin->name);
        sg_plugin_enter(prev);
        free(pt);
        t->plugin_threads[i] = NULL;
    }
}
