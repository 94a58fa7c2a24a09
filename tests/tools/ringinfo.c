/*
 * ringinfo - prints what a ring's header and newest frame say, one
 * key=value per line, for tests and for looking at a running capture:
 *
 *   ringinfo CTLPATH [OUT.jpg]
 *
 * The ring has no name to open it by (common/ring.h): ringinfo attaches
 * through the capture's control socket CTLPATH, as a server does, for
 * as long as it takes to read (the capture counts it among its servers
 * meanwhile).  With OUT.jpg the newest frame's bytes are written there
 * too.  Exit 0, or 1 with a message.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "ring.h"

/* The welcome's ring descriptor, or -errno; *sock stays open (closing it
 * detaches). */
static int
attach(const char *path, int *sock)
{
	struct ctl_hello h;
	struct pollfd pfd;
	union ctl_msg m;
	int fds[CTL_MAX_FDS], nfds, rc;
	ssize_t n;

	if ((rc = ctl_connect(path, sock)) != 0)
		return rc;
	ctl_init(&h.h, CTL_HELLO, sizeof(h));
	h.pid = (uint32_t)getpid();
	h.ring_abi = RING_ABI_VERSION;
	snprintf(h.label, sizeof(h.label), "ringinfo");
	if ((rc = ctl_send(*sock, &h, sizeof(h), NULL, 0)) != 0)
		return rc;
	pfd.fd = *sock;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 5000) != 1)
		return -ETIMEDOUT;
	n = ctl_recv(*sock, &m, fds, &nfds);
	if (n < 0)
		return (int)n;
	if (n == 0)
		return -ECONNRESET;
	if (m.hdr.ch_type != CTL_WELCOME) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return m.hdr.ch_type == CTL_REFUSED ? -m.refused.error :
		    -EPROTO;
	}
	close(fds[0]);		/* the wake-up eventfd: we only look */
	return fds[1];
}

int
main(int argc, char **argv)
{
	struct ring_reader r;
	struct ring_status st;
	struct ring_counters c;
	struct ring_frame f;
	uint8_t *buf;
	size_t cap;
	FILE *out;
	int rc, fd, sock = -1;

	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: ringinfo CTLPATH [OUT.jpg]\n");
		return 2;
	}
	if ((fd = attach(argv[1], &sock)) < 0) {
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
	printf("generation=%016llx\nslot_count=%u\nslot_size=%u\n",
	    (unsigned long long)r.rr_geo.generation, r.rr_geo.slot_count,
	    r.rr_geo.slot_size);
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
