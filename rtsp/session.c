/*
 * session.c - the RTSP methods, and sessions.
 *
 *   OPTIONS        what we implement (never needs credentials)
 *   DESCRIBE       the camera's session description (sdp.h); while the
 *                  capture has not encoded H.264 yet (nobody watched it
 *                  since it started) the answer waits, counted as a
 *                  viewer so that the capture starts, for the first
 *                  keyframe's parameter sets: DESCRIBE_WAIT_MS at most,
 *                  then 503
 *   SETUP          a session on this connection, RTP over TCP
 *                  (interleaved) or over UDP (server ports from
 *                  --udp-ports); one per connection: 459 for another
 *   PLAY           from the next keyframe (media.c)
 *   PAUSE          stops sending; PLAY resumes at a keyframe
 *   TEARDOWN       ends the session; the connection stays
 *   GET_PARAMETER, SET_PARAMETER   keepalives (a body we do not know in
 *                  SET_PARAMETER: 451)
 *
 * A session lives as long as its connection, and not longer than
 * --session-timeout without a request or RTCP from its client, except
 * while it plays over TCP: then the connection is what shows the client
 * is there (RFC 2326 12.37 lets the server decide), and a client that
 * stops reading is found by the connection's stall timeout instead.
 * ffmpeg, GStreamer and VLC send keepalives within the timeout we
 * announce in the Session header.
 *
 * Paths (proto.h's rtsp_uri_target()): rtsp://HOST:PORT/NAME and
 * /NAME/stream for each camera; a server of one camera serves it at
 * rtsp://HOST:PORT/ and /stream as well, as shmcam-server does at /.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "access.h"
#include "log.h"
#include "netaddr.h"
#include "rtsp.h"
#include "sdp.h"

/* How long a DESCRIBE waits for the first keyframe: the capture starts
 * its encoder when the first viewer appears and begins with a keyframe,
 * one or two frame intervals later; a slow machine needs more. */
#define DESCRIBE_WAIT_MS	5000
/* PLI and FIR from one session acted on at most this often. */
#define PLI_INTERVAL_NS		1000000000ull
#define RESPONSE_HEADERS_MAX	(2 * RTSP_LINE_MAX + 512)

#define PUBLIC	"Public: OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, " \
		"GET_PARAMETER, SET_PARAMETER\r\n"

static void
respond(struct rtsp_conn *cn, const struct rtsp_request *rq, unsigned status,
    const char *headers)
{
	struct rtsp_response rs;

	memset(&rs, 0, sizeof(rs));
	rs.rs_status = status;
	rs.rs_cseq = rq->rq_cseq;
	rs.rs_date = (uint64_t)time(NULL);
	rs.rs_headers = headers;
	if (cn->cn_session != NULL) {
		rs.rs_session = cn->cn_session->ss_id;
		rs.rs_timeout = cn->cn_srv->opt.session_timeout_s;
	}
	conn_respond(cn, &rs, NULL);
}

/* The session id of a Session header ("ID;timeout=N"), compared with
 * ours: 1 if it names ss. */
static int
session_named(const struct rtsp_session *ss, const char *hdr)
{
	size_t n = strcspn(hdr, "; \t");

	return ss != NULL && n == strlen(ss->ss_id) &&
	    memcmp(hdr, ss->ss_id, n) == 0;
}

/*
 * The session a request refers to: 0 and *ssp (NULL when the request
 * names none and need not), or -1 after answering 454.
 */
static int
session_of(struct rtsp_conn *cn, const struct rtsp_request *rq, int needed,
    struct rtsp_session **ssp)
{
	const char *hdr = rtsp_header(rq, "Session");

	*ssp = NULL;
	if (hdr == NULL && !needed)
		return 0;
	if (hdr == NULL || !session_named(cn->cn_session, hdr)) {
		respond(cn, rq, 454, NULL);
		return -1;
	}
	*ssp = cn->cn_session;
	(*ssp)->ss_active_ns = clock_ns(CLOCK_MONOTONIC);
	return 0;
}

/*
 * The absolute URL of the presentation a request names, with a trailing
 * slash (DESCRIBE's Content-Base): the request's own, query cut, or ours
 * for a client that sent a path only.
 */
static void
presentation_url(const struct rtsp_conn *cn, const char *uri, char *buf,
    size_t size)
{
	size_t n = strcspn(uri, "?#");

	if (uri[0] == '/') {
		struct sockaddr_storage ss = cn->cn_local;
		char host[RTSP_ADDR_MAX];

		netaddr_text((struct sockaddr *)&ss, 1, host, sizeof(host));
		snprintf(buf, size, "rtsp://%s%.*s", host, (int)n, uri);
	} else {
		snprintf(buf, size, "%.*s", (int)n, uri);
	}
	n = strlen(buf);
	if (n > 0 && buf[n - 1] != '/' && n + 1 < size) {
		buf[n] = '/';
		buf[n + 1] = '\0';
	}
}

/* ---------------------------------------------------------- DESCRIBE */

static void
describe_send(struct rtsp_conn *cn, struct camera *cam, long long cseq,
    const char *base)
{
	struct h264_params hp;
	struct sdp_params sp;
	struct rtsp_response rs;
	char sdp[SDP_MAX], headers[RESPONSE_HEADERS_MAX];
	ssize_t n;

	memset(&rs, 0, sizeof(rs));
	rs.rs_cseq = cseq;
	rs.rs_date = (uint64_t)time(NULL);
	if (!camera_params(cam, &hp)) {
		rs.rs_status = 503;
		rs.rs_headers = "Retry-After: 5\r\n";
		log_info("client %s: camera %s: no H.264 (%s)", cn->cn_addr,
		    cam->c_name, cam->c_at.at_state != ATTACH_ATTACHED ?
		    cam->c_at.at_why : "no keyframe yet");
		conn_respond(cn, &rs, NULL);
		return;
	}
	memset(&sp, 0, sizeof(sp));
	sp.name = cam->c_name;
	sp.session_id = cam->c_at.at_generation[CTL_KIND_H264] >> 1;
	sp.version = hp.hp_version;
	sp.addr = cn->cn_local_addr;
	sp.ipv6 = cn->cn_local.ss_family == AF_INET6;
	sp.sps = hp.hp_sps;
	sp.sps_len = hp.hp_sps_len;
	sp.pps = hp.hp_pps;
	sp.pps_len = hp.hp_pps_len;
	sp.fps_milli = cam->c_at.at_fps_milli[CTL_KIND_H264];
	n = sdp_write(sdp, sizeof(sdp), &sp);
	if (n < 0) {
		rs.rs_status = 500;
		log_warnx("camera %s: no session description: %s",
		    cam->c_name, strerror((int)-n));
		conn_respond(cn, &rs, NULL);
		return;
	}
	snprintf(headers, sizeof(headers), "Content-Base: %s\r\n", base);
	rs.rs_status = 200;
	rs.rs_headers = headers;
	rs.rs_content_type = "application/sdp";
	rs.rs_body_len = (size_t)n;
	conn_respond(cn, &rs, sdp);
}

void
session_describe_answer(struct rtsp_conn *cn)
{
	struct camera *cam = cn->cn_describe_cam;

	if (cam == NULL)
		return;
	cn->cn_describe_cam = NULL;
	cam->c_describing--;
	describe_send(cn, cam, cn->cn_describe_cseq, cn->cn_describe_base);
	free(cn->cn_describe_base);
	cn->cn_describe_base = NULL;
	camera_viewers_changed(cam);
	conn_resume(cn);
}

static void
method_describe(struct rtsp_conn *cn, const struct rtsp_request *rq,
    struct camera *cam)
{
	struct h264_params hp;
	char base[RTSP_LINE_MAX + 2];

	presentation_url(cn, rq->rq_uri, base, sizeof(base));
	if (camera_params(cam, &hp) ||
	    (cam->c_at.at_state == ATTACH_ATTACHED &&
	    !(cam->c_at.at_capture_kinds & CTL_KIND_BIT(CTL_KIND_H264)))) {
		describe_send(cn, cam, rq->rq_cseq, base);
		return;
	}
	/* Wait for the capture's first keyframe (or for the capture). */
	if ((cn->cn_describe_base = strdup(base)) == NULL) {
		respond(cn, rq, 500, NULL);
		return;
	}
	cn->cn_describe_cam = cam;
	cn->cn_describe_cseq = rq->rq_cseq;
	cam->c_describing++;
	camera_viewers_changed(cam);
	conn_park(cn, DESCRIBE_WAIT_MS);
}

/* ------------------------------------------------------------- SETUP */

void
session_free(struct rtsp_session *ss, const char *why)
{
	struct camera *cam = ss->ss_cam;
	double secs = (double)(clock_ns(CLOCK_MONOTONIC) - ss->ss_start_ns) /
	    1e9;

	log_info("session %s of %s (%s, %s) ended after %.1f s, %llu frames, "
	    "%llu bytes, %llu skips to a keyframe, %llu UDP packets dropped: "
	    "%s", ss->ss_id, ss->ss_conn->cn_addr, cam->c_name,
	    ss->ss_tr.tr_lower == RTSP_LOWER_TCP ? "TCP" : "UDP", secs,
	    (unsigned long long)ss->ss_frames,
	    (unsigned long long)ss->ss_bytes,
	    (unsigned long long)ss->ss_skips,
	    (unsigned long long)ss->ss_udp_dropped, why);
	if (ss->ss_udp != NULL) {
		if (ss->ss_state == SS_PLAYING)
			media_send_sr(ss, 1);
		udp_close(ss->ss_udp);
	}
	TAILQ_REMOVE(&cam->c_sessions, ss, ss_entry);
	cam->c_nsessions--;
	ss->ss_conn->cn_session = NULL;
	free(ss);
	camera_viewers_changed(cam);
}

static int
session_id_new(char *id)
{
	uint8_t rnd[RTSP_SESSION_ID_LEN / 2];
	unsigned i;

	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		return -1;
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(id + 2 * i, 3, "%02X", rnd[i]);
	return 0;
}

static void
method_setup(struct rtsp_conn *cn, const struct rtsp_request *rq,
    struct camera *cam)
{
	struct rtsp_server *srv = cn->cn_srv;
	struct rtsp_session *ss;
	struct rtsp_transport tr;
	const char *hdr = rtsp_header(rq, "Transport");
	char headers[512];
	int rc;

	if (cn->cn_session != NULL) {
		/* One stream, one session per connection. */
		respond(cn, rq, rtsp_header(rq, "Session") != NULL &&
		    session_named(cn->cn_session, rtsp_header(rq, "Session")) ?
		    455 : 459, NULL);
		return;
	}
	if (rtsp_header(rq, "Session") != NULL) {
		respond(cn, rq, 454, NULL);
		return;
	}
	if (hdr == NULL || rtsp_transport_parse(hdr, &tr) != 0 ||
	    (tr.tr_lower == RTSP_LOWER_UDP && srv->opt.udp_min == 0)) {
		respond(cn, rq, 461, NULL);
		return;
	}
	if ((ss = calloc(1, sizeof(*ss))) == NULL ||
	    session_id_new(ss->ss_id) != 0) {
		free(ss);
		respond(cn, rq, 500, NULL);
		return;
	}
	ss->ss_cam = cam;
	ss->ss_conn = cn;
	ss->ss_tr = tr;
	ss->ss_state = SS_READY;
	ss->ss_start_ns = ss->ss_active_ns = clock_ns(CLOCK_MONOTONIC);
	if (tr.tr_lower == RTSP_LOWER_TCP) {
		if (!tr.tr_interleaved) {
			ss->ss_tr.tr_channel[0] = 0;
			ss->ss_tr.tr_channel[1] = 1;
		}
		snprintf(headers, sizeof(headers), "Transport: RTP/AVP/TCP;"
		    "unicast;interleaved=%u-%u;ssrc=%08X\r\n",
		    ss->ss_tr.tr_channel[0], ss->ss_tr.tr_channel[1],
		    cam->c_ssrc);
	} else {
		/* To the address the request came from, whatever the
		 * client said (proto.h: no destination=). */
		rc = udp_open(ss, &cn->cn_peer, tr.tr_client_port);
		if (rc != 0) {
			log_info("client %s: no UDP ports for a session: %s",
			    cn->cn_addr, rc == -EADDRINUSE ?
			    "all of --udp-ports in use" : strerror(-rc));
			free(ss);
			respond(cn, rq, 461, NULL);
			return;
		}
		snprintf(headers, sizeof(headers), "Transport: RTP/AVP;unicast;"
		    "client_port=%u-%u;server_port=%u-%u;ssrc=%08X\r\n",
		    tr.tr_client_port[0], tr.tr_client_port[1],
		    ss->ss_udp->u_port, ss->ss_udp->u_port + 1, cam->c_ssrc);
	}
	cn->cn_session = ss;
	TAILQ_INSERT_TAIL(&cam->c_sessions, ss, ss_entry);
	cam->c_nsessions++;
	srv->sessions++;
	log_info("session %s of %s: camera %s over %s", ss->ss_id,
	    cn->cn_addr, cam->c_name, tr.tr_lower == RTSP_LOWER_TCP ?
	    "TCP" : "UDP");
	respond(cn, rq, 200, headers);
	camera_viewers_changed(cam);
}

/* ------------------------------------------------------ RTCP, feedback */

void
session_rtcp(struct rtsp_session *ss, const uint8_t *p, size_t len)
{
	struct camera *cam = ss->ss_cam;
	struct rtcp_feedback fb;
	uint64_t now = clock_ns(CLOCK_MONOTONIC), dlsr_ns;
	char why[RTSP_ADDR_MAX + 32];

	if (rtcp_parse(p, len, cam->c_ssrc, &fb) != 0) {
		ss->ss_rtcp_ignored++;
		return;
	}
	ss->ss_rtcp_in++;
	ss->ss_active_ns = now;
	if (fb.fb_reports > 0) {
		ss->ss_rr = fb;
		ss->ss_rr_count++;
		/* Round trip (RFC 3550 6.4.1), from our own record of the
		 * report it refers to. */
		if (fb.fb_lsr != 0 && ss->ss_sr_sent_ns != 0 &&
		    fb.fb_lsr == (uint32_t)(ss->ss_sr_ntp >> 16)) {
			dlsr_ns = (uint64_t)fb.fb_dlsr * 1000000000u / 65536;
			if (now - ss->ss_sr_sent_ns > dlsr_ns)
				ss->ss_rtt_us = (uint32_t)((now -
				    ss->ss_sr_sent_ns - dlsr_ns) / 1000);
		}
	}
	if ((fb.fb_pli > 0 || fb.fb_fir > 0) && ss->ss_state == SS_PLAYING &&
	    now - ss->ss_pli_ns >= PLI_INTERVAL_NS) {
		ss->ss_pli_ns = now;
		cam->c_pli++;
		snprintf(why, sizeof(why), "%s from %s",
		    fb.fb_fir > 0 ? "FIR" : "PLI", ss->ss_conn->cn_addr);
		camera_keyframe_wanted(cam, why);
	}
}

/* ------------------------------------------------------------ requests */

/*
 * Credentials, where they are asked for: 0, or -1 after answering (401,
 * or 503 with Retry-After for an address throttled after failed logins
 * or while too many checks wait: RTSP 1.0 has no 429, and 503 with
 * Retry-After is the refusal its clients know to wait on), or 1 while
 * a hash decides (the connection waits; conn_auth_answer()).
 */
static int
session_access(struct rtsp_conn *cn, const struct rtsp_request *rq)
{
	struct rtsp_server *srv = cn->cn_srv;
	const char *authz = rtsp_header(rq, "Authorization");
	char who[256], headers[512];
	unsigned wait_s = 0;
	int r;

	if (srv->access == NULL || rq->rq_method == RTSP_OPTIONS)
		return 0;
	if ((r = cn->cn_auth_answer) == -1) {
		r = access_check(srv->access, authz, rq->rq_method_name,
		    cn->cn_nonce, cn->cn_addr, who, sizeof(who), &wait_s,
		    conn_auth_answer, cn, cn);
		if (r == ACCESS_PENDING) {
			conn_auth_wait(cn);
			return 1;
		}
	}
	cn->cn_auth_answer = -1;
	switch (r) {
	case ACCESS_OK:
		return 0;
	case ACCESS_THROTTLED:
		srv->rejected_throttled++;
		log_info("client %s: %s %s: 503, too many failed logins",
		    cn->cn_addr, rq->rq_method_name, rq->rq_uri);
		snprintf(headers, sizeof(headers), "Retry-After: %u\r\n",
		    wait_s);
		respond(cn, rq, 503, headers);
		return -1;
	case ACCESS_BUSY:
		srv->rejected_busy++;
		log_info("client %s: %s %s: 503, too many logins being checked",
		    cn->cn_addr, rq->rq_method_name, rq->rq_uri);
		respond(cn, rq, 503, "Retry-After: 1\r\n");
		return -1;
	default:
		break;
	}
	srv->rejected_auth++;
	if (authz != NULL && r == ACCESS_DENIED)
		log_info("client %s: %s %s: wrong credentials", cn->cn_addr,
		    rq->rq_method_name, rq->rq_uri);
	if (access_challenge(srv->access, cn->cn_nonce, r == ACCESS_STALE,
	    headers, sizeof(headers)) != 0)
		headers[0] = '\0';
	respond(cn, rq, 401, headers);
	return -1;
}

void
session_request(struct rtsp_conn *cn, struct rtsp_request *rq)
{
	struct rtsp_server *srv = cn->cn_srv;
	struct rtsp_session *ss;
	struct camera *cam = NULL;
	char name[RTSP_CAMERA_MAX], headers[RTSP_LINE_MAX + 64];
	char url[RTSP_LINE_MAX + 2];
	enum rtsp_target target;
	int alias;

	log_debug("client %s: %s %s CSeq %lld", cn->cn_addr,
	    rq->rq_method_name, rq->rq_uri, rq->rq_cseq);
	if (cn->cn_refuse) {
		respond(cn, rq, 503, "Retry-After: 5\r\n");
		conn_close_after_output(cn);
		return;
	}
	if (rq->rq_cseq < 0) {
		srv->bad_requests++;
		respond(cn, rq, 400, NULL);
		return;
	}
	if (session_access(cn, rq) != 0)
		return;		/* answered, or waiting for the answer */
	target = rtsp_uri_target(rq->rq_uri, name, sizeof(name), &alias);
	if (target == RTSP_TARGET_STREAM || target == RTSP_TARGET_TRACK)
		cam = camera_find(srv, name, alias);

	switch (rq->rq_method) {
	case RTSP_OPTIONS:
		respond(cn, rq, 200, PUBLIC);
		break;
	case RTSP_DESCRIBE:
		if (cam == NULL || target != RTSP_TARGET_STREAM)
			respond(cn, rq, 404, NULL);
		else
			method_describe(cn, rq, cam);
		break;
	case RTSP_SETUP:
		if (cam == NULL)
			respond(cn, rq, 404, NULL);
		else
			method_setup(cn, rq, cam);
		break;
	case RTSP_PLAY:
	case RTSP_PAUSE:
		if (session_of(cn, rq, 1, &ss) != 0)
			break;
		if (cam != ss->ss_cam) {
			respond(cn, rq, 404, NULL);
			break;
		}
		if (rq->rq_method == RTSP_PAUSE) {
			ss->ss_state = SS_READY;
			respond(cn, rq, 200, NULL);
			break;
		}
		/* The track's URL: what the request named, or its
		 * control URL under the presentation's. */
		presentation_url(cn, rq->rq_uri, url, sizeof(url));
		if (target == RTSP_TARGET_TRACK)
			url[strlen(url) - 1] = '\0';
		snprintf(headers, sizeof(headers), "Range: npt=now-\r\n"
		    "RTP-Info: url=%s%s\r\n", url,
		    target == RTSP_TARGET_TRACK ? "" : RTSP_TRACK_CONTROL);
		respond(cn, rq, 200, headers);
		if (ss->ss_state != SS_PLAYING)
			camera_play(cam, ss);
		break;
	case RTSP_TEARDOWN:
		if (session_of(cn, rq, 1, &ss) != 0)
			break;
		session_free(ss, "TEARDOWN");
		respond(cn, rq, 200, NULL);
		break;
	case RTSP_GET_PARAMETER:
	case RTSP_SET_PARAMETER:
		if (session_of(cn, rq, 0, &ss) != 0)
			break;
		respond(cn, rq, rq->rq_method == RTSP_SET_PARAMETER &&
		    rq->rq_body_len > 0 ? 451 : 200, NULL);
		break;
	case RTSP_OTHER:
		respond(cn, rq, 501, PUBLIC);
		break;
	}
	conn_idle(cn);
}
