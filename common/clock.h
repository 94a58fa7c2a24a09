/*
 * clock.h - time as both programs count it: nanoseconds of a POSIX clock
 * in a uint64_t (CLOCK_REALTIME until the year 2554), and milliseconds
 * as the struct timeval libevent's timers take.
 */
#ifndef SHMCAM_CLOCK_H
#define SHMCAM_CLOCK_H

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

static inline uint64_t
clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline struct timeval
ms_tv(unsigned ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
	    (suseconds_t)(ms % 1000) * 1000 };

	return tv;
}

#endif /* SHMCAM_CLOCK_H */
