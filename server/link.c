/*
 * link.c - a server's link to one camera's capture process.
 *
 *   IDLE --connect, send hello--> HELLO --welcome: map ring, arm eventfd-->
 *   ATTACHED --EOF, junk, stale ring--> IDLE (placeholder, retry w/ backoff)
 *
 * While attached, a CTL_STREAM brings the H.264 ring (again, whenever the
 * capture replaces it): mapped into c_h264, its eventfd polled while the
 * server has H.264 viewers; what happens to its frames is the delivery
 * code's business (c_h264_event).
 *
 * While not attached, clients keep their connections and get the "camera
 * offline" placeholder, re-sent once a second by stream_refresh().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "server.h"

#define BACKOFF_MIN_MS		100
#define BACKOFF_MAX_MS		500
#define WELCOME_TIMEOUT_MS	2000
#define DEFAULT_WIDTH		1280
#define DEFAULT_HEIGHT		720
#define TICK_MS			1000
#define TICK_IDLE_MS		10000
#define FPS_WINDOW_NS		900000000u	/* a tick, give or take */

static void link_connect(struct camera *cam);
static void camera_fps_update(struct camera *cam);
static void camera_tick_arm(struct camera *cam);

/* Makes f the newest frame and hands it to the clients. */
static void
camera_set_latest(struct camera *cam, struct frame *f)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC), gap;

	/* The frame interval the send policy gives a client's queue to
	 * drain in: smoothed over about 8 frames (1/8 gain), so that one
	 * late wake-up does not count; at most a second (the offline
	 * placeholder's rate).  Only between frames taken while there are
	 * viewers: without, frames are taken when asked for
	 * (camera_refresh()), at any interval. */
	if (cam->c_latest_ns != 0 && cam->c_nclients > 0) {
		gap = now - cam->c_latest_ns;
		if (gap > 1000000000u)
			gap = 1000000000u;
		cam->c_interval_ns = cam->c_interval_ns == 0 ? gap :
		    (7 * cam->c_interval_ns + gap) / 8;
	}
	cam->c_latest_ns = cam->c_nclients > 0 ? now : 0;
	f->f_seq = ++cam->c_next_seq;
	frame_unref(cam->c_latest);
	cam->c_latest = f;
	stream_broadcast(cam);
	listen_camera_ready(cam->c_srv);
}

/*
 * The "camera offline" picture, at the last size we streamed so that
 * clients need not cope with a size change, rendered once per size.
 */
static struct frame *
camera_placeholder(struct camera *cam)
{
	struct jpeg_encoder enc;
	struct image img;
	struct frame *f;
	uint32_t w = cam->c_width ? cam->c_width : DEFAULT_WIDTH;
	uint32_t h = cam->c_height ? cam->c_height : DEFAULT_HEIGHT;
	uint8_t *jpeg = NULL;
	size_t len = 0;
	char line[96];
	int scale, big;

	if (cam->c_offline != NULL && cam->c_offline->f_meta.width == w &&
	    cam->c_offline->f_meta.height == h)
		return cam->c_offline;

	if (image_alloc(&img, w, h) != 0)
		return NULL;
	image_fill(&img, yuv_from_rgb(40, 40, 48));
	big = text_fit_scale("CAMERA OFFLINE", (int)w * 8 / 10, (int)h / 50);
	image_draw_text(&img, ((int)w - text_width("CAMERA OFFLINE", big)) / 2,
	    (int)h / 2 - 9 * big, big, "CAMERA OFFLINE", YUV_WHITE);
	snprintf(line, sizeof(line), "%s: WAITING FOR ITS CAPTURE PROCESS",
	    cam->c_name);
	scale = text_fit_scale(line, (int)w * 9 / 10, big / 2);
	image_draw_text(&img, ((int)w - text_width(line, scale)) / 2,
	    (int)h / 2 + 4 * scale, scale, line, YUV_GREY);
	if (jpeg_encoder_init(&enc, 75) == 0) {
		if (jpeg_encode_yuv420_alloc(&enc, &img, &jpeg, &len) != 0)
			jpeg = NULL;
		jpeg_encoder_free(&enc);
	}
	image_free(&img);
	if (jpeg == NULL)
		return NULL;

	f = frame_get(&cam->c_pool, len);
	if (f == NULL) {
		free(jpeg);
		return NULL;
	}
	memcpy(f->f_buf + f->f_jpeg_off, jpeg, len);
	free(jpeg);
	f->f_jpeg_len = len;
	f->f_placeholder = FRAME_OFFLINE;
	f->f_meta.width = w;
	f->f_meta.height = h;
	f->f_meta.flags = RING_FRAME_PLACEHOLDER;
	f->f_meta.capture_real_ns = f->f_meta.publish_real_ns =
	    clock_ns(CLOCK_REALTIME);
	f->f_meta.length = (uint32_t)len;
	frame_finish(f);
	frame_unref(cam->c_offline);
	cam->c_offline = f;
	return f;
}

static void
camera_show_offline(struct camera *cam)
{
	struct frame *f = camera_placeholder(cam);

	if (f != NULL)
		camera_set_latest(cam, frame_ref(f));
}

static void
link_schedule_retry(struct camera *cam)
{
	struct timeval tv = ms_tv(cam->c_backoff_ms);

	evtimer_add(cam->c_retry_ev, &tv);
	cam->c_backoff_ms *= 2;
	if (cam->c_backoff_ms > BACKOFF_MAX_MS)
		cam->c_backoff_ms = BACKOFF_MAX_MS;
}

/* Lets go of the H.264 ring and its eventfd, telling the delivery code
 * first. */
static void
link_detach_h264(struct camera *cam)
{
	if (!cam->c_h264_attached)
		return;
	if (cam->c_h264_event != NULL)
		cam->c_h264_event(cam, CAMERA_H264_DETACHED);
	if (cam->c_h264_ev != NULL) {
		event_free(cam->c_h264_ev);
		cam->c_h264_ev = NULL;
	}
	if (cam->c_h264_efd != -1)
		close(cam->c_h264_efd);
	cam->c_h264_efd = -1;
	ring_reader_close(&cam->c_h264);
	cam->c_h264_attached = 0;
	cam->c_keyframe_pending = 0;
}

static void
link_close(struct camera *cam)
{
	link_detach_h264(cam);
	evtimer_del(cam->c_deadline_ev);
	if (cam->c_sock_ev != NULL) {
		event_free(cam->c_sock_ev);
		cam->c_sock_ev = NULL;
	}
	if (cam->c_efd_ev != NULL) {
		event_free(cam->c_efd_ev);
		cam->c_efd_ev = NULL;
	}
	if (cam->c_sock != -1)
		close(cam->c_sock);
	if (cam->c_efd != -1)
		close(cam->c_efd);
	cam->c_sock = cam->c_efd = -1;
	ring_reader_close(&cam->c_ring);
	cam->c_state = LINK_IDLE;
}

/* Logs a reason for not being attached, once per distinct reason. */
static void
link_note(struct camera *cam, const char *why)
{
	if (strcmp(cam->c_why, why) != 0)
		log_info("camera %s: %s", cam->c_name, why);
	else
		log_debug("camera %s: %s", cam->c_name, why);
	snprintf(cam->c_why, sizeof(cam->c_why), "%s", why);
}

static void
link_lost(struct camera *cam, const char *why)
{
	int was_attached = cam->c_state == LINK_ATTACHED;

	if (was_attached)
		cam->c_link_losses++;
	link_close(cam);
	link_note(cam, why);
	if (was_attached || cam->c_latest == NULL)
		camera_show_offline(cam);
	link_schedule_retry(cam);
}

/* Takes the newest frame out of the ring, if there is a new one. */
static void
link_take_frame(struct camera *cam)
{
	struct ring_frame *meta;
	struct frame *f;
	int rc;

	/* A sequence that went backwards is not this writer's: resync. */
	if (ring_latest(&cam->c_ring) < cam->c_ring_seq) {
		log_warnx("camera %s: ring sequence went backwards, resyncing",
		    cam->c_name);
		cam->c_ring_seq = 0;
	}
	rc = frame_read_ring(&cam->c_pool, &cam->c_ring, cam->c_ring_seq,
	    &cam->c_frame_hint, &f);
	if (rc == 0) {
		meta = &f->f_meta;
		if (!jpeg_looks_complete(f->f_buf + f->f_jpeg_off,
		    meta->length) || meta->width == 0 || meta->height == 0 ||
		    meta->width > 16384 || meta->height > 16384) {
			frame_unref(f);
			rc = -EBADMSG;
		}
	}
	switch (rc) {
	case 0:
		break;
	case -EAGAIN:
	case -ENODATA:
		return;
	case -ESTALE:
		link_lost(cam, "ring replaced under us");
		return;
	case -ENOMEM:
		log_warnx("camera %s: out of memory for a frame", cam->c_name);
		return;
	default:
		if (cam->c_invalid++ % 100 == 0)
			log_warnx("camera %s: frame rejected: %s (%llu so far)",
			    cam->c_name, ring_strerror(rc),
			    (unsigned long long)cam->c_invalid);
		return;
	}
	f->f_generation = cam->c_generation;
	if (meta->flags & RING_FRAME_PLACEHOLDER)
		f->f_placeholder = FRAME_NO_SIGNAL;
	frame_finish(f);
	cam->c_ring_seq = meta->seq;
	cam->c_frames_in++;
	cam->c_frames_skipped += meta->gap;
	cam->c_width = meta->width;
	cam->c_height = meta->height;
	camera_set_latest(cam, f);
}

/*
 * Consumes the wake-ups on eventfd fd of ring what ("" or "H.264 "): 0, or
 * -1 with the link lost.
 */
static int
link_wakeup_read(struct camera *cam, int fd, const char *what)
{
	char why[96];
	int rc;

	/* Reading resets the counter: one wake-up for any number of posts. */
	if ((rc = ctl_wakeup_read(fd)) >= 0)
		return 0;
	snprintf(why, sizeof(why), "%swake-up descriptor failed: %s", what,
	    rc == -EPROTO ? "not 8 bytes from an eventfd" : strerror(-rc));
	link_lost(cam, why);
	return -1;
}

/*
 * Checks the wake-up descriptor efd that came with ring what ("" or
 * "H.264 "): 0, or -1 with efd and ringfd closed and the link lost.
 * Anything but an eventfd could keep the loop busy (a pipe whose writer
 * is gone is readable for ever).
 */
static int
link_wakeup_check(struct camera *cam, int efd, int ringfd, const char *what)
{
	char why[128];
	int rc;

	if ((rc = ctl_fd_is_eventfd(efd)) == 1)
		return 0;
	close(efd);
	close(ringfd);
	snprintf(why, sizeof(why), "%swake-up descriptor from capture "
	    "refused: %s", what, rc == 0 ? "not an eventfd" : strerror(-rc));
	link_lost(cam, why);
	return -1;
}

/*
 * Maps the ring of descriptor ringfd (closed here) into r after checking
 * its wake-up descriptor efd, and checks the mapping against what the
 * capture's message said of it: codec, generation, geometry.  0, or -1
 * with r closed, efd closed and the link lost (what: "" or "H.264 ").
 */
static int
link_map_ring(struct camera *cam, struct ring_reader *r, int efd,
    int ringfd, uint32_t codec, uint64_t generation, uint32_t slot_count,
    uint32_t slot_size, const char *what)
{
	char why[128];
	int rc;

	if (link_wakeup_check(cam, efd, ringfd, what) != 0)
		return -1;
	rc = ring_reader_attach_fd(r, ringfd);
	close(ringfd);
	if (rc == 0 && r->rr_geo.codec != codec)
		rc = -EMEDIUMTYPE;
	if (rc == 0 && (r->rr_geo.generation != generation ||
	    r->rr_geo.slot_count != slot_count ||
	    r->rr_geo.slot_size != slot_size))
		rc = -ESTALE;
	if (rc == 0)
		return 0;
	ring_reader_close(r);
	close(efd);
	snprintf(why, sizeof(why), "%sring from capture refused: %s", what,
	    ring_strerror(rc));
	link_lost(cam, why);
	return -1;
}

static void
link_wakeup_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	link_take_frame(arg);
}

void
camera_refresh(struct camera *cam)
{
	if (cam->c_state == LINK_ATTACHED &&
	    ring_latest(&cam->c_ring) != cam->c_ring_seq)
		link_take_frame(cam);
	camera_fps_update(cam);
}

static void
link_attach(struct camera *cam, const struct ctl_welcome *w, int efd,
    int ringfd)
{
	char name[4 * sizeof(w->shm_name)];

	if (link_map_ring(cam, &cam->c_ring, efd, ringfd, RING_CODEC_JPEG,
	    w->generation, w->slot_count, w->slot_size, "") != 0)
		return;
	/*
	 * Edge-triggered, and never read: the eventfd wakes its waiters at
	 * every write, whatever its counter holds, so each publish of the
	 * capture is an edge of its own, and the read that would reset the
	 * counter is a system call per frame saved.  The counter cannot
	 * fill: it holds 2^64 - 2 writes.
	 */
	cam->c_efd = efd;
	cam->c_efd_ev = event_new(cam->c_srv->base, efd,
	    EV_READ | EV_PERSIST | EV_ET, link_wakeup_cb, cam);
	if (cam->c_efd_ev == NULL || event_add(cam->c_efd_ev, NULL) == -1) {
		link_lost(cam, "out of memory for events");
		return;
	}
	evtimer_del(cam->c_deadline_ev);

	cam->c_state = LINK_ATTACHED;
	cam->c_generation = w->generation;
	cam->c_ring_seq = 0;
	cam->c_fps_ns = 0;
	cam->c_capture_pid = (pid_t)w->pid;
	cam->c_kinds = w->kinds;
	cam->c_backoff_ms = BACKOFF_MIN_MS;
	cam->c_attaches++;
	cam->c_why[0] = '\0';
	log_info("camera %s: attached to capture pid %u, ring %s generation "
	    "%016llx, %ux%u", cam->c_name, w->pid, log_escape(w->shm_name,
	    sizeof(w->shm_name), name, sizeof(name)),
	    (unsigned long long)w->generation, w->width, w->height);
	cam->c_viewers_dirty = 1;
	camera_viewers_changed(cam);
	link_take_frame(cam);
}

static void
link_h264_wakeup_cb(evutil_socket_t fd, short what, void *arg)
{
	struct camera *cam = arg;

	(void)what;
	if (link_wakeup_read(cam, fd, "H.264 ") != 0)
		return;
	if (cam->c_h264_event != NULL)
		cam->c_h264_event(cam, CAMERA_H264_WAKEUP);
}

/* Polls the H.264 eventfd while there are H.264 viewers, else not. */
static void
link_h264_poll(struct camera *cam)
{
	int want = cam->c_h264_attached && cam->c_h264_viewers > 0;

	if (want && cam->c_h264_ev == NULL) {
		cam->c_h264_ev = event_new(cam->c_srv->base, cam->c_h264_efd,
		    EV_READ | EV_PERSIST, link_h264_wakeup_cb, cam);
		if (cam->c_h264_ev == NULL ||
		    event_add(cam->c_h264_ev, NULL) == -1) {
			if (cam->c_h264_ev != NULL)
				event_free(cam->c_h264_ev);
			cam->c_h264_ev = NULL;
			log_warnx("camera %s: out of memory for H.264 events",
			    cam->c_name);
		}
	} else if (!want && cam->c_h264_ev != NULL) {
		event_free(cam->c_h264_ev);
		cam->c_h264_ev = NULL;
	}
}

/* CTL_STREAM: the H.264 ring, first or instead of the one we have. */
static void
link_attach_h264(struct camera *cam, const struct ctl_stream *m, int efd,
    int ringfd)
{
	char name[4 * sizeof(m->shm_name)];

	link_detach_h264(cam);
	if (link_map_ring(cam, &cam->c_h264, efd, ringfd, RING_CODEC_H264,
	    m->generation, m->slot_count, m->slot_size, "H.264 ") != 0)
		return;
	cam->c_h264_efd = efd;
	cam->c_h264_attached = 1;
	cam->c_h264_generation = m->generation;
	log_info("camera %s: H.264 ring %s generation %016llx, %ux%u",
	    cam->c_name, log_escape(m->shm_name, sizeof(m->shm_name), name,
	    sizeof(name)), (unsigned long long)m->generation, m->width,
	    m->height);
	if (cam->c_h264_event != NULL)
		cam->c_h264_event(cam, CAMERA_H264_ATTACHED);
	link_h264_poll(cam);
}

static void
link_sock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct camera *cam = arg;
	union ctl_msg msg;
	int fds[CTL_MAX_FDS], nfds;
	char why[128];
	ssize_t n;

	(void)fd;
	(void)what;
	n = ctl_recv(cam->c_sock, &msg, fds, &nfds);
	if (n == -EAGAIN)
		return;
	/* A capture that exits with a message of ours unread resets the
	 * connection rather than closing it: the same for us. */
	if (n == 0 || n == -ECONNRESET) {
		link_lost(cam, "capture closed the control socket");
		return;
	}
	if (n < 0) {
		snprintf(why, sizeof(why), "invalid message from capture: %s",
		    strerror((int)-n));
		link_lost(cam, why);
		return;
	}
	if (cam->c_state == LINK_HELLO && msg.hdr.ch_type == CTL_WELCOME) {
		link_attach(cam, &msg.welcome, fds[0], fds[1]);
		return;
	}
	if (cam->c_state == LINK_ATTACHED && msg.hdr.ch_type == CTL_STREAM) {
		link_attach_h264(cam, &msg.stream, fds[0], fds[1]);
		return;
	}
	if (cam->c_state == LINK_HELLO && msg.hdr.ch_type == CTL_REFUSED) {
		char reason[4 * CTL_REASON_MAX];

		snprintf(why, sizeof(why), "capture refused us: %s",
		    log_escape(msg.refused.reason, sizeof(msg.refused.reason),
		    reason, sizeof(reason)));
		link_lost(cam, why);
		return;
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	snprintf(why, sizeof(why), "unexpected %s message from capture",
	    ctl_type_name(msg.hdr.ch_type));
	link_lost(cam, why);
}

static void
link_connect(struct camera *cam)
{
	struct ctl_hello hello;
	struct timeval tv = ms_tv(WELCOME_TIMEOUT_MS);
	char why[320], err[256];
	int rc, fd;

	rc = ctl_connect_capture(cam->c_ctl, cam->c_srv->opt.capture_uid,
	    &fd, err, sizeof(err));
	if (rc != 0) {
		snprintf(why, sizeof(why), "waiting for capture at %s: %s",
		    cam->c_ctl, err);
		link_note(cam, why);
		if (cam->c_latest == NULL)
			camera_show_offline(cam);
		link_schedule_retry(cam);
		return;
	}
	cam->c_sock = fd;
	ctl_init(&hello.h, CTL_HELLO, sizeof(hello));
	hello.pid = (uint32_t)getpid();
	hello.ring_abi = RING_ABI_VERSION;
	hello.kinds = CTL_KINDS_ALL;
	snprintf(hello.label, sizeof(hello.label), "server/%s", cam->c_name);
	rc = ctl_send(fd, &hello, sizeof(hello), NULL, 0);
	if (rc != 0) {
		snprintf(why, sizeof(why), "hello to capture: %s",
		    strerror(-rc));
		link_lost(cam, why);
		return;
	}
	cam->c_sock_ev = event_new(cam->c_srv->base, fd, EV_READ | EV_PERSIST,
	    link_sock_cb, cam);
	if (cam->c_sock_ev == NULL || event_add(cam->c_sock_ev, NULL) == -1 ||
	    evtimer_add(cam->c_deadline_ev, &tv) == -1) {
		link_lost(cam, "out of memory for events");
		return;
	}
	cam->c_state = LINK_HELLO;
}

static void
link_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	link_lost(arg, "capture did not answer the hello");
}

static void
link_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	link_connect(arg);
}

/*
 * The rate the capture publishes at, from the ring's sequence numbers
 * (a server with no viewer takes no frames, and its camera runs all the
 * same), over the time since the last measure if that is most of a
 * second: the tick comes by every second while there are viewers, and
 * camera_refresh() before /state is read.  Not attached, no frames.
 */
static void
camera_fps_update(struct camera *cam)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC), seq;

	if (cam->c_state != LINK_ATTACHED) {
		cam->c_fps = 0;
		cam->c_fps_ns = 0;
		return;
	}
	seq = ring_latest(&cam->c_ring);
	if (cam->c_fps_ns != 0 && now - cam->c_fps_ns < FPS_WINDOW_NS)
		return;
	if (cam->c_fps_ns != 0 && seq >= cam->c_fps_seq)
		cam->c_fps = (double)(seq - cam->c_fps_seq) * 1e9 /
		    (double)(now - cam->c_fps_ns);
	cam->c_fps_seq = seq;
	cam->c_fps_ns = now;
}

/*
 * Arms the tick: every second while the camera has viewers (the refresh
 * of a static picture, stalled clients) or something to retry (a
 * viewers count or keyframe request the control socket did not take,
 * the link); else every TICK_IDLE_MS, since an attached camera with no
 * viewer has nothing to do then, and each wake-up of an idle server
 * costs it about 140 us on the machine of docs/performance.md.  A
 * viewer that comes re-arms it at a second (camera_viewers_changed()).
 */
static void
camera_tick_arm(struct camera *cam)
{
	int busy = cam->c_nclients > 0 || cam->c_h264_viewers > 0 ||
	    cam->c_viewers_dirty || cam->c_keyframe_pending ||
	    cam->c_state != LINK_ATTACHED;
	struct timeval tv = ms_tv(busy ? TICK_MS : TICK_IDLE_MS);

	if (cam->c_tick_ev == NULL)
		return;
	cam->c_tick_idle = !busy;
	evtimer_add(cam->c_tick_ev, &tv);
}

static void
camera_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct camera *cam = arg;

	(void)fd;
	(void)what;
	camera_fps_update(cam);
	if (cam->c_viewers_dirty)
		camera_viewers_changed(cam);
	if (cam->c_keyframe_pending)
		(void)camera_request_keyframe(cam);
	stream_refresh(cam);
	mp4_tick(cam);
	hls_tick(cam);
	camera_tick_arm(cam);
}

void
camera_viewers_changed(struct camera *cam)
{
	struct ctl_viewers msg;
	int rc;

	link_h264_poll(cam);
	if (cam->c_tick_idle && (cam->c_nclients > 0 ||
	    cam->c_h264_viewers > 0))
		camera_tick_arm(cam);
	if (cam->c_state != LINK_ATTACHED) {
		cam->c_viewers_dirty = 1;
		return;
	}
	if (!cam->c_viewers_dirty && cam->c_viewers_sent == cam->c_nclients &&
	    cam->c_h264_viewers_sent == cam->c_h264_viewers)
		return;
	ctl_init(&msg.h, CTL_VIEWERS, sizeof(msg));
	msg.viewers[CTL_KIND_JPEG] = cam->c_nclients;
	msg.viewers[CTL_KIND_H264] = cam->c_h264_viewers;
	rc = ctl_send(cam->c_sock, &msg, sizeof(msg), NULL, 0);
	if (rc == 0) {
		cam->c_viewers_sent = cam->c_nclients;
		cam->c_h264_viewers_sent = cam->c_h264_viewers;
		cam->c_viewers_dirty = 0;
	} else {
		/* Full socket: the tick retries; the newest count wins. */
		cam->c_viewers_dirty = 1;
	}
}

int
camera_request_keyframe(struct camera *cam)
{
	struct ctl_keyframe msg;
	int rc;

	if (cam->c_state != LINK_ATTACHED || !cam->c_h264_attached)
		return -ENOTCONN;
	ctl_init(&msg.h, CTL_KEYFRAME, sizeof(msg));
	msg.kind = CTL_KIND_H264;
	rc = ctl_send(cam->c_sock, &msg, sizeof(msg), NULL, 0);
	/* Full socket: the tick sends it; requests in between are one. */
	cam->c_keyframe_pending = rc != 0;
	if (rc == 0)
		cam->c_keyframe_requests++;
	return 0;
}

const char *
camera_state_name(const struct camera *cam)
{
	switch (cam->c_state) {
	case LINK_ATTACHED:
		return "attached";
	case LINK_HELLO:
		return "connecting";
	case LINK_IDLE:
		break;
	}
	return "waiting";
}

struct camera *
camera_new(struct server *srv, const char *name, const char *ctl_path)
{
	struct camera *cam;

	cam = calloc(1, sizeof(*cam));
	if (cam == NULL)
		return NULL;
	cam->c_srv = srv;
	cam->c_sock = cam->c_efd = cam->c_h264_efd = -1;
	cam->c_backoff_ms = BACKOFF_MIN_MS;
	snprintf(cam->c_name, sizeof(cam->c_name), "%s", name);
	if (ctl_path != NULL)
		snprintf(cam->c_ctl, sizeof(cam->c_ctl), "%s", ctl_path);
	else if (ctl_default_path(name, cam->c_ctl, sizeof(cam->c_ctl)) != 0) {
		free(cam);
		return NULL;
	}
	frame_pool_init(&cam->c_pool);
	TAILQ_INIT(&cam->c_clients);
	mp4_camera_init(cam);
	hls_camera_init(cam);
	cam->c_retry_ev = evtimer_new(srv->base, link_retry_cb, cam);
	cam->c_deadline_ev = evtimer_new(srv->base, link_deadline_cb, cam);
	cam->c_tick_ev = evtimer_new(srv->base, camera_tick_cb, cam);
	if (cam->c_retry_ev == NULL || cam->c_deadline_ev == NULL ||
	    cam->c_tick_ev == NULL) {
		camera_free(cam);
		return NULL;
	}
	return cam;
}

void
camera_start(struct camera *cam)
{
	camera_tick_arm(cam);
	link_connect(cam);
}

void
camera_stop(struct camera *cam)
{
	stream_close_all(cam);
	if (cam->c_deadline_ev != NULL)
		link_close(cam);
	if (cam->c_retry_ev != NULL)
		event_free(cam->c_retry_ev);
	if (cam->c_deadline_ev != NULL)
		event_free(cam->c_deadline_ev);
	if (cam->c_tick_ev != NULL)
		event_free(cam->c_tick_ev);
	cam->c_retry_ev = cam->c_deadline_ev = cam->c_tick_ev = NULL;
}

void
camera_free(struct camera *cam)
{
	camera_stop(cam);
	frame_unref(cam->c_latest);
	frame_unref(cam->c_offline);
	cam->c_latest = cam->c_offline = NULL;
	frame_pool_drain(&cam->c_pool);
	hls_camera_free(cam);
	mp4_camera_free(cam);
	/* A frame still referenced would point into this camera's pool:
	 * a use after free waiting to happen (server.h, camera_free()). */
	if (cam->c_pool.fp_live != 0)
		log_warnx("camera %s: %u frames still referenced at exit",
		    cam->c_name, cam->c_pool.fp_live);
	free(cam);
}
