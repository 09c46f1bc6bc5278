/*
 * What the gateway refuses at the edge, before any plugin, route or upstream
 * sees a request (docs/SECURITY.md):
 * - methods that are not tokens and request targets that cannot be forwarded
 *   safely: control characters, spaces and '#' (they would be injected into
 *   the upstream request line; HTTP/2 pseudo-headers reach us unchecked), bad
 *   percent escapes, an encoded NUL, and dot-segments in any spelling, which
 *   would let a path leave the prefix of the endpoint it is appended to;
 * - HTTP/1 framing that two parsers could read differently (request
 *   smuggling, RFC 9112 6.3): Content-Length headers that disagree, Content-
 *   Length with Transfer-Encoding, several Transfer-Encoding or Host headers,
 *   obsolete line folding, HTTP/1.1 without Host.
 * The checks are pure functions over bytes, unit tested; sg_reqcheck_request
 * applies them to an h2o request.
 */
#ifndef SG_REQCHECK_H
#define SG_REQCHECK_H

#include <h2o.h>

typedef struct st_sg_reqcheck_t {
    int status;          /* 0: acceptable; otherwise 400 */
    const char *code;    /* GATEWAY::... */
    const char *message; /* static; names the rule */
    int must_close;      /* the framing is ambiguous: the connection is closed after the answer */
} sg_reqcheck_t;

/* 1 if the method is a non-empty RFC 9110 token. */
int sg_reqcheck_method(const char *m, size_t len);
/*
 * Checks a request target (path and query as received). Returns NULL if it may
 * be forwarded, otherwise why not (static). The path must start with '/'; no
 * byte may be a control character, a space, DEL or '#'; in the path, every '%'
 * starts a valid escape, none decodes to NUL, and no segment is a dot-segment.
 * Segments are split at '/', and also at '\' and at the decoded forms %2F and
 * %5C (many servers and path-normalising proxies behind us treat them as
 * separators); a segment's ';' parameters are ignored ("..;x" is ".."). The
 * escapes themselves are forwarded unchanged.
 */
const char *sg_reqcheck_target(const char *target, size_t len);
/*
 * Checks the framing of a raw HTTP/1 request head (request line and headers,
 * as received). Returns NULL if unambiguous, otherwise why not (static).
 */
const char *sg_reqcheck_http1_head(const char *head, size_t len);
/* Applies the checks to req; out->status is 0 when the request may go on. */
void sg_reqcheck_request(h2o_req_t *req, sg_reqcheck_t *out);

#endif
