/*
 * simh264.c - a camera's H.264 encoder, for the simulator and the tests
 * (see simh264.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "simh264.h"

#ifdef SHMCAM_X264

#include <x264.h>

struct simh264 {
	x264_t		*x;
	uint32_t	 width;
	uint32_t	 height;
	int64_t		 pts;
	int		 headers_once;
	int		 sent_headers;
	uint8_t		*buf;
	size_t		 cap;
};

int
simh264_available(void)
{
	return 1;
}

int
simh264_new(struct simh264 **out, uint32_t width, uint32_t height,
    unsigned fps, const struct simh264_opts *o)
{
	struct simh264 *s;
	x264_param_t p;

	*out = NULL;
	/* superfast: the fastest preset that keeps CABAC, without which
	 * x264 makes Baseline whatever profile it is asked for. */
	if (x264_param_default_preset(&p, "superfast", "zerolatency") != 0)
		return -EINVAL;
	p.i_log_level = X264_LOG_NONE;
	p.i_width = (int)width;
	p.i_height = (int)height;
	p.i_csp = X264_CSP_I420;
	p.i_fps_num = fps;
	p.i_fps_den = 1;
	p.i_threads = 1;
	p.i_keyint_max = p.i_keyint_min = (int)o->gop;
	p.i_scenecut_threshold = 0;
	p.b_repeat_headers = !o->headers_once;
	p.b_annexb = o->annexb;
	p.b_aud = o->aud;
	if (o->kbps != 0) {
		p.rc.i_rc_method = X264_RC_ABR;
		p.rc.i_bitrate = (int)o->kbps;
		p.rc.i_vbv_max_bitrate = (int)o->kbps;
		p.rc.i_vbv_buffer_size = (int)o->kbps;
	} else {
		p.rc.i_rc_method = X264_RC_CRF;
		p.rc.f_rf_constant = 20;
	}
	if (x264_param_apply_profile(&p, o->profile) != 0)
		return -EINVAL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	if ((s->x = x264_encoder_open(&p)) == NULL) {
		free(s);
		return -EINVAL;
	}
	s->width = width;
	s->height = height;
	s->headers_once = o->headers_once;
	*out = s;
	return 0;
}

void
simh264_free(struct simh264 *s)
{
	if (s == NULL)
		return;
	x264_encoder_close(s->x);
	free(s->buf);
	free(s);
}

int
simh264_encode(struct simh264 *s, const uint8_t *y, const uint8_t *u,
    const uint8_t *v, int force_idr, const uint8_t **out, size_t *len,
    int *idr)
{
	x264_picture_t in, pic;
	x264_nal_t *nal, *hdr;
	int n, nh, size, hsize = 0;
	size_t aud, at;
	uint8_t *p;

	x264_picture_init(&in);
	in.img.i_csp = X264_CSP_I420;
	in.img.i_plane = 3;
	in.img.plane[0] = (uint8_t *)(uintptr_t)y;
	in.img.plane[1] = (uint8_t *)(uintptr_t)u;
	in.img.plane[2] = (uint8_t *)(uintptr_t)v;
	in.img.i_stride[0] = (int)s->width;
	in.img.i_stride[1] = in.img.i_stride[2] = (int)s->width / 2;
	in.i_pts = s->pts++;
	in.i_type = force_idr ? X264_TYPE_IDR : X264_TYPE_AUTO;
	size = x264_encoder_encode(s->x, &nal, &n, &in, &pic);
	if (size <= 0)
		return -EIO;
	*idr = pic.b_keyframe && pic.i_type == X264_TYPE_IDR;
	if (!s->headers_once || s->sent_headers || !*idr) {
		*out = nal[0].p_payload;
		*len = (size_t)size;
		return 0;
	}
	/*
	 * The first IDR of a camera that sends its parameter sets once:
	 * they go after the AUD (which must come first) and before the
	 * rest.  The frame's units are copied out first: x264's headers
	 * call reuses its buffer.
	 */
	aud = nal[0].i_type == NAL_AUD ? (size_t)nal[0].i_payload : 0;
	if ((p = malloc((size_t)size)) == NULL)
		return -EIO;
	memcpy(p, nal[0].p_payload, (size_t)size);
	if (x264_encoder_headers(s->x, &hdr, &nh) < 0) {
		free(p);
		return -EIO;
	}
	for (int i = 0; i < nh; i++)
		if (hdr[i].i_type != NAL_SEI)
			hsize += hdr[i].i_payload;
	free(s->buf);
	s->cap = (size_t)hsize + (size_t)size;
	if ((s->buf = malloc(s->cap)) == NULL) {
		free(p);
		return -EIO;
	}
	memcpy(s->buf, p, aud);
	at = aud;
	for (int i = 0; i < nh; i++)
		if (hdr[i].i_type != NAL_SEI) {
			memcpy(s->buf + at, hdr[i].p_payload,
			    (size_t)hdr[i].i_payload);
			at += (size_t)hdr[i].i_payload;
		}
	memcpy(s->buf + at, p + aud, (size_t)size - aud);
	free(p);
	s->sent_headers = 1;
	*out = s->buf;
	*len = (size_t)hsize + (size_t)size;
	return 0;
}

#else

int
simh264_available(void)
{
	return 0;
}

int
simh264_new(struct simh264 **out, uint32_t width, uint32_t height,
    unsigned fps, const struct simh264_opts *o)
{
	(void)width;
	(void)height;
	(void)fps;
	(void)o;
	*out = NULL;
	return -ENOTSUP;
}

void
simh264_free(struct simh264 *s)
{
	(void)s;
}

int
simh264_encode(struct simh264 *s, const uint8_t *y, const uint8_t *u,
    const uint8_t *v, int force_idr, const uint8_t **out, size_t *len,
    int *idr)
{
	(void)s;
	(void)y;
	(void)u;
	(void)v;
	(void)force_idr;
	(void)out;
	(void)len;
	(void)idr;
	return -ENOTSUP;
}

#endif
