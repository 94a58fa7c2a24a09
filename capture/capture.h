/*
 * capture.h - shmcam-capture's shared state.
 *
 *   main.c      setup, privilege drop, the loop, losing and regaining
 *               the source
 *   options.c   the command line
 *   pipeline.c  what happens to a frame: rate, validation or encoding,
 *               publishing, "no signal" placeholders, the ring's size
 *   pipeline_h264.c  the same for the H.264 ring: the encoder's thread
 *               (the hardware's or x264), cameras' own H.264, keyframes
 *               on request
 *   source.h    the sources (pattern.c, v4l2.c, v4l2_info.c, dir.c,
 *               net.c with multipart.c, httpresp.c, httpauth.c, url.c)
 *   encode.c, m2m.c, m2m_h264.c, mjpeg.c, h264enc.c, h264pass.c,
 *   keyframe.c,
 *   workers.c, placeholder.c, privs.c, peers.c
 *
 * Everything here is touched by the loop thread only; encoder threads
 * see only their own job and encoder (workers.h), and the H.264 thread
 * h264enc, h264hw (which it closes when the hardware fails, writing
 * h264hw_why, and says so in the job's result) and h264_fps, which the
 * loop thread changes only while that thread has nothing to do
 * (drained).
 */
#ifndef SHMCAM_CAPTURE_H
#define SHMCAM_CAPTURE_H

#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>

#include "ctl.h"
#include "encode.h"
#include "h264enc.h"
#include "h264pass.h"
#include "keyframe.h"
#include "m2m.h"
#include "m2m_h264.h"
#include "opt.h"
#include "peers.h"
#include "placeholder.h"
#include "privs.h"
#include "ring.h"
#include "service.h"
#include "source.h"
#include "workers.h"

#define STATS_PERIOD_S		5
#define FRAME_TIMEOUT_MIN_MS	2000	/* no frame this long: device lost */
#define IDLE_ENCODE_PERIOD_NS	1000000000ull	/* one frame a second */
#define NET_TIMEOUT_MS		5000	/* --source-timeout */
#define NET_RETRY_MAX_MS	10000	/* --retry-max of network sources */

/* --encoder, --h264-encoder: who encodes raw frames to JPEG, H.264. */
enum capture_encoder {
	ENCODER_AUTO,		/* a memory-to-memory encoder if one is found */
	ENCODER_CPU,		/* libjpeg-turbo, x264 */
	ENCODER_M2M,		/* a memory-to-memory encoder, or exit */
};

enum source_kind {
	SOURCE_AUTO,
	SOURCE_PATTERN,
	SOURCE_V4L2,
	SOURCE_DIR,
	SOURCE_NET,
};

/* Where the source is, as the loop sees it. */
enum source_life {
	SOURCE_STARTING,	/* a network source's first open() under way */
	SOURCE_LIVE,		/* delivering */
	SOURCE_DOWN,		/* lost: placeholders, reopened with backoff */
};

struct capture_options {
	const char	*name;
	const char	*ctl_path;
	enum source_kind kind;
	const char	*path;		/* v4l2: device, dir: directory */
	struct url	 url;		/* net: --source, then --credentials */
	const char	*credentials;	/* --credentials FILE */
	const char	*tls_ca;	/* --tls-ca FILE */
	unsigned	 source_timeout_ms;
	const char	*server_group;
	const char	*user;
	const char	*group;
	uint32_t	 width;
	uint32_t	 height;
	uint32_t	 fps_milli;
	int		 fps_given;
	int		 quality;
	uint32_t	 slots;
	uint32_t	 fourcc;	/* 0: auto */
	enum capture_encoder encoder;
	const char	*m2m_path;	/* --encoder m2m:PATH, else NULL */
	unsigned	 buffers;
	unsigned	 workers;
	unsigned	 retry_ms;
	unsigned	 retry_max_ms;	/* 0: the source's default */
	int		 always_encode;
	struct h264_settings h264;
	enum capture_encoder h264_encoder;
	const char	*h264_m2m_path;	/* --h264-encoder m2m:PATH, else NULL */
	int		 list;
	int		 no_sandbox;
	struct source_control controls[SOURCE_CONTROLS_MAX];
	unsigned	 ncontrols;
};

struct capture {
	struct capture_options opt;
	struct event_base *base;
	struct source	 src;
	char		 device[256];	/* --source auto's choice */
	struct ring_writer ring;
	struct peers	 peers;
	struct service	 svc;		/* sd_notify: ready, status, watchdog */
	struct encoder	 enc;		/* the loop thread's */
	struct m2m	*m2m;		/* the hardware encoder, until it fails */
	struct encoder	*wenc;		/* one per worker thread */
	struct workers	 wk;
	int		 use_workers;
	struct placeholder ph;
	struct privs	 privs;
	gid_t		 server_gid;	/* (gid_t)-1: the process's */
	enum source_life life;
	struct event	*src_ev;	/* a descriptor source's, while live */
	struct event	*wk_ev;
	struct event	*tick_ev;
	struct event	*retry_ev;
	struct event	*ph_ev;
	struct event	*sigint_ev;
	struct event	*sigterm_ev;
	char		 ctl_path[CTL_PATH_MAX];
	char		 shm_name[RING_NAME_MAX];

	/* while the source is gone */
	char		 reason[RING_TEXT_MAX];
	char		 retry_why[256];
	unsigned	 retry_fails;	/* reopen attempts failed in a row */
	uint64_t	 src_failures;	/* the source lost, all told */
	int		 upstream_offline; /* a network source shows its own
					    * placeholder */
	uint32_t	 last_width;	/* placeholders are drawn this size */
	uint32_t	 last_height;

	/* rate: software decimation when the device cannot slow down */
	int		 decimate;
	uint64_t	 interval_ns;
	uint64_t	 due_ns;

	/* idle: raw frames are encoded once a second with no viewer */
	uint64_t	 last_encode_ns;
	uint64_t	 last_frame_ns;
	uint64_t	 frame_timeout_ns;
	int		 ring_full_logged;

	/* H.264 (pipeline_h264.c) */
	int		 h264_on;	/* the H.264 ring exists */
	struct ring_writer h264;
	char		 h264_shm_name[RING_NAME_MAX];
	struct h264enc	*h264enc;	/* the H.264 thread's; NULL: none */
	struct m2m_h264	*h264hw;	/* the H.264 thread's, while it works */
	char		 h264hw_name[128]; /* the loop's copy of its name */
	char		 h264hw_why[256]; /* why it failed: written by the
					  * thread once, before the job that
					  * says so (H264_JOB_FELL_BACK) */
	int		 h264_engine;	/* the loop's view: ENCODER_CPU (x264),
					 * ENCODER_M2M, -1: none */
	int		 h264_ended;	/* the hardware failed, no x264 */
	struct workers	 h264_wk;	/* that thread, copy mode */
	struct event	*h264_ev;
	uint32_t	 h264_fps;	/* the encoder's rate (see above) */
	struct h264pass	 h264pass;	/* a camera's own H.264 */
	struct kf_limit	 kf;
	int		 h264_resume;	/* next frame encoded: a keyframe */
	uint64_t	 h264_last_jpeg_ns; /* H.264 camera: JPEG ring's picture */
	uint8_t		 h264_params[RING_PARAMS_MAX]; /* as in the header */
	uint32_t	 h264_params_len;
	int		 h264_full_logged;

	/* statistics since the last stats line */
	uint64_t	 st_start_ns;
	double		 st_fps;	/* over the last stats period */
	uint64_t	 st_frames;
	uint64_t	 st_encode_ns;
	uint64_t	 st_encoded;
	uint64_t	 st_dropped;
	uint64_t	 st_invalid;
	uint64_t	 st_idle;
	uint64_t	 st_failures;
	uint64_t	 st_h264_frames;
	uint64_t	 st_h264_bytes;
	uint64_t	 st_h264_encode_ns;
	uint64_t	 st_h264_encoded;
	uint64_t	 st_h264_dropped;	/* broken, overload, failed */
};

/* options.c */
void	capture_parse_options(struct capture_options *o, int argc,
	    char **argv);
/* --credentials FILE into o->url (exits 2 if it cannot). */
void	capture_read_credentials(struct capture_options *o);

/* pipeline.c */
/* Takes a frame from the source through to the ring; releases it. */
void	capture_frame(struct capture *c, struct source_frame *f);
void	capture_workers_cb(evutil_socket_t fd, short what, void *arg);
/* Collects every job after workers_drain(), releasing their frames. */
void	capture_workers_flush(struct capture *c);
void	capture_publish_placeholder(struct capture *c);
/* The same picture with another title and reason, in the JPEG ring. */
void	capture_publish_picture(struct capture *c, const char *title,
	    const char *reason);
void	capture_set_status(struct capture *c, enum ring_state state,
	    const char *reason);
/* Rate and idle state for a source that just came up. */
void	capture_pipeline_reset(struct capture *c);
/*
 * Makes the ring's slots hold frames of need bytes, replacing the ring
 * (and disconnecting the servers, who re-attach) if they do not.  0 or
 * -errno; on failure the old ring stays.
 */
int	capture_ring_fit(struct capture *c, size_t need);
/* The worker threads' encode function (arg: the encoder array). */
int	capture_work(void *arg, unsigned thread, struct work *w);

/* pipeline_h264.c */
/* Before the privilege drop: the H.264 ring, if H.264 is on. */
void	capture_h264_setup(struct capture *c);
/* After the sandbox: the encoder and its thread. */
void	capture_h264_start(struct capture *c);
void	capture_h264_teardown(struct capture *c);
/* A frame from the source, on its way to the H.264 ring (f stays the
 * caller's). */
void	capture_h264_frame(struct capture *c, const struct source_frame *f,
	    uint64_t now);
/* The source went away (frames in the encoder still come out), or came
 * back (its rate, its frames' size). */
void	capture_h264_source_down(struct capture *c);
void	capture_h264_source_up(struct capture *c);
/* A server asked for a keyframe (CTL_KEYFRAME). */
void	capture_h264_keyframe_request(struct capture *c);
/* Sets the H.264 ring's status like the JPEG ring's. */
void	capture_h264_status(struct capture *c, const struct ring_status *st);

#endif /* SHMCAM_CAPTURE_H */
