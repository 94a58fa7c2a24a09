/*
 * check_http.c - the server's pure pieces: request routing and lenient
 * action= matching, stream query parameters, the auth file and Basic
 * credentials (plain and crypt(3)-hashed passwords), and JSON escaping of
 * text that comes from outside.
 */
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "../server/server.h"
#include "testutil.h"

/* ------------------------------------------------------------ routing */

static const struct {
	const char	*uri;
	enum route	 route;
	const char	*camera;
} route_cases[] = {
	{ "/", ROUTE_INDEX, "" },
	{ "", ROUTE_INDEX, "" },
	{ "/index.html", ROUTE_INDEX, "" },
	{ "/?action=stream", ROUTE_STREAM, "" },
	{ "/?action=snapshot", ROUTE_SNAPSHOT, "" },
	{ "/?action=stream?nonce=1", ROUTE_STREAM, "" },
	{ "/?action=stream&fps=5", ROUTE_STREAM, "" },
	{ "/?x=1&action=snapshot&n=2", ROUTE_SNAPSHOT, "" },
	{ "/?x=1;action=stream", ROUTE_STREAM, "" },
	{ "/?12345", ROUTE_INDEX, "" },
	{ "/?action=streamer", ROUTE_INDEX, "" },
	{ "/?noaction=stream", ROUTE_INDEX, "" },
	{ "/?action=", ROUTE_INDEX, "" },
	{ "/index.html?action=stream", ROUTE_STREAM, "" },
	{ "/stream", ROUTE_STREAM, "" },
	{ "/stream?12345", ROUTE_STREAM, "" },
	{ "/stream.mjpg", ROUTE_STREAM, "" },
	{ "/stream.mp4", ROUTE_MP4, "" },
	{ "/stream.mp4?key=tv", ROUTE_MP4, "" },
	{ "/cam-1/stream.mp4", ROUTE_MP4, "cam-1" },
	{ "/stream.mp4/", ROUTE_INDEX, "stream.mp4" },
	{ "/stream.mp", ROUTE_REDIRECT, "stream.mp" },
	{ "/hls.m3u8", ROUTE_HLS, "" },
	{ "/hls.m3u8?_HLS_msn=5&_HLS_part=1", ROUTE_HLS, "" },
	{ "/cam-1/hls.m3u8", ROUTE_HLS, "cam-1" },
	{ "/hls/p00000000000000ab-31.m4s", ROUTE_HLS_FILE, "" },
	{ "/hls/s00000000000000ab-1-30.m4s", ROUTE_HLS_FILE, "" },
	{ "/cam-1/hls/init-0123456789abcdef.mp4", ROUTE_HLS_FILE, "cam-1" },
	/* Not a name hls.c makes: a camera called "hls" keeps its paths. */
	{ "/hls/p00000000000000ab-031.m4s", ROUTE_NONE, "" },
	{ "/hls/stream", ROUTE_STREAM, "hls" },
	{ "/hls/", ROUTE_INDEX, "hls" },
	{ "/hls", ROUTE_REDIRECT, "hls" },
	{ "/cam-1/hls/stream", ROUTE_NONE, "" },
	{ "/hls.m3u8/", ROUTE_INDEX, "hls.m3u8" },
	{ "/snapshot", ROUTE_SNAPSHOT, "" },
	{ "/snapshot.jpg?t=1", ROUTE_SNAPSHOT, "" },
	{ "/state", ROUTE_STATE, "" },
	{ "/metrics", ROUTE_METRICS, "" },
	{ "/cam-1/stream", ROUTE_STREAM, "cam-1" },
	{ "/cam-1/snapshot.jpg", ROUTE_SNAPSHOT, "cam-1" },
	{ "/cam-1/", ROUTE_INDEX, "cam-1" },
	{ "/cam-1/?action=stream", ROUTE_STREAM, "cam-1" },
	{ "/cam-1/state", ROUTE_STATE, "cam-1" },
	{ "/cam-1", ROUTE_REDIRECT, "cam-1" },
	{ "/cam-1/metrics", ROUTE_NONE, "" },
	{ "/cam-1/nope", ROUTE_NONE, "" },
	{ "/a/b/stream", ROUTE_NONE, "" },
	{ "/../stream", ROUTE_NONE, "" },
	{ "//stream", ROUTE_NONE, "" },
	{ "/stream/", ROUTE_INDEX, "stream" },
	{ "/snapshot.jpeg", ROUTE_REDIRECT, "snapshot.jpeg" },
	{ "/has space/stream", ROUTE_NONE, "" },
	{ "/%2e%2e/stream", ROUTE_NONE, "" },
};

START_TEST(test_route)
{
	const char *uri = route_cases[_i].uri, *q = strchr(uri, '?');
	size_t pathlen = q != NULL ? (size_t)(q - uri) : strlen(uri);
	char cam[RING_NAME_MAX];
	enum route r;

	r = route_parse(uri, pathlen, q != NULL ? q + 1 : NULL, cam,
	    sizeof(cam));
	ck_assert_msg(r == route_cases[_i].route, "%s: route %d, expected %d",
	    uri, r, route_cases[_i].route);
	ck_assert_str_eq(cam, route_cases[_i].camera);
}
END_TEST

START_TEST(test_query_param)
{
	const char *v;

	ck_assert_uint_eq(query_param("a=1&b=22", "b", &v), 3);
	ck_assert(strncmp(v, "22", 2) == 0);
	ck_assert_uint_eq(query_param("ab=1", "a", &v), 0);
	ck_assert_uint_eq(query_param("x&y", "y", &v), 1);
	ck_assert_uint_eq(query_param("x;y=2#frag", "y", &v), 2);
	ck_assert_uint_eq(query_param("#y=2", "y", &v), 0);
	ck_assert_uint_eq(query_param("", "y", &v), 0);
	ck_assert_uint_eq(query_param("y=", "y", &v), 1);
}
END_TEST

START_TEST(test_stream_params)
{
	struct stream_params sp;

	ck_assert_int_eq(stream_params_parse(NULL, &sp), 0);
	ck_assert_uint_eq(sp.sp_interval_ns, 0);
	ck_assert_int_eq(stream_params_parse("fps=5", &sp), 0);
	ck_assert_uint_eq(sp.sp_interval_ns, 200000000u);
	ck_assert_int_eq(stream_params_parse("action=stream&fps=2.5&x", &sp),
	    0);
	ck_assert_uint_eq(sp.sp_interval_ns, 400000000u);
	ck_assert_int_eq(stream_params_parse("fps=0", &sp), 0);
	ck_assert_uint_eq(sp.sp_interval_ns, 0);
	ck_assert_int_eq(stream_params_parse("fps=abc", &sp), -EINVAL);
	ck_assert_int_eq(stream_params_parse("fps=-1", &sp), -EINVAL);
	ck_assert_int_eq(stream_params_parse("fps=", &sp), -EINVAL);
	ck_assert_int_eq(stream_params_parse("fps=1e9", &sp), -EINVAL);
	ck_assert_int_eq(stream_params_parse("fps=nan", &sp), -EINVAL);

	ck_assert_int_eq(stream_params_parse("advance_headers", &sp), 0);
	ck_assert_int_eq(sp.sp_advance_headers, 1);
	ck_assert_int_eq(stream_params_parse("advance_headers=0", &sp), 0);
	ck_assert_int_eq(sp.sp_advance_headers, 0);
	ck_assert_int_eq(stream_params_parse("extra_headers=1&advance_headers"
	    "=false", &sp), 0);
	ck_assert_int_eq(sp.sp_extra_headers, 1);
	ck_assert_int_eq(sp.sp_advance_headers, 0);

	ck_assert_int_eq(stream_params_parse("key=kitchen%20tv", &sp), 0);
	ck_assert_str_eq(sp.sp_key, "kitchen tv");
	ck_assert_int_eq(stream_params_parse("key=a+b%0a%22%zz", &sp), 0);
	ck_assert_str_eq(sp.sp_key, "a b?\"%zz");
	ck_assert_int_eq(stream_params_parse("key=%ff%00x", &sp), 0);
	ck_assert_str_eq(sp.sp_key, "??x");
	ck_assert_int_eq(stream_params_parse("key=0123456789012345678901234567"
	    "890123456789012345678901234567890123456789", &sp), 0);
	ck_assert_uint_eq(strlen(sp.sp_key), sizeof(sp.sp_key) - 1);
}
END_TEST

/* --------------------------------------------------------------- json */

static const struct {
	const char	*in;
	const char	*out;
} json_cases[] = {
	{ "plain", "plain" },
	{ "", "" },
	{ "a\"b\\c", "a\\\"b\\\\c" },
	{ "tab\tnl\ncr\r", "tab\\tnl\\ncr\\r" },
	{ "\x01\x1f\x7f", "\\u0001\\u001f\\u007f" },
	{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xb7", "caf\xc3\xa9 \xe2\x82\xac "
	    "\xf0\x9f\x93\xb7" },
	{ "bad\xff", "bad\\ufffd" },
	{ "cut\xc3", "cut\\ufffd" },
	{ "overlong\xc0\xaf", "overlong\\ufffd\\ufffd" },
	{ "surrogate\xed\xa0\x80", "surrogate\\ufffd\\ufffd\\ufffd" },
	{ "</script>", "</script>" },
};

START_TEST(test_json_escape)
{
	char out[128];
	size_t n;

	n = json_escape(json_cases[_i].in, out, sizeof(out));
	ck_assert_str_eq(out, json_cases[_i].out);
	ck_assert_uint_eq(n, strlen(json_cases[_i].out));
}
END_TEST

START_TEST(test_json_truncation)
{
	char out[8];
	size_t n;

	/* Never cut inside an escape: the result stays valid JSON. */
	n = json_escape("ab\x01\x02", out, sizeof(out));
	ck_assert_uint_eq(n, 14);
	ck_assert_str_eq(out, "ab");
	n = json_escape("abcdef\"", out, sizeof(out));
	ck_assert_str_eq(out, "abcdef");
	ck_assert_uint_eq(n, 8);
}
END_TEST

/* --------------------------------------------------------------- auth */

START_TEST(test_auth_parse_line)
{
	char u[64], p[64];

	ck_assert_int_eq(auth_parse_line("alice:secret\n", u, sizeof(u), p,
	    sizeof(p)), 1);
	ck_assert_str_eq(u, "alice");
	ck_assert_str_eq(p, "secret");
	ck_assert_int_eq(auth_parse_line("bob:a:b:c\r\n", u, sizeof(u), p,
	    sizeof(p)), 1);
	ck_assert_str_eq(u, "bob");
	ck_assert_str_eq(p, "a:b:c");
	ck_assert_int_eq(auth_parse_line("# comment\n", u, sizeof(u), p,
	    sizeof(p)), 0);
	ck_assert_int_eq(auth_parse_line("\n", u, sizeof(u), p, sizeof(p)),
	    0);
	ck_assert_int_eq(auth_parse_line("nopassword:\n", u, sizeof(u), p,
	    sizeof(p)), -EINVAL);
	ck_assert_int_eq(auth_parse_line(":nouser\n", u, sizeof(u), p,
	    sizeof(p)), -EINVAL);
	ck_assert_int_eq(auth_parse_line("nocolon\n", u, sizeof(u), p,
	    sizeof(p)), -EINVAL);
	ck_assert_int_eq(auth_parse_line("u:0123456789", u, sizeof(u), p, 8),
	    -EINVAL);
	ck_assert(auth_is_hash("$y$j9T$abc$def"));
	ck_assert(auth_is_hash("$2b$05$abc"));
	ck_assert(!auth_is_hash("$plain"));
	ck_assert(!auth_is_hash("y$"));
}
END_TEST

START_TEST(test_auth_decode)
{
	char u[64], p[64];

	/* "alice:open sesame" */
	ck_assert_int_eq(auth_decode_basic("Basic YWxpY2U6b3BlbiBzZXNhbWU=",
	    u, sizeof(u), p, sizeof(p)), 0);
	ck_assert_str_eq(u, "alice");
	ck_assert_str_eq(p, "open sesame");
	ck_assert_int_eq(auth_decode_basic("basic   YWxpY2U6b3BlbiBzZXNhbWU= ",
	    u, sizeof(u), p, sizeof(p)), 0);
	/* "a:" and ":" are well-formed (empty fields never match). */
	ck_assert_int_eq(auth_decode_basic("Basic YTo=", u, sizeof(u), p,
	    sizeof(p)), 0);
	ck_assert_str_eq(p, "");
	ck_assert_int_eq(auth_decode_basic("Bearer YTo=", u, sizeof(u), p,
	    sizeof(p)), -EINVAL);
	ck_assert_int_eq(auth_decode_basic("Basic", u, sizeof(u), p,
	    sizeof(p)), -EINVAL);
	ck_assert_int_eq(auth_decode_basic("Basic YWJj", u, sizeof(u), p,
	    sizeof(p)), -EINVAL);		/* "abc": no colon */
	ck_assert_int_eq(auth_decode_basic("Basic YT!6", u, sizeof(u), p,
	    sizeof(p)), -EINVAL);
	ck_assert_int_eq(auth_decode_basic("Basic YTo=YTo=", u, sizeof(u), p,
	    sizeof(p)), -EINVAL);
	ck_assert_int_eq(auth_decode_basic("Basic YQA6Yg==", u, sizeof(u), p,
	    sizeof(p)), -EINVAL);		/* "a\0:b" */
}
END_TEST

static char *
basic(const char *user, const char *pass)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static char out[512];
	char in[256];
	size_t n, i, o;

	n = (size_t)snprintf(in, sizeof(in), "%s:%s", user, pass);
	o = (size_t)snprintf(out, sizeof(out), "Basic ");
	for (i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)in[i] << 16;
		if (i + 1 < n)
			v |= (unsigned char)in[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)in[i + 2];
		out[o++] = b64[(v >> 18) & 63];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

START_TEST(test_auth_check)
{
	struct auth *a;
	struct crypt_data cd;
	char setting[CRYPT_GENSALT_OUTPUT_SIZE], hash[CRYPT_OUTPUT_SIZE];
	char who[64];
	const char *prefixes[] = { "$y$", "$6$", "$2b$" };
	unsigned long counts[] = { 0, 5000, 5 };

	for (unsigned k = 0; k < 3; k++) {
		ck_assert_int_eq(auth_new(&a), 0);
		ck_assert_int_eq(auth_add(a, "alice", "wonderland"), 0);
		ck_assert_ptr_nonnull(crypt_gensalt_rn(prefixes[k], counts[k],
		    NULL, 0, setting, sizeof(setting)));
		memset(&cd, 0, sizeof(cd));
		snprintf(hash, sizeof(hash), "%s",
		    crypt_rn("hatter", setting, &cd, sizeof(cd)));
		ck_assert_int_eq(auth_add(a, "bob", hash), 0);
		ck_assert_uint_eq(auth_count(a), 2);

		ck_assert(auth_check(a, basic("alice", "wonderland"), who,
		    sizeof(who)));
		ck_assert_str_eq(who, "alice");
		ck_assert(!auth_check(a, basic("alice", "wonderlan"), NULL, 0));
		ck_assert(!auth_check(a, basic("alice", "wonderlandx"), NULL,
		    0));
		ck_assert(!auth_check(a, basic("alice", ""), NULL, 0));
		ck_assert(!auth_check(a, basic("alicex", "wonderland"), NULL,
		    0));
		ck_assert(!auth_check(a, basic("bob", "wonderland"), NULL, 0));
		ck_assert(!auth_check(a, basic("bob", "hatte"), NULL, 0));
		/* Twice: the second is answered from the remembered digest. */
		ck_assert(auth_check(a, basic("bob", "hatter"), who,
		    sizeof(who)));
		ck_assert_str_eq(who, "bob");
		ck_assert(auth_check(a, basic("bob", "hatter"), NULL, 0));
		ck_assert(!auth_check(a, basic("bob", "hatter!"), NULL, 0));
		ck_assert(!auth_check(a, basic("alice", "hatter"), NULL, 0));
		ck_assert(!auth_check(a, NULL, NULL, 0));
		ck_assert(!auth_check(a, "Basic !!!", NULL, 0));
		auth_free(a);
	}
	/* A hash libcrypt cannot use is refused when loading. */
	ck_assert_int_eq(auth_new(&a), 0);
	ck_assert_int_eq(auth_add(a, "eve", "$6$rounds=5000$salt$short"),
	    -EPROTONOSUPPORT);
	auth_free(a);
}
END_TEST

struct answer {
	int	 n;
	int	 result;
	char	 who[64];
};

static void
answer_cb(void *arg, int result, const char *who)
{
	struct answer *an = arg;

	an->n++;
	an->result = result;
	snprintf(an->who, sizeof(an->who), "%s", who != NULL ? who : "");
}

/* Turns base's loop until an has n answers, or 10 s. */
static void
await(struct event_base *base, struct answer *an, int n)
{
	uint64_t deadline = tu_now_ms() + 10000;

	while (an->n < n && tu_now_ms() < deadline) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	ck_assert_int_eq(an->n, n);
}

/*
 * Checks that need a hash are done on the hashing thread and answered on
 * the loop; failures are throttled per address (the port does not
 * count); a name with no hash costs a hash too; a cancelled check is
 * never answered.  Under make SANITIZE=thread, the thread's handover.
 */
START_TEST(test_auth_request)
{
	struct crypt_data cd;
	char setting[CRYPT_GENSALT_OUTPUT_SIZE], hash[CRYPT_OUTPUT_SIZE];
	struct answer an = { 0, 0, "" }, lost = { 0, 0, "" };
	struct event_base *base;
	struct auth *a;
	char who[64];
	unsigned retry;
	int key, other, i;

	ck_assert_ptr_nonnull(base = event_base_new());
	ck_assert_int_eq(auth_new(&a), 0);
	ck_assert_int_eq(auth_add(a, "alice", "wonderland"), 0);
	ck_assert_ptr_nonnull(crypt_gensalt_rn("$2b$", 5, NULL, 0, setting,
	    sizeof(setting)));
	memset(&cd, 0, sizeof(cd));
	snprintf(hash, sizeof(hash), "%s", crypt_rn("hatter", setting, &cd,
	    sizeof(cd)));
	ck_assert_int_eq(auth_add(a, "bob", hash), 0);
	ck_assert_int_eq(auth_setup(a, base), 0);
	ck_assert_int_eq(auth_start(a), 0);

	/* A digest that matches: at once. */
	ck_assert_int_eq(auth_request(a, basic("alice", "wonderland"),
	    "192.0.2.1:1000", who, sizeof(who), &retry, answer_cb, &an, &key),
	    AUTH_OK);
	ck_assert_str_eq(who, "alice");
	/* No credentials: at once, and free. */
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(auth_request(a, NULL, "192.0.2.1:1000", who,
		    sizeof(who), &retry, answer_cb, &an, &key), AUTH_DENIED);
	/* A hash: on the thread, answered on the loop; then remembered. */
	ck_assert_int_eq(auth_request(a, basic("bob", "hatter"),
	    "192.0.2.1:1000", who, sizeof(who), &retry, answer_cb, &an, &key),
	    AUTH_PENDING);
	await(base, &an, 1);
	ck_assert_int_eq(an.result, AUTH_OK);
	ck_assert_str_eq(an.who, "bob");
	ck_assert_int_eq(auth_request(a, basic("bob", "hatter"),
	    "192.0.2.1:1000", who, sizeof(who), &retry, answer_cb, &an, &key),
	    AUTH_OK);

	/* Five wrong guesses from one address, then 429 for a while; the
	 * port makes no difference, another address is not affected. */
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(auth_request(a, basic(i % 2 ? "bob" :
		    "nobody-such", "guess"), "192.0.2.2:1000", who,
		    sizeof(who), &retry, answer_cb, &an, &key), AUTH_PENDING);
		await(base, &an, 2 + i);
		ck_assert_int_eq(an.result, AUTH_DENIED);
		ck_assert_str_eq(an.who, "");
	}
	ck_assert_int_eq(auth_request(a, basic("bob", "guess"),
	    "192.0.2.2:2000", who, sizeof(who), &retry, answer_cb, &an, &key),
	    AUTH_THROTTLED);
	ck_assert_uint_ge(retry, 1);
	ck_assert_uint_le(retry, 2);
	/* Even the right password: the address must wait. */
	ck_assert_int_eq(auth_request(a, basic("alice", "wonderland"),
	    "192.0.2.2:3000", who, sizeof(who), &retry, answer_cb, &an, &key),
	    AUTH_THROTTLED);
	ck_assert_uint_eq(auth_throttled(a), 2);
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(auth_request(a, basic("alice", "guess"),
		    "[2001:db8::1]:80", who, sizeof(who), &retry, answer_cb,
		    &an, &key), AUTH_PENDING);
		await(base, &an, 7 + i);
	}
	ck_assert_int_eq(auth_request(a, basic("alice", "guess"),
	    "[2001:db8::1]:81", who, sizeof(who), &retry, answer_cb, &an,
	    &key), AUTH_THROTTLED);

	/* Cancelled (its connection closed): never answered. */
	ck_assert_int_eq(auth_request(a, basic("bob", "guess"),
	    "192.0.2.3:1000", who, sizeof(who), &retry, answer_cb, &lost,
	    &other), AUTH_PENDING);
	auth_cancel(a, &other);
	ck_assert_int_eq(auth_request(a, basic("bob", "hatter?"),
	    "192.0.2.3:1001", who, sizeof(who), &retry, answer_cb, &an, &key),
	    AUTH_PENDING);
	await(base, &an, 12);
	ck_assert_int_eq(lost.n, 0);

	auth_free(a);
	event_base_free(base);
}
END_TEST

START_TEST(test_auth_load)
{
	const char *dir = tu_tmpdir();
	char path[256], err[256];
	struct auth *a = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/users", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "# viewers\n\nalice:wonderland\r\ncarol:x:y\n");
	fclose(f);
	ck_assert_int_eq(auth_load(&a, path, err, sizeof(err)), 0);
	ck_assert_uint_eq(auth_count(a), 2);
	ck_assert(auth_check(a, basic("carol", "x:y"), NULL, 0));
	auth_free(a);

	f = fopen(path, "w");
	fprintf(f, "alice:wonderland\nbroken line\n");
	fclose(f);
	ck_assert_int_ne(auth_load(&a, path, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "line 2") != NULL, "%s", err);

	f = fopen(path, "w");
	fprintf(f, "# nobody\n");
	fclose(f);
	ck_assert_int_ne(auth_load(&a, path, err, sizeof(err)), 0);

	unlink(path);
	ck_assert_int_eq(auth_load(&a, path, err, sizeof(err)), -ENOENT);
	rmdir(dir);
}
END_TEST

START_TEST(test_ct_equal)
{
	ck_assert(ct_equal("abcd", "abcd", 4));
	ck_assert(!ct_equal("abcd", "abce", 4));
	ck_assert(!ct_equal("xbcd", "abcd", 4));
	ck_assert(ct_equal("", "", 0));
}
END_TEST

static Suite *
http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("pure");

	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_route, 0,
	    sizeof(route_cases) / sizeof(route_cases[0]));
	tcase_add_test(tc, test_query_param);
	tcase_add_test(tc, test_stream_params);
	tcase_add_loop_test(tc, test_json_escape, 0,
	    sizeof(json_cases) / sizeof(json_cases[0]));
	tcase_add_test(tc, test_json_truncation);
	tcase_add_test(tc, test_auth_parse_line);
	tcase_add_test(tc, test_auth_decode);
	tcase_add_test(tc, test_auth_check);
	tcase_add_test(tc, test_auth_load);
	tcase_add_test(tc, test_auth_request);
	tcase_add_test(tc, test_ct_equal);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(http_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
