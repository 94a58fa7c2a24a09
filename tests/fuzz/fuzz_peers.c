/*
 * fuzz_peers.c - the capture's side of the control protocol
 * (capture/peers.c) against arbitrary peers: what servers, or anything
 * else that can connect to the control socket, send it.
 *
 * One real struct peers for the whole run, on a real control socket
 * (ctl_listen()) and a real ring.  Each input is a script for two
 * clients, a list of steps:
 *
 *   op & 3 == 0   client (op >> 2 & 1) sends a message: then one byte,
 *                 the number of descriptors to attach (& 7, so also
 *                 more than any message carries and more than the
 *                 receiver has room for: truncated control data), two
 *                 bytes of length (little-endian, & 255) and that many
 *                 bytes.  With op & 8 the header's magic, ABI and length
 *                 are made valid first, so the fuzzer reaches the
 *                 message types without guessing the magic.
 *   op & 3 == 1   the loop turns and the client reads what came back
 *                 (a welcome's descriptors are closed)
 *   op & 3 == 2   the client hangs up (and reconnects at its next send)
 *   op & 3 == 3   a frame is published into both rings: peers_notify()
 *                 and peers_notify_h264() wake everyone
 *
 * The capture has H.264 (a real H.264 ring), so a hello that asks for it
 * is answered with a welcome and a CTL_STREAM.
 * After every turn the counts must agree (peers pending plus attached
 * equals the peers listed; the viewers of each kind are the attached
 * peers' sum, saturating at UINT32_MAX, and each ring's header says the
 * same; only attached peers that asked for H.264 have its eventfd); at
 * the end both clients hang up and every peer must be gone and every
 * descriptor closed.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "ctl.h"
#include "fuzzutil.h"
#include "log.h"
#include "peers.h"
#include "ring.h"

static struct event_base *base;
static struct ring_writer ring;
static struct ring_writer h264;
static struct peers ps;
static uint64_t keyframe_requests;
static char sock_path[108];
static int spare = -1;		/* the descriptor clients attach */
static int base_fds;

static void
cleanup(void)
{
	unlink(sock_path);
	ring_writer_destroy(&ring);
	ring_writer_destroy(&h264);
}

static void
keyframe_cb(struct peers *p, void *arg)
{
	(void)p;
	(void)arg;
	keyframe_requests++;
}

static void
setup(void)
{
	char name[64], why[256];
	int fd;

	log_init("fuzz_peers");
	log_set_verbose(-1);
	signal(SIGPIPE, SIG_IGN);	/* as main.c does */
	snprintf(name, sizeof(name), "shmcam-fuzz-peers-%d", (int)getpid());
	if (ring_writer_create(&ring, name, RING_SLOTS_MIN, RING_SLOT_SIZE_MIN) != 0)
		abort();
	snprintf(name, sizeof(name), "shmavc-fuzz-peers-%d", (int)getpid());
	if (ring_writer_create_codec(&h264, name, RING_CODEC_H264,
	    RING_SLOTS_MIN, RING_SLOT_SIZE_MIN) != 0)
		abort();
	snprintf(sock_path, sizeof(sock_path), "/tmp/fuzz_peers-%d.sock",
	    (int)getpid());
	atexit(cleanup);
	if ((base = event_base_new()) == NULL)
		abort();
	fd = ctl_listen(sock_path, 0600, (gid_t)-1, why, sizeof(why));
	if (fd < 0 || peers_init(&ps, base, fd, &ring) != 0)
		abort();
	peers_set_h264(&ps, &h264);
	ps.ps_keyframe_cb = keyframe_cb;
	spare = eventfd(0, EFD_CLOEXEC);
	if (spare == -1)
		abort();
	base_fds = fuzz_count_fds();
}

/* The capture's sums saturate: two huge reports must not wrap. */
static uint32_t
sat_add(uint32_t a, uint32_t b)
{
	return b > UINT32_MAX - a ? UINT32_MAX : a + b;
}

static void
check_counts(void)
{
	struct ring_reader r;
	struct ring_counters c;
	struct peer *p;
	unsigned n = 0, attached = 0, with_h264 = 0;
	uint32_t viewers[CTL_KINDS] = { 0 };

	TAILQ_FOREACH(p, &ps.ps_list, p_entry) {
		n++;
		if (p->p_efd != -1) {
			attached++;
			viewers[CTL_KIND_JPEG] = sat_add(viewers[CTL_KIND_JPEG],
			    p->p_viewers[CTL_KIND_JPEG]);
			viewers[CTL_KIND_H264] = sat_add(viewers[CTL_KIND_H264],
			    p->p_viewers[CTL_KIND_H264]);
		}
		if (p->p_h264_efd != -1) {
			with_h264++;
			if (p->p_efd == -1 ||
			    !(p->p_kinds & CTL_KIND_BIT(CTL_KIND_H264)))
				abort();
		}
	}
	if (n != ps.ps_pending + ps.ps_attached ||
	    attached != ps.ps_attached || with_h264 != ps.ps_h264_attached ||
	    viewers[CTL_KIND_JPEG] != ps.ps_viewers[CTL_KIND_JPEG] ||
	    viewers[CTL_KIND_H264] != ps.ps_viewers[CTL_KIND_H264] ||
	    ps.ps_attached > PEERS_MAX || ps.ps_pending > PEERS_PENDING_MAX)
		abort();
	if (ring_reader_attach_mem(&r, ring.rw_map, ring.rw_map_size) != 0)
		abort();
	ring_read_counters(&r, &c);
	if (c.servers != ps.ps_attached ||
	    c.viewers != ps.ps_viewers[CTL_KIND_JPEG])
		abort();
	if (ring_reader_attach_mem(&r, h264.rw_map, h264.rw_map_size) != 0)
		abort();
	ring_read_counters(&r, &c);
	if (c.servers != ps.ps_h264_attached ||
	    c.viewers != ps.ps_viewers[CTL_KIND_H264])
		abort();
}

/* A turn of the loop; client fd (or -1) takes what came back. */
static void
turn(int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} cbuf;
	char data[512];
	struct iovec iov = { data, sizeof(data) };
	struct msghdr mh;
	struct cmsghdr *cm;
	int *fds;
	size_t i, n;

	event_base_loop(base, EVLOOP_NONBLOCK);
	check_counts();
	while (fd != -1) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = sizeof(cbuf.buf);
		if (recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0)
			break;
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL;
		    cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET ||
			    cm->cmsg_type != SCM_RIGHTS)
				continue;
			fds = (int *)(void *)CMSG_DATA(cm);
			n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (i = 0; i < n; i++)
				close(fds[i]);
		}
	}
}

static void
send_msg(int fd, const uint8_t *msg, size_t len, unsigned nfds, int fix)
{
	uint8_t copy[256];
	int fds[8];
	unsigned i;

	memcpy(copy, msg, len);
	if (fix && len >= sizeof(struct ctl_hdr))
		fuzz_fix_hdr(copy, len);
	for (i = 0; i < nfds; i++)
		fds[i] = spare;
	/* A full socket or one the capture closed: the step is lost. */
	(void)fuzz_send(fd, copy, len, fds, nfds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int cl[2] = { -1, -1 };
	size_t i = 0, len;
	unsigned k, nfds, steps = 0;
	uint8_t op;

	if (base == NULL)
		setup();
	while (i < size && steps++ < 64) {
		op = data[i++];
		k = (op >> 2) & 1;
		switch (op & 3) {
		case 0:
			if (size - i < 3)
				goto done;
			nfds = data[i] & 7;
			len = (size_t)(data[i + 1] | data[i + 2] << 8) & 255;
			i += 3;
			if (len > size - i)
				len = size - i;
			if (cl[k] == -1 && ctl_connect(sock_path, &cl[k]) != 0)
				abort();
			turn(-1);	/* the capture accepts */
			send_msg(cl[k], data + i, len, nfds, (op & 8) != 0);
			i += len;
			break;
		case 1:
			turn(cl[k]);
			break;
		case 2:
			if (cl[k] != -1)
				close(cl[k]);
			cl[k] = -1;
			break;
		case 3:
			peers_notify(&ps);
			peers_notify_h264(&ps);
			break;
		}
	}
done:
	for (k = 0; k < 2; k++) {
		turn(cl[k]);
		if (cl[k] != -1)
			close(cl[k]);
	}
	for (k = 0; k < 100 && (ps.ps_pending + ps.ps_attached > 0 ||
	    fuzz_count_fds() != base_fds); k++)
		turn(-1);
	if (ps.ps_pending + ps.ps_attached > 0 || ps.ps_h264_attached > 0 ||
	    ps.ps_viewers[CTL_KIND_JPEG] != 0 ||
	    ps.ps_viewers[CTL_KIND_H264] != 0 ||
	    fuzz_count_fds() != base_fds) {
		fprintf(stderr, "fuzz_peers: %u pending, %u attached, %u "
		    "viewers, %d descriptors (%d before) after both left\n",
		    ps.ps_pending, ps.ps_attached,
		    ps.ps_viewers[CTL_KIND_JPEG] + ps.ps_viewers[CTL_KIND_H264],
		    fuzz_count_fds(), base_fds);
		fuzz_list_fds();
		abort();
	}
	return 0;
}
