/*
 * HTTP/2 flood guard: the per-connection limits that libh2o 2.2.5 (Debian's)
 * predates, applied after each read of an HTTP/2 client connection.
 *
 * - Control-frame floods (CVE-2019-9512 PING, CVE-2019-9515 SETTINGS): h2o
 *   queues an ACK for every PING and SETTINGS frame, without bound, whether
 *   the client reads them or not. A connection whose queued output exceeds
 *   SG_H2GUARD_MAX_QUEUED is closed: streamed DATA never takes it that far,
 *   since h2o stops pulling response bodies at half that size.
 * - Rapid reset (CVE-2023-44487): a client may open and reset streams without
 *   end, staying under the 100-stream limit, while every stream costs the
 *   gateway a request. As Envoy does, a connection that has started
 *   SG_H2GUARD_MIN_STREAMS requests and abandoned (reset before a response
 *   began) more than half of them is closed.
 * Both end with GOAWAY ENHANCE_YOUR_CALM and are counted by reason.
 * docs/ARCHITECTURE.md, "HTTP/2 floods", has the figures.
 */
#ifndef SG_H2GUARD_H
#define SG_H2GUARD_H

#include <stdint.h>
#include <h2o.h>

struct st_h2o_http2_conn_t;

#define SG_H2GUARD_MAX_QUEUED (1024 * 1024) /* output not yet sent; twice h2o's H2O_HTTP2_DEFAULT_OUTBUF_SOFT_MAX_SIZE */
#define SG_H2GUARD_MIN_STREAMS 500

typedef enum en_sg_h2guard_reason_t {
    SG_H2GUARD_OK = 0,
    SG_H2GUARD_CONTROL_FLOOD,
    SG_H2GUARD_RAPID_RESET,
    SG_H2GUARD_NUM_REASONS
} sg_h2guard_reason_t;

typedef struct st_sg_h2guard_t {
    uint32_t started;   /* requests that reached the gateway's handler */
    uint32_t abandoned; /* ... whose stream ended before a response began */
} sg_h2guard_t;

/* label values of sandgate_http2_flood_closes_total{reason}, indexed by reason */
extern const char *const sg_h2guard_reason_names[SG_H2GUARD_NUM_REASONS];

/* the limit a connection is over after h2o parsed a read, or SG_H2GUARD_OK */
sg_h2guard_reason_t sg_h2guard_check(const sg_h2guard_t *g, struct st_h2o_http2_conn_t *conn);
/* queues GOAWAY (ENHANCE_YOUR_CALM) with a debug text naming the reason; the caller then closes the connection */
void sg_h2guard_goaway(struct st_h2o_http2_conn_t *conn, sg_h2guard_reason_t reason);
/* counts closes by reason (process-wide) */
void sg_h2guard_count(sg_h2guard_reason_t reason);
uint64_t sg_h2guard_closed_total(sg_h2guard_reason_t reason);

#endif
