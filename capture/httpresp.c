/*
 * httpresp.c - an HTTP/1.x response head, the chunked coding, and
 * Content-Type (see httpresp.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hex.h"
#include "httpresp.h"

static int resp_fail(char *, size_t, int, const char *, ...)
    __attribute__((format(printf, 4, 5)));

static int
resp_fail(char *why, size_t whylen, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return rc;
}

/*
 * Takes bytes up to and including the next LF into line (size bytes;
 * the LF not kept, nor what does not fit, which is only counted in
 * *total).  1 when the line is complete, 0 when all of buf went in.
 */
static int
line_take(char *line, size_t size, size_t *linelen, size_t *total,
    const uint8_t *buf, size_t len, size_t *used)
{
	const uint8_t *lf = memchr(buf, '\n', len);
	size_t n = lf != NULL ? (size_t)(lf - buf) : len;
	size_t room = size - 1 - *linelen;

	memcpy(line + *linelen, buf, n < room ? n : room);
	*linelen += n < room ? n : room;
	*total += n;
	line[*linelen] = '\0';
	*used = lf != NULL ? n + 1 : n;
	return lf != NULL;
}

/* Trims blanks and a CR from both ends of s[0..*n); returns the start. */
static const char *
trim(const char *s, size_t *n)
{
	while (*n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		(*n)--;
	}
	while (*n > 0 && (s[*n - 1] == ' ' || s[*n - 1] == '\t' ||
	    s[*n - 1] == '\r'))
		(*n)--;
	return s;
}

/* 1 if the comma-separated list v[0..n) has token tok (any case). */
static int
has_token(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok), i = 0, j, k;
	const char *t;

	while (i < n) {
		j = i;
		while (j < n && v[j] != ',')
			j++;
		k = j - i;
		t = trim(v + i, &k);
		if (k == tl && strncasecmp(t, tok, tl) == 0)
			return 1;
		i = j + 1;
	}
	return 0;
}

void
http_head_init(struct http_head_parser *hp, size_t max_bytes,
    unsigned max_lines)
{
	memset(hp, 0, sizeof(*hp));
	hp->hp_max_bytes = max_bytes;
	hp->hp_max_lines = max_lines;
	hp->hp_head.content_length = -1;
}

static int
head_status(struct http_head_parser *hp)
{
	const char *l = hp->hp_line;
	size_t n = hp->hp_linelen;

	/* "HTTP/1.x NNN[ reason]" */
	if (n < 12 || strncmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' ||
	    l[7] > '9' || l[8] != ' ' || l[9] < '1' || l[9] > '5' ||
	    l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9' ||
	    (n > 12 && l[12] != ' ' && l[12] != '\r'))
		return resp_fail(hp->hp_why, sizeof(hp->hp_why), -EBADMSG,
		    "not an HTTP/1.x response: \"%.40s\"", l);
	hp->hp_head.minor = l[7] - '0';
	hp->hp_head.status = (l[9] - '0') * 100 + (l[10] - '0') * 10 +
	    (l[11] - '0');
	return 0;
}

static int
head_header(struct http_head_parser *hp)
{
	struct http_head *h = &hp->hp_head;
	const char *l = hp->hp_line, *colon, *v;
	size_t nl, vn;
	uint64_t clen = 0;

	if ((colon = strchr(l, ':')) == NULL)
		return 0;	/* not a header (or a folded line): ignored */
	nl = (size_t)(colon - l);
	vn = hp->hp_linelen - nl - 1;
	v = trim(colon + 1, &vn);
	if (nl == 14 && strncasecmp(l, "Content-Length", nl) == 0) {
		if (vn == 0 || vn > 18)
			return resp_fail(hp->hp_why, sizeof(hp->hp_why),
			    -EBADMSG, "bad Content-Length");
		for (size_t i = 0; i < vn; i++) {
			if (v[i] < '0' || v[i] > '9')
				return resp_fail(hp->hp_why,
				    sizeof(hp->hp_why), -EBADMSG,
				    "bad Content-Length");
			clen = clen * 10 + (uint64_t)(v[i] - '0');
		}
		h->content_length = (int64_t)clen;
	} else if (nl == 17 && strncasecmp(l, "Transfer-Encoding", nl) == 0) {
		if (has_token(v, vn, "chunked"))
			h->chunked = 1;
	} else if (nl == 10 && strncasecmp(l, "Connection", nl) == 0) {
		if (has_token(v, vn, "close"))
			hp->hp_closeseen = 1;
		if (has_token(v, vn, "keep-alive"))
			hp->hp_keepalive = 1;
	} else if (nl == 12 && strncasecmp(l, "Content-Type", nl) == 0) {
		snprintf(h->content_type, sizeof(h->content_type), "%.*s",
		    (int)vn, v);
	} else if (nl == 8 && strncasecmp(l, "Location", nl) == 0) {
		if (vn >= sizeof(h->location))
			h->location_cut = 1;
		snprintf(h->location, sizeof(h->location), "%.*s", (int)vn, v);
	} else if (nl == 11 && strncasecmp(l, "X-Timestamp", nl) == 0) {
		snprintf(h->x_timestamp, sizeof(h->x_timestamp), "%.*s",
		    (int)vn, v);
	} else if (nl == 20 && strncasecmp(l, "X-Shmcam-Placeholder", nl) ==
	    0) {
		h->placeholder = 1;
	} else if (nl == 16 && strncasecmp(l, "WWW-Authenticate", nl) == 0) {
		size_t have = strlen(h->challenge);

		snprintf(h->challenge + have, sizeof(h->challenge) - have,
		    "%s%.*s", have ? ", " : "", (int)vn, v);
	}
	return 0;
}

int
http_head_feed(struct http_head_parser *hp, const uint8_t *buf, size_t len,
    size_t *used)
{
	struct http_head *h = &hp->hp_head;
	size_t off = 0, n;
	int rc;

	while (off < len) {
		rc = line_take(hp->hp_line, sizeof(hp->hp_line),
		    &hp->hp_linelen, &hp->hp_linetotal, buf + off, len - off,
		    &n);
		off += n;
		if (hp->hp_linetotal >= sizeof(hp->hp_line) - 1 ||
		    hp->hp_bytes + hp->hp_linetotal > hp->hp_max_bytes) {
			*used = off;
			return resp_fail(hp->hp_why, sizeof(hp->hp_why),
			    -E2BIG, "response head above %zu bytes, or a "
			    "line above %zu", hp->hp_max_bytes,
			    sizeof(hp->hp_line) - 2);
		}
		if (rc == 0)
			break;
		hp->hp_bytes += hp->hp_linetotal + 1;
		if (hp->hp_lines++ == 0)
			rc = head_status(hp);
		else if (hp->hp_linelen == 0 || (hp->hp_linelen == 1 &&
		    hp->hp_line[0] == '\r')) {
			/* The blank line: the head is complete. */
			h->close = hp->hp_closeseen || (h->minor == 0 &&
			    !hp->hp_keepalive);
			*used = off;
			return 1;
		} else if (hp->hp_lines > hp->hp_max_lines)
			rc = resp_fail(hp->hp_why, sizeof(hp->hp_why), -E2BIG,
			    "more than %u header lines", hp->hp_max_lines);
		else
			rc = head_header(hp);
		hp->hp_linelen = hp->hp_linetotal = 0;
		if (rc != 0) {
			*used = off;
			return rc;
		}
	}
	*used = off;
	return 0;
}

/* ------------------------------------------------------------ chunked */

enum { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER, CH_DONE };

void
http_chunked_init(struct http_chunked *ch)
{
	memset(ch, 0, sizeof(*ch));
	ch->ch_state = CH_SIZE;
}

/* A chunk-size line: hexadecimal, then extensions (ignored). */
static int
chunk_size(struct http_chunked *ch)
{
	const char *l = ch->ch_line;
	uint64_t v = 0;
	size_t i = 0, digits = 0;
	int hx;

	while (l[i] == ' ' || l[i] == '\t')
		i++;
	for (; (hx = hex_digit(l[i])) >= 0; i++, digits++) {
		if (v >> 56)
			return resp_fail(ch->ch_why, sizeof(ch->ch_why),
			    -EBADMSG, "a chunk size beyond 2^60");
		v = v << 4 | (uint64_t)hx;
	}
	if (digits == 0 || (l[i] != '\0' && l[i] != ';' && l[i] != ' ' &&
	    l[i] != '\t' && l[i] != '\r'))
		return resp_fail(ch->ch_why, sizeof(ch->ch_why), -EBADMSG,
		    "not a chunk size: \"%.20s\"", l);
	ch->ch_left = v;
	ch->ch_state = v == 0 ? CH_TRAILER : CH_DATA;
	return 0;
}

int
http_chunked_feed(struct http_chunked *ch, const uint8_t *buf, size_t len,
    size_t *used, const uint8_t **data, size_t *datalen)
{
	size_t off = 0, n;
	int rc;

	*data = NULL;
	*datalen = 0;
	while (off < len) {
		switch (ch->ch_state) {
		case CH_DATA:
			n = len - off;
			if (n > ch->ch_left)
				n = (size_t)ch->ch_left;
			*data = buf + off;
			*datalen = n;
			ch->ch_left -= n;
			if (ch->ch_left == 0)
				ch->ch_state = CH_DATA_END;
			*used = off + n;
			return 1;
		case CH_DONE:
			*used = off;
			return 2;
		default:
			rc = line_take(ch->ch_line, sizeof(ch->ch_line),
			    &ch->ch_linelen, &ch->ch_linetotal, buf + off,
			    len - off, &n);
			off += n;
			if (ch->ch_linetotal >= sizeof(ch->ch_line) - 1) {
				*used = off;
				return resp_fail(ch->ch_why,
				    sizeof(ch->ch_why), -E2BIG, "a chunk-size "
				    "or trailer line above %zu bytes",
				    sizeof(ch->ch_line) - 2);
			}
			if (rc == 0)
				break;
			rc = 0;
			if (ch->ch_state == CH_SIZE) {
				/* Cameras that put a blank line before the
				 * size get it skipped. */
				if (ch->ch_linelen > 0 &&
				    strcmp(ch->ch_line, "\r") != 0)
					rc = chunk_size(ch);
			} else if (ch->ch_state == CH_DATA_END) {
				if (ch->ch_linelen > 1 || (ch->ch_linelen == 1
				    && ch->ch_line[0] != '\r'))
					rc = resp_fail(ch->ch_why,
					    sizeof(ch->ch_why), -EBADMSG,
					    "no line break after a chunk");
				ch->ch_state = CH_SIZE;
			} else if (ch->ch_linelen == 0 ||
			    strcmp(ch->ch_line, "\r") == 0)
				ch->ch_state = CH_DONE;	/* end of trailer */
			ch->ch_linelen = ch->ch_linetotal = 0;
			if (rc != 0) {
				*used = off;
				return rc;
			}
			if (ch->ch_state == CH_DONE) {
				*used = off;
				return 2;
			}
			break;
		}
	}
	*used = off;
	return ch->ch_state == CH_DONE ? 2 : 0;
}

/* ------------------------------------------------------- Content-Type */

int
http_content_type(const char *value, char *type, size_t typelen,
    char *boundary, size_t blen)
{
	const char *p = value, *semi, *name, *v;
	size_t n, o;

	type[0] = '\0';
	boundary[0] = '\0';
	semi = p + strcspn(p, ";");
	n = (size_t)(semi - p);
	p = trim(p, &n);
	if (n >= typelen)
		return -E2BIG;
	for (size_t i = 0; i < n; i++)
		type[i] = (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] | 0x20 :
		    p[i]);
	type[n] = '\0';
	while (*semi == ';') {
		name = semi + 1;
		while (*name == ' ' || *name == '\t')
			name++;
		v = name + strcspn(name, "=;");
		n = (size_t)(v - name);
		(void)trim(name, &n);
		if (*v != '=') {
			semi = v;
			continue;
		}
		v++;
		while (*v == ' ' || *v == '\t')
			v++;
		o = 0;
		if (*v == '"') {
			/* A quoted string, with \-escapes. */
			for (v++; *v != '\0' && *v != '"'; v++) {
				if (*v == '\\' && v[1] != '\0')
					v++;
				if (n == 8 && strncasecmp(name, "boundary", 8)
				    == 0) {
					if (o + 1 >= blen)
						return -E2BIG;
					boundary[o++] = *v;
				}
			}
			if (*v == '"')
				v++;
		} else {
			for (; *v != '\0' && *v != ';' && *v != ' ' &&
			    *v != '\t'; v++)
				if (n == 8 && strncasecmp(name, "boundary", 8)
				    == 0) {
					if (o + 1 >= blen)
						return -E2BIG;
					boundary[o++] = *v;
				}
		}
		if (n == 8 && strncasecmp(name, "boundary", 8) == 0)
			boundary[o] = '\0';
		semi = v + strcspn(v, ";");
	}
	return 0;
}
