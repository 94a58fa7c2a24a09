/*
 * h264.c - H.264 bitstream parsing (see h264.h).
 */
#include <errno.h>
#include <string.h>

#include "h264.h"

/*
 * A bit reader over the RBSP of a NAL unit: the bytes after the header
 * with every emulation prevention byte (the 03 of 00 00 03, 7.4.1)
 * skipped as it comes.  Reading past the end sets br_err and returns
 * zeros, so a parser checks once, at the end of what it reads.
 */
struct bitreader {
	const uint8_t	*br_p;
	size_t		 br_len;
	size_t		 br_pos;	/* next byte */
	unsigned	 br_bits;	/* bits left in br_cur */
	unsigned	 br_cur;
	unsigned	 br_zeros;	/* zero bytes just before br_pos */
	int		 br_err;
};

static void
br_init(struct bitreader *br, const uint8_t *nal, size_t len)
{
	memset(br, 0, sizeof(*br));
	br->br_p = nal + 1;	/* after the one-byte NAL header */
	br->br_len = len - 1;
}

static unsigned
br_bit(struct bitreader *br)
{
	uint8_t b;

	if (br->br_bits == 0) {
		if (br->br_pos < br->br_len && br->br_zeros >= 2 &&
		    br->br_p[br->br_pos] == 0x03) {
			br->br_pos++;
			br->br_zeros = 0;
		}
		if (br->br_pos >= br->br_len) {
			br->br_err = 1;
			return 0;
		}
		b = br->br_p[br->br_pos++];
		br->br_zeros = b == 0 ? br->br_zeros + 1 : 0;
		br->br_cur = b;
		br->br_bits = 8;
	}
	br->br_bits--;
	return (br->br_cur >> br->br_bits) & 1;
}

/* n <= 32 bits, most significant first. */
static uint32_t
br_bits(struct bitreader *br, unsigned n)
{
	uint32_t v = 0;

	while (n-- > 0)
		v = v << 1 | br_bit(br);
	return v;
}

/* ue(v), 9.1: values up to 2^32 - 2; longer prefixes are malformed. */
static uint32_t
br_ue(struct bitreader *br)
{
	unsigned zeros = 0;

	while (br_bit(br) == 0) {
		if (br->br_err || ++zeros > 31) {
			br->br_err = 1;
			return 0;
		}
	}
	return (uint32_t)((1ull << zeros) - 1 + br_bits(br, zeros));
}

/* se(v), 9.1.1. */
static int64_t
br_se(struct bitreader *br)
{
	uint32_t k = br_ue(br);

	return k & 1 ? (int64_t)(k / 2) + 1 : -(int64_t)(k / 2);
}

/* 1 if the NAL header byte is sound: forbidden_zero_bit clear. */
static int
nal_header(const uint8_t *data, size_t len, struct h264_nal *nal)
{
	if (len == 0 || (data[0] & 0x80) != 0)
		return 0;
	nal->data = data;
	nal->len = len;
	nal->type = data[0] & 0x1f;
	nal->ref_idc = (data[0] >> 5) & 3;
	return 1;
}

int
h264_nal_is_vcl(unsigned type)
{
	return type >= H264_NAL_SLICE && type <= H264_NAL_IDR;
}

/* ------------------------------------------------------------- Annex B */

/* Offset of the next 00 00 01 at or after i, or len. */
static size_t
find_start(const uint8_t *buf, size_t len, size_t i)
{
	const uint8_t *p;

	while (i + 3 <= len) {
		p = memchr(buf + i, 0x01, len - i);
		if (p == NULL)
			return len;
		i = (size_t)(p - buf);
		if (i >= 2 && buf[i - 1] == 0 && buf[i - 2] == 0)
			return i - 2;
		i++;
	}
	return len;
}

int
h264_annexb_next(const uint8_t *buf, size_t len, size_t *pos,
    struct h264_nal *nal)
{
	size_t i = *pos, start, end;

	/* Zero bytes (leading_zero_8bits, trailing_zero_8bits, the first
	 * byte of a 4-byte start code), then 00 00 01. */
	while (i < len && buf[i] == 0)
		i++;
	if (i == len) {
		*pos = len;
		return 0;
	}
	if (buf[i] != 0x01 || i < *pos + 2 || buf[i - 1] != 0 ||
	    buf[i - 2] != 0)
		return -EBADMSG;
	start = i + 1;
	end = find_start(buf, len, start);
	*pos = end;
	/* The zero bytes before the next start code (or at the end of the
	 * stream) belong to no NAL unit: a unit never ends in 00 (7.4.1). */
	while (end > start && buf[end - 1] == 0)
		end--;
	if (!nal_header(buf + start, end - start, nal))
		return -EBADMSG;
	return 1;
}

/* ------------------------------------------------------- ring payloads */

int
h264_au_next(const uint8_t *buf, size_t len, size_t *pos,
    struct h264_nal *nal)
{
	size_t i = *pos;
	uint32_t n;

	if (i >= len)
		return 0;
	if (len - i < 4)
		return -EBADMSG;
	n = (uint32_t)buf[i] << 24 | (uint32_t)buf[i + 1] << 16 |
	    (uint32_t)buf[i + 2] << 8 | buf[i + 3];
	i += 4;
	if (n == 0 || n > len - i || !nal_header(buf + i, n, nal))
		return -EBADMSG;
	*pos = i + n;
	return 1;
}

/* ------------------------------------------------------ parameter sets */

int
h264_profile_has_chroma_info(unsigned p)
{
	switch (p) {
	case 100: case 110: case 122: case 244: case 44: case 83: case 86:
	case 118: case 128: case 138: case 139: case 134: case 135:
		return 1;
	default:
		return 0;
	}
}

/* scaling_list() (7.3.2.1.1.1): read and thrown away. */
static void
skip_scaling_list(struct bitreader *br, unsigned size)
{
	int64_t last = 8, next = 8, delta;
	unsigned j;

	for (j = 0; j < size && !br->br_err; j++) {
		if (next != 0) {
			delta = br_se(br);
			if (delta < -128 || delta > 127) {
				br->br_err = 1;
				return;
			}
			next = (last + delta + 256) % 256;
		}
		last = next == 0 ? last : next;
	}
}

int
h264_sps_parse(const uint8_t *nal, size_t len, struct h264_sps *sps)
{
	struct bitreader br;
	uint32_t w_mbs, h_units, crop[4], n, i, cx, cy;
	uint64_t w, h;

	memset(sps, 0, sizeof(*sps));
	if (len < 4 || (nal[0] & 0x80) || (nal[0] & 0x1f) != H264_NAL_SPS)
		return -EBADMSG;
	br_init(&br, nal, len);
	sps->profile_idc = br_bits(&br, 8);
	sps->constraints = br_bits(&br, 8);
	sps->level_idc = br_bits(&br, 8);
	sps->id = br_ue(&br);
	if (sps->id >= H264_SPS_MAX)
		return -EBADMSG;
	sps->chroma_format_idc = 1;
	sps->bit_depth_luma = sps->bit_depth_chroma = 8;
	if (h264_profile_has_chroma_info(sps->profile_idc)) {
		sps->chroma_format_idc = br_ue(&br);
		if (sps->chroma_format_idc > 3)
			return -EBADMSG;
		if (sps->chroma_format_idc == 3)
			(void)br_bit(&br);	/* separate_colour_plane */
		sps->bit_depth_luma = br_ue(&br) + 8;
		sps->bit_depth_chroma = br_ue(&br) + 8;
		if (sps->bit_depth_luma > 14 || sps->bit_depth_chroma > 14)
			return -EBADMSG;
		(void)br_bit(&br);	/* qpprime_y_zero_transform_bypass */
		if (br_bit(&br)) {	/* seq_scaling_matrix_present */
			n = sps->chroma_format_idc != 3 ? 8 : 12;
			for (i = 0; i < n && !br.br_err; i++)
				if (br_bit(&br))
					skip_scaling_list(&br, i < 6 ? 16 : 64);
		}
	}
	sps->log2_max_frame_num = br_ue(&br) + 4;
	if (sps->log2_max_frame_num > 16)
		return -EBADMSG;
	sps->poc_type = br_ue(&br);
	if (sps->poc_type == 0) {
		if (br_ue(&br) > 12)	/* log2_max_pic_order_cnt_lsb - 4 */
			return -EBADMSG;
	} else if (sps->poc_type == 1) {
		(void)br_bit(&br);	/* delta_pic_order_always_zero */
		(void)br_se(&br);	/* offset_for_non_ref_pic */
		(void)br_se(&br);	/* offset_for_top_to_bottom_field */
		n = br_ue(&br);		/* num_ref_frames_in_poc_cycle */
		if (n > 255)
			return -EBADMSG;
		for (i = 0; i < n && !br.br_err; i++)
			(void)br_se(&br);
	} else if (sps->poc_type != 2)
		return -EBADMSG;
	sps->max_num_ref_frames = br_ue(&br);
	(void)br_bit(&br);		/* gaps_in_frame_num_value_allowed */
	w_mbs = br_ue(&br) + 1;
	h_units = br_ue(&br) + 1;
	sps->frame_mbs_only = br_bit(&br);
	if (!sps->frame_mbs_only)
		(void)br_bit(&br);	/* mb_adaptive_frame_field */
	(void)br_bit(&br);		/* direct_8x8_inference */
	memset(crop, 0, sizeof(crop));
	if (br_bit(&br))		/* frame_cropping */
		for (i = 0; i < 4; i++)
			crop[i] = br_ue(&br);
	/* vui_parameters_present_flag: the VUI itself is not needed. */
	(void)br_bit(&br);
	if (br.br_err)
		return -EBADMSG;
	if (sps->max_num_ref_frames > 16 || w_mbs > 1024 || h_units > 1024)
		return -EBADMSG;

	/* Cropping is in units of chroma samples (7-19 .. 7-22). */
	cx = sps->chroma_format_idc == 1 || sps->chroma_format_idc == 2 ?
	    2 : 1;
	cy = (sps->chroma_format_idc == 1 ? 2 : 1) *
	    (2 - sps->frame_mbs_only);
	w = (uint64_t)w_mbs * 16;
	h = (uint64_t)h_units * 16 * (2 - sps->frame_mbs_only);
	if ((uint64_t)crop[0] + crop[1] >= w / cx ||
	    (uint64_t)crop[2] + crop[3] >= h / cy)
		return -EBADMSG;
	sps->width = (uint32_t)(w - cx * ((uint64_t)crop[0] + crop[1]));
	sps->height = (uint32_t)(h - cy * ((uint64_t)crop[2] + crop[3]));

	if (sps->chroma_format_idc != 1 || sps->bit_depth_luma != 8 ||
	    sps->bit_depth_chroma != 8 || !sps->frame_mbs_only ||
	    sps->width > 8192 || sps->height > 8192)
		return -ENOTSUP;
	switch (sps->profile_idc) {
	case 66:	/* Baseline, and Constrained Baseline (set1) */
	case 77:	/* Main */
	case 100:	/* High */
		return 0;
	default:
		return -ENOTSUP;
	}
}

int
h264_pps_parse(const uint8_t *nal, size_t len, struct h264_pps *pps)
{
	struct bitreader br;
	uint32_t groups;

	memset(pps, 0, sizeof(*pps));
	if (len < 2 || (nal[0] & 0x80) || (nal[0] & 0x1f) != H264_NAL_PPS)
		return -EBADMSG;
	br_init(&br, nal, len);
	pps->id = br_ue(&br);
	pps->sps_id = br_ue(&br);
	pps->entropy_coding_mode = br_bit(&br);
	(void)br_bit(&br);	/* bottom_field_pic_order_in_frame_present */
	groups = br_ue(&br) + 1;
	if (br.br_err || pps->id >= H264_PPS_MAX ||
	    pps->sps_id >= H264_SPS_MAX)
		return -EBADMSG;
	/* Flexible macroblock ordering: Baseline's, but not Constrained
	 * Baseline's, and no browser decodes it. */
	return groups == 1 ? 0 : -ENOTSUP;
}

int
h264_slice_parse(const uint8_t *nal, size_t len, struct h264_slice *slice)
{
	struct bitreader br;

	memset(slice, 0, sizeof(*slice));
	if (len < 2 || (nal[0] & 0x80) || !h264_nal_is_vcl(nal[0] & 0x1f))
		return -EBADMSG;
	br_init(&br, nal, len);
	slice->first_mb = br_ue(&br);
	slice->slice_type = br_ue(&br);
	slice->pps_id = br_ue(&br);
	if (br.br_err || slice->slice_type > 9 ||
	    slice->pps_id >= H264_PPS_MAX || slice->first_mb >= 1024 * 1024)
		return -EBADMSG;
	return 0;
}

/* ---------------------------------------------------- a whole payload */

int
h264_au_check(const uint8_t *buf, size_t len, struct h264_au_info *info)
{
	struct h264_nal nal;
	struct h264_slice slice;
	size_t pos = 0;
	int rc, vcl_kind = -1;

	memset(info, 0, sizeof(*info));
	while ((rc = h264_au_next(buf, len, &pos, &nal)) == 1) {
		switch (nal.type) {
		case H264_NAL_SPS:
			if (info->sps_len == 0) {
				info->sps_off = (size_t)(nal.data - buf);
				info->sps_len = nal.len;
			}
			break;
		case H264_NAL_PPS:
			if (info->pps_len == 0) {
				info->pps_off = (size_t)(nal.data - buf);
				info->pps_len = nal.len;
			}
			break;
		case H264_NAL_SEI:
			break;
		case H264_NAL_SLICE:
		case H264_NAL_IDR:
			if (vcl_kind != -1 && vcl_kind != (int)nal.type)
				return -EBADMSG;
			if (h264_slice_parse(nal.data, nal.len, &slice) != 0 ||
			    (vcl_kind == -1 && slice.first_mb != 0))
				return -EBADMSG;
			vcl_kind = (int)nal.type;
			info->slices++;
			break;
		default:
			return -EBADMSG;
		}
		info->nals++;
	}
	if (rc < 0 || info->slices == 0)
		return -EBADMSG;
	info->idr = vcl_kind == H264_NAL_IDR;
	/* A keyframe carries what decoding it needs, first. */
	if (info->idr && (info->sps_off != 4 || info->pps_len == 0 ||
	    info->pps_off != info->sps_off + info->sps_len + 4))
		return -EBADMSG;
	return 0;
}
