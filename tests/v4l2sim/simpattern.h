/*
 * simpattern.h - the picture of the simulated camera: a known function of
 * the frame sequence and the pixel position, so a test can check decoded
 * pixels against what the camera sent.
 *
 * From top to bottom:
 *   band     the barcode (simstamp.h), simstamp_rows() rows of 16-pixel
 *            cells on a grey (128) background; no band if it does not fit
 *   bars     eight 75% colour bars (white, yellow, cyan, green, magenta,
 *            red, blue, black), each sp_bar_width wide (the last one takes
 *            the rest), down to sp_bars_bottom
 *   texture  a left-to-right luma ramp with fixed pseudo-random noise and
 *            neutral chroma, down to the bottom; it gives the JPEG frames
 *            a realistic size
 *   block    a 64x64 orange square at sp_block_y, stepping 16 pixels to
 *            the right every frame and wrapping: x = (seq % steps) * 16
 *
 * Every boundary is on the 16-pixel grid, so every 16x16 block (a 4:2:0
 * MCU) outside the texture is one flat colour, and 4:2:0 chroma is exact.
 * Colours are BT.601 limited range (struct yuv of common/image.h).  For
 * pixel checks after JPEG coding, sample the middle of a bar or of the
 * block (the texture is noisy), and compare Y, Cb, Cr: decoders convert
 * JPEG to RGB as full range.
 */
#ifndef SHMCAM_SIMPATTERN_H
#define SHMCAM_SIMPATTERN_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"	/* struct yuv, yuv_from_rgb() */

#define SIMPATTERN_GRID		16
#define SIMPATTERN_BLOCK	64

struct simpattern {
	uint32_t	sp_width;	/* even */
	uint32_t	sp_height;	/* even */
	uint32_t	sp_band;	/* barcode band height, 0 if none */
	uint32_t	sp_bars_bottom;	/* bars from sp_band to here */
	uint32_t	sp_bar_width;
	uint32_t	sp_block_y;
	uint32_t	sp_block_size;	/* SIMPATTERN_BLOCK, 0 if it does
					 * not fit */
	uint32_t	sp_block_steps;	/* positions, SIMPATTERN_GRID apart */
	struct yuv sp_bar[8];	/* colours, computed once */
	struct yuv sp_block;
};

/* A rectangle of one colour drawn over the background for one frame. */
struct simpattern_rect {
	uint32_t	x, y, w, h;
	struct yuv c;
};

/* Room simpattern_overlay() may need: the code's cells and the block. */
#define SIMPATTERN_OVERLAY_MAX	(112 + 1)

void	simpattern_init(struct simpattern *p, uint32_t width,
	    uint32_t height);

/* Left edge of the block in frame seq. */
uint32_t simpattern_block_x(const struct simpattern *p, uint64_t seq);

/* Everything, for frame seq captured at real_ns. */
struct yuv simpattern_pixel(const struct simpattern *p,
	    uint64_t seq, uint64_t real_ns, uint32_t x, uint32_t y);

/*
 * What frame seq draws over the background: the barcode's cells, then
 * the block.  Returns the number of rectangles written to r (at most
 * SIMPATTERN_OVERLAY_MAX).
 */
int	simpattern_overlay(const struct simpattern *p, uint64_t seq,
	    uint64_t real_ns, struct simpattern_rect *r);

/* The background as planar 4:2:0 (chroma of each 2x2 block's top left). */
void	simpattern_render_i420(const struct simpattern *p, uint8_t *y,
	    size_t ystride, uint8_t *u, uint8_t *v, size_t cstride);

/* BT.601 limited range to full-range RGB, clamped (the inverse of
 * image.h's yuv_from_rgb()). */
void	simpattern_to_rgb(struct yuv c, uint8_t rgb[3]);

#endif /* SHMCAM_SIMPATTERN_H */
