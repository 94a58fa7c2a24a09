/*
 * image.c - YUV 4:2:0 pictures, a 5x7 bitmap font, JPEG encoding.
 */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <turbojpeg.h>

#include "image.h"

#define IMAGE_DIM_MAX	16384

int
image_alloc(struct image *img, uint32_t width, uint32_t height)
{
	size_t ysize, csize;

	memset(img, 0, sizeof(*img));
	if (width == 0 || height == 0 || (width & 1) || (height & 1) ||
	    width > IMAGE_DIM_MAX || height > IMAGE_DIM_MAX)
		return -EINVAL;
	ysize = (size_t)width * height;
	csize = ysize / 4;
	img->mem = malloc(ysize + 2 * csize);
	if (img->mem == NULL)
		return -ENOMEM;
	img->width = width;
	img->height = height;
	img->plane[0] = img->mem;
	img->plane[1] = img->mem + ysize;
	img->plane[2] = img->mem + ysize + csize;
	img->stride[0] = width;
	img->stride[1] = img->stride[2] = width / 2;
	return 0;
}

void
image_free(struct image *img)
{
	free(img->mem);
	memset(img, 0, sizeof(*img));
}

void
image_copy(struct image *dst, const struct image *src)
{
	size_t ysize = (size_t)src->width * src->height;

	if (dst->width != src->width || dst->height != src->height)
		return;
	memcpy(dst->mem, src->mem, ysize + ysize / 2);
}

struct yuv
yuv_from_rgb(uint8_t r, uint8_t g, uint8_t b)
{
	/* BT.601, limited range, integer approximation. */
	struct yuv c;

	c.y = (uint8_t)(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16);
	c.u = (uint8_t)(((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128);
	c.v = (uint8_t)(((112 * r - 94 * g - 18 * b + 128) >> 8) + 128);
	return c;
}

/* Clips [x, x + w) to [0, limit); returns 0 if nothing is left. */
static int
clip(int *x, int *w, int limit)
{
	if (*x < 0) {
		*w += *x;
		*x = 0;
	}
	if (*x >= limit || *w <= 0)
		return 0;
	if (*w > limit - *x)
		*w = limit - *x;
	return 1;
}

void
image_fill_rect(struct image *img, int x, int y, int w, int h, struct yuv c)
{
	int row, cx, cy, cw, ch;

	if (!clip(&x, &w, (int)img->width) || !clip(&y, &h, (int)img->height))
		return;
	for (row = y; row < y + h; row++)
		memset(img->plane[0] + (size_t)row * img->stride[0] + x, c.y,
		    (size_t)w);
	/* Chroma covers 2x2 luma pixels: widen to whole chroma samples. */
	cx = x / 2;
	cy = y / 2;
	cw = (x + w + 1) / 2 - cx;
	ch = (y + h + 1) / 2 - cy;
	for (row = cy; row < cy + ch; row++) {
		memset(img->plane[1] + (size_t)row * img->stride[1] + cx, c.u,
		    (size_t)cw);
		memset(img->plane[2] + (size_t)row * img->stride[2] + cx, c.v,
		    (size_t)cw);
	}
}

void
image_fill(struct image *img, struct yuv c)
{
	image_fill_rect(img, 0, 0, (int)img->width, (int)img->height, c);
}

/*
 * 5x7 glyphs, one byte per row, bit 4 the leftmost pixel.  Drawn for this
 * project: digits, capitals and the punctuation that dates, sizes and
 * messages need.
 */
struct glyph {
	char	ch;
	uint8_t	rows[7];
};

static const struct glyph font[] = {
	{ ' ', { 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 } },
	{ '0', { 0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e } },
	{ '1', { 0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e } },
	{ '2', { 0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f } },
	{ '3', { 0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e } },
	{ '4', { 0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02 } },
	{ '5', { 0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e } },
	{ '6', { 0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e } },
	{ '7', { 0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08 } },
	{ '8', { 0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e } },
	{ '9', { 0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c } },
	{ 'A', { 0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11 } },
	{ 'B', { 0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e } },
	{ 'C', { 0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e } },
	{ 'D', { 0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c } },
	{ 'E', { 0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f } },
	{ 'F', { 0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10 } },
	{ 'G', { 0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f } },
	{ 'H', { 0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11 } },
	{ 'I', { 0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e } },
	{ 'J', { 0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c } },
	{ 'K', { 0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11 } },
	{ 'L', { 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f } },
	{ 'M', { 0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11 } },
	{ 'N', { 0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11 } },
	{ 'O', { 0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e } },
	{ 'P', { 0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10 } },
	{ 'Q', { 0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d } },
	{ 'R', { 0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11 } },
	{ 'S', { 0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e } },
	{ 'T', { 0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04 } },
	{ 'U', { 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e } },
	{ 'V', { 0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04 } },
	{ 'W', { 0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a } },
	{ 'X', { 0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11 } },
	{ 'Y', { 0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04 } },
	{ 'Z', { 0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f } },
	{ '.', { 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c } },
	{ ':', { 0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00 } },
	{ '-', { 0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00 } },
	{ '/', { 0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00 } },
	{ '(', { 0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02 } },
	{ ')', { 0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08 } },
	{ ',', { 0x00, 0x00, 0x00, 0x00, 0x0c, 0x04, 0x08 } },
	{ '%', { 0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03 } },
	{ '_', { 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f } },
	{ '=', { 0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00 } },
	{ '+', { 0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00 } },
	{ '!', { 0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04 } },
	{ '?', { 0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04 } },
	{ '\'', { 0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00 } },
	{ '#', { 0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a } },
	{ '@', { 0x0e, 0x11, 0x17, 0x15, 0x17, 0x10, 0x0f } },
};

static const struct glyph *
font_glyph(char ch)
{
	size_t i;

	if (ch >= 'a' && ch <= 'z')
		ch = (char)(ch - 'a' + 'A');
	for (i = 0; i < sizeof(font) / sizeof(font[0]); i++)
		if (font[i].ch == ch)
			return &font[i];
	return font_glyph('?');
}

int
text_width(const char *s, int scale)
{
	size_t n = strlen(s);

	return n == 0 ? 0 : (int)n * FONT_W * scale - scale;
}

int
text_fit_scale(const char *s, int width, int max)
{
	int scale = max;

	while (scale > 1 && text_width(s, scale) > width)
		scale--;
	return scale < 1 ? 1 : scale;
}

void
image_draw_text(struct image *img, int x, int y, int scale, const char *s,
    struct yuv c)
{
	const struct glyph *g;
	int row, col;

	if (scale < 1)
		scale = 1;
	for (; *s != '\0'; s++, x += FONT_W * scale) {
		g = font_glyph(*s);
		for (row = 0; row < 7; row++)
			for (col = 0; col < 5; col++)
				if (g->rows[row] & (0x10 >> col))
					image_fill_rect(img, x + col * scale,
					    y + row * scale, scale, scale, c);
	}
}

void
image_draw_label(struct image *img, int x, int y, int scale, const char *s)
{
	image_fill_rect(img, x - 2 * scale, y - 2 * scale,
	    text_width(s, scale) + 4 * scale, 7 * scale + 4 * scale,
	    YUV_BLACK);
	image_draw_text(img, x, y, scale, s, YUV_WHITE);
}

void
image_draw_clock(struct image *img, uint64_t real_ns, int millis)
{
	const int w = (int)img->width, h = (int)img->height;
	time_t secs = (time_t)(real_ns / 1000000000u);
	char line[64], date[32];
	struct tm tm;
	int scale;

	gmtime_r(&secs, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	if (millis)
		snprintf(line, sizeof(line), "%s.%03u UTC", date,
		    (unsigned)(real_ns / 1000000u % 1000u));
	else
		snprintf(line, sizeof(line), "%s UTC", date);
	scale = text_fit_scale(line, w * 9 / 10, h / 90);
	image_draw_label(img, (w - text_width(line, scale)) / 2,
	    h - 10 * scale, scale, line);
}

int
jpeg_encoder_init(struct jpeg_encoder *e, int quality)
{
	memset(e, 0, sizeof(*e));
	if (quality < 1 || quality > 100)
		return -EINVAL;
	e->je_tj = tjInitCompress();
	if (e->je_tj == NULL)
		return -ENOMEM;
	e->je_quality = quality;
	return 0;
}

void
jpeg_encoder_free(struct jpeg_encoder *e)
{
	if (e->je_tj != NULL)
		tjDestroy(e->je_tj);
	memset(e, 0, sizeof(*e));
}

size_t
jpeg_max_size(uint32_t width, uint32_t height)
{
	/* The worst case of any subsampling, so one bound serves all. */
	unsigned long n = tjBufSize((int)width, (int)height, TJSAMP_444);

	return n == (unsigned long)-1 ? 0 : (size_t)n;
}

int
jpeg_encode_planes(struct jpeg_encoder *e, const uint8_t **planes,
    const int *strides, uint32_t width, uint32_t height, int subsamp,
    uint8_t *out, size_t cap, size_t *len)
{
	size_t need = jpeg_max_size(width, height);
	unsigned long size = cap;

	/* TJFLAG_NOREALLOC trusts the buffer to be tjBufSize() long. */
	if (need == 0 || cap < need)
		return -ENOBUFS;
	if (tjCompressFromYUVPlanes(e->je_tj, planes, (int)width, strides,
	    (int)height, subsamp, &out, &size, e->je_quality,
	    TJFLAG_NOREALLOC | TJFLAG_FASTDCT) != 0)
		return -EIO;
	*len = size;
	return 0;
}

int
jpeg_encode_yuv420(struct jpeg_encoder *e, const struct image *img,
    uint8_t *out, size_t cap, size_t *len)
{
	const uint8_t *planes[3] = { img->plane[0], img->plane[1],
	    img->plane[2] };
	const int strides[3] = { (int)img->stride[0], (int)img->stride[1],
	    (int)img->stride[2] };

	return jpeg_encode_planes(e, planes, strides, img->width,
	    img->height, TJSAMP_420, out, cap, len);
}

int
jpeg_encode_yuv420_alloc(struct jpeg_encoder *e, const struct image *img,
    uint8_t **out, size_t *len)
{
	size_t cap = jpeg_max_size(img->width, img->height);
	int rc;

	if (cap == 0)
		return -EINVAL;
	*out = malloc(cap);
	if (*out == NULL)
		return -ENOMEM;
	rc = jpeg_encode_yuv420(e, img, *out, cap, len);
	if (rc != 0) {
		free(*out);
		*out = NULL;
	}
	return rc;
}
