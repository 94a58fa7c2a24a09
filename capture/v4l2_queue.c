/*
 * v4l2_queue.c - ioctl() as V4L2 programs need it, and one V4L2 buffer
 * queue with mmap buffers, single- or multi-planar: what the camera source (v4l2.c) and the
 * memory-to-memory encoder (m2m.c) both do with their queues (see
 * v4l2.h).
 *
 * The multi-planar API differs from the single-planar one only in where
 * the numbers are: struct v4l2_buffer's m.planes[] (an array the caller
 * provides, length entries) holds each plane's mem_offset, length,
 * bytesused and data_offset.  This file keeps the difference in one
 * place; its callers see planes either way.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "v4l2.h"

int
v4l2_ioctl(int fd, unsigned long req, void *arg)
{
	int rc;

	do
		rc = ioctl(fd, req, arg);
	while (rc == -1 && errno == EINTR);
	return rc;
}

static int
type_mplane(uint32_t type)
{
	return type == V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE ||
	    type == V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
}

/* A struct v4l2_buffer for index, with planes[] if multi-planar. */
static void
buf_init(const struct v4l2_queue *q, struct v4l2_buffer *b,
    struct v4l2_plane *planes, uint32_t index)
{
	memset(b, 0, sizeof(*b));
	b->type = q->vq_type;
	b->memory = V4L2_MEMORY_MMAP;
	b->index = index;
	if (q->vq_mplane) {
		memset(planes, 0, sizeof(*planes) * VIDEO_MAX_PLANES);
		b->m.planes = planes;
		b->length = VIDEO_MAX_PLANES;
	}
}

int
v4l2_queue_alloc(struct v4l2_queue *q, int fd, uint32_t type,
    unsigned count, unsigned nplanes, char *why, size_t whylen)
{
	struct v4l2_requestbuffers req;
	struct v4l2_plane planes[VIDEO_MAX_PLANES];
	struct v4l2_buffer b;
	unsigned i, p;

	memset(q, 0, sizeof(*q));
	q->vq_fd = fd;
	q->vq_type = type;
	q->vq_mplane = type_mplane(type);
	q->vq_nplanes = q->vq_mplane ? nplanes : 1;
	if (q->vq_nplanes < 1 || q->vq_nplanes > V4L2_QUEUE_PLANES) {
		snprintf(why, whylen, "%u planes per buffer, at most %d",
		    nplanes, V4L2_QUEUE_PLANES);
		return -EPROTO;
	}
	memset(&req, 0, sizeof(req));
	req.count = count;
	req.type = type;
	req.memory = V4L2_MEMORY_MMAP;
	if (v4l2_ioctl(fd, VIDIOC_REQBUFS, &req) == -1) {
		snprintf(why, whylen, "VIDIOC_REQBUFS: %s", strerror(errno));
		return -errno;
	}
	q->vq_requested = 1;
	if (req.count < 1) {
		snprintf(why, whylen, "the device gave no buffers");
		return -ENOMEM;
	}
	if (req.count > V4L2_BUFFERS_MAX)
		req.count = V4L2_BUFFERS_MAX;
	for (i = 0; i < req.count; i++) {
		buf_init(q, &b, planes, i);
		if (v4l2_ioctl(fd, VIDIOC_QUERYBUF, &b) == -1) {
			snprintf(why, whylen, "VIDIOC_QUERYBUF: %s",
			    strerror(errno));
			return -errno;
		}
		if (q->vq_mplane && b.length != q->vq_nplanes) {
			snprintf(why, whylen, "buffer %u has %u planes, the "
			    "format %u", i, b.length, q->vq_nplanes);
			return -EPROTO;
		}
		q->vq_nbufs = i + 1;
		for (p = 0; p < q->vq_nplanes; p++) {
			struct v4l2_queue_map *m = &q->vq_map[i][p];
			size_t len = q->vq_mplane ? planes[p].length :
			    b.length;
			off_t off = q->vq_mplane ? planes[p].m.mem_offset :
			    b.m.offset;

			m->start = mmap(NULL, len, PROT_READ | PROT_WRITE,
			    MAP_SHARED, fd, off);
			if (m->start == MAP_FAILED) {
				m->start = NULL;
				snprintf(why, whylen, "mmap of buffer %u: %s",
				    i, strerror(errno));
				return -errno;
			}
			m->length = len;
		}
	}
	return 0;
}

void
v4l2_queue_free(struct v4l2_queue *q)
{
	struct v4l2_requestbuffers req;
	int type = (int)q->vq_type;

	if (q->vq_fd < 0 || q->vq_type == 0)
		return;
	/* On a device that is gone these fail with ENODEV: nothing to do
	 * about it, closing the descriptor releases everything anyway. */
	if (q->vq_streaming)
		(void)v4l2_ioctl(q->vq_fd, VIDIOC_STREAMOFF, &type);
	for (unsigned i = 0; i < q->vq_nbufs; i++)
		for (unsigned p = 0; p < q->vq_nplanes; p++)
			if (q->vq_map[i][p].start != NULL)
				munmap(q->vq_map[i][p].start,
				    q->vq_map[i][p].length);
	if (q->vq_requested) {
		memset(&req, 0, sizeof(req));
		req.type = q->vq_type;
		req.memory = V4L2_MEMORY_MMAP;
		(void)v4l2_ioctl(q->vq_fd, VIDIOC_REQBUFS, &req);
	}
	memset(q, 0, sizeof(*q));
	q->vq_fd = -1;
}

int
v4l2_queue_qbuf(struct v4l2_queue *q, unsigned index, const uint32_t *used,
    const struct timeval *ts)
{
	struct v4l2_plane planes[VIDEO_MAX_PLANES];
	struct v4l2_buffer b;

	if (index >= q->vq_nbufs)
		return -EINVAL;
	buf_init(q, &b, planes, index);
	if (q->vq_mplane)
		b.length = q->vq_nplanes;
	if (used != NULL) {
		for (unsigned p = 0; p < q->vq_nplanes; p++)
			planes[p].bytesused = used[p];
		b.bytesused = used[0];
	}
	if (ts != NULL)
		b.timestamp = *ts;
	return v4l2_ioctl(q->vq_fd, VIDIOC_QBUF, &b) == -1 ? -errno : 0;
}

int
v4l2_queue_dqbuf(struct v4l2_queue *q, struct v4l2_dequeued *d)
{
	struct v4l2_plane planes[VIDEO_MAX_PLANES];
	struct v4l2_buffer b;

	buf_init(q, &b, planes, 0);
	if (v4l2_ioctl(q->vq_fd, VIDIOC_DQBUF, &b) == -1)
		return -errno;
	memset(d, 0, sizeof(*d));
	d->dq_index = b.index;
	d->dq_flags = b.flags;
	d->dq_sequence = b.sequence;
	d->dq_timestamp = b.timestamp;
	if (b.index >= q->vq_nbufs)
		return -EPROTO;
	for (unsigned p = 0; p < q->vq_nplanes; p++) {
		const struct v4l2_queue_map *m = &q->vq_map[b.index][p];
		uint32_t used = q->vq_mplane ? planes[p].bytesused :
		    b.bytesused;
		uint32_t off = q->vq_mplane ? planes[p].data_offset : 0;

		/* bytesused counts the data_offset bytes before the data;
		 * anything beyond the mapping is the driver's error. */
		if (used > m->length || off > used)
			return -EBADMSG;
		d->dq_data[p] = (uint8_t *)m->start + off;
		d->dq_len[p] = used - off;
	}
	return 0;
}

int
v4l2_queue_stream(struct v4l2_queue *q, int on)
{
	int type = (int)q->vq_type;

	if (v4l2_ioctl(q->vq_fd, on ? VIDIOC_STREAMON : VIDIOC_STREAMOFF,
	    &type) == -1)
		return -errno;
	q->vq_streaming = on;
	return 0;
}
