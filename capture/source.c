/*
 * source.c - what the sources share (see source.h): the pixel formats by
 * the names --format takes (the raw ones are rawframe.c's table), and the
 * periodic timer that paces the sources that have no device to do it
 * (pattern, dir).
 */
#include <errno.h>
#include <stdio.h>
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
	f = rawformat_find(fourcc);
	return f != NULL ? f->rf_name : "?";
}

size_t
source_format_list(char *buf, size_t size)
{
	const struct rawformat *f;
	size_t n;

	n = (size_t)snprintf(buf, size, "MJPEG, JPEG");
	for (size_t i = 0; (f = rawformat_at(i)) != NULL && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, ", %s", f->rf_name);
	return n;
}

int
source_format_is_jpeg(uint32_t fourcc)
{
	return fourcc == V4L2_PIX_FMT_MJPEG || fourcc == V4L2_PIX_FMT_JPEG;
}

/*
 * A periodic CLOCK_MONOTONIC timerfd: the period does not drift with the
 * time spent on each frame, and the expiration count tells how many
 * ticks were missed when the loop fell behind.
 */
int
source_timer_open(uint32_t fps_milli, char *why, size_t whylen)
{
	struct itimerspec its;
	uint64_t period = 1000000000000ull / fps_milli;
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
