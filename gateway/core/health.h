/*
 * Active health checking of backends (GET health_check.path), on a thread of its own.
 */
#ifndef SG_HEALTH_H
#define SG_HEALTH_H

/* threads_parked_before: loop threads that will have parked before sg_health_stop() */
void sg_health_start(size_t threads_parked_before);
/* stops the thread and waits for running checks to end */
void sg_health_stop(void);

#endif
