/*
 * preload.c - the libc functions libv4l2sim.so puts in front of the
 * program's: open and its variants, close, ioctl, mmap, munmap.
 *
 * Anything that is not the simulated device goes straight to libc, and
 * that path must stay cheap and lock-free, because every close(), every
 * ioctl() on a socket and every mmap() of the program passes here:
 *   - close/ioctl/mmap: one atomic load of fds[fd];
 *   - munmap: one atomic load of a counter of live buffer mappings;
 *   - open: two getenv()s and, only when V4L2SIM_DEVICE or
 *     V4L2SIM_M2M_DEVICE is set, two stat()s each to compare the path
 *     with the device file (the same file, found through any path or
 *     symlink, is the device: realpath() equality with hard links
 *     counted too).
 * These functions can be called before any constructor has run and from
 * any thread: the real functions are looked up on first use.  Not with
 * pthread_once(): ThreadSanitizer's runtime calls mmap() while it
 * initialises, and its own pthread_once() interceptor crashes then.
 *
 * glibc's _FORTIFY_SOURCE turns open() into __open_2() in the program,
 * so those entry points are covered too.  fopen() and glibc's internal
 * opens are not: V4L2 programs open the device with open().
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim.h"

#define EXPORT	__attribute__((visibility("default")))

/* Descriptors of simulated devices; larger ones are refused (EMFILE). */
#define SIM_MAX_FD	4096

struct sim_real sim_real;
/* 0: not looked up, 1: being looked up, 2: sim_real is ready. */
static int real_state;

/* fds[fd]: written under fds_lock, read lock-free with acquire loads. */
static struct sim_device *fds[SIM_MAX_FD];
static pthread_mutex_t fds_lock = PTHREAD_MUTEX_INITIALIZER;

static void *
real_lookup(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (p == NULL) {
		/* No libc function to forward to: nothing sensible left. */
		fprintf(stderr, "v4l2sim: dlsym(RTLD_NEXT, %s) failed\n",
		    name);
		abort();
	}
	return p;
}

static void
real_resolve(void)
{
	sim_real.open = (int (*)(const char *, int, ...))real_lookup("open");
	sim_real.openat = (int (*)(int, const char *, int, ...))
	    real_lookup("openat");
	sim_real.close = (int (*)(int))real_lookup("close");
	sim_real.ioctl = (int (*)(int, unsigned long, ...))
	    real_lookup("ioctl");
	sim_real.mmap = (void *(*)(void *, size_t, int, int, int, off_t))
	    real_lookup("mmap");
	sim_real.munmap = (int (*)(void *, size_t))real_lookup("munmap");
}

static void
real_init(void)
{
	int expected = 0;

	/* acquire: pairs with the release below; sim_real is complete. */
	if (__atomic_load_n(&real_state, __ATOMIC_ACQUIRE) == 2)
		return;
	if (__atomic_compare_exchange_n(&real_state, &expected, 1, 0,
	    __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
		real_resolve();
		__atomic_store_n(&real_state, 2, __ATOMIC_RELEASE);
		return;
	}
	/* Another thread is looking them up: a few dlsym() calls. */
	while (__atomic_load_n(&real_state, __ATOMIC_ACQUIRE) != 2)
		sched_yield();
}

/* The device with descriptor fd, with a reference, or NULL. */
static struct sim_device *
fd_get(int fd)
{
	struct sim_device *d;

	if (fd < 0 || fd >= SIM_MAX_FD ||
	    __atomic_load_n(&fds[fd], __ATOMIC_ACQUIRE) == NULL)
		return NULL;
	pthread_mutex_lock(&fds_lock);
	if ((d = fds[fd]) != NULL)
		sim_device_ref(d);
	pthread_mutex_unlock(&fds_lock);
	return d;
}

/* Is path (relative to dirfd) the file the variable var names? */
static int
is_file(int dirfd, const char *path, const char *var)
{
	const char *dev;
	struct stat a, b;

	if ((dev = getenv(var)) == NULL || *dev == '\0')
		return 0;
	return fstatat(dirfd, path, &b, 0) == 0 && S_ISREG(b.st_mode) &&
	    stat(dev, &a) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino;
}

/*
 * Which simulated device path (relative to dirfd) is: 1 the camera
 * (V4L2SIM_DEVICE), 2 the encoder (V4L2SIM_M2M_DEVICE), 0 neither.
 */
static int
is_device(int dirfd, const char *path, int flags)
{
	int saved = errno, which = 0;

	/* O_PATH and O_DIRECTORY never open a device; O_EXCL fails. */
	if (path == NULL || (flags & (O_PATH | O_DIRECTORY | O_EXCL)))
		return 0;
	if (is_file(dirfd, path, "V4L2SIM_DEVICE"))
		which = 1;
	else if (is_file(dirfd, path, "V4L2SIM_M2M_DEVICE"))
		which = 2;
	errno = saved;
	return which;
}

static int
sim_open(int dirfd, const char *path, int flags, mode_t mode)
{
	struct sim_device *d;
	int fd, which;

	real_init();
	if ((which = is_device(dirfd, path, flags)) == 0)
		return sim_real.openat(dirfd, path, flags, mode);
	if ((fd = sim_device_open(flags, which == 2 ? SIM_DEV_M2M :
	    SIM_DEV_CAMERA, &d)) < 0) {
		errno = -fd;
		return -1;
	}
	if (fd >= SIM_MAX_FD) {
		sim_device_close(d);
		sim_device_unref(d);
		sim_real.close(fd);
		errno = EMFILE;
		return -1;
	}
	pthread_mutex_lock(&fds_lock);
	__atomic_store_n(&fds[fd], d, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&fds_lock);
	return fd;
}

static mode_t
open_mode(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ?
	    (mode_t)va_arg(ap, int) : 0;
}

EXPORT int
open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return sim_open(AT_FDCWD, path, flags, mode);
}

/* On LP64 the 64-bit variants are the same functions, as in glibc. */
EXPORT int open64(const char *, int, ...) __attribute__((alias("open")));

EXPORT int
openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return sim_open(dirfd, path, flags, mode);
}

EXPORT int openat64(int, const char *, int, ...)
    __attribute__((alias("openat")));

/* The _FORTIFY_SOURCE entry points (no mode: the flags need none). */
EXPORT int __open_2(const char *, int);
EXPORT int __openat_2(int, const char *, int);

EXPORT int
__open_2(const char *path, int flags)
{
	return sim_open(AT_FDCWD, path, flags, 0);
}

EXPORT int __open64_2(const char *, int) __attribute__((alias("__open_2")));

EXPORT int
__openat_2(int dirfd, const char *path, int flags)
{
	return sim_open(dirfd, path, flags, 0);
}

EXPORT int __openat64_2(int, const char *, int)
    __attribute__((alias("__openat_2")));

EXPORT int
close(int fd)
{
	struct sim_device *d = NULL;

	real_init();
	if (fd >= 0 && fd < SIM_MAX_FD &&
	    __atomic_load_n(&fds[fd], __ATOMIC_ACQUIRE) != NULL) {
		pthread_mutex_lock(&fds_lock);
		d = fds[fd];
		__atomic_store_n(&fds[fd], NULL, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&fds_lock);
	}
	if (d != NULL) {
		/* Before the real close: the number is not reused yet. */
		sim_device_close(d);
		sim_device_unref(d);
	}
	return sim_real.close(fd);
}

EXPORT int
ioctl(int fd, unsigned long req, ...)
{
	struct sim_device *d;
	va_list ap;
	void *arg;
	int rc;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	real_init();
	if ((d = fd_get(fd)) == NULL)
		return sim_real.ioctl(fd, req, arg);
	/*
	 * The kernel takes the request as 32 bits.  Programs that pass an
	 * int (ustreamer) sign-extend VIDIOC_* values with the top bit set.
	 */
	rc = sim_device_ioctl(d, (unsigned int)req, arg);
	sim_device_unref(d);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return rc;
}

EXPORT void *
mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	struct sim_device *d;
	void *p;
	int err;

	real_init();
	if ((d = fd_get(fd)) == NULL)
		return sim_real.mmap(addr, len, prot, flags, fd, off);
	p = sim_device_mmap(d, addr, len, prot, flags, off, &err);
	sim_device_unref(d);
	if (p == MAP_FAILED)
		errno = err;
	return p;
}

EXPORT void *mmap64(void *, size_t, int, int, int, off64_t)
    __attribute__((alias("mmap")));

EXPORT int
munmap(void *addr, size_t len)
{
	int rc, saved;

	real_init();
	rc = sim_real.munmap(addr, len);
	if (rc == 0 && __atomic_load_n(&sim_mappings, __ATOMIC_ACQUIRE) > 0) {
		saved = errno;
		sim_device_munmap(addr, len);
		errno = saved;
	}
	return rc;
}
