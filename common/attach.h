/*
 * attach.h - a reader process's link to one capture: connect to its
 * control socket, say hello, map the rings it hands over, follow them,
 * reconnect with backoff when it goes away, and tell the capture what
 * the reader needs (viewer counts, keyframes).  Both readers use it:
 * shmcam-server (server/link.c, with its JPEG frames and placeholders
 * around it) and shmcam-rtsp (rtsp/media.c).
 *
 *   IDLE --connect, hello--> HELLO --welcome: map the JPEG ring--> ATTACHED
 *   HELLO --refused, junk, no welcome in 2 s--> IDLE
 *   ATTACHED --EOF, junk, a stale ring, attach_drop()--> IDLE
 *   IDLE --backoff 100..500 ms--> connect again
 *   ATTACHED: CTL_STREAM maps the ring of another kind (H.264), first or
 *             instead of the one mapped
 *
 * The caller hears of it all through one callback (attach_event below),
 * called from the event loop, or from the attach_*() function the caller
 * called where that says so.  A ring is mapped from its UP event to its
 * DOWN event; read it in between with ring_read_*() on at_ring[kind].
 * The callback may call attach_drop() from an UP or WAKEUP event (a ring
 * it cannot use): the DOWN and WAITING events then come from within that
 * call, and attach goes no further with the link.  Every message from the
 * capture is checked (ctl.h), and every ring (ring.h): a capture that
 * sends junk is dropped and reconnected to, never trusted.  Who listens
 * on the control socket is checked before the hello
 * (ctl_connect_capture(): at_capture_uid, by default (uid_t)-1, is
 * --capture-user), and each wake-up descriptor must be an eventfd
 * (ctl_fd_is_eventfd()).
 *
 * Wake-ups: each ring has its own eventfd, polled edge-triggered and
 * never read.  An eventfd wakes its waiters at every write whatever its
 * counter holds, so each publish of the capture is an edge of its own,
 * and the read that would reset the counter is a system call per frame
 * saved.  The counter holds 2^64 - 2 writes (the capture takes EAGAIN as
 * a wake-up pending), and the descriptor was checked to be an eventfd
 * when mapped, so there is nothing a read could find wrong.  A kind's
 * eventfd is polled only while the caller has viewers of it
 * (attach_set_viewers()) or asks for it always (at_poll_always); the
 * capture writes it only for readers that reported viewers of the kind
 * (capture/peers.c), so a process nobody watches is not woken per frame.
 *
 * No timer runs while nothing is pending: the welcome's deadline while
 * in HELLO, the reconnection's while IDLE, and while ATTACHED a one-shot
 * retry (ATTACH_RETRY_MS) only when the control socket was too full for
 * a viewers message or a keyframe request.
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

/* A message the control socket had no room for is tried again after
 * this long (a socket that is full holds the capture's backlog of our
 * messages: it has not read for a while, and pressing it would only
 * wake us more). */
#define ATTACH_RETRY_MS		1000

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
				 * link is lost, at_state no longer
				 * ATTACH_ATTACHED and at_why saying why; or a
				 * ring of the kind replaces it) */
	ATTACH_WAITING,		/* not attached, a retry scheduled: a connect
				 * failed, the capture refused or did not
				 * answer the hello, or an attached link was
				 * lost (after its DOWN events).  at_why says
				 * why; kind is CTL_KIND_JPEG.  Not sent while
				 * connecting the first time succeeds. */
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
	struct event	*at_retry_ev;		/* reconnect, while IDLE */
	struct event	*at_deadline_ev;	/* the welcome before it */
	struct event	*at_pending_ev;		/* resend what did not fit */
	unsigned	 at_backoff_ms;
	pid_t		 at_capture_pid;
	uint32_t	 at_capture_kinds;	/* what it publishes */
	char		 at_why[320];	/* last reason for not being attached */

	/* per kind */
	int		 at_mapped[CTL_KINDS];
	struct ring_reader at_ring[CTL_KINDS];
	uint64_t	 at_generation[CTL_KINDS];
	uint32_t	 at_fps_milli[CTL_KINDS];	/* as the capture said */
	int		 at_efd[CTL_KINDS];
	struct event	*at_efd_ev[CTL_KINDS];	/* non-NULL while polled */
	uint32_t	 at_viewers[CTL_KINDS];
	int		 at_viewers_dirty;	/* the capture has not had
						 * at_viewers yet */
	uint32_t	 at_keyframe_pending;	/* CTL_KIND_BIT()s of
						 * requests waiting for room */

	/* counters */
	uint64_t	 at_attaches;
	uint64_t	 at_losses;		/* attached, then lost */
	uint64_t	 at_keyframe_requests;	/* sent to the capture */
};

/*
 * Sets up at for camera name at ctl_path (NULL: ctl_default_path()),
 * asking for kinds (JPEG always) and introducing itself as label (for
 * the capture's logs).  Nothing happens before attach_start().
 * -ENAMETOOLONG, -ENOMEM.
 */
int	attach_init(struct attach *at, struct event_base *base,
	    const char *name, const char *ctl_path, const char *label,
	    uint32_t kinds, attach_cb *cb, void *arg);
/* Connects now (and keeps doing so); the first events may come from in
 * here (ATTACH_WAITING if the capture is not there). */
void	attach_start(struct attach *at);
/* Unmaps, closes, frees the events; no callback.  Safe to call twice. */
void	attach_free(struct attach *at);

/*
 * The caller's viewer counts, n[kind] for every kind (or kind's alone):
 * sent to the capture in one CTL_VIEWERS message when one changes (at
 * once, or if the control socket is full ATTACH_RETRY_MS later, with the
 * newest counts), and each kind's eventfd polled while its count is > 0
 * (or always, at_poll_always).
 */
void	attach_set_viewers_all(struct attach *at, const uint32_t n[CTL_KINDS]);
void	attach_set_viewers(struct attach *at, enum ctl_kind kind, uint32_t n);
/*
 * Asks the capture for a keyframe of kind: sent now, or ATTACH_RETRY_MS
 * later if the control socket is full (requests in between are one).
 * The capture merges and rate-limits requests (ctl.h).  -ENOTCONN if no
 * ring of that kind is mapped, -EINVAL for JPEG (every JPEG frame is a
 * keyframe).
 */
int	attach_request_keyframe(struct attach *at, enum ctl_kind kind);

/* Drops the link now (the caller found a ring it cannot use): DOWN
 * callbacks, ATTACH_WAITING, then a reconnection after the backoff. */
void	attach_drop(struct attach *at, const char *why);

/* "attached", "connecting" or "waiting". */
const char *attach_state_name(const struct attach *at);

#endif /* SHMCAM_ATTACH_H */
