/*
 * Runtime state of backends (health, counters). One sg_backend_t per backend
 * name for the whole process: it survives config reloads (the config's
 * sg_backend_conf_t points at it) and is shared by all threads (atomics).
 */
#ifndef SG_BACKEND_H
#define SG_BACKEND_H

#include <pthread.h>
#include <stdint.h>
#include "config/config.h"

struct st_sg_upstream_t;

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

/*
 * Records the outcome of a check or of a proxied request. ok=0 counts towards
 * unhealthy_threshold; ok=1 resets the failure streak and, for active checks
 * only (a DOWN backend receives no traffic), counts towards healthy_threshold.
 * State changes are logged once each.
 */
void sg_backend_report(sg_backend_t *b, const sg_health_conf_t *h, int ok, int active, const char *why);
int sg_backend_is_up(sg_backend_t *b);
/*
 * Picks an UP backend, randomly in proportion to weight. Returns NULL when none
 * is up. rnd is any uniformly distributed number.
 */
sg_backend_conf_t *sg_backend_pick(sg_config_t *conf, uint64_t rnd);
const char *sg_backend_state_name(int state);
/* Fills u with where and how to connect to the backend (pool cap, TLS, statistics). */
void sg_backend_upstream(const sg_backend_conf_t *be, struct st_sg_upstream_t *u);

#endif
