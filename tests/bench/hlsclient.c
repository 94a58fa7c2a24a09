/*
 * hlsclient - many lightweight LL-HLS clients in one process (epoll), for
 * the scale test and benchmarks: each follows a live media playlist the
 * way hls.js does in low-latency mode, on one keep-alive HTTP/1.1
 * connection of its own:
 *
 *   1. the playlist, plainly;
 *   2. the part its EXT-X-PRELOAD-HINT names, asked for before it exists
 *      (the server, or the cache in front of it, holds the request until
 *      the part is published);
 *   3. the playlist with _HLS_msn and _HLS_part naming that part (a
 *      blocking reload, answered at once since the part is there), for
 *      the next hint; back to 2.  Without a hint (the stream broke off),
 *      a blocking reload for the part after the newest.
 *
 *   hlsclient -u URL [-u URL ...] -n N -d SECONDS [--warmup S]
 *             [--ramp S] [--per-client]
 *
 * Client i uses the (i mod k)-th of k URLs, so one run spreads its clients
 * over several caches.  URLs are http://ADDR:PORT/PATH with ADDR 127.0.0.1
 * or in 198.18.0.0/15 (the network namespaces the tests make), never
 * anything else.  --ramp starts the clients evenly over S seconds.
 *
 * For every part: its bytes, and its latency, the time from the capture
 * of its first frame (the prft box shmcam writes in front of its moof:
 * the capture's CLOCK_REALTIME) to the arrival of its last byte; the
 * part's end is its first frame plus its duration (from the next
 * playlist), so "latency_end" is what a player that shows a part as soon
 * as it has it can achieve.  A stall is a gap of more than STALL_S
 * between two parts of one client.  Errors are HTTP statuses other than
 * 200 (counted by status; a client then starts again at 1) and broken
 * responses (it reconnects).  One JSON object on stdout at the end.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "bench/clientutil.h"

#define URLS_MAX	8
#define HEAD_MAX	8192
#define PLAYLIST_MAX	(256 * 1024)
#define URI_MAX		256
#define STALL_S		1.0	/* three parts of a third of a second */
#define PENDING_PARTS	8	/* parts waiting for their duration */

struct target {
	struct sockaddr_in addr;
	char		 host[64];
	char		 dir[URI_MAX];		/* path up to its last '/' */
	char		 playlist[URI_MAX];	/* last component */
};

enum what {
	W_PLAYLIST,	/* plain */
	W_RELOAD,	/* with _HLS_msn and _HLS_part */
	W_PART,
};

struct pending {		/* a part that arrived, waiting for its
				 * duration in a playlist */
	char		 uri[URI_MAX];
	uint64_t	 capture_ns;
	uint64_t	 arrival_ns;
};

struct client {
	int		 fd;
	int		 connected;
	const struct target *t;
	enum what	 what;
	char		 uri[URI_MAX];		/* part asked for */
	double		 retry_at;		/* reconnect not before */
	double		 last_part;		/* arrival, monotonic */
	/* the response */
	char		 head[HEAD_MAX];
	size_t		 headlen;
	int		 in_body;
	int		 status;
	size_t		 clen;
	int		 close_after;
	unsigned char	*body;
	size_t		 bodylen, bodycap;
	/* the stream */
	uint64_t	 next_msn;
	uint64_t	 next_part;
	char		 hint[URI_MAX];
	struct pending	 pend[PENDING_PARTS];
	unsigned	 npend;
	/* results, after the warm-up */
	uint64_t	 parts, bytes, requests, playlists, stalls;
	uint64_t	 reconnects;
	uint64_t	 status_count[6];	/* 2xx .. 5xx, other */
	double		 max_gap;
	struct samples	 lat, lat_end;
	char		 error[160];
};

static struct target targets[URLS_MAX];
static int ntargets;
static int epfd;
static double t_warm;

static int
counted(void)
{
	return now_mono() >= t_warm;
}

static void __attribute__((format(printf, 2, 3)))
client_note(struct client *c, const char *fmt, ...)
{
	va_list ap;

	if (c->error[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
}

static void
client_close(struct client *c)
{
	if (c->fd != -1) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->connected = 0;
}

static int
client_connect(struct client *c)
{
	c->fd = client_socket(epfd, &c->t->addr, 0, c);
	return c->fd == -1 ? -1 : 0;
}

/* Sends the request of c->what; 0, or -1 if the connection failed. */
static int
client_request(struct client *c)
{
	char req[1024], path[2 * URI_MAX + 64];
	struct epoll_event ev;
	int n;

	switch (c->what) {
	case W_PLAYLIST:
		snprintf(path, sizeof(path), "%s%s", c->t->dir, c->t->playlist);
		break;
	case W_RELOAD:
		snprintf(path, sizeof(path), "%s%s?_HLS_msn=%llu&_HLS_part=%llu",
		    c->t->dir, c->t->playlist,
		    (unsigned long long)c->next_msn,
		    (unsigned long long)c->next_part);
		break;
	case W_PART:
		snprintf(path, sizeof(path), "%s%s", c->t->dir, c->uri);
		break;
	}
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: shmcam-hlsclient\r\n\r\n", path, c->t->host);
	c->headlen = 0;
	c->in_body = 0;
	c->bodylen = 0;
	if (send(c->fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		return -1;
	if (counted())
		c->requests++;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = c;
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
	return 0;
}

/* Starts c again from a plain playlist request, on a new connection if
 * it lost its own. */
static void
client_restart(struct client *c, enum what w)
{
	c->what = w;
	if (c->fd == -1) {
		if (now_mono() < c->retry_at)
			return;		/* the loop tries again */
		/* A server that went away is asked again in 0.2 s, not in
		 * a busy loop of five hundred clients. */
		c->retry_at = now_mono() + 0.2;
		if (counted())
			c->reconnects++;
		if (client_connect(c) != 0) {
			client_note(c, "connect: %s", strerror(errno));
			client_close(c);
		}
		return;
	}
	if (client_request(c) != 0) {
		client_close(c);
		client_restart(c, w);
	}
}

/* ------------------------------------------------------------ playlists */

/* The value of ATTR="..." in line, into out; 0 or -1. */
static int
attr_quoted(const char *line, const char *attr, char *out, size_t size)
{
	const char *p = strstr(line, attr), *q;

	if (p == NULL || p[strlen(attr)] != '=' || p[strlen(attr) + 1] != '"')
		return -1;
	p += strlen(attr) + 2;
	q = strchr(p, '"');
	if (q == NULL || (size_t)(q - p) >= size)
		return -1;
	memcpy(out, p, (size_t)(q - p));
	out[q - p] = '\0';
	return 0;
}

/*
 * What a playlist says: the part to ask for next (the hint, and the
 * numbers naming it in a blocking reload), and the durations of the
 * parts that arrived before.  -1 if it does not parse.
 */
static int
client_playlist(struct client *c, char *text)
{
	uint64_t msn = 0, seg = 0, nparts = 0, last_msn = 0, last_part = 0;
	int have_part = 0, in_progress = 0;
	char *line, *save = NULL, uri[URI_MAX];
	unsigned i;

	c->hint[0] = '\0';
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "#EXT-X-MEDIA-SEQUENCE:", 22) == 0) {
			msn = strtoull(line + 22, NULL, 10);
			seg = msn;
		} else if (strncmp(line, "#EXT-X-PART:", 12) == 0) {
			if (attr_quoted(line, "URI", uri, sizeof(uri)) != 0)
				return -1;
			last_msn = seg;
			last_part = nparts++;
			have_part = in_progress = 1;
			/* A part that arrived: now its duration is known. */
			for (i = 0; i < c->npend; i++) {
				const char *d = strstr(line, "DURATION=");
				struct pending *p = &c->pend[i];

				if (d == NULL || strcmp(p->uri, uri) != 0)
					continue;
				samples_add(&c->lat_end, ((double)p->arrival_ns -
				    (double)p->capture_ns) / 1e9 -
				    strtod(d + 9, NULL));
				c->pend[i] = c->pend[--c->npend];
				break;
			}
		} else if (line[0] != '#' && line[0] != '\0') {
			seg++;		/* a segment's URI ends it */
			nparts = 0;
			in_progress = 0;
		} else if (strncmp(line, "#EXT-X-PRELOAD-HINT:", 20) == 0) {
			if (attr_quoted(line, "URI", c->hint,
			    sizeof(c->hint)) != 0)
				return -1;
		}
	}
	if (seg == 0 && msn == 0)
		return -1;
	/* Without a hint: the part after the newest, by number. */
	if (in_progress && have_part) {
		c->next_msn = last_msn;
		c->next_part = last_part + 1;
	} else {
		c->next_msn = seg;
		c->next_part = 0;
	}
	return 0;
}

/* ----------------------------------------------------------- responses */

static void
response_done(struct client *c)
{
	double t = now_mono();
	int count = counted();
	unsigned cls = c->status >= 200 && c->status < 600 ?
	    (unsigned)(c->status / 100 - 2) : 4;

	if (count)
		c->status_count[cls < 4 ? cls : 5]++;
	if (c->status != 200) {
		client_note(c, "HTTP %d for %s", c->status, c->what == W_PART ?
		    c->uri : "the playlist");
		if (c->close_after)
			client_close(c);
		client_restart(c, W_PLAYLIST);
		return;
	}
	if (c->what == W_PART) {
		uint64_t cap = prft_capture_ns(c->body, c->bodylen);
		uint64_t now = now_real_ns();

		if (cap == 0)
			client_note(c, "part %s without a prft", c->uri);
		else if (count) {
			struct pending *p = &c->pend[c->npend < PENDING_PARTS ?
			    c->npend++ : PENDING_PARTS - 1];

			samples_add(&c->lat, ((double)now - (double)cap) / 1e9);
			snprintf(p->uri, sizeof(p->uri), "%s", c->uri);
			p->capture_ns = cap;
			p->arrival_ns = now;
		}
		if (count) {
			c->parts++;
			if (c->last_part > 0 && t - c->last_part > STALL_S)
				c->stalls++;
			if (c->last_part > 0 && t - c->last_part > c->max_gap)
				c->max_gap = t - c->last_part;
		}
		c->last_part = t;
		/* The playlist that names it, for the next hint. */
		c->what = W_RELOAD;
	} else {
		if (count)
			c->playlists++;
		c->body[c->bodylen] = '\0';
		if (client_playlist(c, (char *)c->body) != 0) {
			client_note(c, "a playlist that does not parse");
			c->what = W_PLAYLIST;
		} else if (c->hint[0] != '\0') {
			snprintf(c->uri, sizeof(c->uri), "%s", c->hint);
			c->what = W_PART;
		} else
			c->what = W_RELOAD;
	}
	if (c->close_after) {
		client_close(c);
		client_restart(c, c->what);
		return;
	}
	if (client_request(c) != 0) {
		client_close(c);
		client_restart(c, c->what);
	}
}

/* The response head is in c->head: status, length, connection. */
static int
parse_head(struct client *c)
{
	char *line, *save = NULL;

	c->status = 0;
	c->clen = 0;
	c->close_after = 0;
	c->head[c->headlen] = '\0';
	line = strtok_r(c->head, "\r\n", &save);
	if (line == NULL || sscanf(line, "HTTP/1.%*d %d", &c->status) != 1)
		return -1;
	while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
		if (strncasecmp(line, "Content-Length:", 15) == 0)
			c->clen = strtoull(line + 15, NULL, 10);
		else if (strncasecmp(line, "Connection:", 11) == 0 &&
		    strcasestr(line + 11, "close") != NULL)
			c->close_after = 1;
		else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0)
			return -1;	/* not from shmcam nor our nginx */
	}
	if (c->clen > 64u << 20)
		return -1;
	if (c->clen + 1 > c->bodycap) {
		c->bodycap = c->clen + 1 > 65536 ? c->clen + 1 : 65536;
		c->body = realloc(c->body, c->bodycap);
		if (c->body == NULL) {
			perror("realloc");
			exit(1);
		}
	}
	return 0;
}

static void
client_readable(struct client *c)
{
	static unsigned char buf[256 * 1024];
	ssize_t n;

	for (;;) {
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			client_note(c, "connection lost: %s", n == 0 ?
			    "closed" : strerror(errno));
			client_close(c);
			client_restart(c, W_PLAYLIST);
			return;
		}
		if (n < 0)
			return;
		if (counted())
			c->bytes += (size_t)n;
		for (size_t off = 0; off < (size_t)n;) {
			if (!c->in_body) {
				char *end;

				if (c->headlen + 1 >= sizeof(c->head)) {
					client_note(c, "response head too big");
					client_close(c);
					client_restart(c, W_PLAYLIST);
					return;
				}
				c->head[c->headlen++] = (char)buf[off++];
				c->head[c->headlen] = '\0';
				end = c->headlen >= 4 ? c->head + c->headlen -
				    4 : NULL;
				if (end == NULL || memcmp(end, "\r\n\r\n", 4) != 0)
					continue;
				if (parse_head(c) != 0) {
					client_note(c, "a response that does not "
					    "parse");
					client_close(c);
					client_restart(c, W_PLAYLIST);
					return;
				}
				c->in_body = 1;
				c->bodylen = 0;
			} else {
				size_t k = c->clen - c->bodylen;

				if (k > (size_t)n - off)
					k = (size_t)n - off;
				memcpy(c->body + c->bodylen, buf + off, k);
				c->bodylen += k;
				off += k;
			}
			if (c->in_body && c->bodylen == c->clen) {
				if (off != (size_t)n) {
					client_note(c, "bytes after a response");
					client_close(c);
					client_restart(c, W_PLAYLIST);
					return;
				}
				response_done(c);
				return;
			}
		}
	}
}

static void
client_writable(struct client *c)
{
	int err = client_connect_error(c->fd);

	if (err != 0) {
		client_note(c, "connect: %s", strerror(err));
		client_close(c);
		return;		/* the tick tries again */
	}
	c->connected = 1;
	if (client_request(c) != 0) {
		client_close(c);
		client_restart(c, c->what);
	}
}

/* -------------------------------------------------------------- setup */

/* http://ADDR:PORT/PATH with ADDR loopback or in 198.18.0.0/15. */
static int
target_parse(const char *url, struct target *t)
{
	char host[64];
	const char *p;
	uint32_t a;
	int port;

	memset(t, 0, sizeof(*t));
	if (sscanf(url, "http://%63[0-9.]:%d", host, &port) != 2 ||
	    port <= 0 || port > 65535)
		return -1;
	t->addr.sin_family = AF_INET;
	t->addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &t->addr.sin_addr) != 1)
		return -1;
	a = ntohl(t->addr.sin_addr.s_addr);
	if (a != 0x7f000001u && (a & 0xfffe0000u) != 0xc6120000u)
		return -1;
	snprintf(t->host, sizeof(t->host), "%s:%d", host, port);
	p = strchr(url + 7, '/');
	if (p == NULL || strlen(p) >= sizeof(t->dir))
		return -1;
	snprintf(t->dir, sizeof(t->dir), "%.*s", (int)(strrchr(p, '/') - p +
	    1), p);
	snprintf(t->playlist, sizeof(t->playlist), "%s", strrchr(p, '/') + 1);
	return t->playlist[0] != '\0' ? 0 : -1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: hlsclient -u http://ADDR:PORT/PATH/hls.m3u8 "
	    "[-u URL ...] -n N -d SECONDS\n"
	    "                 [--warmup S] [--ramp S] [--per-client]\n");
	exit(2);
}

static void
report(struct client *cl, int n, double duration, int per_client)
{
	struct samples lat = { 0 }, lat_end = { 0 }, parts = { 0 };
	uint64_t tot[6] = { 0 }, bytes = 0, requests = 0, playlists = 0;
	uint64_t stalls = 0, nparts = 0, reconnects = 0;
	double max_gap = 0;
	int errors = 0, i, k;
	size_t j;

	for (i = 0; i < n; i++) {
		struct client *c = &cl[i];

		for (j = 0; j < c->lat.n; j++)
			samples_add(&lat, c->lat.v[j]);
		for (j = 0; j < c->lat_end.n; j++)
			samples_add(&lat_end, c->lat_end.v[j]);
		samples_add(&parts, (double)c->parts / duration);
		for (k = 0; k < 6; k++)
			tot[k] += c->status_count[k];
		bytes += c->bytes;
		requests += c->requests;
		playlists += c->playlists;
		stalls += c->stalls;
		nparts += c->parts;
		reconnects += c->reconnects;
		errors += c->error[0] != '\0';
		if (c->max_gap > max_gap)
			max_gap = c->max_gap;
	}
	printf("{\"clients\":%d,\"targets\":%d,\"duration\":%.3f,"
	    "\"parts\":%llu,\"playlists\":%llu,\"requests\":%llu,"
	    "\"bytes\":%llu,\"mbytes_per_s\":%.3f,\"reconnects\":%llu,"
	    "\"status\":{\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,\"5xx\":%llu,"
	    "\"other\":%llu},\"clients_with_errors\":%d,\"stalls\":%llu,"
	    "\"max_gap\":%.3f,", n, ntargets, duration,
	    (unsigned long long)nparts, (unsigned long long)playlists,
	    (unsigned long long)requests, (unsigned long long)bytes,
	    (double)bytes / duration / 1e6, (unsigned long long)reconnects,
	    (unsigned long long)tot[0], (unsigned long long)tot[1],
	    (unsigned long long)tot[2], (unsigned long long)tot[3],
	    (unsigned long long)(tot[4] + tot[5]), errors,
	    (unsigned long long)stalls, max_gap);
	printf("\"parts_per_s_min\":%.3f,\"parts_per_s_median\":%.3f,"
	    "\"latency_p50\":%.4f,\"latency_p90\":%.4f,\"latency_p99\":%.4f,"
	    "\"latency_max\":%.4f,\"latency_end_p50\":%.4f,"
	    "\"latency_end_p99\":%.4f", pct(parts.v, parts.n, 0),
	    pct(parts.v, parts.n, 50),
	    lat.n ? pct(lat.v, lat.n, 50) : -1,
	    lat.n ? pct(lat.v, lat.n, 90) : -1,
	    lat.n ? pct(lat.v, lat.n, 99) : -1,
	    lat.n ? pct(lat.v, lat.n, 100) : -1,
	    lat_end.n ? pct(lat_end.v, lat_end.n, 50) : -1,
	    lat_end.n ? pct(lat_end.v, lat_end.n, 99) : -1);
	printf(",\"errors\":[");
	for (i = 0, k = 0; i < n; i++)
		if (cl[i].error[0] != '\0' && k < 20)
			printf("%s\"%s\"", k++ ? "," : "", cl[i].error);
	printf("]");
	if (per_client) {
		printf(",\"per_client\":[");
		for (i = 0; i < n; i++)
			printf("%s{\"parts\":%llu,\"stalls\":%llu,"
			    "\"latency_p50\":%.4f}", i ? "," : "",
			    (unsigned long long)cl[i].parts,
			    (unsigned long long)cl[i].stalls,
			    cl[i].lat.n ? pct(cl[i].lat.v, cl[i].lat.n, 50) :
			    -1);
		printf("]");
	}
	printf("}\n");
	free(lat.v);
	free(lat_end.v);
	free(parts.v);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "clients", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "ramp", required_argument, NULL, 'r' },
		{ "per-client", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct epoll_event evs[512];
	struct client *cl;
	double duration = 5, warmup = 1, ramp = 0, t0, t;
	int n = 1, per_client = 0, started = 0, ch, i;

	while ((ch = getopt_long(argc, argv, "u:n:d:", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'u':
			if (ntargets == URLS_MAX ||
			    target_parse(optarg, &targets[ntargets]) != 0) {
				fprintf(stderr, "hlsclient: %s: not an URL of "
				    "127.0.0.1 or 198.18.0.0/15 (at most %d)\n",
				    optarg, URLS_MAX);
				return 2;
			}
			ntargets++;
			break;
		case 'n': n = atoi(optarg); break;
		case 'd': duration = atof(optarg); break;
		case 'w': warmup = atof(optarg); break;
		case 'r': ramp = atof(optarg); break;
		case 'p': per_client = 1; break;
		default: usage();
		}
	}
	if (ntargets == 0 || n < 1 || duration <= 0 || ramp < 0)
		usage();
	epfd = clients_epoll();
	cl = calloc((size_t)n, sizeof(*cl));
	if (cl == NULL) {
		perror("calloc");
		return 1;
	}
	t0 = now_mono();
	t_warm = t0 + ramp + warmup;
	for (;;) {
		t = now_mono();
		if (t >= t_warm + duration)
			break;
		/* Start the clients due by now (all at once without --ramp);
		 * reconnect those that lost their connection. */
		while (started < n && (ramp == 0 || t - t0 >= ramp *
		    started / n)) {
			struct client *c = &cl[started];

			c->fd = -1;
			c->t = &targets[started % ntargets];
			client_restart(c, W_PLAYLIST);
			started++;
		}
		for (i = 0; i < started; i++)
			if (cl[i].fd == -1)
				client_restart(&cl[i], W_PLAYLIST);
		int k = epoll_wait(epfd, evs, 512, 20);
		for (i = 0; i < k; i++) {
			struct client *c = evs[i].data.ptr;

			if (c->fd == -1)
				continue;
			if (!c->connected && (evs[i].events & (EPOLLOUT |
			    EPOLLERR | EPOLLHUP)))
				client_writable(c);
			else if (evs[i].events & (EPOLLIN | EPOLLERR |
			    EPOLLHUP))
				client_readable(c);
		}
	}
	report(cl, n, duration, per_client);
	for (i = 0; i < n; i++) {
		client_close(&cl[i]);
		free(cl[i].body);
		free(cl[i].lat.v);
		free(cl[i].lat_end.v);
	}
	free(cl);
	return 0;
}
