/*
 * simstamp.c - see simstamp.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <turbojpeg.h>

#include "simstamp.h"

#define CODE_BYTES	(SIMSTAMP_BITS / 8)
/* Between black (16) and white (235): what a cell's mean is compared to. */
#define CELL_THRESHOLD	126

uint32_t
simstamp_rows(uint32_t width, uint32_t height)
{
	uint32_t across = width / SIMSTAMP_CELL, rows;

	if (across == 0)
		return 0;
	rows = (SIMSTAMP_BITS + across - 1) / across;
	if ((uint64_t)rows * SIMSTAMP_CELL > height)
		return 0;
	return rows;
}

static uint16_t
crc16_ccitt(const uint8_t *p, size_t n)
{
	uint16_t crc = 0xffff;
	int i;

	while (n-- > 0) {
		crc ^= (uint16_t)(*p++ << 8);
		for (i = 0; i < 8; i++)
			crc = (uint16_t)((crc & 0x8000) ?
			    (crc << 1) ^ 0x1021 : crc << 1);
	}
	return crc;
}

void
simstamp_encode(uint64_t seq, uint64_t real_ns, uint8_t bits[SIMSTAMP_BITS])
{
	uint8_t code[CODE_BYTES];
	uint64_t us = real_ns / 1000;
	uint16_t crc;
	int i;

	for (i = 0; i < 5; i++)
		code[i] = (uint8_t)(seq >> (8 * (4 - i)));
	for (i = 0; i < 7; i++)
		code[5 + i] = (uint8_t)(us >> (8 * (6 - i)));
	crc = crc16_ccitt(code, 12);
	code[12] = (uint8_t)(crc >> 8);
	code[13] = (uint8_t)crc;
	for (i = 0; i < SIMSTAMP_BITS; i++)
		bits[i] = (code[i / 8] >> (7 - i % 8)) & 1;
}

int
simstamp_decode(const uint8_t bits[SIMSTAMP_BITS], uint64_t *seq,
    uint64_t *real_ns)
{
	uint8_t code[CODE_BYTES];
	uint64_t s = 0, us = 0;
	int i;

	memset(code, 0, sizeof(code));
	for (i = 0; i < SIMSTAMP_BITS; i++)
		if (bits[i])
			code[i / 8] |= (uint8_t)(0x80 >> (i % 8));
	if (crc16_ccitt(code, 12) != (uint16_t)(code[12] << 8 | code[13]))
		return -EBADMSG;
	for (i = 0; i < 5; i++)
		s = s << 8 | code[i];
	for (i = 0; i < 7; i++)
		us = us << 8 | code[5 + i];
	*seq = s;
	*real_ns = us * 1000;
	return 0;
}

size_t
simstamp_com_text(char *buf, size_t len, uint64_t seq, uint64_t real_ns)
{
	int n = snprintf(buf, len, SIMSTAMP_COM_PREFIX "%" PRIu64 " %" PRIu64,
	    seq, real_ns);

	return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

/*
 * Walks the marker segments from SOI up to SOS.  Calls fn for each
 * segment with a length field; fn returns non-zero to stop the walk.
 * Returns what fn returned, 0 at SOS, or -EINVAL on malformed data.
 */
static int
jpeg_walk(const uint8_t *p, size_t len,
    int (*fn)(uint8_t marker, const uint8_t *body, size_t n, void *arg),
    void *arg)
{
	size_t i = 2, n;
	uint8_t m;
	int rc;

	if (len < 4 || p[0] != 0xff || p[1] != 0xd8)
		return -EINVAL;
	for (;;) {
		if (i + 2 > len || p[i] != 0xff)
			return -EINVAL;
		while (i < len && p[i] == 0xff)	/* fill bytes */
			i++;
		if (i >= len)
			return -EINVAL;
		m = p[i++];
		if (m == 0x01 || (m >= 0xd0 && m <= 0xd8))
			continue;		/* no length field */
		if (m == 0xd9)
			return -EINVAL;		/* EOI before any scan */
		if (i + 2 > len)
			return -EINVAL;
		n = (size_t)p[i] << 8 | p[i + 1];
		if (n < 2 || i + n > len)
			return -EINVAL;
		if ((rc = fn(m, p + i + 2, n - 2, arg)) != 0)
			return rc;
		if (m == 0xda)
			return 0;
		i += n;
	}
}

struct com_result {
	uint64_t	seq;
	uint64_t	real_ns;
};

static int
com_find(uint8_t marker, const uint8_t *body, size_t n, void *arg)
{
	struct com_result *r = arg;
	const size_t plen = sizeof(SIMSTAMP_COM_PREFIX) - 1;
	char text[SIMSTAMP_COM_MAX + 1], *end;

	if (marker != 0xfe || n < plen || n > SIMSTAMP_COM_MAX ||
	    memcmp(body, SIMSTAMP_COM_PREFIX, plen) != 0)
		return 0;
	memcpy(text, body, n);
	text[n] = '\0';
	/* Digits only: strtoull() alone would take signs and spaces. */
	if (text[plen] < '0' || text[plen] > '9')
		return -EINVAL;
	errno = 0;
	r->seq = strtoull(text + plen, &end, 10);
	if (errno != 0 || *end != ' ' || end[1] < '0' || end[1] > '9')
		return -EINVAL;
	r->real_ns = strtoull(end + 1, &end, 10);
	if (errno != 0 || *end != '\0')
		return -EINVAL;
	return 1;
}

int
simstamp_from_com(const uint8_t *jpeg, size_t len, uint64_t *seq,
    uint64_t *real_ns)
{
	struct com_result r;
	int rc = jpeg_walk(jpeg, len, com_find, &r);

	if (rc < 0)
		return rc;
	if (rc == 0)
		return -ENOENT;
	*seq = r.seq;
	*real_ns = r.real_ns;
	return 0;
}

/* Stops the walk at SOS: is there a scan at all? */
static int
sos_find(uint8_t marker, const uint8_t *body, size_t n, void *arg)
{
	(void)body;
	(void)n;
	(void)arg;
	return marker == 0xda;
}

static int
barcode_read(tjhandle tj, const uint8_t *jpeg, size_t len, uint32_t width,
    uint32_t height, uint8_t *pix, uint64_t *seq, uint64_t *real_ns)
{
	tjscalingfactor eighth = { 1, 8 };
	int sw = TJSCALED((int)width, eighth), sh = TJSCALED((int)height,
	    eighth);
	uint32_t across = width / SIMSTAMP_CELL, i, c, r;
	uint8_t bits[SIMSTAMP_BITS];
	const uint8_t *q;

	/*
	 * A truncated scan only gives a warning ("premature end of data"),
	 * with the rows it could not decode filled in: that is the point
	 * of decoding a prefix.
	 */
	if (tjDecompress2(tj, jpeg, (unsigned long)len, pix, sw, sw, sh,
	    TJPF_GRAY, 0) != 0 && tjGetErrorCode(tj) != TJERR_WARNING)
		return -EIO;
	for (i = 0; i < SIMSTAMP_BITS; i++) {
		c = i % across;
		r = i / across;
		q = pix + (size_t)(2 * r) * (size_t)sw + 2 * c;
		bits[i] = (q[0] + q[1] + q[sw] + q[sw + 1]) / 4 >=
		    CELL_THRESHOLD;
	}
	return simstamp_decode(bits, seq, real_ns);
}

int
simstamp_from_barcode(const uint8_t *jpeg, size_t len, uint64_t *seq,
    uint64_t *real_ns)
{
	tjscalingfactor eighth = { 1, 8 };
	int w, h, sub, cs, rc;
	uint32_t rows;
	size_t scan, prefix;
	uint8_t *pix;
	tjhandle tj;

	rc = jpeg_walk(jpeg, len, sos_find, NULL);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return -EINVAL;
	if ((tj = tjInitDecompress()) == NULL)
		return -ENOMEM;
	if (tjDecompressHeader3(tj, jpeg, (unsigned long)len, &w, &h, &sub,
	    &cs) != 0 || w <= 0 || h <= 0) {
		tjDestroy(tj);
		return -EINVAL;
	}
	if ((rows = simstamp_rows((uint32_t)w, (uint32_t)h)) == 0) {
		tjDestroy(tj);
		return -ENOENT;
	}
	pix = malloc((size_t)TJSCALED(w, eighth) * (size_t)TJSCALED(h, eighth));
	if (pix == NULL) {
		tjDestroy(tj);
		return -ENOMEM;
	}
	/*
	 * The barcode is in the first rows, so the first part of the scan
	 * is enough: three times its share of the picture's height plus a
	 * margin, since the band may be denser than the average row.
	 */
	scan = len / 8;		/* the headers are far shorter than this */
	prefix = scan + (len - scan) / (size_t)h *
	    ((size_t)rows * SIMSTAMP_CELL * 3 + 32) + 4096;
	rc = -EBADMSG;
	if (prefix < len)
		rc = barcode_read(tj, jpeg, prefix, (uint32_t)w, (uint32_t)h,
		    pix, seq, real_ns);
	if (rc != 0)
		rc = barcode_read(tj, jpeg, len, (uint32_t)w, (uint32_t)h,
		    pix, seq, real_ns);
	free(pix);
	tjDestroy(tj);
	return rc;
}

int
simstamp_from_jpeg(const uint8_t *jpeg, size_t len, uint64_t *seq,
    uint64_t *real_ns)
{
	int rc = simstamp_from_com(jpeg, len, seq, real_ns);

	if (rc != -ENOENT)
		return rc;
	return simstamp_from_barcode(jpeg, len, seq, real_ns);
}

int
simstamp_from_luma(const uint8_t *y, size_t stride, size_t xstep,
    uint32_t width, uint32_t height, uint64_t *seq, uint64_t *real_ns)
{
	uint32_t across = width / SIMSTAMP_CELL, i, dx, dy, sum;
	uint8_t bits[SIMSTAMP_BITS];
	const uint8_t *q;

	if (simstamp_rows(width, height) == 0)
		return -ENOENT;
	for (i = 0; i < SIMSTAMP_BITS; i++) {
		q = y + (size_t)((i / across) * SIMSTAMP_CELL + 4) * stride +
		    (size_t)((i % across) * SIMSTAMP_CELL + 4) * xstep;
		sum = 0;
		for (dy = 0; dy < 8; dy++)
			for (dx = 0; dx < 8; dx++)
				sum += q[dy * stride + dx * xstep];
		bits[i] = sum / 64 >= CELL_THRESHOLD;
	}
	return simstamp_decode(bits, seq, real_ns);
}
