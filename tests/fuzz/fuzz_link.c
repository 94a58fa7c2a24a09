/*
 * fuzz_link.c - the server's side of the control protocol
 * (common/attach.c, as server/link.c uses it) against an arbitrary
 * capture: what comes back on the control socket after the server's
 * hello, with whatever descriptors.
 *
 * The harness plays the capture: a real listening control socket, a
 * real ring with a real JPEG in it.  One real camera of a real server
 * object connects to it (its retry timer fired by hand) and says hello,
 * which must be valid.  Then the input is a script of steps:
 *
 *   op & 3 == 0   the capture sends a message: one byte d, d & 7
 *                 descriptors; one byte k, their kinds two bits each for
 *                 the first four (0 an eventfd, 1 the ring, read-only:
 *                 the H.264 ring if op & 32, else the JPEG ring, 2 a
 *                 regular file, 3 a memfd of junk; the rest eventfds);
 *                 two bytes of length (& 255) and the bytes.  op & 8
 *                 makes the header's magic, ABI and length valid, op & 16
 *                 also a welcome's or a stream's ring fields (ABI,
 *                 kinds, codec, generation, slots) those of the real
 *                 rings, so that attaching can succeed.
 *   op & 3 == 1   the loop turns and the capture reads what came back
 *   op & 3 == 2   a frame is published and the server woken through the
 *                 last eventfd sent (op & 8: junk instead of a JPEG)
 *   op & 3 == 3   the capture hangs up (the server reconnects, next step)
 *
 * Throughout, the frame the server holds is the offline picture or a
 * complete JPEG from the ring, never junk.  At the end the capture hangs
 * up; the camera must be back to waiting with its socket, eventfds and
 * rings let go and every descriptor closed.  FUZZ_LINK_TRACE=1 in the
 * environment prints what each input made of the link.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include <event2/event.h>

#include "ctl.h"
#include "fuzzutil.h"
#include "image.h"
#include "log.h"
#include "ring.h"
#include "server.h"

static struct server srv;
static struct camera *cam;
static struct ring_writer ring;
static struct ring_writer h264;	/* an empty H.264 ring */
static uint8_t *jpeg;
static size_t jpeg_len;
static char sock_path[108];
static char junk_path[108];
static int lfd = -1;
static int base_fds;

static void
cleanup(void)
{
	unlink(sock_path);
	unlink(junk_path);
	ring_writer_destroy(&ring);
	ring_writer_destroy(&h264);
}

static void
setup(void)
{
	struct jpeg_encoder enc;
	struct image img;
	char name[64], why[256];

	log_init("fuzz_link");
	log_set_verbose(-1);
	signal(SIGPIPE, SIG_IGN);	/* as main.c does */
	/* A real frame to publish. */
	if (image_alloc(&img, 64, 48) != 0 || jpeg_encoder_init(&enc, 50))
		abort();
	image_fill(&img, yuv_from_rgb(200, 40, 40));
	if (jpeg_encode_yuv420_alloc(&enc, &img, &jpeg, &jpeg_len) != 0)
		abort();
	jpeg_encoder_free(&enc);
	image_free(&img);

	snprintf(name, sizeof(name), "shmcam-fuzz-link-%d", (int)getpid());
	if (ring_writer_create(&ring, name, RING_SLOTS_MIN,
	    ring_slot_size_for((uint32_t)jpeg_len)) != 0)
		abort();
	snprintf(name, sizeof(name), "shmavc-fuzz-link-%d", (int)getpid());
	if (ring_writer_create_codec(&h264, name, RING_CODEC_H264,
	    RING_SLOTS_MIN, RING_SLOT_SIZE_MIN) != 0)
		abort();
	snprintf(sock_path, sizeof(sock_path), "/tmp/fuzz_link-%d.sock",
	    (int)getpid());
	snprintf(junk_path, sizeof(junk_path), "/tmp/fuzz_link-%d.junk",
	    (int)getpid());
	atexit(cleanup);
	if ((lfd = open(junk_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1 || write(lfd, "junk", 4) != 4 || close(lfd) != 0)
		abort();
	if ((lfd = ctl_listen(sock_path, 0600, (gid_t)-1, why,
	    sizeof(why))) < 0)
		abort();

	server_init(&srv);
	if ((srv.base = event_base_new()) == NULL)
		abort();
	if ((cam = camera_new(&srv, "fz", sock_path)) == NULL)
		abort();
	TAILQ_INSERT_TAIL(&srv.cameras, cam, c_entry);
	srv.ncameras = 1;
	base_fds = fuzz_count_fds();
}

/* Never junk in the server's hands. */
static void
check_frame(void)
{
	struct frame *f = cam->c_latest;

	if (f != NULL && f->f_placeholder == FRAME_LIVE &&
	    !jpeg_looks_complete(f->f_buf + f->f_jpeg_off, f->f_jpeg_len))
		abort();
}

static void
turn(void)
{
	event_base_loop(srv.base, EVLOOP_NONBLOCK);
	check_frame();
}

/* The capture side reads what the server sent; a hello must be valid. */
static void
drain(int cs)
{
	union ctl_msg m;
	ssize_t n;

	while (cs != -1) {
		n = recv(cs, &m, sizeof(m), MSG_DONTWAIT | MSG_TRUNC);
		if (n <= 0)
			break;
		if ((size_t)n > sizeof(m) ||
		    ctl_validate(&m, (size_t)n, 0) != 0 ||
		    (m.hdr.ch_type != CTL_HELLO &&
		    m.hdr.ch_type != CTL_VIEWERS))
			abort();	/* the server sent junk */
	}
}

/* Has the server connect now (rather than after its backoff) and
 * accepts it; the capture's end, or -1. */
static int
reconnect(void)
{
	int cs;

	if (cam->c_at.at_state != ATTACH_IDLE)
		return -1;
	evtimer_del(cam->c_at.at_retry_ev);
	event_active(cam->c_at.at_retry_ev, EV_TIMEOUT, 1);
	turn();
	cs = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cs == -1)
		abort();	/* the server did not connect */
	drain(cs);
	return cs;
}

static int
make_fd(unsigned kind, int avc, const uint8_t *junk, size_t n)
{
	int fd;

	switch (kind) {
	case 1:
		return dup(avc ? h264.rw_ro_fd : ring.rw_ro_fd);
	case 2:
		return open(junk_path, O_RDONLY | O_CLOEXEC);
	case 3:
		fd = memfd_create("fuzz-link", MFD_CLOEXEC);
		if (fd != -1 && (ftruncate(fd, 4096) != 0 ||
		    pwrite(fd, junk, n, 0) != (ssize_t)n)) {
			close(fd);
			fd = -1;
		}
		return fd;
	default:
		return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	}
}

/* Sends one message; the first eventfd sent stays open in *efd. */
static void
send_msg(int cs, const uint8_t *msg, size_t len, unsigned nfds,
    unsigned kinds, int fix, int fix_ring, int avc, int *efd)
{
	union ctl_msg m;
	uint8_t copy[256];
	int fds[8];
	unsigned i, kind;

	memcpy(copy, msg, len);
	if (fix && len >= sizeof(m.hdr)) {
		memset(&m, 0, sizeof(m));
		memcpy(&m, copy, len < sizeof(m) ? len : sizeof(m));
		fuzz_fix_hdr(&m, len);
		if (fix_ring && m.hdr.ch_type == CTL_WELCOME) {
			m.welcome.ring_abi = RING_ABI_VERSION;
			m.welcome.kinds |= CTL_KIND_BIT(CTL_KIND_JPEG);
			m.welcome.generation = ring.rw_hdr->rh_generation;
			m.welcome.slot_count = ring.rw_slot_count;
			m.welcome.slot_size = ring.rw_slot_size;
		}
		if (fix_ring && m.hdr.ch_type == CTL_STREAM) {
			m.stream.kind = CTL_KIND_H264;
			m.stream.codec = RING_CODEC_H264;
			m.stream.reserved = 0;
			m.stream.generation = h264.rw_hdr->rh_generation;
			m.stream.slot_count = h264.rw_slot_count;
			m.stream.slot_size = h264.rw_slot_size;
		}
		memcpy(copy, &m, len < sizeof(m) ? len : sizeof(m));
	}
	for (i = 0; i < nfds; i++) {
		kind = i < 4 ? (kinds >> (2 * i)) & 3 : 0;
		fds[i] = make_fd(kind, avc, msg, len);
		if (fds[i] == -1)
			abort();
		if (kind == 0 && *efd == -1)
			*efd = dup(fds[i]);
	}
	(void)fuzz_send(cs, copy, len, fds, nfds);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
}

static void
publish(int efd, const uint8_t *junk, size_t n, int broken)
{
	static const uint64_t one = 1;
	struct ring_frame f;

	memset(&f, 0, sizeof(f));
	f.width = 64;
	f.height = 48;
	if (broken && n > 0) {
		f.length = (uint32_t)n;
		(void)ring_writer_publish(&ring, &f, junk);
	} else {
		f.length = (uint32_t)jpeg_len;
		(void)ring_writer_publish(&ring, &f, jpeg);
	}
	if (efd != -1)
		(void)write(efd, &one, sizeof(one));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i = 0, len;
	unsigned steps = 0, nfds, kinds, k;
	int cs, efd = -1;
	uint8_t op;

	if (srv.base == NULL)
		setup();
	cs = reconnect();
	while (i < size && steps++ < 32) {
		op = data[i++];
		switch (op & 3) {
		case 0:
			if (size - i < 4)
				goto done;
			nfds = data[i] & 7;
			kinds = data[i + 1];
			len = (size_t)(data[i + 2] | data[i + 3] << 8) & 255;
			i += 4;
			if (len > size - i)
				len = size - i;
			/* The server gave up on this connection. */
			if (cs != -1 && cam->c_at.at_state == ATTACH_IDLE) {
				close(cs);
				cs = -1;
			}
			if (cs == -1)
				cs = reconnect();
			if (cs != -1)
				send_msg(cs, data + i, len, nfds, kinds,
				    (op & 8) != 0, (op & 16) != 0, (op & 32) != 0,
				    &efd);
			i += len;
			turn();
			break;
		case 1:
			turn();
			drain(cs);
			break;
		case 2:
			publish(efd, data + i, size - i < 64 ? size - i : 64,
			    (op & 8) != 0);
			turn();
			break;
		case 3:
			if (cs != -1)
				close(cs);
			cs = -1;
			turn();
			break;
		}
	}
done:
	/* FUZZ_LINK_TRACE=1: what the input made of the link, to study it. */
	if (getenv("FUZZ_LINK_TRACE") != NULL)
		fprintf(stderr, "fuzz_link: %s, %llu attaches, %llu frames "
		    "in, %llu rejected, why: %s\n",
		    attach_state_name(&cam->c_at),
		    (unsigned long long)cam->c_at.at_attaches,
		    (unsigned long long)cam->c_frames_in,
		    (unsigned long long)cam->c_invalid, cam->c_at.at_why);
	if (cs != -1)
		close(cs);
	if (efd != -1)
		close(efd);
	/*
	 * The capture is gone for good: the server's own backoff timer must
	 * not connect again (to a socket nobody answers) while we look, and
	 * a connection it made by itself meanwhile is hung up on.
	 */
	for (k = 0; k < 100 && (cam->c_at.at_state != ATTACH_IDLE ||
	    fuzz_count_fds() != base_fds); k++) {
		evtimer_del(cam->c_at.at_retry_ev);
		while ((cs = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) != -1)
			close(cs);
		turn();
	}
	evtimer_del(cam->c_at.at_retry_ev);
	if (cam->c_at.at_state != ATTACH_IDLE || cam->c_at.at_sock != -1 ||
	    cam->c_at.at_efd[CTL_KIND_JPEG] != -1 ||
	    cam->c_at.at_efd[CTL_KIND_H264] != -1 ||
	    cam->c_at.at_mapped[CTL_KIND_JPEG] ||
	    cam->c_at.at_mapped[CTL_KIND_H264] ||
	    fuzz_count_fds() != base_fds) {
		fprintf(stderr, "fuzz_link: state %s, socket %d, eventfds %d "
		    "%d, %d descriptors (%d before) after the capture left\n",
		    attach_state_name(&cam->c_at), cam->c_at.at_sock,
		    cam->c_at.at_efd[CTL_KIND_JPEG],
		    cam->c_at.at_efd[CTL_KIND_H264], fuzz_count_fds(),
		    base_fds);
		fuzz_list_fds();
		abort();
	}
	return 0;
}
