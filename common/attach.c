/*
 * attach.c - a reader's link to one capture (see attach.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attach.h"
#include "clock.h"
#include "log.h"

#define BACKOFF_MIN_MS		100
#define BACKOFF_MAX_MS		500
#define WELCOME_TIMEOUT_MS	2000

static void attach_flush(struct attach *at);

static const uint32_t kind_codec[CTL_KINDS] = {
	[CTL_KIND_JPEG] = RING_CODEC_JPEG,
	[CTL_KIND_H264] = RING_CODEC_H264,
};

static void
attach_schedule_retry(struct attach *at)
{
	struct timeval tv = ms_tv(at->at_backoff_ms);

	evtimer_add(at->at_retry_ev, &tv);
	at->at_backoff_ms *= 2;
	if (at->at_backoff_ms > BACKOFF_MAX_MS)
		at->at_backoff_ms = BACKOFF_MAX_MS;
}

/* Lets go of the ring of kind and its eventfd, telling the caller
 * first (while the ring is still mapped). */
static void
attach_unmap(struct attach *at, enum ctl_kind kind)
{
	if (!at->at_mapped[kind])
		return;
	at->at_cb(at, ATTACH_DOWN, kind, at->at_cb_arg);
	if (at->at_efd_ev[kind] != NULL) {
		event_free(at->at_efd_ev[kind]);
		at->at_efd_ev[kind] = NULL;
	}
	if (at->at_efd[kind] != -1)
		close(at->at_efd[kind]);
	at->at_efd[kind] = -1;
	ring_reader_close(&at->at_ring[kind]);
	at->at_mapped[kind] = 0;
}

/* Not attached any more: the state first, so that what the DOWN
 * callbacks do (viewer counts that change) sends nothing. */
static void
attach_close(struct attach *at)
{
	int k;

	at->at_state = ATTACH_IDLE;
	for (k = CTL_KINDS - 1; k >= 0; k--)
		attach_unmap(at, (enum ctl_kind)k);
	evtimer_del(at->at_deadline_ev);
	/* The welcome of the next link has the viewer counts, and no ring
	 * is left to want a keyframe of. */
	evtimer_del(at->at_pending_ev);
	at->at_keyframe_pending = 0;
	if (at->at_sock_ev != NULL) {
		event_free(at->at_sock_ev);
		at->at_sock_ev = NULL;
	}
	if (at->at_sock != -1)
		close(at->at_sock);
	at->at_sock = -1;
}

/* Logs a reason for not being attached, once per distinct reason (a
 * capture that stays away is retried twice a second). */
static void
attach_note(struct attach *at, const char *why)
{
	if (strcmp(at->at_why, why) != 0)
		log_info("camera %s: %s", at->at_name, why);
	else
		log_debug("camera %s: %s", at->at_name, why);
	snprintf(at->at_why, sizeof(at->at_why), "%s", why);
}

static void
attach_lost(struct attach *at, const char *why)
{
	if (at->at_state == ATTACH_ATTACHED)
		at->at_losses++;
	attach_note(at, why);
	attach_close(at);
	attach_schedule_retry(at);
	at->at_cb(at, ATTACH_WAITING, CTL_KIND_JPEG, at->at_cb_arg);
}

void
attach_drop(struct attach *at, const char *why)
{
	/* Idle already: nothing to drop (a DOWN callback's call, or a
	 * second one). */
	if (at->at_state == ATTACH_IDLE)
		return;
	attach_lost(at, why);
}

static void
attach_wakeup_cb(evutil_socket_t fd, short what, void *arg)
{
	struct attach *at = arg;
	int k;

	(void)what;
	for (k = 0; k < CTL_KINDS; k++)
		if (at->at_efd[k] == fd) {
			at->at_cb(at, ATTACH_WAKEUP, (enum ctl_kind)k,
			    at->at_cb_arg);
			return;
		}
}

/*
 * Polls kind's eventfd while it is mapped and watched, else not;
 * edge-triggered and never read (attach.h).  Adding it again with
 * writes counted since reports it readable once: a wake-up that finds
 * nothing new in the ring, or what came while it was not polled.
 */
static void
attach_poll(struct attach *at, enum ctl_kind kind)
{
	int want = at->at_mapped[kind] && (at->at_viewers[kind] > 0 ||
	    (at->at_poll_always & CTL_KIND_BIT(kind)));

	if (want && at->at_efd_ev[kind] == NULL) {
		at->at_efd_ev[kind] = event_new(at->at_base, at->at_efd[kind],
		    EV_READ | EV_PERSIST | EV_ET, attach_wakeup_cb, at);
		if (at->at_efd_ev[kind] == NULL ||
		    event_add(at->at_efd_ev[kind], NULL) == -1) {
			if (at->at_efd_ev[kind] != NULL)
				event_free(at->at_efd_ev[kind]);
			at->at_efd_ev[kind] = NULL;
			log_warnx("camera %s: out of memory for events",
			    at->at_name);
		}
	} else if (!want && at->at_efd_ev[kind] != NULL) {
		event_free(at->at_efd_ev[kind]);
		at->at_efd_ev[kind] = NULL;
	}
}

/*
 * Maps the ring of kind from ringfd (closed here) and takes efd, after
 * checking that they are what the message said (the ring's codec,
 * generation and geometry; efd an eventfd).  0, or -1 after
 * attach_lost() with both closed.
 */
static int
attach_map(struct attach *at, enum ctl_kind kind, uint64_t generation,
    uint32_t slot_count, uint32_t slot_size, uint32_t fps_milli, int efd,
    int ringfd)
{
	struct ring_reader *r = &at->at_ring[kind];
	char why[128];
	int rc;

	attach_unmap(at, kind);
	/* Anything but an eventfd as the wake-up descriptor could keep the
	 * loop busy (a pipe whose writer is gone is readable for ever). */
	if ((rc = ctl_fd_is_eventfd(efd)) != 1) {
		close(efd);
		close(ringfd);
		snprintf(why, sizeof(why), "%s wake-up descriptor from capture "
		    "refused: %s", ring_codec_name(kind_codec[kind]),
		    rc == 0 ? "not an eventfd" : strerror(-rc));
		attach_lost(at, why);
		return -1;
	}
	rc = ring_reader_attach_fd(r, ringfd);
	close(ringfd);
	if (rc == 0 && r->rr_geo.codec != kind_codec[kind])
		rc = -EMEDIUMTYPE;
	if (rc == 0 && (r->rr_geo.generation != generation ||
	    r->rr_geo.slot_count != slot_count ||
	    r->rr_geo.slot_size != slot_size))
		rc = -ESTALE;
	if (rc != 0) {
		if (r->rr_map != NULL)
			ring_reader_close(r);
		close(efd);
		snprintf(why, sizeof(why), "%s ring from capture refused: %s",
		    ring_codec_name(kind_codec[kind]), ring_strerror(rc));
		attach_lost(at, why);
		return -1;
	}
	at->at_efd[kind] = efd;
	at->at_mapped[kind] = 1;
	at->at_generation[kind] = generation;
	at->at_fps_milli[kind] = fps_milli;
	return 0;
}

/* Tells the caller that kind is mapped, then polls it: 0, or -1 if the
 * caller dropped the link meanwhile. */
static int
attach_up(struct attach *at, enum ctl_kind kind)
{
	at->at_cb(at, ATTACH_UP, kind, at->at_cb_arg);
	if (!at->at_mapped[kind])
		return -1;
	attach_poll(at, kind);
	return 0;
}

static void
attach_welcome(struct attach *at, const struct ctl_welcome *w, int efd,
    int ringfd)
{
	char name[4 * sizeof(w->shm_name)];

	evtimer_del(at->at_deadline_ev);
	at->at_capture_pid = (pid_t)w->pid;
	at->at_capture_kinds = w->kinds;
	if (attach_map(at, CTL_KIND_JPEG, w->generation, w->slot_count,
	    w->slot_size, w->fps_milli, efd, ringfd) != 0)
		return;
	at->at_state = ATTACH_ATTACHED;
	at->at_backoff_ms = BACKOFF_MIN_MS;
	at->at_attaches++;
	at->at_why[0] = '\0';
	log_info("camera %s: attached to capture pid %u, ring %s generation "
	    "%016llx, %ux%u", at->at_name, w->pid, log_escape(w->shm_name,
	    sizeof(w->shm_name), name, sizeof(name)),
	    (unsigned long long)w->generation, w->width, w->height);
	if (attach_up(at, CTL_KIND_JPEG) != 0)
		return;
	/* A capture knows nothing of us yet: zeros included. */
	at->at_viewers_dirty = 1;
	attach_flush(at);
}

static void
attach_stream(struct attach *at, const struct ctl_stream *m, int efd,
    int ringfd)
{
	enum ctl_kind kind = (enum ctl_kind)m->kind;
	char name[4 * sizeof(m->shm_name)];

	if (kind == CTL_KIND_JPEG || !(at->at_kinds & CTL_KIND_BIT(kind))) {
		close(efd);
		close(ringfd);
		attach_lost(at, "capture sent a ring of a kind not asked for");
		return;
	}
	if (attach_map(at, kind, m->generation, m->slot_count, m->slot_size,
	    m->fps_milli, efd, ringfd) != 0)
		return;
	log_info("camera %s: %s ring %s generation %016llx, %ux%u",
	    at->at_name, ring_codec_name(kind_codec[kind]),
	    log_escape(m->shm_name, sizeof(m->shm_name), name, sizeof(name)),
	    (unsigned long long)m->generation, m->width, m->height);
	(void)attach_up(at, kind);
}

static void
attach_sock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct attach *at = arg;
	union ctl_msg msg;
	int fds[CTL_MAX_FDS], nfds, i;
	char why[128];
	ssize_t n;

	(void)fd;
	(void)what;
	n = ctl_recv(at->at_sock, &msg, fds, &nfds);
	if (n == -EAGAIN)
		return;
	/* A capture that exits with a message of ours unread resets the
	 * connection rather than closing it: the same for us. */
	if (n == 0 || n == -ECONNRESET) {
		attach_lost(at, "capture closed the control socket");
		return;
	}
	if (n < 0) {
		snprintf(why, sizeof(why), "invalid message from capture: %s",
		    strerror((int)-n));
		attach_lost(at, why);
		return;
	}
	if (at->at_state == ATTACH_HELLO && msg.hdr.ch_type == CTL_WELCOME) {
		attach_welcome(at, &msg.welcome, fds[0], fds[1]);
		return;
	}
	if (at->at_state == ATTACH_ATTACHED && msg.hdr.ch_type == CTL_STREAM) {
		attach_stream(at, &msg.stream, fds[0], fds[1]);
		return;
	}
	if (at->at_state == ATTACH_HELLO && msg.hdr.ch_type == CTL_REFUSED) {
		char reason[4 * CTL_REASON_MAX];

		snprintf(why, sizeof(why), "capture refused us: %s",
		    log_escape(msg.refused.reason, sizeof(msg.refused.reason),
		    reason, sizeof(reason)));
		attach_lost(at, why);
		return;
	}
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	snprintf(why, sizeof(why), "unexpected %s message from capture",
	    ctl_type_name(msg.hdr.ch_type));
	attach_lost(at, why);
}

static void
attach_connect(struct attach *at)
{
	struct ctl_hello hello;
	struct timeval tv = ms_tv(WELCOME_TIMEOUT_MS);
	char why[sizeof(at->at_why)], err[256];
	int rc, fd;

	rc = ctl_connect_capture(at->at_ctl, at->at_capture_uid, &fd, err,
	    sizeof(err));
	if (rc != 0) {
		snprintf(why, sizeof(why), "waiting for capture at %s: %s",
		    at->at_ctl, err);
		attach_note(at, why);
		attach_schedule_retry(at);
		at->at_cb(at, ATTACH_WAITING, CTL_KIND_JPEG, at->at_cb_arg);
		return;
	}
	at->at_sock = fd;
	ctl_init(&hello.h, CTL_HELLO, sizeof(hello));
	hello.pid = (uint32_t)getpid();
	hello.ring_abi = RING_ABI_VERSION;
	hello.kinds = at->at_kinds;
	hello.reserved = 0;
	snprintf(hello.label, sizeof(hello.label), "%s", at->at_label);
	rc = ctl_send(fd, &hello, sizeof(hello), NULL, 0);
	if (rc != 0) {
		snprintf(why, sizeof(why), "hello to capture: %s",
		    strerror(-rc));
		attach_lost(at, why);
		return;
	}
	at->at_sock_ev = event_new(at->at_base, fd, EV_READ | EV_PERSIST,
	    attach_sock_cb, at);
	if (at->at_sock_ev == NULL || event_add(at->at_sock_ev, NULL) == -1 ||
	    evtimer_add(at->at_deadline_ev, &tv) == -1) {
		attach_lost(at, "out of memory for events");
		return;
	}
	at->at_state = ATTACH_HELLO;
}

static void
attach_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	attach_lost(arg, "capture did not answer the hello");
}

static void
attach_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	attach_connect(arg);
}

static void
attach_pending_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	attach_flush(arg);
}

/*
 * Sends the capture what it has not had: the viewer counts (first: the
 * capture encodes a kind only for viewers), then the keyframe requests.
 * What the control socket has no room for waits for a one-shot retry,
 * armed only then: an idle reader has no timer of ours.
 */
static void
attach_flush(struct attach *at)
{
	struct ctl_viewers v;
	struct ctl_keyframe kf;
	struct timeval tv = ms_tv(ATTACH_RETRY_MS);
	int k;

	if (at->at_state != ATTACH_ATTACHED)
		return;
	if (at->at_viewers_dirty) {
		ctl_init(&v.h, CTL_VIEWERS, sizeof(v));
		for (k = 0; k < CTL_KINDS; k++)
			v.viewers[k] = at->at_viewers[k];
		if (ctl_send(at->at_sock, &v, sizeof(v), NULL, 0) == 0)
			at->at_viewers_dirty = 0;
	}
	for (k = 0; k < CTL_KINDS; k++) {
		if (!(at->at_keyframe_pending & CTL_KIND_BIT(k)))
			continue;
		/* The ring it was for is gone; its successor's first frame
		 * is a keyframe. */
		if (!at->at_mapped[k]) {
			at->at_keyframe_pending &= ~CTL_KIND_BIT(k);
			continue;
		}
		ctl_init(&kf.h, CTL_KEYFRAME, sizeof(kf));
		kf.kind = (uint32_t)k;
		kf.reserved = 0;
		if (ctl_send(at->at_sock, &kf, sizeof(kf), NULL, 0) != 0)
			continue;
		at->at_keyframe_pending &= ~CTL_KIND_BIT(k);
		at->at_keyframe_requests++;
	}
	if ((at->at_viewers_dirty || at->at_keyframe_pending != 0) &&
	    !evtimer_pending(at->at_pending_ev, NULL))
		evtimer_add(at->at_pending_ev, &tv);
}

void
attach_set_viewers_all(struct attach *at, const uint32_t n[CTL_KINDS])
{
	int k;

	for (k = 0; k < CTL_KINDS; k++) {
		if (at->at_viewers[k] != n[k])
			at->at_viewers_dirty = 1;
		at->at_viewers[k] = n[k];
		attach_poll(at, (enum ctl_kind)k);
	}
	if (at->at_viewers_dirty)
		attach_flush(at);
}

void
attach_set_viewers(struct attach *at, enum ctl_kind kind, uint32_t n)
{
	uint32_t all[CTL_KINDS];

	memcpy(all, at->at_viewers, sizeof(all));
	all[kind] = n;
	attach_set_viewers_all(at, all);
}

int
attach_request_keyframe(struct attach *at, enum ctl_kind kind)
{
	/* Every JPEG frame is one (the capture refuses the request). */
	if (kind == CTL_KIND_JPEG)
		return -EINVAL;
	if (at->at_state != ATTACH_ATTACHED || !at->at_mapped[kind])
		return -ENOTCONN;
	at->at_keyframe_pending |= CTL_KIND_BIT(kind);
	attach_flush(at);
	return 0;
}

const char *
attach_state_name(const struct attach *at)
{
	switch (at->at_state) {
	case ATTACH_ATTACHED:
		return "attached";
	case ATTACH_HELLO:
		return "connecting";
	case ATTACH_IDLE:
		break;
	}
	return "waiting";
}

int
attach_init(struct attach *at, struct event_base *base, const char *name,
    const char *ctl_path, const char *label, uint32_t kinds, attach_cb *cb,
    void *arg)
{
	int k;

	memset(at, 0, sizeof(*at));
	at->at_base = base;
	at->at_sock = -1;
	at->at_capture_uid = (uid_t)-1;
	for (k = 0; k < CTL_KINDS; k++)
		at->at_efd[k] = -1;
	at->at_backoff_ms = BACKOFF_MIN_MS;
	at->at_kinds = (kinds & CTL_KINDS_ALL) | CTL_KIND_BIT(CTL_KIND_JPEG);
	at->at_cb = cb;
	at->at_cb_arg = arg;
	if (strlen(name) >= sizeof(at->at_name))
		return -ENAMETOOLONG;
	snprintf(at->at_name, sizeof(at->at_name), "%s", name);
	snprintf(at->at_label, sizeof(at->at_label), "%s", label);
	if (ctl_path != NULL) {
		if (strlen(ctl_path) >= sizeof(at->at_ctl))
			return -ENAMETOOLONG;
		snprintf(at->at_ctl, sizeof(at->at_ctl), "%s", ctl_path);
	} else if (ctl_default_path(name, at->at_ctl,
	    sizeof(at->at_ctl)) != 0) {
		return -ENAMETOOLONG;
	}
	at->at_retry_ev = evtimer_new(base, attach_retry_cb, at);
	at->at_deadline_ev = evtimer_new(base, attach_deadline_cb, at);
	at->at_pending_ev = evtimer_new(base, attach_pending_cb, at);
	if (at->at_retry_ev == NULL || at->at_deadline_ev == NULL ||
	    at->at_pending_ev == NULL) {
		attach_free(at);
		return -ENOMEM;
	}
	return 0;
}

void
attach_start(struct attach *at)
{
	attach_connect(at);
}

void
attach_free(struct attach *at)
{
	int k;

	/* No callbacks from here on: the caller is going away. */
	for (k = 0; k < CTL_KINDS; k++) {
		if (at->at_efd_ev[k] != NULL)
			event_free(at->at_efd_ev[k]);
		at->at_efd_ev[k] = NULL;
		if (at->at_efd[k] != -1)
			close(at->at_efd[k]);
		at->at_efd[k] = -1;
		if (at->at_mapped[k])
			ring_reader_close(&at->at_ring[k]);
		at->at_mapped[k] = 0;
	}
	if (at->at_sock_ev != NULL)
		event_free(at->at_sock_ev);
	at->at_sock_ev = NULL;
	if (at->at_sock != -1)
		close(at->at_sock);
	at->at_sock = -1;
	if (at->at_retry_ev != NULL)
		event_free(at->at_retry_ev);
	if (at->at_deadline_ev != NULL)
		event_free(at->at_deadline_ev);
	if (at->at_pending_ev != NULL)
		event_free(at->at_pending_ev);
	at->at_retry_ev = at->at_deadline_ev = at->at_pending_ev = NULL;
	at->at_state = ATTACH_IDLE;
}
