/*
 * rtpdepay.h - an H.264 RTP depacketizer (RFC 6184, packetization mode
 * 1) for the tests: it turns the packets of one access unit back into a
 * ring payload (NAL units, each after a 4-byte big-endian length) and
 * checks on the way everything a receiver relies on: version 2, the
 * payload type, one SSRC and one timestamp per access unit, sequence
 * numbers without a gap, the marker bit on the last packet only, FU-A
 * fragments that start, continue and end in order, STAP-A units whose
 * sizes add up.  Written from the RFC, independently of rtsp/rtp.c, so
 * that a round trip through both can fail.
 */
#ifndef SHMCAM_TESTS_RTPDEPAY_H
#define SHMCAM_TESTS_RTPDEPAY_H

#include <stddef.h>
#include <stdint.h>

struct rtp_depay {
	uint8_t		*d_out;		/* the access unit rebuilt */
	size_t		 d_cap;
	size_t		 d_len;
	size_t		 d_fu_len_at;	/* FU-A: where its length goes */
	int		 d_in_fu;
	int		 d_started;	/* a packet of this unit was seen */
	int		 d_done;	/* its marker was seen */
	int		 d_have_seq;
	uint16_t	 d_next_seq;
	uint32_t	 d_ts;
	uint32_t	 d_ssrc;
	unsigned	 d_packets;
	const char	*d_why;		/* what was wrong */
};

/* Starts a depacketizer writing into out[0..cap). */
void	rtp_depay_init(struct rtp_depay *d, uint8_t *out, size_t cap);
/* Starts the next access unit (sequence numbers must go on). */
void	rtp_depay_next(struct rtp_depay *d);
/* One packet (RTP header on); 0, or -1 with d_why set. */
int	rtp_depay_push(struct rtp_depay *d, const uint8_t *p, size_t len);

#endif /* SHMCAM_TESTS_RTPDEPAY_H */
