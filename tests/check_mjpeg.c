/*
 * check_mjpeg.c - the camera JPEG checks and repairs (capture/mjpeg.h):
 * the inserted tables are the standard's (compared with those TurboJPEG
 * writes), repaired frames decode to the very same pixels, padding is
 * trimmed, and truncated, garbage and mutated input is rejected without a
 * read outside the buffer (every input is an exact-size allocation, so
 * ASan sees the first byte too far).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <turbojpeg.h>

#include "mjpeg.h"

#define W	96
#define H	64

/* A JPEG of a gradient with some detail, as TurboJPEG writes it. */
static uint8_t *
make_jpeg(int flags, int subsamp, size_t *len)
{
	static uint8_t rgb[W * H * 3];
	unsigned char *jpeg = NULL;
	unsigned long size = 0;
	uint8_t *copy;
	tjhandle tj;
	int x, y;

	for (y = 0; y < H; y++)
		for (x = 0; x < W; x++) {
			uint8_t *p = rgb + (y * W + x) * 3;
			p[0] = (uint8_t)(x * 255 / W);
			p[1] = (uint8_t)(y * 255 / H);
			p[2] = (uint8_t)((x * y) & 0xff);
		}
	tj = tjInitCompress();
	ck_assert_ptr_nonnull(tj);
	ck_assert_int_eq(tjCompress2(tj, rgb, W, 0, H, TJPF_RGB, &jpeg, &size,
	    subsamp, 85, flags), 0);
	tjDestroy(tj);
	copy = malloc(size);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, jpeg, size);
	tjFree(jpeg);
	*len = size;
	return copy;
}

/* An exact-size copy of buf with extra appended. */
static uint8_t *
dup_with(const uint8_t *buf, size_t len, const uint8_t *extra, size_t n)
{
	uint8_t *p = malloc(len + n + 1);

	ck_assert_ptr_nonnull(p);
	memcpy(p, buf, len);
	if (n)
		memcpy(p + len, extra, n);
	return p;
}

/* Walks the segments before the first SOS and calls fn on each. */
static void
walk_header(const uint8_t *buf, size_t len,
    void (*fn)(uint8_t m, const uint8_t *seg, size_t off, size_t n, void *),
    void *arg)
{
	size_t i = 2, n;
	uint8_t m;

	while (i + 4 <= len && buf[i] == 0xff) {
		m = buf[i + 1];
		n = (size_t)buf[i + 2] << 8 | buf[i + 3];
		fn(m, buf + i + 4, i, n + 2, arg);
		if (m == 0xda)
			return;
		i += 2 + n;
	}
}

struct dht_collect {
	uint8_t	 tables[4][1 + 16 + 256];
	size_t	 sizes[4];
	int	 n;
};

/* Collects the tables of every DHT segment (several tables each). */
static void
collect_dht(uint8_t m, const uint8_t *seg, size_t off, size_t n, void *arg)
{
	struct dht_collect *c = arg;
	size_t i = 0, count, k;

	(void)off;
	if (m != 0xc4)
		return;
	n -= 4;
	while (i < n) {
		ck_assert_int_lt(c->n, 4);
		for (count = 0, k = 0; k < 16; k++)
			count += seg[i + 1 + k];
		c->sizes[c->n] = 17 + count;
		memcpy(c->tables[c->n], seg + i, 17 + count);
		c->n++;
		i += 17 + count;
	}
}

/* Removes every DHT segment before the first SOS. */
static uint8_t *
strip_dht(const uint8_t *buf, size_t len, size_t *outlen)
{
	uint8_t *out = malloc(len);
	size_t i = 2, o = 2, n;

	ck_assert_ptr_nonnull(out);
	memcpy(out, buf, 2);
	while (buf[i + 1] != 0xda) {
		n = 2 + ((size_t)buf[i + 2] << 8 | buf[i + 3]);
		if (buf[i + 1] != 0xc4) {
			memcpy(out + o, buf + i, n);
			o += n;
		}
		i += n;
	}
	memcpy(out + o, buf + i, len - i);
	*outlen = o + len - i;
	return out;
}

static uint8_t *
decode(const uint8_t *jpeg, size_t len)
{
	tjhandle tj = tjInitDecompress();
	uint8_t *px = malloc(W * H * 3);
	int w, h, ss, cs;

	ck_assert_ptr_nonnull(tj);
	ck_assert_int_eq(tjDecompressHeader3(tj, jpeg, len, &w, &h, &ss, &cs),
	    0);
	ck_assert_int_eq(w, W);
	ck_assert_int_eq(h, H);
	ck_assert_int_eq(tjDecompress2(tj, jpeg, len, px, W, 0, H, TJPF_RGB,
	    TJFLAG_STOPONWARNING), 0);
	tjDestroy(tj);
	return px;
}

START_TEST(test_tables_are_the_standard_ones)
{
	struct dht_collect theirs, ours;
	uint8_t seg[MJPEG_DHT_LEN + 4];
	uint8_t *jpeg;
	size_t len;
	int i, j;

	/* libjpeg's defaults are T.81's K.3 tables: they must match ours
	 * table by table, whatever their order in the file. */
	jpeg = make_jpeg(0, TJSAMP_420, &len);
	memset(&theirs, 0, sizeof(theirs));
	walk_header(jpeg, len, collect_dht, &theirs);
	ck_assert_int_eq(theirs.n, 4);

	memset(&ours, 0, sizeof(ours));
	seg[0] = 0xff;
	seg[1] = 0xd8;
	mjpeg_write_dht(seg + 2);
	ck_assert_int_eq(seg[2], 0xff);
	ck_assert_int_eq(seg[3], 0xc4);
	ck_assert_int_eq((seg[4] << 8 | seg[5]) + 2, MJPEG_DHT_LEN);
	seg[MJPEG_DHT_LEN + 2] = 0xff;
	seg[MJPEG_DHT_LEN + 3] = 0xda;	/* stops the walk */
	walk_header(seg, sizeof(seg), collect_dht, &ours);
	ck_assert_int_eq(ours.n, 4);
	for (i = 0; i < 4; i++) {
		for (j = 0; j < 4; j++)
			if (theirs.tables[j][0] == ours.tables[i][0])
				break;
		ck_assert_int_lt(j, 4);
		ck_assert_uint_eq(ours.sizes[i], theirs.sizes[j]);
		ck_assert_mem_eq(ours.tables[i], theirs.tables[j],
		    ours.sizes[i]);
	}
	free(jpeg);
}
END_TEST

START_TEST(test_valid_frame_passes_unchanged)
{
	static const int flags[] = { 0, TJFLAG_PROGRESSIVE };
	struct mjpeg_info info;
	uint8_t *jpeg, *out;
	size_t len, outlen;

	jpeg = make_jpeg(flags[_i], TJSAMP_422, &len);
	ck_assert_int_eq(mjpeg_check(jpeg, len, &info), 0);
	ck_assert_uint_eq(info.length, len);
	ck_assert_uint_eq(info.width, W);
	ck_assert_uint_eq(info.height, H);
	ck_assert_int_eq(info.components, 3);
	ck_assert_int_eq(info.needs_dht, 0);
	ck_assert_int_eq(info.sof, _i ? 0xc2 : 0xc0);
	ck_assert_uint_eq(mjpeg_repaired_len(&info), len);
	out = malloc(len);
	ck_assert_int_eq(mjpeg_repair(jpeg, &info, out, len, &outlen), 0);
	ck_assert_uint_eq(outlen, len);
	ck_assert_mem_eq(out, jpeg, len);
	ck_assert_int_eq(mjpeg_repair(jpeg, &info, out, len - 1, &outlen),
	    -ENOBUFS);
	free(out);
	free(jpeg);
}
END_TEST

START_TEST(test_missing_tables_are_inserted)
{
	struct mjpeg_info info;
	uint8_t *jpeg, *bare, *out, *want, *got;
	size_t len, barelen, outlen;

	jpeg = make_jpeg(0, TJSAMP_422, &len);
	bare = strip_dht(jpeg, len, &barelen);
	ck_assert_uint_lt(barelen, len);
	/* (libjpeg-turbo would decode this by falling back to the same
	 * tables; Safari and some other decoders refuse it.)  We accept it
	 * and put the tables in before the SOS. */
	ck_assert_int_eq(mjpeg_check(bare, barelen, &info), 0);
	ck_assert_int_eq(info.needs_dht, 1);
	ck_assert_int_eq(info.has_dht, 0);
	ck_assert_uint_eq(info.length, barelen);
	ck_assert_int_eq(bare[info.sos_offset], 0xff);
	ck_assert_int_eq(bare[info.sos_offset + 1], 0xda);
	ck_assert_uint_eq(mjpeg_repaired_len(&info), barelen + MJPEG_DHT_LEN);
	out = malloc(barelen + MJPEG_DHT_LEN);
	ck_assert_int_eq(mjpeg_repair(bare, &info, out,
	    barelen + MJPEG_DHT_LEN - 1, &outlen), -ENOBUFS);
	ck_assert_int_eq(mjpeg_repair(bare, &info, out, barelen + MJPEG_DHT_LEN,
	    &outlen), 0);
	ck_assert_uint_eq(outlen, barelen + MJPEG_DHT_LEN);
	/* Only the table segment differs from the device's bytes. */
	ck_assert_mem_eq(out, bare, info.sos_offset);
	ck_assert_mem_eq(out + info.sos_offset + MJPEG_DHT_LEN,
	    bare + info.sos_offset, barelen - info.sos_offset);
	/* And it decodes to exactly the pixels of the original. */
	want = decode(jpeg, len);
	got = decode(out, outlen);
	ck_assert_mem_eq(got, want, W * H * 3);
	/* The repaired frame checks clean. */
	ck_assert_int_eq(mjpeg_check(out, outlen, &info), 0);
	ck_assert_int_eq(info.needs_dht, 0);
	free(want);
	free(got);
	free(out);
	free(bare);
	free(jpeg);
}
END_TEST

START_TEST(test_no_tables_outside_baseline_is_broken)
{
	struct mjpeg_info info;
	uint8_t *jpeg, *bare;
	size_t len, barelen;

	jpeg = make_jpeg(TJFLAG_PROGRESSIVE, TJSAMP_420, &len);
	bare = strip_dht(jpeg, len, &barelen);
	ck_assert_int_eq(mjpeg_check(bare, barelen, &info), -EBADMSG);
	free(bare);
	free(jpeg);
}
END_TEST

START_TEST(test_padding_is_trimmed)
{
	static const uint8_t pad[300];
	static const uint8_t junk[] = { 0xff, 0xd9, 0xff, 0xd8, 0x12 };
	struct mjpeg_info info;
	uint8_t *jpeg, *padded;
	size_t len;

	jpeg = make_jpeg(0, TJSAMP_420, &len);
	padded = dup_with(jpeg, len, pad, sizeof(pad));
	ck_assert_int_eq(mjpeg_check(padded, len + sizeof(pad), &info), 0);
	ck_assert_uint_eq(info.length, len);
	free(padded);
	padded = dup_with(jpeg, len, junk, sizeof(junk));
	ck_assert_int_eq(mjpeg_check(padded, len + sizeof(junk), &info), 0);
	ck_assert_uint_eq(info.length, len);
	free(padded);
	free(jpeg);
}
END_TEST

/*
 * mjpeg_check() and the walk through the data (mjpeg_check_scan()) on
 * buf[0..n): the same verdict, want, and for a frame the same info,
 * want_len long.
 */
static void
check_both(const uint8_t *buf, size_t n, int want, size_t want_len,
    const char *what)
{
	struct mjpeg_info fast, walk;
	int rc;

	rc = mjpeg_check(buf, n, &fast);
	ck_assert_msg(rc == want, "%s: mjpeg_check %d, want %d", what, rc,
	    want);
	rc = mjpeg_check_scan(buf, n, &walk);
	ck_assert_msg(rc == want, "%s: mjpeg_check_scan %d, want %d", what,
	    rc, want);
	ck_assert_msg(memcmp(&fast, &walk, sizeof(fast)) == 0,
	    "%s: the two checks report different frames", what);
	if (want == 0)
		ck_assert_msg(fast.length == want_len, "%s: length %zu, want "
		    "%zu", what, fast.length, want_len);
}

/* An exact-size copy of buf[0..len) followed by n zero bytes. */
static uint8_t *
dup_zeros(const uint8_t *buf, size_t len, size_t n)
{
	uint8_t *p = malloc(len + n);

	ck_assert_ptr_nonnull(p);
	memcpy(p, buf, len);
	memset(p + len, 0, n);
	return p;
}

/*
 * The frames a camera hands over, clean, padded, cut short, with junk
 * after them or without tables: the check that takes the end from the
 * buffer's tail says what the walk through the data says.
 */
START_TEST(test_tail_check_agrees_with_the_walk)
{
	static const uint8_t junk[] = { 0xff, 0xd8, 0x12, 0x00, 0x00 };
	static const size_t pads[] = { 1, 2, 300, 1 << 20 };
	struct mjpeg_info info;
	uint8_t *jpeg, *prog, *bare, *buf, *out, *px, *first;
	size_t len, proglen, barelen, outlen, k;
	char what[64];

	jpeg = make_jpeg(0, TJSAMP_420, &len);
	prog = make_jpeg(TJFLAG_PROGRESSIVE, TJSAMP_420, &proglen);
	bare = strip_dht(jpeg, len, &barelen);

	check_both(jpeg, len, 0, len, "clean");
	check_both(prog, proglen, 0, proglen, "progressive");
	check_both(bare, barelen, 0, barelen, "no tables");
	for (k = 0; k < sizeof(pads) / sizeof(pads[0]); k++) {
		snprintf(what, sizeof(what), "%zu zero bytes after", pads[k]);
		buf = dup_zeros(jpeg, len, pads[k]);
		check_both(buf, len + pads[k], 0, len, what);
		free(buf);
		buf = dup_zeros(prog, proglen, pads[k]);
		check_both(buf, proglen + pads[k], 0, proglen, what);
		free(buf);
		/* Cut short before its EOI, then padded: no EOI. */
		buf = dup_zeros(jpeg, len - 2, pads[k]);
		check_both(buf, len - 2 + pads[k], -ENODATA, 0, what);
		free(buf);
		buf = dup_zeros(jpeg, len / 2, pads[k]);
		check_both(buf, len / 2 + pads[k], -ENODATA, 0, what);
		free(buf);
	}

	/* Junk after the EOI (then padding): the walk, to the first EOI. */
	buf = dup_with(jpeg, len, junk, sizeof(junk));
	check_both(buf, len + sizeof(junk), 0, len, "junk after");
	check_both(buf, len + 3, 0, len, "junk after, no zeros");
	free(buf);

	/* Two pictures in one buffer: the walk stops at the first EOI, the
	 * tail check takes both, which decode as the first. */
	buf = dup_with(jpeg, len, jpeg, len);
	ck_assert_int_eq(mjpeg_check_scan(buf, 2 * len, &info), 0);
	ck_assert_uint_eq(info.length, len);
	ck_assert_int_eq(mjpeg_check(buf, 2 * len, &info), 0);
	ck_assert_uint_eq(info.length, 2 * len);
	px = decode(buf, 2 * len);
	first = decode(jpeg, len);
	ck_assert_mem_eq(px, first, W * H * 3);
	free(first);
	free(px);
	free(buf);

	/* Without tables, padded: repaired with them, the padding gone. */
	buf = dup_zeros(bare, barelen, 4096);
	check_both(buf, barelen + 4096, 0, barelen, "no tables, padded");
	ck_assert_int_eq(mjpeg_check(buf, barelen + 4096, &info), 0);
	ck_assert_int_eq(info.needs_dht, 1);
	out = malloc(barelen + MJPEG_DHT_LEN);
	ck_assert_int_eq(mjpeg_repair(buf, &info, out, barelen + MJPEG_DHT_LEN,
	    &outlen), 0);
	ck_assert_uint_eq(outlen, barelen + MJPEG_DHT_LEN);
	check_both(out, outlen, 0, outlen, "repaired");
	free(out);
	free(buf);

	free(bare);
	free(prog);
	free(jpeg);
}
END_TEST

/* The minimum is the frame's, not the buffer's: a 67-byte "frame" (no
 * tables at all) padded past 97 bytes is still too short (a case
 * fuzz_mjpeg found). */
START_TEST(test_short_frame_with_padding_is_too_short)
{
	static const uint8_t tiny[] = {
		0xff, 0xd8,
		0xff, 0xc0, 0x00, 0x0b, 0x08, 0x00, 0x10, 0x00, 0x10, 0x01,
		0x01, 0x11, 0x00,
		0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3f, 0x00,
		0x12, 0x34,
		0xff, 0xd9,
	};
	static const uint8_t pad[MJPEG_MIN_LEN];
	struct mjpeg_info info;
	uint8_t *padded;

	padded = dup_with(tiny, sizeof(tiny), pad, sizeof(pad));
	ck_assert_int_eq(mjpeg_check(padded, sizeof(tiny) + sizeof(pad), &info),
	    -EMSGSIZE);
	free(padded);
}
END_TEST

START_TEST(test_every_truncation_is_rejected)
{
	struct mjpeg_info info;
	uint8_t *jpeg, *cut;
	size_t len, n;
	int rc;

	jpeg = make_jpeg(0, TJSAMP_420, &len);
	for (n = 0; n < len; n++) {
		cut = malloc(n ? n : 1);
		memcpy(cut, jpeg, n);
		rc = mjpeg_check(cut, n, &info);
		ck_assert_msg(rc != 0, "truncated to %zu of %zu passed", n,
		    len);
		if (n < MJPEG_MIN_LEN)
			ck_assert_int_eq(rc, -EMSGSIZE);
		else if (n < len - 2)
			ck_assert_msg(rc == -ENODATA || rc == -EBADMSG,
			    "truncated to %zu: %d", n, rc);
		free(cut);
	}
	free(jpeg);
}
END_TEST

START_TEST(test_garbage_is_rejected)
{
	struct mjpeg_info info;
	uint8_t *buf;
	size_t len = 4096, i;
	uint32_t x = 12345;

	buf = malloc(len);
	for (i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
	buf[0] = 0x00;
	ck_assert_int_eq(mjpeg_check(buf, len, &info), -ENOMSG);
	ck_assert_int_eq(mjpeg_check(buf, 10, &info), -EMSGSIZE);
	ck_assert_int_eq(mjpeg_check(NULL, 0, &info), -EMSGSIZE);
	/* SOI then garbage: no valid segment structure. */
	buf[0] = 0xff;
	buf[1] = 0xd8;
	buf[2] = 0x12;
	ck_assert_int_eq(mjpeg_check(buf, len, &info), -EBADMSG);
	free(buf);
}
END_TEST

/* Sets the two bytes after the marker m at off in a copy; returns it. */
static void
poke_after_marker(uint8_t *buf, size_t len, uint8_t m, size_t delta,
    uint8_t v)
{
	size_t i;

	for (i = 2; i + 1 < len; i++)
		if (buf[i] == 0xff && buf[i + 1] == m) {
			buf[i + delta] = v;
			return;
		}
	ck_abort_msg("marker %02x not found", m);
}

START_TEST(test_broken_structure_is_rejected)
{
	static const uint8_t junk[] = { 0x12 };
	struct mjpeg_info info;
	uint8_t *jpeg, *bad;
	size_t len;

	jpeg = make_jpeg(0, TJSAMP_420, &len);

	/* A DQT whose length runs past the end. */
	bad = dup_with(jpeg, len, NULL, 0);
	poke_after_marker(bad, len, 0xdb, 2, 0xff);
	ck_assert_int_ne(mjpeg_check(bad, len, &info), 0);
	free(bad);

	/* A frame header of width 0. */
	bad = dup_with(jpeg, len, NULL, 0);
	poke_after_marker(bad, len, 0xc0, 7, 0);
	poke_after_marker(bad, len, 0xc0, 8, 0);
	ck_assert_int_eq(mjpeg_check(bad, len, &info), -EBADMSG);
	free(bad);

	/* A scan header whose length does not match its components. */
	bad = dup_with(jpeg, len, NULL, 0);
	poke_after_marker(bad, len, 0xda, 4, 2);
	ck_assert_int_eq(mjpeg_check(bad, len, &info), -EBADMSG);
	free(bad);

	/* A second SOI inside the scan: the walk through the data finds
	 * it; the check that takes the end from the EOI leaves it to the
	 * decoder, unless junk after the EOI makes it walk. */
	bad = dup_with(jpeg, len, junk, sizeof(junk));
	bad[len - 40] = 0xff;
	bad[len - 39] = 0xd8;
	ck_assert_int_eq(mjpeg_check_scan(bad, len, &info), -EBADMSG);
	ck_assert_int_eq(mjpeg_check(bad, len, &info), 0);
	ck_assert_uint_eq(info.length, len);
	ck_assert_int_eq(mjpeg_check(bad, len + sizeof(junk), &info),
	    -EBADMSG);
	free(bad);

	/* The EOI overwritten: truncated. */
	bad = dup_with(jpeg, len, NULL, 0);
	bad[len - 1] = 0x00;
	ck_assert_int_eq(mjpeg_check(bad, len, &info), -ENODATA);
	free(bad);
	free(jpeg);
}
END_TEST

START_TEST(test_mutations_never_read_outside)
{
	struct mjpeg_info info;
	uint8_t *jpeg, *bad, *out;
	size_t len, outlen, k;
	uint32_t x = 99;
	int round, rc, passed = 0;

	jpeg = make_jpeg(0, TJSAMP_420, &len);
	out = malloc(len + MJPEG_DHT_LEN);
	for (round = 0; round < 20000; round++) {
		size_t n = len;
		x = x * 1664525u + 1013904223u;
		if (round % 3 == 0)
			n = (x >> 8) % len + 1;		/* and truncate */
		bad = malloc(n);
		memcpy(bad, jpeg, n);
		for (k = 0; k < 1 + (size_t)round % 4; k++) {
			x = x * 1664525u + 1013904223u;
			/* Mostly the header, where the structure is. */
			size_t at = (x >> 4) % (n < 700 ? n : 700);
			x = x * 1664525u + 1013904223u;
			bad[at] = (x >> 24) & 1 ? 0xff : (uint8_t)(x >> 16);
		}
		rc = mjpeg_check(bad, n, &info);
		if (rc == 0) {
			passed++;
			ck_assert_uint_le(info.length, n);
			ck_assert_uint_lt(info.sos_offset, info.length);
			ck_assert_int_eq(bad[info.length - 2], 0xff);
			ck_assert_int_eq(bad[info.length - 1], 0xd9);
			ck_assert_int_eq(mjpeg_repair(bad, &info, out,
			    len + MJPEG_DHT_LEN, &outlen), 0);
			ck_assert_uint_le(outlen, len + MJPEG_DHT_LEN);
		}
		free(bad);
	}
	/* Mutating entropy-coded bytes keeps the structure: some pass. */
	ck_assert_int_gt(passed, 0);
	free(out);
	free(jpeg);
}
END_TEST

static Suite *
mjpeg_suite(void)
{
	Suite *s = suite_create("mjpeg");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_tables_are_the_standard_ones);
	tcase_add_loop_test(tc, test_valid_frame_passes_unchanged, 0, 2);
	tcase_add_test(tc, test_missing_tables_are_inserted);
	tcase_add_test(tc, test_no_tables_outside_baseline_is_broken);
	tcase_add_test(tc, test_padding_is_trimmed);
	tcase_add_test(tc, test_tail_check_agrees_with_the_walk);
	tcase_add_test(tc, test_short_frame_with_padding_is_too_short);
	tcase_add_test(tc, test_every_truncation_is_rejected);
	tcase_add_test(tc, test_garbage_is_rejected);
	tcase_add_test(tc, test_broken_structure_is_rejected);
	tcase_add_test(tc, test_mutations_never_read_outside);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(mjpeg_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
