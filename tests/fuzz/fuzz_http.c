/*
 * fuzz_http.c - the server's HTTP request layer, through the real
 * libevent path, against arbitrary request bytes.
 *
 * One real server object for the whole run: the real evhttp set up by
 * http_setup(), listening through listen_setup() on a unix socket, two
 * cameras whose captures are nowhere (they serve the "camera offline"
 * picture, as a real server does while it waits), HTTP Basic auth for
 * user "u" with password "p", /metrics exempt.  Each input is one client
 * connection:
 *
 *   byte 0   bit 0: auth on         bit 1: --trust-proxy (X-Forwarded-For)
 *            bit 2: --allow-origin  bit 3: one camera (served at / too)
 *            bit 4: half-close after the request
 *            bit 5: --max-clients reached (503)
 *            bits 6-7: the request arrives in 1, 2, 3 or 7 pieces, the
 *            loop running in between (partial request lines and heads)
 *   the rest the bytes the client sends: one request, several
 *   (pipelined), or garbage.
 *
 * The loop runs until the server has nothing left to do, the client
 * closes, and the loop runs again until the connection is gone.  Then:
 *   - no descriptor is left open and no stream client or request
 *     deadline is left over (nothing leaked, nothing stuck);
 *   - whatever came back starts as an HTTP response ("HTTP/");
 *   - with auth on, no 200 came back unless the input carried the right
 *     credentials ("dTpw" is base64 of "u:p") or asked for /metrics.
 * AddressSanitizer and UBSan watch every byte on the way.
 * FUZZ_HTTP_TRACE=1 in the environment prints what came back.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>

#include "fuzzutil.h"
#include "log.h"
#include "server.h"

static struct server srv;
static struct auth *auth;
static struct camera *cams[2];
static char sock_path[108];
static int base_fds;
static const char *exempt[] = { "/metrics" };

static void
cleanup(void)
{
	unlink(sock_path);
}

static void
setup(void)
{
	struct listen_spec *ls;
	unsigned i;

	log_init("fuzz_http");
	log_set_verbose(-1);
	signal(SIGPIPE, SIG_IGN);	/* as main.c does */
	server_init(&srv);
	srv.opt.unix_mode = 0600;
	srv.opt.auth_exempt = exempt;
	srv.opt.nauth_exempt = 1;

	snprintf(sock_path, sizeof(sock_path), "/tmp/fuzz_http-%d.sock",
	    (int)getpid());
	ls = calloc(1, sizeof(*ls));
	if (ls == NULL)
		abort();
	ls->ls_unix = 1;
	snprintf(ls->ls_path, sizeof(ls->ls_path), "%s", sock_path);
	srv.opt.listen = ls;
	srv.opt.nlisten = 1;
	atexit(cleanup);

	if (auth_new(&auth) != 0 || auth_add(auth, "u", "p") != 0)
		abort();
	if ((srv.base = event_base_new()) == NULL || http_setup(&srv) != 0)
		abort();
	listen_setup(&srv);
	cams[0] = camera_new(&srv, "cam", "/nonexistent/fuzz_http.sock");
	cams[1] = camera_new(&srv, "b-2", "/nonexistent/fuzz_http.sock");
	for (i = 0; i < 2; i++) {
		if (cams[i] == NULL)
			abort();
		TAILQ_INSERT_TAIL(&srv.cameras, cams[i], c_entry);
		srv.ncameras++;
		/* The connect fails and the offline picture becomes the
		 * newest frame; no retries or ticks during the run. */
		camera_start(cams[i]);
		evtimer_del(cams[i]->c_at.at_retry_ev);
		event_del(cams[i]->c_tick_ev);
		if (cams[i]->c_latest == NULL)
			abort();
	}
	base_fds = fuzz_count_fds();
}

/* Per input: the options the flags ask for. */
static void
configure(uint8_t flags)
{
	struct camera *cam;

	srv.auth = (flags & 1) ? auth : NULL;
	/* Each input from scratch: an earlier one's failures do not
	 * throttle this one's credentials. */
	auth_throttle_forget(auth);
	srv.opt.trust_proxy = (flags & 2) != 0;
	srv.opt.allow_origin = (flags & 4) ? "*" : NULL;
	srv.opt.max_clients = (flags & 32) ? 0 : 100;
	/* One camera or two, as main.c sets them up. */
	while ((cam = TAILQ_FIRST(&srv.cameras)) != NULL)
		TAILQ_REMOVE(&srv.cameras, cam, c_entry);
	TAILQ_INSERT_TAIL(&srv.cameras, cams[0], c_entry);
	srv.ncameras = 1;
	cams[0]->c_prefix[0] = '\0';
	if (!(flags & 8)) {
		TAILQ_INSERT_TAIL(&srv.cameras, cams[1], c_entry);
		srv.ncameras = 2;
		snprintf(cams[0]->c_prefix, sizeof(cams[0]->c_prefix), "/cam");
		snprintf(cams[1]->c_prefix, sizeof(cams[1]->c_prefix), "/b-2");
	}
}

static uint8_t reply[65536];
static size_t reply_len;

/* Runs the loop once and takes what the server sent; 1 on progress. */
static int
turn(int fd, int *eof)
{
	uint8_t buf[16384];
	ssize_t n;
	int progress = 0;

	event_base_loop(srv.base, EVLOOP_NONBLOCK);
	while (fd != -1 && !*eof) {
		n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			size_t keep = sizeof(reply) - reply_len;

			if ((size_t)n < keep)
				keep = (size_t)n;
			memcpy(reply + reply_len, buf, keep);
			reply_len += keep;
			progress = 1;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			*eof = 1;
			progress = 1;
		} else
			break;
	}
	return progress;
}

static int
idle(void)
{
	return srv.nstreams == 0 && srv.nguards == 0 &&
	    fuzz_count_fds() == base_fds;
}

/* 1 if reply holds a "HTTP/x.y 200" status line. */
static int
reply_has_200(void)
{
	size_t i;

	for (i = 0; i + 12 <= reply_len; i++)
		if ((i == 0 || reply[i - 1] == '\n') &&
		    memcmp(reply + i, "HTTP/", 5) == 0 &&
		    memcmp(reply + i + 8, " 200", 4) == 0)
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned npieces[] = { 1, 2, 3, 7 };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t off, len, piece;
	unsigned p, n, i;
	ssize_t w;
	int fd, eof = 0;

	if (srv.base == NULL)
		setup();
	if (size < 1 || size > 32768)
		return 0;
	configure(data[0]);
	data++;
	size--;
	reply_len = 0;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		abort();
	memcpy(sun.sun_path, sock_path, strlen(sock_path));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		abort();

	n = npieces[data[-1] >> 6];
	piece = size / n + 1;
	for (p = 0, off = 0; p < n && off < size; p++) {
		len = size - off < piece ? size - off : piece;
		while (len > 0) {
			w = write(fd, data + off, len);
			if (w > 0) {
				off += (size_t)w;
				len -= (size_t)w;
			} else if (w == -1 && errno == EAGAIN) {
				if (!turn(fd, &eof) && eof)
					break;
			} else
				goto sent;	/* the server closed on us */
		}
		for (i = 0; i < 4 && turn(fd, &eof); i++)
			;
	}
sent:
	if (data[-1] & 16)
		shutdown(fd, SHUT_WR);
	/* Until the server has answered all it will. */
	for (i = 0; i < 64 && (turn(fd, &eof) || i < 2); i++)
		;
	close(fd);
	for (i = 0; i < 1000 && !idle(); i++)
		turn(-1, &eof);
	if (!idle()) {
		fprintf(stderr, "fuzz_http: not idle after the client left: "
		    "%u streams, %u deadlines, %d descriptors (%d before)\n",
		    srv.nstreams, srv.nguards, fuzz_count_fds(), base_fds);
		fuzz_list_fds();
		abort();
	}

	/* FUZZ_HTTP_TRACE=1: what came back, to study an input. */
	if (getenv("FUZZ_HTTP_TRACE") != NULL)
		fprintf(stderr, "--- %zu bytes back:\n%.*s\n---\n", reply_len,
		    (int)(reply_len < 2048 ? reply_len : 2048), reply);
	/* evhttp answers in the request's version, "HTTP/0.1" included. */
	if (reply_len > 0 && (reply_len < 5 || memcmp(reply, "HTTP/", 5)))
		abort();
	if (srv.auth != NULL && reply_has_200() &&
	    memmem(data, size, "dTpw", 4) == NULL &&
	    memmem(data, size, "/metrics", 8) == NULL) {
		fprintf(stderr, "fuzz_http: 200 without credentials\n");
		abort();
	}
	return 0;
}
