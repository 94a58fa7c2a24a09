/*
 * check_attach.c - a reader's link to its capture (common/attach.c),
 * driven against a scripted capture on a real control socket with real
 * rings: the welcome maps the JPEG ring; a wake-up descriptor that is not
 * an eventfd, a ring of the wrong codec or generation are refused with a
 * reason and retried; CTL_STREAM maps H.264 only for a reader that asked
 * for it; wake-ups are edges of an eventfd never read; a lost link comes
 * down kind by kind, then retries; viewer counts go once per change, and
 * again when the socket had no room; no timer runs while nothing is
 * pending.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "attach.h"
#include "ctl.h"
#include "log.h"
#include "ring.h"
#include "testutil.h"

#define EVENTS_MAX	64

struct heard {
	enum attach_event ev;
	enum ctl_kind	 kind;
};

/* A scripted capture and the reader's struct attach linked to it. */
struct rig {
	struct event_base *base;
	struct attach	 at;
	char		 path[108];
	int		 lfd;		/* the capture's listening socket */
	int		 cs;		/* its end of the reader's connection */
	struct ring_writer jpeg;
	struct ring_writer h264;
	int		 efd[CTL_KINDS];	/* our copies of the eventfds */
	struct heard	 heard[EVENTS_MAX];
	unsigned	 nheard;
	unsigned	 count[4][CTL_KINDS];	/* by event and kind */
	int		 drop_on_up;	/* attach_drop() from the UP event */
};

static void
rig_cb(struct attach *at, enum attach_event ev, enum ctl_kind kind,
    void *arg)
{
	struct rig *r = arg;

	ck_assert_ptr_eq(at, &r->at);
	if (r->nheard < EVENTS_MAX)
		r->heard[r->nheard++] = (struct heard){ ev, kind };
	r->count[ev][kind]++;
	if (ev == ATTACH_UP && r->drop_on_up)
		attach_drop(at, "the test drops it");
}

/* Sets up a capture's socket and rings, and a reader asking for kinds
 * (not started). */
static void
rig_init(struct rig *r, uint32_t kinds)
{
	static int n;
	char name[RING_NAME_MAX], why[256];
	int k;

	memset(r, 0, sizeof(*r));
	signal(SIGPIPE, SIG_IGN);
	log_init("check_attach");
	r->cs = -1;
	for (k = 0; k < CTL_KINDS; k++)
		r->efd[k] = -1;
	snprintf(name, sizeof(name), "shmcam-check-attach-%d-%d",
	    (int)getpid(), n);
	ck_assert_int_eq(ring_writer_create(&r->jpeg, name, RING_SLOTS_MIN,
	    RING_SLOT_SIZE_MIN), 0);
	snprintf(name, sizeof(name), "shmavc-check-attach-%d-%d",
	    (int)getpid(), n);
	ck_assert_int_eq(ring_writer_create_codec(&r->h264, name,
	    RING_CODEC_H264, RING_SLOTS_MIN, RING_SLOT_SIZE_MIN), 0);
	snprintf(r->path, sizeof(r->path), "%s/attach-%d.sock", tu_tmpdir(),
	    n++);
	r->lfd = ctl_listen(r->path, 0600, (gid_t)-1, why, sizeof(why));
	ck_assert_msg(r->lfd >= 0, "ctl_listen: %s", why);
	ck_assert_ptr_nonnull(r->base = event_base_new());
	ck_assert_int_eq(attach_init(&r->at, r->base, "cam", r->path,
	    "check/cam", kinds, rig_cb, r), 0);
}

static void
rig_free(struct rig *r)
{
	int k;

	attach_free(&r->at);
	for (k = 0; k < CTL_KINDS; k++)
		if (r->efd[k] != -1)
			close(r->efd[k]);
	if (r->cs != -1)
		close(r->cs);
	if (r->lfd != -1)
		close(r->lfd);
	unlink(r->path);
	ring_writer_destroy(&r->jpeg);
	ring_writer_destroy(&r->h264);
	event_base_free(r->base);
}

/* Turns the loop (without blocking) until cond holds, for at most ms. */
#define UNTIL(r, cond, ms) do {						\
	uint64_t until_end_ = tu_now_ms() + (uint64_t)tu_ms(ms);	\
									\
	while (!(cond) && tu_now_ms() < until_end_) {			\
		event_base_loop((r)->base, EVLOOP_NONBLOCK);		\
		usleep(1000);						\
	}								\
	ck_assert_msg((cond), "not within %d ms: %s", (ms), #cond);	\
} while (0)

/* Turns the loop for ms, whatever happens. */
static void
rig_turn(struct rig *r, int ms)
{
	uint64_t end = tu_now_ms() + (uint64_t)ms;

	while (tu_now_ms() < end) {
		event_base_loop(r->base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

/* The capture accepts the reader's connection and reads its hello. */
static void
rig_accept(struct rig *r)
{
	union ctl_msg m;
	int fds[CTL_MAX_FDS], nfds;

	UNTIL(r, tu_wait_fd(r->lfd, POLLIN, 0), 3000);
	if (r->cs != -1)
		close(r->cs);
	r->cs = accept4(r->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	ck_assert_int_ge(r->cs, 0);
	ck_assert(tu_wait_fd(r->cs, POLLIN, tu_ms(3000)));
	ck_assert_int_eq(ctl_recv(r->cs, &m, fds, &nfds), sizeof(m.hello));
	ck_assert_uint_eq(m.hdr.ch_type, CTL_HELLO);
	ck_assert_uint_eq(m.hello.pid, (uint32_t)getpid());
	ck_assert_uint_eq(m.hello.kinds, r->at.at_kinds);
	ck_assert_str_eq(m.hello.label, "check/cam");
	ck_assert_int_eq(r->at.at_state, ATTACH_HELLO);
}

/* A fresh eventfd for kind, our copy kept in r->efd[kind]. */
static int
rig_eventfd(struct rig *r, enum ctl_kind kind)
{
	if (r->efd[kind] != -1)
		close(r->efd[kind]);
	r->efd[kind] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ck_assert_int_ge(r->efd[kind], 0);
	return r->efd[kind];
}

/* The capture's welcome, with wake-up descriptor efd and ring ringfd
 * (sent, not taken); generation as given. */
static void
rig_welcome_with(struct rig *r, int efd, int ringfd, uint64_t generation)
{
	struct ctl_welcome w;
	int fds[2] = { efd, ringfd };

	memset(&w, 0, sizeof(w));
	ctl_init(&w.h, CTL_WELCOME, sizeof(w));
	w.generation = generation;
	w.ring_abi = RING_ABI_VERSION;
	w.slot_count = r->jpeg.rw_slot_count;
	w.slot_size = r->jpeg.rw_slot_size;
	w.width = 320;
	w.height = 240;
	w.fps_milli = 30000;
	w.pid = (uint32_t)getpid();
	w.kinds = CTL_KINDS_ALL;
	snprintf(w.shm_name, sizeof(w.shm_name), "%s", r->jpeg.rw_name);
	ck_assert_int_eq(ctl_send(r->cs, &w, sizeof(w), fds, 2), 0);
}

static void
rig_welcome(struct rig *r)
{
	rig_welcome_with(r, rig_eventfd(r, CTL_KIND_JPEG), r->jpeg.rw_ro_fd,
	    r->jpeg.rw_hdr->rh_generation);
}

static void
rig_stream(struct rig *r)
{
	struct ctl_stream s;
	int fds[2] = { rig_eventfd(r, CTL_KIND_H264), r->h264.rw_ro_fd };

	memset(&s, 0, sizeof(s));
	ctl_init(&s.h, CTL_STREAM, sizeof(s));
	s.generation = r->h264.rw_hdr->rh_generation;
	s.kind = CTL_KIND_H264;
	s.codec = RING_CODEC_H264;
	s.slot_count = r->h264.rw_slot_count;
	s.slot_size = r->h264.rw_slot_size;
	s.width = 320;
	s.height = 240;
	s.fps_milli = 30000;
	snprintf(s.shm_name, sizeof(s.shm_name), "%s", r->h264.rw_name);
	ck_assert_int_eq(ctl_send(r->cs, &s, sizeof(s), fds, 2), 0);
}

/* The next message the reader sent, as the capture reads it: its type,
 * or 0 if none is queued. */
static unsigned
rig_recv(struct rig *r, union ctl_msg *m)
{
	int fds[CTL_MAX_FDS], nfds;
	ssize_t n = ctl_recv(r->cs, m, fds, &nfds);

	if (n == -EAGAIN)
		return 0;
	ck_assert_int_gt(n, 0);
	return m->hdr.ch_type;
}

/* The next message must be CTL_VIEWERS with these counts. */
static void
rig_expect_viewers(struct rig *r, uint32_t jpeg, uint32_t h264)
{
	union ctl_msg m;

	ck_assert_uint_eq(rig_recv(r, &m), CTL_VIEWERS);
	ck_assert_uint_eq(m.viewers.viewers[CTL_KIND_JPEG], jpeg);
	ck_assert_uint_eq(m.viewers.viewers[CTL_KIND_H264], h264);
}

/* The reader's next connection accepted and welcomed: attached. */
static void
rig_welcomed(struct rig *r)
{
	rig_accept(r);
	rig_welcome(r);
	UNTIL(r, r->at.at_state == ATTACH_ATTACHED, 3000);
}

/* Started and welcomed, the first viewers message read. */
static void
rig_attach(struct rig *r)
{
	attach_start(&r->at);
	rig_welcomed(r);
	rig_expect_viewers(r, 0, 0);
}

static void
post(int efd)
{
	uint64_t one = 1;

	ck_assert_int_eq(write(efd, &one, sizeof(one)), sizeof(one));
}

static int
count_timer(const struct event_base *base, const struct event *ev,
    void *arg)
{
	(void)base;
	if (event_pending(ev, EV_TIMEOUT, NULL))
		(*(unsigned *)arg)++;
	return 0;
}

/* Timers armed on the loop, whoever's. */
static unsigned
timers_armed(struct rig *r)
{
	unsigned n = 0;

	event_base_foreach_event(r->base, count_timer, &n);
	return n;
}

/*
 * The welcome maps the JPEG ring: UP for it, the counters, the capture's
 * identity, and the viewer counts sent at once (zeros: the capture knows
 * nothing of this reader yet).
 */
START_TEST(test_welcome_maps_ring)
{
	struct rig r;

	rig_init(&r, 0);
	rig_attach(&r);
	ck_assert_uint_eq(r.nheard, 1);
	ck_assert_int_eq(r.heard[0].ev, ATTACH_UP);
	ck_assert_int_eq(r.heard[0].kind, CTL_KIND_JPEG);
	ck_assert(r.at.at_mapped[CTL_KIND_JPEG]);
	ck_assert(!r.at.at_mapped[CTL_KIND_H264]);
	ck_assert_uint_eq(r.at.at_generation[CTL_KIND_JPEG],
	    r.jpeg.rw_hdr->rh_generation);
	ck_assert_uint_eq(r.at.at_ring[CTL_KIND_JPEG].rr_geo.slot_size,
	    r.jpeg.rw_slot_size);
	ck_assert_uint_eq(r.at.at_fps_milli[CTL_KIND_JPEG], 30000);
	ck_assert_int_eq(r.at.at_capture_pid, getpid());
	ck_assert_uint_eq(r.at.at_capture_kinds, CTL_KINDS_ALL);
	ck_assert_uint_eq(r.at.at_attaches, 1);
	ck_assert_uint_eq(r.at.at_losses, 0);
	ck_assert_str_eq(r.at.at_why, "");
	ck_assert_str_eq(attach_state_name(&r.at), "attached");
	/* The reader has no viewer: its eventfd is not polled. */
	ck_assert_ptr_null(r.at.at_efd_ev[CTL_KIND_JPEG]);
	rig_free(&r);
}
END_TEST

/*
 * Each write to the eventfd is one wake-up, and the eventfd is never
 * read: edge-triggered (polled level-triggered and unread, it would
 * report itself readable at every turn of the loop).
 */
START_TEST(test_wakeups_are_edges)
{
	struct rig r;

	rig_init(&r, 0);
	r.at.at_poll_always = CTL_KIND_BIT(CTL_KIND_JPEG);
	rig_attach(&r);
	ck_assert_ptr_nonnull(r.at.at_efd_ev[CTL_KIND_JPEG]);
	post(r.efd[CTL_KIND_JPEG]);
	UNTIL(&r, r.count[ATTACH_WAKEUP][CTL_KIND_JPEG] == 1, 3000);
	rig_turn(&r, 50);
	ck_assert_uint_eq(r.count[ATTACH_WAKEUP][CTL_KIND_JPEG], 1);
	post(r.efd[CTL_KIND_JPEG]);
	UNTIL(&r, r.count[ATTACH_WAKEUP][CTL_KIND_JPEG] == 2, 3000);
	rig_turn(&r, 50);
	ck_assert_uint_eq(r.count[ATTACH_WAKEUP][CTL_KIND_JPEG], 2);
	/* Both writes are still counted: nobody read them. */
	ck_assert_uint_eq(tu_eventfd_read(r.efd[CTL_KIND_JPEG]), 2);
	rig_free(&r);
}
END_TEST

/*
 * A wake-up descriptor that is not an eventfd (a pipe at its end would
 * be readable for ever) is refused, with a reason; nothing of the
 * welcome stays open, and the reader tries again.
 */
START_TEST(test_not_an_eventfd_refused)
{
	struct rig r;
	int p[2], fds;

	rig_init(&r, 0);
	attach_start(&r.at);
	rig_accept(&r);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	close(p[1]);
	fds = tu_count_fds();
	rig_welcome_with(&r, p[0], r.jpeg.rw_ro_fd,
	    r.jpeg.rw_hdr->rh_generation);
	UNTIL(&r, r.count[ATTACH_WAITING][CTL_KIND_JPEG] == 1, 3000);
	ck_assert_int_eq(r.at.at_state, ATTACH_IDLE);
	ck_assert_msg(strstr(r.at.at_why, "wake-up descriptor from capture "
	    "refused: not an eventfd") != NULL, "why: %s", r.at.at_why);
	ck_assert_uint_eq(r.count[ATTACH_UP][CTL_KIND_JPEG], 0);
	ck_assert(!r.at.at_mapped[CTL_KIND_JPEG]);
	ck_assert_uint_eq(r.at.at_attaches, 0);
	ck_assert_uint_eq(r.at.at_losses, 0);
	/* Its socket closed, the descriptors it got too. */
	ck_assert_int_eq(tu_count_fds(), fds - 1);
	close(p[0]);
	/* Again, after the backoff. */
	rig_accept(&r);
	rig_free(&r);
}
END_TEST

/* A ring whose codec or generation is not what the capture said is
 * refused, with the ring check's reason. */
START_TEST(test_wrong_ring_refused)
{
	struct rig r;

	rig_init(&r, CTL_KINDS_ALL);
	attach_start(&r.at);

	/* The H.264 ring as the JPEG one. */
	rig_accept(&r);
	rig_welcome_with(&r, rig_eventfd(&r, CTL_KIND_JPEG),
	    r.h264.rw_ro_fd, r.h264.rw_hdr->rh_generation);
	UNTIL(&r, r.count[ATTACH_WAITING][CTL_KIND_JPEG] == 1, 3000);
	ck_assert_msg(strstr(r.at.at_why, "jpeg ring from capture refused: ")
	    != NULL, "why: %s", r.at.at_why);
	ck_assert_msg(strstr(r.at.at_why, ring_strerror(-EMEDIUMTYPE)) !=
	    NULL, "why: %s", r.at.at_why);

	/* The right ring, another generation than the welcome says. */
	rig_accept(&r);
	rig_welcome_with(&r, rig_eventfd(&r, CTL_KIND_JPEG), r.jpeg.rw_ro_fd,
	    r.jpeg.rw_hdr->rh_generation + 1);
	UNTIL(&r, r.count[ATTACH_WAITING][CTL_KIND_JPEG] == 2, 3000);
	ck_assert_msg(strstr(r.at.at_why, ring_strerror(-ESTALE)) != NULL,
	    "why: %s", r.at.at_why);
	ck_assert_uint_eq(r.count[ATTACH_UP][CTL_KIND_JPEG], 0);

	/* And then the right one. */
	rig_welcomed(&r);
	ck_assert_uint_eq(r.at.at_attaches, 1);
	rig_free(&r);
}
END_TEST

/* A reader that did not ask for H.264 drops a capture that sends it
 * the H.264 ring anyway. */
START_TEST(test_stream_not_asked_for)
{
	struct rig r;

	rig_init(&r, 0);
	rig_attach(&r);
	rig_stream(&r);
	UNTIL(&r, r.at.at_state == ATTACH_IDLE, 3000);
	ck_assert_str_eq(r.at.at_why,
	    "capture sent a ring of a kind not asked for");
	ck_assert_uint_eq(r.count[ATTACH_UP][CTL_KIND_H264], 0);
	ck_assert_uint_eq(r.at.at_losses, 1);
	rig_free(&r);
}
END_TEST

/*
 * A reader that asked for H.264 maps it; its eventfd is polled only
 * while it has H.264 viewers, whose count goes to the capture; a second
 * CTL_STREAM replaces the ring (DOWN, then UP).
 */
START_TEST(test_stream_maps_h264)
{
	struct rig r;
	union ctl_msg m;

	rig_init(&r, CTL_KINDS_ALL);
	r.at.at_poll_always = CTL_KIND_BIT(CTL_KIND_JPEG);
	rig_attach(&r);
	rig_stream(&r);
	UNTIL(&r, r.at.at_mapped[CTL_KIND_H264], 3000);
	ck_assert_uint_eq(r.count[ATTACH_UP][CTL_KIND_H264], 1);
	ck_assert_uint_eq(r.at.at_generation[CTL_KIND_H264],
	    r.h264.rw_hdr->rh_generation);
	ck_assert_ptr_null(r.at.at_efd_ev[CTL_KIND_H264]);
	post(r.efd[CTL_KIND_H264]);
	rig_turn(&r, 50);
	ck_assert_uint_eq(r.count[ATTACH_WAKEUP][CTL_KIND_H264], 0);

	attach_set_viewers(&r.at, CTL_KIND_H264, 1);
	rig_expect_viewers(&r, 0, 1);
	ck_assert_ptr_nonnull(r.at.at_efd_ev[CTL_KIND_H264]);
	/* Polled again, it tells of what came meanwhile, once. */
	UNTIL(&r, r.count[ATTACH_WAKEUP][CTL_KIND_H264] == 1, 3000);
	post(r.efd[CTL_KIND_H264]);
	UNTIL(&r, r.count[ATTACH_WAKEUP][CTL_KIND_H264] == 2, 3000);
	ck_assert_uint_eq(r.count[ATTACH_WAKEUP][CTL_KIND_JPEG], 0);

	/* A keyframe request goes to the capture. */
	ck_assert_int_eq(attach_request_keyframe(&r.at, CTL_KIND_H264), 0);
	ck_assert_uint_eq(rig_recv(&r, &m), CTL_KEYFRAME);
	ck_assert_uint_eq(m.keyframe.kind, CTL_KIND_H264);
	ck_assert_uint_eq(r.at.at_keyframe_requests, 1);
	/* Not of JPEG (the capture would refuse the message, and us). */
	ck_assert_int_eq(attach_request_keyframe(&r.at, CTL_KIND_JPEG),
	    -EINVAL);
	ck_assert_uint_eq(rig_recv(&r, &m), 0);

	rig_stream(&r);
	UNTIL(&r, r.count[ATTACH_UP][CTL_KIND_H264] == 2, 3000);
	ck_assert_uint_eq(r.count[ATTACH_DOWN][CTL_KIND_H264], 1);
	ck_assert_int_eq(r.at.at_state, ATTACH_ATTACHED);
	/* Still watched: the new eventfd is polled. */
	ck_assert_ptr_nonnull(r.at.at_efd_ev[CTL_KIND_H264]);
	rig_free(&r);
}
END_TEST

/*
 * The capture goes away: DOWN for each ring mapped (H.264 first), then
 * WAITING; the loss is counted, nothing stays open, and the reader
 * connects again after its backoff.
 */
START_TEST(test_loss_then_retry)
{
	struct rig r;
	int fds;

	rig_init(&r, CTL_KINDS_ALL);
	fds = tu_count_fds();
	rig_attach(&r);
	rig_stream(&r);
	UNTIL(&r, r.at.at_mapped[CTL_KIND_H264], 3000);
	r.nheard = 0;
	close(r.cs);
	r.cs = -1;
	UNTIL(&r, r.at.at_state == ATTACH_IDLE, 3000);
	ck_assert_uint_eq(r.nheard, 3);
	ck_assert_int_eq(r.heard[0].ev, ATTACH_DOWN);
	ck_assert_int_eq(r.heard[0].kind, CTL_KIND_H264);
	ck_assert_int_eq(r.heard[1].ev, ATTACH_DOWN);
	ck_assert_int_eq(r.heard[1].kind, CTL_KIND_JPEG);
	ck_assert_int_eq(r.heard[2].ev, ATTACH_WAITING);
	ck_assert_str_eq(r.at.at_why, "capture closed the control socket");
	ck_assert_str_eq(attach_state_name(&r.at), "waiting");
	ck_assert_uint_eq(r.at.at_losses, 1);
	ck_assert(!r.at.at_mapped[CTL_KIND_JPEG]);
	ck_assert(!r.at.at_mapped[CTL_KIND_H264]);
	/* Ours are the eventfd copies; the reader holds nothing. */
	ck_assert_int_eq(tu_count_fds(), fds + 2);
	ck_assert_int_eq(attach_request_keyframe(&r.at, CTL_KIND_H264),
	    -ENOTCONN);

	rig_welcomed(&r);
	ck_assert_uint_eq(r.at.at_attaches, 2);
	rig_free(&r);
}
END_TEST

/* The capture refuses the reader, or is not there: WAITING with the
 * reason, and retries. */
START_TEST(test_refused_and_absent)
{
	struct rig r;
	struct ctl_refused m;

	rig_init(&r, 0);
	attach_start(&r.at);
	rig_accept(&r);
	memset(&m, 0, sizeof(m));
	ctl_init(&m.h, CTL_REFUSED, sizeof(m));
	m.error = EPERM;
	snprintf(m.reason, sizeof(m.reason), "too many servers");
	ck_assert_int_eq(ctl_send(r.cs, &m, sizeof(m), NULL, 0), 0);
	UNTIL(&r, r.count[ATTACH_WAITING][CTL_KIND_JPEG] == 1, 3000);
	ck_assert_str_eq(r.at.at_why, "capture refused us: too many servers");

	/* No capture at all: the connect fails, WAITING says why. */
	close(r.lfd);
	r.lfd = -1;
	unlink(r.path);
	UNTIL(&r, r.count[ATTACH_WAITING][CTL_KIND_JPEG] == 2, 3000);
	ck_assert_msg(strncmp(r.at.at_why, "waiting for capture at ", 23) ==
	    0, "why: %s", r.at.at_why);
	ck_assert_int_eq(r.at.at_state, ATTACH_IDLE);
	ck_assert_uint_eq(r.count[ATTACH_UP][CTL_KIND_JPEG], 0);
	rig_free(&r);
}
END_TEST

/* The caller drops the link from within the UP event: the link stays
 * down (not attached with a closed socket), and is retried. */
START_TEST(test_drop_from_up)
{
	struct rig r;
	union ctl_msg m;
	int fds[CTL_MAX_FDS], nfds;

	rig_init(&r, 0);
	r.drop_on_up = 1;
	attach_start(&r.at);
	rig_accept(&r);
	rig_welcome(&r);
	UNTIL(&r, r.count[ATTACH_WAITING][CTL_KIND_JPEG] == 1, 3000);
	ck_assert_int_eq(r.at.at_state, ATTACH_IDLE);
	ck_assert_int_eq(r.at.at_sock, -1);
	ck_assert(!r.at.at_mapped[CTL_KIND_JPEG]);
	ck_assert_uint_eq(r.count[ATTACH_DOWN][CTL_KIND_JPEG], 1);
	ck_assert_str_eq(r.at.at_why, "the test drops it");
	/* It hung up without a viewers message. */
	ck_assert(tu_wait_fd(r.cs, POLLIN, tu_ms(3000)));
	ck_assert_int_eq(ctl_recv(r.cs, &m, fds, &nfds), 0);
	rig_accept(&r);
	rig_free(&r);
}
END_TEST

/* Viewer counts go to the capture in one message per change, of every
 * kind at once, and none when nothing changed. */
START_TEST(test_viewers_once_per_change)
{
	struct rig r;
	union ctl_msg m;
	const uint32_t two[CTL_KINDS] = { 2, 0 }, both[CTL_KINDS] = { 2, 1 };

	rig_init(&r, CTL_KINDS_ALL);
	rig_attach(&r);
	attach_set_viewers_all(&r.at, two);
	rig_expect_viewers(&r, 2, 0);
	attach_set_viewers_all(&r.at, two);
	attach_set_viewers(&r.at, CTL_KIND_JPEG, 2);
	ck_assert_uint_eq(rig_recv(&r, &m), 0);
	attach_set_viewers_all(&r.at, both);
	rig_expect_viewers(&r, 2, 1);
	ck_assert_uint_eq(rig_recv(&r, &m), 0);
	attach_set_viewers(&r.at, CTL_KIND_JPEG, 0);
	rig_expect_viewers(&r, 0, 1);
	ck_assert_uint_eq(rig_recv(&r, &m), 0);
	rig_free(&r);
}
END_TEST

/*
 * A control socket with no room: the newest counts and a keyframe
 * request wait for a one-shot retry, which sends them once there is
 * room, and is then no longer armed.
 */
START_TEST(test_full_socket_retried)
{
	struct rig r;
	union ctl_msg m, last;
	uint32_t i;
	unsigned type, keyframes = 0;

	rig_init(&r, CTL_KINDS_ALL);
	rig_attach(&r);
	rig_stream(&r);
	UNTIL(&r, r.at.at_mapped[CTL_KIND_H264], 3000);
	ck_assert(!evtimer_pending(r.at.at_pending_ev, NULL));
	/* The capture reads nothing: the counts change until the socket
	 * takes no more (a few hundred messages on Linux). */
	for (i = 1; i < 1000000 && !r.at.at_viewers_dirty; i++)
		attach_set_viewers(&r.at, CTL_KIND_JPEG, i);
	ck_assert(r.at.at_viewers_dirty);
	ck_assert(evtimer_pending(r.at.at_pending_ev, NULL));
	attach_set_viewers(&r.at, CTL_KIND_JPEG, 7);
	ck_assert_int_eq(attach_request_keyframe(&r.at, CTL_KIND_H264), 0);
	ck_assert_uint_eq(r.at.at_keyframe_requests, 0);
	ck_assert_uint_ne(r.at.at_keyframe_pending, 0);

	/* The capture reads all; the retry comes ATTACH_RETRY_MS later. */
	memset(&last, 0, sizeof(last));
	while ((type = rig_recv(&r, &m)) != 0)
		ck_assert_uint_eq(type, CTL_VIEWERS);
	UNTIL(&r, r.at.at_keyframe_requests == 1, ATTACH_RETRY_MS + 3000);
	while ((type = rig_recv(&r, &m)) != 0) {
		if (type == CTL_KEYFRAME)
			keyframes++;
		else
			last = m;
	}
	ck_assert_uint_eq(keyframes, 1);
	ck_assert_uint_eq(last.hdr.ch_type, CTL_VIEWERS);
	ck_assert_uint_eq(last.viewers.viewers[CTL_KIND_JPEG], 7);
	ck_assert(!r.at.at_viewers_dirty);
	ck_assert_uint_eq(r.at.at_keyframe_pending, 0);
	ck_assert(!evtimer_pending(r.at.at_pending_ev, NULL));
	rig_free(&r);
}
END_TEST

/*
 * An attached reader with nothing pending has no timer armed (an idle
 * server is woken by nothing of attach's); connecting, it has the
 * welcome's deadline; waiting, the retry.
 */
START_TEST(test_no_timer_when_idle)
{
	struct rig r;
	const uint32_t some[CTL_KINDS] = { 3, 1 };

	rig_init(&r, CTL_KINDS_ALL);
	attach_start(&r.at);
	ck_assert_uint_eq(timers_armed(&r), 1);	/* the welcome's */
	ck_assert(evtimer_pending(r.at.at_deadline_ev, NULL));
	rig_welcomed(&r);
	rig_stream(&r);
	UNTIL(&r, r.at.at_mapped[CTL_KIND_H264], 3000);
	ck_assert_uint_eq(timers_armed(&r), 0);
	attach_set_viewers_all(&r.at, some);
	ck_assert_int_eq(attach_request_keyframe(&r.at, CTL_KIND_H264), 0);
	rig_turn(&r, 20);
	ck_assert_uint_eq(timers_armed(&r), 0);

	close(r.cs);
	r.cs = -1;
	UNTIL(&r, r.at.at_state == ATTACH_IDLE, 3000);
	ck_assert_uint_eq(timers_armed(&r), 1);	/* the retry */
	ck_assert(evtimer_pending(r.at.at_retry_ev, NULL));
	rig_free(&r);
}
END_TEST

static Suite *
attach_suite(void)
{
	Suite *s = suite_create("attach");
	TCase *tc = tcase_create("core");

	/* Each case waits a few backoffs (100..500 ms) at most, or one
	 * retry of a full socket (ATTACH_RETRY_MS). */
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_welcome_maps_ring);
	tcase_add_test(tc, test_wakeups_are_edges);
	tcase_add_test(tc, test_not_an_eventfd_refused);
	tcase_add_test(tc, test_wrong_ring_refused);
	tcase_add_test(tc, test_stream_not_asked_for);
	tcase_add_test(tc, test_stream_maps_h264);
	tcase_add_test(tc, test_loss_then_retry);
	tcase_add_test(tc, test_refused_and_absent);
	tcase_add_test(tc, test_drop_from_up);
	tcase_add_test(tc, test_viewers_once_per_change);
	tcase_add_test(tc, test_full_socket_retried);
	tcase_add_test(tc, test_no_timer_when_idle);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(attach_suite());
}
