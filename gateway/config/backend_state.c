#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include "config/backend_state.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static sg_backend_t **registry;
static size_t registry_size;

static uint64_t unix_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

sg_backend_t *sg_backend_get(const char *name)
{
    sg_backend_t *b = NULL;
    pthread_mutex_lock(&registry_lock);
    for (size_t i = 0; i != registry_size; ++i) {
        if (strcmp(registry[i]->name, name) == 0) {
            b = registry[i];
            goto Exit;
        }
    }
    sg_backend_t **grown = realloc(registry, sizeof(*registry) * (registry_size + 1));
    if (grown == NULL)
        goto Exit;
    registry = grown;
    if ((b = calloc(1, sizeof(*b))) == NULL || (b->name = strdup(name)) == NULL) {
        free(b);
        b = NULL;
        goto Exit;
    }
    b->state = SG_BACKEND_UP; /* optimistic until the first checks say otherwise */
    b->last_change_ms = unix_ms();
    pthread_mutex_init(&b->lock, NULL);
    registry[registry_size++] = b;
Exit:
    pthread_mutex_unlock(&registry_lock);
    return b;
}

void sg_backend_free_all(void)
{
    pthread_mutex_lock(&registry_lock);
    for (size_t i = 0; i != registry_size; ++i) {
        pthread_mutex_destroy(&registry[i]->lock);
        free(registry[i]->name);
        free(registry[i]);
    }
    free(registry);
    registry = NULL;
    registry_size = 0;
    pthread_mutex_unlock(&registry_lock);
}

const char *sg_backend_state_name(int state)
{
    return state == SG_BACKEND_UP ? "up" : "down";
}

int sg_backend_is_up(sg_backend_t *b)
{
    return __atomic_load_n(&b->state, __ATOMIC_RELAXED) == SG_BACKEND_UP;
}
