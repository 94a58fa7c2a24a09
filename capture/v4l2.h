/*
 * v4l2.h - what v4l2.c (streaming), v4l2_info.c (enumeration, controls,
 * --list), v4l2_queue.c (buffer queues) and m2m.c (the hardware JPEG
 * encoder) share.  Private to them: main.c knows source.h and m2m.h only.
 */
#ifndef SHMCAM_V4L2_H
#define SHMCAM_V4L2_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include <linux/videodev2.h>

#include "source.h"

#define V4L2_BUFFERS_MAX	32
#define V4L2_QUEUE_PLANES	3	/* the most any format of ours has */

/* ioctl() restarted on EINTR. */
int	v4l2_ioctl(int fd, unsigned long req, void *arg);

/* ------------------------------------------------------ v4l2_queue.c */

/*
 * A queue of mmap buffers of one buffer type, single-planar or
 * multi-planar (V4L2_BUF_TYPE_*_MPLANE): each buffer has vq_nplanes
 * memory planes, each mapped read-write.
 */
struct v4l2_queue_map {
	void	*start;
	size_t	 length;
};

struct v4l2_queue {
	int		 vq_fd;		/* not owned */
	uint32_t	 vq_type;	/* 0: no queue */
	int		 vq_mplane;
	unsigned	 vq_nplanes;
	unsigned	 vq_nbufs;
	int		 vq_requested;	/* REQBUFS succeeded: free with 0 */
	int		 vq_streaming;
	struct v4l2_queue_map vq_map[V4L2_BUFFERS_MAX][V4L2_QUEUE_PLANES];
};

/* A buffer DQBUF handed back: per plane, its data after data_offset. */
struct v4l2_dequeued {
	uint32_t	 dq_index;
	uint32_t	 dq_flags;	/* V4L2_BUF_FLAG_* */
	uint32_t	 dq_sequence;
	struct timeval	 dq_timestamp;
	uint8_t		*dq_data[V4L2_QUEUE_PLANES];
	size_t		 dq_len[V4L2_QUEUE_PLANES];
};

/*
 * REQBUFS count buffers of type with nplanes memory planes each (1 for
 * single-planar types), QUERYBUF and mmap every plane.  0, or -errno
 * with why[] saying which step failed; on failure the caller still
 * calls v4l2_queue_free().
 */
int	v4l2_queue_alloc(struct v4l2_queue *q, int fd, uint32_t type,
	    unsigned count, unsigned nplanes, char *why, size_t whylen);
/* STREAMOFF if streaming, unmap, REQBUFS 0; errors ignored (a device
 * that is gone fails them all).  Safe on a zeroed or freed queue. */
void	v4l2_queue_free(struct v4l2_queue *q);
/* QBUF index; used[] (per plane) and ts for output queues, else NULL.
 * 0 or -errno. */
int	v4l2_queue_qbuf(struct v4l2_queue *q, unsigned index,
	    const uint32_t *used, const struct timeval *ts);
/*
 * DQBUF.  0 and *d; -EAGAIN if none is ready (O_NONBLOCK); -EPROTO for
 * an index the queue does not have; -EBADMSG for a plane whose
 * bytesused or data_offset lies outside it (d->dq_index is valid: the
 * buffer is the caller's to queue again); other -errno from the driver.
 */
int	v4l2_queue_dqbuf(struct v4l2_queue *q, struct v4l2_dequeued *d);
/* STREAMON (on) or STREAMOFF.  0 or -errno. */
int	v4l2_queue_stream(struct v4l2_queue *q, int on);

/* ------------------------------------------------------ v4l2_info.c */

/*
 * The format to capture on buffer type: fourcc if the device offers it,
 * or with fourcc 0 MJPEG, then JPEG, then the raw format that costs the
 * encoder least (rawformat's rf_auto).  0 and *out, or -EINVAL (why[]
 * lists what the device offers).
 */
int	v4l2_pick_format(int fd, uint32_t type, uint32_t fourcc,
	    uint32_t *out, char *why, size_t whylen);
/*
 * The first path pattern (a glob) matches, in numeric order
 * (/dev/video2 before /dev/video10), for which fn(path, arg) is
 * non-zero, into path.  0 or -ENOENT.
 */
int	v4l2_find_node(const char *pattern, int (*fn)(const char *, void *),
	    void *arg, char *path, size_t size);
/* Largest width and height the device offers in fourcc (0 if unknown). */
void	v4l2_max_size(int fd, uint32_t fourcc, uint32_t *w, uint32_t *h);
/*
 * Sets each control by its v4l2-ctl name, in order.  -EINVAL with why[]
 * for an unknown name, a value out of range, a read-only control or one
 * the driver refuses.
 */
int	v4l2_set_controls(int fd, const struct source_control *c, unsigned n,
	    char *why, size_t whylen);
/*
 * 0 if fd is a video capture device with streaming I/O, and in *type
 * the buffer type to use: V4L2_BUF_TYPE_VIDEO_CAPTURE, or _MPLANE for a
 * device that only has the multi-planar API; *caps (may be NULL) gets
 * its device capabilities.  Otherwise -EMEDIUMTYPE and, if why is not
 * NULL, why not ("PATH: not a video capture device").
 */
int	v4l2_check_capture(int fd, const char *path, uint32_t *type,
	    uint32_t *caps, char *why, size_t whylen);

#endif /* SHMCAM_V4L2_H */
