/*
 * listen.c - shmcam-rtsp's listening sockets.
 *
 *   --listen HOST:PORT   TCP, repeatable (default 127.0.0.1:8554)
 *   systemd              sockets passed by socket activation
 *                        (sd_listen_fds(3)), used as they are; one
 *                        named "http" (FileDescriptorName=) serves
 *                        /state and /metrics instead (state.c)
 *
 * Accepting never stops because of a client: a connection beyond
 * --max-clients is accepted and answered 503 (conn.c), and a process out
 * of descriptors pauses accepting for a moment rather than spin on a
 * backlog it cannot take (the connection waits there).
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/listener.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "netaddr.h"
#include "rtsp.h"

#define LISTEN_BACKLOG		1024
#define ACCEPT_PAUSE_MS		200

struct listener {
	TAILQ_ENTRY(listener) l_entry;
	struct rtsp_server *l_srv;
	struct evconnlistener *l_lev;
	struct event	*l_pause_ev;
	char		 l_desc[RTSP_ADDR_MAX + 16];
};

int
listen_parse_addr(const char *s, struct listen_addr *la)
{
	memset(la, 0, sizeof(*la));
	return netaddr_parse(s, la->la_host, sizeof(la->la_host),
	    &la->la_port);
}

static void
listen_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct listener *l = arg;

	(void)lev;
	conn_new(l->l_srv, fd, sa, (socklen_t)salen);
}

static void
listen_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(l->l_lev);
}

static void
listen_error_cb(struct evconnlistener *lev, void *arg)
{
	struct listener *l = arg;
	struct timeval tv = ms_tv(ACCEPT_PAUSE_MS);
	int err = EVUTIL_SOCKET_ERROR();

	switch (err) {
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		if (l->l_srv->accept_pauses++ % 100 == 0)
			log_warnx("%s: accept: %s: pausing accepts for %d ms "
			    "(%llu times so far)", l->l_desc, strerror(err),
			    ACCEPT_PAUSE_MS,
			    (unsigned long long)l->l_srv->accept_pauses);
		evconnlistener_disable(lev);
		evtimer_add(l->l_pause_ev, &tv);
		break;
	default:
		log_warnx("%s: accept: %s", l->l_desc, strerror(err));
		break;
	}
}

static void
listen_add(struct rtsp_server *srv, int fd, const char *how)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct listener *l;
	char addr[RTSP_ADDR_MAX];

	if (evutil_make_socket_nonblocking(fd) == -1 ||
	    evutil_make_socket_closeonexec(fd) == -1)
		fatal("listening socket fd %d", fd);
	if ((l = calloc(1, sizeof(*l))) == NULL)
		fatal("calloc");
	l->l_srv = srv;
	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		fatal("getsockname on fd %d", fd);
	if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
		fatalx("fd %d: RTSP is served over TCP only", fd);
	netaddr_text((struct sockaddr *)&ss, 1, addr, sizeof(addr));
	snprintf(l->l_desc, sizeof(l->l_desc), "rtsp://%s/", addr);
	/* Backlog 0: the socket is listening already. */
	l->l_lev = evconnlistener_new(srv->base, listen_accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	l->l_pause_ev = evtimer_new(srv->base, listen_resume_cb, l);
	if (l->l_lev == NULL || l->l_pause_ev == NULL)
		fatalx("%s: out of memory for events", l->l_desc);
	evconnlistener_set_error_cb(l->l_lev, listen_error_cb);
	TAILQ_INSERT_TAIL(&srv->listeners, l, l_entry);
	log_info("listening on %s%s", l->l_desc, how);
}

int
listen_bind_tcp(struct rtsp_server *srv, const struct listen_addr *la,
    const char *what, void (*add)(struct rtsp_server *, int, const char *))
{
	struct addrinfo hints, *res, *ai;
	char port[8];
	int fd = -1, rc, one = 1, bound = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", la->la_port);
	rc = getaddrinfo(la->la_host, port, &hints, &res);
	if (rc != 0)
		fatalx("%s %s:%u: %s", what, la->la_host, la->la_port,
		    gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1)
			fatal("%s %s:%u: socket", what, la->la_host,
			    la->la_port);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		/* [::] means IPv6 only; 0.0.0.0 is a --listen of its own. */
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
			    sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
		    listen(fd, LISTEN_BACKLOG) == -1)
			fatal("%s: cannot listen on %s port %u", what,
			    la->la_host, la->la_port);
		bound++;
		if (add == NULL)
			break;
		add(srv, fd, "");
	}
	freeaddrinfo(res);
	if (bound == 0)
		fatalx("%s %s:%u: no address", what, la->la_host, la->la_port);
	return fd;
}

void
listen_setup(struct rtsp_server *srv)
{
	struct listen_addr def;
	char **names = NULL;
	unsigned i;
	int n, fd;

	/* Sockets from systemd come first; unset the environment so that
	 * nothing we start inherits them. */
	n = sd_listen_fds_with_names(1, &names);
	if (n < 0) {
		errno = -n;
		fatal("sd_listen_fds");
	}
	for (i = 0; i < (unsigned)n; i++) {
		fd = SD_LISTEN_FDS_START + (int)i;
		if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0)
			fatalx("socket activation: fd %d is not a listening "
			    "stream socket", fd);
		if (names != NULL && names[i] != NULL &&
		    strcmp(names[i], "http") == 0)
			state_adopt(srv, fd);
		else
			listen_add(srv, fd, " (socket activation)");
	}
	if (names != NULL) {
		for (i = 0; i < (unsigned)n; i++)
			free(names[i]);
		free(names);
	}
	for (i = 0; i < srv->opt.nlisten; i++)
		(void)listen_bind_tcp(srv, &srv->opt.listen[i], "--listen",
		    listen_add);
	if (TAILQ_EMPTY(&srv->listeners)) {
		listen_parse_addr("127.0.0.1:8554", &def);
		(void)listen_bind_tcp(srv, &def, "--listen", listen_add);
	}
}

void
listen_free(struct rtsp_server *srv)
{
	struct listener *l;

	while ((l = TAILQ_FIRST(&srv->listeners)) != NULL) {
		TAILQ_REMOVE(&srv->listeners, l, l_entry);
		evconnlistener_free(l->l_lev);
		event_free(l->l_pause_ev);
		free(l);
	}
}
