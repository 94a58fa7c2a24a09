/*
 * proto.c - RTSP 1.0 requests, Transport headers, URIs and response
 * heads as bytes (see proto.h).
 *
 * The grammar is RFC 2326's, which borrows HTTP/1.1's (RFC 2616): a
 * request line, header lines, a blank line, then Content-Length bytes of
 * body.  Lines may end in CRLF or a bare LF (as HTTP servers accept);
 * header lines folded onto the next (obsolete in HTTP, never sent by an
 * RTSP client we know) are refused rather than guessed at.  Empty lines
 * before a request are skipped, as RFC 2616 4.1 asks of servers.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "opt.h"
#include "proto.h"
#include "ring.h"

static const struct {
	enum rtsp_method m;
	const char	*name;
} methods[] = {
	{ RTSP_OPTIONS, "OPTIONS" },
	{ RTSP_DESCRIBE, "DESCRIBE" },
	{ RTSP_SETUP, "SETUP" },
	{ RTSP_PLAY, "PLAY" },
	{ RTSP_PAUSE, "PAUSE" },
	{ RTSP_TEARDOWN, "TEARDOWN" },
	{ RTSP_GET_PARAMETER, "GET_PARAMETER" },
	{ RTSP_SET_PARAMETER, "SET_PARAMETER" },
};

const char *
rtsp_method_name(enum rtsp_method m)
{
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (methods[i].m == m)
			return methods[i].name;
	return "OTHER";
}

/* RFC 2616 2.2 token characters. */
static int
is_tchar(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return 1;
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Where the head at buf ends (just past its blank line), or 0. */
static size_t
head_end(const uint8_t *buf, size_t len)
{
	const uint8_t *p = buf, *end = buf + len, *nl;

	while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		p = nl + 1;
		if (p < end && *p == '\n')
			return (size_t)(p + 1 - buf);
		if (p + 1 < end && p[0] == '\r' && p[1] == '\n')
			return (size_t)(p + 2 - buf);
	}
	return 0;
}

/* Cuts line endings: the next line after s (NUL-terminated in place), or
 * NULL at the end of the head. */
static char *
next_line(char *s)
{
	char *nl = strchr(s, '\n');

	if (nl == NULL)
		return NULL;
	*nl = '\0';
	if (nl > s && nl[-1] == '\r')
		nl[-1] = '\0';
	return nl + 1;
}

/* A decimal number of at most digits digits that is all of s, or -1. */
static long long
parse_decimal(const char *s, unsigned digits)
{
	long long v = 0;
	unsigned n;

	for (n = 0; s[n] >= '0' && s[n] <= '9'; n++) {
		if (n == digits)
			return -1;
		v = v * 10 + (s[n] - '0');
	}
	return n > 0 && s[n] == '\0' ? v : -1;
}

/* The request line: METHOD SP URI SP RTSP/1.0. */
static int
parse_request_line(char *line, struct rtsp_request *rq)
{
	char *uri, *version;
	size_t i, n;

	for (n = 0; is_tchar((unsigned char)line[n]); n++)
		;
	if (n == 0 || n >= RTSP_METHOD_MAX || line[n] != ' ')
		return -EBADMSG;
	line[n] = '\0';
	rq->rq_method_name = line;
	rq->rq_method = RTSP_OTHER;
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(line, methods[i].name) == 0)
			rq->rq_method = methods[i].m;
	uri = line + n + 1;
	for (n = 0; (unsigned char)uri[n] > 0x20 && (unsigned char)uri[n] < 0x7f;
	    n++)
		;
	if (n == 0 || uri[n] != ' ')
		return -EBADMSG;
	uri[n] = '\0';
	rq->rq_uri = uri;
	version = uri + n + 1;
	if (strcmp(version, "RTSP/1.0") == 0)
		return 0;
	if (strncmp(version, "RTSP/", 5) == 0 && version[5] >= '0' &&
	    version[5] <= '9' && version[6] == '.' && version[7] >= '0' &&
	    version[7] <= '9' && version[8] == '\0')
		return -EPROTONOSUPPORT;
	return -EBADMSG;
}

/* "Name: value" into h, value trimmed. */
static int
parse_header(char *line, struct rtsp_header *h)
{
	char *v, *end;
	size_t n;

	for (n = 0; is_tchar((unsigned char)line[n]); n++)
		;
	if (n == 0 || line[n] != ':')
		return -EBADMSG;
	line[n] = '\0';
	for (v = line + n + 1; *v == ' ' || *v == '\t'; v++)
		;
	for (end = v; *end != '\0'; end++)
		if (((unsigned char)*end < 0x20 && *end != '\t') ||
		    *end == 0x7f)
			return -EBADMSG;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
	h->h_name = line;
	h->h_value = v;
	return 0;
}

ssize_t
rtsp_request_parse(const uint8_t *buf, size_t len, struct rtsp_request *rq)
{
	const uint8_t *nl;
	size_t skip = 0, hlen, window;
	const char *v;
	char *line, *next;
	long long clen = 0;
	int rc;

	rq->rq_cseq = -1;
	rq->rq_nheaders = 0;
	rq->rq_body_len = 0;
	/* Empty lines before the request (a keepalive's trailing CRLF). */
	while (skip < len && (buf[skip] == '\r' || buf[skip] == '\n')) {
		if (++skip > RTSP_HEAD_MAX)
			return -EMSGSIZE;
	}
	buf += skip;
	len -= skip;
	if (len == 0)
		return 0;
	window = len < RTSP_LINE_MAX ? len : RTSP_LINE_MAX;
	nl = memchr(buf, '\n', window);
	if (nl == NULL)
		return len >= RTSP_LINE_MAX ? -EMSGSIZE : 0;
	window = len < RTSP_HEAD_MAX ? len : RTSP_HEAD_MAX;
	hlen = head_end(buf, window);
	if (hlen == 0)
		return len >= RTSP_HEAD_MAX ? -EMSGSIZE : 0;
	if (memchr(buf, '\0', hlen) != NULL)
		return -EBADMSG;
	memcpy(rq->rq_head, buf, hlen);
	rq->rq_head[hlen] = '\0';

	line = rq->rq_head;
	next = next_line(line);
	if ((rc = parse_request_line(line, rq)) != 0)
		return rc;
	for (line = next; line != NULL; line = next) {
		next = next_line(line);
		if (*line == '\0')
			break;		/* the blank line */
		if (rq->rq_nheaders == RTSP_HEADERS_MAX)
			return -EMSGSIZE;
		if (parse_header(line, &rq->rq_headers[rq->rq_nheaders]) != 0)
			return -EBADMSG;
		rq->rq_nheaders++;
	}
	if ((v = rtsp_header(rq, "CSeq")) != NULL)
		rq->rq_cseq = parse_decimal(v, 9);
	if ((v = rtsp_header(rq, "Content-Length")) != NULL) {
		clen = parse_decimal(v, 9);
		if (clen < 0)
			return -EBADMSG;
		if (clen > RTSP_BODY_MAX)
			return -EMSGSIZE;
	}
	if (len - hlen < (size_t)clen)
		return 0;
	memcpy(rq->rq_body, buf + hlen, (size_t)clen);
	rq->rq_body_len = (size_t)clen;
	return (ssize_t)(skip + hlen + (size_t)clen);
}

const char *
rtsp_header(const struct rtsp_request *rq, const char *name)
{
	unsigned i;

	for (i = 0; i < rq->rq_nheaders; i++)
		if (strcasecmp(rq->rq_headers[i].h_name, name) == 0)
			return rq->rq_headers[i].h_value;
	return NULL;
}

ssize_t
rtsp_interleaved_parse(const uint8_t *buf, size_t len, unsigned *channel,
    const uint8_t **payload, size_t *plen)
{
	size_t n;

	if (len == 0)
		return 0;
	if (buf[0] != '$')
		return -EBADMSG;
	if (len < 4)
		return 0;
	n = (size_t)buf[2] << 8 | buf[3];
	if (len - 4 < n)
		return 0;
	*channel = buf[1];
	*payload = buf + 4;
	*plen = n;
	return (ssize_t)(4 + n);
}

/* ---------------------------------------------------------- Transport */

#define TRANSPORT_MAX	1024

/* "A" or "A-B", each in [min, max]; B defaults to A + 1. */
static int
parse_pair(const char *s, unsigned min, unsigned max, unsigned out[2])
{
	char a[8], *dash;
	unsigned long v;

	if (strlen(s) >= 16)
		return -1;
	dash = strchr(s, '-');
	if (dash == NULL) {
		if (opt_parse_uint(s, min, max, 10, &v) != 0 || v == max)
			return -1;
		out[0] = (unsigned)v;
		out[1] = (unsigned)v + 1;
		return 0;
	}
	if ((size_t)(dash - s) >= sizeof(a))
		return -1;
	memcpy(a, s, (size_t)(dash - s));
	a[dash - s] = '\0';
	if (opt_parse_uint(a, min, max, 10, &v) != 0)
		return -1;
	out[0] = (unsigned)v;
	if (opt_parse_uint(dash + 1, min, max, 10, &v) != 0)
		return -1;
	out[1] = (unsigned)v;
	return 0;
}

/* One transport-spec, cut at its ';'s in place: 0 if we serve it. */
static int
parse_transport_spec(char *spec, struct rtsp_transport *tr)
{
	char *param, *save = NULL, *eq;
	int have_port = 0;

	memset(tr, 0, sizeof(*tr));
	param = strtok_r(spec, ";", &save);
	if (param == NULL)
		return -1;
	while (*param == ' ' || *param == '\t')
		param++;
	if (strcasecmp(param, "RTP/AVP") == 0 ||
	    strcasecmp(param, "RTP/AVP/UDP") == 0)
		tr->tr_lower = RTSP_LOWER_UDP;
	else if (strcasecmp(param, "RTP/AVP/TCP") == 0)
		tr->tr_lower = RTSP_LOWER_TCP;
	else
		return -1;
	while ((param = strtok_r(NULL, ";", &save)) != NULL) {
		while (*param == ' ' || *param == '\t')
			param++;
		eq = strchr(param, '=');
		if (eq != NULL)
			*eq++ = '\0';
		if (strcasecmp(param, "multicast") == 0)
			return -1;
		if (strcasecmp(param, "mode") == 0) {
			if (eq == NULL || (strcasecmp(eq, "PLAY") != 0 &&
			    strcasecmp(eq, "\"PLAY\"") != 0))
				return -1;
		} else if (strcasecmp(param, "interleaved") == 0) {
			if (eq == NULL ||
			    parse_pair(eq, 0, 255, tr->tr_channel) != 0)
				return -1;
			tr->tr_interleaved = 1;
		} else if (strcasecmp(param, "client_port") == 0) {
			if (eq == NULL || parse_pair(eq, 1, 65535,
			    tr->tr_client_port) != 0)
				return -1;
			have_port = 1;
		}
		/* unicast, destination, ttl, ssrc, append, port: nothing
		 * we act on (destination: see proto.h). */
	}
	if (tr->tr_lower == RTSP_LOWER_UDP && !have_port)
		return -1;
	if (tr->tr_lower == RTSP_LOWER_UDP)
		tr->tr_interleaved = 0;
	return 0;
}

int
rtsp_transport_parse(const char *value, struct rtsp_transport *tr)
{
	char copy[TRANSPORT_MAX], *spec, *save = NULL;
	size_t n = strlen(value);

	if (n == 0 || n >= sizeof(copy))
		return -EBADMSG;
	memcpy(copy, value, n + 1);
	for (spec = strtok_r(copy, ",", &save); spec != NULL;
	    spec = strtok_r(NULL, ",", &save))
		if (parse_transport_spec(spec, tr) == 0)
			return 0;
	memset(tr, 0, sizeof(*tr));
	return -ENOTSUP;
}

/* ---------------------------------------------------------------- URIs */

static int
seg_is(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

enum rtsp_target
rtsp_uri_target(const char *uri, char *camera, size_t size, int *alias)
{
	const char *path, *seg[3];
	size_t plen, seglen[3], nseg = 0, i, start;
	enum rtsp_target t = RTSP_TARGET_STREAM;
	char name[RING_NAME_MAX];

	if (size > 0)
		camera[0] = '\0';
	*alias = 0;
	if (strcmp(uri, "*") == 0)
		return RTSP_TARGET_ANY;
	if (strncasecmp(uri, "rtsp://", 7) == 0 ||
	    strncasecmp(uri, "rtsps://", 8) == 0) {
		path = strstr(uri, "://") + 3;
		path += strcspn(path, "/?#");
	} else if (uri[0] == '/') {
		path = uri;
	} else {
		return RTSP_TARGET_NONE;
	}
	plen = strcspn(path, "?#");
	while (plen > 0 && path[plen - 1] == '/')
		plen--;
	/* Segments between slashes: "/a/b" is "a", "b". */
	for (i = 0; i < plen; ) {
		if (path[i] != '/')
			return RTSP_TARGET_NONE;
		start = ++i;
		while (i < plen && path[i] != '/')
			i++;
		if (i == start || nseg == 3)
			return RTSP_TARGET_NONE;
		seg[nseg] = path + start;
		seglen[nseg++] = i - start;
	}
	if (nseg > 0 && seg_is(seg[nseg - 1], seglen[nseg - 1],
	    RTSP_TRACK_CONTROL)) {
		t = RTSP_TARGET_TRACK;
		nseg--;
	}
	if (nseg == 2 && !seg_is(seg[1], seglen[1], "stream"))
		return RTSP_TARGET_NONE;
	if (nseg > 2)
		return RTSP_TARGET_NONE;
	if (nseg == 0)
		return t;
	if (seglen[0] >= sizeof(name) || seglen[0] >= size)
		return RTSP_TARGET_NONE;
	memcpy(name, seg[0], seglen[0]);
	name[seglen[0]] = '\0';
	if (ring_camera_name_valid(name) != 0)
		return RTSP_TARGET_NONE;
	memcpy(camera, name, seglen[0] + 1);
	*alias = nseg == 1 && strcmp(name, "stream") == 0;
	return t;
}

/* ------------------------------------------------------------ responses */

const char *
rtsp_reason(unsigned status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Request Entity Too Large";
	case 414: return "Request-URI Too Large";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 451: return "Parameter Not Understood";
	case 454: return "Session Not Found";
	case 455: return "Method Not Valid in This State";
	case 459: return "Aggregate Operation Not Allowed";
	case 461: return "Unsupported Transport";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "RTSP Version Not Supported";
	}
	return "Unknown";
}

int
rtsp_putf(char *buf, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (*n >= size)
		return -1;
	va_start(ap, fmt);
	r = vsnprintf(buf + *n, size - *n, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= size - *n) {
		*n = size;
		return -1;
	}
	*n += (size_t)r;
	return 0;
}

ssize_t
rtsp_response_format(char *buf, size_t size, const struct rtsp_response *rs)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed",
	    "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	size_t n = 0;
	struct tm tm;
	time_t t;
	int bad = 0;

	bad |= rtsp_putf(buf, size, &n, "RTSP/1.0 %u %s\r\n", rs->rs_status,
	    rtsp_reason(rs->rs_status));
	if (rs->rs_cseq >= 0)
		bad |= rtsp_putf(buf, size, &n, "CSeq: %lld\r\n", rs->rs_cseq);
	t = (time_t)rs->rs_date;
	if (rs->rs_date != 0 && gmtime_r(&t, &tm) != NULL)
		bad |= rtsp_putf(buf, size, &n, "Date: %s, %02d %s %04d %02d:%02d:%02d "
		    "GMT\r\n", days[tm.tm_wday % 7], tm.tm_mday,
		    months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
	bad |= rtsp_putf(buf, size, &n, "Server: shmcam/%s\r\n", SHMCAM_VERSION);
	if (rs->rs_session != NULL)
		bad |= rtsp_putf(buf, size, &n, "Session: %s;timeout=%u\r\n",
		    rs->rs_session, rs->rs_timeout);
	if (rs->rs_body_len > 0)
		bad |= rtsp_putf(buf, size, &n, "Content-Type: %s\r\n"
		    "Content-Length: %zu\r\n", rs->rs_content_type != NULL ?
		    rs->rs_content_type : "text/plain", rs->rs_body_len);
	if (rs->rs_headers != NULL)
		bad |= rtsp_putf(buf, size, &n, "%s", rs->rs_headers);
	bad |= rtsp_putf(buf, size, &n, "\r\n");
	return bad ? -EMSGSIZE : (ssize_t)n;
}
