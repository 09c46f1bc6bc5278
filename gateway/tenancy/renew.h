/*
 * Renew on access (docs/ARCHITECTURE.md, "Renew on access"): port traffic through the gateway keeps a sandbox
 * alive. A sandbox takes part when it was created with extensions["access.renew.extend.seconds"] (OpenSandbox's
 * OSEP-0009 opt-in, kept in its record as renew_extend_s) or when its tenant's policy.renew_on_access is set (the
 * record's value wins). An access then moves the expiry to max(now + extend, current), never past now +
 * policy.max_timeout, through the owning backend's renew-expiration API, at most once per ports.renew_interval per
 * sandbox across every gateway sharing the store (sg_store_claim). A backend with renew_intent also gets each such
 * renew as an OSEP-0009 intent (LPUSH to its own Redis).
 */
#ifndef SG_RENEW_H
#define SG_RENEW_H

#include <stdint.h>
#include "config/config.h"
#include "runtime/request.h"
#include "store/store.h"

/*
 * Called for every port request once its owner record (rec) and backend (be) are known. Fire and forget: it never
 * delays or fails the request, and what it started (store claim, backend call, intent) lives on its own memory and
 * a reference to the config, so it completes after the request is gone. A renew in flight counts as work of the
 * thread for a graceful shutdown.
 */
void sg_renew_on_access(sg_request_t *r, const sg_sandbox_rec_t *rec, sg_backend_conf_t *be);
/* extensions["access.renew.extend.seconds"] of a create body (a json_t object): its value, or 0 when absent or not a
 * decimal integer of 300..86400 (the backend refuses such a create anyway) */
uint32_t sg_renew_extension(const void *create_body);

#endif
