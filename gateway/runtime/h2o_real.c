#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include "runtime/h2o_real.h"

typedef void (*read_start_fn_t)(h2o_socket_t *, h2o_socket_cb);
typedef void (*sock_fn_t)(h2o_socket_t *);
static read_start_fn_t real_read_start_fn;
static sock_fn_t real_read_stop_fn, real_close_fn;

static void *resolve_next(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (p == NULL) {
        fprintf(stderr, "sandgate: cannot find libh2o's %s: %s\n", name, dlerror());
        abort();
    }
    return p;
}

void sg_h2o_real_read_start(h2o_socket_t *sock, h2o_socket_cb cb)
{
    read_start_fn_t f = __atomic_load_n(&real_read_start_fn, __ATOMIC_ACQUIRE);
    if (f == NULL) {
        *(void **)&f = resolve_next("h2o_socket_read_start");
        __atomic_store_n(&real_read_start_fn, f, __ATOMIC_RELEASE);
    }
    f(sock, cb);
}

void sg_h2o_real_read_stop(h2o_socket_t *sock)
{
    sock_fn_t f = __atomic_load_n(&real_read_stop_fn, __ATOMIC_ACQUIRE);
    if (f == NULL) {
        *(void **)&f = resolve_next("h2o_socket_read_stop");
        __atomic_store_n(&real_read_stop_fn, f, __ATOMIC_RELEASE);
    }
    f(sock);
}

void sg_h2o_real_close(h2o_socket_t *sock)
{
    sock_fn_t f = __atomic_load_n(&real_close_fn, __ATOMIC_ACQUIRE);
    if (f == NULL) {
        *(void **)&f = resolve_next("h2o_socket_close");
        __atomic_store_n(&real_close_fn, f, __ATOMIC_RELEASE);
    }
    f(sock);
}
