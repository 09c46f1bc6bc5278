/*
 * The memory store's counters: one process-wide table (key -> value, expiry),
 * behind its own mutex, shared by every loop. An expired entry counts as absent:
 * it is dropped when next touched, and a sweep of the whole table, at most once
 * a second and only when it grew past what the last sweep left, drops the others,
 * so the table stays bounded by the keys live within about a second.
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

void sg_store__memory_counters(sg_store_op_t *op)
{
    uint64_t now = now_ms();
    pthread_mutex_lock(&mutex);
    if (now >= next_sweep_ms && table.size > size_after_sweep) {
        sweep(now);
        next_sweep_ms = now + SWEEP_INTERVAL_MS;
    }
    for (size_t i = 0; i != op->num_counters; ++i) {
        sg_store_counter_t *in = op->counters + i;
        counter_t *c = sg_hashmap_get(&table, in->key, in->key_len);
        if (c != NULL && expired(c, now)) {
            sg_hashmap_remove(&table, c->key, c->key_len);
            free(c);
            c = NULL;
        }
        if (in->incr == 0) {
            in->value = c != NULL ? c->value : 0;
            continue;
        }
        if (c == NULL) {
            if ((c = calloc(1, sizeof(*c) + in->key_len)) == NULL)
                abort();
            memcpy(c->key, in->key, in->key_len);
            c->key_len = in->key_len;
            sg_hashmap_set(&table, c->key, c->key_len, c);
        }
        c->value += in->incr;
        if (in->ttl_ms != 0)
            c->expires_at_ms = now + in->ttl_ms;
        in->value = c->value;
    }
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
