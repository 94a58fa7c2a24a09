/*
 * attach.h - a reader process's link to one capture: connect to its
 * control socket, say hello, map the rings it hands over, follow them,
 * reconnect with backoff when it goes away.  What every reader role
 * needs and none should write twice (shmcam-rtsp uses it; shmcam-server's
 * server/link.c is the same state machine with its JPEG frames and
 * placeholders around it).
 *
 *   IDLE --connect, hello--> HELLO --welcome: map the JPEG ring--> ATTACHED
 *   ATTACHED --EOF, junk, a stale ring, an eventfd error--> IDLE
 *                                           (retry, backoff 100..500 ms)
 *   ATTACHED: CTL_STREAM maps the ring of another kind (H.264), first or
 *             instead of the one mapped
 *
 * The caller hears of it all through one callback (attach_event below),
 * called from the event loop, never from inside attach_*() functions the
 * caller itself calls except where said.  A ring is mapped from its UP
 * event to its DOWN event; read it in between with ring_read_*() on
 * at_ring[kind].  Every message from the capture is checked (ctl.h), and
 * every ring (ring.h): a capture that sends junk is dropped and
 * reconnected to, never trusted.  Who listens on the control socket is
 * checked before the hello (ctl_connect_capture(): at_capture_uid, by
 * default (uid_t)-1, is --capture-user), and each wake-up descriptor must
 * be an eventfd.
 *
 * Wake-ups: each ring has its own eventfd; attach polls a kind's only
 * while the caller has viewers of it (attach_set_viewers()) or asked for
 * it always (at_poll_always), so a process nobody watches is not woken
 * per frame.  The viewer counts go to the capture (CTL_VIEWERS), which
 * encodes a kind only while someone watches it.
 *
 * One struct attach per camera; everything runs on the caller's event
 * loop thread.  Functions return 0 or -errno.
 */
#ifndef SHMCAM_ATTACH_H
#define SHMCAM_ATTACH_H

#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>

#include "ctl.h"
#include "ring.h"

enum attach_state {
	ATTACH_IDLE,		/* waiting to (re)connect */
	ATTACH_HELLO,		/* connected, waiting for the welcome */
	ATTACH_ATTACHED,	/* JPEG ring mapped */
};

enum attach_event {
	ATTACH_UP,		/* at_ring[kind] mapped: a ring of a new
				 * generation (its sequences start over) */
	ATTACH_WAKEUP,		/* the capture published into at_ring[kind] */
	ATTACH_DOWN,		/* at_ring[kind] is about to be unmapped (the
				 * link was lost: at_why says why, or a new
				 * ring of the kind replaces it) */
};

struct attach;
typedef void attach_cb(struct attach *at, enum attach_event ev,
    enum ctl_kind kind, void *arg);

struct attach {
	struct event_base *at_base;
	char		 at_name[RING_NAME_MAX];
	char		 at_ctl[CTL_PATH_MAX];
	char		 at_label[CTL_LABEL_MAX];
	uint32_t	 at_kinds;	/* CTL_KIND_BIT()s we ask for */
	uint32_t	 at_poll_always; /* kinds polled without viewers */
	uid_t		 at_capture_uid;	/* --capture-user, or -1 */
	attach_cb	*at_cb;
	void		*at_cb_arg;

	enum attach_state at_state;
	int		 at_sock;
	struct event	*at_sock_ev;
	struct event	*at_retry_ev;
	struct event	*at_deadline_ev;	/* the welcome before it */
	struct event	*at_tick_ev;		/* pending messages */
	unsigned	 at_backoff_ms;
	pid_t		 at_capture_pid;
	uint32_t	 at_capture_kinds;	/* what it publishes */
	char		 at_why[128];	/* last reason for not being attached */

	/* per kind */
	int		 at_mapped[CTL_KINDS];
	struct ring_reader at_ring[CTL_KINDS];
	uint64_t	 at_generation[CTL_KINDS];
	uint32_t	 at_fps_milli[CTL_KINDS];	/* as the capture said */
	int		 at_efd[CTL_KINDS];
	struct event	*at_efd_ev[CTL_KINDS];	/* non-NULL while polled */
	uint32_t	 at_viewers[CTL_KINDS];
	uint32_t	 at_viewers_sent[CTL_KINDS];
	int		 at_viewers_dirty;
	int		 at_keyframe_pending;	/* a request waits for room */

	/* counters */
	uint64_t	 at_attaches;
	uint64_t	 at_losses;		/* attached, then lost */
	uint64_t	 at_keyframe_requests;	/* sent to the capture */
};

/*
 * Sets up at for camera name at ctl_path (NULL: ctl_default_path()),
 * asking for kinds and introducing itself as label (for the capture's
 * logs).  Nothing happens before attach_start().  -ENAMETOOLONG,
 * -ENOMEM.
 */
int	attach_init(struct attach *at, struct event_base *base,
	    const char *name, const char *ctl_path, const char *label,
	    uint32_t kinds, attach_cb *cb, void *arg);
/* Connects now (and keeps doing so). */
void	attach_start(struct attach *at);
/* Unmaps, closes, frees the events; no callback. */
void	attach_free(struct attach *at);

/*
 * The caller's viewer count of kind: sent to the capture when it changes
 * (at once, or from the next tick if the control socket is full; the
 * newest count wins), and kind's eventfd polled while it is > 0.
 */
void	attach_set_viewers(struct attach *at, enum ctl_kind kind, uint32_t n);
/*
 * Asks the capture for a keyframe of kind: sent now, or from the next
 * tick if the control socket is full (requests in between are one).  The
 * capture merges and rate-limits requests (ctl.h).  -ENOTCONN if no ring
 * of that kind is mapped.
 */
int	attach_request_keyframe(struct attach *at, enum ctl_kind kind);

/* Drops the link now (the caller found a ring it cannot use): DOWN
 * callbacks, then a reconnection after the backoff. */
void	attach_drop(struct attach *at, const char *why);

const char *attach_state_name(const struct attach *at);

#endif /* SHMCAM_ATTACH_H */
