/*
 * listen.c - where connections come from, and how long they may take to
 * say what they want.
 *
 * Listening sockets
 *   Sockets passed by systemd (sd_listen_fds(3): LISTEN_FDS/LISTEN_PID)
 *   are adopted as they are; then every --listen HOST:PORT (IPv4 or IPv6)
 *   and --unix PATH is bound.  With none of them the default is
 *   127.0.0.1:8080.  Each socket gets its own evconnlistener handed to
 *   evhttp with evhttp_bind_listener(), so that we can watch its accept
 *   errors.
 *
 * Running out of descriptors
 *   The error callback pauses accepting for a moment
 *   (listener_accept_error(), common/listener.h); connections wait in the
 *   kernel's backlog meanwhile and are accepted when descriptors are free
 *   again.
 *
 * TCP_NODELAY
 *   Set on every listening TCP socket (Linux copies it into the accepted
 *   ones) and again on each accepted connection once evhttp has given it
 *   a bufferevent, so that it holds for sockets from systemd too.  A
 *   frame's last segment must not wait for the peer's delayed ACK.
 *
 * Holding the first requests
 *   A server starts with its listeners disabled and enables them once
 *   every camera has a frame to answer with, or after LISTEN_HOLD_MS
 *   (listen_hold()).  A request that comes earlier waits in the kernel's
 *   backlog: under systemd, a request made while the server restarts
 *   (systemd holds the sockets) is answered by the new process with a
 *   live frame, not with 503 "no frame yet", and a stream starts with
 *   live frames, not with the offline picture.
 *
 * Request deadline (slowloris)
 *   evhttp's timeout is an idle timeout: every byte a client dribbles
 *   restarts it, so a client sending one header byte every few seconds
 *   would hold a connection for ever.  Each connection therefore gets a
 *   conn_guard with an absolute deadline (--request-timeout) for its next
 *   complete request; past it the connection is closed.  A stream client
 *   leaves the guard's care when its request arrives (the stall timeout
 *   in stream.c takes over); after any other request the deadline starts
 *   again for the next one on that keep-alive connection.
 *
 *   evhttp gives us no hook when it accepts a connection, only
 *   evhttp_set_bevcb(), which creates the bufferevent before the
 *   connection exists.  The guard holds a reference on that bufferevent
 *   until, on the next turn of the loop, it can register its close
 *   callback on the connection evhttp built around it; from then on the
 *   close callback ends the guard, whoever closes the connection.  It
 *   also tells whoever holds a request unanswered on that connection
 *   (conn_watch()), since evhttp frees the request with the connection.
 *
 * Clients that leave a held request
 *   evhttp reads nothing from a connection whose request is unanswered,
 *   so it would hear of a client that left only when the answer is
 *   written.  While a request is held (conn_watch()), the socket is
 *   watched for the peer's FIN (EV_CLOSED: EPOLLRDHUP, no read), and the
 *   connection closed at once: a player that abandons a blocking
 *   playlist reload frees its --max-clients place now, not three target
 *   durations later.  A client that half-closes after its request is
 *   taken for one that left, as nginx takes it (499).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include <systemd/sd-daemon.h>

#include "listener.h"
#include "log.h"
#include "netaddr.h"
#include "server.h"
#include "service.h"

/* How long a starting server holds requests while it attaches to its
 * capture and takes a first frame (which takes a few milliseconds when
 * the capture is up and answers). */
#define LISTEN_HOLD_MS		2000

struct listener {
	TAILQ_ENTRY(listener) l_entry;
	struct server	*l_srv;
	struct evconnlistener *l_lev;
	struct event	*l_pause_ev;
	int		 l_fd;
	int		 l_paused;
	char		 l_unlink[108];	/* unix socket we created */
	char		 l_desc[300];
};

struct conn_guard {
	TAILQ_ENTRY(conn_guard) g_entry;
	struct server	*g_srv;
	struct bufferevent *g_bev;	/* referenced until g_evcon is known */
	struct evhttp_connection *g_evcon;
	struct event	*g_ev;		/* adopt, then the deadline */
	/* conn_watch(): told of the close before the guard goes */
	void		(*g_watch)(struct evhttp_connection *, void *);
	void		*g_watch_arg;
	struct event	*g_hup_ev;	/* the peer's FIN while watched */
};

static void guard_free(struct conn_guard *g);

int
listen_parse(const char *s, struct listen_spec *ls)
{
	memset(ls, 0, sizeof(*ls));
	return netaddr_parse(s, ls->ls_host, sizeof(ls->ls_host),
	    &ls->ls_port);
}

static void
sock_nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
		log_warn("setsockopt TCP_NODELAY on fd %d", fd);
}

static void
listen_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	(void)fd;
	(void)what;
	l->l_paused = 0;
	if (l->l_srv->accepting)
		evconnlistener_enable(l->l_lev);
}

static void
listen_start(struct server *srv, const char *why)
{
	struct listener *l;

	if (srv->accepting)
		return;
	srv->accepting = 1;
	if (srv->hold_ev != NULL)
		evtimer_del(srv->hold_ev);
	TAILQ_FOREACH(l, &srv->listeners, l_entry)
		if (!l->l_paused && evconnlistener_enable(l->l_lev) == -1)
			fatalx("%s: cannot accept connections", l->l_desc);
	log_info("accepting connections: %s", why);
	if (srv->svc != NULL)
		service_ready(srv->svc);
}

void
listen_camera_ready(struct server *srv)
{
	struct camera *cam;

	if (srv->accepting)
		return;
	TAILQ_FOREACH(cam, &srv->cameras, c_entry)
		if (cam->c_latest == NULL)
			return;
	listen_start(srv, "every camera has a frame");
}

static void
listen_hold_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	listen_start(arg, "a camera has no frame yet after 2 s");
}

void
listen_hold(struct server *srv)
{
	struct timeval tv = { LISTEN_HOLD_MS / 1000,
	    (LISTEN_HOLD_MS % 1000) * 1000 };

	listen_camera_ready(srv);
	if (srv->accepting)
		return;
	if ((srv->hold_ev = evtimer_new(srv->base, listen_hold_cb, srv)) ==
	    NULL || evtimer_add(srv->hold_ev, &tv) == -1)
		fatalx("evtimer_new failed");
}

/*
 * evhttp_bind_listener() made the listener's callback argument its own
 * struct evhttp, so the error callback finds our listener by lev.  One
 * server per process.
 */
static struct server *listen_srv;

static void
listen_error_cb(struct evconnlistener *lev, void *arg)
{
	struct listener *l;
	int err = EVUTIL_SOCKET_ERROR();

	(void)arg;
	TAILQ_FOREACH(l, &listen_srv->listeners, l_entry)
		if (l->l_lev == lev)
			break;
	if (l == NULL)
		return;
	if (listener_accept_error(lev, err, l->l_pause_ev, l->l_desc,
	    &l->l_srv->accept_pauses))
		l->l_paused = 1;
}

static void
listen_add(struct server *srv, int fd, const char *unlink_path,
    const char *how)
{
	struct listener *l;

	if (evutil_make_socket_nonblocking(fd) == -1 ||
	    evutil_make_socket_closeonexec(fd) == -1)
		fatal("listening socket fd %d", fd);
	if ((l = calloc(1, sizeof(*l))) == NULL)
		fatal("calloc");
	l->l_srv = srv;
	l->l_fd = fd;
	listener_describe(fd, "http", l->l_desc, sizeof(l->l_desc));
	if (unlink_path != NULL)
		snprintf(l->l_unlink, sizeof(l->l_unlink), "%s", unlink_path);
	if (listener_is_tcp(fd))
		sock_nodelay(fd);
	/* Backlog 0: the socket is listening already.  Disabled until
	 * listen_start(). */
	l->l_lev = evconnlistener_new(srv->base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED,
	    0, fd);
	if (l->l_lev == NULL)
		fatalx("%s: evconnlistener_new failed", l->l_desc);
	if (evhttp_bind_listener(srv->http, l->l_lev) == NULL)
		fatalx("%s: evhttp_bind_listener failed", l->l_desc);
	evconnlistener_set_error_cb(l->l_lev, listen_error_cb);
	l->l_pause_ev = evtimer_new(srv->base, listen_resume_cb, l);
	if (l->l_pause_ev == NULL)
		fatalx("evtimer_new failed");
	TAILQ_INSERT_TAIL(&srv->listeners, l, l_entry);
	log_info("listening on %s%s", l->l_desc, how);
}

static void
listen_add_tcp(int fd, void *arg)
{
	listen_add(arg, fd, NULL, "");
}

static void
listen_tcp(struct server *srv, const struct listen_spec *ls)
{
	(void)listener_bind_tcp(ls->ls_host, ls->ls_port, "--listen",
	    listen_add_tcp, srv);
}

static void
listen_unix(struct server *srv, const struct listen_spec *ls, mode_t mode)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t umask_was;
	int fd, rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(ls->ls_path) >= sizeof(sun.sun_path))
		fatalx("--unix %s: path too long", ls->ls_path);
	memcpy(sun.sun_path, ls->ls_path, strlen(ls->ls_path));
	/* Replace a stale socket, never any other kind of file. */
	if (lstat(ls->ls_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			fatalx("--unix %s: exists and is not a socket",
			    ls->ls_path);
		if (unlink(ls->ls_path) == -1)
			fatal("--unix %s: unlink", ls->ls_path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		fatal("--unix %s: socket", ls->ls_path);
	/* The socket's mode decides who may connect.  It is made with it
	 * (0777 minus the umask, unix(7)): no chmod() by path afterwards,
	 * which a file swapped in meanwhile would receive instead. */
	umask_was = umask(0777 & ~mode);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(umask_was);
	if (rc == -1)
		fatal("--unix %s: bind", ls->ls_path);
	if (listen(fd, LISTENER_BACKLOG) == -1)
		fatal("--unix %s: listen", ls->ls_path);
	listen_add(srv, fd, ls->ls_path, "");
}

void
listen_setup(struct server *srv)
{
	struct listen_spec def;
	unsigned i;
	int n, fd;

	listen_srv = srv;
	/* Sockets from systemd come first; unset the environment so that
	 * nothing we start inherits them. */
	n = sd_listen_fds(1);
	if (n < 0) {
		errno = -n;
		fatal("sd_listen_fds");
	}
	for (fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; fd++) {
		if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0)
			fatalx("socket activation: fd %d is not a listening "
			    "stream socket", fd);
		listen_add(srv, fd, NULL, " (socket activation)");
	}
	for (i = 0; i < srv->opt.nlisten; i++) {
		if (srv->opt.listen[i].ls_unix)
			listen_unix(srv, &srv->opt.listen[i],
			    (mode_t)srv->opt.unix_mode);
		else
			listen_tcp(srv, &srv->opt.listen[i]);
	}
	if (TAILQ_EMPTY(&srv->listeners)) {
		listen_parse("127.0.0.1:8080", &def);
		listen_tcp(srv, &def);
	}
}

void
listen_free(struct server *srv)
{
	struct listener *l;
	struct conn_guard *g;

	/* Guards still waiting to adopt their connection (evhttp_free()
	 * closed every other one through its close callback). */
	while ((g = TAILQ_FIRST(&srv->guards)) != NULL)
		guard_free(g);

	if (srv->hold_ev != NULL) {
		event_free(srv->hold_ev);
		srv->hold_ev = NULL;
	}
	/* evhttp_free() has freed the evconnlisteners (and closed the
	 * sockets) already. */
	while ((l = TAILQ_FIRST(&srv->listeners)) != NULL) {
		TAILQ_REMOVE(&srv->listeners, l, l_entry);
		/* Sandboxed, the server may not unlink files (a stale
		 * socket is replaced at the next start anyway). */
		if (l->l_unlink[0] != '\0' && srv->opt.no_sandbox)
			unlink(l->l_unlink);
		event_free(l->l_pause_ev);
		free(l);
	}
}

/* ------------------------------------------------- request deadline */

static void
guard_free(struct conn_guard *g)
{
	struct server *srv = g->g_srv;

	TAILQ_REMOVE(&srv->guards, g, g_entry);
	srv->nguards--;
	event_free(g->g_ev);
	if (g->g_hup_ev != NULL)
		event_free(g->g_hup_ev);
	if (g->g_bev != NULL)
		bufferevent_decref(g->g_bev);
	free(g);
}

static void
guard_close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct conn_guard *g = arg;

	if (g->g_watch != NULL)
		g->g_watch(evcon, g->g_watch_arg);
	/* A request of it may be waiting for its credentials to be
	 * checked: the answer must not reach a freed request. */
	auth_cancel(g->g_srv->auth, evcon);
	guard_free(g);
}

static void
guard_arm(struct conn_guard *g)
{
	struct timeval tv = { (time_t)g->g_srv->opt.request_timeout_s, 0 };

	evtimer_add(g->g_ev, &tv);
}

static void
guard_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn_guard *g = arg;
	struct evhttp_connection *evcon = g->g_evcon;
	char *host = NULL;
	ev_uint16_t port = 0;

	(void)fd;
	(void)what;
	g->g_srv->request_timeouts++;
	evhttp_connection_get_peer(evcon, &host, &port);
	log_info("client %s:%u closed: no complete request within %u s",
	    host != NULL ? host : "?", port, g->g_srv->opt.request_timeout_s);
	/* Runs the close callback, which frees g. */
	evhttp_connection_free(evcon);
}

/* From now on the connection's close callback ends the guard. */
static void
guard_adopt(struct conn_guard *g, struct evhttp_connection *evcon)
{
	evutil_socket_t fd = bufferevent_getfd(g->g_bev);

	if (fd != -1 && listener_is_tcp(fd))
		sock_nodelay(fd);
	g->g_evcon = evcon;
	evhttp_connection_set_closecb(evcon, guard_close_cb, g);
	bufferevent_decref(g->g_bev);
	g->g_bev = NULL;
	evtimer_del(g->g_ev);
	event_assign(g->g_ev, g->g_srv->base, -1, 0, guard_deadline_cb, g);
	guard_arm(g);
}

/*
 * The turn of the loop after the bufferevent was created: evhttp has
 * built its connection around it (or given up and freed it).  A request
 * that arrived in the same turn has adopted the guard already
 * (conn_request_done()).
 */
static void
guard_adopt_cb(evutil_socket_t unused, short what, void *arg)
{
	struct conn_guard *g = arg;
	bufferevent_event_cb eventcb = NULL;
	void *cbarg = NULL;

	(void)unused;
	(void)what;
	bufferevent_getcb(g->g_bev, NULL, NULL, &eventcb, &cbarg);
	if (eventcb == NULL || cbarg == NULL) {
		/* bufferevent_free() clears the callbacks: evhttp dropped
		 * the connection; ours is the last reference. */
		guard_free(g);
		return;
	}
	guard_adopt(g, cbarg);
}

struct bufferevent *
conn_new_bev(struct event_base *base, void *arg)
{
	struct server *srv = arg;
	struct conn_guard *g;
	struct bufferevent *bev;
	struct timeval now = { 0, 0 };

	bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return NULL;
	if ((g = calloc(1, sizeof(*g))) == NULL ||
	    (g->g_ev = evtimer_new(base, guard_adopt_cb, g)) == NULL) {
		/* No guard: the connection still works, with evhttp's idle
		 * timeout only. */
		free(g);
		return bev;
	}
	g->g_srv = srv;
	g->g_bev = bev;
	bufferevent_incref(bev);
	TAILQ_INSERT_TAIL(&srv->guards, g, g_entry);
	srv->nguards++;
	evtimer_add(g->g_ev, &now);
	return bev;
}

int
conn_guarded(struct server *srv, struct evhttp_connection *evcon)
{
	struct conn_guard *g;

	TAILQ_FOREACH(g, &srv->guards, g_entry)
		if (g->g_evcon == evcon)
			return 1;
	return 0;
}

void
conn_request_waits(struct server *srv, struct evhttp_connection *evcon)
{
	struct conn_guard *g;

	TAILQ_FOREACH(g, &srv->guards, g_entry)
		if (g->g_evcon == evcon)
			evtimer_del(g->g_ev);
}

void
conn_request_done(struct server *srv, struct evhttp_connection *evcon,
    int streaming)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	struct conn_guard *g;

	TAILQ_FOREACH(g, &srv->guards, g_entry)
		if (g->g_evcon == evcon || (g->g_evcon == NULL &&
		    g->g_bev == bev))
			break;
	if (g == NULL)
		return;
	if (g->g_evcon == NULL)
		guard_adopt(g, evcon);
	if (streaming) {
		evhttp_connection_set_closecb(evcon, NULL, NULL);
		guard_free(g);
	} else
		guard_arm(g);
}

/* The peer of a connection whose request is held sent its FIN. */
static void
guard_hup_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn_guard *g = arg;

	(void)fd;
	(void)what;
	g->g_srv->requests_abandoned++;
	log_debug("a client left its held request");
	/* Runs the close callback: the watcher, then guard_free(g). */
	evhttp_connection_free(g->g_evcon);
}

/* Watches g's socket for the peer's FIN (if the backend can: epoll). */
static void
guard_watch_hup(struct conn_guard *g, int on)
{
	struct event_base *base = g->g_srv->base;
	evutil_socket_t fd;

	if (!on) {
		if (g->g_hup_ev != NULL)
			event_del(g->g_hup_ev);
		return;
	}
	if (g->g_hup_ev == NULL) {
		if (!(event_base_get_features(base) & EV_FEATURE_EARLY_CLOSE))
			return;
		fd = bufferevent_getfd(evhttp_connection_get_bufferevent(
		    g->g_evcon));
		if (fd == -1 || (g->g_hup_ev = event_new(base, fd, EV_CLOSED,
		    guard_hup_cb, g)) == NULL)
			return;		/* the deadlines still hold */
	}
	event_add(g->g_hup_ev, NULL);
}

void
conn_watch(struct server *srv, struct evhttp_connection *evcon,
    void (*cb)(struct evhttp_connection *, void *), void *arg)
{
	struct conn_guard *g;

	TAILQ_FOREACH(g, &srv->guards, g_entry)
		if (g->g_evcon == evcon)
			break;
	if (g != NULL) {
		g->g_watch = cb;
		g->g_watch_arg = arg;
		guard_watch_hup(g, cb != NULL);
		return;
	}
	/* No guard (out of memory when the connection came): the close
	 * callback is free for this. */
	evhttp_connection_set_closecb(evcon, cb, arg);
}
