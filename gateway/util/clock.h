/*
 * The wall clock, for timestamps and cache expiry. A module of its own so that
 * code outside request handling (the health thread, reconciliation, caches)
 * does not link the request module for it.
 */
#ifndef SG_CLOCK_H
#define SG_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Microseconds since the epoch (wall clock). */
uint64_t sg_now_us(void);
/* ms since the epoch as RFC 3339 UTC with milliseconds ("2026-12-01T05:57:30.123Z") into buf; returns the length */
size_t sg_format_rfc3339_ms(char *buf, size_t size, int64_t ms);

#endif
