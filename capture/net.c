/*
 * net.c - a camera over HTTP as a source (see source.h): an MJPEG stream
 * (multipart/x-mixed-replace: an ESP32-CAM, IP cameras, mjpg-streamer,
 * ustreamer, another shmcam) or JPEG snapshots fetched at --fps.
 *
 * Everything happens on the capture's event loop and nothing blocks:
 * name resolution with libevent's evdns (its configuration, resolv.conf
 * and /etc/hosts, read once by attach(), before the sandbox), the
 * connection and the bytes through a bufferevent (TLS through
 * libevent_openssl when built with it), what the bytes mean through the
 * pure, fuzzed parsers: httpresp.h (the response head and the chunked
 * coding), multipart.h (the parts of a stream), httpauth.h (401s),
 * url.h (redirects).  httpresp.h says why not evhttp's client.
 *
 * One connection at a time, one request in flight at most.  Whatever
 * goes wrong (the name does not resolve, every address refuses, no
 * answer or no frame within --source-timeout, the camera closes, sends
 * something that is not a stream, a frame beyond NET_FRAME_MAX, a 401
 * the credentials cannot answer, too many redirects) closes everything
 * and reports through sink->failed() with the reason: the capture then
 * treats the camera like an unplugged one (placeholders, offline with
 * the reason, reopening with backoff).  A frame is handed over as it
 * came; the capture checks and repairs it like a V4L2 camera's.
 *
 * Credentials (from the URL or --credentials) go only to the origin of
 * --source (scheme, host and port): a redirect elsewhere gets none.
 * They appear in no log line and no description (url_describe()).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <linux/videodev2.h>

#ifdef SHMCAM_TLS
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#endif

#include "httpauth.h"
#include "httpresp.h"
#include "log.h"
#include "multipart.h"
#include "opt.h"
#include "source.h"

/*
 * A camera's JPEG beyond this is not a frame: 4K at quality 100 is about
 * 6 MB.  A part or snapshot announced bigger is refused at its header,
 * one without a length when this many bytes came without its end.
 */
#define NET_FRAME_MAX		(16u << 20)
#define NET_HEAD_MAX		16384	/* the response head */
#define NET_HEAD_LINES		100
#define NET_PART_HEAD_MAX	4096	/* a part's header block */
#define NET_PART_HEADERS	64
#define NET_REDIRECTS_MAX	5
#define NET_AUTH_TRIES		2	/* answers to 401 per open() */
/* Bytes read per callback: a fast upstream gets a turn of the loop,
 * not the loop. */
#define NET_READ_MAX		(256u << 10)
/*
 * An X-Timestamp further than this from our clock is not a wall clock
 * (an ESP32-CAM sends its time since boot): frames are then stamped
 * when they arrive.
 */
#define NET_TS_WINDOW_NS	(60ull * 1000000000u)
#define NET_SNAPSHOT_FPS_MILLI	1000	/* without --fps */

enum net_state {
	NS_IDLE,		/* nothing open */
	NS_RESOLVING,
	NS_CONNECTING,		/* TCP, and TLS's handshake */
	NS_HEAD,		/* request sent, reading the response head */
	NS_BODY,
	NS_WAIT,		/* snapshots: until the next request */
};

enum net_mode {
	NM_UNKNOWN,		/* no 200 yet */
	NM_STREAM,		/* multipart/x-mixed-replace */
	NM_SNAPSHOT,		/* one JPEG per response */
	NM_SNIFF,		/* no useful Content-Type: the body tells */
};

enum net_framing {
	NF_CLOSE,		/* the body ends with the connection */
	NF_LENGTH,		/* Content-Length */
	NF_CHUNKED,
};

struct netsrc;

/* One name lookup; it may outlive the source's interest in it (see
 * net_lookup_cb()). */
struct net_lookup {
	struct netsrc	*nl_ns;		/* NULL: abandoned */
};

struct netsrc {
	struct source	*src;
	struct event_base *base;
	struct evdns_base *dns;		/* NULL: --source names an address */
	struct source_sink sink;
	struct url	 origin;	/* --source, credentials included */
	struct url	 url;		/* where this request goes */
	char		 desc[URL_HOST_MAX + 64];	/* of url, for logs */
	uint32_t	 timeout_ms;
	uint32_t	 fps_milli;	/* snapshots' rate */
	int		 fps_given;

	/* per open(): redirects and authentication */
	unsigned	 redirects;
	unsigned	 auth_tries;
	int		 creds;		/* url is the origin: credentials go */
	struct http_auth auth;
	int		 auth_ready;	/* a challenge to answer */
	uint32_t	 nc;		/* requests made with auth's nonce */
	int		 sent_auth;	/* this request carried credentials */

	/* the connection */
	enum net_state	 state;
	uint64_t	 gen;		/* changes when the connection goes */
	struct net_lookup *lookup;
	struct evutil_addrinfo *ai;	/* the lookup's answer */
	struct evutil_addrinfo *ai_next;	/* the address to try next */
	struct sockaddr_storage addr;	/* the last connection's */
	ev_socklen_t	 addrlen;	/* 0: none */
	char		 conn_why[128];	/* why the last address failed */
	struct bufferevent *bev;
	int		 tls_up;	/* bev is TLS over the TCP connection */
	int		 reused;	/* this request on a kept connection */
	struct event	*timer;		/* the deadline of what we wait for */
	struct event	*start_ev;	/* open() starts from the loop */
	struct event	*poll_ev;	/* the next snapshot */
	uint64_t	 req_mono_ns;	/* when this request went out */

	/* the response */
	struct http_head_parser hp;
	struct http_chunked ch;
	enum net_framing framing;
	uint64_t	 body_left;	/* NF_LENGTH */
	enum net_mode	 mode;
	struct multipart mp;
	uint8_t		*snap;		/* a snapshot's body */
	size_t		 snaplen;
	size_t		 snapcap;
	int		 ts_logged;
	uint64_t	 parts;		/* frames handed over, this open */
#ifdef SHMCAM_TLS
	SSL_CTX		*ssl_ctx;
#endif
};

static void	net_begin(struct netsrc *);
static void	net_connect_next(struct netsrc *);
static void	net_reconnect(struct netsrc *);
#ifdef SHMCAM_TLS
static int	net_tls_start(struct netsrc *);
#endif
static void	net_fail(struct netsrc *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

int
net_tls_available(void)
{
#ifdef SHMCAM_TLS
	return 1;
#else
	return 0;
#endif
}

/* Only printable ASCII of s, for a log line. */
static void
printable(char *out, size_t size, const char *s)
{
	size_t o = 0;

	for (; *s != '\0' && o + 1 < size; s++)
		out[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	out[o] = '\0';
}

static void
net_arm_timer(struct netsrc *ns)
{
	struct timeval tv = ms_tv(ns->timeout_ms);

	evtimer_add(ns->timer, &tv);
}

/*
 * Frees the connection (also from within its own callbacks, which
 * libevent allows: it holds a reference while calling us).  The
 * generation changes, so that a callback that called down to here
 * knows to stop.
 */
static void
net_drop_bev(struct netsrc *ns)
{
	if (ns->bev != NULL) {
		bufferevent_free(ns->bev);
		ns->bev = NULL;
	}
	ns->gen++;
}

/* Closes whatever is open; the source stays usable for open(). */
static void
net_close_conn(struct netsrc *ns)
{
	if (ns->lookup != NULL) {
		ns->lookup->nl_ns = NULL;	/* its answer is thrown away */
		ns->lookup = NULL;
	}
	if (ns->ai != NULL) {
		evutil_freeaddrinfo(ns->ai);
		ns->ai = ns->ai_next = NULL;
	}
	net_drop_bev(ns);
	if (ns->timer != NULL)
		evtimer_del(ns->timer);
	if (ns->poll_ev != NULL)
		evtimer_del(ns->poll_ev);
	if (ns->start_ev != NULL)
		event_del(ns->start_ev);
	ns->state = NS_IDLE;
}

static void
net_fail(struct netsrc *ns, const char *fmt, ...)
{
	char why[RING_TEXT_MAX * 4];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	net_close_conn(ns);
	multipart_free(&ns->mp);
	ns->sink.failed(ns->src, why, ns->sink.arg);
}

/* ----------------------------------------------------------- frames */

static void
net_deliver(struct netsrc *ns, const uint8_t *data, size_t len, uint64_t ts,
    int placeholder)
{
	struct source_frame f;
	uint64_t real = clock_ns(CLOCK_REALTIME);
	uint64_t mono = clock_ns(CLOCK_MONOTONIC);

	memset(&f, 0, sizeof(f));
	f.fourcc = V4L2_PIX_FMT_JPEG;
	f.width = ns->src->width;
	f.height = ns->src->height;
	f.data = data;
	f.length = len;
	f.flags = placeholder ? SOURCE_FRAME_PLACEHOLDER : 0;
	f.capture_real_ns = real;
	f.capture_mono_ns = mono;
	/*
	 * The origin's capture time travels on (CLOCK_REALTIME of the
	 * machine that stamped it), and our monotonic time of capture is
	 * the arrival's, moved back by as much: frame ages downstream then
	 * include the way here.
	 */
	if (ts != 0 && ts <= real + NET_TS_WINDOW_NS &&
	    ts + NET_TS_WINDOW_NS >= real) {
		f.capture_real_ns = ts;
		if (ts < real && real - ts < mono)
			f.capture_mono_ns = mono - (real - ts);
	} else if (ts != 0 && !ns->ts_logged++)
		log_info("%s: its X-Timestamp is %.0f s away from our clock "
		    "(not a wall clock: a time since boot?); frames are "
		    "stamped when they arrive", ns->desc,
		    ((double)ts - (double)real) / 1e9);
	ns->parts++;
	ns->sink.frame(ns->src, &f, ns->sink.arg);
}

/* ------------------------------------------------------------- body */

static int
net_snapshot_add(struct netsrc *ns, const uint8_t *p, size_t n)
{
	uint8_t *grown;
	size_t cap;

	if (n > NET_FRAME_MAX - ns->snaplen) {
		net_fail(ns, "a snapshot above the limit of %u bytes",
		    NET_FRAME_MAX);
		return -1;
	}
	if (ns->snaplen + n > ns->snapcap) {
		cap = ns->snapcap ? ns->snapcap : 65536;
		while (cap < ns->snaplen + n)
			cap *= 2;
		if ((grown = realloc(ns->snap, cap)) == NULL) {
			net_fail(ns, "out of memory for a snapshot");
			return -1;
		}
		ns->snap = grown;
		ns->snapcap = cap;
	}
	memcpy(ns->snap + ns->snaplen, p, n);
	ns->snaplen += n;
	return 0;
}

/* Starts parsing a stream; 0 or -1 (failed). */
static int
net_stream_start(struct netsrc *ns, const char *boundary)
{
	const struct multipart_limits lim = {
		.max_part = NET_FRAME_MAX,
		.max_head = NET_PART_HEAD_MAX,
		.max_headers = NET_PART_HEADERS,
	};

	multipart_free(&ns->mp);
	if (multipart_init(&ns->mp, boundary, &lim) != 0) {
		net_fail(ns, "a boundary longer than %d bytes",
		    MULTIPART_BOUNDARY_MAX);
		return -1;
	}
	ns->mode = NM_STREAM;
	return 0;
}

/*
 * Body bytes in p[0..n), after the transfer coding: frames of a stream,
 * or a snapshot's bytes.  0, or -1 when the source failed.
 */
static int
net_content(struct netsrc *ns, const uint8_t *p, size_t n)
{
	struct multipart_part part;
	uint64_t gen = ns->gen;
	size_t used;
	int rc;

	if (ns->mode == NM_SNIFF && n > 0) {
		/* No Content-Type to go by: a JPEG, or a multipart body? */
		if (p[0] == 0xff)
			ns->mode = NM_SNAPSHOT;
		else if (p[0] == '-' || p[0] == '\r' || p[0] == '\n') {
			if (net_stream_start(ns, NULL) != 0)
				return -1;
		} else {
			net_fail(ns, "neither a JPEG nor an MJPEG stream "
			    "(no Content-Type, and the body starts with "
			    "0x%02x)", p[0]);
			return -1;
		}
	}
	if (ns->mode == NM_SNAPSHOT)
		return net_snapshot_add(ns, p, n);
	while (n > 0) {
		rc = multipart_feed(&ns->mp, p, n, &used, &part);
		p += used;
		n -= used;
		if (rc < 0) {
			net_fail(ns, "%s", ns->mp.mp_why);
			return -1;
		}
		if (rc == 0)
			break;
		net_arm_timer(ns);	/* a frame: the stall clock restarts */
		net_deliver(ns, part.data, part.length, part.timestamp_ns,
		    part.placeholder);
		if (ns->gen != gen)
			return -1;
	}
	return 0;
}

static void net_poll_cb(evutil_socket_t, short, void *);

/* The response's body is complete. */
static void
net_body_done(struct netsrc *ns)
{
	uint64_t ts = 0, gen, now, due;
	struct timeval tv;

	if (ns->mode != NM_SNAPSHOT) {
		net_fail(ns, "the stream ended after %llu frames",
		    (unsigned long long)ns->parts);
		return;
	}
	if (ns->hp.hp_head.x_timestamp[0] != '\0')
		(void)multipart_parse_timestamp(ns->hp.hp_head.x_timestamp,
		    strlen(ns->hp.hp_head.x_timestamp), &ts);
	evtimer_del(ns->timer);
	/* Keep the connection for the next request if the camera lets us
	 * and the body ended by its length. */
	if (ns->hp.hp_head.close || ns->framing == NF_CLOSE)
		net_drop_bev(ns);
	ns->state = NS_WAIT;
	gen = ns->gen;
	if (ns->snaplen > 0)
		net_deliver(ns, ns->snap, ns->snaplen, ts,
		    ns->hp.hp_head.placeholder);
	if (ns->gen != gen)
		return;
	ns->snaplen = 0;
	/* The next request one interval after this one went out, or now
	 * if the camera took longer than that: never two at once. */
	now = clock_ns(CLOCK_MONOTONIC);
	due = ns->req_mono_ns + 1000000000000ull / ns->fps_milli;
	tv.tv_sec = 0;
	tv.tv_usec = 0;
	if (due > now) {
		tv.tv_sec = (time_t)((due - now) / 1000000000u);
		tv.tv_usec = (suseconds_t)((due - now) % 1000000000u / 1000u);
	}
	evtimer_add(ns->poll_ev, &tv);
}

/* The body's bytes, still in their transfer coding.  0 or -1. */
static int
net_body(struct netsrc *ns, const uint8_t *p, size_t n, size_t *used)
{
	const uint8_t *data;
	size_t dlen, u;
	int rc;

	*used = 0;
	switch (ns->framing) {
	case NF_CLOSE:
		*used = n;
		return net_content(ns, p, n);
	case NF_LENGTH:
		u = n < ns->body_left ? n : (size_t)ns->body_left;
		*used = u;
		ns->body_left -= u;
		if (net_content(ns, p, u) != 0)
			return -1;
		if (ns->body_left == 0)
			net_body_done(ns);
		return 0;
	case NF_CHUNKED:
		while (*used < n) {
			rc = http_chunked_feed(&ns->ch, p + *used, n - *used,
			    &u, &data, &dlen);
			*used += u;
			if (rc < 0) {
				net_fail(ns, "%s", ns->ch.ch_why);
				return -1;
			}
			if (rc == 1 && net_content(ns, data, dlen) != 0)
				return -1;
			if (rc == 2) {
				net_body_done(ns);
				return 0;
			}
			if (rc == 0)
				break;
		}
		return 0;
	}
	return 0;
}

/* ------------------------------------------------------------ head */

static void
net_set_url(struct netsrc *ns, const struct url *u)
{
	ns->url = *u;
	url_describe(&ns->url, ns->desc, sizeof(ns->desc));
	ns->creds = url_same_origin(&ns->url, &ns->origin) &&
	    ns->origin.user[0] != '\0';
}

static void
net_redirect(struct netsrc *ns)
{
	const struct http_head *h = &ns->hp.hp_head;
	struct url to;
	char why[128], was[sizeof(ns->desc)];

	if (h->location[0] == '\0' || h->location_cut) {
		net_fail(ns, "HTTP %d without a Location we can follow",
		    h->status);
		return;
	}
	if (url_resolve(&ns->url, h->location, strlen(h->location), &to, why,
	    sizeof(why)) != 0) {
		net_fail(ns, "HTTP %d to %s", h->status, why);
		return;
	}
	snprintf(was, sizeof(was), "%s", ns->desc);
	if (++ns->redirects > NET_REDIRECTS_MAX) {
		url_describe(&to, why, sizeof(why));
		net_fail(ns, "more than %d redirects (a loop?), the last "
		    "to %s", NET_REDIRECTS_MAX, why);
		return;
	}
#ifdef SHMCAM_TLS
	if (to.tls && ns->ssl_ctx == NULL) {
#else
	if (to.tls) {
#endif
		url_describe(&to, why, sizeof(why));
		net_fail(ns, "redirected to %s: give that URL to --source",
		    why);
		return;
	}
	if (ns->dns == NULL && !url_host_is_address(&to)) {
		url_describe(&to, why, sizeof(why));
		net_fail(ns, "redirected to %s, a host name, but --source "
		    "names an address (no name resolution): give the "
		    "target's address", why);
		return;
	}
	if (!(to.port == ns->url.port && strcmp(to.host, ns->url.host) == 0))
		ns->addrlen = 0;	/* another host: resolve it */
	net_set_url(ns, &to);
	log_info("%s: HTTP %d, redirected to %s", was, h->status, ns->desc);
	net_close_conn(ns);
	net_begin(ns);
}

static void
net_unauthorized(struct netsrc *ns)
{
	struct http_auth a;
	char realm[64];
	int rc;

	if (!ns->creds) {
		rc = http_auth_parse(ns->hp.hp_head.challenge, &a);
		printable(realm, sizeof(realm), rc == 0 ? a.realm : "");
		net_fail(ns, "HTTP 401, credentials needed (%s%s%s%s)%s",
		    a.offered[0] ? a.offered : "no challenge",
		    realm[0] ? ", realm \"" : "", realm, realm[0] ? "\"" : "",
		    ns->origin.user[0] == '\0' ? ": give them with "
		    "--credentials or in the URL" : ": not sent to another "
		    "host than --source's");
		return;
	}
	rc = http_auth_parse(ns->hp.hp_head.challenge, &a);
	if (rc == -EBADMSG) {
		net_fail(ns, "HTTP 401 without a challenge we can read");
		return;
	}
	if (rc != 0) {
		net_fail(ns, "HTTP 401: the camera offers %s, which "
		    "shmcam does not answer", a.offered);
		return;
	}
	if (ns->sent_auth && !a.stale) {
		net_fail(ns, "HTTP 401: the credentials were refused "
		    "(%s)", a.offered);
		return;
	}
	if (++ns->auth_tries > NET_AUTH_TRIES) {
		net_fail(ns, "HTTP 401 again after %d answers (%s)",
		    NET_AUTH_TRIES, a.offered);
		return;
	}
	log_debug("%s: HTTP 401, answering with %s", ns->desc,
	    a.scheme == HTTP_AUTH_DIGEST ? "Digest" : "Basic");
	ns->auth = a;
	ns->auth_ready = 1;
	ns->nc = 0;
	/* A fresh connection: the 401's body need not be read. */
	net_close_conn(ns);
	net_begin(ns);
}

/* The response head is complete: what to do with the body. */
static void
net_head_done(struct netsrc *ns)
{
	const struct http_head *h = &ns->hp.hp_head;
	char type[HTTP_CTYPE_MAX], boundary[MULTIPART_BOUNDARY_MAX + 1];
	enum net_mode was = ns->mode;

	switch (h->status) {
	case 200:
		break;
	case 301: case 302: case 303: case 307: case 308:
		net_redirect(ns);
		return;
	case 401:
		net_unauthorized(ns);
		return;
	default:
		net_fail(ns, "HTTP %d", h->status);
		return;
	}
	if (http_content_type(h->content_type, type, sizeof(type), boundary,
	    sizeof(boundary)) != 0) {
		net_fail(ns, "a Content-Type or boundary too long");
		return;
	}
	if (strncmp(type, "multipart/", 10) == 0) {
		if (net_stream_start(ns, boundary) != 0)
			return;
	} else if (strncmp(type, "image/", 6) == 0)
		ns->mode = NM_SNAPSHOT;
	else if (type[0] == '\0' || strcmp(type, "application/octet-stream")
	    == 0)
		ns->mode = NM_SNIFF;
	else {
		printable(type, sizeof(type), h->content_type);
		net_fail(ns, "Content-Type %s, neither an MJPEG stream nor "
		    "a JPEG", type);
		return;
	}
	if (h->chunked) {
		ns->framing = NF_CHUNKED;
		http_chunked_init(&ns->ch);
	} else if (h->content_length >= 0) {
		ns->framing = NF_LENGTH;
		ns->body_left = (uint64_t)h->content_length;
		if (ns->mode != NM_STREAM && ns->body_left > NET_FRAME_MAX) {
			net_fail(ns, "a snapshot of %llu bytes, above the "
			    "limit of %u", (unsigned long long)ns->body_left,
			    NET_FRAME_MAX);
			return;
		}
	} else
		ns->framing = NF_CLOSE;
	ns->snaplen = 0;
	ns->state = NS_BODY;
	if (ns->mode == NM_STREAM)
		net_arm_timer(ns);	/* from now: the first frame */
	if (was == NM_UNKNOWN && ns->mode == NM_STREAM)
		log_info("%s: an MJPEG stream (%s)", ns->desc, boundary[0] ?
		    "its boundary declared" : "no boundary declared: learnt "
		    "from the body");
	else if (was == NM_UNKNOWN && ns->mode != NM_STREAM)
		log_info("%s: %s, fetched every %.3f s", ns->desc,
		    ns->mode == NM_SNAPSHOT ? "JPEG snapshots" :
		    "no Content-Type: snapshots if the body is a JPEG",
		    1000.0 / ns->fps_milli);
	ns->src->fps_device_milli = ns->mode == NM_STREAM ? 0 : ns->fps_milli;
	if (ns->framing == NF_LENGTH && ns->body_left == 0)
		net_body_done(ns);
}

/* ------------------------------------------------------- connection */

static void
net_request(struct netsrc *ns)
{
	struct evbuffer *out = bufferevent_get_output(ns->bev);
	char host[URL_HOST_MAX + 16], auth[2048], cnonce[17];
	uint8_t rnd[8];
	int rc;

	auth[0] = '\0';
	ns->sent_auth = 0;
	if (ns->auth_ready && ns->creds) {
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			memset(rnd, 0x5a, sizeof(rnd));
		for (size_t i = 0; i < sizeof(rnd); i++)
			snprintf(cnonce + 2 * i, 3, "%02x", rnd[i]);
		rc = http_auth_header(&ns->auth, ns->origin.user,
		    ns->origin.pass, "GET", ns->url.target, ++ns->nc, cnonce,
		    auth, sizeof(auth));
		if (rc != 0) {
			net_fail(ns, "cannot answer the camera's challenge: "
			    "%s", rc == -EINVAL ? "a user name with "
			    "':' (Basic) or control characters" :
			    strerror(-rc));
			return;
		}
		ns->sent_auth = 1;
	}
	url_host_header(&ns->url, host, sizeof(host));
	evbuffer_add_printf(out, "GET %s HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "User-Agent: shmcam/" SHMCAM_VERSION "\r\n"
	    "Accept: */*\r\n"
	    "%s%s%s"
	    "\r\n", ns->url.target, host, auth[0] ? "Authorization: " : "",
	    auth, auth[0] ? "\r\n" : "");
	explicit_bzero(auth, sizeof(auth));
	http_head_init(&ns->hp, NET_HEAD_MAX, NET_HEAD_LINES);
	ns->state = NS_HEAD;
	ns->req_mono_ns = clock_ns(CLOCK_MONOTONIC);
	net_arm_timer(ns);
	bufferevent_enable(ns->bev, EV_READ | EV_WRITE);
	log_debug("%s: GET%s", ns->desc, ns->sent_auth ? " with credentials" :
	    "");
}

/* Bytes from the connection: the response head, then its body. */
static void
net_read_cb(struct bufferevent *bev, void *arg)
{
	struct netsrc *ns = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint64_t gen = ns->gen;
	const uint8_t *p;
	size_t n, used;
	int rc;

	while ((n = evbuffer_get_contiguous_space(in)) > 0) {
		p = evbuffer_pullup(in, (ev_ssize_t)n);
		used = n;
		if (ns->state == NS_HEAD) {
			rc = http_head_feed(&ns->hp, p, n, &used);
			if (rc < 0) {
				net_fail(ns, "%s", ns->hp.hp_why);
				return;
			}
			evbuffer_drain(in, used);
			if (rc == 1)
				net_head_done(ns);
		} else if (ns->state == NS_BODY) {
			(void)net_body(ns, p, n, &used);
			if (ns->gen != gen)
				return;
			evbuffer_drain(in, used);
		} else {
			/* Bytes after a complete snapshot on a kept
			 * connection: it is not one to keep. */
			net_drop_bev(ns);
			return;
		}
		if (ns->gen != gen)
			return;
	}
}

static void
net_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct netsrc *ns = arg;
	int err = EVUTIL_SOCKET_ERROR();
	char tls[160] = "";

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
#ifdef SHMCAM_TLS
		if (ns->url.tls && !ns->tls_up) {
			if (net_tls_start(ns) != 0)
				net_fail(ns, "connect: %s", ns->conn_why);
			return;
		}
#endif
		if (ns->ai != NULL) {
			evutil_freeaddrinfo(ns->ai);
			ns->ai = ns->ai_next = NULL;
		}
		net_request(ns);
		return;
	}
#ifdef SHMCAM_TLS
	if (ns->url.tls) {
		unsigned long e = bufferevent_get_openssl_error(bev);
		SSL *ssl = bufferevent_openssl_get_ssl(bev);
		long vr = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;

		if (vr != X509_V_OK)
			snprintf(tls, sizeof(tls), "TLS: %s",
			    X509_verify_cert_error_string(vr));
		else if (e != 0) {
			memcpy(tls, "TLS: ", 5);
			ERR_error_string_n(e, tls + 5, sizeof(tls) - 5);
		}
		ERR_clear_error();
	}
#endif
	switch (ns->state) {
	case NS_CONNECTING:
		snprintf(ns->conn_why, sizeof(ns->conn_why), "%s",
		    tls[0] ? tls : (what & BEV_EVENT_ERROR) && err != 0 ?
		    strerror(err) : "connection closed");
		net_drop_bev(ns);
		net_connect_next(ns);
		return;
	case NS_WAIT:
		/* A kept connection closed while idle: the next snapshot
		 * makes a new one. */
		net_drop_bev(ns);
		return;
	case NS_HEAD:
		if (ns->reused && ns->hp.hp_bytes == 0 &&
		    ns->hp.hp_linetotal == 0) {
			/* The camera closed the kept connection as we sent:
			 * once more on a new one. */
			net_drop_bev(ns);
			ns->reused = 0;
			net_reconnect(ns);
			return;
		}
		break;
	case NS_BODY:
		if ((what & BEV_EVENT_EOF) && ns->framing == NF_CLOSE) {
			net_body_done(ns);
			return;
		}
		break;
	default:
		break;
	}
	if (tls[0] != '\0')
		net_fail(ns, "%s", tls);
	else if ((what & BEV_EVENT_ERROR) && err != 0)
		net_fail(ns, "%s%s", strerror(err),
		    ns->state == NS_BODY ? " while reading" : "");
	else
		net_fail(ns, "connection closed by the camera%s",
		    ns->state == NS_BODY && ns->mode == NM_STREAM ?
		    " (the stream ended)" : ns->state == NS_BODY ?
		    " in the middle of a response" : " before a response");
}

#ifdef SHMCAM_TLS
/*
 * TCP is up: TLS over it, as a filter on the connection's bufferevent
 * (which it then owns).  The handshake's end is the CONNECTED event we
 * wait for next.  0, or -1 with conn_why.
 */
static int
net_tls_start(struct netsrc *ns)
{
	SSL *ssl = SSL_new(ns->ssl_ctx);
	X509_VERIFY_PARAM *param;
	struct bufferevent *bev;

	if (ssl == NULL) {
		snprintf(ns->conn_why, sizeof(ns->conn_why), "TLS: out of "
		    "memory");
		return -1;
	}
	param = SSL_get0_param(ssl);
	if (url_host_is_address(&ns->url))
		X509_VERIFY_PARAM_set1_ip_asc(param, ns->url.host);
	else {
		SSL_set_tlsext_host_name(ssl, ns->url.host);
		X509_VERIFY_PARAM_set_hostflags(param,
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		X509_VERIFY_PARAM_set1_host(param, ns->url.host, 0);
	}
	bev = bufferevent_openssl_filter_new(ns->base, ns->bev, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		snprintf(ns->conn_why, sizeof(ns->conn_why), "TLS: out of "
		    "memory");
		return -1;
	}
	/* Cameras close without TLS's close_notify; a snapshot read to the
	 * end of the connection must still count. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	ns->bev = bev;
	ns->tls_up = 1;
	bufferevent_setcb(ns->bev, net_read_cb, NULL, net_event_cb, ns);
	bufferevent_enable(ns->bev, EV_READ | EV_WRITE);
	return 0;
}
#endif

/*
 * Connects to addr; 0, or -1 with conn_why set.  The socket is ours,
 * connect(2) too: a refusal it reports at once (loopback does) keeps its
 * errno, which libevent's own connect would pass on only in a deferred
 * callback, when errno says something else.
 */
static int
net_connect_addr(struct netsrc *ns, const struct sockaddr *sa,
    ev_socklen_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	int fd, one = 1;

	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
		    a, sizeof(a));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)sa)->sin6_addr, a,
		    sizeof(a));
	log_debug("%s: connecting to %s", ns->desc, a);
	memmove(&ns->addr, sa, len);
	ns->addrlen = len;
	ns->state = NS_CONNECTING;
	ns->tls_up = 0;
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    IPPROTO_TCP);
	if (fd == -1) {
		snprintf(ns->conn_why, sizeof(ns->conn_why), "socket: %s",
		    strerror(errno));
		return -1;
	}
	/* The request in one segment, at once. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&ns->addr, len) == -1 &&
	    errno != EINPROGRESS) {
		snprintf(ns->conn_why, sizeof(ns->conn_why), "%s",
		    strerror(errno));
		close(fd);
		return -1;
	}
	if ((ns->bev = bufferevent_socket_new(ns->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		close(fd);
		snprintf(ns->conn_why, sizeof(ns->conn_why), "out of memory");
		return -1;
	}
	bufferevent_setcb(ns->bev, net_read_cb, NULL, net_event_cb, ns);
	bufferevent_set_max_single_read(ns->bev, NET_READ_MAX);
	/* Already connecting: libevent waits for it to finish, and reports
	 * its end with errno set (SO_ERROR). */
	if (bufferevent_socket_connect(ns->bev, NULL, 0) != 0) {
		snprintf(ns->conn_why, sizeof(ns->conn_why), "%s",
		    strerror(errno));
		bufferevent_free(ns->bev);
		ns->bev = NULL;
		return -1;
	}
	return 0;
}

/* The next address of the lookup, or the failure of them all. */
static void
net_connect_next(struct netsrc *ns)
{
	struct evutil_addrinfo *ai;

	while ((ai = ns->ai_next) != NULL) {
		ns->ai_next = ai->ai_next;
		if (net_connect_addr(ns, ai->ai_addr, ai->ai_addrlen) == 0)
			return;
	}
	net_fail(ns, "connect: %s", ns->conn_why[0] ?
	    ns->conn_why : "no address");
}

/* Again to the address of the last connection (the same host). */
static void
net_reconnect(struct netsrc *ns)
{
	struct sockaddr_storage ss = ns->addr;

	ns->conn_why[0] = '\0';
	if (net_connect_addr(ns, (struct sockaddr *)&ss, ns->addrlen) != 0)
		net_fail(ns, "connect: %s", ns->conn_why);
}

static void
net_lookup_cb(int result, struct evutil_addrinfo *ai, void *arg)
{
	struct net_lookup *nl = arg;
	struct netsrc *ns = nl->nl_ns;

	free(nl);
	if (ns == NULL) {
		/* Abandoned (the source was closed meanwhile). */
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		return;
	}
	ns->lookup = NULL;
	if (result != 0 || ai == NULL) {
		net_fail(ns, "cannot resolve %s: %s", ns->url.host,
		    evutil_gai_strerror(result));
		return;
	}
	ns->ai = ns->ai_next = ai;
	ns->conn_why[0] = '\0';
	net_connect_next(ns);
}

/* A connection to ns->url, from its name or address. */
static void
net_begin(struct netsrc *ns)
{
	struct evutil_addrinfo hints;
	struct net_lookup *nl;
	char port[8];
	union {
		struct sockaddr_in	v4;
		struct sockaddr_in6	v6;
	} sa;

	ns->conn_why[0] = '\0';
	ns->reused = 0;
	net_arm_timer(ns);
	if (ns->addrlen != 0) {
		/* The same host as the last connection: its address. */
		net_reconnect(ns);
		return;
	}
	memset(&sa, 0, sizeof(sa));
	if (inet_pton(AF_INET, ns->url.host, &sa.v4.sin_addr) == 1) {
		sa.v4.sin_family = AF_INET;
		sa.v4.sin_port = htons(ns->url.port);
		if (net_connect_addr(ns, (struct sockaddr *)&sa.v4,
		    sizeof(sa.v4)) != 0)
			net_fail(ns, "connect: %s", ns->conn_why);
		return;
	}
	if (inet_pton(AF_INET6, ns->url.host, &sa.v6.sin6_addr) == 1) {
		sa.v6.sin6_family = AF_INET6;
		sa.v6.sin6_port = htons(ns->url.port);
		if (net_connect_addr(ns, (struct sockaddr *)&sa.v6,
		    sizeof(sa.v6)) != 0)
			net_fail(ns, "connect: %s", ns->conn_why);
		return;
	}
	if ((nl = calloc(1, sizeof(*nl))) == NULL) {
		net_fail(ns, "out of memory");
		return;
	}
	nl->nl_ns = ns;
	ns->lookup = nl;
	ns->state = NS_RESOLVING;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	snprintf(port, sizeof(port), "%u", (unsigned)ns->url.port);
	/* The answer may come at once (an address, /etc/hosts), before
	 * this returns: the callback takes it either way. */
	(void)evdns_getaddrinfo(ns->dns, ns->url.host, port, &hints,
	    net_lookup_cb, nl);
}

static void
net_start_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	net_begin(arg);
}

/* The next snapshot: on the kept connection, or a new one. */
static void
net_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct netsrc *ns = arg;

	(void)fd;
	(void)what;
	if (ns->bev != NULL) {
		ns->reused = 1;
		net_request(ns);
		return;
	}
	net_begin(ns);
}

static void
net_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct netsrc *ns = arg;
	double s = ns->timeout_ms / 1000.0;

	(void)fd;
	(void)what;
	switch (ns->state) {
	case NS_RESOLVING:
		net_fail(ns, "cannot resolve %s within %.1f s",
		    ns->url.host, s);
		break;
	case NS_CONNECTING:
		net_fail(ns, "connect: no answer within %.1f s", s);
		break;
	case NS_HEAD:
		net_fail(ns, "no response within %.1f s", s);
		break;
	default:
		net_fail(ns, "%s %.1f s", ns->mode == NM_STREAM ?
		    "no frame for" :
		    "no complete snapshot within", s);
		break;
	}
}

/* ------------------------------------------------------- source ops */

static int
net_open(struct source *src, char *why, size_t whylen)
{
	struct netsrc *ns = src->priv;

	if (ns->base == NULL) {
		snprintf(why, whylen, "not attached to the loop");
		return -EINVAL;
	}
	net_close_conn(ns);
	net_set_url(ns, &ns->origin);
	ns->redirects = 0;
	ns->auth_tries = 0;
	ns->mode = NM_UNKNOWN;
	ns->parts = 0;
	ns->ts_logged = 0;
	ns->addrlen = 0;
	/* From the loop: the sink is never called from within open(). */
	event_active(ns->start_ev, 0, 0);
	return -EINPROGRESS;
}

static void
net_close(struct source *src)
{
	struct netsrc *ns = src->priv;

	net_close_conn(ns);
	multipart_free(&ns->mp);
	src->fd = -1;
}

static int
net_next(struct source *src, struct source_frame *f, char *why,
    size_t whylen)
{
	(void)src;
	(void)f;
	snprintf(why, whylen, "a network source has no descriptor to poll");
	return -EINVAL;
}

static void
net_release(struct source *src, struct source_frame *f)
{
	(void)src;
	(void)f;
}

static void
net_destroy(struct source *src)
{
	struct netsrc *ns = src->priv;
	int lookup = 0;

	if (ns == NULL)
		return;
	lookup = ns->lookup != NULL;
	net_close(src);
	if (ns->timer != NULL)
		event_free(ns->timer);
	if (ns->start_ev != NULL)
		event_free(ns->start_ev);
	if (ns->poll_ev != NULL)
		event_free(ns->poll_ev);
	if (ns->dns != NULL) {
		/*
		 * A lookup still out holds memory (its own and ours) until
		 * evdns calls back; failing it calls back from the loop, so
		 * the loop runs once more for that.  Nothing of the capture
		 * is left on it at this point.
		 */
		evdns_base_free(ns->dns, 1);
		if (lookup)
			event_base_loop(ns->base, EVLOOP_NONBLOCK);
	}
#ifdef SHMCAM_TLS
	if (ns->ssl_ctx != NULL)
		SSL_CTX_free(ns->ssl_ctx);
#endif
	free(ns->snap);
	explicit_bzero(ns, sizeof(*ns));
	free(ns);
	src->priv = NULL;
}

#ifdef SHMCAM_TLS
/* The TLS context: the system's certificates or --tls-ca, read now,
 * before the sandbox; TLS 1.2 at least; the peer always verified. */
static int
net_tls_setup(struct netsrc *ns, const char *ca, char *why, size_t whylen)
{
	char err[128];
	int ok;

	if (OPENSSL_init_ssl(0, NULL) != 1 ||
	    (ns->ssl_ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(why, whylen, "TLS: cannot set up OpenSSL");
		return -ENOMEM;
	}
	SSL_CTX_set_min_proto_version(ns->ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ns->ssl_ctx, SSL_VERIFY_PEER, NULL);
	if (ca != NULL)
		ok = SSL_CTX_load_verify_locations(ns->ssl_ctx, ca, NULL);
	else
		/* The bundle file, all of it now: the lookup directory
		 * would open files while verifying, inside the sandbox. */
		ok = SSL_CTX_load_verify_locations(ns->ssl_ctx,
		    X509_get_default_cert_file(), NULL);
	if (ok != 1) {
		ERR_error_string_n(ERR_get_error(), err, sizeof(err));
		snprintf(why, whylen, "TLS: cannot load the certificates of "
		    "%s: %s", ca != NULL ? ca : X509_get_default_cert_file(),
		    err);
		ERR_clear_error();
		return -EINVAL;
	}
	return 0;
}
#endif

static int
net_attach(struct source *src, struct event_base *base,
    const struct source_sink *sink, char *why, size_t whylen)
{
	struct netsrc *ns = src->priv;

	ns->base = base;
	ns->sink = *sink;
	ns->timer = evtimer_new(base, net_timer_cb, ns);
	ns->start_ev = event_new(base, -1, 0, net_start_cb, ns);
	ns->poll_ev = evtimer_new(base, net_poll_cb, ns);
	if (ns->timer == NULL || ns->start_ev == NULL || ns->poll_ev == NULL) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	if (!url_host_is_address(&ns->origin)) {
		/* resolv.conf and /etc/hosts, read now; lookups later
		 * need only UDP sockets (sandbox.h). */
		ns->dns = evdns_base_new(base,
		    EVDNS_BASE_INITIALIZE_NAMESERVERS |
		    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (ns->dns == NULL) {
			snprintf(why, whylen, "name resolution: cannot read "
			    "/etc/resolv.conf (give an address instead of %s)",
			    ns->origin.host);
			return -EINVAL;
		}
	}
	return 0;
}

static const struct source_ops net_ops = {
	.open = net_open,
	.close = net_close,
	.next = net_next,
	.release = net_release,
	.destroy = net_destroy,
	.attach = net_attach,
};

int
net_source_init(struct source *src, const struct source_config *c)
{
	struct netsrc *ns;
	char why[160];
	int rc;

	memset(src, 0, sizeof(*src));
	src->fd = -1;
	if (c->url == NULL || c->timeout_ms == 0)
		return -EINVAL;
#ifndef SHMCAM_TLS
	if (c->url->tls)
		return -EPROTONOSUPPORT;
#endif
	if ((ns = calloc(1, sizeof(*ns))) == NULL)
		return -ENOMEM;
	ns->src = src;
	ns->origin = *c->url;
	ns->timeout_ms = c->timeout_ms;
	ns->fps_given = c->fps_given;
	ns->fps_milli = c->fps_given ? c->fps_milli : NET_SNAPSHOT_FPS_MILLI;
	net_set_url(ns, &ns->origin);
#ifdef SHMCAM_TLS
	if (ns->origin.tls &&
	    (rc = net_tls_setup(ns, c->tls_ca, why, sizeof(why))) != 0) {
		log_warnx("%s", why);
		if (ns->ssl_ctx != NULL)
			SSL_CTX_free(ns->ssl_ctx);
		explicit_bzero(ns, sizeof(*ns));
		free(ns);
		return rc;
	}
#else
	(void)why;
	(void)rc;
#endif
	src->ops = &net_ops;
	src->priv = ns;
	src->width = c->width;
	src->height = c->height;
	src->fourcc = V4L2_PIX_FMT_JPEG;
	src->fps_milli = c->fps_given ? c->fps_milli : 0;
	src->fps_device_milli = 0;
	src->max_frame = 0;	/* the ring grows to what comes */
	snprintf(src->desc, sizeof(src->desc), "%s", ns->desc);
	return 0;
}
