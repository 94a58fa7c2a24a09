/*
 * pattern.c - the built-in test pattern: colour bars, a block that moves
 * one step per frame, the frame number and the wall-clock time, rendered
 * straight into YUV 4:2:0 planes.
 *
 * Paced by a periodic timerfd (source_timer_open()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/videodev2.h>

#include "source.h"

struct pattern {
	struct image	 background;	/* bars, drawn once */
	struct image	 frame;		/* what next() hands over */
	uint64_t	 tick;		/* timer periods since open */
	uint32_t	 fps_milli;
};

static void
pattern_draw_background(struct image *img)
{
	static const uint8_t bars[8][3] = {
		{ 192, 192, 192 }, { 192, 192, 0 }, { 0, 192, 192 },
		{ 0, 192, 0 }, { 192, 0, 192 }, { 192, 0, 0 },
		{ 0, 0, 192 }, { 16, 16, 16 },
	};
	int i, x0, x1, h = (int)img->height;

	for (i = 0; i < 8; i++) {
		x0 = (int)img->width * i / 8;
		x1 = (int)img->width * (i + 1) / 8;
		image_fill_rect(img, x0, 0, x1 - x0, h * 2 / 3,
		    yuv_from_rgb(bars[i][0], bars[i][1], bars[i][2]));
	}
	/* A grey ramp below the bars shows banding and exposure issues. */
	for (i = 0; i < 16; i++) {
		uint8_t v = (uint8_t)(i * 17);
		x0 = (int)img->width * i / 16;
		x1 = (int)img->width * (i + 1) / 16;
		image_fill_rect(img, x0, h * 2 / 3, x1 - x0, h - h * 2 / 3,
		    yuv_from_rgb(v, v, v));
	}
}

static int
pattern_open(struct source *src, char *why, size_t whylen)
{
	struct pattern *p = src->priv;
	int fd;

	if ((fd = source_timer_open(p->fps_milli, why, whylen)) < 0)
		return fd;
	src->fd = fd;
	p->tick = 0;
	return 0;
}

static void
pattern_close(struct source *src)
{
	if (src->fd != -1)
		close(src->fd);
	src->fd = -1;
}

static void
pattern_render(struct pattern *p, uint64_t real_ns)
{
	struct image *img = &p->frame;
	int w = (int)img->width, h = (int)img->height;
	int scale;
	int block = h / 6, travel, pos, x, y;
	char line[64];

	image_copy(img, &p->background);

	/* A block bouncing across the bars, one step per frame. */
	travel = w - block;
	pos = travel > 0 ? (int)(p->tick * (uint64_t)(w / 120 + 1) %
	    (uint64_t)(2 * travel)) : 0;
	x = pos < travel ? pos : 2 * travel - pos;
	y = h / 3 - block / 2;
	image_fill_rect(img, x, y, block, block, YUV_WHITE);
	image_fill_rect(img, x + block / 4, y + block / 4, block / 2,
	    block / 2, yuv_from_rgb(220, 30, 30));

	/*
	 * Top left: what this is and its geometry; top right: the frame
	 * number; bottom: the capture time, large enough to read a latency
	 * off a photo of two screens.
	 */
	image_draw_clock(img, real_ns, 1);

	scale = text_fit_scale("SHMCAM TEST PATTERN 0000X0000",
	    w * 9 / 10, h / 160);
	image_draw_label(img, 3 * scale, 3 * scale, scale,
	    "SHMCAM TEST PATTERN");
	snprintf(line, sizeof(line), "%dX%d %u.%02u FPS", w, h,
	    p->fps_milli / 1000, p->fps_milli % 1000 / 10);
	image_draw_label(img, 3 * scale, 13 * scale, scale, line);
	snprintf(line, sizeof(line), "FRAME %llu", (unsigned long long)p->tick);
	image_draw_label(img, w - text_width(line, scale) - 3 * scale,
	    3 * scale, scale, line);
}

static int
pattern_next(struct source *src, struct source_frame *f, char *why,
    size_t whylen)
{
	struct pattern *p = src->priv;
	struct image *img = &p->frame;
	uint64_t expirations;
	size_t len;
	int rc;

	if ((rc = source_timer_read(src->fd, &expirations, why, whylen)) <= 0)
		return rc;
	p->tick += expirations;

	memset(f, 0, sizeof(*f));
	source_timer_due(src->fd, p->fps_milli, &f->capture_mono_ns,
	    &f->capture_real_ns);
	pattern_render(p, f->capture_real_ns);
	f->fourcc = V4L2_PIX_FMT_YUV420;
	f->width = img->width;
	f->height = img->height;
	/* image_alloc()'s planes are V4L2's YUV420 in one buffer. */
	len = (size_t)img->width * img->height * 3 / 2;
	rc = rawframe_describe(&f->raw, rawformat_find(V4L2_PIX_FMT_YUV420),
	    img->width, img->height, 1, &img->mem, &len, &img->stride[0]);
	if (rc != 0) {
		snprintf(why, whylen, "pattern frame: %s", strerror(-rc));
		return rc;
	}
	f->skipped = (uint32_t)(expirations - 1);
	return 1;
}

static void
pattern_release(struct source *src, struct source_frame *f)
{
	(void)src;
	(void)f;
}

static void
pattern_destroy(struct source *src)
{
	struct pattern *p = src->priv;

	pattern_close(src);
	if (p != NULL) {
		image_free(&p->background);
		image_free(&p->frame);
		free(p);
	}
	src->priv = NULL;
}

static const struct source_ops pattern_ops = {
	.open = pattern_open,
	.close = pattern_close,
	.next = pattern_next,
	.release = pattern_release,
	.destroy = pattern_destroy,
};

int
pattern_source_init(struct source *src, const struct source_config *c)
{
	struct pattern *p;
	int rc;

	memset(src, 0, sizeof(*src));
	src->fd = -1;
	if (c->fps_milli == 0)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	if ((rc = image_alloc(&p->background, c->width, c->height)) != 0 ||
	    (rc = image_alloc(&p->frame, c->width, c->height)) != 0) {
		image_free(&p->background);
		free(p);
		return rc;
	}
	pattern_draw_background(&p->background);
	p->fps_milli = c->fps_milli;
	src->ops = &pattern_ops;
	src->priv = p;
	src->width = c->width;
	src->height = c->height;
	src->fourcc = V4L2_PIX_FMT_YUV420;
	src->fps_milli = c->fps_milli;
	src->fps_device_milli = c->fps_milli;	/* paced to the rate asked */
	src->max_frame = (uint32_t)jpeg_max_size(c->width, c->height);
	snprintf(src->desc, sizeof(src->desc), "pattern");
	return 0;
}
