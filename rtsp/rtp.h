/*
 * rtp.h - H.264 access units as RTP packets (RFC 3550, RFC 6184), and
 * the numbers RTP gives them.
 *
 * A pure function over bytes: rtp_h264_packetize() turns one access
 * unit of the H.264 ring (ring.h: NAL units, each preceded by a 4-byte
 * big-endian length) into packets in a caller's buffer, with no I/O, no
 * clock and no state but the sequence number the caller passes in and
 * gets back.  The packets are built once per access unit and camera and
 * shared by every client (media.c): the same bytes go out over UDP and,
 * behind the 4-byte interleaved head reserved in front of each packet,
 * over TCP.
 *
 * Packetization mode 1 (non-interleaved, RFC 6184 6.3):
 *   - a NAL unit that fits a packet goes as a single NAL unit packet;
 *   - consecutive units that fit one packet together (a keyframe's SPS
 *     and PPS, a small SEI) go as one STAP-A (5.7.1), saving packets and
 *     the receiver's jitter-buffer slots;
 *   - a larger unit is cut into FU-A fragments (5.8).
 * The marker bit is set on the last packet of the access unit (5.1).
 * NAL units are sent with their emulation-prevention bytes, as the ring
 * holds them; RTP carries them unchanged.
 *
 * Numbers
 *   Timestamps are 90 kHz ticks of the frame's capture time on the
 *   capture's CLOCK_MONOTONIC (rtp_timestamp()): the same in every
 *   shmcam-rtsp process and across their restarts, and steady where the
 *   wall clock may be stepped.  Sender reports map them to the wall clock
 *   through the same frame's CLOCK_REALTIME capture time (rtcp.h).
 *   Sequence numbers run on from packet to packet of a camera: the
 *   caller keeps the next one and passes it in; its first value comes
 *   from the ring (rtp_seq_origin()).
 *
 * Return values: a count, or -EBADMSG (the access unit is not a ring
 * payload RTP can carry) or -ENOBUFS (it does not fit the buffer: size
 * it with rtp_h264_bound()).
 */
#ifndef SHMCAM_RTSP_RTP_H
#define SHMCAM_RTSP_RTP_H

#include <stddef.h>
#include <stdint.h>

#define RTP_HEADER_SIZE		12
#define RTP_PREFIX_SIZE		4	/* '$', channel, 16-bit length */
#define RTP_PT_H264		96	/* dynamic payload type (SDP) */
#define RTP_CLOCK_RATE		90000
/*
 * Packets of at most this many bytes, RTP header included: 1400 leaves
 * room for IPv6 and UDP headers and a tunnel or two within an Ethernet
 * MTU of 1500.  Over TCP too: ffmpeg drops interleaved packets larger
 * than its RTP_MAX_PACKET_LENGTH (8192) and live555 sizes its buffers
 * for what UDP carries.
 */
#define RTP_PACKET_MAX		1400
#define RTP_PACKET_MIN		(RTP_HEADER_SIZE + 3)	/* FU-A + a byte */

/* NAL unit types of RFC 6184's payload structures. */
#define RTP_H264_STAP_A		24
#define RTP_H264_FU_A		28

/* One packet in the output buffer. */
struct rtp_packet {
	uint32_t	 p_off;		/* of its RTP_PREFIX_SIZE head */
	uint16_t	 p_len;		/* RTP header and payload */
};

/* Where the packets go. */
struct rtp_out {
	uint8_t		*o_buf;
	size_t		 o_cap;
	struct rtp_packet *o_pk;
	unsigned	 o_maxpk;
	/* filled in */
	size_t		 o_used;
	unsigned	 o_npk;
	unsigned	 o_payload;	/* payload bytes (RTCP's octet count) */
};

/*
 * Bytes and packets enough for any access unit of au_len bytes and at
 * most nals NAL units in packets of at most mtu bytes
 * (RTP_PACKET_MIN..65535).
 */
void	rtp_h264_bound(size_t au_len, unsigned nals, size_t mtu,
	    size_t *bytes, unsigned *packets);

/*
 * Packetizes the access unit au[0..len) into out (o_used and o_npk are
 * reset), each packet preceded by RTP_PREFIX_SIZE bytes holding an
 * interleaved-frame head for channel 0 ('$', 0, length): a TCP client
 * on another channel patches its copy, a UDP client sends from p_off +
 * RTP_PREFIX_SIZE.  The packets carry payload type RTP_PT_H264, ssrc,
 * timestamp ts and sequence numbers from *seq on; *seq is advanced past
 * the last.  Returns the number of packets (>= 1), -EBADMSG (a NAL
 * length beyond the buffer or 0, forbidden_zero_bit, a NAL unit type
 * that RFC 6184 reserves for its own structures (0, 24..31), or no NAL
 * unit at all), or -ENOBUFS.
 */
int	rtp_h264_packetize(const uint8_t *au, size_t len, uint32_t ssrc,
	    uint32_t ts, uint16_t *seq, size_t mtu, struct rtp_out *out);

/* The RTP timestamp of a capture time (CLOCK_MONOTONIC, ns): 90 kHz,
 * modulo 2^32. */
uint32_t rtp_timestamp(uint64_t mono_ns);

/*
 * The first sequence number of a camera's packets, from its H.264 ring:
 * a mix of the ring's generation and the sequence of the first frame
 * sent, so that a receiver that reconnects to another shmcam-rtsp
 * process (or a restarted one) does not see the numbers it saw before.
 */
uint16_t rtp_seq_origin(uint64_t generation, uint64_t frame_seq);

#endif /* SHMCAM_RTSP_RTP_H */
