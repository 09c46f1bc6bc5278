#include <stdarg.h>
#include <string.h>
#include "util/clock.h"
#include "util/log.h"

static int min_level = SG_LOG_INFO;
static const char *const names[] = {"debug", "info", "warn", "error"};

void sg_log_set_level(sg_log_level_t level)
{
    __atomic_store_n(&min_level, (int)level, __ATOMIC_RELAXED);
}

void sg_vlog(sg_log_level_t level, const char *fmt, va_list ap)
{
    if ((int)level < __atomic_load_n(&min_level, __ATOMIC_RELAXED))
        return;
    char line[2048], ts[40];
    sg_format_rfc3339_ms(ts, sizeof(ts), (int64_t)(sg_now_us() / 1000));
    int n = snprintf(line, sizeof(line), "%s [%s] ", ts, names[level]);
    n += vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    if (n > (int)sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    /* a single write keeps lines from different threads whole */
    fwrite(line, 1, n, stderr);
    fflush(stderr);
}

void sg_log(sg_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sg_vlog(level, fmt, ap);
    va_end(ap);
}
