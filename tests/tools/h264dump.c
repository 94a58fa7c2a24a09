/*
 * h264dump - attaches to a capture through its control socket as a server
 * does, says it has H.264 viewers, and writes the H.264 ring's access
 * units as an Annex-B file that ffmpeg and ffprobe read:
 *
 *   h264dump -c CTL [-n FRAMES] [-t SECONDS] [-o OUT.h264] [-i INDEX]
 *            [-j JPEGDIR] [-r N@K]... [-q N] [-p K:MS] [-R] [-a]
 *
 *   -c CTL      the capture's control socket
 *   -n FRAMES   stop after this many access units (default 90)
 *   -t SECONDS  ... or after this long (default 30); exit 1 if fewer
 *   -o FILE     the Annex-B output (default: none)
 *   -i FILE     one line per event: "au SEQ FLAGS LENGTH CAPTURE_REAL_NS
 *               CAPTURE_MONO_NS PUBLISH_MONO_NS WIDTH HEIGHT SLICES
 *               ENCODE_NS ENCODED" (the last two: the ring's encoding
 *               counters, rh_encode_ns and rh_encoded, read just after
 *               the unit; between two units read one frame apart whose
 *               ENCODED differ by one, the ENCODE_NS difference is the
 *               later unit's encoding time),
 *               "request MONO_NS COUNT", "viewers MONO_NS N",
 *               "attach GENERATION_HEX PARAMS_LEN PARAMS_FROM BITRATE GOP"
 *   -j DIR      also the JPEG ring's frames, DIR/CAPTURE_REAL_NS.jpg (it
 *               says it has a JPEG viewer then)
 *   -r N@K      send N keyframe requests at once after K access units
 *               (repeatable)
 *   -q N        send N keyframe requests after every access unit (a
 *               flood, for the rate limit)
 *   -p K:MS     after K access units report 0 H.264 viewers for MS
 *               milliseconds, then 1 again
 *   -R          when the capture goes away, attach again (a restart)
 *   -a          write every unit from the first one read, not from the
 *               first keyframe
 *
 * Units are written from the first keyframe on (a decoder needs one), so
 * the file always decodes from its start.  Exit 0, 1 (timeout, protocol
 * error, a unit that fails h264_au_check()), 2 (usage).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ctl.h"
#include "h264.h"
#include "ring.h"

#define MAX_REQUESTS	16

struct dump {
	const char	*ctl;
	int		 sock;
	int		 efd;		/* H.264 */
	int		 jefd;		/* JPEG */
	struct ring_reader h264;
	struct ring_reader jpeg;
	int		 have_h264;
	uint64_t	 seq, jseq;
	FILE		*out, *index;
	const char	*jpegdir;
	uint8_t		*buf;
	size_t		 cap;
	unsigned long	 units;		/* read */
	unsigned long	 written;
	int		 started;
	int		 all;
};

static void
die(const char *msg)
{
	fprintf(stderr, "h264dump: %s\n", msg);
	exit(1);
}

static void
send_requests(struct dump *d, unsigned long n)
{
	struct ctl_keyframe k;

	if (d->index != NULL)
		fprintf(d->index, "request %llu %lu\n",
		    (unsigned long long)clock_ns(CLOCK_MONOTONIC), n);
	ctl_init(&k.h, CTL_KEYFRAME, sizeof(k));
	k.kind = CTL_KIND_H264;
	for (; n > 0; n--)
		if (ctl_send(d->sock, &k, sizeof(k), NULL, 0) != 0)
			die("keyframe request: send failed");
}

static void
send_viewers(struct dump *d, uint32_t n)
{
	struct ctl_viewers v;

	ctl_init(&v.h, CTL_VIEWERS, sizeof(v));
	/* With -j, a JPEG viewer too: the capture wakes a server for a
	 * ring only while it has viewers of its kind (ctl.h). */
	v.viewers[CTL_KIND_JPEG] = d->jpegdir != NULL;
	v.viewers[CTL_KIND_H264] = n;
	if (ctl_send(d->sock, &v, sizeof(v), NULL, 0) != 0)
		die("viewers: send failed");
	if (d->index != NULL)
		fprintf(d->index, "viewers %llu %u\n",
		    (unsigned long long)clock_ns(CLOCK_MONOTONIC), n);
}

/* Receives one message within ms; its type, or 0 on EOF or if none
 * came. */
static unsigned
recv_msg(struct dump *d, union ctl_msg *m, int fds[CTL_MAX_FDS], int *nfds,
    int ms)
{
	struct pollfd p = { d->sock, POLLIN, 0 };
	ssize_t n;

	if (poll(&p, 1, ms) != 1)
		return 0;
	n = ctl_recv(d->sock, m, fds, nfds);
	/* A capture that exits with a message of ours unread resets the
	 * connection instead of closing it. */
	if (n == 0 || n == -ECONNRESET)
		return 0;
	if (n < 0)
		die("invalid message from the capture");
	return m->hdr.ch_type;
}

static void
attach_h264(struct dump *d, const struct ctl_stream *st, int efd, int fd)
{
	struct ring_params p;
	int rc;

	if (d->have_h264) {
		ring_reader_close(&d->h264);
		close(d->efd);
	}
	rc = ring_reader_attach_fd(&d->h264, fd);
	close(fd);
	if (rc != 0 || d->h264.rr_geo.codec != RING_CODEC_H264 ||
	    d->h264.rr_geo.generation != st->generation)
		die("H.264 ring refused");
	d->efd = efd;
	d->have_h264 = 1;
	d->seq = 0;
	if (ring_read_params(&d->h264, &p) != 0)
		die("parameters unreadable");
	if (d->index != NULL)
		fprintf(d->index, "attach %016llx %u %llu %u %u\n",
		    (unsigned long long)st->generation, p.len,
		    (unsigned long long)p.from, p.bitrate_kbps, p.gop);
	if (d->cap < d->h264.rr_geo.slot_size) {
		d->cap = d->h264.rr_geo.slot_size;
		if ((d->buf = realloc(d->buf, d->cap)) == NULL)
			die("out of memory");
	}
}

/*
 * Connects, says hello, maps both rings; retries for up to 10 s (a
 * capture that is going away may still accept, then close).
 */
static void
attach(struct dump *d)
{
	struct ctl_hello hello;
	union ctl_msg m;
	int fds[CTL_MAX_FDS], nfds, rc;
	uint64_t deadline = clock_ns(CLOCK_MONOTONIC) + 10000000000ull;

	for (;;) {
		if (clock_ns(CLOCK_MONOTONIC) > deadline)
			die("cannot attach to the capture");
		if (ctl_connect(d->ctl, &d->sock) != 0) {
			usleep(20000);
			continue;
		}
		ctl_init(&hello.h, CTL_HELLO, sizeof(hello));
		hello.pid = (uint32_t)getpid();
		hello.ring_abi = RING_ABI_VERSION;
		hello.kinds = CTL_KINDS_ALL;
		snprintf(hello.label, sizeof(hello.label), "h264dump");
		if (ctl_send(d->sock, &hello, sizeof(hello), NULL, 0) == 0 &&
		    recv_msg(d, &m, fds, &nfds, 5000) == CTL_WELCOME)
			break;
		close(d->sock);
		usleep(20000);
	}
	d->jefd = fds[0];
	rc = ring_reader_attach_fd(&d->jpeg, fds[1]);
	close(fds[1]);
	if (rc != 0 || d->jpeg.rr_geo.codec != RING_CODEC_JPEG)
		die("JPEG ring refused");
	d->jseq = 0;
	if (!(m.welcome.kinds & CTL_KIND_BIT(CTL_KIND_H264)))
		die("the capture has no H.264");
	if (recv_msg(d, &m, fds, &nfds, 5000) != CTL_STREAM)
		die("no H.264 ring");
	attach_h264(d, &m.stream, fds[0], fds[1]);
	send_viewers(d, 1);
}

static void
detach(struct dump *d)
{
	close(d->sock);
	close(d->jefd);
	ring_reader_close(&d->jpeg);
	if (d->have_h264) {
		close(d->efd);
		ring_reader_close(&d->h264);
	}
	d->have_h264 = 0;
}

static void
write_annexb(struct dump *d, const uint8_t *au, size_t len)
{
	static const uint8_t start[4] = { 0, 0, 0, 1 };
	struct h264_nal nal;
	size_t pos = 0;

	while (h264_au_next(au, len, &pos, &nal) == 1)
		if (fwrite(start, 1, 4, d->out) != 4 ||
		    fwrite(nal.data, 1, nal.len, d->out) != nal.len)
			die("write failed");
}

static void
take_h264(struct dump *d)
{
	struct ring_frame f;
	struct h264_au_info info;
	int rc;

	while ((rc = ring_read_next(&d->h264, d->seq, &f, d->buf, d->cap)) ==
	    0) {
		d->seq = f.seq;
		d->units++;
		if (h264_au_check(d->buf, f.length, &info) != 0 ||
		    (info.idr != 0) != ((f.flags & RING_FRAME_KEYFRAME) != 0)) {
			fprintf(stderr, "h264dump: unit %llu (%u bytes, flags "
			    "%u) fails its check\n", (unsigned long long)f.seq,
			    f.length, f.flags);
			exit(1);
		}
		if (d->index != NULL) {
			struct ring_counters c;

			ring_read_counters(&d->h264, &c);
			fprintf(d->index, "au %llu %u %u %llu %llu %llu %u "
			    "%u %u %llu %llu\n", (unsigned long long)f.seq,
			    f.flags, f.length,
			    (unsigned long long)f.capture_real_ns,
			    (unsigned long long)f.capture_mono_ns,
			    (unsigned long long)f.publish_mono_ns, f.width,
			    f.height, info.slices,
			    (unsigned long long)c.encode_ns,
			    (unsigned long long)c.encoded);
		}
		if (f.flags & RING_FRAME_KEYFRAME)
			d->started = 1;
		if (!d->started && !d->all)
			continue;
		if (d->out != NULL)
			write_annexb(d, d->buf, f.length);
		d->written++;
	}
	if (rc != -EAGAIN && rc != -ENODATA && rc != -ESTALE)
		die(ring_strerror(rc));
}

static void
take_jpeg(struct dump *d)
{
	static uint8_t *jbuf;
	static size_t jcap;
	struct ring_frame f;
	char path[4096];
	FILE *fp;

	if (jcap < d->jpeg.rr_geo.slot_size) {
		jcap = d->jpeg.rr_geo.slot_size;
		if ((jbuf = realloc(jbuf, jcap)) == NULL)
			die("out of memory");
	}
	while (ring_read_next(&d->jpeg, d->jseq, &f, jbuf, jcap) == 0) {
		d->jseq = f.seq;
		if (d->jpegdir == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%llu.jpg", d->jpegdir,
		    (unsigned long long)f.capture_real_ns);
		if ((fp = fopen(path, "wb")) == NULL ||
		    fwrite(jbuf, 1, f.length, fp) != f.length ||
		    fclose(fp) != 0)
			die("JPEG write failed");
	}
}

static void
drain_efd(int fd)
{
	uint64_t n;

	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		die("eventfd read");
}

/* Closes the files, detaches, frees: what is written stays readable
 * however the run ends (LeakSanitizer's exit would skip stdio's flush). */
static void
finish(struct dump *d)
{
	if (d->out != NULL && fclose(d->out) != 0)
		die("write failed");
	d->out = NULL;
	if (d->index != NULL)
		fclose(d->index);
	d->index = NULL;
	detach(d);
	free(d->buf);
	d->buf = NULL;
}

int
main(int argc, char **argv)
{
	struct dump d;
	unsigned long frames = 90, req_n[MAX_REQUESTS], req_at[MAX_REQUESTS];
	unsigned long pause_at = 0, pause_ms = 0, flood = 0, flooded = 0;
	unsigned nreq = 0, i;
	double seconds = 30;
	int ch, reattach = 0, paused = 0;
	uint64_t deadline, resume_ns = 0;
	const char *outpath = NULL, *indexpath = NULL;

	memset(&d, 0, sizeof(d));
	while ((ch = getopt(argc, argv, "c:n:t:o:i:j:r:q:p:Ra")) != -1) {
		switch (ch) {
		case 'c':
			d.ctl = optarg;
			break;
		case 'n':
			frames = strtoul(optarg, NULL, 10);
			break;
		case 't':
			seconds = strtod(optarg, NULL);
			break;
		case 'o':
			outpath = optarg;
			break;
		case 'i':
			indexpath = optarg;
			break;
		case 'j':
			d.jpegdir = optarg;
			break;
		case 'r':
			if (nreq == MAX_REQUESTS || sscanf(optarg, "%lu@%lu",
			    &req_n[nreq], &req_at[nreq]) != 2)
				goto usage;
			nreq++;
			break;
		case 'q':
			flood = strtoul(optarg, NULL, 10);
			break;
		case 'p':
			if (sscanf(optarg, "%lu:%lu", &pause_at,
			    &pause_ms) != 2)
				goto usage;
			break;
		case 'R':
			reattach = 1;
			break;
		case 'a':
			d.all = 1;
			break;
		default:
			goto usage;
		}
	}
	if (d.ctl == NULL || optind != argc)
		goto usage;
	if (outpath != NULL && (d.out = fopen(outpath, "wb")) == NULL)
		die("cannot open the output");
	if (indexpath != NULL && (d.index = fopen(indexpath, "w")) == NULL)
		die("cannot open the index");
	attach(&d);
	deadline = clock_ns(CLOCK_MONOTONIC) + (uint64_t)(seconds * 1e9);
	while (d.written < frames) {
		struct pollfd p[3] = { { d.sock, POLLIN, 0 },
		    { d.efd, POLLIN, 0 }, { d.jefd, POLLIN, 0 } };
		union ctl_msg m;
		int fds[CTL_MAX_FDS], nfds;
		uint64_t now = clock_ns(CLOCK_MONOTONIC);

		if (now > deadline) {
			fprintf(stderr, "h264dump: %lu of %lu units in %.1f s\n",
			    d.written, frames, seconds);
			finish(&d);
			return 1;
		}
		for (i = 0; i < nreq; i++) {
			if (req_n[i] == 0 || d.units < req_at[i])
				continue;
			send_requests(&d, req_n[i]);
			req_n[i] = 0;
		}
		if (flood != 0 && d.started && d.units > flooded) {
			send_requests(&d, flood);
			flooded = d.units;
		}
		if (pause_ms != 0 && !paused && d.units >= pause_at) {
			send_viewers(&d, 0);
			paused = 1;
			resume_ns = now + pause_ms * 1000000ull;
		}
		if (paused == 1 && now >= resume_ns) {
			send_viewers(&d, 1);
			paused = 2;
		}
		if (poll(p, 3, 20) < 0)
			die("poll");
		if (p[0].revents) {
			if (recv_msg(&d, &m, fds, &nfds, 0) == 0) {
				if (!reattach)
					die("the capture went away");
				detach(&d);
				attach(&d);
				continue;
			}
			if (m.hdr.ch_type != CTL_STREAM)
				die("unexpected message");
			attach_h264(&d, &m.stream, fds[0], fds[1]);
			continue;
		}
		if (p[1].revents) {
			drain_efd(d.efd);
			take_h264(&d);
		}
		if (p[2].revents) {
			drain_efd(d.jefd);
			take_jpeg(&d);
		}
	}
	finish(&d);
	return 0;
usage:
	fprintf(stderr, "usage: h264dump -c CTL [-n FRAMES] [-t SECONDS] "
	    "[-o OUT.h264] [-i INDEX] [-j JPEGDIR] [-r N@K]... [-q N] "
	    "[-p K:MS] [-R] [-a]\n");
	return 2;
}
