/*
 * placeholder.c - the "no signal" picture (see placeholder.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "placeholder.h"

#define PLACEHOLDER_QUALITY	70

int
placeholder_init(struct placeholder *ph)
{
	memset(ph, 0, sizeof(*ph));
	return jpeg_encoder_init(&ph->ph_enc, PLACEHOLDER_QUALITY);
}

void
placeholder_free(struct placeholder *ph)
{
	image_free(&ph->ph_bg);
	jpeg_encoder_free(&ph->ph_enc);
}

static void
draw_centered(struct image *img, int y, int maxscale, const char *s,
    struct yuv c)
{
	int w = (int)img->width;
	int scale = text_fit_scale(s, w * 9 / 10, maxscale);

	image_draw_text(img, (w - text_width(s, scale)) / 2, y, scale, s, c);
}

/* The part that changes only with the size, source or reason. */
static int
placeholder_background(struct placeholder *ph, const char *title,
    uint32_t width, uint32_t height, const char *source, const char *reason)
{
	struct image *img = &ph->ph_bg;
	char key[sizeof(ph->ph_key)];
	int h = (int)height, big, rc;

	snprintf(key, sizeof(key), "%ux%u %s %s %s", width, height, title,
	    source, reason);
	if (img->mem != NULL && strcmp(key, ph->ph_key) == 0)
		return 0;
	image_free(img);
	if ((rc = image_alloc(img, width, height)) != 0)
		return rc;
	snprintf(ph->ph_key, sizeof(ph->ph_key), "%s", key);
	image_fill(img, yuv_from_rgb(24, 28, 40));
	/* A red bar across the top tells a glance from across the room. */
	image_fill_rect(img, 0, 0, (int)width, h / 40 + 2,
	    yuv_from_rgb(200, 30, 30));
	big = text_fit_scale(title, (int)width * 6 / 10, h / 40);
	draw_centered(img, h / 2 - 10 * big, big, title, YUV_WHITE);
	draw_centered(img, h / 2 + big, big / 3 + 1, source, YUV_GREY);
	draw_centered(img, h / 2 + big + 10 * (big / 3 + 1), big / 3 + 1,
	    reason, YUV_GREY);
	return 0;
}

int
placeholder_render(struct placeholder *ph, const char *title, uint32_t width,
    uint32_t height, const char *source, const char *reason, uint64_t real_ns,
    uint8_t **jpeg, size_t *len)
{
	struct image frame;
	int rc;

	if ((rc = placeholder_background(ph, title, width, height, source,
	    reason)) != 0)
		return rc;
	if ((rc = image_alloc(&frame, width, height)) != 0)
		return rc;
	image_copy(&frame, &ph->ph_bg);
	image_draw_clock(&frame, real_ns, 0);
	rc = jpeg_encode_yuv420_alloc(&ph->ph_enc, &frame, jpeg, len);
	image_free(&frame);
	return rc;
}
