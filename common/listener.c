/*
 * listener.c - listening sockets (see listener.h).
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <netinet/in.h>

#include "clock.h"
#include "listener.h"
#include "log.h"
#include "netaddr.h"

int
listener_bind_tcp(const char *host, unsigned port, const char *what,
    void (*add)(int fd, void *arg), void *arg)
{
	struct addrinfo hints, *res, *ai;
	char portstr[8];
	int fd = -1, rc, one = 1, bound = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0)
		fatalx("%s %s:%u: %s", what, host, port, gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1)
			fatal("%s %s:%u: socket", what, host, port);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
			    sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
		    listen(fd, LISTENER_BACKLOG) == -1)
			fatal("%s: cannot listen on %s port %u", what, host,
			    port);
		bound++;
		if (add == NULL)
			break;
		add(fd, arg);
	}
	freeaddrinfo(res);
	if (bound == 0)
		fatalx("%s %s:%u: no address", what, host, port);
	return fd;
}

void
listener_describe(int fd, const char *scheme, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[64];		/* "[v6]:port" */

	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1) {
		snprintf(buf, size, "fd %d", fd);
		return;
	}
	if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
		netaddr_text((struct sockaddr *)&ss, 1, addr, sizeof(addr));
		snprintf(buf, size, "%s://%s/", scheme, addr);
	} else if (ss.ss_family == AF_UNIX) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
		if (len > offsetof(struct sockaddr_un, sun_path) &&
		    sun->sun_path[0] != '\0')
			snprintf(buf, size, "unix:%.*s",
			    (int)(len - offsetof(struct sockaddr_un, sun_path)),
			    sun->sun_path);
		else
			snprintf(buf, size, "unix:(unnamed)");
	} else
		snprintf(buf, size, "fd %d (family %d)", fd, ss.ss_family);
}

int
listener_is_tcp(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return 0;
	return ss.ss_family == AF_INET || ss.ss_family == AF_INET6;
}

int
listener_accept_error(struct evconnlistener *lev, int err,
    struct event *resume_ev, const char *desc, uint64_t *pauses)
{
	struct timeval tv = ms_tv(LISTENER_PAUSE_MS);

	switch (err) {
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		if ((*pauses)++ % 100 == 0)
			log_warnx("%s: accept: %s: pausing accepts for %d ms "
			    "(%llu times so far)", desc, strerror(err),
			    LISTENER_PAUSE_MS, (unsigned long long)*pauses);
		evconnlistener_disable(lev);
		evtimer_add(resume_ev, &tv);
		return 1;
	default:
		log_warnx("%s: accept: %s", desc, strerror(err));
		return 0;
	}
}
