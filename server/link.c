/*
 * link.c - one camera of the server: its frames and what it shows while
 * it has none.
 *
 * The link to the capture (connect, hello, the rings, reconnection,
 * viewer counts, keyframe requests) is common/attach.c, as for
 * shmcam-rtsp; here is what the server makes of its events:
 *
 *   JPEG ring UP       the newest frame is taken at once, then one per
 *                      wake-up (link_take_frame(): copied once into a
 *                      frame of the camera's pool, checked, handed to
 *                      every client by camera_set_latest())
 *   H.264 ring events  to the MP4 and HLS code (mp4_h264_event())
 *   WAITING            clients keep their connections and get the
 *                      "camera offline" placeholder, re-sent once a
 *                      second by stream_refresh(): after a link that was
 *                      attached is lost, or while there is no frame at
 *                      all (a server started while its capture runs
 *                      shows its first live frame, never a placeholder)
 *
 * Besides: the frame rate of the capture, measured from its ring, and
 * the camera's tick (a second while there are viewers, TICK_IDLE_MS
 * while there are none).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "log.h"
#include "server.h"

#define DEFAULT_WIDTH		1280
#define DEFAULT_HEIGHT		720
#define TICK_MS			1000
#define TICK_IDLE_MS		10000
#define FPS_WINDOW_NS		900000000u	/* a tick, give or take */

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

/* Takes the newest frame out of the ring, if there is a new one. */
static void
link_take_frame(struct camera *cam)
{
	struct ring_reader *r = &cam->c_at.at_ring[CTL_KIND_JPEG];
	struct ring_frame *meta;
	struct frame *f;
	int rc;

	/* A sequence that went backwards is not this writer's: resync. */
	if (ring_latest(r) < cam->c_ring_seq) {
		log_warnx("camera %s: ring sequence went backwards, resyncing",
		    cam->c_name);
		cam->c_ring_seq = 0;
	}
	rc = frame_read_ring(&cam->c_pool, r, cam->c_ring_seq,
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
		attach_drop(&cam->c_at, "ring replaced under us");
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
	f->f_generation = cam->c_at.at_generation[CTL_KIND_JPEG];
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

void
camera_refresh(struct camera *cam)
{
	if (cam->c_at.at_state == ATTACH_ATTACHED &&
	    ring_latest(&cam->c_at.at_ring[CTL_KIND_JPEG]) != cam->c_ring_seq)
		link_take_frame(cam);
	camera_fps_update(cam);
}

/* What attach says of the link (attach.h). */
static void
link_attach_cb(struct attach *at, enum attach_event ev, enum ctl_kind kind,
    void *arg)
{
	struct camera *cam = arg;
	const struct frame *f = cam->c_latest;

	(void)at;
	if (ev == ATTACH_WAITING) {
		/*
		 * Not attached: the offline picture, unless it is showing
		 * already.  A live frame (or the capture's "no signal") is
		 * one of a link that was lost; no frame at all, a server
		 * whose capture is not there (yet).
		 */
		if (f == NULL || f->f_placeholder != FRAME_OFFLINE)
			camera_show_offline(cam);
		return;
	}
	if (kind == CTL_KIND_H264) {
		mp4_h264_event(cam, ev);
		return;
	}
	switch (ev) {
	case ATTACH_UP:
		/* A ring of a new generation: its sequences start over. */
		cam->c_ring_seq = 0;
		cam->c_fps_ns = 0;
		link_take_frame(cam);
		break;
	case ATTACH_WAKEUP:
		link_take_frame(cam);
		break;
	case ATTACH_DOWN:
	case ATTACH_WAITING:
		break;
	}
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

	if (cam->c_at.at_state != ATTACH_ATTACHED) {
		cam->c_fps = 0;
		cam->c_fps_ns = 0;
		return;
	}
	seq = ring_latest(&cam->c_at.at_ring[CTL_KIND_JPEG]);
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
 * of a static picture, stalled clients) or no capture (the placeholder);
 * else every TICK_IDLE_MS, since an attached camera with no viewer has
 * nothing to do then, and each wake-up of an idle server costs it about
 * 140 us on the machine of docs/performance.md.  A viewer that comes
 * re-arms it at a second (camera_viewers_changed()).  What the control
 * socket did not take, attach retries by itself (attach.h).
 */
static void
camera_tick_arm(struct camera *cam)
{
	int busy = cam->c_nclients > 0 || cam->c_h264_viewers > 0 ||
	    cam->c_at.at_state != ATTACH_ATTACHED;
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
	stream_refresh(cam);
	mp4_tick(cam);
	hls_tick(cam);
	camera_tick_arm(cam);
}

void
camera_viewers_changed(struct camera *cam)
{
	const uint32_t n[CTL_KINDS] = {
		[CTL_KIND_JPEG] = cam->c_nclients,
		[CTL_KIND_H264] = cam->c_h264_viewers,
	};

	if (cam->c_tick_idle && (cam->c_nclients > 0 ||
	    cam->c_h264_viewers > 0))
		camera_tick_arm(cam);
	attach_set_viewers_all(&cam->c_at, n);
}

int
camera_request_keyframe(struct camera *cam)
{
	return attach_request_keyframe(&cam->c_at, CTL_KIND_H264);
}

struct camera *
camera_new(struct server *srv, const char *name, const char *ctl_path)
{
	struct camera *cam;
	char label[CTL_LABEL_MAX];

	cam = calloc(1, sizeof(*cam));
	if (cam == NULL)
		return NULL;
	cam->c_srv = srv;
	snprintf(cam->c_name, sizeof(cam->c_name), "%s", name);
	frame_pool_init(&cam->c_pool);
	TAILQ_INIT(&cam->c_clients);
	mp4_camera_init(cam);
	hls_camera_init(cam);
	snprintf(label, sizeof(label), "server/%s", name);
	if (attach_init(&cam->c_at, srv->base, name, ctl_path, label,
	    CTL_KINDS_ALL, link_attach_cb, cam) != 0) {
		camera_free(cam);
		return NULL;
	}
	cam->c_at.at_capture_uid = srv->opt.capture_uid;
	cam->c_at.at_poll_always = CTL_KIND_BIT(CTL_KIND_JPEG);
	cam->c_tick_ev = evtimer_new(srv->base, camera_tick_cb, cam);
	if (cam->c_tick_ev == NULL) {
		camera_free(cam);
		return NULL;
	}
	return cam;
}

void
camera_start(struct camera *cam)
{
	camera_tick_arm(cam);
	attach_start(&cam->c_at);
}

void
camera_stop(struct camera *cam)
{
	stream_close_all(cam);
	attach_free(&cam->c_at);
	if (cam->c_tick_ev != NULL)
		event_free(cam->c_tick_ev);
	cam->c_tick_ev = NULL;
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
