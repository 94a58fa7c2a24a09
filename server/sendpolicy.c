/*
 * sendpolicy.c - when a streaming client takes its next frame (the
 * contract is in sendpolicy.h).
 *
 * For a TCP client with the kernel's estimates, the client takes the
 * newest frame if what is ahead of it would leave the path's bottleneck
 * within one frame interval:
 *
 *   ahead = our own bytes + the kernel's unsent bytes + the bytes in
 *           flight beyond what the path holds while moving them (its
 *           rate x its minimum round trip, the bandwidth-delay product:
 *           the rest sits in the bottleneck's queue);
 *
 * at the path's rate.  That is exact when the rate is the path's.  The
 * crux is that it often is not.  The kernel measures the delivery rate
 * per acknowledgement (tcp_rate.c: delivered bytes over the longer of
 * the send and ack intervals) and marks a sample app-limited when the
 * sender had nothing more to send and room in its window: the sample
 * then says what the sender offered, not what the path could carry.  It
 * reports the last sample that was not app-limited, or an app-limited
 * one if that is higher (tcp_rate_gen()).  A camera paces its stream,
 * so a viewer whose path has room to spare is app-limited all the time:
 * its rate is our sending rate, and the bytes of the last round trip,
 * divided by it, look like a queue that is not there.  Trusting that
 * rate would feed on itself: skip a frame because the rate looks low,
 * send less, and the next samples are lower still.  The same goes for
 * the first round trips (the rate is what the initial window allowed)
 * and for the round trips after a loss.  Hence:
 *
 *   - The path's rate is the highest the kernel reported lately
 *     (struct send_rate_max, BBR's estimate of a bottleneck): a single
 *     low sample does not lower it.
 *
 *   - The round trips say whether the path queues at all: srtt -
 *     min_rtt is the queueing delay they saw.  Where it is small (under
 *     a quarter of the frame interval: less than that never matters),
 *     the path is not what limits the stream, whatever the rate says.
 *     Bytes in flight then count as a queue only as far as that delay
 *     says (the smaller of the two estimates), and unsent bytes leave
 *     at the pace of the congestion window (cwnd / srtt, if higher than
 *     the rate: the window, not the path, is the limit, as in slow
 *     start).
 *
 *   - Where the delay is larger, the path is the limit, its rate is
 *     measured (the samples are not app-limited while a queue stands),
 *     and the byte estimate holds.  The delay itself is not trusted
 *     there: srtt lags.  At the end of a burst the queue has drained
 *     while the last round trips, measured when they were acknowledged,
 *     still report it full; at the start of one the first
 *     acknowledgements report the empty queue the burst found.  The
 *     bytes in flight are up to date in both cases.
 *
 * Without an estimate yet (no acknowledgement so far: no rate, no
 * min_rtt), and for unix sockets, whose peer (a reverse proxy on this
 * host) says nothing about the path beyond it, the bound is in bytes:
 * what the kernel and we still hold, at most half of the last frame
 * (and never less than SENDPOLICY_MIN_BYTES).  A local reader that
 * keeps up has taken a frame long before the next one comes.
 *
 * tests/check_sendpolicy.c holds these rules to the answers of real
 * links: decisions recorded on simulated links of known rate and round
 * trip (tests/integration/record_sendpolicy.py), each with the answer
 * the link's true queue calls for.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>

#include "sendpolicy.h"

/* Without a known source rate: 30 fps. */
#define DEFAULT_INTERVAL_NS	33333333u
/* The rate's maximum spans ten round trips, and at least this. */
#define RATE_WINDOW_MIN_NS	1000000000u

static const char *const decision_names[SEND_NDECISIONS] = {
	[SEND_NOW] = "send",
	[SEND_WAIT] = "wait",
	[SEND_STALLED] = "stalled",
};

static const char *const why_names[WHY_N] = {
	[WHY_CLEAR] = "clear",
	[WHY_DRAINS] = "drains",
	[WHY_UNBOUNDED] = "unbounded",
	[WHY_BUSY] = "busy",
	[WHY_FPS_CAP] = "fps_cap",
	[WHY_QUEUED] = "queued",
	[WHY_BYTES] = "bytes",
	[WHY_STALLED] = "stalled",
};

const char *
sendpolicy_decision_name(enum send_decision d)
{
	return (unsigned)d < SEND_NDECISIONS ? decision_names[d] : "?";
}

const char *
sendpolicy_why_name(enum send_why w)
{
	return (unsigned)w < WHY_N ? why_names[w] : "?";
}

enum send_decision
sendpolicy_why_decision(enum send_why w)
{
	switch (w) {
	case WHY_CLEAR:
	case WHY_DRAINS:
	case WHY_UNBOUNDED:
		return SEND_NOW;
	case WHY_STALLED:
		return SEND_STALLED;
	default:
		return SEND_WAIT;
	}
}

static void
verdict(struct send_verdict *v, enum send_decision d, enum send_why w)
{
	v->v_decision = d;
	v->v_why = w;
}

/*
 * a * b / c (c > 0), exact while a * b fits 64 bits, which it does for
 * any real path.  Beyond that (the tests' extreme values), double's 53
 * bits are precision enough for an estimate, saturated at UINT64_MAX.
 * Not unsigned __int128: 32-bit ARM has none.
 */
static uint64_t
muldiv(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t p;
	double q;

	if (!__builtin_mul_overflow(a, b, &p))
		return p / c;
	q = (double)a * (double)b / (double)c;
	return q >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)q;
}

/* The interval, or the budget a client gives for what is ahead. */
static uint64_t
budget_ns(const struct send_client *cl)
{
	uint64_t interval = cl->cl_interval_ns ? cl->cl_interval_ns :
	    DEFAULT_INTERVAL_NS;

	return cl->cl_budget_ns > interval ? cl->cl_budget_ns : interval;
}

/* The bound in bytes, when nothing is known about the path's rate: half
 * a frame, or as many halves as the budget has frame intervals. */
static void
decide_bytes(const struct send_client *cl, uint64_t ahead,
    struct send_verdict *v)
{
	uint64_t interval = cl->cl_interval_ns ? cl->cl_interval_ns :
	    DEFAULT_INTERVAL_NS;
	uint64_t bound = cl->cl_last_len / 2;

	if (bound < SENDPOLICY_MIN_BYTES)
		bound = SENDPOLICY_MIN_BYTES;
	bound = muldiv(bound, budget_ns(cl), interval);
	v->v_ahead = ahead;
	v->v_budget = bound;
	if (ahead <= bound)
		verdict(v, SEND_NOW, ahead == 0 ? WHY_CLEAR : WHY_DRAINS);
	else
		verdict(v, SEND_WAIT, WHY_BYTES);
}

/* A TCP path with the kernel's estimates. */
static void
decide_tcp(const struct send_client *cl, const struct send_path *sp,
    struct send_verdict *v)
{
	uint64_t rate = sp->sp_rate_max > sp->sp_rate ? sp->sp_rate_max :
	    sp->sp_rate;
	uint64_t min_rtt = sp->sp_min_rtt_us, srtt = sp->sp_srtt_us;
	uint64_t interval = cl->cl_interval_ns ? cl->cl_interval_ns :
	    DEFAULT_INTERVAL_NS;
	uint64_t delay, pipe, beyond, by_bytes, path_ns, local, send_rate;
	uint64_t win_rate;

	/* The queueing delay the round trips saw, and the bytes in flight
	 * beyond one bandwidth-delay product, as time. */
	delay = srtt > min_rtt ? (srtt - min_rtt) * 1000 : 0;
	pipe = muldiv(rate, min_rtt, 1000000u);
	beyond = sp->sp_inflight > pipe ? sp->sp_inflight - pipe : 0;
	by_bytes = muldiv(beyond, 1000000000u, rate);
	local = cl->cl_ours + sp->sp_unsent;
	send_rate = rate;
	if (delay <= interval / 4) {
		/* No queue to speak of: the path is not the limit. */
		path_ns = delay < by_bytes ? delay : by_bytes;
		win_rate = muldiv(sp->sp_window, 1000000u, srtt);
		if (win_rate > send_rate)
			send_rate = win_rate;
	} else
		path_ns = by_bytes;

	v->v_rate = rate;
	v->v_path_queue = muldiv(path_ns, rate, 1000000000u);
	v->v_ahead = local + v->v_path_queue;
	v->v_drain_ns = muldiv(local, 1000000000u, send_rate) + path_ns;
	v->v_budget = budget_ns(cl);
	if (v->v_ahead == 0)
		verdict(v, SEND_NOW, WHY_CLEAR);
	else if (v->v_drain_ns <= v->v_budget)
		verdict(v, SEND_NOW, WHY_DRAINS);
	else
		verdict(v, SEND_WAIT, WHY_QUEUED);
}

void
sendpolicy_decide(const struct send_client *cl, const struct send_path *sp,
    struct send_verdict *v)
{
	uint64_t held = cl->cl_ours + sp->sp_unsent + sp->sp_inflight;

	memset(v, 0, sizeof(*v));
	/* Something still on its way, and no frame taken for so long: the
	 * peer does not read (a capped client with nothing queued is only
	 * waiting for its next due time). */
	if (cl->cl_stall_ns != 0 && held > 0 &&
	    cl->cl_now_ns >= cl->cl_last_push_ns &&
	    cl->cl_now_ns - cl->cl_last_push_ns >= cl->cl_stall_ns) {
		v->v_ahead = held;
		verdict(v, SEND_STALLED, WHY_STALLED);
		return;
	}
	/* One frame at a time in our buffer: the newest wins (unless a
	 * budget says how much may wait). */
	if (cl->cl_ours > 0 && cl->cl_budget_ns == 0) {
		v->v_ahead = cl->cl_ours;
		verdict(v, SEND_WAIT, WHY_BUSY);
		return;
	}
	if (cl->cl_due_ns != 0 && cl->cl_now_ns < cl->cl_due_ns) {
		verdict(v, SEND_WAIT, WHY_FPS_CAP);
		return;
	}
	/*
	 * With a budget, our buffer may hold frames, and the estimates of
	 * the path say when they leave.  They describe the network, not the
	 * reader: a client that reads slowly (its receive window closed)
	 * on a fast path is reckoned at the path's rate, and would be given
	 * frame after frame.  A queue that has stood longer than the budget
	 * is a backlog whatever they say: wait.
	 */
	if (cl->cl_budget_ns != 0 && cl->cl_backlog_ns != 0 &&
	    cl->cl_now_ns > cl->cl_backlog_ns &&
	    cl->cl_now_ns - cl->cl_backlog_ns > budget_ns(cl)) {
		v->v_ahead = cl->cl_ours + sp->sp_unsent;
		v->v_budget = budget_ns(cl);
		verdict(v, SEND_WAIT, WHY_QUEUED);
		return;
	}
	switch (sp->sp_kind) {
	case SEND_PATH_UNBOUNDED:
		verdict(v, SEND_NOW, WHY_UNBOUNDED);
		return;
	case SEND_PATH_LOCAL:
		decide_bytes(cl, sp->sp_unsent, v);
		return;
	case SEND_PATH_TCP:
		/* The first round trip: nothing acknowledged, no estimate. */
		if (sp->sp_rate == 0 || sp->sp_min_rtt_us == 0 ||
		    sp->sp_srtt_us == 0)
			decide_bytes(cl, held, v);
		else
			decide_tcp(cl, sp, v);
		return;
	}
	verdict(v, SEND_NOW, WHY_UNBOUNDED);
}

uint64_t
sendpolicy_rate_max(struct send_rate_max *rm, uint64_t now_ns,
    uint64_t rate, uint32_t srtt_us)
{
	uint64_t half = (uint64_t)srtt_us * 1000 * 10 / 2;

	if (half < RATE_WINDOW_MIN_NS / 2)
		half = RATE_WINDOW_MIN_NS / 2;
	/* Two half-windows, the current one and the one before, aligned:
	 * a sample counts for at least half a window and at most a whole
	 * one. */
	if (rm->rm_start_ns == 0 || now_ns < rm->rm_start_ns) {
		rm->rm_cur = rm->rm_prev = 0;
		rm->rm_start_ns = now_ns;
	} else if (now_ns - rm->rm_start_ns >= half) {
		uint64_t n = (now_ns - rm->rm_start_ns) / half;

		rm->rm_prev = n == 1 ? rm->rm_cur : 0;
		rm->rm_cur = 0;
		rm->rm_start_ns += n * half;
	}
	if (rate > rm->rm_cur)
		rm->rm_cur = rate;
	return rm->rm_cur > rm->rm_prev ? rm->rm_cur : rm->rm_prev;
}

uint64_t
sendpolicy_backlog_since(uint64_t *since, uint64_t now_ns, uint64_t ours,
    const struct send_path *sp)
{
	uint64_t unsent = sp->sp_kind != SEND_PATH_UNBOUNDED ?
	    sp->sp_unsent : 0;

	if (ours + unsent == 0)
		*since = 0;
	else if (*since == 0)
		*since = now_ns;
	return *since;
}

int
sendpolicy_read_path(int fd, int family, int bounded, uint64_t now_ns,
    struct send_rate_max *rm, struct send_path *sp)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	uint64_t window, unique;
	int outq = 0;

	memset(sp, 0, sizeof(*sp));
	sp->sp_kind = SEND_PATH_UNBOUNDED;
	if (!bounded)
		return 0;
	if (family == AF_UNIX) {
		if (ioctl(fd, SIOCOUTQ, &outq) == -1)
			return -errno;
		sp->sp_kind = SEND_PATH_LOCAL;
		sp->sp_unsent = outq > 0 ? (uint64_t)outq : 0;
		return 0;
	}
	if (family != AF_INET && family != AF_INET6)
		return 0;
	/* Fields a kernel older than our header does not fill stay 0. */
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1)
		return -errno;
	sp->sp_kind = SEND_PATH_TCP;
	sp->sp_unsent = ti.tcpi_notsent_bytes;
	/* Sent and not acknowledged: every byte sent once, less those
	 * acknowledged (snd_nxt - snd_una); by segments where the byte
	 * counters are missing (before Linux 4.19). */
	unique = ti.tcpi_bytes_sent - ti.tcpi_bytes_retrans;
	if (ti.tcpi_bytes_sent != 0 && unique >= ti.tcpi_bytes_acked)
		sp->sp_inflight = unique - ti.tcpi_bytes_acked;
	else
		sp->sp_inflight = (uint64_t)ti.tcpi_unacked * ti.tcpi_snd_mss;
	sp->sp_rate = ti.tcpi_delivery_rate;
	sp->sp_rate_max = sendpolicy_rate_max(rm, now_ns, sp->sp_rate,
	    ti.tcpi_rtt);
	sp->sp_app_limited = ti.tcpi_delivery_rate_app_limited;
	sp->sp_min_rtt_us = ti.tcpi_min_rtt;
	sp->sp_srtt_us = ti.tcpi_rtt;
	sp->sp_rttvar_us = ti.tcpi_rttvar;
	window = (uint64_t)ti.tcpi_snd_cwnd * ti.tcpi_snd_mss;
	if (ti.tcpi_snd_wnd != 0 && ti.tcpi_snd_wnd < window)
		window = ti.tcpi_snd_wnd;
	sp->sp_window = window;
	return 0;
}
