/*
 * wanlink - a simulated wide-area link between two network namespaces,
 * for tests: a TUN device in each, and this process forwarding the
 * packets between them the way a long or narrow path would.
 *
 *   wanlink --ns-a PATH --ns-b PATH --addr-a IPV4 --addr-b IPV4
 *           [--dev NAME] [--delay MS] [--rate BYTES/S] [--queue BYTES]
 *           [--loss P] [--seed N] [--timeout S] [--realtime]
 *
 * PATH names a network namespace (/proc/PID/ns/net, /run/netns/NAME).
 * The device NAME (default "wan0") is made in each namespace (TUN, no
 * packet information), given its address with a /30 netmask and brought
 * up, and so is that namespace's loopback.  The names live inside the
 * namespaces, so links of several tests never collide.  The devices go
 * away with this process.
 *
 * Each direction on its own, the same parameters both ways:
 *
 *   --loss P     each packet is dropped with probability P (0..1), from
 *                a generator seeded with --seed: the same run drops the
 *                same packets;
 *   --rate R     a bottleneck: packets leave one after the other at R
 *                bytes/s (0, the default: no limit), queueing behind
 *                each other; a packet that would take the queue past
 *                --queue bytes (default: 100 ms at R, at least 16 KB)
 *                is dropped, like the tail-drop buffer of a router or
 *                a modem;
 *   --delay D    every packet arrives D ms after it left the bottleneck
 *                (one way: the round trip is 2 D).
 *
 * With --realtime the forwarder runs at a real-time priority
 * (SCHED_FIFO), so that other work on a loaded machine does not turn
 * into delay on the link: a network's timing does not depend on what
 * the hosts at its ends are busy with.  It sleeps between packets, so
 * it takes no more CPU than it needs.
 *
 * Packets are never reordered.  Prints "ready" on stdout once both ends
 * are up; on SIGTERM or SIGINT, or after --timeout seconds (default 600,
 * so that a forgotten link cannot run for ever), prints one line of
 * counters and exits 0:
 *
 *   {"ab":{"packets":N,"bytes":N,"lost":N,"tail_dropped":N,
 *    "max_queue":BYTES},"ba":{...}}
 *
 * Needs CAP_NET_ADMIN (root): setns(), TUNSETIFF, interface addresses.
 * Exits 1 with a message naming the call that failed, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>

#include "clock.h"

#define PKT_MAX		65536
/* Packets held at once, both directions: far more than any test's
 * bandwidth-delay product (64 MB/s for a second), bounded all the same. */
#define HELD_MAX	(64u * 1024 * 1024)
#define QUEUE_MIN	16384

struct pkt {
	struct pkt	*next;
	uint64_t	 due_ns;	/* when it leaves the far end */
	size_t		 len;
	unsigned char	 data[];
};

struct dir {
	const char	*name;
	int		 in, out;	/* TUN descriptors */
	struct pkt	*head, *tail;
	uint64_t	 busy_until;	/* the bottleneck is sending until */
	uint64_t	 rng;
	uint64_t	 packets, bytes, lost, dropped, max_queue;
};

static uint64_t delay_ns, rate, queue_limit;
static double loss;
static size_t held;

static void
die(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	fprintf(stderr, "wanlink: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(e));
	exit(1);
}

/* xorshift64*: uniform in [0, 1). */
static double
rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return (double)((*s * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
}

static void
ifreq_addr(struct ifreq *ifr, in_addr_t a)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr->ifr_addr;

	memset(&ifr->ifr_addr, 0, sizeof(ifr->ifr_addr));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = a;
}

static void
if_up(int s, const char *dev)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == -1)
		die("SIOCGIFFLAGS %s", dev);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) == -1)
		die("SIOCSIFFLAGS %s", dev);
}

/*
 * No IPv6 on the link (the kernel would send router solicitations and
 * the like): only what the test sends crosses it, and the loss pattern
 * of a seed falls on the test's own packets.  /proc/sys/net shows the
 * namespace of whoever opens it.  A kernel without IPv6 has no file.
 */
static void
ipv6_off(const char *dev)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
	    dev);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		return;
	if (write(fd, "1", 1) != 1)
		die("write %s", path);
	close(fd);
}

/*
 * Enters the namespace at ns_path, makes the TUN device dev there with
 * address addr/30, brings it and lo up; returns the device's descriptor
 * (which stays bound to that namespace whatever we enter next).
 */
static int
tun_open(const char *ns_path, const char *dev, const char *addr)
{
	struct ifreq ifr;
	struct in_addr a;
	int ns, fd, s;

	if (inet_pton(AF_INET, addr, &a) != 1) {
		fprintf(stderr, "wanlink: not an IPv4 address: %s\n", addr);
		exit(2);
	}
	if ((ns = open(ns_path, O_RDONLY | O_CLOEXEC)) == -1)
		die("open %s", ns_path);
	if (setns(ns, CLONE_NEWNET) == -1)
		die("setns %s", ns_path);
	close(ns);
	if ((fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC)) == -1)
		die("open /dev/net/tun");
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (ioctl(fd, TUNSETIFF, &ifr) == -1)
		die("TUNSETIFF %s in %s", dev, ns_path);
	ipv6_off(dev);
	if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket");
	ifreq_addr(&ifr, a.s_addr);
	if (ioctl(s, SIOCSIFADDR, &ifr) == -1)
		die("SIOCSIFADDR %s %s", dev, addr);
	ifreq_addr(&ifr, htonl(0xfffffffcu));
	if (ioctl(s, SIOCSIFNETMASK, &ifr) == -1)
		die("SIOCSIFNETMASK %s", dev);
	if_up(s, dev);
	if_up(s, "lo");
	close(s);
	return fd;
}

/* Takes in every packet waiting on d's input. */
static void
dir_read(struct dir *d)
{
	unsigned char buf[PKT_MAX];
	struct pkt *p;
	uint64_t now, backlog, start;
	ssize_t n;

	for (;;) {
		n = read(d->in, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n == -1)
			die("read %s", d->name);
		if (n == 0)
			return;
		now = clock_ns(CLOCK_MONOTONIC);
		if (loss > 0 && rng_next(&d->rng) < loss) {
			d->lost++;
			continue;
		}
		start = now;
		if (rate > 0) {
			/* What the bottleneck still has to send. */
			backlog = d->busy_until > now ?
			    (d->busy_until - now) * rate / 1000000000u : 0;
			if (backlog + (uint64_t)n > queue_limit) {
				d->dropped++;
				continue;
			}
			if (backlog + (uint64_t)n > d->max_queue)
				d->max_queue = backlog + (uint64_t)n;
			if (d->busy_until > start)
				start = d->busy_until;
			d->busy_until = start + (uint64_t)n * 1000000000u /
			    rate;
			start = d->busy_until;
		}
		if (held + (size_t)n > HELD_MAX ||
		    (p = malloc(sizeof(*p) + (size_t)n)) == NULL) {
			d->dropped++;
			continue;
		}
		p->next = NULL;
		p->due_ns = start + delay_ns;
		p->len = (size_t)n;
		memcpy(p->data, buf, (size_t)n);
		held += p->len;
		if (d->tail != NULL)
			d->tail->next = p;
		else
			d->head = p;
		d->tail = p;
	}
}

/* Delivers d's packets that are due; the due time of the next, or 0. */
static uint64_t
dir_deliver(struct dir *d, uint64_t now)
{
	struct pkt *p;

	while ((p = d->head) != NULL && p->due_ns <= now) {
		/* A full device queue on the far end drops the packet, as a
		 * full interface queue would. */
		if (write(d->out, p->data, p->len) == (ssize_t)p->len) {
			d->packets++;
			d->bytes += p->len;
		} else
			d->dropped++;
		d->head = p->next;
		if (d->head == NULL)
			d->tail = NULL;
		held -= p->len;
		free(p);
	}
	return d->head != NULL ? d->head->due_ns : 0;
}

/* Drops what is still on its way (the link is going away). */
static void
dir_free(struct dir *d)
{
	struct pkt *p;

	while ((p = d->head) != NULL) {
		d->head = p->next;
		free(p);
	}
	d->tail = NULL;
}

static void
dir_print(const struct dir *d)
{
	printf("\"%s\":{\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64
	    ",\"lost\":%" PRIu64 ",\"tail_dropped\":%" PRIu64
	    ",\"max_queue\":%" PRIu64 "}", d->name, d->packets, d->bytes,
	    d->lost, d->dropped, d->max_queue);
}

static void
usage(void)
{
	fprintf(stderr, "usage: wanlink --ns-a PATH --ns-b PATH --addr-a IPV4 "
	    "--addr-b IPV4 [--dev NAME]\n"
	    "               [--delay MS] [--rate BYTES/S] [--queue BYTES] "
	    "[--loss P] [--seed N]\n"
	    "               [--timeout S] [--realtime]\n");
	exit(2);
}

static double
num(const char *s, double lo, double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
		fprintf(stderr, "wanlink: %s: expected a number from %g to %g\n",
		    s, lo, hi);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ns-a", required_argument, NULL, 'a' },
		{ "ns-b", required_argument, NULL, 'b' },
		{ "addr-a", required_argument, NULL, 'A' },
		{ "addr-b", required_argument, NULL, 'B' },
		{ "dev", required_argument, NULL, 'd' },
		{ "delay", required_argument, NULL, 'D' },
		{ "rate", required_argument, NULL, 'r' },
		{ "queue", required_argument, NULL, 'q' },
		{ "loss", required_argument, NULL, 'l' },
		{ "seed", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "realtime", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ns_a = NULL, *ns_b = NULL, *addr_a = NULL, *addr_b = NULL;
	const char *dev = "wan0";
	uint64_t seed = 1, timeout_s = 600;
	struct dir ab = { .name = "ab" }, ba = { .name = "ba" };
	struct epoll_event ev, evs[8];
	struct itimerspec its;
	sigset_t mask;
	int ch, ep, tfd, sfd, fa, fb, i, n, running = 1, realtime = 0;
	uint64_t next, due, end;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a': ns_a = optarg; break;
		case 'b': ns_b = optarg; break;
		case 'A': addr_a = optarg; break;
		case 'B': addr_b = optarg; break;
		case 'd':
			if (strlen(optarg) == 0 || strlen(optarg) >= IFNAMSIZ)
				usage();
			dev = optarg;
			break;
		case 'D': delay_ns = (uint64_t)(num(optarg, 0, 10000) * 1e6);
			break;
		case 'r': rate = (uint64_t)num(optarg, 0, 1e10); break;
		case 'q': queue_limit = (uint64_t)num(optarg, 1500, 1e9); break;
		case 'l': loss = num(optarg, 0, 1); break;
		case 's': seed = (uint64_t)num(optarg, 0, 1e18); break;
		case 't': timeout_s = (uint64_t)num(optarg, 1, 86400); break;
		case 'R': realtime = 1; break;
		default: usage();
		}
	}
	if (ns_a == NULL || ns_b == NULL || addr_a == NULL || addr_b == NULL ||
	    optind != argc)
		usage();
	if (queue_limit == 0) {
		queue_limit = rate / 10;
		if (queue_limit < QUEUE_MIN)
			queue_limit = QUEUE_MIN;
	}
	/* Never 0: xorshift would stay there. */
	ab.rng = seed * 2 + 0x9e3779b97f4a7c15ull;
	ba.rng = seed * 2 + 1 + 0x9e3779b97f4a7c15ull;

	if (realtime) {
		struct sched_param prio = { .sched_priority = 10 };

		if (sched_setscheduler(0, SCHED_FIFO, &prio) == -1)
			die("sched_setscheduler SCHED_FIFO");
	}
	fa = tun_open(ns_a, dev, addr_a);
	fb = tun_open(ns_b, dev, addr_b);
	ab.in = fa;
	ab.out = fb;
	ba.in = fb;
	ba.out = fa;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1)
		die("sigprocmask");
	if ((sfd = signalfd(-1, &mask, SFD_CLOEXEC)) == -1)
		die("signalfd");
	if ((tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) == -1)
		die("timerfd_create");
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1");
	for (i = 0; i < 4; i++) {
		int fds[4] = { fa, fb, tfd, sfd };

		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.fd = fds[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) == -1)
			die("epoll_ctl");
	}
	printf("ready\n");
	fflush(stdout);
	end = clock_ns(CLOCK_MONOTONIC) + timeout_s * 1000000000u;

	while (running) {
		next = clock_ns(CLOCK_MONOTONIC);
		if (next >= end)
			break;
		n = epoll_wait(ep, evs, 8, (int)((end - next) / 1000000u) + 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			die("epoll_wait");
		for (i = 0; i < n; i++) {
			if (evs[i].data.fd == fa)
				dir_read(&ab);
			else if (evs[i].data.fd == fb)
				dir_read(&ba);
			else if (evs[i].data.fd == sfd)
				running = 0;
			else {
				uint64_t expirations;

				if (read(tfd, &expirations,
				    sizeof(expirations)) == -1 &&
				    errno != EAGAIN)
					die("read timerfd");
			}
		}
		next = clock_ns(CLOCK_MONOTONIC);
		due = dir_deliver(&ab, next);
		next = dir_deliver(&ba, next);
		if (next == 0 || (due != 0 && due < next))
			next = due;
		/* Armed for the next due packet; disarmed (0) when none. */
		memset(&its, 0, sizeof(its));
		its.it_value.tv_sec = (time_t)(next / 1000000000u);
		its.it_value.tv_nsec = (long)(next % 1000000000u);
		if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) == -1)
			die("timerfd_settime");
	}
	printf("{");
	dir_print(&ab);
	printf(",");
	dir_print(&ba);
	printf("}\n");
	fflush(stdout);
	dir_free(&ab);
	dir_free(&ba);
	return 0;
}
