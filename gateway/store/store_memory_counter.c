/*
 * The memory store's counters: one process-wide table (key -> value, expiry),
 * behind its own mutex, shared by every loop. An expired entry counts as absent:
 * it is dropped when next touched, and a sweep of the whole table, at most once
 * a second and only when it grew past what the last sweep left, drops the others,
 * so the table stays bounded by the keys live within about a second.
 * Claims (sg_store_claim) are entries of the same table: present and live means
 * held, until their expiry.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "util/hashmap.h"
#include "store/store_impl.h"

#define SWEEP_INTERVAL_MS 1000

typedef struct st_counter_t {
    int64_t value;
    uint64_t expires_at_ms; /* monotonic; 0: never */
    size_t key_len;
    char key[]; /* the map's key points here */
} counter_t;

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static sg_hashmap_t table;
static uint64_t next_sweep_ms;
static size_t size_after_sweep;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int expired(const counter_t *c, uint64_t now)
{
    return c->expires_at_ms != 0 && c->expires_at_ms <= now;
}

/* drops every expired entry (the map cannot change while iterated: collect, then remove) */
static void sweep(uint64_t now)
{
    size_t iter = 0, n = 0;
    counter_t *c, **dead = malloc(sizeof(*dead) * (table.size + 1));
    if (dead == NULL)
        return;
    while ((c = sg_hashmap_next(&table, &iter)) != NULL)
        if (expired(c, now))
            dead[n++] = c;
    for (size_t i = 0; i != n; ++i) {
        sg_hashmap_remove(&table, dead[i]->key, dead[i]->key_len);
        free(dead[i]);
    }
    free(dead);
    size_after_sweep = table.size;
}

/* sweeps the table when it is due (mutex held) */
static void maybe_sweep(uint64_t now)
{
    if (now >= next_sweep_ms && table.size > size_after_sweep) {
        sweep(now);
        next_sweep_ms = now + SWEEP_INTERVAL_MS;
    }
}

/* the live entry of key, or NULL (an expired one is dropped; mutex held) */
static counter_t *lookup(const char *key, size_t key_len, uint64_t now)
{
    counter_t *c = sg_hashmap_get(&table, key, key_len);
    if (c != NULL && expired(c, now)) {
        sg_hashmap_remove(&table, c->key, c->key_len);
        free(c);
        c = NULL;
    }
    return c;
}

/* a new entry of key, value 0, no expiry (mutex held) */
static counter_t *insert(const char *key, size_t key_len)
{
    counter_t *c = calloc(1, sizeof(*c) + key_len);
    if (c == NULL)
        abort();
    memcpy(c->key, key, key_len);
    c->key_len = key_len;
    sg_hashmap_set(&table, c->key, c->key_len, c);
    return c;
}

void sg_store__memory_counters(sg_store_op_t *op)
{
    uint64_t now = now_ms();
    pthread_mutex_lock(&mutex);
    maybe_sweep(now);
    for (size_t i = 0; i != op->num_counters; ++i) {
        sg_store_counter_t *in = op->counters + i;
        counter_t *c = lookup(in->key, in->key_len, now);
        if (in->incr == 0) {
            in->value = c != NULL ? c->value : 0;
            continue;
        }
        if (c == NULL)
            c = insert(in->key, in->key_len);
        c->value += in->incr;
        if (in->ttl_ms != 0)
            c->expires_at_ms = now + in->ttl_ms;
        in->value = c->value;
    }
    pthread_mutex_unlock(&mutex);
}

void sg_store__memory_claim(sg_store_op_t *op)
{
    uint64_t now = now_ms();
    size_t key_len = strlen(op->claim_key);
    pthread_mutex_lock(&mutex);
    maybe_sweep(now);
    counter_t *c = lookup(op->claim_key, key_len, now);
    if (c == NULL) {
        c = insert(op->claim_key, key_len);
        c->value = 1;
        c->expires_at_ms = now + op->claim_ms;
        op->claimed = 1;
    }
    op->claim_remaining_ms = c->expires_at_ms != 0 ? c->expires_at_ms - now : 0;
    pthread_mutex_unlock(&mutex);
}

void sg_store__memory_counters_dispose(void)
{
    pthread_mutex_lock(&mutex);
    size_t iter = 0;
    counter_t *c;
    while ((c = sg_hashmap_next(&table, &iter)) != NULL)
        free(c);
    sg_hashmap_dispose(&table);
    size_after_sweep = 0;
    next_sweep_ms = 0;
    pthread_mutex_unlock(&mutex);
}
