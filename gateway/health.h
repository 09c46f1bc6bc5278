/*
 * Active health checking of backends (GET health_check.path), on a thread of its own.
 */
#ifndef SG_HEALTH_H
#define SG_HEALTH_H

void sg_health_start(void);
/* stops the thread and waits for running checks to end */
void sg_health_stop(void);

#endif
