/*
 * shmcam-capture - owns one camera and publishes its frames as JPEG into a
 * shared-memory ring (common/ring.h), waking every attached server through
 * its own eventfd (common/ctl.h, peers.c).
 *
 * main.c: setup in the order privileges demand (device, ring and control
 * socket first, then the drop to --user), the event loop, and the
 * source's life: when it fails (unplug, ENODEV, EIO, no frame for a
 * while; a network source's connection refused, stalled, closed, junk)
 * it is closed, "no signal" placeholders go out once a second, the ring
 * says OFFLINE and why, and the source is reopened after
 * --retry-interval, the wait doubling up to --retry-max, until it is
 * back.  Servers and their clients never notice more than the
 * placeholder.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "capture.h"
#include "log.h"
#include "mjpeg.h"
#include "opt.h"
#include "sandbox.h"

static void capture_source_cb(evutil_socket_t, short, void *);

/* Errors of a source that is not there (yet), as opposed to a bad one. */
static int
source_absent(int rc)
{
	return rc == -ENOENT || rc == -ENODEV || rc == -ENXIO || rc == -EIO;
}

/* The largest frame the source may bring: as it says, or as encoded. */
static size_t
capture_frame_bound(const struct capture *c)
{
	size_t enc = encoder_max_size(c->src.width, c->src.height);

	return enc > c->src.max_frame ? enc : c->src.max_frame;
}

/*
 * The wait before the next reopen: --retry-interval, doubled after each
 * failure in a row up to --retry-max.  A network source backs off to
 * 10 s by default (a camera that refuses is asked less often; an
 * ESP32-CAM busy with another client gets time to notice), the others
 * are asked at the same pace: a device that is back is seen at once.
 */
static unsigned
capture_retry_ms(const struct capture *c)
{
	unsigned max = c->opt.retry_max_ms != 0 ? c->opt.retry_max_ms :
	    c->opt.kind == SOURCE_NET ? NET_RETRY_MAX_MS : c->opt.retry_ms;
	uint64_t ms = (uint64_t)c->opt.retry_ms <<
	    (c->retry_fails < 20 ? c->retry_fails : 20);

	if (max < c->opt.retry_ms)
		max = c->opt.retry_ms;
	return ms > max ? max : (unsigned)ms;
}

static void
capture_source_up(struct capture *c)
{
	if (c->src.fd != -1) {
		c->src_ev = event_new(c->base, c->src.fd, EV_READ | EV_PERSIST,
		    capture_source_cb, c);
		if (c->src_ev == NULL || event_add(c->src_ev, NULL) == -1)
			fatalx("source events: out of memory");
	}
	c->life = SOURCE_LIVE;
	c->retry_fails = 0;
	c->upstream_offline = 0;
	c->last_width = c->src.width;
	c->last_height = c->src.height;
	(void)capture_ring_fit(c, capture_frame_bound(c));
	capture_h264_source_up(c);
	capture_pipeline_reset(c);
	capture_set_status(c, RING_STATE_ONLINE, "");
	evtimer_del(c->retry_ev);
	evtimer_del(c->ph_ev);
	c->reason[0] = c->retry_why[0] = '\0';
}

/* Closes the source; placeholders and retries until it is back. */
static void
capture_source_down(struct capture *c, const char *why)
{
	struct timeval second = { 1, 0 }, retry;
	unsigned ms;

	/* Whatever the source (a network one has no descriptor): the H.264
	 * thread is drained before the rate it encodes at may change. */
	if (c->life == SOURCE_LIVE)
		capture_h264_source_down(c);
	if (c->src_ev != NULL) {
		if (c->use_workers) {
			workers_drain(&c->wk);
			capture_workers_flush(c);
		}
		event_free(c->src_ev);
		c->src_ev = NULL;
		c->src.ops->close(&c->src);
	} else if (c->src.ops->attach != NULL && c->life != SOURCE_DOWN)
		c->src.ops->close(&c->src);
	c->life = SOURCE_DOWN;
	c->upstream_offline = 0;
	c->retry_fails = 0;
	ms = capture_retry_ms(c);
	snprintf(c->reason, sizeof(c->reason), "%s", why);
	log_warnx("%s lost: %s; publishing \"no signal\", retrying in "
	    "%u.%03u s", c->src.desc, why, ms / 1000, ms % 1000);
	capture_set_status(c, RING_STATE_OFFLINE, why);
	capture_publish_placeholder(c);
	evtimer_add(c->ph_ev, &second);
	retry = ms_tv(ms);
	evtimer_add(c->retry_ev, &retry);
}

/* A reopen failed: said once per distinct reason, tried again later. */
static void
capture_retry_failed(struct capture *c, const char *why)
{
	struct timeval retry;

	if (strcmp(why, c->retry_why) != 0)
		log_info("%s: still gone: %s", c->src.desc, why);
	else
		log_debug("%s: still gone: %s", c->src.desc, why);
	snprintf(c->retry_why, sizeof(c->retry_why), "%s", why);
	/* A network source's loss is often just the connection closing;
	 * why it stays away (refused, 401, 404) is the reason to show. */
	if (c->opt.kind == SOURCE_NET && strcmp(c->reason, why) != 0) {
		snprintf(c->reason, sizeof(c->reason), "%s", why);
		capture_set_status(c, RING_STATE_OFFLINE, c->reason);
	}
	c->retry_fails++;
	retry = ms_tv(capture_retry_ms(c));
	evtimer_add(c->retry_ev, &retry);
}

static void
capture_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct capture *c = arg;
	char why[256] = "";
	int rc;

	(void)fd;
	(void)what;
	rc = c->src.ops->open(&c->src, why, sizeof(why));
	if (rc == -EINPROGRESS)
		return;		/* the sink says how it went */
	if (rc != 0) {
		capture_retry_failed(c, why);
		return;
	}
	ring_writer_count(&c->ring, 0, 0, 0, 1);
	capture_source_up(c);
	log_info("%s is back: %ux%u %s at %u.%03u fps", c->src.desc,
	    c->src.width, c->src.height, source_format_name(c->src.fourcc),
	    c->src.fps_milli / 1000, c->src.fps_milli % 1000);
}

/*
 * A frame from a source that runs on the loop.  Such a source is up at
 * its first frame (a connection alone proves nothing), with that
 * frame's size.
 */
static void
capture_sink_frame(struct source *src, struct source_frame *f, void *arg)
{
	struct capture *c = arg;
	struct mjpeg_info info;
	int back = c->life == SOURCE_DOWN;

	(void)src;
	if (c->life != SOURCE_LIVE) {
		if (mjpeg_check(f->data, f->length, &info) == 0) {
			c->src.width = info.width;
			c->src.height = info.height;
		}
		if (back)
			ring_writer_count(&c->ring, 0, 0, 0, 1);
		capture_source_up(c);
		log_info("%s %s: %ux%u JPEG", c->src.desc, back ? "is back" :
		    "is live", c->src.width, c->src.height);
	}
	/* An upstream shmcam whose own camera is away sends its "offline"
	 * picture: passed on as a placeholder, and the ring says so. */
	if ((f->flags & SOURCE_FRAME_PLACEHOLDER) && !c->upstream_offline) {
		c->upstream_offline = 1;
		capture_set_status(c, RING_STATE_OFFLINE, "upstream offline");
		log_warnx("%s: the upstream's camera is offline; passing its "
		    "placeholder on", c->src.desc);
	} else if (!(f->flags & SOURCE_FRAME_PLACEHOLDER) &&
	    c->upstream_offline) {
		c->upstream_offline = 0;
		capture_set_status(c, RING_STATE_ONLINE, "");
		log_info("%s: live frames from the upstream again",
		    c->src.desc);
	}
	capture_frame(c, f);
	ring_writer_heartbeat(&c->ring, clock_ns(CLOCK_MONOTONIC));
}

/* A source that runs on the loop failed (and closed itself). */
static void
capture_sink_failed(struct source *src, const char *why, void *arg)
{
	struct capture *c = arg;

	(void)src;
	c->src_failures++;
	if (c->life == SOURCE_DOWN)
		capture_retry_failed(c, why);
	else
		capture_source_down(c, why);
}

static void
capture_placeholder_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	capture_publish_placeholder(arg);
}

static void
capture_source_cb(evutil_socket_t fd, short what, void *arg)
{
	struct capture *c = arg;
	struct source_frame f;
	char why[256] = "";
	int rc;

	(void)fd;
	(void)what;
	/*
	 * One frame per wake-up.  The descriptor is level-triggered (the
	 * event has no EV_ET), and so is every source's readiness: a V4L2
	 * device polls readable for as long as a filled buffer waits in
	 * the driver's outgoing queue (V4L2 poll(), the kernel's
	 * userspace-api/media/v4l/func-poll.rst; vb2_core_poll() looks at
	 * its done list), libcamera's V4L2 layer has given an eventfd in
	 * semaphore mode, written once per finished request and read once
	 * per DQBUF, since it could be polled at all (v4l2_compat_manager.cpp,
	 * 2020), and a timerfd stays readable until its expirations are
	 * read.  So a buffer still waiting after this one wakes the loop
	 * again at once, after the loop's other events (servers' hellos,
	 * the heartbeat) had their turn.  Taking every ready buffer at each
	 * wake-up would cost a DQBUF that fails with EAGAIN at nearly every
	 * frame.
	 */
	rc = c->src.ops->next(&c->src, &f, why, sizeof(why));
	if (rc < 0) {
		capture_source_down(c, why);
		return;
	}
	if (rc > 0)
		capture_frame(c, &f);
	ring_writer_heartbeat(&c->ring, clock_ns(CLOCK_MONOTONIC));
}

static void
capture_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct capture *c = arg;
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	double secs = (double)(now - c->st_start_ns) / 1e9;
	char why[64];

	(void)fd;
	(void)what;
	ring_writer_heartbeat(&c->ring, now);
	if (ring_writer_repair(&c->ring))
		log_warnx("ring header was changed by another process; "
		    "restored it");
	/* A device that stops delivering without an error (a stuck USB
	 * camera, a capture card without input) is as good as gone.  (A
	 * network source keeps its own time: --source-timeout.) */
	if (c->src_ev != NULL && now - c->last_frame_ns > c->frame_timeout_ns) {
		snprintf(why, sizeof(why), "no frame for %.1f s",
		    (double)(now - c->last_frame_ns) / 1e9);
		capture_source_down(c, why);
	}
	if (secs < STATS_PERIOD_S)
		return;
	log_info("%s %ux%u: %.1f fps, encode %.2f ms, %llu dropped, "
	    "%llu invalid, %llu idle, %u servers, %u viewers, source lost "
	    "%llu times%s", c->src.desc,
	    c->last_width, c->last_height, (double)c->st_frames / secs,
	    c->st_encoded ? (double)c->st_encode_ns / (double)c->st_encoded /
	    1e6 : 0.0, (unsigned long long)(c->st_dropped + c->st_failures),
	    (unsigned long long)c->st_invalid,
	    (unsigned long long)c->st_idle, c->peers.ps_attached,
	    c->peers.ps_viewers[CTL_KIND_JPEG],
	    (unsigned long long)c->src_failures,
	    c->life == SOURCE_LIVE && !c->upstream_offline ? "" :
	    " (no signal)");
	if (c->h264_on)
		log_info("%s H.264: %.1f fps, %.0f kbit/s, encode %.2f ms, "
		    "%llu dropped, %u viewers", c->src.desc,
		    (double)c->st_h264_frames / secs,
		    (double)c->st_h264_bytes * 8 / secs / 1000,
		    c->st_h264_encoded ? (double)c->st_h264_encode_ns /
		    (double)c->st_h264_encoded / 1e6 : 0.0,
		    (unsigned long long)c->st_h264_dropped,
		    c->peers.ps_viewers[CTL_KIND_H264]);
	c->st_fps = (double)c->st_frames / secs;
	c->st_start_ns = now;
	c->st_frames = c->st_encode_ns = c->st_encoded = c->st_dropped = 0;
	c->st_invalid = c->st_idle = c->st_failures = 0;
	c->st_h264_frames = c->st_h264_bytes = c->st_h264_encode_ns = 0;
	c->st_h264_encoded = c->st_h264_dropped = 0;
}

/* systemd's STATUS= line (service.h). */
static void
capture_status(char *buf, size_t size, void *arg)
{
	struct capture *c = arg;

	snprintf(buf, size, "%.1f fps, %s, %u servers, %u viewers", c->st_fps,
	    ring_state_name(c->ring.rw_status.state), c->peers.ps_attached,
	    c->peers.ps_viewers[CTL_KIND_JPEG] +
	    c->peers.ps_viewers[CTL_KIND_H264]);
}

static void
capture_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct capture *c = arg;

	(void)what;
	log_info("signal %d, stopping", (int)sig);
	event_base_loopbreak(c->base);
}

static void
capture_keyframe_cb(struct peers *ps, void *arg)
{
	(void)ps;
	capture_h264_keyframe_request(arg);
}

static void
capture_viewers_cb(struct peers *ps, void *arg)
{
	(void)arg;
	/* The next frame is encoded (capture_idle() sees the viewers):
	 * a new viewer waits one frame interval at most. */
	log_debug("%u MJPEG viewers, %u H.264 viewers",
	    ps->ps_viewers[CTL_KIND_JPEG], ps->ps_viewers[CTL_KIND_H264]);
}

static gid_t
lookup_group(const char *name)
{
	gid_t gid;

	if (name == NULL)
		return (gid_t)-1;
	if (privs_lookup_group(name, &gid) != 0)
		opt_usage_error("unknown --server-group '%s'", name);
	return gid;
}

/* --source auto: the first usable V4L2 device, else the pattern. */
static void
capture_choose_source(struct capture *c)
{
	if (c->opt.kind != SOURCE_AUTO)
		return;
	if (v4l2_find_device(c->device, sizeof(c->device)) == 0) {
		log_info("--source auto: using %s", c->device);
		c->opt.kind = SOURCE_V4L2;
		c->opt.path = c->device;
		return;
	}
	if (c->opt.list)
		fatalx("--source auto: no V4L2 capture device found to list");
	log_info("--source auto: no V4L2 capture device with a usable format; "
	    "using the test pattern");
	c->opt.kind = SOURCE_PATTERN;
	if (c->opt.ncontrols > 0 || c->opt.fourcc != 0)
		log_warnx("--control and --format apply to V4L2 devices only: "
		    "ignored");
	c->opt.ncontrols = 0;
	c->opt.fourcc = 0;
}

/* Creates and opens the source; 1 if it is open, 0 if not there yet. */
static int
capture_open_source(struct capture *c)
{
	struct source_config sc;
	char why[256] = "";
	int rc;

	memset(&sc, 0, sizeof(sc));
	sc.path = c->opt.path;
	sc.width = c->opt.width;
	sc.height = c->opt.height;
	sc.fps_milli = c->opt.fps_milli;
	sc.fps_given = c->opt.fps_given;
	sc.fourcc = c->opt.fourcc;
	/* Frames held by encoder threads and the one waiting for them must
	 * leave the driver buffers to fill. */
	sc.buffers = c->opt.buffers;
	if (c->opt.workers > 1 && sc.buffers < c->opt.workers + 3)
		sc.buffers = c->opt.workers + 3;
	sc.controls = c->opt.controls;
	sc.ncontrols = c->opt.ncontrols;
	sc.url = &c->opt.url;
	sc.tls_ca = c->opt.tls_ca;
	sc.timeout_ms = c->opt.source_timeout_ms;
	switch (c->opt.kind) {
	case SOURCE_NET:
		/* Opened once the loop exists (capture_setup()). */
		if ((rc = net_source_init(&c->src, &sc)) == -EINVAL)
			exit(2);	/* said why */
		if (rc != 0)
			fatalx("source: %s", strerror(-rc));
		c->life = SOURCE_STARTING;
		return 0;
	case SOURCE_V4L2:
		rc = v4l2_source_init(&c->src, &sc);
		break;
	case SOURCE_DIR:
		rc = dir_source_init(&c->src, &sc);
		break;
	default:
		rc = pattern_source_init(&c->src, &sc);
		break;
	}
	if (rc != 0)
		fatalx("source: %s", strerror(-rc));
	rc = c->src.ops->open(&c->src, why, sizeof(why));
	if (rc == 0)
		return 1;
	if (rc == -EINVAL) {
		fprintf(stderr, "shmcam-capture: %s: %s\n", c->src.desc, why);
		exit(2);
	}
	if (c->opt.kind == SOURCE_PATTERN || !source_absent(rc))
		fatalx("%s: %s", c->src.desc, why);
	snprintf(c->reason, sizeof(c->reason), "%s", why);
	log_warnx("%s: %s; starting without it", c->src.desc, why);
	if (c->opt.ncontrols > 0)
		log_warnx("--control values are checked when the device "
		    "appears");
	return 0;
}

/*
 * After the privilege drop the device is reopened (after an unplug) as
 * --user: keep the group it can be opened through, whatever --group
 * says.  That is the device node's group, or, while the device is not
 * there, the group "video", which owns video devices on Debian (udev).
 */
static void
capture_keep_device_group(struct capture *c)
{
	struct stat st;
	char why[160];
	gid_t gid;

	if (c->opt.kind != SOURCE_V4L2 || !c->privs.drop)
		return;
	if (stat(c->opt.path, &st) == 0)
		gid = st.st_gid;
	else if (privs_lookup_group("video", &gid) != 0)
		return;
	if (privs_keep_group(&c->privs, gid, why, sizeof(why)) != 0)
		opt_usage_error("%s", why);
}

/*
 * --encoder: the hardware JPEG encoder, opened while we may (its node
 * may need the video group the capture drops), and readied for the
 * source's frames if it is there.  Not found, or not one: the CPU, or
 * with --encoder m2m an exit.  Found and failing later: the CPU
 * (pipeline.c), the stream goes on.
 */
static void
capture_setup_m2m(struct capture *c, int live)
{
	const struct rawformat *f = live ? rawformat_find(c->src.fourcc) :
	    NULL;
	const char *dev = c->opt.m2m_path;
	char path[PATH_MAX], why[256];
	int must = c->opt.encoder == ENCODER_M2M;

	if (c->opt.encoder == ENCODER_CPU)
		return;
	if (c->use_workers) {
		log_info("--workers %u: raw frames are encoded on the CPU",
		    c->opt.workers);
		return;
	}
	/* JPEG from the camera: nothing to encode but placeholders. */
	if (live && f == NULL)
		return;
	if (dev == NULL) {
		if (m2m_find("/dev/video*", path, sizeof(path)) != 0) {
			if (must)
				fatalx("--encoder m2m: no V4L2 memory-to-memory "
				    "JPEG encoder among /dev/video*");
			return;
		}
		dev = path;
	}
	if (m2m_open(&c->m2m, dev, c->opt.quality, why, sizeof(why)) != 0) {
		if (must)
			fatalx("--encoder: %s", why);
		log_info("%s: encoding on the CPU", why);
		return;
	}
	if (f != NULL && !m2m_takes(c->m2m, f)) {
		if (must)
			fatalx("--encoder: %s does not take %s frames",
			    m2m_name(c->m2m), f->rf_name);
		log_info("%s does not take %s frames: encoding on the CPU",
		    m2m_name(c->m2m), f->rf_name);
		m2m_close(c->m2m);
		c->m2m = NULL;
		return;
	}
	if (!m2m_has_quality(c->m2m))
		log_info("%s has no JPEG quality control: it encodes at a "
		    "quality of its own, not --quality's", m2m_name(c->m2m));
	log_info("raw frames are encoded by %s, a V4L2 memory-to-memory "
	    "encoder; by libjpeg-turbo if it fails", m2m_name(c->m2m));
	/* Ready for the first frame, while a failure is cheap to report. */
	if (f != NULL && m2m_configure(c->m2m, f, c->src.width,
	    c->src.height, why, sizeof(why)) != 0) {
		log_warnx("hardware JPEG encoder %s: %s; encoding on the CPU "
		    "(libjpeg-turbo) from now on", m2m_name(c->m2m), why);
		m2m_close(c->m2m);
		c->m2m = NULL;
	}
}

/*
 * Which filter (common/sandbox.h): the capture's, or with a V4L2 layer
 * in the process, as the device showed at its open, or as LD_PRELOAD
 * says (a device that is not there yet, and libcamera, which starts
 * its threads whatever device is opened).  why[] names the evidence.
 */
static enum sandbox_program
capture_sandbox(const struct capture *c, char *why, size_t whylen)
{
	const char *preload = getenv("LD_PRELOAD");

	if (c->opt.kind == SOURCE_V4L2 && c->src.layer[0] != '\0') {
		snprintf(why, whylen, "%s", c->src.layer);
		return SANDBOX_CAPTURE_V4L2_LAYER;
	}
	if (preload != NULL && *preload != '\0') {
		snprintf(why, whylen, "LD_PRELOAD=%s", preload);
		return SANDBOX_CAPTURE_V4L2_LAYER;
	}
	return SANDBOX_CAPTURE;
}

static void
capture_setup(struct capture *c)
{
	struct timeval second = { 1, 0 };
	char why[256];
	uint32_t bound;
	int rc, fd, live;

	/* Before the privilege drop: the file may be root's alone. */
	capture_read_credentials(&c->opt);
	c->server_gid = lookup_group(c->opt.server_group);
	if (privs_resolve(&c->privs, c->opt.user, c->opt.group, why,
	    sizeof(why)) != 0)
		opt_usage_error("%s", why);
	if (!c->privs.drop && (c->opt.user != NULL || c->opt.group != NULL))
		log_info("not running as root: --user and --group ignored");

	capture_choose_source(c);
	if (c->opt.list) {
		rc = v4l2_list(c->opt.path, stdout, why, sizeof(why));
		if (rc != 0)
			fatalx("--list: %s", why);
		fflush(stdout);
		exit(0);
	}
	live = capture_open_source(c);
	c->last_width = c->src.width;
	c->last_height = c->src.height;
	capture_keep_device_group(c);

	c->use_workers = c->opt.workers > 1 && c->opt.kind == SOURCE_V4L2;
	if (c->opt.workers > 1 && !c->use_workers)
		log_info("--workers: %s is encoded on the loop thread",
		    c->src.desc);
	if ((rc = encoder_init(&c->enc, c->opt.quality)) != 0)
		fatalx("JPEG encoder: %s", strerror(-rc));
	capture_setup_m2m(c, live);
	if ((rc = placeholder_init(&c->ph)) != 0)
		fatalx("placeholder encoder: %s", strerror(-rc));
	if (c->use_workers) {
		c->wenc = calloc(c->opt.workers, sizeof(*c->wenc));
		if (c->wenc == NULL)
			fatalx("encoders: out of memory");
		for (unsigned i = 0; i < c->opt.workers; i++)
			if (encoder_init(&c->wenc[i], c->opt.quality) != 0)
				fatalx("JPEG encoder %u failed", i);
	}

	/* Slots for the largest frame the source can bring. */
	bound = (uint32_t)capture_frame_bound(c);
	snprintf(c->shm_name, sizeof(c->shm_name), "shmcam-%s", c->opt.name);
	rc = ring_writer_create(&c->ring, c->shm_name, c->opt.slots,
	    ring_slot_size_for(bound));
	if (rc != 0)
		fatalx("ring %s: %s", c->shm_name, strerror(-rc));
	capture_h264_setup(c);
	capture_set_status(c, live || c->life == SOURCE_STARTING ?
	    RING_STATE_STARTING : RING_STATE_OFFLINE, live ||
	    c->life == SOURCE_STARTING ? "" : c->reason);

	if (c->opt.ctl_path != NULL)
		snprintf(c->ctl_path, sizeof(c->ctl_path), "%s",
		    c->opt.ctl_path);
	else if (ctl_default_path(c->opt.name, c->ctl_path,
	    sizeof(c->ctl_path)) != 0)
		fatalx("default control socket path too long; use --ctl");
	fd = ctl_listen(c->ctl_path, 0660, c->server_gid, why, sizeof(why));
	if (fd < 0)
		fatalx("control socket: %s", why);

	/* Everything that needs root is open: from here on, never root. */
	privs_drop(&c->privs);

	if ((c->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	if (peers_init(&c->peers, c->base, fd, &c->ring) != 0)
		fatalx("control socket events: out of memory");
	c->peers.ps_viewers_cb = capture_viewers_cb;
	c->peers.ps_keyframe_cb = capture_keyframe_cb;
	c->peers.ps_cb_arg = c;
	if (c->h264_on)
		peers_set_h264(&c->peers, &c->h264);
	c->tick_ev = event_new(c->base, -1, EV_PERSIST, capture_tick_cb, c);
	c->retry_ev = evtimer_new(c->base, capture_retry_cb, c);
	c->ph_ev = event_new(c->base, -1, EV_PERSIST, capture_placeholder_cb,
	    c);
	c->sigint_ev = evsignal_new(c->base, SIGINT, capture_signal_cb, c);
	c->sigterm_ev = evsignal_new(c->base, SIGTERM, capture_signal_cb, c);
	if (c->tick_ev == NULL || c->retry_ev == NULL || c->ph_ev == NULL ||
	    c->sigint_ev == NULL || c->sigterm_ev == NULL)
		fatalx("event_new failed");
	event_add(c->tick_ev, &second);
	event_add(c->sigint_ev, NULL);
	event_add(c->sigterm_ev, NULL);
	if (service_init(&c->svc, c->base, capture_status, c) != 0)
		fatalx("service manager notification events: out of memory");
	c->st_fps = c->src.fps_milli / 1000.0;

	if (c->src.ops->attach != NULL) {
		const struct source_sink sink = {
			.frame = capture_sink_frame,
			.failed = capture_sink_failed,
			.arg = c,
		};

		rc = c->src.ops->attach(&c->src, c->base, &sink, why,
		    sizeof(why));
		if (rc == -EINVAL) {
			fprintf(stderr, "shmcam-capture: %s: %s\n",
			    c->src.desc, why);
			exit(2);
		}
		if (rc != 0)
			fatalx("%s: %s", c->src.desc, why);
	}

	/* Set up: from here on, nothing but capturing and serving
	 * (common/sandbox.h). */
	if (!c->opt.no_sandbox) {
		enum sandbox_program prog = capture_sandbox(c, why,
		    sizeof(why));
		unsigned net = c->opt.kind != SOURCE_NET ? 0 :
		    SANDBOX_NET_TCP | (url_host_is_address(&c->opt.url) ? 0 :
		    SANDBOX_NET_DNS);

		if ((rc = sandbox_apply_net(prog, net)) != 0)
			fatalx("sandbox: %s", strerror(-rc));
		if (prog == SANDBOX_CAPTURE_V4L2_LAYER)
			log_info("sandbox: system call filter on, with the "
			    "calls of a V4L2 layer in this process (%s): "
			    "pipes, ppoll, memfds, DMA buffers", why);
		else
			log_info("sandbox: system call filter on%s", net == 0 ?
			    "" : net & SANDBOX_NET_DNS ? " (with TCP and DNS)" :
			    " (with TCP)");
	}
	/* Threads after the filter, so they are under it whatever the
	 * kernel lets sandbox_apply() do to threads already running. */
	if (c->use_workers) {
		rc = workers_init(&c->wk, c->opt.workers, capture_work,
		    c->wenc, "encode", 0);
		if (rc != 0)
			fatalx("encoder threads: %s", strerror(-rc));
		c->wk_ev = event_new(c->base, workers_fd(&c->wk),
		    EV_READ | EV_PERSIST, capture_workers_cb, c);
		if (c->wk_ev == NULL || event_add(c->wk_ev, NULL) == -1)
			fatalx("event_new failed");
	}
	capture_h264_start(c);
	c->st_start_ns = clock_ns(CLOCK_MONOTONIC);
	if (c->life == SOURCE_STARTING)
		log_info("capturing %s (JPEG frames at the size and rate it "
		    "sends%s) into ring %s, control socket %s",
		    c->src.desc, c->opt.fps_given ? ", at most --fps" : "",
		    c->shm_name, c->ctl_path);
	else
		log_info("capturing %s %ux%u %s at %u.%03u fps into ring %s, "
		    "control socket %s", c->src.desc, c->src.width,
		    c->src.height, live ? source_format_name(c->src.fourcc) :
		    "(format when it appears)", c->src.fps_milli / 1000,
		    c->src.fps_milli % 1000, c->shm_name, c->ctl_path);
	if (live)
		capture_source_up(c);
	else if (c->life == SOURCE_STARTING) {
		why[0] = '\0';
		rc = c->src.ops->open(&c->src, why, sizeof(why));
		if (rc != -EINPROGRESS)
			capture_source_down(c, rc == 0 ? "no frame" : why);
	} else {
		snprintf(why, sizeof(why), "%s", c->reason);
		capture_source_down(c, why);
	}
}

static void
capture_teardown(struct capture *c)
{
	if (c->use_workers) {
		workers_drain(&c->wk);
		capture_workers_flush(c);
		workers_free(&c->wk);
		for (unsigned i = 0; i < c->opt.workers; i++)
			encoder_free(&c->wenc[i]);
		free(c->wenc);
		event_free(c->wk_ev);
	}
	if (c->src_ev != NULL)
		event_free(c->src_ev);
	event_free(c->tick_ev);
	event_free(c->retry_ev);
	event_free(c->ph_ev);
	event_free(c->sigint_ev);
	event_free(c->sigterm_ev);
	service_free(&c->svc);
	peers_free(&c->peers);
	capture_h264_teardown(c);
	/* After the drop this may fail (a root-owned directory); the next
	 * capture replaces a stale socket anyway. */
	if (unlink(c->ctl_path) == -1 && errno != ENOENT)
		log_debug("unlink %s: %s", c->ctl_path, strerror(errno));
	ring_writer_destroy(&c->ring);
	if (c->src.ops != NULL)
		c->src.ops->destroy(&c->src);
	encoder_free(&c->enc);
	m2m_close(c->m2m);
	placeholder_free(&c->ph);
	event_base_free(c->base);
}

int
main(int argc, char **argv)
{
	struct capture c;

	memset(&c, 0, sizeof(c));
	log_init(argv[0]);
	capture_parse_options(&c.opt, argc, argv);
	signal(SIGPIPE, SIG_IGN);
	capture_setup(&c);
	event_base_dispatch(c.base);
	service_stopping(&c.svc);
	capture_teardown(&c);
	return 0;
}
