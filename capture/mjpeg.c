/*
 * mjpeg.c - checks and repairs camera JPEG frames (see mjpeg.h).
 */
#include <errno.h>
#include <string.h>

#include "mjpeg.h"

/*
 * The typical Huffman tables of ITU-T T.81 Annex K.3 (Tables K.3 to
 * K.6), in the form a DHT segment carries them (B.2.4.2): BITS, the
 * number of codes of each length 1..16, then HUFFVAL, the symbols in
 * order of increasing code.  For AC tables a symbol is RRRRSSSS: a run of
 * RRRR zero coefficients, then one of SSSS bits; 0x00 ends the block and
 * 0xF0 is a run of sixteen zeros.  Every UVC camera that leaves out its
 * DHT encodes with these, which is why a decoder may assume them.
 */
struct huff_table {
	uint8_t		 tc_th;		/* class (0 DC, 1 AC) << 4 | id */
	uint8_t		 bits[16];
	const uint8_t	*vals;
	size_t		 nvals;
};

/* Table K.3: luminance DC differences, categories 0..11. */
static const uint8_t dc_values[12] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
};

/* Table K.5: luminance AC coefficients. */
static const uint8_t ac_luma_values[162] = {
	0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12,
	0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
	0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08,
	0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
	0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16,
	0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
	0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
	0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
	0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59,
	0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
	0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79,
	0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
	0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98,
	0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
	0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6,
	0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
	0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4,
	0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
	0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea,
	0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
	0xf9, 0xfa,
};

/* Table K.6: chrominance AC coefficients. */
static const uint8_t ac_chroma_values[162] = {
	0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21,
	0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
	0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91,
	0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
	0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34,
	0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
	0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38,
	0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
	0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58,
	0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
	0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78,
	0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
	0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96,
	0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
	0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4,
	0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
	0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2,
	0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
	0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9,
	0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
	0xf9, 0xfa,
};

/* Tables 0 serve luminance, tables 1 chrominance, as libjpeg-style
 * encoders and the cameras that copy them assign them in their SOS. */
static const struct huff_table std_tables[4] = {
	{ 0x00, { 0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0 },
	    dc_values, sizeof(dc_values) },				/* K.3 */
	{ 0x10, { 0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d },
	    ac_luma_values, sizeof(ac_luma_values) },			/* K.5 */
	{ 0x01, { 0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0 },
	    dc_values, sizeof(dc_values) },				/* K.4 */
	{ 0x11, { 0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77 },
	    ac_chroma_values, sizeof(ac_chroma_values) },		/* K.6 */
};

void
mjpeg_write_dht(uint8_t *out)
{
	size_t i, n = 4;

	out[0] = 0xff;
	out[1] = 0xc4;
	out[2] = (uint8_t)((MJPEG_DHT_LEN - 2) >> 8);
	out[3] = (uint8_t)((MJPEG_DHT_LEN - 2) & 0xff);
	for (i = 0; i < 4; i++) {
		out[n++] = std_tables[i].tc_th;
		memcpy(out + n, std_tables[i].bits, 16);
		n += 16;
		memcpy(out + n, std_tables[i].vals, std_tables[i].nvals);
		n += std_tables[i].nvals;
	}
}

static int
is_sof(uint8_t m)
{
	/* C0..CF less DHT (C4), JPG (C8) and DAC (CC). */
	return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
}

static int
sof_is_arithmetic(uint8_t m)
{
	return m >= 0xc9;
}

/* Frame header (B.2.2): P, Y, X, Nf, then Nf times (C, H|V, Tq). */
static int
parse_sof(uint8_t m, const uint8_t *seg, size_t n, struct mjpeg_info *info)
{
	unsigned nf;

	if (info->sof != 0 || n < 6)
		return -EBADMSG;
	nf = seg[5];
	if (nf < 1 || nf > 4 || n != 6 + 3 * (size_t)nf)
		return -EBADMSG;
	info->height = (uint32_t)seg[1] << 8 | seg[2];
	info->width = (uint32_t)seg[3] << 8 | seg[4];
	/* A height of 0 defers it to a DNL segment: no camera does that,
	 * and we could not tell a viewer the size. */
	if (info->width == 0 || info->height == 0)
		return -EBADMSG;
	info->sof = m;
	info->components = (uint8_t)nf;
	return 0;
}

/* Scan header (B.2.3): Ns, Ns times (Cs, Td|Ta), Ss, Se, Ah|Al. */
static int
parse_sos(const uint8_t *seg, size_t n, size_t marker_off,
    struct mjpeg_info *info)
{
	unsigned ns;

	if (info->sof == 0 || n < 1)
		return -EBADMSG;
	ns = seg[0];
	if (ns < 1 || ns > 4 || n != 4 + 2 * (size_t)ns)
		return -EBADMSG;
	if (info->sos_offset != 0)
		return 0;		/* a later scan */
	info->sos_offset = marker_off;
	if (!info->has_dht && !sof_is_arithmetic(info->sof)) {
		/* The standard tables are for 8-bit sequential Huffman. */
		if (info->sof != 0xc0 && info->sof != 0xc1)
			return -EBADMSG;
		info->needs_dht = 1;
	}
	return 0;
}

/*
 * Skips entropy-coded data from *pos; returns with *pos at the FF of the
 * next marker that ends it.  memchr() makes this a fast scan: FF is rare
 * in the data, and every one is stuffed.
 */
static int
skip_scan(const uint8_t *buf, size_t len, size_t *pos)
{
	const uint8_t *p;
	size_t i = *pos;
	uint8_t b;

	for (;;) {
		if (i >= len)
			return -ENODATA;
		p = memchr(buf + i, 0xff, len - i);
		if (p == NULL || (size_t)(p - buf) + 1 >= len)
			return -ENODATA;
		i = (size_t)(p - buf);
		b = buf[i + 1];
		if (b == 0x00 || (b >= 0xd0 && b <= 0xd7)) {
			i += 2;		/* stuffed FF, or restart marker */
			continue;
		}
		if (b == 0xff) {
			i += 1;		/* fill byte before a marker */
			continue;
		}
		*pos = i;
		return 0;
	}
}

/* 1 if buf[0..n) is all zero bytes. */
static int
all_zero(const uint8_t *buf, size_t n)
{
	static const uint8_t zero[256];
	size_t k;

	for (; n > 0; buf += k, n -= k) {
		k = n < sizeof(zero) ? n : sizeof(zero);
		if (memcmp(buf, zero, k) != 0)
			return 0;
	}
	return 1;
}

/*
 * The end of the frame found from the end of the buffer: the offset just
 * past an EOI (FF D9) that starts at or after from and is followed by
 * nothing but zero bytes, or 0 if the buffer does not end that way.
 *
 * The zeros are UVC payload padding: cameras that send payloads of a
 * fixed size fill the rest of the last one with them, so a frame's
 * bytesused runs past its EOI.  memrchr() finds the last D9 in a long
 * run of them at the speed memchr() finds an FF going forward.
 */
static size_t
tail_eoi(const uint8_t *buf, size_t len, size_t from)
{
	const uint8_t *p;
	size_t end = len;

	if (end > from && buf[end - 1] == 0x00) {
		if ((p = memrchr(buf + from, 0xd9, len - from)) == NULL)
			return 0;
		end = (size_t)(p - buf) + 1;
		if (!all_zero(buf + end, len - end))
			return 0;
	}
	if (end - from < 2 || buf[end - 2] != 0xff || buf[end - 1] != 0xd9)
		return 0;
	return end;
}

/*
 * scan_all: walk the entropy-coded data of every scan for its markers
 * (mjpeg_check_scan()), else take the end from the buffer's tail when it
 * is a clean EOI (mjpeg_check()).
 */
static int
check(const uint8_t *buf, size_t len, struct mjpeg_info *info, int scan_all)
{
	size_t i, end, seglen, marker_off;
	uint8_t m;
	int rc;

	memset(info, 0, sizeof(*info));
	if (buf == NULL || len < MJPEG_MIN_LEN)
		return -EMSGSIZE;
	if (buf[0] != 0xff || buf[1] != 0xd8)
		return -ENOMSG;
	i = 2;
	for (;;) {
		/* A marker: FF, any fill bytes FF, then the code. */
		if (i >= len)
			return -ENODATA;
		if (buf[i] != 0xff)
			return -EBADMSG;
		marker_off = i;
		while (i < len && buf[i] == 0xff)
			i++;
		if (i >= len)
			return -ENODATA;
		m = buf[i++];
		if (m == 0xd9) {			/* EOI */
			if (info->sos_offset == 0)
				return -EBADMSG;
			/* The frame, not the buffer with its padding (found
			 * by tests/fuzz/fuzz_mjpeg.c). */
			if (i < MJPEG_MIN_LEN)
				return -EMSGSIZE;
			info->length = i;
			return 0;
		}
		if (m == 0x01)				/* TEM: no length */
			continue;
		if (m == 0x00 || m == 0xd8 || (m >= 0xd0 && m <= 0xd7))
			return -EBADMSG;
		/* Every other marker starts a segment with a length. */
		if (len - i < 2)
			return -ENODATA;
		seglen = (size_t)buf[i] << 8 | buf[i + 1];
		if (seglen < 2)
			return -EBADMSG;
		if (seglen > len - i)
			return -ENODATA;
		if (is_sof(m))
			rc = parse_sof(m, buf + i + 2, seglen - 2, info);
		else if (m == 0xda)
			rc = parse_sos(buf + i + 2, seglen - 2, marker_off,
			    info);
		else {
			if (m == 0xc4 && info->sos_offset == 0)
				info->has_dht = 1;
			rc = 0;
		}
		if (rc != 0)
			return rc;
		i += seglen;
		if (m != 0xda)
			continue;
		/*
		 * The first scan's data starts at i.  Whether the frame is
		 * whole shows at the buffer's end: inside entropy-coded
		 * data every FF is followed by 00 or a restart marker
		 * (T.81 B.1.1.5, F.1.2.3), so FF D9 there can only be the
		 * EOI, and a frame cut short (a USB transfer lost at its
		 * end, the common fault) does not end with it.  What the
		 * walk through the data (skip_scan()) would find besides
		 * is corruption inside it, which a decoder survives as it
		 * survives corrupt bits that make no marker, which no
		 * check short of decoding finds: libjpeg-turbo warns and
		 * fills the rest of the picture, browsers show what
		 * decoded, and the server only looks for SOI and EOI
		 * (jpeg_looks_complete()).  An EOI before the end (two
		 * pictures in one buffer) makes length longer than the
		 * walk's and the picture no different: decoders stop at
		 * the first EOI.  One cut the walk alone would catch: a
		 * frame of several scans (progressive) cut right after
		 * FF D9 inside a segment between its scans, which may
		 * hold any bytes; its decoder fails as on corrupt data.
		 * The UVC cameras we know send baseline frames: one scan.
		 */
		if (!scan_all && info->sos_offset == marker_off &&
		    (end = tail_eoi(buf, len, i)) >= MJPEG_MIN_LEN) {
			info->length = end;
			return 0;
		}
		if ((rc = skip_scan(buf, len, &i)) != 0)
			return rc;
	}
}

int
mjpeg_check(const uint8_t *buf, size_t len, struct mjpeg_info *info)
{
	return check(buf, len, info, 0);
}

int
mjpeg_check_scan(const uint8_t *buf, size_t len, struct mjpeg_info *info)
{
	return check(buf, len, info, 1);
}

size_t
mjpeg_repaired_len(const struct mjpeg_info *info)
{
	return info->length + (info->needs_dht ? MJPEG_DHT_LEN : 0);
}

int
mjpeg_repair(const uint8_t *buf, const struct mjpeg_info *info, uint8_t *out,
    size_t cap, size_t *outlen)
{
	size_t need = mjpeg_repaired_len(info);

	if (info->length == 0 || info->sos_offset >= info->length)
		return -EBADMSG;
	if (cap < need)
		return -ENOBUFS;
	if (info->needs_dht) {
		memcpy(out, buf, info->sos_offset);
		mjpeg_write_dht(out + info->sos_offset);
		memcpy(out + info->sos_offset + MJPEG_DHT_LEN,
		    buf + info->sos_offset, info->length - info->sos_offset);
	} else
		memcpy(out, buf, info->length);
	*outlen = need;
	return 0;
}
