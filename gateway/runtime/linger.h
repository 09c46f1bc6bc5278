/*
 * Lingering close of HTTP/1 connections that the gateway answers before it
 * read the request body (h2o's own 413 for a body over max_request_body, 400
 * for broken chunked framing).
 *
 * h2o 2.2 closes such a connection right after writing the answer. The client
 * is usually still sending its body, so the kernel sees unread data at close()
 * and answers with a RST, which can destroy the error response before the
 * client reads it (the client gets EPIPE/ECONNRESET instead of the 413). Like
 * nginx's lingering_close, the gateway keeps a duplicate of the descriptor,
 * sends FIN once h2o has written the answer and let go of the socket, and
 * reads and discards what the client still sends for a bounded time.
 */
#ifndef SG_LINGER_H
#define SG_LINGER_H

#include <h2o.h>
#include "util/evloop.h"

typedef struct st_sg_linger_list_t {
    h2o_linklist_t conns; /* lingering connections of one thread */
    size_t count;
} sg_linger_list_t;

/*
 * Starts lingering on the socket of req (an HTTP/1 request whose connection
 * h2o will close after this response). Called while the response is being set
 * up. Lingering ends when the client closes, after idle_ms without data, or
 * after total_ms; whichever comes first. Does nothing if total_ms is zero, for
 * HTTP/2, when the thread already lingers on 1024 connections or when the
 * descriptor cannot be duplicated (then h2o's plain close applies). Never fails
 * the request.
 */
void sg_linger_start(sg_linger_list_t *list, sg_loop_t *loop, h2o_req_t *req, uint64_t idle_ms, uint64_t total_ms);
/* Closes every lingering connection of the list (thread exit). */
void sg_linger_close_all(sg_linger_list_t *list);

#endif
