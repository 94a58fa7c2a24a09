/*
 * shmcam-server - serves a camera's frames over HTTP from the capture's
 * shared-memory ring, to any number of clients.  Unprivileged: it refuses
 * to run as root unless told to, maps the ring read-only and never writes
 * to it.
 *
 * main.c: options, setup, signals.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/event.h>
#include <event2/http.h>

#include "log.h"
#include "server.h"
#include "service.h"

struct listen_spec {
	char	host[256];
	unsigned port;
};

static void
usage(FILE *out)
{
	fprintf(out,
"usage: shmcam-server [options]\n"
"\n"
"Serves the frames of a shmcam-capture process over HTTP: MJPEG streams,\n"
"snapshots and a viewer page.\n"
"\n"
"  -l, --listen HOST:PORT   address to listen on (default 127.0.0.1:8080);\n"
"                           IPv6 as [::1]:8080; port 0 picks a free one\n"
"  -n, --name NAME          camera name, as given to shmcam-capture\n"
"                           (default \"default\")\n"
"  -c, --ctl PATH           the capture's control socket (default\n"
"                           /run/shmcam/NAME.sock, or under $XDG_RUNTIME_DIR)\n"
"  -t, --client-timeout S   close a stream client that has not taken a\n"
"                           frame for S seconds (default 10)\n"
"      --allow-root         run even as root (not recommended)\n"
"  -v, --verbose            debug logging\n"
"  -h, --help               this text\n"
"  -V, --version            print the version\n");
}

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "shmcam-server: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'shmcam-server --help'.\n");
	exit(2);
}

/* "HOST:PORT", "[V6]:PORT" or ":PORT" (all IPv4 addresses). */
static int
parse_listen(const char *s, struct listen_spec *ls)
{
	const char *colon;
	char *end;
	unsigned long port;
	size_t hlen;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return -1;
		hlen = (size_t)(close - s - 1);
		if (hlen == 0 || hlen >= sizeof(ls->host))
			return -1;
		memcpy(ls->host, s + 1, hlen);
		ls->host[hlen] = '\0';
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		hlen = (size_t)(colon - s);
		if (hlen >= sizeof(ls->host))
			return -1;
		memcpy(ls->host, s, hlen);
		ls->host[hlen] = '\0';
		if (hlen == 0)
			snprintf(ls->host, sizeof(ls->host), "0.0.0.0");
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || port > 65535)
		return -1;
	ls->port = (unsigned)port;
	return 0;
}

static void
server_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;

	(void)what;
	log_info("signal %d, stopping", (int)sig);
	event_base_loopbreak(srv->base);
}

/* systemd's STATUS= line (service.h): clients and link, per camera. */
static void
server_status(char *buf, size_t size, void *arg)
{
	struct server *srv = arg;
	struct camera *cam;
	size_t n = 0;
	int r;

	buf[0] = '\0';
	TAILQ_FOREACH(cam, &srv->cameras, c_entry) {
		if (cam->c_state == LINK_ATTACHED)
			r = snprintf(buf + n, size - n, "%s%s: %u clients, "
			    "attached to capture %ld", n ? "; " : "",
			    cam->c_name, cam->c_nclients,
			    (long)cam->c_capture_pid);
		else
			r = snprintf(buf + n, size - n, "%s%s: %u clients, "
			    "waiting for its capture", n ? "; " : "",
			    cam->c_name, cam->c_nclients);
		if (r < 0 || (size_t)r >= size - n)
			break;
		n += (size_t)r;
	}
}

static void
server_listen(struct server *srv, const struct listen_spec *ls)
{
	struct evhttp_bound_socket *bound;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[sizeof(ls->host)];
	unsigned port = ls->port;
	int fd;

	bound = evhttp_bind_socket_with_handle(srv->http, ls->host,
	    (ev_uint16_t)ls->port);
	if (bound == NULL)
		fatal("cannot listen on %s port %u", ls->host, ls->port);
	fd = evhttp_bound_socket_get_fd(bound);
	snprintf(addr, sizeof(addr), "%s", ls->host);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
			port = ntohs(sin->sin_port);
			inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
			port = ntohs(sin6->sin6_port);
			inet_ntop(AF_INET6, &sin6->sin6_addr, addr,
			    sizeof(addr));
		}
	}
	if (strchr(addr, ':') != NULL)
		log_info("listening on http://[%s]:%u/", addr, port);
	else
		log_info("listening on http://%s:%u/", addr, port);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "name", required_argument, NULL, 'n' },
		{ "ctl", required_argument, NULL, 'c' },
		{ "client-timeout", required_argument, NULL, 't' },
		{ "allow-root", no_argument, NULL, 'R' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct listen_spec ls = { "127.0.0.1", 8080 };
	struct server srv;
	struct camera *cam;
	struct event *sigint_ev, *sigterm_ev;
	struct service svc;
	const char *name = "default", *ctl_path = NULL;
	unsigned long v;
	char *end;
	int ch;

	log_init(argv[0]);
	memset(&srv, 0, sizeof(srv));
	TAILQ_INIT(&srv.cameras);
	srv.opt.client_timeout_s = 10;

	while ((ch = getopt_long(argc, argv, "l:n:c:t:vhV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'l':
			if (parse_listen(optarg, &ls) != 0)
				usage_error("invalid --listen '%s': expected "
				    "HOST:PORT or [IPV6]:PORT", optarg);
			break;
		case 'n':
			if (strlen(optarg) > RING_NAME_MAX - 8 ||
			    ring_name_valid(optarg) != 0)
				usage_error("invalid --name '%s'", optarg);
			name = optarg;
			break;
		case 'c':
			if (optarg[0] == '\0' || strlen(optarg) >= CTL_PATH_MAX)
				usage_error("invalid --ctl path '%s'", optarg);
			ctl_path = optarg;
			break;
		case 't':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg ||
			    v < 1 || v > 3600)
				usage_error("invalid --client-timeout '%s': "
				    "expected 1-3600 seconds", optarg);
			srv.opt.client_timeout_s = (unsigned)v;
			break;
		case 'R':
			srv.opt.allow_root = 1;
			break;
		case 'v':
			log_set_verbose(1);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("shmcam-server %s\n", SHMCAM_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc)
		usage_error("unexpected argument '%s'", argv[optind]);

	if ((geteuid() == 0 || getuid() == 0) && !srv.opt.allow_root)
		fatalx("refusing to run as root: run as an unprivileged user "
		    "in the capture's server group, or pass --allow-root");

	signal(SIGPIPE, SIG_IGN);
	srv.started_real_ns = now_ns(CLOCK_REALTIME);
	if ((srv.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	if (http_setup(&srv) != 0)
		fatalx("evhttp_new failed");
	server_listen(&srv, &ls);

	cam = camera_new(&srv, name, ctl_path);
	if (cam == NULL)
		fatalx("camera %s: setup failed", name);
	TAILQ_INSERT_TAIL(&srv.cameras, cam, c_entry);
	srv.ncameras++;

	sigint_ev = evsignal_new(srv.base, SIGINT, server_signal_cb, &srv);
	sigterm_ev = evsignal_new(srv.base, SIGTERM, server_signal_cb, &srv);
	if (sigint_ev == NULL || sigterm_ev == NULL ||
	    event_add(sigint_ev, NULL) == -1 ||
	    event_add(sigterm_ev, NULL) == -1)
		fatalx("signal events failed");

	TAILQ_FOREACH(cam, &srv.cameras, c_entry)
		camera_start(cam);
	if (service_init(&svc, srv.base, server_status, &srv) != 0 ||
	    service_ready_on_loop(&svc) != 0)
		fatalx("service manager notification events: out of memory");
	event_base_dispatch(srv.base);
	service_stopping(&svc);
	service_free(&svc);

	/* Stream clients first: their connections are ours, not evhttp's. */
	TAILQ_FOREACH(cam, &srv.cameras, c_entry)
		stream_close_all(cam);
	evhttp_free(srv.http);
	while ((cam = TAILQ_FIRST(&srv.cameras)) != NULL) {
		TAILQ_REMOVE(&srv.cameras, cam, c_entry);
		camera_free(cam);
	}
	event_free(sigint_ev);
	event_free(sigterm_ev);
	event_base_free(srv.base);
	return 0;
}
