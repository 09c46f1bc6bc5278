/*
 * Registration of the gateway's handler, filter and logger on h2o host configs.
 */
#ifndef SG_HANDLER_H
#define SG_HANDLER_H

#include <h2o.h>

/* Installs the handler on "/" and the JSON-error filter and logger on every path of hostconf. */
void sg_handler_register(h2o_hostconf_t *hostconf, int is_admin);
/* Code and message of the JSON body that replaces an h2o-made error of this status. */
void sg_errors_for_status(int status, const char **code, const char **message);

#endif
