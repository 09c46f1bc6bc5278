#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "runtime/linger.h"

/* how often to look again whether h2o has let go of its descriptor */
#define RECHECK_MS 10
/* lingering connections per thread; past it, the connection is closed at once as h2o does */
#define MAX_LINGERING 1024

typedef struct st_linger_t {
    h2o_linklist_t link;
    sg_linger_list_t *list;
    sg_loop_t *loop;
    int fd;      /* our duplicate; owned by sock once reading starts */
    int orig_fd; /* h2o's descriptor number, only compared, never used */
    dev_t dev;
    ino_t ino;
    h2o_socket_t *sock; /* NULL until h2o has closed its descriptor */
    /* fixed durations only: each distinct duration costs a timeout list of the loop (evloop.h) */
    h2o_timeout_entry_t timer;       /* RECHECK_MS while h2o holds the socket, then idle_ms */
    h2o_timeout_entry_t total_timer; /* total_ms */
    uint64_t idle_ms;
} linger_t;

static void destroy(linger_t *l)
{
    if (h2o_timeout_is_linked(&l->timer))
        h2o_timeout_unlink(&l->timer);
    if (h2o_timeout_is_linked(&l->total_timer))
        h2o_timeout_unlink(&l->total_timer);
    h2o_linklist_unlink(&l->link);
    l->list->count--;
    if (l->sock != NULL)
        h2o_socket_close(l->sock);
    else
        close(l->fd);
    free(l);
}

/* Whether h2o still holds the connection: its descriptor number still names our socket. */
static int h2o_still_holds(linger_t *l)
{
    struct stat st;
    return fstat(l->orig_fd, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino;
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    linger_t *l = sock->data;
    if (err != NULL) { /* the client closed (or reset): done */
        destroy(l);
        return;
    }
    h2o_buffer_consume(&sock->input, sock->input->size);
    sg_loop_set_timer(l->loop, &l->timer, l->idle_ms);
}

static void on_total_timer(h2o_timeout_entry_t *entry)
{
    destroy(H2O_STRUCT_FROM_MEMBER(linger_t, total_timer, entry));
}

static void on_timer(h2o_timeout_entry_t *entry)
{
    linger_t *l = H2O_STRUCT_FROM_MEMBER(linger_t, timer, entry);
    if (l->sock != NULL) { /* idle or total time is up */
        destroy(l);
        return;
    }
    if (h2o_still_holds(l)) {
        /* the answer is still being written (or TLS close_notify sent): FIN now would cut it */
        sg_loop_set_timer(l->loop, &l->timer, RECHECK_MS);
        return;
    }
    /* h2o wrote the answer and closed its descriptor; ours keeps the socket open, so no RST yet */
    shutdown(l->fd, SHUT_WR);
    l->sock = h2o_evloop_socket_create(l->loop->loop, l->fd, 0);
    l->sock->data = l;
    h2o_socket_read_start(l->sock, on_read);
    sg_loop_set_timer(l->loop, &l->timer, l->idle_ms);
}

void sg_linger_start(sg_linger_list_t *list, sg_loop_t *loop, h2o_req_t *req, uint64_t idle_ms, uint64_t total_ms)
{
    if (total_ms == 0 || req->version >= 0x200 || req->conn->callbacks->get_socket == NULL || list->count >= MAX_LINGERING)
        return;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL)
        return;
    int orig = h2o_socket_get_fd(sock);
    struct stat st;
    if (orig < 0 || fstat(orig, &st) != 0)
        return;
    int fd = fcntl(orig, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return;
    linger_t *l = malloc(sizeof(*l));
    if (l == NULL) {
        close(fd);
        return;
    }
    *l = (linger_t){.list = list,
                    .loop = loop,
                    .fd = fd,
                    .orig_fd = orig,
                    .dev = st.st_dev,
                    .ino = st.st_ino,
                    .idle_ms = idle_ms != 0 && idle_ms < total_ms ? idle_ms : total_ms};
    l->timer.cb = on_timer;
    l->total_timer.cb = on_total_timer;
    sg_loop_set_timer(loop, &l->total_timer, total_ms);
    h2o_linklist_insert(&list->conns, &l->link);
    list->count++;
    /* a zero-length timer fires after the pending socket callbacks of this loop turn, i.e. after h2o wrote the
     * (small) answer and closed the connection */
    sg_loop_set_timer(loop, &l->timer, 0);
}

void sg_linger_close_all(sg_linger_list_t *list)
{
    if (list->conns.next == NULL)
        return;
    while (!h2o_linklist_is_empty(&list->conns))
        destroy(H2O_STRUCT_FROM_MEMBER(linger_t, link, list->conns.next));
}
