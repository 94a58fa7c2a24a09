/*
 * capture.h - shmcam-capture's shared state.
 *
 *   main.c      setup, privilege drop, the loop, losing and regaining
 *               the source
 *   options.c   the command line
 *   pipeline.c  what happens to a frame: rate, validation or encoding,
 *               publishing, "no signal" placeholders, the ring's size
 *   source.h    the sources (pattern.c, v4l2.c, v4l2_info.c, dir.c,
 *               net.c with multipart.c, httpresp.c, httpauth.c, url.c)
 *   encode.c, m2m.c, mjpeg.c, workers.c, placeholder.c, privs.c, peers.c
 *
 * Everything here is touched by the loop thread only; encoder threads
 * see only their own job and encoder (workers.h).
 */
#ifndef SHMCAM_CAPTURE_H
#define SHMCAM_CAPTURE_H

#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>

#include "ctl.h"
#include "encode.h"
#include "m2m.h"
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
#define SOURCE_DRAIN_MAX	32	/* frames taken per wake-up, at most */
#define IDLE_ENCODE_PERIOD_NS	1000000000ull	/* one frame a second */
#define NET_TIMEOUT_MS		5000	/* --source-timeout */
#define NET_RETRY_MAX_MS	10000	/* --retry-max of network sources */

/* --encoder: who encodes raw frames to JPEG. */
enum capture_encoder {
	ENCODER_AUTO,		/* a memory-to-memory encoder if one is found */
	ENCODER_CPU,		/* libjpeg-turbo */
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

#endif /* SHMCAM_CAPTURE_H */
