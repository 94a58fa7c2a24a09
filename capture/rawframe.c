/*
 * rawframe.c - the raw pixel formats and their memory layouts (see
 * rawframe.h).
 *
 * The layouts are V4L2's (Documentation/userspace-api/media/v4l/
 * pixfmt-yuv-planar.rst, pixfmt-packed-yuv.rst, pixfmt-rgb.rst): in a
 * single buffer the planes follow one another without a gap, the first
 * plane's rows bytesperline apart; semi-planar chroma rows have the same
 * bytesperline as luma (two samples per chroma column), planar chroma
 * rows half of it.  The multi-planar-only formats put each plane in a
 * buffer of its own with its own bytesperline.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <linux/videodev2.h>

#include "rawframe.h"

/*
 * The formats, in the order --help lists them.  Columns: fourcc, name,
 * layout, hsub, vsub, bytes per pixel, buffers, Cr first, packed Y
 * offset, RGB red offset, --format auto's rank.
 */
static const struct rawformat rawformats[] = {
	{ V4L2_PIX_FMT_YUYV,    "YUYV",    RAWFRAME_PACKED,     2, 1, 2, 1, 0, 0, 0, 30 },
	{ V4L2_PIX_FMT_UYVY,    "UYVY",    RAWFRAME_PACKED,     2, 1, 2, 1, 0, 1, 0, 31 },
	{ V4L2_PIX_FMT_NV12,    "NV12",    RAWFRAME_SEMIPLANAR, 2, 2, 1, 1, 0, 0, 0, 20 },
	{ V4L2_PIX_FMT_NV21,    "NV21",    RAWFRAME_SEMIPLANAR, 2, 2, 1, 1, 1, 0, 0, 21 },
	{ V4L2_PIX_FMT_NV16,    "NV16",    RAWFRAME_SEMIPLANAR, 2, 1, 1, 1, 0, 0, 0, 40 },
	{ V4L2_PIX_FMT_NV61,    "NV61",    RAWFRAME_SEMIPLANAR, 2, 1, 1, 1, 1, 0, 0, 41 },
	{ V4L2_PIX_FMT_YUV420,  "YUV420",  RAWFRAME_PLANAR,     2, 2, 1, 1, 0, 0, 0, 10 },
	{ V4L2_PIX_FMT_YVU420,  "YVU420",  RAWFRAME_PLANAR,     2, 2, 1, 1, 1, 0, 0, 11 },
	{ V4L2_PIX_FMT_NV12M,   "NV12M",   RAWFRAME_SEMIPLANAR, 2, 2, 1, 2, 0, 0, 0, 22 },
	{ V4L2_PIX_FMT_NV21M,   "NV21M",   RAWFRAME_SEMIPLANAR, 2, 2, 1, 2, 1, 0, 0, 23 },
	{ V4L2_PIX_FMT_NV16M,   "NV16M",   RAWFRAME_SEMIPLANAR, 2, 1, 1, 2, 0, 0, 0, 42 },
	{ V4L2_PIX_FMT_NV61M,   "NV61M",   RAWFRAME_SEMIPLANAR, 2, 1, 1, 2, 1, 0, 0, 43 },
	{ V4L2_PIX_FMT_YUV420M, "YUV420M", RAWFRAME_PLANAR,     2, 2, 1, 3, 0, 0, 0, 12 },
	{ V4L2_PIX_FMT_YVU420M, "YVU420M", RAWFRAME_PLANAR,     2, 2, 1, 3, 1, 0, 0, 13 },
	{ V4L2_PIX_FMT_RGB24,   "RGB24",   RAWFRAME_RGB,        1, 1, 3, 1, 0, 0, 0, 50 },
	{ V4L2_PIX_FMT_BGR24,   "BGR24",   RAWFRAME_RGB,        1, 1, 3, 1, 0, 0, 2, 51 },
	/* 'XR24': B, G, R and an unused byte (DRM's XRGB8888). */
	{ V4L2_PIX_FMT_XBGR32,  "XBGR32",  RAWFRAME_RGB,        1, 1, 4, 1, 0, 0, 2, 52 },
	{ V4L2_PIX_FMT_GREY,    "GREY",    RAWFRAME_GREY,       1, 1, 1, 1, 0, 0, 0, 60 },
};

#define NFORMATS	(sizeof(rawformats) / sizeof(rawformats[0]))

const struct rawformat *
rawformat_find(uint32_t fourcc)
{
	for (size_t i = 0; i < NFORMATS; i++)
		if (rawformats[i].rf_fourcc == fourcc)
			return &rawformats[i];
	return NULL;
}

const struct rawformat *
rawformat_parse(const char *name)
{
	const struct rawformat *f;
	char up[4];

	for (size_t i = 0; i < NFORMATS; i++)
		if (strcasecmp(name, rawformats[i].rf_name) == 0)
			return &rawformats[i];
	/* The device's spelling, as --list prints it ("NM12"): exactly,
	 * else in capitals, which every fourcc of the table is written in. */
	if (strlen(name) != 4)
		return NULL;
	if ((f = rawformat_find(v4l2_fourcc(name[0], name[1], name[2],
	    name[3]))) != NULL)
		return f;
	for (int i = 0; i < 4; i++)
		up[i] = (char)toupper((unsigned char)name[i]);
	return rawformat_find(v4l2_fourcc(up[0], up[1], up[2], up[3]));
}

const struct rawformat *
rawformat_at(size_t i)
{
	return i < NFORMATS ? &rawformats[i] : NULL;
}

unsigned
rawformat_planes(const struct rawformat *f)
{
	switch (f->rf_layout) {
	case RAWFRAME_PLANAR:
		return 3;
	case RAWFRAME_SEMIPLANAR:
		return 2;
	default:
		return 1;
	}
}

static uint32_t
div_up(uint32_t a, uint32_t b)
{
	return (a + b - 1) / b;
}

size_t
rawformat_row_bytes(const struct rawformat *f, unsigned plane, uint32_t w)
{
	if (plane == 0)
		return (size_t)w * f->rf_bpp;
	/* Semi-planar: a Cb and a Cr byte per chroma column. */
	return (size_t)div_up(w, f->rf_hsub) *
	    (f->rf_layout == RAWFRAME_SEMIPLANAR ? 2 : 1);
}

uint32_t
rawformat_rows(const struct rawformat *f, unsigned plane, uint32_t h)
{
	return plane == 0 ? h : div_up(h, f->rf_vsub);
}

int
rawformat_same_samples(const struct rawformat *a, const struct rawformat *b)
{
	return a->rf_layout == b->rf_layout && a->rf_hsub == b->rf_hsub &&
	    a->rf_vsub == b->rf_vsub && a->rf_bpp == b->rf_bpp &&
	    a->rf_crcb == b->rf_crcb && a->rf_yoff == b->rf_yoff &&
	    a->rf_roff == b->rf_roff;
}

/* Do `rows` rows of `row` bytes, `stride` apart, fit in `len`? */
static int
plane_fits(size_t len, size_t stride, size_t row, size_t rows)
{
	if (rows == 0 || row == 0 || stride < row || row > len)
		return 0;
	/* stride * (rows - 1) + row <= len, without the product. */
	return rows == 1 || stride <= (len - row) / (rows - 1);
}

int
rawframe_check(const struct rawframe *rf)
{
	const struct rawformat *f = rf->rw_fmt;

	if (f == NULL || rf->rw_width == 0 || rf->rw_height == 0 ||
	    rf->rw_width > RAWFRAME_DIM_MAX ||
	    rf->rw_height > RAWFRAME_DIM_MAX ||
	    rf->rw_nplanes != rawformat_planes(f))
		return -EINVAL;
	/*
	 * Whole chroma samples only: V4L2's subsampled formats have even
	 * sizes, and TurboJPEG reads their planes padded to the
	 * subsampling (tjPlaneHeight(0, 17, TJSAMP_420) is 18 rows), which
	 * a frame of odd size does not have.
	 */
	if (rf->rw_width % f->rf_hsub != 0 || rf->rw_height % f->rf_vsub != 0)
		return -EINVAL;
	for (unsigned i = 0; i < rf->rw_nplanes; i++) {
		const struct rawplane *p = &rf->rw_plane[i];

		if (p->rp_data == NULL || p->rp_stride > (1u << 20) ||
		    !plane_fits(p->rp_length, p->rp_stride,
		    rawformat_row_bytes(f, i, rf->rw_width),
		    rawformat_rows(f, i, rf->rw_height)))
			return -EINVAL;
	}
	return 0;
}

/* Sample plane s lives in memory plane: Cr and Cb swapped if Cr first. */
static unsigned
memory_plane(const struct rawformat *f, unsigned s)
{
	if (f->rf_layout == RAWFRAME_PLANAR && f->rf_crcb && s > 0)
		return 3 - s;
	return s;
}

int
rawframe_describe(struct rawframe *rf, const struct rawformat *f,
    uint32_t w, uint32_t h, unsigned nbuf, uint8_t *const data[],
    const size_t len[], const uint32_t stride[])
{
	unsigned np, i, m;
	size_t off = 0, plen;
	uint32_t s0;

	memset(rf, 0, sizeof(*rf));
	if (f == NULL || data == NULL || w == 0 || h == 0 ||
	    w > RAWFRAME_DIM_MAX || h > RAWFRAME_DIM_MAX)
		return -EINVAL;
	np = rawformat_planes(f);
	rf->rw_fmt = f;
	rf->rw_width = w;
	rf->rw_height = h;
	rf->rw_nplanes = np;
	if (nbuf == 1 && f->rf_buffers == 1) {
		/* One buffer: the planes in memory order, back to back. */
		s0 = stride[0] != 0 ? stride[0] :
		    (uint32_t)rawformat_row_bytes(f, 0, w);
		for (m = 0; m < np; m++) {
			struct rawplane *p;
			uint32_t st = m == 0 ? s0 :
			    f->rf_layout == RAWFRAME_SEMIPLANAR ? s0 :
			    s0 / f->rf_hsub;

			/* The sample plane stored m-th in memory. */
			i = memory_plane(f, m);
			p = &rf->rw_plane[i];
			if (off > len[0])
				return -EINVAL;
			p->rp_data = data[0] + off;
			p->rp_stride = st;
			p->rp_length = len[0] - off;
			plen = (size_t)st * rawformat_rows(f, i, h);
			if (plen / rawformat_rows(f, i, h) != st)
				return -EINVAL;
			off += plen;
		}
	} else if (nbuf == f->rf_buffers && nbuf == np) {
		for (m = 0; m < np; m++) {
			struct rawplane *p = &rf->rw_plane[memory_plane(f, m)];

			p->rp_data = data[m];
			p->rp_stride = stride[m] != 0 ? stride[m] :
			    (uint32_t)rawformat_row_bytes(f,
			    memory_plane(f, m), w);
			p->rp_length = len[m];
		}
	} else
		return -EINVAL;
	return rawframe_check(rf);
}

int
rawframe_copy(const struct rawframe *dst, const struct rawframe *src)
{
	const struct rawformat *f = src->rw_fmt;

	if (rawframe_check(dst) != 0 || rawframe_check(src) != 0 ||
	    dst->rw_width != src->rw_width ||
	    dst->rw_height != src->rw_height ||
	    !rawformat_same_samples(dst->rw_fmt, f))
		return -EINVAL;
	for (unsigned i = 0; i < src->rw_nplanes; i++) {
		const struct rawplane *s = &src->rw_plane[i];
		const struct rawplane *d = &dst->rw_plane[i];
		size_t row = rawformat_row_bytes(f, i, src->rw_width);
		uint32_t rows = rawformat_rows(f, i, src->rw_height);

		if (s->rp_stride == d->rp_stride && s->rp_stride == row)
			memcpy(d->rp_data, s->rp_data, row * rows);
		else
			for (uint32_t r = 0; r < rows; r++)
				memcpy(d->rp_data + (size_t)r * d->rp_stride,
				    s->rp_data + (size_t)r * s->rp_stride,
				    row);
	}
	return 0;
}
