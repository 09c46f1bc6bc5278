/*
 * Request intake: bounds the memory that client request bodies take while h2o
 * receives them, i.e. before any handler (and so before key-auth) has run.
 *
 * h2o 2.2 reads a whole request body into memory (HTTP/1: the socket's input
 * buffer; HTTP/2: one buffer per stream) before the handler sees the request,
 * and offers no hook in between. The gateway owns accept, so it tags every
 * accepted client socket, and it defines h2o_socket_read_start/_stop and
 * h2o_socket_close itself: libh2o calls them through its PLT, so these
 * definitions see every (re)start of reading on a tagged socket and can run
 * before h2o's read callback (the real functions are reached with
 * dlsym(RTLD_NEXT)). Untagged sockets (upstreams, Redis, listeners) pass
 * straight through. docs/ARCHITECTURE.md, "Request intake", has the rules.
 */
#ifndef SG_INTAKE_H
#define SG_INTAKE_H

#include <stdint.h>
#include <h2o.h>

struct st_sg_thread_t;

typedef struct st_sg_intake_stats_t {
    int64_t buffered_bytes; /* bytes charged to limits.request_buffer_budget right now */
    uint64_t paused_total;  /* times a connection's reading was paused for the budget */
    uint64_t refused_http1; /* HTTP/1 requests refused early (401, no credential, body over the allowance) */
    uint64_t refused_http2; /* HTTP/2 streams reset early for the same reason */
    int64_t waiting;        /* connections waiting for budget right now */
} sg_intake_stats_t;

/* per worker thread, on its loop, before the first accept / after the loop stopped */
void sg_intake_thread_init(struct st_sg_thread_t *t);
void sg_intake_thread_dispose(void);
/* tags an accepted client socket (before h2o_accept); is_admin: accepted on the admin listener */
void sg_intake_accept(struct st_sg_thread_t *t, h2o_socket_t *sock, int is_admin);
/* forgets a socket that stops carrying HTTP requests (WebSocket tunnel); h2o must not be reading it */
void sg_intake_detach(h2o_socket_t *sock);
/* an HTTP/2 request reached the handler / its pool is being disposed (with no response begun: the client reset it);
 * the counts feed the rapid-reset limit (h2guard.h). No-ops for HTTP/1 */
void sg_intake_request_started(h2o_req_t *req);
void sg_intake_request_ended(h2o_req_t *req);
void sg_intake_get_stats(sg_intake_stats_t *out);

#endif
