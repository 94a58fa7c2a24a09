/*
 * conn.c - one RTSP connection: requests and interleaved frames in,
 * responses and (for RTP over TCP) media out.
 *
 * Input is framed by its first byte: '$' starts an interleaved frame
 * (RFC 2326 10.12; from a client, RTCP on its session's second
 * channel), anything else a request, parsed whole by proto.c once its
 * head (and body) are in.  Requests are handled in order, one at a time:
 * a DESCRIBE that waits for the camera's parameter sets holds back the
 * requests after it, so responses keep their order.  So does a request
 * whose credentials wait for the hashing thread (access.h): it stays in
 * the input, and is parsed and handled again with the answer.
 *
 * Deadlines, against clients that hold connections without using them
 * (slowloris and the like):
 *   - a request, or an interleaved frame, must arrive whole within
 *     --request-timeout of its first byte;
 *   - a connection without a session must send its next request within
 *     --request-timeout of the last answer (and its first one within as
 *     much of being accepted);
 *   - a connection whose output has not moved for --client-timeout while
 *     data waits (a client that stopped reading) is closed;
 *   - sessions time out by themselves (session.c).
 * A request over proto.h's limits, or one that cannot be parsed, is
 * answered (400, 413, 414, 431, 505) and the connection closed: nothing
 * after it could be framed.
 *
 * The output: TCP_NOTSENT_LOWAT keeps what the kernel holds unsent
 * small, so what a slow client cannot take stays in our buffer, where
 * media.c sees it and skips that client to the next keyframe.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include "access.h"
#include "log.h"
#include "netaddr.h"
#include "rtsp.h"

#define CONN_NOTSENT_LOWAT	(16 * 1024)
/* Connections answered 503 at once, beyond --max-clients; more are
 * closed unanswered. */
#define CONN_REFUSING_MAX	64
/* Input we buffer at most: a request and an interleaved frame. */
#define CONN_INPUT_MAX		(RTSP_HEAD_MAX + RTSP_BODY_MAX + 65540)

static void conn_read_cb(struct bufferevent *bev, void *arg);

size_t
conn_queued(const struct rtsp_conn *cn)
{
	return evbuffer_get_length(bufferevent_get_output(cn->cn_bev));
}

void
conn_close(struct rtsp_conn *cn, const char *why)
{
	struct rtsp_server *srv = cn->cn_srv;
	double secs = (double)(clock_ns(CLOCK_MONOTONIC) - cn->cn_start_ns) /
	    1e9;

	/* Its request's credentials may be being checked: the answer must
	 * not reach a freed connection. */
	if (cn->cn_auth_wait)
		access_cancel(srv->access, cn);
	if (cn->cn_session != NULL)
		session_free(cn->cn_session, why);
	if (cn->cn_describe_cam != NULL) {
		cn->cn_describe_cam->c_describing--;
		camera_viewers_changed(cn->cn_describe_cam);
	}
	log_info("client %s closed after %.1f s, %llu requests: %s",
	    cn->cn_addr, secs, (unsigned long long)cn->cn_requests, why);
	TAILQ_REMOVE(&srv->conns, cn, cn_entry);
	if (cn->cn_refuse)
		srv->nrefusing--;
	else
		srv->nconns--;
	event_free(cn->cn_deadline_ev);
	/* Frees the output's references to shared packets. */
	bufferevent_free(cn->cn_bev);
	free(cn->cn_describe_base);
	free(cn);
}

void
conn_close_all(struct rtsp_server *srv)
{
	struct rtsp_conn *cn;

	while ((cn = TAILQ_FIRST(&srv->conns)) != NULL)
		conn_close(cn, "shutting down");
}

void
conn_close_after_output(struct rtsp_conn *cn)
{
	cn->cn_closing = 1;
	bufferevent_disable(cn->cn_bev, EV_READ);
}

void
conn_respond(struct rtsp_conn *cn, const struct rtsp_response *rs,
    const void *body)
{
	struct evbuffer *out = bufferevent_get_output(cn->cn_bev);
	char head[RTSP_HEAD_MAX];
	ssize_t n;

	n = rtsp_response_format(head, sizeof(head), rs);
	if (n < 0) {
		log_warnx("client %s: response head too long", cn->cn_addr);
		conn_close_after_output(cn);
		return;
	}
	if (evbuffer_add(out, head, (size_t)n) != 0 || (rs->rs_body_len > 0 &&
	    evbuffer_add(out, body, rs->rs_body_len) != 0)) {
		log_warnx("client %s: out of memory for a response",
		    cn->cn_addr);
		conn_close_after_output(cn);
	}
}

/*
 * The deadline for what the connection owes us: the rest of a request
 * whose first bytes are in (from then on, not re-armed), else the next
 * request of a connection without a session.
 */
static void
conn_arm(struct rtsp_conn *cn, int partial)
{
	struct timeval tv = { (time_t)cn->cn_srv->opt.request_timeout_s, 0 };

	if (cn->cn_describe_cam != NULL)
		return;		/* conn_park()'s deadline */
	if (cn->cn_auth_wait) {
		/* However long the hash takes on a busy machine, the client
		 * sent its request in time. */
		evtimer_del(cn->cn_deadline_ev);
		return;
	}
	if (partial) {
		if (!evtimer_pending(cn->cn_deadline_ev, NULL))
			evtimer_add(cn->cn_deadline_ev, &tv);
	} else if (cn->cn_session == NULL && cn->cn_describe_cam == NULL) {
		evtimer_add(cn->cn_deadline_ev, &tv);
	} else {
		evtimer_del(cn->cn_deadline_ev);
	}
}

void
conn_idle(struct rtsp_conn *cn)
{
	conn_arm(cn, 0);
}

void
conn_park(struct rtsp_conn *cn, unsigned ms)
{
	struct timeval tv = ms_tv(ms);

	evtimer_add(cn->cn_deadline_ev, &tv);
}

static void
conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rtsp_conn *cn = arg;
	char why[96];

	(void)fd;
	(void)what;
	if (cn->cn_describe_cam != NULL) {
		session_describe_answer(cn);
		return;
	}
	cn->cn_srv->request_timeouts++;
	snprintf(why, sizeof(why), "no complete request within %u s",
	    cn->cn_srv->opt.request_timeout_s);
	conn_close(cn, why);
}

/* A request that could not be parsed: answered, then closed. */
static void
conn_refuse_request(struct rtsp_conn *cn, ssize_t err,
    const struct rtsp_request *rq)
{
	struct rtsp_response rs;

	memset(&rs, 0, sizeof(rs));
	switch (err) {
	case -EMSGSIZE:
		rs.rs_status = 431;
		break;
	case -EPROTONOSUPPORT:
		rs.rs_status = 505;
		break;
	default:
		rs.rs_status = 400;
		break;
	}
	rs.rs_cseq = rq->rq_cseq;
	rs.rs_date = (uint64_t)time(NULL);
	cn->cn_srv->bad_requests++;
	log_info("client %s: %s request: %u %s", cn->cn_addr,
	    err == -EMSGSIZE ? "oversized" : "malformed", rs.rs_status,
	    rtsp_reason(rs.rs_status));
	conn_respond(cn, &rs, NULL);
	conn_close_after_output(cn);
}

/* One interleaved frame: RTCP from the client on its channel. */
static void
conn_frame(struct rtsp_conn *cn, unsigned channel, const uint8_t *p,
    size_t len)
{
	struct rtsp_session *ss = cn->cn_session;

	if (ss == NULL || ss->ss_tr.tr_lower != RTSP_LOWER_TCP)
		return;
	if (channel == ss->ss_tr.tr_channel[1])
		session_rtcp(ss, p, len);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct rtsp_conn *cn = arg;
	struct rtsp_server *srv = cn->cn_srv;
	struct evbuffer *in = bufferevent_get_input(bev);
	const uint8_t *p, *payload;
	unsigned channel;
	size_t len, plen, want;
	ssize_t r;

	while (!cn->cn_closing && cn->cn_describe_cam == NULL &&
	    !cn->cn_auth_wait && (len = evbuffer_get_length(in)) > 0) {
		p = evbuffer_pullup(in, 1);
		if (p[0] == '$') {
			if (len < 4)
				break;
			p = evbuffer_pullup(in, 4);
			want = 4 + ((size_t)p[2] << 8 | p[3]);
			if (len < want)
				break;
			p = evbuffer_pullup(in, (ssize_t)want);
			r = rtsp_interleaved_parse(p, want, &channel, &payload,
			    &plen);
			if (r > 0)
				conn_frame(cn, channel, payload, plen);
			evbuffer_drain(in, want);
			continue;
		}
		want = len < CONN_INPUT_MAX ? len : CONN_INPUT_MAX;
		p = evbuffer_pullup(in, (ssize_t)want);
		r = rtsp_request_parse(p, want, &srv->rq);
		if (r == 0)
			break;
		if (r < 0) {
			conn_refuse_request(cn, r, &srv->rq);
			break;
		}
		if (cn->cn_auth_answer == -1) {
			cn->cn_requests++;
			srv->requests++;
		}
		session_request(cn, &srv->rq);
		if (cn->cn_auth_wait)
			break;		/* the request stays for its answer */
		cn->cn_auth_answer = -1;
		evbuffer_drain(in, (size_t)r);
	}
	if (cn->cn_closing) {
		if (conn_queued(cn) == 0)
			conn_close(cn, "answered, closing");
		return;
	}
	conn_arm(cn, evbuffer_get_length(in) > 0);
}

void
conn_resume(struct rtsp_conn *cn)
{
	/* Requests that came after the DESCRIBE. */
	if (evbuffer_get_length(bufferevent_get_input(cn->cn_bev)) > 0)
		conn_read_cb(cn->cn_bev, cn);
	else
		conn_arm(cn, 0);
}

void
conn_auth_wait(struct rtsp_conn *cn)
{
	cn->cn_auth_wait = 1;
}

void
conn_auth_answer(void *arg, int result, const char *who)
{
	struct rtsp_conn *cn = arg;

	(void)who;
	cn->cn_auth_wait = 0;
	cn->cn_auth_answer = result;
	conn_resume(cn);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct rtsp_conn *cn = arg;

	(void)bev;
	if (cn->cn_closing)
		conn_close(cn, "answered, closing");
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct rtsp_conn *cn = arg;
	char why[96];

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT) {
		cn->cn_srv->stalled++;
		snprintf(why, sizeof(why), "took nothing for %u s",
		    cn->cn_srv->opt.client_timeout_s);
		conn_close(cn, why);
	} else if (what & BEV_EVENT_EOF) {
		conn_close(cn, "client closed the connection");
	} else if (what & BEV_EVENT_ERROR) {
		snprintf(why, sizeof(why), "%s",
		    strerror(EVUTIL_SOCKET_ERROR()));
		conn_close(cn, why);
	}
}

void
conn_new(struct rtsp_server *srv, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	struct timeval stall = { (time_t)srv->opt.client_timeout_s, 0 };
	struct rtsp_conn *cn;
	uint8_t rnd[RTSP_NONCE_LEN / 2];
	socklen_t llen;
	int one = 1, lowat = CONN_NOTSENT_LOWAT, refuse = 0;
	unsigned i;

	srv->connections++;
	if (srv->nconns >= srv->opt.max_clients) {
		srv->rejected_busy++;
		if (srv->nrefusing >= CONN_REFUSING_MAX) {
			close(fd);
			return;
		}
		refuse = 1;
	}
	if ((cn = calloc(1, sizeof(*cn))) == NULL) {
		log_warnx("out of memory for a connection");
		close(fd);
		return;
	}
	cn->cn_srv = srv;
	cn->cn_fd = fd;
	cn->cn_refuse = refuse;
	cn->cn_auth_answer = -1;
	cn->cn_start_ns = clock_ns(CLOCK_MONOTONIC);
	memcpy(&cn->cn_peer, sa, salen < sizeof(cn->cn_peer) ? salen :
	    sizeof(cn->cn_peer));
	cn->cn_peer_len = salen;
	netaddr_text(sa, 1, cn->cn_addr, sizeof(cn->cn_addr));
	llen = sizeof(cn->cn_local);
	if (getsockname(fd, (struct sockaddr *)&cn->cn_local, &llen) == -1)
		cn->cn_local.ss_family = AF_UNSPEC;
	netaddr_text((struct sockaddr *)&cn->cn_local, 0, cn->cn_local_addr,
	    sizeof(cn->cn_local_addr));
	/* A nonce for Digest, this connection's for its life. */
	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd)) {
		log_warn("getrandom");
		free(cn);
		close(fd);
		return;
	}
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(cn->cn_nonce + 2 * i, 3, "%02x", rnd[i]);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
	cn->cn_bev = bufferevent_socket_new(srv->base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	cn->cn_deadline_ev = evtimer_new(srv->base, conn_deadline_cb, cn);
	if (cn->cn_bev == NULL || cn->cn_deadline_ev == NULL) {
		log_warnx("out of memory for a connection");
		if (cn->cn_bev != NULL)
			bufferevent_free(cn->cn_bev);
		else
			close(fd);
		if (cn->cn_deadline_ev != NULL)
			event_free(cn->cn_deadline_ev);
		free(cn);
		return;
	}
	bufferevent_setcb(cn->cn_bev, conn_read_cb, conn_write_cb,
	    conn_event_cb, cn);
	bufferevent_setwatermark(cn->cn_bev, EV_READ, 0, CONN_INPUT_MAX);
	/* libevent's write timeout: no progress while data waits. */
	bufferevent_set_timeouts(cn->cn_bev, NULL, &stall);
	bufferevent_enable(cn->cn_bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&srv->conns, cn, cn_entry);
	if (refuse)
		srv->nrefusing++;
	else
		srv->nconns++;
	log_debug("client %s connected%s", cn->cn_addr,
	    refuse ? ", over --max-clients" : "");
	conn_arm(cn, 0);
}
