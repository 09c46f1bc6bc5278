/*
 * rate-limit: the sliding-window arithmetic (two-window estimate, see rate_limit.h) and the
 * counter table. Pure code, no plugin API: tests/unit/test_ratelimit.c drives it with a fake clock.
 */
#include <stdlib.h>
#include <string.h>
#include "rate_limit.h"

typedef __int128 i128;

/* The first offset e' >= 0 into a window at which floor(p * (W - e') / W) <= a (a >= 0, p > 0); W when none is. */
static i128 first_offset(i128 W, i128 p, i128 a)
{
    /* floor(x) <= a  <=>  x < a + 1  <=>  p * (W - e') < (a + 1) * W */
    i128 q = ((a + 1) * W + p - 1) / p; /* ceil((a + 1) * W / p) */
    i128 e = W - q + 1;
    return e < 0 ? 0 : e > W ? W : e;
}

void rl_decide(int64_t limit, uint64_t window_ms, uint64_t now_ms, int64_t prev, int64_t cur, int64_t cost, rl_decision_t *d)
{
    const i128 W = (i128)window_ms, e = (i128)(now_ms % window_ms);
    if (prev < 0)
        prev = 0;
    if (cur < 0)
        cur = 0;
    /* The estimate is floor(prev * (W - e) / W) + cur: the previous window's weighted count is rounded down, so that a
     * client driven above the limit gets `limit` requests per window in the long run, not one less. */
    i128 used = (i128)prev * (W - e) / W + cur;
    d->reset_ms = (uint64_t)(W - e);
    if (used + cost <= limit) {
        d->allowed = 1;
        d->remaining = (int64_t)(limit - used - cost);
        d->retry_after_ms = 0;
        return;
    }
    d->allowed = 0;
    d->remaining = used < limit ? (int64_t)(limit - used) : 0;
    /* Later in this window only the previous window's weight falls */
    i128 a = (i128)limit - cur - cost;
    if (a >= 0 && prev > 0) {
        i128 e2 = first_offset(W, prev, a);
        if (e2 < e)
            e2 = e;
        if (e2 < W) {
            d->retry_after_ms = (uint64_t)(e2 - e);
            return;
        }
    }
    /* In the next window this one's count becomes the previous one (a window later, nothing is left) */
    i128 b = (i128)limit - cost;
    if (b < 0) {
        d->retry_after_ms = (uint64_t)(W - e + W); /* the request costs more than the limit: never; say two windows */
        return;
    }
    d->retry_after_ms = (uint64_t)(W - e + (cur > 0 ? first_offset(W, cur, b) : 0));
}

/* ---- table ---- */

static uint64_t hash_key(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then a finaliser: bucket index from the low bits */
    for (size_t i = 0; i != len; ++i)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

void rl_table_init(rl_table_t *t, size_t max_entries)
{
    memset(t, 0, sizeof(*t));
    t->max_entries = max_entries;
    t->num_buckets = 64;
    t->buckets = calloc(t->num_buckets, sizeof(*t->buckets));
}

void rl_table_dispose(rl_table_t *t)
{
    for (size_t i = 0; i != t->num_buckets; ++i) {
        rl_entry_t *e = t->buckets[i], *next;
        for (; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(t->buckets);
    memset(t, 0, sizeof(*t));
}

static void grow(rl_table_t *t)
{
    size_t n = t->num_buckets * 2;
    rl_entry_t **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return;
    for (size_t i = 0; i != t->num_buckets; ++i) {
        rl_entry_t *e = t->buckets[i], *next;
        for (; e != NULL; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->num_buckets = n;
    t->sweep_pos = 0;
}

static int expired(const rl_entry_t *e, uint64_t now_ms)
{
    for (int i = 0; i != 2; ++i)
        if (e->slots[i].pending != 0 || e->slots[i].inflight != 0)
            return 0;
    return e->last_used_ms + 2 * e->window_ms <= now_ms && e->blocked_until_ms <= now_ms;
}

void rl_table_sweep(rl_table_t *t, uint64_t now_ms, size_t max_buckets)
{
    if (t->num_buckets == 0)
        return;
    if (max_buckets > t->num_buckets)
        max_buckets = t->num_buckets;
    for (size_t n = 0; n != max_buckets; ++n) {
        rl_entry_t **p = &t->buckets[t->sweep_pos];
        while (*p != NULL) {
            if (expired(*p, now_ms)) {
                rl_entry_t *e = *p;
                *p = e->next;
                free(e);
                --t->count;
            } else {
                p = &(*p)->next;
            }
        }
        t->sweep_pos = (t->sweep_pos + 1) & (t->num_buckets - 1);
    }
}

rl_entry_t *rl_table_get(rl_table_t *t, const char *key, size_t len, uint64_t window_ms, uint64_t now_ms, int create)
{
    uint64_t h = hash_key(key, len);
    for (rl_entry_t *e = t->buckets[h & (t->num_buckets - 1)]; e != NULL; e = e->next)
        if (e->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0)
            return e;
    if (!create)
        return NULL;
    if (t->count >= t->max_entries) {
        rl_table_sweep(t, now_ms, t->num_buckets); /* rare: a full pass, then give up if still full */
        if (t->count >= t->max_entries)
            return NULL;
    }
    if (t->count >= t->num_buckets)
        grow(t);
    rl_entry_t *e = calloc(1, sizeof(*e) + len + 1);
    if (e == NULL)
        return NULL;
    e->hash = h;
    e->window_ms = window_ms;
    e->last_used_ms = now_ms;
    e->key_len = len;
    memcpy(e->key, key, len);
    e->next = t->buckets[h & (t->num_buckets - 1)];
    t->buckets[h & (t->num_buckets - 1)] = e;
    ++t->count;
    return e;
}

rl_slot_t *rl_entry_slot(rl_entry_t *e, uint64_t idx)
{
    rl_slot_t *s = &e->slots[idx & 1];
    if (s->idx != idx) {
        /* an older window: its unsent counts no longer matter to any decision (the sync interval is shorter than a window) */
        memset(s, 0, sizeof(*s));
        s->idx = idx;
    }
    return s;
}

int64_t rl_entry_count(const rl_entry_t *e, uint64_t idx)
{
    const rl_slot_t *s = &e->slots[idx & 1];
    return s->idx == idx ? s->known + s->pending + s->inflight : 0;
}
