/*
 * Plugin ABI 2, the parts not tied to a single request: per-thread state and
 * thread timers (runtime/plugin_thread.h), named shared state, store counters
 * (store.h, sg_store_counters) and labelled metrics (runtime/metric_family.h).
 * Request-bound variants live here too so that both kinds share one completion
 * path. The plugin making a call is the registry's current plugin
 * (sg_plugin_current): every callback into a plugin is made with it set.
 */
#include <stdlib.h>
#include <string.h>
#include "config/plugin_registry.h"
#include "plugin/plugin_api_impl.h"
#include "runtime/metric_family.h"
#include "runtime/plugin_thread.h"
#include "runtime/request.h"
#include "runtime/thread.h"
#include "store/store.h"

#define R(req) ((sg_request_t *)(req))

/* ---- threads and state ---- */

void *sg_plugin__req_thread_state(sg_plugin_req_t *req)
{
    const sg_plugin_t *p = sg_plugin_current();
    sg_plugin_thread_t *pt = p != NULL ? sg_plugin_thread_get(R(req)->thread, sg_plugin_registry_slot(p)) : NULL;
    return pt != NULL ? pt->state : NULL;
}

void *sg_plugin__shared_state(const char *name, size_t size)
{
    const sg_plugin_t *p = sg_plugin_current();
    return p != NULL ? sg_plugin_shared_state(p->name, name, size) : NULL;
}

uint64_t sg_plugin__thread_now_ms(sg_plugin_thread_t *thread)
{
    return h2o_now(thread->thread->loop.loop);
}

/* ---- timers ---- */

static void on_timer(sg_timer_t *timer)
{
    sg_plugin_timer_t *t = H2O_STRUCT_FROM_MEMBER(sg_plugin_timer_t, timer, timer);
    const sg_plugin_t *prev = sg_plugin_enter(t->plugin);
    if (t->pt == NULL) {
        t->cb(t->data);
    } else {
        /* a thread timer is gone once fired: freed after its callback (which cannot cancel it any more) */
        h2o_linklist_unlink(&t->link);
        t->cb(t->data);
        free(t);
    }
    sg_plugin_enter(prev);
}

static void req_timer_dispose(void *data)
{
    sg_plugin_timer_t *t = data;
    sg_timer_cancel(&t->timer);
}

sg_plugin_timer_t *sg_plugin__timer_start(sg_plugin_req_t *req, uint64_t delay_ms, sg_plugin_timer_cb cb, void *data)
{
    sg_request_t *r = R(req);
    sg_plugin_timer_t *t = h2o_mem_alloc_pool(&r->req->pool, sizeof(*t));
    memset(t, 0, sizeof(*t));
    sg_timer_init(&t->timer, on_timer);
    t->cb = cb;
    t->data = data;
    t->plugin = sg_plugin_current();
    sg_timer_set(&r->thread->loop, &t->timer, delay_ms);
    sg_request_on_dispose(r, req_timer_dispose, t);
    return t;
}

sg_plugin_timer_t *sg_plugin__thread_timer_start(sg_plugin_thread_t *thread, uint64_t delay_ms, sg_plugin_timer_cb cb, void *data)
{
    sg_plugin_timer_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    sg_timer_init(&t->timer, on_timer);
    t->cb = cb;
    t->data = data;
    t->plugin = thread->plugin;
    t->pt = thread;
    h2o_linklist_insert(&thread->timers, &t->link);
    sg_timer_set(&thread->thread->loop, &t->timer, delay_ms);
    return t;
}

void sg_plugin__timer_cancel(sg_plugin_timer_t *t)
{
    if (t == NULL)
        return;
    sg_timer_cancel(&t->timer);
    if (t->pt != NULL && h2o_linklist_is_linked(&t->link)) {
        h2o_linklist_unlink(&t->link);
        free(t);
    }
}

/* ---- store counters ---- */

/* one batch of counter operations in flight, for a request (pool memory) or a plugin thread (malloc'd) */
typedef struct st_counters_t {
    sg_plugin_thread_op_t super; /* thread batches: in pt->ops */
    sg_plugin_thread_t *pt;      /* NULL: a request's batch */
    sg_request_t *r;
    const sg_plugin_t *plugin;
    sg_plugin_counter_op_t *ops;
    size_t n;
    sg_plugin_counters_cb cb;
    void *data;
    sg_store_op_t *op;     /* pending store operation */
    sg_timer_t fail_timer; /* completes a batch the store could not take */
} counters_t;

static void complete(counters_t *c, int err, const sg_store_counter_t *results)
{
    c->op = NULL;
    if (err == 0)
        for (size_t i = 0; i != c->n; ++i)
            c->ops[i].value = results[i].value;
    if (c->pt != NULL)
        h2o_linklist_unlink(&c->super.link);
    const sg_plugin_t *prev = sg_plugin_enter(c->plugin);
    c->cb(c->data, err, c->ops, c->n);
    sg_plugin_enter(prev);
    if (c->pt != NULL)
        free(c);
}

static void on_counters(void *data, const char *err, const sg_store_counter_t *results, size_t n)
{
    (void)n;
    complete(data, err != NULL ? -1 : 0, results);
}

static void on_fail_timer(sg_timer_t *timer)
{
    complete(H2O_STRUCT_FROM_MEMBER(counters_t, fail_timer, timer), -1, NULL);
}

static void req_counters_dispose(void *data)
{
    counters_t *c = data;
    if (c->op != NULL) {
        sg_store_cancel(c->op);
        c->op = NULL;
    }
    sg_timer_cancel(&c->fail_timer);
}

/* fails a thread batch at thread exit (runtime/plugin_thread.c) */
static void thread_counters_cancel(sg_plugin_thread_op_t *self)
{
    counters_t *c = H2O_STRUCT_FROM_MEMBER(counters_t, super, self);
    if (c->op != NULL)
        sg_store_cancel(c->op);
    sg_timer_cancel(&c->fail_timer);
    complete(c, -1, NULL);
}

/* hands the batch to the store (which copies it); never calls back from here */
static void submit(counters_t *c, sg_store_t *store, sg_loop_t *loop)
{
    sg_store_counter_t small[16], *in = c->n <= 16 ? small : malloc(sizeof(*in) * c->n);
    char ns[SG_STORE_ID_MAX + 1];
    int nslen = snprintf(ns, sizeof(ns), "plugin:%s:", c->plugin != NULL ? c->plugin->name : "");
    sg_timer_init(&c->fail_timer, on_fail_timer);
    if (store == NULL || in == NULL || nslen < 0 || (size_t)nslen >= sizeof(ns)) {
        sg_timer_set(loop, &c->fail_timer, 0);
        goto Exit;
    }
    for (size_t i = 0; i != c->n; ++i)
        in[i] = (sg_store_counter_t){c->ops[i].key.base, c->ops[i].key.len, c->ops[i].incr, c->ops[i].ttl_ms, 0};
    c->op = sg_store_counters(store, ns, in, c->n, on_counters, c);
Exit:
    if (in != small)
        free(in);
}

void sg_plugin__req_counters(sg_plugin_req_t *req, sg_plugin_counter_op_t *ops, size_t n, sg_plugin_counters_cb cb, void *data)
{
    sg_request_t *r = R(req);
    counters_t *c = h2o_mem_alloc_pool(&r->req->pool, sizeof(*c));
    *c = (counters_t){.r = r, .plugin = sg_plugin_current(), .ops = ops, .n = n, .cb = cb, .data = data};
    sg_request_on_dispose(r, req_counters_dispose, c);
    submit(c, r->thread->store, &r->thread->loop);
}

void sg_plugin__thread_counters(sg_plugin_thread_t *thread, sg_plugin_counter_op_t *ops, size_t n, sg_plugin_counters_cb cb,
                                void *data)
{
    counters_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        abort();
    *c = (counters_t){.pt = thread, .plugin = thread->plugin, .ops = ops, .n = n, .cb = cb, .data = data};
    c->super.cancel = thread_counters_cancel;
    h2o_linklist_insert(&thread->ops, &c->super.link);
    submit(c, thread->thread->store, &thread->thread->loop);
}

int sg_plugin__store_is_shared(void)
{
    return sg_store_is_shared();
}

/* ---- metrics ---- */

sg_plugin_metric_t *sg_plugin__metric_register(const char *name, const char *help, sg_plugin_metric_kind_t kind,
                                               const char *const *label_names, size_t n)
{
    char full[SG_METRIC_NAME_MAX + 1];
    if (name == NULL || name[0] == '\0' || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name) ||
        (name[0] >= '0' && name[0] <= '9'))
        return NULL;
    if ((size_t)snprintf(full, sizeof(full), "sandgate_plugin_%s", name) >= sizeof(full))
        return NULL;
    return (sg_plugin_metric_t *)sg_metric_register(
        full, help, kind == SG_PLUGIN_METRIC_GAUGE ? SG_METRIC_GAUGE : SG_METRIC_COUNTER, label_names, n);
}

void sg_plugin__metric_add(sg_plugin_metric_t *metric, const char *const *label_values, int64_t delta)
{
    sg_metric_add((sg_metric_family_t *)metric, label_values, delta);
}

void sg_plugin__metric_set(sg_plugin_metric_t *metric, const char *const *label_values, int64_t value)
{
    sg_metric_set((sg_metric_family_t *)metric, label_values, value);
}
