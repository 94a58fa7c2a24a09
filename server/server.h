/*
 * server.h - shmcam-server's shared structures.
 *
 *   main.c    options, setup, signals
 *   link.c    one camera: the control socket to its capture, the ring,
 *             the eventfd, reconnection, the offline placeholder
 *   frame.c   reference-counted frames copied once out of the ring
 *   stream.c  multipart streaming clients, latest-frame-wins fan-out
 *   http.c    routing and the non-streaming endpoints
 *
 * Everything runs on one libevent loop in one thread.
 */
#ifndef SHMCAM_SERVER_H
#define SHMCAM_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <event2/http.h>

#include "ctl.h"
#include "ring.h"

#define SHMCAM_VERSION		"0.1"
#define SERVER_SOFTWARE		"shmcam/" SHMCAM_VERSION
#define BOUNDARY		"boundarydonotcross"

/* ------------------------------------------------------------- frames */

/*
 * A frame as the server sends it: one buffer laid out as
 *
 *   [room][part headers][JPEG][CRLF "--" BOUNDARY CRLF]
 *          ^f_part_off   ^f_jpeg_off              ^f_end
 *
 * so a streaming client gets one reference (f_part_off..f_end) per frame
 * and a snapshot one reference to the JPEG alone.  Immutable once built;
 * freed (or recycled) when the last reference goes.
 */
#define FRAME_HEAD_ROOM		256
#define FRAME_TRAILER		"\r\n--" BOUNDARY "\r\n"
#define FRAME_TRAILER_LEN	(sizeof(FRAME_TRAILER) - 1)

struct frame_pool;

struct frame {
	unsigned	 f_refs;
	struct frame_pool *f_pool;
	uint64_t	 f_seq;		/* server-local, increasing for ever */
	struct ring_frame f_meta;	/* as read from the ring */
	uint64_t	 f_generation;	/* ring it came from; 0: placeholder */
	int		 f_placeholder;
	uint8_t		*f_buf;
	size_t		 f_cap;
	size_t		 f_part_off;
	size_t		 f_jpeg_off;
	size_t		 f_jpeg_len;
	size_t		 f_end;
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
/* Writes the part headers in front of the JPEG; call once it is in place. */
void	frame_finish(struct frame *f);
struct frame *frame_ref(struct frame *f);
void	frame_unref(struct frame *f);
/* evbuffer_add_reference() cleanup callback: drops one reference. */
void	frame_unref_cb(const void *data, size_t len, void *arg);
/* 1 if buf[0..len) starts with SOI and ends with EOI. */
int	jpeg_looks_complete(const uint8_t *buf, size_t len);

/* ------------------------------------------------------------ cameras */

struct server;
struct stream_client;

enum link_state {
	LINK_IDLE,		/* waiting to (re)connect */
	LINK_HELLO,		/* connected, waiting for the welcome */
	LINK_ATTACHED,		/* ring mapped, eventfd armed */
};

struct camera {
	TAILQ_ENTRY(camera) c_entry;
	struct server	*c_srv;
	char		 c_name[RING_NAME_MAX];
	char		 c_ctl[CTL_PATH_MAX];
	char		 c_prefix[RING_NAME_MAX + 2];	/* "/NAME" or "" */

	/* link to the capture */
	enum link_state	 c_state;
	int		 c_sock;
	struct event	*c_sock_ev;
	int		 c_efd;
	struct event	*c_efd_ev;
	struct event	*c_retry_ev;
	struct event	*c_deadline_ev;	/* welcome must come before it */
	struct event	*c_tick_ev;
	unsigned	 c_backoff_ms;
	struct ring_reader c_ring;
	uint64_t	 c_generation;
	uint64_t	 c_ring_seq;	/* newest ring sequence taken */
	pid_t		 c_capture_pid;
	char		 c_why[96];	/* last reason for not being attached */
	uint32_t	 c_viewers_sent;
	int		 c_viewers_dirty;

	/* frames */
	struct frame_pool c_pool;
	struct frame	*c_latest;	/* newest frame, live or placeholder */
	uint64_t	 c_next_seq;
	uint32_t	 c_width;	/* last known geometry */
	uint32_t	 c_height;
	struct frame	*c_offline;	/* placeholder, rendered once */

	/* streaming clients */
	TAILQ_HEAD(, stream_client) c_clients;
	unsigned	 c_nclients;

	/* counters */
	uint64_t	 c_frames_in;	/* frames taken from the ring */
	uint64_t	 c_frames_skipped; /* ring frames we never took */
	uint64_t	 c_invalid;	/* reads rejected */
	uint64_t	 c_attaches;
};

/* ------------------------------------------------------------- server */

struct server_options {
	int		 allow_root;
	unsigned	 client_timeout_s;
};

struct server {
	struct server_options opt;
	struct event_base *base;
	struct evhttp	*http;
	TAILQ_HEAD(, camera) cameras;
	unsigned	 ncameras;
	uint64_t	 started_real_ns;
};

/* link.c */
struct camera *camera_new(struct server *srv, const char *name,
	    const char *ctl_path);
void	camera_start(struct camera *cam);
void	camera_free(struct camera *cam);
/* Tells the capture how many viewers we have (now, or when possible). */
void	camera_viewers_changed(struct camera *cam);

/* stream.c */
/* Takes over the connection of req and streams cam to it. */
void	stream_start(struct camera *cam, struct evhttp_request *req);
/* A new c_latest: hand it to every client that is ready for one. */
void	stream_broadcast(struct camera *cam);
/* Re-sends the newest frame to clients idle for a second (static or
 * offline source), so browsers paint it and proxies keep the line. */
void	stream_refresh(struct camera *cam);
void	stream_close_all(struct camera *cam);

/* http.c */
int	http_setup(struct server *srv);

uint64_t now_ns(int clock_id);

#endif /* SHMCAM_SERVER_H */
