/*
 * url.h - the http:// and https:// URLs of network sources: parsing
 * what the user gives (--source), resolving where a redirect points,
 * and describing a URL for logs and the ring without its secrets.
 *
 * Pure functions over strings (no I/O, no allocation), fuzzed through
 * tests/fuzz/fuzz_httpc.c.  Return values: 0, or -EINVAL with why[]
 * saying what is wrong.
 *
 * What is accepted (RFC 3986, the parts a camera URL uses):
 *   http[s]://[user[:password]@]host[:port][/path][?query][#fragment]
 *   - the scheme in any case; host a name (letters, digits, '-', '.',
 *     '_'), an IPv4 address or an IPv6 literal in brackets; port 1 to
 *     65535 (default 80 or 443);
 *   - user and password percent-decoded; the last '@' before the path
 *     ends them (a password with an unescaped '@' works);
 *   - path and query as sent in the request, printable ASCII without
 *     spaces; the fragment dropped.
 * Credentials never travel through url_resolve(): whether a redirect
 * target gets them is the caller's decision (same host and port only).
 */
#ifndef SHMCAM_URL_H
#define SHMCAM_URL_H

#include <stddef.h>
#include <stdint.h>

#define URL_HOST_MAX	256
#define URL_TARGET_MAX	2048
#define URL_CRED_MAX	128

struct url {
	int		 tls;			/* https */
	int		 ipv6;			/* host is an IPv6 literal */
	uint16_t	 port;
	char		 host[URL_HOST_MAX];	/* without brackets */
	char		 target[URL_TARGET_MAX];/* path and query */
	char		 user[URL_CRED_MAX];	/* "" if none */
	char		 pass[URL_CRED_MAX];
};

int	url_parse(const char *s, struct url *u, char *why, size_t whylen);

/*
 * Where a Location header (loc[0..len), not terminated) sends a request
 * made to base: an absolute URL, "//host/path", "/path" or a path
 * relative to base's.  out gets no credentials.
 */
int	url_resolve(const struct url *base, const char *loc, size_t len,
	    struct url *out, char *why, size_t whylen);

/* 1 if u's host is an IPv4 or IPv6 address, not a name to resolve. */
int	url_host_is_address(const struct url *u);

/* 1 if a and b are the same scheme, host and port. */
int	url_same_origin(const struct url *a, const struct url *b);

/*
 * "http://host:port/path" for logs, /state and the ring's source text:
 * never the user or password, and the query, where cameras often carry
 * credentials ("?user=admin&pwd=..."), as "?..." only.  Truncated to
 * size.
 */
void	url_describe(const struct url *u, char *buf, size_t size);

/*
 * Where the password is in the URL s as the user typed it: *off and
 * *len, both 0 if it has none.  The capture overwrites that span of its
 * argv, so that ps(1) and /proc/PID/cmdline do not show the password.
 */
void	url_password_span(const char *s, size_t *off, size_t *len);

/* The value of the Host header for u ("host", "host:port", "[v6]:p"). */
void	url_host_header(const struct url *u, char *buf, size_t size);

#endif /* SHMCAM_URL_H */
