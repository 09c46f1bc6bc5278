#include <stdlib.h>
#include <string.h>
#include <http_parser.h>
#include "backend/httpclient.h"

const char sg_httpclient_err_io_timeout[] = "upstream timed out";
const char sg_httpclient_err_closed[] = "upstream closed the connection prematurely";
const char sg_httpclient_err_protocol[] = "invalid response from upstream";

typedef struct st_client_t {
    sg_httpclient_t super;
    sg_httpclient_req_t req;
    const sg_httpclient_cb_t *cb;
    sg_pool_req_t *connecting;
    h2o_socket_t *sock;
    http_parser parser;
    h2o_timeout_entry_t io_timeout;
    h2o_mem_pool_t pool; /* response headers */
    H2O_VECTOR(h2o_header_t) headers;
    H2O_VECTOR(char) field, value;
    int status;
    unsigned reused : 1;
    unsigned retried : 1;
    unsigned in_value : 1;
    unsigned head_ready : 1; /* final head parsed, not delivered yet */
    unsigned head_delivered : 1;
    unsigned message_complete : 1;
    unsigned keep_alive : 1;
    unsigned write_done : 1;
    unsigned reading_paused : 1;
    unsigned stolen : 1;
    unsigned in_callback : 1;
    unsigned cancelled : 1;
    size_t bytes_this_conn;
} client_t;

static http_parser_settings parser_settings;
static void on_read(h2o_socket_t *sock, const char *err);
static void on_connected(void *data, h2o_socket_t *sock, const char *err);

int sg_httpclient_err_is_timeout(const char *err)
{
    return err == sg_httpclient_err_io_timeout || err == sg_pool_err_connect_timeout;
}

static void destroy(client_t *c)
{
    if (c->connecting != NULL)
        sg_pool_cancel(c->connecting);
    if (c->sock != NULL)
        sg_pool_release(c->req.pool, c->sock, 0);
    if (h2o_timeout_is_linked(&c->io_timeout))
        h2o_timeout_unlink(&c->io_timeout);
    h2o_buffer_dispose(&c->super.body);
    free(c->field.entries);
    free(c->value.entries);
    h2o_mem_clear_pool(&c->pool);
    free(c);
}

/* runs an owner callback; returns 1 if the client must not be touched any more */
#define CALL_OWNER(c, expr)                                                                                                        \
    do {                                                                                                                           \
        (c)->in_callback = 1;                                                                                                      \
        expr;                                                                                                                      \
        (c)->in_callback = 0;                                                                                                      \
    } while (0)

static void fail(client_t *c, const char *err)
{
    if (!c->head_delivered) {
        CALL_OWNER(c, c->cb->on_head(&c->super, err, 0, NULL, 0));
    } else {
        CALL_OWNER(c, c->cb->on_body(&c->super, err, 0));
    }
    destroy(c);
}

static void on_io_timeout(h2o_timeout_entry_t *entry)
{
    client_t *c = H2O_STRUCT_FROM_MEMBER(client_t, io_timeout, entry);
    fail(c, sg_httpclient_err_io_timeout);
}

static void arm_io_timeout(client_t *c)
{
    sg_loop_set_timer(c->req.loop, &c->io_timeout, c->req.io_timeout_ms);
}

static void flush_header(client_t *c)
{
    if (c->field.size == 0)
        return;
    h2o_iovec_t name = h2o_strdup(&c->pool, c->field.entries, c->field.size);
    h2o_strtolower(name.base, name.len);
    const h2o_token_t *token = h2o_lookup_token(name.base, name.len);
    h2o_header_t *h;
    h2o_vector_reserve(&c->pool, &c->headers, c->headers.size + 1);
    h = c->headers.entries + c->headers.size++;
    h->name = token != NULL ? (h2o_iovec_t *)&token->buf : h2o_mem_alloc_pool(&c->pool, sizeof(h2o_iovec_t));
    if (token == NULL)
        *h->name = name;
    h->orig_name = NULL;
    h->value = h2o_strdup(&c->pool, c->value.entries, c->value.size);
    c->field.size = 0;
    c->value.size = 0;
}

/* returns -1 when out of memory (the parser then fails the response) */
static int append(H2O_VECTOR(char) * v, const char *at, size_t len)
{
    if (len == 0)
        return 0; /* an empty header value: entries may still be NULL, and NULL + 0 is undefined */
    if (v->size + len > v->capacity) {
        size_t cap = v->capacity != 0 ? v->capacity * 2 : 64;
        while (cap < v->size + len)
            cap *= 2;
        char *grown = realloc(v->entries, cap);
        if (grown == NULL)
            return -1;
        v->entries = grown;
        v->capacity = cap;
    }
    memcpy(v->entries + v->size, at, len);
    v->size += len;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    client_t *c = p->data;
    if (c->in_value) {
        flush_header(c);
        c->in_value = 0;
    }
    return append((void *)&c->field, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    client_t *c = p->data;
    c->in_value = 1;
    return append((void *)&c->value, at, len);
}

static int on_headers_complete(http_parser *p)
{
    client_t *c = p->data;
    flush_header(c);
    c->in_value = 0;
    if (p->status_code < 100 || p->status_code > 599)
        return -1; /* not an HTTP status (RFC 9110 15): a protocol error, answered 502 */
    if (p->status_code < 200 && p->status_code != 101) {
        c->headers.size = 0; /* interim response (100, 103): skipped */
        return 0;
    }
    c->status = p->status_code;
    c->head_ready = 1;
    c->keep_alive = http_should_keep_alive(p);
    if ((p->flags & F_CHUNKED) == 0 && p->content_length != ULLONG_MAX)
        c->super.content_length = (size_t)p->content_length;
    if (c->req.is_head_method || c->status == 204 || c->status == 304) {
        c->super.content_length = c->req.is_head_method ? c->super.content_length : 0;
        return 1; /* no body follows */
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    client_t *c = p->data;
    h2o_iovec_t buf = h2o_buffer_reserve(&c->super.body, len);
    if (buf.base == NULL)
        return -1;
    memcpy(buf.base, at, len);
    c->super.body->size += len;
    c->super.bytes_received += len;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    client_t *c = p->data;
    if (c->head_ready || c->head_delivered) {
        c->message_complete = 1;
        http_parser_pause(p, 1); /* anything after the response is not ours */
    }
    return 0;
}

static void init_parser(client_t *c)
{
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    c->headers.size = 0;
    c->field.size = c->value.size = 0;
    c->in_value = 0;
}

static void pause_reading(client_t *c, int pause)
{
    if (pause && !c->reading_paused) {
        c->reading_paused = 1;
        h2o_socket_read_stop(c->sock);
        if (h2o_timeout_is_linked(&c->io_timeout))
            h2o_timeout_unlink(&c->io_timeout);
    } else if (!pause && c->reading_paused) {
        c->reading_paused = 0;
        h2o_socket_read_start(c->sock, on_read);
        arm_io_timeout(c);
    }
}

/* delivers what the parser produced; returns 1 if the client is gone */
static int deliver(client_t *c, size_t body_before)
{
    if (c->head_ready && !c->head_delivered) {
        c->head_ready = 0;
        c->head_delivered = 1;
        int ret;
        CALL_OWNER(c, ret = c->cb->on_head(&c->super, NULL, c->status, c->headers.entries, c->headers.size));
        if (c->stolen) {
            c->sock = NULL;
            destroy(c);
            return 1;
        }
        if (ret != 0 || c->cancelled) {
            destroy(c);
            return 1;
        }
        if (c->status == 101) { /* the owner had to take the socket */
            fail(c, sg_httpclient_err_protocol);
            return 1;
        }
    }
    if (!c->head_delivered)
        return 0;
    if (c->message_complete) {
        h2o_socket_t *sock = c->sock;
        c->sock = NULL;
        h2o_socket_read_stop(sock);
        sg_pool_release(c->req.pool, sock, c->keep_alive && c->write_done && !c->req.is_upgrade);
        CALL_OWNER(c, c->cb->on_body(&c->super, NULL, 1));
        destroy(c);
        return 1;
    }
    if (c->super.body->size != body_before) {
        CALL_OWNER(c, c->cb->on_body(&c->super, NULL, 0));
        if (c->cancelled) {
            destroy(c);
            return 1;
        }
    }
    pause_reading(c, c->super.body->size >= c->req.max_buffer);
    return 0;
}

static void retry(client_t *c)
{
    c->retried = 1;
    sg_pool_release(c->req.pool, c->sock, 0);
    c->sock = NULL;
    init_parser(c);
    c->connecting = sg_pool_connect(c->req.pool, c->req.connect_timeout_ms, on_connected, c);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    client_t *c = sock->data;
    size_t body_before = c->super.body->size;

    if (err != NULL) {
        if (c->reused && !c->retried && c->req.can_retry && c->bytes_this_conn == 0 && !c->head_delivered) {
            retry(c);
            return;
        }
        /* EOF ends bodies delimited by the connection close */
        http_parser_execute(&c->parser, &parser_settings, NULL, 0);
        c->keep_alive = 0;
        if (c->message_complete || (c->head_ready && HTTP_PARSER_ERRNO(&c->parser) == HPE_OK && http_body_is_final(&c->parser))) {
            c->message_complete = 1;
            deliver(c, body_before);
        } else {
            fail(c, sg_httpclient_err_closed);
        }
        return;
    }
    c->bytes_this_conn += sock->input->size;
    arm_io_timeout(c);
    size_t n = http_parser_execute(&c->parser, &parser_settings, sock->input->bytes, sock->input->size);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (e != HPE_OK && !(e == HPE_PAUSED && c->message_complete)) {
        fail(c, sg_httpclient_err_protocol);
        return;
    }
    h2o_buffer_consume(&sock->input, n);
    if (c->message_complete && sock->input->size != 0)
        c->keep_alive = 0; /* unexpected bytes after the response */
    if (c->parser.upgrade && c->head_ready) {
        h2o_socket_read_stop(sock);
        if (h2o_timeout_is_linked(&c->io_timeout))
            h2o_timeout_unlink(&c->io_timeout);
    }
    deliver(c, body_before);
}

static void on_write_done(h2o_socket_t *sock, const char *err)
{
    client_t *c = sock->data;
    if (err != NULL) {
        if (c->reused && !c->retried && c->req.can_retry && c->bytes_this_conn == 0) {
            retry(c);
            return;
        }
        if (!c->head_delivered && !c->head_ready) {
            fail(c, sg_httpclient_err_closed);
            return;
        }
        /* the response may still arrive (e.g. an early 413); reading reports the outcome */
        c->keep_alive = 0;
        return;
    }
    c->write_done = 1;
    if (!c->reading_paused)
        arm_io_timeout(c);
}

static void send_request(client_t *c, h2o_socket_t *sock)
{
    c->sock = sock;
    c->bytes_this_conn = 0;
    sock->data = c;
    h2o_iovec_t bufs[2] = {c->req.head, c->req.body};
    h2o_socket_write(sock, bufs, c->req.body.len != 0 ? 2 : 1, on_write_done);
    h2o_socket_read_start(sock, on_read);
    arm_io_timeout(c);
}

static void on_connected(void *data, h2o_socket_t *sock, const char *err)
{
    client_t *c = data;
    c->connecting = NULL;
    if (err != NULL) {
        fail(c, err);
        return;
    }
    c->reused = 0;
    send_request(c, sock);
}

sg_httpclient_t *sg_httpclient_start(const sg_httpclient_req_t *req, const sg_httpclient_cb_t *cb, void *data)
{
    if (parser_settings.on_body == NULL) {
        parser_settings.on_header_field = on_header_field;
        parser_settings.on_header_value = on_header_value;
        parser_settings.on_headers_complete = on_headers_complete;
        parser_settings.on_body = on_body;
        parser_settings.on_message_complete = on_message_complete;
    }
    client_t *c = calloc(1, sizeof(*c));
    c->super.data = data;
    c->super.content_length = SIZE_MAX;
    h2o_buffer_init(&c->super.body, &h2o_socket_buffer_prototype);
    c->req = *req;
    c->cb = cb;
    c->io_timeout.cb = on_io_timeout;
    h2o_mem_init_pool(&c->pool);
    init_parser(c);

    h2o_socket_t *sock = req->is_upgrade ? NULL : sg_pool_take_idle(req->pool);
    if (sock != NULL) {
        c->reused = 1;
        send_request(c, sock);
    } else {
        c->connecting = sg_pool_connect(req->pool, req->connect_timeout_ms, on_connected, c);
    }
    return &c->super;
}

void sg_httpclient_resume_reading(sg_httpclient_t *_c)
{
    client_t *c = (void *)_c;
    if (c->sock != NULL && c->super.body->size < c->req.max_buffer)
        pause_reading(c, 0);
}

void sg_httpclient_cancel(sg_httpclient_t *_c)
{
    client_t *c = (void *)_c;
    if (c->in_callback) {
        c->cancelled = 1;
        return;
    }
    destroy(c);
}

h2o_socket_t *sg_httpclient_steal_socket(sg_httpclient_t *_c)
{
    client_t *c = (void *)_c;
    h2o_socket_t *sock = c->sock;
    if (sock == NULL || c->stolen)
        return NULL;
    c->stolen = 1;
    if (h2o_timeout_is_linked(&c->io_timeout))
        h2o_timeout_unlink(&c->io_timeout);
    h2o_socket_read_stop(sock);
    sg_pool_detach(c->req.pool, sock);
    sock->data = NULL;
    return sock;
}
