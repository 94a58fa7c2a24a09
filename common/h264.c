/*
 * h264.c - Annex-B NAL units and the sequence parameter set's picture
 * description (see h264.h).
 */
#include <errno.h>
#include <string.h>

#include "h264.h"

/* Position of the first byte after a start code at or after p, or NULL;
 * *sc gets where the start code (with its leading zeros) begins. */
static const uint8_t *
annexb_find(const uint8_t *p, const uint8_t *end, const uint8_t **sc)
{
	const uint8_t *q = p;

	while (end - q >= 3) {
		/* 00 00 01: look for the 01, then at the two bytes before. */
		const uint8_t *one = memchr(q + 2, 0x01, (size_t)(end - q - 2));

		if (one == NULL)
			return NULL;
		if (one[-1] == 0 && one[-2] == 0) {
			const uint8_t *s = one - 2;

			while (s > p && s[-1] == 0)
				s--;
			*sc = s;
			return one + 1;
		}
		q = one - 1;
	}
	return NULL;
}

int
h264_annexb_init(struct h264_annexb *ab, const uint8_t *buf, size_t len)
{
	const uint8_t *end = buf + len, *sc, *p = buf;

	ab->ab_p = ab->ab_end = end;
	if (len == 0)
		return 0;
	while (p < end && *p == 0)
		p++;
	/* At least two zeros, then 01: a start code at the very beginning. */
	if (p - buf < 2 || p == end || *p != 0x01 ||
	    annexb_find(buf, end, &sc) != p + 1)
		return -EBADMSG;
	ab->ab_p = buf;
	return 0;
}

int
h264_annexb_next(struct h264_annexb *ab, const uint8_t **nal, size_t *len)
{
	const uint8_t *start, *next, *sc;

	for (;;) {
		if (ab->ab_p >= ab->ab_end)
			return 0;
		start = annexb_find(ab->ab_p, ab->ab_end, &sc);
		if (start == NULL) {
			ab->ab_p = ab->ab_end;
			return 0;
		}
		next = annexb_find(start, ab->ab_end, &sc);
		if (next == NULL)
			sc = ab->ab_end;
		ab->ab_p = sc;
		/* trailing_zero_8bits before the next start code, or at the
		 * end of the stream, are not part of this unit. */
		while (sc > start && sc[-1] == 0)
			sc--;
		if (sc > start) {
			*nal = start;
			*len = (size_t)(sc - start);
			return 1;
		}
	}
}

/* ----------------------------------------------------- length-prefixed */

void
h264_avcc_init(struct h264_avcc *av, const uint8_t *buf, size_t len)
{
	av->av_p = buf;
	av->av_end = buf + len;
}

int
h264_avcc_next(struct h264_avcc *av, const uint8_t **nal, size_t *len)
{
	size_t left = (size_t)(av->av_end - av->av_p), n;

	if (left == 0)
		return 0;
	if (left < 4)
		goto bad;
	n = (size_t)av->av_p[0] << 24 | (size_t)av->av_p[1] << 16 |
	    (size_t)av->av_p[2] << 8 | av->av_p[3];
	if (n == 0 || n > left - 4)
		goto bad;
	*nal = av->av_p + 4;
	*len = n;
	av->av_p += 4 + n;
	return 1;
bad:
	av->av_p = av->av_end;
	return -EBADMSG;
}

int
h264_avcc_check(const uint8_t *buf, size_t len)
{
	struct h264_avcc av;
	const uint8_t *nal;
	size_t n;
	int rc, units = 0;

	h264_avcc_init(&av, buf, len);
	while ((rc = h264_avcc_next(&av, &nal, &n)) == 1) {
		if (nal[0] & 0x80)
			return -EBADMSG;
		units++;
	}
	return rc == 0 && units > 0 ? 0 : -EBADMSG;
}

ssize_t
h264_annexb_to_avcc(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	struct h264_annexb ab;
	const uint8_t *nal;
	size_t n, o = 0;

	if (h264_annexb_init(&ab, in, len) != 0)
		return -EBADMSG;
	while (h264_annexb_next(&ab, &nal, &n) == 1) {
		uint8_t be[4] = { (uint8_t)(n >> 24), (uint8_t)(n >> 16),
		    (uint8_t)(n >> 8), (uint8_t)n };

		if (o + 4 + n <= cap) {
			memcpy(out + o, be, 4);
			memcpy(out + o + 4, nal, n);
		}
		o += 4 + n;
	}
	return (ssize_t)o;
}

/* ------------------------------------------------------------ the SPS */

/*
 * Reads the RBSP of a NAL unit bit by bit, dropping emulation prevention
 * bytes (00 00 03 -> 00 00) as it goes.  Reading past the end sets
 * br_err and returns zeros.
 */
struct bitreader {
	const uint8_t	*br_p;
	size_t		 br_len;
	size_t		 br_pos;	/* byte being read */
	unsigned	 br_bit;	/* bits of it already read, 0..7 */
	unsigned	 br_zeros;	/* zero bytes just before br_pos */
	int		 br_err;
};

static void
br_enter_byte(struct bitreader *br)
{
	if (br->br_pos < br->br_len && br->br_zeros >= 2 &&
	    br->br_p[br->br_pos] == 0x03) {
		br->br_pos++;
		br->br_zeros = 0;
	}
}

static unsigned
br_bit(struct bitreader *br)
{
	unsigned b;

	if (br->br_pos >= br->br_len) {
		br->br_err = 1;
		return 0;
	}
	b = (br->br_p[br->br_pos] >> (7 - br->br_bit)) & 1u;
	if (++br->br_bit == 8) {
		br->br_zeros = br->br_p[br->br_pos] == 0 ? br->br_zeros + 1 : 0;
		br->br_bit = 0;
		br->br_pos++;
		br_enter_byte(br);
	}
	return b;
}

static uint32_t
br_bits(struct bitreader *br, unsigned n)
{
	uint32_t v = 0;

	while (n-- > 0)
		v = v << 1 | br_bit(br);
	return v;
}

/* ue(v), H.264 9.1: up to 31 leading zeros (values up to 2^32 - 2). */
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

static int64_t
br_se(struct bitreader *br)
{
	uint32_t k = br_ue(br);

	return (k & 1) ? (int64_t)(k / 2) + 1 : -(int64_t)(k / 2);
}

/* scaling_list(), H.264 7.3.2.1.1.1: only to get past it. */
static void
skip_scaling_list(struct bitreader *br, unsigned size)
{
	int64_t last = 8, next = 8;

	for (unsigned j = 0; j < size && !br->br_err; j++) {
		if (next != 0) {
			int64_t delta = br_se(br);

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
h264_profile_has_chroma_info(unsigned p)
{
	switch (p) {
	case 100: case 110: case 122: case 244: case 44: case 83: case 86:
	case 118: case 128: case 138: case 139: case 134: case 135:
		return 1;
	}
	return 0;
}

int
h264_sps_parse(const uint8_t *nal, size_t len, struct h264_sps *sps)
{
	struct bitreader br = { .br_p = nal, .br_len = len };
	uint32_t poc_type, w_mbs, h_units, crop[4] = { 0, 0, 0, 0 };
	uint32_t sub_w, sub_h, crop_x, crop_y, width, height;

	memset(sps, 0, sizeof(*sps));
	if (len < 4 || (nal[0] & 0x80) != 0 ||
	    H264_NAL_TYPE(nal[0]) != H264_NAL_SPS)
		return -EBADMSG;
	br.br_pos = 1;
	sps->profile_idc = (uint8_t)br_bits(&br, 8);
	sps->constraint_flags = (uint8_t)br_bits(&br, 8);
	sps->level_idc = (uint8_t)br_bits(&br, 8);
	sps->sps_id = br_ue(&br);
	if (sps->sps_id > 31)
		return -EBADMSG;
	sps->chroma_format_idc = 1;
	sps->bit_depth_luma = sps->bit_depth_chroma = 8;
	if (h264_profile_has_chroma_info(sps->profile_idc)) {
		uint32_t cf = br_ue(&br), dl, dc;

		if (cf > 3)
			return -EBADMSG;
		sps->chroma_format_idc = (uint8_t)cf;
		if (cf == 3 && br_bit(&br))
			return -ENOTSUP;	/* separate colour planes */
		dl = br_ue(&br);
		dc = br_ue(&br);
		if (dl > 6 || dc > 6)
			return -EBADMSG;
		sps->bit_depth_luma = (uint8_t)(8 + dl);
		sps->bit_depth_chroma = (uint8_t)(8 + dc);
		br_bit(&br);	/* qpprime_y_zero_transform_bypass_flag */
		if (br_bit(&br)) {	/* seq_scaling_matrix_present_flag */
			unsigned n = cf != 3 ? 8 : 12;

			for (unsigned i = 0; i < n && !br.br_err; i++)
				if (br_bit(&br))
					skip_scaling_list(&br, i < 6 ? 16 : 64);
		}
	}
	if (br_ue(&br) > 12)	/* log2_max_frame_num_minus4 */
		return -EBADMSG;
	poc_type = br_ue(&br);
	if (poc_type == 0) {
		if (br_ue(&br) > 12)	/* log2_max_pic_order_cnt_lsb_minus4 */
			return -EBADMSG;
	} else if (poc_type == 1) {
		uint32_t cycle;

		br_bit(&br);	/* delta_pic_order_always_zero_flag */
		br_se(&br);	/* offset_for_non_ref_pic */
		br_se(&br);	/* offset_for_top_to_bottom_field */
		cycle = br_ue(&br);
		if (cycle > 255)
			return -EBADMSG;
		for (uint32_t i = 0; i < cycle && !br.br_err; i++)
			br_se(&br);
	} else if (poc_type != 2)
		return -EBADMSG;
	br_ue(&br);	/* max_num_ref_frames */
	br_bit(&br);	/* gaps_in_frame_num_value_allowed_flag */
	w_mbs = br_ue(&br);
	h_units = br_ue(&br);
	sps->frame_mbs_only = (uint8_t)br_bit(&br);
	if (!sps->frame_mbs_only)
		br_bit(&br);	/* mb_adaptive_frame_field_flag */
	br_bit(&br);	/* direct_8x8_inference_flag */
	if (br_bit(&br))	/* frame_cropping_flag */
		for (int i = 0; i < 4; i++)
			crop[i] = br_ue(&br);
	if (br.br_err)
		return -EBADMSG;

	/* Sizes: H.264 7.4.2.1.1, equations 7-13 to 7-20. */
	if (w_mbs >= H264_SIZE_MAX / 16 || h_units >= H264_SIZE_MAX / 16)
		return -ENOTSUP;
	width = (w_mbs + 1) * 16;
	height = (h_units + 1) * 16 * (2u - sps->frame_mbs_only);
	sub_w = sps->chroma_format_idc == 1 || sps->chroma_format_idc == 2 ?
	    2 : 1;
	sub_h = sps->chroma_format_idc == 1 ? 2 : 1;
	crop_x = sps->chroma_format_idc == 0 ? 1 : sub_w;
	crop_y = (sps->chroma_format_idc == 0 ? 1 : sub_h) *
	    (2u - sps->frame_mbs_only);
	if (crop[0] > width || crop[1] > width ||
	    (uint64_t)crop_x * (crop[0] + crop[1]) >= width ||
	    crop[2] > height || crop[3] > height ||
	    (uint64_t)crop_y * (crop[2] + crop[3]) >= height)
		return -EBADMSG;
	sps->width = width - crop_x * (crop[0] + crop[1]);
	sps->height = height - crop_y * (crop[2] + crop[3]);
	if (sps->width > H264_SIZE_MAX || sps->height > H264_SIZE_MAX)
		return -ENOTSUP;
	return 0;
}
