/*
 * Runtime state of backends (health, counters). One sg_backend_t per backend
 * name for the whole process (config/backend_state.h): it survives config
 * reloads (the config's sg_backend_conf_t points at it) and is shared by all
 * threads (atomics). Here: health reports, placement, upstream settings.
 */
#ifndef SG_BACKEND_H
#define SG_BACKEND_H

#include <pthread.h>
#include <stdint.h>
#include "config/config.h"
#include "config/backend_state.h"

struct st_sg_upstream_t;

/*
 * Records the outcome of a check or of a proxied request. ok=0 counts towards
 * unhealthy_threshold; ok=1 resets the failure streak and, for active checks
 * only (a DOWN backend receives no traffic), counts towards healthy_threshold.
 * State changes are logged once each.
 */
void sg_backend_report(sg_backend_t *b, const sg_health_conf_t *h, int ok, int active, const char *why);
/*
 * Picks an UP backend, randomly in proportion to weight. Returns NULL when none
 * is up. rnd is any uniformly distributed number.
 */
sg_backend_conf_t *sg_backend_pick(sg_config_t *conf, uint64_t rnd);
/* Fills u with where and how to connect to the backend (pool cap, TLS, statistics). */
void sg_backend_upstream(const sg_backend_conf_t *be, struct st_sg_upstream_t *u);

#endif
