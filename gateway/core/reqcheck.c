#include <string.h>
#include <strings.h>
#include "core/reqcheck.h"
#include "util/errors.h"
#include "util/picohttp.h"
#include "util/urlenc.h"

int sg_reqcheck_method(const char *m, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)m[i];
        if (c == '\0' ||
            !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL))
            return 0;
    }
    return 1;
}

/* the dot-segment state of the segment being read: its length (parameters excluded) and whether it is dots only */
typedef struct st_segment_t {
    size_t len;
    int dots_only;
    int in_params;
} segment_t;

/* 1 if the segment just ended is "." or ".."; starts the next one */
static int end_segment(segment_t *s)
{
    int dot = s->dots_only && (s->len == 1 || s->len == 2);
    *s = (segment_t){0, 1, 0};
    return dot;
}

const char *sg_reqcheck_target(const char *t, size_t len)
{
    if (len == 0 || t[0] != '/')
        return "the request target must be an absolute path";
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)t[i];
        if (c <= 0x20 || c == 0x7f)
            return "the request target contains a space or a control character";
        if (c == '#')
            return "the request target contains '#'";
    }
    const char *q = memchr(t, '?', len);
    size_t plen = q != NULL ? (size_t)(q - t) : len;
    segment_t seg = {0, 1, 0};
    for (size_t i = 1; i < plen; ++i) {
        int c = (unsigned char)t[i];
        if (c == '/') {
            if (end_segment(&seg))
                goto DotSegment;
            continue;
        }
        if (c == '%') {
            int hi = i + 2 < plen ? sg_hexval(t[i + 1]) : -1, lo = hi >= 0 ? sg_hexval(t[i + 2]) : -1;
            if (lo < 0)
                return "the request path contains a malformed percent-escape";
            c = hi * 16 + lo;
            i += 2;
            if (c == 0)
                return "the request path contains an encoded NUL (%00)";
        }
        if (c == '/' || c == '\\') {
            if (end_segment(&seg))
                goto DotSegment;
            continue;
        }
        if (seg.in_params)
            continue;
        if (c == ';') {
            seg.in_params = 1;
            continue;
        }
        seg.len++;
        if (c != '.')
            seg.dots_only = 0;
    }
    if (end_segment(&seg))
        goto DotSegment;
    return NULL;
DotSegment:
    return "the request path contains a dot-segment ('.' or '..', raw or percent-encoded)";
}

const char *sg_reqcheck_http1_head(const char *head, size_t len)
{
    const char *method, *path;
    size_t method_len, path_len, num_headers = H2O_MAX_HEADERS;
    int minor_version;
    struct phr_header headers[H2O_MAX_HEADERS];
    if (phr_parse_request(head, len, &method, &method_len, &path, &path_len, &minor_version, headers, &num_headers, 0) <= 0)
        return "malformed request head";
    const struct phr_header *content_length = NULL;
    size_t num_te = 0, num_host = 0;
    for (size_t i = 0; i != num_headers; ++i) {
        const struct phr_header *h = headers + i;
        if (h->name == NULL)
            return "obsolete line folding in a header";
        if (h2o_lcstris(h->name, h->name_len, H2O_STRLIT("content-length"))) {
            if (content_length != NULL && !h2o_memis(content_length->value, content_length->value_len, h->value, h->value_len))
                return "conflicting Content-Length headers";
            content_length = h;
        } else if (h2o_lcstris(h->name, h->name_len, H2O_STRLIT("transfer-encoding"))) {
            ++num_te;
        } else if (h2o_lcstris(h->name, h->name_len, H2O_STRLIT("host"))) {
            ++num_host;
        }
    }
    if (num_te != 0 && content_length != NULL)
        return "both Transfer-Encoding and Content-Length";
    if (num_te > 1)
        return "more than one Transfer-Encoding header";
    if (num_host > 1)
        return "more than one Host header";
    if (num_host == 0 && minor_version >= 1)
        return "an HTTP/1.1 request without a Host header";
    return NULL;
}

static sg_reqcheck_t refusal(sg_error_t e, const char *message, int must_close)
{
    return (sg_reqcheck_t){sg_errors[e].status, sg_errors[e].code, message, must_close};
}

void sg_reqcheck_request(h2o_req_t *req, sg_reqcheck_t *out)
{
    const char *why;
    *out = (sg_reqcheck_t){0};
    if (req->version < 0x200 && req->conn->callbacks->get_socket != NULL) {
        /* h2o keeps only the first Content-Length and drops Transfer-Encoding from req->headers: look at the head itself,
         * which is still at the start of the connection's input buffer while the request is served */
        h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
        if (sock != NULL && (why = sg_reqcheck_http1_head(sock->input->bytes, sock->input->size)) != NULL) {
            *out = refusal(SG_ERR_BAD_FRAMING, why, 1);
            return;
        }
    }
    if (!sg_reqcheck_method(req->input.method.base, req->input.method.len)) {
        *out = refusal(SG_ERR_BAD_REQUEST, "the request method is not a valid token", 0);
        return;
    }
    if ((why = sg_reqcheck_target(req->input.path.base, req->input.path.len)) != NULL) {
        *out = refusal(SG_ERR_INVALID_PATH, why, 0);
        return;
    }
    for (size_t i = 0; i != req->input.authority.len; ++i) {
        unsigned char c = (unsigned char)req->input.authority.base[i];
        if (c <= 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '?' || c == '#' || c == '@') {
            *out = refusal(SG_ERR_BAD_REQUEST, "the Host (or :authority) is not a valid host", 0);
            return;
        }
    }
}
