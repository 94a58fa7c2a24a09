/*
 * check_encode.c - raw frames (capture/rawframe.h) to JPEG
 * (capture/encode.h): every format of the table, in one buffer or one
 * per plane, encodes with padded rows to a JPEG of the right size whose
 * decoded pixels match the source within JPEG error; packed 4:2:2
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

/*
 * A source frame in the layout V4L2 documents for its format, written
 * here sample by sample without rawframe.c (whose description of the
 * same memory is under test): in one exact-size allocation with padded
 * rows, or for the multi-planar-only formats in one allocation per
 * plane, each with a padding of its own.
 */
struct testframe {
	uint8_t		*buf[3];
	size_t		 len[3];
	uint32_t	 stride[3];
	unsigned	 nbuf;
};

#define CPAD	48		/* chroma padding, separate planes */

static void
tf_alloc(struct testframe *t, unsigned n, const size_t *len,
    const uint32_t *stride)
{
	memset(t, 0, sizeof(*t));
	t->nbuf = n;
	for (unsigned i = 0; i < n; i++) {
		t->buf[i] = malloc(len[i]);
		ck_assert_ptr_nonnull(t->buf[i]);
		memset(t->buf[i], 0x55, len[i]);
		t->len[i] = len[i];
		t->stride[i] = stride[i];
	}
}

static void
tf_free(struct testframe *t)
{
	for (unsigned i = 0; i < t->nbuf; i++)
		free(t->buf[i]);
}

static void
make_frame(uint32_t fourcc, struct testframe *t)
{
	const size_t lbpl = W + PAD, cw = W / 2;
	uint32_t st[3];
	size_t len[3];
	int x, y;

	switch (fourcc) {
	case V4L2_PIX_FMT_YUYV:
	case V4L2_PIX_FMT_UYVY:
		st[0] = W * 2 + PAD;
		len[0] = (size_t)st[0] * H;
		tf_alloc(t, 1, len, st);
		break;
	case V4L2_PIX_FMT_NV12:
	case V4L2_PIX_FMT_NV21:
		st[0] = (uint32_t)lbpl;
		len[0] = lbpl * H + lbpl * (H / 2);
		tf_alloc(t, 1, len, st);
		break;
	case V4L2_PIX_FMT_NV16:
	case V4L2_PIX_FMT_NV61:
		st[0] = (uint32_t)lbpl;
		len[0] = lbpl * H * 2;
		tf_alloc(t, 1, len, st);
		break;
	case V4L2_PIX_FMT_YUV420:
	case V4L2_PIX_FMT_YVU420:
		st[0] = (uint32_t)lbpl;
		len[0] = lbpl * H + 2 * (lbpl / 2) * (H / 2);
		tf_alloc(t, 1, len, st);
		break;
	case V4L2_PIX_FMT_NV12M:
	case V4L2_PIX_FMT_NV21M:
	case V4L2_PIX_FMT_NV16M:
	case V4L2_PIX_FMT_NV61M:
		st[0] = (uint32_t)lbpl;
		st[1] = W + CPAD;
		len[0] = lbpl * H;
		len[1] = (size_t)st[1] * (fourcc == V4L2_PIX_FMT_NV16M ||
		    fourcc == V4L2_PIX_FMT_NV61M ? H : H / 2);
		tf_alloc(t, 2, len, st);
		break;
	case V4L2_PIX_FMT_YUV420M:
	case V4L2_PIX_FMT_YVU420M:
		st[0] = (uint32_t)lbpl;
		st[1] = st[2] = (uint32_t)cw + CPAD;
		len[0] = lbpl * H;
		len[1] = len[2] = (size_t)st[1] * (H / 2);
		tf_alloc(t, 3, len, st);
		break;
	case V4L2_PIX_FMT_GREY:
		st[0] = (uint32_t)lbpl;
		len[0] = lbpl * H;
		tf_alloc(t, 1, len, st);
		break;
	case V4L2_PIX_FMT_XBGR32:
		st[0] = W * 4 + PAD;
		len[0] = (size_t)st[0] * H;
		tf_alloc(t, 1, len, st);
		break;
	default:		/* RGB24, BGR24 */
		st[0] = W * 3 + PAD;
		len[0] = (size_t)st[0] * H;
		tf_alloc(t, 1, len, st);
		break;
	}
	for (y = 0; y < H; y++) {
		uint8_t *row = t->buf[0] + (size_t)y * t->stride[0];
		/* Chroma rows: halved for 4:2:0, all of them for 4:2:2. */
		int c420 = !(y & 1), cy420 = y / 2;
		uint8_t *c0 = t->buf[0] + lbpl * H;	/* one buffer */
		uint8_t *cm = t->nbuf > 1 ? t->buf[1] : NULL;

		for (x = 0; x < W; x++) {
			/* 4:2:2 chroma at the pair's left sample, 4:2:0 at
			 * the top left one: close enough for JPEG error. */
			uint8_t Y = px_y(x, y), cb = px_cb(x & ~1, y & ~1),
			    cr = px_cr(x & ~1, y & ~1), rgb[3];
			int even = !(x & 1);

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
			case V4L2_PIX_FMT_NV21:
				row[x] = Y;
				if (c420 && even) {
					uint8_t *uv = c0 + cy420 * lbpl + x;
					int swap = fourcc == V4L2_PIX_FMT_NV21;
					uv[swap] = cb;
					uv[!swap] = cr;
				}
				break;
			case V4L2_PIX_FMT_NV16:
			case V4L2_PIX_FMT_NV61:
				row[x] = Y;
				if (even) {
					uint8_t *uv = c0 + y * lbpl + x;
					int swap = fourcc == V4L2_PIX_FMT_NV61;
					uv[swap] = px_cb(x, y);
					uv[!swap] = px_cr(x, y);
				}
				break;
			case V4L2_PIX_FMT_NV12M:
			case V4L2_PIX_FMT_NV21M:
				row[x] = Y;
				if (c420 && even) {
					uint8_t *uv = cm + cy420 * t->stride[1] +
					    x;
					int swap = fourcc == V4L2_PIX_FMT_NV21M;
					uv[swap] = cb;
					uv[!swap] = cr;
				}
				break;
			case V4L2_PIX_FMT_NV16M:
			case V4L2_PIX_FMT_NV61M:
				row[x] = Y;
				if (even) {
					uint8_t *uv = cm + y * t->stride[1] + x;
					int swap = fourcc == V4L2_PIX_FMT_NV61M;
					uv[swap] = px_cb(x, y);
					uv[!swap] = px_cr(x, y);
				}
				break;
			case V4L2_PIX_FMT_YUV420:
			case V4L2_PIX_FMT_YVU420:
				row[x] = Y;
				if (c420 && even) {
					size_t cs = lbpl / 2, q = cs * (H / 2);
					uint8_t *first = c0 + cy420 * cs + x / 2;
					int swap = fourcc == V4L2_PIX_FMT_YVU420;
					first[swap ? q : 0] = cb;
					first[swap ? 0 : q] = cr;
				}
				break;
			case V4L2_PIX_FMT_YUV420M:
			case V4L2_PIX_FMT_YVU420M:
				row[x] = Y;
				if (c420 && even) {
					int swap = fourcc == V4L2_PIX_FMT_YVU420M;
					size_t o = cy420 * t->stride[1] + x / 2;
					t->buf[swap ? 2 : 1][o] = cb;
					t->buf[swap ? 1 : 2][o] = cr;
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
			case V4L2_PIX_FMT_XBGR32:
				px_rgb(x, y, rgb);
				row[4 * x] = rgb[2];
				row[4 * x + 1] = rgb[1];
				row[4 * x + 2] = rgb[0];
				break;
			}
		}
	}
}

static const uint32_t fourccs[] = {
	V4L2_PIX_FMT_YUYV, V4L2_PIX_FMT_UYVY, V4L2_PIX_FMT_NV12,
	V4L2_PIX_FMT_NV21, V4L2_PIX_FMT_NV16, V4L2_PIX_FMT_NV61,
	V4L2_PIX_FMT_YUV420, V4L2_PIX_FMT_YVU420, V4L2_PIX_FMT_NV12M,
	V4L2_PIX_FMT_NV21M, V4L2_PIX_FMT_NV16M, V4L2_PIX_FMT_NV61M,
	V4L2_PIX_FMT_YUV420M, V4L2_PIX_FMT_YVU420M, V4L2_PIX_FMT_GREY,
	V4L2_PIX_FMT_RGB24, V4L2_PIX_FMT_BGR24, V4L2_PIX_FMT_XBGR32,
};

static int
describe(struct rawframe *rf, uint32_t fourcc, const struct testframe *t)
{
	return rawframe_describe(rf, rawformat_find(fourcc), W, H, t->nbuf,
	    t->buf, t->len, t->stride);
}

START_TEST(test_formats_encode_to_the_source_picture)
{
	uint32_t fourcc = fourccs[_i];
	const struct rawformat *fmt = rawformat_find(fourcc);
	struct testframe t;
	struct rawframe f;
	struct encoder e;
	uint8_t *out, *rgb;
	size_t cap, jlen, full;
	tjhandle tj;
	int w, h, ss, cs, x, y, c, grey = fourcc == V4L2_PIX_FMT_GREY;
	double err = 0;
	int worst = 0;

	ck_assert(encoder_supports(fourcc));
	ck_assert_ptr_nonnull(fmt);
	make_frame(fourcc, &t);
	ck_assert_int_eq(describe(&f, fourcc, &t), 0);
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
	else if (fmt->rf_layout != RAWFRAME_RGB && fmt->rf_vsub == 1)
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
	ck_assert_msg(err < 3.0, "%s: mean error %.2f", fmt->rf_name, err);
	ck_assert_msg(worst < 40, "%s: worst error %d", fmt->rf_name, worst);
	tjDestroy(tj);
	free(rgb);

	/* Shorter than the geometry (the last row's padding may be
	 * missing, one byte more may not): refused, nothing read past. */
	for (unsigned b = 0; b < t.nbuf; b++) {
		/* The padding of the buffer's last row: planar chroma rows
		 * are half the luma stride, so half the padding. */
		uint32_t pad = b > 0 ? CPAD : fmt->rf_layout ==
		    RAWFRAME_PLANAR && t.nbuf == 1 ? PAD / 2 : PAD;

		full = t.len[b];
		t.len[b] = full - pad;
		ck_assert_msg(describe(&f, fourcc, &t) == 0, "%s buffer %u",
		    fmt->rf_name, b);
		t.len[b] = full - pad - 1;
		ck_assert_int_eq(describe(&f, fourcc, &t), -EINVAL);
		/* A frame described elsewhere is checked by the encoder. */
		ck_assert_int_eq(encoder_encode(&e, &f, out, cap, &jlen),
		    -EINVAL);
		t.len[b] = full;
	}
	/* A stride smaller than a row is not a geometry. */
	t.stride[0] = 2;
	ck_assert_int_eq(describe(&f, fourcc, &t), -EINVAL);
	t.stride[0] = (uint32_t)(rawformat_row_bytes(fmt, 0, W) + PAD);
	/* An output buffer below the bound is refused, not overrun. */
	ck_assert_int_eq(describe(&f, fourcc, &t), 0);
	ck_assert_int_eq(encoder_encode(&e, &f, out, cap - 1, &jlen),
	    -ENOBUFS);
	encoder_free(&e);
	free(out);
	tf_free(&t);
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
	struct rawframe f;
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
		size_t flen = (size_t)bpl * h;

		ck_assert_int_eq(rawframe_describe(&f, rawformat_find(uyvy ?
		    V4L2_PIX_FMT_UYVY : V4L2_PIX_FMT_YUYV), w, h, 1, &frame,
		    &flen, &bpl), 0);
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
	uint8_t buf[64], out[64], *p = buf;
	size_t len = sizeof(buf);
	uint32_t stride = 0;
	struct rawframe f;
	struct encoder e;

	ck_assert(!encoder_supports(V4L2_PIX_FMT_H264));
	ck_assert_ptr_null(rawformat_find(V4L2_PIX_FMT_H264));
	memset(&f, 0, sizeof(f));
	ck_assert_int_eq(encoder_init(&e, 80), 0);
	ck_assert_int_eq(encoder_encode(&e, &f, out, sizeof(out), &len),
	    -ENOTSUP);
	/* Odd: no whole pixel pairs. */
	ck_assert_int_eq(rawframe_describe(&f,
	    rawformat_find(V4L2_PIX_FMT_YUYV), 15, 2, 1, &p, &len, &stride),
	    -EINVAL);
	/* Separate buffers for a one-buffer format, and the reverse. */
	ck_assert_int_eq(rawframe_describe(&f,
	    rawformat_find(V4L2_PIX_FMT_NV12), 4, 4, 2, &p, &len, &stride),
	    -EINVAL);
	ck_assert_int_eq(rawframe_describe(&f,
	    rawformat_find(V4L2_PIX_FMT_NV12M), 4, 4, 1, &p, &len, &stride),
	    -EINVAL);
	encoder_free(&e);
}
END_TEST

/* Names and fourccs both ways; the table's layouts agree with V4L2's. */
START_TEST(test_format_table)
{
	const struct rawformat *f;

	ck_assert_uint_eq(rawformat_parse("nv12m")->rf_fourcc,
	    V4L2_PIX_FMT_NV12M);
	ck_assert_uint_eq(rawformat_parse("NM12")->rf_fourcc,
	    V4L2_PIX_FMT_NV12M);
	ck_assert_uint_eq(rawformat_parse("yu12")->rf_fourcc,
	    V4L2_PIX_FMT_YUV420);
	ck_assert_uint_eq(rawformat_parse("XR24")->rf_fourcc,
	    V4L2_PIX_FMT_XBGR32);
	ck_assert_ptr_null(rawformat_parse("MJPG"));
	ck_assert_ptr_null(rawformat_parse("NV1"));
	for (size_t i = 0; (f = rawformat_at(i)) != NULL; i++) {
		ck_assert_ptr_eq(rawformat_find(f->rf_fourcc), f);
		ck_assert_ptr_eq(rawformat_parse(f->rf_name), f);
		ck_assert(f->rf_buffers == 1 ||
		    f->rf_buffers == rawformat_planes(f));
	}
	ck_assert(rawformat_same_samples(rawformat_find(V4L2_PIX_FMT_NV12),
	    rawformat_find(V4L2_PIX_FMT_NV12M)));
	ck_assert(!rawformat_same_samples(rawformat_find(V4L2_PIX_FMT_NV12),
	    rawformat_find(V4L2_PIX_FMT_NV21)));
}
END_TEST

/*
 * rawframe_copy(): one layout into another with other strides and
 * buffers, samples unchanged (NV12 in one buffer into NV12M).
 */
START_TEST(test_copy_between_layouts)
{
	struct testframe a, b;
	struct rawframe fa, fb;
	const struct rawformat *nv12 = rawformat_find(V4L2_PIX_FMT_NV12);

	make_frame(V4L2_PIX_FMT_NV12, &a);
	make_frame(V4L2_PIX_FMT_NV12M, &b);
	memset(b.buf[0], 0, b.len[0]);
	memset(b.buf[1], 0, b.len[1]);
	ck_assert_int_eq(describe(&fa, V4L2_PIX_FMT_NV12, &a), 0);
	ck_assert_int_eq(describe(&fb, V4L2_PIX_FMT_NV12M, &b), 0);
	ck_assert_int_eq(rawframe_copy(&fb, &fa), 0);
	for (unsigned i = 0; i < 2; i++)
		for (uint32_t r = 0; r < rawformat_rows(nv12, i, H); r++)
			ck_assert_mem_eq(fb.rw_plane[i].rp_data +
			    r * fb.rw_plane[i].rp_stride,
			    fa.rw_plane[i].rp_data + r * fa.rw_plane[i].rp_stride,
			    rawformat_row_bytes(nv12, i, W));
	/* Different samples: refused. */
	ck_assert_int_eq(describe(&fb, V4L2_PIX_FMT_NV12M, &b), 0);
	fb.rw_fmt = rawformat_find(V4L2_PIX_FMT_NV21M);
	ck_assert_int_eq(rawframe_copy(&fb, &fa), -EINVAL);
	tf_free(&a);
	tf_free(&b);
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
	tcase_add_test(tc, test_format_table);
	tcase_add_test(tc, test_copy_between_layouts);
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
