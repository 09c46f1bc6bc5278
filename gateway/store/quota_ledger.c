/*
 * Usage and admission arithmetic of the quota ledger (quota_ledger.h), shared by
 * the memory and Redis backends so that both decide alike.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store/quota_ledger.h"

/* parses a decimal uint64 at *p (advancing it); 0 on success */
static int parse_u64(const char **p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    const char *s = *p;
    if (s == end || *s < '0' || *s > '9')
        return -1;
    for (; s != end && *s >= '0' && *s <= '9'; ++s) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *p = s;
    *out = v;
    return 0;
}

int sg_quota_parse_amounts(const char *value, size_t len, sg_quota_kind_t *kind, uint64_t *cpu_millis, uint64_t *memory_mb)
{
    const char *p = value, *end = value + len;
    if (len < 5 || (p[0] != SG_QUOTA_KIND_SANDBOX && p[0] != SG_QUOTA_KIND_SNAPSHOT) || p[1] != ' ')
        return -1;
    *kind = (sg_quota_kind_t)p[0];
    p += 2;
    if (parse_u64(&p, end, cpu_millis) != 0 || p == end || *p++ != ' ' || parse_u64(&p, end, memory_mb) != 0 || p != end)
        return -1;
    return 0;
}

void sg_quota_format_amounts(char *buf, size_t size, sg_quota_kind_t kind, uint64_t cpu_millis, uint64_t memory_mb)
{
    snprintf(buf, size, "%c %" PRIu64 " %" PRIu64, (char)kind, cpu_millis, memory_mb);
}

int sg_quota_usage_add(sg_quota_usage_t *usage, const char *member, size_t member_len, int64_t score, const char *value,
                       size_t value_len, int64_t now_ms)
{
    sg_quota_kind_t kind;
    uint64_t cpu, mem;
    if (member_len < 3 || member[1] != ':' || score < now_ms)
        return 0;
    if (sg_quota_parse_amounts(value, value_len, &kind, &cpu, &mem) != 0)
        return 0;
    switch (member[0]) {
    case 'r':
        if (kind == SG_QUOTA_KIND_SNAPSHOT) {
            usage->pending_snapshots++;
        } else {
            usage->pending_live++;
            usage->pending_cpu_millis += cpu;
            usage->pending_memory_mb += mem;
        }
        return 1;
    case 's':
        usage->live++;
        usage->cpu_millis += cpu;
        usage->memory_mb += mem;
        return 1;
    case 'n':
        usage->snapshots++;
        return 1;
    default:
        return 0;
    }
}

/* 1 when used + ask passes max (0: no cap) */
static int over(uint64_t max, uint64_t used, uint64_t ask)
{
    return max != 0 && (used > max || ask > max - used);
}

sg_quota_verdict_t sg_quota_check(const sg_quota_limits_t *limits, const sg_quota_usage_t *usage, sg_quota_kind_t kind,
                                  uint64_t cpu_millis, uint64_t memory_mb, int *pending_only)
{
    sg_quota_verdict_t v = SG_QUOTA_OK, without = SG_QUOTA_OK;
    if (kind == SG_QUOTA_KIND_SNAPSHOT) {
        if (over(limits->max_snapshots, usage->snapshots + usage->pending_snapshots, 1))
            v = SG_QUOTA_OVER_SNAPSHOTS;
        if (over(limits->max_snapshots, usage->snapshots, 1))
            without = SG_QUOTA_OVER_SNAPSHOTS;
    } else {
        if (over(limits->max_live, usage->live + usage->pending_live, 1))
            v = SG_QUOTA_OVER_LIVE;
        else if (over(limits->max_cpu_millis, usage->cpu_millis + usage->pending_cpu_millis, cpu_millis))
            v = SG_QUOTA_OVER_CPU;
        else if (over(limits->max_memory_mb, usage->memory_mb + usage->pending_memory_mb, memory_mb))
            v = SG_QUOTA_OVER_MEMORY;
        if (over(limits->max_live, usage->live, 1))
            without = SG_QUOTA_OVER_LIVE;
        else if (over(limits->max_cpu_millis, usage->cpu_millis, cpu_millis))
            without = SG_QUOTA_OVER_CPU;
        else if (over(limits->max_memory_mb, usage->memory_mb, memory_mb))
            without = SG_QUOTA_OVER_MEMORY;
    }
    if (pending_only != NULL)
        *pending_only = v != SG_QUOTA_OK && without == SG_QUOTA_OK;
    return v;
}

int sg_quota_limits_none(const sg_quota_limits_t *limits, sg_quota_kind_t kind)
{
    if (kind == SG_QUOTA_KIND_SNAPSHOT)
        return limits->max_snapshots == 0;
    return limits->max_live == 0 && limits->max_cpu_millis == 0 && limits->max_memory_mb == 0;
}
