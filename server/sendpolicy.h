/*
 * sendpolicy.h - when a streaming client takes its next frame.
 *
 * A client holds at most one frame; when a newer frame is there, it
 * either takes it now or waits for a later one (latest frame wins).  The
 * question is whether what is still on its way to the client would
 * delay the new frame.  The kernel's send queue alone cannot tell: on a
 * long path most of it is merely in flight (sent, not yet acknowledged),
 * which delays nothing, while on a narrow path the same bytes sit in a
 * router's buffer, and a frame sent behind them arrives late.  So the
 * decision weighs what TCP knows about the path (TCP_INFO):
 *
 *   ahead    our own buffer + the kernel's unsent bytes + the bytes in
 *            flight beyond what the path holds while moving (the
 *            bottleneck's queue);
 *   rate     the path's delivery rate;
 *
 * and lets the client take a frame when `ahead` leaves within one frame
 * interval: the frame after it will then find the way clear, so frames
 * never pile up, and a client whose path carries the stream takes every
 * frame whatever its round-trip time.  The details, the first round
 * trips and the rates a camera-paced stream lets the kernel measure are
 * in sendpolicy.c.
 *
 * Contract, for every kind of stream (MJPEG parts, H.264 samples):
 *
 *   - The caller gathers the inputs: struct send_client from its own
 *     state, struct send_path from the socket (sendpolicy_read_path(),
 *     one getsockopt() or ioctl()), then calls sendpolicy_decide(), a
 *     pure function of its arguments: no clock, no I/O, no state of its
 *     own, so the same inputs always give the same verdict.
 *   - It asks whenever the client could take a frame: when a newer frame
 *     arrives, when its own buffer has drained, and on a periodic tick
 *     (so that a stalled client is seen even when no frame comes).
 *   - SEND_NOW: queue the newest frame for the client now.
 *   - SEND_WAIT: do not; ask again with the next frame.  A codec without
 *     independent frames reads it as "skip to the next keyframe": the
 *     frames in between reference one the client never got; such a
 *     stream gives a budget (cl_budget_ns) of how long a queue it takes
 *     rather than that, and says how long its queue has stood
 *     (cl_backlog_ns): a backlog older than the budget is one, whatever
 *     the path's estimates say.
 *   - SEND_STALLED: the client has had bytes queued and taken no frame
 *     for stall_ns: close it, with the reason in the log.
 *   - The verdict carries the figures it was based on, for /state.
 *
 * Nothing in here knows about HTTP, libevent or a codec.
 */
#ifndef SHMCAM_SENDPOLICY_H
#define SHMCAM_SENDPOLICY_H

#include <stdint.h>

enum send_decision {
	SEND_NOW,
	SEND_WAIT,
	SEND_STALLED,
	SEND_NDECISIONS
};

/* Why, for /state and the tests. */
enum send_why {
	WHY_CLEAR,	/* now: nothing worth counting ahead of the frame */
	WHY_DRAINS,	/* now: what is ahead leaves within the interval */
	WHY_UNBOUNDED,	/* now: kernel queue not looked at (--no-send-bound) */
	WHY_BUSY,	/* wait: our own buffer still holds a frame */
	WHY_FPS_CAP,	/* wait: the client's fps= cap */
	WHY_QUEUED,	/* wait: what is ahead would not leave in time */
	WHY_BYTES,	/* wait: no rate known, and over the byte bound */
	WHY_STALLED,	/* stalled */
	WHY_N
};

enum send_path_kind {
	SEND_PATH_TCP,		/* TCP_INFO: all of struct send_path */
	SEND_PATH_LOCAL,	/* a unix socket (a reverse proxy on this
				 * host): unsent only, its SIOCOUTQ */
	SEND_PATH_UNBOUNDED,	/* the kernel's queue is not looked at */
};

/* What the kernel says about the connection. */
struct send_path {
	enum send_path_kind sp_kind;
	uint64_t	 sp_unsent;	/* bytes not sent yet (TCP:
					 * tcpi_notsent_bytes; LOCAL: the
					 * bytes the peer has not read) */
	uint64_t	 sp_inflight;	/* TCP: bytes sent, not acknowledged */
	uint64_t	 sp_rate;	/* TCP: tcpi_delivery_rate, bytes/s;
					 * 0 before the first sample */
	uint64_t	 sp_rate_max;	/* TCP: the highest sp_rate of the
					 * last second or ten round trips
					 * (struct send_rate_max) */
	int		 sp_app_limited; /* TCP: that sample was app-limited:
					 * the sender, not the path, set it */
	uint32_t	 sp_min_rtt_us;	/* TCP: tcpi_min_rtt; 0: none yet */
	uint32_t	 sp_srtt_us;	/* TCP: tcpi_rtt (smoothed) */
	uint32_t	 sp_rttvar_us;	/* TCP: tcpi_rttvar */
	uint64_t	 sp_window;	/* TCP: bytes the sender may have in
					 * flight: min(cwnd * mss, the peer's
					 * receive window) */
};

/*
 * The path's rate is the highest delivery rate the kernel reported
 * lately (a windowed maximum, as BBR estimates a bottleneck's rate): a
 * single sample falls after a loss or while the stream is app-limited,
 * the path does not.  The caller keeps one per client, zeroed at the
 * start; sendpolicy_read_path() updates it.
 */
struct send_rate_max {
	uint64_t	 rm_cur;	/* highest of the current half-window */
	uint64_t	 rm_prev;	/* highest of the half-window before */
	uint64_t	 rm_start_ns;	/* start of the current half-window */
};

/* What the caller knows about the client. */
struct send_client {
	uint64_t	 cl_now_ns;	/* CLOCK_MONOTONIC */
	uint64_t	 cl_ours;	/* bytes in our own output buffer */
	uint64_t	 cl_last_len;	/* bytes of the last frame sent */
	uint64_t	 cl_last_push_ns; /* when it was queued */
	uint64_t	 cl_interval_ns; /* interval between the frames it is
					 * offered (source, or its fps cap) */
	uint64_t	 cl_due_ns;	/* fps cap: no frame before (0: none) */
	uint64_t	 cl_stall_ns;	/* stalled after this (0: never) */
	uint64_t	 cl_budget_ns;	/* what is ahead of a new frame may
					 * take this long to leave; 0: one
					 * frame interval, and one frame at a
					 * time in our buffer.  A stream whose
					 * frames depend on each other (H.264)
					 * allows more: a frame it skips costs
					 * every frame up to the next
					 * keyframe, a frame it queues only
					 * the time it waits */
	uint64_t	 cl_backlog_ns;	/* with a budget: since when our
					 * buffer or the kernel's unsent bytes
					 * have held something at every
					 * decision (0: nothing at the last) */
};

struct send_verdict {
	enum send_decision v_decision;
	enum send_why	 v_why;
	uint64_t	 v_ahead;	/* bytes counted ahead of a new frame */
	uint64_t	 v_path_queue;	/* of which in the path's queue */
	uint64_t	 v_rate;	/* bytes/s they were reckoned to leave
					 * at; 0: no rate (a bound in bytes) */
	uint64_t	 v_drain_ns;	/* ahead / rate; 0 without a rate */
	uint64_t	 v_budget;	/* ns (with a rate) or bytes (without)
					 * that ahead had to stay within */
};

/* Below this, queued bytes are never worth waiting for: one TCP_NOTSENT_
 * LOWAT's worth, about a dozen segments. */
#define SENDPOLICY_MIN_BYTES	(16 * 1024)

void	sendpolicy_decide(const struct send_client *cl,
	    const struct send_path *sp, struct send_verdict *v);

/*
 * Fills sp for the connected socket fd of the given address family
 * (AF_INET, AF_INET6: TCP_INFO, one getsockopt(); AF_UNIX: SIOCOUTQ,
 * one ioctl()), updating the client's rm with the rate read at now_ns.
 * bounded 0: the kernel's queue is not looked at (SEND_PATH_UNBOUNDED,
 * no system call).  0, or -errno (the caller may then treat the path
 * as unbounded, or close the client).
 */
int	sendpolicy_read_path(int fd, int family, int bounded, uint64_t now_ns,
	    struct send_rate_max *rm, struct send_path *sp);
/*
 * A budgeted client's cl_backlog_ns: *since is when our buffer (ours
 * bytes now) or the kernel's unsent bytes (sp, read at now_ns) last
 * started to hold something at every decision; 0 once both are empty.
 * Updates and returns it.  Pure: *since is the only state.
 */
uint64_t sendpolicy_backlog_since(uint64_t *since, uint64_t now_ns,
	    uint64_t ours, const struct send_path *sp);
/* The windowed maximum: a sample at now_ns, given the smoothed round
 * trip (the window is ten of them, at least a second: a sample counts
 * for half of that at least, the whole at most); returns the maximum.
 * Pure: rm is the only state. */
uint64_t sendpolicy_rate_max(struct send_rate_max *rm, uint64_t now_ns,
	    uint64_t rate, uint32_t srtt_us);

const char *sendpolicy_decision_name(enum send_decision d);
const char *sendpolicy_why_name(enum send_why w);
/* The decision a reason goes with. */
enum send_decision sendpolicy_why_decision(enum send_why w);

#endif /* SHMCAM_SENDPOLICY_H */
