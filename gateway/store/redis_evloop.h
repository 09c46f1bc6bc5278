/*
 * Attaches a hiredis (0.14) async context to an h2o 2.2 evloop.
 *
 * h2o 2.2's evloop has no raw fd watcher, so the adapter wraps the connection in
 * an h2o socket created with H2O_SOCKET_FLAG_DONT_READ: h2o_socket_read_start
 * then reports readability without reading (as for listeners), and
 * h2o_socket_notify_write reports writability once per call (re-armed while
 * hiredis wants to write). The h2o socket owns a dup() of hiredis's fd: closing
 * an h2o socket closes its fd, and hiredis closes its own in redisFree, so
 * sharing one descriptor would close it twice (possibly someone else's by then).
 * h2o_socket_export cannot be used instead: it asserts that no write
 * notification is pending, which is the normal state of an idle connection that
 * has just queued a command. Closing the dup first (from hiredis's cleanup hook)
 * removes it from epoll; the connection itself ends when hiredis closes its fd.
 *
 * The hooks are idempotent; the adapter frees itself from the cleanup hook (after
 * returning to its own event handler when the cleanup happens inside it).
 */
#ifndef SG_REDIS_EVLOOP_H
#define SG_REDIS_EVLOOP_H

#include <h2o.h>
#include <hiredis/async.h>

/* Returns 0 on success, -1 when ac is already attached or its fd cannot be duplicated (ac is left untouched). */
int sg_redis_evloop_attach(redisAsyncContext *ac, h2o_evloop_t *loop);

#endif
