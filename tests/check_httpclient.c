/*
 * check_httpclient.c - the pure pieces of the network source's HTTP
 * client: URLs (capture/url.h), response heads, the chunked coding and
 * Content-Type (capture/httpresp.h), Basic and Digest answers
 * (capture/httpauth.h, pinned to the examples of RFC 2617 and RFC 7616).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "httpauth.h"
#include "httpresp.h"
#include "testutil.h"
#include "url.h"

/* ---------------------------------------------------------------- url */

START_TEST(url_forms)
{
	static const struct {
		const char	*s;
		int		 tls, ipv6;
		unsigned	 port;
		const char	*host, *target, *user, *pass, *desc;
	} t[] = {
		{ "http://cam/", 0, 0, 80, "cam", "/", "", "",
		  "http://cam/" },
		{ "HTTP://Cam.local:8080", 0, 0, 8080, "Cam.local", "/", "",
		  "", "http://Cam.local:8080/" },
		{ "https://10.0.0.5/snap.jpg?x=1#frag", 1, 0, 443, "10.0.0.5",
		  "/snap.jpg?x=1", "", "", "https://10.0.0.5/snap.jpg?..." },
		{ "http://[::1]:81/stream", 0, 1, 81, "::1", "/stream", "", "",
		  "http://[::1]:81/stream" },
		{ "http://admin:s3cr%40t@cam:81/s", 0, 0, 81, "cam", "/s",
		  "admin", "s3cr@t", "http://cam:81/s" },
		{ "http://admin:p@ss@cam/", 0, 0, 80, "cam", "/", "admin",
		  "p@ss", "http://cam/" },
		{ "http://user@cam?q", 0, 0, 80, "cam", "/?q", "user", "",
		  "http://cam/?..." },
		{ "http://cam:/x", 0, 0, 80, "cam", "/x", "", "",
		  "http://cam/x" },
	};
	struct url u;
	char why[128], desc[128];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_msg(url_parse(t[i].s, &u, why, sizeof(why)) == 0,
		    "%s: %s", t[i].s, why);
		ck_assert_int_eq(u.tls, t[i].tls);
		ck_assert_int_eq(u.ipv6, t[i].ipv6);
		ck_assert_uint_eq(u.port, t[i].port);
		ck_assert_str_eq(u.host, t[i].host);
		ck_assert_str_eq(u.target, t[i].target);
		ck_assert_str_eq(u.user, t[i].user);
		ck_assert_str_eq(u.pass, t[i].pass);
		url_describe(&u, desc, sizeof(desc));
		ck_assert_str_eq(desc, t[i].desc);
	}
}
END_TEST

START_TEST(url_refused)
{
	static const char *bad[] = {
		"ftp://cam/", "http:/cam", "http://", "http:///x",
		"http://cam:0/", "http://cam:65536/", "http://cam:8o/",
		"http://ca m/", "http://cam/a b", "http://cam/\x01",
		"http://[::1/", "http://[1.2.3.4]/", "http://a:%4/",
		"http://a:%00@cam/", "http://cam x/", "http://cam]:80/",
	};
	struct url u;
	char why[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		ck_assert_msg(url_parse(bad[i], &u, why, sizeof(why)) ==
		    -EINVAL, "%s accepted", bad[i]);
		ck_assert_msg(why[0] != '\0', "%s: no reason", bad[i]);
	}
}
END_TEST

START_TEST(url_redirects)
{
	static const struct {
		const char	*loc, *want;
	} t[] = {
		{ "/other", "http://cam:81/other" },
		{ "next.jpg", "http://cam:81/dir/next.jpg" },
		{ "?n=2", "http://cam:81/dir/snap.cgi?..." },
		{ "//elsewhere/x", "http://elsewhere/x" },
		{ "https://elsewhere:8443/y", "https://elsewhere:8443/y" },
		{ "http://u:p@cam:81/z", "http://cam:81/z" },
	};
	struct url base, out;
	char why[128], desc[256];

	ck_assert_int_eq(url_parse("http://admin:pw@cam:81/dir/snap.cgi?n=1",
	    &base, why, sizeof(why)), 0);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_msg(url_resolve(&base, t[i].loc, strlen(t[i].loc),
		    &out, why, sizeof(why)) == 0, "%s: %s", t[i].loc, why);
		url_describe(&out, desc, sizeof(desc));
		ck_assert_str_eq(desc, t[i].want);
		/* Credentials never come along (the caller decides). */
		ck_assert_str_eq(out.user, "");
		ck_assert_str_eq(out.pass, "");
	}
	ck_assert_int_eq(url_resolve(&base, "/a b", 4, &out, why,
	    sizeof(why)), -EINVAL);
	ck_assert_int_eq(url_resolve(&base, "ftp://x/", 8, &out, why,
	    sizeof(why)), -EINVAL);
	ck_assert_int_eq(url_resolve(&base, "", 0, &out, why, sizeof(why)),
	    -EINVAL);
	ck_assert_int_eq(url_resolve(&base, "next.jpg", 4, &out, why,
	    sizeof(why)), 0);
	ck_assert_str_eq(out.target, "/dir/next");
	ck_assert(url_same_origin(&base, &base));
	ck_assert_int_eq(url_resolve(&base, "//cam:81/", 9, &out, why,
	    sizeof(why)), 0);
	ck_assert(url_same_origin(&base, &out));
	ck_assert_int_eq(url_resolve(&base, "//cam:82/", 9, &out, why,
	    sizeof(why)), 0);
	ck_assert(!url_same_origin(&base, &out));
}
END_TEST

START_TEST(url_password)
{
	size_t off, len;
	char argv1[] = "http://admin:secret@cam/stream";

	url_password_span(argv1, &off, &len);
	ck_assert_uint_eq(off, 13);
	ck_assert_uint_eq(len, 6);
	url_password_span("http://admin@cam/", &off, &len);
	ck_assert_uint_eq(len, 0);
	url_password_span("http://cam/a:b@c", &off, &len);
	ck_assert_uint_eq(len, 0);
	url_password_span("pattern", &off, &len);
	ck_assert_uint_eq(len, 0);
}
END_TEST

/* ---------------------------------------------------------- response */

/* Feeds s in pieces of step bytes (exact-size copies). */
static int
head_parse(struct http_head_parser *hp, const char *s, size_t step,
    size_t *body)
{
	size_t len = strlen(s), off = 0, used;
	int rc = 0;

	http_head_init(hp, 8192, 64);
	while (off < len) {
		size_t n = len - off < step ? len - off : step;
		uint8_t *piece = malloc(n);

		memcpy(piece, s + off, n);
		rc = http_head_feed(hp, piece, n, &used);
		free(piece);
		ck_assert_uint_le(used, n);
		off += used;
		if (rc != 0)
			break;
	}
	*body = off;
	return rc;
}

START_TEST(head_forms)
{
	struct http_head_parser hp;
	size_t body;
	static const char esp32[] = "HTTP/1.1 200 OK\r\nContent-Type: "
	    "multipart/x-mixed-replace;boundary=123456789000000000000987654321"
	    "\r\nTransfer-Encoding: chunked\r\nAccess-Control-Allow-Origin: *"
	    "\r\nX-Framerate: 60\r\n\r\n1F\r\n";
	static const char lf[] = "HTTP/1.0 302\nLocation: /x\n"
	    "WWW-Authenticate: Basic realm=\"a\"\nWWW-Authenticate: Digest "
	    "nonce=1\n\nbody";

	for (size_t step = 1; step < 40; step += 7) {
		ck_assert_int_eq(head_parse(&hp, esp32, step, &body), 1);
		ck_assert_int_eq(hp.hp_head.status, 200);
		ck_assert_int_eq(hp.hp_head.minor, 1);
		ck_assert_int_eq(hp.hp_head.chunked, 1);
		ck_assert_int_eq(hp.hp_head.close, 0);
		ck_assert_int_eq(hp.hp_head.content_length, -1);
		ck_assert_str_eq(esp32 + body, "1F\r\n");
	}
	ck_assert_int_eq(head_parse(&hp, lf, 3, &body), 1);
	ck_assert_int_eq(hp.hp_head.status, 302);
	ck_assert_int_eq(hp.hp_head.close, 1);	/* 1.0, no keep-alive */
	ck_assert_str_eq(hp.hp_head.location, "/x");
	ck_assert_str_eq(hp.hp_head.challenge, "Basic realm=\"a\", Digest "
	    "nonce=1");
	ck_assert_str_eq(lf + body, "body");

	ck_assert_int_eq(head_parse(&hp, "HTTP/1.1 200 OK\r\nConnection: "
	    "Keep-Alive, close\r\nContent-Length: 123\r\n\r\n", 5, &body), 1);
	ck_assert_int_eq(hp.hp_head.close, 1);
	ck_assert_int_eq(hp.hp_head.content_length, 123);
}
END_TEST

START_TEST(head_refused)
{
	static const char *bad[] = {
		"<html>\r\n\r\n", "HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 200OK\r\n\r\n",
		"ICY 200 OK\r\n\r\n", "HTTP/1.1 600 x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999999\r\n",
	};
	struct http_head_parser hp;
	char big[10000];
	size_t body;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(head_parse(&hp, bad[i], 4, &body) == -EBADMSG,
		    "%s", bad[i]);
	/* Over the limits: bytes, lines, one line. */
	memcpy(big, "HTTP/1.1 200 OK\r\n", 17);
	for (size_t i = 17; i + 8 < sizeof(big); i += 8)
		memcpy(big + i, "X: 123\r\n", 8);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(head_parse(&hp, big, 1000, &body), -E2BIG);
	ck_assert_uint_le(body, 8192 + 1000);
	memset(big + 17, 'a', sizeof(big) - 18);
	ck_assert_int_eq(head_parse(&hp, big, 1000, &body), -E2BIG);
	ck_assert_uint_le(body, HTTP_LINE_MAX + 1000);
}
END_TEST

/* Decodes s whole and in pieces; returns the body, checks the end. */
static void
chunked_check(const char *s, size_t len, size_t step, const char *want,
    int want_rc)
{
	struct http_chunked ch;
	char out[4096];
	size_t o = 0, off = 0, used, dlen;
	const uint8_t *data;
	int rc = 0;

	http_chunked_init(&ch);
	while (off < len) {
		size_t n = len - off < step ? len - off : step;
		uint8_t *piece = malloc(n);
		size_t at = 0;

		memcpy(piece, s + off, n);
		while (at < n) {
			rc = http_chunked_feed(&ch, piece + at, n - at, &used,
			    &data, &dlen);
			ck_assert_uint_le(used, n - at);
			if (rc == 1) {
				ck_assert_ptr_eq(data, piece + at + used -
				    dlen);
				memcpy(out + o, data, dlen);
				o += dlen;
			}
			at += used;
			if (rc != 1)
				break;
		}
		free(piece);
		off += at;
		if (rc < 0 || rc == 2)
			break;
	}
	ck_assert_int_eq(rc, want_rc);
	if (want != NULL) {
		ck_assert_uint_eq(o, strlen(want));
		ck_assert_mem_eq(out, want, o);
	}
}

START_TEST(chunked)
{
	static const char s[] = "5\r\nhello\r\n1;ext=1\r\n \r\n"
	    "0000C\r\n--boundary\r\n\r\n0\r\nTrailer: x\r\n\r\n";
	static const char lf[] = "3\nabc\n0\n\n";

	for (size_t step = 1; step < 20; step++) {
		chunked_check(s, sizeof(s) - 1, step, "hello --boundary\r\n",
		    2);
		chunked_check(lf, sizeof(lf) - 1, step, "abc", 2);
	}
	chunked_check("x\r\n", 3, 2, NULL, -EBADMSG);
	chunked_check("3\r\nabcd\r\n", 9, 4, NULL, -EBADMSG);
	chunked_check("fffffffffffffffff\r\n", 19, 19, NULL, -EBADMSG);
	/* An endless chunk-size line. */
	{
		char line[600];

		memset(line, '1', sizeof(line));
		chunked_check(line, sizeof(line), 50, NULL, -E2BIG);
	}
}
END_TEST

START_TEST(content_type)
{
	static const struct {
		const char	*v, *type, *boundary;
	} t[] = {
		{ "multipart/x-mixed-replace;boundary=boundarydonotcross",
		  "multipart/x-mixed-replace", "boundarydonotcross" },
		{ "Multipart/X-Mixed-Replace; boundary=\"--my \\\"b\\\"\"",
		  "multipart/x-mixed-replace", "--my \"b\"" },
		{ "multipart/x-mixed-replace ; charset=x; BOUNDARY=--fr ;a=b",
		  "multipart/x-mixed-replace", "--fr" },
		{ "image/jpeg", "image/jpeg", "" },
		{ "", "", "" },
		{ "multipart/x-mixed-replace;boundary=", 
		  "multipart/x-mixed-replace", "" },
	};
	char type[64], b[64];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_int_eq(http_content_type(t[i].v, type, sizeof(type),
		    b, sizeof(b)), 0);
		ck_assert_str_eq(type, t[i].type);
		ck_assert_str_eq(b, t[i].boundary);
	}
	ck_assert_int_eq(http_content_type("a/b;boundary=0123456789", type,
	    sizeof(type), b, 8), -E2BIG);
}
END_TEST

/* --------------------------------------------------------------- auth */

/* RFC 2617 section 3.5. */
START_TEST(digest_rfc2617)
{
	struct http_auth a;
	char out[1024];

	ck_assert_int_eq(http_auth_parse("Digest realm=\"testrealm@host.com\","
	    " qop=\"auth,auth-int\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093"
	    "\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"", &a), 0);
	ck_assert_int_eq(a.scheme, HTTP_AUTH_DIGEST);
	ck_assert_int_eq(a.algorithm, HTTP_AUTH_MD5);
	ck_assert_int_eq(a.qop, 1);
	ck_assert_int_eq(http_auth_header(&a, "Mufasa", "Circle Of Life", "GET",
	    "/dir/index.html", 1, "0a4f113b", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "Digest username=\"Mufasa\", "
	    "realm=\"testrealm@host.com\", "
	    "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
	    "uri=\"/dir/index.html\", algorithm=MD5, "
	    "response=\"6629fae49393a05397450978507c4ef1\", qop=auth, "
	    "nc=00000001, cnonce=\"0a4f113b\", "
	    "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"");
}
END_TEST

/* RFC 7616 section 3.9.1: SHA-256 preferred to MD5 when both come. */
START_TEST(digest_rfc7616)
{
	static const char chal[] =
	    "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", "
	    "algorithm=SHA-256, "
	    "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
	    "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\", "
	    "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", "
	    "algorithm=MD5, "
	    "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
	    "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
	static const char cnonce[] =
	    "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
	struct http_auth a;
	char out[1024];

	ck_assert_int_eq(http_auth_parse(chal, &a), 0);
	ck_assert_int_eq(a.algorithm, HTTP_AUTH_SHA256);
	ck_assert_str_eq(a.offered, "Digest SHA-256, Digest MD5");
	ck_assert_int_eq(http_auth_header(&a, "Mufasa", "Circle of Life",
	    "GET", "/dir/index.html", 1, cnonce, out, sizeof(out)), 0);
	ck_assert_ptr_nonnull(strstr(out, "response=\"753927fa0e85d155564e2e2"
	    "72a28d1802ca10daf4496794697cf8db5856cb6c1\""));
	a.algorithm = HTTP_AUTH_MD5;
	ck_assert_int_eq(http_auth_header(&a, "Mufasa", "Circle of Life",
	    "GET", "/dir/index.html", 1, cnonce, out, sizeof(out)), 0);
	ck_assert_ptr_nonnull(strstr(out, "response=\"8ca523f5e9506fed4657c9"
	    "700eebdbec\""));
	/* Too small a buffer is an error, never a cut header. */
	ck_assert_int_eq(http_auth_header(&a, "Mufasa", "Circle of Life",
	    "GET", "/dir/index.html", 1, cnonce, out, 100), -ENOSPC);
}
END_TEST

START_TEST(basic_and_choices)
{
	struct http_auth a;
	char out[256];

	/* RFC 7617 section 2's example. */
	ck_assert_int_eq(http_auth_parse("Basic realm=\"WallyWorld\"", &a), 0);
	ck_assert_int_eq(a.scheme, HTTP_AUTH_BASIC);
	ck_assert_str_eq(a.realm, "WallyWorld");
	ck_assert_int_eq(http_auth_header(&a, "Aladdin", "open sesame", "GET",
	    "/", 1, "x", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
	ck_assert_int_eq(http_auth_header(&a, "a:b", "c", "GET", "/", 1, "x",
	    out, sizeof(out)), -EINVAL);
	ck_assert_int_eq(http_auth_header(&a, "a", "c\r\nX: y", "GET", "/", 1,
	    "x", out, sizeof(out)), -EINVAL);

	/* Digest preferred to Basic, whatever the order. */
	ck_assert_int_eq(http_auth_parse("Basic realm=x, Digest realm=\"r\", "
	    "nonce=\"n\"", &a), 0);
	ck_assert_int_eq(a.scheme, HTTP_AUTH_DIGEST);
	ck_assert_int_eq(a.qop, 0);
	ck_assert_str_eq(a.realm, "r");
	/* Without qop (RFC 2069): no cnonce, no nc. */
	ck_assert_int_eq(http_auth_header(&a, "u", "p", "GET", "/", 1, "c",
	    out, sizeof(out)), 0);
	ck_assert_ptr_null(strstr(out, "nc="));
	ck_assert_ptr_null(strstr(out, "cnonce"));

	/* Nothing we can do: said what was offered. */
	ck_assert_int_eq(http_auth_parse("Negotiate, NTLM", &a), -ENOTSUP);
	ck_assert_str_eq(a.offered, "Negotiate, NTLM");
	ck_assert_int_eq(http_auth_parse("Digest realm=r, nonce=n, "
	    "algorithm=SHA-512-256", &a), -ENOTSUP);
	ck_assert_int_eq(http_auth_parse("Digest nonce=n, qop=auth-int", &a),
	    -ENOTSUP);
	ck_assert_int_eq(http_auth_parse("", &a), -EBADMSG);
	ck_assert_int_eq(http_auth_parse(",,, ", &a), -EBADMSG);

	/* stale and userhash, quotes escaped on the way back. */
	ck_assert_int_eq(http_auth_parse("Digest realm=\"a\\\"b\", nonce=n, "
	    "stale=TRUE, userhash=true, algorithm=MD5-sess, qop=auth", &a), 0);
	ck_assert_int_eq(a.stale, 1);
	ck_assert_str_eq(a.realm, "a\"b");
	ck_assert_int_eq(http_auth_header(&a, "u", "p", "GET", "/", 2, "c",
	    out, sizeof(out)), 0);
	ck_assert_ptr_nonnull(strstr(out, "realm=\"a\\\"b\""));
	ck_assert_ptr_nonnull(strstr(out, "nc=00000002"));
	ck_assert_ptr_nonnull(strstr(out, "userhash=true"));
	ck_assert_ptr_null(strstr(out, "username=\"u\""));
}
END_TEST

static Suite *
httpclient_suite(void)
{
	Suite *s = suite_create("httpclient");
	TCase *tc = tcase_create("pure");

	tcase_add_test(tc, url_forms);
	tcase_add_test(tc, url_refused);
	tcase_add_test(tc, url_redirects);
	tcase_add_test(tc, url_password);
	tcase_add_test(tc, head_forms);
	tcase_add_test(tc, head_refused);
	tcase_add_test(tc, chunked);
	tcase_add_test(tc, content_type);
	tcase_add_test(tc, digest_rfc2617);
	tcase_add_test(tc, digest_rfc7616);
	tcase_add_test(tc, basic_and_choices);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(httpclient_suite());
}
