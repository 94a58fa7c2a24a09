/*
 * listener.h - listening sockets, for every program that accepts
 * connections (shmcam-server's evhttp, shmcam-rtsp's own): binding a
 * --listen address, naming a socket in logs, and what a listener does
 * when accept() fails.
 *
 * These run at setup, where a failure is fatal with a message naming the
 * option and the call (log.h's fatal()), as the programs' other option
 * handling does.
 */
#ifndef SHMCAM_LISTENER_H
#define SHMCAM_LISTENER_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/listener.h>

/* The kernel's queue of connections not yet accepted (capped by
 * net.core.somaxconn). */
#define LISTENER_BACKLOG	1024
/* How long accepting pauses when the process is out of descriptors. */
#define LISTENER_PAUSE_MS	200

/*
 * Binds and listens on host:port (a name may resolve to several
 * addresses: each gets a socket; [::] is IPv6 only, as 0.0.0.0 is a
 * --listen of its own), SO_REUSEADDR and close-on-exec.  Each socket
 * goes to add(fd, arg); with add NULL only the first is made, and
 * returned.  what names the option in messages ("--listen").  Fatal on
 * failure.
 */
int	listener_bind_tcp(const char *host, unsigned port, const char *what,
	    void (*add)(int fd, void *arg), void *arg);

/*
 * Names listening socket fd in logs: "SCHEME://1.2.3.4:80/",
 * "SCHEME://[::1]:80/", "unix:/path", else "fd N".
 */
void	listener_describe(int fd, const char *scheme, char *buf, size_t size);

/* Whether fd is a TCP (IPv4 or IPv6) socket. */
int	listener_is_tcp(int fd);

/*
 * An accept error on lev (errno-style err, as EVUTIL_SOCKET_ERROR()
 * gives it): out of descriptors or memory, accepting pauses for
 * LISTENER_PAUSE_MS (resume_ev, a timer the caller made, re-enables it)
 * rather than spin on a connection that stays in the backlog meanwhile;
 * *pauses counts those, and every hundredth is logged.  Any other error
 * is logged.  desc names the socket in the log.  Returns 1 if it paused.
 *
 * libevent's listener treats EMFILE as a plain error: without this, the
 * pending connection stays in the backlog and the (level-triggered)
 * listener fires again at once, a busy loop writing a log line each time.
 */
int	listener_accept_error(struct evconnlistener *lev, int err,
	    struct event *resume_ev, const char *desc, uint64_t *pauses);

#endif /* SHMCAM_LISTENER_H */
