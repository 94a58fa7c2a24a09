/*
 * sandbox.c - the seccomp allow-lists of shmcam-server, shmcam-rtsp and
 * shmcam-capture (see sandbox.h).
 *
 * The lists are the two tables below: sandbox_calls[] (calls allowed
 * whatever their arguments) and the checked calls in sandbox_rules().
 * Each line says which program may make the call; each group says why.
 * A change of the code that makes a new system call after setup needs a
 * line here, and the tests find the ones forgotten: the whole test suite
 * runs sandboxed, and a forbidden call kills the process with its name
 * in the log.
 *
 * One list serves every architecture in sandbox_arches[]: a call that
 * glibc makes under another name there (mmap2, fcntl64, the time64 calls
 * and the *32 identity calls of 32-bit ARM) is listed next to its
 * x86-64 name, and the names an architecture lacks are skipped when its
 * filter is built.  tests/check_sandbox.c fails on a name that is a call
 * on none of them; make check-arch (tests/arch/) runs both programs and
 * the sandbox suite under their filters on arm64 and armhf kernels in an
 * emulator, which is how the 32-bit names were found (its --trace option
 * lists every call a program makes once its filter is on).
 */
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <seccomp.h>

#include "log.h"
#include "sandbox.h"

#define SRV	(1u << SANDBOX_SERVER)
#define CAP	(1u << SANDBOX_CAPTURE)
#define LAY	(1u << SANDBOX_CAPTURE_V4L2_LAYER)	/* and CAP's */
#define RTS	(1u << SANDBOX_RTSP)
#define ALL	(SRV | CAP | RTS)

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANDBOX_SANITIZER	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANDBOX_SANITIZER	1
#endif
#endif

/*
 * x86-64, arm64 (AArch64) and armhf (32-bit ARM, EABI; also a 32-bit
 * program on a 64-bit ARM kernel, whose calls the kernel filters as
 * ARM's).  Not i386 or x32: glibc reaches the same calls there under
 * other names again, and nothing here runs the programs on them.
 */
const uint32_t sandbox_arches[] = {
	SCMP_ARCH_X86_64,
	SCMP_ARCH_AARCH64,
	SCMP_ARCH_ARM,
	0
};

struct sandbox_call {
	const char	*sc_name;
	unsigned	 sc_who;
};

/*
 * Allowed whatever their arguments.  Names that the machine's
 * architecture lacks (open on arm64, mmap2 on x86-64) are skipped.
 *
 * 32-bit ARM: glibc makes some calls under names of their own there,
 * marked "ARM".  make check-arch --trace saw mmap2, sigreturn, send,
 * fchown32 (which the capture no longer makes: its ring is a memfd) and
 * the *32 identity calls made by the programs and the sandbox suite, on
 * an ARM kernel and on a 64-bit one.  The other ARM
 * names are the same calls with 64-bit offsets or times, where glibc
 * uses them: for fcntl() and lseek() always (fcntl64, _llseek), in a
 * build with _FILE_OFFSET_BITS=64 (ftruncate64), for times past 2038
 * (the *_time64 calls), and for clock_gettime() where the kernel has no
 * vDSO for 32-bit programs.
 */
static const struct sandbox_call sandbox_calls[] = {
	/* The event loop: libevent's epoll backend, and its signal pipe. */
	{ "epoll_wait",		ALL },
	{ "epoll_pwait",	ALL },
	{ "epoll_ctl",		ALL },
	/* Descriptors that are ready: sockets, eventfds, timerfds, the
	 * device.  fcntl: libevent makes accepted sockets non-blocking. */
	{ "read",		ALL },
	{ "readv",		ALL },
	{ "write",		ALL },
	{ "writev",		ALL },
	{ "close",		ALL },
	{ "fcntl",		ALL },
	{ "fcntl64",		ALL },	/* ARM */
	{ "fstat",		ALL },
	{ "newfstatat",		ALL },
	{ "statx",		ALL },
	{ "lseek",		ALL },
	{ "_llseek",		ALL },	/* ARM */
	/* Sockets: HTTP clients (server) and control peers (capture)
	 * accepted; control messages with descriptors (SCM_RIGHTS) both
	 * ways; the server reconnects to its capture (connect, with a
	 * socket() checked below); the server's per-client TCP_NODELAY and
	 * TCP_NOTSENT_LOWAT (and the simulated camera's SO_SNDBUF, see
	 * socketpair below).  getsockopt is checked below. */
	{ "accept4",		ALL },
	{ "accept",		ALL },
	{ "connect",		ALL },
	{ "recvmsg",		ALL },
	{ "sendmsg",		ALL },
	{ "recvfrom",		ALL },
	{ "sendto",		ALL },
	{ "shutdown",		ALL },
	{ "setsockopt",		ALL },
	{ "getsockname",	ALL },
	{ "getpeername",	ALL },
	{ "send",		ALL },	/* ARM: send() and recv() */
	{ "recv",		ALL },
	/* Clocks and sleeping. */
	{ "clock_gettime",	ALL },
	{ "clock_gettime64",	ALL },	/* ARM */
	{ "clock_getres",	ALL },
	{ "clock_getres_time64", ALL },	/* ARM */
	{ "gettimeofday",	ALL },
	{ "nanosleep",		ALL },
	{ "clock_nanosleep",	ALL },
	{ "clock_nanosleep_time64", ALL },	/* ARM */
	/* Memory: malloc, frames, thread stacks, mapping a ring (server)
	 * or a new ring and V4L2 buffers (capture).  mmap and mprotect are
	 * checked below: never executable. */
	{ "brk",		ALL },
	{ "munmap",		ALL },
	{ "mremap",		ALL },
	{ "madvise",		ALL },
	/* Threads (the capture's encoders; clone() is checked below) and
	 * what glibc does for every thread and lock. */
	{ "futex",		ALL },
	{ "futex_time64",	ALL },	/* ARM */
	{ "sched_yield",	ALL },
	{ "set_robust_list",	ALL },
	{ "rseq",		ALL },
	{ "gettid",		ALL },
	{ "getpid",		ALL },
	{ "exit",		ALL },
	{ "exit_group",		ALL },
	/* Signals: libevent's handlers for SIGINT and SIGTERM, glibc's
	 * abort() and raise() (tgkill is checked below). */
	{ "rt_sigreturn",	ALL },
	{ "sigreturn",		ALL },	/* ARM: handlers without SA_SIGINFO */
	{ "rt_sigprocmask",	ALL },
	{ "rt_sigaction",	ALL },
	{ "restart_syscall",	ALL },
	/* Who we are: libsystemd's sd_notify() (READY, STATUS, WATCHDOG to
	 * the service manager) sends our credentials along. */
	{ "getuid",		ALL },
	{ "geteuid",		ALL },
	{ "getgid",		ALL },
	{ "getegid",		ALL },
	{ "getuid32",		ALL },	/* ARM */
	{ "geteuid32",		ALL },
	{ "getgid32",		ALL },
	{ "getegid32",		ALL },
	/* The capture: a new ring's random generation; an eventfd for each
	 * server that attaches; the sources' frame timers; a directory
	 * source's listing. */
	{ "getrandom",		CAP | RTS },
	{ "eventfd2",		CAP },
	{ "timerfd_create",	CAP },
	{ "timerfd_settime",	CAP },
	{ "timerfd_settime64",	CAP },	/* ARM */
	{ "timerfd_gettime",	CAP },
	{ "timerfd_gettime64",	CAP },	/* ARM */
	{ "getdents64",		CAP },
	/* The capture replaces its ring when a frame outgrows it (a memfd,
	 * sized, sealed, made 0400, reopened read-only through /proc for
	 * the servers: common/ring.h), reopens its device after an unplug
	 * (open is checked for the server only), unlinks its control
	 * socket at exit. */
	{ "memfd_create",	CAP },
	{ "openat",		CAP },
	{ "open",		CAP },
	{ "ftruncate",		CAP },
	{ "ftruncate64",	CAP },	/* ARM */
	{ "fchmod",		CAP },
	{ "unlink",		CAP },
	{ "unlinkat",		CAP },
	/*
	 * shmcam-rtsp: RTP over UDP, an access unit in one sendmmsg() (its
	 * sockets are all bound before the filter: rtsp/udp.c).  Its
	 * session ids and Digest nonces are random (getrandom, above).
	 */
	{ "sendmmsg",		RTS },
	/*
	 * A V4L2 layer preloaded into the capture (sandbox.h) is a driver
	 * in user space: the calls a kernel driver makes inside the kernel
	 * it makes here, at every (re)open of the device and while it
	 * streams.  libcamera's v4l2-compat.so (libcamerify, for Raspberry
	 * Pi camera modules): its event loops wait in ppoll() and wake each
	 * other through eventfds (above), it shares file descriptors with
	 * dup(), allocates buffers from /dev/dma_heap (openat, above; the
	 * ioctls are checked below) and shares memory with its image
	 * processing algorithms through memfds, and its threads name
	 * themselves (prctl(PR_SET_NAME), checked below, allowed to every
	 * capture).  The test
	 * suite's simulated camera (tests/v4l2sim): a socketpair (checked
	 * below) or an eventfd as the device descriptor, a memfd per
	 * buffer (memfd_create is the capture's, for its ring, above), a
	 * pipe and threads as libcamera's.  Each makes an object
	 * private to the process, or waits, and reaches nothing outside.
	 */
	{ "pipe2",		LAY },
	{ "ppoll",		LAY },
	{ "ppoll_time64",	LAY },
	{ "poll",		LAY },
	{ "dup",		LAY },
	{ "dup3",		LAY },
	{ "sched_getaffinity",	LAY },
#ifdef SANDBOX_SANITIZER
	/*
	 * Sanitizer builds only.  LeakSanitizer's check at exit clone()s a
	 * tracer (not a thread: clone() is allowed with any flags here),
	 * which ptrace()s every thread, waits for them and lists
	 * /proc/self/task (with getdents, not getdents64, on x86-64) and
	 * reads /proc/self/maps (read-only opens, allowed for the server
	 * below); ASan asks for the CPU mask when a thread starts; a report
	 * resolves /proc/self/exe and asks whether stderr is a terminal
	 * (TCGETS, below).  Never in production.  The tracer
	 * blocks SIGSYS, so a call missing here kills it without the log
	 * line (the kernel's default action) and the process waits for it
	 * for ever: look for a LeakSanitizer that never reports.
	 */
	{ "clone",		ALL },
	{ "ptrace",		ALL },
	{ "wait4",		ALL },
	{ "prctl",		ALL },
	{ "getdents64",		SRV | RTS },
	{ "getdents",		ALL },
	{ "sigaltstack",	ALL },
	{ "sched_getaffinity",	ALL },
	{ "getppid",		ALL },
	{ "readlink",		ALL },
	{ "readlinkat",		ALL },
#endif
};

/* Files the server may open: read-only, nothing created or truncated.
 * O_TMPFILE includes O_DIRECTORY, which a read-only open may have. */
#define SANDBOX_WRITE_FLAGS	(O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND | \
				 (O_TMPFILE & ~O_DIRECTORY))

/* Where the rules go: into a filter, or to a function that is shown
 * every name (sandbox_call_names()). */
struct sandbox_sink {
	scmp_filter_ctx	  ss_filter;
	sandbox_name_fn	 *ss_fn;
	void		 *ss_arg;
};

static int
sandbox_add(const struct sandbox_sink *ctx, uint32_t action,
    const char *name, unsigned argc, const struct scmp_arg_cmp *args)
{
	int nr;

	if (ctx->ss_fn != NULL) {
		ctx->ss_fn(name, ctx->ss_arg);
		return 0;
	}
	nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR)
		return -EINVAL;	/* a call on no architecture: a typo */
	if (nr < 0)
		return 0;	/* a call of other architectures */
	return seccomp_rule_add_array(ctx->ss_filter, action, nr, argc,
	    args);
}

/* Argument n equals v. */
static struct scmp_arg_cmp
arg_eq(unsigned n, uint64_t v)
{
	struct scmp_arg_cmp c = { n, SCMP_CMP_EQ, v, 0 };

	return c;
}

/* Argument n, masked with mask, equals v. */
static struct scmp_arg_cmp
arg_masked(unsigned n, uint64_t mask, uint64_t v)
{
	struct scmp_arg_cmp c = { n, SCMP_CMP_MASKED_EQ, mask, v };

	return c;
}

/* dl_iterate_phdr(): stops at an object whose PT_GNU_STACK asks for an
 * executable stack, and names it. */
static int
exec_stack_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	for (size_t i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_GNU_STACK &&
		    (info->dlpi_phdr[i].p_flags & PF_X) != 0) {
			*(const char **)arg = info->dlpi_name;
			return 1;
		}
	return 0;
}

/*
 * 1 if an object loaded into the process asks for executable stacks
 * (*name: which).  glibc has then made the main thread's stack
 * executable while loading it, and makes each thread's stack so with
 * mprotect(PROT_READ | PROT_WRITE | PROT_EXEC) when the thread starts.
 * Debian 12's libx264 on armhf is such an object (its ARM assembly has
 * no .note.GNU-stack); on x86-64 and arm64 none of ours is.
 */
static int
sandbox_exec_stack(const char **name)
{
	*name = NULL;
	return dl_iterate_phdr(exec_stack_object, name) != 0;
}

/*
 * The checked calls, allowed only with the arguments given.  A call that
 * is allowed here in one form and made in another is a violation.
 */
static int
sandbox_rules(const struct sandbox_sink *ctx, enum sandbox_program prog,
    unsigned net)
{
	const struct scmp_arg_cmp
	    no_exec = arg_masked(2, PROT_EXEC, 0),
	    stack_rwx = arg_eq(2, PROT_READ | PROT_WRITE | PROT_EXEC),
	    unix_only = arg_eq(0, AF_UNIX),
	    thread_only = arg_masked(0, CLONE_THREAD, CLONE_THREAD),
	    self = arg_eq(0, (uint64_t)getpid()),
	    fionread = arg_eq(1, FIONREAD),
	    siocoutq = arg_eq(1, SIOCOUTQ),
	    sol_socket = arg_eq(1, SOL_SOCKET),
	    tcp_info[2] = { arg_eq(1, IPPROTO_TCP), arg_eq(2, TCP_INFO) },
	    tcgets = arg_eq(1, TCGETS),
	    set_name = arg_eq(0, PR_SET_NAME),
	    v4l2 = arg_masked(1, 0xff00, 'V' << 8),
	    media = arg_masked(1, 0xff00, '|' << 8),
	    dma_heap = arg_masked(1, 0xff00, 'H' << 8),
	    dma_buf = arg_masked(1, 0xff00, 'b' << 8),
	    openat_ro = arg_masked(2, SANDBOX_WRITE_FLAGS, 0),
	    open_ro = arg_masked(1, SANDBOX_WRITE_FLAGS, 0),
	    prio_process = arg_eq(0, PRIO_PROCESS),
	    prio_low = arg_eq(2, 10);
	int rc = 0;

	/* Memory, never executable.  ARM has mmap2 (the offset in pages)
	 * and no mmap. */
	rc |= sandbox_add(ctx, SCMP_ACT_ALLOW, "mmap", 1, &no_exec);
	rc |= sandbox_add(ctx, SCMP_ACT_ALLOW, "mmap2", 1, &no_exec);
	rc |= sandbox_add(ctx, SCMP_ACT_ALLOW, "mprotect", 1, &no_exec);
	/* Except a thread's stack where a library asks for executable
	 * stacks (sandbox_exec_stack()): exactly that protection, which
	 * those stacks have whatever the filter says. */
	if (sandbox_exec_stack(&(const char *){ NULL }))
		rc |= sandbox_add(ctx, SCMP_ACT_ALLOW, "mprotect", 1,
		    &stack_rwx);
	/* Sockets: AF_UNIX only (reconnecting to the capture; sd_notify). */
	rc |= sandbox_add(ctx, SCMP_ACT_ALLOW, "socket", 1, &unix_only);
	/* A network source's camera (TCP) and name servers (UDP): the
	 * type's low bits, SOCK_NONBLOCK and SOCK_CLOEXEC aside. */
	for (int fam = 0; fam < 2; fam++) {
		struct scmp_arg_cmp inet[2] = {
			arg_eq(0, fam == 0 ? AF_INET : AF_INET6),
			arg_masked(1, 0xf, SOCK_STREAM),
		};

		if (net & SANDBOX_NET_TCP)
			rc |= sandbox_add(ctx, SCMP_ACT_ALLOW, "socket", 2,
			    inet);
		inet[1] = arg_masked(1, 0xf, SOCK_DGRAM);
		if (net & SANDBOX_NET_DNS)
			rc |= sandbox_add(ctx, SCMP_ACT_ALLOW, "socket", 2,
			    inet);
	}
	/* Threads, never processes.  glibc tries clone3() first, whose
	 * flags live in memory the filter cannot read: ENOSYS makes it use
	 * clone(). */
#ifndef SANDBOX_SANITIZER
	rc |= sandbox_add(ctx, SCMP_ACT_ALLOW, "clone", 1, &thread_only);
#else
	(void)thread_only;
#endif
	rc |= sandbox_add(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
	/* Signals to ourselves only: abort(), raise(). */
	rc |= sandbox_add(ctx, SCMP_ACT_ALLOW, "tgkill", 1, &self);
	/* Bytes waiting on a socket (libevent's reads); the kernel's send
	 * queue of a unix stream client (server/sendpolicy.c). */
	rc |= sandbox_add(ctx, SCMP_ACT_ALLOW, "ioctl", 1, &fionread);
	rc |= sandbox_add(ctx, SCMP_ACT_ALLOW, "ioctl", 1, &siocoutq);
	/* Socket-level options: SO_PEERCRED (the capture's peers), SO_ERROR
	 * (libevent, after a connect). */
	rc |= sandbox_add(ctx, SCMP_ACT_ALLOW, "getsockopt", 1, &sol_socket);
#ifdef SANDBOX_SANITIZER
	/* A sanitizer's report asks whether stderr is a terminal. */
	rc |= sandbox_add(ctx, SCMP_ACT_ALLOW, "ioctl", 1, &tcgets);
#else
	(void)tcgets;
#endif
	if (prog == SANDBOX_CAPTURE_V4L2_LAYER) {
		/* A V4L2 layer in the process (above): the media controller
		 * ('|', MEDIA_IOC_*, also its requests), DMA heaps ('H') and
		 * DMA-buffer syncs ('b'); a simulated device's socketpair. */
		rc |= sandbox_add(ctx, SCMP_ACT_ALLOW, "ioctl", 1, &media);
		rc |= sandbox_add(ctx, SCMP_ACT_ALLOW, "ioctl", 1, &dma_heap);
		rc |= sandbox_add(ctx, SCMP_ACT_ALLOW, "ioctl", 1, &dma_buf);
		rc |= sandbox_add(ctx, SCMP_ACT_ALLOW, "socketpair", 1,
		    &unix_only);
	}
	if (prog == SANDBOX_CAPTURE || prog == SANDBOX_CAPTURE_V4L2_LAYER) {
		/* Video4Linux: every VIDIOC_ request is type 'V', the
		 * memory-to-memory encoder's too. */
		rc |= sandbox_add(ctx, SCMP_ACT_ALLOW, "ioctl", 1, &v4l2);
#ifndef SANDBOX_SANITIZER
		/* Threads name themselves (PR_SET_NAME only): the capture's
		 * encoder threads (workers.c, started when a viewer of
		 * their kind arrives, after the filter is on), and a V4L2
		 * layer's (above).  Sanitizer builds allow any prctl. */
		rc |= sandbox_add(ctx, SCMP_ACT_ALLOW, "prctl", 1, &set_name);
#else
		(void)set_name;
#endif
	} else {
		/* What TCP knows about a stream client's path, for the send
		 * policy (server/sendpolicy.c); no other TCP option. */
		rc |= sandbox_add(ctx, SCMP_ACT_ALLOW, "getsockopt", 2,
		    tcp_info);
		/* The servers open nothing for writing. */
		rc |= sandbox_add(ctx, SCMP_ACT_ALLOW, "openat", 1, &openat_ro);
		rc |= sandbox_add(ctx, SCMP_ACT_ALLOW, "open", 1, &open_ro);
		/* Its password thread gives way to the event loop: it may
		 * set a thread's nice value to 10, and nothing else
		 * (server/auth.c). */
		rc |= sandbox_add(ctx, SCMP_ACT_ALLOW, "setpriority", 2,
		    (struct scmp_arg_cmp[]){ prio_process, prio_low });
	}
	return rc;
}

/* ---------------------------------------------------------- violation */

/* si_code of a SIGSYS from seccomp (asm-generic/siginfo.h, which
 * clashes with glibc's signal.h). */
#ifndef SYS_SECCOMP
#define SYS_SECCOMP		1
#endif

#define SANDBOX_NAMES		512
#define SANDBOX_NAME_MAX	24

/* Filled before the filter is loaded: the handler may not allocate. */
static char sandbox_names[SANDBOX_NAMES][SANDBOX_NAME_MAX];
static char sandbox_prefix[64];

static size_t
sandbox_append(char *buf, size_t n, size_t size, const char *s)
{
	while (*s != '\0' && n + 1 < size)
		buf[n++] = *s++;
	return n;
}

static size_t
sandbox_append_uint(char *buf, size_t n, size_t size, unsigned long v)
{
	char digits[24];
	size_t i = sizeof(digits) - 1;

	digits[i] = '\0';
	do {
		digits[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0 && i > 0);
	return sandbox_append(buf, n, size, digits + i);
}

/*
 * SIGSYS from the filter: one line naming the call, then the signal
 * again with its default action (SA_RESETHAND restored it, SA_NODEFER
 * lets it through at once), which ends the process.  Async-signal-safe:
 * write(2) and raise(3) only, and the names were resolved beforehand.
 */
static void
sandbox_sigsys(int sig, siginfo_t *si, void *uctx)
{
	char line[160];
	size_t n = 0;
	int saved = errno;

	(void)uctx;
	if (si->si_code == SYS_SECCOMP) {
		n = sandbox_append(line, n, sizeof(line), sandbox_prefix);
		n = sandbox_append(line, n, sizeof(line),
		    "sandbox: forbidden system call ");
		if (si->si_syscall >= 0 && si->si_syscall < SANDBOX_NAMES &&
		    sandbox_names[si->si_syscall][0] != '\0') {
			n = sandbox_append(line, n, sizeof(line),
			    sandbox_names[si->si_syscall]);
			n = sandbox_append(line, n, sizeof(line), " ");
		}
		n = sandbox_append(line, n, sizeof(line), "(");
		n = sandbox_append_uint(line, n, sizeof(line),
		    (unsigned long)si->si_syscall);
		n = sandbox_append(line, n, sizeof(line),
		    "), killed; --no-sandbox turns the filter off\n");
		if (write(STDERR_FILENO, line, n) < 0) {
			/* Nowhere left to report it. */
		}
	}
	errno = saved;
	raise(sig);
}

static int
sandbox_trap_setup(void)
{
	struct sigaction sa;
	char *name;
	int nr;

	for (nr = 0; nr < SANDBOX_NAMES; nr++) {
		name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
		if (name != NULL) {
			snprintf(sandbox_names[nr], SANDBOX_NAME_MAX, "%s",
			    name);
			free(name);
		}
	}
	log_line_prefix(LOG_CRIT, sandbox_prefix,
	    sizeof(sandbox_prefix));
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sandbox_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) == -1)
		return -errno;
	return 0;
}

/* -------------------------------------------------------------- apply */

const char *
sandbox_program_name(enum sandbox_program prog)
{
	switch (prog) {
	case SANDBOX_SERVER:
		return "shmcam-server";
	case SANDBOX_RTSP:
		return "shmcam-rtsp";
	default:
		return "shmcam-capture";
	}
}

/* The table's bits that apply to prog: a layer's calls and the
 * capture's. */
static unsigned
sandbox_who(enum sandbox_program prog)
{
	return prog == SANDBOX_CAPTURE_V4L2_LAYER ? CAP | LAY : 1u << prog;
}

/* Every rule of prog's filter into ctx; 0, or -EINVAL for a rule
 * libseccomp refused (a bug). */
static int
sandbox_build(const struct sandbox_sink *ctx, enum sandbox_program prog,
    unsigned net)
{
	size_t i;

	for (i = 0; i < sizeof(sandbox_calls) / sizeof(sandbox_calls[0]); i++) {
		if ((sandbox_calls[i].sc_who & sandbox_who(prog)) == 0)
			continue;
		if (sandbox_add(ctx, SCMP_ACT_ALLOW, sandbox_calls[i].sc_name,
		    0, NULL) != 0)
			return -EINVAL;
	}
	return sandbox_rules(ctx, prog, net) != 0 ? -EINVAL : 0;
}

void
sandbox_call_names(enum sandbox_program prog, sandbox_name_fn *fn, void *arg)
{
	struct sandbox_sink sink = { NULL, fn, arg };

	sandbox_build(&sink, prog, SANDBOX_NET_TCP | SANDBOX_NET_DNS);
}

/* 1 if the lists are written for the architecture libseccomp runs on. */
static int
sandbox_arch_supported(void)
{
	uint32_t native = seccomp_arch_native();
	size_t i;

	for (i = 0; sandbox_arches[i] != 0; i++)
		if (sandbox_arches[i] == native)
			return 1;
	return 0;
}

int
sandbox_apply(enum sandbox_program prog)
{
	return sandbox_apply_net(prog, 0);
}

int
sandbox_apply_net(enum sandbox_program prog, unsigned net)
{
	struct sandbox_sink sink = { NULL, NULL, NULL };
	const char *name;
	int rc;

	if (!sandbox_arch_supported()) {
		log_warnx("sandbox: the system call lists are written for "
		    "x86-64, arm64 and armhf only; on this architecture run "
		    "with --no-sandbox");
		return -EOPNOTSUPP;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return -errno;
	if ((rc = sandbox_trap_setup()) != 0)
		return rc;
	sink.ss_filter = seccomp_init(SCMP_ACT_TRAP);
	if (sink.ss_filter == NULL)
		return -ENOMEM;
	/*
	 * Every thread at once where the kernel allows it; a parent filter
	 * that refuses seccomp() (systemd's) leaves libseccomp with prctl(),
	 * which filters the calling thread and those it starts from now on:
	 * our own threads start after this.
	 */
	rc = seccomp_attr_set(sink.ss_filter, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc != 0 && rc != -EOPNOTSUPP)
		goto out;
	if ((rc = sandbox_build(&sink, prog, net)) != 0)
		goto out;
	if (sandbox_exec_stack(&name))
		log_warnx("sandbox: %s asks for executable stacks, so thread "
		    "stacks are executable and may be made so",
		    name != NULL && *name != '\0' ? name : "the program");
	rc = seccomp_load(sink.ss_filter);
	if (rc == -ECANCELED)
		rc = -ENOSYS;
out:
	seccomp_release(sink.ss_filter);
	return rc;
}
