/*
 * url.c - http:// and https:// URLs (see url.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hex.h"
#include "url.h"

static int url_fail(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static int
url_fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Percent-decodes s[0..n) into out (size bytes, terminated); 0 or -1. */
static int
pct_decode(const char *s, size_t n, char *out, size_t size)
{
	size_t o = 0;
	int hi, lo;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			if (n - i < 3)
				return -1;
			if ((hi = hex_digit(s[i + 1])) < 0 ||
			    (lo = hex_digit(s[i + 2])) < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (c == '\0' || (unsigned char)c < 0x20 || c == 0x7f ||
		    o + 1 >= size)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

/* Printable ASCII without spaces: what a request target may hold. */
static int
target_chars_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

/* The scheme's length ("http://", "https://"), 0 if neither; *tls. */
static size_t
url_scheme(const char *s, int *tls)
{
	if (strncasecmp(s, "http://", 7) == 0) {
		*tls = 0;
		return 7;
	}
	if (strncasecmp(s, "https://", 8) == 0) {
		*tls = 1;
		return 8;
	}
	return 0;
}

/* The authority's end (first '/', '?', '#') and its last '@' (or NULL). */
static const char *
url_authority(const char *auth, const char **at)
{
	const char *end = auth + strcspn(auth, "/?#");

	*at = NULL;
	for (const char *q = auth; q < end; q++)
		if (*q == '@')
			*at = q;
	return end;
}

static int
url_set_target(struct url *u, const char *s, size_t n, char *why,
    size_t whylen)
{
	const char *frag = memchr(s, '#', n);
	size_t pre = 0;

	if (frag != NULL)
		n = (size_t)(frag - s);
	if (!target_chars_ok(s, n))
		return url_fail(why, whylen, "the path has spaces or control "
		    "characters (percent-encode them)");
	if (n == 0 || s[0] != '/')
		pre = 1;	/* "" and "?query" mean "/" and "/?query" */
	if (pre + n >= sizeof(u->target))
		return url_fail(why, whylen, "the path is longer than %zu "
		    "bytes", sizeof(u->target) - 1);
	u->target[0] = '/';
	memcpy(u->target + pre, s, n);
	u->target[pre + n] = '\0';
	return 0;
}

int
url_parse(const char *s, struct url *u, char *why, size_t whylen)
{
	const char *auth, *end, *at, *host, *hostend, *after, *colon;
	size_t skip, hostlen;
	unsigned long port;
	int tls = 0;

	memset(u, 0, sizeof(*u));
	if ((skip = url_scheme(s, &tls)) == 0)
		return url_fail(why, whylen, "expected http:// or https://");
	u->tls = tls;
	auth = s + skip;
	end = url_authority(auth, &at);

	if (at != NULL) {
		colon = memchr(auth, ':', (size_t)(at - auth));
		if (pct_decode(auth, (size_t)((colon ? colon : at) - auth),
		    u->user, sizeof(u->user)) != 0 || (colon != NULL &&
		    pct_decode(colon + 1, (size_t)(at - colon - 1), u->pass,
		    sizeof(u->pass)) != 0))
			return url_fail(why, whylen, "bad user or password "
			    "(too long, a bad %%-escape or a control "
			    "character)");
		host = at + 1;
	} else
		host = auth;

	if (*host == '[') {
		hostend = memchr(host, ']', (size_t)(end - host));
		if (hostend == NULL)
			return url_fail(why, whylen, "no ']' after the IPv6 "
			    "address");
		host++;
		after = hostend + 1;
		u->ipv6 = 1;
	} else {
		hostend = memchr(host, ':', (size_t)(end - host));
		if (hostend == NULL)
			hostend = end;
		after = hostend;
	}
	hostlen = (size_t)(hostend - host);
	if (hostlen == 0 || hostlen > 253)
		return url_fail(why, whylen, "no host name, or a host name "
		    "longer than 253 characters");
	for (size_t i = 0; i < hostlen; i++) {
		char c = host[i];
		int ok = u->ipv6 ? (hex_digit(c) >= 0 || c == ':' || c == '.') :
		    ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_');

		if (!ok)
			return url_fail(why, whylen, "bad character in the "
			    "host name");
	}
	if (u->ipv6 && memchr(host, ':', hostlen) == NULL)
		return url_fail(why, whylen, "not an IPv6 address in []");
	memcpy(u->host, host, hostlen);
	u->host[hostlen] = '\0';

	u->port = u->tls ? 443 : 80;
	if (after < end) {
		if (*after != ':')
			return url_fail(why, whylen, "junk after the host "
			    "name");
		port = 0;
		for (const char *q = after + 1; q < end; q++) {
			if (*q < '0' || *q > '9' || port > 65535)
				return url_fail(why, whylen, "bad port");
			port = port * 10 + (unsigned long)(*q - '0');
		}
		if (after + 1 < end) {
			if (port < 1 || port > 65535)
				return url_fail(why, whylen, "bad port");
			u->port = (uint16_t)port;
		}
	}
	return url_set_target(u, end, strlen(end), why, whylen);
}

int
url_resolve(const struct url *base, const char *loc, size_t len,
    struct url *out, char *why, size_t whylen)
{
	char buf[URL_HOST_MAX + URL_TARGET_MAX + 32];
	char target[URL_TARGET_MAX * 2];
	const char *q;
	size_t dir;
	int tls, rc;

	if (len == 0 || len >= URL_HOST_MAX + URL_TARGET_MAX ||
	    !target_chars_ok(loc, len))
		return url_fail(why, whylen, "a Location that is empty, too "
		    "long or has spaces or control characters");
	memcpy(buf, loc, len);
	buf[len] = '\0';
	if (len >= 2 && buf[0] == '/' && buf[1] == '/') {
		/* Scheme-relative: the base's scheme. */
		memmove(buf + (base->tls ? 6 : 5), buf, len + 1);
		memcpy(buf, base->tls ? "https:" : "http:", base->tls ? 6 : 5);
		rc = url_parse(buf, out, why, whylen);
	} else if (url_scheme(buf, &tls) != 0) {
		rc = url_parse(buf, out, why, whylen);
	} else if (memchr(buf, ':', strcspn(buf, "/?#")) != NULL) {
		return url_fail(why, whylen, "a redirect to a scheme other "
		    "than http and https");
	} else {
		*out = *base;
		dir = strcspn(base->target, "?");
		if (buf[0] == '/')
			dir = 0;
		else if (buf[0] != '?') {
			/* The base's directory, then loc. */
			q = base->target + dir;
			while (q > base->target && q[-1] != '/')
				q--;
			dir = (size_t)(q - base->target);
		}	/* "?query": the same path, another query */
		memcpy(target, base->target, dir);
		memcpy(target + dir, buf, len);
		rc = url_set_target(out, target, dir + len, why, whylen);
	}
	if (rc == 0) {
		memset(out->user, 0, sizeof(out->user));
		memset(out->pass, 0, sizeof(out->pass));
	}
	return rc;
}

int
url_host_is_address(const struct url *u)
{
	struct in6_addr a;

	return inet_pton(AF_INET, u->host, &a) == 1 ||
	    inet_pton(AF_INET6, u->host, &a) == 1;
}

int
url_same_origin(const struct url *a, const struct url *b)
{
	return a->tls == b->tls && a->port == b->port &&
	    strcasecmp(a->host, b->host) == 0;
}

/* ":port" unless it is the scheme's default, into buf. */
static void
url_port_suffix(const struct url *u, char *buf, size_t size)
{
	if (u->port == (u->tls ? 443 : 80))
		buf[0] = '\0';
	else
		snprintf(buf, size, ":%u", (unsigned)u->port);
}

void
url_host_header(const struct url *u, char *buf, size_t size)
{
	char port[8];

	url_port_suffix(u, port, sizeof(port));
	snprintf(buf, size, "%s%s%s%s", u->ipv6 ? "[" : "", u->host,
	    u->ipv6 ? "]" : "", port);
}

void
url_describe(const struct url *u, char *buf, size_t size)
{
	char host[URL_HOST_MAX + 16];
	size_t path = strcspn(u->target, "?"), fixed;
	const char *scheme = u->tls ? "https" : "http";
	const char *mark = u->target[path] == '?' ? "?..." : "";

	url_host_header(u, host, sizeof(host));
	/* A path too long for buf is cut, not the "?..." that says a query
	 * was left out. */
	fixed = strlen(scheme) + 3 + strlen(host) + strlen(mark);
	if (size > 0 && path > (fixed < size - 1 ? size - 1 - fixed : 0))
		path = fixed < size - 1 ? size - 1 - fixed : 0;
	snprintf(buf, size, "%s://%s%.*s%s", scheme, host, (int)path,
	    u->target, mark);
}

void
url_password_span(const char *s, size_t *off, size_t *len)
{
	const char *auth, *at, *colon;
	size_t skip;
	int tls;

	*off = *len = 0;
	if ((skip = url_scheme(s, &tls)) == 0)
		return;
	auth = s + skip;
	(void)url_authority(auth, &at);
	if (at == NULL)
		return;
	colon = memchr(auth, ':', (size_t)(at - auth));
	if (colon == NULL)
		return;
	*off = (size_t)(colon + 1 - s);
	*len = (size_t)(at - colon - 1);
}
