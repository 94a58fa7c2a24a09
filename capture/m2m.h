/*
 * m2m.h - a V4L2 memory-to-memory encoder: raw frames in on its OUTPUT
 * queue, coded ones out of its CAPTURE queue.  The JPEG encoder is here
 * (m2m_open() ... m2m_encode()); the H.264 one (m2m_h264.h) drives the
 * same device plumbing through the generic calls at the end.
 *
 * JPEG: raw frames in, JPEG out.  The Raspberry Pi Zero 2 W
 * to 4 have one (bcm2835-codec's "encode_image", usually /dev/video31),
 * and so do Rockchip boards (hantro); the Pi 5 has none.
 *
 * The device is found by what it is, never by its path: m2m_find() looks
 * at every node a glob matches for a memory-to-memory device
 * (V4L2_CAP_VIDEO_M2M or _M2M_MPLANE) with a JPEG capture format and a
 * raw output format of rawframe.c's table.
 *
 * Use: m2m_open() at setup (the node may need the privileges the capture
 * drops), then m2m_encode() per frame from one thread.  A frame goes in
 * by one copy into the device's output buffer (its own strides: the
 * camera's may differ), the JPEG comes out by one copy, checked
 * (mjpeg.c) and given Huffman tables if it lacks them.  The first frame
 * of a format or size configures the device (m2m_configure(): formats,
 * buffers, the quality control, STREAMON of both queues).  Waiting for
 * the device is bounded (M2M_TIMEOUT_MS): a codec that stops answering
 * costs that long once.
 *
 * Any error is returned with why[] saying what failed; the caller
 * (encode.c) then stops using the device for good and encodes on the CPU.
 * System calls after setup: V4L2 ioctls, mmap and munmap of the
 * device's buffers (reconfiguring), epoll_wait: nothing the capture's
 * filter does not already allow.
 */
#ifndef SHMCAM_M2M_H
#define SHMCAM_M2M_H

#include <stddef.h>
#include <stdint.h>

#include "rawframe.h"

#define M2M_TIMEOUT_MS	1000	/* an encode at 1080p takes ~20 ms */

struct m2m;

/*
 * The first node matching pattern (in numeric order: /dev/video2 before
 * /dev/video10) that m2m_open() would take, into path.  0 or -ENOENT.
 */
int	m2m_find(const char *pattern, char *path, size_t size);
/*
 * Opens the encoder at path for JPEG quality 1-100.  0 and *out, or
 * -errno with why[] (not a memory-to-memory JPEG encoder: -ENODEV).
 */
int	m2m_open(struct m2m **out, const char *path, int quality, char *why,
	    size_t whylen);
void	m2m_close(struct m2m *m);
/* "/dev/video31 (bcm2835-codec-encode_image)" */
const char *m2m_name(const struct m2m *m);
/* 1 if the device has V4L2_CID_JPEG_COMPRESSION_QUALITY (--quality
 * applies), 0 if it encodes at a quality of its own. */
int	m2m_has_quality(const struct m2m *m);
/* 1 if it takes frames of f's samples (f itself, or the same samples
 * in another layout: NV12M for NV12). */
int	m2m_takes(const struct m2m *m, const struct rawformat *f);
/*
 * Readies the device for frames of f at w x h, unless it already is.
 * 0, or -errno with why[] (-ENOTSUP: it does not take f, or not at this
 * size).
 */
int	m2m_configure(struct m2m *m, const struct rawformat *f, uint32_t w,
	    uint32_t h, char *why, size_t whylen);
/*
 * Encodes f into out (cap bytes, at least encoder_max_size() of the
 * frame).  0 and *len, or -errno with why[].
 */
int	m2m_encode(struct m2m *m, const struct rawframe *f, uint8_t *out,
	    size_t cap, size_t *len, char *why, size_t whylen);

/* ------------------------------------------- any codec (m2m_h264.c) */

/* As m2m_find() and m2m_open(), for an encoder whose CAPTURE queue gives
 * codec (V4L2_PIX_FMT_H264, ...); m2m_open() is codec JPEG with the
 * quality control. */
int	m2m_find_codec(const char *pattern, uint32_t codec, char *path,
	    size_t size);
int	m2m_open_codec(struct m2m **out, const char *path, uint32_t codec,
	    char *why, size_t whylen);
/* 1 if the device has control id, writable; m2m_ctrl_range() also
 * gives its range. */
int	m2m_has_ctrl(const struct m2m *m, uint32_t id);
int	m2m_ctrl_range(const struct m2m *m, uint32_t id, int32_t *min,
	    int32_t *max);
/* Control id = value at every configuration (VIDIOC_S_CTRL after the
 * formats, before the buffers); the next frame reconfigures.  0 or
 * -ENOSPC. */
int	m2m_set_ctrl(struct m2m *m, uint32_t id, int32_t value);
/* The frame rate told the device (S_PARM on OUTPUT), 0: none. */
void	m2m_set_rate(struct m2m *m, uint32_t fps_milli);
/* The CAPTURE buffer size asked for, 0: the driver's choice. */
void	m2m_set_capture_size(struct m2m *m, uint32_t bytes);
/* VIDIOC_S_CTRL now (a button: FORCE_KEY_FRAME).  0 or -errno, why[]. */
int	m2m_ctrl_now(struct m2m *m, uint32_t id, int32_t value, char *why,
	    size_t whylen);

/* What the CAPTURE queue gave: the device's buffer, until m2m_again()
 * or the next m2m_put(). */
struct m2m_coded {
	const uint8_t	*data;
	size_t		 len;
	uint32_t	 flags;		/* V4L2_BUF_FLAG_* */
	uint64_t	 ts_ns;		/* the frame's, copied by the driver */
};

/*
 * One frame through the device: m2m_put() (configures if needed, copies
 * f in with timestamp ts_ns, queues a capture buffer and the frame,
 * *deadline M2M_TIMEOUT_MS on), m2m_get() (waits for the coded buffer),
 * m2m_again() (requeues the capture buffer, for an encoder that gives a
 * frame in more than one), m2m_done() (waits for the frame's buffer to
 * come back).  Each returns 0 or -errno with why[]; on an error after
 * queueing the device is unconfigured (its buffers are taken back by
 * STREAMOFF).  m2m_reset() unconfigures it outright (a coded frame the
 * caller found broken).
 */
int	m2m_put(struct m2m *m, const struct rawframe *f, uint64_t ts_ns,
	    uint64_t *deadline, char *why, size_t whylen);
int	m2m_get(struct m2m *m, uint64_t deadline, struct m2m_coded *c,
	    char *why, size_t whylen);
int	m2m_again(struct m2m *m, char *why, size_t whylen);
int	m2m_done(struct m2m *m, uint64_t deadline, char *why, size_t whylen);
void	m2m_reset(struct m2m *m);

#endif /* SHMCAM_M2M_H */
