/*
 * stream.c - multipart/x-mixed-replace streaming clients.
 *
 * A stream request's connection is taken over from evhttp: we write the
 * response head ourselves and from then on own the bufferevent.  Each
 * frame is one evbuffer reference to the shared, reference-counted frame
 * (part headers, JPEG, next boundary), so fan-out copies nothing.
 *
 * Latest frame wins: a client holds at most one frame in its output
 * buffer.  When the buffer drains (write callback, low watermark 0) the
 * client gets the camera's newest frame if it has not had it yet; a slow
 * client therefore skips frames and never delays anyone else or makes the
 * server hold more than one frame for it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>

#include "log.h"
#include "server.h"

struct stream_client {
	TAILQ_ENTRY(stream_client) sc_entry;
	struct camera	*sc_cam;
	struct evhttp_connection *sc_evcon;
	struct bufferevent *sc_bev;
	uint64_t	 sc_last_seq;		/* frame last queued */
	uint64_t	 sc_last_push_ns;	/* CLOCK_MONOTONIC of that */
	uint64_t	 sc_start_ns;
	uint64_t	 sc_frames;
	uint64_t	 sc_bytes;
	char		 sc_addr[64];
};

static void
stream_client_close(struct stream_client *sc, const char *reason)
{
	struct camera *cam = sc->sc_cam;
	double secs = (double)(now_ns(CLOCK_MONOTONIC) - sc->sc_start_ns) / 1e9;

	log_info("stream client %s on %s closed after %.1f s, %llu frames, "
	    "%llu bytes: %s", sc->sc_addr, cam->c_name, secs,
	    (unsigned long long)sc->sc_frames,
	    (unsigned long long)sc->sc_bytes, reason);
	TAILQ_REMOVE(&cam->c_clients, sc, sc_entry);
	cam->c_nclients--;
	/* Frees the bufferevent, its queued frame references and the
	 * request; safe from within a bufferevent callback. */
	evhttp_connection_free(sc->sc_evcon);
	free(sc);
	camera_viewers_changed(cam);
}

static void
stream_push(struct stream_client *sc, struct frame *f)
{
	struct evbuffer *out = bufferevent_get_output(sc->sc_bev);
	size_t len = f->f_end - f->f_part_off;

	if (evbuffer_add_reference(out, f->f_buf + f->f_part_off, len,
	    frame_unref_cb, frame_ref(f)) == -1) {
		frame_unref(f);
		stream_client_close(sc, "out of memory");
		return;
	}
	sc->sc_last_seq = f->f_seq;
	sc->sc_last_push_ns = now_ns(CLOCK_MONOTONIC);
	sc->sc_frames++;
	sc->sc_bytes += len;
}

/* 1 if nothing of ours is waiting to be written for this client. */
static int
stream_idle(const struct stream_client *sc)
{
	return evbuffer_get_length(bufferevent_get_output(sc->sc_bev)) == 0;
}

void
stream_broadcast(struct camera *cam)
{
	struct stream_client *sc, *next;
	struct frame *f = cam->c_latest;

	if (f == NULL)
		return;
	/* stream_push() may close a client: iterate safely. */
	for (sc = TAILQ_FIRST(&cam->c_clients); sc != NULL; sc = next) {
		next = TAILQ_NEXT(sc, sc_entry);
		if (sc->sc_last_seq < f->f_seq && stream_idle(sc))
			stream_push(sc, f);
	}
}

void
stream_refresh(struct camera *cam)
{
	struct stream_client *sc, *next;
	struct frame *f = cam->c_latest;
	uint64_t now = now_ns(CLOCK_MONOTONIC);

	if (f == NULL)
		return;
	for (sc = TAILQ_FIRST(&cam->c_clients); sc != NULL; sc = next) {
		next = TAILQ_NEXT(sc, sc_entry);
		if (stream_idle(sc) &&
		    now - sc->sc_last_push_ns >= 900000000ull)
			stream_push(sc, f);
	}
}

static void
stream_write_cb(struct bufferevent *bev, void *arg)
{
	struct stream_client *sc = arg;
	struct frame *f = sc->sc_cam->c_latest;

	(void)bev;
	/* Drained: take the newest frame if we have not sent it yet. */
	if (f != NULL && sc->sc_last_seq < f->f_seq)
		stream_push(sc, f);
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

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT)
		stream_client_close(sc, "stalled: no frame drained in time");
	else if (what & BEV_EVENT_EOF)
		stream_client_close(sc, "client closed");
	else if (what & BEV_EVENT_ERROR)
		stream_client_close(sc, evutil_socket_error_to_string(
		    EVUTIL_SOCKET_ERROR()));
}

void
stream_start(struct camera *cam, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	struct evbuffer *out = bufferevent_get_output(bev);
	struct stream_client *sc;
	struct timeval tv;
	char *host = NULL;
	ev_uint16_t port = 0;

	sc = calloc(1, sizeof(*sc));
	if (sc == NULL) {
		evhttp_send_error(req, HTTP_SERVUNAVAIL, "out of memory");
		return;
	}
	sc->sc_cam = cam;
	sc->sc_evcon = evcon;
	sc->sc_bev = bev;
	sc->sc_start_ns = now_ns(CLOCK_MONOTONIC);
	evhttp_connection_get_peer(evcon, &host, &port);
	snprintf(sc->sc_addr, sizeof(sc->sc_addr), "%s:%u",
	    host != NULL ? host : "?", port);

	/*
	 * The response head, written by us: no Content-Length and no chunked
	 * encoding, the body ends when the connection does.  That is an
	 * HTTP/1.0 response whatever the request's version (RFC 9112 allows
	 * it), and what mjpg-streamer and ustreamer send, so every MJPEG
	 * client understands it.
	 */
	evbuffer_add_printf(out,
	    "HTTP/1.0 200 OK\r\n"
	    "Server: " SERVER_SOFTWARE "\r\n"
	    "Content-Type: multipart/x-mixed-replace;boundary=" BOUNDARY "\r\n"
	    "Cache-Control: no-store, no-cache, must-revalidate, max-age=0\r\n"
	    "Pragma: no-cache\r\n"
	    "Expires: 0\r\n"
	    "Connection: close\r\n"
	    "\r\n"
	    "--" BOUNDARY "\r\n");

	/* From here the connection is ours, not evhttp's. */
	bufferevent_setcb(bev, stream_read_cb, stream_write_cb, stream_event_cb,
	    sc);
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	tv.tv_sec = cam->c_srv->opt.client_timeout_s;
	tv.tv_usec = 0;
	bufferevent_set_timeouts(bev, NULL, &tv);
	bufferevent_enable(bev, EV_READ | EV_WRITE);

	TAILQ_INSERT_TAIL(&cam->c_clients, sc, sc_entry);
	cam->c_nclients++;
	log_info("stream client %s on %s connected", sc->sc_addr, cam->c_name);
	camera_viewers_changed(cam);
	/* The newest frame goes out behind the head at once: a viewer sees
	 * a picture without waiting for the next capture. */
	if (cam->c_latest != NULL)
		stream_push(sc, cam->c_latest);
}

void
stream_close_all(struct camera *cam)
{
	struct stream_client *sc;

	while ((sc = TAILQ_FIRST(&cam->c_clients)) != NULL)
		stream_client_close(sc, "server shutting down");
}
