/*
 * stream.c - multipart/x-mixed-replace streaming clients.
 *
 * A stream request's connection is taken over from evhttp: we write the
 * response head ourselves and from then on own the bufferevent.  Each
 * frame is sent straight from the shared, reference-counted frame (part
 * headers, JPEG, next boundary), so fan-out copies nothing: a client
 * with nothing queued hands it to the kernel with one send() (all of it,
 * for a client that keeps up), and what the kernel does not take is one
 * evbuffer reference to the rest of the frame, written by the
 * bufferevent as the socket drains.  Only an extra_headers=1 client gets
 * a small part header of its own (its send time differs), followed by a
 * reference to the shared JPEG.
 *
 * Latest frame wins: a client holds at most one frame.  When the frame
 * has left (write callback, low watermark 0) the client gets the camera's
 * newest frame if it has not had it yet; a slow client therefore skips
 * frames and never delays anyone else.
 *
 * "Left" must include the kernel.  A socket's send buffer can hold
 * megabytes: a viewer reading 100 KB/s would be handed every frame the
 * moment our own buffer drained into the kernel, and see them later and
 * later.  Two things keep frames from piling up there:
 *
 *   - TCP_NOTSENT_LOWAT: the kernel accepts (and reports writable) only
 *     while less than STREAM_NOTSENT_LOWAT bytes are waiting to be sent,
 *     so our output buffer drains, and the write callback asks for the
 *     next frame, only when the previous one has nearly left.  A fast
 *     client is unaffected: its data leaves as soon as it is written.
 *
 *   - The send policy (sendpolicy.h), asked before every frame: the
 *     bytes sent but not acknowledged are, on a long path, mostly in
 *     flight, and on a narrow one mostly queued in a router; it tells
 *     the two apart from what TCP knows about the path (TCP_INFO), so
 *     that a viewer far away takes every frame its path can carry and
 *     one on a slow link waits for a newer frame instead of queueing
 *     behind the last.  stream_offer() is the one place that asks it
 *     and acts on the answer, for MJPEG parts and MP4 fragments alike
 *     (an MP4 client with a budget for its queue: mp4stream.c).
 *
 * A client whose queue never drains gets no new frame, so our write
 * timeout cannot see it stall: the 1 s tick closes a client that has
 * taken no frame for --client-timeout seconds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>

#include "log.h"
#include "sendpolicy.h"
#include "server.h"

#define STREAM_NOTSENT_LOWAT	(16 * 1024)
#define STREAM_REFRESH_NS	900000000ull
#define STREAM_MAX_WRITE	(64 * 1024 * 1024)
/*
 * How long what is ahead of an H.264 fragment may take to reach the
 * client before it skips to the next keyframe instead (the send policy's
 * cl_budget_ns; MJPEG has none: one frame interval).  A skip freezes the
 * picture until the next keyframe (up to a GOP, a second by default), a
 * queue only delays it.  Half a second lets a long path's slow start and
 * a keyframe's burst through (a client 200 ms away otherwise skips a
 * dozen times in 6 s), and keeps a client on a link narrower than the
 * stream within about that of live.  shmcam-rtsp gives the same.
 */
#define STREAM_H264_BUDGET_NS	500000000ull

void
stream_client_close(struct stream_client *sc, const char *reason)
{
	struct camera *cam = sc->sc_cam;
	struct server *srv = cam->c_srv;
	double secs = (double)(clock_ns(CLOCK_MONOTONIC) - sc->sc_start_ns) /
	    1e9;

	log_info("stream client %s %s closed after %.1f s, %llu frames, "
	    "%llu bytes, %llu skipped: %s", sc->sc_addr, sc->sc_path, secs,
	    (unsigned long long)sc->sc_frames,
	    (unsigned long long)sc->sc_bytes,
	    (unsigned long long)sc->sc_dropped, reason);
	if (sc->sc_kind == STREAM_MP4) {
		TAILQ_REMOVE(&cam->c_mp4.mx_clients, sc, sc_entry);
		cam->c_mp4.mx_nclients--;
	} else {
		TAILQ_REMOVE(&cam->c_clients, sc, sc_entry);
		cam->c_nclients--;
	}
	srv->nstreams--;
	cam->c_h264_viewers = cam->c_mp4.mx_nclients + hls_viewers(cam);
	/* Frees the bufferevent, its queued frame references and the
	 * request; safe from within a bufferevent callback. */
	evhttp_connection_free(sc->sc_evcon);
	free(sc);
	camera_viewers_changed(cam);
}

size_t
stream_client_queued(const struct stream_client *sc, size_t *kernel)
{
	struct send_rate_max rm = sc->sc_rate_max;	/* left as it is */
	struct send_path sp;
	size_t k = 0;

	if (sendpolicy_read_path(sc->sc_fd, sc->sc_family, 1,
	    clock_ns(CLOCK_MONOTONIC), &rm, &sp) == 0)
		k = (size_t)(sp.sp_unsent + sp.sp_inflight);
	if (kernel != NULL)
		*kernel = k;
	return k + evbuffer_get_length(bufferevent_get_output(sc->sc_bev));
}

/* The per-part headers of an extra_headers=1 client. */
static int
stream_add_extra(struct evbuffer *out, const struct frame *f, uint64_t now_real)
{
	const struct ring_frame *m = &f->f_meta;
	uint64_t lat = now_real > m->capture_real_ns ?
	    now_real - m->capture_real_ns : 0;

	return evbuffer_add_printf(out,
	    "Content-Type: image/jpeg\r\n"
	    "Content-Length: %zu\r\n"
	    "X-Timestamp: %llu.%06u\r\n"
	    "X-Shmcam-Sequence: %llu\r\n"
	    "X-Shmcam-Generation: %016llx\r\n"
	    "X-Shmcam-Capture-Time: %llu.%06u\r\n"
	    "X-Shmcam-Publish-Time: %llu.%06u\r\n"
	    "X-Shmcam-Send-Time: %llu.%06u\r\n"
	    "X-Shmcam-Latency: %llu.%06u\r\n"
	    "%s"
	    "\r\n",
	    f->f_jpeg_len,
	    (unsigned long long)(m->capture_real_ns / 1000000000u),
	    (unsigned)(m->capture_real_ns % 1000000000u / 1000u),
	    (unsigned long long)m->seq,
	    (unsigned long long)f->f_generation,
	    (unsigned long long)(m->capture_real_ns / 1000000000u),
	    (unsigned)(m->capture_real_ns % 1000000000u / 1000u),
	    (unsigned long long)(m->publish_real_ns / 1000000000u),
	    (unsigned)(m->publish_real_ns % 1000000000u / 1000u),
	    (unsigned long long)(now_real / 1000000000u),
	    (unsigned)(now_real % 1000000000u / 1000u),
	    (unsigned long long)(lat / 1000000000u),
	    (unsigned)(lat % 1000000000u / 1000u),
	    frame_placeholder_header(f)) < 0 ?
	    -1 : 0;
}

/*
 * Hands what the kernel will take of a part to it at once, when nothing
 * of ours is queued for the client; returns how much it took.  A fast
 * client takes the whole frame here, and the bufferevent never sees it:
 * no write event to add and delete (two epoll_ctl calls), no trip
 * through the event loop, no evbuffer chain to allocate.  The rest, if
 * any, is queued as before and written as the socket drains.  An error
 * takes nothing: the bufferevent meets it again when it writes, and
 * closes the client with the reason (stream_event_cb).
 */
static size_t
stream_send_now(struct stream_client *sc, const uint8_t *p, size_t len)
{
	ssize_t n;

	do
		n = send(sc->sc_fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	return n > 0 ? (size_t)n : 0;
}

int
stream_client_send(struct stream_client *sc, struct frame *f, size_t off,
    size_t len)
{
	struct evbuffer *out = bufferevent_get_output(sc->sc_bev);
	size_t sent;

	sent = evbuffer_get_length(out) == 0 ?
	    stream_send_now(sc, f->f_buf + off, len) : 0;
	if (sent < len && evbuffer_add_reference(out, f->f_buf + off + sent,
	    len - sent, frame_unref_cb, frame_ref(f)) == -1) {
		frame_unref(f);
		stream_client_close(sc, "out of memory");
		return -1;
	}
	return 0;
}

/* Queues f for sc; 0, or -1 if sc was closed. */
static int
stream_push(struct stream_client *sc, struct frame *f, uint64_t now)
{
	struct evbuffer *out = bufferevent_get_output(sc->sc_bev);
	struct camera *cam = sc->sc_cam;
	size_t off = f->f_part_off, end = f->f_end, len;

	if (sc->sc_params.sp_advance_headers) {
		/* This part's headers went out with the last boundary. */
		off = f->f_jpeg_off;
		end = f->f_adv_end;
	} else if (sc->sc_params.sp_extra_headers) {
		size_t before = evbuffer_get_length(out);

		if (stream_add_extra(out, f, clock_ns(CLOCK_REALTIME)) != 0) {
			stream_client_close(sc, "out of memory");
			return -1;
		}
		sc->sc_bytes += evbuffer_get_length(out) - before;
		off = f->f_jpeg_off;
	}
	len = end - off;
	if (stream_client_send(sc, f, off, len) != 0)
		return -1;
	if (sc->sc_last_seq != 0 && f->f_seq > sc->sc_last_seq + 1) {
		uint64_t missed = f->f_seq - sc->sc_last_seq - 1;

		sc->sc_dropped += missed;
		cam->c_frames_dropped += missed;
	}
	sc->sc_last_seq = f->f_seq;
	sc->sc_last_push_ns = now;
	sc->sc_last_capture_ns = f->f_meta.capture_mono_ns;
	sc->sc_last_len = len;
	sc->sc_frames++;
	sc->sc_bytes += len;
	cam->c_frames_sent++;
	cam->c_bytes_sent += len;
	if (sc->sc_params.sp_interval_ns != 0) {
		/* Keep the cadence (the average is exactly fps) unless the
		 * client fell a whole interval behind. */
		sc->sc_next_due_ns += sc->sc_params.sp_interval_ns;
		if (sc->sc_next_due_ns <= now)
			sc->sc_next_due_ns = now + sc->sc_params.sp_interval_ns;
	}
	return 0;
}

/*
 * Asks the send policy whether sc may take a frame now, from our state
 * of the client and the kernel's figures for its socket; keeps both for
 * /state and counts the verdict.
 */
static enum send_decision
stream_decide(struct stream_client *sc, uint64_t now)
{
	struct camera *cam = sc->sc_cam;
	struct server *srv = cam->c_srv;
	struct send_client cl = {
		.cl_now_ns = now,
		.cl_ours = evbuffer_get_length(bufferevent_get_output(
		    sc->sc_bev)),
		.cl_last_len = sc->sc_last_len,
		.cl_last_push_ns = sc->sc_last_push_ns,
		.cl_interval_ns = cam->c_interval_ns,
		.cl_due_ns = sc->sc_params.sp_interval_ns != 0 ?
		    sc->sc_next_due_ns : 0,
		.cl_stall_ns = (uint64_t)srv->opt.client_timeout_s *
		    1000000000u,
	};

	if (sc->sc_kind == STREAM_MP4) {
		/* Its frames depend on each other; their interval is the
		 * H.264 ring's (the JPEG ring may not be read at all). */
		cl.cl_budget_ns = STREAM_H264_BUDGET_NS;
		if (cam->c_mp4.mx_timeline.tl_nominal != 0)
			cl.cl_interval_ns =
			    (uint64_t)cam->c_mp4.mx_timeline.tl_nominal *
			    1000000000u / MP4_TIMESCALE;
	}
	/* A client capped below the source's rate is offered a frame per
	 * cap interval: that is its frame interval. */
	if (sc->sc_params.sp_interval_ns > cl.cl_interval_ns)
		cl.cl_interval_ns = sc->sc_params.sp_interval_ns;
	/* A socket the kernel will not describe (it cannot fail on a
	 * connected TCP or unix socket) is not bounded. */
	if (sendpolicy_read_path(sc->sc_fd, sc->sc_family,
	    srv->opt.send_bound, now, &sc->sc_rate_max, &sc->sc_net) != 0)
		sc->sc_net.sp_kind = SEND_PATH_UNBOUNDED;
	/* How long something of ours or the kernel's unsent bytes have
	 * stood, for a budget (sendpolicy_decide()). */
	cl.cl_backlog_ns = sendpolicy_backlog_since(&sc->sc_backlog_ns, now,
	    cl.cl_ours, &sc->sc_net);
	sendpolicy_decide(&cl, &sc->sc_net, &sc->sc_verdict);
	sc->sc_decided_ns = now;
	sc->sc_ours = cl.cl_ours;
	cam->c_decisions[sc->sc_verdict.v_why]++;
	if (sc->sc_verdict.v_why == WHY_QUEUED ||
	    sc->sc_verdict.v_why == WHY_BYTES)
		sc->sc_deferred++;
	/* Every input and verdict, for the tables of the policy's tests
	 * (tests/check_sendpolicy.c) and for diagnosis: -v. */
	log_debug("send policy: client %s: %s (%s) t=%llu path=%d ours=%llu "
	    "unsent=%llu inflight=%llu rate=%llu rate_max=%llu app_limited=%d "
	    "min_rtt=%u srtt=%u rttvar=%u window=%llu interval=%llu "
	    "last_len=%llu since_push=%llu ahead=%llu drain_ns=%llu",
	    sc->sc_addr, sendpolicy_decision_name(sc->sc_verdict.v_decision),
	    sendpolicy_why_name(sc->sc_verdict.v_why),
	    (unsigned long long)((now - sc->sc_start_ns) / 1000000u),
	    sc->sc_net.sp_kind,
	    (unsigned long long)cl.cl_ours,
	    (unsigned long long)sc->sc_net.sp_unsent,
	    (unsigned long long)sc->sc_net.sp_inflight,
	    (unsigned long long)sc->sc_net.sp_rate,
	    (unsigned long long)sc->sc_net.sp_rate_max,
	    sc->sc_net.sp_app_limited, sc->sc_net.sp_min_rtt_us,
	    sc->sc_net.sp_srtt_us, sc->sc_net.sp_rttvar_us,
	    (unsigned long long)sc->sc_net.sp_window,
	    (unsigned long long)cl.cl_interval_ns,
	    (unsigned long long)cl.cl_last_len,
	    (unsigned long long)(now - cl.cl_last_push_ns),
	    (unsigned long long)sc->sc_verdict.v_ahead,
	    (unsigned long long)sc->sc_verdict.v_drain_ns);
	return sc->sc_verdict.v_decision;
}

int
stream_client_check_stall(struct stream_client *sc, uint64_t now)
{
	uint64_t timeout = (uint64_t)sc->sc_cam->c_srv->opt.client_timeout_s *
	    1000000000u;

	/* Stalled: something still queued for it, and no frame taken for
	 * the whole timeout (a client waiting for a keyframe with nothing
	 * queued is merely waiting). */
	if (now - sc->sc_last_push_ns > timeout &&
	    stream_client_queued(sc, NULL) > 0) {
		sc->sc_cam->c_clients_stalled++;
		stream_client_close(sc, "stalled: took no frame for the "
		    "client timeout");
		return -1;
	}
	return 0;
}

static void
stream_count_send(struct camera *cam, const struct frame *f, uint64_t now,
    uint64_t n)
{
	if (n == 0 || f->f_placeholder)
		return;
	histogram_add(&cam->c_hist_latency, now > f->f_meta.publish_mono_ns ?
	    now - f->f_meta.publish_mono_ns : 0, n);
	histogram_add(&cam->c_hist_age, now > f->f_meta.capture_mono_ns ?
	    now - f->f_meta.capture_mono_ns : 0, n);
}

int
stream_offer(struct stream_client *sc, struct frame *f, uint64_t now,
    int repeat)
{
	struct camera *cam = sc->sc_cam;
	int rc;

	if (f == NULL || (sc->sc_last_seq >= f->f_seq && !repeat))
		return 0;
	switch (stream_decide(sc, now)) {
	case SEND_NOW:
		rc = sc->sc_kind == STREAM_MP4 ? mp4_push(sc, f, now) :
		    stream_push(sc, f, now);
		return rc == 0 ? 1 : -1;
	case SEND_STALLED:
		cam->c_clients_stalled++;
		stream_client_close(sc, "stalled: took no frame for the "
		    "client timeout");
		return -1;
	default:
		return 0;
	}
}

void
stream_broadcast(struct camera *cam)
{
	struct stream_client *sc, *next;
	uint64_t now = clock_ns(CLOCK_MONOTONIC), sent = 0;

	if (cam->c_latest == NULL)
		return;
	/* stream_offer() may close a client: iterate safely. */
	for (sc = TAILQ_FIRST(&cam->c_clients); sc != NULL; sc = next) {
		next = TAILQ_NEXT(sc, sc_entry);
		if (stream_offer(sc, cam->c_latest, now, 0) == 1)
			sent++;
	}
	stream_count_send(cam, cam->c_latest, now, sent);
}

void
stream_refresh(struct camera *cam)
{
	struct stream_client *sc, *next;
	uint64_t now = clock_ns(CLOCK_MONOTONIC);

	for (sc = TAILQ_FIRST(&cam->c_clients); sc != NULL; sc = next) {
		next = TAILQ_NEXT(sc, sc_entry);
		/* No frame for a while: a static or offline source, whose
		 * frame goes again, so that browsers paint it and proxies
		 * keep the connection; or a client that takes none, which
		 * the policy finds stalled after the client timeout (a
		 * capped fps=N client with nothing queued is merely
		 * waiting). */
		if (now - sc->sc_last_push_ns >= STREAM_REFRESH_NS)
			stream_offer(sc, cam->c_latest, now, 1);
	}
}

static void
stream_write_cb(struct bufferevent *bev, void *arg)
{
	struct stream_client *sc = arg;
	struct camera *cam = sc->sc_cam;
	uint64_t now = clock_ns(CLOCK_MONOTONIC);

	(void)bev;
	if (sc->sc_kind == STREAM_MP4) {
		mp4_client_drained(sc);
		return;
	}
	/* Drained: the newest frame, if it has not had it yet. */
	if (stream_offer(sc, cam->c_latest, now, 0) == 1)
		stream_count_send(cam, cam->c_latest, now, 1);
}

static void
stream_read_cb(struct bufferevent *bev, void *arg)
{
	(void)arg;
	/* A streaming client has nothing more to say; ignore what it does. */
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
}

static void
stream_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct stream_client *sc = arg;
	char why[128];

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT) {
		sc->sc_cam->c_clients_stalled++;
		stream_client_close(sc, "stalled: no data drained within the "
		    "client timeout");
	} else if (what & BEV_EVENT_EOF)
		stream_client_close(sc, "client closed");
	else if (what & BEV_EVENT_ERROR) {
		snprintf(why, sizeof(why), "connection error: %s",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		stream_client_close(sc, why);
	}
}

static int
stream_family(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return -1;
	return ss.ss_family;
}

struct stream_client *
stream_client_new(struct camera *cam, struct evhttp_request *req,
    const struct stream_params *sp, const char *addr, enum stream_kind kind)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	struct server *srv = cam->c_srv;
	struct stream_client *sc;
	const char *uri = evhttp_request_get_uri(req);
	struct timeval tv;
	int family, one = 1, lowat = STREAM_NOTSENT_LOWAT;

	/* A server with no client is not woken for frames (ctl.h): the
	 * ring's newest, for this client to get right behind its head. */
	camera_refresh(cam);
	sc = calloc(1, sizeof(*sc));
	if (sc == NULL) {
		evhttp_send_error(req, HTTP_SERVUNAVAIL, "out of memory");
		return NULL;
	}
	sc->sc_cam = cam;
	sc->sc_kind = kind;
	sc->sc_evcon = evcon;
	sc->sc_bev = bev;
	sc->sc_fd = bufferevent_getfd(bev);
	sc->sc_params = *sp;
	sc->sc_start_ns = clock_ns(CLOCK_MONOTONIC);
	sc->sc_start_real_ns = clock_ns(CLOCK_REALTIME);
	sc->sc_last_push_ns = sc->sc_start_ns;
	sc->sc_next_due_ns = sc->sc_start_ns;
	snprintf(sc->sc_addr, sizeof(sc->sc_addr), "%s", addr);
	/* For the log: the path, printable, shortened. */
	snprintf(sc->sc_path, sizeof(sc->sc_path), "%s", uri);
	for (char *p = sc->sc_path; *p != '\0'; p++)
		if (*p < 0x20 || *p >= 0x7f)
			*p = '?';

	sc->sc_family = family = stream_family(sc->sc_fd);
	if (family == AF_INET || family == AF_INET6) {
		setsockopt(sc->sc_fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		if (srv->opt.send_bound)
			setsockopt(sc->sc_fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT,
			    &lowat, sizeof(lowat));
	}

	/* From here the connection is ours, not evhttp's. */
	bufferevent_setcb(bev, stream_read_cb, stream_write_cb, stream_event_cb,
	    sc);
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	/*
	 * A frame in one write, not libevent's default of 16 KiB per write:
	 * each chunk costs a trip through the event loop, a system call
	 * and a TCP transmission of its own (5 for an 80 KB frame), and the
	 * clients' chunks interleave, so that every client, not only the
	 * last, gets its frame when the whole fan-out is done.  A client
	 * holds at most one frame, so this bounds nothing we need bounded;
	 * the kernel still takes only what it will (TCP_NOTSENT_LOWAT).
	 */
	bufferevent_set_max_single_write(bev, STREAM_MAX_WRITE);
	tv.tv_sec = srv->opt.client_timeout_s;
	tv.tv_usec = 0;
	bufferevent_set_timeouts(bev, NULL, &tv);
	bufferevent_enable(bev, EV_READ | EV_WRITE);

	if (kind == STREAM_MP4) {
		TAILQ_INSERT_TAIL(&cam->c_mp4.mx_clients, sc, sc_entry);
		cam->c_mp4.mx_nclients++;
		cam->c_mp4.mx_clients_total++;
	} else {
		TAILQ_INSERT_TAIL(&cam->c_clients, sc, sc_entry);
		cam->c_nclients++;
		cam->c_clients_total++;
	}
	srv->nstreams++;
	cam->c_h264_viewers = cam->c_mp4.mx_nclients + hls_viewers(cam);
	log_info("stream client %s %s connected%s%s", sc->sc_addr, sc->sc_path,
	    sp->sp_key[0] != '\0' ? ", key " : "", sp->sp_key);
	camera_viewers_changed(cam);
	return sc;
}

void
stream_start(struct camera *cam, struct evhttp_request *req,
    const struct stream_params *sp, const char *addr)
{
	struct server *srv = cam->c_srv;
	struct stream_client *sc;
	struct evbuffer *out;

	sc = stream_client_new(cam, req, sp, addr, STREAM_MJPEG);
	if (sc == NULL)
		return;
	out = bufferevent_get_output(sc->sc_bev);
	/*
	 * The response head, written by us: no Content-Length and no chunked
	 * encoding, the body ends when the connection does.  That is an
	 * HTTP/1.0 response whatever the request's version (RFC 9112 allows
	 * it), and what mjpg-streamer and ustreamer send, so every MJPEG
	 * client understands it.  The newest frame goes out right behind
	 * it, when the write callback finds it written: a viewer sees a
	 * picture without waiting for the next capture.
	 */
	evbuffer_add_printf(out,
	    "HTTP/1.0 200 OK\r\n"
	    "Server: " SERVER_SOFTWARE "\r\n"
	    "Content-Type: multipart/x-mixed-replace;boundary=" BOUNDARY "\r\n"
	    "Cache-Control: no-store, no-cache, must-revalidate, max-age=0\r\n"
	    "Pragma: no-cache\r\n"
	    "Expires: 0\r\n"
	    "Connection: close\r\n");
	if (srv->opt.allow_origin != NULL)
		evbuffer_add_printf(out, "Access-Control-Allow-Origin: %s\r\n",
		    srv->opt.allow_origin);
	evbuffer_add_printf(out, "\r\n--" BOUNDARY "\r\n%s",
	    sp->sp_advance_headers ? FRAME_ADVANCE : "");
}

void
stream_close_all(struct camera *cam)
{
	struct stream_client *sc;

	while ((sc = TAILQ_FIRST(&cam->c_clients)) != NULL)
		stream_client_close(sc, "server shutting down");
	mp4_close_all(cam, "server shutting down");
}
