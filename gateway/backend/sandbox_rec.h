/*
 * The store record of a sandbox, read from a backend's Sandbox JSON object.
 * Shared by owner lookups (tenancy/) and reconciliation (backend/reconcile.c).
 */
#ifndef SG_SANDBOX_REC_H
#define SG_SANDBOX_REC_H

#include "store/store.h"

/* Parses a Sandbox JSON object (json_t *) from a backend into rec (tenant from the tag, may be ""). Returns 0 on success. */
int sg_sandbox_rec_from_json(const char *tenant_tag, const char *backend, void *sandbox_json, sg_sandbox_rec_t *rec);

#endif
