/*
 * m2m.c - a V4L2 memory-to-memory encoder's device plumbing, and the
 * JPEG encoder on it (see m2m.h; the H.264 one is m2m_h264.c).
 *
 * One frame at a time, synchronously: one OUTPUT buffer and one CAPTURE
 * buffer, queued per frame, the capture buffer waited for with
 * epoll_wait() on a private epoll set.  The codec's own pipelining would
 * let it overlap frames; at camera rates one frame at a time leaves it
 * idle most of the time anyway (bcm2835-codec: ~20 ms for a JPEG at
 * 1080p).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "mjpeg.h"
#include "m2m.h"
#include "v4l2.h"

#define M2M_FORMATS_MAX	32
#define M2M_CTRLS_MAX	12

struct m2m {
	int		 fd;
	int		 epfd;
	int		 mplane;
	uint32_t	 out_type, cap_type;
	uint32_t	 codec;		/* the CAPTURE format: JPEG, H264 */
	char		 name[96];
	int		 has_quality;
	/* Controls set at each configuration, in order (m2m_set_ctrl()). */
	struct v4l2_control ctrls[M2M_CTRLS_MAX];
	unsigned	 nctrls;
	uint32_t	 fps_milli;	/* S_PARM on OUTPUT, 0: not set */
	uint32_t	 cap_size;	/* CAPTURE sizeimage asked, 0: the
					 * driver's */
	/* What the OUTPUT queue takes, in the device's order. */
	uint32_t	 formats[M2M_FORMATS_MAX];
	unsigned	 nformats;
	/* As configured: the frames' format and size, the device's. */
	const struct rawformat *cfg_fmt;	/* NULL: not configured */
	const struct rawformat *dev_fmt;
	uint32_t	 width, height;
	uint32_t	 stride[V4L2_QUEUE_PLANES];
	uint32_t	 sizeimage[V4L2_QUEUE_PLANES];
	unsigned	 nplanes;
	struct v4l2_queue out, cap;
};

/* ------------------------------------------------------------ probing */

static int
is_m2m(int fd, uint32_t *caps_out)
{
	struct v4l2_capability cap;
	uint32_t caps;

	memset(&cap, 0, sizeof(cap));
	if (v4l2_ioctl(fd, VIDIOC_QUERYCAP, &cap) == -1)
		return 0;
	caps = (cap.capabilities & V4L2_CAP_DEVICE_CAPS) ? cap.device_caps :
	    cap.capabilities;
	*caps_out = caps;
	return (caps & (V4L2_CAP_VIDEO_M2M | V4L2_CAP_VIDEO_M2M_MPLANE)) &&
	    (caps & V4L2_CAP_STREAMING);
}

/*
 * want: a coded format, or 0 for any raw one (rawframe.c's table).
 * JPEG encoders may call theirs MJPEG.
 */
static int
accepts(uint32_t want, uint32_t fourcc)
{
	if (want == 0)
		return rawformat_find(fourcc) != NULL;
	if (want == V4L2_PIX_FMT_JPEG)
		return fourcc == V4L2_PIX_FMT_JPEG ||
		    fourcc == V4L2_PIX_FMT_MJPEG;
	return fourcc == want;
}

/* 1 if the queue of type lists a format accepts() want. */
static int
lists(int fd, uint32_t type, uint32_t want)
{
	struct v4l2_fmtdesc d;

	for (uint32_t i = 0; i < 64; i++) {
		memset(&d, 0, sizeof(d));
		d.index = i;
		d.type = type;
		if (v4l2_ioctl(fd, VIDIOC_ENUM_FMT, &d) == -1)
			return 0;
		if (accepts(want, d.pixelformat))
			return 1;
	}
	return 0;
}


/*
 * An encoder of codec: memory-to-memory, codec out, raw in.  A decoder
 * (bcm2835-codec's decode node, hantro's) has them the other way round.
 */
static int
m2m_probe(int fd, uint32_t codec, int *mplane)
{
	uint32_t caps;

	if (!is_m2m(fd, &caps))
		return 0;
	*mplane = (caps & V4L2_CAP_VIDEO_M2M_MPLANE) != 0;
	return lists(fd, *mplane ? V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE :
	    V4L2_BUF_TYPE_VIDEO_CAPTURE, codec) &&
	    lists(fd, *mplane ? V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE :
	    V4L2_BUF_TYPE_VIDEO_OUTPUT, 0);
}

static int
find_cb(const char *path, void *arg)
{
	const uint32_t *codec = arg;
	int fd, mplane, yes;

	if ((fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)) == -1)
		return 0;
	yes = m2m_probe(fd, *codec, &mplane);
	close(fd);
	return yes;
}

int
m2m_find_codec(const char *pattern, uint32_t codec, char *path, size_t size)
{
	return v4l2_find_node(pattern, find_cb, &codec, path, size);
}

int
m2m_find(const char *pattern, char *path, size_t size)
{
	return m2m_find_codec(pattern, V4L2_PIX_FMT_JPEG, path, size);
}

static const char *
codec_name(uint32_t codec)
{
	return codec == V4L2_PIX_FMT_JPEG ? "JPEG" : codec ==
	    V4L2_PIX_FMT_H264 ? "H.264" : "video";
}

/* ------------------------------------------------------------ open */

int
m2m_open_codec(struct m2m **out, const char *path, uint32_t codec,
    char *why, size_t whylen)
{
	struct v4l2_capability cap;
	struct v4l2_fmtdesc d;
	struct epoll_event ev;
	struct m2m *m;
	int rc;

	*out = NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return -ENOMEM;
	m->out.vq_fd = m->cap.vq_fd = m->epfd = -1;
	m->codec = codec;
	if ((m->fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)) == -1) {
		rc = -errno;
		snprintf(why, whylen, "open %s: %s", path, strerror(errno));
		free(m);
		return rc;
	}
	if (!m2m_probe(m->fd, codec, &m->mplane)) {
		snprintf(why, whylen, "%s is not a memory-to-memory %s "
		    "encoder", path, codec_name(codec));
		rc = -ENODEV;
		goto fail;
	}
	m->out_type = m->mplane ? V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE :
	    V4L2_BUF_TYPE_VIDEO_OUTPUT;
	m->cap_type = m->mplane ? V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE :
	    V4L2_BUF_TYPE_VIDEO_CAPTURE;
	memset(&cap, 0, sizeof(cap));
	(void)v4l2_ioctl(m->fd, VIDIOC_QUERYCAP, &cap);
	snprintf(m->name, sizeof(m->name), "%s (%.*s)", path,
	    (int)sizeof(cap.card), (const char *)cap.card);
	for (uint32_t i = 0; m->nformats < M2M_FORMATS_MAX && i < 64; i++) {
		memset(&d, 0, sizeof(d));
		d.index = i;
		d.type = m->out_type;
		if (v4l2_ioctl(m->fd, VIDIOC_ENUM_FMT, &d) == -1)
			break;
		if (accepts(0, d.pixelformat))
			m->formats[m->nformats++] = d.pixelformat;
	}
	if ((m->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		rc = -errno;
		snprintf(why, whylen, "epoll_create1: %s", strerror(errno));
		goto fail;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLOUT;
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->fd, &ev) == -1) {
		rc = -errno;
		snprintf(why, whylen, "epoll_ctl: %s", strerror(errno));
		goto fail;
	}
	*out = m;
	return 0;
fail:
	m2m_close(m);
	return rc;
}

int
m2m_open(struct m2m **out, const char *path, int quality, char *why,
    size_t whylen)
{
	int rc;

	if ((rc = m2m_open_codec(out, path, V4L2_PIX_FMT_JPEG, why,
	    whylen)) != 0)
		return rc;
	(*out)->has_quality = m2m_has_ctrl(*out,
	    V4L2_CID_JPEG_COMPRESSION_QUALITY);
	if ((*out)->has_quality)
		(void)m2m_set_ctrl(*out, V4L2_CID_JPEG_COMPRESSION_QUALITY,
		    quality);
	return 0;
}

static void
m2m_unconfigure(struct m2m *m)
{
	v4l2_queue_free(&m->out);
	v4l2_queue_free(&m->cap);
	m->cfg_fmt = m->dev_fmt = NULL;
}

void
m2m_close(struct m2m *m)
{
	if (m == NULL)
		return;
	m2m_unconfigure(m);
	if (m->epfd != -1)
		close(m->epfd);
	if (m->fd != -1)
		close(m->fd);
	free(m);
}

const char *
m2m_name(const struct m2m *m)
{
	return m->name;
}

int
m2m_has_quality(const struct m2m *m)
{
	return m->has_quality;
}

int
m2m_ctrl_range(const struct m2m *m, uint32_t id, int32_t *min,
    int32_t *max)
{
	struct v4l2_queryctrl q;

	memset(&q, 0, sizeof(q));
	q.id = id;
	if (v4l2_ioctl(m->fd, VIDIOC_QUERYCTRL, &q) != 0 || q.id != id ||
	    (q.flags & (V4L2_CTRL_FLAG_DISABLED | V4L2_CTRL_FLAG_READ_ONLY)))
		return 0;
	*min = q.minimum;
	*max = q.maximum;
	return 1;
}

int
m2m_has_ctrl(const struct m2m *m, uint32_t id)
{
	int32_t min, max;

	return m2m_ctrl_range(m, id, &min, &max);
}

int
m2m_set_ctrl(struct m2m *m, uint32_t id, int32_t value)
{
	unsigned i;

	for (i = 0; i < m->nctrls && m->ctrls[i].id != id; i++)
		;
	if (i < m->nctrls && m->ctrls[i].value == value)
		return 0;
	if (i == M2M_CTRLS_MAX)
		return -ENOSPC;
	m->ctrls[i].id = id;
	m->ctrls[i].value = value;
	if (i == m->nctrls)
		m->nctrls++;
	m->cfg_fmt = NULL;	/* applied at the next configuration */
	return 0;
}

void
m2m_set_rate(struct m2m *m, uint32_t fps_milli)
{
	if (fps_milli != m->fps_milli)
		m->cfg_fmt = NULL;
	m->fps_milli = fps_milli;
}

void
m2m_set_capture_size(struct m2m *m, uint32_t bytes)
{
	m->cap_size = bytes;
}

int
m2m_ctrl_now(struct m2m *m, uint32_t id, int32_t value, char *why,
    size_t whylen)
{
	struct v4l2_control ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.id = id;
	ctl.value = value;
	if (v4l2_ioctl(m->fd, VIDIOC_S_CTRL, &ctl) == -1) {
		snprintf(why, whylen, "VIDIOC_S_CTRL 0x%x=%d: %s", id, value,
		    strerror(errno));
		return -errno;
	}
	return 0;
}

/* The device's format for frames of f: f itself, else the same samples
 * in another layout (NV12 for NV12M); NULL if none. */
static const struct rawformat *
m2m_format_for(const struct m2m *m, const struct rawformat *f)
{
	const struct rawformat *alt = NULL, *d;

	for (unsigned i = 0; i < m->nformats; i++) {
		d = rawformat_find(m->formats[i]);
		if (d == f)
			return d;
		if (alt == NULL && rawformat_same_samples(d, f))
			alt = d;
	}
	return alt;
}

int
m2m_takes(const struct m2m *m, const struct rawformat *f)
{
	return m2m_format_for(m, f) != NULL;
}

/* ------------------------------------------------------------ configure */

/* S_FMT on one queue; w, h must come back as asked. */
static int
m2m_set_format(struct m2m *m, uint32_t type, uint32_t fourcc, uint32_t w,
    uint32_t h, struct v4l2_format *fmt, char *why, size_t whylen)
{
	uint32_t got, gw, gh;
	/* A coded format's buffer size is the application's to ask for
	 * (drivers take it as a minimum or keep their own default). */
	uint32_t size = type == m->cap_type ? m->cap_size : 0;

	memset(fmt, 0, sizeof(*fmt));
	fmt->type = type;
	if (m->mplane) {
		fmt->fmt.pix_mp.width = w;
		fmt->fmt.pix_mp.height = h;
		fmt->fmt.pix_mp.pixelformat = fourcc;
		fmt->fmt.pix_mp.field = V4L2_FIELD_NONE;
		fmt->fmt.pix_mp.num_planes = size != 0;
		fmt->fmt.pix_mp.plane_fmt[0].sizeimage = size;
	} else {
		fmt->fmt.pix.width = w;
		fmt->fmt.pix.height = h;
		fmt->fmt.pix.pixelformat = fourcc;
		fmt->fmt.pix.field = V4L2_FIELD_NONE;
		fmt->fmt.pix.sizeimage = size;
	}
	if (v4l2_ioctl(m->fd, VIDIOC_S_FMT, fmt) == -1) {
		snprintf(why, whylen, "VIDIOC_S_FMT: %s", strerror(errno));
		return -errno;
	}
	got = m->mplane ? fmt->fmt.pix_mp.pixelformat :
	    fmt->fmt.pix.pixelformat;
	gw = m->mplane ? fmt->fmt.pix_mp.width : fmt->fmt.pix.width;
	gh = m->mplane ? fmt->fmt.pix_mp.height : fmt->fmt.pix.height;
	if (got != fourcc || gw != w || gh != h) {
		snprintf(why, whylen, "it takes %.4s %ux%u, not %.4s %ux%u",
		    (const char *)&got, gw, gh, (const char *)&fourcc, w, h);
		return -ENOTSUP;
	}
	return 0;
}

int
m2m_configure(struct m2m *m, const struct rawformat *f, uint32_t w,
    uint32_t h, char *why, size_t whylen)
{
	const struct rawformat *d;
	struct v4l2_format fmt;
	struct v4l2_streamparm parm;
	unsigned n;
	int rc;

	if (m->cfg_fmt == f && m->width == w && m->height == h)
		return 0;
	m2m_unconfigure(m);
	if ((d = m2m_format_for(m, f)) == NULL) {
		snprintf(why, whylen, "it does not take %s", f->rf_name);
		return -ENOTSUP;
	}
	if ((rc = m2m_set_format(m, m->out_type, d->rf_fourcc, w, h, &fmt,
	    why, whylen)) != 0)
		return rc;
	n = m->mplane ? fmt.fmt.pix_mp.num_planes : 1;
	if (n != d->rf_buffers) {
		snprintf(why, whylen, "it gives %s in %u buffers", d->rf_name,
		    n);
		return -EPROTO;
	}
	m->nplanes = n;
	for (unsigned i = 0; i < n; i++) {
		m->stride[i] = m->mplane ?
		    fmt.fmt.pix_mp.plane_fmt[i].bytesperline :
		    fmt.fmt.pix.bytesperline;
		m->sizeimage[i] = m->mplane ?
		    fmt.fmt.pix_mp.plane_fmt[i].sizeimage :
		    fmt.fmt.pix.sizeimage;
	}
	if ((rc = m2m_set_format(m, m->cap_type, m->codec, w, h,
	    &fmt, why, whylen)) != 0)
		return rc;
	if (m->fps_milli != 0) {
		memset(&parm, 0, sizeof(parm));
		parm.type = m->out_type;
		parm.parm.output.timeperframe.numerator = 1000;
		parm.parm.output.timeperframe.denominator = m->fps_milli;
		if (v4l2_ioctl(m->fd, VIDIOC_S_PARM, &parm) == -1) {
			snprintf(why, whylen, "VIDIOC_S_PARM %u.%03u fps: %s",
			    m->fps_milli / 1000, m->fps_milli % 1000,
			    strerror(errno));
			return -errno;
		}
	}
	for (unsigned i = 0; i < m->nctrls; i++)
		if ((rc = m2m_ctrl_now(m, m->ctrls[i].id, m->ctrls[i].value,
		    why, whylen)) != 0)
			return rc;
	if ((rc = v4l2_queue_alloc(&m->out, m->fd, m->out_type, 1, n, why,
	    whylen)) != 0 ||
	    (rc = v4l2_queue_alloc(&m->cap, m->fd, m->cap_type, 1, 1, why,
	    whylen)) != 0)
		goto fail;
	if ((rc = v4l2_queue_stream(&m->out, 1)) != 0 ||
	    (rc = v4l2_queue_stream(&m->cap, 1)) != 0) {
		snprintf(why, whylen, "VIDIOC_STREAMON: %s", strerror(-rc));
		goto fail;
	}
	m->cfg_fmt = f;
	m->dev_fmt = d;
	m->width = w;
	m->height = h;
	return 0;
fail:
	m2m_unconfigure(m);
	return rc;
}

/* ------------------------------------------------------------ encode */

/*
 * DQBUF from q, waiting for the device until deadline (monotonic ns).
 * 0, -ETIMEDOUT, or the driver's error.
 */
static int
m2m_dqbuf(struct m2m *m, struct v4l2_queue *q, uint64_t deadline,
    struct v4l2_dequeued *d)
{
	struct epoll_event ev;
	uint64_t now;
	int rc;

	/*
	 * Woken for this queue only: the device polls writable while a
	 * raw frame it is done with waits, which may be long before the
	 * JPEG; waiting for either would spin meanwhile.
	 */
	memset(&ev, 0, sizeof(ev));
	ev.events = q == &m->cap ? EPOLLIN : EPOLLOUT;
	if (epoll_ctl(m->epfd, EPOLL_CTL_MOD, m->fd, &ev) == -1)
		return -errno;
	for (;;) {
		if ((rc = v4l2_queue_dqbuf(q, d)) != -EAGAIN)
			return rc;
		now = clock_ns(CLOCK_MONOTONIC);
		if (now >= deadline)
			return -ETIMEDOUT;
		rc = epoll_wait(m->epfd, &ev, 1,
		    (int)((deadline - now + 999999) / 1000000));
		if (rc == -1 && errno != EINTR)
			return -errno;
	}
}

void
m2m_reset(struct m2m *m)
{
	m2m_unconfigure(m);
}

int
m2m_put(struct m2m *m, const struct rawframe *f, uint64_t ts_ns,
    uint64_t *deadline, char *why, size_t whylen)
{
	struct rawframe dst;
	struct timeval tv;
	uint8_t *data[V4L2_QUEUE_PLANES];
	size_t plen[V4L2_QUEUE_PLANES];
	uint32_t used[V4L2_QUEUE_PLANES];
	int rc;

	if ((rc = m2m_configure(m, f->rw_fmt, f->rw_width, f->rw_height, why,
	    whylen)) != 0)
		return rc;
	/* The frame into the output buffer, in the device's strides. */
	for (unsigned i = 0; i < m->nplanes; i++) {
		data[i] = m->out.vq_map[0][i].start;
		plen[i] = m->out.vq_map[0][i].length;
		used[i] = m->sizeimage[i] < plen[i] ? m->sizeimage[i] :
		    (uint32_t)plen[i];
	}
	if (rawframe_describe(&dst, m->dev_fmt, m->width, m->height,
	    m->nplanes, data, plen, m->stride) != 0 ||
	    rawframe_copy(&dst, f) != 0) {
		snprintf(why, whylen, "its buffers do not hold a %ux%u %s "
		    "frame", m->width, m->height, m->dev_fmt->rf_name);
		return -EPROTO;
	}
	tv.tv_sec = (time_t)(ts_ns / 1000000000u);
	tv.tv_usec = (suseconds_t)(ts_ns % 1000000000u / 1000u);
	if ((rc = v4l2_queue_qbuf(&m->cap, 0, NULL, NULL)) != 0 ||
	    (rc = v4l2_queue_qbuf(&m->out, 0, used, &tv)) != 0) {
		snprintf(why, whylen, "VIDIOC_QBUF: %s", strerror(-rc));
		m2m_unconfigure(m);
		return rc;
	}
	*deadline = clock_ns(CLOCK_MONOTONIC) + M2M_TIMEOUT_MS * 1000000ull;
	return 0;
}

int
m2m_get(struct m2m *m, uint64_t deadline, struct m2m_coded *c, char *why,
    size_t whylen)
{
	struct v4l2_dequeued d;
	int rc;

	if ((rc = m2m_dqbuf(m, &m->cap, deadline, &d)) != 0) {
		if (rc == -ETIMEDOUT)
			snprintf(why, whylen, "nothing coded within %d ms",
			    M2M_TIMEOUT_MS);
		else
			snprintf(why, whylen, "VIDIOC_DQBUF (%s): %s",
			    codec_name(m->codec), strerror(-rc));
		/* The buffers are the device's until a STREAMOFF. */
		m2m_unconfigure(m);
		return rc;
	}
	c->data = d.dq_data[0];
	c->len = d.dq_len[0];
	c->flags = d.dq_flags;
	c->ts_ns = (uint64_t)d.dq_timestamp.tv_sec * 1000000000u +
	    (uint64_t)d.dq_timestamp.tv_usec * 1000u;
	return 0;
}

int
m2m_again(struct m2m *m, char *why, size_t whylen)
{
	int rc;

	if ((rc = v4l2_queue_qbuf(&m->cap, 0, NULL, NULL)) != 0) {
		snprintf(why, whylen, "VIDIOC_QBUF: %s", strerror(-rc));
		m2m_unconfigure(m);
	}
	return rc;
}

int
m2m_done(struct m2m *m, uint64_t deadline, char *why, size_t whylen)
{
	struct v4l2_dequeued d;
	int rc;

	/* The output buffer back: done with the job, if not already. */
	if ((rc = m2m_dqbuf(m, &m->out, deadline, &d)) != 0) {
		snprintf(why, whylen, "VIDIOC_DQBUF (frame): %s",
		    strerror(-rc));
		m2m_unconfigure(m);
	}
	return rc;
}

int
m2m_encode(struct m2m *m, const struct rawframe *f, uint8_t *out,
    size_t cap, size_t *len, char *why, size_t whylen)
{
	struct m2m_coded c;
	struct mjpeg_info info;
	uint64_t deadline;
	int rc;

	if ((rc = m2m_put(m, f, 0, &deadline, why, whylen)) != 0 ||
	    (rc = m2m_get(m, deadline, &c, why, whylen)) != 0)
		return rc;
	if ((c.flags & V4L2_BUF_FLAG_ERROR) ||
	    mjpeg_check(c.data, c.len, &info) != 0 ||
	    info.width != f->rw_width || info.height != f->rw_height) {
		snprintf(why, whylen, "it gave a broken JPEG (%zu bytes)",
		    c.len);
		m2m_unconfigure(m);
		return -EBADMSG;
	}
	if ((rc = mjpeg_repair(c.data, &info, out, cap, len)) != 0) {
		snprintf(why, whylen, "a %zu-byte JPEG does not fit %zu bytes",
		    mjpeg_repaired_len(&info), cap);
		m2m_unconfigure(m);
		return rc;
	}
	return m2m_done(m, deadline, why, whylen);
}
