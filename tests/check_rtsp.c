/*
 * check_rtsp.c - shmcam-rtsp's pure modules: the RTSP request parser and
 * its limits, Transport headers as ffmpeg, VLC and GStreamer send them,
 * request URIs, response heads, the H.264 packetizer (a round trip
 * through an independent depacketizer, for random NAL unit sizes around
 * the packet size), RTP timestamps, RTCP sender reports and what
 * receivers send, the session description, and Digest authentication
 * (RFC 2617's own example).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../rtsp/digest.h"
#include "../rtsp/proto.h"
#include "../rtsp/rtcp.h"
#include "../rtsp/rtp.h"
#include "../rtsp/sdp.h"
#include "opt.h"
#include "rtsp/rtpdepay.h"
#include "testutil.h"

/* ------------------------------------------------------------ requests */

#define ALL	((ssize_t)1 << 40)	/* the whole input */

static const struct {
	const char	*in;
	ssize_t		 want;		/* bytes taken, 0, or -errno */
	enum rtsp_method method;
	long long	 cseq;
	const char	*uri;
} request_cases[] = {
	/* ffmpeg's first request */
	{ "OPTIONS rtsp://127.0.0.1:8554/front RTSP/1.0\r\nCSeq: 1\r\n"
	  "User-Agent: Lavf59.27.100\r\n\r\n", ALL, RTSP_OPTIONS, 1,
	  "rtsp://127.0.0.1:8554/front" },
	{ "DESCRIBE rtsp://h/x RTSP/1.0\r\nCSeq: 2\r\nAccept: "
	  "application/sdp\r\n\r\n", ALL, RTSP_DESCRIBE, 2, "rtsp://h/x" },
	/* bare LF line ends; leading empty lines skipped */
	{ "\r\n\r\nPLAY / RTSP/1.0\nCSeq: 7\n\n", ALL, RTSP_PLAY, 7, "/" },
	/* a body, counted */
	{ "SET_PARAMETER * RTSP/1.0\r\nCSeq: 3\r\nContent-Length: 5\r\n\r\n"
	  "x: 1\n", ALL, RTSP_SET_PARAMETER, 3, "*" },
	/* incomplete: the head, the body */
	{ "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n", 0, RTSP_OPTIONS, -1, NULL },
	{ "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 9\r\n\r\nabc", 0,
	  RTSP_OPTIONS, -1, NULL },
	{ "OPT", 0, RTSP_OPTIONS, -1, NULL },
	{ "", 0, RTSP_OPTIONS, -1, NULL },
	/* a method we do not implement is a request all the same */
	{ "RECORD / RTSP/1.0\r\nCSeq: 4\r\n\r\n", ALL, RTSP_OTHER, 4, "/" },
	/* CSeq missing or malformed: parsed, cseq -1 (the caller's 400) */
	{ "OPTIONS * RTSP/1.0\r\n\r\n", ALL, RTSP_OPTIONS, -1, "*" },
	{ "OPTIONS * RTSP/1.0\r\nCSeq: 1x\r\n\r\n", ALL, RTSP_OPTIONS, -1, "*" },
	{ "OPTIONS * RTSP/1.0\r\nCSeq: 12345678901\r\n\r\n", ALL, RTSP_OPTIONS,
	  -1, "*" },
	/* header names are case-insensitive */
	{ "OPTIONS * RTSP/1.0\r\ncseq:9\r\n\r\n", ALL, RTSP_OPTIONS, 9, "*" },
	/* malformed */
	{ "GET / HTTP/1.1\r\nHost: x\r\n\r\n", -EBADMSG, 0, -1, NULL },
	{ "OPTIONS * RTSP/2.0\r\nCSeq: 1\r\n\r\n", -EPROTONOSUPPORT, 0, -1,
	  NULL },
	{ "OPTIONS  * RTSP/1.0\r\n\r\n", -EBADMSG, 0, -1, NULL },
	{ "OPTIONS *\r\n\r\n", -EBADMSG, 0, -1, NULL },
	{ "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n folded\r\n\r\n", -EBADMSG, 0,
	  -1, NULL },
	{ "OPTIONS * RTSP/1.0\r\nNo colon\r\n\r\n", -EBADMSG, 0, -1, NULL },
	{ "OPTIONS * RTSP/1.0\r\nX: a\x01z\r\n\r\n", -EBADMSG, 0, -1, NULL },
	{ "OPTIONS * RTSP/1.0\r\nContent-Length: -1\r\n\r\n", -EBADMSG, 0,
	  -1, NULL },
	{ "OPTIONS * RTSP/1.0\r\nContent-Length: 4097\r\n\r\n", -EMSGSIZE,
	  0, -1, NULL },
	{ "\x16\x03\x01\x02\x05\x01\x05\x01\xfc\x03\x03\r\n\r\n", -EBADMSG, 0,
	  -1, NULL },
};

START_TEST(test_request)
{
	static struct rtsp_request rq;
	const char *in = request_cases[_i].in;
	ssize_t r = rtsp_request_parse((const uint8_t *)in, strlen(in), &rq);
	ssize_t want = request_cases[_i].want;

	if (want == ALL)
		want = (ssize_t)strlen(in);
	ck_assert_msg(r == want, "%s: %zd, expected %zd", in, r, want);
	if (r <= 0)
		return;
	ck_assert_int_eq(rq.rq_method, request_cases[_i].method);
	ck_assert_int_eq(rq.rq_cseq, request_cases[_i].cseq);
	ck_assert_str_eq(rq.rq_uri, request_cases[_i].uri);
}
END_TEST

START_TEST(test_request_fields)
{
	static struct rtsp_request rq;
	const char *in = "SETUP rtsp://h/x/trackID=0 RTSP/1.0\r\n"
	    "CSeq: 3\r\n"
	    "Transport:   RTP/AVP/TCP;unicast;interleaved=0-1 \t\r\n"
	    "Session: ABC\r\n"
	    "Empty:\r\n"
	    "Content-Length: 3\r\n\r\nxyz";
	ssize_t r = rtsp_request_parse((const uint8_t *)in, strlen(in), &rq);

	ck_assert_int_eq(r, (ssize_t)strlen(in));
	ck_assert_str_eq(rq.rq_method_name, "SETUP");
	ck_assert_str_eq(rtsp_header(&rq, "transport"),
	    "RTP/AVP/TCP;unicast;interleaved=0-1");
	ck_assert_str_eq(rtsp_header(&rq, "SESSION"), "ABC");
	ck_assert_str_eq(rtsp_header(&rq, "Empty"), "");
	ck_assert_ptr_null(rtsp_header(&rq, "Absent"));
	ck_assert_uint_eq(rq.rq_body_len, 3);
	ck_assert_int_eq(memcmp(rq.rq_body, "xyz", 3), 0);
}
END_TEST

/* Pipelined requests come apart at the lengths returned. */
START_TEST(test_request_pipelined)
{
	static struct rtsp_request rq;
	const char *in = "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n"
	    "GET_PARAMETER * RTSP/1.0\r\nCSeq: 2\r\n\r\n"
	    "TEARDOWN * RTSP/1.0\r\nCSeq: 3\r\n\r\n";
	size_t off = 0, len = strlen(in);
	long long want = 1;
	ssize_t r;

	while (off < len) {
		r = rtsp_request_parse((const uint8_t *)in + off, len - off,
		    &rq);
		ck_assert_int_gt(r, 0);
		ck_assert_int_eq(rq.rq_cseq, want++);
		off += (size_t)r;
	}
	ck_assert_int_eq(want, 4);
}
END_TEST

/* The limits: whatever is buffered, the parser never asks for more than
 * RTSP_HEAD_MAX bytes of head or RTSP_LINE_MAX of request line. */
START_TEST(test_request_limits)
{
	static struct rtsp_request rq;
	static char buf[RTSP_HEAD_MAX + 4096];
	size_t n;
	int i;

	/* A request line without its end. */
	memset(buf, 'A', sizeof(buf));
	memcpy(buf, "OPTIONS /", 9);
	ck_assert_int_eq(rtsp_request_parse((uint8_t *)buf, RTSP_LINE_MAX - 1,
	    &rq), 0);
	ck_assert_int_eq(rtsp_request_parse((uint8_t *)buf, RTSP_LINE_MAX,
	    &rq), -EMSGSIZE);
	/* A head without its end: headers dribbled in for ever. */
	n = (size_t)snprintf(buf, sizeof(buf), "OPTIONS * RTSP/1.0\r\n");
	while (n < RTSP_HEAD_MAX + 100)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X: y\r\n");
	ck_assert_int_eq(rtsp_request_parse((uint8_t *)buf, RTSP_HEAD_MAX - 1,
	    &rq), 0);
	ck_assert_int_eq(rtsp_request_parse((uint8_t *)buf, n, &rq),
	    -EMSGSIZE);
	/* Too many headers, in a head small enough. */
	n = (size_t)snprintf(buf, sizeof(buf), "OPTIONS * RTSP/1.0\r\n");
	for (i = 0; i <= RTSP_HEADERS_MAX; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X%d: y\r\n", i);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
	ck_assert_int_eq(rtsp_request_parse((uint8_t *)buf, n, &rq),
	    -EMSGSIZE);
	/* Exactly the most headers is fine. */
	n = (size_t)snprintf(buf, sizeof(buf), "OPTIONS * RTSP/1.0\r\n");
	for (i = 0; i < RTSP_HEADERS_MAX; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X%d: y\r\n", i);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
	ck_assert_int_eq(rtsp_request_parse((uint8_t *)buf, n, &rq),
	    (ssize_t)n);
	/* A NUL in the head. */
	memcpy(buf, "OPTIONS * RTSP/1.0\r\nX: a\0b\r\n\r\n", 31);
	ck_assert_int_eq(rtsp_request_parse((uint8_t *)buf, 31, &rq),
	    -EBADMSG);
}
END_TEST

START_TEST(test_interleaved)
{
	const uint8_t f[] = { '$', 1, 0, 3, 'a', 'b', 'c', '$' };
	const uint8_t *p;
	unsigned ch;
	size_t n;

	ck_assert_int_eq(rtsp_interleaved_parse(f, 0, &ch, &p, &n), 0);
	ck_assert_int_eq(rtsp_interleaved_parse(f, 3, &ch, &p, &n), 0);
	ck_assert_int_eq(rtsp_interleaved_parse(f, 6, &ch, &p, &n), 0);
	ck_assert_int_eq(rtsp_interleaved_parse(f, sizeof(f), &ch, &p, &n), 7);
	ck_assert_uint_eq(ch, 1);
	ck_assert_uint_eq(n, 3);
	ck_assert_ptr_eq(p, f + 4);
	ck_assert_int_eq(rtsp_interleaved_parse((const uint8_t *)"OPT", 3, &ch,
	    &p, &n), -EBADMSG);
}
END_TEST

/* ----------------------------------------------------------- Transport */

static const struct {
	const char	*in;
	int		 rc;
	enum rtsp_lower	 lower;
	int		 interleaved;
	unsigned	 a, b;		/* channels or client ports */
} transport_cases[] = {
	/* ffmpeg -rtsp_transport udp, tcp */
	{ "RTP/AVP/UDP;unicast;client_port=5000-5001", 0, RTSP_LOWER_UDP, 0,
	  5000, 5001 },
	{ "RTP/AVP/TCP;unicast;interleaved=0-1", 0, RTSP_LOWER_TCP, 1, 0, 1 },
	/* live555 (VLC) */
	{ "RTP/AVP;unicast;client_port=53220-53221", 0, RTSP_LOWER_UDP, 0,
	  53220, 53221 },
	/* GStreamer's rtspsrc */
	{ "RTP/AVP;unicast;client_port=43090-43091;mode=\"PLAY\"", 0,
	  RTSP_LOWER_UDP, 0, 43090, 43091 },
	/* channels we choose; one port; case */
	{ "RTP/AVP/TCP;unicast", 0, RTSP_LOWER_TCP, 0, 0, 0 },
	{ "rtp/avp;unicast;client_port=7000", 0, RTSP_LOWER_UDP, 0, 7000,
	  7001 },
	{ "RTP/AVP/TCP;interleaved=4", 0, RTSP_LOWER_TCP, 1, 4, 5 },
	/* a list: the first we serve */
	{ "RTP/AVP;multicast;port=5000-5001,RTP/AVP/TCP;interleaved=2-3", 0,
	  RTSP_LOWER_TCP, 1, 2, 3 },
	{ "RTP/SAVP;unicast;client_port=1-2, RTP/AVP;unicast;client_port=3-4",
	  0, RTSP_LOWER_UDP, 0, 3, 4 },
	/* destination= is ignored (we send to the requester only) */
	{ "RTP/AVP;unicast;destination=192.0.2.1;client_port=9-10", 0,
	  RTSP_LOWER_UDP, 0, 9, 10 },
	/* nothing we serve */
	{ "RTP/AVP;multicast", -ENOTSUP, 0, 0, 0, 0 },
	{ "RTP/AVP;unicast", -ENOTSUP, 0, 0, 0, 0 },
	{ "RTP/AVP/TCP;unicast;mode=RECORD", -ENOTSUP, 0, 0, 0, 0 },
	{ "RTP/AVP/TCP;interleaved=255", -ENOTSUP, 0, 0, 0, 0 },
	{ "RTP/AVP/TCP;interleaved=x-1", -ENOTSUP, 0, 0, 0, 0 },
	{ "RTP/AVP;unicast;client_port=0-1", -ENOTSUP, 0, 0, 0, 0 },
	{ "RTP/AVP;unicast;client_port=65535", -ENOTSUP, 0, 0, 0, 0 },
	{ "RTP/AVP;unicast;client_port=1-70000", -ENOTSUP, 0, 0, 0, 0 },
	{ "RAW/RAW/UDP;unicast;client_port=1-2", -ENOTSUP, 0, 0, 0, 0 },
	{ ",,,;;;", -ENOTSUP, 0, 0, 0, 0 },
	{ "", -EBADMSG, 0, 0, 0, 0 },
};

START_TEST(test_transport)
{
	struct rtsp_transport tr;
	int rc = rtsp_transport_parse(transport_cases[_i].in, &tr);

	ck_assert_msg(rc == transport_cases[_i].rc, "%s: %d",
	    transport_cases[_i].in, rc);
	if (rc != 0)
		return;
	ck_assert_int_eq(tr.tr_lower, transport_cases[_i].lower);
	ck_assert_int_eq(tr.tr_interleaved, transport_cases[_i].interleaved);
	if (tr.tr_lower == RTSP_LOWER_TCP) {
		ck_assert_uint_eq(tr.tr_channel[0], transport_cases[_i].a);
		ck_assert_uint_eq(tr.tr_channel[1], transport_cases[_i].b);
	} else {
		ck_assert_uint_eq(tr.tr_client_port[0], transport_cases[_i].a);
		ck_assert_uint_eq(tr.tr_client_port[1], transport_cases[_i].b);
	}
}
END_TEST

/* ----------------------------------------------------------------- URIs */

static const struct {
	const char	*uri;
	enum rtsp_target t;
	const char	*camera;
	int		 alias;
} uri_cases[] = {
	{ "*", RTSP_TARGET_ANY, "", 0 },
	{ "rtsp://127.0.0.1:8554", RTSP_TARGET_STREAM, "", 0 },
	{ "rtsp://127.0.0.1:8554/", RTSP_TARGET_STREAM, "", 0 },
	{ "rtsp://[::1]:8554/front", RTSP_TARGET_STREAM, "front", 0 },
	{ "RTSP://host/front/", RTSP_TARGET_STREAM, "front", 0 },
	{ "rtsp://host/front/stream", RTSP_TARGET_STREAM, "front", 0 },
	{ "rtsp://host/front/stream/", RTSP_TARGET_STREAM, "front", 0 },
	{ "rtsp://host/front?x=1/y", RTSP_TARGET_STREAM, "front", 0 },
	{ "rtsp://host/stream", RTSP_TARGET_STREAM, "stream", 1 },
	{ "rtsp://host/front/trackID=0", RTSP_TARGET_TRACK, "front", 0 },
	{ "rtsp://host/front/stream/trackID=0", RTSP_TARGET_TRACK, "front",
	  0 },
	{ "rtsp://host/trackID=0", RTSP_TARGET_TRACK, "", 0 },
	{ "rtsp://host/stream/trackID=0", RTSP_TARGET_TRACK, "stream", 1 },
	{ "/front", RTSP_TARGET_STREAM, "front", 0 },
	{ "rtsp://host/front/trackID=1", RTSP_TARGET_NONE, "", 0 },
	{ "rtsp://host/front/other", RTSP_TARGET_NONE, "", 0 },
	{ "rtsp://host/a/stream/x", RTSP_TARGET_NONE, "", 0 },
	{ "rtsp://host//front", RTSP_TARGET_NONE, "", 0 },
	{ "rtsp://host/../front", RTSP_TARGET_NONE, "", 0 },
	{ "rtsp://host/%66ront", RTSP_TARGET_NONE, "", 0 },
	{ "rtsp://host/a/b/c/d", RTSP_TARGET_NONE, "", 0 },
	{ "http://host/front", RTSP_TARGET_NONE, "", 0 },
	{ "front", RTSP_TARGET_NONE, "", 0 },
	{ "rtsp://host/"
	  "a23456789012345678901234567890123456789012345678901234567",
	  RTSP_TARGET_NONE, "", 0 },
};

START_TEST(test_uri)
{
	char cam[RTSP_CAMERA_MAX];
	int alias = -1;
	enum rtsp_target t;

	t = rtsp_uri_target(uri_cases[_i].uri, cam, sizeof(cam), &alias);
	ck_assert_msg(t == uri_cases[_i].t, "%s: %d", uri_cases[_i].uri, t);
	if (t != RTSP_TARGET_NONE) {
		ck_assert_str_eq(cam, uri_cases[_i].camera);
		ck_assert_int_eq(alias, uri_cases[_i].alias);
	}
}
END_TEST

/* ------------------------------------------------------------ responses */

START_TEST(test_response)
{
	struct rtsp_response rs = {
		.rs_status = 200,
		.rs_cseq = 5,
		.rs_date = 1700000000,
		.rs_session = "0123abcd",
		.rs_timeout = 60,
		.rs_headers = "Public: OPTIONS\r\n",
		.rs_content_type = "application/sdp",
		.rs_body_len = 10,
	};
	char buf[512];
	ssize_t n;

	n = rtsp_response_format(buf, sizeof(buf), &rs);
	ck_assert_int_gt(n, 0);
	ck_assert_str_eq(buf, "RTSP/1.0 200 OK\r\n"
	    "CSeq: 5\r\n"
	    "Date: Tue, 14 Nov 2023 22:13:20 GMT\r\n"
	    "Server: shmcam/" SHMCAM_VERSION "\r\n"
	    "Session: 0123abcd;timeout=60\r\n"
	    "Content-Type: application/sdp\r\n"
	    "Content-Length: 10\r\n"
	    "Public: OPTIONS\r\n"
	    "\r\n");
	ck_assert_int_eq((size_t)n, strlen(buf));
	ck_assert_int_eq(rtsp_response_format(buf, 40, &rs), -EMSGSIZE);
	memset(&rs, 0, sizeof(rs));
	rs.rs_status = 454;
	rs.rs_cseq = -1;
	n = rtsp_response_format(buf, sizeof(buf), &rs);
	ck_assert_int_gt(n, 0);
	ck_assert_ptr_nonnull(strstr(buf, "454 Session Not Found\r\n"));
	ck_assert_ptr_null(strstr(buf, "CSeq"));
}
END_TEST

/* ----------------------------------------------------------------- RTP */

static uint64_t rng_state;

static uint32_t
rng(void)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng_state >> 33);
}

/*
 * A random access unit: n NAL units, each of a size picked around the
 * packet payload (one byte either side of every boundary the packetizer
 * has: a single packet, a STAP-A of two, two FU-A fragments) or small.
 */
static size_t
random_au(uint8_t *au, size_t cap, size_t mtu, unsigned nals)
{
	const long room = (long)mtu - RTP_HEADER_SIZE;
	const long edges[] = { 1, 2, room / 2 - 3, room / 2 - 2, room - 1,
	    room, room + 1, 2 * (room - 2) - 1, 2 * (room - 2),
	    2 * (room - 2) + 1, 2 * (room - 2) + 2, 5 * room };
	size_t len = 0, n, i;
	unsigned k;
	long e;

	for (k = 0; k < nals; k++) {
		if (rng() % 3 == 0) {
			n = 1 + rng() % 40;
		} else {
			e = edges[rng() % (sizeof(edges) / sizeof(edges[0]))];
			n = e < 1 ? 1 : (size_t)e;
		}
		n += rng() % 3 == 0 ? rng() % 5 : 0;
		if (len > cap || cap - len < 4 + n)
			break;
		au[len++] = (uint8_t)(n >> 24);
		au[len++] = (uint8_t)(n >> 16);
		au[len++] = (uint8_t)(n >> 8);
		au[len++] = (uint8_t)n;
		/* nal_ref_idc any, type 1..23 */
		au[len] = (uint8_t)((rng() % 4) << 5 | (1 + rng() % 23));
		for (i = 1; i < n; i++)
			au[len + i] = (uint8_t)rng();
		len += n;
	}
	return len;
}

START_TEST(test_rtp_round_trip)
{
	static uint8_t au[64 * 1024], back[64 * 1024];
	const size_t mtus[] = { RTP_PACKET_MIN, 100, 576, RTP_PACKET_MAX,
	    9000 };
	struct rtp_depay d;
	struct rtp_out out;
	uint16_t seq = 65530, want_seq;
	size_t len, bytes, i;
	unsigned round, packets, nals;
	int n, k;

	rng_state = 1;
	rtp_depay_init(&d, back, sizeof(back));
	for (round = 0; round < 3000; round++) {
		size_t mtu = mtus[round % (sizeof(mtus) / sizeof(mtus[0]))];
		uint32_t ts = rng();

		nals = 1 + rng() % 8;
		len = random_au(au, mtu == RTP_PACKET_MIN ? 2048 : sizeof(au),
		    mtu, nals);
		rtp_h264_bound(len, nals, mtu, &bytes, &packets);
		memset(&out, 0, sizeof(out));
		out.o_buf = malloc(bytes);
		out.o_cap = bytes;
		out.o_pk = calloc(packets, sizeof(*out.o_pk));
		out.o_maxpk = packets;
		ck_assert_ptr_nonnull(out.o_buf);
		ck_assert_ptr_nonnull(out.o_pk);
		want_seq = seq;
		n = rtp_h264_packetize(au, len, 0x1234abcd, ts, &seq, mtu, &out);
		ck_assert_msg(n > 0, "round %u: packetize %d", round, n);
		ck_assert_uint_eq((uint16_t)(want_seq + n), seq);
		rtp_depay_next(&d);
		for (k = 0; k < n; k++) {
			const struct rtp_packet *pk = &out.o_pk[k];
			const uint8_t *p = out.o_buf + pk->p_off;

			ck_assert_uint_le(pk->p_len, mtu);
			/* The interleaved head, channel 0. */
			ck_assert_uint_eq(p[0], '$');
			ck_assert_uint_eq(p[1], 0);
			ck_assert_uint_eq((size_t)p[2] << 8 | p[3], pk->p_len);
			ck_assert_msg(rtp_depay_push(&d, p + RTP_PREFIX_SIZE,
			    pk->p_len) == 0, "round %u packet %d: %s", round,
			    k, d.d_why);
		}
		ck_assert_msg(d.d_done, "round %u: no marker", round);
		ck_assert_uint_eq(d.d_ts, ts);
		ck_assert_uint_eq(d.d_ssrc, 0x1234abcd);
		ck_assert_uint_eq(d.d_len, len);
		ck_assert_msg(memcmp(back, au, len) == 0, "round %u: units "
		    "differ", round);
		/* Payload: every byte of each unit, in some packet. */
		ck_assert_uint_ge(out.o_payload, len - 4 * nals);
		/* Nothing written past what it says it used. */
		for (i = 0; i < (size_t)n; i++)
			ck_assert_uint_le(out.o_pk[i].p_off + RTP_PREFIX_SIZE +
			    out.o_pk[i].p_len, out.o_used);
		free(out.o_buf);
		free(out.o_pk);
	}
}
END_TEST

/* SPS and PPS go as one STAP-A, the slice after them alone. */
START_TEST(test_rtp_stap)
{
	const uint8_t au[] = {
		0, 0, 0, 4, 0x67, 0x64, 0x00, 0x1f,	/* SPS */
		0, 0, 0, 2, 0x68, 0xeb,			/* PPS */
		0, 0, 0, 3, 0x65, 0x88, 0x84,		/* IDR slice */
	};
	uint8_t buf[256];
	struct rtp_packet pk[4];
	struct rtp_out out = { buf, sizeof(buf), pk, 4, 0, 0, 0 };
	uint16_t seq = 7;
	const uint8_t *p;

	/* 1 + 2 + 4 + 2 + 2 = 11 bytes of STAP-A; the slice would make
	 * 16, over the 15 a 27-byte packet holds. */
	ck_assert_int_eq(rtp_h264_packetize(au, sizeof(au), 1, 2, &seq, 27,
	    &out), 2);
	p = buf + pk[0].p_off + RTP_PREFIX_SIZE;
	ck_assert_uint_eq(pk[0].p_len, 12 + 11);
	ck_assert_uint_eq(p[1], 96);			/* no marker */
	ck_assert_uint_eq(p[12], 3 << 5 | 24);		/* NRI 3, STAP-A */
	ck_assert_uint_eq(p[13] << 8 | p[14], 4);
	ck_assert_uint_eq(p[15], 0x67);
	ck_assert_uint_eq(p[19] << 8 | p[20], 2);
	p = buf + pk[1].p_off + RTP_PREFIX_SIZE;
	ck_assert_uint_eq(p[1], 0x80 | 96);		/* marker */
	ck_assert_uint_eq(p[3], 8);			/* seq 8 */
	ck_assert_uint_eq(p[12], 0x65);
	ck_assert_uint_eq(seq, 9);
}
END_TEST

START_TEST(test_rtp_refused)
{
	static const struct {
		const char	*what;
		uint8_t		 au[16];
		size_t		 len;
	} bad[] = {
		{ "empty", { 0 }, 0 },
		{ "zero length", { 0, 0, 0, 0, 0x65 }, 5 },
		{ "length past the end", { 0, 0, 0, 9, 0x65, 1 }, 6 },
		{ "partial length", { 0, 0, 0, 1, 0x65, 0, 0 }, 7 },
		{ "type 0", { 0, 0, 0, 1, 0x00 }, 5 },
		{ "type 24", { 0, 0, 0, 1, 0x18 }, 5 },
		{ "type 28", { 0, 0, 0, 1, 0x7c }, 5 },
		{ "forbidden bit", { 0, 0, 0, 1, 0x85 }, 5 },
	};
	uint8_t buf[256];
	struct rtp_packet pk[8];
	struct rtp_out out = { buf, sizeof(buf), pk, 8, 0, 0, 0 };
	const uint8_t big[] = { 0, 0, 0, 40, 0x65 };
	uint8_t au[44];
	uint16_t seq = 0;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(rtp_h264_packetize(bad[i].au, bad[i].len, 1, 2,
		    &seq, 100, &out) == -EBADMSG, "%s", bad[i].what);
	/* Out of room: bytes, then packets. */
	memset(au, 0x11, sizeof(au));
	memcpy(au, big, sizeof(big));
	out.o_cap = 40;
	ck_assert_int_eq(rtp_h264_packetize(au, sizeof(au), 1, 2, &seq, 100,
	    &out), -ENOBUFS);
	out.o_cap = sizeof(buf);
	out.o_maxpk = 2;
	ck_assert_int_eq(rtp_h264_packetize(au, sizeof(au), 1, 2, &seq, 30,
	    &out), -ENOBUFS);
	out.o_maxpk = 8;
	ck_assert_int_eq(rtp_h264_packetize(au, sizeof(au), 1, 2, &seq, 30,
	    &out), 3);
	ck_assert_int_eq(rtp_h264_packetize(au, sizeof(au), 1, 2, &seq,
	    RTP_PACKET_MIN - 1, &out), -ENOBUFS);
}
END_TEST

START_TEST(test_rtp_timestamp)
{
	ck_assert_uint_eq(rtp_timestamp(0), 0);
	ck_assert_uint_eq(rtp_timestamp(1000000000ull), 90000);
	ck_assert_uint_eq(rtp_timestamp(33333333ull), 2999);
	/* It wraps after 2^32 ticks (47721.86 s); far in the future, no
	 * overflow. */
	ck_assert_uint_eq(rtp_timestamp(47721000000000ull), 4294890000u);
	ck_assert_uint_eq(rtp_timestamp(47722000000000ull), 12704);
	ck_assert_uint_eq(rtp_timestamp(UINT64_MAX),
	    (uint32_t)((UINT64_MAX / 1000000000u) * 90000 +
	    (UINT64_MAX % 1000000000u) * 9 / 100000));
	/* Origins differ with the ring and the frame. */
	ck_assert_uint_ne(rtp_seq_origin(1, 1), rtp_seq_origin(1, 2));
	ck_assert_uint_ne(rtp_seq_origin(1, 1), rtp_seq_origin(2, 1));
	ck_assert_uint_eq(rtp_seq_origin(5, 9), rtp_seq_origin(5, 9));
}
END_TEST

/* ---------------------------------------------------------------- RTCP */

START_TEST(test_rtcp_sr)
{
	const struct rtcp_sr sr = { 0x01020304, 1500000000ull, 0xa0b0c0d0,
	    7, 1000 };
	uint8_t buf[RTCP_SR_MAX];
	struct rtcp_feedback fb;
	ssize_t n;

	/* NTP: 1.5 s after the Unix epoch. */
	ck_assert_uint_eq(rtcp_ntp(1500000000ull),
	    (2208988801ull << 32) | 0x80000000u);
	n = rtcp_write_sr(buf, sizeof(buf), &sr, "shmcam-front");
	/* SR 28 bytes; SDES 8 + 2 + 12 + 1 -> 24 */
	ck_assert_int_eq(n, 28 + 24);
	ck_assert_uint_eq(buf[0], 0x80);
	ck_assert_uint_eq(buf[1], 200);
	ck_assert_uint_eq(buf[3], 6);
	ck_assert_uint_eq((uint32_t)buf[8] << 24 | (uint32_t)buf[9] << 16 |
	    (uint32_t)buf[10] << 8 | buf[11], 2208988801u);
	ck_assert_uint_eq(buf[12], 0x80);
	ck_assert_uint_eq(buf[16], 0xa0);
	ck_assert_uint_eq(buf[23], 7);
	ck_assert_uint_eq(buf[26] << 8 | buf[27], 1000);
	ck_assert_uint_eq(buf[28], 0x81);
	ck_assert_uint_eq(buf[29], 202);
	ck_assert_uint_eq(buf[31], 5);
	ck_assert_uint_eq(buf[36], 1);
	ck_assert_uint_eq(buf[37], 12);
	ck_assert_int_eq(memcmp(buf + 38, "shmcam-front", 12), 0);
	ck_assert_uint_eq(buf[50], 0);
	/* What we write is a valid compound packet. */
	ck_assert_int_eq(rtcp_parse(buf, (size_t)n, 0x01020304, &fb), 0);
	ck_assert_uint_eq(fb.fb_packets, 2);
	n = rtcp_write_sr_bye(buf, sizeof(buf), &sr, "x");
	ck_assert_int_eq(rtcp_parse(buf, (size_t)n, 0x01020304, &fb), 0);
	ck_assert_uint_eq(fb.fb_bye, 1);
	ck_assert_int_eq(rtcp_write_sr(buf, 39, &sr, "x"), -ENOBUFS);
}
END_TEST

/* A receiver report about us, an SDES, a PLI and a FIR, as one. */
static const uint8_t rr_compound[] = {
	/* RR, 1 block: reporter 0xaaaa0001 */
	0x81, 201, 0, 7, 0xaa, 0xaa, 0, 1,
	0x01, 0x02, 0x03, 0x04,		/* about SSRC 0x01020304 */
	64, 0xff, 0xff, 0xfe,		/* 1/4 lost, cumulative -2 */
	0, 1, 0x00, 0x10,		/* highest 65552 */
	0, 0, 0, 90,			/* jitter */
	0x12, 0x34, 0x56, 0x78,		/* LSR */
	0, 1, 0, 0,			/* DLSR 1 s */
	/* SDES, one chunk with CNAME "ab" */
	0x81, 202, 0, 2, 0xaa, 0xaa, 0, 1, 1, 2, 'a', 'b',
	/* PSFB PLI about us */
	0x81, 206, 0, 2, 0xaa, 0xaa, 0, 1, 0x01, 0x02, 0x03, 0x04,
	/* PSFB FIR: two entries, one about us */
	0x84, 206, 0, 6, 0xaa, 0xaa, 0, 1, 0, 0, 0, 0,
	0x09, 0x09, 0x09, 0x09, 1, 0, 0, 0,
	0x01, 0x02, 0x03, 0x04, 2, 0, 0, 0,
};

START_TEST(test_rtcp_parse)
{
	uint8_t bad[sizeof(rr_compound) + 8];
	struct rtcp_feedback fb;

	ck_assert_int_eq(rtcp_parse(rr_compound, sizeof(rr_compound),
	    0x01020304, &fb), 0);
	ck_assert_uint_eq(fb.fb_packets, 4);
	ck_assert_uint_eq(fb.fb_reports, 1);
	ck_assert_uint_eq(fb.fb_reporter, 0xaaaa0001);
	ck_assert_uint_eq(fb.fb_fraction_lost, 64);
	ck_assert_int_eq(fb.fb_lost, -2);
	ck_assert_uint_eq(fb.fb_highest_seq, 65552);
	ck_assert_uint_eq(fb.fb_jitter, 90);
	ck_assert_uint_eq(fb.fb_lsr, 0x12345678);
	ck_assert_uint_eq(fb.fb_dlsr, 65536);
	ck_assert_uint_eq(fb.fb_pli, 1);
	ck_assert_uint_eq(fb.fb_fir, 1);
	/* About another SSRC: nothing of it counts. */
	ck_assert_int_eq(rtcp_parse(rr_compound, sizeof(rr_compound),
	    0x05060708, &fb), 0);
	ck_assert_uint_eq(fb.fb_reports + fb.fb_pli + fb.fb_fir, 0);
	/* Lengths that do not add up, a wrong version, short: refused
	 * whole, PLI and all. */
	ck_assert_int_eq(rtcp_parse(rr_compound, sizeof(rr_compound) - 4,
	    0x01020304, &fb), -EBADMSG);
	ck_assert_uint_eq(fb.fb_pli, 0);
	memcpy(bad, rr_compound, sizeof(rr_compound));
	memset(bad + sizeof(rr_compound), 0, 8);
	ck_assert_int_eq(rtcp_parse(bad, sizeof(bad), 0x01020304, &fb),
	    -EBADMSG);
	bad[32] = 0x41;			/* the SDES as version 1 */
	ck_assert_int_eq(rtcp_parse(bad, sizeof(rr_compound), 0x01020304,
	    &fb), -EBADMSG);
	ck_assert_int_eq(rtcp_parse(rr_compound, 3, 0x01020304, &fb),
	    -EBADMSG);
	/* Padding: allowed in the last packet only, and within it. */
	memcpy(bad, rr_compound, sizeof(rr_compound));
	bad[0] |= 0x20;
	ck_assert_int_eq(rtcp_parse(bad, sizeof(rr_compound), 0x01020304,
	    &fb), -EBADMSG);
	{
		const uint8_t padded[] = { 0xa1, 206, 0, 3, 0, 0, 0, 1,
		    0x01, 0x02, 0x03, 0x04, 0, 0, 0, 4 };
		const uint8_t overpad[] = { 0xa1, 206, 0, 3, 0, 0, 0, 1,
		    0x01, 0x02, 0x03, 0x04, 0, 0, 0, 13 };

		ck_assert_int_eq(rtcp_parse(padded, sizeof(padded), 0x01020304,
		    &fb), 0);
		ck_assert_uint_eq(fb.fb_pli, 1);
		ck_assert_int_eq(rtcp_parse(overpad, sizeof(overpad),
		    0x01020304, &fb), -EBADMSG);
	}
}
END_TEST

/* ----------------------------------------------------------------- SDP */

START_TEST(test_sdp)
{
	const uint8_t sps[] = { 0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9 };
	const uint8_t pps[] = { 0x68, 0xeb, 0xe3, 0xcb };
	struct sdp_params p = { "front", 42, 3, "127.0.0.1", 0, sps,
	    sizeof(sps), pps, sizeof(pps), 30000 };
	char buf[SDP_MAX];
	ssize_t n;

	n = sdp_write(buf, sizeof(buf), &p);
	ck_assert_int_gt(n, 0);
	ck_assert_uint_eq((size_t)n, strlen(buf));
	ck_assert_ptr_nonnull(strstr(buf, "v=0\r\no=- 42 3 IN IP4 127.0.0.1\r\n"
	    "s=front\r\n"));
	ck_assert_ptr_nonnull(strstr(buf, "m=video 0 RTP/AVP 96\r\n"
	    "a=rtpmap:96 H264/90000\r\n"
	    "a=fmtp:96 packetization-mode=1;profile-level-id=64001F;"
	    "sprop-parameter-sets=Z2QAH6zZ,aOvjyw==\r\n"));
	ck_assert_ptr_nonnull(strstr(buf, "a=framerate:30.000\r\n"));
	ck_assert_ptr_nonnull(strstr(buf, "a=control:trackID=0\r\n"));
	ck_assert_str_eq(buf + n - 2, "\r\n");
	p.ipv6 = 1;
	p.addr = "::1";
	n = sdp_write(buf, sizeof(buf), &p);
	ck_assert_ptr_nonnull(strstr(buf, "IN IP6 ::1\r\n"));
	ck_assert_int_eq(sdp_write(buf, 100, &p), -ENOBUFS);
	p.name = "bad name";
	ck_assert_int_eq(sdp_write(buf, sizeof(buf), &p), -EINVAL);
	p.name = "front";
	p.sps_len = 3;
	ck_assert_int_eq(sdp_write(buf, sizeof(buf), &p), -EINVAL);
}
END_TEST

/* -------------------------------------------------------------- Digest */

START_TEST(test_digest_rfc2617)
{
	/* RFC 2617 3.5's example, with qop=auth. */
	const char *h = "Digest username=\"Mufasa\", "
	    "realm=\"testrealm@host.com\", "
	    "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
	    "uri=\"/dir/index.html\", qop=auth, nc=00000001, "
	    "cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\","
	    " opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
	struct digest_creds dc;
	char ha1[DIGEST_HEX], resp[DIGEST_HEX];

	ck_assert_int_eq(digest_parse(h, &dc), 0);
	ck_assert_str_eq(dc.username, "Mufasa");
	ck_assert_str_eq(dc.uri, "/dir/index.html");
	ck_assert_str_eq(dc.qop, "auth");
	digest_ha1("Mufasa", "testrealm@host.com", "Circle Of Life", ha1);
	ck_assert_str_eq(ha1, "939e7578ed9e3c518a452acee763bce9");
	ck_assert_int_eq(digest_expected(ha1, "GET", &dc, resp), 0);
	ck_assert_str_eq(resp, dc.response);
}
END_TEST

START_TEST(test_digest_rtsp)
{
	/* As ffmpeg and live555 send it: no qop. */
	const char *h = "Digest username=\"alice\", realm=\"shmcam\", "
	    "nonce=\"0123456789abcdef0123456789abcdef\", "
	    "uri=\"rtsp://127.0.0.1:8554/front\", "
	    "response=\"2b8f2b6e30e27843c099ab85a8728656\"";
	static const char *const bad[] = {
		"Basic YWxpY2U6c2VjcmV0",
		"Digest",
		"Digestusername=\"a\"",
		"Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"u\"",
		"Digest username=\"a\", username=\"b\", realm=\"r\", "
		    "nonce=\"n\", uri=\"u\", response=\"x\"",
		"Digest username=\"a, realm=\"r\"",
		"Digest username=\"a\" realm=\"r\"",
		"Digest =x",
		"Digest username=\"\", realm=\"r\", nonce=\"n\", uri=\"u\", "
		    "response=\"x\"",
		"Digest username=a, realm=r, nonce=n, uri=u, "
		    "response=0123456789012345678901234567890123",
	};
	struct digest_creds dc;
	char ha1[DIGEST_HEX], resp[DIGEST_HEX];
	size_t i;

	ck_assert_int_eq(digest_parse(h, &dc), 0);
	digest_ha1("alice", "shmcam", "secret", ha1);
	ck_assert_str_eq(ha1, "e503b16b473a5e44ace6b9c72fd6ffc3");
	ck_assert_int_eq(digest_expected(ha1, "DESCRIBE", &dc, resp), 0);
	ck_assert_str_eq(resp, dc.response);
	/* Another method, another answer. */
	ck_assert_int_eq(digest_expected(ha1, "PLAY", &dc, resp), 0);
	ck_assert_str_ne(resp, dc.response);
	/* Tokens, escapes, other case. */
	ck_assert_int_eq(digest_parse("digest USERNAME=al\\ice, realm=\"s\\\"q\","
	    " nonce=n, uri=u, response=r", &dc), 0);
	ck_assert_str_eq(dc.username, "al\\ice");
	ck_assert_str_eq(dc.realm, "s\"q");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(digest_parse(bad[i], &dc) == -EINVAL, "%s",
		    bad[i]);
	ck_assert_int_eq(digest_parse("Digest username=a, realm=r, nonce=n, "
	    "uri=u, response=x, algorithm=SHA-256", &dc), 0);
	ck_assert_int_eq(digest_expected(ha1, "PLAY", &dc, resp), -ENOTSUP);
	ck_assert_int_eq(digest_parse("Digest username=a, realm=r, nonce=n, "
	    "uri=u, response=x, qop=auth-int", &dc), 0);
	ck_assert_int_eq(digest_expected(ha1, "PLAY", &dc, resp), -ENOTSUP);
}
END_TEST

static Suite *
rtsp_suite(void)
{
	Suite *s = suite_create("rtsp");
	TCase *tc = tcase_create("pure");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_request, 0,
	    sizeof(request_cases) / sizeof(request_cases[0]));
	tcase_add_test(tc, test_request_fields);
	tcase_add_test(tc, test_request_pipelined);
	tcase_add_test(tc, test_request_limits);
	tcase_add_test(tc, test_interleaved);
	tcase_add_loop_test(tc, test_transport, 0,
	    sizeof(transport_cases) / sizeof(transport_cases[0]));
	tcase_add_loop_test(tc, test_uri, 0,
	    sizeof(uri_cases) / sizeof(uri_cases[0]));
	tcase_add_test(tc, test_response);
	tcase_add_test(tc, test_rtp_round_trip);
	tcase_add_test(tc, test_rtp_stap);
	tcase_add_test(tc, test_rtp_refused);
	tcase_add_test(tc, test_rtp_timestamp);
	tcase_add_test(tc, test_rtcp_sr);
	tcase_add_test(tc, test_rtcp_parse);
	tcase_add_test(tc, test_sdp);
	tcase_add_test(tc, test_digest_rfc2617);
	tcase_add_test(tc, test_digest_rtsp);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(rtsp_suite());
}
