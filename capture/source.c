/*
 * source.c - what the sources share (see source.h): the pixel formats by
 * the names --format takes, the clock, and the periodic timer that paces
 * the sources that have no device to do it (pattern, dir).
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

static const struct {
	const char	*name;
	uint32_t	 fourcc;
} formats[] = {
	{ "MJPEG", V4L2_PIX_FMT_MJPEG },
	{ "JPEG", V4L2_PIX_FMT_JPEG },
	{ "YUYV", V4L2_PIX_FMT_YUYV },
	{ "UYVY", V4L2_PIX_FMT_UYVY },
	{ "NV12", V4L2_PIX_FMT_NV12 },
	{ "YUV420", V4L2_PIX_FMT_YUV420 },
	{ "RGB24", V4L2_PIX_FMT_RGB24 },
	{ "BGR24", V4L2_PIX_FMT_BGR24 },
	{ "GREY", V4L2_PIX_FMT_GREY },
	{ "H264", V4L2_PIX_FMT_H264 },
};

uint32_t
source_format_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strcasecmp(name, formats[i].name) == 0)
			return formats[i].fourcc;
	/* The device's own spelling of the same formats. */
	if (strcasecmp(name, "MJPG") == 0)
		return V4L2_PIX_FMT_MJPEG;
	if (strcasecmp(name, "YU12") == 0 || strcasecmp(name, "I420") == 0)
		return V4L2_PIX_FMT_YUV420;
	if (strcasecmp(name, "GRAY") == 0)
		return V4L2_PIX_FMT_GREY;
	return 0;
}

const char *
source_format_name(uint32_t fourcc)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (formats[i].fourcc == fourcc)
			return formats[i].name;
	return "?";
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
source_frame_fits(const struct source_frame *f, size_t offset, size_t bpl,
    size_t row, size_t rows)
{
	size_t need;

	if (rows == 0 || row > bpl)
		return 0;
	need = offset + bpl * (rows - 1) + row;
	return need >= offset && need <= f->length;
}

int
source_frame_copy(const struct source_frame *f, uint8_t **buf, size_t *cap,
    struct source_frame *copy)
{
	const struct image *img = f->image;
	size_t need, ysize = 0, row;
	uint8_t *p;

	if (img != NULL) {
		if (img->width != f->width || img->height != f->height ||
		    f->fourcc != V4L2_PIX_FMT_YUV420)
			return -EINVAL;
		ysize = (size_t)f->width * f->height;
		need = ysize + ysize / 2;
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
	copy->data = *buf;
	copy->length = need;
	copy->image = NULL;
	if (img == NULL) {
		memcpy(*buf, f->data, need);
		return 0;
	}
	/* Planes to YU12 without padding. */
	p = *buf;
	for (row = 0; row < f->height; row++, p += f->width)
		memcpy(p, img->plane[0] + row * img->stride[0], f->width);
	for (int i = 1; i < 3; i++)
		for (row = 0; row < f->height / 2; row++, p += f->width / 2)
			memcpy(p, img->plane[i] + row * img->stride[i],
			    f->width / 2);
	copy->bytesperline = 0;
	return 0;
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
