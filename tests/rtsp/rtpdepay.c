/*
 * rtpdepay.c - an H.264 RTP depacketizer for the tests (see rtpdepay.h).
 */
#include <string.h>

#include "rtpdepay.h"

void
rtp_depay_init(struct rtp_depay *d, uint8_t *out, size_t cap)
{
	memset(d, 0, sizeof(*d));
	d->d_out = out;
	d->d_cap = cap;
}

void
rtp_depay_next(struct rtp_depay *d)
{
	d->d_len = 0;
	d->d_in_fu = 0;
	d->d_started = 0;
	d->d_done = 0;
	d->d_packets = 0;
}

static int
fail(struct rtp_depay *d, const char *why)
{
	d->d_why = why;
	return -1;
}

/* Appends a NAL unit's 4-byte length and its bytes. */
static int
put_nal(struct rtp_depay *d, const uint8_t *p, size_t n)
{
	if (n == 0)
		return fail(d, "empty NAL unit");
	if (d->d_cap - d->d_len < 4 + n)
		return fail(d, "access unit larger than the buffer");
	d->d_out[d->d_len++] = (uint8_t)(n >> 24);
	d->d_out[d->d_len++] = (uint8_t)(n >> 16);
	d->d_out[d->d_len++] = (uint8_t)(n >> 8);
	d->d_out[d->d_len++] = (uint8_t)n;
	memcpy(d->d_out + d->d_len, p, n);
	d->d_len += n;
	return 0;
}

int
rtp_depay_push(struct rtp_depay *d, const uint8_t *p, size_t len)
{
	uint16_t seq;
	uint32_t ts, ssrc;
	unsigned type;
	size_t n, off;

	if (len < 13)
		return fail(d, "packet shorter than a header and a byte");
	if (p[0] != 0x80)
		return fail(d, "not version 2 without padding, extension, CSRC");
	if ((p[1] & 0x7f) != 96)
		return fail(d, "payload type is not 96");
	if (d->d_done)
		return fail(d, "packet after the marker");
	seq = (uint16_t)(p[2] << 8 | p[3]);
	ts = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 |
	    (uint32_t)p[6] << 8 | p[7];
	ssrc = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 |
	    (uint32_t)p[10] << 8 | p[11];
	if (d->d_have_seq && seq != d->d_next_seq)
		return fail(d, "sequence number gap");
	d->d_have_seq = 1;
	d->d_next_seq = (uint16_t)(seq + 1);
	if (d->d_started && (ts != d->d_ts || ssrc != d->d_ssrc))
		return fail(d, "timestamp or SSRC changed within a unit");
	d->d_started = 1;
	d->d_ts = ts;
	d->d_ssrc = ssrc;
	d->d_packets++;
	d->d_done = (p[1] & 0x80) != 0;
	p += 12;
	len -= 12;
	if (p[0] & 0x80)
		return fail(d, "forbidden_zero_bit set");
	type = p[0] & 0x1f;
	if (d->d_in_fu && type != 28)
		return fail(d, "FU-A not ended");
	switch (type) {
	case 24:	/* STAP-A */
		for (off = 1; off < len; off += 2 + n) {
			if (len - off < 2)
				return fail(d, "STAP-A: partial size");
			n = (size_t)p[off] << 8 | p[off + 1];
			if (n > len - off - 2)
				return fail(d, "STAP-A: size beyond the packet");
			if (put_nal(d, p + off + 2, n) != 0)
				return -1;
		}
		if (off == 1)
			return fail(d, "STAP-A: empty");
		break;
	case 28:	/* FU-A */
		if (len < 3)
			return fail(d, "FU-A: no payload");
		if ((p[1] & 0xc0) == 0xc0)
			return fail(d, "FU-A: start and end in one fragment");
		if (p[1] & 0x80) {
			if (d->d_in_fu)
				return fail(d, "FU-A: start inside a unit");
			if (d->d_cap - d->d_len < 5)
				return fail(d, "access unit larger than the "
				    "buffer");
			d->d_fu_len_at = d->d_len;
			d->d_len += 4;
			d->d_out[d->d_len++] = (uint8_t)((p[0] & 0xe0) |
			    (p[1] & 0x1f));
			d->d_in_fu = 1;
		} else if (!d->d_in_fu) {
			return fail(d, "FU-A: continuation without a start");
		}
		if (d->d_cap - d->d_len < len - 2)
			return fail(d, "access unit larger than the buffer");
		memcpy(d->d_out + d->d_len, p + 2, len - 2);
		d->d_len += len - 2;
		if (p[1] & 0x40) {
			n = d->d_len - d->d_fu_len_at - 4;
			d->d_out[d->d_fu_len_at] = (uint8_t)(n >> 24);
			d->d_out[d->d_fu_len_at + 1] = (uint8_t)(n >> 16);
			d->d_out[d->d_fu_len_at + 2] = (uint8_t)(n >> 8);
			d->d_out[d->d_fu_len_at + 3] = (uint8_t)n;
			d->d_in_fu = 0;
		}
		break;
	case 0: case 25: case 26: case 27: case 29: case 30: case 31:
		return fail(d, "a NAL unit type mode 1 does not carry");
	default:
		if (put_nal(d, p, len) != 0)
			return -1;
	}
	if (d->d_done && d->d_in_fu)
		return fail(d, "marker inside an FU-A");
	return 0;
}
