/*
 * check_sandbox.c - the real allow-lists of common/sandbox.c, applied in
 * a forked child: what each program needs to serve still works, and a
 * forbidden call kills the child with SIGSYS after one log line naming
 * it (and is never made: the file it would create does not exist).
 * Also under a parent filter that refuses seccomp() with EPERM, as
 * systemd's SystemCallFilter= does.  The capture's list with a V4L2
 * layer in the process (SANDBOX_CAPTURE_V4L2_LAYER) allows what such a
 * layer does, which the capture's own list forbids.  The capture's
 * H.264 encoder (x264's threads, libyuv) works under its list.  And
 * every name in the lists is a system call on at least one of the
 * architectures they are written for.  shmcam-rtsp's (SANDBOX_RTSP) is
 * the server's and sendmmsg(), on UDP sockets bound before the filter:
 * a socket or a bind after it kills it too.
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <dirent.h>
#include <dlfcn.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/sockios.h>
#include <linux/videodev2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <check.h>
#include <seccomp.h>

#include "h264enc.h"
#include "log.h"
#include "ring.h"
#include "sandbox.h"
#include "testutil.h"

/* As in sandbox.c: sanitizer runtimes may clone() processes. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED	1
#else
#define SANITIZED	0
#endif

typedef int sandboxed_fn(void *arg);

/* A connection made before the filter, as accept() would give one. */
static int pair[2] = { -1, -1 };
/* Made before the filter too: a directory of our own, the test's pid. */
static const char *tmpdir;
static pid_t test_pid;
/* sandbox_apply_net()'s allowances for the next run_sandboxed(). */
static unsigned run_net;

struct outcome {
	int	 status;	/* wait status of the child */
	char	 log[2048];	/* what it wrote to stderr */
};

/*
 * What a systemd unit's SystemCallFilter=@system-service does to the
 * seccomp() call: EPERM.  Loaded by hand, as systemd does, before
 * libseccomp in this process has probed anything.
 */
static void
load_parent_filter(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_seccomp, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
		_exit(101);
	if (syscall(SYS_seccomp, 0, 0, NULL) != -1 || errno != EPERM)
		_exit(102);
}

/*
 * Runs fn in a child that first applies prog's filter (after a parent
 * filter that refuses seccomp(), if parent_eperm).  The child exits with
 * fn's return value, 100 if the sandbox could not be applied.
 */
static void
run_sandboxed(enum sandbox_program prog, int parent_eperm, sandboxed_fn *fn,
    void *arg, struct outcome *o)
{
	int pfd[2];
	size_t n = 0;
	ssize_t r;
	pid_t pid;

	memset(o, 0, sizeof(*o));
	ck_assert_int_eq(pipe(pfd), 0);
	if (pair[0] == -1)
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
	tmpdir = tu_tmpdir();
	test_pid = getpid();
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		int rc;

		close(pfd[0]);
		dup2(pfd[1], STDERR_FILENO);
		log_init(sandbox_program_name(prog));
		if (parent_eperm)
			load_parent_filter();
		rc = run_net ? sandbox_apply_net(prog, run_net) :
		    sandbox_apply(prog);
		if (rc != 0) {
			fprintf(stderr, "sandbox_apply: %s\n", strerror(-rc));
			_exit(100);
		}
		_exit(fn(arg));
	}
	close(pfd[1]);
	while (n < sizeof(o->log) - 1 && tu_wait_fd(pfd[0], POLLIN, tu_ms(10000)) &&
	    (r = read(pfd[0], o->log + n, sizeof(o->log) - 1 - n)) > 0)
		n += (size_t)r;
	o->log[n] = '\0';
	close(pfd[0]);
	ck_assert_int_eq(waitpid(pid, &o->status, 0), pid);
}

static void
assert_exit0(const struct outcome *o)
{
	ck_assert_msg(WIFEXITED(o->status) && WEXITSTATUS(o->status) == 0,
	    "child failed (status %#x): %s", o->status, o->log);
}

/* Killed by SIGSYS, having named the call. */
static void
assert_killed(const struct outcome *o, const char *call)
{
	char want[64];

	ck_assert_msg(WIFSIGNALED(o->status) && WTERMSIG(o->status) == SIGSYS,
	    "%s: expected death by SIGSYS, got status %#x: %s", call,
	    o->status, o->log);
	snprintf(want, sizeof(want), "forbidden system call %s (", call);
	ck_assert_msg(strstr(o->log, want) != NULL, "%s: log says: %s", call,
	    o->log);
}

/* ------------------------------------------------------- what is allowed */

static void *
thread_main(void *arg)
{
	return arg;
}

/* The readers' password thread (server/auth.c) gives way to the loop. */
static void *
thread_nice(void *arg)
{
	*(int *)arg = setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
	return NULL;
}

/* What both programs do while serving. */
static int
serve_common(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	pthread_t t;
	void *ret;
	char *p, buf[3];
	int fd, n = -1;
	socklen_t len;

	/* Memory: small and large allocations, anonymous mappings. */
	p = malloc(8 << 20);
	if (p == NULL)
		return 1;
	memset(p, 1, 8 << 20);
	free(p);
	p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || mprotect(p, 4096, PROT_READ) != 0 ||
	    munmap(p, 65536) != 0)
		return 2;
	/* A thread: clone3() answers ENOSYS and glibc uses clone(). */
	if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
		return 3;
	if (pthread_create(&t, NULL, thread_main, &n) != 0 ||
	    pthread_join(t, &ret) != 0 || ret != &n)
		return 4;
	/* A unix socket (reconnecting to the capture). */
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return 5;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/none.sock",
	    tmpdir);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != -1 ||
	    errno != ENOENT)
		return 6;
	close(fd);
	/* A socket-level option (SO_ERROR, as libevent asks after a
	 * connect). */
	len = sizeof(n);
	if (getsockopt(pair[0], SOL_SOCKET, SO_ERROR, &n, &len) != 0)
		return 7;
	/* Bytes waiting and the send queue of a connection. */
	if (write(pair[0], "abc", 3) != 3 ||
	    ioctl(pair[1], FIONREAD, &n) != 0 || n != 3 ||
	    ioctl(pair[0], SIOCOUTQ, &n) != 0 || read(pair[1], buf, 3) != 3)
		return 8;
	close(pair[0]);
	close(pair[1]);
	return 0;
}

static int
serve_server(void *arg)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	pthread_t t;
	int fd, rc;

	(void)arg;
	rc = serve_common();
	if (rc != 0)
		return rc;
	/* A password-checking thread at nice 10. */
	if (pthread_create(&t, NULL, thread_nice, &rc) != 0 ||
	    pthread_join(t, NULL) != 0 || rc != 0)
		return 22;
	/* TCP_INFO (the send policy) is let through; a unix socket has
	 * none to give. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != -1 ||
	    errno != EOPNOTSUPP)
		return 21;
	close(fd);
	/* Reading a file is allowed. */
	fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return 20;
	close(fd);
	log_info("served");
	return 0;
}

static int
serve_capture(void *arg)
{
	struct v4l2_capability cap;
	struct itimerspec its = { { 0, 1000000 }, { 0, 1000000 } };
	struct ring_writer w;
	char path[256];
	DIR *d;
	int fd, rc;

	(void)arg;
	rc = serve_common();
	if (rc != 0)
		return rc;
	/* An eventfd per server, the sources' timers. */
	if ((fd = eventfd(0, EFD_CLOEXEC)) == -1)
		return 20;
	close(fd);
	if ((fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) == -1 ||
	    timerfd_settime(fd, 0, &its, NULL) != 0)
		return 21;
	close(fd);
	/* A device reopened read-write (a V4L2 ioctl on a file: ENOTTY). */
	snprintf(path, sizeof(path), "%s/video0", tmpdir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return 22;
	if (ioctl(fd, VIDIOC_QUERYCAP, &cap) != -1 || errno != ENOTTY)
		return 23;
	close(fd);
	/* A directory source's listing. */
	if ((d = opendir(tmpdir)) == NULL || readdir(d) == NULL)
		return 24;
	closedir(d);
	if (unlink(path) != 0)
		return 25;
	/* A replacement ring: a sealed memfd, read-only reopened. */
	snprintf(path, sizeof(path), "shmcam-check-sandbox-%d", (int)getpid());
	if (ring_writer_create(&w, path, 4, 65536) != 0)
		return 26;
	ring_writer_destroy(&w);
	/* An encoder thread names itself. */
	if (prctl(PR_SET_NAME, "h264-0", 0, 0, 0) != 0)
		return 27;
	log_info("served");
	return 0;
}

/*
 * What a V4L2 layer in the capture does (libcamera's v4l2-compat.so, the
 * simulated camera): pipes, ppoll, memfds, socketpairs, dup, thread
 * names, its CPU mask, media-controller and DMA-buffer ioctls.
 */
static int
serve_capture_layer(void *arg)
{
	struct timespec zero = { 0, 0 };
	struct pollfd pfd;
	cpu_set_t cpus;
	int p[2], sv[2], fd, rc;

	if ((rc = serve_capture(arg)) != 0)
		return rc;
	if (pipe2(p, O_CLOEXEC) != 0)
		return 30;
	pfd.fd = p[0];
	pfd.events = POLLIN;
	if (ppoll(&pfd, 1, &zero, NULL) != 0 || poll(&pfd, 1, 0) != 0)
		return 31;
	if ((fd = dup(p[0])) == -1 || dup3(p[1], fd, O_CLOEXEC) == -1)
		return 32;
	close(fd);
	close(p[0]);
	close(p[1]);
	if ((fd = memfd_create("check", MFD_CLOEXEC)) == -1)
		return 33;
	/* MEDIA_IOC_DEVICE_INFO, DMA_HEAP_IOCTL_ALLOC, DMA_BUF_IOCTL_SYNC
	 * on a memfd: allowed, and refused by the file (ENOTTY). */
	if (ioctl(fd, _IOWR('|', 0x00, char[256]), (char[256]){ 0 }) != -1 ||
	    errno != ENOTTY ||
	    ioctl(fd, _IOWR('H', 0x0, char[24]), (char[24]){ 0 }) != -1 ||
	    errno != ENOTTY ||
	    ioctl(fd, _IOW('b', 0, uint64_t), &(uint64_t){ 0 }) != -1 ||
	    errno != ENOTTY)
		return 34;
	close(fd);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return 35;
	close(sv[0]);
	close(sv[1]);
	if (prctl(PR_SET_NAME, "layer", 0, 0, 0) != 0 ||
	    sched_getaffinity(0, sizeof(cpus), &cpus) != 0)
		return 36;
	return 0;
}

START_TEST(test_server_serves)
{
	struct outcome o;

	run_sandboxed(SANDBOX_SERVER, 0, serve_server, NULL, &o);
	assert_exit0(&o);
	ck_assert_ptr_nonnull(strstr(o.log, "served"));
}
END_TEST

/*
 * shmcam-rtsp: the server's calls, an access unit to a UDP client in one
 * sendmmsg() on a socket bound before the filter (arg), random session
 * ids.
 */
static int
serve_rtsp(void *arg)
{
	const int *udp = arg;
	struct sockaddr_in to;
	socklen_t len = sizeof(to);
	struct mmsghdr m[2];
	struct iovec iov[2];
	char a[] = "rtp", b[] = "rtcp", id[8];
	int rc;

	if ((rc = serve_server(NULL)) != 0)
		return rc;
	if (getsockname(udp[1], (struct sockaddr *)&to, &len) != 0)
		return 40;
	memset(m, 0, sizeof(m));
	iov[0].iov_base = a;
	iov[0].iov_len = sizeof(a);
	iov[1].iov_base = b;
	iov[1].iov_len = sizeof(b);
	for (int i = 0; i < 2; i++) {
		m[i].msg_hdr.msg_name = &to;
		m[i].msg_hdr.msg_namelen = len;
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	if (sendmmsg(udp[0], m, 2, MSG_DONTWAIT) != 2)
		return 41;
	if (getrandom(id, sizeof(id), GRND_NONBLOCK) != sizeof(id))
		return 42;
	return 0;
}

START_TEST(test_rtsp_serves)
{
	struct sockaddr_in lo = { .sin_family = AF_INET };
	struct outcome o;
	int udp[2];

	lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < 2; i++) {
		udp[i] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		ck_assert_int_ne(udp[i], -1);
		ck_assert_int_eq(bind(udp[i], (struct sockaddr *)&lo,
		    sizeof(lo)), 0);
	}
	run_sandboxed(SANDBOX_RTSP, 0, serve_rtsp, udp, &o);
	assert_exit0(&o);
	run_sandboxed(SANDBOX_RTSP, 1, serve_rtsp, udp, &o);
	assert_exit0(&o);
	close(udp[0]);
	close(udp[1]);
}
END_TEST

START_TEST(test_capture_serves)
{
	struct outcome o;

	run_sandboxed(SANDBOX_CAPTURE, 0, serve_capture, NULL, &o);
	assert_exit0(&o);
	run_sandboxed(SANDBOX_CAPTURE_V4L2_LAYER, 0, serve_capture_layer,
	    NULL, &o);
	assert_exit0(&o);
}
END_TEST

#ifdef SHMCAM_X264
/*
 * The capture's H.264 encoder under its filter: x264 detects the CPU
 * and starts its slice threads on the first frame (after the filter is
 * on, as in the capture), libyuv detects the CPU on its first
 * conversion (reading /proc/cpuinfo on 32-bit ARM).  Frames of three
 * layouts: I420 as it is, packed 4:2:2 and 32-bit RGB through libyuv.
 */
static int
encode_h264(void *arg)
{
	static const uint32_t fourccs[] = { V4L2_PIX_FMT_YUV420,
	    V4L2_PIX_FMT_YUYV, V4L2_PIX_FMT_XBGR32 };
	/* 8 macroblock rows: x264 gives each slice thread 4 at least. */
	static uint8_t pixels[160 * 128 * 4];
	struct h264_settings s;
	struct source_frame f;
	struct h264enc *e;
	const uint8_t *out;
	size_t len, n = 0;
	int key, keys = 0;

	(void)arg;
	h264enc_defaults(&s);
	s.threads = 2;
	if (h264enc_new(&e, &s) != 0)
		return 40;
	for (unsigned i = 0; i < 9; i++) {
		const struct rawformat *rf = rawformat_find(fourccs[i % 3]);
		uint8_t *data = pixels;
		size_t plen = sizeof(pixels);
		uint32_t stride = 0;

		memset(pixels, (int)(16 + i * 20), sizeof(pixels));
		memset(&f, 0, sizeof(f));
		f.fourcc = fourccs[i % 3];
		f.width = 160;
		f.height = 128;
		if (rawframe_describe(&f.raw, rf, 160, 128, 1, &data, &plen,
		    &stride) != 0)
			return 41;
		if (h264enc_encode(e, &f, 30000, 0, &out, &len, &key) != 0 ||
		    len == 0)
			return 42;
		n += len;
		keys += key;
	}
	h264enc_free(e);
	log_info("encoded %zu bytes, %d keyframes", n, keys);
	return keys >= 1 ? 0 : 43;
}
#endif

START_TEST(test_capture_encodes_h264)
{
#ifdef SHMCAM_X264
	struct outcome o;

	run_sandboxed(SANDBOX_CAPTURE, 0, encode_h264, NULL, &o);
	assert_exit0(&o);
	ck_assert_ptr_nonnull(strstr(o.log, "encoded"));
#else
	fprintf(stderr, "skipped: built with X264=no, no H.264 encoder\n");
#endif
}
END_TEST

/*
 * A library that asks for executable stacks (Debian's libx264 on armhf):
 * glibc gives each thread a read-write-execute stack with mprotect(),
 * which the filter then allows (and logs at setup); any other
 * executable mapping stays forbidden.
 */
static int
threads_on_exec_stacks(void *arg)
{
	pthread_t t;
	void *p;

	(void)arg;
	if (pthread_create(&t, NULL, thread_main, NULL) != 0 ||
	    pthread_join(t, NULL) != 0)
		return 50;
	log_info("threads started");
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 51;
	mprotect(p, 4096, PROT_READ | PROT_EXEC);
	return 52;
}

START_TEST(test_exec_stack_library)
{
	const char *lib = tu_build_path("tests/libexecstack.so");
	struct outcome o;

	if (access(lib, R_OK) != 0) {
		/* make check-arch's guests carry the suites only; there
		 * armhf's libx264 is such a library. */
		fprintf(stderr, "skipped: no %s\n", lib);
		return;
	}
	/* Check forked this test: the library stays in this process. */
	ck_assert_ptr_nonnull(dlopen(lib, RTLD_NOW));
	run_sandboxed(SANDBOX_CAPTURE, 0, threads_on_exec_stacks, NULL, &o);
	ck_assert_ptr_nonnull(strstr(o.log, "asks for executable stacks"));
	ck_assert_ptr_nonnull(strstr(o.log, "threads started"));
	assert_killed(&o, "mprotect");
}
END_TEST

/* -------------------------------------------------- what is forbidden */

enum forbidden {
	F_EXECVE,
	F_OPEN_WRITE,
	F_SOCKET_INET,
	F_SOCKET_NETLINK,
	F_FORK,
	F_PTRACE,
	F_MMAP_EXEC,
	F_MPROTECT_EXEC,
	F_UNLINK,
	F_IOCTL_TIOCSTI,
	F_KILL,
	F_TGKILL_OTHER,
	F_SETUID,
	F_BIND,
	F_CHMOD,
	F_MKDIR,
	F_SOCKETPAIR,
	F_GETSOCKOPT_TCP,
	F_TCP_INFO,
	F_PIPE,
	F_PPOLL,
	F_MEMFD,
	F_PRCTL_NAME,
	F_IOCTL_MEDIA,
	F_SOCKET_UDP,
	F_SETPRIORITY,
};

struct forbidden_case {
	enum forbidden	 what;
	const char	*call;		/* as the log line names it */
	unsigned	 progs;		/* forbidden for these */
	int		 needs_strict;	/* allowed in sanitizer builds */
};

#define SRV	(1u << SANDBOX_SERVER)
#define CAP	(1u << SANDBOX_CAPTURE)
#define LAY	(1u << SANDBOX_CAPTURE_V4L2_LAYER)
#define RTS	(1u << SANDBOX_RTSP)
#define ALL	(SRV | CAP | LAY | RTS)

/* The calls glibc makes for unlink(), chmod(), mkdir() and mmap(), as the
 * kernel's table of the architecture names them: arm64 has only the *at()
 * forms; 32-bit ARM maps with mmap2 (offsets in pages). */
#if defined(__aarch64__)
#define CALL_UNLINK	"unlinkat"
#define CALL_CHMOD	"fchmodat"
#define CALL_MKDIR	"mkdirat"
#else
#define CALL_UNLINK	"unlink"
#define CALL_CHMOD	"chmod"
#define CALL_MKDIR	"mkdir"
#endif
#if defined(__arm__)
#define CALL_MMAP	"mmap2"
#else
#define CALL_MMAP	"mmap"
#endif

static const struct forbidden_case forbidden_cases[] = {
	{ F_EXECVE,		"execve",	ALL, 0 },
	{ F_OPEN_WRITE,		"openat",	SRV | RTS, 0 },
	{ F_SOCKET_INET,	"socket",	ALL, 0 },
	{ F_SOCKET_NETLINK,	"socket",	ALL, 0 },
	{ F_FORK,		"clone",	ALL, 1 },
	{ F_PTRACE,		"ptrace",	ALL, 1 },
	{ F_MMAP_EXEC,		CALL_MMAP,	ALL, 0 },
	{ F_MPROTECT_EXEC,	"mprotect",	ALL, 0 },
	{ F_UNLINK,		CALL_UNLINK,	SRV | RTS, 0 },
	{ F_IOCTL_TIOCSTI,	"ioctl",	ALL, 0 },
	{ F_KILL,		"kill",		ALL, 0 },
	{ F_TGKILL_OTHER,	"tgkill",	ALL, 0 },
	{ F_SETUID,		"setuid",	ALL, 0 },
	{ F_BIND,		"bind",		ALL, 0 },
	{ F_CHMOD,		CALL_CHMOD,	ALL, 0 },
	{ F_MKDIR,		CALL_MKDIR,	ALL, 0 },
	{ F_GETSOCKOPT_TCP,	"getsockopt",	ALL, 0 },
	/* TCP_INFO is the server's (its send policy), no capture's. */
	{ F_TCP_INFO,		"getsockopt",	CAP | LAY, 0 },
	/* What a V4L2 layer needs, the capture on its own does not. */
	{ F_SOCKETPAIR,		"socketpair",	SRV | CAP | RTS, 0 },
	{ F_PIPE,		"pipe2",	SRV | CAP | RTS, 0 },
	{ F_PPOLL,		"ppoll",	SRV | CAP | RTS, 0 },
	/* (The capture makes its ring a memfd: for the readers only.) */
	{ F_MEMFD,		"memfd_create",	SRV | RTS, 0 },
	{ F_IOCTL_MEDIA,	"ioctl",	SRV | CAP | RTS, 0 },
	/* Thread names: the capture's encoder threads too. */
	{ F_PRCTL_NAME,		"prctl",	SRV | RTS, 1 },
	/* shmcam-rtsp binds its UDP sockets before the filter. */
	{ F_SOCKET_UDP,		"socket",	ALL, 0 },
	/* The readers' password threads lower their priority to 10, and
	 * nothing else (server/auth.c). */
	{ F_SETPRIORITY,	"setpriority",	ALL, 0 },
};
#define NFORBIDDEN (sizeof(forbidden_cases) / sizeof(forbidden_cases[0]))

static char victim[256];	/* a file a forbidden call would create */

static int
try_forbidden(void *arg)
{
	const struct forbidden_case *fc = arg;
	char *const argv[] = { (char *)"true", NULL };
	char tio = 'x';
	int fd, sv[2];
	void *p;

	switch (fc->what) {
	case F_EXECVE:
		execve("/bin/true", argv, argv + 1);
		break;
	case F_OPEN_WRITE:
		fd = open(victim, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		break;
	case F_SOCKET_INET:
		fd = socket(AF_INET, SOCK_STREAM, 0);
		break;
	case F_SOCKET_NETLINK:
		fd = socket(AF_NETLINK, SOCK_RAW, 0);
		break;
	case F_FORK:
		if (fork() == 0)
			_exit(0);
		break;
	case F_PTRACE:
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		break;
	case F_MMAP_EXEC:
		p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE |
		    MAP_ANONYMOUS, -1, 0);
		(void)p;
		break;
	case F_MPROTECT_EXEC:
		p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
		if (p != MAP_FAILED)
			mprotect(p, 4096, PROT_READ | PROT_EXEC);
		break;
	case F_UNLINK:
		unlink(victim);
		break;
	case F_IOCTL_TIOCSTI:
		ioctl(STDIN_FILENO, TIOCSTI, &tio);
		break;
	case F_KILL:
		kill(test_pid, 0);
		break;
	case F_TGKILL_OTHER:
		syscall(SYS_tgkill, (int)test_pid, (int)test_pid, 0);
		break;
	case F_SETUID:
		syscall(SYS_setuid, 0);
		break;
	case F_BIND: {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };

		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", victim);
		bind(fd, (struct sockaddr *)&sun, sizeof(sun));
		break;
	}
	case F_CHMOD:
		chmod(victim, 0666);
		break;
	case F_MKDIR:
		mkdir(victim, 0700);
		break;
	case F_SOCKETPAIR:
		socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
		break;
	case F_GETSOCKOPT_TCP: {
		char cc[16];
		socklen_t len = sizeof(cc);

		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, &len);
		break;
	}
	case F_TCP_INFO: {
		struct tcp_info ti;
		socklen_t len = sizeof(ti);

		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len);
		break;
	}
	case F_PIPE:
		fd = pipe2(sv, O_CLOEXEC);
		break;
	case F_PPOLL: {
		struct timespec zero = { 0, 0 };

		ppoll(NULL, 0, &zero, NULL);
		break;
	}
	case F_MEMFD:
		fd = memfd_create("victim", MFD_CLOEXEC);
		break;
	case F_PRCTL_NAME:
		prctl(PR_SET_NAME, "victim", 0, 0, 0);
		break;
	case F_IOCTL_MEDIA:
		ioctl(STDIN_FILENO, _IOWR('|', 0x00, char[256]),
		    (char[256]){ 0 });
		break;
	case F_SOCKET_UDP:
		fd = socket(AF_INET6, SOCK_DGRAM, 0);
		break;
	case F_SETPRIORITY:
		fd = setpriority(PRIO_PROCESS, 0, 0);
		break;
	}
	(void)fd;
	return 1;	/* survived: allowed */
}

static void
check_forbidden(int parent_eperm, int i)
{
	const struct forbidden_case *fc = &forbidden_cases[i];
	struct outcome o;
	struct stat st;
	enum sandbox_program prog;

	tmpdir = tu_tmpdir();
	for (prog = SANDBOX_SERVER; prog <= SANDBOX_RTSP; prog++) {
		if ((fc->progs & (1u << prog)) == 0)
			continue;
		if (fc->needs_strict && SANITIZED) {
			/* What the sanitizer runtimes need is allowed in
			 * their builds (common/sandbox.c): it works. */
			run_sandboxed(prog, parent_eperm, try_forbidden,
			    (void *)fc, &o);
			ck_assert_msg(WIFEXITED(o.status) &&
			    WEXITSTATUS(o.status) == 1, "%s: status %#x: %s",
			    fc->call, o.status, o.log);
			continue;
		}
		snprintf(victim, sizeof(victim), "%s/victim-%d-%d",
		    tmpdir, i, (int)prog);
		/* An existing file to unlink and chmod; none to create. */
		if (fc->what == F_UNLINK || fc->what == F_CHMOD) {
			int fd = open(victim, O_WRONLY | O_CREAT, 0600);

			ck_assert_int_ne(fd, -1);
			close(fd);
		}
		run_sandboxed(prog, parent_eperm, try_forbidden,
		    (void *)fc, &o);
		assert_killed(&o, fc->call);
		/* The call was never made. */
		if (fc->what == F_UNLINK || fc->what == F_CHMOD) {
			ck_assert_int_eq(stat(victim, &st), 0);
			ck_assert_int_eq(st.st_mode & 0777, 0600);
			unlink(victim);
		} else
			ck_assert_int_eq(stat(victim, &st), -1);
	}
}

START_TEST(test_forbidden)
{
	check_forbidden(0, _i);
}
END_TEST

/* ------------------------------------------------- network sources */

/* Sockets of the family and type in arg ({ family, type }). */
static int
make_socket(void *arg)
{
	const int *ft = arg;
	int fd = socket(ft[0], ft[1] | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd == -1)
		return 30;
	close(fd);
	return 0;
}

/*
 * A capture of a network source may make TCP sockets (IPv4, IPv6), and
 * UDP ones only to resolve names; nothing else of IP, no netlink.
 */
START_TEST(test_net_capture)
{
	static const struct {
		unsigned net;
		int	 family, type, allowed;
	} t[] = {
		{ SANDBOX_NET_TCP, AF_INET, SOCK_STREAM, 1 },
		{ SANDBOX_NET_TCP, AF_INET6, SOCK_STREAM, 1 },
		{ SANDBOX_NET_TCP, AF_INET, SOCK_DGRAM, 0 },
		{ SANDBOX_NET_TCP | SANDBOX_NET_DNS, AF_INET, SOCK_DGRAM, 1 },
		{ SANDBOX_NET_TCP | SANDBOX_NET_DNS, AF_INET6, SOCK_DGRAM, 1 },
		{ SANDBOX_NET_TCP | SANDBOX_NET_DNS, AF_INET, SOCK_RAW, 0 },
		{ SANDBOX_NET_TCP | SANDBOX_NET_DNS, AF_PACKET, SOCK_DGRAM, 0 },
		{ SANDBOX_NET_TCP | SANDBOX_NET_DNS, AF_NETLINK, SOCK_DGRAM,
		  0 },
	};
	struct outcome o;
	int ft[2];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		run_net = t[i].net;
		ft[0] = t[i].family;
		ft[1] = t[i].type;
		run_sandboxed(SANDBOX_CAPTURE, 0, make_socket, ft, &o);
		if (t[i].allowed)
			assert_exit0(&o);
		else
			assert_killed(&o, "socket");
	}
	/* And the rest of the capture's work, under systemd's filter. */
	run_net = SANDBOX_NET_TCP | SANDBOX_NET_DNS;
	run_sandboxed(SANDBOX_CAPTURE, 1, serve_capture, NULL, &o);
	assert_exit0(&o);
	run_net = 0;
}
END_TEST

/* ------------------------------------------------- under systemd's filter */

START_TEST(test_under_parent_filter)
{
	struct outcome o;

	/* seccomp() refused: libseccomp loads with prctl() instead. */
	run_sandboxed(SANDBOX_SERVER, 1, serve_server, NULL, &o);
	assert_exit0(&o);
	run_sandboxed(SANDBOX_CAPTURE, 1, serve_capture, NULL, &o);
	assert_exit0(&o);
	run_sandboxed(SANDBOX_CAPTURE_V4L2_LAYER, 1, serve_capture_layer,
	    NULL, &o);
	assert_exit0(&o);
}
END_TEST

START_TEST(test_forbidden_under_parent_filter)
{
	check_forbidden(1, _i);
}
END_TEST

/* ----------------------------------------------- names and architectures */

#define NAMES_MAX	256

/* The distinct names of a program's lists. */
struct name_walk {
	const char	*names[NAMES_MAX];
	unsigned	 n;
};

static void
name_collect(const char *name, void *arg)
{
	struct name_walk *w = arg;
	unsigned i;

	for (i = 0; i < w->n; i++)
		if (strcmp(w->names[i], name) == 0)
			return;
	ck_assert_uint_lt(w->n, NAMES_MAX);
	w->names[w->n++] = name;
}

/* How many system calls arch has (numbered below 1024: ARM's private
 * calls, from 0xf0000, are not counted). */
static unsigned
arch_calls(uint32_t arch)
{
	unsigned n = 0;
	char *name;
	int nr;

	for (nr = 0; nr < 1024; nr++)
		if ((name = seccomp_syscall_resolve_num_arch(arch, nr)) != NULL) {
			n++;
			free(name);
		}
	return n;
}

static const char *
arch_name(uint32_t arch)
{
	switch (arch) {
	case SCMP_ARCH_X86_64:	return "x86-64";
	case SCMP_ARCH_AARCH64:	return "arm64";
	case SCMP_ARCH_ARM:	return "armhf";
	default:		return "?";
	}
}

START_TEST(test_names_are_calls)
{
	struct name_walk w;
	enum sandbox_program prog;
	char unknown[512];
	unsigned i, a, on[8];
	size_t len;

	for (a = 0; sandbox_arches[a] != 0; a++)
		ck_assert_uint_lt(a, sizeof(on) / sizeof(on[0]));
	for (prog = SANDBOX_SERVER; prog <= SANDBOX_RTSP; prog++) {
		memset(&w, 0, sizeof(w));
		memset(on, 0, sizeof(on));
		unknown[0] = '\0';
		sandbox_call_names(prog, name_collect, &w);
		for (i = 0; i < w.n; i++) {
			int known = 0;

			for (a = 0; sandbox_arches[a] != 0; a++)
				if (seccomp_syscall_resolve_name_arch(
				    sandbox_arches[a], w.names[i]) >= 0) {
					on[a]++;
					known = 1;
				}
			len = strlen(unknown);
			if (!known)
				snprintf(unknown + len, sizeof(unknown) - len,
				    " %s", w.names[i]);
		}
		ck_assert_msg(unknown[0] == '\0', "%s: a call on none of "
		    "the architectures:%s", sandbox_program_name(prog),
		    unknown);
		/* The walk saw the lists, and each architecture has most of
		 * the names: none is forgotten wholesale. */
		ck_assert_uint_gt(w.n, 50);
		for (a = 0; sandbox_arches[a] != 0; a++) {
			ck_assert_msg(on[a] > w.n / 2, "%s: %u of %u names on "
			    "%s", sandbox_program_name(prog), on[a], w.n,
			    arch_name(sandbox_arches[a]));
			fprintf(stderr, "figure: sandbox: %s%s allows %u of "
			    "the %u system calls of %s\n",
			    sandbox_program_name(prog),
			    prog == SANDBOX_CAPTURE_V4L2_LAYER ?
			    " with a V4L2 layer" : "", on[a],
			    arch_calls(sandbox_arches[a]),
			    arch_name(sandbox_arches[a]));
		}
	}
	/* The machine running this is one of them. */
	for (a = 0; sandbox_arches[a] != 0; a++)
		if (sandbox_arches[a] == seccomp_arch_native())
			break;
	ck_assert_uint_ne(sandbox_arches[a], 0);
}
END_TEST

static Suite *
sandbox_suite(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tc = tcase_create("allow-lists");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_server_serves);
	tcase_add_test(tc, test_capture_serves);
	tcase_add_test(tc, test_rtsp_serves);
	tcase_add_test(tc, test_capture_encodes_h264);
	tcase_add_test(tc, test_exec_stack_library);
	tcase_add_loop_test(tc, test_forbidden, 0, (int)NFORBIDDEN);
	tcase_add_test(tc, test_net_capture);
	tcase_add_test(tc, test_under_parent_filter);
	tcase_add_loop_test(tc, test_forbidden_under_parent_filter, 0,
	    (int)NFORBIDDEN);
	suite_add_tcase(s, tc);
	tc = tcase_create("names");
	tcase_add_test(tc, test_names_are_calls);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(sandbox_suite());
}
