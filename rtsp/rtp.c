/*
 * rtp.c - H.264 access units as RTP packets (see rtp.h).
 *
 * Why our own packetizer: it is a hundred lines over bytes, fuzzed and
 * tested by a round trip, where a library (GStreamer's rtph264pay,
 * libavformat's RTP muxer) would bring a media framework and its
 * threads into a sandboxed network process; docs/security.md.
 */
#include <errno.h>
#include <string.h>

#include "h264.h"
#include "rtp.h"

void
rtp_h264_bound(size_t au_len, unsigned nals, size_t mtu, size_t *bytes,
    unsigned *packets)
{
	/* Every unit starts a packet; every mtu - 14 bytes of a unit
	 * after the first start another (FU-A: header and FU header). */
	size_t n = (size_t)nals + au_len / (mtu - RTP_HEADER_SIZE - 2) + 1;

	*packets = (unsigned)n;
	*bytes = au_len + n * (RTP_PREFIX_SIZE + RTP_HEADER_SIZE + 2);
}

uint32_t
rtp_timestamp(uint64_t mono_ns)
{
	/* Exact, and without overflow: seconds, then the rest. */
	return (uint32_t)((mono_ns / 1000000000u) * RTP_CLOCK_RATE +
	    (mono_ns % 1000000000u) * 9 / 100000);
}

uint16_t
rtp_seq_origin(uint64_t generation, uint64_t frame_seq)
{
	/* A 64-bit mix (splitmix64's finalizer) of the two. */
	uint64_t x = generation ^ (frame_seq * 0x9e3779b97f4a7c15ull);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	x ^= x >> 31;
	return (uint16_t)x;
}

/* Opens a packet of payload bytes: its header written, the payload's
 * place returned, or NULL if out has no room. */
static uint8_t *
packet_open(struct rtp_out *out, size_t payload, uint32_t ssrc, uint32_t ts,
    uint16_t *seq)
{
	size_t len = RTP_HEADER_SIZE + payload;
	uint8_t *p;

	if (out->o_npk == out->o_maxpk ||
	    out->o_cap - out->o_used < RTP_PREFIX_SIZE + len)
		return NULL;
	p = out->o_buf + out->o_used;
	out->o_pk[out->o_npk].p_off = (uint32_t)out->o_used;
	out->o_pk[out->o_npk].p_len = (uint16_t)len;
	out->o_npk++;
	out->o_used += RTP_PREFIX_SIZE + len;
	out->o_payload += (unsigned)payload;
	p[0] = '$';
	p[1] = 0;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p += RTP_PREFIX_SIZE;
	p[0] = 0x80;			/* V=2, no padding, extension, CSRC */
	p[1] = RTP_PT_H264;		/* marker set at the end */
	p[2] = (uint8_t)(*seq >> 8);
	p[3] = (uint8_t)*seq;
	p[4] = (uint8_t)(ts >> 24);
	p[5] = (uint8_t)(ts >> 16);
	p[6] = (uint8_t)(ts >> 8);
	p[7] = (uint8_t)ts;
	p[8] = (uint8_t)(ssrc >> 24);
	p[9] = (uint8_t)(ssrc >> 16);
	p[10] = (uint8_t)(ssrc >> 8);
	p[11] = (uint8_t)ssrc;
	(*seq)++;
	return p + RTP_HEADER_SIZE;
}

/* A unit RTP carries as itself: types 1..23 (0 and 24..31 are RFC
 * 6184's own structures or unspecified). */
static int
nal_ok(const struct h264_nal *n)
{
	return n->type >= 1 && n->type <= 23;
}

/* The next unit at *pos: 1, 0 at the end, -EBADMSG. */
static int
next_unit(const uint8_t *au, size_t len, size_t *pos, struct h264_nal *n)
{
	int r = h264_au_next(au, len, pos, n);

	if (r == 1 && !nal_ok(n))
		return -EBADMSG;
	return r < 0 ? -EBADMSG : r;
}

int
rtp_h264_packetize(const uint8_t *au, size_t len, uint32_t ssrc, uint32_t ts,
    uint16_t *seq, size_t mtu, struct rtp_out *out)
{
	const size_t room = mtu - RTP_HEADER_SIZE;	/* payload bytes */
	struct h264_nal nal, more;
	size_t pos = 0, start, after, stap, off, chunk;
	unsigned count, nri;
	uint8_t *p, f;
	int r;

	out->o_used = 0;
	out->o_npk = 0;
	out->o_payload = 0;
	if (mtu < RTP_PACKET_MIN || mtu > 65535)
		return -ENOBUFS;
	start = pos;
	while ((r = next_unit(au, len, &pos, &nal)) == 1) {
		if (nal.len > room) {
			/* FU-A: the unit's header becomes the FU indicator
			 * (type 28) and FU header (S, E, type); its body is
			 * cut into pieces. */
			for (off = 1; off < nal.len; off += chunk) {
				chunk = nal.len - off;
				if (chunk > room - 2)
					chunk = room - 2;
				p = packet_open(out, 2 + chunk, ssrc, ts, seq);
				if (p == NULL)
					return -ENOBUFS;
				p[0] = (uint8_t)((nal.data[0] & 0xe0) |
				    RTP_H264_FU_A);
				p[1] = (uint8_t)((off == 1 ? 0x80 : 0) |
				    (off + chunk == nal.len ? 0x40 : 0) |
				    nal.type);
				memcpy(p + 2, nal.data + off, chunk);
			}
			start = pos;
			continue;
		}
		/* The run of units after this one that fit a STAP-A with
		 * it: a one-byte header, then each unit after its size. */
		stap = 1 + 2 + nal.len;
		count = 1;
		after = pos;
		for (;;) {
			size_t look = after;

			r = next_unit(au, len, &look, &more);
			if (r < 0)
				return r;
			if (r == 0 || stap + 2 + more.len > room)
				break;
			stap += 2 + more.len;
			count++;
			after = look;
		}
		if (count == 1) {
			p = packet_open(out, nal.len, ssrc, ts, seq);
			if (p == NULL)
				return -ENOBUFS;
			memcpy(p, nal.data, nal.len);
			start = pos;
			continue;
		}
		p = packet_open(out, stap, ssrc, ts, seq);
		if (p == NULL)
			return -ENOBUFS;
		/* F: any unit's; NRI: the highest (RFC 6184 5.7). */
		f = 0;
		nri = 0;
		off = 1;
		pos = start;
		while (count-- > 0) {
			(void)next_unit(au, len, &pos, &nal);
			f |= nal.data[0] & 0x80;
			if (nal.ref_idc > nri)
				nri = nal.ref_idc;
			p[off] = (uint8_t)(nal.len >> 8);
			p[off + 1] = (uint8_t)nal.len;
			memcpy(p + off + 2, nal.data, nal.len);
			off += 2 + nal.len;
		}
		p[0] = (uint8_t)(f | nri << 5 | RTP_H264_STAP_A);
		start = pos;
	}
	if (r < 0)
		return r;
	if (out->o_npk == 0)
		return -EBADMSG;
	/* The marker: the access unit's last packet. */
	out->o_buf[out->o_pk[out->o_npk - 1].p_off + RTP_PREFIX_SIZE + 1] |=
	    0x80;
	return (int)out->o_npk;
}
