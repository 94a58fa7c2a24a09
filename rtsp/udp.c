/*
 * udp.c - RTP and RTCP over UDP unicast.
 *
 * Each UDP session has a pair of sockets of its own, at an even port of
 * --udp-ports and the odd port after it (RFC 3550 11): its own socket
 * buffer, so one session's full buffer drops nobody else's packets, and
 * a firewall needs only the range opened.  Every pair of the range is
 * bound at start, before the sandbox: after setup the process makes no
 * socket and binds nothing (common/sandbox.c), and a session only takes
 * a pair from the pool.  A pair's sockets are dual-stack ([::], IPv4
 * clients as IPv4-mapped addresses), or IPv4 only where the kernel has
 * no IPv6; a port another program holds is passed over.
 *
 * Sending never blocks: non-blocking sockets, sendmmsg() with
 * MSG_DONTWAIT, one call per access unit (in batches of UDP_BATCH
 * packets); what the socket does not take is dropped and counted, and
 * the session skips to the next keyframe (media.c).
 *
 * RTCP is taken only from the address and port the client announced
 * for it (client_port's second): anything else on our RTCP port, from
 * another host or another port, is counted and ignored, so nobody can
 * ask for keyframes or keep a session alive on someone else's behalf.
 * What arrives on the RTP port (ffmpeg sends a packet there and one to
 * RTCP to open NAT bindings) is read and dropped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>

#include "log.h"
#include "rtsp.h"

#define UDP_BATCH	64
#define UDP_READS_MAX	16
#define UDP_RTCP_MAX	2048

/* 1 if a and b are the same address and port. */
static int
same_endpoint(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family)
		return 0;
	if (b->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a,
		    *y = (const struct sockaddr_in *)b;

		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (b->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a,
		    *y = (const struct sockaddr_in6 *)b;

		return x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr,
		    sizeof(x->sin6_addr)) == 0;
	}
	return 0;
}

/* Reads and drops whatever waits on fd. */
static void
udp_drain(int fd)
{
	uint8_t buf[UDP_RTCP_MAX];
	int i;

	for (i = 0; i < UDP_READS_MAX; i++)
		if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) < 0)
			return;
}

static void
udp_rtcp_cb(evutil_socket_t fd, short what, void *arg)
{
	struct udp_pair *up = arg;
	struct sockaddr_storage from;
	socklen_t len;
	uint8_t buf[UDP_RTCP_MAX];
	ssize_t n;
	int i;

	(void)what;
	for (i = 0; i < UDP_READS_MAX && up->u_ss != NULL; i++) {
		len = sizeof(from);
		n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT,
		    (struct sockaddr *)&from, &len);
		if (n < 0)
			return;
		if (!same_endpoint(&up->u_ss->ss_rtcp_src,
		    (struct sockaddr *)&from)) {
			up->u_ss->ss_rtcp_ignored++;
			continue;
		}
		session_rtcp(up->u_ss, buf, (size_t)n);
	}
}

static void
udp_rtp_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	(void)arg;
	udp_drain(fd);
}

/* A non-blocking UDP socket on port of the wildcard address of family;
 * its descriptor or -errno. */
static int
udp_bind(int family, unsigned port)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	int fd, e, zero = 0;

	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	if (family == AF_INET6) {
		/* Both families on one socket. */
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_addr = in6addr_any;
		sin6.sin6_port = htons((uint16_t)port);
		if (bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0)
			return fd;
	} else {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_ANY);
		sin.sin_port = htons((uint16_t)port);
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
			return fd;
	}
	e = errno;
	close(fd);
	return -e;
}

void
udp_setup(struct rtsp_server *srv)
{
	unsigned n, i, held = 0;
	struct udp_pair *up;
	int family = AF_INET6, rtp, rtcp;

	if (srv->opt.udp_min == 0)
		return;
	n = (srv->opt.udp_max - srv->opt.udp_min + 1) / 2;
	if ((srv->udp = calloc(n, sizeof(*srv->udp))) == NULL)
		fatal("calloc");
	srv->nudp = n;
	/* IPv6 where the kernel has it; else IPv4. */
	if ((rtp = udp_bind(AF_INET6, 0)) == -EAFNOSUPPORT)
		family = AF_INET;
	else if (rtp >= 0)
		close(rtp);
	for (i = 0; i < n; i++) {
		up = &srv->udp[i];
		up->u_srv = srv;
		up->u_family = family;
		up->u_port = srv->opt.udp_min + 2 * i;
		up->u_rtp_fd = up->u_rtcp_fd = -1;
		rtp = udp_bind(family, up->u_port);
		rtcp = rtp < 0 ? rtp : udp_bind(family, up->u_port + 1);
		if (rtp < 0 || rtcp < 0) {
			if (rtp >= 0)
				close(rtp);
			if ((rtp < 0 ? rtp : rtcp) != -EADDRINUSE) {
				errno = -(rtp < 0 ? rtp : rtcp);
				fatal("--udp-ports: port %u", up->u_port);
			}
			held++;
			continue;
		}
		up->u_rtp_fd = rtp;
		up->u_rtcp_fd = rtcp;
		up->u_rtp_ev = event_new(srv->base, rtp, EV_READ | EV_PERSIST,
		    udp_rtp_cb, up);
		up->u_rtcp_ev = event_new(srv->base, rtcp, EV_READ | EV_PERSIST,
		    udp_rtcp_cb, up);
		if (up->u_rtp_ev == NULL || up->u_rtcp_ev == NULL)
			fatalx("out of memory for events");
	}
	if (held == n)
		log_warnx("--udp-ports %u-%u: every port is in use: RTP over "
		    "TCP only", srv->opt.udp_min, srv->opt.udp_max);
	else
		log_info("RTP over UDP: %u sessions on ports %u-%u%s", n - held,
		    srv->opt.udp_min, srv->opt.udp_max,
		    held ? " (some held by other programs)" : "");
}

void
udp_free(struct rtsp_server *srv)
{
	struct udp_pair *up;
	unsigned i;

	for (i = 0; i < srv->nudp; i++) {
		up = &srv->udp[i];
		if (up->u_rtp_ev != NULL)
			event_free(up->u_rtp_ev);
		if (up->u_rtcp_ev != NULL)
			event_free(up->u_rtcp_ev);
		if (up->u_rtp_fd != -1)
			close(up->u_rtp_fd);
		if (up->u_rtcp_fd != -1)
			close(up->u_rtcp_fd);
	}
	free(srv->udp);
	srv->udp = NULL;
	srv->nudp = 0;
}

/* peer's address with port, in the family of up's sockets. */
static socklen_t
udp_endpoint(const struct udp_pair *up, const struct sockaddr_storage *peer,
    unsigned port, struct sockaddr_storage *out)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
	struct sockaddr_in *sin = (struct sockaddr_in *)out;

	memset(out, 0, sizeof(*out));
	if (peer->ss_family == AF_INET6) {
		memcpy(sin6, peer, sizeof(*sin6));
		sin6->sin6_port = htons((uint16_t)port);
		return sizeof(*sin6);
	}
	if (up->u_family == AF_INET6) {
		/* ::ffff:a.b.c.d, as a dual-stack socket sees it. */
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr.s6_addr[10] = 0xff;
		sin6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&sin6->sin6_addr.s6_addr[12],
		    &((const struct sockaddr_in *)peer)->sin_addr, 4);
		sin6->sin6_port = htons((uint16_t)port);
		return sizeof(*sin6);
	}
	memcpy(sin, peer, sizeof(*sin));
	sin->sin_port = htons((uint16_t)port);
	return sizeof(*sin);
}

int
udp_open(struct rtsp_session *ss, const struct sockaddr_storage *peer,
    const unsigned client_port[2])
{
	struct rtsp_server *srv = ss->ss_conn->cn_srv;
	struct udp_pair *up;
	unsigned tries, i;

	if (peer->ss_family != AF_INET && peer->ss_family != AF_INET6)
		return -EAFNOSUPPORT;
	for (tries = 0; tries < srv->nudp; tries++) {
		i = srv->udp_next++ % srv->nudp;
		up = &srv->udp[i];
		if (up->u_ss != NULL || up->u_rtp_fd == -1)
			continue;
		if (peer->ss_family == AF_INET6 && up->u_family != AF_INET6)
			return -EAFNOSUPPORT;
		/* What came while nobody had the pair is not this session's. */
		udp_drain(up->u_rtp_fd);
		udp_drain(up->u_rtcp_fd);
		if (event_add(up->u_rtp_ev, NULL) != 0 ||
		    event_add(up->u_rtcp_ev, NULL) != 0) {
			event_del(up->u_rtp_ev);
			return -ENOMEM;
		}
		up->u_ss = ss;
		ss->ss_udp = up;
		ss->ss_dst_len = udp_endpoint(up, peer, client_port[0],
		    &ss->ss_rtp_dst);
		(void)udp_endpoint(up, peer, client_port[1], &ss->ss_rtcp_src);
		return 0;
	}
	return -EADDRINUSE;
}

void
udp_close(struct udp_pair *up)
{
	event_del(up->u_rtp_ev);
	event_del(up->u_rtcp_ev);
	if (up->u_ss != NULL)
		up->u_ss->ss_udp = NULL;
	up->u_ss = NULL;
}

unsigned
udp_send(struct udp_pair *up, const struct sockaddr_storage *dst,
    socklen_t dstlen, const struct pkts *pk, unsigned first, unsigned n)
{
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	const struct rtp_out *o = &pk->pk_out;
	unsigned sent = 0, batch, i;
	int r;

	while (sent < n) {
		batch = n - sent < UDP_BATCH ? n - sent : UDP_BATCH;
		memset(msgs, 0, batch * sizeof(msgs[0]));
		for (i = 0; i < batch; i++) {
			const struct rtp_packet *p = &o->o_pk[first + sent + i];

			iov[i].iov_base = o->o_buf + p->p_off + RTP_PREFIX_SIZE;
			iov[i].iov_len = p->p_len;
			msgs[i].msg_hdr.msg_name = (void *)dst;
			msgs[i].msg_hdr.msg_namelen = dstlen;
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		r = sendmmsg(up->u_rtp_fd, msgs, batch, MSG_DONTWAIT);
		if (r <= 0)
			break;
		sent += (unsigned)r;
		if ((unsigned)r < batch)
			break;
	}
	return sent;
}

int
udp_send_rtcp(struct rtsp_session *ss, const void *p, size_t len)
{
	if (sendto(ss->ss_udp->u_rtcp_fd, p, len, MSG_DONTWAIT,
	    (const struct sockaddr *)&ss->ss_rtcp_src, ss->ss_dst_len) < 0)
		return -errno;
	return 0;
}
