/*
 * mp4.h - a fragmented MP4 writer for one H.264 video track (ISO/IEC
 * 14496-12, the ISO base media file format, with the AVC file format of
 * ISO/IEC 14496-15): an init segment, then any number of fragments.
 *
 *   init segment   ftyp, moov (mvhd; trak with an avc1 sample entry whose
 *                  avcC carries the SPS and PPS; mvex/trex)
 *   fragment       [prft] moof (mfhd, traf: tfhd, tfdt, trun) + mdat,
 *                  holding one or more access units
 *
 * Why our own writer rather than libavformat: the server is sandboxed
 * (seccomp allow-list, common/sandbox.c) and loads nothing it does not
 * need; libavformat with its dependencies brings about 130 shared
 * libraries (network protocols, TLS, codecs) into that process, and with
 * them code we cannot vouch for.  What a live stream needs of MP4 is a
 * few fixed boxes, written here in a few hundred lines that are fuzzed
 * (tests/fuzz/fuzz_mp4.c) and checked against real demuxers (ffprobe,
 * GStreamer, VLC, Chromium: tests/integration/test_mp4.py).
 *
 * Pure functions over bytes, no I/O: the caller owns every buffer, and
 * the same calls serve a progressive stream (a fragment per frame) and
 * segmenters that group frames (a fragment of N samples).  Like
 * snprintf(), each writer returns the number of bytes the whole output
 * needs and writes what fits in cap; call it with cap 0 to measure.  Errors are negative errno values:
 *   -EINVAL    arguments that cannot be written (no samples, a sample
 *              without video data, a duration beyond 32 bits)
 *   -EBADMSG   an SPS that does not parse, an access unit that is not
 *              a whole number of length-prefixed units
 *   -ENOTSUP   an SPS of a kind that is not served (h264_sps_parse())
 *
 * Samples are given as access units of length-prefixed NAL units (4-byte
 * big-endian lengths, as the capture's H.264 ring holds them, ring.h),
 * which is what MP4 samples are with lengthSizeMinusOne = 3.  Access unit
 * delimiters, end-of-sequence units and filler are left out.  The
 * parameter sets a keyframe carries stay in it, besides the init
 * segment's avc1 sample entry: a player that remuxes the samples (VLC or
 * ffmpeg to MPEG-TS, a restreamer) passes them on only from the samples,
 * and its decoder needs them after every cut.  A stream whose parameter
 * sets change still needs a new init segment (and a new stream; see
 * mp4stream.c).
 */
#ifndef SHMCAM_MP4_H
#define SHMCAM_MP4_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "h264.h"

/* The 90 kHz clock of MPEG systems and RTP: every frame rate a camera
 * has is close to a whole number of ticks per frame. */
#define MP4_TIMESCALE	90000u
#define MP4_TRACK_ID	1u

/* The video track, as the init segment describes it. */
struct mp4_track {
	const uint8_t	*sps;		/* one SPS NAL unit, no start code */
	size_t		 sps_len;
	const uint8_t	*pps;		/* one PPS NAL unit, no start code */
	size_t		 pps_len;
};

/* Bytes of the init segment (see above for the return value). */
ssize_t	mp4_write_init(uint8_t *buf, size_t cap, const struct mp4_track *t);

/* Times are in MP4_TIMESCALE ticks. */
struct mp4_sample {
	const uint8_t	*au;		/* one access unit, length-prefixed */
	size_t		 au_len;
	uint32_t	 duration;	/* until the next sample */
	int		 sync;		/* an IDR picture: decodable alone */
};

struct mp4_fragment {
	uint32_t	 sequence;	/* mfhd sequence_number */
	uint64_t	 decode_time;	/* tfdt: ticks, the first sample's */
	const struct mp4_sample *samples;
	unsigned	 nsamples;	/* at least 1 */
	/*
	 * The first sample's capture time, CLOCK_REALTIME ns, written as a
	 * ProducerReferenceTimeBox (prft, 8.16.5) in front of the moof: the
	 * wall-clock time of decode_time, which a client measures its
	 * latency against (loadclient does; dash.js and ffmpeg read it,
	 * other players skip it).  0: no prft.
	 */
	uint64_t	 capture_real_ns;
};

/*
 * Bytes of the fragment (moof + mdat, see above for the return value).
 * A sample with nothing left once delimiters and filler are left out is
 * -EINVAL.
 */
ssize_t	mp4_write_fragment(uint8_t *buf, size_t cap,
	    const struct mp4_fragment *fr);

/*
 * Bytes an access unit takes in an mdat (less what stays out of
 * samples), or -EBADMSG.
 */
ssize_t	mp4_sample_size(const uint8_t *au, size_t len);

/* 1 if the access unit holds a slice of an IDR picture. */
int	mp4_au_is_idr(const uint8_t *au, size_t len);

/*
 * The first SPS and PPS among length-prefixed units (a keyframe of the
 * ring carries them, and so does the ring's rh_params), pointers into au:
 * 0, or -ENOENT if either is missing.
 */
int	mp4_au_parameter_sets(const uint8_t *au, size_t len,
	    const uint8_t **sps, size_t *sps_len, const uint8_t **pps,
	    size_t *pps_len);

/*
 * Decode times from capture times, for a live stream whose samples are
 * written as they arrive (a sample's duration is needed before the next
 * one exists).  Pure: the caller keeps the state.
 *
 * A sample's decode time is its capture time (CLOCK_MONOTONIC, so it is
 * the same in every server and survives a restart of either process) in
 * ticks.  With the source's nominal frame interval known (tl_nominal,
 * ticks), a capture time within a quarter of an interval of the frame
 * grid (anchored at an earlier frame) is put on it: a timer's or a
 * driver's jitter would otherwise make every duration differ, and players
 * guess the frame rate from them (ffprobe reports 359/12 for 30 fps with
 * a millisecond of jitter).  A time further off (a source that drifts,
 * stalls or restarts) is taken as it is and anchors the grid anew.
 * Decode times are made strictly increasing: one that goes backwards or
 * repeats is moved one tick past the previous one.
 *
 * A sample's duration is the interval that led to it (from the sample
 * before), clamped to [MP4_DURATION_MIN, MP4_DURATION_MAX]; an interval
 * longer than MP4_DURATION_MAX (a paused or restarted source) is not
 * taken as the rate.  The duration is a guess at when the next sample
 * comes; each fragment's tfdt, not the guess, places its sample, so
 * neither jitter nor gaps accumulate.  Before the first interval the
 * guess is tl_nominal, else MP4_DURATION_DEFAULT.
 */
#define MP4_DURATION_MIN	(MP4_TIMESCALE / 240)	/* 240 fps */
#define MP4_DURATION_MAX	MP4_TIMESCALE		/* 1 fps */
#define MP4_DURATION_DEFAULT	(MP4_TIMESCALE / 30)

struct mp4_timeline {
	uint32_t	 tl_nominal;	/* ticks per frame; 0: unknown */
	uint32_t	 tl_last_interval;
	uint64_t	 tl_last_dts;	/* 0: no sample yet */
	uint64_t	 tl_anchor;	/* a decode time on the grid; 0: none */
};

/* Ticks per frame of a rate of fps_milli frames per 1000 s (0: 0). */
uint32_t mp4_frame_ticks(uint32_t fps_milli);

/* The decode time and duration of a sample captured at capture_ns. */
void	mp4_timeline_next(struct mp4_timeline *tl, uint64_t capture_ns,
	    uint64_t *dts, uint32_t *duration);

#endif /* SHMCAM_MP4_H */
