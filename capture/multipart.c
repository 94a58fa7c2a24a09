/*
 * multipart.c - a multipart/x-mixed-replace parser for MJPEG streams
 * (see multipart.h for what it accepts and refuses).
 *
 * Two kinds of state: line states (the preamble before the first
 * boundary, a part's header block, the bytes after a body read by its
 * Content-Length, junk skipped up to the next boundary), which read one
 * line at a time and keep at most MULTIPART_LINE_MAX bytes of it; and
 * body states, which copy the part's bytes into mp_buf, either exactly
 * Content-Length of them or up to the next boundary line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "multipart.h"

enum {
	MP_PREAMBLE,		/* before the first boundary */
	MP_HEADERS,		/* a part's header block */
	MP_BODY_LENGTH,		/* a body of Content-Length bytes */
	MP_BODY_SCAN,		/* a body up to the next boundary line */
	MP_AFTER,		/* after a counted body: the boundary next */
	MP_SKIP,		/* junk: skipped up to a boundary line */
	MP_END,			/* after the closing boundary */
};

/* Leading dashes beyond this many, or blanks after the boundary, make a
 * line no boundary: the scan of a body for boundaries stays linear
 * whatever the body holds, and a boundary line has a bounded length. */
#define MP_DASHES_MAX	16
#define MP_BLANKS_MAX	8
#define MP_BUF_MIN	65536

static void
mp_part_reset(struct multipart *mp)
{
	mp->mp_headbytes = 0;
	mp->mp_headlines = 0;
	mp->mp_clen = -1;
	mp->mp_ts = 0;
	mp->mp_placeholder = 0;
	mp->mp_len = 0;
	mp->mp_scan = 0;
}

static void
mp_line_reset(struct multipart *mp)
{
	mp->mp_linelen = 0;
	mp->mp_linetotal = 0;
}

static void
mp_set_boundary(struct multipart *mp, const char *b, size_t n)
{
	while (n > 0 && *b == '-') {
		b++;
		n--;
	}
	memcpy(mp->mp_boundary, b, n);
	mp->mp_boundary[n] = '\0';
	mp->mp_blen = n;
}

int
multipart_init(struct multipart *mp, const char *boundary,
    const struct multipart_limits *lim)
{
	size_t n = boundary != NULL ? strlen(boundary) : 0;

	memset(mp, 0, sizeof(*mp));
	if (n > MULTIPART_BOUNDARY_MAX || lim->max_part == 0 ||
	    lim->max_head == 0 || lim->max_headers == 0)
		return -EINVAL;
	mp->mp_lim = *lim;
	mp_set_boundary(mp, boundary != NULL ? boundary : "", n);
	mp->mp_state = MP_PREAMBLE;
	mp_part_reset(mp);
	return 0;
}

void
multipart_free(struct multipart *mp)
{
	free(mp->mp_buf);
	mp->mp_buf = NULL;
	mp->mp_cap = 0;
	mp->mp_len = 0;
}

int
multipart_parse_timestamp(const char *s, size_t n, uint64_t *ns)
{
	/* 2500-01-01T00:00:00Z: beyond it, a uint64_t of nanoseconds is
	 * near its end, and no camera is that late. */
	const uint64_t max_s = 16725225600ull;
	uint64_t secs = 0, frac = 0, scale = 100000000;
	size_t i = 0, digits = 0;

	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		secs = secs * 10 + (uint64_t)(s[i] - '0');
		if (++digits > 11 || secs > max_s)
			return -EINVAL;
	}
	if (digits == 0 || secs == 0)
		return -EINVAL;
	if (i < n && s[i] == '.') {
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
			frac += (uint64_t)(s[i] - '0') * scale;
			scale /= 10;	/* digits beyond nanoseconds add 0 */
		}
	}
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
		i++;
	if (i != n)
		return -EINVAL;
	*ns = secs * 1000000000u + frac;
	return 0;
}

/*
 * Whether p[0..n), the start of a line, is a boundary line: dashes (any
 * number up to MP_DASHES_MAX, none included), the boundary, "--" if it
 * is the closing one, blanks, the line break.  eol: n is the end of the
 * line (its LF not included); else the line ends at an LF in p, and
 * *linelen gets the line's length with it.  1 yes, 0 no, -1 cannot tell
 * without more bytes.
 */
static int
mp_boundary_at(const struct multipart *mp, const uint8_t *p, size_t n,
    int eol, int *closing, size_t *linelen)
{
	size_t i = 0, k;

	if (mp->mp_blen == 0)
		return 0;
	while (i < n && p[i] == '-') {
		if (++i > MP_DASHES_MAX)
			return 0;
	}
	for (k = 0; k < mp->mp_blen; k++, i++) {
		if (i == n)
			return eol ? 0 : -1;
		if (p[i] != (uint8_t)mp->mp_boundary[k])
			return 0;
	}
	*closing = 0;
	if (i < n && p[i] == '-') {
		if (i + 1 == n)
			return eol ? 0 : -1;
		if (p[i + 1] != '-')
			return 0;
		*closing = 1;
		i += 2;
	}
	for (k = 0; i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r');
	    i++)
		if (++k > MP_BLANKS_MAX)
			return 0;
	if (i == n)
		return eol ? 1 : -1;
	if (!eol && p[i] == '\n') {
		*linelen = i + 1;
		return 1;
	}
	return 0;
}

/* The line in mp_line, complete and kept whole: a boundary line? */
static int
mp_line_is_boundary(const struct multipart *mp, int *closing)
{
	size_t unused;

	return mp->mp_linetotal == mp->mp_linelen &&
	    mp_boundary_at(mp, mp->mp_line, mp->mp_linelen, 1, closing,
	    &unused) == 1;
}

/* A blank line: nothing but a CR or blanks. */
static int
mp_line_is_blank(const struct multipart *mp)
{
	for (size_t i = 0; i < mp->mp_linelen; i++)
		if (mp->mp_line[i] != '\r' && mp->mp_line[i] != ' ' &&
		    mp->mp_line[i] != '\t')
			return 0;
	return mp->mp_linetotal == mp->mp_linelen;
}

/*
 * Takes bytes up to and including the next LF into mp_line (the LF
 * itself not kept, nor bytes beyond the buffer, which are only counted).
 * 1 when the line is complete, 0 when all of buf went in.
 */
static int
mp_line_take(struct multipart *mp, const uint8_t *buf, size_t len,
    size_t *used)
{
	const uint8_t *lf = memchr(buf, '\n', len);
	size_t n = lf != NULL ? (size_t)(lf - buf) : len;
	size_t room = sizeof(mp->mp_line) - mp->mp_linelen;

	memcpy(mp->mp_line + mp->mp_linelen, buf, n < room ? n : room);
	mp->mp_linelen += n < room ? n : room;
	mp->mp_linetotal += n;
	*used = lf != NULL ? n + 1 : n;
	return lf != NULL;
}

/*
 * The first line starting with "--" when no boundary was declared: the
 * boundary is what follows the dashes, blanks and CR trimmed.
 */
static int
mp_learn_boundary(struct multipart *mp)
{
	size_t n = mp->mp_linelen, dashes = 0;

	if (mp->mp_linetotal != n || n < 3 || mp->mp_line[0] != '-' ||
	    mp->mp_line[1] != '-')
		return 0;
	while (n > 0 && (mp->mp_line[n - 1] == '\r' ||
	    mp->mp_line[n - 1] == ' ' || mp->mp_line[n - 1] == '\t'))
		n--;
	while (dashes < n && mp->mp_line[dashes] == '-')
		dashes++;
	if (dashes == n || n - dashes > MULTIPART_BOUNDARY_MAX)
		return 0;
	for (size_t i = dashes; i < n; i++)
		if (mp->mp_line[i] < 0x21 || mp->mp_line[i] > 0x7e)
			return 0;
	mp_set_boundary(mp, (const char *)mp->mp_line + dashes, n - dashes);
	return 1;
}

static int mp_fail(struct multipart *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* Returns rc with the reason in mp_why. */
static int
mp_fail(struct multipart *mp, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(mp->mp_why, sizeof(mp->mp_why), fmt, ap);
	va_end(ap);
	return rc;
}

/* Makes room for need bytes of body; 0 or -ENOMEM. */
static int
mp_reserve(struct multipart *mp, size_t need)
{
	size_t cap = mp->mp_cap ? mp->mp_cap : MP_BUF_MIN;
	uint8_t *p;

	if (need <= mp->mp_cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if ((p = realloc(mp->mp_buf, cap)) == NULL)
		return mp_fail(mp, -ENOMEM, "out of memory for a %zu-byte "
		    "part", need);
	mp->mp_buf = p;
	mp->mp_cap = cap;
	return 0;
}

/* Starts the body of the part whose headers were read. */
static int
mp_body_start(struct multipart *mp)
{
	mp->mp_len = 0;
	mp->mp_scan = 0;
	mp->mp_scan0 = 1;
	if (mp->mp_clen >= 0) {
		mp->mp_state = MP_BODY_LENGTH;
		return mp_reserve(mp, (size_t)mp->mp_clen);
	}
	if (mp->mp_blen == 0)
		return mp_fail(mp, -EBADMSG, "a part without Content-Length "
		    "and no boundary to end it");
	mp->mp_state = MP_BODY_SCAN;
	return 0;
}

/* One header line of a part (mp_line, complete). */
static int
mp_header(struct multipart *mp)
{
	const char *line = (const char *)mp->mp_line;
	const char *colon = memchr(line, ':', mp->mp_linelen);
	const char *v;
	size_t namelen, vlen;
	uint64_t clen = 0;
	size_t i;

	if (colon == NULL)
		return 0;	/* not a header: ignored */
	namelen = (size_t)(colon - line);
	v = colon + 1;
	vlen = mp->mp_linelen - namelen - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == ' ' ||
	    v[vlen - 1] == '\t'))
		vlen--;
	if (namelen == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
		for (i = 0; i < vlen; i++) {
			if (v[i] < '0' || v[i] > '9')
				return 0;	/* unreadable: the boundary
						 * ends the part */
			if (i < 19)	/* 19 digits fit in 64 bits */
				clen = clen * 10 + (uint64_t)(v[i] - '0');
		}
		if (vlen == 0)
			return 0;
		if (vlen > 19 || clen > mp->mp_lim.max_part)
			return mp_fail(mp, -EMSGSIZE, "a part of %.*s bytes, "
			    "above the limit of %zu bytes",
			    (int)(vlen > 24 ? 24 : vlen), v,
			    mp->mp_lim.max_part);
		mp->mp_clen = (int64_t)clen;
	} else if (namelen == 11 &&
	    strncasecmp(line, "X-Timestamp", 11) == 0) {
		if (multipart_parse_timestamp(v, vlen, &mp->mp_ts) != 0)
			mp->mp_ts = 0;
	} else if (namelen == 20 &&
	    strncasecmp(line, "X-Shmcam-Placeholder", 20) == 0)
		mp->mp_placeholder = 1;
	return 0;
}

static void
mp_emit(struct multipart *mp, size_t len, struct multipart_part *part)
{
	part->data = mp->mp_buf;
	part->length = len;
	part->timestamp_ns = mp->mp_ts;
	part->placeholder = mp->mp_placeholder;
	mp->mp_parts++;
}

/* A line of a line state is complete in mp_line: act on it. */
static int
mp_line_done(struct multipart *mp)
{
	int closing = 0, rc = 0;

	switch (mp->mp_state) {
	case MP_PREAMBLE:
	case MP_AFTER:
	case MP_SKIP:
		if (mp->mp_blen == 0 && mp_learn_boundary(mp))
			closing = 0;
		else if (!mp_line_is_boundary(mp, &closing)) {
			if (mp->mp_state == MP_AFTER && !mp_line_is_blank(mp)) {
				mp->mp_state = MP_SKIP;
				mp->mp_resyncs++;
			}
			mp->mp_skipped += mp->mp_linetotal + 1;
			break;
		}
		mp->mp_skipped = 0;
		mp_part_reset(mp);
		mp->mp_state = closing ? MP_END : MP_HEADERS;
		break;
	case MP_HEADERS:
		if (mp_line_is_boundary(mp, &closing)) {
			/* The boundary again (a duplicated line), or a part
			 * that had headers and no body: start over. */
			mp_part_reset(mp);
			if (closing)
				mp->mp_state = MP_END;
			break;
		}
		if (mp->mp_linetotal > mp->mp_linelen)
			return mp_fail(mp, -E2BIG, "a header line longer than "
			    "%d bytes", MULTIPART_LINE_MAX);
		mp->mp_headbytes += mp->mp_linetotal + 1;
		if (mp->mp_headbytes > mp->mp_lim.max_head)
			return mp_fail(mp, -E2BIG, "a part's header block "
			    "above %zu bytes", mp->mp_lim.max_head);
		if (mp_line_is_blank(mp)) {
			rc = mp_body_start(mp);
			break;
		}
		if (++mp->mp_headlines > mp->mp_lim.max_headers)
			return mp_fail(mp, -E2BIG, "a part with more than %u "
			    "header lines", mp->mp_lim.max_headers);
		rc = mp_header(mp);
		break;
	}
	mp_line_reset(mp);
	return rc;
}

/*
 * The longest line that may still turn out to be a boundary line (the
 * boundary to learn may be as long as allowed): while a line is no
 * longer, the limits wait for its end, so that where the bytes were cut
 * into pieces never changes the outcome.
 */
static size_t
mp_bline_max(const struct multipart *mp)
{
	return (mp->mp_blen ? mp->mp_blen : MULTIPART_BOUNDARY_MAX) +
	    MP_DASHES_MAX + 2 + MP_BLANKS_MAX;
}

/* Limits on what a line state has read so far (mp_line_done() has
 * counted the lines before). */
static int
mp_line_limits(struct multipart *mp)
{
	size_t cur = mp->mp_linetotal > mp_bline_max(mp) ? mp->mp_linetotal :
	    0;

	switch (mp->mp_state) {
	case MP_PREAMBLE:
		if (mp->mp_skipped + cur > MULTIPART_PREAMBLE_MAX)
			return mp_fail(mp, -EBADMSG, "no boundary in the first "
			    "%d bytes", MULTIPART_PREAMBLE_MAX);
		break;
	case MP_AFTER:
	case MP_SKIP:
		if (mp->mp_skipped + cur > mp->mp_lim.max_part)
			return mp_fail(mp, -EBADMSG, "%zu bytes of junk and no "
			    "boundary", mp->mp_skipped + cur);
		break;
	case MP_HEADERS:
		if (mp->mp_linetotal > MULTIPART_LINE_MAX)
			return mp_fail(mp, -E2BIG, "a header line longer than "
			    "%d bytes", MULTIPART_LINE_MAX);
		if (mp->mp_headbytes + cur > mp->mp_lim.max_head)
			return mp_fail(mp, -E2BIG, "a part's header block "
			    "above %zu bytes", mp->mp_lim.max_head);
		break;
	}
	return 0;
}

/*
 * A header block whose next line starts with a JPEG's SOI: the body,
 * with no blank line before it.  1 if so (the state is a body state
 * now, with any byte kept in mp_line moved to it), 0 if not, -1 if the
 * first byte is all there is, or an error.
 */
static int
mp_headerless_body(struct multipart *mp, const uint8_t *buf, size_t len)
{
	int rc;

	if (mp->mp_linetotal == 0 && buf[0] == 0xff) {
		if (len < 2)
			return -1;
		if (buf[1] != 0xd8)
			return 0;
	} else if (!(mp->mp_linetotal == 1 && mp->mp_line[0] == 0xff &&
	    buf[0] == 0xd8))
		return 0;
	/* A zero Content-Length with a body behind it is wrong: the
	 * boundary ends this one. */
	if (mp->mp_clen == 0)
		mp->mp_clen = -1;
	if ((rc = mp_body_start(mp)) != 0)
		return rc;
	if (mp->mp_linetotal == 1) {
		if ((rc = mp_reserve(mp, 1)) != 0)
			return rc;
		mp->mp_buf[mp->mp_len++] = 0xff;
	}
	mp_line_reset(mp);
	return 1;
}

/* Body up to the next boundary line: see multipart_feed(). */
static int
mp_body_scan(struct multipart *mp, const uint8_t *buf, size_t len,
    size_t *used, struct multipart_part *part)
{
	/* Room for the body and the boundary line that ends it. */
	size_t limit = mp->mp_lim.max_part + mp->mp_blen + MP_DASHES_MAX + 8;
	size_t take, end = 0, lineend = 0, linelen = 0;
	size_t back, i;
	const uint8_t *lf;
	int rc, closing = 0;

	*used = 0;
	take = limit - mp->mp_len < len ? limit - mp->mp_len : len;
	if ((rc = mp_reserve(mp, mp->mp_len + take)) != 0)
		return rc;
	if (take > 0)
		memcpy(mp->mp_buf + mp->mp_len, buf, take);
	mp->mp_len += take;
	*used = take;

	/* The body's first byte starts a line too (an empty part). */
	if (mp->mp_scan0) {
		rc = mp_boundary_at(mp, mp->mp_buf, mp->mp_len, 0, &closing,
		    &linelen);
		if (rc == -1)
			goto more;
		if (rc == 1) {
			lineend = linelen;
			goto found;
		}
		mp->mp_scan0 = 0;
	}
	while ((lf = memchr(mp->mp_buf + mp->mp_scan, '\n',
	    mp->mp_len - mp->mp_scan)) != NULL) {
		i = (size_t)(lf - mp->mp_buf);
		rc = mp_boundary_at(mp, lf + 1, mp->mp_len - i - 1, 0,
		    &closing, &linelen);
		if (rc == -1) {
			mp->mp_scan = i;	/* look at this LF again */
			goto more;
		}
		if (rc == 1) {
			/* The line break before the boundary is its own. */
			end = i > 0 && mp->mp_buf[i - 1] == '\r' ? i - 1 : i;
			lineend = i + 1 + linelen;
			goto found;
		}
		mp->mp_scan = i + 1;
	}
	mp->mp_scan = mp->mp_len;
more:
	if (mp->mp_len >= limit)
		return mp_fail(mp, -EMSGSIZE, "no boundary within %zu bytes of "
		    "a part's body", mp->mp_lim.max_part);
	return 0;
found:
	/* Bytes behind the boundary line go back to the caller. */
	back = mp->mp_len - lineend;
	*used = back < take ? take - back : 0;
	mp->mp_state = closing ? MP_END : MP_HEADERS;
	if (end == 0) {
		mp_part_reset(mp);
		return 0;
	}
	mp_emit(mp, end, part);
	/* *part keeps the bytes (mp_buf stays) and what the headers said;
	 * the next header block starts from scratch. */
	mp_part_reset(mp);
	return 1;
}

int
multipart_feed(struct multipart *mp, const uint8_t *buf, size_t len,
    size_t *used, struct multipart_part *part)
{
	size_t off = 0, n = 0, take;
	int rc;

	while (off < len) {
		switch (mp->mp_state) {
		case MP_END:
			*used = off;
			return mp_fail(mp, -ESHUTDOWN, "the closing boundary: "
			    "the stream ended");
		case MP_BODY_LENGTH:
			take = (size_t)mp->mp_clen - mp->mp_len;
			if (take > len - off)
				take = len - off;
			if (take > 0)
				memcpy(mp->mp_buf + mp->mp_len, buf + off,
				    take);
			mp->mp_len += take;
			off += take;
			if (mp->mp_len < (size_t)mp->mp_clen)
				break;
			mp->mp_state = MP_AFTER;
			mp->mp_skipped = 0;
			if (mp->mp_len == 0)
				break;
			mp_emit(mp, mp->mp_len, part);
			*used = off;
			return 1;
		case MP_BODY_SCAN:
			rc = mp_body_scan(mp, buf + off, len - off, &n, part);
			off += n;
			if (rc != 0) {
				*used = off;
				return rc;
			}
			break;
		case MP_HEADERS:
			rc = mp_headerless_body(mp, buf + off, len - off);
			if (rc == -1) {
				/* A lone 0xff: kept as the line's start. */
				mp->mp_line[0] = buf[off++];
				mp->mp_linelen = mp->mp_linetotal = 1;
				break;
			}
			if (rc < 0) {
				*used = off;
				return rc;
			}
			if (rc == 1)
				break;
			/* FALLTHROUGH */
		default:
			rc = mp_line_take(mp, buf + off, len - off, &n);
			off += n;
			if (rc == 1)
				rc = mp_line_done(mp);
			if (rc == 0 && mp->mp_state != MP_END)
				rc = mp_line_limits(mp);
			if (rc != 0) {
				*used = off;
				return rc;
			}
			break;
		}
	}
	*used = off;
	if (mp->mp_state == MP_END)
		return mp_fail(mp, -ESHUTDOWN, "the closing boundary: the "
		    "stream ended");
	return 0;
}
