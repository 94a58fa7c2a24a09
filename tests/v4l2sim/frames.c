/*
 * frames.c - what the simulated camera sends, made cheap to produce.
 *
 * The picture is simpattern.h's.  Producing a frame must cost next to
 * nothing, because benchmarks run streamers against this camera and
 * measure their CPU time, not ours.  A TurboJPEG encode of a 1080p frame
 * takes about 10 ms here; a frame from this module takes a memcpy.
 *
 * Raw formats: the background is converted to the format once; a frame
 * is a memcpy of it plus the barcode cells and the block drawn on top.
 *
 * MJPEG/JPEG: the frame is cut into independent pieces with restart
 * markers, one restart interval per MCU row (DRI = MCUs per row).  After
 * a restart marker the decoder resets its DC predictors and starts on a
 * byte boundary, which is exactly how the scan of a stand-alone JPEG
 * starts and ends (padded with 1-bits).  So each 16-pixel row is encoded
 * once by TurboJPEG as a picture of its own, and its scan data is reused
 * as that row's restart interval:
 *   - rows of the background: once;
 *   - the four rows the block crosses: once per block position;
 *   - the barcode rows: written per frame by a tiny entropy coder that
 *     knows only flat 16x16 MCUs (a DC coefficient and an end-of-block
 *     per 8x8 block), using the Huffman tables TurboJPEG wrote;
 *   - the COM stamp, spliced in after SOI.
 * A frame is the header, the COM segment, the rows with RSTn markers
 * between them, and EOI.  Every row piece must have been coded with the
 * same tables; that is checked, and TurboJPEG's defaults (the standard
 * Huffman tables of ITU-T T.81 Annex K) are what make V4L2SIM_NO_DHT
 * frames decode: decoders substitute exactly those tables.
 *
 * H.264: each frame is composed in 4:2:0 (background and overlay, or the
 * file's frame) and encoded by x264 (simh264.h) the way many UVC cameras
 * send it: an access unit delimiter before each picture, the parameter
 * sets before the first IDR of a stream only, an IDR every 30 frames.
 * That costs the producer thread a few milliseconds a frame; benchmarks
 * leave its time out.
 *
 * V4L2SIM_FILE: frames from a file of raw 4:2:0 pictures (what ffmpeg
 * writes with -f rawvideo -pix_fmt yuv420p) at the negotiated size,
 * played in a loop instead of the picture: content with motion everywhere,
 * for benchmarks.  Raw formats are converted from it as each frame is
 * made, JPEG frames encoded once at the start, H.264 as above.  Such
 * frames carry no stamp.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <turbojpeg.h>

#include "sim.h"
#include "simh264.h"
#include "simpattern.h"
#include "simstamp.h"

#define MCU		16			/* 4:2:0: 16x16 pixels */
#define BLOCK_ROWS	(SIMPATTERN_BLOCK / MCU)
/* Entropy-coded bytes a flat MCU can take, with byte stuffing. */
#define FLAT_MCU_MAX	80
#define TABLES_MAX	2048

struct seg {
	uint32_t	off;		/* into f->pool */
	uint32_t	len;
};

struct huff {
	uint16_t	code[12];	/* DC: by category */
	uint8_t		len[12];
	uint16_t	eob_code;	/* AC: symbol 0x00 */
	uint8_t		eob_len;
};

struct sim_frames {
	uint64_t	 id;		/* unique, for struct sim_paint */
	uint32_t	 fourcc;
	uint32_t	 width;
	uint32_t	 height;
	struct simpattern pat;
	size_t		 max;		/* largest frame */
	uint64_t	 noise;		/* xorshift state, broken frames */

	/* Raw formats. */
	uint8_t		*bg;		/* the background in the format */
	size_t		 bglen;

	/* V4L2SIM_FILE: its pictures, 4:2:0, mapped */
	const uint8_t	*file;
	size_t		 file_size;
	size_t		 file_frames;
	uint8_t		*file_jpeg;	/* JPEG: every picture encoded */
	size_t		*file_jpeg_off;	/* [file_frames + 1] */

	/* H.264 */
	struct simh264	*h264;
	uint8_t		*i420;		/* the picture being encoded */
	uint8_t		*i420_bg;	/* the background in 4:2:0 */
	int		 h264_started;	/* the stream's first frame went out */

	/* JPEG. */
	uint8_t		*head;		/* APPn DQT SOF0 [DHT] DRI SOS */
	size_t		 headlen;
	uint8_t		 tables[TABLES_MAX];	/* DQT and DHT of row 0 */
	size_t		 tableslen;
	uint8_t		*pool;		/* scan data of every row piece */
	size_t		 poollen;
	size_t		 poolcap;
	struct seg	*rows;		/* [mcu_rows]: the background */
	struct seg	*blockrows;	/* [steps][BLOCK_ROWS] */
	uint32_t	 mcu_cols;
	uint32_t	 mcu_rows;
	uint32_t	 band_rows;
	uint32_t	 block_row0;
	struct huff	 huff[2];	/* 0 luma, 1 chroma */
	int		 luma_q;	/* quantiser of the luma DC */
	int		 dc_one;	/* quantised DC of the band's greys */
	int		 dc_zero;
	int		 dc_none;
};

static uint64_t frames_ids;

/* ---------------------------------------------------------- raw formats */

static void
raw_put(const struct sim_frames *f, uint8_t *dst, uint32_t x, uint32_t y,
    struct yuv c)
{
	size_t w = f->width, h = f->height, i;
	uint8_t *p, rgb[3];

	switch (f->fourcc) {
	case V4L2_PIX_FMT_YUYV:
		p = dst + y * w * 2 + (x & ~1u) * 2;
		p[(x & 1) * 2] = c.y;
		p[1] = c.u;
		p[3] = c.v;
		break;
	case V4L2_PIX_FMT_UYVY:
		p = dst + y * w * 2 + (x & ~1u) * 2;
		p[1 + (x & 1) * 2] = c.y;
		p[0] = c.u;
		p[2] = c.v;
		break;
	case V4L2_PIX_FMT_NV12:
		dst[y * w + x] = c.y;
		p = dst + w * h + y / 2 * w + (x & ~1u);
		p[0] = c.u;
		p[1] = c.v;
		break;
	case V4L2_PIX_FMT_YUV420:
		dst[y * w + x] = c.y;
		i = y / 2 * (w / 2) + x / 2;
		dst[w * h + i] = c.u;
		dst[w * h + w * h / 4 + i] = c.v;
		break;
	case V4L2_PIX_FMT_RGB24:
	case V4L2_PIX_FMT_BGR24:
		simpattern_to_rgb(c, rgb);
		p = dst + (y * w + x) * 3;
		if (f->fourcc == V4L2_PIX_FMT_RGB24) {
			p[0] = rgb[0];
			p[2] = rgb[2];
		} else {
			p[0] = rgb[2];
			p[2] = rgb[0];
		}
		p[1] = rgb[1];
		break;
	case V4L2_PIX_FMT_GREY:
		dst[y * w + x] = c.y;
		break;
	}
}

/* A rectangle on the 16-pixel grid (even x, y, w, h) of one colour. */
static void
raw_rect(const struct sim_frames *f, uint8_t *dst,
    const struct simpattern_rect *r)
{
	size_t w = f->width, h = f->height, row, k;
	uint8_t *p, rgb[3], px[4];

	switch (f->fourcc) {
	case V4L2_PIX_FMT_YUYV:
	case V4L2_PIX_FMT_UYVY:
		if (f->fourcc == V4L2_PIX_FMT_YUYV) {
			px[0] = r->c.y; px[1] = r->c.u;
			px[2] = r->c.y; px[3] = r->c.v;
		} else {
			px[0] = r->c.u; px[1] = r->c.y;
			px[2] = r->c.v; px[3] = r->c.y;
		}
		for (row = r->y; row < r->y + r->h; row++) {
			p = dst + row * w * 2 + r->x * 2;
			for (k = 0; k < r->w / 2; k++, p += 4)
				memcpy(p, px, 4);
		}
		break;
	case V4L2_PIX_FMT_GREY:
	case V4L2_PIX_FMT_NV12:
	case V4L2_PIX_FMT_YUV420:
		for (row = r->y; row < r->y + r->h; row++)
			memset(dst + row * w + r->x, r->c.y, r->w);
		if (f->fourcc == V4L2_PIX_FMT_GREY)
			break;
		for (row = r->y / 2; row < (r->y + r->h) / 2; row++) {
			if (f->fourcc == V4L2_PIX_FMT_NV12) {
				p = dst + w * h + row * w + r->x;
				for (k = 0; k < r->w / 2; k++) {
					*p++ = r->c.u;
					*p++ = r->c.v;
				}
			} else {
				p = dst + w * h + row * (w / 2) + r->x / 2;
				memset(p, r->c.u, r->w / 2);
				memset(p + w * h / 4, r->c.v, r->w / 2);
			}
		}
		break;
	case V4L2_PIX_FMT_RGB24:
	case V4L2_PIX_FMT_BGR24:
		simpattern_to_rgb(r->c, rgb);
		if (f->fourcc == V4L2_PIX_FMT_BGR24) {
			px[0] = rgb[2]; px[1] = rgb[1]; px[2] = rgb[0];
		} else
			memcpy(px, rgb, 3);
		for (row = r->y; row < r->y + r->h; row++) {
			p = dst + (row * w + r->x) * 3;
			for (k = 0; k < r->w; k++, p += 3)
				memcpy(p, px, 3);
		}
		break;
	}
}

/* The rectangle r back to the background. */
static void
raw_restore(const struct sim_frames *f, uint8_t *dst,
    const struct simpattern_rect *r)
{
	size_t w = f->width, h = f->height, bpp = 1, row, o;

	switch (f->fourcc) {
	case V4L2_PIX_FMT_YUYV:
	case V4L2_PIX_FMT_UYVY:
		bpp = 2;
		break;
	case V4L2_PIX_FMT_RGB24:
	case V4L2_PIX_FMT_BGR24:
		bpp = 3;
		break;
	}
	for (row = r->y; row < r->y + r->h; row++) {
		o = (row * w + r->x) * bpp;
		memcpy(dst + o, f->bg + o, r->w * bpp);
	}
	for (row = r->y / 2; row < (r->y + r->h) / 2; row++) {
		if (f->fourcc == V4L2_PIX_FMT_NV12) {
			o = w * h + row * w + r->x;
			memcpy(dst + o, f->bg + o, r->w);
		} else if (f->fourcc == V4L2_PIX_FMT_YUV420) {
			o = w * h + row * (w / 2) + r->x / 2;
			memcpy(dst + o, f->bg + o, r->w / 2);
			o += w * h / 4;
			memcpy(dst + o, f->bg + o, r->w / 2);
		}
	}
}

static int
raw_prepare(struct sim_frames *f, const uint8_t *y, const uint8_t *u,
    const uint8_t *v)
{
	struct yuv c;
	uint32_t bpl, size, row, col;
	size_t ci;

	sim_fourcc_geometry(f->fourcc, f->width, f->height, &bpl, &size);
	if ((f->bg = malloc(size)) == NULL)
		return -ENOMEM;
	f->bglen = size;
	f->max = size;
	for (row = 0; row < f->height; row++)
		for (col = 0; col < f->width; col++) {
			ci = (size_t)(row / 2) * (f->width / 2) + col / 2;
			c.y = y[(size_t)row * f->width + col];
			c.u = u[ci];
			c.v = v[ci];
			raw_put(f, f->bg, col, row, c);
		}
	return 0;
}

/* ---------------------------------------------------------- JPEG pieces */

static int
pool_add(struct sim_frames *f, const uint8_t *p, size_t n, struct seg *s)
{
	size_t cap;
	uint8_t *np;

	if (f->poollen + n > f->poolcap) {
		cap = f->poolcap * 2 + n + 65536;
		if ((np = realloc(f->pool, cap)) == NULL)
			return -ENOMEM;
		f->pool = np;
		f->poolcap = cap;
	}
	if (f->poollen + n > UINT32_MAX)
		return -EFBIG;
	memcpy(f->pool + f->poollen, p, n);
	s->off = (uint32_t)f->poollen;
	s->len = (uint32_t)n;
	f->poollen += n;
	return 0;
}

static int
head_add(struct sim_frames *f, const uint8_t *p, size_t n)
{
	uint8_t *np = realloc(f->head, f->headlen + n);

	if (np == NULL)
		return -ENOMEM;
	f->head = np;
	memcpy(f->head + f->headlen, p, n);
	f->headlen += n;
	return 0;
}

/* Builds the codes of one DHT segment's tables (ITU-T T.81, Annex C). */
static int
dht_parse(struct sim_frames *f, const uint8_t *b, size_t n)
{
	uint32_t tc, th, total, len, j, k, code, sym;
	struct huff *h;

	while (n > 0) {
		if (n < 17)
			return -1;
		tc = b[0] >> 4;
		th = b[0] & 15;
		for (total = 0, j = 1; j <= 16; j++)
			total += b[j];
		if (tc > 1 || th > 1 || n < 17 + total)
			return -1;
		h = &f->huff[th];
		code = 0;
		k = 0;
		for (len = 1; len <= 16; len++) {
			for (j = 0; j < b[len]; j++, k++, code++) {
				sym = b[17 + k];
				if (tc == 0 && sym < 12) {
					h->code[sym] = (uint16_t)code;
					h->len[sym] = (uint8_t)len;
				} else if (tc == 1 && sym == 0) {
					h->eob_code = (uint16_t)code;
					h->eob_len = (uint8_t)len;
				}
			}
			code <<= 1;
		}
		b += 17 + total;
		n -= 17 + total;
	}
	return 0;
}

static int
quantise_dc(int level, int q)
{
	int v = (level - 128) * 8;

	return v >= 0 ? (v + q / 2) / q : -((-v + q / 2) / q);
}

/*
 * Takes one TurboJPEG picture of a row apart.  The first one (row 0)
 * becomes the template: its header goes into f->head (SOF0 patched to
 * the full height, DHT left out for no_dht, DRI added before SOS) and
 * its tables are remembered; every later one must have the same tables.
 * On return, scan and scanlen locate the entropy-coded data between
 * SOS and EOI.
 */
static int
row_parse(struct sim_frames *f, const uint8_t *p, size_t len, int first,
    int no_dht, size_t *scan, size_t *scanlen, char *err, size_t errlen)
{
	size_t i = 2, n, tpos = 0, k;
	const uint8_t *b;
	uint8_t m, seg[8];
	int qidx = -1, q[4] = { 0, 0, 0, 0 };

	if (len < 4 || p[0] != 0xff || p[1] != 0xd8 || p[len - 2] != 0xff ||
	    p[len - 1] != 0xd9)
		goto bad;
	for (;;) {
		if (i + 4 > len || p[i] != 0xff)
			goto bad;
		m = p[i + 1];
		n = (size_t)p[i + 2] << 8 | p[i + 3];
		if (n < 2 || i + 2 + n > len)
			goto bad;
		b = p + i + 4;
		n -= 2;
		switch (m) {
		case 0xdb:	/* DQT */
		case 0xc4:	/* DHT */
			if (first) {
				if (f->tableslen + n + 4 > TABLES_MAX)
					goto bad;
				memcpy(f->tables + f->tableslen, p + i, n + 4);
				f->tableslen += n + 4;
				if (m == 0xc4 && dht_parse(f, b, n) != 0)
					goto bad;
				if (m == 0xdb)
					for (k = 0; k + 65 <= n; k += 65) {
						if (b[k] >> 4 != 0)
							goto bad;  /* 16-bit */
						q[b[k] & 3] = b[k + 1];
					}
				if ((m == 0xdb || !no_dht) &&
				    head_add(f, p + i, n + 4) != 0)
					return -ENOMEM;
			} else if (tpos + n + 4 > f->tableslen ||
			    memcmp(f->tables + tpos, p + i, n + 4) != 0) {
				snprintf(err, errlen, "TurboJPEG coded the rows "
				    "with different tables (is TJ_OPTIMIZE "
				    "set?)");
				return -EINVAL;
			}
			tpos += n + 4;
			break;
		case 0xc0:	/* SOF0, baseline */
			/* 8-bit, 3 components, Y 2x2, Cb and Cr 1x1. */
			if (n != 15 || b[0] != 8 || b[5] != 3 || b[7] != 0x22 ||
			    b[10] != 0x11 || b[13] != 0x11)
				goto bad;
			qidx = b[8] & 3;
			if (first) {
				if (head_add(f, p + i, n + 4) != 0)
					return -ENOMEM;
				/* The full height, not the row's. */
				f->head[f->headlen - n + 1] =
				    (uint8_t)(f->height >> 8);
				f->head[f->headlen - n + 2] =
				    (uint8_t)f->height;
			}
			break;
		case 0xda:	/* SOS */
			/* Y with tables 0/0, Cb and Cr with 1/1. */
			if (n != 10 || b[0] != 3 || b[2] != 0x00 ||
			    b[4] != 0x11 || b[6] != 0x11)
				goto bad;
			if (first) {
				seg[0] = 0xff;
				seg[1] = 0xdd;	/* DRI */
				seg[2] = 0;
				seg[3] = 4;
				seg[4] = (uint8_t)(f->mcu_cols >> 8);
				seg[5] = (uint8_t)f->mcu_cols;
				if (head_add(f, seg, 6) != 0 ||
				    head_add(f, p + i, n + 4) != 0)
					return -ENOMEM;
			}
			*scan = i + 4 + n;
			*scanlen = len - 2 - *scan;
			if (first) {
				if (qidx < 0 || q[qidx] == 0 || tpos == 0)
					goto bad;
				f->luma_q = q[qidx];
			} else if (tpos != f->tableslen)
				goto tables;
			return 0;
		default:
			if (m >= 0xe0 && m <= 0xef) {	/* APPn: JFIF */
				if (first && head_add(f, p + i, n + 4) != 0)
					return -ENOMEM;
				break;
			}
			goto bad;
		}
		i += 4 + n;
	}
tables:
	snprintf(err, errlen, "TurboJPEG coded the rows with different tables");
	return -EINVAL;
bad:
	snprintf(err, errlen, "unexpected JPEG layout from TurboJPEG (marker "
	    "at %zu)", i);
	return -EINVAL;
}

/* Encodes rows [y, y + h) of the planes as a picture; keeps its scan. */
static int
row_encode(struct sim_frames *f, tjhandle tj, int quality, int no_dht,
    const uint8_t *y, const uint8_t *u, const uint8_t *v, uint32_t h,
    uint8_t *out, size_t cap, struct seg *s, int first, char *err,
    size_t errlen)
{
	const unsigned char *planes[3] = { y, u, v };
	int strides[3] = { (int)f->width, (int)f->width / 2,
	    (int)f->width / 2 };
	unsigned char *o = out;
	unsigned long size = cap;
	size_t scan, scanlen;
	int rc;

	if (tjCompressFromYUVPlanes(tj, planes, (int)f->width, strides,
	    (int)h, TJSAMP_420, &o, &size, quality, TJFLAG_NOREALLOC) != 0) {
		snprintf(err, errlen, "TurboJPEG: %s", tjGetErrorStr2(tj));
		return -EIO;
	}
	rc = row_parse(f, out, size, first, no_dht, &scan, &scanlen, err,
	    errlen);
	if (rc != 0)
		return rc;
	return pool_add(f, out + scan, scanlen, s);
}

static int
jpeg_prepare(struct sim_frames *f, uint8_t *y, uint8_t *u, uint8_t *v,
    int quality, int no_dht, char *err, size_t errlen)
{
	const struct simpattern *pat = &f->pat;
	size_t w = f->width, cw = w / 2, cap, max;
	uint32_t r, s, k, steps = pat->sp_block_steps, h;
	uint8_t *out = NULL, *work = NULL, *wy, *wu, *wv;
	struct simpattern_rect rect, all[SIMPATTERN_OVERLAY_MAX];
	tjhandle tj;
	int rc = -ENOMEM;

	f->mcu_cols = (f->width + MCU - 1) / MCU;
	f->mcu_rows = (f->height + MCU - 1) / MCU;
	f->band_rows = pat->sp_band / MCU;
	f->block_row0 = pat->sp_block_y / MCU;
	if ((tj = tjInitCompress()) == NULL) {
		snprintf(err, errlen, "tjInitCompress failed");
		return -ENOMEM;
	}
	cap = tjBufSize((int)f->width, MCU, TJSAMP_420);
	f->rows = calloc(f->mcu_rows, sizeof(*f->rows));
	f->blockrows = calloc((size_t)steps * BLOCK_ROWS + 1,
	    sizeof(*f->blockrows));
	out = malloc(cap);
	work = malloc(w * SIMPATTERN_BLOCK * 3 / 2);
	if (f->rows == NULL || f->blockrows == NULL || out == NULL ||
	    work == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	for (r = 0; r < f->mcu_rows; r++) {
		h = f->height - r * MCU < MCU ? f->height - r * MCU : MCU;
		rc = row_encode(f, tj, quality, no_dht, y + r * MCU * w,
		    u + r * (MCU / 2) * cw, v + r * (MCU / 2) * cw, h, out, cap,
		    &f->rows[r], r == 0, err, errlen);
		if (rc != 0)
			goto done;
	}
	if (f->huff[0].eob_len == 0 || f->huff[1].eob_len == 0) {
		snprintf(err, errlen, "no end-of-block code in the tables");
		rc = -EINVAL;
		goto done;
	}
	for (k = 0; k < 12; k++)
		if (f->huff[0].len[k] == 0 || f->huff[1].len[k] == 0) {
			snprintf(err, errlen, "incomplete DC tables");
			rc = -EINVAL;
			goto done;
		}
	/* The block's rows, once per position. */
	wy = work;
	wu = work + w * SIMPATTERN_BLOCK;
	wv = wu + cw * SIMPATTERN_BLOCK / 2;
	for (s = 0; s < steps; s++) {
		memcpy(wy, y + pat->sp_block_y * w, w * SIMPATTERN_BLOCK);
		memcpy(wu, u + pat->sp_block_y / 2 * cw,
		    cw * SIMPATTERN_BLOCK / 2);
		memcpy(wv, v + pat->sp_block_y / 2 * cw,
		    cw * SIMPATTERN_BLOCK / 2);
		/* The overlay's last rectangle is the block. */
		rect = all[simpattern_overlay(pat, s, 0, all) - 1];
		for (k = 0; k < SIMPATTERN_BLOCK; k++) {
			memset(wy + k * w + rect.x, rect.c.y, rect.w);
			if (k % 2 == 0) {
				memset(wu + k / 2 * cw + rect.x / 2, rect.c.u,
				    rect.w / 2);
				memset(wv + k / 2 * cw + rect.x / 2, rect.c.v,
				    rect.w / 2);
			}
		}
		for (k = 0; k < BLOCK_ROWS; k++) {
			rc = row_encode(f, tj, quality, no_dht,
			    wy + k * MCU * w, wu + k * (MCU / 2) * cw,
			    wv + k * (MCU / 2) * cw, MCU, out, cap,
			    &f->blockrows[s * BLOCK_ROWS + k], 0, err, errlen);
			if (rc != 0)
				goto done;
		}
	}
	f->dc_one = quantise_dc(SIMSTAMP_Y_ONE, f->luma_q);
	f->dc_zero = quantise_dc(SIMSTAMP_Y_ZERO, f->luma_q);
	f->dc_none = quantise_dc(SIMSTAMP_Y_NONE, f->luma_q);
	/* The largest frame: every row at its largest variant. */
	max = 2 + 4 + SIMSTAMP_COM_MAX + f->headlen + 2 +
	    (size_t)f->mcu_rows * 2;
	for (r = 0; r < f->mcu_rows; r++) {
		size_t m = f->rows[r].len;

		if (r < f->band_rows)
			m = (size_t)f->mcu_cols * FLAT_MCU_MAX + 2;
		else if (steps > 0 && r >= f->block_row0 &&
		    r < f->block_row0 + BLOCK_ROWS)
			for (s = 0; s < steps; s++)
				if (f->blockrows[s * BLOCK_ROWS + r -
				    f->block_row0].len > m)
					m = f->blockrows[s * BLOCK_ROWS + r -
					    f->block_row0].len;
		max += m;
	}
	f->max = max;
	rc = 0;
done:
	free(work);
	free(out);
	tjDestroy(tj);
	return rc;
}

/* ------------------------------------------------ the band, per frame */

struct bitw {
	uint8_t		*p;
	uint64_t	 acc;
	int		 n;
};

static void
bw_put(struct bitw *w, uint32_t code, int len)
{
	uint8_t b;

	w->acc = w->acc << len | (code & ((1u << len) - 1));
	w->n += len;
	while (w->n >= 8) {
		b = (uint8_t)(w->acc >> (w->n - 8));
		*w->p++ = b;
		if (b == 0xff)
			*w->p++ = 0;	/* byte stuffing */
		w->n -= 8;
	}
}

/* A block with only a DC coefficient: its difference, then EOB. */
static void
bw_flat_block(struct bitw *w, const struct huff *h, int diff)
{
	int a = diff < 0 ? -diff : diff, cat = 0;

	while (a > 0) {
		cat++;
		a >>= 1;
	}
	bw_put(w, h->code[cat], h->len[cat]);
	if (cat > 0)
		bw_put(w, (uint32_t)(diff < 0 ? diff - 1 : diff), cat);
	bw_put(w, h->eob_code, h->eob_len);
}

static uint8_t *
band_row(const struct sim_frames *f, uint8_t *p, uint32_t r,
    const uint8_t bits[SIMSTAMP_BITS])
{
	uint32_t across = f->width / SIMSTAMP_CELL, c, i;
	struct bitw w = { p, 0, 0 };
	int pred = 0, dc;

	for (c = 0; c < f->mcu_cols; c++) {
		i = r * across + c;
		if (c < across && i < SIMSTAMP_BITS)
			dc = bits[i] ? f->dc_one : f->dc_zero;
		else
			dc = f->dc_none;
		bw_flat_block(&w, &f->huff[0], dc - pred);
		bw_flat_block(&w, &f->huff[0], 0);
		bw_flat_block(&w, &f->huff[0], 0);
		bw_flat_block(&w, &f->huff[0], 0);
		pred = dc;
		bw_flat_block(&w, &f->huff[1], 0);	/* Cb: neutral */
		bw_flat_block(&w, &f->huff[1], 0);	/* Cr */
	}
	if (w.n > 0)
		bw_put(&w, 0xff, 8 - w.n);	/* pad with 1-bits */
	return w.p;
}

static size_t
jpeg_fill(struct sim_frames *f, uint8_t *dst, uint64_t seq,
    uint64_t real_ns)
{
	uint8_t bits[SIMSTAMP_BITS], *p = dst;
	char com[SIMSTAMP_COM_MAX + 1];
	uint32_t r, step = 0;
	const struct seg *s;
	size_t n;

	if (f->pat.sp_block_steps > 0)
		step = (uint32_t)(seq % f->pat.sp_block_steps);
	*p++ = 0xff;
	*p++ = 0xd8;
	n = simstamp_com_text(com, sizeof(com), seq, real_ns);
	*p++ = 0xff;
	*p++ = 0xfe;
	*p++ = (uint8_t)((n + 2) >> 8);
	*p++ = (uint8_t)(n + 2);
	memcpy(p, com, n);
	p += n;
	memcpy(p, f->head, f->headlen);
	p += f->headlen;
	simstamp_encode(seq, real_ns, bits);
	for (r = 0; r < f->mcu_rows; r++) {
		if (r < f->band_rows)
			p = band_row(f, p, r, bits);
		else {
			s = &f->rows[r];
			if (f->pat.sp_block_steps > 0 && r >= f->block_row0 &&
			    r < f->block_row0 + BLOCK_ROWS)
				s = &f->blockrows[step * BLOCK_ROWS + r -
				    f->block_row0];
			memcpy(p, f->pool + s->off, s->len);
			p += s->len;
		}
		*p++ = 0xff;
		*p++ = r + 1 < f->mcu_rows ? (uint8_t)(0xd0 + (r & 7)) : 0xd9;
	}
	return (size_t)(p - dst);
}

/* ------------------------------------------------------- from a file */

/* Picture k of the file: planes of the negotiated size. */
static const uint8_t *
file_picture(const struct sim_frames *f, uint64_t k)
{
	size_t size = (size_t)f->width * f->height * 3 / 2;

	return f->file + (size_t)(k % f->file_frames) * size;
}

/* Raw frame seq from the file, converted to the format. */
static size_t
file_fill_raw(struct sim_frames *f, uint8_t *dst, uint64_t seq)
{
	const size_t w = f->width, h = f->height, ys = w * h;
	const uint8_t *y = file_picture(f, seq), *u = y + ys, *v = u + ys / 4;
	struct yuv c;
	size_t row, col, ci;
	uint8_t *p;

	switch (f->fourcc) {
	case V4L2_PIX_FMT_YUV420:
		memcpy(dst, y, ys * 3 / 2);
		break;
	case V4L2_PIX_FMT_GREY:
		memcpy(dst, y, ys);
		break;
	case V4L2_PIX_FMT_NV12:
		memcpy(dst, y, ys);
		for (ci = 0, p = dst + ys; ci < ys / 4; ci++) {
			*p++ = u[ci];
			*p++ = v[ci];
		}
		break;
	case V4L2_PIX_FMT_YUYV:
	case V4L2_PIX_FMT_UYVY:
		for (row = 0, p = dst; row < h; row++)
			for (col = 0; col < w; col += 2, p += 4) {
				ci = row / 2 * (w / 2) + col / 2;
				if (f->fourcc == V4L2_PIX_FMT_YUYV) {
					p[0] = y[row * w + col];
					p[1] = u[ci];
					p[2] = y[row * w + col + 1];
					p[3] = v[ci];
				} else {
					p[0] = u[ci];
					p[1] = y[row * w + col];
					p[2] = v[ci];
					p[3] = y[row * w + col + 1];
				}
			}
		break;
	default:	/* RGB24, BGR24: rarely wanted from a file; slow */
		for (row = 0; row < h; row++)
			for (col = 0; col < w; col++) {
				ci = row / 2 * (w / 2) + col / 2;
				c.y = y[row * w + col];
				c.u = u[ci];
				c.v = v[ci];
				raw_put(f, dst, (uint32_t)col, (uint32_t)row, c);
			}
		break;
	}
	return f->bglen;
}

/* Maps V4L2SIM_FILE; every JPEG is made now if the format is JPEG. */
static int
file_open(struct sim_frames *f, const char *path, int quality, char *err,
    size_t errlen)
{
	size_t size = (size_t)f->width * f->height * 3 / 2, cap, k;
	unsigned char *jpeg;
	unsigned long jlen;
	struct stat st;
	tjhandle tj;
	void *map;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		snprintf(err, errlen, "V4L2SIM_FILE %s: %s", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -EINVAL;
	}
	if (st.st_size < (off_t)size || st.st_size % (off_t)size != 0) {
		snprintf(err, errlen, "V4L2SIM_FILE %s: %lld bytes, not a "
		    "whole number of %ux%u 4:2:0 pictures", path,
		    (long long)st.st_size, f->width, f->height);
		close(fd);
		return -EINVAL;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "V4L2SIM_FILE %s: mmap: %s", path,
		    strerror(errno));
		return -ENOMEM;
	}
	f->file = map;
	f->file_size = (size_t)st.st_size;
	f->file_frames = f->file_size / size;
	if (f->fourcc != V4L2_PIX_FMT_MJPEG && f->fourcc != V4L2_PIX_FMT_JPEG)
		return 0;
	cap = tjBufSize((int)f->width, (int)f->height, TJSAMP_420);
	f->file_jpeg = malloc(cap * f->file_frames);
	f->file_jpeg_off = calloc(f->file_frames + 1, sizeof(size_t));
	if (f->file_jpeg == NULL || f->file_jpeg_off == NULL ||
	    (tj = tjInitCompress()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	f->max = 0;
	for (k = 0; k < f->file_frames; k++) {
		const uint8_t *y = file_picture(f, k);
		const unsigned char *planes[3] = { y, y + size * 2 / 3,
		    y + size * 5 / 6 };
		int strides[3] = { (int)f->width, (int)f->width / 2,
		    (int)f->width / 2 };

		jpeg = f->file_jpeg + f->file_jpeg_off[k];
		jlen = cap;
		if (tjCompressFromYUVPlanes(tj, planes, (int)f->width, strides,
		    (int)f->height, TJSAMP_420, &jpeg, &jlen, quality,
		    TJFLAG_NOREALLOC) != 0) {
			snprintf(err, errlen, "TurboJPEG: %s",
			    tjGetErrorStr2(tj));
			tjDestroy(tj);
			return -EIO;
		}
		f->file_jpeg_off[k + 1] = f->file_jpeg_off[k] + jlen;
		if (jlen > f->max)
			f->max = jlen;
	}
	tjDestroy(tj);
	return 0;
}

/* ------------------------------------------------------------- H.264 */

static int
h264_prepare(struct sim_frames *f, const uint8_t *bg, char *err,
    size_t errlen)
{
	size_t ys = (size_t)f->width * f->height;

	if (!simh264_available()) {
		snprintf(err, errlen, "H264 needs x264 (built with X264=no)");
		return -EINVAL;
	}
	f->i420 = malloc(ys * 3 / 2);
	f->i420_bg = malloc(ys * 3 / 2);
	if (f->i420 == NULL || f->i420_bg == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(f->i420_bg, bg, ys * 3 / 2);
	/* As the driver says: room for two bytes a pixel. */
	f->max = ys * 2 < 65536 ? 65536 : ys * 2;
	return 0;
}

/* A rectangle of one colour on the 4:2:0 picture (even coordinates). */
static void
i420_rect(const struct sim_frames *f, uint8_t *img,
    const struct simpattern_rect *r)
{
	size_t w = f->width, ys = w * f->height, row;

	for (row = r->y; row < r->y + r->h; row++)
		memset(img + row * w + r->x, r->c.y, r->w);
	for (row = r->y / 2; row < (r->y + r->h) / 2; row++) {
		memset(img + ys + row * (w / 2) + r->x / 2, r->c.u, r->w / 2);
		memset(img + ys * 5 / 4 + row * (w / 2) + r->x / 2, r->c.v,
		    r->w / 2);
	}
}

static size_t
h264_fill(struct sim_frames *f, uint8_t *dst, size_t cap, uint64_t seq,
    uint64_t real_ns, enum sim_broken broken)
{
	struct simpattern_rect rects[SIMPATTERN_OVERLAY_MAX];
	struct simh264_opts o = { .profile = "main", .gop = 30, .aud = 1,
	    .headers_once = 1, .annexb = 1 };
	size_t ys = (size_t)f->width * f->height, len, pos = 0, at;
	const uint8_t *au;
	int n, idr;

	if (f->h264 == NULL && simh264_new(&f->h264, f->width, f->height, 30,
	    &o) != 0)
		return 0;
	if (f->file != NULL)
		memcpy(f->i420, file_picture(f, seq), ys * 3 / 2);
	else {
		memcpy(f->i420, f->i420_bg, ys * 3 / 2);
		n = simpattern_overlay(&f->pat, seq, real_ns, rects);
		for (int k = 0; k < n; k++)
			i420_rect(f, f->i420, &rects[k]);
	}
	if (simh264_encode(f->h264, f->i420, f->i420 + ys, f->i420 + ys * 5 / 4,
	    !f->h264_started, &au, &len, &idr) != 0 || len > cap)
		return 0;
	f->h264_started = 1;
	memcpy(dst, au, len);
	if (broken != SIM_FRAME_TRUNCATED)
		return len;
	/* Cut short: everything before the picture's first slice (its
	 * start code included), the picture itself gone. */
	while (pos + 4 <= len) {
		at = pos;
		if (dst[pos] == 0 && dst[pos + 1] == 0 && dst[pos + 2] == 1 &&
		    ((dst[pos + 3] & 0x1f) == 1 || (dst[pos + 3] & 0x1f) == 5))
			return at > 0 && dst[at - 1] == 0 ? at - 1 : at;
		pos++;
	}
	return len;
}

void
sim_frames_start(struct sim_frames *f)
{
	/* A camera's encoder starts every stream with an IDR and its
	 * parameter sets. */
	simh264_free(f->h264);
	f->h264 = NULL;
	f->h264_started = 0;
}

/* ---------------------------------------------------------- interface */

int
sim_frames_new(struct sim_frames **out, uint32_t fourcc, uint32_t width,
    uint32_t height, int quality, int no_dht, const char *file, char *err,
    size_t errlen)
{
	struct sim_frames *f;
	size_t ysize = (size_t)width * height;
	uint8_t *img;
	int rc;

	*out = NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (img = malloc(ysize + ysize / 2)) == NULL) {
		free(f);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	f->id = __atomic_add_fetch(&frames_ids, 1, __ATOMIC_RELAXED);
	f->fourcc = fourcc;
	f->width = width;
	f->height = height;
	f->noise = 0x9e3779b97f4a7c15ull ^ ((uint64_t)width << 32 | height);
	simpattern_init(&f->pat, width, height);
	simpattern_render_i420(&f->pat, img, width, img + ysize,
	    img + ysize + ysize / 4, width / 2);
	if (fourcc == V4L2_PIX_FMT_H264)
		rc = h264_prepare(f, img, err, errlen);
	else if (fourcc == V4L2_PIX_FMT_MJPEG || fourcc == V4L2_PIX_FMT_JPEG)
		rc = file != NULL ? 0 : jpeg_prepare(f, img, img + ysize,
		    img + ysize + ysize / 4, quality, no_dht, err, errlen);
	else if ((rc = raw_prepare(f, img, img + ysize,
	    img + ysize + ysize / 4)) != 0)
		snprintf(err, errlen, "out of memory");
	free(img);
	if (rc == 0 && file != NULL)
		rc = file_open(f, file, quality, err, errlen);
	if (rc != 0) {
		sim_frames_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

void
sim_frames_free(struct sim_frames *f)
{
	if (f == NULL)
		return;
	free(f->bg);
	if (f->file != NULL)
		munmap((void *)(uintptr_t)f->file, f->file_size);
	free(f->file_jpeg);
	free(f->file_jpeg_off);
	simh264_free(f->h264);
	free(f->i420);
	free(f->i420_bg);
	free(f->head);
	free(f->pool);
	free(f->rows);
	free(f->blockrows);
	free(f);
}

int
sim_frames_match(const struct sim_frames *f, uint32_t fourcc,
    uint32_t width, uint32_t height)
{
	return f != NULL && f->fourcc == fourcc && f->width == width &&
	    f->height == height;
}

size_t
sim_frames_max(const struct sim_frames *f)
{
	return f->max;
}

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

size_t
sim_frames_fill(struct sim_frames *f, uint8_t *dst, size_t cap,
    uint64_t seq, uint64_t real_ns, enum sim_broken broken,
    struct sim_paint *paint)
{
	size_t len, i;
	uint64_t x;
	size_t k;

	if (cap < f->max)
		return 0;
	if (broken == SIM_FRAME_NOISE) {
		/* Random bytes of a plausible size, starting with neither a
		 * JPEG's SOI nor an H.264 start code. */
		len = f->bg != NULL ? f->bglen : 4096 + seq % 8192;
		if (len > cap)
			len = cap;
		for (i = 0; i < len; i += 8) {
			x = xorshift(&f->noise);
			memcpy(dst + i, &x, len - i < 8 ? len - i : 8);
		}
		dst[0] = f->fourcc == V4L2_PIX_FMT_H264 ? 0x47 : 0x00;
		paint->sp_frames = 0;
		if (f->h264 != NULL) {
			/* The camera's encoder made a picture all the same:
			 * what follows refers to it. */
			uint8_t *scratch = malloc(cap);

			if (scratch != NULL)
				(void)h264_fill(f, scratch, cap, seq, 0,
				    SIM_FRAME_GOOD);
			free(scratch);
		}
		return len;
	}
	if (f->fourcc == V4L2_PIX_FMT_H264) {
		paint->sp_frames = 0;
		return h264_fill(f, dst, cap, seq, real_ns, broken);
	}
	if (f->file != NULL) {
		paint->sp_frames = 0;
		if (f->file_jpeg == NULL)
			len = file_fill_raw(f, dst, seq);
		else {
			k = (size_t)(seq % f->file_frames);
			len = f->file_jpeg_off[k + 1] - f->file_jpeg_off[k];
			memcpy(dst, f->file_jpeg + f->file_jpeg_off[k], len);
		}
		if (broken == SIM_FRAME_TRUNCATED)
			len /= 2;
		return len;
	}
	if (f->bg != NULL) {
		/* 4 MB of YUYV at 1080p is 0.6 ms of memcpy; the parts that
		 * change are a few kilobytes. */
		if (paint->sp_frames == f->id)
			for (int r = 0; r < paint->sp_n; r++)
				raw_restore(f, dst, &paint->sp_rects[r]);
		else
			memcpy(dst, f->bg, f->bglen);
		paint->sp_n = simpattern_overlay(&f->pat, seq, real_ns,
		    paint->sp_rects);
		for (int r = 0; r < paint->sp_n; r++)
			raw_rect(f, dst, &paint->sp_rects[r]);
		paint->sp_frames = f->id;
		len = f->bglen;
	} else
		len = jpeg_fill(f, dst, seq, real_ns);
	if (broken == SIM_FRAME_TRUNCATED)
		len /= 2;	/* no EOI: entropy data never holds FF D9 */
	return len;
}
