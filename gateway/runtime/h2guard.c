#include <string.h>
#include <h2o.h>
#include <h2o/http2.h>
#include <h2o/http2_internal.h> /* with compat/khash.h */
#include "runtime/h2guard.h"

_Static_assert(SG_H2GUARD_MAX_QUEUED == 2 * H2O_HTTP2_DEFAULT_OUTBUF_SOFT_MAX_SIZE, "see h2guard.h");

const char *const sg_h2guard_reason_names[SG_H2GUARD_NUM_REASONS] = {"", "control_flood", "rapid_reset"};

static uint64_t closed[SG_H2GUARD_NUM_REASONS];

static size_t queued_output(h2o_http2_conn_t *conn)
{
    size_t n = conn->_write.buf != NULL ? conn->_write.buf->size : 0;
    if (conn->_write.buf_in_flight != NULL)
        n += conn->_write.buf_in_flight->size;
    return n;
}

sg_h2guard_reason_t sg_h2guard_check(const sg_h2guard_t *g, h2o_http2_conn_t *conn)
{
    if (conn->state >= H2O_HTTP2_CONN_STATE_IS_CLOSING)
        return SG_H2GUARD_OK;
    if (queued_output(conn) > SG_H2GUARD_MAX_QUEUED)
        return SG_H2GUARD_CONTROL_FLOOD;
    if (g->started >= SG_H2GUARD_MIN_STREAMS && g->abandoned > g->started / 2)
        return SG_H2GUARD_RAPID_RESET;
    return SG_H2GUARD_OK;
}

void sg_h2guard_goaway(h2o_http2_conn_t *conn, sg_h2guard_reason_t reason)
{
    const char *why = reason == SG_H2GUARD_CONTROL_FLOOD ? "too much unread output (control frame flood)"
                                                         : "too many streams reset before their response (rapid reset)";
    h2o_http2_encode_goaway_frame(&conn->_write.buf, conn->pull_stream_ids.max_open, H2O_HTTP2_ERROR_ENHANCE_YOUR_CALM,
                                  h2o_iovec_init(why, strlen(why)));
    h2o_http2_conn_request_write(conn);
}

void sg_h2guard_count(sg_h2guard_reason_t reason)
{
    __atomic_add_fetch(closed + reason, 1, __ATOMIC_RELAXED);
}

uint64_t sg_h2guard_closed_total(sg_h2guard_reason_t reason)
{
    return __atomic_load_n(closed + reason, __ATOMIC_RELAXED);
}
