/*
 * server.h - shmcam-server's shared structures.
 *
 *   main.c    options, setup, signals
 *   listen.c  listening sockets (TCP, unix, systemd socket activation),
 *             accept errors, per-connection request deadline
 *   link.c    one camera: frames taken out of its JPEG ring, the offline
 *             placeholder, fps, its tick; the link to its capture is
 *             common/attach.c, whose events link.c turns into those
 *   frame.c   reference-counted frames copied once out of the ring
 *   stream.c  streaming clients: the connection, sending shared frames,
 *             multipart MJPEG with latest-frame-wins fan-out
 *   sendpolicy.c  when a client takes its next frame (sendpolicy.h: a
 *             pure decision over the client's state and TCP_INFO)
 *   mp4stream.c  H.264 as fragmented MP4: one mux per camera, clients
 *             that start and resume at keyframes
 *   mp4.c     the fragmented MP4 box writer (pure)
 *   hlsstream.c  LL-HLS: one segmenter per camera, its window of parts
 *             and segments, playlist and file requests, held requests
 *   hls.c     LL-HLS names, directives, playlists and decisions (pure)
 *   http.c    routing, access control and the non-streaming endpoints
 *   route.c   request-line parsing: paths, cameras, query parameters
 *   auth.c    HTTP Basic credentials: the auth file, constant-time checks
 *   state.c   /state (JSON) and /metrics (Prometheus text)
 *   page.c    the HTML viewer page served at /
 *
 * Everything runs on one libevent loop in one thread.
 */
#ifndef SHMCAM_SERVER_H
#define SHMCAM_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "attach.h"
#include "clock.h"
#include "ctl.h"
#include "hls.h"
#include "json.h"
#include "mp4.h"
#include "opt.h"
#include "ring.h"
#include "sendpolicy.h"

#define SERVER_SOFTWARE		"shmcam/" SHMCAM_VERSION
#define BOUNDARY		"boundarydonotcross"

/* ------------------------------------------------------------- frames */

/*
 * A frame as the server sends it: one buffer laid out as
 *
 *   [room][part headers][JPEG][CRLF "--" BOUNDARY CRLF][advance headers]
 *          ^f_part_off   ^f_jpeg_off              ^f_end           ^f_adv_end
 *
 * so a streaming client gets one reference (f_part_off..f_end) per frame,
 * an advance_headers=1 client one reference (f_jpeg_off..f_adv_end), and
 * a snapshot one reference to the JPEG alone.  Immutable once built;
 * freed (or recycled) when the last reference goes.
 *
 * An MP4 fragment or init segment (mp4stream.c) is a frame of the same
 * kind, framed as an HTTP chunk:
 *
 *   [room]["%zx" CRLF][moof + mdat][CRLF]
 *          ^f_part_off ^f_jpeg_off     ^f_end  (f_jpeg_len: the MP4 bytes)
 *
 * so a chunked (HTTP/1.1) client gets f_part_off..f_end and an HTTP/1.0
 * one the MP4 bytes alone.
 */
#define FRAME_HEAD_ROOM		256
#define FRAME_TRAILER		"\r\n--" BOUNDARY "\r\n"
#define FRAME_TRAILER_LEN	(sizeof(FRAME_TRAILER) - 1)
/* The next part's headers, sent early to advance_headers=1 clients. */
#define FRAME_ADVANCE		"Content-Type: image/jpeg\r\n\r\n"
#define FRAME_ADVANCE_LEN	(sizeof(FRAME_ADVANCE) - 1)

struct frame_pool;

/* What a frame that is not live video stands for. */
enum frame_placeholder {
	FRAME_LIVE = 0,
	FRAME_OFFLINE = 1,	/* ours: the capture is unreachable */
	FRAME_NO_SIGNAL = 2,	/* the capture's: its source is gone */
};

struct frame {
	unsigned	 f_refs;
	struct frame_pool *f_pool;
	uint64_t	 f_seq;		/* server-local, increasing for ever */
	struct ring_frame f_meta;	/* as read from the ring */
	uint64_t	 f_generation;	/* ring it came from; 0: placeholder */
	uint64_t	 f_epoch;	/* MP4: the parameter sets it needs */
	int		 f_placeholder;	/* enum frame_placeholder */
	uint8_t		*f_buf;
	size_t		 f_cap;
	size_t		 f_part_off;
	size_t		 f_jpeg_off;
	size_t		 f_jpeg_len;
	size_t		 f_end;
	size_t		 f_adv_end;
	TAILQ_ENTRY(frame) f_free;
};

struct frame_pool {
	TAILQ_HEAD(, frame) fp_free;
	unsigned	 fp_nfree;
	unsigned	 fp_live;	/* frames handed out, not yet back */
};

void	frame_pool_init(struct frame_pool *fp);
void	frame_pool_drain(struct frame_pool *fp);
/* A frame whose buffer holds a JPEG of up to jpeg_cap bytes; refs = 1. */
struct frame *frame_get(struct frame_pool *fp, size_t jpeg_cap);
/* The JPEG bytes f's buffer holds (at least what frame_get() was asked). */
size_t	frame_jpeg_cap(const struct frame *f);
/*
 * The newest frame of ring r after sequence after, copied into a frame of
 * fp whose buffer is sized by *hint (the length of the frames so far,
 * updated here): a frame larger than that is read again into a bigger
 * buffer.  0 and *out (refs = 1, metadata and JPEG in place, not yet
 * finished), or ring_read_latest()'s error, -ENOMEM.
 */
int	frame_read_ring(struct frame_pool *fp, struct ring_reader *r,
	    uint64_t after, size_t *hint, struct frame **out);
/* Writes the part headers in front of the JPEG; call once it is in place. */
void	frame_finish(struct frame *f);
struct frame *frame_ref(struct frame *f);
void	frame_unref(struct frame *f);
/* evbuffer_add_reference() cleanup callback: drops one reference. */
void	frame_unref_cb(const void *data, size_t len, void *arg);
/* The X-Shmcam-Placeholder value for f ("offline", "no-signal"), or NULL
 * for live video. */
const char *frame_placeholder_name(const struct frame *f);
/* The same as a part header line with its CRLF, or "" for live video. */
const char *frame_placeholder_header(const struct frame *f);
/* 1 if buf[0..len) starts with SOI and ends with EOI. */
int	jpeg_looks_complete(const uint8_t *buf, size_t len);

/* ------------------------------------------------------------ cameras */

/* Latency histogram buckets (upper bounds, seconds), shared by /metrics. */
#define HIST_NBUCKETS	12
extern const double hist_bounds[HIST_NBUCKETS];

struct histogram {
	uint64_t	 h_count[HIST_NBUCKETS + 1];	/* last: +Inf */
	uint64_t	 h_n;
	double		 h_sum;			/* seconds */
};

void	histogram_add(struct histogram *h, uint64_t ns, uint64_t n);

/* Per-client options of a stream, from its query string. */
struct stream_params {
	uint64_t	 sp_interval_ns;	/* fps=N: 1e9 / N; 0: no cap */
	double		 sp_fps;
	int		 sp_advance_headers;
	int		 sp_extra_headers;
	char		 sp_key[64];
};


struct server;
struct stream_client;

enum stream_kind {
	STREAM_MJPEG,		/* multipart JPEG (stream.c) */
	STREAM_MP4,		/* H.264 in fragmented MP4 (mp4stream.c) */
};

/*
 * A camera's MP4 mux (mp4stream.c): the H.264 ring's access units turned
 * into MP4 fragments once, shared by reference by all its MP4 clients.
 */
#define MP4_PARAMS_MAX	1024	/* bytes of an SPS or a PPS we keep */

struct mp4_mux {
	struct frame_pool mx_pool;
	struct frame	*mx_init;	/* init segment of mx_epoch */
	uint64_t	 mx_init_hash;	/* hls_hash() of its MP4 bytes */
	struct frame	*mx_latest;	/* newest fragment, or NULL */
	uint64_t	 mx_epoch;	/* +1 whenever the SPS or PPS change */
	uint8_t		 mx_sps[MP4_PARAMS_MAX];
	size_t		 mx_sps_len;
	uint8_t		 mx_pps[MP4_PARAMS_MAX];
	size_t		 mx_pps_len;
	uint32_t	 mx_width;	/* from the SPS */
	uint32_t	 mx_height;
	uint64_t	 mx_ring_seq;	/* newest ring sequence taken */
	int		 mx_broken;	/* a frame was lost: nothing published
					 * until the next keyframe */
	struct mp4_timeline mx_timeline;
	uint64_t	 mx_next_seq;	/* f_seq of fragments, increasing */
	uint8_t		*mx_buf;	/* one access unit out of the ring */
	size_t		 mx_cap;

	TAILQ_HEAD(, stream_client) mx_clients;
	unsigned	 mx_nclients;

	/* counters */
	uint64_t	 mx_frames_in;	/* access units taken from the ring */
	uint64_t	 mx_keyframes_in;
	uint64_t	 mx_lost;	/* ring frames overwritten before read */
	uint64_t	 mx_dropped;	/* not published: waiting for a key */
	uint64_t	 mx_invalid;	/* refused: not H.264 we can write */
	uint64_t	 mx_frames_sent;
	uint64_t	 mx_bytes_sent;
	uint64_t	 mx_clients_total;
	uint64_t	 mx_keyframes_requested;
	uint64_t	 mx_keyframes_served;	/* clients started or resumed */
	uint64_t	 mx_skips;	/* clients that fell behind and skipped
					 * to the next keyframe */
	uint64_t	 mx_ends;	/* responses ended: parameters changed */

	/* what the capture publishes, as rates over the last tick */
	uint64_t	 mx_rate_ns;	/* CLOCK_MONOTONIC of the last copy */
	uint64_t	 mx_rate_generation;
	struct ring_counters mx_rate_prev;
	double		 mx_bitrate;	/* bit/s */
	double		 mx_encode_s;	/* seconds per encoded frame */
};

/*
 * A camera's LL-HLS segmenter (hlsstream.c): the access units the MP4 mux
 * takes from the H.264 ring, cut into parts and segments once, shared by
 * reference by every request; the window (hls.h) says what they are.
 * Active while HLS requests come (and for HLS_IDLE_S after the last),
 * counted then as one H.264 viewer so that the capture encodes.
 */
#define HLS_PENDING_MAX	256	/* frames of the open part */

struct hls_pending {		/* a frame of the open part */
	size_t		 hp_off;	/* in hl_pbuf */
	size_t		 hp_len;
	uint64_t	 hp_seq;
	uint64_t	 hp_dts;
	uint64_t	 hp_real_ns;
	int		 hp_key;
};

struct hls_held;

struct hls_mux {
	int		 hl_active;
	uint64_t	 hl_last_request_ns;	/* CLOCK_MONOTONIC */
	struct frame_pool hl_pool;
	struct hls_window hl_win;
	/* the MP4 bytes of each part, and each segment's init segment,
	 * indexed like hl_win.segs */
	struct frame	*hl_parts[HLS_SEGMENTS_MAX][HLS_PARTS_MAX];
	struct frame	*hl_inits[HLS_SEGMENTS_MAX];
	size_t		 hl_bytes;		/* of all parts held */
	uint64_t	 hl_version;		/* +1 at every window change */
	struct frame	*hl_playlist;		/* its text, built once */
	uint64_t	 hl_playlist_version;

	/* the segmenter */
	struct hls_cutter hl_cut;
	struct mp4_timeline hl_timeline;
	uint64_t	 hl_generation;		/* ring of the frames taken */
	uint32_t	 hl_fps_milli;		/* its nominal rate and GOP, as */
	uint32_t	 hl_gop;		/* last read (0: not yet) */
	uint32_t	 hl_target_nominal;	/* target duration they give */
	uint64_t	 hl_last_seq;		/* newest frame taken, 0: none */
	int		 hl_numbered;		/* hl_last_msn is this run's */
	uint64_t	 hl_last_msn;		/* newest segment's numbers */
	uint64_t	 hl_last_dsn;
	int		 hl_break;		/* next segment: discontinuity */
	uint64_t	 hl_seg_start;		/* decode time of its keyframe */
	int		 hl_key_asked;		/* a keyframe asked for in it */
	struct hls_pending hl_pend[HLS_PENDING_MAX];
	unsigned	 hl_npend;
	uint8_t		*hl_pbuf;		/* their access units */
	size_t		 hl_plen;
	size_t		 hl_pcap;

	TAILQ_HEAD(, hls_held) hl_held;
	unsigned	 hl_nheld;

	/* counters */
	uint64_t	 hl_requests_playlist;
	uint64_t	 hl_requests_blocking;	/* with _HLS_msn */
	uint64_t	 hl_requests_part;
	uint64_t	 hl_requests_segment;
	uint64_t	 hl_requests_init;
	uint64_t	 hl_held_total;		/* requests that had to wait */
	uint64_t	 hl_held_timeouts;	/* 503 after 3 target durations */
	uint64_t	 hl_too_far;		/* 400: beyond what may be asked */
	uint64_t	 hl_not_found;		/* 404: parts gone or never made */
	uint64_t	 hl_bytes_sent;
	uint64_t	 hl_parts_made;
	uint64_t	 hl_segments_made;
	uint64_t	 hl_breaks;		/* discontinuities */
	uint64_t	 hl_stalls;		/* pauses of the source longer
						 * than a part */
	uint64_t	 hl_frames_skipped;	/* waiting for a keyframe */
	uint64_t	 hl_keyframes_requested; /* a segment about to outgrow
						 * the target duration */
	uint64_t	 hl_activations;
};

struct camera {
	TAILQ_ENTRY(camera) c_entry;
	struct server	*c_srv;
	char		 c_name[RING_NAME_MAX];
	char		 c_prefix[RING_NAME_MAX + 2];	/* "/NAME" or "" */

	/*
	 * The link to the capture (attach.h): its rings at
	 * c_at.at_ring[CTL_KIND_JPEG] (mapped while attached) and
	 * [CTL_KIND_H264] (while at_mapped[CTL_KIND_H264]), the reason it
	 * is not attached in at_why, the attaches and losses it counts.
	 * The JPEG eventfd is polled whenever attached, the H.264 one only
	 * while c_h264_viewers > 0, so a server with no H.264 viewer is
	 * not woken for H.264 frames.  The delivery code sets
	 * c_h264_viewers and calls camera_viewers_changed(), asks for
	 * keyframes with camera_request_keyframe(), and hears of the H.264
	 * ring through mp4_h264_event().
	 */
	struct attach	 c_at;
	struct event	*c_tick_ev;
	uint64_t	 c_ring_seq;	/* newest JPEG ring sequence taken */
	size_t		 c_frame_hint;	/* frame buffer size: frame_read_ring() */
	double		 c_fps;		/* frames published, last second */
	uint64_t	 c_interval_ns;	/* between frames, smoothed */
	uint64_t	 c_latest_ns;	/* CLOCK_MONOTONIC of the newest */
	uint64_t	 c_fps_seq;	/* ring sequence at the last measure */
	uint64_t	 c_fps_ns;	/* CLOCK_MONOTONIC of that measure */
	int		 c_tick_idle;	/* armed for TICK_IDLE_MS */
	uint32_t	 c_h264_viewers;	/* MP4 clients, HLS */

	/* frames */
	struct frame_pool c_pool;
	struct frame	*c_latest;	/* newest frame, live or placeholder */
	uint64_t	 c_next_seq;
	uint32_t	 c_width;	/* last known geometry */
	uint32_t	 c_height;
	struct frame	*c_offline;	/* placeholder, rendered once */

	/* streaming clients: MJPEG here, MP4 in c_mp4 */
	TAILQ_HEAD(, stream_client) c_clients;
	unsigned	 c_nclients;
	struct mp4_mux	 c_mp4;
	struct hls_mux	 c_hls;

	/* counters */
	uint64_t	 c_frames_in;	/* frames taken from the ring */
	uint64_t	 c_frames_skipped; /* ring frames we never took */
	uint64_t	 c_invalid;	/* reads rejected */
	uint64_t	 c_frames_sent;	/* frames queued to clients */
	uint64_t	 c_frames_dropped; /* frames clients skipped */
	uint64_t	 c_bytes_sent;
	uint64_t	 c_clients_total;
	uint64_t	 c_clients_stalled;
	uint64_t	 c_decisions[WHY_N];	/* send policy verdicts */
	struct histogram c_hist_latency;	/* publish -> send */
	struct histogram c_hist_age;		/* capture -> send */
};

/*
 * A streaming client.  sc_queued_* describe the frame last handed to it;
 * it is "in flight" while our output buffer or the kernel still holds
 * part of it.
 */
struct stream_client {
	TAILQ_ENTRY(stream_client) sc_entry;
	struct camera	*sc_cam;
	enum stream_kind sc_kind;
	struct evhttp_connection *sc_evcon;
	struct bufferevent *sc_bev;
	int		 sc_fd;
	int		 sc_family;		/* AF_INET, AF_INET6, AF_UNIX */
	struct stream_params sc_params;
	uint64_t	 sc_last_seq;		/* frame last queued */
	uint64_t	 sc_last_push_ns;	/* CLOCK_MONOTONIC of that */
	uint64_t	 sc_last_capture_ns;	/* its capture, CLOCK_MONOTONIC */
	uint64_t	 sc_last_len;		/* its bytes on the wire */
	uint64_t	 sc_next_due_ns;	/* fps cap: not before this */
	uint64_t	 sc_start_ns;
	uint64_t	 sc_start_real_ns;
	uint64_t	 sc_frames;
	uint64_t	 sc_bytes;
	uint64_t	 sc_dropped;		/* newer frames it never got */
	uint64_t	 sc_deferred;		/* frames held back: path queue */
	/* The send policy's last inputs and verdict (stream_decide()). */
	struct send_path sc_net;
	struct send_rate_max sc_rate_max;
	struct send_verdict sc_verdict;
	uint64_t	 sc_ours;		/* our buffer's bytes then */
	uint64_t	 sc_decided_ns;		/* when (CLOCK_MONOTONIC) */
	uint64_t	 sc_backlog_ns;		/* a queue found at every
						 * decision since (0: none) */
	char		 sc_addr[80];
	char		 sc_path[64];

	/* MP4: sc_last_seq is the last fragment's f_seq */
	int		 sc_chunked;		/* HTTP/1.1: chunked body */
	int		 sc_waiting;		/* for a keyframe to (re)start */
	int		 sc_ending;		/* last chunk queued: close when
						 * it has left */
	uint64_t	 sc_epoch;		/* init segment sent for */
	uint64_t	 sc_keyframes;		/* starts and resumes */
	uint64_t	 sc_skips;		/* fell behind, skipped to a key */
	uint64_t	 sc_first_frame_ns;	/* CLOCK_MONOTONIC of its first
						 * keyframe, 0 before */
};

/* ------------------------------------------------------------- server */

/* Where to listen: a TCP address or a unix socket path. */
struct listen_spec {
	int		 ls_unix;
	char		 ls_host[256];	/* TCP: numeric address or name */
	unsigned	 ls_port;
	char		 ls_path[108];	/* unix: sizeof(sun_path) */
};

struct server_options {
	int		 allow_root;
	unsigned	 client_timeout_s;	/* stalled stream clients */
	unsigned	 request_timeout_s;	/* a whole request head */
	unsigned	 max_clients;		/* stream clients, all cameras */
	int		 trust_proxy;		/* X-Forwarded-For */
	const char	*allow_origin;		/* NULL: no CORS header */
	const char	*auth_file;
	const char	**auth_exempt;		/* paths served without auth */
	unsigned	 nauth_exempt;
	struct listen_spec *listen;
	unsigned	 nlisten;
	unsigned	 unix_mode;
	int		 send_bound;		/* the send policy looks at the
						 * kernel's figures */
	int		 keyframe_requests;	/* ask the capture for H.264
						 * keyframes for MP4 clients */
	uid_t		 capture_uid;		/* --capture-user, or -1 */
	int		 no_sandbox;		/* no seccomp filter */
};


struct listener;
struct conn_guard;
struct auth;
struct service;

struct server {
	struct server_options opt;
	struct event_base *base;
	struct evhttp	*http;
	TAILQ_HEAD(, camera) cameras;
	unsigned	 ncameras;
	TAILQ_HEAD(, listener) listeners;
	TAILQ_HEAD(, conn_guard) guards;	/* connections between requests */
	unsigned	 nguards;
	struct auth	*auth;
	struct service	*svc;			/* READY=1 once accepting */
	int		 accepting;		/* listeners enabled */
	struct event	*hold_ev;		/* accept at the latest then */
	uint64_t	 started_real_ns;
	uint64_t	 started_mono_ns;
	unsigned	 nstreams;		/* stream clients, all cameras */
	unsigned	 nheld;			/* HLS requests held, all
						 * cameras: they count toward
						 * --max-clients too */

	/* counters */
	uint64_t	 requests;
	uint64_t	 rejected_busy;		/* 503: --max-clients */
	uint64_t	 rejected_auth;		/* 401 */
	uint64_t	 request_timeouts;	/* slow request heads closed */
	uint64_t	 requests_abandoned;	/* held, the client left */
	uint64_t	 accept_pauses;		/* out of descriptors */
};

/* link.c */
struct camera *camera_new(struct server *srv, const char *name,
	    const char *ctl_path);
void	camera_start(struct camera *cam);
/* Closes its clients and its link to the capture and frees its events;
 * call before event_base_free(). */
void	camera_stop(struct camera *cam);
/*
 * Frees the camera, its frames and their pool (camera_stop() first if it
 * was not).  Connections, stream clients' and snapshots', hold frame
 * references in their output buffers until their bufferevents are
 * finalized, which libevent defers to its loop or to event_base_free():
 * call this after event_base_free(), or the last frame_unref() writes
 * into a freed pool.
 */
void	camera_free(struct camera *cam);
/*
 * Tells the capture how many viewers we have of each kind (c_nclients
 * MJPEG, c_h264_viewers H.264), now or when possible (attach.h), and
 * polls the H.264 eventfd while there are H.264 viewers.
 */
void	camera_viewers_changed(struct camera *cam);
/*
 * Takes the ring's newest frame as c_latest if it is newer.  A server is
 * woken for frames only while it has stream clients (ctl.h): without,
 * c_latest is as old as the last frame taken, so a first client, a
 * snapshot, /state and /metrics call this before they look at it.
 */
void	camera_refresh(struct camera *cam);
/*
 * Asks the capture for an H.264 keyframe (a viewer starts):
 * attach_request_keyframe().  -ENOTCONN if no H.264 ring is mapped.
 */
int	camera_request_keyframe(struct camera *cam);

/* stream.c */
/* Takes over the connection of req and streams cam to it. */
void	stream_start(struct camera *cam, struct evhttp_request *req,
	    const struct stream_params *sp, const char *addr);
/*
 * What every kind of stream shares: takes over the connection of req
 * (socket options, callbacks, timeouts) and lists the client; the caller
 * writes its response head next.  NULL (and a 503 sent) on failure.
 */
struct stream_client *stream_client_new(struct camera *cam,
	    struct evhttp_request *req, const struct stream_params *sp,
	    const char *addr, enum stream_kind kind);
/* Logs why, frees the client and its connection; safe in callbacks. */
void	stream_client_close(struct stream_client *sc, const char *reason);
/* Sends f->f_buf[off..off+len) to sc, by reference; 0, or -1 if sc was
 * closed (out of memory). */
int	stream_client_send(struct stream_client *sc, struct frame *f,
	    size_t off, size_t len);
/*
 * The one place a client gets a frame: f, if it has not had it (or, with
 * repeat, once more), when the send policy says so (sendpolicy.h); it is
 * queued by its kind's push (MJPEG parts here, MP4 fragments by
 * mp4_push()).  1 if sent, 0 if not now (which an MP4 client reads as
 * "skip to the next keyframe"), -1 if the client was closed (stalled).
 */
int	stream_offer(struct stream_client *sc, struct frame *f, uint64_t now,
	    int repeat);
/* Closes sc if it has had bytes queued and taken no frame for the client
 * timeout: -1 (closed), else 0. */
int	stream_client_check_stall(struct stream_client *sc, uint64_t now);
/* A new c_latest: hand it to every client that is ready for one. */
void	stream_broadcast(struct camera *cam);
/* Re-sends the newest frame to clients idle for a second (static or
 * offline source), so browsers paint it and proxies keep the line. */
void	stream_refresh(struct camera *cam);
void	stream_close_all(struct camera *cam);
/* Bytes queued for a client: ours plus the kernel's send queue. */
size_t	stream_client_queued(const struct stream_client *sc,
	    size_t *kernel);

/* mp4stream.c */
void	mp4_camera_init(struct camera *cam);
void	mp4_camera_free(struct camera *cam);
/* What attach says of the H.264 ring (c_at.at_ring[CTL_KIND_H264]):
 * mapped (UP), published into (WAKEUP), about to go (DOWN). */
void	mp4_h264_event(struct camera *cam, enum attach_event ev);
/* Takes over the connection of req and streams cam's H.264 to it. */
void	mp4_start(struct camera *cam, struct evhttp_request *req,
	    const struct stream_params *sp, const char *addr);
/* sc's output has drained. */
void	mp4_client_drained(struct stream_client *sc);
/* Queues fragment f for sc, which the send policy let take it (with
 * the init segment first, if sc starts); 0, or -1 if sc was closed. */
int	mp4_push(struct stream_client *sc, struct frame *f, uint64_t now);
/* Once a second: stalled clients. */
void	mp4_tick(struct camera *cam);
/* Closes every MP4 client, each with a clean end of its response where
 * nothing of it is still queued (server shutdown). */
void	mp4_close_all(struct camera *cam, const char *why);
/* 1 if the camera's capture publishes H.264 (or may: not yet known). */
int	mp4_available(const struct camera *cam);

/* hlsstream.c */
void	hls_camera_init(struct camera *cam);
void	hls_camera_free(struct camera *cam);
/* GET or HEAD of /hls.m3u8 (query: the raw query string or NULL). */
void	hls_playlist_request(struct camera *cam, struct evhttp_request *req,
	    const char *query);
/* GET or HEAD of /hls/NAME (name[0..len), checked by route_parse()). */
void	hls_file_request(struct camera *cam, struct evhttp_request *req,
	    const char *name, size_t len);
/* An access unit the MP4 mux took from the ring and found sound (key:
 * an IDR picture whose parameter sets are now c_mp4's init segment). */
void	hls_frame(struct camera *cam, const struct ring_frame *meta,
	    const uint8_t *au, int key);
/* What attach said of the H.264 ring (passed on by mp4stream.c). */
void	hls_h264_event(struct camera *cam, enum attach_event ev);
/* Once a second: held requests past their time, an idle segmenter. */
void	hls_tick(struct camera *cam);
/* H.264 viewers HLS stands for: 1 while active, else 0. */
unsigned hls_viewers(const struct camera *cam);

/* listen.c */
/* Parses "HOST:PORT", "[V6]:PORT" or ":PORT"; 0 or -1. */
int	listen_parse(const char *s, struct listen_spec *ls);
/* Binds every --listen and --unix, adopts sockets passed by systemd;
 * fatal on failure.  Nothing is accepted yet: see listen_hold(). */
void	listen_setup(struct server *srv);
/*
 * Accepts connections once every camera has a frame to answer with (the
 * capture's first, or the offline picture when there is no capture), and
 * in any case after LISTEN_HOLD_MS.  Meanwhile requests wait in the
 * listening sockets' backlog: a server started, or restarted by systemd
 * with its sockets, answers its first requests with a live frame rather
 * than 503 "no frame yet".
 */
void	listen_hold(struct server *srv);
/* A camera has a frame: accept if every camera has one (listen_hold()). */
void	listen_camera_ready(struct server *srv);
void	listen_free(struct server *srv);
/* evhttp_set_bevcb() callback: starts the request deadline of a new
 * connection. */
struct bufferevent *conn_new_bev(struct event_base *base, void *arg);
/* A request arrived on evcon: not a stream (deadline re-armed for the
 * next one), or a stream about to start (guard released, the stream code
 * owns the connection).  May be called first with 0, then with 1. */
void	conn_request_done(struct server *srv, struct evhttp_connection *evcon,
	    int streaming);
/*
 * While a request on evcon is held unanswered (hlsstream.c), cb(evcon,
 * arg) runs if the connection is closed first (its request deadline, the
 * server shutting down), before evhttp frees the request; a NULL cb ends
 * that.  Meanwhile the peer's FIN closes the connection at once (evhttp
 * itself reads nothing from a connection whose request is unanswered).
 */
void	conn_watch(struct server *srv, struct evhttp_connection *evcon,
	    void (*cb)(struct evhttp_connection *, void *), void *arg);
/* 1 if evcon's closing will be heard of (its close callback is the
 * guard's, which cancels the credentials checks waiting for it). */
int	conn_guarded(struct server *srv, struct evhttp_connection *evcon);
/* The request that arrived on evcon is complete and waits for its answer
 * (its credentials being checked): no deadline until conn_request_done()
 * says the answer has gone. */
void	conn_request_waits(struct server *srv, struct evhttp_connection *evcon);

/* route.c */
enum route {
	ROUTE_NONE,
	ROUTE_INDEX,
	ROUTE_STREAM,
	ROUTE_MP4,		/* /stream.mp4 */
	ROUTE_SNAPSHOT,
	ROUTE_STATE,
	ROUTE_METRICS,
	ROUTE_REDIRECT,		/* /NAME -> /NAME/ */
	ROUTE_HLS,		/* /hls.m3u8 */
	ROUTE_HLS_FILE,		/* /hls/NAME: hls_name_parse() takes it */
};
/*
 * The route of a path (pathlen bytes, no query) and raw query string (or
 * NULL).  camera gets the NAME of /NAME/... paths, "" for top-level ones.
 */
enum route route_parse(const char *path, size_t pathlen, const char *query,
	    char *camera, size_t camsize);
/*
 * Finds name=value (or a bare name) in a raw query string, lenient as
 * above.  Returns the value's length + 1 (so a bare name gives 1) and
 * sets *value, or 0 if the name is absent.
 */
size_t	query_param(const char *query, const char *name, const char **value);
/* fps=, key=, advance_headers=, extra_headers=; -EINVAL for a bad fps. */
int	stream_params_parse(const char *query, struct stream_params *sp);

/* auth.c */
enum auth_result {
	AUTH_OK,		/* the credentials are valid */
	AUTH_DENIED,		/* none, or wrong: 401 */
	AUTH_THROTTLED,		/* too many failures from the address: 429 */
	AUTH_BUSY,		/* too many checks waiting: 503 */
	AUTH_PENDING,		/* being checked: the answer comes later */
};
/* The answer to an AUTH_PENDING request: AUTH_OK (who is the user) or
 * AUTH_DENIED (who is NULL). */
typedef void auth_done_fn(void *arg, int result, const char *who);
int	auth_new(struct auth **ap);
/* Adds a user; pass is a plain password or a crypt(3) hash. */
int	auth_add(struct auth *a, const char *user, const char *pass);
/* Reads --auth-file; on failure err says which line and why. */
int	auth_load(struct auth **ap, const char *path, char *err,
	    size_t errlen);
unsigned auth_count(const struct auth *a);
/* 1 if the Authorization header value names a user and the right
 * password (the user's name then in who), else 0.  On the calling
 * thread, however long a hash takes; no throttling. */
int	auth_check(struct auth *a, const char *header, char *who,
	    size_t whosize);
/*
 * The hashing thread's wake-up (an eventfd and its event on base):
 * before the sandbox, which allows no eventfd2.  Then auth_start() starts
 * the thread, after the sandbox (which it thus runs under).  Both do
 * nothing when no entry is a crypt(3) hash.  0 or -errno.
 */
int	auth_setup(struct auth *a, struct event_base *base);
int	auth_start(struct auth *a);
/*
 * Checks the Authorization header value of a request from client
 * address addr (as http_peer_addr() gives it; the port is ignored):
 * AUTH_OK with the user in who, AUTH_DENIED, AUTH_THROTTLED with
 * *retry_after seconds, AUTH_BUSY, or AUTH_PENDING: a crypt(3) hash must
 * decide, on the hashing thread, and done(arg, result, who) is called
 * from the loop when it has, unless auth_cancel(key) came first (key:
 * the request's connection; NULL to check on the loop instead).
 */
int	auth_request(struct auth *a, const char *header, const char *addr,
	    char *who, size_t whosize, unsigned *retry_after,
	    auth_done_fn *done, void *arg, const void *key);
/* The connection key is closing: the answers for it are dropped. */
void	auth_cancel(struct auth *a, const void *key);
/*
 * For credentials checked elsewhere (shmcam-rtsp's Digest), throttled
 * with auth_request()'s: auth_admit() answers AUTH_THROTTLED (with
 * *retry_after seconds) while addr may not fail once more, else AUTH_OK;
 * auth_failed() counts a failure of addr's.
 */
int	auth_admit(struct auth *a, const char *addr, unsigned *retry_after);
void	auth_failed(struct auth *a, const char *addr);
/* Forgets every address's failures (for the fuzzer, whose inputs would
 * otherwise throttle each other). */
void	auth_throttle_forget(struct auth *a);
/* Requests answered AUTH_THROTTLED so far. */
uint64_t auth_throttled(const struct auth *a);
void	auth_free(struct auth *a);
/* One line of the file: 1 and the fields, 0 for a comment or blank
 * line, -EINVAL if malformed. */
int	auth_parse_line(const char *line, char *user, size_t usize,
	    char *pass, size_t psize);
/* "Basic base64(user:pass)": 0 and the fields, or -EINVAL. */
int	auth_decode_basic(const char *header, char *user, size_t usize,
	    char *pass, size_t psize);
int	auth_is_hash(const char *pass);
/* 1 if a[0..n) == b[0..n); time independent of where they differ. */
int	ct_equal(const void *a, const void *b, size_t n);

/* http.c */
/* An empty server with every option at its default (the command line,
 * or a test, then changes them). */
void	server_init(struct server *srv);
int	http_setup(struct server *srv);
/* Printable peer address of a connection (and of the client behind a
 * trusted proxy). */
void	http_peer_addr(struct server *srv, struct evhttp_request *req,
	    char *buf, size_t size);
/* Server and CORS headers, which every response carries. */
void	http_common_headers(struct evhttp_request *req);
/* An error response with a one-line text body, never cached. */
void	http_error(struct evhttp_request *req, int code, const char *reason,
	    const char *text);
/* 1 if one more stream or held request would exceed --max-clients (and
 * then a 503 was sent and counted). */
int	http_busy(struct server *srv, struct evhttp_request *req);

/* state.c */
void	state_json(struct server *srv, struct camera *only,
	    struct evbuffer *out);
void	state_metrics(struct server *srv, struct evbuffer *out);

/* page.c */
/* The viewer page of cam, or the list of cameras if cam is NULL. */
void	page_index(struct server *srv, struct camera *cam, struct evbuffer *out);


#endif /* SHMCAM_SERVER_H */
