/*
 * The process-wide state of each backend name (health, counters), kept across
 * reloads: each loaded config points its backends at it (sg_backend_conf_t::rt).
 * Health reports and placement are the backend layer's (backend/backend.h).
 */
#ifndef SG_BACKEND_STATE_H
#define SG_BACKEND_STATE_H

#include <pthread.h>
#include <stdint.h>

typedef enum en_sg_backend_state_t { SG_BACKEND_UP = 0, SG_BACKEND_DOWN = 1 } sg_backend_state_t;

typedef struct st_sg_backend_t {
    char *name;
    int state;               /* sg_backend_state_t, atomic */
    uint64_t consecutive_ok; /* atomic */
    uint64_t consecutive_fail;
    int64_t in_flight;
    int64_t pool_conns;
    int64_t live_sandboxes; /* placement: counted on create/delete, reset by reconciliation */
    int draining;           /* no new sandboxes; existing ones keep being served */
    uint64_t requests;
    uint64_t failures;       /* passive + active failures, total */
    uint64_t checks;         /* active checks done */
    uint64_t last_check_ms;  /* unix ms */
    uint64_t last_change_ms; /* unix ms */
    pthread_mutex_t lock;    /* guards last_error */
    char last_error[160];
} sg_backend_t;

/* Finds or creates the runtime state for NAME (never freed before exit). */
sg_backend_t *sg_backend_get(const char *name);
/* Frees every runtime state; only at exit. */
void sg_backend_free_all(void);
int sg_backend_is_up(sg_backend_t *b);
const char *sg_backend_state_name(int state);

#endif
