/*
 * netaddr.h - network addresses as the options take them and the logs
 * show them.  Pure functions (the fuzzers feed netaddr_parse() junk).
 */
#ifndef SHMCAM_NETADDR_H
#define SHMCAM_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * "HOST:PORT", "[V6]:PORT" or ":PORT" (HOST then "0.0.0.0"), PORT
 * 0..65535 in decimal: 0 and host (NUL-terminated, fitting hsize) and
 * port, or -1.
 */
int	netaddr_parse(const char *s, char *host, size_t hsize, unsigned *port);
/* "1.2.3.4:554" or "[::1]:554" (with port), or "1.2.3.4" and "::1"
 * (without); "?" for other families. */
void	netaddr_text(const struct sockaddr *sa, int with_port, char *buf,
	    size_t size);

#endif /* SHMCAM_NETADDR_H */
