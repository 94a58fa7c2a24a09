/*
 * encode.c - raw frames to JPEG (see encode.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/videodev2.h>
#include <turbojpeg.h>

#include "encode.h"

int
encoder_init(struct encoder *e, int quality)
{
	memset(e, 0, sizeof(*e));
	return jpeg_encoder_init(&e->en_jpeg, quality);
}

void
encoder_free(struct encoder *e)
{
	jpeg_encoder_free(&e->en_jpeg);
	free(e->en_planes);
	memset(e, 0, sizeof(*e));
}

int
encoder_supports(uint32_t fourcc)
{
	switch (fourcc) {
	case V4L2_PIX_FMT_YUV420:
	case V4L2_PIX_FMT_YUYV:
	case V4L2_PIX_FMT_UYVY:
	case V4L2_PIX_FMT_NV12:
	case V4L2_PIX_FMT_GREY:
	case V4L2_PIX_FMT_RGB24:
	case V4L2_PIX_FMT_BGR24:
		return 1;
	default:
		return 0;
	}
}

size_t
encoder_max_size(uint32_t width, uint32_t height)
{
	return jpeg_max_size(width, height);
}

static uint8_t *
encoder_scratch(struct encoder *e, size_t size)
{
	uint8_t *p;

	if (e->en_planes_size >= size)
		return e->en_planes;
	p = realloc(e->en_planes, size);
	if (p == NULL)
		return NULL;
	e->en_planes = p;
	e->en_planes_size = size;
	return p;
}

/*
 * Bytes per line, and a check that `rows` rows of `row` bytes each,
 * `bpl` apart, lie within the frame.
 */
static int
frame_fits(const struct source_frame *f, size_t offset, size_t bpl,
    size_t row, size_t rows)
{
	size_t need;

	if (rows == 0 || row > bpl)
		return 0;
	need = offset + bpl * (rows - 1) + row;
	return need >= offset && need <= f->length;
}

static int
encode_planes(struct encoder *e, const uint8_t *planes[3], int strides[3],
    const struct source_frame *f, int subsamp, uint8_t *out, size_t cap,
    size_t *len)
{
	unsigned char *dst = out;
	unsigned long size = cap;

	if (cap < encoder_max_size(f->width, f->height))
		return -ENOBUFS;
	if (tjCompressFromYUVPlanes(e->en_jpeg.je_tj, planes, (int)f->width,
	    strides, (int)f->height, subsamp, &dst, &size,
	    e->en_jpeg.je_quality, TJFLAG_NOREALLOC | TJFLAG_FASTDCT) != 0)
		return -EIO;
	*len = size;
	return 0;
}

/*
 * YUYV (Y0 U Y1 V) or UYVY (U Y0 V Y1) to planar 4:2:2.  Eight bytes, two
 * pixel pairs, per step as one little-endian word: plain shifts that the
 * compiler keeps in registers.
 */
static void
split_422(const uint8_t *src, size_t bpl, uint32_t w, uint32_t h,
    int uyvy, uint8_t *y, uint8_t *u, uint8_t *v)
{
	const unsigned ys = uyvy ? 8 : 0, us = uyvy ? 0 : 8;
	const unsigned vs = uyvy ? 16 : 24;
	uint32_t row, x, cw = w / 2;

	for (row = 0; row < h; row++) {
		const uint8_t *s = src + row * bpl;
		uint8_t *yr = y + (size_t)row * w;
		uint8_t *ur = u + (size_t)row * cw;
		uint8_t *vr = v + (size_t)row * cw;

		for (x = 0; x + 2 <= cw; x += 2, s += 8) {
			uint64_t q;

			memcpy(&q, s, 8);
			yr[2 * x] = (uint8_t)(q >> ys);
			yr[2 * x + 1] = (uint8_t)(q >> (ys + 16));
			yr[2 * x + 2] = (uint8_t)(q >> (ys + 32));
			yr[2 * x + 3] = (uint8_t)(q >> (ys + 48));
			ur[x] = (uint8_t)(q >> us);
			ur[x + 1] = (uint8_t)(q >> (us + 32));
			vr[x] = (uint8_t)(q >> vs);
			vr[x + 1] = (uint8_t)(q >> (vs + 32));
		}
		if (x < cw) {
			yr[2 * x] = s[ys / 8];
			yr[2 * x + 1] = s[ys / 8 + 2];
			ur[x] = s[us / 8];
			vr[x] = s[vs / 8];
		}
	}
}

static int
encode_packed_422(struct encoder *e, const struct source_frame *f, int uyvy,
    uint8_t *out, size_t cap, size_t *len)
{
	const uint32_t w = f->width, h = f->height, cw = w / 2;
	size_t bpl = f->bytesperline ? f->bytesperline : (size_t)w * 2;
	const uint8_t *planes[3];
	int strides[3];
	uint8_t *p;

	if (w & 1 || !frame_fits(f, 0, bpl, (size_t)w * 2, h))
		return -EINVAL;
	if ((p = encoder_scratch(e, (size_t)w * h * 2)) == NULL)
		return -ENOMEM;
	split_422(f->data, bpl, w, h, uyvy, p, p + (size_t)w * h,
	    p + (size_t)w * h + (size_t)cw * h);
	planes[0] = p;
	planes[1] = p + (size_t)w * h;
	planes[2] = planes[1] + (size_t)cw * h;
	strides[0] = (int)w;
	strides[1] = strides[2] = (int)cw;
	return encode_planes(e, planes, strides, f, TJSAMP_422, out, cap, len);
}

/* NV12: a Y plane, then one plane of interleaved Cb Cr at half size. */
static int
encode_nv12(struct encoder *e, const struct source_frame *f, uint8_t *out,
    size_t cap, size_t *len)
{
	const uint32_t w = f->width, h = f->height;
	const uint32_t cw = (w + 1) / 2, ch = (h + 1) / 2;
	size_t bpl = f->bytesperline ? f->bytesperline : w;
	const uint8_t *planes[3], *uv;
	int strides[3];
	uint32_t row, x;
	uint8_t *p;

	if (!frame_fits(f, 0, bpl, w, h) ||
	    !frame_fits(f, bpl * h, bpl, (size_t)cw * 2, ch))
		return -EINVAL;
	if ((p = encoder_scratch(e, (size_t)cw * ch * 2)) == NULL)
		return -ENOMEM;
	uv = f->data + bpl * h;
	for (row = 0; row < ch; row++) {
		const uint8_t *s = uv + row * bpl;
		uint8_t *u = p + (size_t)row * cw;
		uint8_t *v = p + (size_t)cw * ch + (size_t)row * cw;
		for (x = 0; x < cw; x++) {
			u[x] = s[2 * x];
			v[x] = s[2 * x + 1];
		}
	}
	planes[0] = f->data;
	planes[1] = p;
	planes[2] = p + (size_t)cw * ch;
	strides[0] = (int)bpl;
	strides[1] = strides[2] = (int)cw;
	return encode_planes(e, planes, strides, f, TJSAMP_420, out, cap, len);
}

/* YU12: Y, then Cb and Cr planes at half size, bytesperline / 2 apart. */
static int
encode_yuv420(struct encoder *e, const struct source_frame *f, uint8_t *out,
    size_t cap, size_t *len)
{
	const uint32_t w = f->width, h = f->height;
	const uint32_t cw = (w + 1) / 2, ch = (h + 1) / 2;
	size_t bpl = f->bytesperline ? f->bytesperline : w;
	size_t cbpl = f->bytesperline ? f->bytesperline / 2 : cw;
	const uint8_t *planes[3];
	int strides[3];

	if (f->image != NULL) {
		if (f->image->width != w || f->image->height != h)
			return -EINVAL;
		for (int i = 0; i < 3; i++) {
			planes[i] = f->image->plane[i];
			strides[i] = (int)f->image->stride[i];
		}
		return encode_planes(e, planes, strides, f, TJSAMP_420, out,
		    cap, len);
	}
	if (!frame_fits(f, 0, bpl, w, h) ||
	    !frame_fits(f, bpl * h, cbpl, cw, ch) ||
	    !frame_fits(f, bpl * h + cbpl * ch, cbpl, cw, ch))
		return -EINVAL;
	planes[0] = f->data;
	planes[1] = f->data + bpl * h;
	planes[2] = planes[1] + cbpl * ch;
	strides[0] = (int)bpl;
	strides[1] = strides[2] = (int)cbpl;
	return encode_planes(e, planes, strides, f, TJSAMP_420, out, cap, len);
}

static int
encode_grey(struct encoder *e, const struct source_frame *f, uint8_t *out,
    size_t cap, size_t *len)
{
	size_t bpl = f->bytesperline ? f->bytesperline : f->width;
	const uint8_t *planes[3] = { f->data, NULL, NULL };
	int strides[3] = { (int)bpl, 0, 0 };

	if (!frame_fits(f, 0, bpl, f->width, f->height))
		return -EINVAL;
	return encode_planes(e, planes, strides, f, TJSAMP_GRAY, out, cap,
	    len);
}

static int
encode_rgb(struct encoder *e, const struct source_frame *f, int pf,
    uint8_t *out, size_t cap, size_t *len)
{
	size_t bpl = f->bytesperline ? f->bytesperline : (size_t)f->width * 3;
	unsigned char *dst = out;
	unsigned long size = cap;

	if (!frame_fits(f, 0, bpl, (size_t)f->width * 3, f->height))
		return -EINVAL;
	if (cap < encoder_max_size(f->width, f->height))
		return -ENOBUFS;
	if (tjCompress2(e->en_jpeg.je_tj, f->data, (int)f->width, (int)bpl,
	    (int)f->height, pf, &dst, &size, TJSAMP_420,
	    e->en_jpeg.je_quality, TJFLAG_NOREALLOC | TJFLAG_FASTDCT) != 0)
		return -EIO;
	*len = size;
	return 0;
}

int
encoder_encode(struct encoder *e, const struct source_frame *f, uint8_t *out,
    size_t cap, size_t *len)
{
	if (f->width == 0 || f->height == 0 || f->width > 16384 ||
	    f->height > 16384 || f->bytesperline > (1u << 20))
		return -EINVAL;
	if (f->image == NULL && f->data == NULL)
		return -EINVAL;
	if (f->image != NULL && f->fourcc != V4L2_PIX_FMT_YUV420)
		return -EINVAL;
	switch (f->fourcc) {
	case V4L2_PIX_FMT_YUV420:
		return encode_yuv420(e, f, out, cap, len);
	case V4L2_PIX_FMT_YUYV:
		return encode_packed_422(e, f, 0, out, cap, len);
	case V4L2_PIX_FMT_UYVY:
		return encode_packed_422(e, f, 1, out, cap, len);
	case V4L2_PIX_FMT_NV12:
		return encode_nv12(e, f, out, cap, len);
	case V4L2_PIX_FMT_GREY:
		return encode_grey(e, f, out, cap, len);
	case V4L2_PIX_FMT_RGB24:
		return encode_rgb(e, f, TJPF_RGB, out, cap, len);
	case V4L2_PIX_FMT_BGR24:
		return encode_rgb(e, f, TJPF_BGR, out, cap, len);
	default:
		return -ENOTSUP;
	}
}
