/*
 * The admin listener: GET /admin/v1/backends, GET /metrics, protected by the
 * admin key (only its hash is in the config).
 */
#ifndef SG_ADMIN_H
#define SG_ADMIN_H

#include "runtime/request.h"

void sg_admin_handle(sg_request_t *r);

#endif
