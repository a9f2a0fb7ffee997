/*
 * clock.c - the two clocks every layer reads: wall-clock time for what is
 * recorded (commit times, inode times), monotonic time for durations.
 */
#include <time.h>

#include "internal.h"

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t st_realtime_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

uint64_t st_monotonic_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}
