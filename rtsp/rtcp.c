/*
 * rtcp.c - sender reports out, receiver reports and keyframe requests in
 * (see rtcp.h).
 */
#include <errno.h>
#include <string.h>

#include "rtcp.h"

/* Seconds from 1900 (NTP's epoch) to 1970. */
#define NTP_UNIX_OFFSET	2208988800ull

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

uint64_t
rtcp_ntp(uint64_t real_ns)
{
	uint64_t sec = real_ns / 1000000000u, ns = real_ns % 1000000000u;

	return (sec + NTP_UNIX_OFFSET) << 32 | (ns << 32) / 1000000000u;
}

/* A packet header: version 2, count, type, length in 32-bit words - 1. */
static void
put_header(uint8_t *p, unsigned count, unsigned type, size_t bytes)
{
	p[0] = (uint8_t)(0x80 | count);
	p[1] = (uint8_t)type;
	put16(p + 2, (uint16_t)(bytes / 4 - 1));
}

static ssize_t
write_sr(uint8_t *buf, size_t size, const struct rtcp_sr *sr,
    const char *cname, int bye)
{
	size_t clen = strnlen(cname, RTCP_CNAME_MAX);
	/* SDES: header, SSRC, CNAME item (type, length, text), at least
	 * one null octet ending the item list, padded to 32 bits. */
	size_t sdes = (8 + 2 + clen + 1 + 3) & ~(size_t)3;
	size_t n = 28 + sdes + (bye ? 8 : 0);
	uint64_t ntp = rtcp_ntp(sr->real_ns);
	uint8_t *p = buf;

	if (size < n)
		return -ENOBUFS;
	memset(buf, 0, n);
	put_header(p, 0, RTCP_SR, 28);
	put32(p + 4, sr->ssrc);
	put32(p + 8, (uint32_t)(ntp >> 32));
	put32(p + 12, (uint32_t)ntp);
	put32(p + 16, sr->rtp_ts);
	put32(p + 20, sr->packets);
	put32(p + 24, sr->octets);
	p += 28;
	put_header(p, 1, RTCP_SDES, sdes);
	put32(p + 4, sr->ssrc);
	p[8] = 1;			/* CNAME */
	p[9] = (uint8_t)clen;
	memcpy(p + 10, cname, clen);	/* then zeros: the end, padding */
	p += sdes;
	if (bye) {
		put_header(p, 1, RTCP_BYE, 8);
		put32(p + 4, sr->ssrc);
	}
	return (ssize_t)n;
}

ssize_t
rtcp_write_sr(uint8_t *buf, size_t size, const struct rtcp_sr *sr,
    const char *cname)
{
	return write_sr(buf, size, sr, cname, 0);
}

ssize_t
rtcp_write_sr_bye(uint8_t *buf, size_t size, const struct rtcp_sr *sr,
    const char *cname)
{
	return write_sr(buf, size, sr, cname, 1);
}

/* Report blocks (24 bytes each) of an SR or RR body. */
static void
read_blocks(const uint8_t *p, size_t len, unsigned count, uint32_t ssrc,
    struct rtcp_feedback *fb, uint32_t reporter)
{
	uint32_t lost;

	while (count-- > 0 && len >= 24) {
		if (get32(p) == ssrc) {
			fb->fb_reports++;
			fb->fb_reporter = reporter;
			fb->fb_fraction_lost = p[4];
			lost = (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
			/* 24-bit two's complement (RFC 3550 6.4.1). */
			fb->fb_lost = (int32_t)(lost ^ 0x800000u) - 0x800000;
			fb->fb_highest_seq = get32(p + 8);
			fb->fb_jitter = get32(p + 12);
			fb->fb_lsr = get32(p + 16);
			fb->fb_dlsr = get32(p + 20);
		}
		p += 24;
		len -= 24;
	}
}

int
rtcp_parse(const uint8_t *buf, size_t len, uint32_t ssrc,
    struct rtcp_feedback *fb)
{
	const uint8_t *p = buf, *body;
	size_t plen, blen, i;
	unsigned count, type;

	memset(fb, 0, sizeof(*fb));
	if (len < 4)
		return -EBADMSG;
	/* The whole compound first: a bad one is ignored as a whole. */
	for (i = 0; i < len; i += plen) {
		if (len - i < 4 || (buf[i] & 0xc0) != 0x80)
			return -EBADMSG;
		plen = ((size_t)buf[i + 2] << 8 | buf[i + 3]) * 4 + 4;
		if (plen > len - i)
			return -EBADMSG;
		/* Padding only in the last packet, and within it. */
		if (buf[i] & 0x20) {
			if (i + plen != len || buf[i + plen - 1] == 0 ||
			    buf[i + plen - 1] > plen - 4)
				return -EBADMSG;
		}
	}
	for (i = 0; i < len; i += plen) {
		p = buf + i;
		plen = ((size_t)p[2] << 8 | p[3]) * 4 + 4;
		blen = plen - 4;
		if (p[0] & 0x20)
			blen -= p[plen - 1];
		body = p + 4;
		count = p[0] & 0x1f;
		type = p[1];
		fb->fb_packets++;
		switch (type) {
		case RTCP_SR:
			/* Sender SSRC and 20 bytes of sender info. */
			if (blen >= 24)
				read_blocks(body + 24, blen - 24, count, ssrc,
				    fb, get32(body));
			break;
		case RTCP_RR:
			if (blen >= 4)
				read_blocks(body + 4, blen - 4, count, ssrc,
				    fb, get32(body));
			break;
		case RTCP_BYE:
			fb->fb_bye++;
			break;
		case RTCP_PSFB:
			/* Sender SSRC, media SSRC, feedback control info. */
			if (blen < 8)
				break;
			if (count == RTCP_PSFB_PLI && (get32(body + 4) == ssrc ||
			    get32(body + 4) == 0))
				fb->fb_pli++;
			if (count == RTCP_PSFB_FIR) {
				const uint8_t *fci = body + 8;
				size_t left = blen - 8;

				/* Entries: SSRC, seq nr, 3 reserved. */
				for (; left >= 8; fci += 8, left -= 8)
					if (get32(fci) == ssrc)
						fb->fb_fir++;
			}
			break;
		default:
			break;
		}
	}
	return 0;
}
