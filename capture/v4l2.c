/*
 * v4l2.c - a V4L2 capture device as a source: mmap streaming through the
 * single-planar or the multi-planar API (whichever the device has; the
 * frame's planes are described the same way for the encoders either
 * way), format, size and rate negotiation, the driver's timestamps (see
 * source.h).
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/videodev2.h>

#include "encode.h"
#include "log.h"
#include "mjpeg.h"
#include "v4l2.h"

struct v4l2 {
	struct source_config cfg;
	char		 path[PATH_MAX];
	uint32_t	 type;		/* buffer type: _MPLANE or not */
	uint32_t	 caps;		/* the device's capabilities */
	struct v4l2_queue q;
	unsigned	 nplanes;	/* memory planes per buffer */
	uint32_t	 stride[V4L2_QUEUE_PLANES];	/* their bytesperline */
	int		 opened_once;	/* control errors are fatal only at first */
	uint32_t	 last_seq;
	int		 have_seq;
	uint32_t	 lost;		/* frames lost since the last one handed out */
	int		 short_logged;
};

static void
v4l2_close(struct source *src)
{
	struct v4l2 *v = src->priv;

	if (src->fd == -1)
		return;
	v4l2_queue_free(&v->q);
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
	parm.type = v->type;
	if (v4l2_ioctl(fd, VIDIOC_G_PARM, &parm) == -1)
		return 0;	/* libcamera's layer has none: ENOTTY */
	if (v->cfg.fps_given &&
	    (parm.parm.capture.capability & V4L2_CAP_TIMEPERFRAME)) {
		tpf->numerator = 1000;
		tpf->denominator = v->cfg.fps_milli;
		if (v4l2_ioctl(fd, VIDIOC_S_PARM, &parm) == -1)
			log_debug("%s: VIDIOC_S_PARM: %s", v->path,
			    strerror(errno));
		memset(&parm, 0, sizeof(parm));
		parm.type = v->type;
		if (v4l2_ioctl(fd, VIDIOC_G_PARM, &parm) == -1)
			return 0;
	}
	if (tpf->numerator == 0 || tpf->denominator == 0)
		return 0;
	return (uint32_t)((uint64_t)tpf->denominator * 1000 / tpf->numerator);
}

/*
 * STREAMON failed.  A video node of a media controller pipeline (the
 * Raspberry Pi's unicam, rkisp1, i.MX8 ISI) refuses to stream with EPIPE
 * (link validation) or EINVAL until its links and its sensor's format
 * are set up: name the two ways out, which is what most users whose Pi
 * camera module "does not work" need to read.
 */
static void
v4l2_streamon_failed(const struct v4l2 *v, int err, char *why,
    size_t whylen)
{
	if (err == EPIPE || err == EINVAL || (v->caps & V4L2_CAP_IO_MC))
		snprintf(why, whylen, "VIDIOC_STREAMON: %s: %s is a node of "
		    "a media controller pipeline that is not set up%s: "
		    "configure it with media-ctl, or for a Raspberry Pi "
		    "camera module run the capture under libcamerify",
		    strerror(err), v->path, (v->caps & V4L2_CAP_IO_MC) ?
		    " (V4L2_CAP_IO_MC)" : "");
	else
		snprintf(why, whylen, "VIDIOC_STREAMON: %s", strerror(err));
}

static int
v4l2_start(struct source *src, int fd, char *why, size_t whylen)
{
	struct v4l2 *v = src->priv;
	unsigned i;
	int rc;

	rc = v4l2_queue_alloc(&v->q, fd, v->type, v->cfg.buffers, v->nplanes,
	    why, whylen);
	if (rc != 0)
		return rc;
	if (v->q.vq_nbufs < 2) {
		snprintf(why, whylen, "device gave %u buffers, need 2",
		    v->q.vq_nbufs);
		return -ENOMEM;
	}
	for (i = 0; i < v->q.vq_nbufs; i++)
		if ((rc = v4l2_queue_qbuf(&v->q, i, NULL, NULL)) != 0) {
			snprintf(why, whylen, "VIDIOC_QBUF: %s",
			    strerror(-rc));
			return rc;
		}
	if ((rc = v4l2_queue_stream(&v->q, 1)) != 0) {
		v4l2_streamon_failed(v, -rc, why, whylen);
		return rc;
	}
	return 0;
}

/*
 * S_FMT at the configured size: single-planar pix, or pix_mp with the
 * memory planes the driver chose and each one's bytesperline.
 */
static int
v4l2_set_format(struct source *src, int fd, uint32_t fourcc, char *why,
    size_t whylen)
{
	struct v4l2 *v = src->priv;
	const struct rawformat *raw = rawformat_find(fourcc);
	struct v4l2_format fmt;
	uint32_t got, w, h;
	unsigned want;

	memset(&fmt, 0, sizeof(fmt));
	fmt.type = v->type;
	if (v->type == V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE) {
		fmt.fmt.pix_mp.width = v->cfg.width;
		fmt.fmt.pix_mp.height = v->cfg.height;
		fmt.fmt.pix_mp.pixelformat = fourcc;
		fmt.fmt.pix_mp.field = V4L2_FIELD_ANY;
	} else {
		fmt.fmt.pix.width = v->cfg.width;
		fmt.fmt.pix.height = v->cfg.height;
		fmt.fmt.pix.pixelformat = fourcc;
		fmt.fmt.pix.field = V4L2_FIELD_ANY;
	}
	if (v4l2_ioctl(fd, VIDIOC_S_FMT, &fmt) == -1) {
		snprintf(why, whylen, "VIDIOC_S_FMT: %s", strerror(errno));
		return -errno;
	}
	memset(v->stride, 0, sizeof(v->stride));
	if (v->type == V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE) {
		got = fmt.fmt.pix_mp.pixelformat;
		w = fmt.fmt.pix_mp.width;
		h = fmt.fmt.pix_mp.height;
		v->nplanes = fmt.fmt.pix_mp.num_planes;
		want = raw != NULL ? raw->rf_buffers : 1;
		if (got == fourcc && v->nplanes != want) {
			snprintf(why, whylen, "the driver gives %s in %u "
			    "buffers, the format has %u", source_format_name(
			    fourcc), v->nplanes, want);
			return -EPROTO;
		}
		for (unsigned i = 0; i < v->nplanes &&
		    i < V4L2_QUEUE_PLANES; i++)
			v->stride[i] =
			    fmt.fmt.pix_mp.plane_fmt[i].bytesperline;
	} else {
		got = fmt.fmt.pix.pixelformat;
		w = fmt.fmt.pix.width;
		h = fmt.fmt.pix.height;
		v->nplanes = 1;
		v->stride[0] = fmt.fmt.pix.bytesperline;
	}
	if (got != fourcc) {
		snprintf(why, whylen, "device would not capture %s",
		    source_format_name(fourcc));
		return -EINVAL;
	}
	if (w == 0 || h == 0 || w > 16384 || h > 16384) {
		snprintf(why, whylen, "device reports a size of %ux%u", w, h);
		return -EPROTO;
	}
	if (!v->opened_once && (w != v->cfg.width || h != v->cfg.height))
		log_info("%s: %ux%u asked for, the device captures %ux%u",
		    v->path, v->cfg.width, v->cfg.height, w, h);
	src->width = w;
	src->height = h;
	src->fourcc = fourcc;
	return 0;
}

/*
 * Is a library in this process answering for the device?  A kernel
 * driver's node is a character device; libcamera's V4L2 layer gives an
 * eventfd and calls itself "libcamera" (V4L2CameraProxy::querycap()).
 */
static void
v4l2_note_layer(struct source *src, int fd)
{
	struct v4l2_capability cap;
	struct stat st;

	src->layer[0] = '\0';
	memset(&cap, 0, sizeof(cap));
	if (v4l2_ioctl(fd, VIDIOC_QUERYCAP, &cap) == 0 &&
	    strncmp((const char *)cap.driver, "libcamera", sizeof(cap.driver))
	    == 0)
		snprintf(src->layer, sizeof(src->layer), "the driver is "
		    "libcamera");
	else if (fstat(fd, &st) == 0 && !S_ISCHR(st.st_mode))
		snprintf(src->layer, sizeof(src->layer), "the device is not a "
		    "character device");
}

static int
v4l2_open(struct source *src, char *why, size_t whylen)
{
	struct v4l2 *v = src->priv;
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
	if ((rc = v4l2_check_capture(fd, v->path, &v->type, &v->caps, why,
	    whylen)) != 0)
		goto fail;
	v4l2_note_layer(src, fd);
	if ((rc = v4l2_pick_format(fd, v->type, v->cfg.fourcc, &fourcc, why,
	    whylen)) != 0)
		goto fail;
	if ((rc = v4l2_set_format(src, fd, fourcc, why, whylen)) != 0)
		goto fail;

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
		for (unsigned i = 0; i < v->q.vq_nbufs; i++)
			if (v->q.vq_map[i][0].length > buflen)
				buflen = v->q.vq_map[i][0].length;
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
	struct v4l2 *v = src->priv;
	int rc;

	/* A failure here shows up as a DQBUF error next time. */
	if ((rc = v4l2_queue_qbuf(&v->q, index, NULL, NULL)) != 0)
		log_debug("VIDIOC_QBUF %u: %s", index, strerror(-rc));
}

/* The frame's planes as a raw frame, or 0 (logged once) if short. */
static int
v4l2_describe(struct source *src, const struct v4l2_dequeued *d,
    struct source_frame *f)
{
	struct v4l2 *v = src->priv;
	size_t len[V4L2_QUEUE_PLANES];
	uint8_t *data[V4L2_QUEUE_PLANES];

	for (unsigned p = 0; p < v->nplanes; p++) {
		data[p] = d->dq_data[p];
		len[p] = d->dq_len[p];
	}
	if (rawframe_describe(&f->raw, rawformat_find(src->fourcc),
	    src->width, src->height, v->nplanes, data, len, v->stride) == 0)
		return 1;
	if (!v->short_logged++)
		log_warnx("%s: a %ux%u %s frame of %zu bytes (first plane) is "
		    "shorter than its format needs (bytesperline %u): "
		    "dropped, and any more", v->path, src->width, src->height,
		    source_format_name(src->fourcc), d->dq_len[0],
		    v->stride[0]);
	return 0;
}

static int
v4l2_next(struct source *src, struct source_frame *f, char *why,
    size_t whylen)
{
	struct v4l2 *v = src->priv;
	struct v4l2_dequeued d;
	uint64_t ts, now_mono, now_real;
	int rc;

	rc = v4l2_queue_dqbuf(&v->q, &d);
	if (rc == -EAGAIN)
		return 0;
	if (rc == -EPROTO) {
		snprintf(why, whylen, "driver returned buffer %u of %u",
		    d.dq_index, v->q.vq_nbufs);
		return rc;
	}
	if (rc != 0 && rc != -EBADMSG) {
		snprintf(why, whylen, "VIDIOC_DQBUF: %s", strerror(-rc));
		return rc;
	}
	if (v->have_seq && d.dq_sequence > v->last_seq + 1)
		v->lost += d.dq_sequence - v->last_seq - 1;
	v->last_seq = d.dq_sequence;
	v->have_seq = 1;
	if (rc == -EBADMSG || (d.dq_flags & V4L2_BUF_FLAG_ERROR) ||
	    d.dq_len[0] == 0) {
		/* The driver says the data is corrupt: count it as lost. */
		v->lost++;
		v4l2_requeue(src, d.dq_index);
		return 0;
	}

	memset(f, 0, sizeof(*f));
	f->fourcc = src->fourcc;
	f->width = src->width;
	f->height = src->height;
	f->index = d.dq_index;
	if (source_format_is_compressed(src->fourcc)) {
		f->data = d.dq_data[0];
		f->length = d.dq_len[0];
	} else if (!v4l2_describe(src, &d, f)) {
		/* Shorter than its geometry: corrupt, as above. */
		v->lost++;
		v4l2_requeue(src, d.dq_index);
		return 0;
	}
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
	ts = (uint64_t)d.dq_timestamp.tv_sec * 1000000000u +
	    (uint64_t)d.dq_timestamp.tv_usec * 1000u;
	if ((d.dq_flags & V4L2_BUF_FLAG_TIMESTAMP_MASK) ==
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
	v->q.vq_fd = -1;
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
