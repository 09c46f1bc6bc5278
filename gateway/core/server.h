/*
 * The server: binds listeners, starts the worker threads (runtime/thread.h)
 * and the health thread; the process-wide lifecycle: reload and graceful
 * shutdown.
 */
#ifndef SG_SERVER_H
#define SG_SERVER_H

#include <pthread.h>
#include <h2o.h>
#include "config/config.h"
#include "runtime/thread.h"

typedef struct st_sg_server_t {
    h2o_globalconf_t globalconf;
    h2o_hostconf_t *public_hosts[2]; /* NULL-terminated, as h2o_accept_ctx_t wants */
    h2o_hostconf_t *admin_hosts[2];
    sg_thread_t *threads;
    size_t num_threads;
    int **listen_fds; /* [listener][thread] */
    size_t num_listen;
} sg_server_t;

extern sg_server_t sg_server;

/* Binds listeners, starts threads and the health checker, runs until SIGTERM/SIGINT. Returns the exit code. */
int sg_server_run(sg_config_t *conf);

#endif
