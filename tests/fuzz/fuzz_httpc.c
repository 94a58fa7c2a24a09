/*
 * fuzz_httpc.c - what a network source reads before the frames
 * (capture/httpresp.h, capture/url.h, capture/httpauth.h) against
 * arbitrary input from a camera or a user.
 *
 * The first byte picks the target, the rest is its input, copied into an
 * allocation of exactly its size (AddressSanitizer sees a read past it):
 *
 *   0  a response head, whole and cut into pieces: the same outcome, the
 *      same status, lengths, flags, Location and challenge; the body
 *      starts at the same byte; only documented errors.
 *   1  a chunked body, whole and in pieces: the same bytes out, the same
 *      end or error; every span inside the piece it came from.
 *   2  a --source URL: parsed or refused with a reason; a parsed one's
 *      description holds neither its user nor its password, the
 *      password's span in the input is exactly the password's bytes
 *      (before percent-decoding), and a redirect from it to the input
 *      (as a Location) resolves or is refused, without credentials.
 *   3  WWW-Authenticate challenges: parsed or refused; an accepted one
 *      answered into buffers of every size up to the whole, each answer
 *      terminated, never cut (-ENOSPC instead).
 *   4  a Content-Type value: type and boundary terminated and within
 *      their buffers, the type in lower case.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httpauth.h"
#include "httpresp.h"
#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a terminated string (what arrives through argv, or a
 * header value, is one), in an exact-size allocation. */
static char *
dup_str(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static size_t
piece_len(unsigned *seed, size_t left)
{
	size_t n;

	*seed = *seed * 1103515245u + 12345u;
	n = 1 + (*seed >> 16) % 13;
	return n < left ? n : left;
}

static void
fuzz_head(const uint8_t *p, size_t n)
{
	struct http_head_parser whole, cut;
	size_t used, off = 0, wused;
	unsigned seed = (unsigned)n;
	int rw, rc = 0;
	uint8_t *buf = malloc(n ? n : 1);

	memcpy(buf, p, n);
	http_head_init(&whole, 4096, 32);
	rw = http_head_feed(&whole, buf, n, &wused);
	if (wused > n || (rw != 0 && rw != 1 && rw != -EBADMSG && rw != -E2BIG))
		abort();
	if (rw == 0 && wused != n)
		abort();
	http_head_init(&cut, 4096, 32);
	while (off < n) {
		size_t k = piece_len(&seed, n - off);
		uint8_t *piece = malloc(k);

		memcpy(piece, p + off, k);
		rc = http_head_feed(&cut, piece, k, &used);
		free(piece);
		if (used > k)
			abort();
		off += used;
		if (rc != 0)
			break;
	}
	if (rc != rw)
		abort();
	if (rw == 1 && (off != wused ||
	    cut.hp_head.status != whole.hp_head.status ||
	    cut.hp_head.minor != whole.hp_head.minor ||
	    cut.hp_head.content_length != whole.hp_head.content_length ||
	    cut.hp_head.chunked != whole.hp_head.chunked ||
	    cut.hp_head.close != whole.hp_head.close ||
	    strcmp(cut.hp_head.location, whole.hp_head.location) != 0 ||
	    strcmp(cut.hp_head.challenge, whole.hp_head.challenge) != 0 ||
	    strcmp(cut.hp_head.content_type, whole.hp_head.content_type) != 0 ||
	    whole.hp_head.status < 100 || whole.hp_head.status > 599))
		abort();
	free(buf);
}

/* Decodes p[0..n) in pieces (step 0: whole) into out; the outcome. */
static int
chunked_run(const uint8_t *p, size_t n, int cut, uint8_t *out, size_t *olen)
{
	struct http_chunked ch;
	const uint8_t *d;
	size_t off = 0, used, dl;
	unsigned seed = (unsigned)n | 1;
	int rc = 0;

	http_chunked_init(&ch);
	*olen = 0;
	while (off < n) {
		size_t k = cut ? piece_len(&seed, n - off) : n - off;
		uint8_t *piece = malloc(k);
		size_t at = 0;

		memcpy(piece, p + off, k);
		while (at < k) {
			rc = http_chunked_feed(&ch, piece + at, k - at, &used,
			    &d, &dl);
			if (used > k - at)
				abort();
			if (rc == 1) {
				if (d < piece + at || d + dl > piece + at + used
				    || dl == 0)
					abort();
				memcpy(out + *olen, d, dl);
				*olen += dl;
			} else if (rc != 0 && rc != 2 && rc != -EBADMSG &&
			    rc != -E2BIG)
				abort();
			at += used;
			if (rc != 1)
				break;
		}
		free(piece);
		off += at;
		if (rc < 0 || rc == 2)
			break;
		if (rc == 0 && at != k)
			abort();
	}
	return rc == 1 ? 0 : rc;
}

static void
fuzz_chunked(const uint8_t *p, size_t n)
{
	uint8_t *a = malloc(n + 1), *b = malloc(n + 1);
	size_t la, lb;
	int ra, rb;

	ra = chunked_run(p, n, 0, a, &la);
	rb = chunked_run(p, n, 1, b, &lb);
	if (ra != rb || la != lb || memcmp(a, b, la) != 0 || la > n)
		abort();
	free(a);
	free(b);
}

static void
fuzz_url(const uint8_t *p, size_t n)
{
	char *s = dup_str(p, n), why[128], desc[512];
	const char *auth, *q;
	struct url u, to;
	size_t off, len;

	why[0] = '\0';
	if (url_parse(s, &u, why, sizeof(why)) != 0) {
		if (why[0] == '\0')
			abort();
		free(s);
		return;
	}
	if (u.port == 0 || u.host[0] == '\0' || u.target[0] != '/')
		abort();
	/* No userinfo in the description: its authority has no '@' (a
	 * host cannot), and the query is elided: its first '?' (none in a
	 * host or a path) is the "?..." that ends it, there whenever the
	 * target has a query, however long the path. */
	url_describe(&u, desc, sizeof(desc));
	auth = strstr(desc, "://");
	q = strchr(desc, '?');
	if (auth == NULL || memchr(auth + 3, '@', strcspn(auth + 3, "/")) !=
	    NULL || (q != NULL && strcmp(q, "?...") != 0) ||
	    (strchr(u.target, '?') != NULL) != (q != NULL))
		abort();
	/* The password's span is the password as typed. */
	url_password_span(s, &off, &len);
	if (off + len > n || (len > 0 && memchr(s + off, '%', len) == NULL &&
	    (strlen(u.pass) != len || memcmp(s + off, u.pass, len) != 0)))
		abort();
	if (url_resolve(&u, s, n, &to, why, sizeof(why)) == 0 &&
	    (to.user[0] != '\0' || to.pass[0] != '\0' || to.port == 0 ||
	    to.target[0] != '/'))
		abort();
	free(s);
}

static void
fuzz_auth(const uint8_t *p, size_t n)
{
	char *s = dup_str(p, n), out[2048];
	struct http_auth a;
	int rc;

	rc = http_auth_parse(s, &a);
	if (rc != 0 && rc != -ENOTSUP && rc != -EBADMSG)
		abort();
	if (memchr(a.offered, '\0', sizeof(a.offered)) == NULL)
		abort();
	if (rc == 0) {
		for (size_t size = 1; size <= sizeof(out); size += 97) {
			rc = http_auth_header(&a, "user", "pa\"ss", "GET",
			    "/path?q=\"x\"", 1, "0a1b2c3d", out, size);
			if (rc == 0 && strlen(out) >= size)
				abort();
			if (rc != 0 && rc != -ENOSPC)
				abort();
		}
	}
	free(s);
}

static void
fuzz_ctype(const uint8_t *p, size_t n)
{
	char *s = dup_str(p, n), type[32], b[40];
	int rc;

	rc = http_content_type(s, type, sizeof(type), b, sizeof(b));
	if (rc != 0 && rc != -E2BIG)
		abort();
	if (rc == 0) {
		if (strlen(type) >= sizeof(type) || strlen(b) >= sizeof(b))
			abort();
		for (char *t = type; *t != '\0'; t++)
			if (*t >= 'A' && *t <= 'Z')
				abort();
	}
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0:
		fuzz_head(data + 1, size - 1);
		break;
	case 1:
		fuzz_chunked(data + 1, size - 1);
		break;
	case 2:
		fuzz_url(data + 1, size - 1);
		break;
	case 3:
		fuzz_auth(data + 1, size - 1);
		break;
	default:
		fuzz_ctype(data + 1, size - 1);
		break;
	}
	return 0;
}
