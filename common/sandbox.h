/*
 * sandbox.h - the in-process system call filter (seccomp, through
 * libseccomp) that each program applies to itself once its setup is done.
 *
 * A shmcam process does its privileged and rare work first (options,
 * devices, the ring, listening sockets, the privilege drop), then calls
 * sandbox_apply() and from then on only serves: it reads, writes, polls,
 * accepts and maps, and the capture also reopens its device, replaces its
 * ring and starts encoder threads.  The allow-list of each program is the
 * table at the top of sandbox.c, one line per system call, grouped by
 * what needs it.  It holds with or without systemd: under a unit's
 * SystemCallFilter= both filters apply and the stricter answer wins.
 *
 * What a violation does
 *   A system call that is not on the list kills the process: the filter
 *   traps it (SIGSYS, the call is never made), one line names the call
 *   on stderr ("sandbox: forbidden system call execve (59)"), and SIGSYS
 *   is raised again with its default action, so the process dies with
 *   that signal (and a core dump where enabled).  An unexpected call
 *   after setup is a bug or an attack; failing loudly finds the first and
 *   stops the second.  The exceptions are calls a library tries and
 *   handles: clone3() fails with ENOSYS, which makes glibc fall back to
 *   clone(), whose flags the filter can see (threads yes, processes no).
 *
 * Arguments are checked where a call is needed for one purpose only:
 *   mmap/mprotect   never PROT_EXEC (no new code in a running process);
 *                   where a loaded library asks for executable stacks
 *                   (Debian's libx264 on armhf), mprotect() also with
 *                   exactly read-write-execute, which is what glibc
 *                   gives a thread's stack then (logged at setup)
 *   clone           threads only (CLONE_THREAD): no fork, no exec
 *   socket          AF_UNIX only (the control socket, sd_notify); the
 *                   servers' TCP and UDP sockets are all opened before; a
 *                   capture of a network source also AF_INET and
 *                   AF_INET6, SOCK_STREAM (the camera) and, if it
 *                   resolves a name, SOCK_DGRAM (DNS)
 *   socketpair      with a V4L2 layer (below), AF_UNIX
 *   openat          the server: read-only; the capture: any (it reopens
 *                   its device read-write and creates a replacement ring)
 *   ioctl           the server: FIONREAD, SIOCOUTQ; the capture: those
 *                   and V4L2's ('V' requests); with a V4L2 layer also the
 *                   media controller's ('|'), DMA heaps' ('H') and
 *                   DMA buffers' ('b')
 *   prctl           the capture: PR_SET_NAME (a thread's name: its
 *                   encoder threads', a V4L2 layer's)
 *   tgkill          this process only (abort(), raise())
 *
 * Preloaded V4L2 layers
 *   Some cameras reach V4L2 programs only through a library preloaded
 *   into them: libcamera's v4l2-compat.so (libcamerify) for the
 *   Raspberry Pi's camera modules, the test suite's simulated camera.
 *   Such a layer is a driver running inside the process: its own
 *   threads (libcamera starts them at the first open of a camera) make
 *   the calls a kernel driver would make inside the kernel, at every
 *   reopen and while streaming.  The capture recognises one before it
 *   loads its filter, when LD_PRELOAD is set or the device it opened is
 *   answered in user space (its descriptor is not a character device,
 *   or the driver calls itself "libcamera"), and then asks for
 *   SANDBOX_CAPTURE_V4L2_LAYER: the capture's list plus what such layers
 *   need and what reaches nothing outside the process (pipes, eventfds,
 *   memfds, ppoll, dup, thread names, media-controller and DMA-buffer
 *   ioctls: see sandbox.c).  Everything else stays forbidden: a layer
 *   that forks, execs, opens network sockets or maps code after setup
 *   dies like the capture would.  libcamera's camera manager starts at
 *   the first open, which the capture makes before its filter unless
 *   the camera is missing at startup.
 *
 * A thread that blocks SIGSYS dies without the line: the kernel then
 * applies the default action at once.
 *
 * Sanitizer builds (-fsanitize=address, thread) add what their runtimes
 * do on our threads: LeakSanitizer's check at exit runs a clone()d
 * tracer that ptrace()s every thread.  Those calls are compiled in only
 * there, never into a production build.  Under valgrind the programs run
 * with --no-sandbox (see tests/integration/shmcam.py): valgrind makes its
 * own system calls on the program's threads, to translate code among
 * other things, which an allow-list for the program cannot foresee, and
 * it does not support seccomp filters at all.
 *
 * Architectures
 *   One list serves x86-64, arm64 and armhf (32-bit ARM, where glibc
 *   makes many calls under other names: mmap2, fcntl64, _llseek, the
 *   time64 and *32 calls, sigreturn); sandbox_arches[] below.  Argument
 *   checks apply to every variant of a call (mmap2 as mmap).  make
 *   check-arch runs both programs under their filters on emulated arm64
 *   and armhf machines.
 *
 * Return values: 0 or -errno.
 */
#ifndef SHMCAM_SANDBOX_H
#define SHMCAM_SANDBOX_H

#include <stdint.h>

enum sandbox_program {
	SANDBOX_SERVER,
	SANDBOX_CAPTURE,
	SANDBOX_CAPTURE_V4L2_LAYER,	/* with a V4L2 layer preloaded */
	SANDBOX_RTSP,			/* shmcam-server's, and sendmmsg */
};

/*
 * Sets PR_SET_NO_NEW_PRIVS and loads the program's filter, for every
 * thread of the process where the kernel lets us synchronise them
 * (SECCOMP_FILTER_FLAG_TSYNC; not under a parent filter that refuses the
 * seccomp() call, as systemd's SystemCallFilter= does) and in any case
 * for the calling thread and every thread it starts afterwards.  Call it
 * before starting threads.  -ENOSYS without seccomp support in the kernel,
 * -EOPNOTSUPP on an architecture not in sandbox_arches[], -ENOMEM,
 * -EINVAL (a rule libseccomp refused, or a name that is a call on no
 * architecture: a bug), or prctl's error.
 */
int	sandbox_apply(enum sandbox_program prog);

/*
 * sandbox_apply() for a capture whose source is on the network
 * (capture/net.c), which after setup makes TCP connections to the camera
 * (SANDBOX_NET_TCP) and, when --source names a host rather than an
 * address, UDP sockets to ask the name servers of /etc/resolv.conf
 * (SANDBOX_NET_DNS; the configuration itself is read before).  IPv4 and
 * IPv6 both, nothing else: no raw or packet sockets, no netlink.
 * Device sources get none of it.
 */
#define SANDBOX_NET_TCP		0x1u
#define SANDBOX_NET_DNS		0x2u
int	sandbox_apply_net(enum sandbox_program prog, unsigned net);

const char *sandbox_program_name(enum sandbox_program prog);

/*
 * The architectures the lists are written for, as libseccomp's
 * SCMP_ARCH_* tokens, ending with 0.  On any other, sandbox_apply()
 * refuses with -EOPNOTSUPP and a log line that says to run without it.
 */
extern const uint32_t sandbox_arches[];

/*
 * For the tests: calls fn with the name of every system call in prog's
 * lists, the names of every architecture's variants included (a filter
 * leaves out the names its architecture lacks).
 */
typedef void	sandbox_name_fn(const char *name, void *arg);
void	sandbox_call_names(enum sandbox_program prog, sandbox_name_fn *fn,
	    void *arg);

#endif /* SHMCAM_SANDBOX_H */
