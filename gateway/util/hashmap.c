#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>
#include "util/hashmap.h"

#define MIN_CAPACITY 16

static uint64_t sip_key[2];
static pthread_once_t sip_once = PTHREAD_ONCE_INIT;

static void init_sip_key(void)
{
    if (getrandom(sip_key, sizeof(sip_key), 0) != (ssize_t)sizeof(sip_key)) {
        /* no entropy source: still a key nobody outside the process knows in advance */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        sip_key[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
        sip_key[1] = (uint64_t)ts.tv_sec * 0xc2b2ae3d27d4eb4full ^ (uint64_t)(uintptr_t)&ts;
    }
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                                                   \
    do {                                                                                                                           \
        v0 += v1;                                                                                                                  \
        v1 = ROTL(v1, 13);                                                                                                         \
        v1 ^= v0;                                                                                                                  \
        v0 = ROTL(v0, 32);                                                                                                         \
        v2 += v3;                                                                                                                  \
        v3 = ROTL(v3, 16);                                                                                                         \
        v3 ^= v2;                                                                                                                  \
        v0 += v3;                                                                                                                  \
        v3 = ROTL(v3, 21);                                                                                                         \
        v3 ^= v0;                                                                                                                  \
        v2 += v1;                                                                                                                  \
        v1 = ROTL(v1, 17);                                                                                                         \
        v1 ^= v2;                                                                                                                  \
        v2 = ROTL(v2, 32);                                                                                                         \
    } while (0)

static uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
        v = (v << 8) | p[i];
    return v;
}

uint64_t sg_hashmap_hash(const void *key, size_t keylen)
{
    pthread_once(&sip_once, init_sip_key);
    const unsigned char *p = key, *end = p + (keylen & ~(size_t)7);
    uint64_t v0 = 0x736f6d6570736575ull ^ sip_key[0], v1 = 0x646f72616e646f6dull ^ sip_key[1];
    uint64_t v2 = 0x6c7967656e657261ull ^ sip_key[0], v3 = 0x7465646279746573ull ^ sip_key[1];
    for (; p != end; p += 8) {
        uint64_t m = load_le64(p);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)keylen << 56;
    for (size_t i = 0; i != (keylen & 7); ++i)
        b |= (uint64_t)p[i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

void sg_hashmap_dispose(sg_hashmap_t *m)
{
    free(m->slots);
    *m = (sg_hashmap_t)SG_HASHMAP_INITIALIZER;
}

/* index of the slot holding key, or of the empty slot where it would go (the table must have one) */
static size_t find_slot(const sg_hashmap_t *m, uint64_t hash, const void *key, size_t keylen)
{
    size_t mask = m->capacity - 1, i = hash & mask;
    for (;; i = (i + 1) & mask) {
        const sg_hashmap_slot_t *s = m->slots + i;
        if (s->value == NULL || (s->hash == hash && s->keylen == keylen && memcmp(s->key, key, keylen) == 0))
            return i;
    }
}

/* moves every entry into a table of new_capacity slots (a power of two larger than size) */
static void rehash(sg_hashmap_t *m, size_t new_capacity)
{
    sg_hashmap_slot_t *old = m->slots;
    size_t old_capacity = m->capacity;
    m->slots = calloc(new_capacity, sizeof(*m->slots));
    if (m->slots == NULL)
        abort();
    m->capacity = new_capacity;
    for (size_t i = 0; i != old_capacity; ++i)
        if (old[i].value != NULL)
            m->slots[find_slot(m, old[i].hash, old[i].key, old[i].keylen)] = old[i];
    free(old);
}

void *sg_hashmap_get(const sg_hashmap_t *m, const void *key, size_t keylen)
{
    if (m->size == 0)
        return NULL;
    return m->slots[find_slot(m, sg_hashmap_hash(key, keylen), key, keylen)].value;
}

void *sg_hashmap_set(sg_hashmap_t *m, const void *key, size_t keylen, void *value)
{
    /* load factor stays at or under 3/4 */
    if ((m->size + 1) * 4 > m->capacity * 3)
        rehash(m, m->capacity == 0 ? MIN_CAPACITY : m->capacity * 2);
    uint64_t hash = sg_hashmap_hash(key, keylen);
    sg_hashmap_slot_t *s = m->slots + find_slot(m, hash, key, keylen);
    void *prev = s->value;
    if (prev == NULL)
        ++m->size;
    *s = (sg_hashmap_slot_t){hash, key, keylen, value};
    return prev;
}

void *sg_hashmap_remove(sg_hashmap_t *m, const void *key, size_t keylen)
{
    if (m->size == 0)
        return NULL;
    size_t mask = m->capacity - 1, i = find_slot(m, sg_hashmap_hash(key, keylen), key, keylen);
    void *value = m->slots[i].value;
    if (value == NULL)
        return NULL;
    /* backward shift: pull later members of the probe run into the hole when that keeps them reachable */
    for (size_t j = (i + 1) & mask; m->slots[j].value != NULL; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        /* j's entry may move to i unless its home lies cyclically in (i, j] */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].value = NULL;
    --m->size;
    if (m->capacity > MIN_CAPACITY && m->size * 8 < m->capacity)
        rehash(m, m->capacity / 2);
    return value;
}

void *sg_hashmap_next(const sg_hashmap_t *m, size_t *iter)
{
    for (; *iter < m->capacity; ++*iter)
        if (m->slots[*iter].value != NULL)
            return m->slots[(*iter)++].value;
    return NULL;
}
