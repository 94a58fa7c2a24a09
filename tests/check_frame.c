/*
 * check_frame.c - the server's frames (server/frame.c): a frame's buffer
 * is sized by the frames that come, not by the ring's slots.  A 720p ring
 * has slots of megabytes (the encoder's worst case) for JPEGs of tens of
 * kilobytes; a server that allocated every frame at slot size held 5.5 MB
 * per frame in flight.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "ring.h"
#include "server.h"
#include "testutil.h"

#define SLOT_SIZE	(4u << 20)

static void
publish(struct ring_writer *w, uint32_t len, uint8_t fill)
{
	uint8_t *buf = malloc(len);
	struct ring_frame f;

	ck_assert_ptr_nonnull(buf);
	memset(buf, fill, len);
	memset(&f, 0, sizeof(f));
	f.length = len;
	f.width = 1280;
	f.height = 720;
	ck_assert_int_eq(ring_writer_publish(w, &f, buf), 0);
	free(buf);
}

static void
assert_frame(const struct frame *f, uint32_t len, uint8_t fill)
{
	ck_assert_uint_eq(f->f_jpeg_len, len);
	ck_assert_uint_eq(f->f_meta.length, len);
	for (uint32_t i = 0; i < len; i += 997)
		ck_assert_uint_eq(f->f_buf[f->f_jpeg_off + i], fill);
	ck_assert_uint_eq(f->f_buf[f->f_jpeg_off + len - 1], fill);
}

START_TEST(test_frames_sized_by_their_length)
{
	struct ring_writer w;
	struct ring_reader r;
	struct frame_pool fp;
	struct frame *f, *g;
	size_t hint = 0;

	ck_assert_int_eq(ring_writer_create(&w, "shmcam-check-frame", 4,
	    SLOT_SIZE), 0);
	ck_assert_int_eq(ring_reader_attach_fd(&r, w.rw_ro_fd), 0);
	frame_pool_init(&fp);

	/* An 80 KB JPEG in 4 MiB slots: a buffer of about its size. */
	publish(&w, 80000, 1);
	ck_assert_int_eq(frame_read_ring(&fp, &r, 0, &hint, &f), 0);
	assert_frame(f, 80000, 1);
	ck_assert_uint_lt(f->f_cap, 128 * 1024);
	ck_assert_uint_ge(hint, 80000);
	ck_assert_uint_lt(hint, 128 * 1024);

	/* A frame larger than the buffer: read again into a bigger one. */
	publish(&w, 300000, 2);
	ck_assert_int_eq(frame_read_ring(&fp, &r, 1, &hint, &g), 0);
	assert_frame(g, 300000, 2);
	ck_assert_uint_ge(frame_jpeg_cap(g), 300000);
	ck_assert_uint_lt(g->f_cap, 512 * 1024);
	/* The first frame was not disturbed. */
	assert_frame(f, 80000, 1);
	frame_unref(f);
	frame_unref(g);
	ck_assert_uint_eq(fp.fp_live, 0);
	ck_assert_uint_eq(fp.fp_nfree, 2);

	/* A pooled buffer serves again, grown when it must be. */
	publish(&w, 350000, 3);
	ck_assert_int_eq(frame_read_ring(&fp, &r, 2, &hint, &f), 0);
	assert_frame(f, 350000, 3);
	ck_assert_uint_eq(fp.fp_nfree, 1);
	frame_unref(f);

	/* Nothing newer: the ring's answer, and no frame. */
	ck_assert_int_eq(frame_read_ring(&fp, &r, 3, &hint, &f), -EAGAIN);
	ck_assert_ptr_null(f);
	ck_assert_uint_eq(fp.fp_live, 0);

	frame_pool_drain(&fp);
	ring_reader_close(&r);
	ring_writer_destroy(&w);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("frame");
	TCase *tc = tcase_create("frame");

	tcase_add_test(tc, test_frames_sized_by_their_length);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
