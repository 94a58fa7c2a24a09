/*
 * m2m_h264.h - H.264 from a V4L2 memory-to-memory encoder (m2m.h's
 * device plumbing), behind the same interface as x264 (h264enc.h): a
 * frame in, a ring payload (ring.h) out.  The Raspberry Pi Zero 2 W to 4
 * have one: bcm2835-codec's "encode" node, usually /dev/video11.
 *
 * Found by what it is (m2m_h264_find(): memory-to-memory, H264 on its
 * CAPTURE queue, a raw format of rawframe.c's on its OUTPUT queue), opened
 * at setup, before the capture drops privileges.
 *
 * What the options become, set on the device at each configuration (the
 * first frame, a size or rate change):
 *   --h264-bitrate    V4L2_CID_MPEG_VIDEO_BITRATE, variable bitrate mode
 *                     (_BITRATE_MODE_VBR) where the device has the mode:
 *                     like x264's VBV limit, a still picture costs less;
 *   --h264-gop        V4L2_CID_MPEG_VIDEO_H264_I_PERIOD;
 *   --h264-profile    _H264_PROFILE: Constrained Baseline or Main;
 *   the level         _H264_LEVEL: the lowest of Table A-1 for the
 *                     picture size and rate (what x264 does too);
 *   parameter sets    _REPEAT_SEQ_HEADER on, so an IDR brings its SPS and
 *                     PPS (h264pass.c puts the kept ones in front of an
 *                     IDR that lacks them all the same);
 *   the rate          VIDIOC_S_PARM on the OUTPUT queue.
 * --h264-quality, --h264-preset and --h264-threads are x264's; the
 * hardware has its own rate control and speed.
 *
 * A keyframe on request: V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME before the
 * frame is queued.
 *
 * Every access unit goes through h264pass.c, the checks a camera's own
 * H.264 gets (parameter sets required, broken units dropped until the
 * next IDR, converted to the ring's length-prefixed form), and must be
 * of the frame that went in (the capture buffer's timestamp, which the
 * driver copies from the frame's) and of its size.  The header bytes may
 * come in a buffer of their own before the picture's (older firmware
 * without "headers with frame"): those are collected until a buffer
 * brings a slice.
 *
 * Errors: m2m_h264_encode() returns -errno with why[] for anything that
 * says the device cannot be trusted (an ioctl refused, nothing within
 * M2M_TIMEOUT_MS, a unit of another frame or size, a stream h264pass
 * refuses as unsupported, M2M_H264_BROKEN_MAX broken units in a row);
 * the caller then stops using it for good.  A single broken unit is
 * -EAGAIN: dropped, and the next frame is asked to be an IDR.
 *
 * One thread at a time (the capture's H.264 thread).
 */
#ifndef SHMCAM_M2M_H264_H
#define SHMCAM_M2M_H264_H

#include <stddef.h>
#include <stdint.h>

#include "h264enc.h"
#include "source.h"

/* Broken units in a row that make the device a failure: one second at
 * 30 fps, long past what a glitch explains. */
#define M2M_H264_BROKEN_MAX	30

struct m2m_h264;

/* The first H.264 encoder among the nodes pattern matches, into path.
 * 0 or -ENOENT. */
int	m2m_h264_find(const char *pattern, char *path, size_t size);
/*
 * Opens the encoder at path for settings s (kept, not copied).  0 and
 * *out, or -errno with why[]: -ENODEV (not a memory-to-memory H.264
 * encoder), -ENOTSUP (it lacks the bitrate, GOP or keyframe control).
 */
int	m2m_h264_open(struct m2m_h264 **out, const char *path,
	    const struct h264_settings *s, char *why, size_t whylen);
void	m2m_h264_close(struct m2m_h264 *e);
/* "/dev/video11 (bcm2835-codec-encode)" */
const char *m2m_h264_name(const struct m2m_h264 *e);
/* 1 if it takes frames of fourcc (or of the same samples). */
int	m2m_h264_takes(const struct m2m_h264 *e, uint32_t fourcc);
/*
 * Encodes raw frame f at fps_milli into *out (the encoder's buffer, until
 * the next call), *len bytes of ring payload, *keyframe 1 for an IDR
 * (which then starts with its SPS and PPS).  0; -EAGAIN (a broken unit,
 * dropped, see above); any other -errno with why[]: the device failed.
 */
int	m2m_h264_encode(struct m2m_h264 *e, const struct source_frame *f,
	    uint32_t fps_milli, int force_idr, const uint8_t **out,
	    size_t *len, int *keyframe, char *why, size_t whylen);
/* The V4L2 level (V4L2_MPEG_VIDEO_H264_LEVEL_*) for this size and rate:
 * the lowest whose frame size and macroblock rate hold it. */
int	m2m_h264_level(uint32_t width, uint32_t height, uint32_t fps_milli);

#endif /* SHMCAM_M2M_H264_H */
