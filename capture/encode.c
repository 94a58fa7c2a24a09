/*
 * encode.c - raw frames to JPEG (see encode.h).
 */
#include <errno.h>
#include <string.h>

#include <linux/videodev2.h>

#include "encode.h"

int
encoder_init(struct encoder *e, int quality)
{
	memset(e, 0, sizeof(*e));
	return jpeg_encoder_init(&e->en_jpeg, quality);
}

void
encoder_free(struct encoder *e)
{
	jpeg_encoder_free(&e->en_jpeg);
}

int
encoder_supports(uint32_t fourcc)
{
	return fourcc == V4L2_PIX_FMT_YUV420;
}

int
encoder_encode(struct encoder *e, const struct source_frame *f, uint8_t *out,
    size_t cap, size_t *len)
{
	struct image planes;
	size_t ysize;

	switch (f->fourcc) {
	case V4L2_PIX_FMT_YUV420:
		if (f->image != NULL)
			return jpeg_encode_yuv420(&e->en_jpeg, f->image, out,
			    cap, len);
		/* Packed I420 buffer: describe its planes in place. */
		ysize = (size_t)f->width * f->height;
		if ((f->width | f->height) & 1 || f->length < ysize * 3 / 2)
			return -EINVAL;
		memset(&planes, 0, sizeof(planes));
		planes.width = f->width;
		planes.height = f->height;
		planes.plane[0] = (uint8_t *)(uintptr_t)f->data;
		planes.plane[1] = planes.plane[0] + ysize;
		planes.plane[2] = planes.plane[1] + ysize / 4;
		planes.stride[0] = f->width;
		planes.stride[1] = planes.stride[2] = f->width / 2;
		return jpeg_encode_yuv420(&e->en_jpeg, &planes, out, cap, len);
	default:
		return -ENOTSUP;
	}
}
