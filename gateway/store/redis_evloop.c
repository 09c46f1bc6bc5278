#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include "store/redis_evloop.h"

typedef struct st_adapter_t {
    redisAsyncContext *ac;    /* NULL once hiredis cleaned up */
    h2o_socket_t *sock;       /* on a dup of ac->c.fd */
    unsigned reading : 1;     /* hiredis wants readability */
    unsigned want_write : 1;  /* hiredis wants writability */
    unsigned write_armed : 1; /* an h2o write notification is pending */
    unsigned in_handler : 1;  /* inside on_readable / on_writable */
} adapter_t;

static void on_writable(h2o_socket_t *sock, const char *err);

static void destroy(adapter_t *a)
{
    h2o_socket_close(a->sock); /* a pending write notification dies with the socket */
    free(a);
}

static void arm_write(adapter_t *a)
{
    if (a->want_write && !a->write_armed) {
        a->write_armed = 1;
        h2o_socket_notify_write(a->sock, on_writable);
    }
}

/* ends an event handler: frees the adapter if hiredis cleaned up meanwhile; returns 1 then */
static int leave_handler(adapter_t *a)
{
    a->in_handler = 0;
    if (a->ac == NULL) {
        destroy(a);
        return 1;
    }
    return 0;
}

static void on_readable(h2o_socket_t *sock, const char *err)
{
    (void)err; /* always NULL with H2O_SOCKET_FLAG_DONT_READ: hiredis reads and sees errors itself */
    adapter_t *a = sock->data;
    a->in_handler = 1;
    redisAsyncHandleRead(a->ac);
    leave_handler(a);
}

static void on_writable(h2o_socket_t *sock, const char *err)
{
    (void)err;
    adapter_t *a = sock->data;
    a->write_armed = 0;
    if (!a->want_write)
        return; /* a notification outliving delWrite */
    a->in_handler = 1;
    redisAsyncHandleWrite(a->ac);
    if (leave_handler(a))
        return;
    /* h2o notifies once per request: keep polling while hiredis still wants to write (e.g. connect in progress) */
    arm_write(a);
}

static void add_read(void *privdata)
{
    adapter_t *a = privdata;
    if (!a->reading) {
        a->reading = 1;
        h2o_socket_read_start(a->sock, on_readable);
    }
}

static void del_read(void *privdata)
{
    adapter_t *a = privdata;
    if (a->reading) {
        a->reading = 0;
        h2o_socket_read_stop(a->sock);
    }
}

static void add_write(void *privdata)
{
    adapter_t *a = privdata;
    a->want_write = 1;
    arm_write(a);
}

static void del_write(void *privdata)
{
    adapter_t *a = privdata;
    /* an armed notification cannot be withdrawn in h2o 2.2; on_writable ignores it */
    a->want_write = 0;
}

static void cleanup(void *privdata)
{
    adapter_t *a = privdata;
    if (a->ac == NULL)
        return;
    /* hiredis 0.14 does not clear its hooks: make any later call a no-op */
    a->ac->ev.addRead = a->ac->ev.delRead = a->ac->ev.addWrite = a->ac->ev.delWrite = a->ac->ev.cleanup = NULL;
    a->ac->ev.data = NULL;
    a->ac = NULL;
    del_read(a);
    a->want_write = 0;
    if (!a->in_handler)
        destroy(a);
}

int sg_redis_evloop_attach(redisAsyncContext *ac, h2o_evloop_t *loop)
{
    if (ac->ev.data != NULL)
        return -1;
    int fd = fcntl(ac->c.fd, F_DUPFD_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    adapter_t *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        close(fd);
        return -1;
    }
    a->ac = ac;
    a->sock = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    a->sock->data = a;
    ac->ev.data = a;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    return 0;
}
