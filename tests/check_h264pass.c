/*
 * check_h264pass.c - a camera's own H.264 to ring payloads
 * (capture/h264pass.h), fed by a camera made with x264
 * (tests/v4l2sim/simh264.h: start codes, an AUD before each picture, the
 * SPS and PPS before the first IDR only, as many UVC cameras send it):
 * what is published starts at an IDR, every IDR with its SPS and PPS,
 * without the units the ring never holds; broken, cut and unsupported
 * units are refused and the stream waits for the next IDR.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "h264pass.h"
#include "testutil.h"
#include "v4l2sim/simh264.h"

#define W	320
#define H	240
#define FRAMES	12
#define GOP	5

/* The camera's access units, Annex B, frame i in au[i]. */
static uint8_t *au[FRAMES];
static size_t au_len[FRAMES];

static int
camera(int headers_once)
{
	struct simh264_opts o = { .profile = "main", .gop = GOP, .aud = 1,
	    .headers_once = headers_once, .annexb = 1 };
	struct simh264 *enc;
	static uint8_t img[W * H * 3 / 2];
	const uint8_t *out;
	size_t len;
	int idr;

	if (!simh264_available()) {
		fprintf(stderr, "check_h264pass: built with X264=no: skipped "
		    "(no camera stream to pass through)\n");
		return 0;
	}
	ck_assert_int_eq(simh264_new(&enc, W, H, 30, &o), 0);
	for (int f = 0; f < FRAMES; f++) {
		for (size_t k = 0; k < sizeof(img); k++)
			img[k] = (uint8_t)(k * 3 + (k / W) * f);
		ck_assert_int_eq(simh264_encode(enc, img, img + W * H,
		    img + W * H * 5 / 4, 0, &out, &len, &idr), 0);
		ck_assert_int_eq(idr, f % GOP == 0);
		free(au[f]);
		au[f] = malloc(len);
		memcpy(au[f], out, len);
		au_len[f] = len;
	}
	simh264_free(enc);
	return 1;
}

/* The types of the units of a ring payload, in order, as a string of
 * letters: S SPS, P PPS, E SEI, I IDR slice, s other slice, ? other. */
static void
types(const uint8_t *buf, size_t len, char *out, size_t size)
{
	struct h264_nal nal;
	size_t pos = 0, n = 0;

	while (h264_au_next(buf, len, &pos, &nal) == 1 && n + 1 < size)
		out[n++] = "?s???IESP"[nal.type < 9 ? nal.type : 0];
	out[n] = '\0';
}

/* The units of an Annex-B access unit, for taking it apart. */
struct unit {
	const uint8_t	*data;
	size_t		 len;
	unsigned	 type;
};

static int
split(const uint8_t *buf, size_t len, struct unit *u, int max)
{
	struct h264_nal nal;
	size_t pos = 0;
	int n = 0;

	while (n < max && h264_annexb_next(buf, len, &pos, &nal) == 1) {
		u[n].data = nal.data;
		u[n].len = nal.len;
		u[n].type = nal.type;
		n++;
	}
	return n;
}

/* Annex B of the units whose types are in keep (all if NULL). */
static size_t
join(const struct unit *u, int n, const char *keep, const uint8_t *extra,
    size_t extra_len, uint8_t *out)
{
	size_t len = 0;

	for (int i = 0; i < n; i++) {
		if (keep != NULL && strchr(keep, (int)('0' + u[i].type)) == NULL)
			continue;
		memcpy(out + len, "\0\0\0\1", 4);
		memcpy(out + len + 4, u[i].data, u[i].len);
		len += 4 + u[i].len;
	}
	if (extra != NULL) {
		memcpy(out + len, extra, extra_len);
		len += extra_len;
	}
	return len;
}

static int
filter(struct h264pass *hp, const uint8_t *in, size_t len, uint8_t *out,
    struct h264pass_out *o)
{
	return h264pass_filter(hp, in, len, out, h264pass_max_out(len), o);
}

START_TEST(test_camera_stream)
{
	struct h264pass hp;
	struct h264pass_out o;
	struct h264_au_info info;
	uint8_t out[65536], sps0[256];
	size_t sps0_len = 0;
	char t[32];

	if (!camera(1))
		return;
	h264pass_init(&hp);
	for (int f = 0; f < FRAMES; f++) {
		ck_assert_int_eq(filter(&hp, au[f], au_len[f], out, &o), 0);
		ck_assert_uint_le(o.len, h264pass_max_out(au_len[f]));
		ck_assert_int_eq(h264_au_check(out, o.len, &info), 0);
		ck_assert_int_eq(o.keyframe, f % GOP == 0);
		ck_assert_uint_eq(o.width, W);
		ck_assert_uint_eq(o.height, H);
		types(out, o.len, t, sizeof(t));
		/* No AUD; keyframes start with SPS and PPS, also those the
		 * camera sent without them (frames 5, 10): the ones of frame
		 * 0, byte for byte. */
		if (o.keyframe) {
			ck_assert_msg(strncmp(t, "SP", 2) == 0, "frame %d: %s",
			    f, t);
			if (f == 0) {
				sps0_len = info.pps_off + info.pps_len;
				memcpy(sps0, out, sps0_len);
			} else
				ck_assert_mem_eq(out, sps0, sps0_len);
		} else
			ck_assert_str_eq(t, "s");
	}
	/* The camera's first unit had its parameter sets; the others not. */
	ck_assert_ptr_nonnull(memmem(au[0], au_len[0], sps0 + 4, 4));
	ck_assert_ptr_null(memmem(au[5], au_len[5], sps0 + 4, 4));
}
END_TEST

/* Joining mid-stream: nothing before an IDR, and nothing at all until a
 * parameter set came. */
START_TEST(test_start_at_idr)
{
	struct h264pass hp;
	struct h264pass_out o;
	uint8_t out[65536];

	if (!camera(0))
		return;
	h264pass_init(&hp);
	for (int f = 2; f < GOP; f++)
		ck_assert_int_eq(filter(&hp, au[f], au_len[f], out, &o),
		    -EAGAIN);
	ck_assert_int_eq(filter(&hp, au[GOP], au_len[GOP], out, &o), 0);
	ck_assert_int_eq(o.keyframe, 1);
	ck_assert_int_eq(filter(&hp, au[GOP + 1], au_len[GOP + 1], out, &o),
	    0);

	/* A camera that sent its parameter sets before we looked: its IDRs
	 * cannot be published. */
	ck_assert(camera(1));
	h264pass_init(&hp);
	for (int f = 1; f < FRAMES; f++)
		ck_assert_int_eq(filter(&hp, au[f], au_len[f], out, &o),
		    -EAGAIN);
}
END_TEST

/* A broken unit is refused, and the pictures after it until the next IDR
 * too: they refer to what the decoder never got. */
START_TEST(test_broken_then_resync)
{
	static const uint8_t noise[] = { 0x47, 0x12, 0x00, 0x00, 0x01, 0x41,
	    0x9a, 0x33 };
	struct h264pass hp;
	struct h264pass_out o;
	struct unit u[16];
	uint8_t out[65536], cut[65536];
	size_t len;
	int n;

	if (!camera(1))
		return;
	h264pass_init(&hp);
	ck_assert_int_eq(filter(&hp, au[0], au_len[0], out, &o), 0);
	ck_assert_int_eq(filter(&hp, au[1], au_len[1], out, &o), 0);
	ck_assert_int_eq(filter(&hp, noise, sizeof(noise), out, &o),
	    -EBADMSG);
	ck_assert_int_eq(filter(&hp, au[2], au_len[2], out, &o), -EAGAIN);
	ck_assert_int_eq(filter(&hp, au[3], au_len[3], out, &o), -EAGAIN);
	ck_assert_int_eq(filter(&hp, au[5], au_len[5], out, &o), 0);
	ck_assert_int_eq(o.keyframe, 1);
	ck_assert_int_eq(filter(&hp, au[6], au_len[6], out, &o), 0);

	/* Cut after its parameter sets, before the picture. */
	n = split(au[0], au_len[0], u, 16);
	len = join(u, n, "978", NULL, 0, cut);
	ck_assert_int_eq(filter(&hp, cut, len, out, &o), -EBADMSG);
	ck_assert_int_eq(filter(&hp, au[7], au_len[7], out, &o), -EAGAIN);
	/* Empty, and all zeros. */
	ck_assert_int_eq(filter(&hp, cut, 0, out, &o), -EBADMSG);
	memset(cut, 0, 64);
	ck_assert_int_eq(filter(&hp, cut, 64, out, &o), -EBADMSG);
	/* And the next IDR puts the stream right again. */
	ck_assert_int_eq(filter(&hp, au[10], au_len[10], out, &o), 0);
}
END_TEST

/* What the ring never holds is left out; what no browser decodes is
 * refused. */
START_TEST(test_units_dropped_and_refused)
{
	static const uint8_t filler[] = { 0x0c, 0xff, 0xff, 0x80 };
	static const uint8_t dpa[] = { 0x02, 0x88, 0x80 };
	static const uint8_t eos[] = { 0x0a };
	struct h264pass hp;
	struct h264pass_out o;
	struct unit u[16];
	uint8_t out[65536], in[65536], extra[16];
	size_t len;
	char t[32];
	int n;

	if (!camera(1))
		return;
	h264pass_init(&hp);
	/* Filler and end of sequence after the picture: dropped. */
	memcpy(extra, "\0\0\1", 3);
	memcpy(extra + 3, filler, sizeof(filler));
	memcpy(extra + 3 + sizeof(filler), "\0\0\1", 3);
	memcpy(extra + 6 + sizeof(filler), eos, sizeof(eos));
	n = split(au[0], au_len[0], u, 16);
	len = join(u, n, NULL, extra, 6 + sizeof(filler) + sizeof(eos), in);
	ck_assert_int_eq(filter(&hp, in, len, out, &o), 0);
	types(out, o.len, t, sizeof(t));
	ck_assert_msg(strcmp(t, "SPEI") == 0 || strcmp(t, "SPI") == 0, "%s",
	    t);

	/* Data partitioning (Extended profile): refused. */
	memcpy(extra, "\0\0\1", 3);
	memcpy(extra + 3, dpa, sizeof(dpa));
	n = split(au[1], au_len[1], u, 16);
	len = join(u, n, NULL, extra, 3 + sizeof(dpa), in);
	ck_assert_int_eq(filter(&hp, in, len, out, &o), -ENOTSUP);

	/* Too small a buffer. */
	ck_assert_int_eq(filter(&hp, au[5], au_len[5], out, &o), 0);
	ck_assert_int_eq(h264pass_filter(&hp, au[6], au_len[6], out, 8, &o),
	    -ENOBUFS);
}
END_TEST

/* A new SPS in a picture that is not an IDR cannot be in use yet: it
 * waits for the next IDR, which then carries it. */
START_TEST(test_new_sps_waits_for_idr)
{
	struct h264pass hp;
	struct h264pass_out o;
	struct h264_au_info info;
	struct unit u0[16], u1[16];
	uint8_t out[65536], in[65536], sps[256];
	size_t len, sps_len = 0;
	int n0, n1;

	if (!camera(1))
		return;
	h264pass_init(&hp);
	ck_assert_int_eq(filter(&hp, au[0], au_len[0], out, &o), 0);
	/* Frame 1 with frame 0's SPS changed in its level byte. */
	n0 = split(au[0], au_len[0], u0, 16);
	n1 = split(au[1], au_len[1], u1, 16);
	for (int i = 0; i < n0; i++)
		if (u0[i].type == 7) {
			memcpy(sps, u0[i].data, u0[i].len);
			sps_len = u0[i].len;
		}
	ck_assert_uint_gt(sps_len, 4);
	sps[3] = 40;
	len = 0;
	memcpy(in, "\0\0\1", 3);
	memcpy(in + 3, sps, sps_len);
	len = 3 + sps_len;
	len += join(u1, n1, NULL, NULL, 0, in + len);
	ck_assert_int_eq(filter(&hp, in, len, out, &o), -EAGAIN);
	ck_assert_int_eq(filter(&hp, au[2], au_len[2], out, &o), -EAGAIN);
	ck_assert_int_eq(filter(&hp, au[5], au_len[5], out, &o), 0);
	ck_assert_int_eq(h264_au_check(out, o.len, &info), 0);
	ck_assert_uint_eq(out[info.sps_off + 3], 40);
}
END_TEST

static Suite *
h264pass_suite(void)
{
	Suite *s = suite_create("h264pass");
	TCase *tc = tcase_create("filter");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_camera_stream);
	tcase_add_test(tc, test_start_at_idr);
	tcase_add_test(tc, test_broken_then_resync);
	tcase_add_test(tc, test_units_dropped_and_refused);
	tcase_add_test(tc, test_new_sps_waits_for_idr);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(h264pass_suite());
}
