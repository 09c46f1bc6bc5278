#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <h2o.h>
#include <h2o/http2.h>
#include <h2o/http2_internal.h> /* with compat/khash.h */
#include "runtime/h2guard.h"
#include "runtime/h2o_real.h"
#include "runtime/intake.h"
#include "util/log.h"
#include "util/picohttp.h"
#include "plugin.h"
#include "util/router.h"
#include "runtime/thread.h"

#define CHUNK_SLICE (256 * 1024) /* chunked HTTP/1 bodies are charged in slices of this size */
#define RETRY_MS 100             /* waiting connections retry at least this often (budget freed on other threads) */
#define MAX_RESETS 128           /* HTTP/2 streams reset per read (h2o allows 100 open streams) */

typedef enum en_proto_t { PROTO_UNKNOWN = 0, PROTO_H1, PROTO_H2 } proto_t;
/* HTTP/1 request being received: head, body (charged), handed to h2o's handler, refused by us */
typedef enum en_h1_state_t { H1_HEAD = 0, H1_BODY, H1_HANDLER, H1_REFUSED } h1_state_t;

typedef struct st_intake_thread_t {
    sg_thread_t *t;
    h2o_linklist_t conns;   /* every tagged socket of this thread */
    h2o_linklist_t waiting; /* FIFO of connections whose reading is paused for the budget */
    h2o_timeout_entry_t retry;
    int disposed;
} intake_thread_t;

typedef struct st_intake_conn_t {
    h2o_socket_t *sock;
    intake_thread_t *th;
    h2o_linklist_t link;      /* intake_thread_t::conns */
    h2o_linklist_t wait_link; /* intake_thread_t::waiting while paused */
    h2o_socket_cb h2o_cb;     /* h2o's read callback while h2o wants to read, else NULL */
    proto_t proto;
    h1_state_t state;
    unsigned is_admin : 1;
    unsigned paused : 1;
    unsigned chunked : 1;
    unsigned unauth : 1;          /* current HTTP/1 request: needs a credential and has none */
    unsigned expect_continue : 1; /* h2o stops reading once to send "100 Continue" */
    unsigned dead : 1;            /* the socket was closed while h2o's callback ran */
    unsigned parked : 1;          /* HTTP/1 request in the handler: h2o stopped reading, the socket stays polled (park) */
    int in_cb;
    size_t head_len;
    size_t want;    /* bytes the connection waits for (HTTP/1), 0 for HTTP/2 */
    size_t charged; /* bytes of the process budget this connection holds */
    h2o_timeout_entry_t linger;
    sg_h2guard_t h2guard;
} intake_conn_t;

static __thread intake_thread_t *self;
static int64_t total_charged; /* process-wide */
static sg_intake_stats_t stats;
static char refusal[512];
static size_t refusal_len;
static pthread_once_t refusal_once = PTHREAD_ONCE_INIT;
static const char intake_closed[] = "closed by request intake";

/* ---------------------------------------------------------------- bookkeeping */

/*
 * Parking. h2o stops reading an HTTP/1 connection while its request is in the
 * handler and starts again once the response is written. Done literally, the
 * epoll loop removes the socket before waiting for the upstream and adds it
 * back after the response: two epoll_ctl calls per keep-alive request, which
 * a lone connection pays in full. A parked socket stays polled with our read
 * callback but with h2o's "don't read" flag, so nothing is read into the input
 * buffer (the request being served points into it). If it becomes readable
 * meanwhile (pipelined bytes, FIN), the read is stopped for real then, as
 * before; otherwise h2o's next read start finds it still registered.
 */
static void park(intake_conn_t *c)
{
    c->parked = 1;
    h2o_socket_dont_read(c->sock, 1);
}

/* stop = 1: h2o is not reading, so neither is the socket (the level-triggered poll must not report it again) */
static void unpark(intake_conn_t *c, int stop)
{
    c->parked = 0;
    h2o_socket_dont_read(c->sock, 0);
    if (stop)
        sg_h2o_real_read_stop(c->sock);
}

static void on_sock_close(void *data);
static void on_read(h2o_socket_t *sock, const char *err);

/* the record of a tagged socket; NULL for every other socket (h2o leaves on_close unset on accepted sockets) */
static intake_conn_t *record_of(h2o_socket_t *sock)
{
    return sock->on_close.cb == on_sock_close ? sock->on_close.data : NULL;
}

static uint64_t budget(void)
{
    return self->t->config->limits.request_buffer_budget;
}

static uint64_t allowance(void)
{
    return self->t->config->limits.max_unauthenticated_body;
}

/* sets the connection's charge whatever the budget says (bytes it already holds) */
static void charge_force(intake_conn_t *c, size_t n)
{
    if (n != c->charged) {
        __atomic_add_fetch(&total_charged, (int64_t)n - (int64_t)c->charged, __ATOMIC_RELAXED);
        c->charged = n;
    }
}

/*
 * Raises the connection's charge to want if the budget has room. A connection
 * that would hold the whole total alone may exceed the budget (a request
 * larger than the budget would otherwise never be admitted).
 */
static int try_charge(intake_conn_t *c, size_t want)
{
    if (want <= c->charged)
        return 1;
    int64_t extra = (int64_t)(want - c->charged), cur = __atomic_load_n(&total_charged, __ATOMIC_RELAXED);
    do {
        if ((uint64_t)(cur + extra) > budget() && cur != (int64_t)c->charged)
            return 0;
    } while (!__atomic_compare_exchange_n(&total_charged, &cur, cur + extra, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    c->charged = want;
    return 1;
}

static void arm_retry(void)
{
    if (!self->disposed && !h2o_linklist_is_empty(&self->waiting) && !h2o_timeout_is_linked(&self->retry))
        sg_loop_set_timer(&self->t->loop, &self->retry, RETRY_MS);
}

static void pause_conn(intake_conn_t *c, size_t want)
{
    c->want = want;
    if (c->paused)
        return;
    c->paused = 1;
    if (c->sock->_cb.read != NULL)
        sg_h2o_real_read_stop(c->sock);
    h2o_linklist_insert(&self->waiting, &c->wait_link);
    __atomic_add_fetch(&stats.paused_total, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&stats.waiting, 1, __ATOMIC_RELAXED);
    arm_retry();
}

static void unpause(intake_conn_t *c)
{
    if (!c->paused)
        return;
    c->paused = 0;
    h2o_linklist_unlink(&c->wait_link);
    __atomic_sub_fetch(&stats.waiting, 1, __ATOMIC_RELAXED);
    if (c->h2o_cb != NULL && c->sock->_cb.read == NULL)
        sg_h2o_real_read_start(c->sock, on_read);
}

static size_t h2_account(intake_conn_t *c, int refuse, size_t *receiving);

/* resumes waiting connections in arrival order while the budget has room; the first that does not fit stops the walk */
static void wake_waiting(void)
{
    if (self == NULL || self->disposed)
        return;
    while (!h2o_linklist_is_empty(&self->waiting)) {
        intake_conn_t *c = H2O_STRUCT_FROM_MEMBER(intake_conn_t, wait_link, self->waiting.next);
        if (c->proto == PROTO_H2) {
            size_t receiving;
            charge_force(c, h2_account(c, 0, &receiving));
            int64_t total = __atomic_load_n(&total_charged, __ATOMIC_RELAXED);
            if ((uint64_t)total >= budget() && !(total == (int64_t)c->charged && receiving <= 1))
                break;
        } else if (!try_charge(c, c->want)) {
            break;
        }
        unpause(c);
    }
    arm_retry();
}

static void on_retry(h2o_timeout_entry_t *entry)
{
    (void)entry;
    wake_waiting();
}

/* drops the record; touch_sock = 0 when h2o already disposed of the socket */
static void forget(intake_conn_t *c, int touch_sock)
{
    if (touch_sock) {
        c->sock->on_close.cb = NULL;
        c->sock->on_close.data = NULL;
        if (c->parked)
            unpark(c, 1);
        else if (c->sock->_cb.read == on_read)
            c->sock->_cb.read = c->h2o_cb;
    }
    if (h2o_timeout_is_linked(&c->linger))
        h2o_timeout_unlink(&c->linger);
    if (c->paused) {
        c->paused = 0;
        h2o_linklist_unlink(&c->wait_link);
        __atomic_sub_fetch(&stats.waiting, 1, __ATOMIC_RELAXED);
    }
    charge_force(c, 0);
    h2o_linklist_unlink(&c->link);
    c->sock = NULL;
    if (c->in_cb != 0)
        c->dead = 1;
    else
        free(c);
    wake_waiting();
}

static void on_sock_close(void *data)
{
    forget(data, 0);
}

/* ---------------------------------------------------------------- who must present a credential */

/* mirrors key-auth: a non-empty OPEN-SANDBOX-API-KEY, or Authorization: Bearer with a non-empty token */
static int is_credential(const char *name, size_t name_len, const char *value, size_t value_len)
{
    if (h2o_lcstris(name, name_len, H2O_STRLIT("open-sandbox-api-key")))
        return value_len != 0;
    if (h2o_lcstris(name, name_len, H2O_STRLIT("authorization")) && value_len > 7 && strncasecmp(value, "bearer ", 7) == 0) {
        for (size_t i = 7; i != value_len; ++i)
            if (value[i] != ' ')
                return 1;
    }
    return 0;
}

/* 1 if a request for this path is refused by the handler without a credential (lifecycle and port routes under tenancy or key-auth)
 */
static int needs_credential(intake_conn_t *c, const char *path, size_t path_len)
{
    if (c->is_admin || path_len == 0)
        return 0;
    sg_route_t route;
    sg_router_classify(path, path_len, 0, &route);
    if (route.cls != SG_ROUTE_LIFECYCLE && route.cls != SG_ROUTE_PORT)
        return 0;
    sg_config_t *conf = self->t->config;
    if (sg_config_tenancy_enabled(conf))
        return 1;
    for (size_t i = 0; i != conf->routes[route.cls].num_plugins; ++i)
        if (strcmp(conf->routes[route.cls].plugins[i]->plugin->name, "key-auth") == 0)
            return 1;
    return 0;
}

/* ---------------------------------------------------------------- HTTP/1 */

static void init_refusal(void)
{
    static const char body[] =
        "{\"code\":\"MISSING_API_KEY\",\"message\":\"Authentication credentials are missing. Provide the OPEN-SANDBOX-API-KEY "
        "header.\"}";
    int n = snprintf(refusal, sizeof(refusal),
                     "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: "
                     "close\r\nServer: sandgate\r\n\r\n%s",
                     sizeof(body) - 1, body);
    refusal_len = n > 0 && (size_t)n < sizeof(refusal) ? (size_t)n : 0;
}

/* ends a refused connection through h2o's own path: its read callback sees an error and closes the connection */
static void close_via_h2o(intake_conn_t *c)
{
    h2o_socket_cb cb = c->h2o_cb;
    if (cb != NULL)
        cb(c->sock, intake_closed); /* frees c (h2o_socket_close) */
}

static void on_linger_timeout(h2o_timeout_entry_t *entry)
{
    close_via_h2o(H2O_STRUCT_FROM_MEMBER(intake_conn_t, linger, entry));
}

static void on_refusal_written(h2o_socket_t *sock, const char *err)
{
    intake_conn_t *c = record_of(sock);
    if (c == NULL)
        return;
    if (err != NULL) {
        close_via_h2o(c);
        return;
    }
    /* FIN after the answer (plain TCP; over TLS the client relies on Content-Length); what the client still sends is
     * read and dropped until it closes or lingering_timeout passes, so the close sends no RST over the answer */
    if (sock->ssl == NULL)
        shutdown(h2o_socket_get_fd(sock), SHUT_WR);
    sg_loop_set_timer(&self->t->loop, &c->linger, self->t->config->limits.lingering_timeout_ms);
}

/*
 * Answers 401 MISSING_API_KEY ourselves and drops what was read. h2o has not
 * seen a complete request head (or is still reading the body), and is not
 * writing: its connection stays in "reading a request" until we hand its read
 * callback an error, which closes it.
 */
static void h1_refuse(intake_conn_t *c)
{
    pthread_once(&refusal_once, init_refusal);
    __atomic_add_fetch(&stats.refused_http1, 1, __ATOMIC_RELAXED);
    c->state = H1_REFUSED;
    h2o_buffer_consume(&c->sock->input, c->sock->input->size);
    charge_force(c, 0);
    wake_waiting();
    if (refusal_len == 0 || h2o_socket_is_writing(c->sock)) {
        sg_loop_set_timer(&self->t->loop, &c->linger, 0);
        return;
    }
    h2o_iovec_t buf = h2o_iovec_init(refusal, refusal_len);
    h2o_socket_write(c->sock, &buf, 1, on_refusal_written);
}

/* the budget a request body needs: head + Content-Length, or the next slice of a chunked body */
static size_t h1_want(intake_conn_t *c, size_t body_len)
{
    return c->chunked ? c->sock->input->size + CHUNK_SLICE : c->head_len + body_len;
}

/* requests whose whole need is within the unauthenticated allowance do not queue behind large ones */
static int may_charge_now(intake_conn_t *c, size_t want)
{
    if (!h2o_linklist_is_empty(&self->waiting) && want > allowance() + c->head_len)
        return 0;
    return try_charge(c, want);
}

/*
 * A complete request head is in the input buffer (h2o has not seen it yet):
 * decides whether its body may be read. Returns -1 when refused, otherwise
 * the number of bytes to wait for (0: read on).
 */
static ssize_t h1_on_head(intake_conn_t *c, int head_len, const char *path, size_t path_len, struct phr_header *headers,
                          size_t num_headers)
{
    const struct phr_header *content_length = NULL;
    int has_credential = 0;
    c->chunked = 0;
    c->expect_continue = 0;
    for (size_t i = 0; i != num_headers; ++i) {
        const struct phr_header *h = headers + i;
        if (h->name == NULL)
            continue;
        if (h2o_lcstris(h->name, h->name_len, H2O_STRLIT("content-length"))) {
            if (content_length == NULL)
                content_length = h;
        } else if (h2o_lcstris(h->name, h->name_len, H2O_STRLIT("transfer-encoding"))) {
            c->chunked = 1; /* as h2o: it wins over Content-Length */
        } else if (h2o_lcstris(h->name, h->name_len, H2O_STRLIT("expect"))) {
            c->expect_continue = h2o_lcstris(h->value, h->value_len, H2O_STRLIT("100-continue"));
        } else if (is_credential(h->name, h->name_len, h->value, h->value_len)) {
            has_credential = 1;
        }
    }
    size_t body_len = 0;
    if (!c->chunked && content_length != NULL)
        body_len = h2o_strtosize(content_length->value, content_length->value_len);
    /* no body, or a framing error / oversize body h2o answers at once */
    if (!c->chunked && (body_len == 0 || body_len == SIZE_MAX || body_len > self->t->config->limits.max_request_body)) {
        c->state = H1_HANDLER;
        charge_force(c, 0); /* the head is h2o's, bounded by H2O_MAX_REQLEN */
        return 0;
    }
    c->head_len = (size_t)head_len;
    c->unauth = !has_credential && needs_credential(c, path, path_len);
    size_t received = c->sock->input->size - c->head_len;
    if (c->unauth && (c->chunked ? received > allowance() : body_len > allowance())) {
        h1_refuse(c);
        return -1;
    }
    c->state = H1_BODY;
    size_t want = h1_want(c, body_len);
    return may_charge_now(c, want) ? 0 : (ssize_t)want;
}

/* before h2o's callback sees new input on an HTTP/1 connection; same contract as h1_on_head */
static ssize_t h1_before_read(intake_conn_t *c)
{
    h2o_buffer_t *in = c->sock->input;
    if (c->state == H1_HEAD) {
        charge_force(c, in->size);
        const char *method, *path;
        size_t method_len, path_len, num_headers = H2O_MAX_HEADERS;
        int minor_version;
        struct phr_header headers[H2O_MAX_HEADERS];
        int r = phr_parse_request(in->bytes, in->size < H2O_MAX_REQLEN ? in->size : H2O_MAX_REQLEN, &method, &method_len, &path,
                                  &path_len, &minor_version, headers, &num_headers, 0);
        if (r == -2)
            return 0;
        if (r < 0) {
            c->state = H1_HANDLER; /* h2o answers 400 and closes */
            charge_force(c, 0);
            return 0;
        }
        return h1_on_head(c, r, path, path_len, headers, num_headers);
    }
    if (c->state == H1_BODY && c->chunked) {
        if (c->unauth && in->size - c->head_len > allowance()) {
            h1_refuse(c);
            return -1;
        }
        if (in->size + CHUNK_SLICE / 2 > c->charged) {
            size_t want = h1_want(c, 0);
            if (!try_charge(c, want)) {
                charge_force(c, in->size > c->charged ? in->size : c->charged);
                return (ssize_t)want;
            }
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- HTTP/2 */

static int h2_refusable(intake_conn_t *c, h2o_http2_stream_t *stream)
{
    h2o_req_t *req = &stream->req;
    size_t allowed = allowance();
    if (!(stream->_req_body->size > allowed ||
          (stream->_expected_content_length != SIZE_MAX && stream->_expected_content_length > allowed)))
        return 0;
    for (size_t i = 0; i != req->headers.size; ++i) {
        h2o_header_t *h = req->headers.entries + i;
        if (is_credential(h->name->base, h->name->len, h->value.base, h->value.len))
            return 0;
    }
    return needs_credential(c, req->input.path.base, req->input.path.len);
}

/* the stream after ref in a pre-order walk of the priority tree under root (every open stream is in it), or NULL */
static h2o_http2_scheduler_openref_t *next_ref(h2o_http2_scheduler_node_t *root, h2o_http2_scheduler_openref_t *ref)
{
    h2o_http2_scheduler_node_t *node = ref != NULL ? &ref->node : root;
    if (!h2o_linklist_is_empty(&node->_all_refs))
        return H2O_STRUCT_FROM_MEMBER(h2o_http2_scheduler_openref_t, _all_link, node->_all_refs.next);
    while (ref != NULL) {
        h2o_http2_scheduler_node_t *parent = ref->node._parent;
        if (ref->_all_link.next != &parent->_all_refs)
            return H2O_STRUCT_FROM_MEMBER(h2o_http2_scheduler_openref_t, _all_link, ref->_all_link.next);
        if (parent == root)
            break;
        ref = H2O_STRUCT_FROM_MEMBER(h2o_http2_scheduler_openref_t, node, parent);
    }
    return NULL;
}

#define FOREACH_STREAM(conn, stream)                                                                                               \
    for (h2o_http2_scheduler_openref_t *ref_ = next_ref(&(conn)->scheduler, NULL);                                                 \
         ref_ != NULL && ((stream) = H2O_STRUCT_FROM_MEMBER(h2o_http2_stream_t, _refs.scheduler, ref_)) != NULL;                   \
         ref_ = next_ref(&(conn)->scheduler, ref_))

static int h2_still_receiving(h2o_http2_conn_t *conn, h2o_http2_stream_t *victim)
{
    h2o_http2_stream_t *stream;
    FOREACH_STREAM(conn, stream)
    {
        if (stream == victim)
            return stream->state == H2O_HTTP2_STREAM_STATE_RECV_BODY && stream->_req_body != NULL;
    }
    return 0;
}

/*
 * Bytes of request bodies this HTTP/2 connection holds before the handler
 * (streams receiving a body, or complete and waiting for a request slot).
 * With refuse, streams that need a credential, carry none and announce or
 * hold more than the allowance are reset (REFUSED_STREAM) first.
 */
static size_t h2_account(intake_conn_t *c, int refuse, size_t *receiving)
{
    h2o_http2_conn_t *conn = c->sock->data; /* refresh_proto checked it */
    h2o_http2_stream_t *stream, *victims[MAX_RESETS];
    size_t num_victims = 0, held = 0;
    *receiving = 0;
    FOREACH_STREAM(conn, stream)
    {
        if (stream->_req_body == NULL ||
            !(stream->state == H2O_HTTP2_STREAM_STATE_RECV_BODY || stream->state == H2O_HTTP2_STREAM_STATE_REQ_PENDING))
            continue;
        if (refuse && stream->state == H2O_HTTP2_STREAM_STATE_RECV_BODY && num_victims != MAX_RESETS && h2_refusable(c, stream)) {
            victims[num_victims++] = stream;
            continue;
        }
        held += stream->_req_body->size;
        if (stream->state == H2O_HTTP2_STREAM_STATE_RECV_BODY)
            ++*receiving;
    }
    if (num_victims != 0 && conn->state < H2O_HTTP2_CONN_STATE_IS_CLOSING) {
        /* a reset may run a pending request: look each victim up again before touching it */
        for (size_t i = 0; i != num_victims; ++i) {
            if (!h2_still_receiving(conn, victims[i]))
                continue;
            h2o_http2_encode_rst_stream_frame(&conn->_write.buf, victims[i]->stream_id, -H2O_HTTP2_ERROR_REFUSED_STREAM);
            h2o_http2_stream_reset(conn, victims[i]);
            __atomic_add_fetch(&stats.refused_http2, 1, __ATOMIC_RELAXED);
        }
        h2o_http2_conn_request_write(conn);
    }
    return held;
}

/* ends an HTTP/2 connection over a flood limit (h2guard.h); c is gone when this returns */
static void h2_close_flood(intake_conn_t *c, sg_h2guard_reason_t reason)
{
    sg_h2guard_goaway(c->sock->data, reason);
    sg_h2guard_count(reason);
    /* a client that does not read would hold the connection (and its queued output) until the write completes, which it
     * never does: make that write fail now */
    if (reason == SG_H2GUARD_CONTROL_FLOOD)
        shutdown(h2o_socket_get_fd(c->sock), SHUT_RDWR);
    close_via_h2o(c);
}

static void h2_after_read(intake_conn_t *c)
{
    size_t receiving;
    sg_h2guard_reason_t flood = sg_h2guard_check(&c->h2guard, c->sock->data);
    if (flood != SG_H2GUARD_OK) {
        h2_close_flood(c, flood);
        return;
    }
    charge_force(c, h2_account(c, 1, &receiving));
    int64_t total = __atomic_load_n(&total_charged, __ATOMIC_RELAXED);
    /* one stream alone may exceed the budget (as an HTTP/1 request may) */
    if (receiving != 0 && (uint64_t)total > budget() && !(total == (int64_t)c->charged && receiving == 1))
        pause_conn(c, 0);
    else if (c->charged == 0)
        wake_waiting();
}

/* ---------------------------------------------------------------- the read hook */

/*
 * Which protocol h2o runs on the socket, from its connection object: h2o sets
 * sock->data to its HTTP/1 or HTTP/2 connection before it reads (during a TLS
 * handshake it is h2o's accept state, whose first member is not our context).
 * HTTP/2 connections are the ones that can push.
 */
static void refresh_proto(intake_conn_t *c)
{
    h2o_conn_t *conn = c->sock->data;
    if (c->proto == PROTO_H2 || conn == NULL || conn->ctx != &self->t->ctx)
        return;
    c->proto = conn->callbacks->push_path != NULL ? PROTO_H2 : PROTO_H1;
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    intake_conn_t *c = record_of(sock);
    if (c != NULL && c->parked) {
        unpark(c, 1); /* readable while the request is served: nothing was read, h2o reads it when it resumes */
        return;
    }
    if (c == NULL || c->h2o_cb == NULL) {
        sg_h2o_real_read_stop(sock); /* cannot happen: the hook is installed on tagged sockets h2o reads */
        return;
    }
    if (err != NULL || c->state == H1_REFUSED) {
        if (err != NULL)
            c->h2o_cb(sock, err); /* h2o closes the connection (and c) */
        else
            h2o_buffer_consume(&sock->input, sock->input->size);
        return;
    }
    refresh_proto(c);
    ssize_t wait_for = 0;
    if (c->proto == PROTO_H1 && (wait_for = h1_before_read(c)) < 0)
        return;
    ++c->in_cb;
    c->h2o_cb(sock, NULL);
    --c->in_cb;
    if (c->dead) {
        free(c);
        return;
    }
    refresh_proto(c);
    if (c->proto == PROTO_H2)
        h2_after_read(c);
    else if (wait_for > 0 && c->state == H1_BODY)
        pause_conn(c, (size_t)wait_for);
}

/* ---------------------------------------------------------------- interposed libh2o functions */

void h2o_socket_read_start(h2o_socket_t *sock, h2o_socket_cb cb)
{
    intake_conn_t *c = record_of(sock);
    if (c != NULL && c->parked)
        unpark(c, 0); /* still polled: no epoll_ctl */
    if (c == NULL || cb == on_read) {
        sg_h2o_real_read_start(sock, cb);
        return;
    }
    c->h2o_cb = cb;
    refresh_proto(c);
    if (c->proto == PROTO_H1) {
        if (c->state == H1_HANDLER) {
            /* h2o reads the next request */
            c->state = H1_HEAD;
            charge_force(c, 0);
        }
        /* h2o parses what is already buffered right after this call (pipelined request, data that came with the TLS
         * handshake): judge the head now, as a read would. Only a head: mid-body (after "100 Continue") h2o goes on
         * decoding the buffer it already parsed, which must not be taken away */
        if (c->state == H1_HEAD && sock->input->size != 0 && !c->paused) {
            ssize_t wait_for = h1_before_read(c);
            if (wait_for < 0) {
                sg_h2o_real_read_start(sock, on_read); /* refused: we drain until the client closes */
                return;
            }
            if (wait_for > 0 && c->state == H1_BODY)
                pause_conn(c, (size_t)wait_for);
        }
    }
    if (c->paused) {
        if (sock->_cb.read != NULL)
            sg_h2o_real_read_stop(sock);
        return;
    }
    sg_h2o_real_read_start(sock, on_read);
}

void h2o_socket_read_stop(h2o_socket_t *sock)
{
    intake_conn_t *c = record_of(sock);
    if (c != NULL) {
        c->h2o_cb = NULL;
        if (c->proto == PROTO_H1 && c->state == H1_BODY) {
            if (c->expect_continue) {
                c->expect_continue = 0; /* h2o writes "100 Continue", then reads the body */
            } else {
                /* the body is complete (h2o hands the request to the handler) or h2o answered an error */
                c->state = H1_HANDLER;
                if (c->paused) {
                    c->paused = 0;
                    h2o_linklist_unlink(&c->wait_link);
                    __atomic_sub_fetch(&stats.waiting, 1, __ATOMIC_RELAXED);
                }
                charge_force(c, 0);
                wake_waiting();
            }
        }
        if (c->proto == PROTO_H1 && c->state == H1_HANDLER && !c->paused && sock->_cb.read == on_read) {
            park(c);
            return;
        }
    }
    sg_h2o_real_read_stop(sock);
}

void h2o_socket_close(h2o_socket_t *sock)
{
    intake_conn_t *c = record_of(sock);
    if (c != NULL)
        forget(c, 1);
    sg_h2o_real_close(sock);
}

/* ---------------------------------------------------------------- public */

void sg_intake_thread_init(sg_thread_t *t)
{
    self = calloc(1, sizeof(*self));
    self->t = t;
    h2o_linklist_init_anchor(&self->conns);
    h2o_linklist_init_anchor(&self->waiting);
    self->retry.cb = on_retry;
}

void sg_intake_thread_dispose(void)
{
    if (self == NULL)
        return;
    /* the loop is going away: sockets h2o closes from now on only drop their records (self stays reachable from this
     * parked thread) */
    self->disposed = 1;
    if (h2o_timeout_is_linked(&self->retry))
        h2o_timeout_unlink(&self->retry);
    for (h2o_linklist_t *l = self->conns.next; l != &self->conns; l = l->next) {
        intake_conn_t *c = H2O_STRUCT_FROM_MEMBER(intake_conn_t, link, l);
        if (h2o_timeout_is_linked(&c->linger))
            h2o_timeout_unlink(&c->linger);
    }
}

void sg_intake_accept(sg_thread_t *t, h2o_socket_t *sock, int is_admin)
{
    (void)t;
    if (self == NULL || sock->on_close.cb != NULL)
        return;
    intake_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return;
    c->sock = sock;
    c->th = self;
    c->is_admin = is_admin != 0;
    c->linger.cb = on_linger_timeout;
    h2o_linklist_insert(&self->conns, &c->link);
    sock->on_close.cb = on_sock_close;
    sock->on_close.data = c;
}

void sg_intake_detach(h2o_socket_t *sock)
{
    intake_conn_t *c = record_of(sock);
    if (c != NULL)
        forget(c, 1);
}

/* the record of an HTTP/2 request's client connection, or NULL */
static intake_conn_t *h2_record_of(h2o_req_t *req)
{
    if (req->version < 0x200 || req->conn->callbacks->get_socket == NULL)
        return NULL;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    intake_conn_t *c = sock != NULL ? record_of(sock) : NULL;
    return c != NULL && c->proto == PROTO_H2 ? c : NULL;
}

void sg_intake_request_started(h2o_req_t *req)
{
    intake_conn_t *c = h2_record_of(req);
    if (c != NULL)
        ++c->h2guard.started;
}

void sg_intake_request_ended(h2o_req_t *req)
{
    intake_conn_t *c = h2_record_of(req);
    if (c != NULL && req->res.status == 0)
        ++c->h2guard.abandoned;
}

void sg_intake_get_stats(sg_intake_stats_t *out)
{
    out->buffered_bytes = __atomic_load_n(&total_charged, __ATOMIC_RELAXED);
    out->paused_total = __atomic_load_n(&stats.paused_total, __ATOMIC_RELAXED);
    out->refused_http1 = __atomic_load_n(&stats.refused_http1, __ATOMIC_RELAXED);
    out->refused_http2 = __atomic_load_n(&stats.refused_http2, __ATOMIC_RELAXED);
    out->waiting = __atomic_load_n(&stats.waiting, __ATOMIC_RELAXED);
}
