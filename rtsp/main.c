/*
 * shmcam-rtsp - serves the H.264 of shmcam-capture processes over RTSP
 * (RFC 2326), to NVRs, Home Assistant, Frigate, VLC, go2rtc and
 * MediaMTX.  Unprivileged like shmcam-server: it refuses to run as
 * root unless told to, maps the rings read-only and never writes to
 * them; any number may run, and restarting one never touches a camera.
 *
 * main.c: options, setup, signals.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "access.h"
#include "log.h"
#include "opt.h"
#include "rtsp.h"
#include "sandbox.h"
#include "service.h"

static void
usage(FILE *out)
{
	fprintf(out,
"usage: shmcam-rtsp [options]\n"
"\n"
"Serves the H.264 of shmcam-capture processes over RTSP: one RTP stream\n"
"per camera, over TCP (interleaved) or UDP, to any number of clients.\n"
"\n"
"Cameras\n"
"  -n, --name NAME          camera name, as given to shmcam-capture\n"
"                           (default \"default\")\n"
"  -c, --ctl PATH           its control socket (default\n"
"                           /run/shmcam/NAME.sock, or under $XDG_RUNTIME_DIR)\n"
"      --camera NAME[:PATH] serve this camera at rtsp://HOST:PORT/NAME;\n"
"                           repeatable.  PATH is its control socket (default\n"
"                           as above).  A single camera is also served at /.\n"
"      --capture-user USER  the user the captures run as (name or number):\n"
"                           a capture of any other user is refused (by\n"
"                           default: the control socket's owner, if its\n"
"                           directory is safe from other users)\n"
"Listening\n"
"  -l, --listen HOST:PORT   RTSP over TCP, repeatable (default 127.0.0.1:8554\n"
"                           when nothing else is given); IPv6 as [::1]:8554;\n"
"                           port 0 picks a free one\n"
"      --udp-ports MIN-MAX  server ports for RTP over UDP, a pair per session\n"
"                           (default 6970-7069); none: TCP only\n"
"      --http HOST:PORT     serve /state and /metrics over HTTP here\n"
"                           Sockets passed by systemd are used as well.\n"
"Access\n"
"      --auth-file PATH     user:password lines, as shmcam-server's: Digest\n"
"                           for plain passwords, Basic for crypt(3) hashes\n"
"Limits\n"
"      --max-clients N      RTSP connections at once (default 100); more get\n"
"                           503\n"
"      --session-timeout S  end a session that sent no request and no RTCP\n"
"                           for S seconds (default 60)\n"
"  -t, --client-timeout S   close a connection whose output has not moved\n"
"                           for S seconds (default 10)\n"
"      --request-timeout S  close a connection that has not sent a complete\n"
"                           request within S seconds (default 10)\n"
"Other\n"
"      --allow-root         run even as root (not recommended)\n"
"      --no-sandbox         no system call filter after setup (debugging)\n"
"  -v, --verbose            debug logging\n"
"  -h, --help               this text\n"
"  -V, --version            print the version\n");
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct rtsp_server *srv = arg;

	(void)what;
	log_info("signal %d, stopping", (int)sig);
	event_base_loopbreak(srv->base);
}

/* systemd's STATUS= line (service.h): sessions and link, per camera. */
static void
rtsp_status(char *buf, size_t size, void *arg)
{
	struct rtsp_server *srv = arg;
	struct camera *cam;
	size_t n = 0;
	int r;

	buf[0] = '\0';
	TAILQ_FOREACH(cam, &srv->cameras, c_entry) {
		r = snprintf(buf + n, size - n, "%s%s: %u sessions, %s",
		    n ? "; " : "", cam->c_name, cam->c_nsessions,
		    cam->c_at.at_state == ATTACH_ATTACHED ?
		    "attached" : "waiting for its capture");
		if (r < 0 || (size_t)r >= size - n)
			break;
		n += (size_t)r;
	}
}

/* "MIN-MAX": an even MIN, MIN < MAX; or "none". */
static void
parse_udp_ports(const char *s, struct rtsp_options *o)
{
	char min[8];
	const char *dash = strchr(s, '-');
	unsigned long a, b;

	if (strcmp(s, "none") == 0) {
		o->udp_min = o->udp_max = 0;
		return;
	}
	if (dash == NULL || (size_t)(dash - s) >= sizeof(min))
		goto bad;
	memcpy(min, s, (size_t)(dash - s));
	min[dash - s] = '\0';
	if (opt_parse_uint(min, 1024, 65534, 10, &a) != 0 ||
	    opt_parse_uint(dash + 1, 1025, 65535, 10, &b) != 0 ||
	    a % 2 != 0 || b <= a)
		goto bad;
	o->udp_min = (unsigned)a;
	o->udp_max = (unsigned)b;
	return;
bad:
	opt_usage_error("invalid --udp-ports '%s': expected MIN-MAX, an even "
	    "MIN from 1024 below MAX, or none", s);
}

void
server_init(struct rtsp_server *srv)
{
	memset(srv, 0, sizeof(*srv));
	srv->opt.request_timeout_s = 10;
	srv->opt.session_timeout_s = 60;
	srv->opt.client_timeout_s = 10;
	srv->opt.max_clients = 100;
	srv->opt.capture_uid = (uid_t)-1;
	srv->opt.udp_min = 6970;
	srv->opt.udp_max = 7069;
	TAILQ_INIT(&srv->cameras);
	TAILQ_INIT(&srv->conns);
	TAILQ_INIT(&srv->listeners);
}

enum {
	OPT_UDP_PORTS = OPT_READER_END,
	OPT_HTTP,
	OPT_AUTH_FILE,
	OPT_MAX_CLIENTS,
	OPT_SESSION_TIMEOUT,
};

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		OPT_READER_LONGOPTS,
		{ "listen", required_argument, NULL, 'l' },
		{ "udp-ports", required_argument, NULL, OPT_UDP_PORTS },
		{ "http", required_argument, NULL, OPT_HTTP },
		{ "auth-file", required_argument, NULL, OPT_AUTH_FILE },
		{ "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
		{ "session-timeout", required_argument, NULL,
		    OPT_SESSION_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct rtsp_server srv;
	struct camera *cam;
	struct opt_cameras cams = { 0 };
	const struct opt_reader rd = OPT_READER_OF(&cams, &srv.opt);
	struct event *sigint_ev, *sigterm_ev;
	struct service svc;
	unsigned i;
	char err[256];
	int ch, rc;

	log_init(argv[0]);
	server_init(&srv);

	while ((ch = getopt_long(argc, argv, "n:c:l:t:vhV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'l': {
			struct listen_addr *la;

			la = reallocarray(srv.opt.listen, srv.opt.nlisten + 1,
			    sizeof(*la));
			if (la == NULL)
				fatal("reallocarray");
			srv.opt.listen = la;
			if (listen_parse_addr(optarg,
			    &la[srv.opt.nlisten++]) != 0)
				opt_usage_error("invalid --listen '%s': expected "
				    "HOST:PORT or [IPV6]:PORT", optarg);
			break;
		}
		case OPT_UDP_PORTS:
			parse_udp_ports(optarg, &srv.opt);
			break;
		case OPT_HTTP:
			if (listen_parse_addr(optarg, &srv.opt.http) != 0)
				opt_usage_error("invalid --http '%s': expected "
				    "HOST:PORT or [IPV6]:PORT", optarg);
			srv.opt.http_set = 1;
			break;
		case OPT_AUTH_FILE:
			srv.opt.auth_file = optarg;
			break;
		case OPT_MAX_CLIENTS:
			srv.opt.max_clients = (unsigned)opt_uint("--max-clients",
			    optarg, 1, 100000, 10);
			break;
		case OPT_SESSION_TIMEOUT:
			srv.opt.session_timeout_s = (unsigned)opt_uint(
			    "--session-timeout", optarg, 5, 3600, 10);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("shmcam-rtsp %s\n", SHMCAM_VERSION);
			return 0;
		default:
			if (opt_reader_option(&rd, ch, optarg))
				break;
			usage(stderr);
			return 2;
		}
	}
	opt_no_operands(argc, argv);
	opt_cameras_done(&cams);
	/* A connection each, and the sockets of --udp-ports. */
	opt_reader_start(srv.opt.allow_root, &srv.opt.max_clients, 1,
	    &srv.started_real_ns, &srv.started_mono_ns);
	if (srv.opt.auth_file != NULL) {
		err[0] = '\0';
		if (access_load(&srv.access, srv.opt.auth_file, err,
		    sizeof(err)) != 0)
			fatalx("--auth-file %s: %s", srv.opt.auth_file, err);
		log_info("authentication from %s: %u users, %u of them with "
		    "Digest (plain passwords)", srv.opt.auth_file,
		    access_users(srv.access), access_digest_users(srv.access));
	}
	if ((srv.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	listen_setup(&srv);
	state_setup(&srv);
	udp_setup(&srv);

	for (i = 0; i < cams.n; i++) {
		cam = camera_new(&srv, cams.v[i].name, cams.v[i].ctl);
		if (cam == NULL)
			fatalx("camera %s: setup failed", cams.v[i].name);
		TAILQ_INSERT_TAIL(&srv.cameras, cam, c_entry);
		srv.ncameras++;
	}

	sigint_ev = evsignal_new(srv.base, SIGINT, signal_cb, &srv);
	sigterm_ev = evsignal_new(srv.base, SIGTERM, signal_cb, &srv);
	if (sigint_ev == NULL || sigterm_ev == NULL ||
	    event_add(sigint_ev, NULL) == -1 ||
	    event_add(sigterm_ev, NULL) == -1)
		fatalx("signal events failed");
	if (service_init(&svc, srv.base, rtsp_status, &srv) != 0)
		fatalx("service manager notification events: out of memory");
	if ((rc = access_setup(srv.access, srv.base)) != 0)
		fatalx("auth: eventfd: %s", strerror(-rc));

	/* Set up: from here on the server only serves (common/sandbox.h). */
	if (!srv.opt.no_sandbox) {
		rc = sandbox_apply(SANDBOX_RTSP);
		if (rc != 0)
			fatalx("sandbox: %s", strerror(-rc));
		log_info("sandbox: system call filter on");
	}
	/* The hashing thread after the filter, so that it runs under it. */
	if ((rc = access_start(srv.access)) != 0)
		fatalx("auth: thread: %s", strerror(-rc));
	TAILQ_FOREACH(cam, &srv.cameras, c_entry)
		camera_start(cam);
	if (service_ready_on_loop(&svc) != 0)
		fatalx("service manager notification events: out of memory");
	event_base_dispatch(srv.base);
	service_stopping(&svc);
	service_free(&svc);

	conn_close_all(&srv);
	state_free(&srv);
	listen_free(&srv);
	while ((cam = TAILQ_FIRST(&srv.cameras)) != NULL) {
		TAILQ_REMOVE(&srv.cameras, cam, c_entry);
		camera_free(cam);
	}
	access_free(srv.access);
	opt_cameras_free(&cams);
	free(srv.opt.listen);
	udp_free(&srv);
	event_free(sigint_ev);
	event_free(sigterm_ev);
	event_base_free(srv.base);
	return 0;
}
