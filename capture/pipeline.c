/*
 * pipeline.c - what happens to a frame between the source and the ring.
 *
 *   source --next()--> rate (software decimation, when the device runs
 *   faster than --fps and cannot be told otherwise)
 *     JPEG:  mjpeg_check() -> dropped and counted, or mjpeg_repair()
 *            straight into the ring slot (one copy, tables inserted
 *            if missing); always, viewers or not: it costs a copy.
 *     raw:   with no viewer anywhere, one frame a second (the snapshot
 *            stays fresh); the rest counted idle and given back.
 *            Encoded into the ring slot on the loop thread (by the
 *            hardware encoder while it works, m2m.h, else by
 *            libjpeg-turbo), or on a worker thread into the job's
 *            buffer, then copied in.
 *     H.264: every frame goes to pipeline_h264.c first (which copies
 *            what it needs), so that its encoder starts while the JPEG
 *            is made; a camera's own H.264 only goes there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/videodev2.h>

#include "capture.h"
#include "log.h"
#include "mjpeg.h"

void
capture_set_status(struct capture *c, enum ring_state state,
    const char *reason)
{
	struct ring_status st;

	memset(&st, 0, sizeof(st));
	st.width = c->last_width;
	st.height = c->last_height;
	st.fps_milli = c->src.fps_milli;
	st.format = c->src.fourcc;
	st.state = state;
	snprintf(st.source, sizeof(st.source), "%s", c->src.desc);
	snprintf(st.reason, sizeof(st.reason), "%s", reason);
	ring_writer_set_status(&c->ring, &st);
	capture_h264_status(c, &st);
}

static uint32_t
ring_capacity(const struct capture *c)
{
	return c->ring.rw_slot_size - RING_SLOT_HEADER_SIZE;
}

int
capture_ring_fit(struct capture *c, size_t need)
{
	struct ring_writer nw;
	uint32_t size;
	int err;

	if (need <= ring_capacity(c))
		return 0;
	if (need < c->src.max_frame)
		need = c->src.max_frame;
	size = ring_slot_size_for(need > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)need);
	if (size - RING_SLOT_HEADER_SIZE < need)
		return -EFBIG;
	/*
	 * Readers may have the ring mapped, and it is sealed against
	 * resizing anyway (ring.h): a new ring replaces it, and the servers
	 * are disconnected so that they attach to the new one, whose
	 * descriptor the welcome brings them.
	 */
	err = ring_writer_create(&nw, c->shm_name, c->ring.rw_slot_count,
	    size);
	if (err != 0) {
		log_warnx("cannot replace the ring for %zu-byte frames: %s",
		    need, strerror(-err));
		return err;
	}
	/* The counters go on where the old ring left them. */
	ring_writer_inherit(&nw, &c->ring);
	log_info("ring replaced: slots of %u bytes for %zu-byte frames; "
	    "servers re-attach", size, need);
	ring_writer_destroy(&c->ring);
	c->ring = nw;
	if (c->life == SOURCE_LIVE)
		capture_set_status(c, c->upstream_offline ? RING_STATE_OFFLINE :
		    RING_STATE_ONLINE, c->upstream_offline ? "upstream offline"
		    : "");
	else
		capture_set_status(c, c->life == SOURCE_STARTING ?
		    RING_STATE_STARTING : RING_STATE_OFFLINE, c->reason);
	peers_close_all(&c->peers, "ring replaced");
	ring_writer_set_peers(&c->ring, 0, 0);
	return 0;
}

void
capture_pipeline_reset(struct capture *c)
{
	uint32_t dev = c->src.fps_device_milli;
	uint32_t rate = dev ? dev : c->src.fps_milli;

	c->interval_ns = 1000000000000ull / c->opt.fps_milli;
	c->due_ns = 0;
	/*
	 * With --fps, frames are always paced by their timestamps: many UVC
	 * cameras accept a rate, report it (G_PARM) and keep sending 30 fps.
	 * A device that keeps its word loses nothing: its frames come at
	 * the interval and all go through (capture_due()).
	 */
	c->decimate = c->opt.fps_given;
	c->last_encode_ns = 0;
	c->frame_timeout_ns = rate ? 4000000000000ull / rate : 0;
	if (c->frame_timeout_ns < FRAME_TIMEOUT_MIN_MS * 1000000ull)
		c->frame_timeout_ns = FRAME_TIMEOUT_MIN_MS * 1000000ull;
	c->last_frame_ns = clock_ns(CLOCK_MONOTONIC);
	c->ring_full_logged = 0;
	if (c->decimate && dev != 0 &&
	    (uint64_t)dev * 100 > (uint64_t)c->opt.fps_milli * 102)
		log_info("%s delivers %u.%03u fps: dropping frames evenly to "
		    "%u.%03u fps", c->src.desc, dev / 1000, dev % 1000,
		    c->opt.fps_milli / 1000, c->opt.fps_milli % 1000);
	else if (c->decimate)
		log_info("%s: --fps %u.%03u, frames paced by their timestamps "
		    "(the device says %u.%03u fps)", c->src.desc,
		    c->opt.fps_milli / 1000, c->opt.fps_milli % 1000,
		    dev / 1000, dev % 1000);
}

/*
 * Software decimation on the capture timestamps: a frame goes through
 * when its time has come, give or take a quarter interval of jitter, and
 * the next one is due an interval later; a source that fell behind
 * starts over instead of bursting to catch up.
 */
static int
capture_due(struct capture *c, uint64_t t)
{
	if (!c->decimate)
		return 1;
	if (c->due_ns != 0 && t + c->interval_ns / 4 < c->due_ns)
		return 0;
	if (c->due_ns == 0 || t > c->due_ns + c->interval_ns)
		c->due_ns = t + c->interval_ns;
	else
		c->due_ns += c->interval_ns;
	return 1;
}

/*
 * 1 if a raw frame need not be encoded now: nobody is watching.  Only a
 * camera's frames are skipped; the test pattern exists to be seen
 * working and always is.
 */
static int
capture_idle(struct capture *c, uint64_t now)
{
	if (c->opt.always_encode || c->peers.ps_viewers[CTL_KIND_JPEG] > 0 ||
	    c->opt.kind != SOURCE_V4L2)
		return 0;
	if (c->last_encode_ns == 0 ||
	    now - c->last_encode_ns + c->interval_ns / 2 >= IDLE_ENCODE_PERIOD_NS)
		return 0;
	return 1;
}

static void
capture_commit(struct capture *c, const struct source_frame *f, uint32_t len,
    uint32_t width, uint32_t height, uint32_t flags)
{
	struct ring_frame rf;
	int rc;

	memset(&rf, 0, sizeof(rf));
	rf.length = len;
	rf.width = width;
	rf.height = height;
	rf.flags = flags;
	rf.capture_real_ns = f->capture_real_ns;
	rf.capture_mono_ns = f->capture_mono_ns;
	rc = ring_writer_commit(&c->ring, &rf);
	if (rc != 0) {
		log_warnx("publish failed: %s", strerror(-rc));
		return;
	}
	c->st_frames++;
	peers_notify(&c->peers);
	service_ready(&c->svc);
}

static void
capture_drop(struct capture *c, uint64_t *counter)
{
	ring_writer_count(&c->ring, 0, 1, 0, 0);
	(*counter)++;
}

/* Opens a slot for a frame of need bytes, growing the ring if it must. */
static uint8_t *
capture_begin(struct capture *c, size_t need, uint32_t *cap)
{
	if (capture_ring_fit(c, need) != 0) {
		if (!c->ring_full_logged++)
			log_warnx("a %zu-byte frame does not fit the ring's "
			    "%u-byte slots: dropped", need, ring_capacity(c));
		return NULL;
	}
	return ring_writer_begin(&c->ring, cap);
}

static void
capture_publish_jpeg(struct capture *c, const struct source_frame *f)
{
	struct mjpeg_info info;
	uint32_t cap;
	uint8_t *slot;
	size_t len;
	int rc;

	rc = mjpeg_check(f->data, f->length, &info);
	if (rc != 0) {
		if (c->st_invalid == 0)
			log_warnx("%s: dropping a broken %zu-byte JPEG frame "
			    "(%s); counting the rest", c->src.desc, f->length,
			    rc == -ENODATA ? "truncated, no EOI" :
			    rc == -ENOMSG ? "no SOI" : rc == -EMSGSIZE ?
			    "too short" : "broken structure");
		capture_drop(c, &c->st_invalid);
		return;
	}
	if ((slot = capture_begin(c, mjpeg_repaired_len(&info), &cap)) ==
	    NULL) {
		capture_drop(c, &c->st_dropped);
		return;
	}
	if (mjpeg_repair(f->data, &info, slot, cap, &len) != 0) {
		ring_writer_abort(&c->ring);
		capture_drop(c, &c->st_dropped);
		return;
	}
	c->last_width = info.width;
	c->last_height = info.height;
	capture_commit(c, f, (uint32_t)len, info.width, info.height,
	    (info.needs_dht ? 0 : RING_FRAME_PASSTHROUGH) |
	    (f->flags & SOURCE_FRAME_PLACEHOLDER ? RING_FRAME_PLACEHOLDER : 0));
}

static void
capture_encode_failed(struct capture *c, const struct source_frame *f,
    int rc)
{
	capture_drop(c, &c->st_failures);
	if (c->st_failures == 1)
		log_warnx("encoding a %ux%u %s frame failed: %s", f->width,
		    f->height, source_format_name(f->fourcc), strerror(-rc));
}

/*
 * The loop thread's encoder: the hardware's while it works.  Any error
 * of it (a stalled queue, a refused ioctl, a broken JPEG) ends its use
 * for good, said once, and this frame and the next go to libjpeg-turbo:
 * the stream goes on.
 */
static int
capture_encode(struct capture *c, const struct rawframe *f, uint8_t *out,
    size_t cap, size_t *len)
{
	char why[200];

	if (c->m2m != NULL) {
		if (m2m_encode(c->m2m, f, out, cap, len, why, sizeof(why)) ==
		    0)
			return 0;
		log_warnx("hardware JPEG encoder %s: %s; encoding on the CPU "
		    "(libjpeg-turbo) from now on", m2m_name(c->m2m), why);
		m2m_close(c->m2m);
		c->m2m = NULL;
	}
	return encoder_encode(&c->enc, f, out, cap, len);
}

static void
capture_publish_raw(struct capture *c, const struct source_frame *f)
{
	uint32_t cap;
	uint8_t *slot;
	size_t len = 0;
	uint64_t t0;
	int rc;

	slot = capture_begin(c, encoder_max_size(f->width, f->height), &cap);
	if (slot == NULL) {
		capture_drop(c, &c->st_dropped);
		return;
	}
	t0 = clock_ns(CLOCK_MONOTONIC);
	rc = capture_encode(c, &f->raw, slot, cap, &len);
	if (rc != 0) {
		ring_writer_abort(&c->ring);
		capture_encode_failed(c, f, rc);
		return;
	}
	c->st_encode_ns += clock_ns(CLOCK_MONOTONIC) - t0;
	c->st_encoded++;
	c->last_width = f->width;
	c->last_height = f->height;
	capture_commit(c, f, (uint32_t)len, f->width, f->height, 0);
}

void
capture_frame(struct capture *c, struct source_frame *f)
{
	struct source_frame old;
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	int rc;

	c->last_frame_ns = now;
	ring_writer_count(&c->ring, 1 + (uint64_t)f->skipped, f->skipped, 0,
	    0);
	c->st_dropped += f->skipped;
	if (!capture_due(c, f->capture_mono_ns)) {
		c->src.ops->release(&c->src, f);
		return;
	}
	capture_h264_frame(c, f, now);
	if (f->fourcc == V4L2_PIX_FMT_H264) {
		c->src.ops->release(&c->src, f);
		return;
	}
	if (source_format_is_jpeg(f->fourcc)) {
		capture_publish_jpeg(c, f);
		c->src.ops->release(&c->src, f);
		return;
	}
	if (capture_idle(c, now)) {
		ring_writer_count(&c->ring, 0, 0, 1, 0);
		c->st_idle++;
		c->src.ops->release(&c->src, f);
		return;
	}
	c->last_encode_ns = now;
	if (!c->use_workers) {
		capture_publish_raw(c, f);
		c->src.ops->release(&c->src, f);
		return;
	}
	rc = workers_submit(&c->wk, f, 0, &old);
	if (rc == 1) {
		/* Overload: the frame that was still waiting is dropped. */
		capture_drop(c, &c->st_dropped);
		c->src.ops->release(&c->src, &old);
	} else if (rc < 0) {
		capture_drop(c, &c->st_dropped);
		c->src.ops->release(&c->src, f);
	}
}

int
capture_work(void *arg, unsigned thread, struct work *w)
{
	struct encoder *enc = (struct encoder *)arg + thread;
	size_t need = encoder_max_size(w->w_frame.width, w->w_frame.height);
	uint8_t *p;

	if (w->w_cap < need) {
		if ((p = realloc(w->w_out, need)) == NULL)
			return -ENOMEM;
		w->w_out = p;
		w->w_cap = need;
	}
	return encoder_encode(enc, &w->w_frame.raw, w->w_out, w->w_cap,
	    &w->w_len);
}

/* Publishes (or drops) one finished job and gives its frame back. */
static void
capture_finish_job(struct capture *c, struct work *w)
{
	const struct source_frame *f = &w->w_frame;
	uint32_t cap;
	uint8_t *slot;

	if (w->w_late) {
		/* Finished after a newer frame: never out of order. */
		capture_drop(c, &c->st_dropped);
	} else if (w->w_rc != 0) {
		capture_encode_failed(c, f, w->w_rc);
	} else if ((slot = capture_begin(c, w->w_len, &cap)) == NULL) {
		capture_drop(c, &c->st_dropped);
	} else {
		memcpy(slot, w->w_out, w->w_len);
		c->st_encode_ns += w->w_encode_ns;
		c->st_encoded++;
		c->last_width = f->width;
		c->last_height = f->height;
		capture_commit(c, f, (uint32_t)w->w_len, f->width, f->height,
		    0);
	}
	c->src.ops->release(&c->src, &w->w_frame);
	workers_recycle(&c->wk, w);
}

void
capture_workers_cb(evutil_socket_t fd, short what, void *arg)
{
	struct capture *c = arg;
	struct work *w;

	(void)fd;
	(void)what;
	while ((w = workers_collect(&c->wk)) != NULL)
		capture_finish_job(c, w);
}

void
capture_workers_flush(struct capture *c)
{
	struct work *w;

	while ((w = workers_collect(&c->wk)) != NULL) {
		w->w_late = 1;	/* the source is going: publish nothing */
		capture_finish_job(c, w);
	}
}

void
capture_publish_placeholder(struct capture *c)
{
	capture_publish_picture(c, "NO SIGNAL", c->reason);
}

void
capture_publish_picture(struct capture *c, const char *title,
    const char *reason)
{
	struct ring_frame rf;
	uint64_t real = clock_ns(CLOCK_REALTIME);
	uint8_t *jpeg = NULL;
	size_t len = 0;
	int rc;

	rc = placeholder_render(&c->ph, title, c->last_width, c->last_height,
	    c->src.desc, reason, real, &jpeg, &len);
	if (rc != 0) {
		log_warnx("placeholder %ux%u: %s", c->last_width,
		    c->last_height, strerror(-rc));
		return;
	}
	if (capture_ring_fit(c, len) != 0) {
		free(jpeg);
		return;
	}
	memset(&rf, 0, sizeof(rf));
	rf.length = (uint32_t)len;
	rf.width = c->last_width;
	rf.height = c->last_height;
	rf.flags = RING_FRAME_PLACEHOLDER;
	rf.capture_real_ns = real;
	rf.capture_mono_ns = clock_ns(CLOCK_MONOTONIC);
	if ((rc = ring_writer_publish(&c->ring, &rf, jpeg)) == 0) {
		peers_notify(&c->peers);
		service_ready(&c->svc);
	} else
		log_warnx("placeholder publish: %s", strerror(-rc));
	free(jpeg);
}
