/*
 * Invalidation of the process-wide sandbox caches (owner and negative caches in
 * ownership.c, endpoint cache in port.c) across gateway instances.
 *
 * With Redis, every store write of a sandbox record also publishes "put <id>" or
 * "del <id>" on the channel {prefix}events (same MULTI block as the write, see
 * store_redis.c; "put <id> <tenant>" for a write); one subscriber per process, on the health thread's loop,
 * applies them. A second connection publishes a heartbeat on the same channel
 * every SG_CACHE_EVENTS_HEARTBEAT_MS; receiving our own heartbeat sent at time s
 * proves that every event Redis executed before s has been applied here.
 *
 * The trust rule (sg_cache_events_trusted) keeps every cached answer within
 * SG_CACHE_EVENTS_BOUND_MS of the store's truth: an entry is used without asking
 * the store again only if it was read from the store less than the bound ago, or
 * if it was read while subscribed and our last echoed heartbeat is less than the
 * bound old. While the subscription is down (Redis down, reconnecting, or a
 * stalled connection) entries therefore live at most the bound; reconnection
 * uses the store's backoff (100 ms doubling to 5 s).
 *
 * With the memory store (one instance) the store calls sg_cache_events_apply
 * itself and cached entries are always trusted.
 */
#ifndef SG_CACHE_EVENTS_H
#define SG_CACHE_EVENTS_H

#include <stdint.h>
#include "util/evloop.h"

#define SG_CACHE_EVENTS_BOUND_MS 1000
#define SG_CACHE_EVENTS_HEARTBEAT_MS 200

/* Process-wide setup (after sg_store_global_init, before any thread): hooks the store's writes. */
void sg_cache_events_init(void);
/* Starts / stops the subscriber on loop (the health thread's); no-ops with the memory store. */
void sg_cache_events_start(sg_loop_t *loop);
void sg_cache_events_stop(void);
/* 1 when a cache entry read from the store at verified_ms may be used at now_ms without reading it again. */
int sg_cache_events_trusted(uint64_t verified_ms, uint64_t now_ms);
/* The record of sandbox id was written (tenant: its owner) or deleted (tenant NULL): drops what the caches must no
 * longer answer. */
void sg_cache_events_apply(const char *id, const char *tenant);

#endif
