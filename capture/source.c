/*
 * source.c - what the sources share (see source.h): the pixel formats by
 * the names --format takes (the raw ones are rawframe.c's table), and the
 * periodic timer that paces the sources that have no device to do it
 * (pattern, dir).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <linux/videodev2.h>

#include "source.h"

uint32_t
source_format_parse(const char *name)
{
	const struct rawformat *f;

	if (strcasecmp(name, "MJPEG") == 0 || strcasecmp(name, "MJPG") == 0)
		return V4L2_PIX_FMT_MJPEG;
	if (strcasecmp(name, "JPEG") == 0)
		return V4L2_PIX_FMT_JPEG;
	if (strcasecmp(name, "H264") == 0)
		return V4L2_PIX_FMT_H264;
	/* Older spellings of the same formats. */
	if (strcasecmp(name, "I420") == 0)
		return V4L2_PIX_FMT_YUV420;
	if (strcasecmp(name, "GRAY") == 0)
		return V4L2_PIX_FMT_GREY;
	f = rawformat_parse(name);
	return f != NULL ? f->rf_fourcc : 0;
}

const char *
source_format_name(uint32_t fourcc)
{
	const struct rawformat *f;

	if (fourcc == V4L2_PIX_FMT_MJPEG)
		return "MJPEG";
	if (fourcc == V4L2_PIX_FMT_JPEG)
		return "JPEG";
	if (fourcc == V4L2_PIX_FMT_H264)
		return "H264";
	f = rawformat_find(fourcc);
	return f != NULL ? f->rf_name : "?";
}

size_t
source_format_list(char *buf, size_t size)
{
	const struct rawformat *f;
	size_t n;

	n = (size_t)snprintf(buf, size, "MJPEG, JPEG, H264");
	for (size_t i = 0; (f = rawformat_at(i)) != NULL && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, ", %s", f->rf_name);
	return n;
}

int
source_format_is_jpeg(uint32_t fourcc)
{
	return fourcc == V4L2_PIX_FMT_MJPEG || fourcc == V4L2_PIX_FMT_JPEG;
}

int
source_format_is_compressed(uint32_t fourcc)
{
	return source_format_is_jpeg(fourcc) || fourcc == V4L2_PIX_FMT_H264;
}

int
source_frame_copy(const struct source_frame *f, uint8_t **buf, size_t *cap,
    struct source_frame *copy)
{
	const struct rawformat *rf = f->raw.rw_fmt;
	size_t need = 0;
	uint32_t stride0 = 0;
	uint8_t *p;

	if (rf != NULL) {
		if (rawframe_check(&f->raw) != 0)
			return -EINVAL;
		for (unsigned i = 0; i < rawformat_planes(rf); i++)
			need += rawformat_row_bytes(rf, i, f->raw.rw_width) *
			    rawformat_rows(rf, i, f->raw.rw_height);
	} else if (f->data != NULL)
		need = f->length;
	else
		return -EINVAL;
	if (need > *cap) {
		if ((p = realloc(*buf, need)) == NULL)
			return -ENOMEM;
		*buf = p;
		*cap = need;
	}
	*copy = *f;
	if (rf == NULL) {
		memcpy(*buf, f->data, need);
		copy->data = *buf;
		return 0;
	}
	/* The planes one after the other, rows unpadded, as a single
	 * buffer of the format holds them: a buffer-per-plane format's
	 * copy is of its single-buffer twin (NV12M: NV12). */
	for (size_t i = 0; rf->rf_buffers > 1; i++) {
		const struct rawformat *g = rawformat_at(i);

		if (g == NULL)
			return -EINVAL;
		if (g->rf_buffers == 1 && rawformat_same_samples(g, rf))
			rf = g;
	}
	copy->fourcc = rf->rf_fourcc;
	copy->data = NULL;
	copy->length = 0;
	if (rawframe_describe(&copy->raw, rf, f->raw.rw_width,
	    f->raw.rw_height, 1, buf, &need, &stride0) != 0 ||
	    rawframe_copy(&copy->raw, &f->raw) != 0)
		return -EINVAL;
	return 0;
}

/*
 * A periodic CLOCK_MONOTONIC timerfd: the period does not drift with the
 * time spent on each frame, and the expiration count tells how many
 * ticks were missed when the loop fell behind.
 */
/* The timer's period at fps_milli frames per 1000 s, in ns. */
static uint64_t
timer_period_ns(uint32_t fps_milli)
{
	return 1000000000000ull / fps_milli;
}

int
source_timer_open(uint32_t fps_milli, char *why, size_t whylen)
{
	struct itimerspec its;
	uint64_t period = timer_period_ns(fps_milli);
	int fd, rc;

	fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd == -1) {
		snprintf(why, whylen, "timerfd_create: %s", strerror(errno));
		return -errno;
	}
	memset(&its, 0, sizeof(its));
	its.it_interval.tv_sec = (time_t)(period / 1000000000u);
	its.it_interval.tv_nsec = (long)(period % 1000000000u);
	its.it_value = its.it_interval;
	if (timerfd_settime(fd, 0, &its, NULL) == -1) {
		rc = -errno;
		snprintf(why, whylen, "timerfd_settime: %s", strerror(errno));
		close(fd);
		return rc;
	}
	return fd;
}

void
source_timer_due(int fd, uint32_t fps_milli, uint64_t *mono_ns,
    uint64_t *real_ns)
{
	struct itimerspec its;
	uint64_t mono = clock_ns(CLOCK_MONOTONIC);
	uint64_t real = clock_ns(CLOCK_REALTIME);
	uint64_t period = timer_period_ns(fps_milli), next;

	*mono_ns = mono;
	*real_ns = real;
	if (timerfd_gettime(fd, &its) == -1)
		return;
	/* it_value: how long until the next expiry; the latest was a
	 * period before that. */
	next = (uint64_t)its.it_value.tv_sec * 1000000000u +
	    (uint64_t)its.it_value.tv_nsec;
	if (next == 0 || next > period || mono < period - next)
		return;
	*mono_ns = mono - (period - next);
	*real_ns = real - (period - next);
}

int
source_timer_read(int fd, uint64_t *ticks, char *why, size_t whylen)
{
	ssize_t n;

	n = read(fd, ticks, sizeof(*ticks));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n != (ssize_t)sizeof(*ticks)) {
		snprintf(why, whylen, "timerfd read: %s",
		    n == -1 ? strerror(errno) : "short read");
		return n == -1 ? -errno : -EIO;
	}
	return 1;
}
