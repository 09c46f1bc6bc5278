#include <stddef.h>
#include <sys/time.h>
#include "util/clock.h"

uint64_t sg_now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}
