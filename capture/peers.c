/*
 * peers.c - control socket server of the capture (see peers.h, ctl.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "peers.h"

static void peer_read_cb(evutil_socket_t, short, void *);
static void peer_wake(const struct peer *, int);

static void
peers_update_counts(struct peers *ps)
{
	struct peer *p;
	uint32_t viewers[CTL_KINDS] = { 0 };
	int changed = 0;
	unsigned k;

	/* Saturating: two huge reports must not wrap to a few viewers,
	 * which would stop the encoding everyone is watching. */
	TAILQ_FOREACH(p, &ps->ps_list, p_entry) {
		if (p->p_efd == -1)
			continue;
		for (k = 0; k < CTL_KINDS; k++)
			viewers[k] = p->p_viewers[k] > UINT32_MAX - viewers[k] ?
			    UINT32_MAX : viewers[k] + p->p_viewers[k];
	}
	ring_writer_set_peers(ps->ps_ring, ps->ps_attached,
	    viewers[CTL_KIND_JPEG]);
	if (ps->ps_h264 != NULL)
		ring_writer_set_peers(ps->ps_h264, ps->ps_h264_attached,
		    viewers[CTL_KIND_H264]);
	for (k = 0; k < CTL_KINDS; k++) {
		changed |= viewers[k] != ps->ps_viewers[k];
		ps->ps_viewers[k] = viewers[k];
	}
	if (changed && ps->ps_viewers_cb != NULL)
		ps->ps_viewers_cb(ps, ps->ps_cb_arg);
}

/* Forgets the H.264 eventfd of p, if it has one. */
static void
peer_drop_h264(struct peer *p)
{
	if (p->p_h264_efd == -1)
		return;
	close(p->p_h264_efd);
	p->p_h264_efd = -1;
	p->p_owner->ps_h264_attached--;
}

static void
peer_close(struct peer *p, const char *reason)
{
	struct peers *ps = p->p_owner;

	if (p->p_efd != -1) {
		log_info("server %s (pid %d) detached: %s", p->p_label,
		    (int)p->p_pid, reason);
		ps->ps_attached--;
		close(p->p_efd);
		peer_drop_h264(p);
	} else {
		log_debug("control peer pid %d closed before hello: %s",
		    (int)p->p_pid, reason);
		ps->ps_pending--;
		ps->ps_refused++;
	}
	TAILQ_REMOVE(&ps->ps_list, p, p_entry);
	event_free(p->p_ev);
	event_free(p->p_deadline);
	close(p->p_sock);
	free(p);
	peers_update_counts(ps);
}

static void
peer_refuse(struct peer *p, int error, const char *reason)
{
	struct ctl_refused msg;

	ctl_init(&msg.h, CTL_REFUSED, sizeof(msg));
	msg.error = error;
	snprintf(msg.reason, sizeof(msg.reason), "%s", reason);
	(void)ctl_send(p->p_sock, &msg, sizeof(msg), NULL, 0);
	peer_close(p, reason);
}

/*
 * Sends p msg (len bytes) with a fresh eventfd of its own and ring's
 * read-only descriptor; the eventfd, or -1 with p closed (what says what
 * was not sent).
 */
static int
peer_send_ring(struct peer *p, const void *msg, size_t len,
    const struct ring_writer *ring, const char *what)
{
	char reason[64];
	int fds[2], efd, rc;

	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd == -1) {
		log_warn("eventfd for server pid %d", (int)p->p_pid);
		snprintf(reason, sizeof(reason), "eventfd for %s failed", what);
		/* Still in the handshake: told why; attached: let go. */
		if (p->p_efd == -1)
			peer_refuse(p, errno, reason);
		else
			peer_close(p, reason);
		return -1;
	}
	fds[0] = efd;
	fds[1] = ring->rw_ro_fd;
	rc = ctl_send(p->p_sock, msg, len, fds, 2);
	if (rc != 0) {
		close(efd);
		errno = -rc;
		log_warn("%s to server pid %d", what, (int)p->p_pid);
		snprintf(reason, sizeof(reason), "%s not sent", what);
		peer_close(p, reason);
		return -1;
	}
	return efd;
}

/*
 * Sends p the H.264 ring with a fresh eventfd of its own (replacing the
 * one it had).  0, or -1 if p was closed.
 */
static int
peer_send_h264(struct peer *p)
{
	struct peers *ps = p->p_owner;
	const struct ring_writer *w = ps->ps_h264;
	struct ctl_stream msg;
	int efd;

	peer_drop_h264(p);
	ctl_init(&msg.h, CTL_STREAM, sizeof(msg));
	msg.generation = w->rw_identity.rh_generation;
	msg.kind = CTL_KIND_H264;
	msg.codec = RING_CODEC_H264;
	msg.slot_count = w->rw_slot_count;
	msg.slot_size = w->rw_slot_size;
	msg.width = w->rw_status.width;
	msg.height = w->rw_status.height;
	msg.fps_milli = w->rw_status.fps_milli;
	snprintf(msg.shm_name, sizeof(msg.shm_name), "%s", w->rw_name);
	if ((efd = peer_send_ring(p, &msg, sizeof(msg), w, "H.264 ring")) < 0)
		return -1;
	p->p_h264_efd = efd;
	ps->ps_h264_attached++;
	return 0;
}

static void
peer_welcome(struct peer *p, const struct ctl_hello *hello)
{
	struct peers *ps = p->p_owner;
	const struct ring_writer *w = ps->ps_ring;
	struct ctl_welcome msg;
	int efd;

	/* The label is the peer's to choose: escaped before any log line
	 * carries it (ctl_validate() made sure it is terminated). */
	log_escape(hello->label, sizeof(hello->label), p->p_label,
	    sizeof(p->p_label));
	if (hello->ring_abi != RING_ABI_VERSION) {
		peer_refuse(p, EPROTONOSUPPORT, "ring ABI version mismatch");
		return;
	}
	if (ps->ps_attached >= PEERS_MAX) {
		peer_refuse(p, EUSERS, "too many servers attached");
		return;
	}
	/* From the writer's private copies: nothing is read back from the
	 * shared header (ring.h). */
	ctl_init(&msg.h, CTL_WELCOME, sizeof(msg));
	msg.generation = w->rw_identity.rh_generation;
	msg.ring_abi = RING_ABI_VERSION;
	msg.slot_count = w->rw_slot_count;
	msg.slot_size = w->rw_slot_size;
	msg.width = w->rw_status.width;
	msg.height = w->rw_status.height;
	msg.fps_milli = w->rw_status.fps_milli;
	msg.pid = (uint32_t)getpid();
	msg.kinds = CTL_KIND_BIT(CTL_KIND_JPEG) |
	    (ps->ps_h264 != NULL ? CTL_KIND_BIT(CTL_KIND_H264) : 0);
	snprintf(msg.shm_name, sizeof(msg.shm_name), "%s", w->rw_name);
	if ((efd = peer_send_ring(p, &msg, sizeof(msg), w, "welcome")) < 0)
		return;
	p->p_efd = efd;
	p->p_kinds = hello->kinds;
	ps->ps_pending--;
	ps->ps_attached++;
	evtimer_del(p->p_deadline);
	log_info("server %s (pid %d, uid %d) attached, %u attached",
	    p->p_label, (int)p->p_pid, (int)p->p_uid, ps->ps_attached);
	if (ps->ps_h264 != NULL && (p->p_kinds & CTL_KIND_BIT(CTL_KIND_H264)) &&
	    peer_send_h264(p) != 0)
		return;
	peers_update_counts(ps);
}

/*
 * A server's viewer counts, by kind.  A kind it had no viewer of and has
 * now is woken at once: the server read the ring's newest frame itself
 * when its first viewer came, and a frame published between that read
 * and this message would otherwise wait for the next publish to be seen
 * (peer_wake_kind() skipped it).
 */
static void
peer_set_viewers(struct peer *p, const uint32_t viewers[CTL_KINDS])
{
	unsigned k;

	for (k = 0; k < CTL_KINDS; k++) {
		if (p->p_viewers[k] == 0 && viewers[k] != 0)
			peer_wake(p, k == CTL_KIND_H264 ? p->p_h264_efd :
			    p->p_efd);
		p->p_viewers[k] = viewers[k];
	}
	peers_update_counts(p->p_owner);
}

static void
peer_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;
	union ctl_msg msg;
	int fds[CTL_MAX_FDS], nfds;
	ssize_t n;

	(void)fd;
	(void)what;
	/* Bounded: a peer cannot keep us here by sending without pause. */
	for (int i = 0; i < 16; i++) {
		n = ctl_recv(p->p_sock, &msg, fds, &nfds);
		if (n == -EAGAIN)
			return;
		if (n == 0) {
			peer_close(p, "closed the connection");
			return;
		}
		if (n < 0) {
			log_warnx("control peer pid %d: %s, closing",
			    (int)p->p_pid, strerror((int)-n));
			peer_close(p, "invalid message");
			return;
		}
		switch (msg.hdr.ch_type) {
		case CTL_HELLO:
			if (p->p_efd != -1) {
				peer_close(p, "second hello");
				return;
			}
			peer_welcome(p, &msg.hello);
			return;	/* p may be gone */
		case CTL_VIEWERS:
			if (p->p_efd == -1) {
				peer_close(p, "viewers before hello");
				return;
			}
			peer_set_viewers(p, msg.viewers.viewers);
			break;
		case CTL_KEYFRAME:
			if (p->p_efd == -1) {
				peer_close(p, "keyframe request before hello");
				return;
			}
			if (p->p_owner->ps_keyframe_cb != NULL)
				p->p_owner->ps_keyframe_cb(p->p_owner,
				    p->p_owner->ps_cb_arg);
			break;
		default:
			log_warnx("control peer pid %d sent %s, closing",
			    (int)p->p_pid, ctl_type_name(msg.hdr.ch_type));
			peer_close(p, "unexpected message");
			return;
		}
	}
}

static void
peer_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	peer_close(arg, "no hello in time");
}

static void
peers_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peers *ps = arg;

	(void)fd;
	(void)what;
	event_add(ps->ps_listen_ev, NULL);
}

static void
peers_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct peers *ps = arg;
	struct ucred cred;
	socklen_t len;
	struct peer *p;
	struct timeval tv = { PEER_HELLO_TIMEOUT_MS / 1000,
	    (PEER_HELLO_TIMEOUT_MS % 1000) * 1000 };
	int fd;

	(void)what;
	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EAGAIN || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* Pause accepting instead of spinning. */
				struct timeval pause = { 1, 0 };
				log_warn("control socket accept, pausing 1 s");
				event_del(ps->ps_listen_ev);
				evtimer_add(ps->ps_resume_ev, &pause);
				return;
			}
			log_warn("control socket accept");
			return;
		}
		if (ps->ps_pending >= PEERS_PENDING_MAX ||
		    ps->ps_pending + ps->ps_attached >= PEERS_MAX +
		    PEERS_PENDING_MAX) {
			ps->ps_refused++;
			close(fd);
			continue;
		}
		p = calloc(1, sizeof(*p));
		if (p == NULL) {
			close(fd);
			continue;
		}
		p->p_owner = ps;
		p->p_sock = fd;
		p->p_efd = p->p_h264_efd = -1;
		snprintf(p->p_label, sizeof(p->p_label), "?");
		len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
			p->p_pid = cred.pid;
			p->p_uid = cred.uid;
		}
		p->p_ev = event_new(ps->ps_base, fd, EV_READ | EV_PERSIST,
		    peer_read_cb, p);
		p->p_deadline = evtimer_new(ps->ps_base, peer_deadline_cb, p);
		if (p->p_ev == NULL || p->p_deadline == NULL ||
		    event_add(p->p_ev, NULL) == -1 ||
		    evtimer_add(p->p_deadline, &tv) == -1) {
			if (p->p_ev != NULL)
				event_free(p->p_ev);
			if (p->p_deadline != NULL)
				event_free(p->p_deadline);
			close(fd);
			free(p);
			continue;
		}
		TAILQ_INSERT_TAIL(&ps->ps_list, p, p_entry);
		ps->ps_pending++;
	}
}

int
peers_init(struct peers *ps, struct event_base *base, int listen_fd,
    struct ring_writer *ring)
{
	memset(ps, 0, sizeof(*ps));
	TAILQ_INIT(&ps->ps_list);
	ps->ps_base = base;
	ps->ps_listen = listen_fd;
	ps->ps_ring = ring;
	ps->ps_listen_ev = event_new(base, listen_fd, EV_READ | EV_PERSIST,
	    peers_accept_cb, ps);
	ps->ps_resume_ev = evtimer_new(base, peers_resume_cb, ps);
	if (ps->ps_listen_ev == NULL || ps->ps_resume_ev == NULL ||
	    event_add(ps->ps_listen_ev, NULL) == -1)
		return -ENOMEM;
	return 0;
}

void
peers_free(struct peers *ps)
{
	struct peer *p;

	while ((p = TAILQ_FIRST(&ps->ps_list)) != NULL) {
		TAILQ_REMOVE(&ps->ps_list, p, p_entry);
		if (p->p_efd != -1)
			close(p->p_efd);
		if (p->p_h264_efd != -1)
			close(p->p_h264_efd);
		event_free(p->p_ev);
		event_free(p->p_deadline);
		close(p->p_sock);
		free(p);
	}
	if (ps->ps_listen_ev != NULL)
		event_free(ps->ps_listen_ev);
	if (ps->ps_resume_ev != NULL)
		event_free(ps->ps_resume_ev);
	if (ps->ps_listen != -1)
		close(ps->ps_listen);
	memset(ps, 0, sizeof(*ps));
	ps->ps_listen = -1;
}

void
peers_close_all(struct peers *ps, const char *reason)
{
	struct peer *p;

	while ((p = TAILQ_FIRST(&ps->ps_list)) != NULL)
		peer_close(p, reason);
}

static void
peer_wake(const struct peer *p, int efd)
{
	static const uint64_t one = 1;

	/*
	 * EAGAIN means the counter is already huge: a wake-up is pending,
	 * which is all this write is for.
	 */
	if (efd != -1 && write(efd, &one, sizeof(one)) == -1 &&
	    errno != EAGAIN)
		log_warn("eventfd write for server pid %d", (int)p->p_pid);
}

/*
 * Wakes p after a publish into the ring of kind, if it has a viewer of
 * that kind.  A server with none has nothing to send: waking it would
 * cost it a turn of its loop and a copy of the frame, and us a system
 * call and the scheduling of another process, at every frame (on a
 * virtual machine the wake-up is most of a frame's cost to both:
 * docs/performance.md).  It reads the ring's newest frame itself when a
 * viewer comes, and is woken once more then (peer_set_viewers()).
 */
static void
peer_wake_kind(const struct peer *p, unsigned kind)
{
	if (p->p_viewers[kind] != 0)
		peer_wake(p, kind == CTL_KIND_H264 ? p->p_h264_efd : p->p_efd);
}

void
peers_notify(struct peers *ps)
{
	struct peer *p;

	TAILQ_FOREACH(p, &ps->ps_list, p_entry)
		peer_wake_kind(p, CTL_KIND_JPEG);
}

void
peers_notify_h264(struct peers *ps)
{
	struct peer *p;

	TAILQ_FOREACH(p, &ps->ps_list, p_entry)
		peer_wake_kind(p, CTL_KIND_H264);
}

void
peers_set_h264(struct peers *ps, struct ring_writer *h264)
{
	struct peer *p, *next;

	ps->ps_h264 = h264;
	/* peer_send_h264() may close (and free) p. */
	for (p = TAILQ_FIRST(&ps->ps_list); p != NULL; p = next) {
		next = TAILQ_NEXT(p, p_entry);
		if (p->p_efd != -1 && (p->p_kinds & CTL_KIND_BIT(CTL_KIND_H264)))
			(void)peer_send_h264(p);
	}
	peers_update_counts(ps);
}
