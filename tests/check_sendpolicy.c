/*
 * check_sendpolicy.c - the send policy (server/sendpolicy.h), a pure
 * function, tested with tables: cases written by hand for each rule,
 * and the inputs of real decisions recorded on simulated links
 * (tests/sendpolicy_recorded.h, written by
 * tests/integration/record_sendpolicy.py), each with the answer its
 * link's known rate and round-trip time call for.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "../server/sendpolicy.h"
#include "testutil.h"

#define MS		1000000ull		/* ns */
#define T0		(1000ull * 1000 * MS)	/* a clock reading */
#define FRAME		80000			/* bytes, 720p MJPEG */
#define STALL		(10000 * MS)		/* --client-timeout 10 */
#define I30		33333333ull		/* 30 fps */

/* A client since_ms after its last frame (at T0), ours bytes in our
 * buffer, offered 30 fps; one capped at interval_ms, due at its end. */
#define CLIENT(since_ms, ours) \
	{ T0 + (since_ms) * MS, ours, FRAME, T0, I30, 0, STALL, 0, 0 }
#define CAPPED(since_ms, interval_ms) \
	{ T0 + (since_ms) * MS, 0, FRAME, T0, (interval_ms) * MS, \
	    T0 + (interval_ms) * MS, STALL, 0, 0 }
/* What the kernel says: rtts in ms, rates in bytes/s. */
#define TCP(unsent, inflight, rate, app_limited, min_rtt, srtt, window) \
	{ SEND_PATH_TCP, unsent, inflight, rate, rate, app_limited, \
	    (uint32_t)((min_rtt) * 1000), (uint32_t)((srtt) * 1000), 0, window }
/* The same with a lower latest sample than the path's rate. */
#define TCPM(unsent, inflight, rate, rate_max, app_limited, min_rtt, srtt, \
    window) \
	{ SEND_PATH_TCP, unsent, inflight, rate, rate_max, app_limited, \
	    (uint32_t)((min_rtt) * 1000), (uint32_t)((srtt) * 1000), 0, window }
#define LOCAL(unsent)	{ SEND_PATH_LOCAL, unsent, 0, 0, 0, 0, 0, 0, 0, 0 }
#define UNBOUNDED(unsent) \
	{ SEND_PATH_UNBOUNDED, unsent, 0, 0, 0, 0, 0, 0, 0, 0 }

/* ------------------------------------------------- the rules, by hand */

static const struct rule_case {
	const char		*what;
	struct send_client	 cl;
	struct send_path	 sp;
	enum send_decision	 decision;
	enum send_why		 why;
} rule_cases[] = {
	/* Stalled: bytes held and no frame for the client timeout. */
	{ "stalled: the kernel holds bytes for 10 s",
	    CLIENT(10000, 0), TCP(0, 30000, 100000, 0, 20, 20, 64000),
	    SEND_STALLED, WHY_STALLED },
	{ "stalled: our buffer holds bytes for 10 s",
	    CLIENT(10000, 5000), UNBOUNDED(0), SEND_STALLED, WHY_STALLED },
	{ "not stalled: nothing held after 10 s (a static source)",
	    CLIENT(10000, 0), TCP(0, 0, 100000, 1, 20, 20, 64000),
	    SEND_NOW, WHY_CLEAR },
	{ "not stalled: 1 ms short of the timeout",
	    CLIENT(9999, 0), LOCAL(1000000), SEND_WAIT, WHY_BYTES },
	{ "not stalled: no timeout",
	    { T0 + 100 * STALL, 0, FRAME, T0, I30, 0, 0, 0, 0 }, LOCAL(1000000),
	    SEND_WAIT, WHY_BYTES },

	/* One frame at a time in our own buffer. */
	{ "busy: one byte of a frame in our buffer",
	    CLIENT(40, 1), UNBOUNDED(0), SEND_WAIT, WHY_BUSY },

	/* A budget (H.264): what our buffer holds is ahead like the rest,
	 * and may take that long to leave. */
	{ "budget: part of a frame in our buffer, leaving in time",
	    { T0 + 40 * MS, 20000, FRAME, T0, I30, 0, STALL, 500 * MS, 0 },
	    TCP(30000, 24100, 241000, 0, 100, 100, 85000),
	    SEND_NOW, WHY_DRAINS },
	{ "budget: more ahead than leaves within it",
	    { T0 + 40 * MS, 80000, FRAME, T0, I30, 0, STALL, 500 * MS, 0 },
	    TCP(60000, 24100, 241000, 0, 100, 340, 85000),
	    SEND_WAIT, WHY_QUEUED },
	{ "budget: a queue older than the budget, the path fast",
	    { T0 + 40 * MS, 60000, FRAME, T0, I30, 0, STALL, 500 * MS,
	    T0 + 40 * MS - 501 * MS },
	    TCP(32768, 0, 800000000, 0, 1, 12, 8192),
	    SEND_WAIT, WHY_QUEUED },
	{ "budget: a queue as old as the budget, the path fast",
	    { T0 + 40 * MS, 60000, FRAME, T0, I30, 0, STALL, 500 * MS,
	    T0 + 40 * MS - 500 * MS },
	    TCP(32768, 0, 800000000, 0, 1, 12, 8192),
	    SEND_NOW, WHY_DRAINS },
	{ "no budget: the queue's age is not looked at",
	    { T0 + 40 * MS, 0, FRAME, T0, I30, 0, STALL, 0,
	    T0 + 40 * MS - 900 * MS }, LOCAL(0), SEND_NOW, WHY_CLEAR },
	{ "budget: the first round trip, a keyframe's worth in flight",
	    { T0 + MS, 0, FRAME, T0, I30, 0, STALL, 500 * MS, 0 },
	    TCP(50000, 14480, 0, 1, 200, 200, 14480), SEND_NOW, WHY_DRAINS },

	/* fps=N: not before the due time, whatever the path. */
	{ "fps cap: 1 ms before it is due",
	    CAPPED(99, 100), UNBOUNDED(0), SEND_WAIT, WHY_FPS_CAP },
	{ "fps cap: due",
	    CAPPED(100, 100), UNBOUNDED(0), SEND_NOW, WHY_UNBOUNDED },

	/* --no-send-bound: the kernel's queue is not looked at. */
	{ "unbounded: a megabyte queued in the kernel",
	    CLIENT(40, 0), UNBOUNDED(1000000), SEND_NOW, WHY_UNBOUNDED },

	/* A unix socket: at most half a frame unread by the proxy. */
	{ "local: nothing unread",
	    CLIENT(40, 0), LOCAL(0), SEND_NOW, WHY_CLEAR },
	{ "local: half a frame unread",
	    CLIENT(40, 0), LOCAL(FRAME / 2), SEND_NOW, WHY_DRAINS },
	{ "local: more than half a frame unread",
	    CLIENT(40, 0), LOCAL(FRAME / 2 + 1), SEND_WAIT, WHY_BYTES },
	{ "local: small frames, never less than 16 KiB allowed",
	    { T0 + 40 * MS, 0, 2000, T0, I30, 0, STALL, 0, 0 },
	    LOCAL(SENDPOLICY_MIN_BYTES), SEND_NOW, WHY_DRAINS },

	/* TCP before the first acknowledgement: no rate yet. */
	{ "first round trip: the response head in flight",
	    { T0 + MS, 0, 0, T0, I30, 0, STALL, 0, 0 },
	    TCP(0, 242, 0, 1, 200, 200, 14480), SEND_NOW, WHY_DRAINS },
	{ "first round trip: the first frame in flight and unsent",
	    CLIENT(33, 0), TCP(50000, 14480, 0, 1, 200, 200, 14480),
	    SEND_WAIT, WHY_BYTES },
	{ "no round trip measured yet",
	    CLIENT(33, 0), TCP(0, 1000, 100000, 1, 0, 0, 14480),
	    SEND_NOW, WHY_DRAINS },

	/* A long path with room: 480 KB in flight at 200 ms is the stream
	 * moving, not a queue (the round trips show no queueing delay). */
	{ "long path: in flight, no queueing delay",
	    CLIENT(33, 0), TCP(0, 480067, 2848963, 1, 200, 201, 1673888),
	    SEND_NOW, WHY_CLEAR },
	/* The same path, its rate an app-limited underestimate: the byte
	 * estimate sees 240 KB queued, the delay 1 ms of queue, and the
	 * smaller wins. */
	{ "long path: low app-limited rate, no queueing delay",
	    CLIENT(33, 0), TCP(0, 480000, 1200000, 1, 200, 201, 1673888),
	    SEND_NOW, WHY_DRAINS },
	/* Unsent bytes leave at the window's pace (1.2 MB per 100 ms)
	 * when the path shows no queue, as in slow start... */
	{ "long path: unsent bytes at the window's pace",
	    CLIENT(33, 0), TCP(100000, 240000, 800000, 0, 100, 100, 1200000),
	    SEND_NOW, WHY_DRAINS },
	/* ... at the path's rate when it does (20 ms of queueing delay):
	 * then the bytes in flight count too. */
	{ "long path: queueing delay, unsent bytes at the path's rate",
	    CLIENT(33, 0), TCP(100000, 240000, 800000, 0, 100, 120, 1200000),
	    SEND_WAIT, WHY_QUEUED },
	/* Up to a quarter of the interval of queueing delay is none to
	 * speak of. */
	{ "long path: 8 ms of queueing delay",
	    CLIENT(33, 0), TCP(0, 480000, 1200000, 1, 200, 208, 1673888),
	    SEND_NOW, WHY_DRAINS },
	{ "long path: 9 ms of queueing delay: 240 KB beyond the pipe",
	    CLIENT(33, 0), TCP(0, 480000, 1200000, 1, 200, 209, 1673888),
	    SEND_WAIT, WHY_QUEUED },
	{ "long path: a real queue, shown by both estimates",
	    CLIENT(33, 0), TCP(0, 600000, 2400000, 1, 100, 200, 1673888),
	    SEND_WAIT, WHY_QUEUED },

	/* A narrow path, 250 KB/s and 100 ms: 25 KB in the pipe. */
	{ "narrow path: a frame queued at the bottleneck",
	    CLIENT(100, 0), TCP(16000, 60000, 241000, 0, 100, 340, 85000),
	    SEND_WAIT, WHY_QUEUED },
	/* The end of a frame: the round trips still report the queue it
	 * crossed (srtt 340 ms), but only the pipe's worth is in flight:
	 * the byte estimate sees the queue gone. */
	{ "narrow path: the queue drained, srtt still high",
	    CLIENT(300, 0), TCP(0, 26000, 241000, 0, 100, 340, 85000),
	    SEND_NOW, WHY_DRAINS },
	{ "narrow path: 8 KB ahead, 33 ms at 241 KB/s",
	    CLIENT(300, 0), TCP(8000, 24100, 241000, 0, 100, 340, 85000),
	    SEND_NOW, WHY_DRAINS },
	{ "narrow path: 9 KB ahead, 37 ms at 241 KB/s",
	    CLIENT(300, 0), TCP(9000, 24100, 241000, 0, 100, 340, 85000),
	    SEND_WAIT, WHY_QUEUED },
	/* After a loss the latest sample is a fraction of the path's rate;
	 * the rate of the last second is not. */
	{ "narrow path: a low sample after a loss",
	    CLIENT(300, 0), TCPM(0, 23532, 73369, 241000, 0, 100, 130, 28960),
	    SEND_NOW, WHY_CLEAR },
	{ "narrow path: the same sample alone",
	    CLIENT(300, 0), TCP(0, 23532, 73369, 0, 100, 130, 28960),
	    SEND_WAIT, WHY_QUEUED },

	/* The frame interval: a client capped at 2 fps may have 500 ms of
	 * queue ahead; 0 (unknown) counts as 30 fps. */
	{ "interval: 2 fps, 100 KB ahead at 241 KB/s",
	    CAPPED(500, 500), TCP(100000, 24100, 241000, 0, 100, 340, 85000),
	    SEND_NOW, WHY_DRAINS },
	{ "interval: unknown, 9 KB ahead at 241 KB/s",
	    { T0 + 300 * MS, 0, FRAME, T0, 0, 0, STALL, 0, 0 },
	    TCP(9000, 24100, 241000, 0, 100, 340, 85000),
	    SEND_WAIT, WHY_QUEUED },
};

START_TEST(test_rules)
{
	const struct rule_case *rc = &rule_cases[_i];
	struct send_verdict v;

	sendpolicy_decide(&rc->cl, &rc->sp, &v);
	ck_assert_msg(v.v_decision == rc->decision && v.v_why == rc->why,
	    "%s: %s (%s), expected %s (%s); ahead %llu, drain %llu ns",
	    rc->what, sendpolicy_decision_name(v.v_decision),
	    sendpolicy_why_name(v.v_why),
	    sendpolicy_decision_name(rc->decision),
	    sendpolicy_why_name(rc->why), (unsigned long long)v.v_ahead,
	    (unsigned long long)v.v_drain_ns);
	ck_assert_int_eq(sendpolicy_why_decision(v.v_why), v.v_decision);
}
END_TEST

/* ------------------------------------------ recorded on simulated links */

static const struct recorded {
	const char		*label;
	unsigned		 t_ms;		/* since the client connected */
	enum send_decision	 expect;
	uint64_t		 ours, unsent, inflight, rate, rate_max;
	int			 app_limited;
	uint32_t		 min_rtt, srtt, rttvar;	/* us */
	uint64_t		 window, interval, last_len, since_push;
} recorded[] = {
#include "sendpolicy_recorded.h"
};

static void
recorded_inputs(const struct recorded *r, struct send_client *cl,
    struct send_path *sp)
{
	memset(cl, 0, sizeof(*cl));
	cl->cl_now_ns = T0 + r->since_push;
	cl->cl_ours = r->ours;
	cl->cl_last_len = r->last_len;
	cl->cl_last_push_ns = T0;
	cl->cl_interval_ns = r->interval;
	cl->cl_stall_ns = STALL;
	memset(sp, 0, sizeof(*sp));
	sp->sp_kind = SEND_PATH_TCP;
	sp->sp_unsent = r->unsent;
	sp->sp_inflight = r->inflight;
	sp->sp_rate = r->rate;
	sp->sp_rate_max = r->rate_max;
	sp->sp_app_limited = r->app_limited;
	sp->sp_min_rtt_us = r->min_rtt;
	sp->sp_srtt_us = r->srtt;
	sp->sp_rttvar_us = r->rttvar;
	sp->sp_window = r->window;
}

/*
 * Every recorded decision takes the answer its link calls for, with one
 * allowance: in the first STARTUP_MS a policy may send where the link
 * says wait.  In slow start the congestion window doubles every round
 * trip and the kernel's rate and round trips describe the window of a
 * round trip ago, so a queue that forms within the last round trip
 * (the window just outgrew the path) shows nowhere yet.  Erring there
 * costs one frame some latency, once; erring the other way would cost
 * frames on every long path, so the policy sends.  It never waits where
 * the link says send, and after the start it agrees throughout.
 */
#define STARTUP_MS	1500	/* as record_sendpolicy.py's */

static int
recorded_agrees(const struct recorded *r, struct send_verdict *v)
{
	struct send_client cl;
	struct send_path sp;

	recorded_inputs(r, &cl, &sp);
	sendpolicy_decide(&cl, &sp, v);
	return v->v_decision == r->expect;
}

START_TEST(test_recorded)
{
	const struct recorded *r = &recorded[_i];
	struct send_verdict v;

	if (recorded_agrees(r, &v) || (r->t_ms < STARTUP_MS &&
	    r->expect == SEND_WAIT))
		return;
	ck_abort_msg("%s, t=%u ms: %s (%s), the link calls for %s; ahead "
	    "%llu (path queue %llu), drain %.1f ms, budget %.1f ms",
	    r->label, r->t_ms, sendpolicy_decision_name(v.v_decision),
	    sendpolicy_why_name(v.v_why), sendpolicy_decision_name(r->expect),
	    (unsigned long long)v.v_ahead,
	    (unsigned long long)v.v_path_queue, v.v_drain_ns / 1e6,
	    v.v_budget / 1e6);
}
END_TEST

/* The allowance stays an exception: at most one startup row in ten. */
START_TEST(test_recorded_startup)
{
	struct send_verdict v;
	unsigned startup = 0, early = 0;
	size_t i;

	for (i = 0; i < sizeof(recorded) / sizeof(recorded[0]); i++) {
		if (recorded[i].t_ms >= STARTUP_MS)
			continue;
		startup++;
		if (!recorded_agrees(&recorded[i], &v))
			early++;
	}
	ck_assert_uint_ge(startup, 20);
	ck_assert_msg(early * 10 <= startup, "%u of %u startup rows sent "
	    "where the link says wait", early, startup);
}
END_TEST

/* The table covers both answers. */
START_TEST(test_recorded_table)
{
	unsigned now = 0, wait = 0;
	size_t i;

	for (i = 0; i < sizeof(recorded) / sizeof(recorded[0]); i++)
		if (recorded[i].expect == SEND_NOW)
			now++;
		else
			wait++;
	ck_assert_uint_ge(now, 20);
	ck_assert_uint_ge(wait, 20);
}
END_TEST

/* ------------------------------------------------- the path's rate */

/* The windowed maximum: ten round trips, at least a second. */
START_TEST(test_rate_max)
{
	struct send_rate_max rm;
	uint64_t t = T0;

	memset(&rm, 0, sizeof(rm));
	ck_assert_uint_eq(sendpolicy_rate_max(&rm, t, 1000, 20000), 1000);
	/* Lower samples do not lower it within the window... */
	ck_assert_uint_eq(sendpolicy_rate_max(&rm, t + 300 * MS, 100, 20000),
	    1000);
	ck_assert_uint_eq(sendpolicy_rate_max(&rm, t + 999 * MS, 100, 20000),
	    1000);
	/* ... and it goes after a second (20 ms round trips: the minimum). */
	ck_assert_uint_eq(sendpolicy_rate_max(&rm, t + 1000 * MS, 100, 20000),
	    100);
	/* Higher samples raise it at once. */
	ck_assert_uint_eq(sendpolicy_rate_max(&rm, t + 1001 * MS, 5000,
	    20000), 5000);
	/* A sample counts for half a window at least. */
	ck_assert_uint_eq(sendpolicy_rate_max(&rm, t + 1499 * MS, 100, 20000),
	    5000);
	/* 300 ms round trips: three seconds. */
	memset(&rm, 0, sizeof(rm));
	sendpolicy_rate_max(&rm, t, 1000, 300000);
	ck_assert_uint_eq(sendpolicy_rate_max(&rm, t + 2999 * MS, 100,
	    300000), 1000);
	ck_assert_uint_eq(sendpolicy_rate_max(&rm, t + 3000 * MS, 100,
	    300000), 100);
	/* A long silence forgets everything. */
	ck_assert_uint_eq(sendpolicy_rate_max(&rm, t + 60000 * MS, 7, 300000),
	    7);
}
END_TEST

/* ------------------------------------------------------------ properties */

/*
 * More bytes ahead never turns a wait into a send: each recorded row
 * with its unsent bytes, its bytes in flight and our buffer grown.
 */
START_TEST(test_more_queue_never_sends)
{
	const struct recorded *r = &recorded[_i];
	struct send_client cl;
	struct send_path sp;
	struct send_verdict v, w;
	unsigned k;

	recorded_inputs(r, &cl, &sp);
	sendpolicy_decide(&cl, &sp, &v);
	if (v.v_decision != SEND_WAIT)
		return;
	for (k = 0; k < 3; k++) {
		struct send_client c2 = cl;
		struct send_path s2 = sp;

		if (k == 0)
			s2.sp_unsent += 10000;
		else if (k == 1)
			s2.sp_inflight += 10000;
		else
			c2.cl_ours += 10000;
		sendpolicy_decide(&c2, &s2, &w);
		ck_assert_msg(w.v_decision == SEND_WAIT, "%s, t=%u: %u",
		    r->label, r->t_ms, k);
	}
}
END_TEST

/* Extreme figures: no division by zero, no overflow, an answer. */
START_TEST(test_extremes)
{
	static const uint64_t big[] = { 0, 1, 1u << 20, UINT32_MAX,
	    UINT64_MAX / 4, UINT64_MAX };
	struct send_client cl = CLIENT(40, 0);
	struct send_path sp, loc = LOCAL(UINT64_MAX), unb = UNBOUNDED(0);
	struct send_verdict v;
	size_t a, b, c;

	for (a = 0; a < 6; a++)
		for (b = 0; b < 6; b++)
			for (c = 0; c < 6; c++) {
				sp = (struct send_path)TCP(big[a], big[b],
				    big[c], (int)(a & 1), b * 50, c * 70,
				    big[(a + c) % 6]);
				sendpolicy_decide(&cl, &sp, &v);
				ck_assert(v.v_decision == SEND_NOW ||
				    v.v_decision == SEND_WAIT);
			}
	sendpolicy_decide(&cl, &loc, &v);
	ck_assert_int_eq(v.v_decision, SEND_WAIT);
	sendpolicy_decide(&cl, &unb, &v);
	ck_assert_int_eq(v.v_decision, SEND_NOW);
}
END_TEST

/* The age of a budgeted client's queue: from the first decision that
 * found one, ours or the kernel's, to the first that found none; the
 * kernel's unsent bytes only where the path is read. */
START_TEST(test_backlog_since)
{
	struct send_path tcp = { .sp_kind = SEND_PATH_TCP };
	struct send_path unb = { .sp_kind = SEND_PATH_UNBOUNDED,
	    .sp_unsent = 50000 };
	uint64_t since = 0;

	ck_assert_uint_eq(sendpolicy_backlog_since(&since, 100, 0, &tcp), 0);
	ck_assert_uint_eq(sendpolicy_backlog_since(&since, 200, 10, &tcp),
	    200);
	tcp.sp_unsent = 4000;
	ck_assert_uint_eq(sendpolicy_backlog_since(&since, 300, 0, &tcp),
	    200);
	ck_assert_uint_eq(sendpolicy_backlog_since(&since, 400, 99, &tcp),
	    200);
	tcp.sp_unsent = 0;
	ck_assert_uint_eq(sendpolicy_backlog_since(&since, 500, 0, &tcp), 0);
	ck_assert_uint_eq(since, 0);
	/* An unbounded path's figures are not the kernel's. */
	ck_assert_uint_eq(sendpolicy_backlog_since(&since, 600, 0, &unb), 0);
	ck_assert_uint_eq(sendpolicy_backlog_since(&since, 700, 1, &unb),
	    700);
}
END_TEST

START_TEST(test_names)
{
	unsigned i;

	for (i = 0; i < WHY_N; i++)
		ck_assert_str_ne(sendpolicy_why_name((enum send_why)i), "?");
	for (i = 0; i < SEND_NDECISIONS; i++)
		ck_assert_str_ne(sendpolicy_decision_name(
		    (enum send_decision)i), "?");
	ck_assert_str_eq(sendpolicy_why_name(WHY_N), "?");
}
END_TEST

static Suite *
sendpolicy_suite(void)
{
	Suite *s = suite_create("sendpolicy");
	TCase *tc = tcase_create("sendpolicy");

	tcase_add_loop_test(tc, test_rules, 0,
	    sizeof(rule_cases) / sizeof(rule_cases[0]));
	tcase_add_loop_test(tc, test_recorded, 0,
	    sizeof(recorded) / sizeof(recorded[0]));
	tcase_add_test(tc, test_recorded_startup);
	tcase_add_test(tc, test_recorded_table);
	tcase_add_test(tc, test_rate_max);
	tcase_add_loop_test(tc, test_more_queue_never_sends, 0,
	    sizeof(recorded) / sizeof(recorded[0]));
	tcase_add_test(tc, test_extremes);
	tcase_add_test(tc, test_backlog_since);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(sendpolicy_suite());
}
