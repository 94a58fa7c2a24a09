/*
 * ringinfo - prints what a ring's header and newest frame say, one
 * key=value per line, for tests and for looking at a running capture:
 *
 *   ringinfo [-k h264] CTLPATH [OUT]
 *
 * The ring has no name to open it by (common/ring.h): ringinfo attaches
 * through the capture's control socket CTLPATH, as a server does, for
 * as long as it takes to read (the capture counts it among its servers
 * meanwhile).  -k h264: the H.264 ring (CTL_STREAM) instead of the JPEG
 * ring.  With OUT the newest frame's bytes are written there too.  Exit
 * 0, or 1 with a message (a capture without H.264 has no H.264 ring).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "ring.h"

/* Waits up to 5 s for the next message on sock; its length or -errno. */
static ssize_t
next_message(int sock, union ctl_msg *m, int fds[CTL_MAX_FDS], int *nfds)
{
	struct pollfd pfd;
	ssize_t n;

	pfd.fd = sock;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 5000) != 1)
		return -ETIMEDOUT;
	n = ctl_recv(sock, m, fds, nfds);
	return n == 0 ? -ECONNRESET : n;
}

/* The descriptor of the ring of kind (the welcome's, or the CTL_STREAM
 * after it), or -errno; *sock stays open (closing it detaches). */
static int
attach(const char *path, unsigned kind, int *sock)
{
	struct ctl_hello h;
	union ctl_msg m;
	int fds[CTL_MAX_FDS], nfds, rc;
	ssize_t n;

	if ((rc = ctl_connect(path, sock)) != 0)
		return rc;
	ctl_init(&h.h, CTL_HELLO, sizeof(h));
	h.pid = (uint32_t)getpid();
	h.ring_abi = RING_ABI_VERSION;
	h.kinds = CTL_KIND_BIT(kind);
	snprintf(h.label, sizeof(h.label), "ringinfo");
	if ((rc = ctl_send(*sock, &h, sizeof(h), NULL, 0)) != 0)
		return rc;
	if ((n = next_message(*sock, &m, fds, &nfds)) < 0)
		return (int)n;
	if (m.hdr.ch_type != CTL_WELCOME) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return m.hdr.ch_type == CTL_REFUSED ? -m.refused.error :
		    -EPROTO;
	}
	close(fds[0]);		/* the wake-up eventfd: we only look */
	if (kind == CTL_KIND_JPEG)
		return fds[1];
	close(fds[1]);
	if (!(m.welcome.kinds & CTL_KIND_BIT(kind)))
		return -ENOENT;
	/* The H.264 ring comes right after the welcome. */
	if ((n = next_message(*sock, &m, fds, &nfds)) < 0)
		return (int)n;
	if (m.hdr.ch_type != CTL_STREAM || m.stream.kind != kind) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return -EPROTO;
	}
	close(fds[0]);
	return fds[1];
}

int
main(int argc, char **argv)
{
	struct ring_reader r;
	struct ring_status st;
	struct ring_counters c;
	struct ring_params p;
	struct ring_frame f;
	uint8_t *buf;
	size_t cap;
	FILE *out;
	unsigned kind = CTL_KIND_JPEG;
	int rc, fd, sock = -1;

	if (argc > 2 && strcmp(argv[1], "-k") == 0) {
		if (strcmp(argv[2], "h264") != 0) {
			fprintf(stderr, "ringinfo: -k h264 is the only kind\n");
			return 2;
		}
		kind = CTL_KIND_H264;
		argc -= 2;
		argv += 2;
	}
	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: ringinfo [-k h264] CTLPATH [OUT]\n");
		return 2;
	}
	if ((fd = attach(argv[1], kind, &sock)) < 0) {
		fprintf(stderr, "ringinfo: %s: %s\n", argv[1], strerror(-fd));
		return 1;
	}
	rc = ring_reader_attach_fd(&r, fd);
	close(fd);
	if (rc != 0) {
		fprintf(stderr, "ringinfo: %s: %s\n", argv[1],
		    ring_strerror(rc));
		return 1;
	}
	if ((rc = ring_read_status(&r, &st)) != 0) {
		fprintf(stderr, "ringinfo: status: %s\n", ring_strerror(rc));
		return 1;
	}
	ring_read_counters(&r, &c);
	printf("generation=%016llx\nslot_count=%u\nslot_size=%u\ncodec=%s\n",
	    (unsigned long long)r.rr_geo.generation, r.rr_geo.slot_count,
	    r.rr_geo.slot_size, ring_codec_name(r.rr_geo.codec));
	printf("state=%s\nreason=%s\nsource=%s\nwidth=%u\nheight=%u\n"
	    "fps_milli=%u\nformat=%c%c%c%c\n", ring_state_name(st.state),
	    st.reason, st.source, st.width, st.height, st.fps_milli,
	    (char)(st.format & 0xff), (char)((st.format >> 8) & 0xff),
	    (char)((st.format >> 16) & 0xff), (char)((st.format >> 24) & 0xff));
	printf("latest=%llu\ncaptured=%llu\ndropped=%llu\nidle=%llu\n"
	    "restarts=%llu\nservers=%u\nviewers=%u\n",
	    (unsigned long long)c.latest,
	    (unsigned long long)c.frames_captured,
	    (unsigned long long)c.frames_dropped,
	    (unsigned long long)c.frames_idle,
	    (unsigned long long)c.source_restarts, c.servers, c.viewers);
	printf("bytes=%llu\nencode_ns=%llu\nencoded=%llu\nkeyframes=%llu\n"
	    "keyframe_seq=%llu\nkeyframe_requests=%llu\n"
	    "keyframes_forced=%llu\n", (unsigned long long)c.bytes,
	    (unsigned long long)c.encode_ns, (unsigned long long)c.encoded,
	    (unsigned long long)c.keyframes,
	    (unsigned long long)c.keyframe_seq,
	    (unsigned long long)c.keyframe_requests,
	    (unsigned long long)c.keyframes_forced);
	if ((rc = ring_read_params(&r, &p)) != 0) {
		fprintf(stderr, "ringinfo: parameters: %s\n",
		    ring_strerror(rc));
		return 1;
	}
	printf("params_from=%llu\nparams_len=%u\nbitrate_kbps=%u\ngop=%u\n",
	    (unsigned long long)p.from, p.len, p.bitrate_kbps, p.gop);

	cap = r.rr_geo.slot_size - RING_SLOT_HEADER_SIZE;
	if ((buf = malloc(cap)) == NULL)
		return 1;
	rc = ring_read_latest(&r, 0, &f, buf, cap);
	if (rc == 0) {
		printf("frame_seq=%llu\nframe_length=%u\nframe_width=%u\n"
		    "frame_height=%u\nframe_flags=%u\n"
		    "frame_capture_real_ns=%llu\nframe_capture_mono_ns=%llu\n"
		    "frame_publish_real_ns=%llu\nframe_publish_mono_ns=%llu\n",
		    (unsigned long long)f.seq, f.length, f.width, f.height,
		    f.flags, (unsigned long long)f.capture_real_ns,
		    (unsigned long long)f.capture_mono_ns,
		    (unsigned long long)f.publish_real_ns,
		    (unsigned long long)f.publish_mono_ns);
		if (argc == 3) {
			if ((out = fopen(argv[2], "wb")) == NULL ||
			    fwrite(buf, 1, f.length, out) != f.length ||
			    fclose(out) != 0) {
				fprintf(stderr, "ringinfo: %s: %s\n", argv[2],
				    strerror(errno));
				return 1;
			}
		}
	} else if (rc != -ENODATA) {
		fprintf(stderr, "ringinfo: frame: %s\n", ring_strerror(rc));
		return 1;
	}
	free(buf);
	ring_reader_close(&r);
	close(sock);
	return 0;
}
