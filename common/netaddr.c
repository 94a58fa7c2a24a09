/*
 * netaddr.c - network addresses as options and logs write them (see
 * netaddr.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"

int
netaddr_parse(const char *s, char *host, size_t hsize, unsigned *port)
{
	const char *colon;
	char *end;
	unsigned long p;
	size_t hlen;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		hlen = (size_t)(close - s - 1);
		if (hlen == 0 || hlen >= hsize)
			return -1;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)))
			return -1;
		hlen = (size_t)(colon - s);
		if (hlen >= hsize)
			return -1;
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (hlen == 0)
			snprintf(host, hsize, "0.0.0.0");
	}
	if (colon[1] < '0' || colon[1] > '9')
		return -1;
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || p > 65535)
		return -1;
	*port = (unsigned)p;
	return 0;
}

void
netaddr_text(const struct sockaddr *sa, int with_port, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
		if (with_port)
			snprintf(buf, size, "%s:%u", a, ntohs(sin->sin_port));
		else
			snprintf(buf, size, "%s", a);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 =
		    (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
		if (with_port)
			snprintf(buf, size, "[%s]:%u", a,
			    ntohs(sin6->sin6_port));
		else
			snprintf(buf, size, "%s", a);
	} else {
		snprintf(buf, size, "?");
	}
}
