#include <pthread.h>
#include <string.h>
#include "tenancy/cache_events.h"
#include "util/hashmap.h"
#include "tenancy/negcache.h"
#include "util/clock.h"
#include "store/store.h"

#define NEGCACHE_BUCKETS 1024 /* power of two */
#define NEGCACHE_WAYS 4
#define NEGCACHE_STRIPES 32

typedef struct st_neg_entry_t {
    char tenant[SG_STORE_ID_MAX + 1];
    char id[SG_STORE_ID_MAX + 1];
    uint64_t verified_ms;
    uint64_t until_ms;
} neg_entry_t;

typedef struct st_neg_bucket_t {
    neg_entry_t ways[NEGCACHE_WAYS];
    uint64_t invalidated_ms; /* last forget of an id of this bucket: older lookups may not fill it */
} neg_bucket_t;

static neg_bucket_t buckets[NEGCACHE_BUCKETS];
static pthread_mutex_t locks[NEGCACHE_STRIPES] = {[0 ... NEGCACHE_STRIPES - 1] = PTHREAD_MUTEX_INITIALIZER};

static size_t bucket_of(const char *id)
{
    return sg_hashmap_hash(id, strlen(id)) & (NEGCACHE_BUCKETS - 1);
}

static int same_tenant(const neg_entry_t *e, const char *tenant, size_t len)
{
    return len <= SG_STORE_ID_MAX && memcmp(e->tenant, tenant, len) == 0 && e->tenant[len] == '\0';
}

int sg_negcache_hit(const char *tenant, size_t tenant_len, const char *id)
{
    size_t b = bucket_of(id);
    uint64_t now = sg_now_us() / 1000;
    int hit = 0;
    pthread_mutex_lock(locks + b % NEGCACHE_STRIPES);
    for (size_t i = 0; i != NEGCACHE_WAYS; ++i) {
        neg_entry_t *e = buckets[b].ways + i;
        if (e->until_ms > now && strcmp(e->id, id) == 0 && same_tenant(e, tenant, tenant_len)) {
            hit = sg_cache_events_trusted(e->verified_ms, now);
            break;
        }
    }
    pthread_mutex_unlock(locks + b % NEGCACHE_STRIPES);
    return hit;
}

void sg_negcache_put(const char *tenant, size_t tenant_len, const char *id, uint64_t started_ms, uint64_t ttl_ms)
{
    if (tenant_len > SG_STORE_ID_MAX || strlen(id) > SG_STORE_ID_MAX || ttl_ms == 0)
        return;
    size_t b = bucket_of(id);
    uint64_t now = sg_now_us() / 1000;
    pthread_mutex_lock(locks + b % NEGCACHE_STRIPES);
    if (started_ms > buckets[b].invalidated_ms) {
        /* the same pair, else a dead way, else the one that expires first */
        neg_entry_t *ways = buckets[b].ways, *victim = NULL;
        for (size_t i = 0; i != NEGCACHE_WAYS && victim == NULL; ++i)
            if (strcmp(ways[i].id, id) == 0 && same_tenant(ways + i, tenant, tenant_len))
                victim = ways + i;
        for (size_t i = 0; i != NEGCACHE_WAYS && victim == NULL; ++i)
            if (ways[i].until_ms <= now)
                victim = ways + i;
        if (victim == NULL) {
            victim = ways;
            for (size_t i = 1; i != NEGCACHE_WAYS; ++i)
                if (ways[i].until_ms < victim->until_ms)
                    victim = ways + i;
        }
        memcpy(victim->tenant, tenant, tenant_len);
        victim->tenant[tenant_len] = '\0';
        strcpy(victim->id, id);
        victim->verified_ms = started_ms;
        victim->until_ms = now + ttl_ms;
    }
    pthread_mutex_unlock(locks + b % NEGCACHE_STRIPES);
}

void sg_negcache_forget(const char *id, const char *tenant)
{
    size_t b = bucket_of(id);
    pthread_mutex_lock(locks + b % NEGCACHE_STRIPES);
    buckets[b].invalidated_ms = sg_now_us() / 1000;
    for (size_t i = 0; i != NEGCACHE_WAYS; ++i) {
        neg_entry_t *e = buckets[b].ways + i;
        if (strcmp(e->id, id) == 0 && (tenant == NULL || strcmp(e->tenant, tenant) == 0))
            e->until_ms = 0;
    }
    pthread_mutex_unlock(locks + b % NEGCACHE_STRIPES);
}
