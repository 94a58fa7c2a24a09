/*
 * hls.c - LL-HLS names, directives, playlists and decisions (see hls.h
 * for what and why).  Section numbers are those of
 * draft-pantos-hls-rfc8216bis.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hls.h"
#include "mp4.h"
#include "server.h"

/* ------------------------------------------------------------ names */

int
hls_name_format(const struct hls_name *n, char *buf, size_t size)
{
	int len;

	switch (n->kind) {
	case HLS_FILE_INIT:
		len = snprintf(buf, size, "init-%016llx.mp4",
		    (unsigned long long)n->hash);
		break;
	case HLS_FILE_PART:
		if (n->first == 0)
			return -EINVAL;
		len = snprintf(buf, size, "p%016llx-%llu.m4s",
		    (unsigned long long)n->generation,
		    (unsigned long long)n->first);
		break;
	case HLS_FILE_SEGMENT:
		if (n->first == 0 || n->last < n->first)
			return -EINVAL;
		len = snprintf(buf, size, "s%016llx-%llu-%llu.m4s",
		    (unsigned long long)n->generation,
		    (unsigned long long)n->first,
		    (unsigned long long)n->last);
		break;
	default:
		return -EINVAL;
	}
	if (len < 0 || (size_t)len >= size)
		return -EINVAL;
	return len;
}

/* Exactly 16 lowercase hex digits at *p (advanced past them). */
static int
parse_hex16(const char **p, const char *end, uint64_t *v)
{
	uint64_t x = 0;
	int i;

	if (end - *p < 16)
		return -EINVAL;
	for (i = 0; i < 16; i++) {
		char c = (*p)[i];

		if (c >= '0' && c <= '9')
			x = x << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			x = x << 4 | (uint64_t)(c - 'a' + 10);
		else
			return -EINVAL;
	}
	*p += 16;
	*v = x;
	return 0;
}

/* A decimal integer without leading zeros, below 2^64. */
static int
parse_dec(const char **p, const char *end, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;

	if (s == end || *s < '0' || *s > '9' || (*s == '0' && s + 1 < end &&
	    s[1] >= '0' && s[1] <= '9'))
		return -EINVAL;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (x > (UINT64_MAX - d) / 10)
			return -EINVAL;
		x = x * 10 + d;
	}
	*p = s;
	*v = x;
	return 0;
}

static int
parse_lit(const char **p, const char *end, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
		return -EINVAL;
	*p += n;
	return 0;
}

int
hls_name_parse(const char *s, size_t len, struct hls_name *n)
{
	const char *p = s, *end = s + len;

	memset(n, 0, sizeof(*n));
	if (len == 0 || len >= HLS_NAME_MAX)
		return -EINVAL;
	if (parse_lit(&p, end, "init-") == 0) {
		if (parse_hex16(&p, end, &n->hash) != 0 ||
		    parse_lit(&p, end, ".mp4") != 0 || p != end)
			return -EINVAL;
		n->kind = HLS_FILE_INIT;
		return 0;
	}
	if (*p != 'p' && *p != 's')
		return -EINVAL;
	n->kind = *p++ == 'p' ? HLS_FILE_PART : HLS_FILE_SEGMENT;
	if (parse_hex16(&p, end, &n->generation) != 0 ||
	    parse_lit(&p, end, "-") != 0 ||
	    parse_dec(&p, end, &n->first) != 0 || n->first == 0)
		goto bad;
	if (n->kind == HLS_FILE_SEGMENT && (parse_lit(&p, end, "-") != 0 ||
	    parse_dec(&p, end, &n->last) != 0 || n->last < n->first))
		goto bad;
	if (parse_lit(&p, end, ".m4s") != 0 || p != end)
		goto bad;
	return 0;
bad:
	memset(n, 0, sizeof(*n));
	return -EINVAL;
}

uint64_t
hls_hash(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t h = 0xcbf29ce484222325ull;

	while (len-- > 0) {
		h ^= *p++;
		h *= 0x100000001b3ull;
	}
	return h;
}

/* ------------------------------------------------------- directives */

/* A decimal-integer (4.2) value of found - 1 bytes at v. */
static int
directive_number(const char *v, size_t found, uint64_t *out)
{
	const char *p = v, *end = v + (found - 1);

	if (found - 1 == 0 || found - 1 > 20)
		return -EINVAL;
	/* The attribute grammar allows leading zeros in a decimal-integer;
	 * a client has no reason to send them, but they are not wrong. */
	while (p + 1 < end && *p == '0')
		p++;
	if (parse_dec(&p, end, out) != 0 || p != end)
		return -EINVAL;
	return 0;
}

int
hls_directives_parse(const char *query, struct hls_directives *d)
{
	const char *v;
	size_t found;

	memset(d, 0, sizeof(*d));
	if (query == NULL)
		return 0;
	if ((found = query_param(query, "_HLS_msn", &v)) != 0) {
		if (directive_number(v, found, &d->msn) != 0)
			return -EINVAL;
		d->has_msn = 1;
	}
	if ((found = query_param(query, "_HLS_part", &v)) != 0) {
		if (directive_number(v, found, &d->part) != 0)
			return -EINVAL;
		d->has_part = 1;
	}
	if (d->has_part && !d->has_msn)
		return -EINVAL;
	if ((found = query_param(query, "_HLS_skip", &v)) != 0)
		d->skip = (found - 1 == 3 && memcmp(v, "YES", 3) == 0) ||
		    (found - 1 == 2 && memcmp(v, "v2", 2) == 0);
	return 0;
}

/* --------------------------------------------------------- playlist */

struct text {
	char		*buf;
	size_t		 cap;
	size_t		 len;		/* written, or that would be */
};

__attribute__((format(printf, 2, 3)))
static void
out(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(t->len < t->cap ? t->buf + t->len : NULL,
	    t->len < t->cap ? t->cap - t->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->len += (size_t)n;
}

/* Ticks as seconds with 5 decimals, rounded to nearest ("%u.%05u"). */
static void
out_secs(struct text *t, uint64_t ticks, int round_up)
{
	uint64_t tenus = (ticks * 100000u + (round_up ? MP4_TIMESCALE - 1 :
	    MP4_TIMESCALE / 2)) / MP4_TIMESCALE;

	out(t, "%llu.%05u", (unsigned long long)(tenus / 100000u),
	    (unsigned)(tenus % 100000u));
}

static void
out_name(struct text *t, const struct hls_name *n)
{
	char name[HLS_NAME_MAX];

	if (hls_name_format(n, name, sizeof(name)) > 0)
		out(t, "hls/%s", name);
}

/* EXT-X-PROGRAM-DATE-TIME (4.4.4.6): ISO 8601 in UTC, milliseconds. */
static void
out_pdt(struct text *t, uint64_t real_ns)
{
	time_t secs = (time_t)(real_ns / 1000000000u);
	struct tm tm;

	if (gmtime_r(&secs, &tm) == NULL)
		return;
	out(t, "#EXT-X-PROGRAM-DATE-TIME:%04d-%02d-%02dT%02d:%02d:%02d.%03uZ\n",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (unsigned)(real_ns % 1000000000u / 1000000u));
}

unsigned
hls_window_listed(const struct hls_window *w)
{
	unsigned i = w->count, n = 0;
	uint64_t dur = 0;

	while (i > 0) {
		const struct hls_segment *s = HLS_SEG(w, i - 1);

		if (s->complete) {
			if (n >= HLS_SEGMENTS_MAX / 2 || (n >= HLS_LIST_MIN &&
			    dur >= (uint64_t)HLS_LIST_SECONDS * MP4_TIMESCALE))
				break;
			dur += s->duration;
			n++;
		}
		i--;
	}
	return i;
}

ssize_t
hls_playlist_write(char *buf, size_t cap, const struct hls_window *w)
{
	struct text t = { buf, cap, 0 };
	unsigned first = hls_window_listed(w), i, j, nlisted = 0;
	const struct hls_segment *s0, *s, *prev = NULL;
	uint64_t total = 0, end, parts_from;
	struct hls_name n;

	/* What the listed segments cover, for where parts stop being
	 * listed: 6.2.2 wants part tags gone once more than three target
	 * durations from the end of the playlist. */
	for (i = first; i < w->count; i++) {
		s = HLS_SEG(w, i);
		if (s->complete || s->nparts > 0) {
			total += s->duration;
			nlisted++;
		}
	}
	if (nlisted == 0)
		return -EINVAL;
	parts_from = total > 3ull * w->target_s * MP4_TIMESCALE ?
	    total - 3ull * w->target_s * MP4_TIMESCALE : 0;
	s0 = HLS_SEG(w, first);

	/* 4.4.3 media playlist tags first, then the segments (4.4.4). */
	out(&t, "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:%u\n",
	    w->target_s);
	out(&t, "#EXT-X-MEDIA-SEQUENCE:%llu\n",
	    (unsigned long long)s0->msn);
	/* 4.4.3.3: the first segment's number less the tag before it. */
	out(&t, "#EXT-X-DISCONTINUITY-SEQUENCE:%llu\n",
	    (unsigned long long)(s0->dsn - (s0->discontinuity ? 1 : 0)));
	out(&t, "#EXT-X-INDEPENDENT-SEGMENTS\n");
	out(&t, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=");
	out_secs(&t, 3ull * w->part_target, 1);
	out(&t, "\n#EXT-X-PART-INF:PART-TARGET=");
	out_secs(&t, w->part_target, 1);
	out(&t, "\n");

	end = 0;
	for (i = first; i < w->count; i++) {
		s = HLS_SEG(w, i);
		if (!s->complete && s->nparts == 0)
			break;
		if (s->discontinuity)
			out(&t, "#EXT-X-DISCONTINUITY\n");
		if (prev == NULL || prev->init_hash != s->init_hash) {
			n = (struct hls_name){ .kind = HLS_FILE_INIT,
			    .hash = s->init_hash };
			out(&t, "#EXT-X-MAP:URI=\"");
			out_name(&t, &n);
			out(&t, "\"\n");
		}
		out_pdt(&t, s->pdt_ns);
		if (!s->complete || end + s->duration > parts_from) {
			for (j = 0; j < s->nparts; j++) {
				const struct hls_part *p = &s->parts[j];

				n = (struct hls_name){ .kind = HLS_FILE_PART,
				    .generation = s->generation,
				    .first = p->first_seq };
				out(&t, "#EXT-X-PART:DURATION=");
				out_secs(&t, p->duration, 0);
				out(&t, ",URI=\"");
				out_name(&t, &n);
				out(&t, "\"%s\n", p->independent ?
				    ",INDEPENDENT=YES" : "");
			}
		}
		end += s->duration;
		prev = s;
		if (!s->complete)
			break;
		out(&t, "#EXTINF:");
		out_secs(&t, s->duration, 0);
		out(&t, ",\n");
		n = (struct hls_name){ .kind = HLS_FILE_SEGMENT,
		    .generation = s->generation, .first = s->first_seq,
		    .last = s->last_seq };
		out_name(&t, &n);
		out(&t, "\n");
	}
	/*
	 * 4.4.5.3: the part that comes next.  Not across a change that
	 * needs a tag of its own before the segment (a discontinuity, a
	 * new init segment): the hint waits for that segment's first part.
	 */
	if (w->hint && prev != NULL) {
		const struct hls_segment *last = HLS_SEG(w, w->count - 1);

		if (last == prev || (!last->discontinuity &&
		    last->init_hash == prev->init_hash)) {
			n = (struct hls_name){ .kind = HLS_FILE_PART,
			    .generation = w->hint_generation,
			    .first = w->hint_seq };
			out(&t, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"");
			out_name(&t, &n);
			out(&t, "\"\n");
		}
	}
	if (t.len > SSIZE_MAX)
		return -EINVAL;
	return (ssize_t)t.len;
}

/* ---------------------------------------------------------- blocking */

uint64_t
hls_advance_part_limit(uint32_t part_target)
{
	if (part_target == 0 || part_target >= MP4_TIMESCALE)
		return 3;
	/* 6.2.5.2: 3 divided by the part target (in seconds). */
	return 3ull * MP4_TIMESCALE / part_target;
}

/* The newest complete segment's number; 0 and no segment if none. */
static const struct hls_segment *
newest_complete(const struct hls_window *w)
{
	unsigned i;

	for (i = w->count; i > 0; i--)
		if (HLS_SEG(w, i - 1)->complete)
			return HLS_SEG(w, i - 1);
	return NULL;
}

static const struct hls_segment *
find_msn(const struct hls_window *w, uint64_t msn)
{
	const struct hls_segment *s0;

	if (w->count == 0)
		return NULL;
	s0 = HLS_SEG(w, 0);
	if (msn < s0->msn || msn - s0->msn >= w->count)
		return NULL;
	return HLS_SEG(w, (unsigned)(msn - s0->msn));
}

enum hls_block
hls_block_decide(const struct hls_window *w, const struct hls_directives *d)
{
	const struct hls_segment *last, *lseg, *seg, *done;
	uint64_t m = d->msn, p = d->part, lm, lp, ahead, pps;

	/* Nothing is answered before a segment is complete: a playlist of
	 * parts alone is one players take for empty (hls.js: "levelEmpty").
	 * That is the case after a start or a restart. */
	done = newest_complete(w);
	if (done == NULL)
		return HLS_BLOCK_WAIT;
	if (!d->has_msn)
		return HLS_BLOCK_READY;
	last = HLS_SEG(w, w->count - 1);
	if (m > last->msn + 2)
		return HLS_BLOCK_TOO_FAR;
	if (!d->has_part)
		return done->msn >= m ? HLS_BLOCK_READY : HLS_BLOCK_WAIT;

	/* A part index past the last of a complete segment is part 0 of
	 * the next segment (6.2.5.2). */
	seg = find_msn(w, m);
	if (seg != NULL && seg->complete && p >= seg->nparts) {
		m++;
		p = 0;
	}
	/* The newest part published: (lm, lp). */
	lseg = last->nparts > 0 ? last : w->count >= 2 ?
	    HLS_SEG(w, w->count - 2) : NULL;
	if (lseg == NULL || lseg->nparts == 0)
		return HLS_BLOCK_WAIT;
	lm = lseg->msn;
	lp = lseg->nparts - 1;
	if (m < lm || (m == lm && p <= lp))
		return HLS_BLOCK_READY;

	/* How many parts ahead: exact within the newest segment, else
	 * counted with the nominal number of parts a segment has. */
	pps = w->part_target != 0 ? ((uint64_t)w->target_s * MP4_TIMESCALE +
	    w->part_target - 1) / w->part_target : 1;
	if (m == lm)
		ahead = p - lp;
	else
		ahead = (pps > lp + 1 ? pps - lp - 1 : 0) +
		    (m - lm - 1) * pps + p + 1;
	if (ahead > hls_advance_part_limit(w->part_target))
		return HLS_BLOCK_TOO_FAR;
	return HLS_BLOCK_WAIT;
}

/* ----------------------------------------------------------- cutting */

enum hls_cut
hls_cut_decide(const struct hls_cutter *c, uint64_t dts, int key)
{
	uint64_t elapsed, gap;

	if (!c->open)
		return key ? HLS_CUT_START : HLS_CUT_SKIP;
	gap = dts > c->last ? dts - c->last : 0;
	elapsed = dts > c->part_start ? dts - c->part_start : 0;
	/* A stall: the newest frame's duration would make any part that
	 * holds it longer than PART-TARGET. */
	if (gap > c->part_target)
		return c->seg_parts + 2 >= HLS_PARTS_MAX && !key ?
		    HLS_CUT_BREAK : HLS_CUT_STALL;
	if (key)
		return elapsed > c->part_target && c->nframes >= 2 &&
		    c->seg_parts + 2 < HLS_PARTS_MAX ? HLS_CUT_MOVE_LAST :
		    HLS_CUT_SEGMENT;
	/* Whole frames: the part ends at the frame nearest its nominal
	 * length (half an interval early counts); the last part a segment
	 * may have ends it. */
	if (elapsed + c->interval / 2 < c->part_nominal &&
	    elapsed <= c->part_target)
		return HLS_CUT_APPEND;
	if (c->seg_parts + 2 >= HLS_PARTS_MAX)
		return HLS_CUT_BREAK;
	if (elapsed > c->part_target && c->nframes >= 2)
		return HLS_CUT_MOVE_LAST;
	return HLS_CUT_PART;
}

void
hls_constants(uint32_t fps_milli, uint32_t gop, uint32_t *interval,
    uint32_t *part_nominal, uint32_t *part_target, uint32_t *target_s)
{
	uint64_t iv, k, gop_ticks;

	if (fps_milli == 0)
		fps_milli = 30000;
	iv = mp4_frame_ticks(fps_milli);
	if (iv == 0)
		iv = 1;
	/* Frames per part: HLS_PART_AIM_MS worth, rounded, at least one. */
	k = ((uint64_t)HLS_PART_AIM_MS * fps_milli + 500000) / 1000000;
	if (k == 0)
		k = 1;
	*interval = (uint32_t)iv;
	*part_nominal = (uint32_t)(k * iv);
	*part_target = (uint32_t)((k * iv * (100 + HLS_PART_SLACK_PCT) + 99) /
	    100);
	if (gop == 0) {
		*target_s = HLS_TARGET_DEFAULT;
		return;
	}
	/* A GOP's length, plus up to 0.4 s of late frames, rounded up
	 * (6.2.1: an EXTINF rounded to the nearest second must not exceed
	 * the target): 1 s GOPs give 1. */
	gop_ticks = (uint64_t)gop * iv;
	*target_s = gop_ticks <= MP4_TIMESCALE * 14 / 10 ? 1 :
	    (uint32_t)((gop_ticks - MP4_TIMESCALE * 4 / 10 + MP4_TIMESCALE -
	    1) / MP4_TIMESCALE);
	if ((uint64_t)*target_s * MP4_TIMESCALE < *part_target)
		*target_s = (uint32_t)((*part_target + MP4_TIMESCALE - 1) /
		    MP4_TIMESCALE);
}
