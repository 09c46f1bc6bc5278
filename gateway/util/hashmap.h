/*
 * A small hash map from byte strings to pointers: open addressing with linear
 * probing and backward-shift deletion, keyed SipHash-2-4 (random key per process,
 * so ids chosen by clients cannot be used to degrade it). Not thread-safe: the
 * owner locks. The map does not copy keys: a key must stay valid and unchanged
 * while its entry is in the map (usually it points into the value).
 */
#ifndef SG_HASHMAP_H
#define SG_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_sg_hashmap_slot_t {
    uint64_t hash;
    const void *key;
    size_t keylen;
    void *value; /* NULL: empty slot */
} sg_hashmap_slot_t;

typedef struct st_sg_hashmap_t {
    sg_hashmap_slot_t *slots;
    size_t capacity; /* 0 or a power of two */
    size_t size;
} sg_hashmap_t;

#define SG_HASHMAP_INITIALIZER                                                                                                     \
    {                                                                                                                              \
        NULL, 0, 0                                                                                                                 \
    }

/* Frees the table (not the values); the map is empty and usable afterwards. */
void sg_hashmap_dispose(sg_hashmap_t *m);
void *sg_hashmap_get(const sg_hashmap_t *m, const void *key, size_t keylen);
/* Inserts or replaces; value must not be NULL. Returns the value it replaced, or NULL. */
void *sg_hashmap_set(sg_hashmap_t *m, const void *key, size_t keylen, void *value);
/* Returns the removed value, or NULL when the key was absent. */
void *sg_hashmap_remove(sg_hashmap_t *m, const void *key, size_t keylen);
/*
 * Iteration: `size_t i = 0; while ((v = sg_hashmap_next(m, &i)) != NULL) ...`. The map must not be
 * modified during an iteration.
 */
void *sg_hashmap_next(const sg_hashmap_t *m, size_t *iter);
/* Keyed SipHash-2-4 of the bytes, with the process-wide random key of the maps. */
uint64_t sg_hashmap_hash(const void *key, size_t keylen);

#endif
