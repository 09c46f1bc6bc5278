#include <stddef.h>
#include <stdio.h>
#include <time.h>
#include <sys/time.h>
#include "util/clock.h"

uint64_t sg_now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

size_t sg_format_rfc3339_ms(char *buf, size_t size, int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char base[32];
    gmtime_r(&secs, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    int n = snprintf(buf, size, "%s.%03dZ", base, (int)(ms % 1000));
    return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}
