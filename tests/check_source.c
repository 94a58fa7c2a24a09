/*
 * check_source.c - what the sources share (capture/source.c): a frame
 * the timer paced carries the time its period ended, however late the
 * loop takes it, so that a busy machine delays such frames without
 * making their capture times irregular.
 */
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "clock.h"
#include "source.h"
#include "testutil.h"

#define FPS_MILLI	10000u			/* 10 fps */
#define PERIOD_NS	100000000ull

/* Distance of a from the grid of periods through b, in ns. */
static uint64_t
off_grid(uint64_t a, uint64_t b)
{
	uint64_t r = (a > b ? a - b : b - a) % PERIOD_NS;

	return r < PERIOD_NS - r ? r : PERIOD_NS - r;
}

START_TEST(test_timer_due_is_the_period_end)
{
	/* How late the loop takes each frame after the timer expired. */
	static const unsigned late_ms[] = { 0, 40, 20, 0, 40 };
	uint64_t first = 0, mono, real, now, ticks;
	int64_t lag_real;
	char why[128];
	int fd;

	fd = source_timer_open(FPS_MILLI, why, sizeof(why));
	ck_assert_msg(fd >= 0, "%s", why);
	for (size_t i = 0; i < sizeof(late_ms) / sizeof(late_ms[0]); i++) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct timespec ts = { 0, (long)late_ms[i] * 1000000 };

		ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
		ck_assert_int_eq(source_timer_read(fd, &ticks, why,
		    sizeof(why)), 1);
		nanosleep(&ts, NULL);
		source_timer_due(fd, FPS_MILLI, &mono, &real);
		now = clock_ns(CLOCK_MONOTONIC);
		ck_assert_uint_le(mono, now);
		ck_assert_uint_lt(now - mono, 10 * PERIOD_NS);
		/* The wall clock's time of the same instant. */
		lag_real = (int64_t)(clock_ns(CLOCK_REALTIME) - real);
		ck_assert_int_lt(llabs(lag_real - (int64_t)(now - mono)),
		    5000000);
		if (i == 0)
			first = mono;
		else
			/* On the timer's grid, whatever the lateness (5 ms
			 * for a preemption between the clock and the
			 * timer's reading). */
			ck_assert_msg(off_grid(mono, first) < 5000000,
			    "frame %zu, %u ms late: %llu ns off the grid", i,
			    late_ms[i], (unsigned long long)off_grid(mono,
			    first));
	}
	close(fd);
}
END_TEST

static Suite *
source_suite(void)
{
	Suite *s = suite_create("source");
	TCase *tc = tcase_create("timer");

	tcase_add_test(tc, test_timer_due_is_the_period_end);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(source_suite());
}
