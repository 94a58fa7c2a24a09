/*
 * h264pass.h - a camera's own H.264 (V4L2_PIX_FMT_H264: an Annex-B byte
 * stream, one access unit per buffer) to ring payloads (ring.h): passed
 * through with the discipline of the MJPEG path (mjpeg.h), so that what
 * is published is something every decoder we serve decodes.
 *
 * For each access unit, h264pass_filter():
 *   - splits it into NAL units (common/h264.h); garbage before the first
 *     start code, an empty unit or a forbidden bit makes it broken;
 *   - parses every SPS and PPS and the header of every slice; keeps the
 *     camera's current SPS and PPS (one of each: what UVC cameras send)
 *     and refuses what browsers do not decode (h264_sps_parse(),
 *     h264_pps_parse());
 *   - requires a slice that starts the picture, slices all IDR or all
 *     not, and a PPS and SPS for them: the ones in the unit or the ones
 *     kept from before;
 *   - publishes nothing before the first IDR, and after any unit it
 *     dropped nothing until the next IDR: the pictures in between would
 *     refer to one the decoder never saw;
 *   - writes the unit length-prefixed, without access unit delimiters,
 *     end-of-sequence, filler or extension units, an IDR always starting
 *     with its SPS and PPS (inserted from the kept ones when the camera
 *     sent them earlier only, as many do).
 * What it cannot see: slice data cut short or damaged inside (only a
 * decoder can); the driver's error flag (capture/v4l2.c drops those) and
 * decoders' error concealment cover it.
 *
 * Pure: no I/O, no allocation; the state is the struct.
 */
#ifndef SHMCAM_H264PASS_H
#define SHMCAM_H264PASS_H

#include <stddef.h>
#include <stdint.h>

#include "h264.h"

/* The largest SPS or PPS kept (a camera's are tens of bytes): two of
 * them, with their lengths, fit ring.h's RING_PARAMS_MAX. */
#define H264PASS_PS_MAX		1024

struct h264pass {
	uint8_t		 hp_sps[H264PASS_PS_MAX];
	size_t		 hp_sps_len;	/* 0: none yet */
	struct h264_sps	 hp_sps_info;
	uint8_t		 hp_pps[H264PASS_PS_MAX];
	size_t		 hp_pps_len;
	struct h264_pps	 hp_pps_info;
	int		 hp_synced;	/* an IDR went out, nothing dropped since */
};

/* What an access unit that passed became. */
struct h264pass_out {
	size_t		 len;		/* payload bytes written */
	int		 keyframe;	/* IDR, starting with SPS and PPS */
	uint32_t	 width;		/* from the SPS */
	uint32_t	 height;
};

void	h264pass_init(struct h264pass *hp);

/* Units were lost before the next one (the driver's sequence has a gap):
 * nothing goes out until the next IDR. */
void	h264pass_lost(struct h264pass *hp);

/* The most a unit of len bytes can become (lengths, inserted SPS/PPS). */
size_t	h264pass_max_out(size_t len);

/*
 * Filters one access unit in[0..len) into out[0..cap).  0 and *o, or
 * (nothing written, the unit dropped):
 *   -EBADMSG  broken (see above); the stream waits for the next IDR
 *   -ENOTSUP  a stream we do not publish (profile, chroma, interlace,
 *             slice groups, data partitioning); waits likewise
 *   -EAGAIN   sound, but not decodable here: a non-IDR picture before
 *             the first IDR or after a drop, or no parameter sets yet
 *   -ENOBUFS  cap too small (h264pass_max_out() is always enough)
 */
int	h264pass_filter(struct h264pass *hp, const uint8_t *in, size_t len,
	    uint8_t *out, size_t cap, struct h264pass_out *o);

#endif /* SHMCAM_H264PASS_H */
