/*
 * encode.c - raw frames to JPEG (see encode.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/videodev2.h>
#include <turbojpeg.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

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
 * YUYV (Y0 U Y1 V) or UYVY (U Y0 V Y1) to planar 4:2:2: the one pass over
 * the frame a packed format costs, so it is done 32 pixels at a time
 * with SSE2 (every x86-64 has it): luma is every other byte, chroma the
 * bytes between, itself alternating U and V; masking or shifting the
 * 16-bit lanes and packing them back to bytes separates each.  Other
 * machines, and the tail of each row, take the plain loop.
 */
static void
split_422_row(const uint8_t *s, uint32_t w, int uyvy, uint8_t *y,
    uint8_t *u, uint8_t *v)
{
	uint32_t x = 0, cw = w / 2;
	const unsigned yo = uyvy ? 1 : 0, uo = uyvy ? 0 : 1;
	const unsigned vo = uyvy ? 2 : 3;

#ifdef __SSE2__
	const __m128i lo = _mm_set1_epi16(0x00ff);

	for (; x + 32 <= w; x += 32, s += 64) {
		__m128i a = _mm_loadu_si128((const __m128i *)s);
		__m128i b = _mm_loadu_si128((const __m128i *)(s + 16));
		__m128i c = _mm_loadu_si128((const __m128i *)(s + 32));
		__m128i d = _mm_loadu_si128((const __m128i *)(s + 48));
		__m128i y0, y1, c0, c1;

		if (uyvy) {
			y0 = _mm_packus_epi16(_mm_srli_epi16(a, 8),
			    _mm_srli_epi16(b, 8));
			y1 = _mm_packus_epi16(_mm_srli_epi16(c, 8),
			    _mm_srli_epi16(d, 8));
			c0 = _mm_packus_epi16(_mm_and_si128(a, lo),
			    _mm_and_si128(b, lo));
			c1 = _mm_packus_epi16(_mm_and_si128(c, lo),
			    _mm_and_si128(d, lo));
		} else {
			y0 = _mm_packus_epi16(_mm_and_si128(a, lo),
			    _mm_and_si128(b, lo));
			y1 = _mm_packus_epi16(_mm_and_si128(c, lo),
			    _mm_and_si128(d, lo));
			c0 = _mm_packus_epi16(_mm_srli_epi16(a, 8),
			    _mm_srli_epi16(b, 8));
			c1 = _mm_packus_epi16(_mm_srli_epi16(c, 8),
			    _mm_srli_epi16(d, 8));
		}
		/* c0, c1: U V U V ...; the even bytes are U. */
		_mm_storeu_si128((__m128i *)(y + x), y0);
		_mm_storeu_si128((__m128i *)(y + x + 16), y1);
		_mm_storeu_si128((__m128i *)(u + x / 2), _mm_packus_epi16(
		    _mm_and_si128(c0, lo), _mm_and_si128(c1, lo)));
		_mm_storeu_si128((__m128i *)(v + x / 2), _mm_packus_epi16(
		    _mm_srli_epi16(c0, 8), _mm_srli_epi16(c1, 8)));
	}
#endif
	for (x /= 2; x < cw; x++, s += 4) {
		y[2 * x] = s[yo];
		y[2 * x + 1] = s[yo + 2];
		u[x] = s[uo];
		v[x] = s[vo];
	}
}

static void
split_422(const uint8_t *src, size_t bpl, uint32_t w, uint32_t h,
    int uyvy, uint8_t *y, uint8_t *u, uint8_t *v)
{
	uint32_t row, cw = w / 2;

	for (row = 0; row < h; row++)
		split_422_row(src + row * bpl, w, uyvy, y + (size_t)row * w,
		    u + (size_t)row * cw, v + (size_t)row * cw);
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
