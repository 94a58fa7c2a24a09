/*
 * device.c - one open simulated camera: the V4L2 ioctls, mmap buffers,
 * the producer thread and unplugging.
 *
 * It behaves like uvcvideo on top of videobuf2 where a program can tell:
 * the error codes (EINVAL for a wrong type or index, EBUSY for a format
 * change while buffers exist or while another open file owns the stream,
 * EAGAIN from a non-blocking DQBUF, ENODEV after an unplug, ENOTTY for
 * what a webcam lacks), REQBUFS clamping the count to 2..32, a sequence
 * that starts at 0 at STREAMON and also counts frames dropped because no
 * buffer was queued, CLOCK_MONOTONIC timestamps.
 *
 * The descriptor the program gets is one end of a socketpair.  The
 * simulator keeps the other end and writes one byte into it whenever a
 * filled buffer is waiting, and takes it back when the last one is
 * dequeued, so poll/select/epoll see POLLIN exactly when DQBUF would
 * succeed.  Two details make the socket look like a capture device:
 *   - a socket is normally writable, a capture device never is: the
 *     program's end fills its (minimal) send buffer at open, so POLLOUT
 *     stays off (unix_poll(): writable only while less than a quarter of
 *     sk_sndbuf is in use);
 *   - a removed UVC device reports POLLERR (vb2_core_poll() once the
 *     queue is marked in error): closing our end while the bytes the
 *     program's end sent are still unread makes the kernel set
 *     ECONNRESET on it (unix_release_sock()), which polls as
 *     POLLERR|POLLHUP|POLLIN.
 *
 * V4L2SIM_MPLANE=1 makes it a multi-planar-only device, as many CSI
 * bridges and ISPs are (rkisp1, i.MX8 ISI): every ioctl takes the
 * _MPLANE buffer type, formats are struct v4l2_pix_format_mplane, and
 * buffers carry planes[] with mem_offset, bytesused and data_offset.
 *
 * V4L2SIM_PROFILE=libcamera imitates libcamera's v4l2-compat.so (what
 * libcamerify preloads for Raspberry Pi camera modules): driver
 * "libcamera", only the ioctls its V4L2CameraProxy serves (ENOTTY for
 * controls, rates and frame intervals), a format or size it does not
 * list falls back to its first, and the descriptor is an eventfd in
 * semaphore mode, written once per finished buffer and read once per
 * DQBUF: readable exactly while buffers wait, and always writable.  Like
 * libcamera it starts threads of its own at the first open (the camera
 * manager's, which live as long as the process and wait in ppoll()) and
 * makes calls of its own at every open (an eventfd, a pipe, a thread
 * that names itself and waits on the pipe).  The program loading it
 * must allow those calls.
 *
 * Locking: everything in struct sim_device below d_lock is guarded by
 * d_lock.  The producer thread fills a buffer without the lock (the
 * buffer is in state FILLING, which no ioctl touches); STREAMOFF, REQBUFS
 * and close wait for it.  Lock order: a device's d_lock, then owner_lock
 * or maps_lock; never the reverse.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "sim.h"

#define SIM_MIN_BUFFERS	2
#define SIM_MAX_BUFFERS	32	/* UVC_MAX_VIDEO_BUFFERS */
/* How often the producer looks for the device file when it has no frame
 * to produce sooner. */
#define CHECK_NS	(50 * 1000000ull)
#define NS		1000000000ull

enum buf_state {
	BUF_DEQUEUED,
	BUF_QUEUED,
	BUF_FILLING,
	BUF_DONE,
};

/* One memory plane of a buffer: a memfd the program maps. */
struct sim_plane {
	int		 sp_memfd;
	uint8_t		*sp_map;	/* the simulator's own mapping */
	size_t		 sp_length;	/* sizeimage (+ data_offset) */
	size_t		 sp_maplen;	/* page aligned */
	uint32_t	 sp_offset;	/* mmap offset cookie */
	uint32_t	 sp_bytesused;
};

struct sim_buffer {
	struct sim_plane sb_planes[3];
	unsigned	 sb_nplanes;
	enum buf_state	 sb_state;
	uint32_t	 sb_sequence;
	uint64_t	 sb_mono_ns;
	uint32_t	 sb_mapped;	/* the program's mappings */
	struct sim_paint sb_paint;	/* what sb_map holds */
};

struct sim_device {
	int		 d_refs;	/* atomic */
	pid_t		 d_pid;
	int		 d_fd;		/* the program's end */
	int		 d_log;		/* V4L2SIM_LOG, or -1 */
	int		 d_pathfd;	/* O_PATH: the device file at open */
	const char	*d_path;	/* its name, in d_cfg */
	struct sim_m2m	*d_m2m;		/* a memory-to-memory device */
	dev_t		 d_st_dev;
	ino_t		 d_st_ino;
	struct sim_config *d_cfg;
	int		 d_mplane;	/* V4L2SIM_MPLANE */
	int		 d_libcamera;	/* V4L2SIM_PROFILE=libcamera */
	pthread_t	 d_thread;
	int		 d_thread_started;
	/* libcamera: the per-open thread and the pipe that stops it. */
	pthread_t	 d_lc_thread;
	int		 d_lc_pipe[2];
	int		 d_lc_started;

	pthread_mutex_t	 d_lock;
	pthread_cond_t	 d_cond;	/* CLOCK_MONOTONIC; any change */
	int		 d_peer;	/* our end, -1 once unplugged */
	int		 d_closed;
	int		 d_unplugged;	/* atomic store, read by others */
	const struct sim_format *d_fmt;
	const struct sim_size *d_size;
	struct v4l2_fract d_interval;
	struct v4l2_fract d_claimed;	/* V4L2SIM_IGNORE_PARM: what G_PARM
					 * reports instead of d_interval */
	struct sim_controls d_ctrls;
	struct sim_buffer d_bufs[SIM_MAX_BUFFERS];
	uint32_t	 d_nbufs;
	uint32_t	 d_bufgen;	/* REQBUFS count, for mappings */
	uint32_t	 d_queue[SIM_MAX_BUFFERS];	/* QBUF order */
	uint32_t	 d_qhead, d_qlen;
	uint32_t	 d_done[SIM_MAX_BUFFERS];	/* filled, in order */
	uint32_t	 d_dhead, d_dlen;
	int		 d_ready;	/* the readiness byte is in d_fd, or
					 * (libcamera) the eventfd's count */
	int		 d_streaming;
	uint64_t	 d_generation;	/* STREAMON count */
	int		 d_filling;	/* buffer being filled, or -1 */
	uint64_t	 d_t0;		/* STREAMON time */
	uint64_t	 d_interval_ns;
	uint64_t	 d_next_frame;
	uint64_t	 d_next_check;
	uint64_t	 d_seq;		/* next sequence */
	struct sim_frames *d_frames;

	/* Statistics, for the log. */
	uint64_t	 d_made;	/* frames filled, all streams */
	uint64_t	 d_dequeued;	/* frames handed out, all streams */
	uint64_t	 d_made_stream;	/* in this stream */
	uint64_t	 d_dropped;
	uint64_t	 d_fill_cpu_ns;	/* producing frames */
	uint64_t	 d_thread_cpu_ns;	/* the producer thread, updated
						 * by it each time round */
	uint64_t	 d_thread_cpu0;	/* at STREAMON */
};

/* The open file that owns the stream (uvc_acquire_privileges()). */
static pthread_mutex_t owner_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sim_device *owner;

/* The program's mappings of buffers, for munmap() and the MAPPED flag. */
#define MAPS_MAX	256
struct sim_map {
	void			*sm_addr;
	struct sim_device	*sm_dev;	/* holds a reference */
	uint32_t		 sm_index;
	uint32_t		 sm_bufgen;
};
static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sim_map maps[MAPS_MAX];
unsigned int sim_mappings;

/* ------------------------------------------------------------------ log */

void
sim_log(int fd, const char *who, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%s[%d]: ", who, (int)getpid());
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* O_APPEND: one write is one line, whichever thread writes it. */
	if (write(fd, line, (size_t)n) < 0)
		return;
}

#define dev_log(d, ...)	sim_log((d)->d_log, "v4l2sim", __VA_ARGS__)

static const char *
ioctl_name(unsigned long req)
{
	switch (req) {
#define N(x) case x: return #x
	N(VIDIOC_QUERYCAP); N(VIDIOC_ENUM_FMT); N(VIDIOC_G_FMT);
	N(VIDIOC_S_FMT); N(VIDIOC_TRY_FMT); N(VIDIOC_REQBUFS);
	N(VIDIOC_QUERYBUF); N(VIDIOC_QBUF); N(VIDIOC_DQBUF);
	N(VIDIOC_EXPBUF); N(VIDIOC_STREAMON); N(VIDIOC_STREAMOFF);
	N(VIDIOC_G_PARM); N(VIDIOC_S_PARM); N(VIDIOC_G_STD);
	N(VIDIOC_S_STD); N(VIDIOC_ENUMSTD); N(VIDIOC_QUERYSTD);
	N(VIDIOC_ENUMINPUT); N(VIDIOC_G_INPUT); N(VIDIOC_S_INPUT);
	N(VIDIOC_G_CTRL); N(VIDIOC_S_CTRL); N(VIDIOC_QUERYCTRL);
	N(VIDIOC_QUERY_EXT_CTRL); N(VIDIOC_QUERYMENU);
	N(VIDIOC_G_EXT_CTRLS); N(VIDIOC_S_EXT_CTRLS);
	N(VIDIOC_TRY_EXT_CTRLS); N(VIDIOC_ENUM_FRAMESIZES);
	N(VIDIOC_ENUM_FRAMEINTERVALS); N(VIDIOC_CROPCAP);
	N(VIDIOC_G_CROP); N(VIDIOC_S_CROP); N(VIDIOC_G_SELECTION);
	N(VIDIOC_S_SELECTION); N(VIDIOC_G_JPEGCOMP); N(VIDIOC_S_JPEGCOMP);
	N(VIDIOC_QUERY_DV_TIMINGS); N(VIDIOC_G_DV_TIMINGS);
	N(VIDIOC_S_DV_TIMINGS); N(VIDIOC_ENUM_DV_TIMINGS);
	N(VIDIOC_DV_TIMINGS_CAP); N(VIDIOC_SUBSCRIBE_EVENT);
	N(VIDIOC_UNSUBSCRIBE_EVENT); N(VIDIOC_DQEVENT);
	N(VIDIOC_CREATE_BUFS); N(VIDIOC_PREPARE_BUF);
	N(VIDIOC_G_PRIORITY); N(VIDIOC_S_PRIORITY); N(VIDIOC_LOG_STATUS);
#undef N
	default:
		return NULL;
	}
}

/* --------------------------------------------------------------- helpers */

static const struct sim_format *
format_find(const struct sim_device *d, uint32_t fourcc)
{
	uint32_t i;

	for (i = 0; i < d->d_cfg->sc_nformats; i++)
		if (d->d_cfg->sc_formats[i].sf_fourcc == fourcc)
			return &d->d_cfg->sc_formats[i];
	return NULL;
}

/* The size closest in area difference, as uvc_v4l2_try_format() picks. */
static const struct sim_size *
size_nearest(const struct sim_format *f, uint32_t w, uint32_t h)
{
	const struct sim_size *best = &f->sf_sizes[0];
	uint64_t bestd = UINT64_MAX, d, mw, mh;
	uint32_t i;

	for (i = 0; i < f->sf_nsizes; i++) {
		const struct sim_size *s = &f->sf_sizes[i];

		mw = s->ss_width < w ? s->ss_width : w;
		mh = s->ss_height < h ? s->ss_height : h;
		d = (uint64_t)s->ss_width * s->ss_height + (uint64_t)w * h -
		    2 * mw * mh;
		if (d < bestd) {
			bestd = d;
			best = s;
		}
	}
	return best;
}

static uint64_t
fract_ns(struct v4l2_fract f)
{
	if (f.denominator == 0)
		return 0;
	return (uint64_t)f.numerator * NS / f.denominator;
}

static struct v4l2_fract
interval_nearest(const struct sim_size *s, struct v4l2_fract want)
{
	uint64_t w = fract_ns(want), best = UINT64_MAX, v, dv;
	struct v4l2_fract r = s->ss_intervals[0];
	uint32_t i;

	for (i = 0; i < s->ss_nintervals; i++) {
		v = fract_ns(s->ss_intervals[i]);
		dv = v > w ? v - w : w - v;
		if (dv < best) {
			best = dv;
			r = s->ss_intervals[i];
		}
	}
	return r;
}

/* The geometry of frames of f at s on this device. */
static void
dev_geometry(const struct sim_device *d, const struct sim_format *f,
    const struct sim_size *s, struct sim_geom *g)
{
	sim_fourcc_geometry(f->sf_fourcc, s->ss_width, s->ss_height,
	    d->d_cfg->sc_align, g);
	/* A plane's buffer also holds what precedes its data. */
	if (d->d_mplane)
		for (unsigned i = 0; i < g->sg_nbuf; i++)
			g->sg_size[i] += d->d_cfg->sc_data_offset;
}

/* G/S/TRY_FMT's answer: pix, or pix_mp on a multi-planar device. */
static void
fmt_fill(const struct sim_device *d, struct v4l2_format *fmt,
    const struct sim_format *f, const struct sim_size *s)
{
	const struct sim_fourcc *fc = sim_fourcc_find(f->sf_fourcc);
	uint32_t cs = fc->fc_kind == SIM_KIND_JPEG ? V4L2_COLORSPACE_JPEG :
	    fc->fc_kind == SIM_KIND_H264 ? V4L2_COLORSPACE_SMPTE170M :
	    V4L2_COLORSPACE_SRGB;
	struct sim_geom g;

	dev_geometry(d, f, s, &g);
	memset(&fmt->fmt, 0, sizeof(fmt->fmt));
	if (d->d_mplane) {
		struct v4l2_pix_format_mplane *mp = &fmt->fmt.pix_mp;

		mp->width = s->ss_width;
		mp->height = s->ss_height;
		mp->pixelformat = f->sf_fourcc;
		mp->field = V4L2_FIELD_NONE;
		mp->colorspace = cs;
		mp->num_planes = (uint8_t)g.sg_nbuf;
		for (unsigned i = 0; i < g.sg_nbuf; i++) {
			mp->plane_fmt[i].bytesperline = g.sg_bpl[i];
			mp->plane_fmt[i].sizeimage = g.sg_size[i];
		}
		return;
	}
	fmt->fmt.pix.width = s->ss_width;
	fmt->fmt.pix.height = s->ss_height;
	fmt->fmt.pix.pixelformat = f->sf_fourcc;
	fmt->fmt.pix.field = V4L2_FIELD_NONE;
	fmt->fmt.pix.bytesperline = g.sg_bpl[0];
	fmt->fmt.pix.sizeimage = g.sg_size[0];
	fmt->fmt.pix.colorspace = cs;
}

/*
 * Has the device file been deleted?  d_pathfd holds the file opened at
 * open(2): its link count drops to 0 when it is deleted, and as it keeps
 * the inode alive a file re-created in its place (a replug) cannot reuse
 * the inode number and pass for it.
 */
static int
dev_gone(const struct sim_device *d)
{
	struct stat st;

	if (fstat(d->d_pathfd, &st) != 0 || st.st_nlink == 0)
		return 1;
	/*
	 * Renamed away and replaced?  Only a missing path counts: a program
	 * that dropped privileges may no longer be allowed to look (EACCES)
	 * while the camera is still there.
	 */
	if (stat(d->d_path, &st) != 0)
		return errno == ENOENT || errno == ENOTDIR;
	return st.st_dev != d->d_st_dev || st.st_ino != d->d_st_ino;
}

static int
dev_is_unplugged(struct sim_device *d)
{
	return __atomic_load_n(&d->d_unplugged, __ATOMIC_ACQUIRE);
}

/*
 * Readiness.  uvcvideo: one byte in the program's socket while any
 * buffer waits.  libcamera: the eventfd's count is the number of
 * buffers waiting (EFD_SEMAPHORE), one write per finished buffer and one
 * read per DQBUF, as V4L2CameraProxy does.
 */
static void
ready_clear(struct sim_device *d)
{
	uint64_t one;
	char c;

	if (d->d_libcamera) {
		if (d->d_ready > 0 &&
		    read(d->d_fd, &one, sizeof(one)) != sizeof(one))
			dev_log(d, "eventfd: %s", strerror(errno));
		if (d->d_ready > 0)
			d->d_ready--;
		return;
	}
	if (d->d_ready) {
		if (recv(d->d_fd, &c, 1, MSG_DONTWAIT) != 1)
			dev_log(d, "readiness byte: %s", strerror(errno));
		d->d_ready = 0;
	}
}

/* Every buffer taken back (STREAMOFF). */
static void
ready_reset(struct sim_device *d)
{
	while (d->d_ready > 0)
		ready_clear(d);
}

static void
ready_set(struct sim_device *d)
{
	uint64_t one = 1;
	char c = 1;

	if (d->d_libcamera) {
		if (write(d->d_fd, &one, sizeof(one)) != sizeof(one))
			dev_log(d, "eventfd: %s", strerror(errno));
		else
			d->d_ready++;
		return;
	}
	if (!d->d_ready && d->d_peer >= 0) {
		if (send(d->d_peer, &c, 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1)
			dev_log(d, "readiness byte: %s", strerror(errno));
		else
			d->d_ready = 1;
	}
}

/* The device is gone: what a USB unplug does to an open uvcvideo file. */
static void
dev_unplug_locked(struct sim_device *d, const char *why)
{
	if (d->d_unplugged)
		return;
	__atomic_store_n(&d->d_unplugged, 1, __ATOMIC_RELEASE);
	d->d_streaming = 0;
	dev_log(d, "unplugged: %s", why);
	if (d->d_peer >= 0) {
		sim_real.close(d->d_peer);	/* POLLERR|POLLHUP|POLLIN */
		d->d_peer = -1;
	}
	pthread_cond_broadcast(&d->d_cond);
}

static void
wait_until(struct sim_device *d, uint64_t deadline)
{
	struct timespec ts = { (time_t)(deadline / NS),
	    (long)(deadline % NS) };

	pthread_cond_timedwait(&d->d_cond, &d->d_lock, &ts);
}

static int
owner_acquire(struct sim_device *d)
{
	int rc = 0;

	pthread_mutex_lock(&owner_lock);
	if (owner == NULL || owner == d || dev_is_unplugged(owner) ||
	    owner->d_st_ino != d->d_st_ino || owner->d_st_dev != d->d_st_dev)
		owner = d;
	else
		rc = -EBUSY;
	pthread_mutex_unlock(&owner_lock);
	return rc;
}

static void
owner_release(struct sim_device *d)
{
	pthread_mutex_lock(&owner_lock);
	if (owner == d)
		owner = NULL;
	pthread_mutex_unlock(&owner_lock);
}

/* ---------------------------------------------------------------- buffers */

static void
buffers_free(struct sim_device *d)
{
	uint32_t i;

	for (i = 0; i < d->d_nbufs; i++) {
		struct sim_buffer *b = &d->d_bufs[i];

		for (unsigned p = 0; p < b->sb_nplanes; p++) {
			struct sim_plane *pl = &b->sb_planes[p];

			/* The program's own mappings stay valid: they hold
			 * the memfd, as vb2 orphans buffers still mapped. */
			if (pl->sp_map != NULL)
				sim_real.munmap(pl->sp_map, pl->sp_maplen);
			if (pl->sp_memfd > 0)
				sim_real.close(pl->sp_memfd);
		}
	}
	memset(d->d_bufs, 0, sizeof(d->d_bufs));
	d->d_nbufs = 0;
	d->d_qhead = d->d_qlen = d->d_dhead = d->d_dlen = 0;
	d->d_bufgen++;
}

static int
buffers_alloc(struct sim_device *d, uint32_t count)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), maplen = 0;
	struct sim_geom g;
	uint32_t i;

	dev_geometry(d, d->d_fmt, d->d_size, &g);
	for (unsigned p = 0; p < g.sg_nbuf; p++)
		if ((g.sg_size[p] + page - 1) / page * page > maplen)
			maplen = (g.sg_size[p] + page - 1) / page * page;
	if ((uint64_t)maplen * count * g.sg_nbuf > UINT32_MAX)
		return -ENOMEM;
	for (i = 0; i < count; i++) {
		struct sim_buffer *b = &d->d_bufs[i];

		d->d_nbufs = i + 1;
		b->sb_nplanes = g.sg_nbuf;
		b->sb_state = BUF_DEQUEUED;
		for (unsigned p = 0; p < g.sg_nbuf; p++) {
			struct sim_plane *pl = &b->sb_planes[p];

			/* One memfd per plane: the program maps it at its
			 * offset, unique across buffers and planes. */
			pl->sp_memfd = memfd_create("v4l2sim-buffer",
			    MFD_CLOEXEC);
			if (pl->sp_memfd < 0 ||
			    ftruncate(pl->sp_memfd, (off_t)maplen) != 0)
				goto fail;
			pl->sp_map = sim_real.mmap(NULL, maplen, PROT_READ |
			    PROT_WRITE, MAP_SHARED, pl->sp_memfd, 0);
			if (pl->sp_map == MAP_FAILED) {
				pl->sp_map = NULL;
				goto fail;
			}
			pl->sp_length = g.sg_size[p];
			pl->sp_maplen = maplen;
			pl->sp_offset = (uint32_t)((i * g.sg_nbuf + p) * maplen);
		}
	}
	return 0;
fail:
	buffers_free(d);
	return -ENOMEM;
}

/*
 * QUERYBUF/QBUF/DQBUF's answer.  Multi-planar: the program's planes[]
 * array (vb->m.planes, vb->length entries) gets each plane, and must
 * have room for them (EINVAL otherwise, as vb2 answers).
 */
static int
buffer_info(const struct sim_device *d, uint32_t i, struct v4l2_buffer *vb)
{
	const struct sim_buffer *b = &d->d_bufs[i];
	struct v4l2_plane *planes = vb->m.planes;
	uint32_t nplanes = vb->length, off = d->d_cfg->sc_data_offset;

	if (d->d_mplane && (planes == NULL || nplanes < b->sb_nplanes))
		return -EINVAL;
	memset(vb, 0, sizeof(*vb));
	vb->index = i;
	vb->type = d->d_mplane ? V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE :
	    V4L2_BUF_TYPE_VIDEO_CAPTURE;
	vb->memory = V4L2_MEMORY_MMAP;
	vb->field = V4L2_FIELD_NONE;
	if (d->d_mplane) {
		vb->m.planes = planes;
		vb->length = b->sb_nplanes;
		for (unsigned p = 0; p < b->sb_nplanes; p++) {
			memset(&planes[p], 0, sizeof(planes[p]));
			planes[p].m.mem_offset = b->sb_planes[p].sp_offset;
			planes[p].length = (uint32_t)b->sb_planes[p].sp_length;
			/* bytesused counts data_offset's bytes too. */
			planes[p].bytesused = b->sb_planes[p].sp_bytesused;
			planes[p].data_offset = off;
		}
	} else {
		vb->m.offset = b->sb_planes[0].sp_offset;
		vb->length = (uint32_t)b->sb_planes[0].sp_length;
		vb->bytesused = b->sb_planes[0].sp_bytesused;
	}
	vb->sequence = b->sb_sequence;
	vb->timestamp.tv_sec = (time_t)(b->sb_mono_ns / NS);
	vb->timestamp.tv_usec = (suseconds_t)(b->sb_mono_ns % NS / 1000);
	vb->flags = V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC |
	    V4L2_BUF_FLAG_TSTAMP_SRC_SOE;
	if (b->sb_mapped > 0)
		vb->flags |= V4L2_BUF_FLAG_MAPPED;
	if (b->sb_state == BUF_QUEUED || b->sb_state == BUF_FILLING)
		vb->flags |= V4L2_BUF_FLAG_QUEUED;
	if (b->sb_state == BUF_DONE)
		vb->flags |= V4L2_BUF_FLAG_DONE;
	return 0;
}

/* Every buffer back to the program, as STREAMOFF does. */
static void
stream_stop(struct sim_device *d)
{
	uint32_t i;

	d->d_streaming = 0;
	pthread_cond_broadcast(&d->d_cond);
	while (d->d_filling >= 0)
		pthread_cond_wait(&d->d_cond, &d->d_lock);
	for (i = 0; i < d->d_nbufs; i++)
		d->d_bufs[i].sb_state = BUF_DEQUEUED;
	d->d_qhead = d->d_qlen = d->d_dhead = d->d_dlen = 0;
	ready_reset(d);
	if (d->d_made_stream > 0)
		dev_log(d, "stream stopped: %" PRIu64 " frames, %" PRIu64
		    " dropped; CPU per frame: %.1f us to produce, %.1f us in "
		    "the producer thread", d->d_made_stream, d->d_dropped,
		    (double)d->d_fill_cpu_ns / (double)d->d_made_stream / 1e3,
		    (double)(d->d_thread_cpu_ns - d->d_thread_cpu0) /
		    (double)d->d_made_stream / 1e3);
	d->d_made_stream = d->d_dropped = d->d_fill_cpu_ns = 0;
}

/* ---------------------------------------------------------------- ioctls */

static int
type_ok(const struct sim_device *d, uint32_t type)
{
	return type == (d->d_mplane ? V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE :
	    V4L2_BUF_TYPE_VIDEO_CAPTURE);
}

static int
do_querycap(struct sim_device *d, struct v4l2_capability *cap)
{
	memset(cap, 0, sizeof(*cap));
	if (d->d_libcamera) {
		/* V4L2CameraProxy::querycap(): the camera's name as card. */
		snprintf((char *)cap->driver, sizeof(cap->driver),
		    "libcamera");
		snprintf((char *)cap->card, sizeof(cap->card),
		    "/base/soc/i2c0mux/i2c@1/imx708@1a");
		snprintf((char *)cap->bus_info, sizeof(cap->bus_info),
		    "libcamera:0");
		cap->version = 0x050200;
		cap->device_caps = V4L2_CAP_VIDEO_CAPTURE |
		    V4L2_CAP_STREAMING | V4L2_CAP_EXT_PIX_FORMAT;
		cap->capabilities = cap->device_caps | V4L2_CAP_DEVICE_CAPS;
		return 0;
	}
	snprintf((char *)cap->driver, sizeof(cap->driver), "v4l2sim");
	snprintf((char *)cap->card, sizeof(cap->card), "Sim Camera");
	snprintf((char *)cap->bus_info, sizeof(cap->bus_info),
	    "usb-v4l2sim-1");
	cap->version = 0x060100;	/* KERNEL_VERSION(6, 1, 0) */
	cap->device_caps = (d->d_mplane ? V4L2_CAP_VIDEO_CAPTURE_MPLANE :
	    V4L2_CAP_VIDEO_CAPTURE) | V4L2_CAP_STREAMING;
	/* V4L2SIM_IO_MC: a video node of a media-controller pipeline
	 * (unicam, rkisp1), which streams only once media-ctl set it up. */
	if (d->d_cfg->sc_io_mc)
		cap->device_caps |= V4L2_CAP_IO_MC;
	cap->capabilities = cap->device_caps | V4L2_CAP_DEVICE_CAPS;
	return 0;
}

static int
do_enum_fmt(struct sim_device *d, struct v4l2_fmtdesc *fd)
{
	const struct sim_fourcc *fc;
	uint32_t index = fd->index, type = fd->type;

	if (!type_ok(d, type) || index >= d->d_cfg->sc_nformats)
		return -EINVAL;
	fc = sim_fourcc_find(d->d_cfg->sc_formats[index].sf_fourcc);
	memset(fd, 0, sizeof(*fd));
	fd->index = index;
	fd->type = type;
	fd->pixelformat = fc->fc_fourcc;
	fd->flags = fc->fc_kind == SIM_KIND_JPEG ||
	    fc->fc_kind == SIM_KIND_H264 ? V4L2_FMT_FLAG_COMPRESSED : 0;
	snprintf((char *)fd->description, sizeof(fd->description), "%s",
	    d->d_libcamera ? "Video Format Description" : fc->fc_desc);
	return 0;
}

static int
do_enum_framesizes(struct sim_device *d, struct v4l2_frmsizeenum *fs)
{
	const struct sim_format *f = format_find(d, fs->pixel_format);
	uint32_t index = fs->index, fourcc = fs->pixel_format;

	if (f == NULL || index >= f->sf_nsizes)
		return -EINVAL;
	memset(fs, 0, sizeof(*fs));
	fs->index = index;
	fs->pixel_format = fourcc;
	fs->type = V4L2_FRMSIZE_TYPE_DISCRETE;
	fs->discrete.width = f->sf_sizes[index].ss_width;
	fs->discrete.height = f->sf_sizes[index].ss_height;
	return 0;
}

static int
do_enum_frameintervals(struct sim_device *d, struct v4l2_frmivalenum *fi)
{
	const struct sim_format *f = format_find(d, fi->pixel_format);
	const struct sim_size *s = NULL;
	struct v4l2_frmivalenum r;
	uint32_t i;

	if (f == NULL)
		return -EINVAL;
	for (i = 0; i < f->sf_nsizes; i++)
		if (f->sf_sizes[i].ss_width == fi->width &&
		    f->sf_sizes[i].ss_height == fi->height)
			s = &f->sf_sizes[i];
	if (s == NULL || fi->index >= s->ss_nintervals)
		return -EINVAL;
	memset(&r, 0, sizeof(r));
	r.index = fi->index;
	r.pixel_format = fi->pixel_format;
	r.width = fi->width;
	r.height = fi->height;
	r.type = V4L2_FRMIVAL_TYPE_DISCRETE;
	r.discrete = s->ss_intervals[fi->index];
	*fi = r;
	return 0;
}

/* libcamera's tryFormat(): a size it does not list is its first. */
static const struct sim_size *
size_exact_or_first(const struct sim_format *f, uint32_t w, uint32_t h)
{
	for (uint32_t i = 0; i < f->sf_nsizes; i++)
		if (f->sf_sizes[i].ss_width == w &&
		    f->sf_sizes[i].ss_height == h)
			return &f->sf_sizes[i];
	return &f->sf_sizes[0];
}

static int
do_fmt(struct sim_device *d, unsigned long req, struct v4l2_format *fmt)
{
	const struct sim_format *f;
	const struct sim_size *s;
	uint32_t want, w, h;
	int rc;

	if (!type_ok(d, fmt->type))
		return -EINVAL;
	if (req == VIDIOC_G_FMT) {
		fmt_fill(d, fmt, d->d_fmt, d->d_size);
		return 0;
	}
	want = d->d_mplane ? fmt->fmt.pix_mp.pixelformat :
	    fmt->fmt.pix.pixelformat;
	w = d->d_mplane ? fmt->fmt.pix_mp.width : fmt->fmt.pix.width;
	h = d->d_mplane ? fmt->fmt.pix_mp.height : fmt->fmt.pix.height;
	/* An unknown format falls back to the first, as uvcvideo and
	 * libcamera do. */
	if ((f = format_find(d, want)) == NULL)
		f = &d->d_cfg->sc_formats[0];
	s = d->d_libcamera ? size_exact_or_first(f, w, h) :
	    size_nearest(f, w, h);
	if (req == VIDIOC_S_FMT) {
		if (d->d_nbufs > 0 || d->d_streaming)
			return -EBUSY;
		if ((rc = owner_acquire(d)) != 0)
			return rc;
		d->d_fmt = f;
		d->d_size = s;
		d->d_interval = d->d_cfg->sc_fixed_fps ||
		    d->d_cfg->sc_ignore_parm ? s->ss_intervals[0] :
		    interval_nearest(s, d->d_interval);
		d->d_claimed.numerator = d->d_claimed.denominator = 0;
	}
	fmt_fill(d, fmt, f, s);
	return 0;
}

static int
do_parm(struct sim_device *d, unsigned long req, struct v4l2_streamparm *p)
{
	struct v4l2_fract want;
	int rc;

	if (!type_ok(d, p->type))
		return -EINVAL;
	if (req == VIDIOC_S_PARM) {
		if (d->d_streaming)
			return -EBUSY;
		if ((rc = owner_acquire(d)) != 0)
			return rc;
		want = p->parm.capture.timeperframe;
		/*
		 * V4L2SIM_FIXED_FPS: the camera ignores the request and
		 * says so.  V4L2SIM_IGNORE_PARM: it ignores it and claims
		 * to have obeyed, as many UVC cameras do.
		 */
		if (want.numerator != 0 && want.denominator != 0) {
			if (d->d_cfg->sc_ignore_parm)
				d->d_claimed = interval_nearest(d->d_size,
				    want);
			else if (!d->d_cfg->sc_fixed_fps)
				d->d_interval = interval_nearest(d->d_size,
				    want);
		}
	}
	memset(&p->parm, 0, sizeof(p->parm));
	p->parm.capture.capability = V4L2_CAP_TIMEPERFRAME;
	p->parm.capture.timeperframe = d->d_cfg->sc_ignore_parm &&
	    d->d_claimed.denominator != 0 ? d->d_claimed : d->d_interval;
	return 0;
}

static int
do_reqbufs(struct sim_device *d, struct v4l2_requestbuffers *rb)
{
	uint32_t count = rb->count;
	int rc;

	if (!type_ok(d, rb->type) || rb->memory != V4L2_MEMORY_MMAP)
		return -EINVAL;
	if (d->d_streaming)
		return -EBUSY;
	if (count > 0 && (rc = owner_acquire(d)) != 0)
		return rc;
	stream_stop(d);		/* buffers queued without STREAMON */
	buffers_free(d);
	if (count > 0) {
		if (count < SIM_MIN_BUFFERS)
			count = SIM_MIN_BUFFERS;
		if (count > SIM_MAX_BUFFERS)
			count = SIM_MAX_BUFFERS;
		if ((rc = buffers_alloc(d, count)) != 0)
			return rc;
	}
	rb->count = count;
	rb->capabilities = V4L2_BUF_CAP_SUPPORTS_MMAP;
	memset(rb->reserved, 0, sizeof(rb->reserved));
	return 0;
}

static int
do_querybuf(struct sim_device *d, struct v4l2_buffer *vb)
{
	if (!type_ok(d, vb->type) || vb->index >= d->d_nbufs)
		return -EINVAL;
	return buffer_info(d, vb->index, vb);
}

static int
do_qbuf(struct sim_device *d, struct v4l2_buffer *vb)
{
	struct sim_buffer *b;
	uint32_t i = vb->index;
	int rc;

	if (!type_ok(d, vb->type) || vb->memory != V4L2_MEMORY_MMAP ||
	    i >= d->d_nbufs)
		return -EINVAL;
	b = &d->d_bufs[i];
	if (b->sb_state != BUF_DEQUEUED)
		return -EINVAL;		/* "buffer already queued" */
	if (d->d_mplane && (vb->m.planes == NULL ||
	    vb->length < b->sb_nplanes))
		return -EINVAL;
	b->sb_state = BUF_QUEUED;
	d->d_queue[(d->d_qhead + d->d_qlen) % SIM_MAX_BUFFERS] = i;
	d->d_qlen++;
	rc = buffer_info(d, i, vb);
	return rc;
}

static int
do_dqbuf(struct sim_device *d, struct v4l2_buffer *vb)
{
	uint64_t gen = d->d_generation;
	uint32_t i;
	int fl, rc;

	if (!type_ok(d, vb->type) || vb->memory != V4L2_MEMORY_MMAP)
		return -EINVAL;
	if (d->d_mplane && (vb->m.planes == NULL || vb->length == 0))
		return -EINVAL;
	while (d->d_dlen == 0) {
		if (!d->d_streaming || d->d_generation != gen)
			return -EINVAL;	/* "streaming off, will not wait" */
		/* O_NONBLOCK as the file has it now (fcntl may change it). */
		fl = fcntl(d->d_fd, F_GETFL);
		if (fl < 0 || (fl & O_NONBLOCK))
			return -EAGAIN;
		pthread_cond_wait(&d->d_cond, &d->d_lock);
		if (d->d_closed)
			return -EBADF;
		if (d->d_unplugged)
			return -ENODEV;
	}
	i = d->d_done[d->d_dhead];
	if ((rc = buffer_info(d, i, vb)) != 0)
		return rc;	/* planes[] too short: the buffer stays */
	d->d_dhead = (d->d_dhead + 1) % SIM_MAX_BUFFERS;
	d->d_dlen--;
	d->d_bufs[i].sb_state = BUF_DEQUEUED;
	d->d_dequeued++;
	if (d->d_libcamera || d->d_dlen == 0)
		ready_clear(d);
	return 0;
}

static int
do_streamon(struct sim_device *d, const int *type)
{
	struct sim_geom g;
	char err[256];
	int rc;

	if (!type_ok(d, (uint32_t)*type) || d->d_nbufs == 0)
		return -EINVAL;
	if (d->d_streaming)
		return 0;
	if ((rc = owner_acquire(d)) != 0)
		return rc;
	if (!sim_frames_match(d->d_frames, d->d_fmt->sf_fourcc,
	    d->d_size->ss_width, d->d_size->ss_height, d->d_cfg->sc_align)) {
		sim_frames_free(d->d_frames);
		d->d_frames = NULL;
		/* ~0.1 s at 1080p MJPEG: once per format and size. */
		rc = sim_frames_new(&d->d_frames, d->d_fmt->sf_fourcc,
		    d->d_size->ss_width, d->d_size->ss_height,
		    d->d_cfg->sc_align, d->d_cfg->sc_quality,
		    d->d_cfg->sc_no_dht,
		    d->d_cfg->sc_file[0] != '\0' ? d->d_cfg->sc_file : NULL,
		    err, sizeof(err));
		if (rc != 0) {
			fprintf(stderr, "v4l2sim: cannot make frames: %s\n",
			    err);
			dev_log(d, "cannot make frames: %s", err);
			return rc;
		}
	}
	dev_geometry(d, d->d_fmt, d->d_size, &g);
	for (unsigned p = 0; p < g.sg_nbuf; p++)
		if (sim_frames_max(d->d_frames, p) +
		    (d->d_mplane ? d->d_cfg->sc_data_offset : 0) >
		    g.sg_size[p]) {
			dev_log(d, "frames of up to %zu bytes do not fit "
			    "sizeimage %u", sim_frames_max(d->d_frames, p),
			    g.sg_size[p]);
			return -ENOMEM;
		}
	sim_frames_start(d->d_frames);
	d->d_streaming = 1;
	d->d_generation++;
	d->d_interval_ns = fract_ns(d->d_interval);
	d->d_t0 = clock_ns(CLOCK_MONOTONIC);
	d->d_next_frame = d->d_t0 + d->d_interval_ns;
	d->d_seq = 0;
	d->d_made_stream = 0;
	d->d_dropped = 0;
	d->d_fill_cpu_ns = 0;
	d->d_thread_cpu0 = d->d_thread_cpu_ns;
	dev_log(d, "streaming %.4s %ux%u at %u/%u s", (const char *)
	    &d->d_fmt->sf_fourcc, d->d_size->ss_width, d->d_size->ss_height,
	    d->d_interval.numerator, d->d_interval.denominator);
	pthread_cond_broadcast(&d->d_cond);
	return 0;
}

static int
do_input(struct sim_device *d, unsigned long req, void *arg)
{
	struct v4l2_input *in = arg;
	uint32_t index;

	(void)d;
	switch (req) {
	case VIDIOC_ENUMINPUT:
		if ((index = in->index) != 0)
			return -EINVAL;
		memset(in, 0, sizeof(*in));
		snprintf((char *)in->name, sizeof(in->name), "Camera 1");
		in->type = V4L2_INPUT_TYPE_CAMERA;
		return 0;
	case VIDIOC_G_INPUT:
		*(int *)arg = 0;
		return 0;
	default:
		return *(int *)arg == 0 ? 0 : -EINVAL;
	}
}

/* The ioctls libcamera's V4L2CameraProxy serves; ENOTTY for the rest. */
static int
libcamera_serves(unsigned long req)
{
	switch (req) {
	case VIDIOC_QUERYCAP: case VIDIOC_ENUM_FRAMESIZES:
	case VIDIOC_ENUM_FMT: case VIDIOC_G_FMT: case VIDIOC_S_FMT:
	case VIDIOC_TRY_FMT: case VIDIOC_G_PRIORITY: case VIDIOC_S_PRIORITY:
	case VIDIOC_ENUMINPUT: case VIDIOC_G_INPUT: case VIDIOC_S_INPUT:
	case VIDIOC_REQBUFS: case VIDIOC_QUERYBUF: case VIDIOC_PREPARE_BUF:
	case VIDIOC_QBUF: case VIDIOC_DQBUF: case VIDIOC_EXPBUF:
	case VIDIOC_STREAMON: case VIDIOC_STREAMOFF:
		return 1;
	default:
		return 0;
	}
}

static int
dispatch(struct sim_device *d, unsigned long req, void *arg)
{
	int err;

	/* V4L2SIM_FAIL: the driver refuses this one, whatever it is. */
	if ((err = sim_fault(d->d_cfg->sc_faults, d->d_cfg->sc_nfaults, req))
	    != 0)
		return -err;
	if (d->d_libcamera && !libcamera_serves(req))
		return -ENOTTY;
	switch (req) {
	case VIDIOC_QUERYCAP:
		return do_querycap(d, arg);
	case VIDIOC_ENUM_FMT:
		return do_enum_fmt(d, arg);
	case VIDIOC_ENUM_FRAMESIZES:
		return do_enum_framesizes(d, arg);
	case VIDIOC_ENUM_FRAMEINTERVALS:
		return do_enum_frameintervals(d, arg);
	case VIDIOC_G_FMT:
	case VIDIOC_S_FMT:
	case VIDIOC_TRY_FMT:
		return do_fmt(d, req, arg);
	case VIDIOC_G_PARM:
	case VIDIOC_S_PARM:
		return do_parm(d, req, arg);
	case VIDIOC_ENUMINPUT:
	case VIDIOC_G_INPUT:
	case VIDIOC_S_INPUT:
		return do_input(d, req, arg);
	case VIDIOC_REQBUFS:
		return do_reqbufs(d, arg);
	case VIDIOC_QUERYBUF:
		return do_querybuf(d, arg);
	case VIDIOC_QBUF:
		return do_qbuf(d, arg);
	case VIDIOC_DQBUF:
		return do_dqbuf(d, arg);
	case VIDIOC_STREAMON:
		return do_streamon(d, arg);
	case VIDIOC_STREAMOFF:
		if (!type_ok(d, (uint32_t)*(int *)arg))
			return -EINVAL;
		stream_stop(d);
		return 0;
	default:
		/* Controls; ENOTTY for everything a webcam does not have:
		 * standards, DV timings, selection/cropping, JPEG
		 * compression parameters, EXPBUF, events, CREATE_BUFS. */
		return sim_controls_ioctl(&d->d_ctrls, req, arg);
	}
}

static void
log_ioctl(const struct sim_device *d, unsigned long req, void *arg, int rc)
{
	const char *name = ioctl_name(req);
	char what[160] = "";
	const struct v4l2_buffer *vb = arg;

	if (d->d_log < 0)
		return;
	if (rc == 0 && req == VIDIOC_DQBUF)
		snprintf(what, sizeof(what), " index=%u seq=%u bytesused=%u",
		    vb->index, vb->sequence, d->d_mplane ?
		    vb->m.planes[0].bytesused : vb->bytesused);
	else if (req == VIDIOC_QBUF)
		snprintf(what, sizeof(what), " index=%u", vb->index);
	else if (rc == 0 && d->d_mplane && (req == VIDIOC_S_FMT ||
	    req == VIDIOC_TRY_FMT || req == VIDIOC_G_FMT)) {
		const struct v4l2_pix_format_mplane *p =
		    &((const struct v4l2_format *)arg)->fmt.pix_mp;

		snprintf(what, sizeof(what), " %.4s %ux%u planes=%u "
		    "bytesperline=%u", (const char *)&p->pixelformat,
		    p->width, p->height, p->num_planes,
		    p->plane_fmt[0].bytesperline);
	} else if (rc == 0 && (req == VIDIOC_S_FMT || req == VIDIOC_TRY_FMT ||
	    req == VIDIOC_G_FMT)) {
		const struct v4l2_pix_format *p =
		    &((const struct v4l2_format *)arg)->fmt.pix;

		snprintf(what, sizeof(what), " %.4s %ux%u sizeimage=%u",
		    (const char *)&p->pixelformat, p->width, p->height,
		    p->sizeimage);
	} else if (req == VIDIOC_S_CTRL)
		snprintf(what, sizeof(what), " id=0x%08x value=%d",
		    ((const struct v4l2_control *)arg)->id,
		    ((const struct v4l2_control *)arg)->value);
	else if (rc == 0 && req == VIDIOC_REQBUFS)
		snprintf(what, sizeof(what), " count=%u",
		    ((const struct v4l2_requestbuffers *)arg)->count);
	if (name != NULL)
		dev_log(d, "ioctl %s%s -> %s", name, what,
		    rc == 0 ? "0" : strerror(-rc));
	else
		dev_log(d, "ioctl 0x%lx -> %s", req,
		    rc == 0 ? "0" : strerror(-rc));
}

int
sim_device_ioctl(struct sim_device *d, unsigned long req, void *arg)
{
	int rc;

	if (arg == NULL)
		return -EFAULT;		/* every V4L2 ioctl takes a pointer */
	/* Notice an unplug at once, not at the producer's next look. */
	if (!dev_is_unplugged(d) && dev_gone(d)) {
		pthread_mutex_lock(&d->d_lock);
		dev_unplug_locked(d, "device file removed");
		pthread_mutex_unlock(&d->d_lock);
	}
	pthread_mutex_lock(&d->d_lock);
	if (d->d_closed)
		rc = -EBADF;
	else if (d->d_unplugged)
		rc = -ENODEV;
	else if (d->d_m2m != NULL)
		rc = sim_m2m_ioctl(d->d_m2m, req, arg);
	else
		rc = dispatch(d, req, arg);
	pthread_mutex_unlock(&d->d_lock);
	log_ioctl(d, req, arg, rc);
	return rc;
}

/* ---------------------------------------------------------------- mmap */

void *
sim_device_mmap(struct sim_device *d, void *addr, size_t len, int prot,
    int flags, off_t off, int *err)
{
	struct sim_buffer *b = NULL;
	struct sim_plane *pl = NULL;
	uint32_t i = 0, bufgen = 0;
	void *p = MAP_FAILED;

	*err = 0;
	pthread_mutex_lock(&d->d_lock);
	if (d->d_m2m != NULL) {
		/* Its buffers live as long as the device: not tracked. */
		p = sim_m2m_mmap(d->d_m2m, addr, len, prot, flags, off, err);
		pthread_mutex_unlock(&d->d_lock);
		return p;
	}
	if (d->d_unplugged)
		*err = ENODEV;
	else {
		for (i = 0; i < d->d_nbufs; i++)
			for (unsigned k = 0; k < d->d_bufs[i].sb_nplanes; k++)
				if ((off_t)d->d_bufs[i].sb_planes[k].sp_offset
				    == off) {
					b = &d->d_bufs[i];
					pl = &b->sb_planes[k];
				}
		if (b == NULL || len == 0 || len > pl->sp_maplen ||
		    !(flags & MAP_SHARED))
			*err = EINVAL;	/* vb2_mmap() */
		/* V4L2CameraProxy::mmap() takes nothing else. */
		if (d->d_libcamera && prot != (PROT_READ | PROT_WRITE))
			*err = EINVAL;
	}
	if (*err == 0) {
		p = sim_real.mmap(addr, len, prot, flags, pl->sp_memfd, 0);
		if (p == MAP_FAILED)
			*err = errno;
		else {
			b->sb_mapped++;
			i = (uint32_t)(b - d->d_bufs);
			bufgen = d->d_bufgen;
		}
	}
	pthread_mutex_unlock(&d->d_lock);
	dev_log(d, "mmap offset=%jd length=%zu -> %s", (intmax_t)off, len,
	    *err ? strerror(*err) : "0");
	if (p == MAP_FAILED)
		return p;
	pthread_mutex_lock(&maps_lock);
	for (int k = 0; k < MAPS_MAX; k++)
		if (maps[k].sm_addr == NULL) {
			maps[k].sm_addr = p;
			maps[k].sm_dev = d;
			maps[k].sm_index = i;
			maps[k].sm_bufgen = bufgen;
			sim_device_ref(d);
			__atomic_add_fetch(&sim_mappings, 1, __ATOMIC_RELEASE);
			break;
		}
	pthread_mutex_unlock(&maps_lock);
	return p;
}

void
sim_device_munmap(void *addr, size_t len)
{
	struct sim_device *d = NULL;
	uint32_t index = 0, bufgen = 0;
	int k;

	(void)len;
	pthread_mutex_lock(&maps_lock);
	for (k = 0; k < MAPS_MAX; k++)
		if (maps[k].sm_addr == addr && addr != NULL) {
			d = maps[k].sm_dev;
			index = maps[k].sm_index;
			bufgen = maps[k].sm_bufgen;
			memset(&maps[k], 0, sizeof(maps[k]));
			__atomic_sub_fetch(&sim_mappings, 1, __ATOMIC_RELEASE);
			break;
		}
	pthread_mutex_unlock(&maps_lock);
	if (d == NULL)
		return;
	pthread_mutex_lock(&d->d_lock);
	if (bufgen == d->d_bufgen && index < d->d_nbufs &&
	    d->d_bufs[index].sb_mapped > 0)
		d->d_bufs[index].sb_mapped--;
	pthread_mutex_unlock(&d->d_lock);
	sim_device_unref(d);
}

/* ---------------------------------------------------------------- producer */

static enum sim_broken
broken_kind(struct sim_device *d)
{
	uint64_t n = d->d_cfg->sc_garbage_every, k;

	if (n == 0 || (d->d_seq + 1) % n != 0)
		return SIM_FRAME_GOOD;
	/* The k-th broken frame: alternately cut short and noise. */
	k = (d->d_seq + 1) / n;
	return k % 2 == 1 ? SIM_FRAME_TRUNCATED : SIM_FRAME_NOISE;
}

/* One tick of the camera: frame d_seq into the next queued buffer. */
static void
produce(struct sim_device *d)
{
	uint64_t gen = d->d_generation, seq = d->d_seq, cpu, mono, real;
	enum sim_broken broken = broken_kind(d);
	uint32_t off = d->d_mplane ? d->d_cfg->sc_data_offset : 0;
	size_t used[3] = { 0, 0, 0 };
	uint8_t *dst[3];
	struct sim_buffer *b;
	uint32_t i;

	d->d_seq++;
	if (d->d_qlen == 0) {
		d->d_dropped++;		/* no buffer: the frame is lost */
		return;
	}
	i = d->d_queue[d->d_qhead];
	d->d_qhead = (d->d_qhead + 1) % SIM_MAX_BUFFERS;
	d->d_qlen--;
	b = &d->d_bufs[i];
	b->sb_state = BUF_FILLING;
	d->d_filling = (int)i;
	pthread_mutex_unlock(&d->d_lock);

	cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	mono = clock_ns(CLOCK_MONOTONIC);
	real = clock_ns(CLOCK_REALTIME);
	/* V4L2SIM_DATA_OFFSET: the data starts that far into each plane. */
	for (unsigned p = 0; p < b->sb_nplanes; p++)
		dst[p] = b->sb_planes[p].sp_map + off;
	sim_frames_fill(d->d_frames, dst, seq, real, broken, &b->sb_paint,
	    used);
	cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu;

	pthread_mutex_lock(&d->d_lock);
	d->d_filling = -1;
	d->d_fill_cpu_ns += cpu;
	d->d_made++;
	d->d_made_stream++;
	if (d->d_streaming && d->d_generation == gen) {
		b->sb_state = BUF_DONE;
		for (unsigned p = 0; p < b->sb_nplanes; p++)
			b->sb_planes[p].sp_bytesused = (uint32_t)(off +
			    used[p]);
		b->sb_sequence = (uint32_t)seq;
		b->sb_mono_ns = mono;
		d->d_done[(d->d_dhead + d->d_dlen) % SIM_MAX_BUFFERS] = i;
		d->d_dlen++;
		ready_set(d);
	} else
		b->sb_state = BUF_DEQUEUED;
	pthread_cond_broadcast(&d->d_cond);
}

static void *
producer(void *arg)
{
	struct sim_device *d = arg;
	uint64_t burst = d->d_cfg->sc_burst, now, n, wake, k;
	int gone;

	/*
	 * A name benchmarks can find in /proc/PID/task/TID/comm: this thread
	 * is the camera, whose CPU time they leave out of the program's
	 * (tests/bench/bench_capture.py, bench_ustreamer.py).
	 */
	pthread_setname_np(pthread_self(), SIM_THREAD_NAME);
	pthread_mutex_lock(&d->d_lock);
	while (!d->d_closed) {
		if (d->d_unplugged) {
			pthread_cond_wait(&d->d_cond, &d->d_lock);
			continue;	/* nothing to do but wait for close */
		}
		now = clock_ns(CLOCK_MONOTONIC);
		if (now >= d->d_next_check) {
			pthread_mutex_unlock(&d->d_lock);
			gone = dev_gone(d);
			pthread_mutex_lock(&d->d_lock);
			if (gone)
				dev_unplug_locked(d, "device file removed");
			d->d_next_check = now + CHECK_NS;
			continue;
		}
		if (d->d_streaming && now >= d->d_next_frame) {
			/*
			 * A sensor does not wait: if this thread was late
			 * (an overloaded machine), the ticks it missed are
			 * frames lost, and the sequence shows the gap.
			 * (Not with bursts, which come late by design.)
			 */
			n = (now - d->d_t0) / d->d_interval_ns;
			if (n > d->d_seq + 1 && burst <= 1) {
				d->d_dropped += n - 1 - d->d_seq;
				d->d_seq = n - 1;
			}
			d->d_next_frame = d->d_t0 + (n + 1) * d->d_interval_ns;
			/*
			 * V4L2SIM_UNPLUG_AFTER=N: the program has had its N
			 * frames; at the next frame time the camera goes.
			 */
			if (d->d_cfg->sc_unplug_after > 0 &&
			    d->d_dequeued >= d->d_cfg->sc_unplug_after) {
				if (unlink(d->d_cfg->sc_device) != 0)
					dev_log(d, "unlink %s: %s",
					    d->d_cfg->sc_device,
					    strerror(errno));
				dev_unplug_locked(d, "V4L2SIM_UNPLUG_AFTER");
				continue;
			}
			/*
			 * V4L2SIM_BURST=N: the frames of N ticks are handed
			 * over together at the last of them, as by a bridge
			 * that completes its buffers in batches: the program
			 * finds N buffers ready at one wake-up.
			 */
			if (burst > 1 && (n + 1) % burst != 0)
				continue;
			for (k = 0; k < (burst > 1 ? burst : 1); k++)
				produce(d);
			continue;
		}
		wake = d->d_next_check;
		/*
		 * Look for the file when a frame is due anyway if one comes
		 * soon enough: on a VM every timer wake-up costs ~0.1 ms of
		 * CPU, which would be billed to the program under test.
		 */
		if (d->d_streaming && d->d_next_frame <= wake + CHECK_NS)
			wake = d->d_next_frame;
		d->d_thread_cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		wait_until(d, wake);
	}
	pthread_mutex_unlock(&d->d_lock);
	return NULL;
}

/* ---------------------------------------------------------------- life */

/* ---------------------------------------------------------- libcamera */

/*
 * libcamera's camera manager: threads that start with the first open of
 * a camera and wait for events for as long as the process lives
 * (libcamera's EventDispatcherPoll waits in ppoll()).
 */
static void *
lc_manager(void *arg)
{
	struct timespec tick = { 0, 100 * 1000000 };
	struct pollfd pfd = { -1, POLLIN, 0 };

	pthread_setname_np(pthread_self(), (const char *)arg);
	pfd.fd = eventfd(0, EFD_CLOEXEC);
	for (;;)
		(void)ppoll(&pfd, 1, &tick, NULL);
	return NULL;
}

/* The per-open thread: named, waits on the pipe until close says go. */
static void *
lc_request(void *arg)
{
	struct sim_device *d = arg;
	struct timespec tick = { 0, 100 * 1000000 };
	struct pollfd pfd = { d->d_lc_pipe[0], POLLIN, 0 };
	char c;

	pthread_setname_np(pthread_self(), "lc-request");
	while (ppoll(&pfd, 1, &tick, NULL) <= 0 || !(pfd.revents & POLLIN))
		;
	if (read(pfd.fd, &c, 1) < 0)
		dev_log(d, "lc-request: %s", strerror(errno));
	return NULL;
}

static int lc_manager_started;

/* What libcamera does at an open: its threads the first time, then the
 * calls it makes at every open.  Signals blocked, as for the producer. */
static int
lc_open(struct sim_device *d)
{
	static const char *const names[] = { "lc-manager", "lc-ipa" };
	pthread_t t;
	int rc;

	if (!__atomic_exchange_n(&lc_manager_started, 1, __ATOMIC_ACQ_REL))
		for (unsigned i = 0; i < 2; i++)
			if (pthread_create(&t, NULL, lc_manager,
			    (void *)names[i]) == 0)
				pthread_detach(t);
	if (pipe2(d->d_lc_pipe, O_CLOEXEC) != 0)
		return -errno;
	if ((rc = pthread_create(&d->d_lc_thread, NULL, lc_request, d)) !=
	    0) {
		sim_real.close(d->d_lc_pipe[0]);
		sim_real.close(d->d_lc_pipe[1]);
		return -rc;
	}
	d->d_lc_started = 1;
	return 0;
}

static void
lc_close(struct sim_device *d)
{
	if (!d->d_lc_started)
		return;
	if (write(d->d_lc_pipe[1], "x", 1) != 1)
		dev_log(d, "lc-request pipe: %s", strerror(errno));
	pthread_join(d->d_lc_thread, NULL);
	sim_real.close(d->d_lc_pipe[0]);
	sim_real.close(d->d_lc_pipe[1]);
	d->d_lc_started = 0;
}

/* ---------------------------------------------------------------- life */

/*
 * The descriptor the program gets: one end of a socketpair (the other
 * end in *peer), or for libcamera an eventfd (*peer -1).  -errno.
 */
static int
program_fd(const struct sim_config *c, int flags, int *peer)
{
	char junk[64];
	int sv[2], one = 1, fd;

	*peer = -1;
	if (c->sc_profile == SIM_PROFILE_LIBCAMERA) {
		/* As V4L2CompatManager::openat() makes it. */
		fd = eventfd(0, EFD_SEMAPHORE |
		    ((flags & O_CLOEXEC) ? EFD_CLOEXEC : 0) |
		    ((flags & O_NONBLOCK) ? EFD_NONBLOCK : 0));
		return fd < 0 ? -errno : fd;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return -errno;
	if (!(flags & O_CLOEXEC))
		fcntl(sv[0], F_SETFD, 0);
	if (flags & O_NONBLOCK)
		fcntl(sv[0], F_SETFL, O_NONBLOCK);
	/* Not writable (see the top of this file). */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &one, sizeof(one));
	memset(junk, 0, sizeof(junk));
	while (send(sv[0], junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL) >
	    0)
		;
	*peer = sv[1];
	return sv[0];
}

int
sim_device_open(int flags, enum sim_kind_of_device kind,
    struct sim_device **out)
{
	struct sim_device *d;
	struct sim_config *c;
	pthread_condattr_t ca;
	sigset_t all, old;
	char err[512];
	const char *path;
	struct stat st;
	int fd, peer, rc, pathfd;

	*out = NULL;
	if ((c = malloc(sizeof(*c))) == NULL)
		return -ENOMEM;
	if ((rc = sim_config_load(c, err, sizeof(err))) != 0) {
		fprintf(stderr, "v4l2sim: %s\n", err);
		free(c);
		return rc;
	}
	path = kind == SIM_DEV_M2M ? c->sc_m2m : c->sc_device;
	if (kind == SIM_DEV_M2M)
		c->sc_profile = SIM_PROFILE_UVC;	/* a kernel driver */
	/*
	 * The file's permissions stand for the device node's, as the kernel
	 * checks them at open: a program that may not open the file for
	 * what it asks (O_RDWR, for a V4L2 program) gets EACCES, as from
	 * /dev/video0 without being in its group.  The check is a real open
	 * of the file, closed at once, which the capture's sandbox allows.
	 */
	rc = sim_real.openat(AT_FDCWD, path, (flags & O_ACCMODE) | O_CLOEXEC |
	    O_NOCTTY);
	if (rc < 0) {
		rc = -errno;
		free(c);
		return rc;
	}
	sim_real.close(rc);
	pathfd = sim_real.openat(AT_FDCWD, path, O_PATH | O_CLOEXEC);
	if (pathfd < 0 || fstat(pathfd, &st) != 0) {
		rc = -errno;
		if (pathfd >= 0)
			sim_real.close(pathfd);
		free(c);
		return rc;
	}
	if ((fd = program_fd(c, flags, &peer)) < 0) {
		sim_real.close(pathfd);
		free(c);
		return fd;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		sim_real.close(fd);
		if (peer >= 0)
			sim_real.close(peer);
		sim_real.close(pathfd);
		free(c);
		return -ENOMEM;
	}
	d->d_refs = 1;
	d->d_pid = getpid();
	d->d_fd = fd;
	d->d_peer = peer;
	d->d_log = -1;
	d->d_pathfd = pathfd;
	d->d_path = path;
	d->d_st_dev = st.st_dev;
	d->d_st_ino = st.st_ino;
	d->d_cfg = c;
	d->d_mplane = c->sc_mplane;
	d->d_libcamera = c->sc_profile == SIM_PROFILE_LIBCAMERA;
	d->d_filling = -1;
	d->d_fmt = &c->sc_formats[0];
	d->d_size = &c->sc_formats[0].sf_sizes[0];
	d->d_interval = d->d_size->ss_intervals[0];
	sim_controls_init(&d->d_ctrls);
	pthread_mutex_init(&d->d_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->d_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (c->sc_log[0] != '\0')
		d->d_log = sim_real.open(c->sc_log, O_WRONLY | O_CREAT |
		    O_APPEND | O_CLOEXEC, 0644);
	dev_log(d, "open %s -> fd %d", path, d->d_fd);
	if (kind == SIM_DEV_M2M) {
		if ((rc = sim_m2m_new(&d->d_m2m, c, d->d_fd, d->d_peer,
		    d->d_log)) != 0) {
			sim_device_close(d);
			sim_real.close(fd);
			sim_device_unref(d);
			return rc;
		}
		*out = d;
		return fd;
	}

	/* The program's signals are not for these threads; SIGSYS is, so
	 * that a system call filter names what they were refused. */
	sigfillset(&all);
	sigdelset(&all, SIGSYS);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = d->d_libcamera ? lc_open(d) : 0;
	if (rc == 0)
		rc = -pthread_create(&d->d_thread, NULL, producer, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		sim_device_close(d);
		sim_real.close(fd);
		sim_device_unref(d);
		return rc;
	}
	d->d_thread_started = 1;
	*out = d;
	return fd;
}

void
sim_device_close(struct sim_device *d)
{
	pthread_mutex_lock(&d->d_lock);
	d->d_closed = 1;
	d->d_streaming = 0;
	pthread_cond_broadcast(&d->d_cond);
	pthread_mutex_unlock(&d->d_lock);
	/*
	 * A forked child has the descriptor but not the thread (and must
	 * not free what the parent's thread uses): it only lets go.
	 */
	if (d->d_pid != getpid())
		return;
	if (d->d_thread_started)
		pthread_join(d->d_thread, NULL);
	d->d_thread_started = 0;
	lc_close(d);
	if (d->d_m2m != NULL) {
		sim_m2m_free(d->d_m2m);
		d->d_m2m = NULL;
	}
	pthread_mutex_lock(&d->d_lock);
	stream_stop(d);
	buffers_free(d);
	sim_frames_free(d->d_frames);
	d->d_frames = NULL;
	if (d->d_peer >= 0) {
		sim_real.close(d->d_peer);
		d->d_peer = -1;
	}
	dev_log(d, "close fd %d: %" PRIu64 " frames produced", d->d_fd,
	    d->d_made);
	pthread_mutex_unlock(&d->d_lock);
	owner_release(d);
}

void
sim_device_ref(struct sim_device *d)
{
	__atomic_add_fetch(&d->d_refs, 1, __ATOMIC_RELAXED);
}

void
sim_device_unref(struct sim_device *d)
{
	/* acq_rel: every use of d happens before the free. */
	if (__atomic_sub_fetch(&d->d_refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	if (d->d_log >= 0)
		sim_real.close(d->d_log);
	sim_real.close(d->d_pathfd);
	pthread_cond_destroy(&d->d_cond);
	pthread_mutex_destroy(&d->d_lock);
	free(d->d_cfg);
	free(d);
}
