/*
 * The quota ledger of a tenant, as both store backends keep it (docs/STORE.md,
 * "Quota ledger"): members "r:<reservation id>" (a create or snapshot that is
 * reserved but not yet recorded; score = lease expiry), "s:<sandbox id>" (a live
 * sandbox; score = expiresAt) and "n:<snapshot id>" (a snapshot; no expiry), each
 * with its amounts ("<kind> <cpu millis> <memory MiB>", kind s or n). A member
 * whose score is in the past does not count.
 *
 * This file holds what both backends share: the usage of a set of members and
 * the decision whether one more reservation fits the limits. No I/O, no locks.
 */
#ifndef SG_QUOTA_LEDGER_H
#define SG_QUOTA_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#define SG_QUOTA_RID_MAX 32          /* reservation ids: hex */
#define SG_QUOTA_NO_EXPIRY INT64_MAX /* score of a member that never expires (Redis: +inf) */

typedef enum en_sg_quota_kind_t { SG_QUOTA_KIND_SANDBOX = 's', SG_QUOTA_KIND_SNAPSHOT = 'n' } sg_quota_kind_t;

/* 0 everywhere: no cap */
typedef struct st_sg_quota_limits_t {
    uint64_t max_live;
    uint64_t max_cpu_millis;
    uint64_t max_memory_mb;
    uint64_t max_snapshots;
} sg_quota_limits_t;

/* what a tenant uses now: recorded (live) and reserved (pending) amounts */
typedef struct st_sg_quota_usage_t {
    uint64_t live, cpu_millis, memory_mb, snapshots;
    uint64_t pending_live, pending_cpu_millis, pending_memory_mb, pending_snapshots;
} sg_quota_usage_t;

/* the outcome of a reservation: OK, or the first limit it would pass */
typedef enum en_sg_quota_verdict_t {
    SG_QUOTA_OK,
    SG_QUOTA_OVER_LIVE,
    SG_QUOTA_OVER_CPU,
    SG_QUOTA_OVER_MEMORY,
    SG_QUOTA_OVER_SNAPSHOTS
} sg_quota_verdict_t;

/* a reservation asked of the store: who, what, the limits to hold, until when the reservation holds */
typedef struct st_sg_quota_request_t {
    char tenant[128 + 1];
    char rid[SG_QUOTA_RID_MAX + 1];
    sg_quota_kind_t kind;
    uint64_t cpu_millis, memory_mb;
    sg_quota_limits_t limits;
    int64_t lease_until_ms;
} sg_quota_request_t;

/*
 * Parses the amounts of a member ("s 1000 512"); 0 on success. A malformed value is an error: the caller ignores
 * the member (it cannot tell what it held).
 */
int sg_quota_parse_amounts(const char *value, size_t len, sg_quota_kind_t *kind, uint64_t *cpu_millis, uint64_t *memory_mb);
/* writes the amounts of a member into buf (>= 64 bytes) */
void sg_quota_format_amounts(char *buf, size_t size, sg_quota_kind_t kind, uint64_t cpu_millis, uint64_t memory_mb);
/*
 * Adds one member to usage. member is "r:...", "s:..." or "n:..."; score its expiry in ms (SG_QUOTA_NO_EXPIRY:
 * none). Returns 1 when it counted, 0 when it is expired at now_ms or unusable (the caller may prune it).
 */
int sg_quota_usage_add(sg_quota_usage_t *usage, const char *member, size_t member_len, int64_t score, const char *value,
                       size_t value_len, int64_t now_ms);
/*
 * Whether one more item of kind with these amounts fits limits given usage. *pending_only is set to 1 when it
 * is refused but would fit without the pending reservations (waiting may help: they expire or are released).
 */
sg_quota_verdict_t sg_quota_check(const sg_quota_limits_t *limits, const sg_quota_usage_t *usage, sg_quota_kind_t kind,
                                  uint64_t cpu_millis, uint64_t memory_mb, int *pending_only);
/* 1 when no limit is set (no reservation is needed) */
int sg_quota_limits_none(const sg_quota_limits_t *limits, sg_quota_kind_t kind);

#endif
