#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <jansson.h>
#include "runtime/intake.h"
#include "runtime/request.h"
#include "runtime/thread.h"

static void (*response_headers_hook)(sg_request_t *r);

void sg_request_set_response_headers_hook(void (*cb)(sg_request_t *r))
{
    response_headers_hook = cb;
}

void sg_request_response_headers(sg_request_t *r)
{
    if (response_headers_hook != NULL)
        response_headers_hook(r);
}

static void on_setup_ostream(h2o_req_prefilter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    sg_request_t *r = (sg_request_t *)self;
    /* the response-headers phase: every response of the request passes here once */
    sg_request_response_headers(r);
    h2o_setup_next_prefilter(self, req, slot);
}

/* Runs the dispose callbacks registered on the request (teardown), latest first. */
static void run_disposers(sg_request_t *r)
{
    r->disposed = 1;
    while (r->disposers != NULL) {
        sg_dispose_entry_t *e = r->disposers;
        r->disposers = e->next;
        e->cb(e->data);
    }
}

static void on_pool_dispose(void *p)
{
    sg_request_t *r = *(sg_request_t **)p;
    sg_intake_request_ended(r->req);
    run_disposers(r);
    r->thread->inflight--;
    sg_config_release(r->config);
}

h2o_iovec_t sg_request_remote_addr(h2o_req_t *req)
{
    struct sockaddr_storage ss;
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    char *buf = h2o_mem_alloc_pool(&req->pool, NI_MAXHOST);
    size_t l = len != 0 ? h2o_socket_getnumerichost((struct sockaddr *)&ss, len, buf) : SIZE_MAX;
    return l != SIZE_MAX ? h2o_iovec_init(buf, l) : h2o_iovec_init(NULL, 0);
}

const char *sg_reason_phrase(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 203:
        return "Non-Authoritative Information";
    case 204:
        return "No Content";
    case 205:
        return "Reset Content";
    case 206:
        return "Partial Content";
    case 207:
        return "Multi-Status";
    case 300:
        return "Multiple Choices";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 407:
        return "Proxy Authentication Required";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Content";
    case 423:
        return "Locked";
    case 424:
        return "Failed Dependency";
    case 425:
        return "Too Early";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 451:
        return "Unavailable For Legal Reasons";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    case 507:
        return "Insufficient Storage";
    case 511:
        return "Network Authentication Required";
    default:
        return status < 200   ? "Informational"
               : status < 300 ? "Success"
               : status < 400 ? "Redirection"
               : status < 500 ? "Client Error"
                              : "Server Error";
    }
}

sg_request_t *sg_request_of(h2o_req_t *req)
{
    for (h2o_req_prefilter_t *p = req->prefilters; p != NULL; p = p->next)
        if (p->on_setup_ostream == on_setup_ostream)
            return (sg_request_t *)p;
    return NULL;
}

/* the route of r: a port named by the Host ({id}-{port}.{ports.sandbox_domain}) or by OpenSandbox-Ingress-To takes the
 * whole path to the sandbox; otherwise the path decides */
static void classify(sg_request_t *r, int is_admin_listener)
{
    h2o_req_t *req = r->req;
    if (!is_admin_listener) {
        const char *domain = r->config->ports.sandbox_domain, *label;
        size_t label_len;
        if (domain != NULL &&
            (label = sg_router_host_label(req->input.authority.base, req->input.authority.len, domain, &label_len)) != NULL) {
            sg_router_classify_token(label, label_len, req->path.base, req->path.len, SG_PORT_FORM_HOST, &r->route);
            return;
        }
        ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("opensandbox-ingress-to"), -1);
        if (i != -1) {
            h2o_iovec_t v = req->headers.entries[i].value;
            sg_router_classify_token(v.base, v.len, req->path.base, req->path.len, SG_PORT_FORM_HEADER, &r->route);
            return;
        }
    }
    sg_router_classify(req->path.base, req->path.len, is_admin_listener, &r->route);
}

sg_request_t *sg_request_create(sg_thread_t *thread, h2o_req_t *req, int is_admin_listener)
{
    sg_request_t *r = (sg_request_t *)h2o_add_prefilter(req, sizeof(*r));
    h2o_req_prefilter_t saved = r->prefilter;
    memset(r, 0, sizeof(*r));
    r->prefilter = saved;
    r->prefilter.on_setup_ostream = on_setup_ostream;
    r->req = req;
    r->thread = thread;
    sg_thread_refresh_config(thread);
    r->config = thread->config;
    sg_config_retain(r->config);
    thread->inflight++;
    r->started_at_us = sg_now_us();

    sg_request_t **token = h2o_mem_alloc_shared(&req->pool, sizeof(*token), on_pool_dispose);
    *token = r;
    sg_intake_request_started(req);

    classify(r, is_admin_listener);
    r->chain = &r->config->routes[r->route.cls];
    if (r->chain->ctx_size != 0) {
        r->plugin_ctx = h2o_mem_alloc_pool(&req->pool, r->chain->ctx_size);
        memset(r->plugin_ctx, 0, r->chain->ctx_size);
    }
    return r;
}

void sg_request_json(sg_request_t *r, int status, const char *json, size_t len)
{
    h2o_req_t *req = r->req;
    req->res.status = status;
    req->res.reason = sg_reason_phrase(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_iovec_t body = h2o_strdup(&req->pool, json, len);
    h2o_send_inline(req, body.base, body.len);
}

/* copies s replacing bytes outside printable ASCII (ids from paths may be anything, JSON needs UTF-8) */
static char *printable(const char *s)
{
    char *out = strdup(s);
    for (char *p = out; *p != '\0'; ++p)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '?';
    return out;
}

void sg_request_error(sg_request_t *r, int status, const char *code, const char *message)
{
    /* a default only: a caller that knows better set its own; a plugin's replaces it (pipeline.c) */
    int retry = (status == 503 || status == 429) && h2o_find_header(&r->req->res.headers, H2O_TOKEN_RETRY_AFTER, -1) == -1;
    sg_request_error_retry(r, status, code, message, retry ? "1" : NULL);
}

void sg_request_error_retry(sg_request_t *r, int status, const char *code, const char *message, const char *retry_after)
{
    r->error_code = code;
    if (status == 403 || status == 429) /* refused by policy: admission, quota, rate limit, plugins */
        sg_metrics_refusal(r->tenant.base, r->tenant.base != NULL ? r->tenant.len : 0, code);
    json_t *obj = json_pack("{s:s, s:s}", "code", code, "message", message);
    if (obj == NULL) {
        char *safe = printable(message);
        obj = json_pack("{s:s, s:s}", "code", code, "message", safe);
        free(safe);
    }
    char *text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    if (text == NULL) {
        static const char fallback[] = "{\"code\":\"GATEWAY::INTERNAL_ERROR\",\"message\":\"cannot encode error\"}";
        sg_request_json(r, 500, fallback, sizeof(fallback) - 1);
    } else {
        if (retry_after != NULL) {
            h2o_iovec_t v = h2o_strdup(&r->req->pool, retry_after, SIZE_MAX);
            h2o_add_header(&r->req->pool, &r->req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, v.base, v.len);
        }
        sg_request_json(r, status, text, strlen(text));
    }
    free(text);
    json_decref(obj);
}

void sg_request_fail(sg_request_t *r, sg_error_t e, const char *message)
{
    sg_request_error(r, sg_errors[e].status, sg_errors[e].code, message != NULL ? message : sg_errors[e].message);
}

void sg_request_backend_error(sg_request_t *r, int status)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "the backend answered %d %s without a JSON error body", status, sg_reason_phrase(status));
    sg_request_error(r, status, SG_ERR_CODE(SG_ERR_BACKEND_ERROR), msg);
}

void sg_request_on_dispose(sg_request_t *r, void (*cb)(void *data), void *data)
{
    sg_dispose_entry_t *e = h2o_mem_alloc_pool(&r->req->pool, sizeof(*e));
    e->cb = cb;
    e->data = data;
    e->next = r->disposers;
    r->disposers = e;
}
