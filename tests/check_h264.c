/*
 * check_h264.c - the H.264 bitstream module (common/h264.h): Annex-B and
 * length-prefixed NAL units, parameter sets from x264 (real streams, at
 * sizes that need cropping) and written bit by bit here (the cases x264
 * never makes: 4:2:2, interlace, scaling lists, slice groups, emulation
 * prevention inside a field), slice headers, and whole ring payloads.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "h264.h"
#include "testutil.h"
#include "v4l2sim/simh264.h"

/* ------------------------------------------------------- a bit writer */

struct bw {
	uint8_t		 buf[1024];
	size_t		 bits;
};

static void
put(struct bw *b, uint32_t v, unsigned n)
{
	while (n-- > 0) {
		if ((v >> n) & 1)
			b->buf[b->bits / 8] |= (uint8_t)(0x80 >> (b->bits % 8));
		b->bits++;
	}
}

static void
ue(struct bw *b, uint32_t v)
{
	uint64_t x = (uint64_t)v + 1;
	unsigned len = 0;

	while ((x >> (len + 1)) != 0)
		len++;
	put(b, 0, len);
	for (unsigned i = len + 1; i-- > 0;)
		put(b, (uint32_t)(x >> i) & 1, 1);
}

static void
se(struct bw *b, int32_t v)
{
	ue(b, v > 0 ? (uint32_t)(2 * v - 1) : (uint32_t)(-2 * (int64_t)v));
}

/* The NAL unit: header byte, the bits with rbsp_trailing_bits and
 * emulation prevention; returns its length. */
static size_t
nal_finish(struct bw *b, uint8_t header, uint8_t *out)
{
	size_t n, i, o = 0, zeros = 0;

	put(b, 1, 1);
	while (b->bits % 8)
		put(b, 0, 1);
	n = b->bits / 8;
	out[o++] = header;
	for (i = 0; i < n; i++) {
		if (zeros >= 2 && b->buf[i] <= 3) {
			out[o++] = 3;
			zeros = 0;
		}
		out[o++] = b->buf[i];
		zeros = b->buf[i] == 0 ? zeros + 1 : 0;
	}
	return o;
}

struct sps_spec {
	unsigned profile, constraints, level, id;
	unsigned chroma, depth, scaling;
	unsigned poc_type;
	int32_t poc_offset;		/* offset_for_non_ref_pic */
	unsigned w_mbs, h_units, frame_mbs_only;
	unsigned crop[4];
};

static size_t
make_sps(const struct sps_spec *s, uint8_t *out)
{
	struct bw b;

	memset(&b, 0, sizeof(b));
	put(&b, s->profile, 8);
	put(&b, s->constraints, 8);
	put(&b, s->level, 8);
	ue(&b, s->id);
	if (s->profile == 100 || s->profile == 122 || s->profile == 244) {
		ue(&b, s->chroma);
		if (s->chroma == 3)
			put(&b, 0, 1);
		ue(&b, s->depth - 8);
		ue(&b, s->depth - 8);
		put(&b, 0, 1);
		put(&b, s->scaling, 1);
		if (s->scaling)
			for (int i = 0; i < 8; i++) {
				put(&b, 1, 1);	/* this list present */
				for (int j = 0; j < (i < 6 ? 16 : 64); j++)
					se(&b, j == 0 ? 8 : (j % 3) - 1);
			}
	}
	ue(&b, 0);			/* log2_max_frame_num - 4 */
	ue(&b, s->poc_type);
	if (s->poc_type == 0)
		ue(&b, 2);
	else if (s->poc_type == 1) {
		put(&b, 0, 1);
		se(&b, s->poc_offset);
		se(&b, 3);
		ue(&b, 2);
		se(&b, 1);
		se(&b, -1);
	}
	ue(&b, 1);			/* max_num_ref_frames */
	put(&b, 0, 1);
	ue(&b, s->w_mbs - 1);
	ue(&b, s->h_units - 1);
	put(&b, s->frame_mbs_only, 1);
	if (!s->frame_mbs_only)
		put(&b, 0, 1);
	put(&b, 1, 1);			/* direct_8x8_inference */
	if (s->crop[0] | s->crop[1] | s->crop[2] | s->crop[3]) {
		put(&b, 1, 1);
		for (int i = 0; i < 4; i++)
			ue(&b, s->crop[i]);
	} else
		put(&b, 0, 1);
	put(&b, 0, 1);			/* no VUI */
	return nal_finish(&b, 0x67, out);
}

static size_t
make_pps(unsigned id, unsigned sps_id, unsigned groups, uint8_t *out)
{
	struct bw b;

	memset(&b, 0, sizeof(b));
	ue(&b, id);
	ue(&b, sps_id);
	put(&b, 1, 1);			/* CABAC */
	put(&b, 0, 1);
	ue(&b, groups - 1);
	ue(&b, 0);			/* ref idx... enough for the parser */
	return nal_finish(&b, 0x68, out);
}

static size_t
make_slice(unsigned type, unsigned first_mb, unsigned pps_id, uint8_t *out)
{
	struct bw b;

	memset(&b, 0, sizeof(b));
	ue(&b, first_mb);
	ue(&b, 7);			/* I slice, all of them */
	ue(&b, pps_id);
	put(&b, 0x5a5a, 16);		/* slice data, of a sort */
	return nal_finish(&b, type == 5 ? 0x65 : 0x41, out);
}

static const struct sps_spec sps_720p = {
	.profile = 100, .level = 31, .chroma = 1, .depth = 8,
	.poc_type = 0, .w_mbs = 80, .h_units = 45, .frame_mbs_only = 1,
};

/* ----------------------------------------------------------- Annex B */

START_TEST(test_annexb)
{
	static const uint8_t stream[] = {
		0, 0, 0, 1, 0x67, 0xaa, 0xbb,
		0, 0, 1, 0x68, 0xcc, 0x00,		/* trailing zero */
		0, 0, 0, 0, 1, 0x65, 0xdd, 0x00, 0x00 };
	struct h264_nal nal;
	size_t pos = 0;

	ck_assert_int_eq(h264_annexb_next(stream, sizeof(stream), &pos, &nal),
	    1);
	ck_assert_uint_eq(nal.type, H264_NAL_SPS);
	ck_assert_uint_eq(nal.ref_idc, 3);
	ck_assert_uint_eq(nal.len, 3);
	ck_assert_int_eq(h264_annexb_next(stream, sizeof(stream), &pos, &nal),
	    1);
	ck_assert_uint_eq(nal.type, H264_NAL_PPS);
	ck_assert_uint_eq(nal.len, 2);
	ck_assert_int_eq(h264_annexb_next(stream, sizeof(stream), &pos, &nal),
	    1);
	ck_assert_uint_eq(nal.type, H264_NAL_IDR);
	ck_assert_uint_eq(nal.len, 2);
	ck_assert_uint_eq(nal.data[1], 0xdd);
	ck_assert_int_eq(h264_annexb_next(stream, sizeof(stream), &pos, &nal),
	    0);
	ck_assert_uint_eq(pos, sizeof(stream));
}
END_TEST

START_TEST(test_annexb_broken)
{
	static const struct {
		const char *what;
		uint8_t b[8];
		size_t len;
		int want;
	} cases[] = {
		{ "nothing", { 0 }, 0, 0 },
		{ "only zeros", { 0, 0, 0, 0 }, 4, 0 },
		{ "garbage first", { 0x12, 0, 0, 1, 0x67, 1 }, 6, -EBADMSG },
		{ "one zero", { 0, 1, 0x67, 1 }, 4, -EBADMSG },
		{ "empty unit", { 0, 0, 1, 0, 0, 1, 0x67 }, 7, -EBADMSG },
		{ "empty at end", { 0, 0, 1 }, 3, -EBADMSG },
		{ "forbidden bit", { 0, 0, 1, 0xe7, 1 }, 5, -EBADMSG },
	};
	struct h264_nal nal;
	size_t pos;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pos = 0;
		ck_assert_msg(h264_annexb_next(cases[i].b, cases[i].len, &pos,
		    &nal) == cases[i].want, "%s", cases[i].what);
	}
}
END_TEST

START_TEST(test_au_next)
{
	static const uint8_t au[] = { 0, 0, 0, 2, 0x67, 0xaa,
	    0, 0, 0, 1, 0x68 };
	static const uint8_t zero[] = { 0, 0, 0, 0, 0x67 };
	static const uint8_t beyond[] = { 0, 0, 0, 9, 0x67 };
	static const uint8_t partial[] = { 0, 0, 0, 1, 0x67, 0, 0 };
	static const uint8_t forbidden[] = { 0, 0, 0, 1, 0x87 };
	struct h264_nal nal;
	size_t pos = 0;

	ck_assert_int_eq(h264_au_next(au, sizeof(au), &pos, &nal), 1);
	ck_assert_uint_eq(nal.type, 7);
	ck_assert_uint_eq(nal.len, 2);
	ck_assert_int_eq(h264_au_next(au, sizeof(au), &pos, &nal), 1);
	ck_assert_uint_eq(nal.type, 8);
	ck_assert_int_eq(h264_au_next(au, sizeof(au), &pos, &nal), 0);
	pos = 0;
	ck_assert_int_eq(h264_au_next(zero, sizeof(zero), &pos, &nal),
	    -EBADMSG);
	pos = 0;
	ck_assert_int_eq(h264_au_next(beyond, sizeof(beyond), &pos, &nal),
	    -EBADMSG);
	pos = 0;
	ck_assert_int_eq(h264_au_next(partial, sizeof(partial), &pos, &nal),
	    1);
	ck_assert_int_eq(h264_au_next(partial, sizeof(partial), &pos, &nal),
	    -EBADMSG);
	pos = 0;
	ck_assert_int_eq(h264_au_next(forbidden, sizeof(forbidden), &pos,
	    &nal), -EBADMSG);
}
END_TEST

/* ------------------------------------------------------ parameter sets */

START_TEST(test_sps_written)
{
	static const struct {
		const char *what;
		struct sps_spec s;
		int want;
		uint32_t w, h;
	} cases[] = {
		{ "720p High", { .profile = 100, .level = 31, .chroma = 1,
		    .depth = 8, .w_mbs = 80, .h_units = 45,
		    .frame_mbs_only = 1 }, 0, 1280, 720 },
		/* 1080p: 68 macroblock rows, 8 lines cropped at the bottom,
		 * counted in chroma rows (2 lines each for 4:2:0). */
		{ "1080p cropped", { .profile = 77, .level = 40,
		    .w_mbs = 120, .h_units = 68, .frame_mbs_only = 1,
		    .crop = { 0, 0, 0, 4 } }, 0, 1920, 1080 },
		{ "cropped left and right", { .profile = 66,
		    .constraints = 0xc0, .w_mbs = 40, .h_units = 30,
		    .frame_mbs_only = 1, .crop = { 2, 3, 1, 1 } }, 0,
		    630, 476 },
		{ "scaling lists", { .profile = 100, .chroma = 1, .depth = 8,
		    .scaling = 1, .w_mbs = 20, .h_units = 15,
		    .frame_mbs_only = 1 }, 0, 320, 240 },
		{ "poc type 1", { .profile = 77, .poc_type = 1, .w_mbs = 20,
		    .h_units = 15, .frame_mbs_only = 1 }, 0, 320, 240 },
		{ "4:2:2", { .profile = 122, .chroma = 2, .depth = 8,
		    .w_mbs = 20, .h_units = 15, .frame_mbs_only = 1 },
		    -ENOTSUP, 320, 240 },
		{ "10 bit", { .profile = 100, .chroma = 1, .depth = 10,
		    .w_mbs = 20, .h_units = 15, .frame_mbs_only = 1 },
		    -ENOTSUP, 320, 240 },
		{ "interlaced", { .profile = 77, .w_mbs = 20, .h_units = 8,
		    .frame_mbs_only = 0 }, -ENOTSUP, 320, 256 },
		{ "Extended profile", { .profile = 88, .w_mbs = 20,
		    .h_units = 15, .frame_mbs_only = 1 }, -ENOTSUP, 320, 240 },
		{ "wider than 8192", { .profile = 77, .w_mbs = 520,
		    .h_units = 15, .frame_mbs_only = 1 }, -ENOTSUP, 8320, 240 },
		{ "cropped away", { .profile = 77, .w_mbs = 20, .h_units = 15,
		    .frame_mbs_only = 1, .crop = { 80, 80, 0, 0 } },
		    -EBADMSG, 0, 0 },
		{ "id 32", { .profile = 77, .id = 32, .w_mbs = 20,
		    .h_units = 15, .frame_mbs_only = 1 }, -EBADMSG, 0, 0 },
	};
	struct h264_sps sps;
	uint8_t nal[1200];
	size_t n;
	int rc;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = make_sps(&cases[i].s, nal);
		rc = h264_sps_parse(nal, n, &sps);
		ck_assert_msg(rc == cases[i].want, "%s: got %d", cases[i].what,
		    rc);
		if (rc == 0 || rc == -ENOTSUP) {
			ck_assert_msg(sps.width == cases[i].w &&
			    sps.height == cases[i].h, "%s: %ux%u",
			    cases[i].what, sps.width, sps.height);
			ck_assert_uint_eq(sps.profile_idc, cases[i].s.profile);
		}
		/* Every cut is malformed, never a read past the end. */
		for (size_t k = 1; k < n - 1; k++)
			ck_assert_int_ne(h264_sps_parse(nal, k, &sps), 0);
	}
}
END_TEST

/* A field whose bits contain 00 00 0x: the written unit holds an
 * emulation prevention byte the reader must skip. */
START_TEST(test_sps_emulation_prevention)
{
	struct sps_spec s = sps_720p;
	struct h264_sps sps;
	uint8_t nal[256];
	size_t n, i;
	int found = 0;

	/* offset_for_non_ref_pic -2^30: se() of 31 zeros, a one and 30
	 * zeros, which make 00 00 0x whatever the alignment. */
	s.profile = 77;
	s.poc_type = 1;
	s.poc_offset = -(1 << 30);
	n = make_sps(&s, nal);
	for (i = 1; i + 2 < n; i++)
		if (nal[i] == 0 && nal[i + 1] == 0 && nal[i + 2] == 3)
			found = 1;
	ck_assert_msg(found, "no emulation prevention byte in the unit");
	ck_assert_int_eq(h264_sps_parse(nal, n, &sps), 0);
	ck_assert_uint_eq(sps.width, 1280);
	ck_assert_uint_eq(sps.height, 720);
	ck_assert_uint_eq(sps.poc_type, 1);
}
END_TEST

START_TEST(test_pps_and_slice)
{
	struct h264_pps pps;
	struct h264_slice sl;
	uint8_t nal[64];
	size_t n;

	n = make_pps(3, 1, 1, nal);
	ck_assert_int_eq(h264_pps_parse(nal, n, &pps), 0);
	ck_assert_uint_eq(pps.id, 3);
	ck_assert_uint_eq(pps.sps_id, 1);
	ck_assert_uint_eq(pps.entropy_coding_mode, 1);
	n = make_pps(3, 1, 4, nal);
	ck_assert_int_eq(h264_pps_parse(nal, n, &pps), -ENOTSUP);
	n = make_pps(256, 0, 1, nal);
	ck_assert_int_eq(h264_pps_parse(nal, n, &pps), -EBADMSG);
	n = make_pps(0, 32, 1, nal);
	ck_assert_int_eq(h264_pps_parse(nal, n, &pps), -EBADMSG);

	n = make_slice(5, 0, 7, nal);
	ck_assert_int_eq(h264_slice_parse(nal, n, &sl), 0);
	ck_assert_uint_eq(sl.first_mb, 0);
	ck_assert_uint_eq(sl.slice_type, 7);
	ck_assert_uint_eq(sl.pps_id, 7);
	n = make_slice(1, 120, 0, nal);
	ck_assert_int_eq(h264_slice_parse(nal, n, &sl), 0);
	ck_assert_uint_eq(sl.first_mb, 120);
	ck_assert_int_eq(h264_slice_parse(nal, 1, &sl), -EBADMSG);
	nal[0] = 0x67;
	ck_assert_int_eq(h264_slice_parse(nal, n, &sl), -EBADMSG);
}
END_TEST

/* ----------------------------------------------------- whole payloads */

/* Appends a unit with its 4-byte length. */
static size_t
au_add(uint8_t *au, size_t len, const uint8_t *nal, size_t n)
{
	au[len] = (uint8_t)(n >> 24);
	au[len + 1] = (uint8_t)(n >> 16);
	au[len + 2] = (uint8_t)(n >> 8);
	au[len + 3] = (uint8_t)n;
	memcpy(au + len + 4, nal, n);
	return len + 4 + n;
}

START_TEST(test_au_check)
{
	uint8_t sps[256], pps[64], idr[64], idr2[64], p[64], sei[4] = { 0x06,
	    0x05, 0x01, 0x80 }, aud[2] = { 0x09, 0xf0 }, au[1024];
	size_t ns, np, ni, ni2, nps, len;
	struct h264_au_info info;

	ns = make_sps(&sps_720p, sps);
	np = make_pps(0, 0, 1, pps);
	ni = make_slice(5, 0, 0, idr);
	ni2 = make_slice(5, 1800, 0, idr2);
	nps = make_slice(1, 0, 0, p);

	/* A keyframe: SPS, PPS first. */
	len = au_add(au, 0, sps, ns);
	len = au_add(au, len, pps, np);
	len = au_add(au, len, sei, sizeof(sei));
	len = au_add(au, len, idr, ni);
	len = au_add(au, len, idr2, ni2);
	ck_assert_int_eq(h264_au_check(au, len, &info), 0);
	ck_assert_int_eq(info.idr, 1);
	ck_assert_uint_eq(info.nals, 5);
	ck_assert_uint_eq(info.slices, 2);
	ck_assert_uint_eq(info.sps_off, 4);
	ck_assert_uint_eq(info.sps_len, ns);
	ck_assert_uint_eq(info.pps_off, 4 + ns + 4);
	ck_assert_uint_eq(info.pps_len, np);
	/* Cut inside a unit: refused (a cut between units is a smaller
	 * payload, which may be sound). */
	for (size_t k = 0, next = 0; k < len; k++) {
		if (k == next) {
			next += 4 + ((size_t)au[k] << 24 | (size_t)au[k + 1] << 16 |
			    (size_t)au[k + 2] << 8 | au[k + 3]);
			continue;
		}
		ck_assert_int_ne(h264_au_check(au, k, &info), 0);
	}

	/* A picture that is not an IDR needs nothing before it. */
	len = au_add(au, 0, p, nps);
	ck_assert_int_eq(h264_au_check(au, len, &info), 0);
	ck_assert_int_eq(info.idr, 0);

	/* An IDR without its parameter sets first. */
	len = au_add(au, 0, idr, ni);
	ck_assert_int_eq(h264_au_check(au, len, &info), -EBADMSG);
	len = au_add(au, 0, pps, np);
	len = au_add(au, len, sps, ns);
	len = au_add(au, len, idr, ni);
	ck_assert_int_eq(h264_au_check(au, len, &info), -EBADMSG);
	/* IDR and non-IDR slices in one picture. */
	len = au_add(au, 0, sps, ns);
	len = au_add(au, len, pps, np);
	len = au_add(au, len, idr, ni);
	len = au_add(au, len, p, nps);
	ck_assert_int_eq(h264_au_check(au, len, &info), -EBADMSG);
	/* A picture that does not start at its first macroblock. */
	len = au_add(au, 0, sps, ns);
	len = au_add(au, len, pps, np);
	len = au_add(au, len, idr2, ni2);
	ck_assert_int_eq(h264_au_check(au, len, &info), -EBADMSG);
	/* No slice; a unit the ring never holds (AUD). */
	len = au_add(au, 0, sps, ns);
	ck_assert_int_eq(h264_au_check(au, len, &info), -EBADMSG);
	len = au_add(au, 0, aud, sizeof(aud));
	len = au_add(au, len, p, nps);
	ck_assert_int_eq(h264_au_check(au, len, &info), -EBADMSG);
	ck_assert_int_eq(h264_au_check(au, 0, &info), -EBADMSG);
}
END_TEST

/* Real streams: x264 at sizes that need cropping, three profiles. */
START_TEST(test_x264_streams)
{
	static const struct {
		uint32_t w, h;
		const char *profile;
		unsigned idc, cabac;
	} cases[] = {
		{ 1280, 720, "main", 77, 1 },
		{ 1920, 1080, "high", 100, 1 },
		{ 640, 360, "baseline", 66, 0 },
		{ 320, 240, "main", 77, 1 },
		{ 176, 144, "baseline", 66, 0 },
	};
	struct simh264_opts o = { .gop = 3, .annexb = 0 };
	struct h264_au_info info;
	struct h264_sps sps;
	struct h264_pps pps;
	struct simh264 *enc;
	const uint8_t *out;
	uint8_t *img;
	size_t len;
	int idr;

	if (!simh264_available()) {
		fprintf(stderr, "check_h264: built with X264=no: the tests "
		    "with x264's streams are skipped\n");
		return;
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t ys = (size_t)cases[i].w * cases[i].h;

		img = malloc(ys * 3 / 2);
		ck_assert_ptr_nonnull(img);
		for (size_t k = 0; k < ys * 3 / 2; k++)
			img[k] = (uint8_t)(k * 7 + k / 991);
		o.profile = cases[i].profile;
		ck_assert_int_eq(simh264_new(&enc, cases[i].w, cases[i].h, 30,
		    &o), 0);
		for (int f = 0; f < 4; f++) {
			ck_assert_int_eq(simh264_encode(enc, img, img + ys,
			    img + ys + ys / 4, 0, &out, &len, &idr), 0);
			ck_assert_int_eq(idr, f % 3 == 0);
			ck_assert_int_eq(h264_au_check(out, len, &info), 0);
			ck_assert_int_eq(info.idr, idr);
			if (!idr)
				continue;
			ck_assert_int_eq(h264_sps_parse(out + info.sps_off,
			    info.sps_len, &sps), 0);
			ck_assert_uint_eq(sps.width, cases[i].w);
			ck_assert_uint_eq(sps.height, cases[i].h);
			ck_assert_uint_eq(sps.profile_idc, cases[i].idc);
			if (cases[i].idc == 66)	/* Constrained Baseline */
				ck_assert_uint_eq(sps.constraints & 0x40, 0x40);
			ck_assert_int_eq(h264_pps_parse(out + info.pps_off,
			    info.pps_len, &pps), 0);
			ck_assert_uint_eq(pps.entropy_coding_mode,
			    cases[i].cabac);
		}
		simh264_free(enc);
		free(img);
	}
}
END_TEST

static Suite *
h264_suite(void)
{
	Suite *s = suite_create("h264");
	TCase *tc = tcase_create("parse");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_annexb);
	tcase_add_test(tc, test_annexb_broken);
	tcase_add_test(tc, test_au_next);
	tcase_add_test(tc, test_sps_written);
	tcase_add_test(tc, test_sps_emulation_prevention);
	tcase_add_test(tc, test_pps_and_slice);
	tcase_add_test(tc, test_au_check);
	tcase_add_test(tc, test_x264_streams);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(h264_suite());
}
