/*
 * check_multipart.c - the multipart/x-mixed-replace parser
 * (capture/multipart.h): the streams shmcam, ustreamer and an ESP32-CAM
 * send, each camera quirk the parser is lenient about, each limit it is
 * strict about, and the same parts whatever pieces the bytes come in
 * (every piece is an exact-size allocation, so ASan sees a read past it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "multipart.h"
#include "testutil.h"

#define PARTS_MAX	64

struct got {
	size_t		 n;
	uint8_t		*data[PARTS_MAX];
	size_t		 len[PARTS_MAX];
	uint64_t	 ts[PARTS_MAX];
	int		 ph[PARTS_MAX];
	int		 rc;		/* the last return: 0 or an error */
	size_t		 consumed;	/* bytes taken in all */
};

static const struct multipart_limits lim = {
	.max_part = 1 << 20, .max_head = 4096, .max_headers = 32,
};

static void
got_free(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->data[i]);
	memset(g, 0, sizeof(*g));
}

/*
 * Feeds s[0..len) in pieces of the sizes in steps (cycled; NULL: one
 * piece), each an exact-size copy, collecting parts until an error.
 */
static void
feed(struct multipart *mp, const void *s, size_t len, const size_t *steps,
    size_t nsteps, struct got *g)
{
	const uint8_t *p = s;
	size_t off = 0, k = 0;

	memset(g, 0, sizeof(*g));
	while (off < len) {
		size_t n = steps ? steps[k++ % nsteps] : len;
		uint8_t *piece;
		size_t used, at = 0;
		struct multipart_part part;
		int rc;

		if (n > len - off)
			n = len - off;
		piece = malloc(n);
		ck_assert_ptr_nonnull(piece);
		memcpy(piece, p + off, n);
		while (at < n || (at == n && n == 0)) {
			memset(&part, 0, sizeof(part));
			rc = multipart_feed(mp, piece + at, n - at, &used,
			    &part);
			ck_assert_uint_le(used, n - at);
			at += used;
			g->consumed += used;
			if (rc < 0) {
				g->rc = rc;
				free(piece);
				return;
			}
			if (rc == 0) {
				ck_assert_uint_eq(at, n);
				break;
			}
			ck_assert_uint_lt(g->n, PARTS_MAX);
			g->data[g->n] = malloc(part.length);
			memcpy(g->data[g->n], part.data, part.length);
			g->len[g->n] = part.length;
			g->ts[g->n] = part.timestamp_ns;
			g->ph[g->n] = part.placeholder;
			g->n++;
		}
		free(piece);
		off += n;
	}
}

static void
parse(const char *boundary, const void *s, size_t len, struct got *g)
{
	struct multipart mp;

	ck_assert_int_eq(multipart_init(&mp, boundary, &lim), 0);
	feed(&mp, s, len, NULL, 0, g);
	multipart_free(&mp);
}

static void
assert_part(const struct got *g, size_t i, const char *want)
{
	ck_assert_uint_gt(g->n, i);
	ck_assert_uint_eq(g->len[i], strlen(want));
	ck_assert_mem_eq(g->data[i], want, strlen(want));
}

/* What shmcam-server (and mjpg-streamer, ustreamer) send. */
START_TEST(shmcam_server_stream)
{
	static const char s[] =
	    "--boundarydonotcross\r\n"
	    "Content-Type: image/jpeg\r\n"
	    "Content-Length: 12\r\n"
	    "X-Timestamp: 1700000000.123456\r\n"
	    "\r\n"
	    "\xff\xd8one\r\n--x\xff\xd9"
	    "\r\n--boundarydonotcross\r\n"
	    "Content-Type: image/jpeg\r\n"
	    "Content-Length: 8\r\n"
	    "X-Timestamp: 1700000000.223456\r\n"
	    "X-Shmcam-Placeholder: offline\r\n"
	    "\r\n"
	    "\xff\xd8two-\xff\xd9"
	    "\r\n--boundarydonotcross\r\n";
	struct got g;

	parse("boundarydonotcross", s, sizeof(s) - 1, &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_uint_eq(g.n, 2);
	assert_part(&g, 0, "\xff\xd8one\r\n--x\xff\xd9");
	assert_part(&g, 1, "\xff\xd8two-\xff\xd9");
	ck_assert_uint_eq(g.ts[0], 1700000000123456000ull);
	ck_assert_uint_eq(g.ts[1], 1700000000223456000ull);
	ck_assert_int_eq(g.ph[0], 0);
	ck_assert_int_eq(g.ph[1], 1);
	ck_assert_uint_eq(g.consumed, sizeof(s) - 1);
	got_free(&g);
}
END_TEST

/*
 * The ESP32-CAM's CameraWebServer: the body starts with a line break,
 * the boundary ends each part, X-Timestamp is the seconds since the
 * board booted (not a wall clock; the parser reports it, the source
 * judges it).
 */
START_TEST(esp32_cam_stream)
{
	static const char s[] =
	    "\r\n--123456789000000000000987654321\r\n"
	    "Content-Type: image/jpeg\r\nContent-Length: 6\r\n"
	    "X-Timestamp: 52.034121\r\n\r\n"
	    "\xff\xd8" "ab\xff\xd9"
	    "\r\n--123456789000000000000987654321\r\n"
	    "Content-Type: image/jpeg\r\nContent-Length: 6\r\n"
	    "X-Timestamp: 52.134121\r\n\r\n"
	    "\xff\xd8" "cd\xff\xd9";
	struct got g;

	parse("123456789000000000000987654321", s, sizeof(s) - 1, &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_uint_eq(g.n, 2);
	assert_part(&g, 1, "\xff\xd8" "cd\xff\xd9");
	ck_assert_uint_eq(g.ts[0], 52034121000ull);
	got_free(&g);
}
END_TEST

/* The boundary with or without "--", in the body and declared. */
START_TEST(boundary_dashes)
{
	static const char *bodies[] = {
		"--frame\r\n\r\n\xff\xd8" "a\xff\xd9\r\n--frame\r\n",
		"frame\r\n\r\n\xff\xd8" "a\xff\xd9\r\nframe\r\n",
		"----frame\r\n\r\n\xff\xd8" "a\xff\xd9\r\n----frame\r\n",
	};
	static const char *declared[] = { "frame", "--frame" };
	struct got g;

	for (size_t i = 0; i < 3; i++)
		for (size_t j = 0; j < 2; j++) {
			parse(declared[j], bodies[i], strlen(bodies[i]), &g);
			ck_assert_int_eq(g.rc, 0);
			ck_assert_uint_eq(g.n, 1);
			assert_part(&g, 0, "\xff\xd8" "a\xff\xd9");
			got_free(&g);
		}
}
END_TEST

/* Nothing declared: the first "--" line is the boundary. */
START_TEST(boundary_learnt)
{
	static const char s[] = "\r\n--ipcamera  \r\nContent-Type: image/jpeg"
	    "\r\n\r\n\xff\xd8" "1\xff\xd9\r\n--ipcamera\r\n\r\n\xff\xd8" "2"
	    "\xff\xd9\r\n--ipcamera\r\n";
	struct got g;

	parse(NULL, s, sizeof(s) - 1, &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_uint_eq(g.n, 2);
	assert_part(&g, 1, "\xff\xd8" "2\xff\xd9");
	got_free(&g);
}
END_TEST

/* No Content-Length: the body runs to the next boundary, and things
 * that look a little like one do not end it. */
START_TEST(no_content_length)
{
	static const char s[] =
	    "--b\r\nContent-Type: image/jpeg\r\n\r\n"
	    "\xff\xd8\n--bx\r\n\r\n--b-\n\n--c\r\n-\n---\n\xff\xd9"
	    "\r\n--b\r\n\r\n"
	    "\xff\xd8\xff\xd9"
	    "\r\n--b \t\r\n";
	struct got g;

	parse("b", s, sizeof(s) - 1, &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_uint_eq(g.n, 2);
	assert_part(&g, 0, "\xff\xd8\n--bx\r\n\r\n--b-\n\n--c\r\n-\n---\n"
	    "\xff\xd9");
	assert_part(&g, 1, "\xff\xd8\xff\xd9");
	got_free(&g);
}
END_TEST

/* LF-only line breaks everywhere, with and without Content-Length. */
START_TEST(lf_only)
{
	static const char s[] =
	    "--b\nContent-Type: image/jpeg\nContent-Length: 4\n"
	    "X-Timestamp: 1700000001.5\n\n\xff\xd8\xff\xd9\n--b\n"
	    "Content-Type: image/jpeg\n\n\xff\xd8z\xff\xd9\n--b\n";
	struct got g;

	parse("b", s, sizeof(s) - 1, &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_uint_eq(g.n, 2);
	assert_part(&g, 0, "\xff\xd8\xff\xd9");
	assert_part(&g, 1, "\xff\xd8z\xff\xd9");
	ck_assert_uint_eq(g.ts[0], 1700000001500000000ull);
	got_free(&g);
}
END_TEST

/* A Foscam habit: the boundary line twice in a row. */
START_TEST(duplicated_boundary)
{
	static const char s[] =
	    "--ipcam\r\n--ipcam\r\nContent-Type: image/jpeg\r\n"
	    "Content-Length: 5\r\n\r\n\xff\xd8q\xff\xd9\r\n"
	    "--ipcam\r\n--ipcam\r\n--ipcam\r\nContent-Length: 5\r\n\r\n"
	    "\xff\xd8r\xff\xd9\r\n--ipcam\r\n";
	struct got g;

	parse("ipcam", s, sizeof(s) - 1, &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_uint_eq(g.n, 2);
	assert_part(&g, 0, "\xff\xd8q\xff\xd9");
	assert_part(&g, 1, "\xff\xd8r\xff\xd9");
	got_free(&g);
}
END_TEST

/* Extra headers are ignored, up to the limits. */
START_TEST(extra_headers)
{
	char s[4096];
	size_t n;
	struct got g;

	n = (size_t)snprintf(s, sizeof(s), "--b\r\n");
	for (int i = 0; i < 14; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "X-Extra-%d: %d\r\n"
		    "no colon %d\r\n", i, i, i);
	n += (size_t)snprintf(s + n, sizeof(s) - n, "Content-Length: 4\r\n"
	    "Content-Length: 4\r\nX-Timestamp: junk\r\n\r\n\xff\xd8\xff\xd9"
	    "\r\n--b\r\n");
	parse("b", s, n, &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_uint_eq(g.n, 1);
	ck_assert_uint_eq(g.ts[0], 0);	/* unreadable: none */
	got_free(&g);
}
END_TEST

START_TEST(too_many_headers)
{
	char s[4096];
	size_t n;
	struct multipart mp;
	struct got g;

	n = (size_t)snprintf(s, sizeof(s), "--b\r\n");
	for (int i = 0; i < 33; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "X-%d: %d\r\n", i,
		    i);
	ck_assert_int_eq(multipart_init(&mp, "b", &lim), 0);
	feed(&mp, s, n, NULL, 0, &g);
	ck_assert_int_eq(g.rc, -E2BIG);
	ck_assert_ptr_nonnull(strstr(mp.mp_why, "more than 32 header lines"));
	multipart_free(&mp);
	got_free(&g);
}
END_TEST

START_TEST(header_block_too_big)
{
	static char s[8192];
	static const size_t one[] = { 1 };
	struct multipart mp;
	struct got g;
	size_t n;

	/* One endless header line, and lines that add up. */
	n = (size_t)snprintf(s, sizeof(s), "--b\r\nX-Long: ");
	memset(s + n, 'a', sizeof(s) - n);
	ck_assert_int_eq(multipart_init(&mp, "b", &lim), 0);
	feed(&mp, s, sizeof(s), one, 1, &g);
	ck_assert_int_eq(g.rc, -E2BIG);
	/* Refused as soon as the line is too long, not at its end. */
	ck_assert_uint_le(g.consumed, 5 + MULTIPART_LINE_MAX + 1);
	multipart_free(&mp);
	got_free(&g);

	n = (size_t)snprintf(s, sizeof(s), "--b\r\n");
	for (int i = 0; i < 6; i++) {
		n += (size_t)snprintf(s + n, sizeof(s) - n, "X-%d: ", i);
		memset(s + n, 'v', 800);
		n += 800;
		n += (size_t)snprintf(s + n, sizeof(s) - n, "\r\n");
	}
	ck_assert_int_eq(multipart_init(&mp, "b", &lim), 0);
	feed(&mp, s, n, NULL, 0, &g);
	ck_assert_int_eq(g.rc, -E2BIG);
	ck_assert_ptr_nonnull(strstr(mp.mp_why, "header block above 4096"));
	multipart_free(&mp);
	got_free(&g);
}
END_TEST

/* A 100 MB "frame" is refused by its Content-Length, before its body. */
START_TEST(huge_content_length)
{
	static const char s[] = "--b\r\nContent-Type: image/jpeg\r\n"
	    "Content-Length: 104857600\r\n\r\n\xff\xd8";
	static const char s2[] = "--b\r\nContent-Length: "
	    "99999999999999999999999\r\n\r\n";
	struct multipart mp;
	struct got g;

	ck_assert_int_eq(multipart_init(&mp, "b", &lim), 0);
	feed(&mp, s, sizeof(s) - 1, NULL, 0, &g);
	ck_assert_int_eq(g.rc, -EMSGSIZE);
	ck_assert_str_eq(mp.mp_why, "a part of 104857600 bytes, above the "
	    "limit of 1048576 bytes");
	ck_assert_uint_lt(g.consumed, sizeof(s) - 1);
	ck_assert_ptr_null(mp.mp_buf);	/* nothing allocated for it */
	multipart_free(&mp);
	got_free(&g);

	ck_assert_int_eq(multipart_init(&mp, "b", &lim), 0);
	feed(&mp, s2, sizeof(s2) - 1, NULL, 0, &g);
	ck_assert_int_eq(g.rc, -EMSGSIZE);
	multipart_free(&mp);
	got_free(&g);
}
END_TEST

/* Without a Content-Length, a body with no boundary ends at the limit. */
START_TEST(endless_body)
{
	static const size_t steps[] = { 65536 };
	size_t len = 3u << 20;
	uint8_t *s = malloc(len);
	struct multipart mp;
	struct got g;

	ck_assert_ptr_nonnull(s);
	memcpy(s, "--b\r\n\r\n\xff\xd8", 9);
	for (size_t i = 9; i < len; i++)
		s[i] = (uint8_t)(i * 7 % 251);
	ck_assert_int_eq(multipart_init(&mp, "b", &lim), 0);
	feed(&mp, s, len, steps, 1, &g);
	ck_assert_int_eq(g.rc, -EMSGSIZE);
	ck_assert_uint_le(mp.mp_cap, 2 * lim.max_part + 4096);
	ck_assert_uint_le(g.consumed, lim.max_part + 4096);
	multipart_free(&mp);
	got_free(&g);
	free(s);
}
END_TEST

/* Junk instead of a stream: refused within the preamble's limit. */
START_TEST(garbage)
{
	size_t len = 200000;
	uint8_t *s = malloc(len);
	static const size_t steps[] = { 4093 };
	struct multipart mp;
	struct got g;

	ck_assert_ptr_nonnull(s);
	srand(7);
	for (size_t i = 0; i < len; i++)
		s[i] = (uint8_t)rand();
	ck_assert_int_eq(multipart_init(&mp, "b", &lim), 0);
	feed(&mp, s, len, steps, 1, &g);
	ck_assert_int_eq(g.rc, -EBADMSG);
	ck_assert_uint_le(g.consumed, MULTIPART_PREAMBLE_MAX + 4093);
	ck_assert_uint_eq(g.n, 0);
	multipart_free(&mp);
	got_free(&g);
	free(s);
}
END_TEST

/*
 * A Content-Length too short: the part is handed over cut (the JPEG
 * check drops it), the rest skipped up to the boundary, and the next
 * part is whole.  Too long: the part has the boundary and the next
 * part's head in it (the JPEG check trims after the EOI), and the
 * stream resynchronises at the boundary after.
 */
START_TEST(wrong_content_length)
{
	static const char shorter[] =
	    "--b\r\nContent-Length: 3\r\n\r\n\xff\xd8xyz\xff\xd9"
	    "\r\n--b\r\nContent-Length: 4\r\n\r\n\xff\xd8\xff\xd9\r\n--b\r\n";
	static const char longer[] =
	    "--b\r\nContent-Length: 12\r\n\r\n\xff\xd8\xff\xd9\r\n--b\r\n"
	    "Content-Length: 6\r\n\r\n\xff\xd8zz\xff\xd9\r\n--b\r\n"
	    "Content-Length: 4\r\n\r\n\xff\xd8\xff\xd9\r\n--b\r\n";
	struct multipart mp;
	struct got g;

	ck_assert_int_eq(multipart_init(&mp, "b", &lim), 0);
	feed(&mp, shorter, sizeof(shorter) - 1, NULL, 0, &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_uint_eq(g.n, 2);
	assert_part(&g, 0, "\xff\xd8x");
	assert_part(&g, 1, "\xff\xd8\xff\xd9");
	ck_assert_uint_eq(mp.mp_resyncs, 1);
	multipart_free(&mp);
	got_free(&g);

	ck_assert_int_eq(multipart_init(&mp, "b", &lim), 0);
	feed(&mp, longer, sizeof(longer) - 1, NULL, 0, &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_uint_eq(g.n, 2);
	assert_part(&g, 0, "\xff\xd8\xff\xd9\r\n--b\r\nC");
	assert_part(&g, 1, "\xff\xd8\xff\xd9");
	multipart_free(&mp);
	got_free(&g);
}
END_TEST

START_TEST(closing_boundary)
{
	static const char s[] = "--b\r\n\r\n\xff\xd8\xff\xd9\r\n--b--\r\n"
	    "after the end";
	struct got g;

	parse("b", s, sizeof(s) - 1, &g);
	ck_assert_int_eq(g.rc, -ESHUTDOWN);
	ck_assert_uint_eq(g.n, 1);
	got_free(&g);
}
END_TEST

/* A part with no header block: the JPEG right after the boundary, its
 * first byte alone in one piece. */
START_TEST(headerless_part)
{
	static const char s[] = "--b\r\n\xff\xd8" "abc\xff\xd9\r\n--b\r\n"
	    "\xff\xd8" "d\xff\xd9\r\n--b\r\n";
	static const size_t steps[] = { 5, 1, 20 };
	struct multipart mp;
	struct got g;

	ck_assert_int_eq(multipart_init(&mp, "b", &lim), 0);
	feed(&mp, s, sizeof(s) - 1, steps, 3, &g);
	ck_assert_int_eq(g.rc, 0);
	ck_assert_uint_eq(g.n, 2);
	assert_part(&g, 0, "\xff\xd8" "abc\xff\xd9");
	assert_part(&g, 1, "\xff\xd8" "d\xff\xd9");
	multipart_free(&mp);
	got_free(&g);
}
END_TEST

START_TEST(timestamps)
{
	static const struct {
		const char	*s;
		int		 rc;
		uint64_t	 ns;
	} t[] = {
		{ "1700000000.123456", 0, 1700000000123456000ull },
		{ " 1700000000 ", 0, 1700000000000000000ull },
		{ "1700000000.", 0, 1700000000000000000ull },
		{ "1.000000001", 0, 1000000001ull },
		{ "1.0000000019999", 0, 1000000001ull },
		{ "52.034121\r", 0, 52034121000ull },
		{ "0.5", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
		{ ".5", -EINVAL, 0 },
		{ "-1.5", -EINVAL, 0 },
		{ "1700000000,5", -EINVAL, 0 },
		{ "1e9", -EINVAL, 0 },
		{ "16725225601", -EINVAL, 0 },
		{ "999999999999", -EINVAL, 0 },
		{ "12 34", -EINVAL, 0 },
	};
	uint64_t ns;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ns = 0;
		ck_assert_msg(multipart_parse_timestamp(t[i].s, strlen(t[i].s),
		    &ns) == t[i].rc, "%s", t[i].s);
		if (t[i].rc == 0)
			ck_assert_msg(ns == t[i].ns, "%s: %llu", t[i].s,
			    (unsigned long long)ns);
	}
}
END_TEST

/* Every quirk in one stream, in pieces of every size: the same parts. */
START_TEST(any_pieces)
{
	static const char s[] =
	    "\r\n--b\r\nContent-Length: 7\r\nX-Timestamp: 1700000000.1\r\n"
	    "\r\n\xff\xd8" "abc\xff\xd9\r\n--b\r\n--b\r\n"
	    "Content-Type: image/jpeg\r\n\r\n\xff\xd8\n--bb\n\xff\xd9\r\n"
	    "b\nX-A: 1\n\n\xff\xd8\r\n\xff\xd9\n--b \r\n"
	    "\xff\xd8\xff\xd9\r\n----b\r\n";
	struct multipart mp;
	struct got ref, g;
	size_t steps[3];

	parse("--b", s, sizeof(s) - 1, &ref);
	ck_assert_int_eq(ref.rc, 0);
	ck_assert_uint_eq(ref.n, 4);
	for (size_t a = 1; a < 12; a++)
		for (size_t b = 1; b < 12; b += 3) {
			steps[0] = a;
			steps[1] = b;
			steps[2] = a + b;
			ck_assert_int_eq(multipart_init(&mp, "--b", &lim), 0);
			feed(&mp, s, sizeof(s) - 1, steps, 3, &g);
			ck_assert_int_eq(g.rc, 0);
			ck_assert_uint_eq(g.n, ref.n);
			for (size_t i = 0; i < g.n; i++) {
				ck_assert_uint_eq(g.len[i], ref.len[i]);
				ck_assert_mem_eq(g.data[i], ref.data[i],
				    ref.len[i]);
				ck_assert_uint_eq(g.ts[i], ref.ts[i]);
			}
			multipart_free(&mp);
			got_free(&g);
		}
	got_free(&ref);
}
END_TEST

START_TEST(init_limits)
{
	struct multipart mp;
	struct multipart_limits zero = { 0, 1, 1 };
	char b[MULTIPART_BOUNDARY_MAX + 2];

	memset(b, 'x', sizeof(b) - 1);
	b[sizeof(b) - 1] = '\0';
	ck_assert_int_eq(multipart_init(&mp, b, &lim), -EINVAL);
	ck_assert_int_eq(multipart_init(&mp, "b", &zero), -EINVAL);
	b[sizeof(b) - 2] = '\0';
	ck_assert_int_eq(multipart_init(&mp, b, &lim), 0);
	multipart_free(&mp);
}
END_TEST

static Suite *
multipart_suite(void)
{
	Suite *s = suite_create("multipart");
	TCase *tc = tcase_create("parse");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, shmcam_server_stream);
	tcase_add_test(tc, esp32_cam_stream);
	tcase_add_test(tc, boundary_dashes);
	tcase_add_test(tc, boundary_learnt);
	tcase_add_test(tc, no_content_length);
	tcase_add_test(tc, lf_only);
	tcase_add_test(tc, duplicated_boundary);
	tcase_add_test(tc, extra_headers);
	tcase_add_test(tc, too_many_headers);
	tcase_add_test(tc, header_block_too_big);
	tcase_add_test(tc, huge_content_length);
	tcase_add_test(tc, endless_body);
	tcase_add_test(tc, garbage);
	tcase_add_test(tc, wrong_content_length);
	tcase_add_test(tc, closing_boundary);
	tcase_add_test(tc, headerless_part);
	tcase_add_test(tc, timestamps);
	tcase_add_test(tc, any_pieces);
	tcase_add_test(tc, init_limits);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(multipart_suite());
}
