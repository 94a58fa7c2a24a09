/*
 * mp4stream.c - /stream.mp4: a camera's H.264 as progressive fragmented
 * MP4 (ISO/IEC 14496-12), what browsers play in a <video> element and
 * ffmpeg, GStreamer, VLC, Home Assistant and Frigate read over HTTP.
 *
 * One mux per camera (struct mp4_mux), never one per client: each access
 * unit the capture publishes into the H.264 ring (ring.h,
 * RING_CODEC_H264) is copied out once and written once as a moof + mdat
 * (mp4.c) into a reference-counted frame framed as an HTTP chunk; every
 * client gets a reference to it (stream_client_send()), as MJPEG clients
 * get JPEG frames.  The init segment (ftyp + moov) is built once per set
 * of parameter sets, from the SPS and PPS that every keyframe of the
 * ring carries, and shared the same way.
 *
 * Timing: a fragment's decode time is its frame's capture time
 * (CLOCK_MONOTONIC in 90 kHz ticks, mp4_timeline_next()), the same in
 * every server and across restarts of either process; its mfhd sequence
 * number is the ring's sequence.
 *
 * Which frames a client gets.  An H.264 frame other than a keyframe
 * refers to the frames before it, so a client gets an unbroken run of
 * fragments from a keyframe on, or nothing:
 *
 *   - It starts at a keyframe: the newest frame if that is one (and the
 *     mux is up to date), else the next one, which it asks the capture
 *     for (camera_request_keyframe(); the capture merges and rate-limits
 *     the requests, ctl.h).  The init segment goes out with it.
 *   - The send policy (stream_offer(), as for MJPEG) is asked for every
 *     fragment, with a budget (cl_budget_ns, sendpolicy.h): what is ahead
 *     of the fragment, our buffer included, may take up to half a second
 *     to leave, since a skipped fragment costs every frame up to the next
 *     keyframe and a queued one only its wait.  So a viewer far away
 *     whose path carries the stream gets every frame; "wait" means the
 *     client is behind (a link narrower than the stream): it skips to
 *     the next keyframe (and asks for one) instead of queueing further,
 *     so its memory is bounded and its picture fresh.  A fragment is
 *     never cut: a client gets all of it.
 *   - A frame the mux itself lost (the ring overwrote it before it was
 *     read, or it was refused) makes the mux publish nothing until the
 *     next keyframe, so whatever a client gets decodes.
 *
 * The mux is also where LL-HLS (hlsstream.c) gets its frames: each access
 * unit that passes the checks goes to hls_frame(), with the init segment
 * of its parameter sets in mx_init.  While nobody watches stream.mp4 no
 * fragment is written for it.
 *
 * When the capture restarts (a new H.264 ring), the mux waits for the new
 * ring's first keyframe, and clients carry on with it if its parameter
 * sets are those of their init segment: decode times keep increasing
 * (the same clock).  If the parameter sets changed (another size, another
 * encoder setting), a client's init segment no longer describes the
 * stream: its response ends cleanly (the last chunk of a chunked body, or
 * the end of an HTTP/1.0 body) and it can reconnect.  A client never gets
 * a fragment its decoder cannot take.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
/* The request's HTTP version: libevent 2.1 has no accessor for it, only
 * the fields of struct evhttp_request in this installed header. */
#include <event2/http_struct.h>

#include "h264.h"
#include "log.h"
#include "mp4.h"
#include "server.h"

/* A chunk header: up to 16 hex digits and CRLF. */
#define CHUNK_HEAD_MAX	18
#define CHUNK_TAIL	"\r\n"
#define CHUNK_LAST	"0\r\n\r\n"
/* Reads per wake-up at most (a ring of many small slots): fairness. */
#define MP4_READS_MAX	64
/*
 * A client never starts with a keyframe older than this: a player shows
 * the first frame at once and the next at its decode time, so an old
 * start would hold the picture back for good (with nobody watching, the
 * ring's newest frames can be minutes old).
 */
#define MP4_START_MAX_AGE_NS	1000000000ull

static int
frame_is_key(const struct frame *f)
{
	return (f->f_meta.flags & RING_FRAME_KEYFRAME) != 0;
}

/*
 * A frame holding n bytes of MP4 at f_jpeg_off (written by the caller),
 * framed as a chunk once finished by mp4_frame_finish().
 */
static struct frame *
mp4_frame_get(struct mp4_mux *mx, size_t n)
{
	return frame_get(&mx->mx_pool, n + CHUNK_HEAD_MAX);
}

static void
mp4_frame_finish(struct frame *f, size_t n)
{
	char head[CHUNK_HEAD_MAX + 1];
	int hl = snprintf(head, sizeof(head), "%zx\r\n", n);

	f->f_jpeg_len = n;
	f->f_part_off = f->f_jpeg_off - (size_t)hl;
	memcpy(f->f_buf + f->f_part_off, head, (size_t)hl);
	memcpy(f->f_buf + f->f_jpeg_off + n, CHUNK_TAIL, 2);
	f->f_end = f->f_jpeg_off + n + 2;
	f->f_adv_end = f->f_end;
}

/* Queues f (all of it) for sc; 0, or -1 if sc was closed. */
static int
mp4_send(struct stream_client *sc, struct frame *f)
{
	struct mp4_mux *mx = &sc->sc_cam->c_mp4;
	size_t off = sc->sc_chunked ? f->f_part_off : f->f_jpeg_off;
	size_t len = sc->sc_chunked ? f->f_end - off : f->f_jpeg_len;

	if (stream_client_send(sc, f, off, len) != 0)
		return -1;
	sc->sc_bytes += len;
	mx->mx_bytes_sent += len;
	return 0;
}

/* Ends sc's response cleanly; it is closed once that has left. */
static void
mp4_client_end(struct stream_client *sc, const char *why)
{
	struct evbuffer *out = bufferevent_get_output(sc->sc_bev);

	if (sc->sc_ending)
		return;
	log_info("stream client %s %s: ending the response: %s", sc->sc_addr,
	    sc->sc_path, why);
	sc->sc_ending = 1;
	sc->sc_cam->c_mp4.mx_ends++;
	if (sc->sc_chunked)
		evbuffer_add(out, CHUNK_LAST, sizeof(CHUNK_LAST) - 1);
	if (evbuffer_get_length(out) == 0)
		stream_client_close(sc, why);
}

static void
mp4_request_keyframe(struct camera *cam)
{
	if (!cam->c_srv->opt.keyframe_requests)
		return;
	cam->c_mp4.mx_keyframes_requested++;
	(void)camera_request_keyframe(cam);
}

/* sc fell behind or lost its run: it waits for the next keyframe. */
static void
mp4_client_skip(struct stream_client *sc)
{
	struct camera *cam = sc->sc_cam;

	sc->sc_waiting = 1;
	sc->sc_skips++;
	cam->c_mp4.mx_skips++;
	mp4_request_keyframe(cam);
}

/*
 * Offers fragment f to sc: sent, skipped, or (a keyframe) the start of a
 * run.  -1 if sc was closed.
 */
static int
mp4_offer(struct stream_client *sc, struct frame *f, uint64_t now)
{
	int rc;

	if (sc->sc_ending || sc->sc_last_seq >= f->f_seq)
		return 0;
	if (!sc->sc_waiting && (f->f_seq != sc->sc_last_seq + 1 ||
	    f->f_epoch != sc->sc_epoch)) {
		/* Not the next of its run (the mux lost frames, or a new
		 * ring began): only a keyframe can follow. */
		mp4_client_skip(sc);
	}
	if (sc->sc_waiting) {
		if (!frame_is_key(f) || (now > f->f_meta.capture_mono_ns &&
		    now - f->f_meta.capture_mono_ns > MP4_START_MAX_AGE_NS))
			return 0;
		if (sc->sc_epoch != 0 && sc->sc_epoch != f->f_epoch) {
			mp4_client_end(sc, "the H.264 parameters changed: "
			    "a new stream begins");
			return 0;
		}
	}
	rc = stream_offer(sc, f, now, 0);
	if (rc == 0 && !sc->sc_waiting) {
		/* Behind: skip to the next keyframe rather than queue. */
		mp4_client_skip(sc);
	}
	return rc < 0 ? -1 : 0;
}

int
mp4_push(struct stream_client *sc, struct frame *f, uint64_t now)
{
	struct mp4_mux *mx = &sc->sc_cam->c_mp4;
	size_t len = sc->sc_chunked ? f->f_end - f->f_part_off :
	    f->f_jpeg_len;

	if (sc->sc_waiting) {
		/* The start of a run: a keyframe (mp4_offer()), and the
		 * init segment of its parameter sets first, which the mux
		 * made before the keyframe's fragment. */
		if (sc->sc_epoch == 0) {
			if (mx->mx_init == NULL) {
				stream_client_close(sc, "no init segment");
				return -1;
			}
			if (mp4_send(sc, mx->mx_init) != 0)
				return -1;
			sc->sc_epoch = f->f_epoch;
		}
		sc->sc_waiting = 0;
		sc->sc_keyframes++;
		mx->mx_keyframes_served++;
		if (sc->sc_first_frame_ns == 0)
			sc->sc_first_frame_ns = now;
	}
	if (mp4_send(sc, f) != 0)
		return -1;
	sc->sc_last_seq = f->f_seq;
	sc->sc_last_push_ns = now;
	sc->sc_last_capture_ns = f->f_meta.capture_mono_ns;
	sc->sc_last_len = len;
	sc->sc_frames++;
	mx->mx_frames_sent++;
	return 0;
}

static void
mp4_broadcast(struct camera *cam)
{
	struct mp4_mux *mx = &cam->c_mp4;
	struct stream_client *sc, *next;
	struct frame *f = mx->mx_latest;
	uint64_t now = clock_ns(CLOCK_MONOTONIC);

	if (f == NULL)
		return;
	for (sc = TAILQ_FIRST(&mx->mx_clients); sc != NULL; sc = next) {
		next = TAILQ_NEXT(sc, sc_entry);
		(void)mp4_offer(sc, f, now);
	}
}

void
mp4_client_drained(struct stream_client *sc)
{
	struct frame *f = sc->sc_cam->c_mp4.mx_latest;

	if (sc->sc_ending) {
		stream_client_close(sc, "response ended");
		return;
	}
	/* A client waiting for a keyframe that it could not take when it
	 * came takes it now if it is still the newest frame. */
	if (sc->sc_waiting && f != NULL && frame_is_key(f))
		(void)mp4_offer(sc, f, clock_ns(CLOCK_MONOTONIC));
}

/* ------------------------------------------------------------- the mux */

/* Drops the newest fragment: nothing to start from until the next key. */
static void
mp4_mux_forget(struct mp4_mux *mx)
{
	frame_unref(mx->mx_latest);
	mx->mx_latest = NULL;
	mx->mx_broken = 1;
}

/*
 * A keyframe's parameter sets: the current ones, or new ones (a new
 * epoch and its init segment).  0, or -EBADMSG if they are unusable.
 */
static int
mp4_mux_params(struct camera *cam, const uint8_t *au, size_t len)
{
	struct mp4_mux *mx = &cam->c_mp4;
	struct mp4_track t;
	struct h264_sps sps;
	struct frame *f;
	ssize_t n;

	if (mp4_au_parameter_sets(au, len, &t.sps, &t.sps_len, &t.pps,
	    &t.pps_len) != 0 || t.sps_len > MP4_PARAMS_MAX ||
	    t.pps_len > MP4_PARAMS_MAX)
		return -EBADMSG;
	if (mx->mx_init != NULL && t.sps_len == mx->mx_sps_len &&
	    t.pps_len == mx->mx_pps_len &&
	    memcmp(t.sps, mx->mx_sps, t.sps_len) == 0 &&
	    memcmp(t.pps, mx->mx_pps, t.pps_len) == 0)
		return 0;
	n = mp4_write_init(NULL, 0, &t);
	if (n < 0 || h264_sps_parse(t.sps, t.sps_len, &sps) != 0)
		return -EBADMSG;
	f = mp4_frame_get(mx, (size_t)n);
	if (f == NULL)
		return -ENOMEM;
	mp4_write_init(f->f_buf + f->f_jpeg_off, (size_t)n, &t);
	mp4_frame_finish(f, (size_t)n);
	f->f_epoch = ++mx->mx_epoch;
	frame_unref(mx->mx_init);
	mx->mx_init = f;
	mx->mx_init_hash = hls_hash(f->f_buf + f->f_jpeg_off, (size_t)n);
	memcpy(mx->mx_sps, t.sps, t.sps_len);
	mx->mx_sps_len = t.sps_len;
	memcpy(mx->mx_pps, t.pps, t.pps_len);
	mx->mx_pps_len = t.pps_len;
	mx->mx_width = sps.width;
	mx->mx_height = sps.height;
	log_info("camera %s: H.264 %ux%u, profile %u level %u (parameter "
	    "sets %llu)", cam->c_name, sps.width, sps.height, sps.profile_idc,
	    sps.level_idc, (unsigned long long)mx->mx_epoch);
	return 0;
}

/* One access unit from the ring (in mx_buf) made a fragment and sent. */
static void
mp4_mux_frame(struct camera *cam, const struct ring_frame *meta)
{
	struct mp4_mux *mx = &cam->c_mp4;
	const uint8_t *au = mx->mx_buf;
	int key = (meta->flags & RING_FRAME_KEYFRAME) != 0;
	struct mp4_sample s;
	struct mp4_fragment fr;
	struct h264_au_info info;
	struct frame *f;
	ssize_t n;

	mx->mx_frames_in++;
	/* Trust nothing in shared memory: whole units, and a keyframe flag
	 * that the content bears out. */
	if (h264_au_check(au, meta->length, &info) != 0 || key != info.idr ||
	    (key && mp4_mux_params(cam, au, meta->length) != 0)) {
		if (mx->mx_invalid++ % 100 == 0)
			log_warnx("camera %s: H.264 frame %llu refused (%llu "
			    "so far)", cam->c_name,
			    (unsigned long long)meta->seq,
			    (unsigned long long)mx->mx_invalid);
		mp4_mux_forget(mx);
		return;
	}
	hls_frame(cam, meta, au, key);
	if (key)
		mx->mx_keyframes_in++;
	/* Nobody watches stream.mp4 (HLS is why the ring is read): no
	 * fragment is written, and a client that comes starts at a
	 * keyframe it asks for. */
	if (mx->mx_nclients == 0) {
		mp4_mux_forget(mx);
		return;
	}
	if (key)
		mx->mx_broken = 0;
	else if (mx->mx_broken || mx->mx_init == NULL) {
		mx->mx_dropped++;
		return;
	}

	s = (struct mp4_sample){ au, meta->length, 0, key };
	fr = (struct mp4_fragment){ (uint32_t)meta->seq, 0, &s, 1,
	    meta->capture_real_ns };
	mp4_timeline_next(&mx->mx_timeline, meta->capture_mono_ns,
	    &fr.decode_time, &s.duration);
	n = mp4_write_fragment(NULL, 0, &fr);
	if (n < 0 || (f = mp4_frame_get(mx, (size_t)n)) == NULL) {
		mx->mx_invalid++;
		mp4_mux_forget(mx);
		return;
	}
	mp4_write_fragment(f->f_buf + f->f_jpeg_off, (size_t)n, &fr);
	mp4_frame_finish(f, (size_t)n);
	f->f_meta = *meta;
	f->f_generation = cam->c_at.at_generation[CTL_KIND_H264];
	f->f_epoch = mx->mx_epoch;
	f->f_seq = ++mx->mx_next_seq;
	frame_unref(mx->mx_latest);
	mx->mx_latest = f;
	mp4_broadcast(cam);
}

/* Takes every frame published since the last one taken, in order. */
static void
mp4_mux_take(struct camera *cam)
{
	struct mp4_mux *mx = &cam->c_mp4;
	struct ring_reader *r = &cam->c_at.at_ring[CTL_KIND_H264];
	struct ring_frame meta;
	size_t cap;
	int rc, i;

	if (!cam->c_at.at_mapped[CTL_KIND_H264])
		return;
	cap = r->rr_geo.slot_size - RING_SLOT_HEADER_SIZE;
	if (mx->mx_cap < cap) {
		uint8_t *b = realloc(mx->mx_buf, cap);

		if (b == NULL) {
			log_warnx("camera %s: out of memory for an H.264 frame",
			    cam->c_name);
			return;
		}
		mx->mx_buf = b;
		mx->mx_cap = cap;
	}
	if (ring_latest(r) < mx->mx_ring_seq)
		mx->mx_ring_seq = 0;	/* not this writer's: resync */
	for (i = 0; i < MP4_READS_MAX; i++) {
		rc = ring_read_next(r, mx->mx_ring_seq, &meta, mx->mx_buf,
		    mx->mx_cap);
		if (rc == -EAGAIN || rc == -ENODATA)
			return;
		if (rc != 0) {
			/* Torn every try, or garbage: what comes next does
			 * not follow what we sent. */
			if (mx->mx_invalid++ % 100 == 0)
				log_warnx("camera %s: H.264 ring read: %s",
				    cam->c_name, ring_strerror(rc));
			mp4_mux_forget(mx);
			return;
		}
		if (meta.gap > 0 && mx->mx_ring_seq != 0) {
			mx->mx_lost += meta.gap;
			mp4_mux_forget(mx);
		}
		mx->mx_ring_seq = meta.seq;
		mp4_mux_frame(cam, &meta);
	}
}

void
mp4_h264_event(struct camera *cam, enum attach_event ev)
{
	struct mp4_mux *mx = &cam->c_mp4;

	hls_h264_event(cam, ev);
	switch (ev) {
	case ATTACH_UP: {
		struct ring_status st;

		/* A new ring: its sequences start over; its first frame
		 * we take must be a keyframe.  Its nominal rate puts decode
		 * times on a grid (mp4_timeline_next()). */
		if (ring_read_status(&cam->c_at.at_ring[CTL_KIND_H264],
		    &st) == 0)
			mx->mx_timeline.tl_nominal =
			    mp4_frame_ticks(st.fps_milli);
		mx->mx_ring_seq = 0;
		mp4_mux_forget(mx);
		mp4_mux_take(cam);
		break;
	}
	case ATTACH_WAKEUP:
		mp4_mux_take(cam);
		break;
	case ATTACH_DOWN:
		mp4_mux_forget(mx);
		break;
	case ATTACH_WAITING:	/* the link's, not the ring's */
		break;
	}
}

/* ----------------------------------------------------------- clients */

int
mp4_available(const struct camera *cam)
{
	/* Attached to a capture that said it has no H.264 ring. */
	const struct attach *at = &cam->c_at;

	return !(at->at_state == ATTACH_ATTACHED &&
	    !at->at_mapped[CTL_KIND_H264] &&
	    !(at->at_capture_kinds & CTL_KIND_BIT(CTL_KIND_H264)));
}

void
mp4_start(struct camera *cam, struct evhttp_request *req,
    const struct stream_params *sp, const char *addr)
{
	struct server *srv = cam->c_srv;
	struct mp4_mux *mx = &cam->c_mp4;
	struct stream_client *sc;
	struct evbuffer *out;
	int major = req->major, minor = req->minor;

	sc = stream_client_new(cam, req, sp, addr, STREAM_MP4);
	if (sc == NULL)
		return;
	sc->sc_waiting = 1;
	/*
	 * HTTP/1.1: a chunked body, so that its end is a clean one a player
	 * tells from a broken connection (when the stream must begin anew,
	 * above).  HTTP/1.0 has no chunks: the body ends with the
	 * connection.  No Content-Length either way: a live stream.
	 */
	sc->sc_chunked = major > 1 || (major == 1 && minor >= 1);
	out = bufferevent_get_output(sc->sc_bev);
	evbuffer_add_printf(out,
	    "HTTP/1.%d 200 OK\r\n"
	    "Server: " SERVER_SOFTWARE "\r\n"
	    "Content-Type: video/mp4\r\n"
	    "Cache-Control: no-store, no-cache, must-revalidate, max-age=0\r\n"
	    "Pragma: no-cache\r\n"
	    "Expires: 0\r\n"
	    "Connection: close\r\n"
	    "%s", sc->sc_chunked ? 1 : 0,
	    sc->sc_chunked ? "Transfer-Encoding: chunked\r\n" : "");
	if (srv->opt.allow_origin != NULL)
		evbuffer_add_printf(out, "Access-Control-Allow-Origin: %s\r\n",
		    srv->opt.allow_origin);
	evbuffer_add(out, "\r\n", 2);

	/* Up to date first: with no viewer the ring was not read. */
	mp4_mux_take(cam);
	if (mx->mx_latest != NULL && frame_is_key(mx->mx_latest) &&
	    mx->mx_latest->f_meta.seq ==
	    ring_latest(&cam->c_at.at_ring[CTL_KIND_H264]))
		(void)mp4_offer(sc, mx->mx_latest, clock_ns(CLOCK_MONOTONIC));
	else
		mp4_request_keyframe(cam);
}

/* Bitrate and encoding time from the capture's counters (ring.h). */
static void
mp4_rates(struct camera *cam, uint64_t now)
{
	struct mp4_mux *mx = &cam->c_mp4;
	const struct ring_reader *r = &cam->c_at.at_ring[CTL_KIND_H264];
	struct ring_counters rc;
	const struct ring_counters *p = &mx->mx_rate_prev;

	if (!cam->c_at.at_mapped[CTL_KIND_H264]) {
		mx->mx_rate_ns = 0;
		mx->mx_bitrate = mx->mx_encode_s = 0;
		return;
	}
	ring_read_counters(r, &rc);
	if (mx->mx_rate_ns != 0 && now > mx->mx_rate_ns &&
	    mx->mx_rate_generation == r->rr_geo.generation &&
	    rc.bytes >= p->bytes && rc.encoded >= p->encoded &&
	    rc.encode_ns >= p->encode_ns) {
		mx->mx_bitrate = (double)(rc.bytes - p->bytes) * 8e9 /
		    (double)(now - mx->mx_rate_ns);
		mx->mx_encode_s = rc.encoded > p->encoded ?
		    (double)(rc.encode_ns - p->encode_ns) / 1e9 /
		    (double)(rc.encoded - p->encoded) : 0;
	}
	mx->mx_rate_prev = rc;
	mx->mx_rate_ns = now;
	mx->mx_rate_generation = r->rr_geo.generation;
}

void
mp4_close_all(struct camera *cam, const char *why)
{
	struct stream_client *sc;

	while ((sc = TAILQ_FIRST(&cam->c_mp4.mx_clients)) != NULL) {
		/* A clean end where it costs nothing: with nothing of ours
		 * queued, the last chunk follows whole fragments, and the
		 * kernel sends it before the connection's end. */
		if (sc->sc_chunked && !sc->sc_ending && evbuffer_get_length(
		    bufferevent_get_output(sc->sc_bev)) == 0)
			(void)send(sc->sc_fd, CHUNK_LAST, sizeof(CHUNK_LAST) - 1,
			    MSG_DONTWAIT | MSG_NOSIGNAL);
		stream_client_close(sc, why);
	}
}

void
mp4_tick(struct camera *cam)
{
	struct mp4_mux *mx = &cam->c_mp4;
	struct stream_client *sc, *next;
	uint64_t now = clock_ns(CLOCK_MONOTONIC);

	mp4_rates(cam, now);
	for (sc = TAILQ_FIRST(&mx->mx_clients); sc != NULL; sc = next) {
		next = TAILQ_NEXT(sc, sc_entry);
		(void)stream_client_check_stall(sc, now);
	}
	/* Nobody watches: keep nothing that would be stale later. */
	if (mx->mx_nclients == 0 && mx->mx_latest != NULL)
		mp4_mux_forget(mx);
}

void
mp4_camera_init(struct camera *cam)
{
	struct mp4_mux *mx = &cam->c_mp4;

	frame_pool_init(&mx->mx_pool);
	TAILQ_INIT(&mx->mx_clients);
	mx->mx_broken = 1;
}

void
mp4_camera_free(struct camera *cam)
{
	struct mp4_mux *mx = &cam->c_mp4;

	frame_unref(mx->mx_latest);
	frame_unref(mx->mx_init);
	mx->mx_latest = mx->mx_init = NULL;
	frame_pool_drain(&mx->mx_pool);
	free(mx->mx_buf);
	mx->mx_buf = NULL;
}
