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
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>

#include "log.h"
#include "opt.h"
#include "sandbox.h"
#include "server.h"
#include "service.h"

static void
usage(FILE *out)
{
	fprintf(out,
"usage: shmcam-server [options]\n"
"\n"
"Serves the frames of shmcam-capture processes over HTTP: MJPEG streams,\n"
"H.264 as fragmented MP4 (/stream.mp4), snapshots, state and metrics, and\n"
"a viewer page.\n"
"\n"
"Cameras\n"
"  -n, --name NAME          camera name, as given to shmcam-capture\n"
"                           (default \"default\")\n"
"  -c, --ctl PATH           its control socket (default\n"
"                           /run/shmcam/NAME.sock, or under $XDG_RUNTIME_DIR)\n"
"      --camera NAME[:PATH] serve this camera at /NAME/...; repeatable.\n"
"                           PATH is its control socket (default as above).\n"
"                           A single camera is also served at /.\n"
"      --capture-user USER  the user the captures run as (name or number):\n"
"                           a capture of any other user is refused (by\n"
"                           default: the control socket's owner, if its\n"
"                           directory is safe from other users)\n"
"Listening\n"
"  -l, --listen HOST:PORT   TCP address, repeatable (default 127.0.0.1:8080\n"
"                           when nothing else is given); IPv6 as [::1]:8080;\n"
"                           port 0 picks a free one\n"
"      --unix PATH          unix socket, repeatable\n"
"      --unix-mode MODE     its permissions, octal (default 0660)\n"
"                           Sockets passed by systemd are used as well.\n"
"Access\n"
"      --auth-file PATH     HTTP Basic auth: user:password lines, password\n"
"                           plain or a crypt(3) hash ($y$, $6$, $5$, $2b$)\n"
"      --auth-exempt PATH   serve PATH (e.g. /metrics) without auth;\n"
"                           repeatable\n"
"      --allow-origin ORIG  Access-Control-Allow-Origin value (e.g. *)\n"
"      --trust-proxy        log and show the client address from\n"
"                           X-Forwarded-For (behind a reverse proxy)\n"
"Limits\n"
"      --max-clients N      stream clients at once, all cameras (default\n"
"                           1000); more get 503 with Retry-After\n"
"  -t, --client-timeout S   close a stream client that has not taken a\n"
"                           frame for S seconds (default 10)\n"
"      --request-timeout S  close a connection that has not sent a complete\n"
"                           request within S seconds (default 10)\n"
"      --no-send-bound      let the kernel queue frames for slow clients\n"
"                           (for comparisons only: they fall behind)\n"
"H.264\n"
"      --no-keyframe-requests  never ask the capture for a keyframe: MP4\n"
"                           viewers start and resume at its regular ones\n"
"                           (for comparisons, or to spare a camera)\n"
"Other\n"
"      --allow-root         run even as root (not recommended)\n"
"      --no-sandbox         no system call filter after setup (debugging)\n"
"  -v, --verbose            debug logging\n"
"  -h, --help               this text\n"
"  -V, --version            print the version\n");
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
		if (cam->c_at.at_state == ATTACH_ATTACHED)
			r = snprintf(buf + n, size - n, "%s%s: %u clients, "
			    "attached to capture %ld", n ? "; " : "",
			    cam->c_name, cam->c_nclients,
			    (long)cam->c_at.at_capture_pid);
		else
			r = snprintf(buf + n, size - n, "%s%s: %u clients, "
			    "waiting for its capture", n ? "; " : "",
			    cam->c_name, cam->c_nclients);
		if (r < 0 || (size_t)r >= size - n)
			break;
		n += (size_t)r;
	}
}

enum {
	OPT_UNIX = OPT_READER_END,
	OPT_UNIX_MODE,
	OPT_AUTH_FILE,
	OPT_AUTH_EXEMPT,
	OPT_ALLOW_ORIGIN,
	OPT_TRUST_PROXY,
	OPT_MAX_CLIENTS,
	OPT_NO_SEND_BOUND,
	OPT_NO_KEYFRAME_REQUESTS,
};

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		OPT_READER_LONGOPTS,
		{ "listen", required_argument, NULL, 'l' },
		{ "unix", required_argument, NULL, OPT_UNIX },
		{ "unix-mode", required_argument, NULL, OPT_UNIX_MODE },
		{ "auth-file", required_argument, NULL, OPT_AUTH_FILE },
		{ "auth-exempt", required_argument, NULL, OPT_AUTH_EXEMPT },
		{ "allow-origin", required_argument, NULL, OPT_ALLOW_ORIGIN },
		{ "trust-proxy", no_argument, NULL, OPT_TRUST_PROXY },
		{ "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
		{ "no-send-bound", no_argument, NULL, OPT_NO_SEND_BOUND },
		{ "no-keyframe-requests", no_argument, NULL,
		    OPT_NO_KEYFRAME_REQUESTS },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct server srv;
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

	while ((ch = getopt_long(argc, argv, "l:n:c:t:vhV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'l':
		case OPT_UNIX: {
			struct listen_spec *ls;

			ls = reallocarray(srv.opt.listen, srv.opt.nlisten + 1,
			    sizeof(*ls));
			if (ls == NULL)
				fatal("reallocarray");
			srv.opt.listen = ls;
			ls = &ls[srv.opt.nlisten++];
			if (ch == 'l') {
				if (listen_parse(optarg, ls) != 0)
					opt_usage_error("invalid --listen '%s': "
					    "expected HOST:PORT or "
					    "[IPV6]:PORT", optarg);
			} else {
				memset(ls, 0, sizeof(*ls));
				ls->ls_unix = 1;
				if (optarg[0] == '\0' ||
				    strlen(optarg) >= sizeof(ls->ls_path))
					opt_usage_error("invalid --unix '%s': "
					    "expected a path of at most %zu "
					    "bytes", optarg,
					    sizeof(ls->ls_path) - 1);
				snprintf(ls->ls_path, sizeof(ls->ls_path),
				    "%s", optarg);
			}
			break;
		}
		case OPT_UNIX_MODE:
			srv.opt.unix_mode = (unsigned)opt_uint("--unix-mode",
			    optarg, 0, 0777, 8);
			break;
		case OPT_AUTH_FILE:
			srv.opt.auth_file = optarg;
			break;
		case OPT_AUTH_EXEMPT: {
			const char **v;

			if (optarg[0] != '/')
				opt_usage_error("invalid --auth-exempt '%s': "
				    "expected a path such as /metrics", optarg);
			v = reallocarray(srv.opt.auth_exempt,
			    srv.opt.nauth_exempt + 1, sizeof(*v));
			if (v == NULL)
				fatal("reallocarray");
			v[srv.opt.nauth_exempt++] = optarg;
			srv.opt.auth_exempt = v;
			break;
		}
		case OPT_ALLOW_ORIGIN:
			if (optarg[0] == '\0' || strpbrk(optarg, "\r\n"))
				opt_usage_error("invalid --allow-origin '%s'",
				    optarg);
			srv.opt.allow_origin = optarg;
			break;
		case OPT_TRUST_PROXY:
			srv.opt.trust_proxy = 1;
			break;
		case OPT_MAX_CLIENTS:
			srv.opt.max_clients = (unsigned)opt_uint("--max-clients",
			    optarg, 1, 1000000, 10);
			break;
		case OPT_NO_SEND_BOUND:
			srv.opt.send_bound = 0;
			break;
		case OPT_NO_KEYFRAME_REQUESTS:
			srv.opt.keyframe_requests = 0;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("shmcam-server %s\n", SHMCAM_VERSION);
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
	opt_reader_start(srv.opt.allow_root, &srv.opt.max_clients, 1,
	    &srv.started_real_ns, &srv.started_mono_ns);
	if (srv.opt.auth_file != NULL) {
		if (auth_load(&srv.auth, srv.opt.auth_file, err,
		    sizeof(err)) != 0)
			fatalx("--auth-file %s: %s", srv.opt.auth_file, err);
		log_info("HTTP Basic auth from %s, %u users",
		    srv.opt.auth_file, auth_count(srv.auth));
	}
	if ((srv.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	if (http_setup(&srv) != 0)
		fatalx("evhttp_new failed");
	listen_setup(&srv);

	for (i = 0; i < cams.n; i++) {
		cam = camera_new(&srv, cams.v[i].name, cams.v[i].ctl);
		if (cam == NULL)
			fatalx("camera %s: setup failed", cams.v[i].name);
		TAILQ_INSERT_TAIL(&srv.cameras, cam, c_entry);
		srv.ncameras++;
	}
	/* Several cameras live under /NAME/; a single one at / as well. */
	if (srv.ncameras > 1)
		TAILQ_FOREACH(cam, &srv.cameras, c_entry)
			snprintf(cam->c_prefix, sizeof(cam->c_prefix), "/%s",
			    cam->c_name);

	sigint_ev = evsignal_new(srv.base, SIGINT, server_signal_cb, &srv);
	sigterm_ev = evsignal_new(srv.base, SIGTERM, server_signal_cb, &srv);
	if (sigint_ev == NULL || sigterm_ev == NULL ||
	    event_add(sigint_ev, NULL) == -1 ||
	    event_add(sigterm_ev, NULL) == -1)
		fatalx("signal events failed");

	if (service_init(&svc, srv.base, server_status, &srv) != 0)
		fatalx("service manager notification events: out of memory");
	if ((rc = auth_setup(srv.auth, srv.base)) != 0)
		fatalx("auth: eventfd: %s", strerror(-rc));

	/* Set up: from here on the server only serves (common/sandbox.h). */
	if (!srv.opt.no_sandbox) {
		if ((rc = sandbox_apply(SANDBOX_SERVER)) != 0)
			fatalx("sandbox: %s", strerror(-rc));
		log_info("sandbox: system call filter on");
	}
	/* The hashing thread after the filter, so that it runs under it
	 * whatever the kernel lets sandbox_apply() do to running threads. */
	if ((rc = auth_start(srv.auth)) != 0)
		fatalx("auth: thread: %s", strerror(-rc));
	/* READY=1 once it accepts: when every camera has a frame to answer
	 * with, or at the latest after a moment (listen_hold()). */
	srv.svc = &svc;
	TAILQ_FOREACH(cam, &srv.cameras, c_entry)
		camera_start(cam);
	listen_hold(&srv);
	event_base_dispatch(srv.base);
	service_stopping(&svc);
	service_free(&svc);

	/*
	 * The order matters.  Stream clients first: their connections are
	 * ours, not evhttp's.  Then evhttp's connections and the listeners,
	 * and each camera's link and events.  Closed connections may still
	 * hold frame references in their output buffers (a frame partly
	 * sent to a slow client, an unflushed snapshot): libevent frees a
	 * bufferevent through a deferred finalizer, which event_base_free()
	 * runs.  Only after it are the frames and their cameras freed.
	 */
	TAILQ_FOREACH(cam, &srv.cameras, c_entry)
		stream_close_all(cam);
	evhttp_free(srv.http);
	listen_free(&srv);
	auth_free(srv.auth);
	TAILQ_FOREACH(cam, &srv.cameras, c_entry)
		camera_stop(cam);
	event_free(sigint_ev);
	event_free(sigterm_ev);
	event_base_free(srv.base);
	while ((cam = TAILQ_FIRST(&srv.cameras)) != NULL) {
		TAILQ_REMOVE(&srv.cameras, cam, c_entry);
		camera_free(cam);
	}
	opt_cameras_free(&cams);
	free(srv.opt.listen);
	free(srv.opt.auth_exempt);
	return 0;
}
