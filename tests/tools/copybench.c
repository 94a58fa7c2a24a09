/*
 * copybench - the kernel's limit for the streaming benchmarks: what it
 * costs to push bytes through loopback TCP with nothing else around,
 * measured on the machine and in the run the streamers are measured in.
 *
 *   copybench BYTES CONNS FRAMES
 *
 * Opens CONNS connections over 127.0.0.1; a child process reads all of
 * them (epoll, recv() into one buffer, the bytes thrown away), while
 * this process writes one BYTES-long buffer (a "frame") FRAMES times to
 * each connection in turn with plain blocking write() calls: what a
 * streamer does at the very least, without HTTP, without a frame to
 * take from anywhere, without an event loop.
 *
 * Prints "send_ns_per_byte=S recv_ns_per_byte=R bytes=B": the CPU time
 * (user + system) of the writing process and of the reading one, over
 * the bytes moved.  On loopback the sender's system time includes the
 * TCP receive processing (it runs in the sender's context), the
 * receiver's the copy out to user space.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#define RBUF	(256 * 1024)

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

static double
cpu_ns(int who)
{
	struct rusage ru;

	if (getrusage(who, &ru) != 0)
		die("getrusage");
	return ((double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec) *
	    1e9 + ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) *
	    1e3;
}

/* Reads every connection until all are closed; exits with status 0. */
static void
reader(int *fds, int n)
{
	static unsigned char buf[RBUF];
	struct epoll_event ev, evs[64];
	int ep, open = n, i, k;
	ssize_t r;

	if ((ep = epoll_create1(0)) == -1)
		die("epoll_create1");
	for (i = 0; i < n; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.fd = fds[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) == -1)
			die("epoll_ctl");
	}
	while (open > 0) {
		k = epoll_wait(ep, evs, 64, 10000);
		if (k <= 0)
			die("epoll_wait (nothing to read for 10 s)");
		for (i = 0; i < k; i++) {
			r = recv(evs[i].data.fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (r == 0) {
				epoll_ctl(ep, EPOLL_CTL_DEL, evs[i].data.fd,
				    NULL);
				close(evs[i].data.fd);
				open--;
			} else if (r < 0 && errno != EAGAIN)
				die("recv");
		}
	}
	_exit(0);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa;
	socklen_t slen = sizeof(sa);
	unsigned char *frame;
	size_t bytes, off;
	int conns, frames, lfd, *snd, *rcv, i, f, status, one = 1;
	double t0, t1, child;
	uint64_t total = 0;
	ssize_t w;
	pid_t pid;

	if (argc != 4 || (bytes = strtoul(argv[1], NULL, 10)) == 0 ||
	    (conns = atoi(argv[2])) <= 0 || (frames = atoi(argv[3])) <= 0) {
		fprintf(stderr, "usage: copybench BYTES CONNS FRAMES\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	frame = malloc(bytes);
	snd = calloc((size_t)conns, sizeof(int));
	rcv = calloc((size_t)conns, sizeof(int));
	if (frame == NULL || snd == NULL || rcv == NULL)
		die("malloc");
	for (off = 0; off < bytes; off++)
		frame[off] = (unsigned char)(off * 131 + 7);

	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		die("socket");
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(lfd, conns) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &slen) == -1)
		die("bind/listen");
	for (i = 0; i < conns; i++) {
		if ((rcv[i] = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
		    connect(rcv[i], (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
		    (snd[i] = accept(lfd, NULL, NULL)) == -1)
			die("connect/accept");
		/* As the streamers' sockets are: every write goes out. */
		setsockopt(snd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	close(lfd);

	if ((pid = fork()) == -1)
		die("fork");
	if (pid == 0) {
		for (i = 0; i < conns; i++)
			close(snd[i]);
		reader(rcv, conns);
	}
	for (i = 0; i < conns; i++)
		close(rcv[i]);

	t0 = cpu_ns(RUSAGE_SELF);
	for (f = 0; f < frames; f++)
		for (i = 0; i < conns; i++)
			for (off = 0; off < bytes; off += (size_t)w) {
				w = write(snd[i], frame + off, bytes - off);
				if (w <= 0)
					die("write");
				total += (uint64_t)w;
			}
	t1 = cpu_ns(RUSAGE_SELF);
	for (i = 0; i < conns; i++)
		close(snd[i]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "copybench: the reader failed\n");
		return 1;
	}
	child = cpu_ns(RUSAGE_CHILDREN);
	printf("send_ns_per_byte=%.5f recv_ns_per_byte=%.5f bytes=%llu\n",
	    (t1 - t0) / (double)total, child / (double)total,
	    (unsigned long long)total);
	free(frame);
	free(snd);
	free(rcv);
	return 0;
}
