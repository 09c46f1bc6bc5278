/*
 * libh2o's own h2o_socket_read_start, h2o_socket_read_stop and h2o_socket_close.
 * intake.c defines these three symbols itself, so that libh2o's calls through
 * its PLT reach the request intake first; the intake reaches the real ones
 * here, looked up once with dlsym(RTLD_NEXT) (abort if libh2o lacks them).
 */
#ifndef SG_H2O_REAL_H
#define SG_H2O_REAL_H

#include <h2o.h>

void sg_h2o_real_read_start(h2o_socket_t *sock, h2o_socket_cb cb);
void sg_h2o_real_read_stop(h2o_socket_t *sock);
void sg_h2o_real_close(h2o_socket_t *sock);

#endif
