/*
 * Usage gauges of /metrics (live sandboxes, CPU, memory per tenant and per
 * backend; snapshots per tenant), refreshed from the store's records.
 */
#ifndef SG_USAGE_H
#define SG_USAGE_H

#include "store/store.h"

/*
 * Starts one round on store's loop: lists the records and sets the gauges (a tenant or backend that has none any more
 * goes back to 0; a store error keeps the last values). *running is 1 until the round has finished.
 */
void sg_usage_publish(sg_store_t *store, int *running);
/* Frees the module's tables (at exit, once no round runs). */
void sg_usage_dispose(void);

#endif
