/*
 * The negative cache: (tenant, sandbox id) pairs that were answered "not found"
 * for that tenant after the store and every backend were asked, so that asking
 * again (the same client retrying, or someone probing ids) does not send one
 * request per backend each time. Process-wide, bounded (NEGCACHE_BUCKETS x
 * NEGCACHE_WAYS entries, keyed hash of the id so that clients cannot aim ids at
 * one bucket), short-lived, and subject to the trust rule of cache_events.h.
 * Keyed by tenant too: a sandbox of tenant A cached as "not found" for tenant B
 * must still be found by A.
 */
#ifndef SG_NEGCACHE_H
#define SG_NEGCACHE_H

#include <stddef.h>
#include <stdint.h>

/* 1 when id is cached as not found for tenant (and the entry may still be trusted). */
int sg_negcache_hit(const char *tenant, size_t tenant_len, const char *id);
/* Remembers id as not found for tenant for ttl_ms; started_ms is when the lookup that found nothing began (an
 * invalidation of id after that wins). */
void sg_negcache_put(const char *tenant, size_t tenant_len, const char *id, uint64_t started_ms, uint64_t ttl_ms);
/* id became known as a sandbox of tenant (created, adopted, renewed): forgets it for that tenant, whose answer
 * changed; for the others it still does not exist. tenant NULL: for every tenant. */
void sg_negcache_forget(const char *id, const char *tenant);

#endif
