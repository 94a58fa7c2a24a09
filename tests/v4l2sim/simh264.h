/*
 * simh264.h - H.264 the way a camera sends it, for the simulated camera
 * (V4L2_PIX_FMT_H264) and for tests that need real streams: libx264,
 * Annex-B (start codes), one access unit per frame, optionally an access
 * unit delimiter before each picture and the SPS and PPS before the
 * first IDR only, as many UVC cameras do.  Deliberately not the capture's
 * encoder (capture/h264enc.c): a camera of its own, so that the
 * capture's passthrough is tested against something it did not make.
 *
 * Built without x264 (X264=no), simh264_available() is 0 and
 * simh264_new() fails with -ENOTSUP.
 */
#ifndef SHMCAM_SIMH264_H
#define SHMCAM_SIMH264_H

#include <stddef.h>
#include <stdint.h>

struct simh264_opts {
	const char	*profile;	/* "baseline", "main", "high" */
	unsigned	 gop;		/* frames from IDR to IDR */
	int		 aud;		/* an AUD before each picture */
	int		 headers_once;	/* SPS/PPS before the first IDR only */
	int		 annexb;	/* start codes (else 4-byte lengths) */
	unsigned	 kbps;		/* rate limit, 0: constant quality */
};

struct simh264;

int	simh264_available(void);
/* 0, -ENOTSUP (no x264), -EINVAL (x264 refused the settings), -ENOMEM. */
int	simh264_new(struct simh264 **out, uint32_t width, uint32_t height,
	    unsigned fps, const struct simh264_opts *o);
void	simh264_free(struct simh264 *s);
/*
 * Encodes one 4:2:0 picture (planes y, u, v; strides width and width /
 * 2).  *out and *len: the access unit, in the encoder's buffer until the
 * next call; *idr: whether it is an IDR.  0 or -EIO.
 */
int	simh264_encode(struct simh264 *s, const uint8_t *y, const uint8_t *u,
	    const uint8_t *v, int force_idr, const uint8_t **out, size_t *len,
	    int *idr);

#endif /* SHMCAM_SIMH264_H */
