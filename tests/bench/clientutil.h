/*
 * clientutil.h - what the load clients (loadclient.c: MJPEG and MP4
 * streams; hlsclient.c: LL-HLS) share: clocks, latency samples and their
 * percentiles, the capture time an MP4 fragment's prft box carries, and
 * their non-blocking TCP connections under one epoll.
 * Static functions: each client is one file and this header.
 */
#ifndef SHMCAM_CLIENTUTIL_H
#define SHMCAM_CLIENTUTIL_H

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

static inline double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline uint64_t
now_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct samples {
	double	*v;
	size_t	 n, cap;
};

static inline void
samples_add(struct samples *s, double v)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->v = realloc(s->v, s->cap * sizeof(double));
		if (s->v == NULL) {
			perror("realloc");
			exit(1);
		}
	}
	s->v[s->n++] = v;
}

static inline int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Percentile p (0..100) of v[0..n), sorted in place; NAN if empty. */
static inline double
pct(double *v, size_t n, double p)
{
	double r;
	size_t i;

	if (n == 0)
		return NAN;
	qsort(v, n, sizeof(double), cmp_double);
	r = p / 100 * (double)(n - 1);
	i = (size_t)r;
	if (i + 1 >= n)
		return v[n - 1];
	return v[i] + (v[i + 1] - v[i]) * (r - (double)i);
}

static inline uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/*
 * The capture time (CLOCK_REALTIME ns) in a prft box of version 1 (the
 * box from its size field on, len bytes of it), which shmcam writes in
 * front of every fragment's moof; 0 if p is not one.
 */
static inline uint64_t
prft_capture_ns(const unsigned char *p, size_t len)
{
	uint64_t ntp;

	if (len < 32 || be32(p) < 32 || p[4] != 'p' || p[5] != 'r' ||
	    p[6] != 'f' || p[7] != 't' || p[8] != 1)
		return 0;
	/* NTP: seconds since 1900, 32.32 fixed point. */
	ntp = (uint64_t)be32(p + 16) << 32 | be32(p + 20);
	return ((ntp >> 32) - 2208988800u) * 1000000000u +
	    ((ntp & 0xffffffffu) * 1000000000u >> 32);
}

/*
 * The epoll every client's socket is in, after raising the soft limit on
 * open files to the hard one (a descriptor per client: as many as we may
 * have); exits on failure.
 */
static inline int
clients_epoll(void)
{
	struct rlimit rl;
	int epfd;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		perror("epoll_create1");
		exit(1);
	}
	return epfd;
}

/*
 * A non-blocking TCP connection to dst (Nagle off, SO_RCVBUF rcvbuf if
 * above 0) under way, in epfd for EPOLLOUT with ptr: the socket, or -1.
 */
static inline int
client_socket(int epfd, const struct sockaddr_in *dst, int rcvbuf, void *ptr)
{
	struct epoll_event ev;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLOUT;
	ev.data.ptr = ptr;
	if ((connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) == -1 &&
	    errno != EINPROGRESS) ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* How a connect() under way on fd ended: 0, or the errno it failed with. */
static inline int
client_connect_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return errno;
	return err;
}

#endif /* SHMCAM_CLIENTUTIL_H */
