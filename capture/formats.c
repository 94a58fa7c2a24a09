/*
 * formats.c - the pixel formats the capture can publish, by the names
 * --format takes (see source.h).
 */
#include <strings.h>

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
