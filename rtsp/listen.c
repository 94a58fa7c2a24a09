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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include <event2/listener.h>

#include <systemd/sd-daemon.h>

#include "listener.h"
#include "log.h"
#include "netaddr.h"
#include "rtsp.h"

struct listener {
	TAILQ_ENTRY(listener) l_entry;
	struct rtsp_server *l_srv;
	struct evconnlistener *l_lev;
	struct event	*l_pause_ev;
	char		 l_desc[RTSP_ADDR_MAX + 16];	/* "rtsp://[v6]:port/" */
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

	(void)listener_accept_error(lev, EVUTIL_SOCKET_ERROR(),
	    l->l_pause_ev, l->l_desc, &l->l_srv->accept_pauses);
}

static void
listen_add(struct rtsp_server *srv, int fd, const char *how)
{
	struct listener *l;

	if (evutil_make_socket_nonblocking(fd) == -1 ||
	    evutil_make_socket_closeonexec(fd) == -1)
		fatal("listening socket fd %d", fd);
	if (!listener_is_tcp(fd))
		fatalx("fd %d: RTSP is served over TCP only", fd);
	if ((l = calloc(1, sizeof(*l))) == NULL)
		fatal("calloc");
	l->l_srv = srv;
	listener_describe(fd, "rtsp", l->l_desc, sizeof(l->l_desc));
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

static void
listen_add_bound(int fd, void *arg)
{
	listen_add(arg, fd, "");
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
		(void)listener_bind_tcp(srv->opt.listen[i].la_host,
		    srv->opt.listen[i].la_port, "--listen", listen_add_bound,
		    srv);
	if (TAILQ_EMPTY(&srv->listeners)) {
		listen_parse_addr("127.0.0.1:8554", &def);
		(void)listener_bind_tcp(def.la_host, def.la_port, "--listen",
		    listen_add_bound, srv);
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
