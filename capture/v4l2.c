/*
 * v4l2.c - a V4L2 capture device as a source: mmap streaming, format,
 * size and rate negotiation, the driver's timestamps (see source.h).
 *
 * The device is opened O_NONBLOCK: the loop polls it and DQBUF never
 * waits.  A device that goes away (USB unplug) makes DQBUF fail with
 * ENODEV and poll report POLLERR; next() passes the error up and the
 * loop closes the source and reopens it later, which here is a fresh
 * open of the path with the same configuration.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/videodev2.h>

#include "encode.h"
#include "log.h"
#include "mjpeg.h"
#include "v4l2.h"

#define V4L2_BUFFERS_MAX	32

struct v4l2_mmap {
	void	*start;
	size_t	 length;
};

struct v4l2 {
	struct source_config cfg;
	char		 path[PATH_MAX];
	struct v4l2_mmap bufs[V4L2_BUFFERS_MAX];
	unsigned	 nbufs;
	int		 streaming;
	int		 opened_once;	/* control errors are fatal only at first */
	uint32_t	 last_seq;
	int		 have_seq;
	uint32_t	 lost;		/* frames lost since the last one handed out */
};

int
v4l2_ioctl(int fd, unsigned long req, void *arg)
{
	int rc;

	do
		rc = ioctl(fd, req, arg);
	while (rc == -1 && errno == EINTR);
	return rc;
}

static void
v4l2_unmap(struct v4l2 *v)
{
	for (unsigned i = 0; i < v->nbufs; i++)
		if (v->bufs[i].start != NULL)
			munmap(v->bufs[i].start, v->bufs[i].length);
	memset(v->bufs, 0, sizeof(v->bufs));
	v->nbufs = 0;
}

static void
v4l2_close(struct source *src)
{
	struct v4l2 *v = src->priv;
	struct v4l2_requestbuffers req;
	int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;

	if (src->fd == -1)
		return;
	/* On a device that is gone these fail with ENODEV: nothing to do
	 * about it, the close below releases everything anyway. */
	if (v->streaming)
		(void)v4l2_ioctl(src->fd, VIDIOC_STREAMOFF, &type);
	v->streaming = 0;
	v4l2_unmap(v);
	memset(&req, 0, sizeof(req));
	req.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	req.memory = V4L2_MEMORY_MMAP;
	(void)v4l2_ioctl(src->fd, VIDIOC_REQBUFS, &req);
	close(src->fd);
	src->fd = -1;
}

/* Sets the frame rate if asked to; returns what the device delivers. */
static uint32_t
v4l2_set_rate(struct v4l2 *v, int fd)
{
	struct v4l2_streamparm parm;
	struct v4l2_fract *tpf = &parm.parm.capture.timeperframe;

	memset(&parm, 0, sizeof(parm));
	parm.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	if (v4l2_ioctl(fd, VIDIOC_G_PARM, &parm) == -1)
		return 0;
	if (v->cfg.fps_given &&
	    (parm.parm.capture.capability & V4L2_CAP_TIMEPERFRAME)) {
		tpf->numerator = 1000;
		tpf->denominator = v->cfg.fps_milli;
		if (v4l2_ioctl(fd, VIDIOC_S_PARM, &parm) == -1)
			log_debug("%s: VIDIOC_S_PARM: %s", v->path,
			    strerror(errno));
		memset(&parm, 0, sizeof(parm));
		parm.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		if (v4l2_ioctl(fd, VIDIOC_G_PARM, &parm) == -1)
			return 0;
	}
	if (tpf->numerator == 0 || tpf->denominator == 0)
		return 0;
	return (uint32_t)((uint64_t)tpf->denominator * 1000 / tpf->numerator);
}

static int
v4l2_start(struct source *src, int fd, char *why, size_t whylen)
{
	struct v4l2 *v = src->priv;
	struct v4l2_requestbuffers req;
	struct v4l2_buffer b;
	int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	unsigned i;

	memset(&req, 0, sizeof(req));
	req.count = v->cfg.buffers;
	req.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	req.memory = V4L2_MEMORY_MMAP;
	if (v4l2_ioctl(fd, VIDIOC_REQBUFS, &req) == -1) {
		snprintf(why, whylen, "VIDIOC_REQBUFS: %s", strerror(errno));
		return -errno;
	}
	if (req.count < 2) {
		snprintf(why, whylen, "device gave %u buffers, need 2",
		    req.count);
		return -ENOMEM;
	}
	if (req.count > V4L2_BUFFERS_MAX)
		req.count = V4L2_BUFFERS_MAX;
	for (i = 0; i < req.count; i++) {
		memset(&b, 0, sizeof(b));
		b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		b.memory = V4L2_MEMORY_MMAP;
		b.index = i;
		if (v4l2_ioctl(fd, VIDIOC_QUERYBUF, &b) == -1) {
			snprintf(why, whylen, "VIDIOC_QUERYBUF: %s",
			    strerror(errno));
			return -errno;
		}
		v->bufs[i].start = mmap(NULL, b.length, PROT_READ | PROT_WRITE,
		    MAP_SHARED, fd, b.m.offset);
		if (v->bufs[i].start == MAP_FAILED) {
			v->bufs[i].start = NULL;
			snprintf(why, whylen, "mmap of buffer %u: %s", i,
			    strerror(errno));
			return -errno;
		}
		v->bufs[i].length = b.length;
		v->nbufs = i + 1;
		if (v4l2_ioctl(fd, VIDIOC_QBUF, &b) == -1) {
			snprintf(why, whylen, "VIDIOC_QBUF: %s",
			    strerror(errno));
			return -errno;
		}
	}
	if (v4l2_ioctl(fd, VIDIOC_STREAMON, &type) == -1) {
		snprintf(why, whylen, "VIDIOC_STREAMON: %s", strerror(errno));
		return -errno;
	}
	v->streaming = 1;
	return 0;
}

static int
v4l2_open(struct source *src, char *why, size_t whylen)
{
	struct v4l2 *v = src->priv;
	struct v4l2_format fmt;
	uint32_t fourcc, maxw, maxh;
	size_t bound, buflen = 0;
	int fd, rc;

	fd = open(v->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1) {
		rc = -errno;
		snprintf(why, whylen, "open %s: %s%s", v->path, strerror(errno),
		    errno == EACCES ? " (is the user in the video group?)" :
		    "");
		return rc;
	}
	src->fd = fd;
	if ((rc = v4l2_check_capture(fd, v->path, why, whylen)) != 0)
		goto fail;
	if ((rc = v4l2_pick_format(fd, v->cfg.fourcc, &fourcc, why,
	    whylen)) != 0)
		goto fail;

	memset(&fmt, 0, sizeof(fmt));
	fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	fmt.fmt.pix.width = v->cfg.width;
	fmt.fmt.pix.height = v->cfg.height;
	fmt.fmt.pix.pixelformat = fourcc;
	fmt.fmt.pix.field = V4L2_FIELD_ANY;
	if (v4l2_ioctl(fd, VIDIOC_S_FMT, &fmt) == -1) {
		rc = -errno;
		snprintf(why, whylen, "VIDIOC_S_FMT: %s", strerror(errno));
		goto fail;
	}
	if (fmt.fmt.pix.pixelformat != fourcc) {
		snprintf(why, whylen, "device would not capture %s",
		    source_format_name(fourcc));
		rc = -EINVAL;
		goto fail;
	}
	if (fmt.fmt.pix.width == 0 || fmt.fmt.pix.height == 0 ||
	    fmt.fmt.pix.width > 16384 || fmt.fmt.pix.height > 16384) {
		snprintf(why, whylen, "device reports a size of %ux%u",
		    fmt.fmt.pix.width, fmt.fmt.pix.height);
		rc = -EPROTO;
		goto fail;
	}
	if (!v->opened_once && (fmt.fmt.pix.width != v->cfg.width ||
	    fmt.fmt.pix.height != v->cfg.height))
		log_info("%s: %ux%u asked for, the device captures %ux%u",
		    v->path, v->cfg.width, v->cfg.height, fmt.fmt.pix.width,
		    fmt.fmt.pix.height);
	src->width = fmt.fmt.pix.width;
	src->height = fmt.fmt.pix.height;
	src->fourcc = fourcc;
	src->bytesperline = source_format_is_compressed(fourcc) ? 0 :
	    fmt.fmt.pix.bytesperline;

	src->fps_device_milli = v4l2_set_rate(v, fd);
	src->fps_milli = v->cfg.fps_given ? v->cfg.fps_milli :
	    src->fps_device_milli ? src->fps_device_milli : 30000;

	rc = v4l2_set_controls(fd, v->cfg.controls, v->cfg.ncontrols, why,
	    whylen);
	if (rc != 0) {
		if (!v->opened_once)
			goto fail;
		log_warnx("%s: %s", v->path, why);
	}

	if ((rc = v4l2_start(src, fd, why, whylen)) != 0)
		goto fail;

	/*
	 * Size the ring for the largest frame this format can bring, at any
	 * size the device offers, so that a device that comes back with
	 * another size still fits.
	 */
	v4l2_max_size(fd, fourcc, &maxw, &maxh);
	if (maxw < src->width || maxh < src->height) {
		maxw = src->width;
		maxh = src->height;
	}
	bound = encoder_max_size(maxw, maxh);
	if (source_format_is_compressed(fourcc)) {
		for (unsigned i = 0; i < v->nbufs; i++)
			if (v->bufs[i].length > buflen)
				buflen = v->bufs[i].length;
		if (buflen > bound)
			bound = buflen;
		bound += MJPEG_DHT_LEN;
	}
	src->max_frame = bound > UINT32_MAX / 2 ? UINT32_MAX / 2 :
	    (uint32_t)bound;
	v->have_seq = 0;
	v->lost = 0;
	v->opened_once = 1;
	return 0;

fail:
	v4l2_close(src);
	return rc;
}

static void
v4l2_requeue(struct source *src, uint32_t index)
{
	struct v4l2_buffer b;

	memset(&b, 0, sizeof(b));
	b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	b.memory = V4L2_MEMORY_MMAP;
	b.index = index;
	/* A failure here shows up as a DQBUF error next time. */
	if (v4l2_ioctl(src->fd, VIDIOC_QBUF, &b) == -1)
		log_debug("VIDIOC_QBUF %u: %s", index, strerror(errno));
}

static int
v4l2_next(struct source *src, struct source_frame *f, char *why,
    size_t whylen)
{
	struct v4l2 *v = src->priv;
	struct v4l2_buffer b;
	uint64_t ts, now_mono, now_real;

	memset(&b, 0, sizeof(b));
	b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	b.memory = V4L2_MEMORY_MMAP;
	if (v4l2_ioctl(src->fd, VIDIOC_DQBUF, &b) == -1) {
		if (errno == EAGAIN)
			return 0;
		snprintf(why, whylen, "VIDIOC_DQBUF: %s", strerror(errno));
		return -errno;
	}
	if (b.index >= v->nbufs) {
		snprintf(why, whylen, "driver returned buffer %u of %u",
		    b.index, v->nbufs);
		return -EPROTO;
	}
	if (v->have_seq && b.sequence > v->last_seq + 1)
		v->lost += b.sequence - v->last_seq - 1;
	v->last_seq = b.sequence;
	v->have_seq = 1;
	if ((b.flags & V4L2_BUF_FLAG_ERROR) || b.bytesused == 0 ||
	    b.bytesused > v->bufs[b.index].length) {
		/* The driver says the data is corrupt: count it as lost. */
		v->lost++;
		v4l2_requeue(src, b.index);
		return 0;
	}

	memset(f, 0, sizeof(*f));
	f->fourcc = src->fourcc;
	f->width = src->width;
	f->height = src->height;
	f->bytesperline = src->bytesperline;
	f->data = v->bufs[b.index].start;
	f->length = b.bytesused;
	f->index = b.index;
	f->skipped = v->lost;
	v->lost = 0;

	/*
	 * The driver's timestamp is when the frame was captured (UVC: start
	 * of the frame), on CLOCK_MONOTONIC when the flag says so; the wall
	 * clock time is derived from it by the offset between the clocks
	 * now.
	 */
	now_mono = clock_ns(CLOCK_MONOTONIC);
	now_real = clock_ns(CLOCK_REALTIME);
	ts = (uint64_t)b.timestamp.tv_sec * 1000000000u +
	    (uint64_t)b.timestamp.tv_usec * 1000u;
	if ((b.flags & V4L2_BUF_FLAG_TIMESTAMP_MASK) ==
	    V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC && ts != 0 && ts <= now_mono &&
	    now_mono - ts < now_real) {
		f->capture_mono_ns = ts;
		f->capture_real_ns = now_real - (now_mono - ts);
	} else {
		f->capture_mono_ns = now_mono;
		f->capture_real_ns = now_real;
	}
	return 1;
}

static void
v4l2_release(struct source *src, struct source_frame *f)
{
	if (src->fd != -1)
		v4l2_requeue(src, f->index);
}

static void
v4l2_destroy(struct source *src)
{
	v4l2_close(src);
	free(src->priv);
	src->priv = NULL;
}

static const struct source_ops v4l2_ops = {
	.open = v4l2_open,
	.close = v4l2_close,
	.next = v4l2_next,
	.release = v4l2_release,
	.destroy = v4l2_destroy,
};

int
v4l2_source_init(struct source *src, const struct source_config *c)
{
	struct v4l2 *v;

	memset(src, 0, sizeof(*src));
	src->fd = -1;
	if (c->path == NULL || strlen(c->path) >= sizeof(v->path))
		return -ENAMETOOLONG;
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return -ENOMEM;
	v->cfg = *c;
	if (v->cfg.buffers < 2)
		v->cfg.buffers = 2;
	if (v->cfg.buffers > V4L2_BUFFERS_MAX)
		v->cfg.buffers = V4L2_BUFFERS_MAX;
	snprintf(v->path, sizeof(v->path), "%s", c->path);
	src->ops = &v4l2_ops;
	src->priv = v;
	src->width = c->width;
	src->height = c->height;
	src->fourcc = c->fourcc;
	src->fps_milli = c->fps_milli;
	src->max_frame = (uint32_t)encoder_max_size(c->width, c->height) +
	    MJPEG_DHT_LEN;
	snprintf(src->desc, sizeof(src->desc), "v4l2:%s", c->path);
	return 0;
}
