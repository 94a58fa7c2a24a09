/*
 * keyframe.h - when a keyframe asked for by a server is made: the rate
 * limit of ctl.h's CTL_KEYFRAME, as one pure state machine (no clock of
 * its own, no I/O), so that the rule lives in one place and its tests are
 * tables of events.
 *
 * The rule
 *   - A request makes the next frame a keyframe, unless a keyframe (any:
 *     one of the GOP, one after an idle spell, one asked for) was
 *     published less than `interval` ago: then the first frame from
 *     last + interval on.
 *   - Requests while one is waiting, or while the frame chosen for it is
 *     being encoded, are merged into it.  A keyframe of the GOP published
 *     in the meantime answers a waiting request too.
 *   So any number of requests cost at most one extra keyframe per
 *   interval, and each requester waits at most interval plus one frame
 *   (plus the encoding).
 *
 * The caller (capture/pipeline_h264.c) tells it what happens: a request
 * (kf_request), the next frame to encode (kf_take: mark it a keyframe?),
 * a keyframe published (kf_published), and a frame chosen by kf_take
 * that never became one (kf_lost: encode failed).  Times are
 * CLOCK_MONOTONIC nanoseconds.
 */
#ifndef SHMCAM_KEYFRAME_H
#define SHMCAM_KEYFRAME_H

#include <stdint.h>

struct kf_limit {
	uint64_t	 kf_interval_ns;
	uint64_t	 kf_last_ns;	/* newest keyframe published, 0: none */
	uint64_t	 kf_due_ns;	/* a waiting request: not before this */
	int		 kf_waiting;
	int		 kf_inflight;	/* the frame chosen is being encoded */
};

void	kf_init(struct kf_limit *k, uint64_t interval_ns);
/* A server asks.  1 if this request starts a wait, 0 if merged. */
int	kf_request(struct kf_limit *k, uint64_t now);
/* 1 if the frame about to be encoded must be a keyframe for a request. */
int	kf_take(struct kf_limit *k, uint64_t now);
/* A keyframe was published at now; taken: it was one kf_take() chose. */
void	kf_published(struct kf_limit *k, uint64_t now, int taken);
/* The frame kf_take() chose will not be published: the request stands,
 * due at once (it was due already). */
void	kf_lost(struct kf_limit *k, uint64_t now);

#endif /* SHMCAM_KEYFRAME_H */
