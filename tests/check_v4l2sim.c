/*
 * check_v4l2sim.c - the simulated V4L2 camera (tests/v4l2sim), driven
 * through the V4L2 API the way a capture program drives a webcam:
 * enumeration, format and rate negotiation, controls, streaming, frame
 * content (decodes, COM stamp and barcode equal to the sequence, pixels
 * equal to the pattern), the fault modes (no Huffman tables, garbage
 * frames, unplug and replug), and the stamp reader on its own.
 *
 * main() re-executes this program with the library in LD_PRELOAD; every
 * test then runs in its own forked child with its own device file.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/videodev2.h>

#include <check.h>
#include <turbojpeg.h>

#include "testutil.h"
#include "v4l2sim/simpattern.h"
#include "v4l2sim/simstamp.h"

#define FOURCC(s)	v4l2_fourcc((s)[0], (s)[1], (s)[2], (s)[3])
#define MAXBUF		8

static char dir[PATH_MAX];
static char devpath[PATH_MAX];

/* Whatever a test may have left in dir. */
static void
dir_clear(void)
{
	static const char *const names[] = { "video0", "link", "other" };
	char p[PATH_MAX + 32];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
}

/*
 * The directory belongs to the test case, made and removed by the
 * runner: a failed assertion ends a test's process before its own
 * teardown would run.
 */
static void
case_setup(void)
{
	const char *d = tu_tmpdir();

	ck_assert_ptr_nonnull(d);
	snprintf(dir, sizeof(dir), "%s", d);
	snprintf(devpath, sizeof(devpath), "%s/video0", dir);
}

static void
case_teardown(void)
{
	dir_clear();
	rmdir(dir);
}

static void
setup(void)
{
	int fd;

	dir_clear();
	fd = open(devpath, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
	setenv("V4L2SIM_DEVICE", devpath, 1);
	unsetenv("V4L2SIM_FORMATS");
	unsetenv("V4L2SIM_FIXED_FPS");
	unsetenv("V4L2SIM_IGNORE_PARM");
	unsetenv("V4L2SIM_NO_DHT");
	unsetenv("V4L2SIM_GARBAGE_EVERY");
	unsetenv("V4L2SIM_UNPLUG_AFTER");
	unsetenv("V4L2SIM_LOG");
	unsetenv("V4L2SIM_MPLANE");
	unsetenv("V4L2SIM_STRIDE_ALIGN");
	unsetenv("V4L2SIM_DATA_OFFSET");
	unsetenv("V4L2SIM_PROFILE");
	unsetenv("V4L2SIM_FAIL");
	unsetenv("V4L2SIM_IO_MC");
}

/* 0 or the errno of the ioctl. */
static int
xio(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) == 0 ? 0 : errno;
}

static int
dev_open(int flags)
{
	int fd = open(devpath, O_RDWR | flags);

	ck_assert_msg(fd >= 0, "open %s: %s", devpath, strerror(errno));
	return fd;
}

static void
device_create(void)
{
	int fd = open(devpath, O_WRONLY | O_CREAT | O_EXCL, 0644);

	ck_assert_int_ge(fd, 0);
	close(fd);
}

/* ------------------------------------------------------ streaming helper */

struct sess {
	int			 fd;
	uint32_t		 n;
	uint8_t			*map[MAXBUF];
	size_t			 len[MAXBUF];
	struct v4l2_format	 fmt;
};

static void
sess_start(struct sess *s, int fd, const char *fourcc, uint32_t w,
    uint32_t h, uint32_t nbuf)
{
	struct v4l2_requestbuffers rb;
	struct v4l2_buffer vb;
	int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	uint32_t i;

	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	s->fmt.fmt.pix.pixelformat = FOURCC(fourcc);
	s->fmt.fmt.pix.width = w;
	s->fmt.fmt.pix.height = h;
	ck_assert_int_eq(xio(fd, VIDIOC_S_FMT, &s->fmt), 0);
	ck_assert_uint_eq(s->fmt.fmt.pix.pixelformat, FOURCC(fourcc));
	ck_assert_uint_eq(s->fmt.fmt.pix.width, w);
	ck_assert_uint_eq(s->fmt.fmt.pix.height, h);
	memset(&rb, 0, sizeof(rb));
	rb.count = nbuf;
	rb.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	rb.memory = V4L2_MEMORY_MMAP;
	ck_assert_int_eq(xio(fd, VIDIOC_REQBUFS, &rb), 0);
	ck_assert_uint_eq(rb.count, nbuf);
	s->n = rb.count;
	for (i = 0; i < s->n; i++) {
		memset(&vb, 0, sizeof(vb));
		vb.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		vb.memory = V4L2_MEMORY_MMAP;
		vb.index = i;
		ck_assert_int_eq(xio(fd, VIDIOC_QUERYBUF, &vb), 0);
		ck_assert_uint_eq(vb.length, s->fmt.fmt.pix.sizeimage);
		s->len[i] = vb.length;
		s->map[i] = mmap(NULL, vb.length, PROT_READ | PROT_WRITE,
		    MAP_SHARED, fd, vb.m.offset);
		ck_assert_ptr_ne(s->map[i], MAP_FAILED);
		ck_assert_int_eq(xio(fd, VIDIOC_QBUF, &vb), 0);
	}
	ck_assert_int_eq(xio(fd, VIDIOC_STREAMON, &type), 0);
}

/* Waits for the next frame (at most timeout_ms); 0 or the errno. */
static int
sess_next(struct sess *s, struct v4l2_buffer *vb, int timeout_ms)
{
	uint64_t deadline = tu_now_ms() + (uint64_t)timeout_ms;
	int rc;

	for (;;) {
		memset(vb, 0, sizeof(*vb));
		vb->type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		vb->memory = V4L2_MEMORY_MMAP;
		if ((rc = xio(s->fd, VIDIOC_DQBUF, vb)) != EAGAIN)
			return rc;
		if (tu_now_ms() >= deadline)
			return ETIMEDOUT;
		tu_wait_fd(s->fd, POLLIN, (int)(deadline - tu_now_ms()));
	}
}

static void
sess_requeue(struct sess *s, struct v4l2_buffer *vb)
{
	ck_assert_int_eq(xio(s->fd, VIDIOC_QBUF, vb), 0);
}

static void
sess_stop(struct sess *s)
{
	int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	uint32_t i;

	ck_assert_int_eq(xio(s->fd, VIDIOC_STREAMOFF, &type), 0);
	for (i = 0; i < s->n; i++)
		munmap(s->map[i], s->len[i]);
	close(s->fd);
}

/* ------------------------------------------------------------ JPEG helpers */

/* Is there a marker segment m before the scan? */
static int
jpeg_has(const uint8_t *p, size_t len, uint8_t m)
{
	size_t i = 2;

	while (i + 4 <= len && p[i] == 0xff) {
		if (p[i + 1] == m)
			return 1;
		if (p[i + 1] == 0xda)
			return 0;
		i += 2 + ((size_t)p[i + 2] << 8 | p[i + 3]);
	}
	return 0;
}

/* A copy of the JPEG without its COM segments: the barcode alone. */
static uint8_t *
jpeg_strip_com(const uint8_t *p, size_t len, size_t *outlen)
{
	uint8_t *o = malloc(len);
	size_t i = 2, n, k = 2;

	ck_assert_ptr_nonnull(o);
	memcpy(o, p, 2);
	while (i + 4 <= len && p[i] == 0xff && p[i + 1] != 0xda) {
		n = 2 + ((size_t)p[i + 2] << 8 | p[i + 3]);
		if (p[i + 1] != 0xfe) {
			memcpy(o + k, p + i, n);
			k += n;
		}
		i += n;
	}
	memcpy(o + k, p + i, len - i);
	*outlen = k + len - i;
	return o;
}

/* Decodes completely to RGB (warnings count as failures); NULL if not. */
static uint8_t *
jpeg_rgb(const uint8_t *p, size_t len, int *w, int *h)
{
	tjhandle tj = tjInitDecompress();
	int sub, cs;
	uint8_t *rgb = NULL;

	ck_assert_ptr_nonnull(tj);
	if (tjDecompressHeader3(tj, p, (unsigned long)len, w, h, &sub,
	    &cs) == 0 && (rgb = malloc((size_t)*w * (size_t)*h * 3)) != NULL &&
	    tjDecompress2(tj, p, (unsigned long)len, rgb, *w, 0, *h, TJPF_RGB,
	    TJFLAG_STOPONWARNING) != 0) {
		free(rgb);
		rgb = NULL;
	}
	tjDestroy(tj);
	return rgb;
}

static uint64_t
now_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
now_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A JPEG decoded to its YUV planes. */
struct yuvimg {
	int		 w, h;
	uint8_t		*plane[3];
	int		 pw[3], ph[3];
};

static int
jpeg_yuv(const uint8_t *p, size_t len, struct yuvimg *img)
{
	tjhandle tj = tjInitDecompress();
	int sub, cs, i, rc = -1;

	memset(img, 0, sizeof(*img));
	ck_assert_ptr_nonnull(tj);
	if (tjDecompressHeader3(tj, p, (unsigned long)len, &img->w, &img->h,
	    &sub, &cs) == 0) {
		for (i = 0; i < 3; i++) {
			img->pw[i] = tjPlaneWidth(i, img->w, sub);
			img->ph[i] = tjPlaneHeight(i, img->h, sub);
			img->plane[i] = malloc((size_t)img->pw[i] *
			    (size_t)img->ph[i]);
			ck_assert_ptr_nonnull(img->plane[i]);
		}
		rc = tjDecompressToYUVPlanes(tj, p, (unsigned long)len,
		    img->plane, img->w, NULL, img->h, TJFLAG_STOPONWARNING);
	}
	tjDestroy(tj);
	return rc;
}

static void
yuvimg_free(struct yuvimg *img)
{
	for (int i = 0; i < 3; i++)
		free(img->plane[i]);
}

/*
 * Decoded pixel (x, y) against the pattern, within JPEG error, compared
 * as Y, Cb, Cr: JPEG decoders turn those into RGB as full range (JFIF),
 * while the pattern's values are limited range, as a camera's are.
 */
static void
check_pixel(const struct yuvimg *img, const struct simpattern *p,
    uint64_t seq, uint64_t real_ns, uint32_t x, uint32_t y, int tol)
{
	struct yuv c = simpattern_pixel(p, seq, real_ns, x, y);
	int want[3] = { c.y, c.u, c.v }, got, i;

	for (i = 0; i < 3; i++) {
		got = img->plane[i][(size_t)((int)y * img->ph[i] / img->h) *
		    (size_t)img->pw[i] + (size_t)((int)x * img->pw[i] /
		    img->w)];
		ck_assert_msg(abs(got - want[i]) <= tol,
		    "frame %llu pixel (%u,%u) component %d: %d, expected %d",
		    (unsigned long long)seq, x, y, i, got, want[i]);
	}
}

/* ------------------------------------------------------------ tests */

START_TEST(test_preloaded_and_passthrough)
{
	struct v4l2_capability cap;
	Dl_info info;
	char other[PATH_MAX + 16], link[PATH_MAX + 16];
	int fd;

	/* The ioctl() this program calls is the simulator's. */
	ck_assert(dladdr(dlsym(RTLD_DEFAULT, "ioctl"), &info) != 0);
	ck_assert_msg(strstr(info.dli_fname, "libv4l2sim.so") != NULL,
	    "ioctl comes from %s", info.dli_fname);

	/* Another file is a file. */
	snprintf(other, sizeof(other), "%s/other", dir);
	fd = open(other, O_RDWR | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(xio(fd, VIDIOC_QUERYCAP, &cap), ENOTTY);
	ck_assert_int_eq(write(fd, "x", 1), 1);
	close(fd);

	/* The device, through a symlink as /dev/v4l/by-id/ has them. */
	snprintf(link, sizeof(link), "%s/link", dir);
	ck_assert_int_eq(symlink(devpath, link), 0);
	fd = open(link, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(xio(fd, VIDIOC_QUERYCAP, &cap), 0);
	ck_assert_str_eq((char *)cap.card, "Sim Camera");
	close(fd);
	fd = openat(AT_FDCWD, devpath, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(xio(fd, VIDIOC_QUERYCAP, &cap), 0);
	close(fd);

	/* Without V4L2SIM_DEVICE the library does nothing. */
	unsetenv("V4L2SIM_DEVICE");
	fd = open(devpath, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(xio(fd, VIDIOC_QUERYCAP, &cap), ENOTTY);
	close(fd);

	/* A bad V4L2SIM_FORMATS is refused at open, with EINVAL. */
	setenv("V4L2SIM_DEVICE", devpath, 1);
	setenv("V4L2SIM_FORMATS", "MJPG:1920x1080", 1);
	ck_assert_int_eq(open(devpath, O_RDWR), -1);
	ck_assert_int_eq(errno, EINVAL);
	setenv("V4L2SIM_FORMATS", "FOO:640x480@30", 1);
	ck_assert_int_eq(open(devpath, O_RDWR), -1);
	setenv("V4L2SIM_FORMATS", "YUYV:641x480@30", 1);
	ck_assert_int_eq(open(devpath, O_RDWR), -1);
	setenv("V4L2SIM_FORMATS", "YUYV:640x480@0", 1);
	ck_assert_int_eq(open(devpath, O_RDWR), -1);
	unsetenv("V4L2SIM_FORMATS");
	setenv("V4L2SIM_GARBAGE_EVERY", "x", 1);
	ck_assert_int_eq(open(devpath, O_RDWR), -1);
}
END_TEST

START_TEST(test_enumeration)
{
	static const struct { const char *fc; int compressed; } want[] = {
		{ "MJPG", 1 }, { "YUYV", 0 }, { "NV12", 0 }, { "YU12", 0 },
		{ "RGB3", 0 }, { "BGR3", 0 }, { "GREY", 0 }, { "UYVY", 0 },
		{ "JPEG", 1 },
	};
	struct v4l2_capability cap;
	struct v4l2_fmtdesc fd;
	struct v4l2_frmsizeenum fs;
	struct v4l2_frmivalenum fi;
	struct v4l2_input in;
	uint32_t i;
	int dev, input;

	setenv("V4L2SIM_FORMATS", "MJPG:1920x1080@30@15,640x480@30;"
	    "YUYV:1280x720@10@5,640x480@30;NV12:1280x720@30;"
	    "YUV420:320x240@30;RGB24:320x240@30;BGR3:320x240@30;"
	    "GREY:320x240@30;UYVY:320x240@30;JPEG:640x480@7.5", 1);
	dev = dev_open(0);
	ck_assert_int_eq(xio(dev, VIDIOC_QUERYCAP, &cap), 0);
	ck_assert(cap.device_caps & V4L2_CAP_VIDEO_CAPTURE);
	ck_assert(cap.device_caps & V4L2_CAP_STREAMING);
	ck_assert(!(cap.device_caps & V4L2_CAP_READWRITE));
	ck_assert(cap.capabilities & V4L2_CAP_DEVICE_CAPS);

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		memset(&fd, 0, sizeof(fd));
		fd.index = i;
		fd.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		ck_assert_int_eq(xio(dev, VIDIOC_ENUM_FMT, &fd), 0);
		ck_assert_uint_eq(fd.pixelformat, FOURCC(want[i].fc));
		ck_assert_int_eq(!!(fd.flags & V4L2_FMT_FLAG_COMPRESSED),
		    want[i].compressed);
		ck_assert(fd.description[0] != '\0');
	}
	fd.index = i;
	ck_assert_int_eq(xio(dev, VIDIOC_ENUM_FMT, &fd), EINVAL);
	fd.index = 0;
	fd.type = V4L2_BUF_TYPE_VIDEO_OUTPUT;
	ck_assert_int_eq(xio(dev, VIDIOC_ENUM_FMT, &fd), EINVAL);

	memset(&fs, 0, sizeof(fs));
	fs.pixel_format = FOURCC("MJPG");
	ck_assert_int_eq(xio(dev, VIDIOC_ENUM_FRAMESIZES, &fs), 0);
	ck_assert_uint_eq(fs.type, V4L2_FRMSIZE_TYPE_DISCRETE);
	ck_assert_uint_eq(fs.discrete.width, 1920);
	ck_assert_uint_eq(fs.discrete.height, 1080);
	fs.index = 1;
	ck_assert_int_eq(xio(dev, VIDIOC_ENUM_FRAMESIZES, &fs), 0);
	ck_assert_uint_eq(fs.discrete.width, 640);
	fs.index = 2;
	ck_assert_int_eq(xio(dev, VIDIOC_ENUM_FRAMESIZES, &fs), EINVAL);
	fs.index = 0;
	fs.pixel_format = FOURCC("H264");
	ck_assert_int_eq(xio(dev, VIDIOC_ENUM_FRAMESIZES, &fs), EINVAL);

	memset(&fi, 0, sizeof(fi));
	fi.pixel_format = FOURCC("YUYV");
	fi.width = 1280;
	fi.height = 720;
	ck_assert_int_eq(xio(dev, VIDIOC_ENUM_FRAMEINTERVALS, &fi), 0);
	ck_assert_uint_eq(fi.type, V4L2_FRMIVAL_TYPE_DISCRETE);
	ck_assert_uint_eq(fi.discrete.numerator, 1);
	ck_assert_uint_eq(fi.discrete.denominator, 10);
	fi.index = 1;
	ck_assert_int_eq(xio(dev, VIDIOC_ENUM_FRAMEINTERVALS, &fi), 0);
	ck_assert_uint_eq(fi.discrete.denominator, 5);
	fi.index = 2;
	ck_assert_int_eq(xio(dev, VIDIOC_ENUM_FRAMEINTERVALS, &fi), EINVAL);
	fi.index = 0;
	fi.width = 1920;	/* not a YUYV size */
	fi.height = 1080;
	ck_assert_int_eq(xio(dev, VIDIOC_ENUM_FRAMEINTERVALS, &fi), EINVAL);
	fi.pixel_format = FOURCC("JPEG");
	fi.width = 640;
	fi.height = 480;
	ck_assert_int_eq(xio(dev, VIDIOC_ENUM_FRAMEINTERVALS, &fi), 0);
	ck_assert_uint_eq(fi.discrete.numerator, 2);	/* 7.5 fps */
	ck_assert_uint_eq(fi.discrete.denominator, 15);

	memset(&in, 0, sizeof(in));
	ck_assert_int_eq(xio(dev, VIDIOC_ENUMINPUT, &in), 0);
	ck_assert_uint_eq(in.type, V4L2_INPUT_TYPE_CAMERA);
	in.index = 1;
	ck_assert_int_eq(xio(dev, VIDIOC_ENUMINPUT, &in), EINVAL);
	ck_assert_int_eq(xio(dev, VIDIOC_G_INPUT, &input), 0);
	ck_assert_int_eq(input, 0);
	ck_assert_int_eq(xio(dev, VIDIOC_S_INPUT, &input), 0);
	input = 1;
	ck_assert_int_eq(xio(dev, VIDIOC_S_INPUT, &input), EINVAL);
	close(dev);

	/* The default: the contract's typical UVC webcam. */
	unsetenv("V4L2SIM_FORMATS");
	dev = dev_open(0);
	for (i = 0; i < 3; i++) {
		memset(&fd, 0, sizeof(fd));
		fd.index = i;
		fd.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		ck_assert_int_eq(xio(dev, VIDIOC_ENUM_FMT, &fd), 0);
		ck_assert_uint_eq(fd.pixelformat, FOURCC(
		    i == 0 ? "MJPG" : i == 1 ? "YUYV" : "NV12"));
	}
	fd.index = 3;
	ck_assert_int_eq(xio(dev, VIDIOC_ENUM_FMT, &fd), EINVAL);
	memset(&fs, 0, sizeof(fs));
	fs.pixel_format = FOURCC("MJPG");
	fs.index = 2;
	ck_assert_int_eq(xio(dev, VIDIOC_ENUM_FRAMESIZES, &fs), 0);
	ck_assert_uint_eq(fs.discrete.width, 640);
	memset(&fi, 0, sizeof(fi));
	fi.pixel_format = FOURCC("YUYV");
	fi.width = 1280;
	fi.height = 720;
	ck_assert_int_eq(xio(dev, VIDIOC_ENUM_FRAMEINTERVALS, &fi), 0);
	ck_assert_uint_eq(fi.discrete.denominator, 10);
	close(dev);
}
END_TEST

/* S_PARM asking for 1/fps s per frame; the rate it answers with. */
static uint32_t
rate_set(int dev, uint32_t fps)
{
	struct v4l2_streamparm p;

	memset(&p, 0, sizeof(p));
	p.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	p.parm.capture.timeperframe.numerator = 1;
	p.parm.capture.timeperframe.denominator = fps;
	ck_assert_int_eq(xio(dev, VIDIOC_S_PARM, &p), 0);
	ck_assert_uint_eq(p.parm.capture.timeperframe.numerator, 1);
	return p.parm.capture.timeperframe.denominator;
}

/* The rate G_PARM says. */
static uint32_t
rate_get(int dev)
{
	struct v4l2_streamparm p;

	memset(&p, 0, sizeof(p));
	p.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	ck_assert_int_eq(xio(dev, VIDIOC_G_PARM, &p), 0);
	ck_assert_uint_eq(p.parm.capture.timeperframe.numerator, 1);
	return p.parm.capture.timeperframe.denominator;
}

START_TEST(test_format_and_rate_negotiation)
{
	struct v4l2_format f;
	struct v4l2_streamparm p;
	struct v4l2_requestbuffers rb;
	int dev, dev2, type = V4L2_BUF_TYPE_VIDEO_CAPTURE;

	setenv("V4L2SIM_FORMATS", "MJPG:1920x1080@30,640x480@30@15;"
	    "YUYV:1280x720@10@5,640x480@30;NV12:1280x720@30", 1);
	dev = dev_open(0);
	memset(&f, 0, sizeof(f));
	f.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	ck_assert_int_eq(xio(dev, VIDIOC_G_FMT, &f), 0);
	ck_assert_uint_eq(f.fmt.pix.pixelformat, FOURCC("MJPG"));
	ck_assert_uint_eq(f.fmt.pix.width, 1920);
	ck_assert_uint_eq(f.fmt.pix.field, V4L2_FIELD_NONE);
	ck_assert_uint_ge(f.fmt.pix.sizeimage, 1920 * 1080);

	/* TRY: the nearest size, nothing changes. */
	f.fmt.pix.pixelformat = FOURCC("YUYV");
	f.fmt.pix.width = 1000;
	f.fmt.pix.height = 700;
	ck_assert_int_eq(xio(dev, VIDIOC_TRY_FMT, &f), 0);
	ck_assert_uint_eq(f.fmt.pix.width, 1280);
	ck_assert_uint_eq(f.fmt.pix.height, 720);
	ck_assert_uint_eq(f.fmt.pix.bytesperline, 2560);
	ck_assert_uint_eq(f.fmt.pix.sizeimage, 2560 * 720);
	f.fmt.pix.width = 600;
	f.fmt.pix.height = 400;
	ck_assert_int_eq(xio(dev, VIDIOC_TRY_FMT, &f), 0);
	ck_assert_uint_eq(f.fmt.pix.width, 640);
	ck_assert_int_eq(xio(dev, VIDIOC_G_FMT, &f), 0);
	ck_assert_uint_eq(f.fmt.pix.pixelformat, FOURCC("MJPG"));

	/* S_FMT; an unknown format falls back to the first. */
	f.fmt.pix.pixelformat = FOURCC("NV12");
	f.fmt.pix.width = 1280;
	f.fmt.pix.height = 720;
	ck_assert_int_eq(xio(dev, VIDIOC_S_FMT, &f), 0);
	ck_assert_uint_eq(f.fmt.pix.bytesperline, 1280);
	ck_assert_uint_eq(f.fmt.pix.sizeimage, 1280 * 720 * 3 / 2);
	f.fmt.pix.pixelformat = FOURCC("H264");
	ck_assert_int_eq(xio(dev, VIDIOC_S_FMT, &f), 0);
	ck_assert_uint_eq(f.fmt.pix.pixelformat, FOURCC("MJPG"));
	f.type = V4L2_BUF_TYPE_VIDEO_OUTPUT;
	ck_assert_int_eq(xio(dev, VIDIOC_S_FMT, &f), EINVAL);

	/* Rates: the nearest interval of the current size. */
	f.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	f.fmt.pix.pixelformat = FOURCC("YUYV");
	f.fmt.pix.width = 1280;
	f.fmt.pix.height = 720;
	ck_assert_int_eq(xio(dev, VIDIOC_S_FMT, &f), 0);
	memset(&p, 0, sizeof(p));
	p.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	p.parm.capture.timeperframe.numerator = 1;
	p.parm.capture.timeperframe.denominator = 30;
	ck_assert_int_eq(xio(dev, VIDIOC_S_PARM, &p), 0);
	ck_assert(p.parm.capture.capability & V4L2_CAP_TIMEPERFRAME);
	ck_assert_uint_eq(p.parm.capture.timeperframe.numerator, 1);
	ck_assert_uint_eq(p.parm.capture.timeperframe.denominator, 10);
	p.parm.capture.timeperframe.denominator = 6;
	ck_assert_int_eq(xio(dev, VIDIOC_S_PARM, &p), 0);
	ck_assert_uint_eq(p.parm.capture.timeperframe.denominator, 5);
	memset(&p, 0, sizeof(p));
	p.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	ck_assert_int_eq(xio(dev, VIDIOC_G_PARM, &p), 0);
	ck_assert_uint_eq(p.parm.capture.timeperframe.denominator, 5);
	/* A size without that rate: the nearest it has. */
	f.fmt.pix.width = 640;
	f.fmt.pix.height = 480;
	ck_assert_int_eq(xio(dev, VIDIOC_S_FMT, &f), 0);
	ck_assert_int_eq(xio(dev, VIDIOC_G_PARM, &p), 0);
	ck_assert_uint_eq(p.parm.capture.timeperframe.denominator, 30);

	/* Buffers pin the format; streaming pins the rate. */
	memset(&rb, 0, sizeof(rb));
	rb.count = 1;
	rb.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	rb.memory = V4L2_MEMORY_USERPTR;
	ck_assert_int_eq(xio(dev, VIDIOC_REQBUFS, &rb), EINVAL);
	rb.memory = V4L2_MEMORY_MMAP;
	ck_assert_int_eq(xio(dev, VIDIOC_REQBUFS, &rb), 0);
	ck_assert_uint_eq(rb.count, 2);		/* at least two */
	ck_assert(rb.capabilities & V4L2_BUF_CAP_SUPPORTS_MMAP);
	ck_assert_int_eq(xio(dev, VIDIOC_S_FMT, &f), EBUSY);
	ck_assert_int_eq(xio(dev, VIDIOC_TRY_FMT, &f), 0);
	ck_assert_int_eq(xio(dev, VIDIOC_STREAMON, &type), 0);
	ck_assert_int_eq(xio(dev, VIDIOC_S_PARM, &p), EBUSY);
	ck_assert_int_eq(xio(dev, VIDIOC_REQBUFS, &rb), EBUSY);

	/* Another open file cannot take the camera meanwhile. */
	dev2 = dev_open(0);
	ck_assert_int_eq(xio(dev2, VIDIOC_S_FMT, &f), EBUSY);
	ck_assert_int_eq(xio(dev2, VIDIOC_REQBUFS, &rb), EBUSY);
	ck_assert_int_eq(xio(dev2, VIDIOC_G_FMT, &f), 0);

	ck_assert_int_eq(xio(dev, VIDIOC_STREAMOFF, &type), 0);
	rb.count = 0;
	ck_assert_int_eq(xio(dev, VIDIOC_REQBUFS, &rb), 0);
	ck_assert_uint_eq(rb.count, 0);
	rb.count = 100;
	ck_assert_int_eq(xio(dev, VIDIOC_REQBUFS, &rb), 0);
	ck_assert_uint_eq(rb.count, 32);	/* at most 32 */
	rb.count = 0;
	ck_assert_int_eq(xio(dev, VIDIOC_REQBUFS, &rb), 0);
	ck_assert_int_eq(xio(dev, VIDIOC_S_FMT, &f), 0);
	close(dev);
	ck_assert_int_eq(xio(dev2, VIDIOC_S_FMT, &f), 0);
	close(dev2);

	/* V4L2SIM_FIXED_FPS: the camera keeps its rate. */
	setenv("V4L2SIM_FIXED_FPS", "1", 1);
	dev = dev_open(0);
	f.fmt.pix.pixelformat = FOURCC("MJPG");
	f.fmt.pix.width = 640;
	f.fmt.pix.height = 480;
	ck_assert_int_eq(xio(dev, VIDIOC_S_FMT, &f), 0);
	ck_assert_uint_eq(f.fmt.pix.width, 640);
	memset(&p, 0, sizeof(p));
	p.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	p.parm.capture.timeperframe.numerator = 1;
	p.parm.capture.timeperframe.denominator = 15;
	ck_assert_int_eq(xio(dev, VIDIOC_S_PARM, &p), 0);
	ck_assert_uint_eq(p.parm.capture.timeperframe.denominator, 30);
	close(dev);

	/* V4L2SIM_IGNORE_PARM: it claims the rate asked for and keeps its
	 * own (test_stream_rate_ignored shows the frames' pace). */
	unsetenv("V4L2SIM_FIXED_FPS");
	setenv("V4L2SIM_IGNORE_PARM", "1", 1);
	dev = dev_open(0);
	ck_assert_int_eq(xio(dev, VIDIOC_S_FMT, &f), 0);
	ck_assert_uint_eq(rate_set(dev, 15), 15);
	ck_assert_uint_eq(rate_get(dev), 15);
	close(dev);
}
END_TEST

static void
query(int dev, uint32_t id, struct v4l2_queryctrl *q)
{
	memset(q, 0, sizeof(*q));
	q->id = id;
	ck_assert_int_eq(xio(dev, VIDIOC_QUERYCTRL, q), 0);
}

static int32_t
get(int dev, uint32_t id)
{
	struct v4l2_control c = { .id = id };

	ck_assert_int_eq(xio(dev, VIDIOC_G_CTRL, &c), 0);
	return c.value;
}

static int
set(int dev, uint32_t id, int32_t v)
{
	struct v4l2_control c = { .id = id, .value = v };

	return xio(dev, VIDIOC_S_CTRL, &c);
}

START_TEST(test_controls)
{
	static const struct {
		uint32_t id;
		const char *name;
		int32_t min, max, def;
	} want[] = {
		{ V4L2_CID_BRIGHTNESS, "Brightness", -64, 64, 0 },
		{ V4L2_CID_CONTRAST, "Contrast", 0, 95, 32 },
		{ V4L2_CID_SATURATION, "Saturation", 0, 100, 64 },
		{ V4L2_CID_AUTO_WHITE_BALANCE,
		    "White Balance Temperature, Auto", 0, 1, 1 },
		{ V4L2_CID_POWER_LINE_FREQUENCY, "Power Line Frequency", 0, 2,
		    1 },
		{ V4L2_CID_WHITE_BALANCE_TEMPERATURE,
		    "White Balance Temperature", 2800, 6500, 4600 },
		{ V4L2_CID_EXPOSURE_AUTO, "Exposure, Auto", 0, 3, 3 },
		{ V4L2_CID_EXPOSURE_ABSOLUTE, "Exposure (Absolute)", 3, 2047,
		    250 },
	};
	struct v4l2_queryctrl q;
	struct v4l2_query_ext_ctrl qe;
	struct v4l2_querymenu m;
	struct v4l2_ext_control xc[3];
	struct v4l2_ext_controls xs;
	uint32_t i, id;
	int dev = dev_open(0);

	/* Enumeration with NEXT_CTRL, in id order, then EINVAL. */
	id = 0;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		memset(&q, 0, sizeof(q));
		q.id = id | V4L2_CTRL_FLAG_NEXT_CTRL;
		ck_assert_int_eq(xio(dev, VIDIOC_QUERYCTRL, &q), 0);
		ck_assert_uint_eq(q.id, want[i].id);
		ck_assert_str_eq((char *)q.name, want[i].name);
		ck_assert_int_eq(q.minimum, want[i].min);
		ck_assert_int_eq(q.maximum, want[i].max);
		ck_assert_int_eq(q.default_value, want[i].def);
		ck_assert_int_eq(get(dev, q.id), want[i].def);
		id = q.id;
	}
	q.id = id | V4L2_CTRL_FLAG_NEXT_CTRL;
	ck_assert_int_eq(xio(dev, VIDIOC_QUERYCTRL, &q), EINVAL);
	q.id = V4L2_CID_HUE;
	ck_assert_int_eq(xio(dev, VIDIOC_QUERYCTRL, &q), EINVAL);
	memset(&qe, 0, sizeof(qe));
	qe.id = V4L2_CID_CONTRAST;
	ck_assert_int_eq(xio(dev, VIDIOC_QUERY_EXT_CTRL, &qe), 0);
	ck_assert_int_eq(qe.maximum, 95);
	ck_assert_uint_eq(qe.elems, 1);

	/* Ranges. */
	ck_assert_int_eq(set(dev, V4L2_CID_BRIGHTNESS, 65), ERANGE);
	ck_assert_int_eq(set(dev, V4L2_CID_BRIGHTNESS, -65), ERANGE);
	ck_assert_int_eq(get(dev, V4L2_CID_BRIGHTNESS), 0);
	ck_assert_int_eq(set(dev, V4L2_CID_BRIGHTNESS, -64), 0);
	ck_assert_int_eq(get(dev, V4L2_CID_BRIGHTNESS), -64);
	ck_assert_int_eq(set(dev, V4L2_CID_CONTRAST, 96), ERANGE);
	ck_assert_int_eq(set(dev, V4L2_CID_HUE, 0), EINVAL);
	/* Rounded to the step. */
	ck_assert_int_eq(set(dev, V4L2_CID_WHITE_BALANCE_TEMPERATURE, 4604),
	    0);
	ck_assert_int_eq(get(dev, V4L2_CID_WHITE_BALANCE_TEMPERATURE), 4600);

	/* Menus, with the items a webcam skips. */
	m.id = V4L2_CID_EXPOSURE_AUTO;
	for (i = 0; i < 5; i++) {
		memset(&m, 0, sizeof(m));
		m.id = V4L2_CID_EXPOSURE_AUTO;
		m.index = i;
		ck_assert_int_eq(xio(dev, VIDIOC_QUERYMENU, &m),
		    i == 1 || i == 3 ? 0 : EINVAL);
	}
	m.index = 1;
	ck_assert_int_eq(xio(dev, VIDIOC_QUERYMENU, &m), 0);
	ck_assert_str_eq((char *)m.name, "Manual Mode");
	m.id = V4L2_CID_POWER_LINE_FREQUENCY;
	m.index = 1;
	ck_assert_int_eq(xio(dev, VIDIOC_QUERYMENU, &m), 0);
	ck_assert_str_eq((char *)m.name, "50 Hz");
	ck_assert_int_eq(set(dev, V4L2_CID_EXPOSURE_AUTO, 2), EINVAL);
	ck_assert_int_eq(set(dev, V4L2_CID_EXPOSURE_AUTO, 4), ERANGE);
	ck_assert_int_eq(set(dev, V4L2_CID_POWER_LINE_FREQUENCY, 3), ERANGE);

	/* exposure_absolute is inactive while exposure is automatic. */
	query(dev, V4L2_CID_EXPOSURE_ABSOLUTE, &q);
	ck_assert(q.flags & V4L2_CTRL_FLAG_INACTIVE);
	ck_assert_int_eq(set(dev, V4L2_CID_EXPOSURE_AUTO,
	    V4L2_EXPOSURE_MANUAL), 0);
	query(dev, V4L2_CID_EXPOSURE_ABSOLUTE, &q);
	ck_assert(!(q.flags & V4L2_CTRL_FLAG_INACTIVE));
	ck_assert_int_eq(set(dev, V4L2_CID_EXPOSURE_ABSOLUTE, 2048), ERANGE);
	ck_assert_int_eq(set(dev, V4L2_CID_EXPOSURE_ABSOLUTE, 100), 0);
	ck_assert_int_eq(get(dev, V4L2_CID_EXPOSURE_ABSOLUTE), 100);

	/* Extended controls: all or nothing, and where it went wrong. */
	memset(xc, 0, sizeof(xc));
	memset(&xs, 0, sizeof(xs));
	xc[0].id = V4L2_CID_BRIGHTNESS;
	xc[0].value = 5;
	xc[1].id = V4L2_CID_CONTRAST;
	xc[1].value = 200;
	xs.count = 2;
	xs.controls = xc;
	ck_assert_int_eq(xio(dev, VIDIOC_TRY_EXT_CTRLS, &xs), ERANGE);
	ck_assert_uint_eq(xs.error_idx, 1);
	ck_assert_int_eq(xio(dev, VIDIOC_S_EXT_CTRLS, &xs), ERANGE);
	ck_assert_uint_eq(xs.error_idx, 2);	/* count: nothing changed */
	ck_assert_int_eq(get(dev, V4L2_CID_BRIGHTNESS), -64);
	xc[1].value = 40;
	ck_assert_int_eq(xio(dev, VIDIOC_S_EXT_CTRLS, &xs), 0);
	ck_assert_int_eq(get(dev, V4L2_CID_BRIGHTNESS), 5);
	ck_assert_int_eq(get(dev, V4L2_CID_CONTRAST), 40);
	xc[1].id = V4L2_CID_HUE;
	ck_assert_int_eq(xio(dev, VIDIOC_G_EXT_CTRLS, &xs), EINVAL);
	ck_assert_uint_eq(xs.error_idx, 1);
	xc[1].id = V4L2_CID_EXPOSURE_ABSOLUTE;
	xs.which = V4L2_CTRL_CLASS_USER;	/* a camera-class control */
	ck_assert_int_eq(xio(dev, VIDIOC_G_EXT_CTRLS, &xs), EINVAL);
	xs.which = V4L2_CTRL_WHICH_DEF_VAL;
	ck_assert_int_eq(xio(dev, VIDIOC_G_EXT_CTRLS, &xs), 0);
	ck_assert_int_eq(xc[0].value, 0);
	ck_assert_int_eq(xc[1].value, 250);
	ck_assert_int_eq(xio(dev, VIDIOC_S_EXT_CTRLS, &xs), EINVAL);
	xs.which = V4L2_CTRL_WHICH_CUR_VAL;
	ck_assert_int_eq(xio(dev, VIDIOC_G_EXT_CTRLS, &xs), 0);
	ck_assert_int_eq(xc[1].value, 100);
	close(dev);
}
END_TEST

START_TEST(test_stream_mjpeg)
{
	struct simpattern pat;
	struct v4l2_buffer vb;
	struct sess s;
	uint64_t seq, ns, bseq, bns, first_us = 0, last_us = 0, t, mono;
	uint32_t first_seq = 0, last_seq = 0, bx, prev_bx = 0;
	uint8_t *rgb, *nocom, *prev = NULL;
	struct yuvimg img;
	size_t nlen, prevlen = 0;
	int i, w, h, got = 0, changed = 0;

	setenv("V4L2SIM_FORMATS", "MJPG:640x480@30,1280x720@30", 1);
	sess_start(&s, dev_open(O_NONBLOCK), "MJPG", 640, 480, 4);
	simpattern_init(&pat, 640, 480);
	for (i = 0; i < 45; i++) {
		ck_assert_int_eq(sess_next(&s, &vb, 5000), 0);
		ck_assert_uint_lt(vb.index, s.n);
		ck_assert(vb.flags & V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC);
		ck_assert(vb.flags & V4L2_BUF_FLAG_MAPPED);
		ck_assert(!(vb.flags & V4L2_BUF_FLAG_QUEUED));
		ck_assert_uint_gt(vb.bytesused, 10000);
		ck_assert_uint_le(vb.bytesused, s.len[vb.index]);
		t = (uint64_t)vb.timestamp.tv_sec * 1000000u +
		    (uint64_t)vb.timestamp.tv_usec;
		mono = now_mono_us();
		ck_assert_uint_le(t, mono);
		ck_assert_uint_gt(t + 5000000u, mono);
		if (got > 0) {
			/* Sequence and time only go forward. */
			ck_assert_uint_gt(vb.sequence, last_seq);
			ck_assert_uint_gt(t, last_us);
		} else {
			first_seq = vb.sequence;
			first_us = t;
		}
		last_seq = vb.sequence;
		last_us = t;
		got++;

		/* A JPEG that decodes, at the size, stamped with the
		 * sequence both ways. */
		rgb = jpeg_rgb(s.map[vb.index], vb.bytesused, &w, &h);
		ck_assert_msg(rgb != NULL, "frame %u does not decode",
		    vb.sequence);
		ck_assert_int_eq(w, 640);
		ck_assert_int_eq(h, 480);
		ck_assert_int_eq(simstamp_from_com(s.map[vb.index],
		    vb.bytesused, &seq, &ns), 0);
		ck_assert_uint_eq(seq, vb.sequence);
		ck_assert_uint_lt(ns > now_real_ns() ? ns - now_real_ns() :
		    now_real_ns() - ns, 5000000000ull);
		nocom = jpeg_strip_com(s.map[vb.index], vb.bytesused, &nlen);
		ck_assert_int_eq(simstamp_from_com(nocom, nlen, &bseq, &bns),
		    -ENOENT);
		ck_assert_int_eq(simstamp_from_barcode(nocom, nlen, &bseq,
		    &bns), 0);
		ck_assert_uint_eq(bseq, vb.sequence);
		ck_assert_uint_eq(bns, ns / 1000 * 1000);
		ck_assert_int_eq(simstamp_from_jpeg(nocom, nlen, &bseq, &bns),
		    0);
		ck_assert_uint_eq(bseq, vb.sequence);

		/* The picture: the block, a bar, barcode cells. */
		ck_assert_int_eq(jpeg_yuv(s.map[vb.index], vb.bytesused,
		    &img), 0);
		bx = simpattern_block_x(&pat, seq);
		check_pixel(&img, &pat, seq, ns, bx + 32, pat.sp_block_y + 32,
		    8);
		check_pixel(&img, &pat, seq, ns, (bx + 320) % 640 + 8,
		    pat.sp_band + 8, 8);
		check_pixel(&img, &pat, seq, ns, 8 + 16 * (i % 40), 8, 8);
		check_pixel(&img, &pat, seq, ns, 8 + 16 * (i % 40), 40, 8);
		yuvimg_free(&img);
		if (got > 1 && bx != prev_bx)
			changed++;
		prev_bx = bx;
		if (prev != NULL && (prevlen != vb.bytesused ||
		    memcmp(prev, s.map[vb.index], prevlen) != 0))
			changed++;
		free(prev);
		prev = malloc(vb.bytesused);
		ck_assert_ptr_nonnull(prev);
		memcpy(prev, s.map[vb.index], vb.bytesused);
		prevlen = vb.bytesused;
		free(nocom);
		free(rgb);
		sess_requeue(&s, &vb);
	}
	free(prev);
	/* About 30 frames a second: the sequence counts frame times. */
	ck_assert_uint_ge(last_seq - first_seq, 44);
	ck_assert_uint_ge((last_us - first_us) / (last_seq - first_seq),
	    25000);
	ck_assert_uint_le((last_us - first_us) / (last_seq - first_seq),
	    42000);
	ck_assert_int_ge(changed, 2 * 43);	/* every frame moved */
	sess_stop(&s);
}
END_TEST

/* How many threads of this process have this name (comm). */
static int
threads_named(const char *name)
{
	char path[64], comm[32];
	struct dirent *de;
	DIR *d;
	FILE *f;
	int n = 0;

	d = opendir("/proc/self/task");
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
		    de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(comm, sizeof(comm), f) != NULL) {
			comm[strcspn(comm, "\n")] = '\0';
			n += strcmp(comm, name) == 0;
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

START_TEST(test_stream_rate)
{
	struct v4l2_buffer vb;
	struct sess s;
	uint64_t t0, t1;
	uint32_t first = 0, last = 0;
	int got = 0;

	/*
	 * 30 fps for 1.5 s of wall time: the sequence, which counts the
	 * sensor's ticks whether or not this thread kept up (frames it was
	 * too late for are lost, not delayed), moves by about 45: 24 to 36
	 * a second allows for the frames around the ends of the window.
	 */
	setenv("V4L2SIM_FORMATS", "YUYV:320x240@30", 1);
	sess_start(&s, dev_open(O_NONBLOCK), "YUYV", 320, 240, 4);
	t0 = tu_now_ms();
	while (tu_now_ms() < t0 + 1500) {
		if (sess_next(&s, &vb, 200) == 0) {
			if (got++ == 0)
				first = vb.sequence;
			last = vb.sequence;
			sess_requeue(&s, &vb);
		}
	}
	t1 = tu_now_ms();
	ck_assert_int_gt(got, 1);
	ck_assert_uint_ge((last - first) * 1000 / (t1 - t0), 24);
	ck_assert_uint_le((last - first) * 1000 / (t1 - t0), 36);
	/* Benchmarks find the camera's thread by its name. */
	ck_assert_int_eq(threads_named("v4l2sim"), 1);
	sess_stop(&s);
}
END_TEST

/*
 * V4L2SIM_IGNORE_PARM: asked for 10 fps and saying so, the camera still
 * makes its frames 1/30 s apart.  The sequence counts the sensor's ticks
 * (frames lost to a late producer thread included), so the time per
 * sequence step is the interval on average; a loaded machine delays the
 * first and last timestamps by some milliseconds each, which 25 to 50 ms
 * per step allows for over 11 steps, and 1/10 s is far outside.
 */
START_TEST(test_stream_rate_ignored)
{
	struct v4l2_buffer vb;
	struct sess s;
	uint64_t t, t0 = 0;
	uint32_t seq0 = 0;
	int i, fd;

	setenv("V4L2SIM_FORMATS", "MJPG:320x240@30@10", 1);
	setenv("V4L2SIM_IGNORE_PARM", "1", 1);
	fd = dev_open(O_NONBLOCK);
	ck_assert_uint_eq(rate_set(fd, 10), 10);
	sess_start(&s, fd, "MJPG", 320, 240, 4);
	for (i = 0; i < 12; i++) {
		ck_assert_int_eq(sess_next(&s, &vb, 5000), 0);
		t = (uint64_t)vb.timestamp.tv_sec * 1000000u +
		    (uint64_t)vb.timestamp.tv_usec;
		if (i == 0) {
			t0 = t;
			seq0 = vb.sequence;
		}
		sess_requeue(&s, &vb);
	}
	ck_assert_uint_gt(vb.sequence, seq0);
	ck_assert_uint_ge((t - t0) / (vb.sequence - seq0), 25000);
	ck_assert_uint_le((t - t0) / (vb.sequence - seq0), 50000);
	sess_stop(&s);
}
END_TEST

START_TEST(test_no_huffman_tables)
{
	struct v4l2_buffer vb;
	struct sess s;
	uint64_t seq, ns;
	uint8_t *rgb;
	int w, h, no_dht;

	setenv("V4L2SIM_FORMATS", "MJPG:640x480@30", 1);
	for (no_dht = 0; no_dht < 2; no_dht++) {
		if (no_dht)
			setenv("V4L2SIM_NO_DHT", "1", 1);
		sess_start(&s, dev_open(O_NONBLOCK), "MJPG", 640, 480, 2);
		ck_assert_int_eq(sess_next(&s, &vb, 5000), 0);
		ck_assert_int_eq(jpeg_has(s.map[vb.index], vb.bytesused, 0xc4),
		    !no_dht);
		ck_assert(jpeg_has(s.map[vb.index], vb.bytesused, 0xdb));
		/* libjpeg-turbo falls back to the standard tables. */
		rgb = jpeg_rgb(s.map[vb.index], vb.bytesused, &w, &h);
		ck_assert_ptr_nonnull(rgb);
		free(rgb);
		ck_assert_int_eq(simstamp_from_jpeg(s.map[vb.index],
		    vb.bytesused, &seq, &ns), 0);
		ck_assert_uint_eq(seq, vb.sequence);
		sess_stop(&s);
	}
}
END_TEST

START_TEST(test_garbage_frames)
{
	struct v4l2_buffer vb;
	struct sess s;
	const uint8_t *p;
	uint8_t *rgb;
	int i, w, h, truncated = 0, noise = 0, good = 0;

	setenv("V4L2SIM_FORMATS", "MJPG:320x240@30", 1);
	setenv("V4L2SIM_GARBAGE_EVERY", "3", 1);
	sess_start(&s, dev_open(O_NONBLOCK), "MJPG", 320, 240, 4);
	for (i = 0; i < 15; i++) {
		ck_assert_int_eq(sess_next(&s, &vb, 5000), 0);
		p = s.map[vb.index];
		rgb = jpeg_rgb(p, vb.bytesused, &w, &h);
		if ((vb.sequence + 1) % 3 != 0) {
			ck_assert_msg(rgb != NULL, "frame %u is broken",
			    vb.sequence);
			good++;
		} else {
			ck_assert_msg(rgb == NULL, "frame %u decodes",
			    vb.sequence);
			ck_assert_uint_gt(vb.bytesused, 128);
			if (p[0] == 0xff && p[1] == 0xd8) {
				/* Cut short: no EOI. */
				ck_assert(!(p[vb.bytesused - 2] == 0xff &&
				    p[vb.bytesused - 1] == 0xd9));
				truncated++;
			} else
				noise++;
		}
		free(rgb);
		sess_requeue(&s, &vb);
	}
	ck_assert_int_ge(good, 8);
	ck_assert_int_ge(truncated, 1);
	ck_assert_int_ge(noise, 1);
	sess_stop(&s);
}
END_TEST

/* Asserts every poller sees the unplug: POLLERR|POLLHUP and readable. */
static void
check_unplug_wakes(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct epoll_event ev = { .events = EPOLLIN }, got;
	struct timeval tv = { 0, 0 };
	fd_set rd;
	int ep;

	uint64_t deadline = tu_now_ms() + 3000;

	/* Frames may still wake it first; the unplug must follow. */
	do {
		ck_assert_msg(tu_now_ms() < deadline, "no POLLHUP on unplug");
		pfd.revents = 0;
	} while (poll(&pfd, 1, 100) < 1 || !(pfd.revents & POLLHUP));
	ck_assert_int_eq(poll(&pfd, 1, 0), 1);
	ck_assert_msg((pfd.revents & (POLLERR | POLLHUP | POLLIN)) ==
	    (POLLERR | POLLHUP | POLLIN), "revents %#x", pfd.revents);
	ep = epoll_create1(EPOLL_CLOEXEC);
	ck_assert_int_ge(ep, 0);
	ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
	ck_assert_int_eq(epoll_wait(ep, &got, 1, 1000), 1);
	ck_assert(got.events & EPOLLERR);
	ck_assert(got.events & EPOLLHUP);
	close(ep);
	FD_ZERO(&rd);
	FD_SET(fd, &rd);
	ck_assert_int_eq(select(fd + 1, &rd, NULL, NULL, &tv), 1);
	ck_assert(FD_ISSET(fd, &rd));
}

START_TEST(test_unplug_and_replug)
{
	struct v4l2_capability cap;
	struct v4l2_buffer vb, held;
	struct sess s;
	void *p;
	int fd;

	setenv("V4L2SIM_FORMATS", "MJPG:320x240@30", 1);
	sess_start(&s, dev_open(O_NONBLOCK), "MJPG", 320, 240, 3);
	ck_assert_int_eq(sess_next(&s, &vb, 5000), 0);
	sess_requeue(&s, &vb);
	ck_assert_int_eq(sess_next(&s, &held, 5000), 0);

	/* Unplug: the file goes away. */
	ck_assert_int_eq(unlink(devpath), 0);
	check_unplug_wakes(s.fd);
	ck_assert_int_eq(sess_next(&s, &vb, 100), ENODEV);
	ck_assert_int_eq(xio(s.fd, VIDIOC_QBUF, &held), ENODEV);
	ck_assert_int_eq(xio(s.fd, VIDIOC_QUERYCAP, &cap), ENODEV);
	p = mmap(NULL, s.len[0], PROT_READ, MAP_SHARED, s.fd, 0);
	ck_assert_ptr_eq(p, MAP_FAILED);
	ck_assert_int_eq(errno, ENODEV);
	/* The buffers the program mapped are still readable. */
	ck_assert_uint_eq(s.map[held.index][0], 0xff);
	ck_assert_int_eq(open(devpath, O_RDWR), -1);
	ck_assert_int_eq(errno, ENOENT);
	for (uint32_t i = 0; i < s.n; i++)
		munmap(s.map[i], s.len[i]);
	ck_assert_int_eq(close(s.fd), 0);

	/* Replug: a fresh device. */
	device_create();
	sess_start(&s, dev_open(O_NONBLOCK), "MJPG", 320, 240, 3);
	ck_assert_int_eq(sess_next(&s, &vb, 5000), 0);
	ck_assert_uint_le(vb.sequence, 5);	/* counting from 0 again */
	sess_stop(&s);

	/* An idle open device notices the unplug too. */
	fd = dev_open(O_NONBLOCK);
	ck_assert_int_eq(tu_wait_fd(fd, POLLIN, 200), 0);
	ck_assert_int_eq(unlink(devpath), 0);
	check_unplug_wakes(fd);
	ck_assert_int_eq(xio(fd, VIDIOC_QUERYCAP, &cap), ENODEV);
	close(fd);

	/* Delete and re-create at once: the old file is still gone. */
	device_create();
	fd = dev_open(O_NONBLOCK);
	ck_assert_int_eq(unlink(devpath), 0);
	device_create();
	ck_assert_int_eq(xio(fd, VIDIOC_QUERYCAP, &cap), ENODEV);
	close(fd);
}
END_TEST

START_TEST(test_unplug_after)
{
	struct v4l2_buffer vb;
	struct stat st;
	struct sess s;
	int got = 0, rc;

	setenv("V4L2SIM_FORMATS", "MJPG:320x240@30", 1);
	setenv("V4L2SIM_UNPLUG_AFTER", "5", 1);
	sess_start(&s, dev_open(O_NONBLOCK), "MJPG", 320, 240, 8);
	while ((rc = sess_next(&s, &vb, 5000)) == 0) {
		got++;
		sess_requeue(&s, &vb);
	}
	ck_assert_int_eq(rc, ENODEV);
	ck_assert_int_eq(got, 5);
	ck_assert_int_eq(stat(devpath, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	check_unplug_wakes(s.fd);
	close(s.fd);
}
END_TEST

/* Raw frame -> planar YUV -> TurboJPEG quality 50 -> barcode. */
static void
check_raw_survives_jpeg(const uint8_t *raw, const char *fourcc, int w, int h,
    uint64_t want_seq, uint64_t want_ns)
{
	size_t ys = (size_t)w * h;
	uint8_t *y = malloc(ys), *u = malloc(ys / 2), *v = malloc(ys / 2);
	unsigned char *jpeg = NULL;
	unsigned long jlen = 0;
	const unsigned char *planes[3] = { y, u, v };
	int strides[3] = { w, w / 2, w / 2 }, sub, x, r;
	uint64_t seq, ns;
	tjhandle tj = tjInitCompress();

	ck_assert(y && u && v && tj);
	if (strcmp(fourcc, "YUYV") == 0) {
		sub = TJSAMP_422;
		for (r = 0; r < h; r++)
			for (x = 0; x < w; x += 2) {
				const uint8_t *p = raw + ((size_t)r * w + x) * 2;

				y[r * w + x] = p[0];
				y[r * w + x + 1] = p[2];
				u[r * w / 2 + x / 2] = p[1];
				v[r * w / 2 + x / 2] = p[3];
			}
	} else {	/* NV12 */
		sub = TJSAMP_420;
		memcpy(y, raw, ys);
		for (x = 0; x < (int)ys / 4; x++) {
			u[x] = raw[ys + 2 * (size_t)x];
			v[x] = raw[ys + 2 * (size_t)x + 1];
		}
	}
	ck_assert_int_eq(tjCompressFromYUVPlanes(tj, planes, w, strides, h,
	    sub, &jpeg, &jlen, 50, 0), 0);
	ck_assert_int_eq(simstamp_from_jpeg(jpeg, jlen, &seq, &ns), 0);
	ck_assert_uint_eq(seq, want_seq);
	ck_assert_uint_eq(ns, want_ns / 1000 * 1000);
	tjFree(jpeg);
	tjDestroy(tj);
	free(y);
	free(u);
	free(v);
}

START_TEST(test_raw_frames)
{
	static const char *const fcs[] = { "YUYV", "UYVY", "NV12", "YU12",
	    "GREY", "RGB3", "BGR3" };
	const int w = 640, h = 480;
	struct simpattern pat;
	struct yuv c;
	struct v4l2_buffer vb;
	struct sess s;
	const uint8_t *p;
	uint8_t rgb[3];
	uint64_t seq, ns;
	uint32_t pts[6][2], k;
	size_t ys = (size_t)w * h, xstep;
	int i, f;

	setenv("V4L2SIM_FORMATS", "YUYV:640x480@30;UYVY:640x480@30;"
	    "NV12:640x480@30;YU12:640x480@30;GREY:640x480@30;"
	    "RGB3:640x480@30;BGR3:640x480@30", 1);
	simpattern_init(&pat, w, h);
	for (f = 0; f < 7; f++) {
		sess_start(&s, dev_open(O_NONBLOCK), fcs[f], w, h, 3);
		for (i = 0; i < 4; i++) {
			ck_assert_int_eq(sess_next(&s, &vb, 5000), 0);
			ck_assert_uint_eq(vb.bytesused,
			    s.fmt.fmt.pix.sizeimage);
			p = s.map[vb.index];
			/* The barcode read from the luma as it is. */
			xstep = strcmp(fcs[f], "YUYV") == 0 ? 2 : 1;
			if (strcmp(fcs[f], "UYVY") == 0) {
				xstep = 2;
				p++;
			}
			if (fcs[f][0] == 'R' || fcs[f][0] == 'B')
				xstep = 3;	/* green: white 255, black 0 */
			ck_assert_int_eq(simstamp_from_luma(p +
			    (fcs[f][0] == 'R' || fcs[f][0] == 'B'), (size_t)w *
			    xstep, xstep, w, h, &seq, &ns), 0);
			ck_assert_uint_eq(seq, vb.sequence);
			p = s.map[vb.index];
			/* Exact pixels: block, bar, texture, cells. */
			pts[0][0] = simpattern_block_x(&pat, seq) + 5;
			pts[0][1] = pat.sp_block_y + 60;
			pts[1][0] = 100;
			pts[1][1] = pat.sp_band + 20;
			pts[2][0] = 333;
			pts[2][1] = h - 3;
			pts[3][0] = 16 * (uint32_t)i + 3;
			pts[3][1] = 5;
			pts[4][0] = 600;
			pts[4][1] = 40;
			pts[5][0] = 639;
			pts[5][1] = 479;
			for (k = 0; k < 6; k++) {
				size_t x = pts[k][0], yy = pts[k][1];

				c = simpattern_pixel(&pat, seq, ns, pts[k][0],
				    pts[k][1]);
				simpattern_to_rgb(c, rgb);
				switch (f) {
				case 0:
					ck_assert_uint_eq(p[(yy * w + x) * 2],
					    c.y);
					ck_assert_uint_eq(p[(yy * w + (x & ~1u))
					    * 2 + 1], c.u);
					ck_assert_uint_eq(p[(yy * w + (x & ~1u))
					    * 2 + 3], c.v);
					break;
				case 1:
					ck_assert_uint_eq(p[(yy * w + x) * 2 +
					    1], c.y);
					ck_assert_uint_eq(p[(yy * w + (x & ~1u))
					    * 2], c.u);
					break;
				case 2:
					ck_assert_uint_eq(p[yy * w + x], c.y);
					ck_assert_uint_eq(p[ys + yy / 2 * w +
					    (x & ~1u)], c.u);
					ck_assert_uint_eq(p[ys + yy / 2 * w +
					    (x & ~1u) + 1], c.v);
					break;
				case 3:
					ck_assert_uint_eq(p[yy * w + x], c.y);
					ck_assert_uint_eq(p[ys + yy / 2 * (w / 2)
					    + x / 2], c.u);
					ck_assert_uint_eq(p[ys + ys / 4 + yy / 2
					    * (w / 2) + x / 2], c.v);
					break;
				case 4:
					ck_assert_uint_eq(p[yy * w + x], c.y);
					break;
				case 5:
				case 6:
					ck_assert_uint_eq(p[(yy * w + x) * 3 +
					    1], rgb[1]);
					ck_assert_uint_eq(p[(yy * w + x) * 3 +
					    (f == 5 ? 0 : 2)], rgb[0]);
					ck_assert_uint_eq(p[(yy * w + x) * 3 +
					    (f == 5 ? 2 : 0)], rgb[2]);
					break;
				}
			}
			if (f == 0 || f == 2)
				check_raw_survives_jpeg(p, fcs[f], w, h, seq,
				    ns);
			sess_requeue(&s, &vb);
		}
		sess_stop(&s);
	}
}
END_TEST

/*
 * The multi-planar API: pix_mp with a bytesperline per plane (padded to
 * 256), buffers with planes[] (mem_offset, length, bytesused counting
 * data_offset's 128 bytes), Cr in the second buffer of YM21, exact
 * samples where each layout puts them; the single-planar type refused.
 */
START_TEST(test_multiplanar)
{
	static const char *const fcs[] = { "NM12", "YM21", "NV21" };
	const uint32_t w = 640, h = 480, off = 128, stride = 768;
	struct v4l2_plane planes[VIDEO_MAX_PLANES];
	struct v4l2_requestbuffers rb;
	struct v4l2_capability cap;
	struct v4l2_format fmt;
	struct v4l2_buffer vb;
	struct simpattern pat;
	struct yuv c;
	uint8_t *map[2][3];
	size_t maplen[2][3];
	int fd, type = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
	uint32_t i, p, np;

	setenv("V4L2SIM_MPLANE", "1", 1);
	setenv("V4L2SIM_STRIDE_ALIGN", "256", 1);
	setenv("V4L2SIM_DATA_OFFSET", "128", 1);
	setenv("V4L2SIM_FORMATS", "NM12:640x480@30;YM21:640x480@30;"
	    "NV21:640x480@30", 1);
	simpattern_init(&pat, w, h);
	for (unsigned f = 0; f < 3; f++) {
		fd = dev_open(O_NONBLOCK);
		ck_assert_int_eq(xio(fd, VIDIOC_QUERYCAP, &cap), 0);
		ck_assert_uint_eq(cap.device_caps,
		    V4L2_CAP_VIDEO_CAPTURE_MPLANE | V4L2_CAP_STREAMING);
		memset(&fmt, 0, sizeof(fmt));
		fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		ck_assert_int_eq(xio(fd, VIDIOC_G_FMT, &fmt), EINVAL);
		fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
		fmt.fmt.pix_mp.pixelformat = FOURCC(fcs[f]);
		fmt.fmt.pix_mp.width = w;
		fmt.fmt.pix_mp.height = h;
		ck_assert_int_eq(xio(fd, VIDIOC_S_FMT, &fmt), 0);
		np = f == 0 ? 2 : f == 1 ? 3 : 1;
		ck_assert_uint_eq(fmt.fmt.pix_mp.num_planes, np);
		ck_assert_uint_eq(fmt.fmt.pix_mp.plane_fmt[0].bytesperline,
		    stride);
		/* Separate chroma planes: their own padded rows. */
		if (f == 1)
			ck_assert_uint_eq(
			    fmt.fmt.pix_mp.plane_fmt[1].bytesperline, 512);
		memset(&rb, 0, sizeof(rb));
		rb.count = 2;
		rb.type = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
		rb.memory = V4L2_MEMORY_MMAP;
		ck_assert_int_eq(xio(fd, VIDIOC_REQBUFS, &rb), 0);
		for (i = 0; i < 2; i++) {
			memset(&vb, 0, sizeof(vb));
			vb.type = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
			vb.memory = V4L2_MEMORY_MMAP;
			vb.index = i;
			/* No planes[] to fill in: refused. */
			ck_assert_int_eq(xio(fd, VIDIOC_QUERYBUF, &vb),
			    EINVAL);
			vb.m.planes = planes;
			vb.length = VIDEO_MAX_PLANES;
			ck_assert_int_eq(xio(fd, VIDIOC_QUERYBUF, &vb), 0);
			ck_assert_uint_eq(vb.length, np);
			for (p = 0; p < np; p++) {
				ck_assert_uint_eq(planes[p].length,
				    fmt.fmt.pix_mp.plane_fmt[p].sizeimage);
				maplen[i][p] = planes[p].length;
				map[i][p] = mmap(NULL, planes[p].length,
				    PROT_READ | PROT_WRITE, MAP_SHARED, fd,
				    planes[p].m.mem_offset);
				ck_assert_ptr_ne(map[i][p], MAP_FAILED);
			}
			ck_assert_int_eq(xio(fd, VIDIOC_QBUF, &vb), 0);
		}
		ck_assert_int_eq(xio(fd, VIDIOC_STREAMON, &type), 0);
		ck_assert(tu_wait_fd(fd, POLLIN, 5000));
		memset(&vb, 0, sizeof(vb));
		vb.type = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
		vb.memory = V4L2_MEMORY_MMAP;
		vb.m.planes = planes;
		vb.length = VIDEO_MAX_PLANES;
		ck_assert_int_eq(xio(fd, VIDIOC_DQBUF, &vb), 0);
		for (p = 0; p < np; p++) {
			ck_assert_uint_eq(planes[p].data_offset, off);
			ck_assert_uint_eq(planes[p].bytesused,
			    fmt.fmt.pix_mp.plane_fmt[p].sizeimage);
		}
		/* The bar at (100, band + 20), the block's inside. */
		for (unsigned k = 0; k < 2; k++) {
			uint32_t x = k ? simpattern_block_x(&pat, vb.sequence) +
			    6 : 100, y = k ? pat.sp_block_y + 30 :
			    pat.sp_band + 20;
			const uint8_t *y0 = map[vb.index][0] + off, *c0;

			c = simpattern_pixel(&pat, vb.sequence, 0, x, y);
			ck_assert_uint_eq(y0[y * stride + x], c.y);
			if (f == 0) {		/* NM12: Cb Cr pairs */
				c0 = map[vb.index][1] + off + y / 2 * stride +
				    (x & ~1u);
				ck_assert_uint_eq(c0[0], c.u);
				ck_assert_uint_eq(c0[1], c.v);
			} else if (f == 1) {	/* YM21: Y, Cr, Cb */
				ck_assert_uint_eq(map[vb.index][2][off + y / 2 *
				    512 + x / 2], c.u);
				ck_assert_uint_eq(map[vb.index][1][off + y / 2 *
				    512 + x / 2], c.v);
			} else {		/* NV21: Cr Cb, after Y */
				c0 = y0 + stride * h + y / 2 * stride +
				    (x & ~1u);
				ck_assert_uint_eq(c0[0], c.v);
				ck_assert_uint_eq(c0[1], c.u);
			}
		}
		ck_assert_int_eq(xio(fd, VIDIOC_STREAMOFF, &type), 0);
		for (i = 0; i < 2; i++)
			for (p = 0; p < np; p++)
				munmap(map[i][p], maplen[i][p]);
		close(fd);
	}
	/* A format with a buffer per plane needs the multi-planar API. */
	unsetenv("V4L2SIM_MPLANE");
	unsetenv("V4L2SIM_DATA_OFFSET");
	ck_assert_int_eq(open(devpath, O_RDWR), -1);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* A thread of this process named name? */
static int
has_thread(const char *name)
{
	char path[64], comm[32];
	struct dirent *e;
	DIR *d = opendir("/proc/self/task");
	int found = 0;
	FILE *f;

	ck_assert_ptr_nonnull(d);
	while (!found && (e = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
		    e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		found = fgets(comm, sizeof(comm), f) != NULL &&
		    strncmp(comm, name, strlen(name)) == 0 &&
		    comm[strlen(name)] == '\n';
		fclose(f);
	}
	closedir(d);
	return found;
}

/* Waits up to 5 s for a thread of that name to be there, or gone. */
static int
thread_is(const char *name, int there)
{
	uint64_t deadline = tu_now_ms() + 5000;

	while (has_thread(name) != there)
		if (tu_now_ms() > deadline)
			return 0;
		else
			usleep(2000);
	return 1;
}

/* Waits until every buffer of s is filled and waiting (QUERYBUF). */
static int
all_done(struct sess *s, int timeout_ms)
{
	uint64_t deadline = tu_now_ms() + (uint64_t)timeout_ms;
	struct v4l2_buffer vb;
	uint32_t i, done;

	do {
		for (i = done = 0; i < s->n; i++) {
			memset(&vb, 0, sizeof(vb));
			vb.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
			vb.memory = V4L2_MEMORY_MMAP;
			vb.index = i;
			ck_assert_int_eq(xio(s->fd, VIDIOC_QUERYBUF, &vb), 0);
			done += (vb.flags & V4L2_BUF_FLAG_DONE) != 0;
		}
		if (done == s->n)
			return 1;
		usleep(2000);
	} while (tu_now_ms() < deadline);
	return 0;
}

/*
 * V4L2SIM_PROFILE=libcamera: what libcamera's v4l2-compat.so shows a
 * program.  Driver "libcamera", XR24 800x600 before any S_FMT, a size
 * it does not list falls back to its first, ENOTTY for controls, rates
 * and frame intervals, mmap only read-write; an eventfd that is always
 * writable and readable once per waiting buffer; its threads.
 */
START_TEST(test_libcamera_profile)
{
	struct v4l2_capability cap;
	struct v4l2_format fmt;
	struct v4l2_queryctrl q;
	struct v4l2_streamparm parm;
	struct v4l2_frmivalenum iv;
	struct v4l2_buffer a, b;
	struct pollfd pfd;
	struct stat st;
	struct sess s;
	int fd;

	setenv("V4L2SIM_PROFILE", "libcamera", 1);
	fd = dev_open(O_NONBLOCK);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert(!S_ISCHR(st.st_mode) && !S_ISSOCK(st.st_mode));
	ck_assert_int_eq(xio(fd, VIDIOC_QUERYCAP, &cap), 0);
	ck_assert_str_eq((const char *)cap.driver, "libcamera");
	ck_assert_uint_eq(cap.device_caps, V4L2_CAP_VIDEO_CAPTURE |
	    V4L2_CAP_STREAMING | V4L2_CAP_EXT_PIX_FORMAT);
	memset(&fmt, 0, sizeof(fmt));
	fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	ck_assert_int_eq(xio(fd, VIDIOC_G_FMT, &fmt), 0);
	ck_assert_uint_eq(fmt.fmt.pix.pixelformat, V4L2_PIX_FMT_XBGR32);
	ck_assert_uint_eq(fmt.fmt.pix.width, 800);
	ck_assert_uint_eq(fmt.fmt.pix.height, 600);
	fmt.fmt.pix.pixelformat = V4L2_PIX_FMT_YUV420;
	fmt.fmt.pix.width = 1000;
	fmt.fmt.pix.height = 700;
	ck_assert_int_eq(xio(fd, VIDIOC_TRY_FMT, &fmt), 0);
	ck_assert_uint_eq(fmt.fmt.pix.width, 800);
	memset(&q, 0, sizeof(q));
	q.id = V4L2_CTRL_FLAG_NEXT_CTRL;
	ck_assert_int_eq(xio(fd, VIDIOC_QUERYCTRL, &q), ENOTTY);
	memset(&parm, 0, sizeof(parm));
	parm.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	ck_assert_int_eq(xio(fd, VIDIOC_G_PARM, &parm), ENOTTY);
	memset(&iv, 0, sizeof(iv));
	iv.pixel_format = V4L2_PIX_FMT_XBGR32;
	iv.width = 800;
	iv.height = 600;
	ck_assert_int_eq(xio(fd, VIDIOC_ENUM_FRAMEINTERVALS, &iv), ENOTTY);
	/* Threads: the manager's from the first open on, one per open. */
	ck_assert(thread_is("lc-manager", 1));
	ck_assert(thread_is("lc-ipa", 1));
	ck_assert(thread_is("lc-request", 1));
	/* Always writable; readable once a buffer waits, as often as
	 * buffers wait. */
	pfd.fd = fd;
	pfd.events = POLLOUT | POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 0), 1);
	ck_assert_int_eq(pfd.revents, POLLOUT);
	sess_start(&s, fd, "YU12", 640, 480, 3);
	/* All three buffers filled (their DONE flags), then readable for
	 * as long as one of them waits, and not after. */
	ck_assert(all_done(&s, 5000));
	for (int k = 0; k < 3; k++) {
		ck_assert(tu_wait_fd(fd, POLLIN, 0));
		ck_assert_int_eq(sess_next(&s, &a, 0), 0);
	}
	ck_assert(!tu_wait_fd(fd, POLLIN, 0));
	ck_assert_int_eq(sess_next(&s, &b, 0), ETIMEDOUT);
	sess_stop(&s);
	ck_assert(thread_is("lc-request", 0));
	ck_assert(thread_is("lc-manager", 1));
	/* Only PROT_READ | PROT_WRITE maps (V4L2CameraProxy::mmap()). */
	fd = dev_open(O_NONBLOCK);
	sess_start(&s, fd, "YU12", 640, 480, 2);
	ck_assert_ptr_eq(mmap(NULL, s.len[0], PROT_READ, MAP_SHARED, fd, 0),
	    MAP_FAILED);
	sess_stop(&s);
}
END_TEST

START_TEST(test_drops_without_buffers)
{
	struct v4l2_buffer a, b, c;
	struct sess s;

	setenv("V4L2SIM_FORMATS", "YUYV:320x240@30", 1);
	sess_start(&s, dev_open(O_NONBLOCK), "YUYV", 320, 240, 2);
	ck_assert_int_eq(sess_next(&s, &a, 5000), 0);
	ck_assert_int_eq(sess_next(&s, &b, 5000), 0);
	ck_assert_uint_gt(b.sequence, a.sequence);
	/* Nothing queued: no frame can arrive, but time goes on. */
	ck_assert_int_eq(tu_wait_fd(s.fd, POLLIN, 400), 0);
	ck_assert_int_eq(sess_next(&s, &c, 0), ETIMEDOUT);
	sess_requeue(&s, &a);
	ck_assert_int_eq(sess_next(&s, &c, 5000), 0);
	/* 400 ms at 30 fps: about 12 frames were lost. */
	ck_assert_uint_ge(c.sequence, b.sequence + 6);
	sess_requeue(&s, &b);
	sess_requeue(&s, &c);
	sess_stop(&s);
}
END_TEST

START_TEST(test_buffer_errors_and_unsupported)
{
	static const unsigned long unsupported[] = { VIDIOC_G_STD,
	    VIDIOC_QUERYSTD, VIDIOC_QUERY_DV_TIMINGS, VIDIOC_G_DV_TIMINGS,
	    VIDIOC_CROPCAP, VIDIOC_G_SELECTION, VIDIOC_EXPBUF,
	    VIDIOC_G_JPEGCOMP, VIDIOC_SUBSCRIBE_EVENT, VIDIOC_CREATE_BUFS };
	struct v4l2_requestbuffers rb;
	struct v4l2_buffer vb;
	struct pollfd pfd;
	struct timeval tv = { 0, 0 };
	fd_set wr, ex;
	union { char bytes[4096]; uint64_t align; } junk;
	void *p;
	int fd, type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	size_t i;

	setenv("V4L2SIM_FORMATS", "YUYV:320x240@30", 1);
	fd = dev_open(0);	/* blocking */
	memset(&junk, 0, sizeof(junk));
	for (i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
		ck_assert_int_eq(xio(fd, unsupported[i], &junk), ENOTTY);
	ck_assert_int_eq(ioctl(fd, VIDIOC_QUERYCAP, NULL), -1);
	ck_assert_int_eq(errno, EFAULT);
	ck_assert_int_eq(xio(fd, VIDIOC_STREAMON, &type), EINVAL);

	/* Never writable, no exceptional condition: like a camera. */
	pfd.fd = fd;
	pfd.events = POLLIN | POLLOUT | POLLPRI;
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	FD_ZERO(&wr);
	FD_SET(fd, &wr);
	FD_ZERO(&ex);
	FD_SET(fd, &ex);
	ck_assert_int_eq(select(fd + 1, NULL, &wr, &ex, &tv), 0);

	memset(&rb, 0, sizeof(rb));
	rb.count = 2;
	rb.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	rb.memory = V4L2_MEMORY_MMAP;
	ck_assert_int_eq(xio(fd, VIDIOC_REQBUFS, &rb), 0);
	memset(&vb, 0, sizeof(vb));
	vb.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	vb.memory = V4L2_MEMORY_MMAP;
	vb.index = 2;
	ck_assert_int_eq(xio(fd, VIDIOC_QUERYBUF, &vb), EINVAL);
	ck_assert_int_eq(xio(fd, VIDIOC_QBUF, &vb), EINVAL);
	vb.index = 1;
	ck_assert_int_eq(xio(fd, VIDIOC_QUERYBUF, &vb), 0);
	ck_assert(!(vb.flags & V4L2_BUF_FLAG_MAPPED));
	p = mmap(NULL, vb.length, PROT_READ, MAP_PRIVATE, fd, vb.m.offset);
	ck_assert_ptr_eq(p, MAP_FAILED);
	ck_assert_int_eq(errno, EINVAL);
	p = mmap(NULL, vb.length, PROT_READ, MAP_SHARED, fd,
	    vb.m.offset + 4096);
	ck_assert_ptr_eq(p, MAP_FAILED);
	p = mmap(NULL, vb.length, PROT_READ, MAP_SHARED, fd, vb.m.offset);
	ck_assert_ptr_ne(p, MAP_FAILED);
	ck_assert_int_eq(xio(fd, VIDIOC_QUERYBUF, &vb), 0);
	ck_assert(vb.flags & V4L2_BUF_FLAG_MAPPED);
	ck_assert_int_eq(munmap(p, vb.length), 0);
	ck_assert_int_eq(xio(fd, VIDIOC_QUERYBUF, &vb), 0);
	ck_assert(!(vb.flags & V4L2_BUF_FLAG_MAPPED));

	ck_assert_int_eq(xio(fd, VIDIOC_QBUF, &vb), 0);
	ck_assert(vb.flags & V4L2_BUF_FLAG_QUEUED);
	ck_assert_int_eq(xio(fd, VIDIOC_QBUF, &vb), EINVAL);	/* twice */
	ck_assert_int_eq(xio(fd, VIDIOC_DQBUF, &vb), EINVAL);	/* no stream */
	ck_assert_int_eq(xio(fd, VIDIOC_STREAMON, &type), 0);
	/* A blocking DQBUF waits for the frame. */
	memset(&vb, 0, sizeof(vb));
	vb.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	vb.memory = V4L2_MEMORY_MMAP;
	ck_assert_int_eq(xio(fd, VIDIOC_DQBUF, &vb), 0);
	ck_assert_uint_eq(vb.index, 1);
	/* O_NONBLOCK set later counts: EAGAIN with nothing queued. */
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	ck_assert_int_eq(xio(fd, VIDIOC_DQBUF, &vb), EAGAIN);
	ck_assert_int_eq(xio(fd, VIDIOC_STREAMOFF, &type), 0);
	ck_assert_int_eq(xio(fd, VIDIOC_DQBUF, &vb), EINVAL);
	close(fd);
}
END_TEST

/* ------------------------------------------------------ the stamp reader */

START_TEST(test_simstamp_codes)
{
	uint8_t bits[SIMSTAMP_BITS], jpeg[256];
	uint64_t seq, ns;
	char text[SIMSTAMP_COM_MAX + 1];
	size_t n, i;

	simstamp_encode(123456789012ull, 1795600000123456789ull, bits);
	ck_assert_int_eq(simstamp_decode(bits, &seq, &ns), 0);
	ck_assert_uint_eq(seq, 123456789012ull);
	ck_assert_uint_eq(ns, 1795600000123456000ull);
	for (i = 0; i < SIMSTAMP_BITS; i += 7) {
		bits[i] ^= 1;
		ck_assert_int_eq(simstamp_decode(bits, &seq, &ns), -EBADMSG);
		bits[i] ^= 1;
	}
	ck_assert_uint_eq(simstamp_rows(1920, 1080), 1);
	ck_assert_uint_eq(simstamp_rows(640, 480), 3);
	ck_assert_uint_eq(simstamp_rows(320, 240), 6);
	ck_assert_uint_eq(simstamp_rows(160, 120), 0);

	/* COM: SOI, COM, SOS header. */
	n = simstamp_com_text(text, sizeof(text), 42, 1000000000123ull);
	ck_assert_str_eq(text, "V4L2SIM 42 1000000000123");
	jpeg[0] = 0xff;
	jpeg[1] = 0xd8;
	jpeg[2] = 0xff;
	jpeg[3] = 0xfe;
	jpeg[4] = 0;
	jpeg[5] = (uint8_t)(n + 2);
	memcpy(jpeg + 6, text, n);
	memcpy(jpeg + 6 + n, "\xff\xda\x00\x02", 4);
	ck_assert_int_eq(simstamp_from_com(jpeg, n + 10, &seq, &ns), 0);
	ck_assert_uint_eq(seq, 42);
	ck_assert_uint_eq(ns, 1000000000123ull);
	jpeg[6 + 8] = 'x';	/* "V4L2SIM x2 ..." */
	ck_assert_int_eq(simstamp_from_com(jpeg, n + 10, &seq, &ns), -EINVAL);
	jpeg[6] = 'W';		/* someone else's comment */
	ck_assert_int_eq(simstamp_from_com(jpeg, n + 10, &seq, &ns), -ENOENT);
	ck_assert_int_eq(simstamp_from_com(jpeg, 5, &seq, &ns), -EINVAL);
	jpeg[5] = 200;		/* segment longer than the data */
	ck_assert_int_eq(simstamp_from_com(jpeg, n + 10, &seq, &ns), -EINVAL);
	ck_assert_int_eq(simstamp_from_jpeg((const uint8_t *)"GIF89a", 6,
	    &seq, &ns), -EINVAL);
}
END_TEST

START_TEST(test_simstamp_barcode_survives_jpeg)
{
	static const int sizes[][2] = { { 1920, 1080 }, { 640, 480 },
	    { 352, 288 }, { 320, 240 } };
	struct simpattern_rect r[SIMPATTERN_OVERLAY_MAX];
	struct simpattern pat;
	unsigned char *jpeg = NULL;
	unsigned long jlen = 0;
	uint64_t seq, ns, want_ns = 1795600000987654000ull;
	tjhandle tj = tjInitCompress();
	int i, k, n, q, w, h, sub;

	ck_assert_ptr_nonnull(tj);
	for (i = 0; i < 4; i++) {
		w = sizes[i][0];
		h = sizes[i][1];
		size_t ys = (size_t)w * h;
		uint8_t *img = malloc(ys * 3 / 2);
		const unsigned char *planes[3] = { img, img + ys,
		    img + ys + ys / 4 };
		int strides[3] = { w, w / 2, w / 2 };

		ck_assert_ptr_nonnull(img);
		simpattern_init(&pat, (uint32_t)w, (uint32_t)h);
		simpattern_render_i420(&pat, img, (size_t)w, img + ys,
		    img + ys + ys / 4, (size_t)w / 2);
		n = simpattern_overlay(&pat, 777 + (uint64_t)i, want_ns, r);
		for (k = 0; k < n; k++)
			for (uint32_t y = r[k].y; y < r[k].y + r[k].h; y++) {
				memset(img + y * (size_t)w + r[k].x, r[k].c.y,
				    r[k].w);
				if (y % 2 == 0) {
					memset(img + ys + y / 2 * (size_t)w / 2 +
					    r[k].x / 2, r[k].c.u, r[k].w / 2);
					memset(img + ys + ys / 4 + y / 2 *
					    (size_t)w / 2 + r[k].x / 2,
					    r[k].c.v, r[k].w / 2);
				}
			}
		for (q = 50; q <= 95; q += 45)
			for (sub = 0; sub < 2; sub++) {
				/*
				 * A fresh compressor each time: TurboJPEG
				 * 2.1.5 writes corrupt baseline JPEGs with a
				 * handle that made a progressive one.
				 */
				tjDestroy(tj);
				tj = tjInitCompress();
				ck_assert_ptr_nonnull(tj);
				tjFree(jpeg);
				jpeg = NULL;
				jlen = 0;
				ck_assert_int_eq(tjCompressFromYUVPlanes(tj,
				    planes, w, strides, h, TJSAMP_420, &jpeg,
				    &jlen, q, sub ? TJFLAG_PROGRESSIVE : 0), 0);
				k = simstamp_from_jpeg(jpeg, jlen, &seq, &ns);
				ck_assert_msg(k == 0, "%dx%d quality %d%s: %s",
				    w, h, q, sub ? " progressive" : "",
				    strerror(-k));
				ck_assert_uint_eq(seq, 777 + (uint64_t)i);
				ck_assert_uint_eq(ns, want_ns);
			}
		/* A bit flipped in the picture is caught by the CRC. */
		n = SIMSTAMP_Y_ONE + SIMSTAMP_Y_ZERO - img[16 * 8 + 4];
		for (k = 0; k < 16; k++)
			memset(img + (size_t)k * w + 16 * 8, n, 16);
		tjDestroy(tj);
		tj = tjInitCompress();
		tjFree(jpeg);
		jpeg = NULL;
		jlen = 0;
		ck_assert_int_eq(tjCompressFromYUVPlanes(tj, planes, w, strides,
		    h, TJSAMP_420, &jpeg, &jlen, 90, 0), 0);
		ck_assert_int_eq(simstamp_from_barcode(jpeg, jlen, &seq, &ns),
		    -EBADMSG);
		free(img);
	}
	/* Too small for a barcode. */
	{
		uint8_t img[160 * 120 * 3 / 2];
		const unsigned char *planes[3] = { img, img + 19200,
		    img + 19200 + 4800 };
		int strides[3] = { 160, 80, 80 };

		memset(img, 128, sizeof(img));
		tjFree(jpeg);
		jpeg = NULL;
		jlen = 0;
		ck_assert_int_eq(tjCompressFromYUVPlanes(tj, planes, 160,
		    strides, 120, TJSAMP_420, &jpeg, &jlen, 80, 0), 0);
		ck_assert_int_eq(simstamp_from_jpeg(jpeg, jlen, &seq, &ns),
		    -ENOENT);
	}
	tjFree(jpeg);
	tjDestroy(tj);
}
END_TEST

static Suite *
v4l2sim_suite(void)
{
	Suite *s = suite_create("v4l2sim");
	TCase *stamp = tcase_create("simstamp");
	TCase *api = tcase_create("api");
	TCase *stream = tcase_create("streaming");

	tcase_set_timeout(stamp, 30);
	tcase_add_test(stamp, test_simstamp_codes);
	tcase_add_test(stamp, test_simstamp_barcode_survives_jpeg);
	suite_add_tcase(s, stamp);

	tcase_set_timeout(api, 30);
	tcase_add_unchecked_fixture(api, case_setup, case_teardown);
	tcase_add_checked_fixture(api, setup, dir_clear);
	tcase_add_test(api, test_preloaded_and_passthrough);
	tcase_add_test(api, test_enumeration);
	tcase_add_test(api, test_format_and_rate_negotiation);
	tcase_add_test(api, test_controls);
	tcase_add_test(api, test_buffer_errors_and_unsupported);
	suite_add_tcase(s, api);

	tcase_set_timeout(stream, 60);
	tcase_add_unchecked_fixture(stream, case_setup, case_teardown);
	tcase_add_checked_fixture(stream, setup, dir_clear);
	tcase_add_test(stream, test_stream_mjpeg);
	tcase_add_test(stream, test_stream_rate);
	tcase_add_test(stream, test_stream_rate_ignored);
	tcase_add_test(stream, test_no_huffman_tables);
	tcase_add_test(stream, test_garbage_frames);
	tcase_add_test(stream, test_unplug_and_replug);
	tcase_add_test(stream, test_unplug_after);
	tcase_add_test(stream, test_raw_frames);
	tcase_add_test(stream, test_multiplanar);
	tcase_add_test(stream, test_libcamera_profile);
	tcase_add_test(stream, test_drops_without_buffers);
	suite_add_tcase(s, stream);
	return s;
}

int
main(int argc, char **argv)
{
	(void)argc;
	tu_preload_v4l2sim(argv);
	return tu_run_suite(v4l2sim_suite());
}
