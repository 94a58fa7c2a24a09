/*
 * check_mp4.c - the fragmented MP4 writer (server/mp4.c):
 * real encoders' parameter sets, the boxes and offsets of init segments
 * and fragments, writing within capacity, and the live timeline.
 * Real demuxers judge the output in tests/integration/test_mp4.py.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "h264.h"
#include "../server/mp4.h"
#include "testutil.h"

static size_t
unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;

	for (; hex[0] != '\0' && hex[1] != '\0' && n < cap; hex += 2) {
		unsigned v;

		sscanf(hex, "%2x", &v);
		out[n++] = (uint8_t)v;
	}
	return n;
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* High profile (x264, 1366x766: cropped on both axes), for the avcC's
 * High-profile tail. */
#define SPS_HIGH_HEX \
	"67640020acd94056061e6ac044000003000400000300c83c60c658"

/* ---------------------------------------------------------------- MP4 */

#define SPS_HEX	"674d4028eca03c0113f2e022000003000200000300781e30632c"
#define PPS_HEX	"68ee3c80"

static uint8_t sps_buf[64], pps_buf[8];
static size_t sps_len, pps_len;

static struct mp4_track
track(void)
{
	sps_len = unhex(SPS_HEX, sps_buf, sizeof(sps_buf));
	pps_len = unhex(PPS_HEX, pps_buf, sizeof(pps_buf));
	return (struct mp4_track){ sps_buf, sps_len, pps_buf, pps_len };
}

/*
 * The box at path ("moov/trak/tkhd") among the boxes of buf[0..len), or
 * NULL; *size gets its size.  Checks on the way that every box lies
 * within its parent.  Sample entries are containers after their fixed
 * fields (avc1: 78 bytes, stsd: 8).
 */
static const uint8_t *
find_box(const uint8_t *buf, size_t len, const char *path, size_t *size)
{
	const uint8_t *p = buf, *end = buf + len;
	size_t plen = strcspn(path, "/");

	while (end - p >= 8) {
		uint32_t bs = be32(p);

		ck_assert_msg(bs >= 8 && bs <= (size_t)(end - p),
		    "box %.4s of size %u in %zd bytes", p + 4, bs, end - p);
		if (plen == 4 && memcmp(p + 4, path, 4) == 0) {
			size_t skip = 8;

			if (path[4] == '\0') {
				*size = bs;
				return p;
			}
			if (memcmp(path, "stsd", 4) == 0)
				skip = 16;
			else if (memcmp(path, "avc1", 4) == 0)
				skip = 86;
			return find_box(p + skip, bs - skip, path + 5, size);
		}
		p += bs;
	}
	ck_assert_msg(p == end, "trailing bytes after the boxes");
	return NULL;
}

START_TEST(test_init_segment)
{
	struct mp4_track t = track();
	ssize_t n = mp4_write_init(NULL, 0, &t);
	uint8_t *buf;
	const uint8_t *b;
	size_t bs;

	ck_assert_int_gt(n, 0);
	buf = malloc((size_t)n);
	ck_assert_int_eq(mp4_write_init(buf, (size_t)n, &t), n);
	/* Exactly two top-level boxes fill it. */
	ck_assert_ptr_nonnull(find_box(buf, (size_t)n, "ftyp", &bs));
	b = find_box(buf, (size_t)n, "moov", &bs);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(be32(buf) + bs, (size_t)n);

	b = find_box(buf, (size_t)n, "moov/trak/tkhd", &bs);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(be32(b + 8 + 76), 1920u << 16);
	ck_assert_uint_eq(be32(b + 8 + 80), 1080u << 16);
	b = find_box(buf, (size_t)n, "moov/trak/mdia/mdhd", &bs);
	ck_assert_uint_eq(be32(b + 8 + 12), MP4_TIMESCALE);
	b = find_box(buf, (size_t)n,
	    "moov/trak/mdia/minf/stbl/stsd/avc1/avcC", &bs);
	ck_assert_ptr_nonnull(b);
	/* Version 1, Main profile, 4-byte lengths, the SPS and PPS as
	 * given, no High-profile extension. */
	ck_assert_uint_eq(b[8], 1);
	ck_assert_uint_eq(b[9], 77);
	ck_assert_uint_eq(b[12], 0xff);
	ck_assert_uint_eq(b[13], 0xe1);
	ck_assert_uint_eq((size_t)(b[14] << 8 | b[15]), sps_len);
	ck_assert_mem_eq(b + 16, sps_buf, sps_len);
	ck_assert_uint_eq(b[16 + sps_len], 1);
	ck_assert_mem_eq(b + 19 + sps_len, pps_buf, pps_len);
	ck_assert_uint_eq(bs, 19 + sps_len + pps_len);
	ck_assert_ptr_nonnull(find_box(buf, (size_t)n, "moov/mvex/trex",
	    &bs));
	free(buf);
}
END_TEST

/* High profiles repeat chroma format and bit depths in the avcC. */
START_TEST(test_init_high_profile)
{
	uint8_t sps[64], pps[8];
	struct mp4_track t = { sps, unhex(SPS_HIGH_HEX, sps, sizeof(sps)),
	    pps, unhex(PPS_HEX, pps, sizeof(pps)) };
	uint8_t buf[1024];
	const uint8_t *b;
	size_t bs;
	ssize_t n = mp4_write_init(buf, sizeof(buf), &t);

	ck_assert_int_gt(n, 0);
	b = find_box(buf, (size_t)n,
	    "moov/trak/mdia/minf/stbl/stsd/avc1/avcC", &bs);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(bs, 19 + t.sps_len + t.pps_len + 4);
	ck_assert_uint_eq(b[bs - 4], 0xfc | 1);		/* 4:2:0 */
	ck_assert_uint_eq(b[bs - 3], 0xf8 | 0);		/* 8-bit luma */
	ck_assert_uint_eq(b[bs - 2], 0xf8 | 0);
	ck_assert_uint_eq(b[bs - 1], 0);
	b = find_box(buf, (size_t)n, "moov/trak/tkhd", &bs);
	ck_assert_uint_eq(be32(b + 8 + 76), 1366u << 16);
	ck_assert_uint_eq(be32(b + 8 + 80), 766u << 16);
}
END_TEST

START_TEST(test_init_refuses)
{
	struct mp4_track t = track();
	uint8_t buf[1024];

	t.pps = sps_buf;	/* not a PPS */
	ck_assert_int_eq(mp4_write_init(buf, sizeof(buf), &t), -EBADMSG);
	t = track();
	t.sps = pps_buf;	/* not an SPS */
	t.sps_len = pps_len;
	ck_assert_int_eq(mp4_write_init(buf, sizeof(buf), &t), -EBADMSG);
	t = track();
	t.pps = NULL;
	ck_assert_int_eq(mp4_write_init(buf, sizeof(buf), &t), -EINVAL);
}
END_TEST

/* Every capacity short of the whole: nothing written past it. */
START_TEST(test_write_within_capacity)
{
	static const uint8_t au[] = { 0, 0, 0, 3, 0x65, 0x88, 0x84, 0, 0, 0,
	    3, 0x65, 0x01, 0x02 };
	struct mp4_sample s = { au, sizeof(au), 3000, 1 };
	struct mp4_fragment fr = { 7, 1234567890123ull, &s, 1, 0 };
	struct mp4_track t = track();
	ssize_t ni = mp4_write_init(NULL, 0, &t);
	ssize_t nf = mp4_write_fragment(NULL, 0, &fr);
	size_t cap, k;
	uint8_t *buf;

	ck_assert_int_gt(ni, 0);
	ck_assert_int_gt(nf, 0);
	buf = malloc((size_t)ni + 16);
	for (cap = 0; cap < (size_t)ni; cap++) {
		memset(buf, 0xa5, (size_t)ni + 16);
		ck_assert_int_eq(mp4_write_init(buf, cap, &t), ni);
		for (k = cap; k < (size_t)ni + 16; k++)
			ck_assert_uint_eq(buf[k], 0xa5);
	}
	for (cap = 0; cap < (size_t)nf; cap++) {
		memset(buf, 0xa5, (size_t)ni + 16);
		ck_assert_int_eq(mp4_write_fragment(buf, cap, &fr), nf);
		for (k = cap; k < (size_t)nf + 16; k++)
			ck_assert_uint_eq(buf[k], 0xa5);
	}
	free(buf);
}
END_TEST

/* Two samples: boxes, offsets, flags, and the samples as length-prefixed
 * units without the delimiter (the parameter sets stay). */
START_TEST(test_fragment_layout)
{
	/* AUD, SPS, PPS, SEI, IDR slice in two units; then a P slice. */
	static const uint8_t key[] = { 0, 0, 0, 2, 0x09, 0x10,
	    0, 0, 0, 4, 0x67, 0x42, 0xc0, 0x0d, 0, 0, 0, 2, 0x68, 0xce,
	    0, 0, 0, 4, 0x06, 0x05, 0x01, 0x80, 0, 0, 0, 3, 0x65, 0x88, 0x80,
	    0, 0, 0, 4, 0x65, 0x11, 0x22, 0x33 };
	static const uint8_t p[] = { 0, 0, 0, 3, 0x41, 0x9a, 0x02 };
	struct mp4_sample s[2] = { { key, sizeof(key), 2990, 1 },
	    { p, sizeof(p), 3010, 0 } };
	struct mp4_fragment fr = { 0xdeadbeef, 0x123456789aull, s, 2, 0 };
	static const uint8_t want_mdat[] = {
	    0, 0, 0, 4, 0x67, 0x42, 0xc0, 0x0d, 0, 0, 0, 2, 0x68, 0xce,
	    0, 0, 0, 4, 0x06, 0x05, 0x01, 0x80,
	    0, 0, 0, 3, 0x65, 0x88, 0x80,
	    0, 0, 0, 4, 0x65, 0x11, 0x22, 0x33,
	    0, 0, 0, 3, 0x41, 0x9a, 0x02 };
	uint8_t buf[512];
	const uint8_t *moof, *b, *mdat;
	size_t moof_size, bs, mdat_size;
	ssize_t n = mp4_write_fragment(buf, sizeof(buf), &fr);

	ck_assert_int_gt(n, 0);
	moof = find_box(buf, (size_t)n, "moof", &moof_size);
	mdat = find_box(buf, (size_t)n, "mdat", &mdat_size);
	ck_assert_ptr_eq(moof, buf);
	ck_assert_uint_eq(moof_size + mdat_size, (size_t)n);
	ck_assert_uint_eq(mdat_size, 8 + sizeof(want_mdat));
	ck_assert_mem_eq(mdat + 8, want_mdat, sizeof(want_mdat));
	ck_assert_int_eq(mp4_sample_size(key, sizeof(key)), 37);
	ck_assert_int_eq(mp4_sample_size(p, sizeof(p)), 7);

	b = find_box(buf, (size_t)n, "moof/mfhd", &bs);
	ck_assert_uint_eq(be32(b + 12), 0xdeadbeef);
	b = find_box(buf, (size_t)n, "moof/traf/tfhd", &bs);
	ck_assert_uint_eq(be32(b + 8), 0x020000);	/* base is moof */
	ck_assert_uint_eq(be32(b + 12), MP4_TRACK_ID);
	b = find_box(buf, (size_t)n, "moof/traf/tfdt", &bs);
	ck_assert_uint_eq(b[8], 1);			/* 64-bit */
	ck_assert_uint_eq(be64(b + 12), 0x123456789aull);
	b = find_box(buf, (size_t)n, "moof/traf/trun", &bs);
	ck_assert_uint_eq(be32(b + 8), 0x000701);
	ck_assert_uint_eq(be32(b + 12), 2);
	/* data_offset from the moof's first byte to the first sample */
	ck_assert_uint_eq(be32(b + 16), (uint32_t)(mdat + 8 - moof));
	ck_assert_uint_eq(be32(b + 20), 2990);
	ck_assert_uint_eq(be32(b + 24), 37);
	ck_assert_uint_eq(be32(b + 28), 0x02000000);
	ck_assert_uint_eq(be32(b + 32), 3010);
	ck_assert_uint_eq(be32(b + 36), 7);
	ck_assert_uint_eq(be32(b + 40), 0x01010000);
}
END_TEST

/* The capture's wall-clock time, as NTP, before the moof. */
START_TEST(test_fragment_prft)
{
	static const uint8_t p[] = { 0, 0, 0, 3, 0x41, 0x9a, 0x02 };
	struct mp4_sample s = { p, sizeof(p), 3000, 0 };
	/* 2026-01-01 00:00:00.25 UTC */
	struct mp4_fragment fr = { 5, 123456789, &s, 1,
	    1767225600ull * 1000000000u + 250000000u };
	uint8_t buf[256];
	const uint8_t *b;
	size_t bs;
	ssize_t n = mp4_write_fragment(buf, sizeof(buf), &fr);

	ck_assert_int_gt(n, 0);
	b = find_box(buf, (size_t)n, "prft", &bs);
	ck_assert_ptr_eq(b, buf);
	ck_assert_uint_eq(bs, 32);
	ck_assert_uint_eq(b[8], 1);				/* 64-bit */
	ck_assert_uint_eq(be32(b + 12), MP4_TRACK_ID);
	ck_assert_uint_eq(be32(b + 16), 1767225600u + 2208988800u);
	ck_assert_uint_eq(be32(b + 20), 1u << 30);		/* 0.25 s */
	ck_assert_uint_eq(be64(b + 24), 123456789);
	/* The moof follows, its data offset still counted from itself. */
	b = find_box(buf, (size_t)n, "moof/traf/trun", &bs);
	ck_assert_uint_eq(be32(b + 16), (uint32_t)(be32(buf + 32) + 8));
}
END_TEST

START_TEST(test_fragment_refuses)
{
	static const uint8_t only_ps[] = { 0, 0, 0, 2, 0x09, 0x10, 0, 0, 0,
	    1, 0x0c };
	/* Annex-B, not length-prefixed; a length past the end; a unit
	 * with the forbidden bit */
	static const uint8_t raw[] = { 0, 0, 0, 1, 0x65, 0x88, 0x80 };
	static const uint8_t cut[] = { 0, 0, 0, 9, 0x65, 0x88, 0x80 };
	static const uint8_t forbidden[] = { 0, 0, 0, 2, 0xe5, 0x88 };
	struct mp4_sample s = { only_ps, sizeof(only_ps), 3000, 1 };
	struct mp4_fragment fr = { 1, 0, &s, 1, 0 };
	uint8_t buf[256];

	ck_assert_int_eq(mp4_write_fragment(buf, sizeof(buf), &fr), -EINVAL);
	s.au = raw;
	s.au_len = sizeof(raw);
	ck_assert_int_eq(mp4_write_fragment(buf, sizeof(buf), &fr), -EBADMSG);
	s.au = cut;
	s.au_len = sizeof(cut);
	ck_assert_int_eq(mp4_write_fragment(buf, sizeof(buf), &fr), -EBADMSG);
	s.au = forbidden;
	s.au_len = sizeof(forbidden);
	ck_assert_int_eq(mp4_write_fragment(buf, sizeof(buf), &fr), -EBADMSG);
	s.au_len = 0;
	ck_assert_int_eq(mp4_write_fragment(buf, sizeof(buf), &fr), -EBADMSG);
	fr.nsamples = 0;
	ck_assert_int_eq(mp4_write_fragment(buf, sizeof(buf), &fr), -EINVAL);
	s.au = NULL;
	fr.nsamples = 1;
	ck_assert_int_eq(mp4_write_fragment(buf, sizeof(buf), &fr), -EBADMSG);
}
END_TEST

START_TEST(test_au_helpers)
{
	static const uint8_t key[] = { 0, 0, 0, 2, 0x09, 0x10, 0, 0, 0, 4,
	    0x67, 0x42, 0xc0, 0x0d, 0, 0, 0, 2, 0x68, 0xce, 0, 0, 0, 2, 0x65,
	    0x88 };
	static const uint8_t p[] = { 0, 0, 0, 2, 0x41, 0x9a };
	const uint8_t *sps, *pps;
	size_t sl, pl;

	ck_assert_int_eq(mp4_au_is_idr(key, sizeof(key)), 1);
	ck_assert_int_eq(mp4_au_is_idr(p, sizeof(p)), 0);
	ck_assert_int_eq(mp4_au_is_idr(key, sizeof(key) - 3), 0);
	ck_assert_int_eq(mp4_au_parameter_sets(key, sizeof(key), &sps, &sl,
	    &pps, &pl), 0);
	ck_assert_ptr_eq(sps, key + 10);
	ck_assert_uint_eq(sl, 4);
	ck_assert_ptr_eq(pps, key + 18);
	ck_assert_uint_eq(pl, 2);
	ck_assert_int_eq(mp4_au_parameter_sets(p, sizeof(p), &sps, &sl, &pps,
	    &pl), -ENOENT);
}
END_TEST

/* ----------------------------------------------------------- timeline */

#define MS	1000000ull

START_TEST(test_timeline_steady)
{
	struct mp4_timeline tl = { 0, 0, 0, 0 };
	uint64_t dts, prev = 0, t0 = 5000 * MS;
	uint32_t d;

	mp4_timeline_next(&tl, t0, &dts, &d);
	ck_assert_uint_eq(dts, 5000 * 90);
	ck_assert_uint_eq(d, MP4_DURATION_DEFAULT);
	for (int i = 1; i < 10; i++) {
		prev = dts;
		mp4_timeline_next(&tl, t0 + (uint64_t)i * 40 * MS, &dts, &d);
		ck_assert_uint_eq(dts - prev, 3600);	/* 25 fps */
		ck_assert_uint_eq(d, 3600);
	}
}
END_TEST

/* Jitter: decode times strictly increasing whatever the capture times;
 * a gap is placed by the decode time and does not become the rate. */
START_TEST(test_timeline_jitter_and_gaps)
{
	static const int64_t offsets_ms[] = { 0, 33, 66, 66, 60, 100, 2100,
	    2133, 2166 };
	struct mp4_timeline tl = { 0, 0, 0, 0 };
	uint64_t dts, prev = 0;
	uint32_t d;

	for (size_t i = 0; i < sizeof(offsets_ms) / sizeof(offsets_ms[0]);
	    i++) {
		mp4_timeline_next(&tl, (uint64_t)(1000 + offsets_ms[i]) * MS,
		    &dts, &d);
		if (i > 0)
			ck_assert_uint_gt(dts, prev);
		ck_assert_uint_ge(d, MP4_DURATION_MIN);
		ck_assert_uint_le(d, MP4_DURATION_MAX);
		if (i == 6) {
			/* 2 s later: placed there, duration still ~1/30 s */
			ck_assert_uint_eq(dts, 3100 * 90);
			ck_assert_uint_lt(d, MP4_TIMESCALE / 5);
		}
		prev = dts;
	}
	ck_assert_uint_eq(d, 33 * 90);
}
END_TEST

/* With the nominal rate: jitter within a quarter frame lands on the grid,
 * gaps keep it, a source that is off by more re-anchors it. */
START_TEST(test_timeline_grid)
{
	/* 30 fps: 3000 ticks; capture times in microseconds. */
	static const struct {
		uint64_t us;
		uint64_t want;	/* ticks after the first frame */
		uint32_t dur;
	} steps[] = {
		{ 0, 0, 3000 },
		{ 33000, 3000, 3000 },		/* 333 us early */
		{ 67500, 6000, 3000 },		/* 833 us late */
		{ 100000, 9000, 3000 },
		{ 233333, 21000, 12000 },	/* three frames lost */
		{ 276000, 24840, 3840 },	/* 9 ms late: off the grid */
		{ 309333, 27840, 3000 },	/* on the new grid */
		{ 342000, 30840, 3000 },
	};
	struct mp4_timeline tl = { mp4_frame_ticks(30000), 0, 0, 0 };
	uint64_t base = 7200ull * 90000, dts;
	uint32_t d;

	ck_assert_uint_eq(tl.tl_nominal, 3000);
	ck_assert_uint_eq(mp4_frame_ticks(29970), 3003);
	ck_assert_uint_eq(mp4_frame_ticks(0), 0);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		mp4_timeline_next(&tl, 7200ull * 1000000000 + steps[i].us * 1000,
		    &dts, &d);
		ck_assert_msg(dts - base == steps[i].want && d == steps[i].dur,
		    "step %zu: %llu %u", i, (unsigned long long)(dts - base), d);
	}
}
END_TEST

static Suite *
mp4_suite(void)
{
	Suite *s = suite_create("mp4");
	TCase *tc = tcase_create("writer");
	tcase_add_test(tc, test_init_segment);
	tcase_add_test(tc, test_init_high_profile);
	tcase_add_test(tc, test_init_refuses);
	tcase_add_test(tc, test_write_within_capacity);
	tcase_add_test(tc, test_fragment_layout);
	tcase_add_test(tc, test_fragment_prft);
	tcase_add_test(tc, test_fragment_refuses);
	tcase_add_test(tc, test_au_helpers);
	tcase_add_test(tc, test_timeline_steady);
	tcase_add_test(tc, test_timeline_jitter_and_gaps);
	tcase_add_test(tc, test_timeline_grid);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(mp4_suite());
}
