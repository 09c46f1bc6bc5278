/*
 * Reconciliation of the ownership store against the backends.
 */
#ifndef SG_RECONCILE_H
#define SG_RECONCILE_H

#include "config/config.h"
#include "util/evloop.h"
#include "store/store.h"

/* Starts one round on loop; *running is 1 until the round has finished (then 0). */
void sg_reconcile_start(sg_loop_t *loop, sg_store_t *store, sg_config_t *conf, int *running);

#endif
