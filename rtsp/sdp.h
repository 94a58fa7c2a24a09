/*
 * sdp.h - the session description DESCRIBE answers with (RFC 8866, the
 * H.264 parameters of RFC 6184 8.1).
 *
 * One H.264 video track, payload type RTP_PT_H264 at 90 kHz, control
 * URL RTSP_TRACK_CONTROL, and in its fmtp:
 *
 *   packetization-mode=1     single NAL units, STAP-A, FU-A (rtp.h)
 *   profile-level-id=PPCCLL  bytes 1..3 of the SPS: profile_idc, the
 *                            constraint flags, level_idc
 *   sprop-parameter-sets=    the SPS and PPS, base64, comma-separated:
 *                            a decoder can start before the first
 *                            keyframe's own copies arrive
 *
 * Pure: writes into the caller's buffer.
 */
#ifndef SHMCAM_RTSP_SDP_H
#define SHMCAM_RTSP_SDP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SDP_MAX		8192	/* parameter sets up to ring.h's 3 KiB */

struct sdp_params {
	const char	*name;		/* s=: the camera's name */
	uint64_t	 session_id;	/* o=: a number for this stream */
	uint64_t	 version;	/* o=: changes with the parameters */
	const char	*addr;		/* o=: our address, numeric */
	int		 ipv6;		/* ... of family IP6 */
	const uint8_t	*sps;		/* NAL units, header byte included */
	size_t		 sps_len;	/* >= 4 */
	const uint8_t	*pps;
	size_t		 pps_len;	/* >= 1 */
	uint32_t	 fps_milli;	/* a=framerate; 0: none */
};

/* The description: its length, -EINVAL (an SPS shorter than 4 bytes, no
 * PPS, a name or address with characters SDP cannot carry) or
 * -ENOBUFS. */
ssize_t	sdp_write(char *buf, size_t size, const struct sdp_params *p);

#endif /* SHMCAM_RTSP_SDP_H */
