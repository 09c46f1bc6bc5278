/*
 * The upstream HTTP/1.1 client (backend/httpclient.c) over a real connection: a pool towards an abstract unix
 * socket this test listens on, responses written by the test. Cases found by tests/fuzz/fuzz_httpclient: an empty
 * header value (appended from a NULL buffer: undefined behaviour, reported by UBSan in `make unit-asan`) is
 * delivered as an empty value, and the response around it is intact.
 */
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "backend/httpclient.h"
#include "backend/upstream_pool.h"
#include "util/evloop.h"
#include "test.h"

typedef struct st_result_t {
    int done, status;
    char headers[512];
    char body[256];
    size_t body_len;
    const char *err;
} result_t;

static int on_head(sg_httpclient_t *c, const char *err, int status, h2o_header_t *headers, size_t n)
{
    result_t *r = c->data;
    if (err != NULL) {
        r->err = err;
        r->done = 1;
        return 0;
    }
    r->status = status;
    size_t off = 0;
    for (size_t i = 0; i != n && off < sizeof(r->headers); ++i)
        off += (size_t)snprintf(r->headers + off, sizeof(r->headers) - off, "%.*s=[%.*s];", (int)headers[i].name->len,
                                headers[i].name->base, (int)headers[i].value.len, headers[i].value.base);
    return 0;
}

static void on_body(sg_httpclient_t *c, const char *err, int is_end)
{
    result_t *r = c->data;
    size_t n = c->body->size < sizeof(r->body) - r->body_len ? c->body->size : sizeof(r->body) - r->body_len;
    memcpy(r->body + r->body_len, c->body->bytes, n);
    r->body_len += n;
    h2o_buffer_consume(&c->body, c->body->size);
    if (err != NULL || is_end) {
        r->err = err;
        r->done = 1;
    }
}

/* sends RESPONSE to one request of the client and runs the loop until the exchange ends */
static void exchange(h2o_evloop_t *evloop, sg_loop_t *loop, sg_pool_t *pool, int listen_fd, const char *response, result_t *r)
{
    static const char head[] = "GET / HTTP/1.1\r\nhost: b\r\n\r\n";
    static const sg_httpclient_cb_t cb = {on_head, on_body};
    sg_httpclient_req_t req = {.loop = loop,
                               .pool = pool,
                               .head = h2o_iovec_init(head, sizeof(head) - 1),
                               .connect_timeout_ms = 5000,
                               .io_timeout_ms = 5000,
                               .max_buffer = 65536};
    memset(r, 0, sizeof(*r));
    sg_httpclient_start(&req, &cb, r);
    int fd = accept(listen_fd, NULL, NULL);
    CHECK(fd >= 0);
    CHECK(write(fd, response, strlen(response)) == (ssize_t)strlen(response));
    char drain[256];
    for (int i = 0; i != 200 && !r->done; ++i) {
        h2o_evloop_run(evloop, 10);
        while (recv(fd, drain, sizeof(drain), MSG_DONTWAIT) > 0)
            ;
    }
    close(fd);
    h2o_socket_t *idle;
    while ((idle = sg_pool_take_idle(pool)) != NULL)
        sg_pool_release(pool, idle, 0);
    CHECK(r->done);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    h2o_evloop_t *evloop = h2o_evloop_create();
    sg_loop_t loop;
    sg_loop_init(&loop, evloop, 0);
    sg_upstream_t u = {0};
    struct sockaddr_un *sun = (void *)&u.addr;
    sun->sun_family = AF_UNIX;
    int n = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1, "sandgate-unit-httpclient-%d", (int)getpid());
    u.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    int listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(listen_fd >= 0 && bind(listen_fd, (void *)sun, u.addrlen) == 0 && listen(listen_fd, 4) == 0);
    sg_pool_t *pool = sg_pool_get(&loop, &u, 60000);
    result_t r;

    /* an empty header value (the fuzzer's input, minimised): delivered empty, the rest intact */
    exchange(evloop, &loop, pool, listen_fd, "HTTP/1.1 200 OK\r\nConnection: \r\nX-A: 1\r\nContent-Length: 4\r\n\r\nrest", &r);
    CHECK(r.err == NULL);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.headers, "connection=[];x-a=[1];content-length=[4];");
    CHECK(r.body_len == 4 && memcmp(r.body, "rest", 4) == 0);
    /* the first header empty too, and an empty value last before the body */
    exchange(evloop, &loop, pool, listen_fd, "HTTP/1.1 201 Created\r\nX-Empty:\r\nContent-Length: 2\r\nX-Last: \r\n\r\nok", &r);
    CHECK(r.err == NULL);
    CHECK_INT(r.status, 201);
    CHECK_STR(r.headers, "x-empty=[];content-length=[2];x-last=[];");
    CHECK(r.body_len == 2 && memcmp(r.body, "ok", 2) == 0);

    close(listen_fd);
    sg_loop_dispose(&loop);
    h2o_evloop_destroy(evloop);
    return TEST_DONE();
}
