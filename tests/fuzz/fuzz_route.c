/*
 * fuzz_route.c - the server's pure request parsers against arbitrary
 * text: the route table with its lenient action= matching
 * (route_parse()), query parameters (query_param(),
 * stream_params_parse()), the Authorization header and auth-file lines
 * (auth_decode_basic(), auth_parse_line()), JSON escaping of text we do
 * not control (json_escape()) and --listen addresses (listen_parse()).
 *
 * The input, cut at its first NUL as a C string from evhttp would be, is
 * a request target (path and query) and at the same time a header value
 * and a line.  Outputs are checked against the contracts in server.h:
 * strings NUL-terminated within their buffers, a camera name that is a
 * valid one, a key that is printable, an fps in range, credentials
 * without NUL and a user without ':', JSON that is valid and never cut
 * inside an escape.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"
#include "server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_route(const char *s)
{
	const char *q = strchr(s, '?');
	size_t pathlen = q != NULL ? (size_t)(q - s) : strlen(s);
	char cam[RING_NAME_MAX];
	enum route r;

	memset(cam, 'X', sizeof(cam));
	r = route_parse(s, pathlen, q != NULL ? q + 1 : NULL, cam, sizeof(cam));
	if (r < ROUTE_NONE || r > ROUTE_HLS_FILE)
		abort();
	if (memchr(cam, '\0', sizeof(cam)) == NULL)
		abort();
	if (cam[0] != '\0' && (r == ROUTE_NONE || ring_name_valid(cam) != 0))
		abort();
	/* The camera named is the one in the path. */
	if (cam[0] != '\0' && (s[0] != '/' ||
	    strncmp(s + 1, cam, strlen(cam)) != 0))
		abort();
	/* A smaller buffer never overflows. */
	r = route_parse(s, pathlen, q != NULL ? q + 1 : NULL, cam, 2);
	if (r != ROUTE_NONE && cam[0] != '\0' && cam[1] != '\0')
		abort();
}

static void
check_query(const char *s)
{
	static const char *const names[] = { "action", "fps", "key",
	    "advance_headers", "extra_headers", "" };
	struct stream_params sp;
	const char *v;
	size_t found, i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		v = NULL;
		found = query_param(s, names[i], &v);
		/* The value lies inside the query. */
		if (found != 0 && (v < s || v + found - 1 > s + strlen(s)))
			abort();
	}
	memset(&sp, 0xa5, sizeof(sp));
	if (stream_params_parse(s, &sp) != 0)
		return;
	if (memchr(sp.sp_key, '\0', sizeof(sp.sp_key)) == NULL)
		abort();
	for (i = 0; sp.sp_key[i] != '\0'; i++)
		if (sp.sp_key[i] < 0x20 || sp.sp_key[i] >= 0x7f)
			abort();
	if (sp.sp_fps != 0 && (!(sp.sp_fps >= 0.01) || sp.sp_fps > 1000 ||
	    sp.sp_interval_ns == 0))
		abort();
	if (sp.sp_fps == 0 && sp.sp_interval_ns != 0)
		abort();
	if ((sp.sp_advance_headers & ~1) || (sp.sp_extra_headers & ~1))
		abort();
}

static void
check_auth(const char *s)
{
	char user[256], pass[256];
	char small_user[4], small_pass[4];

	memset(user, 'X', sizeof(user));
	memset(pass, 'X', sizeof(pass));
	if (auth_decode_basic(s, user, sizeof(user), pass, sizeof(pass)) == 0) {
		if (memchr(user, '\0', sizeof(user)) == NULL ||
		    memchr(pass, '\0', sizeof(pass)) == NULL ||
		    strchr(user, ':') != NULL)
			abort();
	}
	(void)auth_decode_basic(s, small_user, sizeof(small_user), small_pass,
	    sizeof(small_pass));
	memset(user, 'X', sizeof(user));
	memset(pass, 'X', sizeof(pass));
	if (auth_parse_line(s, user, sizeof(user), pass, sizeof(pass)) == 1) {
		if (memchr(user, '\0', sizeof(user)) == NULL ||
		    memchr(pass, '\0', sizeof(pass)) == NULL ||
		    user[0] == '\0' || pass[0] == '\0' ||
		    strchr(user, ':') != NULL)
			abort();
	}
}

static int
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* out is the inside of a JSON string: every escape whole, no raw
 * control character or quote. */
static void
check_json_string(const char *out)
{
	size_t i;

	for (i = 0; out[i] != '\0'; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c < 0x20 || c == '"')
			abort();
		if (c != '\\')
			continue;
		switch (out[++i]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n':
		case 'r': case 't':
			break;
		case 'u':
			if (!is_hex(out[i + 1]) || !is_hex(out[i + 2]) ||
			    !is_hex(out[i + 3]) || !is_hex(out[i + 4]))
				abort();
			i += 4;
			break;
		default:
			abort();	/* cut inside an escape, or bogus */
		}
	}
}

static void
check_json(const char *s)
{
	static const size_t sizes[] = { 1, 2, 6, 7, 13, 64 };
	size_t full, n, i;
	char *out;

	full = json_escape(s, NULL, 0);
	out = malloc(full + 1);
	if (out == NULL)
		abort();
	n = json_escape(s, out, full + 1);
	if (n != full || strlen(out) != full)
		abort();
	check_json_string(out);
	free(out);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		out = malloc(sizes[i]);
		if (out == NULL)
			abort();
		if (json_escape(s, out, sizes[i]) != full ||
		    memchr(out, '\0', sizes[i]) == NULL)
			abort();
		check_json_string(out);
		free(out);
	}
}

static void
check_listen(const char *s)
{
	struct listen_spec ls;

	if (listen_parse(s, &ls) != 0)
		return;
	if (ls.ls_unix || ls.ls_port > 65535 ||
	    memchr(ls.ls_host, '\0', sizeof(ls.ls_host)) == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size > 16384)
		return 0;
	/* Exactly sized, so any read past the terminator is reported. */
	s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_route(s);
	check_query(s);
	check_auth(s);
	check_json(s);
	check_listen(s);
	free(s);
	return 0;
}
