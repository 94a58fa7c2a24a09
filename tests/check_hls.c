/*
 * check_hls.c - the LL-HLS decisions and text (server/hls.c): names,
 * delivery directives, the window's constants, where parts and segments
 * end (tables, and a simulated source with jitter, late and lost
 * frames), whether a blocking reload is answered, and the playlist's
 * exact text.  Real players judge the whole in
 * tests/integration/test_hls.py.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../server/hls.h"
#include "../server/mp4.h"
#include "testutil.h"

/* ------------------------------------------------------------ names */

START_TEST(test_names_round_trip)
{
	static const struct hls_name names[] = {
		{ HLS_FILE_INIT, 0, 0, 0, 0x0123456789abcdefull },
		{ HLS_FILE_PART, 0xfedcba9876543210ull, 1, 0, 0 },
		{ HLS_FILE_PART, 7, UINT64_MAX, 0, 0 },
		{ HLS_FILE_SEGMENT, 0xb2e835179e04a928ull, 31, 60, 0 },
		{ HLS_FILE_SEGMENT, 1, 5, 5, 0 },
	};
	static const char *const text[] = {
		"init-0123456789abcdef.mp4",
		"pfedcba9876543210-1.m4s",
		"p0000000000000007-18446744073709551615.m4s",
		"sb2e835179e04a928-31-60.m4s",
		"s0000000000000001-5-5.m4s",
	};
	char buf[HLS_NAME_MAX];
	struct hls_name n;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		ck_assert_int_eq(hls_name_format(&names[i], buf, sizeof(buf)),
		    (int)strlen(text[i]));
		ck_assert_str_eq(buf, text[i]);
		ck_assert_int_eq(hls_name_parse(buf, strlen(buf), &n), 0);
		ck_assert_int_eq(n.kind, names[i].kind);
		ck_assert_uint_eq(n.generation, names[i].generation);
		ck_assert_uint_eq(n.first, names[i].first);
		ck_assert_uint_eq(n.last, names[i].last);
		ck_assert_uint_eq(n.hash, names[i].hash);
	}
	/* Too small a buffer, sequences that cannot be names. */
	ck_assert_int_eq(hls_name_format(&names[3], buf, 10), -EINVAL);
	n = (struct hls_name){ HLS_FILE_SEGMENT, 1, 5, 4, 0 };
	ck_assert_int_eq(hls_name_format(&n, buf, sizeof(buf)), -EINVAL);
	n = (struct hls_name){ HLS_FILE_PART, 1, 0, 0, 0 };
	ck_assert_int_eq(hls_name_format(&n, buf, sizeof(buf)), -EINVAL);
	n = (struct hls_name){ HLS_FILE_NONE, 1, 1, 1, 0 };
	ck_assert_int_eq(hls_name_format(&n, buf, sizeof(buf)), -EINVAL);
}
END_TEST

START_TEST(test_names_refused)
{
	static const char *const bad[] = {
		"", "init-.mp4", "init-0123456789ABCDEF.mp4",
		"init-0123456789abcdef.mp4x", "init-0123456789abcde.mp4",
		"pfedcba9876543210-0.m4s", "pfedcba9876543210-01.m4s",
		"pfedcba9876543210-1.mp4", "pfedcba9876543210-1",
		"pfedcba987654321-1.m4s", "pfedcba9876543210--1.m4s",
		"pfedcba9876543210-+1.m4s", "pfedcba9876543210-1 .m4s",
		"p fedcba9876543210-1.m4s", "qfedcba9876543210-1.m4s",
		"pfedcba9876543210-18446744073709551616.m4s",
		"sfedcba9876543210-2-1.m4s", "sfedcba9876543210-1.m4s",
		"sfedcba9876543210-1-.m4s", "sfedcba9876543210-1-2-3.m4s",
		"pfedcba9876543210-1.m4s/", "../pfedcba9876543210-1.m4s",
		"stream", "index.html",
	};
	struct hls_name n;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(hls_name_parse(bad[i], strlen(bad[i]), &n) ==
		    -EINVAL, "%s parsed", bad[i]);
		ck_assert_int_eq(n.kind, HLS_FILE_NONE);
	}
	/* The length given is what counts, not a NUL. */
	ck_assert_int_eq(hls_name_parse("pfedcba9876543210-12.m4s", 22, &n),
	    -EINVAL);
}
END_TEST

START_TEST(test_hash)
{
	/* FNV-1a's published values for "" and "a". */
	ck_assert_uint_eq(hls_hash("", 0), 0xcbf29ce484222325ull);
	ck_assert_uint_eq(hls_hash("a", 1), 0xaf63dc4c8601ec8cull);
}
END_TEST

/* ------------------------------------------------------- directives */

START_TEST(test_directives)
{
	static const struct {
		const char *query;
		int rc, has_msn, has_part, skip;
		uint64_t msn, part;
	} t[] = {
		{ NULL, 0, 0, 0, 0, 0, 0 },
		{ "", 0, 0, 0, 0, 0, 0 },
		{ "_HLS_msn=12", 0, 1, 0, 0, 12, 0 },
		{ "_HLS_msn=12&_HLS_part=3", 0, 1, 1, 0, 12, 3 },
		{ "_HLS_part=3&_HLS_msn=12", 0, 1, 1, 0, 12, 3 },
		{ "x=1&_HLS_msn=0&_HLS_part=0&y", 0, 1, 1, 0, 0, 0 },
		{ "_HLS_msn=007", 0, 1, 0, 0, 7, 0 },
		{ "_HLS_msn=18446744073709551615", 0, 1, 0, 0, UINT64_MAX, 0 },
		{ "_HLS_msn=1&_HLS_skip=YES", 0, 1, 0, 1, 1, 0 },
		{ "_HLS_skip=v2", 0, 0, 0, 1, 0, 0 },
		{ "_HLS_skip=yes", 0, 0, 0, 0, 0, 0 },
		{ "_HLS_skip", 0, 0, 0, 0, 0, 0 },
		{ "_HLS_part=3", -EINVAL, 0, 0, 0, 0, 0 },
		{ "_HLS_msn=", -EINVAL, 0, 0, 0, 0, 0 },
		{ "_HLS_msn", -EINVAL, 0, 0, 0, 0, 0 },
		{ "_HLS_msn=-1", -EINVAL, 0, 0, 0, 0, 0 },
		{ "_HLS_msn=+1", -EINVAL, 0, 0, 0, 0, 0 },
		{ "_HLS_msn=1.0", -EINVAL, 0, 0, 0, 0, 0 },
		{ "_HLS_msn=0x10", -EINVAL, 0, 0, 0, 0, 0 },
		{ "_HLS_msn=18446744073709551616", -EINVAL, 0, 0, 0, 0, 0 },
		{ "_HLS_msn=000000000000000000001", -EINVAL, 0, 0, 0, 0, 0 },
		{ "_HLS_msn=1&_HLS_part=a", -EINVAL, 0, 0, 0, 0, 0 },
		{ "_HLS_msn=1%30", -EINVAL, 0, 0, 0, 0, 0 },
	};
	struct hls_directives d;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = hls_directives_parse(t[i].query, &d);

		ck_assert_msg(rc == t[i].rc, "%s: %d", t[i].query, rc);
		if (rc != 0)
			continue;
		ck_assert_int_eq(d.has_msn, t[i].has_msn);
		ck_assert_int_eq(d.has_part, t[i].has_part);
		ck_assert_int_eq(d.skip, t[i].skip);
		ck_assert_uint_eq(d.msn, t[i].msn);
		ck_assert_uint_eq(d.part, t[i].part);
	}
}
END_TEST

/* -------------------------------------------------------- constants */

START_TEST(test_constants)
{
	static const struct {
		uint32_t fps_milli, gop;
		uint32_t interval, nominal, target, target_s;
	} t[] = {
		/* 10 frames of 1/30 s, 10 % slack; a 1 s GOP is 1 s */
		{ 30000, 30, 3000, 30000, 33000, 1 },
		{ 25000, 25, 3600, 28800, 31680, 1 },
		{ 25000, 50, 3600, 28800, 31680, 2 },
		{ 60000, 60, 1500, 30000, 33000, 1 },
		{ 29970, 30, 3003, 30030, 33033, 1 },
		{ 15000, 15, 6000, 30000, 33000, 1 },
		{ 10000, 10, 9000, 27000, 29700, 1 },
		/* 1.4 s still rounds to 1, 1.5 s to 2 */
		{ 10000, 14, 9000, 27000, 29700, 1 },
		{ 10000, 15, 9000, 27000, 29700, 2 },
		{ 5000, 10, 18000, 36000, 39600, 2 },
		/* one frame a second: a part is a frame, the target holds it */
		{ 1000, 1, 90000, 90000, 99000, 2 },
		/* nothing known: 30 fps, and a target of 2 s */
		{ 0, 0, 3000, 30000, 33000, 2 },
		{ 30000, 0, 3000, 30000, 33000, HLS_TARGET_DEFAULT },
		{ 30000, 300, 3000, 30000, 33000, 10 },
	};
	uint32_t iv, nominal, target, target_s;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		hls_constants(t[i].fps_milli, t[i].gop, &iv, &nominal, &target,
		    &target_s);
		ck_assert_msg(iv == t[i].interval && nominal == t[i].nominal &&
		    target == t[i].target && target_s == t[i].target_s,
		    "%u fps/1000, GOP %u: %u %u %u %u", t[i].fps_milli,
		    t[i].gop, iv, nominal, target, target_s);
		/* A regular part is within the draft's 85-100 %. */
		ck_assert_uint_ge((uint64_t)nominal * 100, (uint64_t)target * 85);
		ck_assert_uint_le(nominal, target);
	}
	ck_assert_uint_eq(hls_advance_part_limit(33000), 8);
	ck_assert_uint_eq(hls_advance_part_limit(18000), 15);
	ck_assert_uint_eq(hls_advance_part_limit(90000), 3);
	ck_assert_uint_eq(hls_advance_part_limit(0), 3);
}
END_TEST

/* ---------------------------------------------------------- cutting */

static struct hls_cutter
cutter(void)
{
	struct hls_cutter c;

	memset(&c, 0, sizeof(c));
	c.interval = 3000;
	c.part_nominal = 30000;
	c.part_target = 33000;
	return c;
}

START_TEST(test_cut_table)
{
	struct hls_cutter c = cutter();

	/* Nothing open: a keyframe starts, anything else waits. */
	ck_assert_int_eq(hls_cut_decide(&c, 100, 0), HLS_CUT_SKIP);
	ck_assert_int_eq(hls_cut_decide(&c, 100, 1), HLS_CUT_START);

	c.open = 1;
	c.part_start = 0;
	c.last = 27000;
	c.nframes = 10;
	/* Frame 10 of a 30 fps part: the part is whole. */
	ck_assert_int_eq(hls_cut_decide(&c, 30000, 0), HLS_CUT_PART);
	/* Half a frame early counts, more does not. */
	ck_assert_int_eq(hls_cut_decide(&c, 28500, 0), HLS_CUT_PART);
	ck_assert_int_eq(hls_cut_decide(&c, 28499, 0), HLS_CUT_APPEND);
	/* A frame missing: 11 intervals, still within PART-TARGET. */
	ck_assert_int_eq(hls_cut_decide(&c, 33000, 0), HLS_CUT_PART);
	/* Later still: the last frame goes to the next part. */
	ck_assert_int_eq(hls_cut_decide(&c, 33001, 0), HLS_CUT_MOVE_LAST);
	/* A keyframe ends the segment, and moves the last frame first if
	 * the part would be too long. */
	ck_assert_int_eq(hls_cut_decide(&c, 30000, 1), HLS_CUT_SEGMENT);
	ck_assert_int_eq(hls_cut_decide(&c, 12000, 1), HLS_CUT_SEGMENT);
	ck_assert_int_eq(hls_cut_decide(&c, 34000, 1), HLS_CUT_MOVE_LAST);
	/* A stall: longer than a part between two frames. */
	ck_assert_int_eq(hls_cut_decide(&c, 27000 + 33001, 0), HLS_CUT_STALL);
	ck_assert_int_eq(hls_cut_decide(&c, 27000 + 33001, 1), HLS_CUT_STALL);
	ck_assert_int_eq(hls_cut_decide(&c, 27000 + 33000, 0),
	    HLS_CUT_MOVE_LAST);

	/* A part of one frame cannot lose its last. */
	c.part_start = c.last = 27000;
	c.nframes = 1;
	ck_assert_int_eq(hls_cut_decide(&c, 27000 + 30000, 0), HLS_CUT_PART);
	ck_assert_int_eq(hls_cut_decide(&c, 27000 + 3000, 0), HLS_CUT_APPEND);

	/* The last part a segment may have ends it. */
	c.part_start = 0;
	c.last = 27000;
	c.nframes = 10;
	c.seg_parts = HLS_PARTS_MAX - 2;
	ck_assert_int_eq(hls_cut_decide(&c, 30000, 0), HLS_CUT_BREAK);
	ck_assert_int_eq(hls_cut_decide(&c, 3000, 0), HLS_CUT_APPEND);
	ck_assert_int_eq(hls_cut_decide(&c, 30000, 1), HLS_CUT_SEGMENT);
	/* ... and a stall then too, unless a keyframe starts another. */
	ck_assert_int_eq(hls_cut_decide(&c, 27000 + 40000, 0), HLS_CUT_BREAK);
	ck_assert_int_eq(hls_cut_decide(&c, 27000 + 40000, 1), HLS_CUT_STALL);
}
END_TEST

/*
 * A simulated source through the decisions, as hlsstream.c applies them:
 * parts are never longer than PART-TARGET, every keyframe starts a
 * segment, and a regular source gives parts of exactly 10 frames.
 */
struct sim {
	struct hls_cutter c;
	uint64_t pend[1024];
	unsigned npend;
	unsigned parts, short_parts, breaks, stalls, segments;
	uint64_t max_part;
	int last_key;
};

static void
sim_publish(struct sim *s, unsigned n, uint64_t end)
{
	uint64_t d = end - s->pend[0];

	ck_assert_uint_gt(n, 0);
	ck_assert_uint_le(d, s->c.part_target);
	if (d > s->max_part)
		s->max_part = d;
	if (d * 100 < (uint64_t)s->c.part_target * 85)
		s->short_parts++;
	s->parts++;
	s->c.seg_parts++;
	memmove(s->pend, s->pend + n, (s->npend - n) * sizeof(s->pend[0]));
	s->npend -= n;
	s->c.nframes = s->npend;
	if (s->npend > 0) {
		s->c.part_start = s->pend[0];
		s->c.last = s->pend[s->npend - 1];
	}
}

static void
sim_add(struct sim *s, uint64_t dts)
{
	s->pend[s->npend++] = dts;
	s->c.nframes = s->npend;
	s->c.last = dts;
	if (s->npend == 1)
		s->c.part_start = dts;
}

static void
sim_frame(struct sim *s, uint64_t dts, int key)
{
	for (int guard = 0; guard < 8; guard++) {
		switch (hls_cut_decide(&s->c, dts, key)) {
		case HLS_CUT_SKIP:
			return;
		case HLS_CUT_START:
			s->c.open = 1;
			s->c.seg_parts = 0;
			s->segments++;
			sim_add(s, dts);
			return;
		case HLS_CUT_APPEND:
			sim_add(s, dts);
			return;
		case HLS_CUT_PART:
			sim_publish(s, s->npend, dts);
			sim_add(s, dts);
			return;
		case HLS_CUT_SEGMENT:
			sim_publish(s, s->npend, dts);
			s->c.open = 0;
			continue;
		case HLS_CUT_MOVE_LAST:
			sim_publish(s, s->npend - 1, s->pend[s->npend - 1]);
			continue;
		case HLS_CUT_STALL: {
			uint64_t end = s->c.part_start + s->c.part_target;

			sim_publish(s, s->npend, end < dts ? end : dts);
			s->stalls++;
			if (key) {
				s->c.open = 0;
				continue;
			}
			sim_add(s, dts);
			return;
		}
		case HLS_CUT_BREAK:
			sim_publish(s, s->npend, s->c.last + s->c.interval);
			s->c.open = 0;
			s->breaks++;
			continue;
		}
	}
	ck_abort_msg("no decision sticks");
}

START_TEST(test_cut_regular_source)
{
	struct sim s;
	uint64_t i;

	memset(&s, 0, sizeof(s));
	s.c = cutter();
	for (i = 0; i < 300; i++)
		sim_frame(&s, 90000 + i * 3000, i % 30 == 0);
	/* 10 segments of 3 parts of exactly 10 frames. */
	ck_assert_uint_eq(s.segments, 10);
	ck_assert_uint_eq(s.parts, 29);		/* the last is still open */
	ck_assert_uint_eq(s.max_part, 30000);
	ck_assert_uint_eq(s.short_parts, 0);
	ck_assert_uint_eq(s.breaks, 0);
	ck_assert_uint_eq(s.stalls, 0);
}
END_TEST

START_TEST(test_cut_jitter_and_loss)
{
	struct sim s;
	uint64_t dts = 90000, i;
	unsigned seed = 12345, lost = 0;

	memset(&s, 0, sizeof(s));
	s.c = cutter();
	for (i = 0; i < 20000; i++) {
		uint64_t step = 3000;

		seed = seed * 1103515245u + 12345u;
		/* One frame in 20 late by up to 3 intervals (an encoder that
		 * could not keep up), one in 500 a stall of 0.5 s. */
		if (seed % 20 == 0) {
			step += 3000 * (seed >> 8) % 3 + 1;
			lost++;
		} else if (seed % 500 == 1)
			step = 45000;
		dts += step;
		sim_frame(&s, dts, i % 30 == 0);
	}
	/* sim_publish() asserted the ceiling for every part; stalls went
	 * on in the same segment; short parts (below 85 %) stay a small
	 * minority. */
	ck_assert_uint_gt(s.stalls, 0);
	ck_assert_uint_eq(s.breaks, 0);
	ck_assert_uint_lt(s.short_parts * 20, s.parts);
	ck_assert_uint_gt(lost, 0);
}
END_TEST

/* --------------------------------------------------------- windows */

/*
 * A window of n complete segments of 3 parts of 1/3 s, the newest
 * segment in progress with `open` parts, numbered from msn.
 */
static void
window(struct hls_window *w, unsigned n, unsigned open, uint64_t msn)
{
	unsigned i, j;

	memset(w, 0, sizeof(*w));
	w->target_s = 1;
	w->part_target = 33000;
	w->first = HLS_SEGMENTS_MAX - 1;	/* the ring wraps */
	for (i = 0; i < n + 1; i++) {
		struct hls_segment *s = HLS_SEG(w, i);

		w->count++;
		memset(s, 0, sizeof(*s));
		s->msn = msn + i;
		s->dsn = 500;
		s->generation = 0xab;
		s->first_seq = 1 + 30 * i;
		s->last_seq = s->first_seq;
		s->pdt_ns = 1764932000000000000ull + i * 1000000000ull;
		s->init_hash = 0x1234;
		s->complete = i < n;
		for (j = 0; j < (i < n ? 3 : open); j++) {
			s->parts[j].first_seq = s->first_seq + 10 * j;
			s->parts[j].nframes = 10;
			s->parts[j].duration = 30000;
			s->parts[j].independent = j == 0;
			s->nparts++;
			s->duration += 30000;
			s->last_seq = s->first_seq + 10 * j + 9;
		}
		if (open == 0 && i == n)
			s->last_seq = s->first_seq;
	}
	w->hint = 1;
	w->hint_generation = 0xab;
	w->hint_seq = HLS_SEG(w, n)->nparts > 0 ?
	    HLS_SEG(w, n)->last_seq + 1 : HLS_SEG(w, n)->first_seq;
}

static enum hls_block
decide(const struct hls_window *w, int has_msn, uint64_t msn, int has_part,
    uint64_t part)
{
	struct hls_directives d = { has_msn, has_part, 0, msn, part };

	return hls_block_decide(w, &d);
}

START_TEST(test_block)
{
	struct hls_window w;

	/* Segments 100..104 complete, 105 with parts 0 and 1. */
	window(&w, 5, 2, 100);
	ck_assert_int_eq(decide(&w, 0, 0, 0, 0), HLS_BLOCK_READY);
	ck_assert_int_eq(decide(&w, 1, 104, 0, 0), HLS_BLOCK_READY);
	ck_assert_int_eq(decide(&w, 1, 105, 0, 0), HLS_BLOCK_WAIT);
	ck_assert_int_eq(decide(&w, 1, 107, 0, 0), HLS_BLOCK_WAIT);
	ck_assert_int_eq(decide(&w, 1, 108, 0, 0), HLS_BLOCK_TOO_FAR);
	/* Parts: those published, the next, the Advance Part Limit (8). */
	ck_assert_int_eq(decide(&w, 1, 105, 1, 1), HLS_BLOCK_READY);
	ck_assert_int_eq(decide(&w, 1, 105, 1, 2), HLS_BLOCK_WAIT);
	ck_assert_int_eq(decide(&w, 1, 105, 1, 9), HLS_BLOCK_WAIT);
	ck_assert_int_eq(decide(&w, 1, 105, 1, 10), HLS_BLOCK_TOO_FAR);
	ck_assert_int_eq(decide(&w, 1, 106, 1, 0), HLS_BLOCK_WAIT);
	ck_assert_int_eq(decide(&w, 1, 106, 1, 6), HLS_BLOCK_WAIT);
	ck_assert_int_eq(decide(&w, 1, 106, 1, 7), HLS_BLOCK_TOO_FAR);
	/* Old numbers, from before a restart: answered at once. */
	ck_assert_int_eq(decide(&w, 1, 3, 1, 0), HLS_BLOCK_READY);
	ck_assert_int_eq(decide(&w, 1, 3, 0, 0), HLS_BLOCK_READY);
	/* Past a complete segment's last part: part 0 of the next. */
	ck_assert_int_eq(decide(&w, 1, 104, 1, 3), HLS_BLOCK_READY);
	ck_assert_int_eq(decide(&w, 1, 104, 1, 50), HLS_BLOCK_READY);

	/* The newest segment has no part yet: its first is awaited. */
	window(&w, 5, 0, 100);
	ck_assert_int_eq(decide(&w, 1, 104, 1, 2), HLS_BLOCK_READY);
	ck_assert_int_eq(decide(&w, 1, 104, 1, 3), HLS_BLOCK_WAIT);
	ck_assert_int_eq(decide(&w, 1, 105, 1, 0), HLS_BLOCK_WAIT);
	ck_assert_int_eq(decide(&w, 1, 105, 0, 0), HLS_BLOCK_WAIT);

	/* Nothing complete yet (a start, a restart): everything waits, even
	 * for a part that is there (a playlist of parts alone is empty to
	 * hls.js). */
	window(&w, 0, 1, 100);
	ck_assert_int_eq(decide(&w, 0, 0, 0, 0), HLS_BLOCK_WAIT);
	ck_assert_int_eq(decide(&w, 1, 100, 1, 0), HLS_BLOCK_WAIT);
	ck_assert_int_eq(decide(&w, 1, 3, 1, 0), HLS_BLOCK_WAIT);
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(decide(&w, 0, 0, 0, 0), HLS_BLOCK_WAIT);
	ck_assert_int_eq(decide(&w, 1, 5, 1, 0), HLS_BLOCK_WAIT);
}
END_TEST

START_TEST(test_listed)
{
	struct hls_window w;

	/* 6 s of complete segments are listed, of more. */
	window(&w, 10, 1, 100);
	ck_assert_uint_eq(hls_window_listed(&w), 4);
	/* Fewer: all of them. */
	window(&w, 3, 1, 100);
	ck_assert_uint_eq(hls_window_listed(&w), 0);
}
END_TEST

static const char playlist_text[] =
	"#EXTM3U\n"
	"#EXT-X-VERSION:6\n"
	"#EXT-X-TARGETDURATION:1\n"
	"#EXT-X-MEDIA-SEQUENCE:100\n"
	"#EXT-X-DISCONTINUITY-SEQUENCE:500\n"
	"#EXT-X-INDEPENDENT-SEGMENTS\n"
	"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.10000\n"
	"#EXT-X-PART-INF:PART-TARGET=0.36667\n"
	"#EXT-X-MAP:URI=\"hls/init-0000000000001234.mp4\"\n"
	"#EXT-X-PROGRAM-DATE-TIME:2025-12-05T10:53:20.000Z\n"
	"#EXTINF:1.00000,\n"
	"hls/s00000000000000ab-1-30.m4s\n"
	"#EXT-X-PROGRAM-DATE-TIME:2025-12-05T10:53:21.000Z\n"
	"#EXT-X-PART:DURATION=0.33333,URI=\"hls/p00000000000000ab-31.m4s\","
	"INDEPENDENT=YES\n"
	"#EXT-X-PART:DURATION=0.33333,URI=\"hls/p00000000000000ab-41.m4s\"\n"
	"#EXT-X-PART:DURATION=0.33333,URI=\"hls/p00000000000000ab-51.m4s\"\n"
	"#EXTINF:1.00000,\n"
	"hls/s00000000000000ab-31-60.m4s\n"
	"#EXT-X-PROGRAM-DATE-TIME:2025-12-05T10:53:22.000Z\n"
	"#EXT-X-PART:DURATION=0.33333,URI=\"hls/p00000000000000ab-61.m4s\","
	"INDEPENDENT=YES\n"
	"#EXT-X-PART:DURATION=0.33333,URI=\"hls/p00000000000000ab-71.m4s\"\n"
	"#EXT-X-PART:DURATION=0.33333,URI=\"hls/p00000000000000ab-81.m4s\"\n"
	"#EXTINF:1.00000,\n"
	"hls/s00000000000000ab-61-90.m4s\n"
	"#EXT-X-PROGRAM-DATE-TIME:2025-12-05T10:53:23.000Z\n"
	"#EXT-X-PART:DURATION=0.33333,URI=\"hls/p00000000000000ab-91.m4s\","
	"INDEPENDENT=YES\n"
	"#EXT-X-PART:DURATION=0.33333,URI=\"hls/p00000000000000ab-101.m4s\"\n"
	"#EXT-X-PART:DURATION=0.33333,URI=\"hls/p00000000000000ab-111.m4s\"\n"
	"#EXTINF:1.00000,\n"
	"hls/s00000000000000ab-91-120.m4s\n"
	"#EXT-X-DISCONTINUITY\n"
	"#EXT-X-MAP:URI=\"hls/init-0000000000005678.mp4\"\n"
	"#EXT-X-PROGRAM-DATE-TIME:2025-12-05T10:53:24.000Z\n"
	"#EXT-X-PART:DURATION=0.33333,URI=\"hls/p00000000000000cd-121.m4s\","
	"INDEPENDENT=YES\n"
	"#EXT-X-PART:DURATION=0.33333,URI=\"hls/p00000000000000cd-131.m4s\"\n"
	"#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"hls/p00000000000000cd-141.m4s\"\n";

START_TEST(test_playlist_text)
{
	struct hls_window w;
	struct hls_segment *s;
	char buf[4096];
	ssize_t n;

	/* Four segments, then a new ring (another generation and init
	 * segment: a discontinuity) with two parts so far.  The oldest
	 * segment ends more than three target durations before the end:
	 * its parts are not listed. */
	window(&w, 4, 2, 100);
	s = HLS_SEG(&w, 4);
	s->generation = 0xcd;
	s->discontinuity = 1;
	s->dsn = 501;
	s->init_hash = 0x5678;
	w.hint_generation = 0xcd;
	n = hls_playlist_write(NULL, 0, &w);
	ck_assert_int_eq(hls_playlist_write(buf, sizeof(buf), &w), n);
	ck_assert_str_eq(buf, playlist_text);
	ck_assert_int_eq(n, (ssize_t)strlen(playlist_text));
	/* What fits of a short buffer is the text's start. */
	memset(buf, 'x', sizeof(buf));
	ck_assert_int_eq(hls_playlist_write(buf, 100, &w), n);
	ck_assert_int_eq(strlen(buf), 99);
	ck_assert_int_eq(memcmp(buf, playlist_text, 99), 0);

	/* The hint waits for a new segment's first part when that one
	 * starts with a discontinuity. */
	s->nparts = 0;
	s->duration = 0;
	w.hint_seq = 121;
	n = hls_playlist_write(buf, sizeof(buf), &w);
	ck_assert_int_gt(n, 0);
	ck_assert_ptr_null(strstr(buf, "PRELOAD-HINT"));
	s->discontinuity = 0;
	s->init_hash = 0x1234;
	s->generation = 0xab;
	w.hint_generation = 0xab;
	hls_playlist_write(buf, sizeof(buf), &w);
	ck_assert_ptr_nonnull(strstr(buf, "#EXTINF:1.00000,\n"
	    "hls/s00000000000000ab-91-120.m4s\n"
	    "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"hls/p00000000000000ab-121.m4s\"\n"));

	/* Nothing to list. */
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(hls_playlist_write(buf, sizeof(buf), &w), -EINVAL);
}
END_TEST

static Suite *
hls_suite(void)
{
	Suite *s = suite_create("hls");
	TCase *tc = tcase_create("hls");

	tcase_add_test(tc, test_names_round_trip);
	tcase_add_test(tc, test_names_refused);
	tcase_add_test(tc, test_hash);
	tcase_add_test(tc, test_directives);
	tcase_add_test(tc, test_constants);
	tcase_add_test(tc, test_cut_table);
	tcase_add_test(tc, test_cut_regular_source);
	tcase_add_test(tc, test_cut_jitter_and_loss);
	tcase_add_test(tc, test_block);
	tcase_add_test(tc, test_listed);
	tcase_add_test(tc, test_playlist_text);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(hls_suite());
}
