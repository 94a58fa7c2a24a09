/*
 * keyframe.c - the keyframe request limit (see keyframe.h).
 */
#include <string.h>

#include "keyframe.h"

void
kf_init(struct kf_limit *k, uint64_t interval_ns)
{
	memset(k, 0, sizeof(*k));
	k->kf_interval_ns = interval_ns;
}

int
kf_request(struct kf_limit *k, uint64_t now)
{
	if (k->kf_waiting || k->kf_inflight)
		return 0;
	k->kf_waiting = 1;
	k->kf_due_ns = now;
	if (k->kf_last_ns != 0 && k->kf_last_ns + k->kf_interval_ns > now)
		k->kf_due_ns = k->kf_last_ns + k->kf_interval_ns;
	return 1;
}

int
kf_take(struct kf_limit *k, uint64_t now)
{
	if (!k->kf_waiting || now < k->kf_due_ns)
		return 0;
	k->kf_waiting = 0;
	k->kf_inflight = 1;
	return 1;
}

void
kf_published(struct kf_limit *k, uint64_t now, int taken)
{
	k->kf_last_ns = now;
	if (taken)
		k->kf_inflight = 0;
	/* Whoever waits can start at this one. */
	k->kf_waiting = 0;
}

void
kf_lost(struct kf_limit *k, uint64_t now)
{
	if (!k->kf_inflight)
		return;
	k->kf_inflight = 0;
	k->kf_waiting = 1;
	k->kf_due_ns = now;
}
