/*
 * The wall clock, for timestamps and cache expiry. A module of its own so that
 * code outside request handling (the health thread, reconciliation, caches)
 * does not link the request module for it.
 */
#ifndef SG_CLOCK_H
#define SG_CLOCK_H

#include <stdint.h>

/* Microseconds since the epoch (wall clock). */
uint64_t sg_now_us(void);

#endif
