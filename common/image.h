/*
 * image.h - planar YUV 4:2:0 pictures, the few drawing operations the test
 * pattern and the placeholder frames need, and their JPEG encoding.
 *
 * Colours are given in BT.601 limited range (Y 16..235, U/V 16..240).
 * Everything clips to the picture; no operation reads or writes outside
 * the planes whatever the coordinates.
 */
#ifndef SHMCAM_IMAGE_H
#define SHMCAM_IMAGE_H

#include <stddef.h>
#include <stdint.h>

struct image {
	uint32_t	 width;		/* even */
	uint32_t	 height;	/* even */
	uint8_t		*plane[3];	/* Y, U (Cb), V (Cr) */
	uint32_t	 stride[3];
	uint8_t		*mem;		/* one allocation for all planes */
};

struct yuv {
	uint8_t y, u, v;
};

#define YUV_BLACK	((struct yuv){ 16, 128, 128 })
#define YUV_WHITE	((struct yuv){ 235, 128, 128 })
#define YUV_GREY	((struct yuv){ 128, 128, 128 })

/* 0 or -EINVAL (odd or out-of-range size) / -ENOMEM. */
int	image_alloc(struct image *img, uint32_t width, uint32_t height);
void	image_free(struct image *img);
void	image_copy(struct image *dst, const struct image *src);

struct yuv yuv_from_rgb(uint8_t r, uint8_t g, uint8_t b);

void	image_fill(struct image *img, struct yuv c);
void	image_fill_rect(struct image *img, int x, int y, int w, int h,
	    struct yuv c);

/* Glyph cell: 5x7 pixels plus one column and one row of spacing. */
#define FONT_W	6
#define FONT_H	8

/* Width in pixels of s drawn at scale. */
int	text_width(const char *s, int scale);
/* Draws s with its top-left corner at (x, y); lowercase is drawn as
 * uppercase, anything without a glyph as '?'. */
void	image_draw_text(struct image *img, int x, int y, int scale,
	    const char *s, struct yuv c);
/* The largest scale (at least 1, at most max) at which s fits in width. */
int	text_fit_scale(const char *s, int width, int max);
/* Text on a dark box with a margin of one glyph-pixel. */
void	image_draw_label(struct image *img, int x, int y, int scale,
	    const char *s);
/* The wall-clock time real_ns ("2026-11-25 14:41:26[.123] UTC") as a
 * label centred at the bottom, large enough to read off a photo. */
void	image_draw_clock(struct image *img, uint64_t real_ns, int millis);

/*
 * A reusable TurboJPEG compressor.  jpeg_encode_yuv420() writes into a
 * caller buffer (e.g. a ring slot) and never reallocates it: cap must be
 * at least jpeg_max_size() for the picture, or -ENOBUFS is returned.
 */
struct jpeg_encoder {
	void	*je_tj;		/* tjhandle */
	int	 je_quality;
};

int	jpeg_encoder_init(struct jpeg_encoder *e, int quality);
void	jpeg_encoder_free(struct jpeg_encoder *e);
size_t	jpeg_max_size(uint32_t width, uint32_t height);
int	jpeg_encode_yuv420(struct jpeg_encoder *e, const struct image *img,
	    uint8_t *out, size_t cap, size_t *len);
/* The same from any planes TurboJPEG takes, at subsamp (TJSAMP_*). */
int	jpeg_encode_planes(struct jpeg_encoder *e, const uint8_t **planes,
	    const int *strides, uint32_t width, uint32_t height, int subsamp,
	    uint8_t *out, size_t cap, size_t *len);
/* Allocating variant for one-off pictures; *out is malloc()ed. */
int	jpeg_encode_yuv420_alloc(struct jpeg_encoder *e,
	    const struct image *img, uint8_t **out, size_t *len);

#endif /* SHMCAM_IMAGE_H */
