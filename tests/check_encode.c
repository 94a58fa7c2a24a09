/*
 * check_encode.c - raw frames to JPEG (capture/encode.h): every format
 * encodes, with padded rows (bytesperline), to a JPEG of the right size
 * whose decoded pixels match the source within JPEG error; packed 4:2:2
 * in strips through libjpeg is byte for byte what TurboJPEG makes of the
 * same frame in planes; frames too short for their geometry and output
 * buffers too small are refused without a read or write outside them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <linux/videodev2.h>
#include <turbojpeg.h>

#include "encode.h"

#define W	168		/* 5 x 32 pixels and a tail */
#define H	96
#define PAD	32		/* bytes of padding per row */

/* A smooth picture in full-range YCbCr, as JPEG stores it. */
static uint8_t
px_y(int x, int y)
{
	return (uint8_t)(16 + x * 200 / W + (y * 30 / H));
}

static uint8_t
px_cb(int x, int y)
{
	return (uint8_t)(64 + y * 128 / H + x / 16);
}

static uint8_t
px_cr(int x, int y)
{
	return (uint8_t)(200 - x * 120 / W - y / 8);
}

static uint8_t
clamp(double v)
{
	return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)(v + 0.5);
}

static void
px_rgb(int x, int y, uint8_t rgb[3])
{
	double Y = px_y(x, y), cb = px_cb(x, y) - 128.0, cr = px_cr(x, y) - 128.0;

	rgb[0] = clamp(Y + 1.402 * cr);
	rgb[1] = clamp(Y - 0.344136 * cb - 0.714136 * cr);
	rgb[2] = clamp(Y + 1.772 * cb);
}

/* Builds the source frame of a format in an exact-size allocation. */
static uint8_t *
make_frame(uint32_t fourcc, size_t *len, uint32_t *bpl)
{
	uint8_t *p, *row;
	size_t n = 0;
	int x, y;

	switch (fourcc) {
	case V4L2_PIX_FMT_YUYV:
	case V4L2_PIX_FMT_UYVY:
		*bpl = W * 2 + PAD;
		n = (size_t)*bpl * H;
		break;
	case V4L2_PIX_FMT_NV12:
		*bpl = W + PAD;
		n = (size_t)*bpl * H + (size_t)*bpl * (H / 2);
		break;
	case V4L2_PIX_FMT_YUV420:
		*bpl = W + PAD;
		n = (size_t)*bpl * H + 2 * (size_t)(*bpl / 2) * (H / 2);
		break;
	case V4L2_PIX_FMT_GREY:
		*bpl = W + PAD;
		n = (size_t)*bpl * H;
		break;
	default:		/* RGB24, BGR24 */
		*bpl = W * 3 + PAD;
		n = (size_t)*bpl * H;
		break;
	}
	p = malloc(n);
	ck_assert_ptr_nonnull(p);
	memset(p, 0x55, n);
	for (y = 0; y < H; y++) {
		row = p + (size_t)y * *bpl;
		for (x = 0; x < W; x++) {
			/* 4:2:2 chroma at the pair's left sample, 4:2:0 at
			 * the top left one: close enough for JPEG error. */
			uint8_t Y = px_y(x, y), cb = px_cb(x & ~1, y),
			    cr = px_cr(x & ~1, y), rgb[3];
			switch (fourcc) {
			case V4L2_PIX_FMT_YUYV:
				row[2 * x] = Y;
				row[2 * x + 1] = x & 1 ? cr : cb;
				break;
			case V4L2_PIX_FMT_UYVY:
				row[2 * x + 1] = Y;
				row[2 * x] = x & 1 ? cr : cb;
				break;
			case V4L2_PIX_FMT_NV12:
				row[x] = Y;
				if (!(y & 1) && !(x & 1)) {
					uint8_t *uv = p + (size_t)*bpl * H +
					    (size_t)(y / 2) * *bpl + x;
					uv[0] = cb;
					uv[1] = cr;
				}
				break;
			case V4L2_PIX_FMT_YUV420:
				row[x] = Y;
				if (!(y & 1) && !(x & 1)) {
					size_t cb0 = (size_t)*bpl * H;
					size_t cs = *bpl / 2;
					p[cb0 + (size_t)(y / 2) * cs + x / 2] =
					    cb;
					p[cb0 + cs * (H / 2) +
					    (size_t)(y / 2) * cs + x / 2] = cr;
				}
				break;
			case V4L2_PIX_FMT_GREY:
				row[x] = Y;
				break;
			case V4L2_PIX_FMT_RGB24:
				px_rgb(x, y, rgb);
				memcpy(row + 3 * x, rgb, 3);
				break;
			case V4L2_PIX_FMT_BGR24:
				px_rgb(x, y, rgb);
				row[3 * x] = rgb[2];
				row[3 * x + 1] = rgb[1];
				row[3 * x + 2] = rgb[0];
				break;
			}
		}
	}
	*len = n;
	return p;
}

static const uint32_t fourccs[] = {
	V4L2_PIX_FMT_YUYV, V4L2_PIX_FMT_UYVY, V4L2_PIX_FMT_NV12,
	V4L2_PIX_FMT_YUV420, V4L2_PIX_FMT_GREY, V4L2_PIX_FMT_RGB24,
	V4L2_PIX_FMT_BGR24,
};

START_TEST(test_formats_encode_to_the_source_picture)
{
	uint32_t fourcc = fourccs[_i], bpl;
	struct source_frame f;
	struct encoder e;
	uint8_t *frame, *out, *rgb;
	size_t len, cap, jlen;
	tjhandle tj;
	int w, h, ss, cs, x, y, c, grey = fourcc == V4L2_PIX_FMT_GREY;
	double err = 0;
	int worst = 0;

	ck_assert(encoder_supports(fourcc));
	frame = make_frame(fourcc, &len, &bpl);
	memset(&f, 0, sizeof(f));
	f.fourcc = fourcc;
	f.width = W;
	f.height = H;
	f.bytesperline = bpl;
	f.data = frame;
	f.length = len;
	cap = encoder_max_size(W, H);
	out = malloc(cap);
	ck_assert_int_eq(encoder_init(&e, 90), 0);
	ck_assert_int_eq(encoder_encode(&e, &f, out, cap, &jlen), 0);
	ck_assert_uint_gt(jlen, 100);
	ck_assert_uint_le(jlen, cap);

	tj = tjInitDecompress();
	ck_assert_int_eq(tjDecompressHeader3(tj, out, jlen, &w, &h, &ss, &cs),
	    0);
	ck_assert_int_eq(w, W);
	ck_assert_int_eq(h, H);
	if (grey)
		ck_assert_int_eq(ss, TJSAMP_GRAY);
	else if (fourcc == V4L2_PIX_FMT_YUYV || fourcc == V4L2_PIX_FMT_UYVY)
		ck_assert_int_eq(ss, TJSAMP_422);
	else
		ck_assert_int_eq(ss, TJSAMP_420);
	rgb = malloc(W * H * 3);
	ck_assert_int_eq(tjDecompress2(tj, out, jlen, rgb, W, 0, H,
	    grey ? TJPF_GRAY : TJPF_RGB, 0), 0);
	for (y = 0; y < H; y++)
		for (x = 0; x < W; x++) {
			uint8_t want[3];
			if (grey) {
				want[0] = px_y(x, y);
				c = abs((int)rgb[y * W + x] - want[0]);
				err += c;
				worst = c > worst ? c : worst;
				continue;
			}
			px_rgb(x, y, want);
			for (c = 0; c < 3; c++) {
				int d = abs((int)rgb[(y * W + x) * 3 + c] -
				    want[c]);
				err += d;
				worst = d > worst ? d : worst;
			}
		}
	err /= (double)W * H * (grey ? 1 : 3);
	ck_assert_msg(err < 3.0, "%c%c%c%c: mean error %.2f",
	    fourcc & 0xff, (fourcc >> 8) & 0xff, (fourcc >> 16) & 0xff,
	    fourcc >> 24, err);
	ck_assert_msg(worst < 40, "worst error %d", worst);
	tjDestroy(tj);
	free(rgb);

	/* Shorter than the geometry (the last row's padding may be
	 * missing, one byte more may not): refused, nothing read past. */
	f.length = len - PAD - 1;
	ck_assert_int_eq(encoder_encode(&e, &f, out, cap, &jlen), -EINVAL);
	f.length = len;
	/* bytesperline smaller than a row is not a geometry. */
	f.bytesperline = 2;
	ck_assert_int_eq(encoder_encode(&e, &f, out, cap, &jlen), -EINVAL);
	f.bytesperline = bpl;
	/* An output buffer below the bound is refused, not overrun. */
	ck_assert_int_eq(encoder_encode(&e, &f, out, cap - 1, &jlen),
	    -ENOBUFS);
	encoder_free(&e);
	free(out);
	free(frame);
}
END_TEST

/*
 * Packed 4:2:2 goes through libjpeg in strips (the default) or through
 * TurboJPEG from whole planes (en_packed_planes): the same library with
 * the same settings and padding must give the same JPEG, byte for byte,
 * for sizes that are whole blocks and sizes that are not (padded width,
 * chroma width, last strip), padded rows, both byte orders, both DCTs.
 */
static const struct {
	uint32_t w, h;
	int	 quality;
} packed_cases[] = {
	{ 1280, 720, 80 }, { 640, 480, 97 }, { 168, 96, 90 },
	{ 642, 482, 80 }, { 18, 13, 75 }, { 2, 1, 80 },
};

START_TEST(test_packed_strips_equal_turbojpeg_planes)
{
	const uint32_t w = packed_cases[_i].w, h = packed_cases[_i].h;
	const uint32_t bpl = w * 2 + 6;
	uint32_t x, y, seed = 12345;
	struct source_frame f;
	struct encoder strips, planes;
	uint8_t *frame, *a, *b;
	size_t cap, alen, blen;
	int uyvy;

	frame = malloc((size_t)bpl * h);
	ck_assert_ptr_nonnull(frame);
	/* Smooth areas and noise: every kind of block the coder meets. */
	for (y = 0; y < h; y++)
		for (x = 0; x < bpl; x++) {
			seed = seed * 1103515245u + 12345u;
			frame[(size_t)y * bpl + x] = (uint8_t)(x < w ?
			    (x + y) * 3 : seed >> 24);
		}
	cap = encoder_max_size(w, h);
	a = malloc(cap);
	b = malloc(cap);
	ck_assert_int_eq(encoder_init(&strips, packed_cases[_i].quality), 0);
	ck_assert_int_eq(encoder_init(&planes, packed_cases[_i].quality), 0);
	planes.en_packed_planes = 1;
	for (uyvy = 0; uyvy < 2; uyvy++) {
		memset(&f, 0, sizeof(f));
		f.fourcc = uyvy ? V4L2_PIX_FMT_UYVY : V4L2_PIX_FMT_YUYV;
		f.width = w;
		f.height = h;
		f.bytesperline = bpl;
		f.data = frame;
		f.length = (size_t)bpl * h;
		/* Twice: the compressor is reused from frame to frame. */
		for (int round = 0; round < 2; round++) {
			ck_assert_int_eq(encoder_encode(&strips, &f, a, cap,
			    &alen), 0);
			ck_assert_int_eq(encoder_encode(&planes, &f, b, cap,
			    &blen), 0);
			ck_assert_msg(alen == blen && memcmp(a, b, alen) == 0,
			    "%ux%u q%d %s: strips %zu bytes, planes %zu",
			    w, h, packed_cases[_i].quality,
			    uyvy ? "UYVY" : "YUYV", alen, blen);
		}
	}
	encoder_free(&strips);
	encoder_free(&planes);
	free(a);
	free(b);
	free(frame);
}
END_TEST

START_TEST(test_unknown_format_is_refused)
{
	struct source_frame f;
	struct encoder e;
	uint8_t buf[64], out[64];
	size_t len;

	memset(&f, 0, sizeof(f));
	f.fourcc = V4L2_PIX_FMT_H264;
	f.width = 16;
	f.height = 16;
	f.data = buf;
	f.length = sizeof(buf);
	ck_assert(!encoder_supports(f.fourcc));
	ck_assert_int_eq(encoder_init(&e, 80), 0);
	ck_assert_int_eq(encoder_encode(&e, &f, out, sizeof(out), &len),
	    -ENOTSUP);
	f.fourcc = V4L2_PIX_FMT_YUYV;
	f.width = 15;		/* odd: no whole pixel pairs */
	ck_assert_int_eq(encoder_encode(&e, &f, out, sizeof(out), &len),
	    -EINVAL);
	encoder_free(&e);
}
END_TEST

static Suite *
encode_suite(void)
{
	Suite *s = suite_create("encode");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_formats_encode_to_the_source_picture, 0,
	    sizeof(fourccs) / sizeof(fourccs[0]));
	tcase_add_loop_test(tc, test_packed_strips_equal_turbojpeg_planes, 0,
	    sizeof(packed_cases) / sizeof(packed_cases[0]));
	tcase_add_test(tc, test_unknown_format_is_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(encode_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
