/*
 * check_workers.c - the encoder thread pool (capture/workers.h): every
 * frame handed in comes back exactly once (collected or displaced), what
 * may be published is in strictly increasing capture order, a frame that
 * finishes after a newer one is marked late, the waiting frame is
 * replaced by a newer one, and draining leaves nothing in flight; in copy
 * mode a frame is encoded as it was handed in, and a replaced frame's
 * flags go on with the newer one.  Run
 * under ThreadSanitizer by `make SANITIZE=thread check-unit`.
 *
 * The order of events is made by the test, not by timing: a frame whose
 * "encoding" must outlast another's waits at a gate until the test opens
 * it, so the outcome is the same on a loaded machine as on an idle one.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <linux/videodev2.h>

#include "testutil.h"
#include "workers.h"

#define FRAMES	400

struct fake {
	int	 delay_us[FRAMES + 1];	/* by frame index */
	int	 gated[FRAMES + 1];	/* wait for open[] before finishing */
	int	 open[FRAMES + 1];	/* set (atomically) by the test */
	int	 started[FRAMES + 1];	/* set (atomically) by the worker */
};

/* Lets gated frame i finish. */
static void
open_gate(struct fake *fk, uint32_t i)
{
	__atomic_store_n(&fk->open[i], 1, __ATOMIC_RELEASE);
}

/* Waits until a worker has taken frame i. */
static void
wait_started(struct fake *fk, uint32_t i)
{
	uint64_t deadline = tu_now_ms() + 5000;

	while (!__atomic_load_n(&fk->started[i], __ATOMIC_ACQUIRE)) {
		ck_assert_msg(tu_now_ms() < deadline, "frame %u never started",
		    i);
		usleep(1000);
	}
}

/* "Encodes" by sleeping as long as the frame says, then writing its
 * index: the job's own buffer, nothing shared. */
static int
fake_work(void *arg, unsigned thread, struct work *w)
{
	struct fake *fk = arg;
	uint32_t i = w->w_frame.index;

	(void)thread;
	if (i <= FRAMES)
		__atomic_store_n(&fk->started[i], 1, __ATOMIC_RELEASE);
	if (w->w_cap < sizeof(i)) {
		free(w->w_out);
		w->w_out = malloc(sizeof(i));
		if (w->w_out == NULL)
			return -ENOMEM;
		w->w_cap = sizeof(i);
	}
	if (i <= FRAMES && fk->delay_us[i] > 0)
		usleep((useconds_t)fk->delay_us[i]);
	while (i <= FRAMES && fk->gated[i] &&
	    !__atomic_load_n(&fk->open[i], __ATOMIC_ACQUIRE))
		usleep(1000);
	memcpy(w->w_out, &i, sizeof(i));
	w->w_len = sizeof(i);
	return 0;
}

struct tally {
	int	 back[FRAMES + 1];	/* times each frame came back */
	uint64_t last_order;
	int	 published, late, displaced;
};

static void
collect_all(struct workers *wk, struct tally *t)
{
	struct work *w;
	uint32_t i;

	while ((w = workers_collect(wk)) != NULL) {
		i = w->w_frame.index;
		ck_assert_uint_le(i, FRAMES);
		t->back[i]++;
		if (w->w_late)
			t->late++;
		else {
			ck_assert_int_eq(w->w_rc, 0);
			ck_assert_uint_gt(w->w_order, t->last_order);
			t->last_order = w->w_order;
			ck_assert_uint_eq(w->w_len, sizeof(i));
			ck_assert_mem_eq(w->w_out, &i, sizeof(i));
			t->published++;
		}
		workers_recycle(wk, w);
	}
}

static void
submit(struct workers *wk, struct tally *t, uint32_t index)
{
	struct source_frame f, old;
	int rc;

	memset(&f, 0, sizeof(f));
	f.index = index;
	rc = workers_submit(wk, &f, 0, &old);
	ck_assert_int_ge(rc, 0);
	if (rc == 1) {
		ck_assert_uint_le(old.index, FRAMES);
		t->back[old.index]++;
		t->displaced++;
	}
}

START_TEST(test_order_and_accounting)
{
	static struct fake fk;
	static struct tally t;
	struct workers wk;
	uint32_t i, x = 7;

	memset(&t, 0, sizeof(t));
	for (i = 1; i <= FRAMES; i++) {
		x = x * 1103515245u + 12345u;
		fk.delay_us[i] = (int)((x >> 16) % 3000);
	}
	ck_assert_int_eq(workers_init(&wk, 4, fake_work, &fk, "test", 0), 0);
	for (i = 1; i <= FRAMES; i++) {
		submit(&wk, &t, i);
		/* Every fourth frame is seen taken by a worker before the
		 * next comes: the pool makes progress however slowly the
		 * machine runs it, and between those, frames are replaced
		 * as they come. */
		if (i % 4 == 0)
			wait_started(&fk, i);
		if (tu_wait_fd(workers_fd(&wk), POLLIN, 1))
			collect_all(&wk, &t);
	}
	workers_drain(&wk);
	ck_assert_uint_eq(workers_pending(&wk), 0);
	collect_all(&wk, &t);
	for (i = 1; i <= FRAMES; i++)
		ck_assert_msg(t.back[i] == 1, "frame %u came back %d times", i,
		    t.back[i]);
	ck_assert_int_eq(t.published + t.late + t.displaced, FRAMES);
	ck_assert_int_ge(t.published + t.late, FRAMES / 4);
	ck_assert_int_gt(t.published, 0);
	workers_free(&wk);
}
END_TEST

START_TEST(test_late_frame_is_not_published)
{
	static struct fake fk;
	static struct tally t;
	struct workers wk;

	/* Frame 1 is held, frame 2 is not: 2 is done first, and 1,
	 * finishing later, must not be published after it. */
	memset(&t, 0, sizeof(t));
	memset(&fk, 0, sizeof(fk));
	fk.gated[1] = 1;
	ck_assert_int_eq(workers_init(&wk, 2, fake_work, &fk, "test", 0), 0);
	submit(&wk, &t, 1);
	wait_started(&fk, 1);
	submit(&wk, &t, 2);
	while (t.back[2] < 1) {
		ck_assert(tu_wait_fd(workers_fd(&wk), POLLIN, 5000));
		collect_all(&wk, &t);
	}
	open_gate(&fk, 1);
	while (t.back[1] < 1) {
		ck_assert(tu_wait_fd(workers_fd(&wk), POLLIN, 5000));
		collect_all(&wk, &t);
	}
	ck_assert_int_eq(t.published, 1);
	ck_assert_int_eq(t.late, 1);
	ck_assert_uint_eq(t.last_order, 2);
	workers_free(&wk);
}
END_TEST

START_TEST(test_waiting_frame_is_replaced)
{
	static struct fake fk;
	static struct tally t;
	struct workers wk;

	/* One busy worker: of three more frames only the newest waits. */
	memset(&t, 0, sizeof(t));
	memset(&fk, 0, sizeof(fk));
	fk.gated[1] = 1;
	ck_assert_int_eq(workers_init(&wk, 1, fake_work, &fk, "test", 0), 0);
	submit(&wk, &t, 1);
	wait_started(&fk, 1);
	submit(&wk, &t, 2);
	submit(&wk, &t, 3);
	submit(&wk, &t, 4);
	ck_assert_int_eq(t.displaced, 2);
	ck_assert_int_eq(t.back[2], 1);
	ck_assert_int_eq(t.back[3], 1);
	open_gate(&fk, 1);
	while (t.back[1] + t.back[4] < 2) {
		ck_assert(tu_wait_fd(workers_fd(&wk), POLLIN, 5000));
		collect_all(&wk, &t);
	}
	ck_assert_int_eq(t.published, 2);
	workers_free(&wk);
}
END_TEST

static void *
drain_thread(void *arg)
{
	workers_drain(arg);
	return NULL;
}

START_TEST(test_drain_cancels_the_waiting_frame)
{
	static struct fake fk;
	static struct tally t;
	struct workers wk;
	pthread_t th;
	uint64_t deadline;

	/* Frame 1 busy (held), frame 2 waiting: the drain cancels 2 and
	 * waits for 1, which is let go only once 2 is cancelled. */
	memset(&t, 0, sizeof(t));
	memset(&fk, 0, sizeof(fk));
	fk.gated[1] = 1;
	ck_assert_int_eq(workers_init(&wk, 1, fake_work, &fk, "test", 0), 0);
	submit(&wk, &t, 1);
	wait_started(&fk, 1);
	submit(&wk, &t, 2);
	ck_assert_uint_eq(workers_pending(&wk), 2);
	ck_assert_int_eq(pthread_create(&th, NULL, drain_thread, &wk), 0);
	deadline = tu_now_ms() + 5000;
	while (workers_pending(&wk) != 1) {
		ck_assert_msg(tu_now_ms() < deadline, "2 not cancelled");
		usleep(1000);
	}
	open_gate(&fk, 1);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_uint_eq(workers_pending(&wk), 0);
	collect_all(&wk, &t);
	ck_assert_int_eq(t.back[1], 1);
	ck_assert_int_eq(t.back[2], 1);
	ck_assert_int_eq(t.late, 1);		/* 2: cancelled, not run */
	ck_assert_int_eq(t.published, 1);
	workers_free(&wk);
}
END_TEST

/* Copy mode: the work function sees a copy of the frame's bytes and the
 * job's flags. */
static int
copy_work(void *arg, unsigned thread, struct work *w)
{
	struct fake *fk = arg;
	uint32_t i = w->w_frame.index;
	const uint8_t *data = w->w_frame.data;
	size_t len = w->w_frame.length;

	(void)thread;
	__atomic_store_n(&fk->started[i], 1, __ATOMIC_RELEASE);
	while (fk->gated[i] && !__atomic_load_n(&fk->open[i], __ATOMIC_ACQUIRE))
		usleep(1000);
	free(w->w_out);
	/* A raw copy's planes are one unpadded buffer from plane 0 on
	 * (YVU420: Y, Cr, Cb). */
	if (w->w_frame.raw.rw_fmt != NULL) {
		data = w->w_frame.raw.rw_plane[0].rp_data;
		len = (size_t)w->w_frame.width * w->w_frame.height * 3 / 2;
	}
	if ((w->w_out = malloc(len)) == NULL)
		return -ENOMEM;
	memcpy(w->w_out, data, len);
	w->w_cap = w->w_len = len;
	w->w_out_flags = w->w_flags;
	return 0;
}

/*
 * Copy mode: a frame released (overwritten) right after it was handed
 * in is encoded as it was; the waiting copy dropped for a newer frame
 * gives that frame its flags; a raw frame's planes come out unpadded in
 * one buffer.
 */
START_TEST(test_copy_mode)
{
	static struct fake fk;
	static uint8_t buf[3][64];
	struct source_frame f;
	struct workers wk;
	struct work *w;
	int got = 0, rc;

	/* Frame 1 busy (held at its gate) while 2 and 3 come. */
	memset(&fk, 0, sizeof(fk));
	fk.gated[1] = 1;
	ck_assert_int_eq(workers_init(&wk, 1, copy_work, &fk, "copy", 1), 0);
	for (int k = 0; k < 3; k++) {
		memset(buf[k], 'a' + k, sizeof(buf[k]));
		memset(&f, 0, sizeof(f));
		f.index = (uint32_t)k + 1;
		f.data = buf[k];
		f.length = sizeof(buf[k]);
		rc = workers_submit(&wk, &f, 1u << k, NULL);
		/* The third displaces the second, which waited. */
		ck_assert_int_eq(rc, k == 2 ? 1 : 0);
		/* Released at once: the camera's buffer is refilled. */
		memset(buf[k], 'z', sizeof(buf[k]));
		if (k == 0)
			wait_started(&fk, 1);
	}
	open_gate(&fk, 1);
	while (got < 2) {
		ck_assert(tu_wait_fd(workers_fd(&wk), POLLIN, 5000));
		while ((w = workers_collect(&wk)) != NULL) {
			uint32_t i = w->w_frame.index;

			ck_assert_int_eq(w->w_rc, 0);
			ck_assert(i == 1 || i == 3);
			ck_assert_uint_eq(w->w_len, 64);
			for (int b = 0; b < 64; b++)
				ck_assert_uint_eq(w->w_out[b], 'a' + i - 1);
			/* Frame 3 carries frame 2's flag too. */
			ck_assert_uint_eq(w->w_out_flags, i == 1 ? 1u : 6u);
			workers_recycle(&wk, w);
			got++;
		}
	}

	/*
	 * Planes in three buffers with padded rows (YVU420M: Y, Cr, Cb):
	 * copied into one buffer of YVU420, unpadded, in its memory order.
	 */
	{
		static uint8_t mem[3][48 * 16];
		uint8_t *data[3] = { mem[0], mem[1], mem[2] };
		size_t len[3] = { 48 * 16, 24 * 8, 24 * 8 };
		uint32_t stride[3] = { 48, 24, 24 };
		const struct rawplane *cp;

		for (int p = 0; p < 3; p++)
			memset(mem[p], 'A' + p, sizeof(mem[p]));
		memset(&f, 0, sizeof(f));
		f.fourcc = V4L2_PIX_FMT_YVU420M;
		f.width = 32;
		f.height = 16;
		ck_assert_int_eq(rawframe_describe(&f.raw,
		    rawformat_find(V4L2_PIX_FMT_YVU420M), 32, 16, 3, data, len,
		    stride), 0);
		f.index = 4;
		ck_assert_int_eq(workers_submit(&wk, &f, 0, NULL), 0);
		memset(mem, 'z', sizeof(mem));
		ck_assert(tu_wait_fd(workers_fd(&wk), POLLIN, 5000));
		while ((w = workers_collect(&wk)) == NULL)
			ck_assert(tu_wait_fd(workers_fd(&wk), POLLIN, 5000));
		ck_assert_uint_eq(w->w_frame.fourcc, V4L2_PIX_FMT_YVU420);
		ck_assert_ptr_eq(w->w_frame.raw.rw_fmt,
		    rawformat_find(V4L2_PIX_FMT_YVU420));
		ck_assert_int_eq(rawframe_check(&w->w_frame.raw), 0);
		cp = w->w_frame.raw.rw_plane;
		ck_assert_uint_eq(cp[0].rp_stride, 32);
		ck_assert_uint_eq(cp[1].rp_stride, 16);
		ck_assert_ptr_eq(cp[2].rp_data, cp[0].rp_data + 512);
		ck_assert_ptr_eq(cp[1].rp_data, cp[0].rp_data + 640);
		/* Y from buffer 0, Cr (sample plane 2) from buffer 1. */
		ck_assert_uint_eq(w->w_len, 32 * 16 * 3 / 2);
		for (size_t b = 0; b < w->w_len; b++)
			ck_assert_uint_eq(w->w_out[b], b < 512 ? 'A' :
			    b < 640 ? 'B' : 'C');
	}
	workers_recycle(&wk, w);
	workers_free(&wk);
}
END_TEST

static Suite *
workers_suite(void)
{
	Suite *s = suite_create("workers");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_order_and_accounting);
	tcase_add_test(tc, test_late_frame_is_not_published);
	tcase_add_test(tc, test_waiting_frame_is_replaced);
	tcase_add_test(tc, test_drain_cancels_the_waiting_frame);
	tcase_add_test(tc, test_copy_mode);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(workers_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
