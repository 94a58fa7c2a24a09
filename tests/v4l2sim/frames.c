/*
 * frames.c - what the simulated camera sends, made cheap to produce.
 *
 * The picture is simpattern.h's.  Producing a frame must cost next to
 * nothing, because benchmarks run streamers against this camera and
 * measure their CPU time, not ours.  A TurboJPEG encode of a 1080p frame
 * takes about 10 ms here; a frame from this module takes a memcpy.
 *
 * Raw formats: the background is converted to the format once, in the
 * driver's layout (padded rows, one buffer or one per plane); a frame is
 * a memcpy of it plus the barcode cells and the block drawn on top.
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
	const struct sim_fourcc *fc;
	uint32_t	 align;
	struct sim_geom	 geom;
	uint8_t		*bg[3];		/* the background, per buffer */
	struct sim_planes planes;	/* where each sample plane lies */

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

/* Sample plane p of dst. */
static uint8_t *
raw_plane(const struct sim_frames *f, uint8_t *const dst[], unsigned p)
{
	return dst[f->planes.sp_plane[p].buf] + f->planes.sp_plane[p].off;
}

/* The stride of sample plane p. */
#define STRIDE(f, p)	((f)->planes.sp_plane[p].stride)

static void
raw_put(const struct sim_frames *f, uint8_t *const dst[], uint32_t x,
    uint32_t y, struct yuv c)
{
	const struct sim_fourcc *fc = f->fc;
	uint8_t *p, *y0 = raw_plane(f, dst, 0) + (size_t)y * STRIDE(f, 0);
	uint8_t rgb[3];
	unsigned s = fc->fc_swap;

	switch (fc->fc_kind) {
	case SIM_KIND_PACKED:
		/* YUYV: Y0 U Y1 V; UYVY (swap): U Y0 V Y1. */
		p = y0 + (x & ~1u) * 2;
		p[(x & 1) * 2 + s] = c.y;
		p[1 - s] = c.u;
		p[3 - s] = c.v;
		break;
	case SIM_KIND_SEMI:
		y0[x] = c.y;
		p = raw_plane(f, dst, 1) + (size_t)(y / fc->fc_vsub) *
		    STRIDE(f, 1) + (x & ~1u);
		p[s] = c.u;
		p[1 - s] = c.v;
		break;
	case SIM_KIND_PLANAR:
		y0[x] = c.y;
		raw_plane(f, dst, 1)[(size_t)(y / 2) * STRIDE(f, 1) +
		    x / 2] = c.u;
		raw_plane(f, dst, 2)[(size_t)(y / 2) * STRIDE(f, 2) +
		    x / 2] = c.v;
		break;
	case SIM_KIND_RGB:
		/* R G B, or B G R (swap); a fourth byte left alone. */
		simpattern_to_rgb(c, rgb);
		p = y0 + (size_t)x * fc->fc_bpp;
		p[0] = rgb[s ? 2 : 0];
		p[1] = rgb[1];
		p[2] = rgb[s ? 0 : 2];
		break;
	case SIM_KIND_GREY:
		y0[x] = c.y;
		break;
	case SIM_KIND_JPEG:
	case SIM_KIND_H264:
		break;
	}
}

/* A rectangle on the 16-pixel grid (even x, y, w, h) of one colour. */
static void
raw_rect(const struct sim_frames *f, uint8_t *const dst[],
    const struct simpattern_rect *r)
{
	const struct sim_fourcc *fc = f->fc;
	uint8_t px[4];
	size_t row, k;
	uint8_t *p;

	/* Packed and RGB: the first row painted, the others copied. */
	if (fc->fc_kind == SIM_KIND_PACKED || fc->fc_kind == SIM_KIND_RGB) {
		size_t bytes = (size_t)r->w * fc->fc_bpp;

		for (k = 0; k < r->w; k += 2) {
			raw_put(f, dst, r->x + (uint32_t)k, r->y, r->c);
			raw_put(f, dst, r->x + (uint32_t)k + 1, r->y, r->c);
		}
		p = raw_plane(f, dst, 0) + (size_t)r->y * STRIDE(f, 0) +
		    (size_t)r->x * fc->fc_bpp;
		for (row = 1; row < r->h; row++)
			memcpy(p + row * STRIDE(f, 0), p, bytes);
		return;
	}
	for (row = r->y; row < r->y + r->h; row++)
		memset(raw_plane(f, dst, 0) + row * STRIDE(f, 0) + r->x,
		    r->c.y, r->w);
	if (fc->fc_kind == SIM_KIND_GREY)
		return;
	for (row = r->y / fc->fc_vsub; row < (r->y + r->h) / fc->fc_vsub;
	    row++) {
		if (fc->fc_kind == SIM_KIND_SEMI) {
			px[fc->fc_swap] = r->c.u;
			px[1 - fc->fc_swap] = r->c.v;
			p = raw_plane(f, dst, 1) + row * STRIDE(f, 1) + r->x;
			for (k = 0; k < r->w / 2; k++, p += 2)
				memcpy(p, px, 2);
		} else {
			memset(raw_plane(f, dst, 1) + row * STRIDE(f, 1) +
			    r->x / 2, r->c.u, r->w / 2);
			memset(raw_plane(f, dst, 2) + row * STRIDE(f, 2) +
			    r->x / 2, r->c.v, r->w / 2);
		}
	}
}

/* The rectangle r back to the background. */
static void
raw_restore(const struct sim_frames *f, uint8_t *const dst[],
    const struct simpattern_rect *r)
{
	const struct sim_fourcc *fc = f->fc;
	size_t row, o, cw;
	unsigned p, np = 1;

	for (row = r->y; row < r->y + r->h; row++) {
		o = f->planes.sp_plane[0].off + row * STRIDE(f, 0) +
		    (size_t)r->x * fc->fc_bpp;
		memcpy(dst[f->planes.sp_plane[0].buf] + o, f->bg[f->planes.sp_plane[0].buf] + o,
		    (size_t)r->w * fc->fc_bpp);
	}
	if (fc->fc_kind == SIM_KIND_SEMI)
		np = 2;
	else if (fc->fc_kind == SIM_KIND_PLANAR)
		np = 3;
	/* Chroma bytes of the rectangle: semi-planar pairs cover r->w. */
	cw = fc->fc_kind == SIM_KIND_SEMI ? r->w : r->w / 2;
	for (p = 1; p < np; p++)
		for (row = r->y / fc->fc_vsub;
		    row < (r->y + r->h) / fc->fc_vsub; row++) {
			o = f->planes.sp_plane[p].off + row * STRIDE(f, p) +
			    (fc->fc_kind == SIM_KIND_SEMI ? r->x : r->x / 2);
			memcpy(dst[f->planes.sp_plane[p].buf] + o, f->bg[f->planes.sp_plane[p].buf] + o,
			    cw);
		}
}

static int
raw_prepare(struct sim_frames *f, const uint8_t *y, const uint8_t *u,
    const uint8_t *v)
{
	struct yuv c;
	uint32_t row, col;
	size_t ci;

	sim_fourcc_geometry(f->fourcc, f->width, f->height, f->align,
	    &f->geom);
	sim_fourcc_planes(f->fc, f->height, &f->geom, &f->planes);
	for (unsigned b = 0; b < f->geom.sg_nbuf; b++) {
		/* Padding bytes as a driver leaves them: whatever. */
		if ((f->bg[b] = malloc(f->geom.sg_size[b])) == NULL)
			return -ENOMEM;
		memset(f->bg[b], 0xa5, f->geom.sg_size[b]);
	}
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

/* Raw frame seq from the file, converted to the format: the common
 * layouts row by row, the others a pixel at a time (slow). */
static void
file_fill_raw(struct sim_frames *f, uint8_t *const dst[], uint64_t seq)
{
	const struct sim_fourcc *fc = f->fc;
	const size_t w = f->width, h = f->height, ys = w * h;
	const uint8_t *y = file_picture(f, seq), *u = y + ys, *v = u + ys / 4;
	const unsigned s = fc->fc_swap;
	struct yuv c;
	size_t row, col, ci;
	uint8_t *p;

	if (fc->fc_kind != SIM_KIND_PACKED && fc->fc_kind != SIM_KIND_RGB)
		for (row = 0; row < h; row++)
			memcpy(raw_plane(f, dst, 0) + row * STRIDE(f, 0),
			    y + row * w, w);
	switch (fc->fc_kind) {
	case SIM_KIND_GREY:
		return;
	case SIM_KIND_PLANAR:
		for (row = 0; row < h / 2; row++) {
			memcpy(raw_plane(f, dst, 1) + row * STRIDE(f, 1),
			    u + row * (w / 2), w / 2);
			memcpy(raw_plane(f, dst, 2) + row * STRIDE(f, 2),
			    v + row * (w / 2), w / 2);
		}
		return;
	case SIM_KIND_SEMI:
		for (row = 0; row < h / fc->fc_vsub; row++) {
			ci = row * fc->fc_vsub / 2 * (w / 2);
			p = raw_plane(f, dst, 1) + row * STRIDE(f, 1);
			for (col = 0; col < w / 2; col++, p += 2) {
				p[s] = u[ci + col];
				p[1 - s] = v[ci + col];
			}
		}
		return;
	case SIM_KIND_PACKED:
		for (row = 0; row < h; row++) {
			p = raw_plane(f, dst, 0) + row * STRIDE(f, 0);
			for (col = 0; col < w; col += 2, p += 4) {
				ci = row / 2 * (w / 2) + col / 2;
				p[s] = y[row * w + col];
				p[2 + s] = y[row * w + col + 1];
				p[1 - s] = u[ci];
				p[3 - s] = v[ci];
			}
		}
		return;
	default:
		for (row = 0; row < h; row++)
			for (col = 0; col < w; col++) {
				ci = row / 2 * (w / 2) + col / 2;
				c.y = y[row * w + col];
				c.u = u[ci];
				c.v = v[ci];
				raw_put(f, dst, (uint32_t)col, (uint32_t)row,
				    c);
			}
		return;
	}
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
	if (f->fc->fc_kind != SIM_KIND_JPEG)
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
h264_fill(struct sim_frames *f, uint8_t *dst, uint64_t seq,
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
	    !f->h264_started, &au, &len, &idr) != 0 || len > f->max)
		return 0;
	f->h264_started = 1;
	if (dst == NULL)
		return len;
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
    uint32_t height, uint32_t align, int quality, int no_dht,
    const char *file, char *err, size_t errlen)
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
	f->align = align ? align : 1;
	f->fc = sim_fourcc_find(fourcc);
	f->noise = 0x9e3779b97f4a7c15ull ^ ((uint64_t)width << 32 | height);
	simpattern_init(&f->pat, width, height);
	simpattern_render_i420(&f->pat, img, width, img + ysize,
	    img + ysize + ysize / 4, width / 2);
	if (f->fc == NULL) {
		snprintf(err, errlen, "unknown format %.4s",
		    (const char *)&fourcc);
		rc = -EINVAL;
	} else if (f->fc->fc_kind == SIM_KIND_H264) {
		f->geom.sg_nbuf = 1;
		rc = h264_prepare(f, img, err, errlen);
	} else if (f->fc->fc_kind == SIM_KIND_JPEG) {
		f->geom.sg_nbuf = 1;
		rc = file != NULL ? 0 : jpeg_prepare(f, img, img + ysize,
		    img + ysize + ysize / 4, quality, no_dht, err, errlen);
	} else if ((rc = raw_prepare(f, img, img + ysize,
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
	for (unsigned b = 0; b < 3; b++)
		free(f->bg[b]);
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
    uint32_t width, uint32_t height, uint32_t align)
{
	return f != NULL && f->fourcc == fourcc && f->width == width &&
	    f->height == height && f->align == (align ? align : 1);
}

unsigned
sim_frames_nbuf(const struct sim_frames *f)
{
	return f->geom.sg_nbuf;
}

size_t
sim_frames_max(const struct sim_frames *f, unsigned i)
{
	if (f->fc->fc_kind == SIM_KIND_JPEG || f->fc->fc_kind == SIM_KIND_H264)
		return i == 0 ? f->max : 0;
	return i < f->geom.sg_nbuf ? f->geom.sg_size[i] : 0;
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
sim_frames_fill(struct sim_frames *f, uint8_t *const dst[], uint64_t seq,
    uint64_t real_ns, enum sim_broken broken, struct sim_paint *paint,
    size_t used[])
{
	const int raw = f->fc->fc_kind != SIM_KIND_JPEG &&
	    f->fc->fc_kind != SIM_KIND_H264;
	size_t len, i, lens[3] = { 0, 0, 0 };
	unsigned b, nbuf = raw ? f->geom.sg_nbuf : 1;
	uint64_t x;
	int k;

	if (broken == SIM_FRAME_NOISE) {
		/* Random bytes of a plausible size, starting with neither a
		 * JPEG's SOI nor an H.264 start code. */
		for (b = 0; b < nbuf; b++) {
			len = raw ? f->geom.sg_size[b] : 4096 + seq % 8192;
			for (i = 0; i < len; i += 8) {
				x = xorshift(&f->noise);
				memcpy(dst[b] + i, &x, len - i < 8 ? len - i :
				    8);
			}
			dst[b][0] = f->fc->fc_kind == SIM_KIND_H264 ? 0x47 :
			    0x00;
			lens[b] = len;
		}
		paint->sp_frames = 0;
		/* The camera's encoder made a picture all the same: what
		 * follows refers to it. */
		if (f->fc->fc_kind == SIM_KIND_H264)
			(void)h264_fill(f, NULL, seq, 0, SIM_FRAME_GOOD);
	} else if (f->fc->fc_kind == SIM_KIND_H264) {
		paint->sp_frames = 0;
		lens[0] = h264_fill(f, dst[0], seq, real_ns, broken);
		broken = SIM_FRAME_GOOD;	/* h264_fill() cut it */
	} else if (f->file != NULL) {
		paint->sp_frames = 0;
		if (raw) {
			file_fill_raw(f, dst, seq);
			for (b = 0; b < nbuf; b++)
				lens[b] = f->geom.sg_size[b];
		} else {
			i = (size_t)(seq % f->file_frames);
			lens[0] = f->file_jpeg_off[i + 1] - f->file_jpeg_off[i];
			memcpy(dst[0], f->file_jpeg + f->file_jpeg_off[i],
			    lens[0]);
		}
	} else if (raw) {
		/* 4 MB of YUYV at 1080p is 0.6 ms of memcpy; the parts that
		 * change are a few kilobytes. */
		if (paint->sp_frames == f->id)
			for (k = 0; k < paint->sp_n; k++)
				raw_restore(f, dst, &paint->sp_rects[k]);
		else
			for (b = 0; b < nbuf; b++)
				memcpy(dst[b], f->bg[b], f->geom.sg_size[b]);
		paint->sp_n = simpattern_overlay(&f->pat, seq, real_ns,
		    paint->sp_rects);
		for (k = 0; k < paint->sp_n; k++)
			raw_rect(f, dst, &paint->sp_rects[k]);
		paint->sp_frames = f->id;
		for (b = 0; b < nbuf; b++)
			lens[b] = f->geom.sg_size[b];
	} else
		lens[0] = jpeg_fill(f, dst[0], seq, real_ns);
	if (broken == SIM_FRAME_TRUNCATED)
		lens[0] /= 2;	/* no EOI: entropy data never holds FF D9 */
	if (used != NULL)
		for (b = 0; b < nbuf; b++)
			used[b] = lens[b];
	return lens[0];
}
