/*
 * rtcp.h - the RTP control protocol as far as a sender of one video
 * stream needs it (RFC 3550 6): sender reports out, receiver reports and
 * keyframe requests in.
 *
 * Pure functions over bytes, like rtp.h.  rtcp_parse() reads what a
 * client sends, untrusted: it never reads past len, refuses a compound
 * packet whose lengths do not add up (RFC 3550 A.2), and is fuzzed
 * (tests/fuzz/fuzz_rtcp.c).
 *
 * Clock
 *   A sender report says which RTP timestamp belongs to which wall-clock
 *   instant: both come from the ring's newest frame, its CLOCK_REALTIME
 *   capture time as NTP time and its CLOCK_MONOTONIC capture time as
 *   the RTP timestamp (rtp_timestamp()), so a receiver can place each
 *   frame on the capture host's wall clock (and line up several cameras
 *   of that host).
 */
#ifndef SHMCAM_RTSP_RTCP_H
#define SHMCAM_RTSP_RTCP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RTCP_SR		200
#define RTCP_RR		201
#define RTCP_SDES	202
#define RTCP_BYE	203
#define RTCP_APP	204
#define RTCP_RTPFB	205	/* transport feedback (RFC 4585) */
#define RTCP_PSFB	206	/* payload-specific feedback */
#define RTCP_PSFB_PLI	1	/* picture loss indication (RFC 4585 6.3.1) */
#define RTCP_PSFB_FIR	4	/* full intra request (RFC 5104 4.3.1) */

#define RTCP_CNAME_MAX	255
/* A sender report with its SDES CNAME, at most. */
#define RTCP_SR_MAX	(28 + 8 + 2 + RTCP_CNAME_MAX + 4)

struct rtcp_sr {
	uint32_t	 ssrc;
	uint64_t	 real_ns;	/* CLOCK_REALTIME: becomes NTP time */
	uint32_t	 rtp_ts;	/* the RTP timestamp of that instant */
	uint32_t	 packets;	/* sent in this session */
	uint32_t	 octets;	/* payload bytes sent in this session */
};

/*
 * A compound packet of a sender report and an SDES with cname (RFC 3550
 * 6.1 asks for both in every compound packet): its length, or -ENOBUFS
 * if it does not fit size bytes.  cname is cut at RTCP_CNAME_MAX.
 */
ssize_t	rtcp_write_sr(uint8_t *buf, size_t size, const struct rtcp_sr *sr,
	    const char *cname);
/* The same followed by a BYE for sr->ssrc (the session ends). */
ssize_t	rtcp_write_sr_bye(uint8_t *buf, size_t size, const struct rtcp_sr *sr,
	    const char *cname);

/* NTP's 64-bit timestamp (seconds since 1900 . 32-bit fraction) of a
 * CLOCK_REALTIME time. */
uint64_t rtcp_ntp(uint64_t real_ns);

/* What a receiver said about the stream with our SSRC. */
struct rtcp_feedback {
	unsigned	 fb_reports;	/* report blocks about our SSRC */
	/* the last such block */
	uint32_t	 fb_reporter;	/* the receiver's own SSRC */
	uint8_t		 fb_fraction_lost; /* of 256, since its last report */
	int32_t		 fb_lost;	/* cumulative (24-bit, signed) */
	uint32_t	 fb_highest_seq; /* extended, with wrap count */
	uint32_t	 fb_jitter;	/* RTP timestamp units */
	uint32_t	 fb_lsr;	/* middle 32 bits of our last SR's NTP */
	uint32_t	 fb_dlsr;	/* since then, 1/65536 s */
	unsigned	 fb_pli;	/* picture loss indications */
	unsigned	 fb_fir;	/* full intra requests for our SSRC */
	unsigned	 fb_bye;	/* BYE packets */
	unsigned	 fb_packets;	/* RTCP packets in the compound */
};

/*
 * Reads a compound RTCP packet buf[0..len) that a receiver sent about
 * our stream (SSRC ssrc): fills fb (zeroed first).  0, or -EBADMSG if it
 * is not a valid compound packet (too short, not version 2, lengths
 * that do not add up to len, padding out of place), in which case fb
 * says nothing and the whole packet is to be ignored.  Report blocks and
 * feedback about other SSRCs are skipped, as are packet types it does
 * not know.
 */
int	rtcp_parse(const uint8_t *buf, size_t len, uint32_t ssrc,
	    struct rtcp_feedback *fb);

#endif /* SHMCAM_RTSP_RTCP_H */
