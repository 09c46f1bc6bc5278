/*
 * The error log: one line per event on stderr, "time level message".
 */
#ifndef SG_LOG_H
#define SG_LOG_H

#include <stdarg.h>
#include <stdio.h>

typedef enum en_sg_log_level_t { SG_LOG_DEBUG = 0, SG_LOG_INFO, SG_LOG_WARN, SG_LOG_ERROR } sg_log_level_t;

void sg_log_set_level(sg_log_level_t level);
void sg_log(sg_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sg_vlog(sg_log_level_t level, const char *fmt, va_list ap);

#endif
