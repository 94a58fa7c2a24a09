/*
 * loadclient - many MJPEG clients in one process, for benchmarks and load
 * tests.  Connects N clients to http://HOST:PORT/PATH, HOST on IPv4
 * loopback (127.0.0.0/8) or in 198.18.0.0/15, the range the simulated
 * links of tests/integration/wan.py use inside their own namespaces; parses every multipart part strictly (Content-Length, then the
 * boundary), and reports per-client frame counts and rates, the latency
 * from capture to the arrival of each frame's last byte, throughput and
 * errors as one JSON object on stdout.
 *
 *   loadclient -u URL -n N -d SECONDS [--warmup S] [--slow K --slow-rate
 *              BYTES/S --slow-rcvbuf BYTES] [--ts x-timestamp|simstamp]
 *              [--per-client] [--decode]
 *   loadclient -u URL --churn TOTAL [-c CONCURRENCY]
 *
 * Slow clients (the first K of the N) read at most BYTES/S each, in small
 * paced recv() calls, with a small SO_RCVBUF: a viewer on a slow link.
 *
 * Where the capture time comes from is a struct ts_source (--ts):
 *
 *   x-timestamp  the part's X-Timestamp header (shmcam sends the capture
 *                time; ustreamer sends the time it queued the part, so
 *                this source cannot compare the two);
 *   simstamp     the stamp the simulated camera (tests/v4l2sim) puts
 *                into every frame: its COM segment when the streamer
 *                passed the camera's JPEG through, else the barcode in
 *                the picture, read from a 1/8-scale TurboJPEG decode
 *                (simstamp_from_jpeg()).  Capture-to-receive latency is
 *                then measured the same way whatever streamer sent the
 *                frame.
 *
 * simstamp also gives each frame's sequence number at the camera, and
 * with it each group's coverage: of the camera's frames from the first
 * to the last a client received after the warm-up, the share it
 * received (coverage_min, coverage_median; -1 without sequence
 * numbers).  Unlike a frame rate it does not depend on when the window
 * started and ended, nor on this process keeping up with the clock.
 *
 * The arrival time is taken before the stamp is read, so decoding is not
 * counted as latency.  A barcode is decoded once per distinct frame: all
 * clients receive the same bytes, so the stamp is remembered under a
 * hash of the frame's first bytes (where the barcode rows are) and its
 * length.
 *
 * --mp4 reads /stream.mp4 instead (HTTP/1.1, a chunked body): MP4 boxes
 * that must tile the body exactly, ftyp and moov first, then [prft] moof
 * + mdat; a frame is a fragment, done when its mdat's last byte arrives.
 * Its capture time is its prft's (shmcam writes the capture's
 * CLOCK_REALTIME there), measured like X-Timestamp, with no stamp in the
 * picture; the bulk of an mdat is discarded in the kernel like the
 * middle of a JPEG.
 *
 * --decode decodes every frame completely (TurboJPEG, warnings count as
 * failures) and reports the failures: a check that what arrives are
 * pictures, where a load test only looks at SOI and EOI.  Each client
 * also reports the longest pause between two of its frames (gap_max).
 *
 * --churn opens TOTAL connections, at most CONCURRENCY at once; each
 * sends its request and closes after a random point of the response:
 * before any byte, in the head, inside a frame, some with a reset
 * (SO_LINGER 0).  It reports how many it completed.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <turbojpeg.h>

#include "bench/clientutil.h"
#include "v4l2sim/simstamp.h"

#define LINE_MAX_LEN	8192
#define RBUF		(256 * 1024)
#define HEAD_READ	8192	/* headers and the first bytes of a body */
#define READ_ROUNDS	4	/* recv() calls per readiness event */

/* ------------------------------------------------- capture time source */

struct ts_source {
	const char *name;
	/* A new part starts. */
	void	(*begin)(void *st);
	void	(*header)(void *st, const char *name, const char *value);
	/* Body bytes of the part, in order (may be NULL: not needed). */
	void	(*body)(void *st, const unsigned char *p, size_t n);
	/* Capture time of the part, CLOCK_REALTIME ns, or 0 if unknown;
	 * the camera's sequence number of the frame in *seq, or 0. */
	uint64_t (*get)(void *st, uint64_t *seq);
	/* Frees what the state holds (may be NULL). */
	void	(*release)(void *st);
	/* 1 while body() still needs bytes of this part (NULL: always). */
	int	(*wants_body)(void *st);
	size_t	 state_size;
};

struct xts_state {
	uint64_t ns;
};

static void
xts_begin(void *st)
{
	((struct xts_state *)st)->ns = 0;
}

static void
xts_header(void *st, const char *name, const char *value)
{
	if (strcasecmp(name, "X-Timestamp") == 0)
		((struct xts_state *)st)->ns = (uint64_t)(strtod(value, NULL) *
		    1e9);
}

static uint64_t
xts_get(void *st, uint64_t *seq)
{
	*seq = 0;
	return ((struct xts_state *)st)->ns;
}

/*
 * simstamp: the body is collected until its stamp can be read.  The COM
 * segment comes right after SOI, in the first bytes; only frames without
 * one (re-encoded by the streamer) are collected whole for the barcode,
 * and only by the first client that sees them.
 */
#define SST_COM_BYTES	1024	/* a COM stamp lies within these */
#define SST_KEY_BYTES	4096	/* hashed: headers and the barcode rows */
#define SST_CACHE	64

struct sst_state {
	uint8_t		*buf;
	size_t		 len, cap;
	int		 com_done;	/* the COM look-up is behind us */
	uint64_t	 clen;		/* Content-Length */
	uint64_t	 key;
	int		 done;
	uint64_t	 ns;
	uint64_t	 seq;
};

/* Stamps of recent barcode frames, shared by all clients. */
static struct {
	uint64_t	key;
	uint64_t	ns;
	uint64_t	seq;
} sst_cache[SST_CACHE];
static uint64_t sst_decodes, sst_failures;

static uint64_t
sst_hash(const uint8_t *p, size_t n, uint64_t len)
{
	uint64_t h = 0xcbf29ce484222325ull ^ len;	/* FNV-1a */

	while (n-- > 0) {
		h ^= *p++;
		h *= 0x100000001b3ull;
	}
	return h | 1;	/* 0 is an empty cache entry */
}

static void
sst_begin(void *st)
{
	struct sst_state *s = st;

	s->len = 0;
	s->com_done = s->done = 0;
	s->clen = s->key = s->ns = s->seq = 0;
}

static void
sst_header(void *st, const char *name, const char *value)
{
	if (strcasecmp(name, "Content-Length") == 0)
		((struct sst_state *)st)->clen = strtoull(value, NULL, 10);
}

static void
sst_release(void *st)
{
	free(((struct sst_state *)st)->buf);
}

static void
sst_keep(struct sst_state *s, const unsigned char *p, size_t n)
{
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 64 * 1024;
		while (cap < s->len + n)
			cap *= 2;
		if ((s->buf = realloc(s->buf, cap)) == NULL) {
			perror("realloc");
			exit(1);
		}
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void
sst_body(void *st, const unsigned char *p, size_t n)
{
	struct sst_state *s = st;
	size_t k;

	if (s->done)
		return;
	if (!s->com_done) {
		/* Only the first bytes until the COM segment is looked for:
		 * copying whole frames would double what this client costs
		 * per byte, and it shares the machine with the streamer. */
		k = SST_COM_BYTES - s->len < n ? SST_COM_BYTES - s->len : n;
		sst_keep(s, p, k);
		p += k;
		n -= k;
		if (s->len < SST_COM_BYTES)
			return;
		s->com_done = 1;
		if (simstamp_from_com(s->buf, s->len, &s->seq, &s->ns) == 0) {
			s->done = 1;
			return;
		}
		s->ns = s->seq = 0;
	}
	sst_keep(s, p, n);
	if (s->com_done && s->key == 0 && s->len >= SST_KEY_BYTES) {
		s->key = sst_hash(s->buf, SST_KEY_BYTES, s->clen);
		k = s->key % SST_CACHE;
		if (sst_cache[k].key == s->key) {
			s->ns = sst_cache[k].ns;
			s->seq = sst_cache[k].seq;
			s->done = 1;
		}
	}
}

static int
sst_wants_body(void *st)
{
	return !((struct sst_state *)st)->done;
}

static uint64_t
sst_get(void *st, uint64_t *seq)
{
	struct sst_state *s = st;
	uint64_t ns;
	size_t k;

	*seq = 0;
	if (s->done) {
		*seq = s->seq;
		return s->ns;
	}
	/* A short frame, or one that needs its barcode read. */
	if (simstamp_from_com(s->buf, s->len, seq, &ns) == 0)
		return ns;
	if (s->key == 0)
		s->key = sst_hash(s->buf, s->len < SST_KEY_BYTES ? s->len :
		    SST_KEY_BYTES, s->clen);
	k = s->key % SST_CACHE;
	if (sst_cache[k].key == s->key) {
		*seq = sst_cache[k].seq;
		return sst_cache[k].ns;
	}
	sst_decodes++;
	if (simstamp_from_barcode(s->buf, s->len, seq, &ns) != 0) {
		sst_failures++;
		*seq = 0;
		return 0;
	}
	sst_cache[k].key = s->key;
	sst_cache[k].ns = ns;
	sst_cache[k].seq = *seq;
	return ns;
}

static const struct ts_source ts_sources[] = {
	{ "x-timestamp", xts_begin, xts_header, NULL, xts_get, NULL, NULL,
	    sizeof(struct xts_state) },
	{ "simstamp", sst_begin, sst_header, sst_body, sst_get, sst_release,
	    sst_wants_body, sizeof(struct sst_state) },
};

/* ------------------------------------------------------------ clients */

enum pstate {
	P_STATUS,	/* HTTP status line */
	P_HEAD,		/* response headers */
	P_FIRST,	/* the first boundary line */
	P_PART,		/* part headers */
	P_BODY,		/* Content-Length bytes */
	P_CRLF,		/* CRLF after the body */
	P_BOUNDARY,	/* boundary line */
	/* --mp4 */
	P_CHUNK,	/* chunk-size line */
	P_CHUNK_DATA,	/* chunk data: boxes */
	P_CHUNK_END,	/* CRLF after the chunk data */
};

struct client {
	int		 fd;
	int		 slow;
	int		 done;
	int		 sent;		/* request sent */
	enum pstate	 ps;
	char		 line[LINE_MAX_LEN];
	size_t		 linelen;
	char		 boundary[128];
	size_t		 remain;
	size_t		 clen;
	int		 have_clen;
	unsigned char	 first2[2], last2[2];
	size_t		 seen;
	unsigned char	*body;		/* --decode: the part's bytes */
	size_t		 body_cap;
	uint64_t	 decode_failures;
	double		 gap_max;	/* longest pause between frames, s */
	uint64_t	 frames;	/* after warm-up */
	uint64_t	 frames_all;
	uint64_t	 unstamped;	/* counted frames without a capture time */
	uint64_t	 seq_first, seq_last, seq_frames; /* camera sequence
					 * numbers of counted frames */
	uint64_t	 bytes;
	double		 first_t, last_t;	/* of counted frames */
	double		 budget;		/* slow: bytes it may read */
	struct samples	 lat;		/* seconds */
	struct samples	 lat_t;		/* when (since start) */
	void		*ts;
	char		 error[160];
	/* churn */
	size_t		 stop_after;
	int		 rst;
	/* --mp4 */
	size_t		 chunk_left;	/* bytes of chunk data to come */
	unsigned char	 box_hdr[8];
	size_t		 box_have;	/* header bytes of the current box */
	size_t		 box_left;	/* body bytes of the current box */
	char		 box_type[5];
	unsigned char	 moof[512];	/* the start of the last moof */
	size_t		 moof_len;
	unsigned char	 prft[32];	/* the last prft */
	size_t		 prft_len;
	int		 inits;		/* moov boxes seen */
};

static const struct ts_source *tsrc = &ts_sources[0];
static int mp4_mode;
static tjhandle decoder;		/* --decode */
static struct sockaddr_in dst;
static char req[1024];
static double t_start, t_warm;
static int epfd;

static void __attribute__((format(printf, 2, 3)))
client_fail(struct client *c, const char *fmt, ...)
{
	va_list ap;

	if (c->error[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(c->error, sizeof(c->error), fmt, ap);
		va_end(ap);
	}
	if (c->fd != -1) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	c->done = 1;
}

static int
client_connect(struct client *c, int rcvbuf)
{
	c->fd = client_socket(epfd, &dst, rcvbuf, c);
	if (c->fd == -1)
		return -1;
	c->ps = P_STATUS;
	return 0;
}

/*
 * A whole frame arrived at t (CLOCK_MONOTONIC) and now (CLOCK_REALTIME,
 * ns), captured at capture_ns (CLOCK_REALTIME, 0: unknown), the camera's
 * frame seq (0: unknown): counted after the warm-up, with its latency,
 * the pause before it and its place in the camera's sequence.
 */
static void
client_frame(struct client *c, double t, uint64_t now, uint64_t capture_ns,
    uint64_t seq)
{
	c->frames_all++;
	if (t < t_warm)
		return;
	if (c->frames == 0)
		c->first_t = t;
	else if (t - c->last_t > c->gap_max)
		c->gap_max = t - c->last_t;
	c->last_t = t;
	c->frames++;
	if (seq != 0) {
		if (c->seq_frames == 0 || seq < c->seq_first)
			c->seq_first = seq;
		if (seq > c->seq_last)
			c->seq_last = seq;
		c->seq_frames++;
	}
	if (capture_ns == 0)
		c->unstamped++;
	else {
		samples_add(&c->lat, ((double)now - (double)capture_ns) / 1e9);
		samples_add(&c->lat_t, t - t_start);
	}
}

/* 0 if the JPEG decodes completely, without a warning. */
static int
frame_decode(const unsigned char *jpeg, size_t len)
{
	static unsigned char *rgb;
	static size_t rgb_size;
	int w, h, sub, cs;

	if (tjDecompressHeader3(decoder, jpeg, (unsigned long)len, &w, &h,
	    &sub, &cs) != 0 || w <= 0 || h <= 0)
		return -1;
	if ((size_t)w * (size_t)h * 3 > rgb_size) {
		free(rgb);
		rgb_size = (size_t)w * (size_t)h * 3;
		if ((rgb = malloc(rgb_size)) == NULL) {
			perror("malloc");
			exit(1);
		}
	}
	return tjDecompress2(decoder, jpeg, (unsigned long)len, rgb, w, 0, h,
	    TJPF_RGB, TJFLAG_STOPONWARNING) == 0 ? 0 : -1;
}

static void
part_done(struct client *c)
{
	/* The arrival time first: reading the stamp may take a decode. */
	double t = now_mono();
	uint64_t now = now_real_ns(), seq, ts = tsrc->get(c->ts, &seq);

	if (c->clen < 4 || c->first2[0] != 0xff || c->first2[1] != 0xd8 ||
	    c->last2[0] != 0xff || c->last2[1] != 0xd9) {
		client_fail(c, "part is not a complete JPEG");
		return;
	}
	if (decoder != NULL && frame_decode(c->body, c->clen) != 0)
		c->decode_failures++;
	client_frame(c, t, now, ts, seq);
}

/* An mdat has arrived whole: one frame, captured at its prft's time. */
static void
mp4_fragment_done(struct client *c)
{
	double t = now_mono();
	uint64_t now = now_real_ns();
	uint64_t capture = prft_capture_ns(c->prft, c->prft_len);

	if (capture == 0) {
		client_fail(c, "fragment without a prft (version 1)");
		return;
	}
	c->prft_len = 0;
	client_frame(c, t, now, capture, 0);
}

/* Bytes of chunk data: box headers, the start of moofs, mdat ends. */
static void
mp4_feed_boxes(struct client *c, const unsigned char *p, size_t n)
{
	size_t k;

	while (n > 0 && !c->done) {
		if (c->box_have < 8) {
			k = 8 - c->box_have < n ? 8 - c->box_have : n;
			memcpy(c->box_hdr + c->box_have, p, k);
			c->box_have += k;
			p += k;
			n -= k;
			if (c->box_have < 8)
				return;
			memcpy(c->box_type, c->box_hdr + 4, 4);
			c->box_type[4] = '\0';
			if (be32(c->box_hdr) < 8) {
				client_fail(c, "box of size %u", be32(c->box_hdr));
				return;
			}
			c->box_left = be32(c->box_hdr) - 8;
			if (strcmp(c->box_type, "moov") == 0)
				c->inits++;
			else if (strcmp(c->box_type, "moof") == 0) {
				memcpy(c->moof, c->box_hdr, 8);
				c->moof_len = 8;
			} else if (strcmp(c->box_type, "prft") == 0) {
				memcpy(c->prft, c->box_hdr, 8);
				c->prft_len = 8;
			} else if (strcmp(c->box_type, "mdat") != 0 &&
			    strcmp(c->box_type, "ftyp") != 0) {
				client_fail(c, "unexpected box '%.4s'",
				    c->box_type);
				return;
			}
		}
		k = c->box_left < n ? c->box_left : n;
		if (strcmp(c->box_type, "prft") == 0 &&
		    c->prft_len < sizeof(c->prft)) {
			size_t m = sizeof(c->prft) - c->prft_len;
			m = m < k ? m : k;
			memcpy(c->prft + c->prft_len, p, m);
			c->prft_len += m;
		}
		if (strcmp(c->box_type, "moof") == 0 &&
		    c->moof_len < sizeof(c->moof)) {
			size_t m = sizeof(c->moof) - c->moof_len;
			m = m < k ? m : k;
			memcpy(c->moof + c->moof_len, p, m);
			c->moof_len += m;
		}
		c->box_left -= k;
		p += k;
		n -= k;
		if (c->box_left == 0) {
			c->box_have = 0;
			if (strcmp(c->box_type, "mdat") == 0) {
				if (c->inits == 0 || c->moof_len == 0) {
					client_fail(c, "mdat before moov and "
					    "moof");
					return;
				}
				mp4_fragment_done(c);
				c->moof_len = 0;
			}
		}
	}
}

/* One complete line (without CRLF) in c->line. */
static void
client_line(struct client *c)
{
	char *colon, *v;

	switch (c->ps) {
	case P_STATUS:
		if (strncmp(c->line, "HTTP/1.", 7) != 0 ||
		    strncmp(c->line + 8, " 200", 4) != 0) {
			client_fail(c, "status: %.60s", c->line);
			return;
		}
		c->ps = P_HEAD;
		return;
	case P_HEAD:
		if (c->linelen == 0 && mp4_mode) {
			c->ps = P_CHUNK;
			return;
		}
		if (c->linelen == 0) {
			if (c->boundary[0] == '\0') {
				client_fail(c, "no multipart boundary");
				return;
			}
			c->ps = P_FIRST;
			return;
		}
		if (strncasecmp(c->line, "Content-Type:", 13) == 0 &&
		    (v = strstr(c->line, "boundary=")) != NULL)
			snprintf(c->boundary, sizeof(c->boundary), "--%s",
			    v + 9);
		return;
	case P_FIRST:
	case P_BOUNDARY:
		if (strcmp(c->line, c->boundary) != 0) {
			client_fail(c, "expected the boundary, got %.60s",
			    c->line);
			return;
		}
		c->ps = P_PART;
		c->have_clen = 0;
		tsrc->begin(c->ts);
		return;
	case P_CHUNK:
		c->chunk_left = strtoul(c->line, &v, 16);
		if (v == c->line || c->chunk_left == 0) {
			client_fail(c, "chunk size '%.20s': the body ended",
			    c->line);
			return;
		}
		c->ps = P_CHUNK_DATA;
		return;
	case P_CHUNK_END:
		if (c->linelen != 0) {
			client_fail(c, "chunk data not followed by CRLF");
			return;
		}
		c->ps = P_CHUNK;
		return;
	case P_PART:
		if (c->linelen == 0) {
			if (!c->have_clen) {
				client_fail(c, "part without Content-Length");
				return;
			}
			c->remain = c->clen;
			c->seen = 0;
			c->ps = P_BODY;
			if (decoder != NULL && c->clen > c->body_cap) {
				free(c->body);
				c->body_cap = c->clen;
				if ((c->body = malloc(c->body_cap)) == NULL) {
					perror("malloc");
					exit(1);
				}
			}
			return;
		}
		if ((colon = strchr(c->line, ':')) == NULL) {
			client_fail(c, "bad part header %.60s", c->line);
			return;
		}
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		if (strcasecmp(c->line, "Content-Length") == 0) {
			c->clen = strtoul(v, NULL, 10);
			c->have_clen = 1;
		}
		tsrc->header(c->ts, c->line, v);
		return;
	default:
		return;
	}
}

static void
client_feed(struct client *c, const unsigned char *p, size_t n)
{
	size_t k;

	while (n > 0 && !c->done) {
		if (c->ps == P_CHUNK_DATA) {
			k = n < c->chunk_left ? n : c->chunk_left;
			mp4_feed_boxes(c, p, k);
			c->chunk_left -= k;
			p += k;
			n -= k;
			if (c->chunk_left == 0)
				c->ps = P_CHUNK_END;
			continue;
		}
		if (c->ps == P_BODY) {
			k = n < c->remain ? n : c->remain;
			/* Keep the first and last two bytes (SOI, EOI)
			 * without touching the others: this is the load
			 * client's hot loop. */
			for (size_t i = 0; i < k && c->seen + i < 2; i++)
				c->first2[c->seen + i] = p[i];
			for (size_t pos = c->clen - 2; c->clen >= 2 &&
			    pos < c->clen; pos++)
				if (pos >= c->seen && pos < c->seen + k)
					c->last2[pos - (c->clen - 2)] =
					    p[pos - c->seen];
			if (decoder != NULL && k > 0)
				memcpy(c->body + c->seen, p, k);
			c->seen += k;
			if (tsrc->body != NULL)
				tsrc->body(c->ts, p, k);
			c->remain -= k;
			p += k;
			n -= k;
			if (c->remain == 0)
				c->ps = P_CRLF;
			continue;
		}
		if (c->ps == P_CRLF) {
			/* The CRLF before the boundary is a line of its own
			 * in the line reader: it must be empty. */
			if (c->linelen == 0 && *p == '\r') {
				p++;
				n--;
				continue;
			}
			if (*p != '\n') {
				client_fail(c, "part of Content-Length is not "
				    "followed by CRLF");
				return;
			}
			p++;
			n--;
			part_done(c);
			c->ps = P_BOUNDARY;
			continue;
		}
		/* Line-oriented states. */
		if (*p == '\n') {
			if (c->linelen > 0 && c->line[c->linelen - 1] == '\r')
				c->linelen--;
			c->line[c->linelen] = '\0';
			client_line(c);
			c->linelen = 0;
		} else if (c->linelen + 1 >= sizeof(c->line)) {
			client_fail(c, "line too long");
			return;
		} else
			c->line[c->linelen++] = (char)*p;
		p++;
		n--;
	}
}

/* 1 if the time source still needs body bytes of the current part. */
static int
client_wants_body(const struct client *c)
{
	return decoder != NULL || (tsrc->body != NULL &&
	    (tsrc->wants_body == NULL || tsrc->wants_body(c->ts)));
}

/*
 * Reads what the server sent, at most max bytes, in up to READ_ROUNDS
 * recv() calls.  Part headers and the first bytes of a body are read
 * HEAD_READ bytes at a time; the middle of a body that nobody looks at
 * (the time source has its stamp, SOI is checked) is discarded in the
 * kernel (MSG_TRUNC, tcp(7)), then its last two bytes and what follows
 * are read and checked again.  Every byte still arrives through TCP and
 * is counted, but this client does not copy 80 KB per frame it never
 * reads: it shares the machine with the streamer it measures, and its
 * own cost per frame is part of every latency it reports.
 */
static void
client_read(struct client *c, size_t max)
{
	static unsigned char buf[RBUF];
	size_t want;
	ssize_t n;
	int round, flags;

	for (round = 0; round < READ_ROUNDS && max > 0 && !c->done; round++) {
		want = max < sizeof(buf) ? max : sizeof(buf);
		flags = MSG_DONTWAIT;
		if (c->ps == P_CHUNK_DATA && c->box_have == 8 &&
		    strcmp(c->box_type, "mdat") == 0 && c->box_left > 1 &&
		    c->chunk_left > 1) {
			/* The middle of an mdat: only its end matters. */
			size_t skip = c->box_left < c->chunk_left ?
			    c->box_left : c->chunk_left;
			if (want > skip - 1)
				want = skip - 1;
			flags |= MSG_TRUNC;
		} else if (c->ps == P_BODY && c->seen >= 2 && c->remain > 2 &&
		    !client_wants_body(c)) {
			if (want > c->remain - 2)
				want = c->remain - 2;
			flags |= MSG_TRUNC;
		} else if ((c->ps != P_BODY || c->seen < 2) &&
		    c->ps != P_CHUNK_DATA && want > HEAD_READ)
			want = HEAD_READ;
		n = recv(c->fd, buf, want, flags);
		if (n == 0) {
			client_fail(c, "server closed the connection");
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				client_fail(c, "recv: %s", strerror(errno));
			return;
		}
		max -= (size_t)n;
		if (c->slow)
			c->budget -= (double)n;
		if (t_warm <= now_mono())
			c->bytes += (size_t)n;
		if ((flags & MSG_TRUNC) && c->ps == P_CHUNK_DATA) {
			c->box_left -= (size_t)n;
			c->chunk_left -= (size_t)n;
		} else if (flags & MSG_TRUNC) {
			c->seen += (size_t)n;
			c->remain -= (size_t)n;
		} else
			client_feed(c, buf, (size_t)n);
		if ((size_t)n < want)
			return;		/* nothing more for now */
	}
}

static void
client_writable(struct client *c)
{
	struct epoll_event ev;
	int err = client_connect_error(c->fd);

	if (err != 0) {
		client_fail(c, "connect: %s", strerror(err));
		return;
	}
	if (send(c->fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
		client_fail(c, "send: %s", strerror(errno));
		return;
	}
	c->sent = 1;
	memset(&ev, 0, sizeof(ev));
	/* Slow clients are read on the pacing tick, never on readiness. */
	ev.events = c->slow ? 0 : EPOLLIN;
	ev.data.ptr = c;
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* ------------------------------------------------------------- report */

static void
print_group(const char *name, struct client *cl, int n, int slow,
    double duration, int per_client)
{
	double *fps = calloc((size_t)n + 1, sizeof(double));
	double *cov = calloc((size_t)n + 1, sizeof(double));
	struct samples all = { 0 }, first = { 0 }, second = { 0 };
	uint64_t frames = 0, frames_all = 0, unstamped = 0, bytes = 0;
	uint64_t decode_failures = 0;
	double gap_max = 0;
	int k = 0, kc = 0, i, errors = 0;
	size_t j;

	for (i = 0; i < n; i++) {
		struct client *c = &cl[i];
		if (c->slow != slow)
			continue;
		fps[k++] = duration > 0 ? (double)c->frames / duration : 0;
		if (c->seq_frames >= 2)
			cov[kc++] = (double)c->seq_frames /
			    (double)(c->seq_last - c->seq_first + 1);
		frames += c->frames;
		frames_all += c->frames_all;
		unstamped += c->unstamped;
		bytes += c->bytes;
		decode_failures += c->decode_failures;
		if (c->gap_max > gap_max)
			gap_max = c->gap_max;
		errors += c->error[0] != '\0';
		for (j = 0; j < c->lat.n; j++) {
			samples_add(&all, c->lat.v[j]);
			samples_add(c->lat_t.v[j] - (t_warm - t_start) <
			    (duration / 2) ? &first : &second, c->lat.v[j]);
		}
	}
	printf("\"%s\":{\"clients\":%d,\"frames\":%llu,\"bytes\":%llu,"
	    "\"frames_all\":%llu,\"unstamped\":%llu,"
	    "\"errors\":%d,\"mbytes_per_s\":%.3f,", name, k,
	    (unsigned long long)frames, (unsigned long long)bytes,
	    (unsigned long long)frames_all, (unsigned long long)unstamped,
	    errors, duration > 0 ? (double)bytes / duration / 1e6 : 0);
	if (decoder != NULL)
		printf("\"decode_failures\":%llu,",
		    (unsigned long long)decode_failures);
	printf("\"gap_max\":%.3f,", gap_max);
	printf("\"fps_min\":%.3f,\"fps_median\":%.3f,\"fps_max\":%.3f,",
	    k ? pct(fps, (size_t)k, 0) : 0, k ? pct(fps, (size_t)k, 50) : 0,
	    k ? pct(fps, (size_t)k, 100) : 0);
	printf("\"coverage_min\":%.4f,\"coverage_median\":%.4f,",
	    kc ? pct(cov, (size_t)kc, 0) : -1,
	    kc ? pct(cov, (size_t)kc, 50) : -1);
	printf("\"latency_p50\":%.4f,\"latency_p90\":%.4f,\"latency_p99\":%.4f,"
	    "\"latency_max\":%.4f,\"latency_p50_first_half\":%.4f,"
	    "\"latency_p50_second_half\":%.4f",
	    all.n ? pct(all.v, all.n, 50) : -1,
	    all.n ? pct(all.v, all.n, 90) : -1,
	    all.n ? pct(all.v, all.n, 99) : -1,
	    all.n ? pct(all.v, all.n, 100) : -1,
	    first.n ? pct(first.v, first.n, 50) : -1,
	    second.n ? pct(second.v, second.n, 50) : -1);
	if (per_client) {
		printf(",\"per_client\":[");
		int f = 1;
		for (i = 0; i < n; i++) {
			struct client *c = &cl[i];
			if (c->slow != slow)
				continue;
			printf("%s{\"frames\":%llu,\"bytes\":%llu,"
			    "\"latency_p50\":%.4f,\"error\":\"%s\"}",
			    f ? "" : ",", (unsigned long long)c->frames,
			    (unsigned long long)c->bytes,
			    c->lat.n ? pct(c->lat.v, c->lat.n, 50) : -1,
			    c->error);
			f = 0;
		}
		printf("]");
	}
	printf("}");
	free(fps);
	free(cov);
	free(all.v);
	free(first.v);
	free(second.v);
}

/* -------------------------------------------------------------- churn */

static void
ts_free(void *st)
{
	if (st != NULL && tsrc->release != NULL)
		tsrc->release(st);
	free(st);
}

static void
client_release(struct client *c)
{
	ts_free(c->ts);
	free(c->body);
	c->body = NULL;
	c->body_cap = 0;
	free(c->lat.v);
	free(c->lat_t.v);
	c->ts = NULL;
	memset(&c->lat, 0, sizeof(c->lat));
	memset(&c->lat_t, 0, sizeof(c->lat_t));
}

static int
run_churn(int total, int conc)
{
	struct client *cl = calloc((size_t)conc, sizeof(*cl));
	struct epoll_event evs[256];
	int started = 0, finished = 0, failed_connect = 0, i, n;
	double deadline = now_mono() + 300;
	unsigned seed = (unsigned)getpid();

	for (i = 0; i < conc; i++)
		cl[i].done = 1;
	while (finished < total && now_mono() < deadline) {
		for (i = 0; i < conc && started < total; i++) {
			struct client *c = &cl[i];
			if (!c->done)
				continue;
			memset(c, 0, sizeof(*c));
			c->ts = calloc(1, tsrc->state_size);
			/* 0: right after the request; small: in the head;
			 * larger: somewhere inside the first frames. */
			switch (rand_r(&seed) % 4) {
			case 0:
				c->stop_after = 0;
				break;
			case 1:
				c->stop_after = 1 + rand_r(&seed) % 200;
				break;
			default:
				c->stop_after = 300 + rand_r(&seed) % 300000;
				break;
			}
			c->rst = rand_r(&seed) % 3 == 0;
			if (client_connect(c, 0) != 0) {
				failed_connect++;
				c->done = 1;
				client_release(c);
				finished++;
			}
			started++;
		}
		n = epoll_wait(epfd, evs, 256, 100);
		for (i = 0; i < n; i++) {
			struct client *c = evs[i].data.ptr;
			int close_now = 0;
			if (evs[i].events & EPOLLOUT) {
				client_writable(c);
				close_now = !c->done && c->stop_after == 0;
			} else {
				client_read(c, RBUF);
				close_now = c->bytes >= c->stop_after ||
				    c->frames_all > 0;
			}
			if (c->done) {
				client_release(c);
				finished++;
				continue;
			}
			if (close_now) {
				if (c->rst) {
					struct linger lg = { 1, 0 };
					setsockopt(c->fd, SOL_SOCKET,
					    SO_LINGER, &lg, sizeof(lg));
				}
				epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				c->fd = -1;
				c->done = 1;
				client_release(c);
				finished++;
			}
		}
	}
	printf("{\"churn\":%d,\"finished\":%d,\"connect_failures\":%d}\n",
	    total, finished, failed_connect);
	free(cl);
	return finished == total ? 0 : 1;
}

/* --------------------------------------------------------------- main */

static void
usage(void)
{
	fprintf(stderr,
	    "usage: loadclient -u http://HOST:PORT/PATH -n N -d SECONDS\n"
	    "                  [--warmup S] [--slow K] [--slow-rate BYTES/S]\n"
	    "                  [--slow-rcvbuf BYTES] [--ts x-timestamp|simstamp] "
	    "[--per-client] [--mp4]\n"
	    "                  [--decode]\n"
	    "       loadclient -u URL --churn TOTAL [-c CONCURRENCY]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "clients", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "slow", required_argument, NULL, 's' },
		{ "slow-rate", required_argument, NULL, 'r' },
		{ "slow-rcvbuf", required_argument, NULL, 'b' },
		{ "ts", required_argument, NULL, 't' },
		{ "per-client", no_argument, NULL, 'p' },
		{ "decode", no_argument, NULL, 'D' },
		{ "churn", required_argument, NULL, 'C' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "mp4", no_argument, NULL, 'M' },
		{ NULL, 0, NULL, 0 },
	};
	const char *url = NULL, *p;
	char host[64], path[512];
	int n = 1, nslow = 0, rcvbuf = 16384, per_client = 0, churn = 0;
	int conc = 50, ch, i, port, active;
	double duration = 5, warmup = 1, rate = 100000, t, last_tick;
	struct epoll_event evs[512];
	struct client *cl;

	while ((ch = getopt_long(argc, argv, "u:n:d:c:", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'u': url = optarg; break;
		case 'n': n = atoi(optarg); break;
		case 'd': duration = atof(optarg); break;
		case 'w': warmup = atof(optarg); break;
		case 's': nslow = atoi(optarg); break;
		case 'r': rate = atof(optarg); break;
		case 'b': rcvbuf = atoi(optarg); break;
		case 'p': per_client = 1; break;
		case 'D':
			if (decoder == NULL &&
			    (decoder = tjInitDecompress()) == NULL) {
				fprintf(stderr, "loadclient: tjInitDecompress "
				    "failed\n");
				return 1;
			}
			break;
		case 'C': churn = atoi(optarg); break;
		case 'c': conc = atoi(optarg); break;
		case 'M': mp4_mode = 1; break;
		case 't':
			for (i = 0; i < (int)(sizeof(ts_sources) /
			    sizeof(ts_sources[0])); i++)
				if (strcmp(ts_sources[i].name, optarg) == 0)
					tsrc = &ts_sources[i];
			if (strcmp(tsrc->name, optarg) != 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (url == NULL || n < 1 || nslow > n || duration <= 0 || conc < 1)
		usage();
	/* Loopback or a test's simulated link, by design: a load test
	 * never goes anywhere else (RFC 2544 reserves 198.18.0.0/15 for
	 * benchmarks). */
	if (sscanf(url, "http://%63[0-9.]:%d", host, &port) != 2 ||
	    inet_pton(AF_INET, host, &dst.sin_addr) != 1 ||
	    !((ntohl(dst.sin_addr.s_addr) >> 24) == 127 ||
	    (ntohl(dst.sin_addr.s_addr) >> 17) == (198u << 7 | 18u >> 1)) ||
	    port <= 0 || port > 65535) {
		fprintf(stderr, "loadclient: URL must be http://HOST:PORT/... "
		    "with HOST in 127.0.0.0/8 or 198.18.0.0/15\n");
		return 2;
	}
	p = strchr(url + 7, '/');
	snprintf(path, sizeof(path), "%s", p != NULL ? p : "/");
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s:%d\r\n"
	    "User-Agent: shmcam-loadclient\r\n\r\n", path, host, port);
	dst.sin_family = AF_INET;
	dst.sin_port = htons((uint16_t)port);
	epfd = clients_epoll();
	if (churn > 0)
		return run_churn(churn, conc);

	cl = calloc((size_t)n, sizeof(*cl));
	t_start = now_mono();
	t_warm = t_start + warmup;
	for (i = 0; i < n; i++) {
		cl[i].slow = i < nslow;
		cl[i].ts = calloc(1, tsrc->state_size);
		if (client_connect(&cl[i], cl[i].slow ? rcvbuf : 0) != 0)
			client_fail(&cl[i], "connect: %s", strerror(errno));
	}
	last_tick = t_start;
	for (;;) {
		int k;

		t = now_mono();
		if (t >= t_warm + duration)
			break;
		k = epoll_wait(epfd, evs, 512, 5);
		for (i = 0; i < k; i++) {
			struct client *c = evs[i].data.ptr;
			if (c->done)
				continue;
			if (evs[i].events & EPOLLOUT)
				client_writable(c);
			else
				client_read(c, RBUF);
		}
		/* Pacing tick for slow clients: a token bucket, read in
		 * small steps so the kernel sees a steady reader. */
		t = now_mono();
		if (nslow > 0 && t - last_tick >= 0.005) {
			for (i = 0; i < nslow; i++) {
				struct client *c = &cl[i];
				if (c->done || c->fd == -1 || !c->sent)
					continue;
				c->budget += rate * (t - last_tick);
				if (c->budget > rate * 0.05)
					c->budget = rate * 0.05;
				if (c->budget >= 1)
					client_read(c, (size_t)c->budget);
			}
			last_tick = t;
		}
	}
	active = 0;
	for (i = 0; i < n; i++)
		active += !cl[i].done;
	printf("{\"url\":\"%s\",\"clients\":%d,\"nslow\":%d,"
	    "\"slow_rate\":%.0f,\"duration\":%.3f,\"ts_source\":\"%s\","
	    "\"connected_at_end\":%d,\"stamp_decodes\":%llu,"
	    "\"stamp_failures\":%llu,", path, n, nslow, rate, duration,
	    mp4_mode ? "prft" : tsrc->name, active, (unsigned long long)sst_decodes,
	    (unsigned long long)sst_failures);
	print_group("fast", cl, n, 0, duration, per_client);
	if (nslow > 0) {
		printf(",");
		print_group("slow", cl, n, 1, duration, per_client);
	}
	printf(",\"errors\":[");
	int first = 1;
	for (i = 0; i < n; i++)
		if (cl[i].error[0] != '\0') {
			printf("%s\"%s\"", first ? "" : ",", cl[i].error);
			first = 0;
		}
	printf("]}\n");
	for (i = 0; i < n; i++) {
		if (cl[i].fd != -1)
			close(cl[i].fd);
		client_release(&cl[i]);
	}
	free(cl);
	if (decoder != NULL)
		tjDestroy(decoder);
	return 0;
}
