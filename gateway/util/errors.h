/*
 * The gateway's error codes: one table of (code, HTTP status, default message),
 * used by every place in the core that answers an error. README.md's error table
 * is checked against it by tests/unit/test_schemas.c.
 *
 * To add a code: one line in SG_ERRORS, one row in README.md. Plugins loaded with
 * dlopen only see plugin.h and pass their codes as strings; the unit test checks
 * that the codes and statuses the plugins of this repository use are in the table.
 */
#ifndef SG_ERRORS_H
#define SG_ERRORS_H

#include <stddef.h>

/* X(name, code, status, default message); status 0: the status is given by the caller (BACKEND_ERROR) */
#define SG_ERRORS(X)                                                                                                               \
    X(INVALID_REQUEST, "GATEWAY::INVALID_REQUEST", 400, "invalid request")                                                         \
    X(BAD_REQUEST, "GATEWAY::BAD_REQUEST", 400, "malformed request")                                                               \
    X(INVALID_PATH, "GATEWAY::INVALID_PATH", 400, "invalid request target")                                                        \
    X(BAD_FRAMING, "GATEWAY::BAD_FRAMING", 400, "ambiguous request framing")                                                       \
    X(SIGNED_URL_TOO_LONG, "GATEWAY::SIGNED_URL_TOO_LONG", 400, "expires is beyond the longest signed URL lifetime")               \
    X(MISSING_API_KEY, "MISSING_API_KEY", 401, "Authentication credentials are missing (is key-auth configured?)")                 \
    X(INVALID_API_KEY, "INVALID_API_KEY", 401, "Invalid API key.")                                                                 \
    X(INVALID_SIGNATURE, "GATEWAY::INVALID_SIGNATURE", 401, "invalid signed URL")                                                  \
    X(SIGNED_URL_EXPIRED, "GATEWAY::SIGNED_URL_EXPIRED", 401, "the signed URL has expired")                                        \
    X(IMAGE_NOT_ALLOWED, "GATEWAY::IMAGE_NOT_ALLOWED", 403, "image not allowed")                                                   \
    X(MANUAL_CLEANUP_NOT_ALLOWED, "GATEWAY::MANUAL_CLEANUP_NOT_ALLOWED", 403, "a timeout is required")                             \
    X(TIMEOUT_TOO_LONG, "GATEWAY::TIMEOUT_TOO_LONG", 403, "timeout too long")                                                      \
    X(CPU_LIMIT_EXCEEDED, "GATEWAY::CPU_LIMIT_EXCEEDED", 403, "cpu limit exceeded")                                                \
    X(MEMORY_LIMIT_EXCEEDED, "GATEWAY::MEMORY_LIMIT_EXCEEDED", 403, "memory limit exceeded")                                       \
    X(RESERVED_METADATA, "GATEWAY::RESERVED_METADATA", 403, "reserved metadata key")                                               \
    X(ADMISSION_UNKNOWN_FIELD, "GATEWAY::ADMISSION_UNKNOWN_FIELD", 403, "unknown field")                                           \
    X(ADMISSION_HOST_VOLUME, "GATEWAY::ADMISSION_HOST_VOLUME", 403, "host volume not allowed")                                     \
    X(ADMISSION_PVC_VOLUME, "GATEWAY::ADMISSION_PVC_VOLUME", 403, "pvc volume not allowed")                                        \
    X(ADMISSION_OSSFS_VOLUME, "GATEWAY::ADMISSION_OSSFS_VOLUME", 403, "ossfs volume not allowed")                                  \
    X(ADMISSION_VOLUME_PATH, "GATEWAY::ADMISSION_VOLUME_PATH", 403, "volume path not allowed")                                     \
    X(ADMISSION_VOLUME_COUNT, "GATEWAY::ADMISSION_VOLUME_COUNT", 403, "too many volumes")                                          \
    X(ADMISSION_NETWORK_POLICY, "GATEWAY::ADMISSION_NETWORK_POLICY", 403, "network policy not allowed")                            \
    X(ADMISSION_CREDENTIAL_PROXY, "GATEWAY::ADMISSION_CREDENTIAL_PROXY", 403, "credential proxy not allowed")                      \
    X(ADMISSION_IMAGE_AUTH, "GATEWAY::ADMISSION_IMAGE_AUTH", 403, "image auth not allowed")                                        \
    X(ADMISSION_PLATFORM, "GATEWAY::ADMISSION_PLATFORM", 403, "platform not allowed")                                              \
    X(ADMISSION_ENTRYPOINT, "GATEWAY::ADMISSION_ENTRYPOINT", 403, "entrypoint not allowed")                                        \
    X(ADMISSION_ENV, "GATEWAY::ADMISSION_ENV", 403, "environment variable not allowed")                                            \
    X(ADMISSION_EXTENSIONS, "GATEWAY::ADMISSION_EXTENSIONS", 403, "extension not allowed")                                         \
    X(ADMISSION_RESOURCE, "GATEWAY::ADMISSION_RESOURCE", 403, "resource not allowed")                                              \
    X(ADMISSION_METADATA, "GATEWAY::ADMISSION_METADATA", 403, "too many metadata keys")                                            \
    X(FORBIDDEN, "GATEWAY::FORBIDDEN", 403, "forbidden")                                                                           \
    X(DENIED_BY_PLUGIN, "GATEWAY::DENIED_BY_PLUGIN", 403, "request refused by a plugin")                                           \
    X(SANDBOX_NOT_FOUND, "GATEWAY::SANDBOX_NOT_FOUND", 404, "sandbox not found")                                                   \
    X(SNAPSHOT_NOT_FOUND, "GATEWAY::SNAPSHOT_NOT_FOUND", 404, "snapshot not found")                                                \
    X(ROUTE_NOT_FOUND, "GATEWAY::ROUTE_NOT_FOUND", 404, "no route matches this path")                                              \
    X(METHOD_NOT_ALLOWED, "GATEWAY::METHOD_NOT_ALLOWED", 405, "method not allowed")                                                \
    X(BACKEND_ERROR, "GATEWAY::BACKEND_ERROR", 0, "the backend answered an error")                                                 \
    X(PAYLOAD_TOO_LARGE, "GATEWAY::PAYLOAD_TOO_LARGE", 413, "request body exceeds limits.max_request_body")                        \
    X(RANGE_NOT_SATISFIABLE, "GATEWAY::RANGE_NOT_SATISFIABLE", 416, "range not satisfiable")                                       \
    X(EXPECTATION_FAILED, "GATEWAY::EXPECTATION_FAILED", 417, "expectation failed")                                                \
    X(TOO_MANY_PROBES, "GATEWAY::TOO_MANY_PROBES", 429, "too many look-ups of unknown ids; retry later")                           \
    X(RATE_LIMITED, "GATEWAY::RATE_LIMITED", 429, "rate limit exceeded; retry later")                                              \
    X(QUOTA_EXCEEDED, "QUOTA_EXCEEDED", 429, "quota exceeded")                                                                     \
    X(HEADERS_TOO_LARGE, "GATEWAY::HEADERS_TOO_LARGE", 431, "request headers exceed limits.max_header_size")                       \
    X(INTERNAL_ERROR, "GATEWAY::INTERNAL_ERROR", 500, "internal error")                                                            \
    X(UPSTREAM_CONNECT_FAILED, "GATEWAY::UPSTREAM_CONNECT_FAILED", 502, "cannot connect to the upstream")                          \
    X(BAD_GATEWAY, "GATEWAY::BAD_GATEWAY", 502, "bad gateway")                                                                     \
    X(UPSTREAM_BUSY, "GATEWAY::UPSTREAM_BUSY", 503, "all connections to the upstream are in use; retry later")                     \
    X(NO_CAPACITY, "GATEWAY::NO_CAPACITY", 503, "no backend has capacity")                                                         \
    X(BACKEND_UNAVAILABLE, "GATEWAY::BACKEND_UNAVAILABLE", 503, "the backend is unavailable")                                      \
    X(NO_HEALTHY_BACKEND, "GATEWAY::NO_HEALTHY_BACKEND", 503, "no healthy backend is available")                                   \
    X(STORE_UNAVAILABLE, "GATEWAY::STORE_UNAVAILABLE", 503, "the state store is unavailable; retry later")                         \
    X(TENANT_UNAVAILABLE, "GATEWAY::TENANT_UNAVAILABLE", 503, "the tenant definition is unavailable")                              \
    X(SHUTTING_DOWN, "GATEWAY::SHUTTING_DOWN", 503, "the gateway is shutting down")                                                \
    X(UNAVAILABLE, "GATEWAY::UNAVAILABLE", 503, "service unavailable")                                                             \
    X(UPSTREAM_TIMEOUT, "GATEWAY::UPSTREAM_TIMEOUT", 504, "upstream timeout")

typedef enum en_sg_error_t {
#define SG_ERRORS_ENUM(name, code, status, message) SG_ERR_##name,
    SG_ERRORS(SG_ERRORS_ENUM)
#undef SG_ERRORS_ENUM
        SG_ERR_NUM
} sg_error_t;

typedef struct st_sg_error_def_t {
    const char *code;
    int status; /* 0: the caller's */
    const char *message;
} sg_error_def_t;

extern const sg_error_def_t sg_errors[SG_ERR_NUM];

/* the code string of e ("GATEWAY::...") */
#define SG_ERR_CODE(e) (sg_errors[(e)].code)

/* the entry whose code is code, or NULL */
const sg_error_def_t *sg_error_find(const char *code);

#endif
