/*
 * check_keyframe.c - the keyframe request limit (capture/keyframe.h) as
 * tables of events: requests, frames, keyframes published, frames lost,
 * with what each must answer.
 */
#include <check.h>

#include "keyframe.h"
#include "testutil.h"

#define MS	1000000ull
#define INTERVAL (250 * MS)

enum ev_kind {
	REQ,		/* kf_request(); want: 1 new wait, 0 merged */
	TAKE,		/* kf_take(); want: 1 this frame is a keyframe */
	PUB,		/* kf_published(taken = want) */
	LOST,		/* kf_lost() */
};

struct ev {
	uint64_t	 t_ms;
	enum ev_kind	 kind;
	int		 want;
};

static void
run(const char *name, const struct ev *evs, size_t n)
{
	struct kf_limit k;
	size_t i;
	int got;

	kf_init(&k, INTERVAL);
	for (i = 0; i < n; i++) {
		uint64_t t = evs[i].t_ms * MS;

		switch (evs[i].kind) {
		case REQ:
			got = kf_request(&k, t);
			ck_assert_msg(got == evs[i].want, "%s, event %zu "
			    "(request at %llu ms): got %d", name, i,
			    (unsigned long long)evs[i].t_ms, got);
			break;
		case TAKE:
			got = kf_take(&k, t);
			ck_assert_msg(got == evs[i].want, "%s, event %zu "
			    "(frame at %llu ms): got %d", name, i,
			    (unsigned long long)evs[i].t_ms, got);
			break;
		case PUB:
			kf_published(&k, t, evs[i].want);
			break;
		case LOST:
			kf_lost(&k, t);
			break;
		}
	}
}

#define RUN(evs) run(#evs, evs, sizeof(evs) / sizeof(evs[0]))

/* A request with no keyframe for a while: the very next frame. */
START_TEST(test_next_frame)
{
	static const struct ev evs[] = {
		{ 0, TAKE, 0 },
		{ 10, REQ, 1 },
		{ 33, TAKE, 1 },
		{ 66, TAKE, 0 },		/* one keyframe, not two */
		{ 70, PUB, 1 },
		{ 99, TAKE, 0 },
	};

	RUN(evs);
}
END_TEST

/*
 * A hundred viewers at once: one keyframe.  More a moment later: the
 * next one at the end of the interval, not before; every one of them is
 * answered within the interval plus a frame.
 */
START_TEST(test_hundred_at_once)
{
	struct kf_limit k;
	uint64_t t, kf = 0;
	int forced = 0, i;

	kf_init(&k, INTERVAL);
	ck_assert_int_eq(kf_request(&k, 1000 * MS), 1);
	for (i = 1; i < 100; i++)
		ck_assert_int_eq(kf_request(&k, 1000 * MS), 0);
	/* Frames every 33 ms, requests all along for two seconds. */
	for (t = 1010 * MS; t < 3000 * MS; t += 33 * MS) {
		(void)kf_request(&k, t);
		if (kf_take(&k, t)) {
			/* Never two forced keyframes within the interval. */
			ck_assert(kf == 0 || t - kf >= INTERVAL);
			kf = t;
			forced++;
			kf_published(&k, t + 10 * MS, 1);
		}
	}
	/* 2 s of requests: one keyframe per 250 ms + a frame at most. */
	ck_assert_int_ge(forced, 6);
	ck_assert_int_le(forced, 8);
}
END_TEST

/* A request right after a keyframe waits for the interval's end. */
START_TEST(test_after_keyframe)
{
	static const struct ev evs[] = {
		{ 1000, PUB, 0 },		/* the GOP's */
		{ 1010, REQ, 1 },
		{ 1033, TAKE, 0 },
		{ 1200, TAKE, 0 },
		{ 1249, TAKE, 0 },
		{ 1266, TAKE, 1 },		/* 1000 + 250 passed */
		{ 1280, PUB, 1 },
	};

	RUN(evs);
}
END_TEST

/* The GOP's keyframe answers a waiting request: no extra one. */
START_TEST(test_gop_answers)
{
	static const struct ev evs[] = {
		{ 1000, PUB, 0 },
		{ 1100, REQ, 1 },
		{ 1133, TAKE, 0 },
		{ 1166, PUB, 0 },		/* a GOP keyframe */
		{ 1300, TAKE, 0 },		/* nothing waits any more */
		{ 1500, TAKE, 0 },
	};

	RUN(evs);
}
END_TEST

/* Requests while the chosen frame is being encoded are merged into it;
 * if it is lost, the request stands and the next frame is the keyframe. */
START_TEST(test_inflight_and_lost)
{
	static const struct ev evs[] = {
		{ 0, REQ, 1 },
		{ 10, TAKE, 1 },
		{ 12, REQ, 0 },
		{ 15, REQ, 0 },
		{ 43, TAKE, 0 },
		{ 45, LOST, 0 },		/* encode failed */
		{ 46, REQ, 0 },			/* merged into the standing one */
		{ 76, TAKE, 1 },
		{ 90, PUB, 1 },
		{ 100, REQ, 1 },		/* a new one, after the interval */
		{ 109, TAKE, 0 },
		{ 340, TAKE, 1 },		/* 90 + 250 */
	};

	RUN(evs);
}
END_TEST

/* A lost frame that was not a forced keyframe changes nothing. */
START_TEST(test_lost_unforced)
{
	static const struct ev evs[] = {
		{ 0, LOST, 0 },
		{ 33, TAKE, 0 },
		{ 40, REQ, 1 },
		{ 66, TAKE, 1 },
	};

	RUN(evs);
}
END_TEST

static Suite *
keyframe_suite(void)
{
	Suite *s = suite_create("keyframe");
	TCase *tc = tcase_create("limit");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_next_frame);
	tcase_add_test(tc, test_hundred_at_once);
	tcase_add_test(tc, test_after_keyframe);
	tcase_add_test(tc, test_gop_answers);
	tcase_add_test(tc, test_inflight_and_lost);
	tcase_add_test(tc, test_lost_unforced);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(keyframe_suite());
}
