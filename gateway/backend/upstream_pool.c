#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "backend/backend.h"
#include "backend/upstream_pool.h"

const char sg_pool_err_connect_timeout[] = "upstream connect timeout";
const char sg_pool_err_busy[] = "upstream connection pool exhausted";
const char sg_pool_err_connect[] = "upstream connection failed";

struct st_sg_pool_t {
    sg_loop_t *loop;
    sg_upstream_t u; /* host is owned, ssl_ctx referenced */
    uint64_t keepalive_ms;
    size_t num_conns; /* idle + busy + connecting */
    h2o_linklist_t idle;
    h2o_linklist_t waiters;
};

typedef struct st_idle_conn_t {
    h2o_linklist_t link;
    h2o_socket_t *sock;
    h2o_timeout_entry_t timeout;
    sg_pool_t *pool;
} idle_conn_t;

struct st_sg_pool_req_t {
    sg_pool_t *pool;
    sg_pool_connect_cb cb;
    void *data;
    h2o_linklist_t wait_link;
    h2o_socket_t *sock; /* connecting, or handed over by release */
    h2o_timeout_entry_t timeout;
    const char *err; /* deferred error */
    uint64_t connect_timeout_ms;
};

static void start_connect(sg_pool_req_t *req);

static void adjust_conns(sg_pool_t *pool, int delta)
{
    pool->num_conns += delta;
    if (pool->u.backend != NULL)
        __atomic_add_fetch(&pool->u.backend->pool_conns, (int64_t)delta, __ATOMIC_RELAXED);
}

sg_pool_t *sg_pool_get(sg_loop_t *l, const sg_upstream_t *u, uint64_t keepalive_timeout_ms)
{
    for (size_t i = 0; i != l->num_pools; ++i) {
        sg_pool_t *p = l->pools[i];
        if (p->u.is_tls == u->is_tls && p->u.addrlen == u->addrlen && memcmp(&p->u.addr, &u->addr, u->addrlen) == 0 &&
            p->u.ssl_ctx == u->ssl_ctx && p->u.backend == u->backend && (!u->is_tls || strcmp(p->u.host, u->host) == 0)) {
            p->u.max_connections = u->max_connections; /* follows reloads */
            p->u.rcvbuf = u->rcvbuf;
            p->keepalive_ms = keepalive_timeout_ms;
            return p;
        }
    }
    sg_pool_t *p = calloc(1, sizeof(*p));
    p->loop = l;
    p->u = *u;
    p->u.host = strdup(u->host != NULL ? u->host : "");
    if (p->u.ssl_ctx != NULL)
        SSL_CTX_up_ref(p->u.ssl_ctx);
    p->keepalive_ms = keepalive_timeout_ms;
    h2o_linklist_init_anchor(&p->idle);
    h2o_linklist_init_anchor(&p->waiters);
    /* no error path to the callers: out of memory aborts with a message, as h2o's own allocations do */
    l->pools = h2o_mem_realloc(l->pools, sizeof(*l->pools) * (l->num_pools + 1));
    l->pools[l->num_pools++] = p;
    sg_loop_on_dispose(l, sg_pool_dispose_all);
    return p;
}

static void free_idle(idle_conn_t *ic)
{
    h2o_linklist_unlink(&ic->link);
    if (h2o_timeout_is_linked(&ic->timeout))
        h2o_timeout_unlink(&ic->timeout);
    free(ic);
}

/* a slot became free: let the first waiter connect */
static void on_slot_freed(sg_pool_t *pool)
{
    if (h2o_linklist_is_empty(&pool->waiters))
        return;
    sg_pool_req_t *req = H2O_STRUCT_FROM_MEMBER(sg_pool_req_t, wait_link, pool->waiters.next);
    h2o_linklist_unlink(&req->wait_link);
    h2o_timeout_unlink(&req->timeout);
    start_connect(req);
}

static void close_conn(sg_pool_t *pool, h2o_socket_t *sock)
{
    h2o_socket_close(sock);
    adjust_conns(pool, -1);
    on_slot_freed(pool);
}

static void on_idle_event(h2o_socket_t *sock, const char *err)
{
    (void)err;
    /* an idle connection must stay silent: data or EOF both mean it is unusable */
    idle_conn_t *ic = sock->data;
    sg_pool_t *pool = ic->pool;
    free_idle(ic);
    close_conn(pool, sock);
}

static void on_idle_timeout(h2o_timeout_entry_t *entry)
{
    idle_conn_t *ic = H2O_STRUCT_FROM_MEMBER(idle_conn_t, timeout, entry);
    sg_pool_t *pool = ic->pool;
    h2o_socket_t *sock = ic->sock;
    h2o_socket_read_stop(sock);
    free_idle(ic);
    close_conn(pool, sock);
}

h2o_socket_t *sg_pool_take_idle(sg_pool_t *pool)
{
    if (h2o_linklist_is_empty(&pool->idle))
        return NULL;
    /* most recently used first: it is the least likely to have been closed by the peer */
    idle_conn_t *ic = H2O_STRUCT_FROM_MEMBER(idle_conn_t, link, pool->idle.prev);
    h2o_socket_t *sock = ic->sock;
    h2o_socket_read_stop(sock);
    sock->data = NULL;
    free_idle(ic);
    return sock;
}

static void finish_req(sg_pool_req_t *req, h2o_socket_t *sock, const char *err)
{
    sg_pool_connect_cb cb = req->cb;
    void *data = req->data;
    if (h2o_timeout_is_linked(&req->timeout))
        h2o_timeout_unlink(&req->timeout);
    free(req);
    if (sock != NULL)
        sock->data = NULL;
    cb(data, sock, err);
}

static void on_deferred(h2o_timeout_entry_t *entry)
{
    sg_pool_req_t *req = H2O_STRUCT_FROM_MEMBER(sg_pool_req_t, timeout, entry);
    finish_req(req, req->sock, req->err);
}

static void defer(sg_pool_req_t *req, h2o_socket_t *sock, const char *err)
{
    req->sock = sock;
    req->err = err;
    req->timeout.cb = on_deferred;
    sg_loop_set_timer(req->pool->loop, &req->timeout, 0);
}

static void on_connect_timeout(h2o_timeout_entry_t *entry)
{
    sg_pool_req_t *req = H2O_STRUCT_FROM_MEMBER(sg_pool_req_t, timeout, entry);
    sg_pool_t *pool = req->pool;
    h2o_socket_t *sock = req->sock;
    req->sock = NULL;
    finish_req(req, NULL, sg_pool_err_connect_timeout);
    close_conn(pool, sock);
}

static void on_wait_timeout(h2o_timeout_entry_t *entry)
{
    sg_pool_req_t *req = H2O_STRUCT_FROM_MEMBER(sg_pool_req_t, timeout, entry);
    h2o_linklist_unlink(&req->wait_link);
    finish_req(req, NULL, sg_pool_err_busy);
}

static void on_handshake(h2o_socket_t *sock, const char *err)
{
    sg_pool_req_t *req = sock->data;
    sg_pool_t *pool = req->pool;
    req->sock = NULL;
    if (err != NULL) {
        finish_req(req, NULL, err);
        close_conn(pool, sock);
        return;
    }
    finish_req(req, sock, NULL);
}

static void on_connect(h2o_socket_t *sock, const char *err)
{
    sg_pool_req_t *req = sock->data;
    sg_pool_t *pool = req->pool;
    if (err != NULL) {
        req->sock = NULL;
        finish_req(req, NULL, sg_pool_err_connect);
        close_conn(pool, sock);
        return;
    }
    if (pool->u.is_tls) {
        h2o_socket_ssl_handshake(sock, pool->u.ssl_ctx, pool->u.host, on_handshake);
        return;
    }
    req->sock = NULL;
    finish_req(req, sock, NULL);
}

static void start_connect(sg_pool_req_t *req)
{
    sg_pool_t *pool = req->pool;
    adjust_conns(pool, 1);
    h2o_socket_t *sock = h2o_socket_connect(pool->loop->loop, (struct sockaddr *)&pool->u.addr, pool->u.addrlen, on_connect);
    if (sock == NULL) {
        adjust_conns(pool, -1);
        defer(req, NULL, sg_pool_err_connect);
        return;
    }
    if (pool->u.rcvbuf != 0) {
        /* h2o's evloop reads until the kernel buffer is empty: a bounded buffer bounds each read (and memory).
         * Linux doubles the value given (socket(7)): ask for half, so that one read is about upstream_buffer */
        int size = (int)(pool->u.rcvbuf / 2 > 2048 ? pool->u.rcvbuf / 2 : 2048);
        setsockopt(h2o_socket_get_fd(sock), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
    sock->data = req;
    req->sock = sock;
    req->timeout.cb = on_connect_timeout;
    sg_loop_set_timer(pool->loop, &req->timeout, req->connect_timeout_ms);
}

sg_pool_req_t *sg_pool_connect(sg_pool_t *pool, uint64_t connect_timeout_ms, sg_pool_connect_cb cb, void *data)
{
    sg_pool_req_t *req = calloc(1, sizeof(*req));
    req->pool = pool;
    req->cb = cb;
    req->data = data;
    req->connect_timeout_ms = connect_timeout_ms;
    if (pool->u.max_connections != 0 && pool->num_conns >= pool->u.max_connections) {
        h2o_linklist_insert(&pool->waiters, &req->wait_link);
        req->timeout.cb = on_wait_timeout;
        sg_loop_set_timer(pool->loop, &req->timeout, connect_timeout_ms);
    } else {
        start_connect(req);
    }
    return req;
}

void sg_pool_cancel(sg_pool_req_t *req)
{
    sg_pool_t *pool = req->pool;
    if (h2o_linklist_is_linked(&req->wait_link))
        h2o_linklist_unlink(&req->wait_link);
    if (h2o_timeout_is_linked(&req->timeout))
        h2o_timeout_unlink(&req->timeout);
    h2o_socket_t *sock = req->sock;
    free(req);
    if (sock != NULL)
        close_conn(pool, sock);
}

void sg_pool_release(sg_pool_t *pool, h2o_socket_t *sock, int reusable)
{
    if (!reusable || sock->input->size != 0) {
        close_conn(pool, sock);
        return;
    }
    if (!h2o_linklist_is_empty(&pool->waiters)) {
        sg_pool_req_t *req = H2O_STRUCT_FROM_MEMBER(sg_pool_req_t, wait_link, pool->waiters.next);
        h2o_linklist_unlink(&req->wait_link);
        defer(req, sock, NULL);
        return;
    }
    idle_conn_t *ic = calloc(1, sizeof(*ic));
    ic->sock = sock;
    ic->pool = pool;
    ic->timeout.cb = on_idle_timeout;
    sock->data = ic;
    h2o_linklist_insert(&pool->idle, &ic->link);
    sg_loop_set_timer(pool->loop, &ic->timeout, pool->keepalive_ms);
    h2o_socket_read_start(sock, on_idle_event);
}

void sg_pool_detach(sg_pool_t *pool, h2o_socket_t *sock)
{
    (void)sock;
    adjust_conns(pool, -1);
    on_slot_freed(pool);
}

void sg_pool_dispose_all(sg_loop_t *l)
{
    for (size_t i = 0; i != l->num_pools; ++i) {
        sg_pool_t *p = l->pools[i];
        while (!h2o_linklist_is_empty(&p->idle)) {
            idle_conn_t *ic = H2O_STRUCT_FROM_MEMBER(idle_conn_t, link, p->idle.next);
            h2o_socket_t *sock = ic->sock;
            h2o_socket_read_stop(sock);
            free_idle(ic);
            h2o_socket_close(sock);
            adjust_conns(p, -1);
        }
        while (!h2o_linklist_is_empty(&p->waiters)) {
            sg_pool_req_t *req = H2O_STRUCT_FROM_MEMBER(sg_pool_req_t, wait_link, p->waiters.next);
            h2o_linklist_unlink(&req->wait_link);
            finish_req(req, NULL, sg_pool_err_busy);
        }
        if (p->u.ssl_ctx != NULL)
            SSL_CTX_free(p->u.ssl_ctx);
        free((char *)p->u.host);
        free(p);
    }
    free(l->pools);
    l->pools = NULL;
    l->num_pools = 0;
}
