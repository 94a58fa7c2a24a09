/*
 * h264enc.c - H.264 with libx264 (see h264enc.h).
 *
 * libx264 is GPL-2.0-or-later; this file, like the rest of shmcam, is
 * ISC.  A binary linked with x264 is distributed under the GPL as a
 * whole (README, "License").
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/videodev2.h>

#include "h264enc.h"

size_t
h264enc_max_size(uint32_t width, uint32_t height)
{
	size_t n = (size_t)width * height / 2;

	return n < 65536 ? 65536 : n;
}

void
h264enc_defaults(struct h264_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->mode = H264_AUTO;
	s->quality = H264_QUALITY_DEFAULT;
	s->profile = H264_PROFILE_MAIN;
	s->preset = "ultrafast";
	s->threads = 1;
}

uint32_t
h264enc_gop(const struct h264_settings *s, uint32_t fps_milli)
{
	uint32_t gop = (fps_milli + 500) / 1000;

	if (s->gop != 0)
		return s->gop;
	return gop < 1 ? 1 : gop;
}

uint32_t
h264enc_bitrate(const struct h264_settings *s, uint32_t width,
    uint32_t height, uint32_t fps_milli)
{
	double kbps;

	if (s->bitrate_kbps != 0)
		return s->bitrate_kbps;
	kbps = (double)width * height * fps_milli / 1000.0 *
	    H264_BITS_PER_PIXEL / 1000.0;
	if (kbps < 100)
		return 100;
	return kbps > H264_BITRATE_MAX ? H264_BITRATE_MAX : (uint32_t)kbps;
}

#ifdef SHMCAM_X264

#include <libyuv.h>
#include <turbojpeg.h>
#include <x264.h>

#include "log.h"

struct h264enc {
	struct h264_settings s;
	x264_t		*x;
	uint32_t	 width;		/* what x was opened for */
	uint32_t	 height;
	uint32_t	 fps_milli;
	int		 fullrange;
	int64_t		 pts;
	uint8_t		*pic;		/* 4:2:0 picture made from the frame */
	size_t		 pic_cap;
	uint8_t		*tmp;		/* JPEG planes before 4:2:0 */
	size_t		 tmp_cap;
	tjhandle	 tj;		/* decompressor, on first use */
	unsigned	 errors;	/* x264 errors logged */
};

int
h264enc_available(void)
{
	return 1;
}

int
h264enc_preset_valid(const char *name)
{
	for (int i = 0; x264_preset_names[i] != NULL; i++)
		if (strcmp(name, x264_preset_names[i]) == 0)
			return 1;
	return 0;
}

/*
 * How a raw frame of each layout becomes x264's 4:2:0 picture: planar
 * 4:2:0 and semi-planar 4:2:0 as they are (x264 takes I420, NV12 and
 * NV21), semi-planar 4:2:2 as NV12 of every other chroma row, the rest
 * converted by libyuv into a picture of our own.
 */
static int
raw_supported(const struct rawformat *rf)
{
	switch (rf->rf_layout) {
	case RAWFRAME_PLANAR:
		return rf->rf_hsub == 2 && rf->rf_vsub == 2;
	case RAWFRAME_SEMIPLANAR:
		return rf->rf_hsub == 2 && (rf->rf_vsub == 2 ||
		    rf->rf_vsub == 1);
	case RAWFRAME_PACKED:
		return rf->rf_hsub == 2 && rf->rf_bpp == 2 &&
		    rf->rf_yoff <= 1;
	case RAWFRAME_RGB:
		return (rf->rf_bpp == 3 || rf->rf_bpp == 4) &&
		    (rf->rf_roff == 0 || rf->rf_roff == 2);
	case RAWFRAME_GREY:
		return rf->rf_bpp == 1;
	}
	return 0;
}

int
h264enc_supports(uint32_t fourcc)
{
	const struct rawformat *rf;

	if (source_format_is_jpeg(fourcc))
		return 1;
	return (rf = rawformat_find(fourcc)) != NULL && raw_supported(rf);
}

int
h264enc_new(struct h264enc **out, const struct h264_settings *s)
{
	struct h264enc *e;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -ENOMEM;
	e->s = *s;
	*out = e;
	return 0;
}

void
h264enc_free(struct h264enc *e)
{
	if (e == NULL)
		return;
	if (e->x != NULL)
		x264_encoder_close(e->x);
	if (e->tj != NULL)
		tjDestroy(e->tj);
	free(e->pic);
	free(e->tmp);
	free(e);
}

/* x264's messages go to our log, warnings and errors only. */
static void
h264enc_log(void *arg, int level, const char *fmt, va_list ap)
{
	char line[256];
	size_t n;

	(void)arg;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	if (n > 0 && line[n - 1] == '\n')
		line[n - 1] = '\0';
	if (level <= X264_LOG_ERROR)
		log_warnx("x264: %s", line);
	else
		log_debug("x264: %s", line);
}

int
h264enc_param(const struct h264_settings *s, uint32_t w, uint32_t h,
    uint32_t fps_milli, int fullrange, struct x264_param_t *param)
{
	x264_param_t *pp = param, p;
	uint32_t kbps;

	if (x264_param_default_preset(&p, s->preset, "zerolatency") != 0)
		return -EINVAL;
	p.pf_log = h264enc_log;
	p.i_log_level = X264_LOG_WARNING;
	p.i_width = (int)w;
	p.i_height = (int)h;
	p.i_csp = X264_CSP_I420;
	/* The rate control's clock: frames come at the source's rate. */
	p.i_fps_num = fps_milli;
	p.i_fps_den = 1000;
	p.i_timebase_num = 1000;
	p.i_timebase_den = fps_milli;
	p.b_vfr_input = 0;
	/*
	 * Sliced threads add no latency (the tune chose them); with one,
	 * x264 starts no thread at all, which is the default: the capture's
	 * loop thread and this encoder's thread already take a core each of
	 * a two-core board, and x264 threads would compete with both (and
	 * with the servers) for no shorter end-to-end time.
	 */
	p.i_threads = (int)s->threads;
	p.b_sliced_threads = 1;
	p.i_lookahead_threads = 1;
	p.i_keyint_max = (int)h264enc_gop(s, fps_milli);
	p.i_keyint_min = p.i_keyint_max;
	p.i_scenecut_threshold = 0;
	p.b_repeat_headers = 1;
	p.b_annexb = 0;		/* 4-byte lengths: the ring's format */
	p.b_aud = 0;
	/*
	 * Whatever the preset: the in-loop deblocking filter, CABAC in Main
	 * (the profile's point) and adaptive quantization.  ultrafast, the
	 * default, turns all three off.  On motion across the whole 720p
	 * picture at the rate limit (tests/bench/x264settings.py,
	 * docs/performance.md) deblocking costs 0.2 to 0.5 ms a frame and
	 * gains SSIM 0.018, which is most of what superfast has over
	 * ultrafast; CABAC costs 0.2 to 1 ms (it works per bit) and gains
	 * 0.005 there, and on a still picture it saves a quarter of the
	 * bits; without adaptive quantization a keyframe of the simulated
	 * camera's noisy pattern takes half as many bits again (38 KB
	 * against 25 at 640x360), which a viewer on a narrow link, who
	 * skips from keyframe to keyframe, pays for.  Together they cost
	 * less than superfast for a picture within SSIM 0.01 of it.  The
	 * other presets have all three on already.
	 */
	p.b_deblocking_filter = 1;
	p.b_cabac = s->profile == H264_PROFILE_MAIN;
	p.rc.i_aq_mode = X264_AQ_VARIANCE;
	kbps = h264enc_bitrate(s, w, h, fps_milli);
	p.rc.i_rc_method = X264_RC_CRF;
	p.rc.f_rf_constant = (float)s->quality;
	p.rc.i_vbv_max_bitrate = (int)kbps;
	p.rc.i_vbv_buffer_size = (int)(kbps / 2);
	/* BT.601 (smpte170m) as the JPEG path; full range for decoded
	 * JPEG, whose YCbCr is. */
	p.vui.b_fullrange = fullrange;
	p.vui.i_colmatrix = 6;
	p.vui.i_colorprim = 6;
	p.vui.i_transfer = 6;
	if (x264_param_apply_profile(&p, s->profile == H264_PROFILE_MAIN ?
	    "main" : "baseline") != 0)
		return -EINVAL;
	*pp = p;
	return 0;
}

static int
h264enc_open(struct h264enc *e, uint32_t w, uint32_t h, uint32_t fps_milli,
    int fullrange)
{
	x264_param_t p;
	int rc;

	if (e->x != NULL) {
		x264_encoder_close(e->x);
		e->x = NULL;
	}
	if ((rc = h264enc_param(&e->s, w, h, fps_milli, fullrange, &p)) != 0)
		return rc;
	if ((e->x = x264_encoder_open(&p)) == NULL)
		return -EIO;
	e->width = w;
	e->height = h;
	e->fps_milli = fps_milli;
	e->fullrange = fullrange;
	e->pts = 0;
	log_info("H.264: %ux%u at %u.%03u fps, %s, %s, GOP %d, quality %d, "
	    "at most %u kbit/s", w, h, fps_milli / 1000, fps_milli % 1000,
	    e->s.profile == H264_PROFILE_MAIN ? "Main" :
	    "Constrained Baseline", e->s.preset, p.i_keyint_max,
	    e->s.quality, (unsigned)p.rc.i_vbv_max_bitrate);
	return 0;
}

static uint8_t *
h264enc_buf(uint8_t **buf, size_t *cap, size_t need)
{
	uint8_t *p;

	if (*cap >= need)
		return *buf;
	if ((p = realloc(*buf, need)) == NULL)
		return NULL;
	*buf = p;
	*cap = need;
	return p;
}

/* A 4:2:0 picture (I420 or NV12) in pic, pointing into the frame or
 * into e->pic. */
struct planes {
	int		 csp;		/* X264_CSP_I420, _NV12 or _NV21 */
	uint8_t		*plane[3];
	int		 stride[3];
};

static int
planes_i420(struct h264enc *e, uint32_t w, uint32_t h, struct planes *pl)
{
	size_t ysize = (size_t)w * h, csize = (size_t)(w / 2) * (h / 2);
	uint8_t *p = h264enc_buf(&e->pic, &e->pic_cap, ysize + 2 * csize);

	if (p == NULL)
		return -ENOMEM;
	pl->csp = X264_CSP_I420;
	pl->plane[0] = p;
	pl->plane[1] = p + ysize;
	pl->plane[2] = p + ysize + csize;
	pl->stride[0] = (int)w;
	pl->stride[1] = pl->stride[2] = (int)(w / 2);
	return 0;
}

static int
planes_nv12(struct h264enc *e, uint32_t w, uint32_t h, struct planes *pl)
{
	size_t ysize = (size_t)w * h;
	uint8_t *p = h264enc_buf(&e->pic, &e->pic_cap, ysize + ysize / 2);

	if (p == NULL)
		return -ENOMEM;
	pl->csp = X264_CSP_NV12;
	pl->plane[0] = p;
	pl->plane[1] = p + ysize;
	pl->stride[0] = pl->stride[1] = (int)w;
	return 0;
}

/*
 * A JPEG decoded to planes by TurboJPEG, then to 4:2:0: as it is when it
 * is 4:2:0 already, else through libyuv.  Subsamplings libyuv has no
 * conversion for (4:4:0, 4:1:1: no camera we know sends them) go through
 * RGB.
 */
static int
h264enc_jpeg(struct h264enc *e, const struct source_frame *f,
    struct planes *pl)
{
	const uint32_t w = f->width, h = f->height;
	unsigned char *dst[3];
	int jw, jh, sub, cs, strides[3], rc;
	size_t need;

	if (e->tj == NULL && (e->tj = tjInitDecompress()) == NULL)
		return -ENOMEM;
	if (tjDecompressHeader3(e->tj, f->data, (unsigned long)f->length,
	    &jw, &jh, &sub, &cs) != 0)
		return -EBADMSG;
	if ((uint32_t)jw != w || (uint32_t)jh != h)
		return -EINVAL;
	if (sub == TJSAMP_420) {
		if ((rc = planes_i420(e, w, h, pl)) != 0)
			return rc;
		if (tjDecompressToYUVPlanes(e->tj, f->data,
		    (unsigned long)f->length, pl->plane, (int)w, pl->stride,
		    (int)h, 0) != 0)
			return -EBADMSG;
		return 0;
	}
	if (sub == TJSAMP_422 || sub == TJSAMP_444 || sub == TJSAMP_GRAY) {
		int cw = sub == TJSAMP_444 ? (int)w : (int)w / 2;

		need = (size_t)w * h + (sub == TJSAMP_GRAY ? 0 :
		    2 * (size_t)cw * h);
		if (h264enc_buf(&e->tmp, &e->tmp_cap, need) == NULL)
			return -ENOMEM;
		dst[0] = e->tmp;
		dst[1] = e->tmp + (size_t)w * h;
		dst[2] = dst[1] + (size_t)cw * h;
		strides[0] = (int)w;
		strides[1] = strides[2] = cw;
		if (tjDecompressToYUVPlanes(e->tj, f->data,
		    (unsigned long)f->length, dst, (int)w, strides, (int)h,
		    0) != 0)
			return -EBADMSG;
		if (sub == TJSAMP_444) {
			if ((rc = planes_nv12(e, w, h, pl)) != 0)
				return rc;
			return I444ToNV12(dst[0], strides[0], dst[1],
			    strides[1], dst[2], strides[2], pl->plane[0],
			    pl->stride[0], pl->plane[1], pl->stride[1],
			    (int)w, (int)h) == 0 ? 0 : -EINVAL;
		}
		if ((rc = planes_i420(e, w, h, pl)) != 0)
			return rc;
		if (sub == TJSAMP_GRAY)
			return I400ToI420(dst[0], strides[0], pl->plane[0],
			    pl->stride[0], pl->plane[1], pl->stride[1],
			    pl->plane[2], pl->stride[2], (int)w, (int)h) == 0 ?
			    0 : -EINVAL;
		return I422ToI420(dst[0], strides[0], dst[1], strides[1],
		    dst[2], strides[2], pl->plane[0], pl->stride[0],
		    pl->plane[1], pl->stride[1], pl->plane[2], pl->stride[2],
		    (int)w, (int)h) == 0 ? 0 : -EINVAL;
	}
	/* Through RGB (TurboJPEG's R, G, B is libyuv's "RAW"). */
	if (h264enc_buf(&e->tmp, &e->tmp_cap, (size_t)w * h * 3) == NULL)
		return -ENOMEM;
	if (tjDecompress2(e->tj, f->data, (unsigned long)f->length, e->tmp,
	    (int)w, (int)w * 3, (int)h, TJPF_RGB, 0) != 0)
		return -EBADMSG;
	if ((rc = planes_i420(e, w, h, pl)) != 0)
		return rc;
	return RAWToJ420(e->tmp, (int)w * 3, pl->plane[0], pl->stride[0],
	    pl->plane[1], pl->stride[1], pl->plane[2], pl->stride[2],
	    (int)w, (int)h) == 0 ? 0 : -EINVAL;
}

/* A raw frame (rawframe.h) as a 4:2:0 picture. */
static int
h264enc_raw(struct h264enc *e, const struct rawframe *r, struct planes *pl)
{
	const struct rawformat *rf = r->rw_fmt;
	const struct rawplane *p = r->rw_plane;
	const int w = (int)r->rw_width, h = (int)r->rw_height;
	int rc;

	if (rawframe_check(r) != 0 || !raw_supported(rf))
		return -EINVAL;
	switch (rf->rf_layout) {
	case RAWFRAME_PLANAR:
		/* plane[1] is Cb whatever memory's order (YVU420). */
		pl->csp = X264_CSP_I420;
		for (int i = 0; i < 3; i++) {
			pl->plane[i] = p[i].rp_data;
			pl->stride[i] = (int)p[i].rp_stride;
		}
		return 0;
	case RAWFRAME_SEMIPLANAR:
		/* 4:2:2 (NV16): every other chroma row is a 4:2:0 frame's;
		 * dropping rows costs nothing and a camera's chroma is
		 * rarely sharper than that. */
		pl->csp = rf->rf_crcb ? X264_CSP_NV21 : X264_CSP_NV12;
		pl->plane[0] = p[0].rp_data;
		pl->stride[0] = (int)p[0].rp_stride;
		pl->plane[1] = p[1].rp_data;
		pl->stride[1] = (int)p[1].rp_stride * (2 / rf->rf_vsub);
		return 0;
	case RAWFRAME_PACKED:
		if ((rc = planes_nv12(e, r->rw_width, r->rw_height, pl)) != 0)
			return rc;
		rc = (rf->rf_yoff == 0 ? YUY2ToNV12 : UYVYToNV12)(
		    p[0].rp_data, (int)p[0].rp_stride, pl->plane[0],
		    pl->stride[0], pl->plane[1], pl->stride[1], w, h);
		return rc == 0 ? 0 : -EINVAL;
	case RAWFRAME_RGB:
		if ((rc = planes_i420(e, r->rw_width, r->rw_height, pl)) != 0)
			return rc;
		/*
		 * libyuv names byte orders as little-endian words: its RAW
		 * is R, G, B in memory (V4L2's RGB24), its RGB24 B, G, R;
		 * its ARGB is B, G, R, A in memory (V4L2's XBGR32), its
		 * ABGR R, G, B, A.
		 */
		rc = (rf->rf_bpp == 3 ?
		    (rf->rf_roff == 0 ? RAWToI420 : RGB24ToI420) :
		    (rf->rf_roff == 0 ? ABGRToI420 : ARGBToI420))(
		    p[0].rp_data, (int)p[0].rp_stride, pl->plane[0],
		    pl->stride[0], pl->plane[1], pl->stride[1], pl->plane[2],
		    pl->stride[2], w, h);
		return rc == 0 ? 0 : -EINVAL;
	case RAWFRAME_GREY:
		if ((rc = planes_i420(e, r->rw_width, r->rw_height, pl)) != 0)
			return rc;
		return I400ToI420(p[0].rp_data, (int)p[0].rp_stride,
		    pl->plane[0], pl->stride[0], pl->plane[1], pl->stride[1],
		    pl->plane[2], pl->stride[2], w, h) == 0 ? 0 : -EINVAL;
	}
	return -ENOTSUP;
}

/* The frame as a 4:2:0 picture for x264; *fullrange for JPEG's YCbCr. */
static int
h264enc_picture(struct h264enc *e, const struct source_frame *f,
    struct planes *pl, int *fullrange)
{
	*fullrange = 0;
	memset(pl, 0, sizeof(*pl));
	if (f->raw.rw_fmt != NULL) {
		if (f->raw.rw_width != f->width ||
		    f->raw.rw_height != f->height)
			return -EINVAL;
		return h264enc_raw(e, &f->raw, pl);
	}
	if (!source_format_is_jpeg(f->fourcc))
		return -ENOTSUP;
	if (f->data == NULL)
		return -EINVAL;
	*fullrange = 1;
	return h264enc_jpeg(e, f, pl);
}

int
h264enc_encode(struct h264enc *e, const struct source_frame *f,
    uint32_t fps_milli, int force_idr, const uint8_t **out, size_t *len,
    int *keyframe)
{
	x264_picture_t in, pic_out;
	x264_nal_t *nal;
	struct planes pl;
	int nnal, size, fullrange, rc;

	*len = 0;
	*keyframe = 0;
	if (f->width < 16 || f->height < 16 || f->width > 8192 ||
	    f->height > 8192 || (f->width & 1) || (f->height & 1) ||
	    fps_milli == 0)
		return -EINVAL;
	if ((rc = h264enc_picture(e, f, &pl, &fullrange)) != 0)
		return rc;
	if (e->x == NULL || e->width != f->width || e->height != f->height ||
	    e->fps_milli != fps_milli || e->fullrange != fullrange) {
		if ((rc = h264enc_open(e, f->width, f->height, fps_milli,
		    fullrange)) != 0)
			return rc;
		force_idr = 1;
	}
	x264_picture_init(&in);
	in.img.i_csp = pl.csp;
	in.img.i_plane = pl.csp == X264_CSP_I420 ? 3 : 2;
	for (int i = 0; i < in.img.i_plane; i++) {
		in.img.plane[i] = pl.plane[i];
		in.img.i_stride[i] = pl.stride[i];
	}
	in.i_pts = e->pts++;
	in.i_type = force_idr ? X264_TYPE_IDR : X264_TYPE_AUTO;
	size = x264_encoder_encode(e->x, &nal, &nnal, &in, &pic_out);
	if (size < 0) {
		if (e->errors++ == 0)
			log_warnx("x264_encoder_encode failed");
		return -EIO;
	}
	if (size == 0 || nnal == 0)
		return 0;
	/* The units of one frame are consecutive in x264's buffer. */
	*out = nal[0].p_payload;
	*len = (size_t)size;
	*keyframe = pic_out.b_keyframe && pic_out.i_type == X264_TYPE_IDR;
	return 0;
}

#else /* !SHMCAM_X264 */

int
h264enc_param(const struct h264_settings *s, uint32_t width,
    uint32_t height, uint32_t fps_milli, int fullrange,
    struct x264_param_t *p)
{
	(void)s;
	(void)width;
	(void)height;
	(void)fps_milli;
	(void)fullrange;
	(void)p;
	return -ENOTSUP;
}

int
h264enc_available(void)
{
	return 0;
}

int
h264enc_preset_valid(const char *name)
{
	static const char *const presets[] = { "ultrafast", "superfast",
	    "veryfast", "faster", "fast", "medium", "slow", "slower",
	    "veryslow", "placebo" };

	for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
		if (strcmp(name, presets[i]) == 0)
			return 1;
	return 0;
}

int
h264enc_supports(uint32_t fourcc)
{
	(void)fourcc;
	return 0;
}

int
h264enc_new(struct h264enc **e, const struct h264_settings *s)
{
	(void)s;
	*e = NULL;
	return -ENOTSUP;
}

void
h264enc_free(struct h264enc *e)
{
	(void)e;
}

int
h264enc_encode(struct h264enc *e, const struct source_frame *f,
    uint32_t fps_milli, int force_idr, const uint8_t **out, size_t *len,
    int *keyframe)
{
	(void)e;
	(void)f;
	(void)fps_milli;
	(void)force_idr;
	(void)out;
	*len = 0;
	*keyframe = 0;
	return -ENOTSUP;
}

#endif /* SHMCAM_X264 */
