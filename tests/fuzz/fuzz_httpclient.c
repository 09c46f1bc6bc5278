/*
 * Feeds: an upstream's HTTP/1.1 response bytes to the gateway's own HTTP client (backend/httpclient.c) over a real
 * connection: a pool (backend/upstream_pool.c) towards an abstract unix socket this target listens on, one event
 * loop, the response written in pieces (size chosen by the first byte) with the loop run between them, then the
 * connection closed. http-parser does the tokenising; what is fuzzed is what httpclient.c adds around it: header
 * accumulation across reads, status checks, interim responses, HEAD/204/304 bodies, Content-Length vs close-delimited
 * ends, pausing at max_buffer and resuming, 101 hand-over, EOF handling and returning connections to the pool.
 * Asserts beyond "no crash": every exchange ends (head error, body end or body error) once the upstream has closed;
 * a delivered status is 101 or 200..599; header names are delivered in lower case; the bytes delivered equal
 * bytes_received; a body reported complete holds exactly the announced Content-Length (0 for 204/304, none for HEAD).
 */
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "backend/httpclient.h"
#include "backend/upstream_pool.h"
#include "util/evloop.h"
#include "fuzz.h"

static h2o_evloop_t *evloop;
static sg_loop_t loop;
static sg_pool_t *pool;
static int listen_fd;

typedef struct st_state_t {
    int done, head_seen, status, is_head;
    size_t delivered;
} state_t;

static const char request_head[] = "GET /v1/sandboxes HTTP/1.1\r\nhost: backend\r\n\r\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    signal(SIGPIPE, SIG_IGN);
    evloop = h2o_evloop_create();
    sg_loop_init(&loop, evloop, 0);
    sg_upstream_t u = {0};
    struct sockaddr_un *sun = (void *)&u.addr;
    sun->sun_family = AF_UNIX;
    int n = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1, "sandgate-fuzz-httpclient-%d", (int)getpid());
    u.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    if ((listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 || bind(listen_fd, (void *)sun, u.addrlen) != 0 ||
        listen(listen_fd, 16) != 0) {
        perror("listen");
        abort();
    }
    pool = sg_pool_get(&loop, &u, 60000);
    return 0;
}

static int on_head(sg_httpclient_t *c, const char *err, int status, h2o_header_t *headers, size_t num_headers)
{
    state_t *st = c->data;
    FUZZ_CHECK(!st->head_seen && !st->done);
    st->head_seen = 1;
    if (err != NULL) {
        st->done = 1; /* the client is gone */
        return 0;
    }
    FUZZ_CHECK(status == 101 || (status >= 200 && status <= 599));
    st->status = status;
    for (size_t i = 0; i != num_headers; ++i)
        for (size_t j = 0; j != headers[i].name->len; ++j)
            FUZZ_CHECK(!(headers[i].name->base[j] >= 'A' && headers[i].name->base[j] <= 'Z'));
    if (status == 101) {
        h2o_socket_t *sock = sg_httpclient_steal_socket(c);
        FUZZ_CHECK(sock != NULL);
        h2o_socket_close(sock);
        st->done = 1;
    }
    return 0;
}

static void on_body(sg_httpclient_t *c, const char *err, int is_end)
{
    state_t *st = c->data;
    FUZZ_CHECK(st->head_seen && !st->done);
    st->delivered += c->body->size;
    h2o_buffer_consume(&c->body, c->body->size);
    FUZZ_CHECK(st->delivered == c->bytes_received);
    if (err != NULL || is_end) {
        st->done = 1;
        if (is_end && err == NULL && c->content_length != SIZE_MAX) {
            if (st->is_head || st->status == 204 || st->status == 304)
                FUZZ_CHECK(c->bytes_received == 0);
            else
                FUZZ_CHECK(c->bytes_received == c->content_length);
        }
        return;
    }
    sg_httpclient_resume_reading(c);
}

static void run_once(void)
{
    h2o_evloop_run(evloop, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t piece_sizes[] = {1, 3, 17, 64, 511, 4096, 65536, 2};
    static const sg_httpclient_cb_t cb = {on_head, on_body};
    uint8_t flags = fuzz_take_byte(&data, &size);
    state_t st = {.is_head = flags & 1};
    size_t piece = piece_sizes[(flags >> 1) & 7];
    sg_httpclient_req_t req = {.loop = &loop,
                               .pool = pool,
                               .head = h2o_iovec_init(request_head, sizeof(request_head) - 1),
                               .is_head_method = st.is_head,
                               .connect_timeout_ms = 10000,
                               .io_timeout_ms = 10000,
                               .max_buffer = (flags & 0x10) ? 16 : 65536};
    sg_httpclient_t *c = sg_httpclient_start(&req, &cb, &st);
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC); /* the connect of a unix socket completes at once */
    FUZZ_CHECK(fd >= 0);
    char drain[512];
    for (size_t off = 0; off < size && !st.done; off += piece) {
        size_t n = size - off < piece ? size - off : piece;
        if (write(fd, data + off, n) != (ssize_t)n)
            break; /* the client closed (a protocol error, or a 101 taken over) */
        run_once();
        while (recv(fd, drain, sizeof(drain), MSG_DONTWAIT) > 0)
            ; /* the request: unread data at close would make the close a reset */
    }
    run_once();
    while (recv(fd, drain, sizeof(drain), MSG_DONTWAIT) > 0)
        ;
    close(fd);
    for (int i = 0; i != 1000 && !st.done; ++i)
        run_once();
    if (!st.done)
        sg_httpclient_cancel(c);
    FUZZ_CHECK(st.done); /* an upstream that closed ends the exchange */
    h2o_socket_t *idle;
    while ((idle = sg_pool_take_idle(pool)) != NULL)
        sg_pool_release(pool, idle, 0);
    run_once();
    return 0;
}
