/*
 * OSEP-0009 renew intents (renew on access, renew.h): `LPUSH key json` (then `LTRIM key 0 max_len-1`) to a backend's
 * own Redis (backends[].renew_intent), for a renew controller of that backend to act on. Each worker thread keeps one
 * hiredis connection per Redis address, opened on first use on the thread's loop (a host name is resolved with h2o's
 * resolver threads first), re-opened lazily after a failure with a backoff. Best effort, never blocking: an intent
 * is dropped while the connection is down, being resolved, or has too many replies outstanding; a connection whose
 * replies stop coming is dropped.
 */
#ifndef SG_RENEW_INTENT_H
#define SG_RENEW_INTENT_H

#include "config/config.h"
#include "runtime/thread.h"

/* Publishes json (an intent) to be's renew_intent Redis (be->renew_intent_addr must be set). Returns 0 when the
 * commands were queued on a connection (not a proof of delivery), -1 when the intent was dropped. */
int sg_renew_intent_publish(sg_thread_t *thread, const sg_backend_conf_t *be, const char *json);

#endif
