/*
 * check_ctl.c - the control protocol (common/ctl.h): message validation,
 * descriptor passing and its failure modes, and the real shmcam-capture's
 * side of the handshake: each server its own eventfd, wake-ups after
 * every publish, disconnects, junk peers, and a new generation after a
 * restart.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "ctl.h"
#include "ring.h"
#include "testutil.h"

/* ------------------------------------------------------------ validation */

static void
make_msg(union ctl_msg *m, enum ctl_type type, size_t *len)
{
	switch (type) {
	case CTL_HELLO:
		*len = sizeof(m->hello);
		ctl_init(&m->hdr, type, *len);
		snprintf(m->hello.label, sizeof(m->hello.label), "test");
		break;
	case CTL_WELCOME:
		*len = sizeof(m->welcome);
		ctl_init(&m->hdr, type, *len);
		snprintf(m->welcome.shm_name, sizeof(m->welcome.shm_name), "x");
		break;
	case CTL_REFUSED:
		*len = sizeof(m->refused);
		ctl_init(&m->hdr, type, *len);
		break;
	case CTL_VIEWERS:
		*len = sizeof(m->viewers);
		ctl_init(&m->hdr, type, *len);
		break;
	case CTL_STREAM:
		*len = sizeof(m->stream);
		ctl_init(&m->hdr, type, *len);
		m->stream.kind = CTL_KIND_H264;
		m->stream.codec = RING_CODEC_H264;
		break;
	case CTL_KEYFRAME:
		*len = sizeof(m->keyframe);
		ctl_init(&m->hdr, type, *len);
		m->keyframe.kind = CTL_KIND_H264;
		break;
	}
	if (type == CTL_WELCOME)
		m->welcome.kinds = CTL_KIND_BIT(CTL_KIND_JPEG);
}

START_TEST(test_validate)
{
	static const enum ctl_type types[] = { CTL_HELLO, CTL_WELCOME,
	    CTL_REFUSED, CTL_VIEWERS, CTL_STREAM, CTL_KEYFRAME };
	union ctl_msg m;
	size_t len;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		int nfds = types[i] == CTL_WELCOME || types[i] == CTL_STREAM ?
		    2 : 0;

		make_msg(&m, types[i], &len);
		ck_assert_int_eq(ctl_validate(&m, len, nfds), 0);
		/* Wrong descriptor count for the type. */
		ck_assert_int_eq(ctl_validate(&m, len, nfds ? 1 : 1), -EPROTO);
		ck_assert_int_eq(ctl_validate(&m, len, 3), -EPROTO);
		/* Short, long, lying length. */
		ck_assert_int_eq(ctl_validate(&m, len - 1, nfds), -EPROTO);
		ck_assert_int_eq(ctl_validate(&m, 8, nfds), -EPROTO);
		m.hdr.ch_len = (uint32_t)len + 4;
		ck_assert_int_eq(ctl_validate(&m, len, nfds), -EPROTO);
		make_msg(&m, types[i], &len);
		m.hdr.ch_magic ^= 1;
		ck_assert_int_eq(ctl_validate(&m, len, nfds), -EPROTO);
		make_msg(&m, types[i], &len);
		m.hdr.ch_abi = 99;
		ck_assert_int_eq(ctl_validate(&m, len, nfds), -EPROTO);
		make_msg(&m, types[i], &len);
		m.hdr.ch_type = 77;
		ck_assert_int_eq(ctl_validate(&m, len, nfds), -EPROTO);
	}
	/* Strings must be terminated inside their field. */
	make_msg(&m, CTL_HELLO, &len);
	memset(m.hello.label, 'a', sizeof(m.hello.label));
	ck_assert_int_eq(ctl_validate(&m, len, 0), -EPROTO);
	make_msg(&m, CTL_WELCOME, &len);
	memset(m.welcome.shm_name, 'a', sizeof(m.welcome.shm_name));
	ck_assert_int_eq(ctl_validate(&m, len, 2), -EPROTO);
	make_msg(&m, CTL_REFUSED, &len);
	memset(m.refused.reason, 'a', sizeof(m.refused.reason));
	ck_assert_int_eq(ctl_validate(&m, len, 0), -EPROTO);
	make_msg(&m, CTL_STREAM, &len);
	memset(m.stream.shm_name, 'a', sizeof(m.stream.shm_name));
	ck_assert_int_eq(ctl_validate(&m, len, 2), -EPROTO);

	/* Kinds and codecs this build does not know, reserved fields. */
	make_msg(&m, CTL_HELLO, &len);
	m.hello.kinds = CTL_KINDS_ALL;
	ck_assert_int_eq(ctl_validate(&m, len, 0), 0);
	m.hello.kinds = 1u << CTL_KINDS;
	ck_assert_int_eq(ctl_validate(&m, len, 0), -EPROTO);
	make_msg(&m, CTL_HELLO, &len);
	m.hello.reserved = 1;
	ck_assert_int_eq(ctl_validate(&m, len, 0), -EPROTO);
	make_msg(&m, CTL_WELCOME, &len);
	m.welcome.kinds = CTL_KIND_BIT(CTL_KIND_H264);	/* JPEG is always */
	ck_assert_int_eq(ctl_validate(&m, len, 2), -EPROTO);
	m.welcome.kinds = CTL_KINDS_ALL;
	ck_assert_int_eq(ctl_validate(&m, len, 2), 0);
	m.welcome.kinds = 4;
	ck_assert_int_eq(ctl_validate(&m, len, 2), -EPROTO);
	make_msg(&m, CTL_STREAM, &len);
	m.stream.kind = CTL_KIND_JPEG;
	ck_assert_int_eq(ctl_validate(&m, len, 2), -EPROTO);
	make_msg(&m, CTL_STREAM, &len);
	m.stream.codec = RING_CODEC_JPEG;
	ck_assert_int_eq(ctl_validate(&m, len, 2), -EPROTO);
	make_msg(&m, CTL_KEYFRAME, &len);
	m.keyframe.kind = 7;
	ck_assert_int_eq(ctl_validate(&m, len, 0), -EPROTO);
	make_msg(&m, CTL_KEYFRAME, &len);
	m.keyframe.reserved = 1;
	ck_assert_int_eq(ctl_validate(&m, len, 0), -EPROTO);
	ck_assert_str_eq(ctl_type_name(CTL_STREAM), "stream");
	ck_assert_str_eq(ctl_type_name(CTL_KEYFRAME), "keyframe");
	ck_assert_str_eq(ctl_kind_name(CTL_KIND_H264), "h264");
}
END_TEST

/* Sends raw bytes with n descriptors (any number) on a socket. */
static void
send_raw(int sock, const void *buf, size_t len, const int *fds, int n)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 32)];
	struct iovec iov = { (void *)(uintptr_t)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	memset(cbuf, 0, sizeof(cbuf));
	if (n > 0) {
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n);
	}
	ck_assert_int_eq(sendmsg(sock, &mh, 0), (ssize_t)len);
}

/*
 * The wake-up descriptor: only an eventfd will do.  A pipe whose writer
 * is gone is readable at once, for ever: polled as a wake-up, it would
 * spin a reader's loop.
 */
START_TEST(test_wakeup_descriptor)
{
	int efd, p[2], tfd, file;
	char path[256];

	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ck_assert_int_ge(efd, 0);
	ck_assert_int_eq(ctl_fd_is_eventfd(efd), 1);
	close(efd);

	ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	ck_assert_int_eq(ctl_fd_is_eventfd(p[0]), 0);
	ck_assert_int_eq(ctl_fd_is_eventfd(p[1]), 0);
	close(p[1]);
	close(p[0]);

	/* Another kind of descriptor on the same anonymous inode. */
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	ck_assert_int_ge(tfd, 0);
	ck_assert_int_eq(ctl_fd_is_eventfd(tfd), 0);
	close(tfd);
	snprintf(path, sizeof(path), "%s/not-eventfd", tu_tmpdir());
	file = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(file, 0);
	ck_assert_int_eq(ctl_fd_is_eventfd(file), 0);
	close(file);
	ck_assert_int_eq(ctl_fd_is_eventfd(9999), -ENOENT);
}
END_TEST

START_TEST(test_fd_passing)
{
	union ctl_msg m, got;
	int sv[2], fds[CTL_MAX_FDS], nfds, pass[2], many[20], base;
	uint64_t v = 5;
	size_t len;
	char big[512];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	pass[0] = eventfd(0, EFD_CLOEXEC);
	pass[1] = memfd_create("ring", MFD_CLOEXEC);
	base = tu_count_fds();

	/* A welcome carries exactly its two descriptors, and they work. */
	make_msg(&m, CTL_WELCOME, &len);
	ck_assert_int_eq(ctl_send(sv[0], &m, len, pass, 2), 0);
	ck_assert_int_eq(ctl_recv(sv[1], &got, fds, &nfds), (ssize_t)len);
	ck_assert_int_eq(nfds, 2);
	ck_assert_int_eq(write(fds[0], &v, sizeof(v)), sizeof(v));
	ck_assert_int_eq(read(pass[0], &v, sizeof(v)), sizeof(v));
	ck_assert_uint_eq(v, 5);
	ck_assert_int_ne(fcntl(fds[0], F_GETFD) & FD_CLOEXEC, 0);
	close(fds[0]);
	close(fds[1]);
	ck_assert_int_eq(tu_count_fds(), base);

	/* Descriptors on a message that carries none are closed. */
	make_msg(&m, CTL_VIEWERS, &len);
	ck_assert_int_eq(ctl_send(sv[0], &m, len, pass, 2), 0);
	ck_assert_int_eq(ctl_recv(sv[1], &got, fds, &nfds), -EPROTO);
	ck_assert_int_eq(nfds, 0);
	ck_assert_int_eq(tu_count_fds(), base);

	/* Twenty descriptors: more than we take; none leaks. */
	for (int i = 0; i < 20; i++)
		many[i] = pass[i % 2];
	make_msg(&m, CTL_WELCOME, &len);
	send_raw(sv[0], &m, len, many, 20);
	ck_assert_int_eq(ctl_recv(sv[1], &got, fds, &nfds), -EPROTO);
	ck_assert_int_eq(tu_count_fds(), base);

	/* A record larger than any message is refused as truncated. */
	memset(big, 0, sizeof(big));
	send_raw(sv[0], big, sizeof(big), pass, 1);
	ck_assert_int_eq(ctl_recv(sv[1], &got, fds, &nfds), -EMSGSIZE);
	ck_assert_int_eq(tu_count_fds(), base);

	/* Garbage of a plausible size. */
	memset(big, 0x41, sizeof(m));
	send_raw(sv[0], big, sizeof(struct ctl_viewers), NULL, 0);
	ck_assert_int_eq(ctl_recv(sv[1], &got, fds, &nfds), -EPROTO);

	/* Nothing queued, then orderly EOF. */
	ck_assert_int_eq(ctl_recv(sv[1], &got, fds, &nfds), -EAGAIN);
	close(sv[0]);
	ck_assert_int_eq(ctl_recv(sv[1], &got, fds, &nfds), 0);
	close(sv[1]);
	close(pass[0]);
	close(pass[1]);
}
END_TEST

START_TEST(test_listen_stale_and_live)
{
	const char *dir = tu_tmpdir();
	char path[256], why[256];
	struct stat st;
	int a, b, c, fd;

	ck_assert_ptr_nonnull(dir);
	snprintf(path, sizeof(path), "%s/sub/cam.sock", dir);
	a = ctl_listen(path, 0660, (gid_t)-1, why, sizeof(why));
	ck_assert_msg(a >= 0, "%s", why);
	/* Made with its mode, whatever the umask. */
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0660);
	/* A live listener is not stolen. */
	ck_assert_int_eq(ctl_listen(path, 0660, (gid_t)-1, why, sizeof(why)),
	    -EADDRINUSE);
	ck_assert_str_eq(why + strlen(path), ": another capture is running "
	    "there");
	ck_assert_int_eq(ctl_connect(path, &c), 0);
	close(c);
	/* A dead one's socket file is replaced. */
	close(a);
	b = ctl_listen(path, 0600, (gid_t)-1, why, sizeof(why));
	ck_assert_int_ge(b, 0);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	close(b);
	unlink(path);
	ck_assert_int_eq(ctl_connect(path, &c), -ENOENT);
	ck_assert_int_eq(ctl_listen("", 0660, (gid_t)-1, why, sizeof(why)),
	    -ENAMETOOLONG);
	/* Any other file where the socket would go is left alone. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(ctl_listen(path, 0660, (gid_t)-1, why, sizeof(why)),
	    -EEXIST);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0644);
	unlink(path);
}
END_TEST

/*
 * The directory of a control socket: not a symbolic link, nobody else's,
 * not writable by others unless sticky; the fallback in /tmp ours and
 * 0700.  (tests/integration/test_ctl_dirs.py plants them as another
 * user, which needs root.)
 */
START_TEST(test_dir_check)
{
	const char *tmp = tu_tmpdir();
	char dir[256], link[256], why[256];
	uid_t owner;
	int shared;

	snprintf(dir, sizeof(dir), "%s/d", tmp);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	ck_assert_int_eq(ctl_dir_check(dir, (uid_t)-1, &owner, &shared, why,
	    sizeof(why)), 0);
	ck_assert_uint_eq(owner, geteuid());
	ck_assert_int_eq(shared, 0);
	ck_assert_int_eq(chmod(dir, 0777), 0);
	ck_assert_int_eq(ctl_dir_check(dir, (uid_t)-1, NULL, NULL, why,
	    sizeof(why)), -EPERM);
	ck_assert_ptr_nonnull(strstr(why, ": writable by others (mode 0777)"));
	ck_assert_int_eq(chmod(dir, 01777), 0);	/* sticky, as /tmp */
	ck_assert_int_eq(ctl_dir_check(dir, (uid_t)-1, &owner, &shared, why,
	    sizeof(why)), 0);
	ck_assert_int_eq(shared, 1);
	snprintf(link, sizeof(link), "%s/l", tmp);
	ck_assert_int_eq(symlink(dir, link), 0);
	ck_assert_int_eq(ctl_dir_check(link, (uid_t)-1, NULL, NULL, why,
	    sizeof(why)), -ELOOP);
	ck_assert_ptr_nonnull(strstr(why, ": a symbolic link"));
	ck_assert_int_eq(ctl_dir_check("/nonexistent-shmcam", (uid_t)-1, NULL,
	    NULL, why, sizeof(why)), -ENOENT);
}
END_TEST

/* --------------------------------------------------- the real capture */

struct capture_proc {
	pid_t pid;
	char name[64];
	char ctl[256];
	char log[256];
};

/* name gets this process's pid appended: shm names are global, and other
 * runs of this suite may be going on at the same time. */
static void
capture_start(struct capture_proc *cp, const char *name, const char *dir)
{
	char *argv[16];
	int i = 0;

	snprintf(cp->name, sizeof(cp->name), "%s-%d", name, (int)getpid());
	snprintf(cp->ctl, sizeof(cp->ctl), "%s/%s.sock", dir, name);
	snprintf(cp->log, sizeof(cp->log), "%s/%s.log", dir, name);
	argv[i++] = (char *)tu_build_path("shmcam-capture");
	argv[i++] = "--name";
	argv[i++] = cp->name;
	argv[i++] = "--ctl";
	argv[i++] = cp->ctl;
	argv[i++] = "--size";
	argv[i++] = "320x240";
	argv[i++] = "--fps";
	argv[i++] = "30";
	if (geteuid() == 0) {
		/* Root has no default user outside an install. */
		argv[i++] = "--user";
		argv[i++] = "nobody";
	}
	argv[i] = NULL;
	cp->pid = tu_spawn(argv, cp->log);
	ck_assert_int_gt(cp->pid, 0);
}

struct fake_server {
	int sock;
	int efd;
	struct ring_reader ring;
	struct ctl_welcome welcome;
};

/* Connects (retrying until the capture listens) and completes the
 * handshake within the deadline. */
static void
fake_attach(struct fake_server *fs, const char *ctl)
{
	uint64_t deadline = tu_now_ms() + tu_ms(5000);
	struct ctl_hello hello;
	struct ctl_viewers v;
	union ctl_msg m;
	int fds[CTL_MAX_FDS], nfds, rc;
	ssize_t n;

	memset(fs, 0, sizeof(*fs));
	while ((rc = ctl_connect(ctl, &fs->sock)) != 0) {
		ck_assert_msg(tu_now_ms() < deadline, "connect %s: %s", ctl,
		    strerror(-rc));
		usleep(20000);
	}
	ctl_init(&hello.h, CTL_HELLO, sizeof(hello));
	hello.pid = (uint32_t)getpid();
	hello.ring_abi = RING_ABI_VERSION;
	snprintf(hello.label, sizeof(hello.label), "check_ctl");
	ck_assert_int_eq(ctl_send(fs->sock, &hello, sizeof(hello), NULL, 0),
	    0);
	ck_assert(tu_wait_fd(fs->sock, POLLIN, tu_ms(5000)));
	n = ctl_recv(fs->sock, &m, fds, &nfds);
	ck_assert_int_eq(n, (ssize_t)sizeof(struct ctl_welcome));
	ck_assert_uint_eq(m.hdr.ch_type, CTL_WELCOME);
	ck_assert_int_eq(nfds, 2);
	fs->welcome = m.welcome;
	fs->efd = fds[0];
	ck_assert_int_eq(ring_reader_attach_fd(&fs->ring, fds[1]), 0);
	close(fds[1]);
	ck_assert_uint_eq(fs->ring.rr_geo.generation, m.welcome.generation);
	ck_assert_uint_eq(m.welcome.width, 320);
	ck_assert_uint_eq(m.welcome.height, 240);
	/* A server with a viewer: one without is not woken (ctl.h). */
	ctl_init(&v.h, CTL_VIEWERS, sizeof(v));
	v.viewers[CTL_KIND_JPEG] = 1;
	v.viewers[CTL_KIND_H264] = 0;
	ck_assert_int_eq(ctl_send(fs->sock, &v, sizeof(v), NULL, 0), 0);
}

static void
fake_detach(struct fake_server *fs)
{
	close(fs->sock);
	close(fs->efd);
	ring_reader_close(&fs->ring);
}

static uint32_t
servers_attached(const struct fake_server *fs)
{
	struct ring_counters c;

	ring_read_counters(&fs->ring, &c);
	return c.servers;
}

START_TEST(test_capture_handshake_and_wakeups)
{
	const char *dir = tu_tmpdir();
	struct capture_proc cp;
	struct fake_server a, b;
	struct ring_frame f;
	static uint8_t buf[1 << 20];
	uint64_t seq, deadline;

	capture_start(&cp, "ctl-wake", dir);
	fake_attach(&a, cp.ctl);
	fake_attach(&b, cp.ctl);
	ck_assert_uint_eq(a.welcome.generation, b.welcome.generation);

	/* Each eventfd fires once when the viewer is counted, whatever the
	 * ring holds, then after each publish, with the frame there. */
	ck_assert(tu_wait_fd(a.efd, POLLIN, tu_ms(2000)));
	tu_eventfd_read(a.efd);
	ck_assert(tu_wait_fd(a.efd, POLLIN, tu_ms(2000)));
	ck_assert_uint_ge(tu_eventfd_read(a.efd), 1);
	ck_assert_int_eq(ring_read_latest(&a.ring, 0, &f, buf, sizeof(buf)),
	    0);
	ck_assert_uint_eq(buf[0], 0xff);
	ck_assert_uint_eq(buf[1], 0xd8);
	ck_assert_uint_eq(f.width, 320);
	seq = f.seq;

	/* Reading one server's eventfd leaves the other's untouched. */
	ck_assert(tu_wait_fd(b.efd, POLLIN, tu_ms(2000)));
	tu_eventfd_read(a.efd);
	ck_assert(tu_wait_fd(a.efd, POLLIN, tu_ms(2000)));
	tu_eventfd_read(a.efd);
	ck_assert(tu_wait_fd(b.efd, POLLIN, 0));
	ck_assert_uint_ge(tu_eventfd_read(b.efd), 1);

	/* Wake-ups keep coming with newer frames. */
	ck_assert(tu_wait_fd(a.efd, POLLIN, tu_ms(2000)));
	ck_assert_int_eq(ring_read_latest(&a.ring, seq, &f, buf, sizeof(buf)),
	    0);
	ck_assert_uint_gt(f.seq, seq);

	/* The capture counts us, and forgets a server that disconnects. */
	deadline = tu_now_ms() + tu_ms(3000);
	while (servers_attached(&a) != 2 && tu_now_ms() < deadline)
		usleep(10000);
	ck_assert_uint_eq(servers_attached(&a), 2);
	fake_detach(&b);
	deadline = tu_now_ms() + tu_ms(3000);
	while (servers_attached(&a) != 1 && tu_now_ms() < deadline)
		usleep(10000);
	ck_assert_uint_eq(servers_attached(&a), 1);

	fake_detach(&a);
	ck_assert(WIFEXITED(tu_stop(cp.pid, tu_ms(3000))));
}
END_TEST

START_TEST(test_capture_survives_junk_peers)
{
	const char *dir = tu_tmpdir();
	struct capture_proc cp;
	struct fake_server a;
	union ctl_msg m;
	int junk[40], fds[CTL_MAX_FDS], nfds, i;
	uint64_t before, deadline;
	char garbage[64];

	capture_start(&cp, "ctl-junk", dir);
	fake_attach(&a, cp.ctl);

	/* Garbage gets the peer closed. */
	ck_assert_int_eq(ctl_connect(cp.ctl, &junk[0]), 0);
	memset(garbage, 0x5a, sizeof(garbage));
	ck_assert_int_eq(send(junk[0], garbage, sizeof(garbage), 0),
	    (ssize_t)sizeof(garbage));
	ck_assert(tu_wait_fd(junk[0], POLLIN, tu_ms(3000)));
	ck_assert_int_eq(ctl_recv(junk[0], &m, fds, &nfds), 0);
	close(junk[0]);

	/* A viewers message before the hello is refused too. */
	ck_assert_int_eq(ctl_connect(cp.ctl, &junk[0]), 0);
	ctl_init(&m.hdr, CTL_VIEWERS, sizeof(m.viewers));
	ck_assert_int_eq(ctl_send(junk[0], &m, sizeof(m.viewers), NULL, 0),
	    0);
	ck_assert(tu_wait_fd(junk[0], POLLIN, tu_ms(3000)));
	ck_assert_int_eq(ctl_recv(junk[0], &m, fds, &nfds), 0);
	close(junk[0]);

	/* Forty silent peers: closed after the hello deadline, while the
	 * attached server keeps getting frames. */
	for (i = 0; i < 40; i++)
		if (ctl_connect(cp.ctl, &junk[i]) != 0)
			junk[i] = -1;
	before = ring_latest(&a.ring);
	deadline = tu_now_ms() + tu_ms(1000);
	while (tu_now_ms() < deadline)
		if (tu_wait_fd(a.efd, POLLIN, 200))
			tu_eventfd_read(a.efd);
	ck_assert_uint_ge(ring_latest(&a.ring) - before, 15);
	for (i = 0; i < 40; i++) {
		if (junk[i] == -1)
			continue;
		ck_assert(tu_wait_fd(junk[i], POLLIN, tu_ms(5000)));
		ck_assert_int_le(ctl_recv(junk[i], &m, fds, &nfds), 0);
		close(junk[i]);
	}
	ck_assert_uint_eq(servers_attached(&a), 1);
	ck_assert_int_eq(kill(cp.pid, 0), 0);
	fake_detach(&a);
	ck_assert(WIFEXITED(tu_stop(cp.pid, tu_ms(3000))));
}
END_TEST

START_TEST(test_capture_restart_new_generation)
{
	const char *dir = tu_tmpdir();
	struct capture_proc cp;
	struct fake_server a;
	union ctl_msg m;
	int fds[CTL_MAX_FDS], nfds, status;
	uint64_t gen1;

	capture_start(&cp, "ctl-restart", dir);
	fake_attach(&a, cp.ctl);
	gen1 = a.welcome.generation;

	/* Capture exits: the server sees EOF on its control socket. */
	status = tu_stop(cp.pid, tu_ms(3000));
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert(tu_wait_fd(a.sock, POLLIN, tu_ms(3000)));
	ck_assert_int_eq(ctl_recv(a.sock, &m, fds, &nfds), 0);
	fake_detach(&a);

	capture_start(&cp, "ctl-restart", dir);
	fake_attach(&a, cp.ctl);
	ck_assert_uint_ne(a.welcome.generation, gen1);
	ck_assert(tu_wait_fd(a.efd, POLLIN, tu_ms(2000)));
	fake_detach(&a);
	ck_assert(WIFEXITED(tu_stop(cp.pid, tu_ms(3000))));
}
END_TEST

static Suite *
ctl_suite(void)
{
	Suite *s = suite_create("ctl");
	TCase *msg = tcase_create("messages");
	TCase *live = tcase_create("capture");

	tcase_set_timeout(msg, 20);
	tcase_add_test(msg, test_validate);
	tcase_add_test(msg, test_fd_passing);
	tcase_add_test(msg, test_wakeup_descriptor);
	tcase_add_test(msg, test_listen_stale_and_live);
	tcase_add_test(msg, test_dir_check);
	suite_add_tcase(s, msg);

	tcase_set_timeout(live, 60);
	tcase_add_test(live, test_capture_handshake_and_wakeups);
	tcase_add_test(live, test_capture_survives_junk_peers);
	tcase_add_test(live, test_capture_restart_new_generation);
	suite_add_tcase(s, live);
	return s;
}

int
main(void)
{
	return tu_run_suite(ctl_suite());
}
