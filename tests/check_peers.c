/*
 * check_peers.c - the capture's side of the control socket
 * (capture/peers.c) with scripted servers on a real socket and a real
 * ring: the welcome carries the writer's own identity and status, not
 * whatever the shared header says now; the viewers of all servers add up
 * without wrapping, kind by kind; a server is woken only while it has a
 * viewer; a server's label reaches the log escaped.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "ctl.h"
#include "log.h"
#include "peers.h"
#include "ring.h"
#include "testutil.h"

struct rig {
	struct event_base *base;
	struct ring_writer ring;
	struct peers	 ps;
	char		 path[108];
};

static void
rig_start(struct rig *r)
{
	static int n;
	char name[RING_NAME_MAX], why[256];
	int fd;

	memset(r, 0, sizeof(*r));
	signal(SIGPIPE, SIG_IGN);
	snprintf(name, sizeof(name), "shmcam-check-peers-%d-%d", (int)getpid(),
	    n);
	snprintf(r->path, sizeof(r->path), "%s/peers-%d.sock", tu_tmpdir(),
	    n++);
	ck_assert_int_eq(ring_writer_create(&r->ring, name, RING_SLOTS_MIN,
	    RING_SLOT_SIZE_MIN), 0);
	ck_assert_ptr_nonnull(r->base = event_base_new());
	fd = ctl_listen(r->path, 0600, (gid_t)-1, why, sizeof(why));
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(peers_init(&r->ps, r->base, fd, &r->ring), 0);
}

static void
rig_stop(struct rig *r)
{
	peers_free(&r->ps);
	ring_writer_destroy(&r->ring);
	event_base_free(r->base);
	unlink(r->path);
}

/* Turns the loop until *what (read as an unsigned) equals want, or 5 s. */
static void
rig_until(struct rig *r, const unsigned *what, unsigned want)
{
	uint64_t deadline = tu_now_ms() + 5000;

	while (*what != want && tu_now_ms() < deadline) {
		event_base_loop(r->base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	ck_assert_uint_eq(*what, want);
}

/* A server: connects and says hello with label; returns the socket. */
static int
server_hello(struct rig *r, const char *label, size_t label_len)
{
	struct ctl_hello h;
	int fd;

	ck_assert_int_eq(ctl_connect(r->path, &fd), 0);
	ctl_init(&h.h, CTL_HELLO, sizeof(h));
	h.pid = (uint32_t)getpid();
	h.ring_abi = RING_ABI_VERSION;
	h.kinds = CTL_KIND_BIT(CTL_KIND_JPEG);
	memcpy(h.label, label, label_len);
	ck_assert_int_eq(ctl_send(fd, &h, sizeof(h), NULL, 0), 0);
	return fd;
}

/* Reads the welcome the server got; returns its eventfd, closes the
 * ring's descriptor. */
static int
server_welcome_efd(int fd, struct ctl_welcome *w)
{
	union ctl_msg m;
	int fds[CTL_MAX_FDS], nfds;

	ck_assert(tu_wait_fd(fd, POLLIN, 5000));
	ck_assert_int_eq(ctl_recv(fd, &m, fds, &nfds), sizeof(m.welcome));
	ck_assert_uint_eq(m.hdr.ch_type, CTL_WELCOME);
	ck_assert_int_eq(nfds, 2);
	close(fds[1]);
	*w = m.welcome;
	return fds[0];
}

/* Reads the welcome the server got; closes its descriptors. */
static void
server_welcome(int fd, struct ctl_welcome *w)
{
	close(server_welcome_efd(fd, w));
}

static void
server_viewers(int fd, uint32_t jpeg, uint32_t h264)
{
	struct ctl_viewers v;

	ctl_init(&v.h, CTL_VIEWERS, sizeof(v));
	v.viewers[CTL_KIND_JPEG] = jpeg;
	v.viewers[CTL_KIND_H264] = h264;
	ck_assert_int_eq(ctl_send(fd, &v, sizeof(v), NULL, 0), 0);
}

/*
 * The writer never reads its own identity back from shared memory
 * (ring.h): another process with write access could have changed it,
 * and a server must get the generation the writer really has.
 */
START_TEST(test_welcome_from_private_identity)
{
	struct ring_status st;
	struct ctl_welcome w;
	struct rig r;
	int fd;

	rig_start(&r);
	memset(&st, 0, sizeof(st));
	st.width = 640;
	st.height = 480;
	st.fps_milli = 15000;
	ring_writer_set_status(&r.ring, &st);
	/* What a scribbler leaves in the header. */
	r.ring.rw_hdr->rh_generation = 0xbadbadbadULL;
	r.ring.rw_hdr->rh_width = 1;
	r.ring.rw_hdr->rh_height = 2;
	r.ring.rw_hdr->rh_fps_milli = 3;
	fd = server_hello(&r, "s", 1);
	rig_until(&r, &r.ps.ps_attached, 1);
	server_welcome(fd, &w);
	ck_assert_uint_eq(w.generation, r.ring.rw_identity.rh_generation);
	ck_assert_uint_ne(w.generation, 0xbadbadbadULL);
	ck_assert_uint_eq(w.width, 640);
	ck_assert_uint_eq(w.height, 480);
	ck_assert_uint_eq(w.fps_milli, 15000);
	close(fd);
	rig_stop(&r);
}
END_TEST

/*
 * A server is woken after a publish only while it has a viewer, and once
 * at the moment its count goes from none to some (it read the newest
 * frame itself then, and one published meanwhile must not be missed).
 */
START_TEST(test_wake_only_with_viewers)
{
	struct ctl_welcome w;
	struct rig r;
	int fd, efd;

	rig_start(&r);
	fd = server_hello(&r, "s", 1);
	rig_until(&r, &r.ps.ps_attached, 1);
	efd = server_welcome_efd(fd, &w);
	/* The capture's eventfd is non-blocking, and so is our copy. */
	ck_assert_uint_eq(tu_eventfd_read(efd), 0);

	peers_notify(&r.ps);
	ck_assert_uint_eq(tu_eventfd_read(efd), 0);

	server_viewers(fd, 1, 0);
	rig_until(&r, &r.ps.ps_viewers[CTL_KIND_JPEG], 1);
	ck_assert_uint_gt(tu_eventfd_read(efd), 0);
	peers_notify(&r.ps);
	ck_assert_uint_gt(tu_eventfd_read(efd), 0);
	peers_notify_h264(&r.ps);	/* a kind it has no viewer of */
	ck_assert_uint_eq(tu_eventfd_read(efd), 0);

	/* More viewers: no extra wake-up; fewer, down to none: none. */
	server_viewers(fd, 3, 0);
	rig_until(&r, &r.ps.ps_viewers[CTL_KIND_JPEG], 3);
	ck_assert_uint_eq(tu_eventfd_read(efd), 0);
	server_viewers(fd, 0, 0);
	rig_until(&r, &r.ps.ps_viewers[CTL_KIND_JPEG], 0);
	peers_notify(&r.ps);
	ck_assert_uint_eq(tu_eventfd_read(efd), 0);
	close(efd);
	close(fd);
	rig_stop(&r);
}
END_TEST

/* Two servers with more than half of 2^32 viewers each: the sum stays
 * at the most there can be, it does not wrap to a few (which would stop
 * encoding for everyone). */
START_TEST(test_viewers_saturate)
{
	struct ctl_welcome w;
	struct ring_counters c;
	struct ring_reader rr;
	struct rig r;
	int a, b;

	rig_start(&r);
	a = server_hello(&r, "a", 1);
	b = server_hello(&r, "b", 1);
	rig_until(&r, &r.ps.ps_attached, 2);
	server_welcome(a, &w);
	server_welcome(b, &w);
	server_viewers(a, 0x90000000u, 0x90000001u);
	rig_until(&r, &r.ps.ps_viewers[CTL_KIND_H264], 0x90000001u);
	ck_assert_uint_eq(r.ps.ps_viewers[CTL_KIND_JPEG], 0x90000000u);
	server_viewers(b, 0x90000000u, 0x90000000u);
	rig_until(&r, &r.ps.ps_viewers[CTL_KIND_JPEG], UINT32_MAX);
	rig_until(&r, &r.ps.ps_viewers[CTL_KIND_H264], UINT32_MAX);
	ck_assert_int_eq(ring_reader_attach_mem(&rr, r.ring.rw_map,
	    r.ring.rw_map_size), 0);
	ring_read_counters(&rr, &c);
	ck_assert_uint_eq(c.viewers, UINT32_MAX);
	/* And back when one goes. */
	close(a);
	rig_until(&r, &r.ps.ps_viewers[CTL_KIND_JPEG], 0x90000000u);
	ck_assert_uint_eq(r.ps.ps_viewers[CTL_KIND_H264], 0x90000000u);
	close(b);
	rig_stop(&r);
}
END_TEST

/* A label with a newline and an escape sequence must not make lines of
 * its own in the log, nor reach a terminal raw. */
START_TEST(test_label_escaped_in_log)
{
	static const char label[] = "srv\nshmcam-capture: forged\033[2J";
	char path[256], *text;
	struct ctl_welcome w;
	struct rig r;
	size_t len;
	int fd, logfd, saved;

	snprintf(path, sizeof(path), "%s/peers.log", tu_tmpdir());
	logfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(logfd, 0);
	saved = dup(STDERR_FILENO);
	dup2(logfd, STDERR_FILENO);
	log_init("shmcam-capture");
	rig_start(&r);
	fd = server_hello(&r, label, sizeof(label));
	rig_until(&r, &r.ps.ps_attached, 1);
	server_welcome(fd, &w);
	close(fd);
	rig_until(&r, &r.ps.ps_attached, 0);
	rig_stop(&r);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(logfd);

	text = (char *)tu_read_file(path, &len);
	ck_assert_ptr_nonnull(text);
	text = realloc(text, len + 1);
	text[len] = '\0';
	ck_assert_msg(strstr(text, "srv\\nshmcam-capture: forged\\x1b[2J") !=
	    NULL, "label not escaped:\n%s", text);
	ck_assert_msg(strstr(text, "\nshmcam-capture: forged") == NULL,
	    "a forged line:\n%s", text);
	ck_assert_ptr_null(strchr(text, '\033'));
	free(text);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("peers");
	TCase *tc = tcase_create("peers");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_welcome_from_private_identity);
	tcase_add_test(tc, test_viewers_saturate);
	tcase_add_test(tc, test_wake_only_with_viewers);
	tcase_add_test(tc, test_label_escaped_in_log);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
