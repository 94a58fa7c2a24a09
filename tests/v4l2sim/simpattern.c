/*
 * simpattern.c - see simpattern.h.
 */
#include <string.h>

#include "simpattern.h"
#include "simstamp.h"

/* 75% bars, as on a test card. */
static const uint8_t bar_rgb[8][3] = {
	{ 191, 191, 191 }, { 191, 191, 0 }, { 0, 191, 191 }, { 0, 191, 0 },
	{ 191, 0, 191 }, { 191, 0, 0 }, { 0, 0, 191 }, { 0, 0, 0 },
};
static const uint8_t block_rgb[3] = { 255, 128, 0 };

/* Noise amplitude of the texture: sets the JPEG size (see texture_y). */
#define TEXTURE_NOISE	16

static uint8_t
clamp255(int v)
{
	return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

void
simpattern_to_rgb(struct yuv c, uint8_t rgb[3])
{
	int y = 298 * (c.y - 16), u = c.u - 128, v = c.v - 128;

	rgb[0] = clamp255((y + 409 * v + 128) >> 8);
	rgb[1] = clamp255((y - 100 * u - 208 * v + 128) >> 8);
	rgb[2] = clamp255((y + 516 * u + 128) >> 8);
}

static uint32_t
grid_down(uint32_t v)
{
	return v / SIMPATTERN_GRID * SIMPATTERN_GRID;
}

void
simpattern_init(struct simpattern *p, uint32_t width, uint32_t height)
{
	int i;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < 8; i++)
		p->sp_bar[i] = yuv_from_rgb(bar_rgb[i][0],
		    bar_rgb[i][1], bar_rgb[i][2]);
	p->sp_block = yuv_from_rgb(block_rgb[0], block_rgb[1],
	    block_rgb[2]);
	p->sp_width = width;
	p->sp_height = height;
	p->sp_band = simstamp_rows(width, height) * SIMSTAMP_CELL;
	p->sp_bars_bottom = grid_down(height * 2 / 3);
	if (p->sp_bars_bottom < p->sp_band)
		p->sp_bars_bottom = p->sp_band;
	p->sp_bar_width = grid_down(width / 8);
	if (p->sp_bar_width == 0)
		p->sp_bar_width = SIMPATTERN_GRID;
	if (width >= SIMPATTERN_BLOCK &&
	    height >= p->sp_band + SIMPATTERN_BLOCK) {
		p->sp_block_size = SIMPATTERN_BLOCK;
		p->sp_block_y = grid_down((p->sp_band + height) / 2 -
		    SIMPATTERN_BLOCK / 2);
		if (p->sp_block_y < p->sp_band)
			p->sp_block_y = p->sp_band;
		if (p->sp_block_y + SIMPATTERN_BLOCK > height)
			p->sp_block_y = grid_down(height - SIMPATTERN_BLOCK);
		p->sp_block_steps = (width - SIMPATTERN_BLOCK) /
		    SIMPATTERN_GRID + 1;
	}
}

uint32_t
simpattern_block_x(const struct simpattern *p, uint64_t seq)
{
	if (p->sp_block_steps == 0)
		return 0;
	return (uint32_t)(seq % p->sp_block_steps) * SIMPATTERN_GRID;
}

/* A fixed hash of the position: the same noise in every frame. */
static uint32_t
texture_hash(uint32_t x, uint32_t y)
{
	uint32_t h = x * 0x9e3779b1u ^ (y + 0x632be5abu) * 0x85ebca77u;

	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	h ^= h >> 12;
	return h;
}

static uint8_t
texture_y(const struct simpattern *p, uint32_t x, uint32_t y)
{
	int ramp = 48 + (int)((uint64_t)x * 160 / p->sp_width);
	int noise = (int)(texture_hash(x, y) % (2 * TEXTURE_NOISE + 1)) -
	    TEXTURE_NOISE;

	return clamp255(ramp + noise);
}

/* The picture without barcode cells and block. */
static struct yuv
simpattern_background(const struct simpattern *p, uint32_t x, uint32_t y)
{
	struct yuv c = { SIMSTAMP_Y_NONE, 128, 128 };
	uint32_t bar;

	if (y < p->sp_band)
		return c;
	if (y < p->sp_bars_bottom) {
		bar = x / p->sp_bar_width;
		if (bar > 7)
			bar = 7;
		return p->sp_bar[bar];
	}
	c.y = texture_y(p, x, y);
	return c;
}

int
simpattern_overlay(const struct simpattern *p, uint64_t seq,
    uint64_t real_ns, struct simpattern_rect *r)
{
	uint8_t bits[SIMSTAMP_BITS];
	uint32_t across = p->sp_width / SIMSTAMP_CELL;
	int i, n = 0;

	if (p->sp_band > 0) {
		simstamp_encode(seq, real_ns, bits);
		for (i = 0; i < SIMSTAMP_BITS; i++) {
			r[n].x = (uint32_t)i % across * SIMSTAMP_CELL;
			r[n].y = (uint32_t)i / across * SIMSTAMP_CELL;
			r[n].w = r[n].h = SIMSTAMP_CELL;
			r[n].c.y = bits[i] ? SIMSTAMP_Y_ONE : SIMSTAMP_Y_ZERO;
			r[n].c.u = r[n].c.v = 128;
			n++;
		}
	}
	if (p->sp_block_size > 0) {
		r[n].x = simpattern_block_x(p, seq);
		r[n].y = p->sp_block_y;
		r[n].w = r[n].h = p->sp_block_size;
		r[n].c = p->sp_block;
		n++;
	}
	return n;
}

struct yuv
simpattern_pixel(const struct simpattern *p, uint64_t seq, uint64_t real_ns,
    uint32_t x, uint32_t y)
{
	struct simpattern_rect r[SIMPATTERN_OVERLAY_MAX];
	struct yuv c = simpattern_background(p, x, y);
	int i, n = simpattern_overlay(p, seq, real_ns, r);

	for (i = 0; i < n; i++)
		if (x >= r[i].x && x < r[i].x + r[i].w &&
		    y >= r[i].y && y < r[i].y + r[i].h)
			c = r[i].c;
	return c;
}

void
simpattern_render_i420(const struct simpattern *p, uint8_t *y,
    size_t ystride, uint8_t *u, uint8_t *v, size_t cstride)
{
	struct yuv c;
	uint32_t row, col;

	for (row = 0; row < p->sp_height; row++)
		for (col = 0; col < p->sp_width; col++) {
			c = simpattern_background(p, col, row);
			y[row * ystride + col] = c.y;
			if ((row & 1) == 0 && (col & 1) == 0) {
				u[row / 2 * cstride + col / 2] = c.u;
				v[row / 2 * cstride + col / 2] = c.v;
			}
		}
}
