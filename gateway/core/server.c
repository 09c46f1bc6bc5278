#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "backend/backend.h"
#include "core/handler.h"
#include "tenancy/cache_events.h"
#include "core/health.h"
#include "runtime/intake.h"
#include "util/log.h"
#include "core/server.h"
#include "store/store.h"
#include "tenancy/tenant_cache.h"

sg_server_t sg_server;

typedef struct st_ctl_message_t {
    h2o_multithread_message_t super;
    int shutdown;
} ctl_message_t;

static void on_accept(h2o_socket_t *listener, const char *err)
{
    sg_thread_listener_t *tl = listener->data;
    sg_thread_t *t = sg_thread_of(tl->accept_ctx.ctx);
    if (err != NULL)
        return;
    sg_thread_refresh_config(t);
    for (int i = 0; i != 32; ++i) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        sg_intake_accept(t, sock, tl->conf_index < t->config->num_listeners && t->config->listeners[tl->conf_index].is_admin);
        h2o_accept(&tl->accept_ctx, sock);
    }
}

static void close_listeners(sg_thread_t *t)
{
    for (size_t i = 0; i != t->num_listeners; ++i) {
        if (t->listeners[i].sock != NULL) {
            h2o_socket_read_stop(t->listeners[i].sock);
            h2o_socket_close(t->listeners[i].sock);
            t->listeners[i].sock = NULL;
        }
    }
}

static int close_if_idle(h2o_req_t *req, void *cbdata)
{
    (void)cbdata;
    /* an HTTP/1 connection between requests has an unparsed request: shutting its socket down makes h2o
     * see EOF and close it through its own path (2.2 has no shutdown hook for HTTP/1) */
    if (req->input.path.base == NULL && req->conn->callbacks->get_socket != NULL) {
        h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
        if (sock != NULL)
            shutdown(h2o_socket_get_fd(sock), SHUT_RDWR);
    }
    return 0;
}

static void close_idle_connections(sg_thread_t *t)
{
    if (sg_server.globalconf.http1.callbacks.foreach_request != NULL)
        sg_server.globalconf.http1.callbacks.foreach_request(&t->ctx, close_if_idle, NULL);
}

static void on_ctl(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    sg_thread_t *t = H2O_STRUCT_FROM_MEMBER(sg_thread_t, ctl, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        ctl_message_t *m = H2O_STRUCT_FROM_MEMBER(ctl_message_t, super.link, messages->next);
        h2o_linklist_unlink(&m->super.link);
        if (m->shutdown && !t->shutting_down) {
            t->shutting_down = 1;
            close_listeners(t);
            h2o_context_request_shutdown(&t->ctx);
        }
        free(m);
    }
}

static void *thread_main(void *arg)
{
    sg_thread_t *t = arg;
    h2o_evloop_t *loop = h2o_evloop_create();
    h2o_context_init(&t->ctx, loop, &sg_server.globalconf);
    sg_loop_init(&t->loop, loop, t->index);
    h2o_linklist_init_anchor(&t->linger.conns);
    t->config = sg_thread_current_config();
    t->rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)(uintptr_t)t << 1) ^ (uint64_t)t->index;
    h2o_multithread_register_receiver(t->ctx.queue, &t->ctl, on_ctl);
    t->store = sg_store_open(&t->loop);
    sg_intake_thread_init(t);
    sg_plugin_threads_start(t); /* plugins' thread_init, before the thread serves requests */

    t->num_listeners = sg_server.num_listen;
    t->listeners = calloc(t->num_listeners, sizeof(*t->listeners));
    for (size_t i = 0; i != t->num_listeners; ++i) {
        sg_thread_listener_t *tl = t->listeners + i;
        sg_listener_conf_t *lc = t->config->listeners + i;
        tl->conf_index = i;
        tl->accept_ctx.ctx = &t->ctx;
        tl->accept_ctx.hosts = lc->is_admin ? sg_server.admin_hosts : sg_server.public_hosts;
        tl->accept_ctx.ssl_ctx = lc->ssl_ctx;
        tl->sock = h2o_evloop_socket_create(loop, sg_server.listen_fds[i][t->index], H2O_SOCKET_FLAG_DONT_READ);
        tl->sock->data = tl;
        h2o_socket_read_start(tl->sock, on_accept);
    }

    uint64_t drain_deadline = 0;
    int drained = 0;
    for (;;) {
        h2o_evloop_run(loop, t->shutting_down ? 20 : INT32_MAX);
        if (t->shutting_down) {
            if (drain_deadline == 0)
                drain_deadline = h2o_now(loop) + t->config->limits.graceful_shutdown_timeout_ms;
            close_idle_connections(t);
            /* drained: no request in flight and h2o closed every connection (HTTP/2 ones after GOAWAY) */
            drained = t->inflight == 0 && h2o_linklist_is_empty(&t->ctx.http1._conns) &&
                      h2o_linklist_is_empty(&t->ctx.http2._conns) && t->dns_inflight == 0;
            if (drained || h2o_now(loop) >= drain_deadline) {
                if (!drained)
                    sg_log(SG_LOG_WARN,
                           "thread %zu: %zu request(s) and %zu name lookup(s) still in flight at the shutdown deadline", t->index,
                           t->inflight, t->dns_inflight);
                break;
            }
        }
    }
    h2o_multithread_unregister_receiver(t->ctx.queue, &t->ctl);
    close_listeners(t);
    t->drained = drained;
    if (!drained) {
        /* requests are still running: their state stays as it is (reachable from this parked thread) until exit */
        sg_loop_park_thread();
    }
    free(t->listeners);
    sg_linger_close_all(&t->linger);
    sg_plugin_threads_stop(t); /* while the store is open: pending plugin operations are failed by the plugin layer */
    sg_store_close(t->store);
    t->store = NULL;
    sg_intake_thread_dispose();
    sg_loop_dispose(&t->loop);
    sg_config_release(t->config);
    t->config = NULL;
    {
        /* h2o leaves its HTTP/2 graceful-shutdown timer armed after the last connection closed */
        if (h2o_timeout_is_linked(&t->ctx.http2._graceful_shutdown_timeout))
            h2o_timeout_unlink(&t->ctx.http2._graceful_shutdown_timeout);
        h2o_context_dispose(&t->ctx);
        h2o_evloop_destroy(loop);
    }
    sg_loop_park_thread();
    return NULL;
}

static int bind_listener(sg_listener_conf_t *lc)
{
    int fd = socket(lc->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), on = 1;
    if (fd < 0)
        goto Error;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    /* one socket per thread on the same address: the kernel spreads connections */
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    if (bind(fd, (struct sockaddr *)&lc->addr, lc->addrlen) != 0 || listen(fd, 1024) != 0)
        goto Error;
    return fd;
Error:
    sg_log(SG_LOG_ERROR, "cannot listen on %s: %s", lc->address, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

static void setup_globalconf(sg_config_t *conf)
{
    /* getaddrinfo threads for sandbox endpoint names (port.c); h2o's default of 1 would queue every lookup behind a slow one */
    h2o_hostinfo_max_threads = 8;
    h2o_config_init(&sg_server.globalconf);
    sg_server.globalconf.server_name = h2o_iovec_init(H2O_STRLIT("sandgate"));
    sg_server.globalconf.max_request_entity_size = conf->limits.max_request_body;
    sg_server.globalconf.http1.req_timeout = conf->limits.client_idle_timeout_ms;
    sg_server.globalconf.http2.idle_timeout = conf->limits.client_idle_timeout_ms;
    sg_server.globalconf.http2.graceful_shutdown_timeout = conf->limits.graceful_shutdown_timeout_ms;
    sg_server.public_hosts[0] = h2o_config_register_host(&sg_server.globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    sg_handler_register(sg_server.public_hosts[0], 0);
    sg_server.admin_hosts[0] = h2o_config_register_host(&sg_server.globalconf, h2o_iovec_init(H2O_STRLIT("admin")), 65535);
    sg_handler_register(sg_server.admin_hosts[0], 1);
}

static int str_differs(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

/* the store copies its settings once at start (store.c); only tenant_cache_ttl is read from the current config */
static int store_restart_only_changed(const sg_store_conf_t *a, const sg_store_conf_t *b)
{
    return a->use_redis != b->use_redis || str_differs(a->host, b->host) || a->port != b->port ||
           str_differs(a->unix_path, b->unix_path) || str_differs(a->password, b->password) || a->db != b->db ||
           str_differs(a->prefix, b->prefix) || a->connect_timeout_ms != b->connect_timeout_ms ||
           a->command_timeout_ms != b->command_timeout_ms;
}

/* the settings h2o reads once at start; changing them needs a restart */
static void warn_restart_only(sg_config_t *old, sg_config_t *new)
{
    int listeners_changed = old->num_listeners != new->num_listeners;
    for (size_t i = 0; !listeners_changed && i != old->num_listeners; ++i)
        listeners_changed = strcmp(old->listeners[i].address, new->listeners[i].address) != 0 ||
                            (old->listeners[i].ssl_ctx == NULL) != (new->listeners[i].ssl_ctx == NULL);
    if (listeners_changed)
        sg_log(SG_LOG_WARN, "reload: listener addresses changed; they take effect on restart");
    if (old->workers != new->workers)
        sg_log(SG_LOG_WARN, "reload: workers changed; takes effect on restart");
    if (store_restart_only_changed(&old->store, &new->store))
        sg_log(SG_LOG_WARN, "reload: redis settings changed; they take effect on restart (all but tenant_cache_ttl)");
    if (old->limits.max_request_body != new->limits.max_request_body ||
        old->limits.client_idle_timeout_ms != new->limits.client_idle_timeout_ms)
        sg_log(SG_LOG_WARN, "reload: max_request_body and client_idle_timeout take effect on restart");
}

static void reload(const char *file)
{
    char *errors = NULL;
    sg_config_t *conf = sg_config_load(file, &errors);
    if (conf == NULL) {
        sg_log(SG_LOG_ERROR, "reload of %s failed; keeping the running configuration:\n%s", file, errors != NULL ? errors : "");
        free(errors);
        return;
    }
    sg_config_t *old = sg_thread_current_config();
    warn_restart_only(old, conf);
    sg_config_release(old);
    sg_log_set_level(conf->log_level);
    sg_thread_publish_config(conf);
    sg_log(SG_LOG_INFO, "configuration reloaded from %s", file);
}

int sg_server_run(sg_config_t *conf)
{
    int ret = 1;
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    /* threads inherit the mask: only the main thread receives these signals, via sigwait */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    sg_log_set_level(conf->log_level);
    sg_server.num_threads = conf->workers;
    sg_server.num_listen = conf->num_listeners;
    sg_server.listen_fds = calloc(conf->num_listeners, sizeof(*sg_server.listen_fds));
    for (size_t i = 0; i != conf->num_listeners; ++i) {
        sg_server.listen_fds[i] = malloc(sizeof(int) * conf->workers);
        for (size_t j = 0; j != conf->workers; ++j)
            if ((sg_server.listen_fds[i][j] = bind_listener(conf->listeners + i)) < 0)
                return 1;
    }
    if (sg_store_global_init(&conf->store) != 0) {
        sg_log(SG_LOG_ERROR, "cannot initialize the state store");
        return 1;
    }
    sg_cache_events_init();
    sg_port_token_start(&conf->store, conf->port_tokens.num_secrets != 0);
    setup_globalconf(conf);
    sg_thread_publish_config(conf);
    sg_health_start(conf->workers);

    sg_server.threads = calloc(conf->workers, sizeof(*sg_server.threads));
    sg_thread_set_all(sg_server.threads, conf->workers);
    for (size_t i = 0; i != conf->workers; ++i) {
        sg_server.threads[i].index = i;
        pthread_create(&sg_server.threads[i].tid, NULL, thread_main, sg_server.threads + i);
    }
    for (size_t i = 0; i != conf->num_listeners; ++i)
        sg_log(SG_LOG_INFO, "listening on %s (%s%s)", conf->listeners[i].address, conf->listeners[i].is_admin ? "admin, " : "",
               conf->listeners[i].ssl_ctx != NULL ? "https" : "http");
    sg_log(SG_LOG_INFO, "sandgate started: %zu worker thread(s), %zu backend(s)", (size_t)conf->workers, conf->num_backends);

    for (;;) {
        int sig;
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            sg_config_t *c = sg_thread_current_config();
            char *file = strdup(c->file);
            sg_config_release(c);
            reload(file);
            free(file);
            continue;
        }
        sg_log(SG_LOG_INFO, "received %s: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    }
    for (size_t i = 0; i != sg_server.num_threads; ++i) {
        ctl_message_t *m = calloc(1, sizeof(*m));
        m->shutdown = 1;
        h2o_multithread_send_message(&sg_server.threads[i].ctl, &m->super);
    }
    sg_loop_wait_parked(sg_server.num_threads);
    sg_health_stop();
    sg_port_token_stop();
    sg_log(SG_LOG_INFO, "sandgate stopped");
    ret = 0;
    int all_drained = 1;
    for (size_t i = 0; i != sg_server.num_threads; ++i)
        all_drained &= sg_server.threads[i].drained;
    /* an undrained thread's h2o state (connections, requests) hangs off its sg_thread_t: keep it */
    if (all_drained) {
        sg_thread_set_all(NULL, 0);
        free(sg_server.threads);
    }
    for (size_t i = 0; i != sg_server.num_listen; ++i)
        free(sg_server.listen_fds[i]);
    free(sg_server.listen_fds);
    h2o_config_dispose(&sg_server.globalconf);
    sg_thread_publish_config(NULL);
    sg_store_global_dispose();
    sg_tenant_cache_dispose();
    return ret;
}
