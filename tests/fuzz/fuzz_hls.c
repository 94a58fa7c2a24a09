/*
 * fuzz_hls.c - what LL-HLS reads from requests (server/hls.c): the query
 * parameters of a playlist request (_HLS_msn, _HLS_part, _HLS_skip, with
 * route.c's lenient query_param() underneath) and the names of parts,
 * segments and init segments, each decided against a window the input
 * also describes; and the playlist written for that window.
 *
 * Input: a window description (see window_from() below: counts, numbers
 * and durations taken from the bytes, within the bounds hls.h sets),
 * then, cut at its first NUL, a request target: "/hls.m3u8?QUERY" or a
 * path whose last component is tried as a name.  Checked: a directive
 * that parses has _HLS_msn whenever it has _HLS_part; the decision is
 * one of the three and READY only when the window lists something; a
 * name that parses is written back by hls_name_format() exactly as it
 * came; the playlist's measured length is what is written, the text
 * stays within the buffer whatever its capacity, and every line of it
 * is printable; the cutting decision is one of its values.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hls.h"
#include "server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t
take(const uint8_t **p, size_t *n, unsigned bytes)
{
	uint64_t v = 0;

	while (bytes-- > 0 && *n > 0) {
		v = v << 8 | **p;
		(*p)++;
		(*n)--;
	}
	return v;
}

/* A window from the input's first bytes (consumed from *p). */
static void
window_from(struct hls_window *w, const uint8_t **p, size_t *n)
{
	unsigned count = (unsigned)(take(p, n, 1) % (HLS_SEGMENTS_MAX + 1));
	uint64_t msn = take(p, n, 8), seq = take(p, n, 4) + 1;
	unsigned i, j, done;

	memset(w, 0, sizeof(*w));
	w->target_s = (uint32_t)(take(p, n, 1) % 12);
	w->part_target = (uint32_t)take(p, n, 3);
	w->first = (unsigned)(take(p, n, 1) % HLS_SEGMENTS_MAX);
	for (i = 0; i < count; i++) {
		struct hls_segment *s = HLS_SEG(w, i);
		unsigned np = (unsigned)(take(p, n, 1) % (HLS_PARTS_MAX + 1));

		memset(s, 0, sizeof(*s));
		w->count++;
		s->msn = msn + i;
		s->dsn = take(p, n, 2);
		s->discontinuity = (uint8_t)(take(p, n, 1) & 1);
		s->generation = take(p, n, 2);
		s->init_hash = take(p, n, 1);
		s->pdt_ns = take(p, n, 8);
		done = (unsigned)take(p, n, 1) & 1;
		s->complete = (uint8_t)(i + 1 < count || done);
		s->first_seq = seq;
		for (j = 0; j < np; j++) {
			s->parts[j].first_seq = seq;
			s->parts[j].nframes = 1 + (uint32_t)take(p, n, 1);
			s->parts[j].duration = (uint32_t)take(p, n, 3);
			s->parts[j].independent = j == 0;
			s->duration += s->parts[j].duration;
			seq += s->parts[j].nframes;
		}
		s->nparts = np;
		s->last_seq = seq > s->first_seq ? seq - 1 : s->first_seq;
		seq++;
	}
	w->hint = (int)(take(p, n, 1) & 1);
	w->hint_generation = take(p, n, 2);
	w->hint_seq = seq;
}

static void
check_playlist(const struct hls_window *w, size_t cap)
{
	static char buf[1 << 20];
	ssize_t len = hls_playlist_write(NULL, 0, w), again;
	size_t i;

	if (len < 0)
		return;
	if ((size_t)len >= sizeof(buf))
		abort();
	memset(buf, 0x7f, sizeof(buf));
	again = hls_playlist_write(buf, sizeof(buf), w);
	if (again != len || buf[len] != '\0' || strlen(buf) != (size_t)len)
		abort();
	for (i = 0; i < (size_t)len; i++)
		if ((buf[i] < 0x20 && buf[i] != '\n') || buf[i] >= 0x7f)
			abort();
	if (memcmp(buf, "#EXTM3U\n", 8) != 0 || buf[len - 1] != '\n')
		abort();
	/* A short buffer: its start, NUL-terminated, nothing past it. */
	cap %= (size_t)len + 2;
	memset(buf, 0x7f, cap + 16);
	if (hls_playlist_write(buf, cap, w) != len)
		abort();
	if (cap > 0 && memchr(buf, '\0', cap) == NULL)
		abort();
	for (i = cap; i < cap + 16; i++)
		if (buf[i] != 0x7f)
			abort();
}

static void
check_name(const char *s, size_t len)
{
	struct hls_name nm;
	char back[HLS_NAME_MAX];

	if (hls_name_parse(s, len, &nm) != 0)
		return;
	if (nm.kind == HLS_FILE_NONE ||
	    hls_name_format(&nm, back, sizeof(back)) != (int)len ||
	    memcmp(back, s, len) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char text[4096];
	struct hls_window w;
	struct hls_directives d;
	struct hls_cutter c;
	const uint8_t *p = data;
	size_t n = size, len;
	const char *q, *slash;
	enum hls_block b;
	uint64_t cap;

	window_from(&w, &p, &n);
	cap = take(&p, &n, 3);
	memset(&c, 0, sizeof(c));
	c.open = (int)(take(&p, &n, 1) & 1);
	c.part_start = take(&p, &n, 4);
	c.last = c.part_start + take(&p, &n, 2);
	c.nframes = (uint32_t)take(&p, &n, 1);
	c.seg_parts = (uint32_t)(take(&p, &n, 1) % HLS_PARTS_MAX);
	hls_constants((uint32_t)take(&p, &n, 3), (uint32_t)take(&p, &n, 2),
	    &c.interval, &c.part_nominal, &c.part_target, &w.target_s);
	if (hls_cut_decide(&c, c.last + take(&p, &n, 3), (int)(n & 1)) >
	    HLS_CUT_BREAK)
		abort();

	len = n < sizeof(text) - 1 ? n : sizeof(text) - 1;
	memcpy(text, p, len);
	text[len] = '\0';
	len = strlen(text);

	/* The query, as a playlist request. */
	q = strchr(text, '?');
	if (hls_directives_parse(q != NULL ? q + 1 : NULL, &d) == 0) {
		if (d.has_part && !d.has_msn)
			abort();
		b = hls_block_decide(&w, &d);
		if (b != HLS_BLOCK_READY && b != HLS_BLOCK_WAIT &&
		    b != HLS_BLOCK_TOO_FAR)
			abort();
		if (b == HLS_BLOCK_READY && hls_playlist_write(NULL, 0, &w) < 0)
			abort();
	}
	/* The path's last component, as a file name, and the whole. */
	slash = memrchr(text, '/', q != NULL ? (size_t)(q - text) : len);
	if (slash != NULL)
		check_name(slash + 1, (q != NULL ? (size_t)(q - text) : len) -
		    (size_t)(slash + 1 - text));
	check_name(text, len);
	check_playlist(&w, (size_t)cap);
	return 0;
}
