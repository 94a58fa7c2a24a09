/*
 * encode.c - raw frames to JPEG (see encode.h).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>		/* jpeglib.h uses FILE */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <linux/videodev2.h>
#include <turbojpeg.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "encode.h"

/*
 * The libjpeg compressor for packed 4:2:2 (see encode_packed_422()):
 * created on first use, kept for the encoder's life.  cinfo comes first,
 * so that libjpeg's callbacks, which get cinfo, find the rest.
 */
struct packed_codec {
	struct jpeg_compress_struct	 pc_cinfo;
	struct jpeg_error_mgr		 pc_jerr;
	struct jpeg_destination_mgr	 pc_dest;
	jmp_buf				 pc_jmp;
	int				 pc_rc;	/* why we jumped */
};

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
	if (e->en_packed != NULL) {
		jpeg_destroy_compress(&e->en_packed->pc_cinfo);
		free(e->en_packed);
	}
	free(e->en_planes);
	memset(e, 0, sizeof(*e));
}

int
encoder_supports(uint32_t fourcc)
{
	return rawformat_find(fourcc) != NULL;
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
 * Packed 4:2:2 (YUYV: Y0 C0 Y1 C1, UYVY: C0 Y0 C1 Y1, yoff the byte of
 * Y0) to planar 4:2:2, the first chroma of each pair into c0 and the
 * second into c1: the one pass over the frame a packed format costs, so
 * it is done 32 pixels at a time with SSE2 (every x86-64 has it): luma
 * is every other byte, chroma the bytes between, itself alternating;
 * masking or shifting the 16-bit lanes and packing them back to bytes
 * separates each.  Other machines, and the tail of each row, take the
 * plain loop.
 */
static void
split_422_row(const uint8_t *s, uint32_t w, unsigned yoff, uint8_t *y,
    uint8_t *u, uint8_t *v)
{
	uint32_t x = 0, cw = w / 2;
	const unsigned yo = yoff, uo = yoff ^ 1, vo = uo + 2;

#ifdef __SSE2__
	const int uyvy = yoff == 1;
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
		/* c0, c1: U V U V ...; the even bytes are the first. */
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

/*
 * A packed 4:2:2 row split into its planes: the pair's first chroma is
 * Cb unless the format stores Cr first (YVYU, VYUY).
 */
static void
split_packed_row(const struct rawframe *f, uint32_t row, uint8_t *y,
    uint8_t *cb, uint8_t *cr)
{
	const struct rawformat *fmt = f->rw_fmt;
	const struct rawplane *p = &f->rw_plane[0];

	split_422_row(p->rp_data + (size_t)row * p->rp_stride, f->rw_width,
	    fmt->rf_yoff, y, fmt->rf_crcb ? cr : cb, fmt->rf_crcb ? cb : cr);
}

/* The whole frame split into planes, then TurboJPEG. */
static int
encode_packed_422_planes(struct encoder *e, const struct rawframe *f,
    uint8_t *out, size_t cap, size_t *len)
{
	const uint32_t w = f->rw_width, h = f->rw_height, cw = w / 2;
	const uint8_t *planes[3];
	int strides[3];
	uint8_t *p;

	if ((p = encoder_scratch(e, (size_t)w * h * 2)) == NULL)
		return -ENOMEM;
	planes[0] = p;
	planes[1] = p + (size_t)w * h;
	planes[2] = planes[1] + (size_t)cw * h;
	for (uint32_t row = 0; row < h; row++)
		split_packed_row(f, row, p + (size_t)row * w,
		    p + (size_t)w * h + (size_t)row * cw,
		    p + (size_t)w * h + (size_t)cw * h + (size_t)row * cw);
	strides[0] = (int)w;
	strides[1] = strides[2] = (int)cw;
	return jpeg_encode_planes(&e->en_jpeg, planes, strides, w, h,
	    TJSAMP_422, out, cap, len);
}

/* libjpeg's fatal errors: back to encode_packed_422_strips(). */
static void
packed_error_exit(j_common_ptr cinfo)
{
	struct packed_codec *pc = (struct packed_codec *)(void *)cinfo;

	if (pc->pc_rc == 0)
		pc->pc_rc = -EIO;
	longjmp(pc->pc_jmp, 1);
}

/* Warnings and traces: nothing to say (libjpeg would print them). */
static void
packed_output_message(j_common_ptr cinfo)
{
	(void)cinfo;
}

static void
packed_dest_init(j_compress_ptr cinfo)
{
	(void)cinfo;		/* the buffer is set before each frame */
}

/* The output buffer is full: the caller's cap was too small. */
static boolean
packed_dest_full(j_compress_ptr cinfo)
{
	struct packed_codec *pc = (struct packed_codec *)(void *)cinfo;

	pc->pc_rc = -ENOBUFS;
	longjmp(pc->pc_jmp, 1);
}

static void
packed_dest_term(j_compress_ptr cinfo)
{
	(void)cinfo;
}

static struct packed_codec *
packed_codec_get(struct encoder *e)
{
	struct packed_codec *pc = e->en_packed;

	if (pc != NULL)
		return pc;
	if ((pc = calloc(1, sizeof(*pc))) == NULL)
		return NULL;
	pc->pc_cinfo.err = jpeg_std_error(&pc->pc_jerr);
	pc->pc_jerr.error_exit = packed_error_exit;
	pc->pc_jerr.output_message = packed_output_message;
	if (setjmp(pc->pc_jmp)) {
		/* jpeg_create_compress() fails only for want of memory. */
		jpeg_destroy_compress(&pc->pc_cinfo);
		free(pc);
		return NULL;
	}
	jpeg_create_compress(&pc->pc_cinfo);
	pc->pc_dest.init_destination = packed_dest_init;
	pc->pc_dest.empty_output_buffer = packed_dest_full;
	pc->pc_dest.term_destination = packed_dest_term;
	pc->pc_cinfo.dest = &pc->pc_dest;
	e->en_packed = pc;
	return pc;
}

/*
 * Split into planes one strip of 8 rows at a time (a JPEG 4:2:2 iMCU
 * row), each strip handed to libjpeg as raw data while it is still in
 * the cache.  Rows are padded as TurboJPEG pads them (the last sample
 * and the last row repeated to whole blocks), and the compressor is set
 * up as tjCompressFromYUVPlanes() sets it up, so the JPEG is the same,
 * byte for byte (tests/check_encode.c compares them).
 */
static int
encode_packed_422_strips(struct encoder *e, const struct rawframe *f,
    uint8_t *out, size_t cap, size_t *len)
{
	const uint32_t w = f->rw_width, h = f->rw_height, cw = w / 2;
	/* Samples per strip row: whole 8-pixel blocks. */
	const size_t yw = ((size_t)w + 7) / 8 * 8, cwp = ((size_t)cw + 7) / 8 * 8;
	struct packed_codec *pc;
	struct jpeg_compress_struct *ci;
	JSAMPROW rows[3][8];
	JSAMPARRAY planes[3] = { rows[0], rows[1], rows[2] };
	uint8_t *strip, *y, *u, *v;
	uint32_t row, i, r;

	if (cap < encoder_max_size(w, h))
		return -ENOBUFS;
	if ((strip = encoder_scratch(e, (yw + 2 * cwp) * 8)) == NULL ||
	    (pc = packed_codec_get(e)) == NULL)
		return -ENOMEM;
	for (i = 0; i < 8; i++) {
		rows[0][i] = strip + i * yw;
		rows[1][i] = strip + 8 * yw + i * cwp;
		rows[2][i] = strip + 8 * yw + 8 * cwp + i * cwp;
	}
	ci = &pc->pc_cinfo;
	pc->pc_rc = 0;
	if (setjmp(pc->pc_jmp)) {
		jpeg_abort_compress(ci);
		return pc->pc_rc;
	}
	pc->pc_dest.next_output_byte = out;
	pc->pc_dest.free_in_buffer = cap;
	ci->image_width = w;
	ci->image_height = h;
	ci->input_components = 3;
	ci->in_color_space = JCS_YCbCr;
	jpeg_set_defaults(ci);
	jpeg_set_quality(ci, e->en_jpeg.je_quality, TRUE);
	/* As TurboJPEG with TJFLAG_FASTDCT, which does the same. */
	ci->dct_method = e->en_jpeg.je_quality >= 96 ? JDCT_ISLOW : JDCT_IFAST;
	jpeg_set_colorspace(ci, JCS_YCbCr);
	ci->comp_info[0].h_samp_factor = 2;
	ci->comp_info[0].v_samp_factor = 1;
	ci->comp_info[1].h_samp_factor = ci->comp_info[2].h_samp_factor = 1;
	ci->comp_info[1].v_samp_factor = ci->comp_info[2].v_samp_factor = 1;
	ci->raw_data_in = TRUE;
	jpeg_start_compress(ci, TRUE);
	for (row = 0; row < h; row += 8) {
		for (i = 0; i < 8; i++) {
			y = rows[0][i];
			u = rows[1][i];
			v = rows[2][i];
			if (row + i >= h) {
				/* Below the picture: its last row again. */
				memcpy(y, rows[0][i - 1], yw);
				memcpy(u, rows[1][i - 1], cwp);
				memcpy(v, rows[2][i - 1], cwp);
				continue;
			}
			split_packed_row(f, row + i, y, u, v);
			for (r = w; r < yw; r++)
				y[r] = y[w - 1];
			for (r = cw; r < cwp; r++) {
				u[r] = u[cw - 1];
				v[r] = v[cw - 1];
			}
		}
		jpeg_write_raw_data(ci, planes, 8);
	}
	jpeg_finish_compress(ci);
	*len = cap - pc->pc_dest.free_in_buffer;
	return 0;
}

/*
 * Packed 4:2:2.  The strips are the default: TurboJPEG can only take
 * whole planes, and splitting the whole frame first writes and reads
 * back twice the frame's size through memory, which was most of what
 * the capture spent beyond the codec (1.22 x TurboJPEG alone for YUYV,
 * tests/bench/results/capture.txt).  The planar path stays for encbench,
 * which measures both in the same run.
 */
static int
encode_packed_422(struct encoder *e, const struct rawframe *f, uint8_t *out,
    size_t cap, size_t *len)
{
	if (e->en_packed_planes)
		return encode_packed_422_planes(e, f, out, cap, len);
	return encode_packed_422_strips(e, f, out, cap, len);
}

/* TurboJPEG's name for a format's chroma subsampling, or -1. */
static int
tj_subsamp(const struct rawformat *fmt)
{
	if (fmt->rf_layout == RAWFRAME_GREY)
		return TJSAMP_GRAY;
	switch (fmt->rf_hsub << 4 | fmt->rf_vsub) {
	case 0x11:	return TJSAMP_444;
	case 0x21:	return TJSAMP_422;
	case 0x22:	return TJSAMP_420;
	case 0x12:	return TJSAMP_440;
	case 0x41:	return TJSAMP_411;
	default:	return -1;
	}
}

/*
 * Planar YCbCr and grey: the planes go to the codec as they are (the
 * description has Cb and Cr in that order whatever memory holds).
 */
static int
encode_planes(struct encoder *e, const struct rawframe *f, uint8_t *out,
    size_t cap, size_t *len)
{
	const uint8_t *planes[3] = { NULL, NULL, NULL };
	int strides[3] = { 0, 0, 0 }, ss = tj_subsamp(f->rw_fmt);

	if (ss < 0)
		return -ENOTSUP;
	for (unsigned i = 0; i < f->rw_nplanes; i++) {
		planes[i] = f->rw_plane[i].rp_data;
		strides[i] = (int)f->rw_plane[i].rp_stride;
	}
	return jpeg_encode_planes(&e->en_jpeg, planes, strides, f->rw_width,
	    f->rw_height, ss, out, cap, len);
}

/*
 * Semi-planar (NV12, NV21, NV16, NV61): the chroma pairs split into a
 * Cb and a Cr plane in scratch memory, luma as it is.
 */
static int
encode_semiplanar(struct encoder *e, const struct rawframe *f, uint8_t *out,
    size_t cap, size_t *len)
{
	const struct rawformat *fmt = f->rw_fmt;
	const struct rawplane *c = &f->rw_plane[1];
	const uint32_t cw = (f->rw_width + fmt->rf_hsub - 1) / fmt->rf_hsub;
	const uint32_t ch = rawformat_rows(fmt, 1, f->rw_height);
	const unsigned first = fmt->rf_crcb ? 1 : 0;
	const uint8_t *planes[3];
	int strides[3], ss = tj_subsamp(fmt);
	uint8_t *p, *dst[2];

	if (ss < 0)
		return -ENOTSUP;
	if ((p = encoder_scratch(e, (size_t)cw * ch * 2)) == NULL)
		return -ENOMEM;
	for (uint32_t row = 0; row < ch; row++) {
		const uint8_t *s = c->rp_data + (size_t)row * c->rp_stride;

		/* dst[0] gets the pair's first byte: Cr if stored first. */
		dst[first] = p + (size_t)row * cw;
		dst[first ^ 1] = p + (size_t)cw * ch + (size_t)row * cw;
		for (uint32_t x = 0; x < cw; x++) {
			dst[0][x] = s[2 * x];
			dst[1][x] = s[2 * x + 1];
		}
	}
	planes[0] = f->rw_plane[0].rp_data;
	planes[1] = p;
	planes[2] = p + (size_t)cw * ch;
	strides[0] = (int)f->rw_plane[0].rp_stride;
	strides[1] = strides[2] = (int)cw;
	return jpeg_encode_planes(&e->en_jpeg, planes, strides, f->rw_width,
	    f->rw_height, ss, out, cap, len);
}

/* RGB in the format's byte order, converted by TurboJPEG. */
static int
encode_rgb(struct encoder *e, const struct rawframe *f, uint8_t *out,
    size_t cap, size_t *len)
{
	const struct rawformat *fmt = f->rw_fmt;
	unsigned char *dst = out;
	unsigned long size = cap;
	int pf;

	if (fmt->rf_bpp == 3)
		pf = fmt->rf_roff == 0 ? TJPF_RGB : TJPF_BGR;
	else if (fmt->rf_bpp == 4)
		pf = fmt->rf_roff == 0 ? TJPF_RGBX : TJPF_BGRX;
	else
		return -ENOTSUP;
	if (cap < encoder_max_size(f->rw_width, f->rw_height))
		return -ENOBUFS;
	if (tjCompress2(e->en_jpeg.je_tj, f->rw_plane[0].rp_data,
	    (int)f->rw_width, (int)f->rw_plane[0].rp_stride,
	    (int)f->rw_height, pf, &dst, &size, TJSAMP_420,
	    e->en_jpeg.je_quality, TJFLAG_NOREALLOC | TJFLAG_FASTDCT) != 0)
		return -EIO;
	*len = size;
	return 0;
}

int
encoder_encode(struct encoder *e, const struct rawframe *f, uint8_t *out,
    size_t cap, size_t *len)
{
	if (f->rw_fmt == NULL)
		return -ENOTSUP;
	if (rawframe_check(f) != 0)
		return -EINVAL;
	switch (f->rw_fmt->rf_layout) {
	case RAWFRAME_PLANAR:
	case RAWFRAME_GREY:
		return encode_planes(e, f, out, cap, len);
	case RAWFRAME_SEMIPLANAR:
		return encode_semiplanar(e, f, out, cap, len);
	case RAWFRAME_PACKED:
		return encode_packed_422(e, f, out, cap, len);
	case RAWFRAME_RGB:
		return encode_rgb(e, f, out, cap, len);
	}
	return -ENOTSUP;
}
