/*
 * h264.h - the parts of an H.264 (ITU-T H.264 | ISO/IEC 14496-10)
 * bitstream that a container needs: NAL units in an Annex-B byte stream
 * (start codes: encoders, cameras) and in length-prefixed form (4-byte
 * big-endian lengths: the H.264 ring's payloads, MP4 samples), and the
 * fields of a sequence parameter set (SPS) that describe the picture
 * (size, profile, level, chroma format, bit depth).
 *
 * Nothing here decodes pictures.  Every function reads only inside the
 * buffer it is given, whatever the bytes: the input may come from a
 * camera or from shared memory another process writes.
 *
 * Return values: 0 or a negative errno value (-EBADMSG for a malformed
 * bitstream, -ENOTSUP for a valid one this code does not describe).
 */
#ifndef SHMCAM_H264_H
#define SHMCAM_H264_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* nal_unit_type, H.264 table 7-1: the ones we act on. */
enum h264_nal_type {
	H264_NAL_SLICE = 1,		/* coded slice of a non-IDR picture */
	H264_NAL_IDR = 5,		/* coded slice of an IDR picture */
	H264_NAL_SEI = 6,
	H264_NAL_SPS = 7,
	H264_NAL_PPS = 8,
	H264_NAL_AUD = 9,		/* access unit delimiter */
	H264_NAL_END_SEQ = 10,
	H264_NAL_END_STREAM = 11,
	H264_NAL_FILLER = 12,
};

#define H264_NAL_TYPE(b)	((unsigned)(b) & 0x1fu)

/*
 * Walks the NAL units of an Annex-B byte stream (H.264 annex B): each
 * unit follows a start code 00 00 01 (or 00 00 00 01) and ends where
 * the next start code begins; zero bytes in front of a start code
 * (trailing_zero_8bits) belong to neither unit.
 */
struct h264_annexb {
	const uint8_t	*ab_p;		/* next start code, or ab_end */
	const uint8_t	*ab_end;
};

/*
 * -EBADMSG if buf[0..len) does not begin with a start code (leading zero
 * bytes allowed): it is not Annex-B.  An empty buffer is a stream without
 * units.
 */
int	h264_annexb_init(struct h264_annexb *ab, const uint8_t *buf,
	    size_t len);
/*
 * The next unit (its header byte first, start code and trailing zeros
 * excluded): 1 and *nal, *len (len >= 1), or 0 at the end.  An empty
 * unit (two start codes in a row) is skipped.
 */
int	h264_annexb_next(struct h264_annexb *ab, const uint8_t **nal,
	    size_t *len);

/*
 * Walks length-prefixed NAL units (ISO/IEC 14496-15 with 4-byte lengths,
 * lengthSizeMinusOne = 3): each unit preceded by its size as a 32-bit
 * big-endian integer.
 */
struct h264_avcc {
	const uint8_t	*av_p;
	const uint8_t	*av_end;
};

void	h264_avcc_init(struct h264_avcc *av, const uint8_t *buf, size_t len);
/*
 * The next unit: 1 and *nal, *len (len >= 1), 0 at the end, or -EBADMSG
 * for a length of 0 or one that runs past the end (the walk stops there).
 */
int	h264_avcc_next(struct h264_avcc *av, const uint8_t **nal,
	    size_t *len);
/*
 * 0 if buf[0..len) is a whole number of length-prefixed units, at least
 * one, each with a valid header byte (forbidden_zero_bit clear); else
 * -EBADMSG.
 */
int	h264_avcc_check(const uint8_t *buf, size_t len);

/*
 * Writes the units of an Annex-B stream as length-prefixed units into
 * out (what fits of cap bytes); returns the bytes the whole needs, or
 * -EBADMSG if in is not Annex-B.
 */
ssize_t	h264_annexb_to_avcc(const uint8_t *in, size_t len, uint8_t *out,
	    size_t cap);

/* What a container needs of an SPS (H.264 7.3.2.1.1). */
struct h264_sps {
	uint8_t		 profile_idc;
	uint8_t		 constraint_flags;	/* the byte after profile_idc */
	uint8_t		 level_idc;
	uint8_t		 chroma_format_idc;	/* 0 grey, 1 4:2:0, 2 4:2:2,
						 * 3 4:4:4 */
	uint8_t		 bit_depth_luma;	/* 8 .. 14 */
	uint8_t		 bit_depth_chroma;
	uint8_t		 frame_mbs_only;	/* 0: may be interlaced */
	uint8_t		 reserved;
	uint32_t	 sps_id;
	uint32_t	 width;			/* displayed, after cropping */
	uint32_t	 height;
};

#define H264_SIZE_MAX	16384	/* largest width or height we accept */

/*
 * Parses an SPS NAL unit (header byte included, emulation prevention
 * bytes still in).  0, -EBADMSG (not an SPS, cut short, values out of
 * range), or -ENOTSUP (a size beyond H264_SIZE_MAX).
 */
int	h264_sps_parse(const uint8_t *nal, size_t len, struct h264_sps *sps);

/*
 * 1 if the profile_idc carries chroma_format_idc and bit depths in its
 * SPS (the High profiles and their relatives, H.264 7.3.2.1.1), which
 * ISO/IEC 14496-15 also wants repeated in the avcC record.
 */
int	h264_profile_has_chroma_info(unsigned profile_idc);

#endif /* SHMCAM_H264_H */
