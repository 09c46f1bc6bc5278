/*
 * Worker threads: each owns an event loop, an h2o context, its own listening
 * sockets (SO_REUSEPORT), its upstream pools, metrics shard and store handle.
 * Also the current configuration that threads hand to new requests. Below
 * every layer that serves requests; knows nothing about how threads start
 * (core/server.c).
 */
#ifndef SG_THREAD_H
#define SG_THREAD_H

#include <pthread.h>
#include <h2o.h>
#include "config/config.h"
#include "util/evloop.h"
#include "runtime/linger.h"
#include "runtime/metrics.h"
#include "runtime/plugin_thread.h"
#include "config/plugin_registry.h"

/* plugin slots per thread: the built-ins and the .so files (config/plugin_registry.h) */
#define SG_THREAD_MAX_PLUGINS (SG_PLUGIN_MAX_SO + 16)

typedef struct st_sg_thread_listener_t {
    h2o_socket_t *sock;
    h2o_accept_ctx_t accept_ctx;
    size_t conf_index; /* index in sg_config_t::listeners */
} sg_thread_listener_t;

typedef struct st_sg_thread_t {
    sg_loop_t loop;
    h2o_context_t ctx;
    size_t index;
    pthread_t tid;
    sg_config_t *config; /* the config this thread hands to new requests (retained) */
    sg_thread_listener_t *listeners;
    size_t num_listeners;
    sg_metrics_t metrics;
    struct st_sg_store_t *store; /* this thread's handle on the state store */
    size_t inflight;
    sg_linger_list_t linger; /* connections closed early, draining what the client still sends */
    size_t dns_inflight;     /* h2o resolver lookups that will still call back on this loop (port.c) */
    uint64_t rng;
    h2o_multithread_receiver_t ctl;
    int shutting_down;
    int drained;                                               /* set at exit: every request finished */
    sg_plugin_thread_t *plugin_threads[SG_THREAD_MAX_PLUGINS]; /* by registry slot (plugin_thread.h) */
} sg_thread_t;

/* Returns the current configuration (retained; release with sg_config_release). */
sg_config_t *sg_thread_current_config(void);
/* Makes conf the current configuration (takes over the caller's reference). */
void sg_thread_publish_config(sg_config_t *conf);
sg_thread_t *sg_thread_of(h2o_context_t *ctx);
/* The thread switches to the current config if it changed. */
void sg_thread_refresh_config(sg_thread_t *t);
uint64_t sg_thread_random(sg_thread_t *t);

/* Records the worker threads (set once by the server before they start); sg_thread_all lists them. */
void sg_thread_set_all(sg_thread_t *threads, size_t num_threads);
sg_thread_t *sg_thread_all(size_t *num_threads);

#endif
