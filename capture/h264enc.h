/*
 * h264enc.h - frames of any source format to H.264 access units in the
 * ring's payload format (ring.h), with libx264.
 *
 * Low latency: no B-frames, no lookahead (x264's "zerolatency" tune), so
 * each frame comes out of the encoder as soon as it went in; keyframes
 * (IDR) every --h264-gop frames and on request, no others (scene-cut
 * detection off, so keyframes come where they are asked for); SPS and PPS
 * repeated before every keyframe.  Rate: x264's constant-quality mode
 * (--h264-quality, CRF) within a VBV rate limit (--h264-bitrate, buffer
 * half a second), so a still picture costs little and motion never more
 * than the limit.  Profile Constrained Baseline or Main (--h264-profile),
 * which browsers decode, WebRTC included.  Speed: x264's preset
 * (--h264-preset, default ultrafast) with the in-loop deblocking filter,
 * adaptive quantization and, in Main, CABAC whatever the preset, which
 * ultrafast alone turns off (h264enc_param() says why).
 *
 * Input: 4:2:0 as x264 wants it for those profiles.  YUV420 and NV12
 * frames go to x264 as they are; YUYV, UYVY, RGB24, BGR24 and GREY are
 * converted by libyuv; JPEG frames (MJPEG cameras, dir: sources) are
 * decoded by TurboJPEG to planes (tjDecompressToYUVPlanes, no RGB) and
 * 4:2:2 or 4:4:4 converted by libyuv.  JPEG's YCbCr is full range
 * (JFIF): those streams say so (video_full_range_flag) instead of paying
 * for a conversion; every other is limited range, BT.601 as the JPEG
 * path.
 *
 * Threads: x264's own, --h264-threads, sliced (one frame split between
 * them, no added latency), default 1; the capture runs this encoder on a
 * thread of its own beside the loop thread (workers.h), which on a
 * two-core board is already one core each.
 *
 * An encoder is used by one thread at a time.  It opens x264 at the first
 * frame and again when the size, the rate or the range changes (the
 * first frame after that is a keyframe with new parameter sets).
 *
 * Built with X264=no, h264enc_available() is 0 and h264enc_new() fails
 * with -ENOTSUP; nothing else here links x264 or libyuv.
 */
#ifndef SHMCAM_H264ENC_H
#define SHMCAM_H264ENC_H

#include <stddef.h>
#include <stdint.h>

#include "source.h"

enum h264_mode {
	H264_AUTO,	/* encode if built with x264; cameras' own H.264 */
	H264_ON,	/* as auto, but a build without x264 is an error */
	H264_OFF,	/* no H.264 ring */
};

enum h264_profile {
	H264_PROFILE_BASELINE,	/* Constrained Baseline: CAVLC, no B */
	H264_PROFILE_MAIN,	/* CABAC: about 10 % fewer bits, more CPU */
};

#define H264_QUALITY_DEFAULT	23	/* x264's own CRF default */
#define H264_BITRATE_MAX	100000	/* kbit/s */
#define H264_GOP_MAX		600
#define H264_THREADS_MAX	16
/* The default rate limit in bits per pixel and frame: 1935 kbit/s at
 * 1280x720, 30 fps, within the 1 to 3 Mbit/s a camera picture at 720p30
 * takes in H.264. */
#define H264_BITS_PER_PIXEL	0.07

struct h264_settings {
	enum h264_mode	 mode;
	uint32_t	 bitrate_kbps;	/* 0: from size and rate */
	uint32_t	 gop;		/* 0: one second of frames */
	int		 quality;	/* CRF, 1..51 */
	enum h264_profile profile;
	const char	*preset;	/* an x264 preset name */
	unsigned	 threads;
};

struct h264enc;
struct x264_param_t;

/* The defaults of the options (shmcam-capture(8)). */
void	h264enc_defaults(struct h264_settings *s);
/*
 * x264's parameters for these settings at this size, rate and range:
 * what the encoder opens x264 with, and what the benchmark gives x264
 * alone (tests/tools/x264bench.c).  0, -EINVAL (x264 refused them),
 * -ENOTSUP (built without x264).
 */
int	h264enc_param(const struct h264_settings *s, uint32_t width,
	    uint32_t height, uint32_t fps_milli, int fullrange,
	    struct x264_param_t *p);

/* 1 if this build encodes H.264 (X264=yes). */
int	h264enc_available(void);
/* 1 if name is an x264 preset ("ultrafast" ... "placebo"). */
int	h264enc_preset_valid(const char *name);
/* 1 if frames of this fourcc can be encoded. */
int	h264enc_supports(uint32_t fourcc);
/* The rate limit and GOP the settings give at this size and rate. */
uint32_t h264enc_bitrate(const struct h264_settings *s, uint32_t width,
	    uint32_t height, uint32_t fps_milli);
uint32_t h264enc_gop(const struct h264_settings *s, uint32_t fps_milli);
/* The largest access unit worth a ring slot at this size: a keyframe
 * needs far less than a third of the raw 4:2:0 picture at any bitrate
 * the settings allow; a bigger one makes the capture refit its ring. */
size_t	h264enc_max_size(uint32_t width, uint32_t height);

/* 0 or -ENOMEM, -ENOTSUP (built without x264). */
int	h264enc_new(struct h264enc **e, const struct h264_settings *s);
void	h264enc_free(struct h264enc *e);

/*
 * Encodes f into *out (the encoder's buffer, valid until the next call),
 * *len bytes, a ring payload; *keyframe 1 for an IDR (which then starts
 * with its SPS and PPS).  fps_milli is the source's rate (the rate
 * control's clock).  0, or -EINVAL (geometry, or a frame too short for
 * it), -ENOTSUP (format), -EBADMSG (a JPEG that does not decode), -EIO
 * (x264 failed), -ENOMEM.  A frame x264 keeps back gives *len = 0 (never
 * with these settings).
 */
int	h264enc_encode(struct h264enc *e, const struct source_frame *f,
	    uint32_t fps_milli, int force_idr, const uint8_t **out,
	    size_t *len, int *keyframe);

#endif /* SHMCAM_H264ENC_H */
