/*
 * route.c - what a request line asks for.  Pure functions of the path and
 * query string, so the Check suite can test them without a server.
 *
 * Paths
 *   /, /index.html                      the viewer page, or the action=
 *   /stream, /snapshot, /snapshot.jpg   ... of the only camera
 *   /stream.mp4                         its H.264 as fragmented MP4
 *   /hls.m3u8, /hls/NAME                its H.264 as LL-HLS (hls.h names)
 *   /state, /metrics                    all cameras
 *   /NAME/, /NAME/stream, ...           camera NAME (any number)
 *   /NAME                               redirected to /NAME/
 *
 * The action= parameter is matched the way mjpg-streamer's clients use
 * it in the wild: anywhere in the query, other parameters ignored, and
 * its value cut at the first character that cannot belong to it (so
 * "?action=stream?nonce=1" is a stream and "?12345" is nothing at all).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "server.h"

static int
query_sep(char c)
{
	return c == '&' || c == ';' || c == '?' || c == '#' || c == '\0';
}

size_t
query_param(const char *query, const char *name, const char **value)
{
	size_t nlen = strlen(name), n;
	const char *p = query;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, name, nlen) == 0 &&
		    (p[nlen] == '=' || query_sep(p[nlen]))) {
			p += nlen;
			if (*p == '=')
				p++;
			for (n = 0; !query_sep(p[n]); n++)
				;
			*value = p;
			return n + 1;	/* value length + 1: found */
		}
		while (!query_sep(*p))
			p++;
		if (*p == '\0' || *p == '#')
			break;
		p++;
	}
	return 0;
}

/* action=VALUE: the value's word characters, or 0. */
static size_t
query_action(const char *query, const char **value)
{
	size_t n, found;

	found = query_param(query, "action", value);
	if (found == 0)
		return 0;
	for (n = 0; n < found - 1 && ((*value)[n] == '_' ||
	    ((*value)[n] >= 'a' && (*value)[n] <= 'z') ||
	    ((*value)[n] >= 'A' && (*value)[n] <= 'Z') ||
	    ((*value)[n] >= '0' && (*value)[n] <= '9')); n++)
		;
	return n;
}

static int
eq(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

/* The endpoint of a path below a camera (or the top level). */
static enum route
route_endpoint(const char *p, size_t len, const char *query)
{
	const char *action;
	struct hls_name hn;
	size_t n;

	if (len == 0 || eq(p, len, "/") || eq(p, len, "/index.html")) {
		n = query != NULL ? query_action(query, &action) : 0;
		if (n == 6 && strncmp(action, "stream", 6) == 0)
			return ROUTE_STREAM;
		if (n == 8 && strncmp(action, "snapshot", 8) == 0)
			return ROUTE_SNAPSHOT;
		return ROUTE_INDEX;
	}
	if (eq(p, len, "/stream") || eq(p, len, "/stream.mjpg"))
		return ROUTE_STREAM;
	if (eq(p, len, "/stream.mp4"))
		return ROUTE_MP4;
	if (eq(p, len, "/snapshot") || eq(p, len, "/snapshot.jpg"))
		return ROUTE_SNAPSHOT;
	if (eq(p, len, "/state"))
		return ROUTE_STATE;
	if (eq(p, len, "/metrics"))
		return ROUTE_METRICS;
	if (eq(p, len, "/hls.m3u8"))
		return ROUTE_HLS;
	/* Only names hls.c could have made: a camera called "hls" keeps
	 * its /hls/stream and the rest. */
	if (len > 5 && memcmp(p, "/hls/", 5) == 0 &&
	    hls_name_parse(p + 5, len - 5, &hn) == 0)
		return ROUTE_HLS_FILE;
	return ROUTE_NONE;
}

enum route
route_parse(const char *path, size_t pathlen, const char *query,
    char *camera, size_t camsize)
{
	enum route r;
	const char *slash;
	size_t nlen;
	char name[RING_NAME_MAX];

	camera[0] = '\0';
	r = route_endpoint(path, pathlen, query);
	if (r != ROUTE_NONE)
		return r;
	/* /NAME or /NAME/... */
	if (pathlen < 2 || path[0] != '/')
		return ROUTE_NONE;
	slash = memchr(path + 1, '/', pathlen - 1);
	nlen = slash != NULL ? (size_t)(slash - path - 1) : pathlen - 1;
	if (nlen == 0 || nlen >= sizeof(name) || nlen >= camsize)
		return ROUTE_NONE;
	memcpy(name, path + 1, nlen);
	name[nlen] = '\0';
	if (ring_name_valid(name) != 0)
		return ROUTE_NONE;
	if (slash == NULL)
		r = ROUTE_REDIRECT;
	else {
		r = route_endpoint(slash, pathlen - nlen - 1, query);
		if (r == ROUTE_METRICS)
			r = ROUTE_NONE;
	}
	if (r != ROUTE_NONE)
		memcpy(camera, name, nlen + 1);
	return r;
}

static int
param_bool(const char *v, size_t found)
{
	size_t n = found - 1;

	if (n == 0)
		return 1;	/* a bare "advance_headers" */
	return !(eq(v, n, "0") || eq(v, n, "false") || eq(v, n, "no") ||
	    eq(v, n, "off"));
}

int
stream_params_parse(const char *query, struct stream_params *sp)
{
	const char *v;
	char buf[32], *end;
	size_t found, i, o;
	double fps;

	memset(sp, 0, sizeof(*sp));
	if (query == NULL)
		return 0;
	if ((found = query_param(query, "fps", &v)) != 0) {
		if (found - 1 == 0 || found - 1 >= sizeof(buf))
			return -EINVAL;
		memcpy(buf, v, found - 1);
		buf[found - 1] = '\0';
		fps = strtod(buf, &end);
		if (*end != '\0' || !(fps >= 0) || fps > 1000 ||
		    (buf[0] < '0' || buf[0] > '9'))
			return -EINVAL;
		/* fps=0: no cap, as with no fps at all. */
		if (fps > 0) {
			if (fps < 0.01)
				fps = 0.01;
			sp->sp_fps = fps;
			sp->sp_interval_ns = (uint64_t)(1e9 / fps);
		}
	}
	if ((found = query_param(query, "advance_headers", &v)) != 0)
		sp->sp_advance_headers = param_bool(v, found);
	if ((found = query_param(query, "extra_headers", &v)) != 0)
		sp->sp_extra_headers = param_bool(v, found);
	if ((found = query_param(query, "key", &v)) != 0) {
		/* Percent-decoded; anything unprintable becomes '?'. */
		size_t n = found - 1;

		for (i = o = 0; i < n && o < sizeof(sp->sp_key) - 1; i++) {
			int c = (unsigned char)v[i];

			if (c == '%' && i + 2 < n && hex_digit(v[i + 1]) >= 0 &&
			    hex_digit(v[i + 2]) >= 0) {
				c = hex_digit(v[i + 1]) * 16 + hex_digit(v[i + 2]);
				i += 2;
			} else if (c == '+')
				c = ' ';
			sp->sp_key[o++] = (c >= 0x20 && c < 0x7f) ? (char)c :
			    '?';
		}
		sp->sp_key[o] = '\0';
	}
	return 0;
}
