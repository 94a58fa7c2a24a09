/*
 * pipeline_h264.c - what happens to a frame on its way to the H.264 ring
 * (ring.h's RING_CODEC_H264, "shmavc-NAME"):
 *
 *   raw, JPEG and pattern frames, while someone watches H.264 (or with
 *   --always-encode): copied for the encoder's thread (workers.h, copy
 *   mode: the source's buffer goes back at once, and a slow encode never
 *   holds up the capture), encoded there (h264enc.h), published here by
 *   the loop thread when the thread says it is done.  At most one frame
 *   waits for the encoder; a newer one takes its place.  The first frame
 *   after nobody watched is a keyframe.
 *
 *   a camera's own H.264: filtered (h264pass.h) straight into the slot
 *   on the loop thread, viewers or not (like MJPEG, it costs a copy, and
 *   the camera's keyframes cannot be asked for); the JPEG ring gets a
 *   picture once a second that says why it has nothing else.
 *
 *   keyframe requests from servers: keyframe.h decides which frame.
 *
 *   who encodes (--h264-encoder): a V4L2 memory-to-memory encoder
 *   (m2m_h264.h) while it works, opened at setup, else x264.  The
 *   encoder's thread owns both; when the hardware fails it closes it,
 *   encodes that frame with x264 and says so in the job's result; the
 *   loop logs it and says so in the ring (rh_encoder).  Without x264
 *   the H.264 stream ends there: its ring's status says why, viewers of
 *   either stream stay connected.
 *
 * Every access unit is checked (h264_au_check()) before it is published,
 * and a keyframe's SPS and PPS become the header's parameter sets when
 * they differ from those there.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/videodev2.h>

#include "capture.h"
#include "h264.h"
#include "log.h"

/* Flags of a job for the encoder's thread (struct work, w_flags). */
#define JOB_RESUME	0x1u	/* the first frame encoded in a while */
#define JOB_REQUESTED	0x2u	/* chosen by kf_take() */
/* And of its result (w_out_flags), beside RING_FRAME_*: the hardware
 * encoder failed on this job's frame and is closed, c->h264hw_why says
 * why; the frame went to x264 if there is one. */
#define H264_JOB_FELL_BACK	0x80000000u

/* The H.264 ring's slots: at least two GOPs, so that the newest keyframe
 * and what follows it are normally still there for a server that wants
 * to start a viewer at once; never fewer than --slots. */
#define H264_SLOTS_MAX	256

/*
 * The rate the encoder is told (its rate control, the default GOP): the
 * source's, or, for a network stream that says none (an MJPEG stream
 * without --fps sends at its own pace), 30 fps, what most such cameras
 * send at best; with a slower camera the bitrate then stays below
 * --h264-bitrate and keyframes come further apart in time.
 */
#define H264_FPS_UNKNOWN_MILLI	30000

static uint32_t
h264_rate(const struct capture *c)
{
	return c->src.fps_milli != 0 ? c->src.fps_milli :
	    H264_FPS_UNKNOWN_MILLI;
}

static uint32_t
h264_slots(const struct capture *c)
{
	uint64_t n = 2 * (uint64_t)h264enc_gop(&c->opt.h264, h264_rate(c)) +
	    2;

	if (n > H264_SLOTS_MAX)
		n = H264_SLOTS_MAX;
	return n < c->opt.slots ? c->opt.slots : (uint32_t)n;
}

/* The largest access unit the source can bring, encoded or its own. */
static size_t
h264_bound(const struct capture *c)
{
	if (c->src.fourcc == V4L2_PIX_FMT_H264)
		return h264pass_max_out(c->src.max_frame);
	return h264enc_max_size(c->src.width, c->src.height);
}

/* A sealed memfd like the JPEG ring (ring.h), handed to the servers by
 * descriptor (CTL_STREAM). */
static int
h264_create(struct capture *c, struct ring_writer *w, size_t need)
{
	uint32_t size = ring_slot_size_for(need > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)need);

	if (size - RING_SLOT_HEADER_SIZE < need)
		return -EFBIG;
	return ring_writer_create_codec(w, c->h264_shm_name, RING_CODEC_H264,
	    h264_slots(c), size);
}

/*
 * Makes the H.264 ring's slots hold need bytes, replacing it if they do
 * not: servers get the new one by CTL_STREAM, without being disconnected
 * (their JPEG side goes on as if nothing happened).
 */
static int
h264_fit(struct capture *c, size_t need)
{
	struct ring_writer nw;
	int rc;

	if (need <= c->h264.rw_slot_size - RING_SLOT_HEADER_SIZE)
		return 0;
	if (need < h264_bound(c))
		need = h264_bound(c);
	if ((rc = h264_create(c, &nw, need)) != 0) {
		log_warnx("cannot replace the H.264 ring for %zu-byte access "
		    "units: %s", need, strerror(-rc));
		return rc;
	}
	ring_writer_inherit(&nw, &c->h264);
	ring_writer_set_status(&nw, &c->h264.rw_status);
	log_info("H.264 ring replaced: %u slots of %u bytes for %zu-byte "
	    "access units", nw.rw_slot_count, nw.rw_slot_size, need);
	ring_writer_destroy(&c->h264);
	c->h264 = nw;
	peers_set_h264(&c->peers, &c->h264);
	return 0;
}

void
capture_h264_status(struct capture *c, const struct ring_status *st)
{
	struct ring_status ended;

	if (!c->h264_on)
		return;
	if (c->h264_ended) {
		ended = *st;
		ended.state = RING_STATE_OFFLINE;
		snprintf(ended.reason, sizeof(ended.reason), "the hardware "
		    "H.264 encoder failed");
		st = &ended;
	}
	ring_writer_set_status(&c->h264, st);
}

/* rh_encoder's word for the loop's view of who encodes. */
static const char *
h264_engine_name(const struct capture *c)
{
	if (c->src.fourcc == V4L2_PIX_FMT_H264)
		return "camera";
	return c->h264_engine == ENCODER_M2M ? "m2m" :
	    c->h264_engine == ENCODER_CPU ? "x264" : "";
}

/*
 * --h264-encoder: the hardware encoder, opened while we may (its node may
 * need the video group the capture drops).  Not found, or not one, or
 * not for the source's frames: x264, or with --h264-encoder m2m an exit.
 */
static void
h264_setup_m2m(struct capture *c)
{
	const struct rawformat *f = rawformat_find(c->src.fourcc);
	const char *dev = c->opt.h264_m2m_path;
	char path[PATH_MAX], why[256];
	int must = c->opt.h264_encoder == ENCODER_M2M;

	if (c->opt.h264_encoder == ENCODER_CPU)
		return;
	/* A source that gives no raw frames (JPEG: a camera's MJPEG, a
	 * network source's, a directory's files): x264 decodes them. */
	if ((c->src.fourcc != 0 && f == NULL) || c->opt.kind == SOURCE_NET ||
	    c->opt.kind == SOURCE_DIR) {
		if (must)
			fatalx("--h264-encoder m2m: the source gives %s frames, "
			    "not raw ones", c->src.fourcc != 0 ?
			    source_format_name(c->src.fourcc) : "JPEG");
		return;
	}
	if (dev == NULL) {
		if (m2m_h264_find("/dev/video*", path, sizeof(path)) != 0) {
			if (must)
				fatalx("--h264-encoder m2m: no V4L2 memory-to-"
				    "memory H.264 encoder among /dev/video*");
			return;
		}
		dev = path;
	}
	if (m2m_h264_open(&c->h264hw, dev, &c->opt.h264, why,
	    sizeof(why)) != 0) {
		if (must)
			fatalx("--h264-encoder: %s", why);
		log_info("%s: H.264 by x264", why);
		return;
	}
	snprintf(c->h264hw_name, sizeof(c->h264hw_name), "%s",
	    m2m_h264_name(c->h264hw));
	if (f != NULL && !m2m_h264_takes(c->h264hw, f->rf_fourcc)) {
		if (must)
			fatalx("--h264-encoder: %s does not take %s frames",
			    c->h264hw_name, f->rf_name);
		log_info("%s does not take %s frames: H.264 by x264",
		    c->h264hw_name, f->rf_name);
		m2m_h264_close(c->h264hw);
		c->h264hw = NULL;
		return;
	}
	log_info("H.264 is encoded by %s, a V4L2 memory-to-memory encoder; "
	    "%s", c->h264hw_name, h264enc_available() ?
	    "by x264 if it fails" : "this build has no x264 to take over if "
	    "it fails");
}

void
capture_h264_setup(struct capture *c)
{
	int passthrough = c->src.fourcc == V4L2_PIX_FMT_H264 ||
	    c->opt.fourcc == V4L2_PIX_FMT_H264;
	int rc;

	kf_init(&c->kf, CTL_KEYFRAME_INTERVAL_MS * 1000000ull);
	h264pass_init(&c->h264pass);
	c->h264_resume = 1;
	c->h264_engine = -1;
	if (c->opt.h264.mode == H264_OFF)
		return;
	if (!passthrough)
		h264_setup_m2m(c);
	if (!h264enc_available() && c->h264hw == NULL && !passthrough) {
		log_info("H.264: this build has no x264 (X264=no) and no "
		    "hardware encoder was found; JPEG only");
		return;
	}
	snprintf(c->h264_shm_name, sizeof(c->h264_shm_name),
	    RING_PREFIX_H264 "%s", c->opt.name);
	c->h264_fps = h264_rate(c);
	if ((rc = h264_create(c, &c->h264, h264_bound(c))) != 0)
		fatalx("ring %s: %s", c->h264_shm_name, strerror(-rc));
	c->h264_on = 1;
}

/* ------------------------------------------------------------ publish */

/*
 * Publishes the access unit (a ring payload) written into the open slot
 * au[0..len), made from frame f, after checking it; a keyframe's SPS and
 * PPS become the header's parameter sets first if they are new.  Closes
 * the slot either way.
 */
static void
h264_commit(struct capture *c, const struct source_frame *f,
    const uint8_t *au, size_t len, uint32_t width, uint32_t height,
    uint32_t flags, uint64_t encode_ns, int taken)
{
	struct h264_au_info info;
	struct ring_frame rf;
	uint32_t plen;
	int rc;

	if (h264_au_check(au, len, &info) != 0 ||
	    (info.idr != 0) != ((flags & RING_FRAME_KEYFRAME) != 0)) {
		ring_writer_abort(&c->h264);
		if (c->st_h264_dropped++ == 0)
			log_warnx("H.264: an access unit of %zu bytes failed "
			    "its check; dropped", len);
		ring_writer_count(&c->h264, 0, 1, 0, 0);
		if (taken)
			kf_lost(&c->kf, clock_ns(CLOCK_MONOTONIC));
		c->h264_resume = 1;
		return;
	}
	if (flags & RING_FRAME_KEYFRAME) {
		plen = (uint32_t)(info.pps_off + info.pps_len);
		if ((plen != c->h264_params_len ||
		    memcmp(au, c->h264_params, plen) != 0) &&
		    ring_writer_set_params(&c->h264, c->h264.rw_seq + 1, au,
		    plen, (flags & RING_FRAME_PASSTHROUGH) ? 0 :
		    h264enc_bitrate(&c->opt.h264, width, height, c->h264_fps),
		    (flags & RING_FRAME_PASSTHROUGH) ? 0 :
		    h264enc_gop(&c->opt.h264, c->h264_fps)) == 0) {
			memcpy(c->h264_params, au, plen);
			c->h264_params_len = plen;
		}
	}
	memset(&rf, 0, sizeof(rf));
	rf.length = (uint32_t)len;
	rf.width = width;
	rf.height = height;
	rf.flags = flags;
	rf.capture_real_ns = f->capture_real_ns;
	rf.capture_mono_ns = f->capture_mono_ns;
	if (encode_ns != 0)
		ring_writer_count_encode(&c->h264, encode_ns);
	if ((rc = ring_writer_commit(&c->h264, &rf)) != 0) {
		log_warnx("H.264 publish failed: %s", strerror(-rc));
		return;
	}
	if (flags & RING_FRAME_KEYFRAME) {
		kf_published(&c->kf, rf.publish_mono_ns, taken);
		if (taken)
			ring_writer_count_requests(&c->h264, 0, 1);
	}
	c->st_h264_frames++;
	c->st_h264_bytes += len;
	if (encode_ns != 0) {
		c->st_h264_encode_ns += encode_ns;
		c->st_h264_encoded++;
	}
	peers_notify_h264(&c->peers);
}

/* Opens a slot for an access unit of up to need bytes, growing the ring
 * if it must; NULL (counted as dropped) if it cannot. */
static uint8_t *
h264_begin(struct capture *c, size_t need, uint32_t *cap)
{
	uint8_t *slot;

	if (h264_fit(c, need) == 0 &&
	    (slot = ring_writer_begin(&c->h264, cap)) != NULL && *cap >= need)
		return slot;
	ring_writer_abort(&c->h264);
	if (!c->h264_full_logged++)
		log_warnx("H.264: a %zu-byte access unit does not fit the "
		    "ring: dropped", need);
	ring_writer_count(&c->h264, 0, 1, 0, 0);
	c->st_h264_dropped++;
	return NULL;
}

/* ------------------------------------------------------ the encoder */

/*
 * The encoder thread's work function (workers.h): arg is the capture,
 * of which it reads h264enc and h264_fps only (see capture.h).
 */
static int
h264_work(void *arg, unsigned thread, struct work *w)
{
	struct capture *c = arg;
	const uint8_t *au;
	size_t len;
	uint8_t *p;
	int rc, keyframe;
	int force = (w->w_flags & (JOB_RESUME | JOB_REQUESTED)) != 0;

	(void)thread;
	w->w_out_flags = 0;
	if (c->h264hw != NULL) {
		rc = m2m_h264_encode(c->h264hw, &w->w_frame, c->h264_fps,
		    force, &au, &len, &keyframe, c->h264hw_why,
		    sizeof(c->h264hw_why));
		if (rc == 0 || rc == -EAGAIN)
			goto done;
		/* For good: this frame and the rest to x264, if any. */
		m2m_h264_close(c->h264hw);
		c->h264hw = NULL;
		w->w_out_flags = H264_JOB_FELL_BACK;
		if (c->h264enc == NULL)
			return -ENODEV;
		force = 1;
	}
	rc = h264enc_encode(c->h264enc, &w->w_frame, c->h264_fps, force, &au,
	    &len, &keyframe);
done:
	if (rc != 0)
		return rc;
	if (w->w_cap < len) {
		if ((p = realloc(w->w_out, len)) == NULL)
			return -ENOMEM;
		w->w_out = p;
		w->w_cap = len;
	}
	memcpy(w->w_out, au, len);
	w->w_len = len;
	w->w_out_flags |= keyframe ? RING_FRAME_KEYFRAME : 0;
	return 0;
}

/* The hardware encoder failed (the thread closed it): said once, and in
 * the ring; without x264, the H.264 stream ends. */
static void
h264_fell_back(struct capture *c)
{
	struct ring_status st;

	c->h264_engine = c->h264enc != NULL ? ENCODER_CPU : -1;
	c->h264_resume = 1;
	ring_writer_set_encoder(&c->h264, h264_engine_name(c));
	if (c->h264enc != NULL) {
		log_warnx("hardware H.264 encoder %s: %s; encoding with x264 "
		    "from now on", c->h264hw_name, c->h264hw_why);
		return;
	}
	log_warnx("hardware H.264 encoder %s: %s; this build has no x264 "
	    "(X264=no): no H.264 from now on", c->h264hw_name,
	    c->h264hw_why);
	c->h264_ended = 1;
	st = c->h264.rw_status;
	capture_h264_status(c, &st);
}

static void
h264_finish_job(struct capture *c, struct work *w)
{
	const struct source_frame *f = &w->w_frame;
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	uint32_t cap;
	uint8_t *slot;

	if (w->w_out_flags & H264_JOB_FELL_BACK) {
		h264_fell_back(c);
		w->w_out_flags &= ~H264_JOB_FELL_BACK;
	}
	if (w->w_late || w->w_rc != 0 || w->w_len == 0) {
		if (w->w_rc == -EAGAIN || w->w_rc == -ENODEV) {
			/* The hardware's: a broken unit (said once), or
			 * its failure (h264_fell_back() said it). */
			if (c->st_h264_dropped++ == 0 && w->w_rc == -EAGAIN)
				log_warnx("H.264: hardware encoder %s gave a "
				    "broken access unit; dropped, counting "
				    "the rest", c->h264hw_name);
			ring_writer_count(&c->h264, 0, 1, 0, 0);
		} else if (w->w_rc != 0 && w->w_rc != -ECANCELED) {
			if (c->st_h264_dropped++ == 0)
				log_warnx("H.264: encoding a %ux%u %s frame "
				    "failed: %s", f->width, f->height,
				    source_format_name(f->fourcc),
				    strerror(-w->w_rc));
			ring_writer_count(&c->h264, 0, 1, 0, 0);
		}
		if (w->w_flags & JOB_REQUESTED)
			kf_lost(&c->kf, now);
		if (w->w_flags & JOB_RESUME)
			c->h264_resume = 1;
	} else if ((slot = h264_begin(c, w->w_len, &cap)) != NULL) {
		memcpy(slot, w->w_out, w->w_len);
		h264_commit(c, f, slot, w->w_len, f->width, f->height,
		    w->w_out_flags, w->w_encode_ns,
		    (w->w_flags & JOB_REQUESTED) != 0);
	} else if (w->w_flags & JOB_REQUESTED)
		kf_lost(&c->kf, now);
	workers_recycle(&c->h264_wk, w);
}

static void
h264_workers_cb(evutil_socket_t fd, short what, void *arg)
{
	struct capture *c = arg;
	struct work *w;

	(void)fd;
	(void)what;
	while ((w = workers_collect(&c->h264_wk)) != NULL)
		h264_finish_job(c, w);
}

void
capture_h264_start(struct capture *c)
{
	int rc;

	if (!c->h264_on)
		return;
	c->h264_engine = c->h264hw != NULL ? ENCODER_M2M :
	    h264enc_available() ? ENCODER_CPU : -1;
	ring_writer_set_encoder(&c->h264, h264_engine_name(c));
	if (!h264enc_available() && c->h264hw == NULL)
		return;
	if (h264enc_available() &&
	    (rc = h264enc_new(&c->h264enc, &c->opt.h264)) != 0)
		fatalx("H.264 encoder: %s", strerror(-rc));
	if ((rc = workers_init(&c->h264_wk, 1, h264_work, c, "h264", 1)) != 0)
		fatalx("H.264 encoder thread: %s", strerror(-rc));
	c->h264_ev = event_new(c->base, workers_fd(&c->h264_wk),
	    EV_READ | EV_PERSIST, h264_workers_cb, c);
	if (c->h264_ev == NULL || event_add(c->h264_ev, NULL) == -1)
		fatalx("event_new failed");
}

void
capture_h264_teardown(struct capture *c)
{
	struct work *w;

	if (c->h264_ev != NULL) {
		workers_drain(&c->h264_wk);
		while ((w = workers_collect(&c->h264_wk)) != NULL)
			workers_recycle(&c->h264_wk, w);
		workers_free(&c->h264_wk);
		event_free(c->h264_ev);
		c->h264_ev = NULL;
	}
	h264enc_free(c->h264enc);
	c->h264enc = NULL;
	m2m_h264_close(c->h264hw);
	c->h264hw = NULL;
	if (c->h264_on)
		ring_writer_destroy(&c->h264);
	c->h264_on = 0;
}

void
capture_h264_source_down(struct capture *c)
{
	/* What the encoder has is published; nothing new goes in until the
	 * source is back, when its rate may be another. */
	if (c->h264_ev == NULL)
		return;
	workers_drain(&c->h264_wk);
	h264_workers_cb(-1, 0, c);
}

void
capture_h264_source_up(struct capture *c)
{
	if (!c->h264_on)
		return;
	/* The encoder's thread is idle: drained when the source went (or
	 * never started), see capture.h. */
	c->h264_fps = h264_rate(c);
	c->h264_resume = 1;
	h264pass_init(&c->h264pass);
	(void)h264_fit(c, h264_bound(c));
}

/* ------------------------------------------------------- a frame */

/*
 * 1 if the encoder's thread takes frames of fourcc: the hardware any raw
 * format (one it does not take makes it fail over to x264), x264 those
 * it converts.  The loop never touches the thread's encoders.
 */
static int
h264_takes(const struct capture *c, uint32_t fourcc)
{
	if (c->h264_ev == NULL || c->h264_engine < 0)
		return 0;
	if (c->h264_engine == ENCODER_M2M && rawformat_find(fourcc) != NULL)
		return 1;
	return c->h264enc != NULL && h264enc_supports(fourcc);
}

/* A camera's H.264: filtered into the slot, or dropped and counted. */
static void
h264_passthrough(struct capture *c, const struct source_frame *f)
{
	struct h264pass_out o;
	uint32_t cap;
	uint8_t *slot;
	int rc;

	if ((slot = h264_begin(c, h264pass_max_out(f->length), &cap)) == NULL)
		return;
	rc = h264pass_filter(&c->h264pass, f->data, f->length, slot, cap, &o);
	if (rc != 0) {
		ring_writer_abort(&c->h264);
		ring_writer_count(&c->h264, 0, 1, 0, 0);
		if (rc != -EAGAIN && c->st_h264_dropped++ == 0)
			log_warnx("%s: dropping a %s %zu-byte H.264 access unit; "
			    "counting the rest", c->src.desc, rc == -ENOTSUP ?
			    "unsupported" : "broken", f->length);
		return;
	}
	h264_commit(c, f, slot, o.len, o.width, o.height,
	    RING_FRAME_PASSTHROUGH | (o.keyframe ? RING_FRAME_KEYFRAME : 0),
	    0, 0);
}

/* The JPEG ring of an H.264 camera: a picture once a second saying so. */
static void
h264_jpeg_notice(struct capture *c, uint64_t now)
{
	if (c->h264_last_jpeg_ns != 0 &&
	    now - c->h264_last_jpeg_ns < IDLE_ENCODE_PERIOD_NS)
		return;
	c->h264_last_jpeg_ns = now;
	capture_publish_picture(c, "H.264 ONLY",
	    "the camera sends H.264: see its H.264 stream");
}

void
capture_h264_frame(struct capture *c, const struct source_frame *f,
    uint64_t now)
{
	unsigned flags = 0;
	int rc;

	/* An upstream capture's "no signal" picture (a network source) is
	 * not the camera's: like a placeholder of our own, it goes into the
	 * JPEG ring only, and the H.264 ring's status says offline. */
	if (f->flags & SOURCE_FRAME_PLACEHOLDER) {
		c->h264_resume = 1;
		return;
	}
	if (f->fourcc == V4L2_PIX_FMT_H264) {
		if (c->h264_on) {
			ring_writer_count(&c->h264, 1, 0, 0, 0);
			if (f->skipped > 0)
				h264pass_lost(&c->h264pass);
			h264_passthrough(c, f);
		}
		h264_jpeg_notice(c, now);
		return;
	}
	if (!h264_takes(c, f->fourcc))
		return;
	ring_writer_count(&c->h264, 1, 0, 0, 0);
	if (c->peers.ps_viewers[CTL_KIND_H264] == 0 && !c->opt.always_encode) {
		ring_writer_count(&c->h264, 0, 0, 1, 0);
		c->h264_resume = 1;
		return;
	}
	if (c->h264_resume)
		flags |= JOB_RESUME;
	if (kf_take(&c->kf, now))
		flags |= JOB_REQUESTED;
	rc = workers_submit(&c->h264_wk, f, flags, NULL);
	if (rc < 0) {
		ring_writer_count(&c->h264, 0, 1, 0, 0);
		c->st_h264_dropped++;
		if (flags & JOB_REQUESTED)
			kf_lost(&c->kf, now);
		return;
	}
	/* 1: the frame still waiting was dropped for this one, which
	 * carries its flags on. */
	if (rc == 1) {
		ring_writer_count(&c->h264, 0, 1, 0, 0);
		c->st_h264_dropped++;
	}
	c->h264_resume = 0;
}

void
capture_h264_keyframe_request(struct capture *c)
{
	if (!c->h264_on)
		return;
	ring_writer_count_requests(&c->h264, 1, 0);
	(void)kf_request(&c->kf, clock_ns(CLOCK_MONOTONIC));
}
