/*
 * h264.h - H.264 bitstreams as far as shmcam needs them: NAL units out of
 * an Annex-B byte stream (what a camera sends) and out of a ring payload
 * (length-prefixed, ring.h), the fields of a sequence and a picture
 * parameter set and of a slice header that say whether an access unit
 * can be decoded, and a check of a whole ring payload.
 *
 * Pure functions over bytes: they read only buf[0..len), whatever it
 * holds (a fuzzer drives them), keep no state and allocate nothing.
 * References: ITU-T H.264 (08/2021) 7.3 (syntax), B.1 (byte stream),
 * 9.1 (Exp-Golomb codes); ISO/IEC 14496-15 5.3 (length-prefixed samples).
 *
 * Return values: 1 or 0 where stated, otherwise 0 or a negative errno:
 *   -EBADMSG     malformed: a field out of its range, the data ends
 *                inside a syntax element, a forbidden bit set, a length
 *                beyond the buffer
 *   -ENOTSUP     well-formed but outside what we publish (see
 *                h264_sps_parse())
 */
#ifndef SHMCAM_H264_H
#define SHMCAM_H264_H

#include <stddef.h>
#include <stdint.h>

/* nal_unit_type (Table 7-1) */
#define H264_NAL_SLICE		1	/* coded slice of a non-IDR picture */
#define H264_NAL_DPA		2	/* data partitions A, B, C (Extended */
#define H264_NAL_DPC		4	/* profile only) */
#define H264_NAL_IDR		5	/* coded slice of an IDR picture */
#define H264_NAL_SEI		6
#define H264_NAL_SPS		7
#define H264_NAL_PPS		8
#define H264_NAL_AUD		9	/* access unit delimiter */
#define H264_NAL_END_SEQ	10
#define H264_NAL_END_STREAM	11
#define H264_NAL_FILLER		12

#define H264_SPS_MAX		32	/* seq_parameter_set_id 0..31 */
#define H264_PPS_MAX		256	/* pic_parameter_set_id 0..255 */

/* One NAL unit: its bytes from the header byte on (no start code, no
 * length), emulation prevention included. */
struct h264_nal {
	const uint8_t	*data;
	size_t		 len;		/* >= 1 */
	unsigned	 type;		/* nal_unit_type */
	unsigned	 ref_idc;	/* nal_ref_idc */
};

/*
 * The next NAL unit of an Annex-B byte stream at or after *pos: skips the
 * zero bytes and the start code (00 00 01, or 00 00 00 01) before it, and
 * ends it before the next start code or the trailing zero bytes.  Returns
 * 1 and advances *pos past it, 0 at the end (nothing but zero bytes
 * left), or -EBADMSG: bytes before the first start code that are not
 * zero, an empty NAL unit, or forbidden_zero_bit set.
 */
int	h264_annexb_next(const uint8_t *buf, size_t len, size_t *pos,
	    struct h264_nal *nal);

/*
 * The next NAL unit of a ring payload (4-byte big-endian length, then
 * the unit).  1, 0 at the end, or -EBADMSG (a length of 0 or beyond the
 * buffer, a partial length, forbidden_zero_bit set).
 */
int	h264_au_next(const uint8_t *buf, size_t len, size_t *pos,
	    struct h264_nal *nal);

/* What a sequence parameter set says (7.3.2.1.1). */
struct h264_sps {
	unsigned	 id;
	unsigned	 profile_idc;	/* 66 Baseline, 77 Main, 100 High */
	unsigned	 constraints;	/* constraint_set0..5 flags, the byte */
	unsigned	 level_idc;
	unsigned	 chroma_format_idc;
	unsigned	 bit_depth_luma;
	unsigned	 bit_depth_chroma;
	unsigned	 log2_max_frame_num;
	unsigned	 poc_type;
	unsigned	 max_num_ref_frames;
	unsigned	 frame_mbs_only;
	uint32_t	 width;		/* pixels, after cropping */
	uint32_t	 height;
};

/*
 * Parses the SPS NAL unit nal[0..len) (header byte included).  0,
 * -EBADMSG, or -ENOTSUP for what browsers and the players we serve do not
 * all decode, so that it is never published: anything but 8-bit 4:2:0
 * progressive video (frame_mbs_only), profiles other than Baseline, Main
 * and High (and the Constrained ones), pictures larger than 8192 pixels
 * either way.
 */
int	h264_sps_parse(const uint8_t *nal, size_t len, struct h264_sps *sps);

/*
 * 1 for the profiles whose SPS carries chroma_format_idc and bit depths
 * (the High profiles and their relatives, 7.3.2.1.1); ISO/IEC 14496-15
 * repeats those at the end of an avcC for them.
 */
int	h264_profile_has_chroma_info(unsigned profile_idc);

/* What a picture parameter set says (7.3.2.2), as far as we need it. */
struct h264_pps {
	unsigned	 id;
	unsigned	 sps_id;
	unsigned	 entropy_coding_mode;	/* 1: CABAC */
};

/* 0, -EBADMSG, or -ENOTSUP (slice groups, which no browser decodes). */
int	h264_pps_parse(const uint8_t *nal, size_t len, struct h264_pps *pps);

/* The first fields of a slice header (7.3.3). */
struct h264_slice {
	unsigned	 first_mb;	/* first_mb_in_slice */
	unsigned	 slice_type;	/* 0..9; % 5: P, B, I, SP, SI */
	unsigned	 pps_id;
};

int	h264_slice_parse(const uint8_t *nal, size_t len,
	    struct h264_slice *slice);

/* 1 if NAL units of this type are (parts of) coded slices. */
int	h264_nal_is_vcl(unsigned type);

/* What h264_au_check() found in a ring payload. */
struct h264_au_info {
	int		 idr;		/* its slices are IDR slices */
	unsigned	 nals;
	unsigned	 slices;
	/* The first SPS and PPS in the payload, offsets of the units (not
	 * of their lengths), 0 if none. */
	size_t		 sps_off, sps_len;
	size_t		 pps_off, pps_len;
};

/*
 * Checks a ring payload (one access unit, ring.h): NAL lengths within the
 * buffer, only slices (types 1 and 5), SEI, SPS and PPS, at least one
 * slice, all of its slices IDR or none, the first one starting the
 * picture (first_mb_in_slice 0).  An IDR access unit must start with an
 * SPS and a PPS (the payload of a ring keyframe).  0 or -EBADMSG.
 */
int	h264_au_check(const uint8_t *buf, size_t len,
	    struct h264_au_info *info);

#endif /* SHMCAM_H264_H */
