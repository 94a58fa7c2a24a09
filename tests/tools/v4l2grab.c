/*
 * v4l2grab - a minimal V4L2 mmap streaming client, for trying the
 * simulated camera by hand and for measuring what it costs:
 *
 *   LD_PRELOAD=build/tests/libv4l2sim.so V4L2SIM_DEVICE=/tmp/cam \
 *       build/tests/v4l2grab -d /tmp/cam -f MJPG -s 1920x1080 -n 300
 *
 * Prints one line per frame ("seq N bytes N ts S.US") unless -q, then a
 * summary with the frame rate and the CPU time this whole process used
 * per frame (with the simulator preloaded, that includes its producer
 * thread).  -o DIR writes every frame to DIR/SEQ.jpg (or .raw).
 * Exits 1 if the device fails, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <linux/videodev2.h>

#define MAXBUF	32

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
usage(void)
{
	fprintf(stderr, "usage: v4l2grab [-q] [-d DEVICE] [-f FOURCC] "
	    "[-s WxH] [-r FPS] [-n FRAMES] [-b BUFFERS] [-o DIR]\n");
	exit(2);
}

static int
xioctl(int fd, unsigned long req, void *arg, const char *what)
{
	int rc;

	while ((rc = ioctl(fd, req, arg)) < 0 && errno == EINTR)
		;
	if (rc < 0)
		fprintf(stderr, "v4l2grab: %s: %s\n", what, strerror(errno));
	return rc;
}

int
main(int argc, char **argv)
{
	const char *dev = "/dev/video0", *fourcc = NULL, *outdir = NULL;
	unsigned width = 0, height = 0, fps = 0, nbuf = 4, i;
	long frames = 30, got = 0;
	struct v4l2_format fmt;
	struct v4l2_streamparm parm;
	struct v4l2_requestbuffers rb;
	struct v4l2_buffer vb;
	void *maps[MAXBUF];
	size_t lens[MAXBUF];
	double t0, c0, t1, c1, first = 0;
	int quiet = 0, fd, ch, type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	char path[4096];
	FILE *f;

	while ((ch = getopt(argc, argv, "qd:f:s:r:n:b:o:")) != -1) {
		switch (ch) {
		case 'q': quiet = 1; break;
		case 'd': dev = optarg; break;
		case 'f':
			if (strlen(optarg) != 4)
				usage();
			fourcc = optarg;
			break;
		case 's':
			if (sscanf(optarg, "%ux%u", &width, &height) != 2)
				usage();
			break;
		case 'r': fps = (unsigned)atoi(optarg); break;
		case 'n': frames = atol(optarg); break;
		case 'b': nbuf = (unsigned)atoi(optarg); break;
		case 'o': outdir = optarg; break;
		default: usage();
		}
	}
	if (frames < 1 || nbuf < 1 || nbuf > MAXBUF)
		usage();
	if ((fd = open(dev, O_RDWR | O_NONBLOCK)) < 0) {
		fprintf(stderr, "v4l2grab: %s: %s\n", dev, strerror(errno));
		return 1;
	}
	memset(&fmt, 0, sizeof(fmt));
	fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	if (xioctl(fd, VIDIOC_G_FMT, &fmt, "G_FMT") < 0)
		return 1;
	if (fourcc != NULL)
		fmt.fmt.pix.pixelformat = v4l2_fourcc(fourcc[0], fourcc[1],
		    fourcc[2], fourcc[3]);
	if (width > 0) {
		fmt.fmt.pix.width = width;
		fmt.fmt.pix.height = height;
	}
	if (xioctl(fd, VIDIOC_S_FMT, &fmt, "S_FMT") < 0)
		return 1;
	if (fps > 0) {
		memset(&parm, 0, sizeof(parm));
		parm.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		parm.parm.capture.timeperframe.numerator = 1;
		parm.parm.capture.timeperframe.denominator = fps;
		if (xioctl(fd, VIDIOC_S_PARM, &parm, "S_PARM") < 0)
			return 1;
	}
	fprintf(stderr, "v4l2grab: %.4s %ux%u, sizeimage %u\n",
	    (char *)&fmt.fmt.pix.pixelformat, fmt.fmt.pix.width,
	    fmt.fmt.pix.height, fmt.fmt.pix.sizeimage);
	memset(&rb, 0, sizeof(rb));
	rb.count = nbuf;
	rb.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	rb.memory = V4L2_MEMORY_MMAP;
	if (xioctl(fd, VIDIOC_REQBUFS, &rb, "REQBUFS") < 0)
		return 1;
	if (rb.count > MAXBUF)
		return 1;
	for (i = 0; i < rb.count; i++) {
		memset(&vb, 0, sizeof(vb));
		vb.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		vb.memory = V4L2_MEMORY_MMAP;
		vb.index = i;
		if (xioctl(fd, VIDIOC_QUERYBUF, &vb, "QUERYBUF") < 0)
			return 1;
		lens[i] = vb.length;
		maps[i] = mmap(NULL, vb.length, PROT_READ | PROT_WRITE,
		    MAP_SHARED, fd, vb.m.offset);
		if (maps[i] == MAP_FAILED) {
			fprintf(stderr, "v4l2grab: mmap: %s\n",
			    strerror(errno));
			return 1;
		}
		if (xioctl(fd, VIDIOC_QBUF, &vb, "QBUF") < 0)
			return 1;
	}
	if (xioctl(fd, VIDIOC_STREAMON, &type, "STREAMON") < 0)
		return 1;
	t0 = now_s();
	c0 = cpu_s();
	while (got < frames) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (poll(&pfd, 1, 5000) <= 0) {
			fprintf(stderr, "v4l2grab: no frame for 5 s\n");
			return 1;
		}
		if (pfd.revents & (POLLERR | POLLHUP))
			fprintf(stderr, "v4l2grab: poll: %s%s\n",
			    pfd.revents & POLLERR ? "POLLERR " : "",
			    pfd.revents & POLLHUP ? "POLLHUP" : "");
		memset(&vb, 0, sizeof(vb));
		vb.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		vb.memory = V4L2_MEMORY_MMAP;
		if (ioctl(fd, VIDIOC_DQBUF, &vb) < 0) {
			if (errno == EAGAIN)
				continue;
			fprintf(stderr, "v4l2grab: DQBUF: %s\n",
			    strerror(errno));
			return 1;
		}
		if (got == 0)
			first = now_s();
		got++;
		if (!quiet)
			printf("seq %u bytes %u ts %ld.%06ld\n", vb.sequence,
			    vb.bytesused, (long)vb.timestamp.tv_sec,
			    (long)vb.timestamp.tv_usec);
		if (outdir != NULL && vb.index < rb.count &&
		    vb.bytesused <= lens[vb.index]) {
			snprintf(path, sizeof(path), "%s/%06u.%s", outdir,
			    vb.sequence, fmt.fmt.pix.bytesperline == 0 ?
			    "jpg" : "raw");
			if ((f = fopen(path, "wb")) == NULL ||
			    fwrite(maps[vb.index], 1, vb.bytesused, f) !=
			    vb.bytesused || fclose(f) != 0) {
				fprintf(stderr, "v4l2grab: %s: %s\n", path,
				    strerror(errno));
				return 1;
			}
		}
		if (xioctl(fd, VIDIOC_QBUF, &vb, "QBUF") < 0)
			return 1;
	}
	t1 = now_s();
	c1 = cpu_s();
	xioctl(fd, VIDIOC_STREAMOFF, &type, "STREAMOFF");
	for (i = 0; i < rb.count; i++)
		munmap(maps[i], lens[i]);
	close(fd);
	fprintf(stderr, "v4l2grab: %ld frames in %.2f s (%.2f fps after the "
	    "first), %.1f us CPU per frame (whole process)\n", got, t1 - t0,
	    got > 1 ? (double)(got - 1) / (t1 - first) : 0.0,
	    (c1 - c0) / (double)got * 1e6);
	return 0;
}
