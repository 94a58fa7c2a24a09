/*
 * m2m.c - a simulated memory-to-memory JPEG encoder (V4L2SIM_M2M_DEVICE),
 * as the kernel's bcm2835-codec (Raspberry Pi Zero 2 W to 4, usually
 * /dev/video31) and hantro (Rockchip) drivers present one: raw frames
 * queued on the OUTPUT queue come back as JPEG on the CAPTURE queue.
 * It encodes with TurboJPEG, so what a program gets decodes to what it
 * gave.
 *
 * Like those drivers: multi-planar buffer types (single-planar with
 * V4L2SIM_M2M_MPLANE=0), raw OUTPUT formats with rows aligned to 32
 * bytes (bcm2835-codec's alignment), one JPEG CAPTURE format, the
 * control V4L2_CID_JPEG_COMPRESSION_QUALITY (1 to 100), a job run when
 * both queues stream and each has a buffer queued, the capture buffer's
 * timestamp copied from the output buffer's (V4L2_BUF_FLAG_TIMESTAMP_
 * COPY), POLLIN on the descriptor while an encoded frame waits.
 *
 * V4L2SIM_M2M_CPU=FILE: the CPU time the encoding takes (the device's
 * work, which real hardware does off the CPU) is added up in FILE's first
 * 8 bytes, a native uint64_t in nanoseconds, mapped shared when the node
 * is opened (before a program's sandbox), so that a benchmark can leave
 * it out of the program's CPU time as it leaves out the camera's.
 *
 * Faults: V4L2SIM_M2M_FAIL=IOCTL:ERRNO,... makes those ioctls fail
 * (ESRCH at STREAMON, ENOTTY on S_CTRL, ...); V4L2SIM_M2M_STALL_AFTER=N
 * stops encoding after N frames, as a wedged firmware does: buffers are
 * accepted and never come back.
 *
 * V4L2SIM_M2M_CODEC=h264 makes it an H.264 encoder as bcm2835-codec's
 * "encode" node (usually /dev/video11) presents one in the Raspberry Pi
 * kernel's drivers/staging/vc04_services/bcm2835-codec: multi-planar
 * (V4L2SIM_M2M_MPLANE=0 for the single-planar API of older kernels),
 * 4:2:0 OUTPUT formats (YU12, YV12, NV12, NV21) with rows aligned to 64
 * bytes (the driver's alignment for YU12 in its encode role), an H264
 * CAPTURE format whose buffer size is the larger of the program's request
 * and the driver's 512 KiB default, its controls with its ranges and
 * defaults (V4L2_CID_MPEG_VIDEO_BITRATE, _BITRATE_MODE, _H264_I_PERIOD,
 * _H264_PROFILE, _H264_LEVEL, _REPEAT_SEQ_HEADER, _FORCE_KEY_FRAME,
 * _H264_MIN_QP and _MAX_QP), the frame rate by VIDIOC_S_PARM on the
 * OUTPUT queue, and per picture one access unit, Annex-B, no B-frames,
 * the SPS and PPS in the same buffer as the IDR (the driver asks the
 * firmware for "headers with frame"), before each IDR with
 * REPEAT_SEQ_HEADER on and before the first only otherwise, the capture
 * buffer flagged KEYFRAME or PFRAME.  It encodes with simh264.c (x264):
 * the controls and the rate in effect at STREAMON become its settings, a
 * forced key frame applies to the next picture.  The faults are the
 * same.
 *
 * A job runs synchronously inside the QBUF or STREAMON that completes
 * it, under the device's lock: no thread, so the program's system call
 * filter sees nothing but its own ioctls and the readiness byte's
 * send().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <turbojpeg.h>

#include "sim.h"
#include "simh264.h"

#define M2M_BUFFERS_MAX	8
#define M2M_ALIGN	32
#define M2M_H264_ALIGN	64
#define M2M_DIM_MIN	32
#define M2M_DIM_MAX	4096
#define M2M_QUALITY_DEF	80

/* What the encoder takes: bcm2835-codec's image encoder's YUV formats,
 * and on the multi-planar API hantro's separate-plane ones. */
static const uint32_t out_formats[] = {
	V4L2_PIX_FMT_YUV420, V4L2_PIX_FMT_YVU420, V4L2_PIX_FMT_NV12,
	V4L2_PIX_FMT_NV21, V4L2_PIX_FMT_YUYV, V4L2_PIX_FMT_UYVY,
	V4L2_PIX_FMT_NV12M, V4L2_PIX_FMT_YUV420M,
};

/* The H.264 encoder's: bcm2835-codec's 4:2:0 ones. */
static const uint32_t h264_formats[] = {
	V4L2_PIX_FMT_YUV420, V4L2_PIX_FMT_YVU420, V4L2_PIX_FMT_NV12,
	V4L2_PIX_FMT_NV21,
};

/* The H.264 encoder's CAPTURE buffer when the program asks for less. */
#define M2M_H264_BUF_DEF	(512u * 1024)

/* The H.264 encoder's controls: id, type, range, default; in id order
 * (QUERYCTRL with V4L2_CTRL_FLAG_NEXT_CTRL walks it). */
static const struct m2m_ctrl {
	uint32_t	 id;
	uint32_t	 type;
	const char	*name;
	int32_t		 min, max, def;
} h264_ctrls[] = {
	{ V4L2_CID_MPEG_VIDEO_BITRATE_MODE, V4L2_CTRL_TYPE_MENU,
	    "Video Bitrate Mode", 0, 1, V4L2_MPEG_VIDEO_BITRATE_MODE_VBR },
	{ V4L2_CID_MPEG_VIDEO_BITRATE, V4L2_CTRL_TYPE_INTEGER,
	    "Video Bitrate", 25000, 25000000, 10000000 },
	{ V4L2_CID_MPEG_VIDEO_REPEAT_SEQ_HEADER, V4L2_CTRL_TYPE_BOOLEAN,
	    "Repeat Sequence Header", 0, 1, 0 },
	{ V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME, V4L2_CTRL_TYPE_BUTTON,
	    "Force Key Frame", 0, 0, 0 },
	{ V4L2_CID_MPEG_VIDEO_H264_MIN_QP, V4L2_CTRL_TYPE_INTEGER,
	    "H264 Minimum QP Value", 0, 51, 20 },
	{ V4L2_CID_MPEG_VIDEO_H264_MAX_QP, V4L2_CTRL_TYPE_INTEGER,
	    "H264 Maximum QP Value", 0, 51, 51 },
	{ V4L2_CID_MPEG_VIDEO_H264_I_PERIOD, V4L2_CTRL_TYPE_INTEGER,
	    "H264 I-Frame Period", 0, 2147483647, 60 },
	{ V4L2_CID_MPEG_VIDEO_H264_LEVEL, V4L2_CTRL_TYPE_MENU,
	    "H264 Level", V4L2_MPEG_VIDEO_H264_LEVEL_1_0,
	    V4L2_MPEG_VIDEO_H264_LEVEL_5_1, V4L2_MPEG_VIDEO_H264_LEVEL_4_0 },
	{ V4L2_CID_MPEG_VIDEO_H264_PROFILE, V4L2_CTRL_TYPE_MENU,
	    "H264 Profile", V4L2_MPEG_VIDEO_H264_PROFILE_BASELINE,
	    V4L2_MPEG_VIDEO_H264_PROFILE_HIGH,
	    V4L2_MPEG_VIDEO_H264_PROFILE_HIGH },
};
#define M2M_H264_NCTRLS	(sizeof(h264_ctrls) / sizeof(h264_ctrls[0]))

enum m2m_state {
	M2M_DEQUEUED,
	M2M_QUEUED,
	M2M_DONE,
};

struct m2m_buf {
	int		 mb_memfd[3];
	uint8_t		*mb_map[3];
	size_t		 mb_len[3];	/* sizeimage */
	size_t		 mb_maplen[3];
	uint32_t	 mb_offset[3];
	uint32_t	 mb_used[3];
	enum m2m_state	 mb_state;
	struct timeval	 mb_ts;
	uint32_t	 mb_seq;
	uint32_t	 mb_flags;	/* KEYFRAME, PFRAME, ERROR */
};

struct m2m_queue {
	int		 q_output;	/* the raw side */
	int		 q_h264;	/* of the H.264 encoder */
	uint32_t	 q_fourcc;
	uint32_t	 q_width;
	uint32_t	 q_height;
	struct sim_geom	 q_geom;
	uint32_t	 q_nbufs;
	struct m2m_buf	 q_bufs[M2M_BUFFERS_MAX];
	int		 q_streaming;
	uint32_t	 q_order[M2M_BUFFERS_MAX];	/* queued, in order */
	uint32_t	 q_nqueued;
	uint32_t	 q_done[M2M_BUFFERS_MAX];	/* done, in order */
	uint32_t	 q_ndone;
};

struct sim_m2m {
	const struct sim_config *m_cfg;
	int		 m_fd;		/* the program's end */
	int		 m_peer;
	int		 m_log;
	int		 m_mplane;
	int		 m_quality;
	int		 m_ready;
	uint64_t	 m_encoded;
	uint32_t	 m_seq;
	tjhandle	 m_tj;
	uint8_t		*m_scratch;
	size_t		 m_scratch_len;
	struct m2m_queue m_out;
	struct m2m_queue m_cap;
	/* The H.264 encoder (m_cfg->sc_m2m_h264) */
	int32_t		 m_ctrl[M2M_H264_NCTRLS];
	uint32_t	 m_fps;		/* S_PARM, frames per second */
	int		 m_force_key;
	struct simh264	*m_h264;	/* from the first job after STREAMON */
	uint8_t		*m_i420;
	size_t		 m_i420_len;
	uint64_t	*m_cpu_ns;	/* V4L2SIM_M2M_CPU's counter, or NULL */
};

#define m2m_log(m, ...)	sim_log((m)->m_log, "v4l2sim-m2m", __VA_ARGS__)

static int
out_format_ok(const struct sim_m2m *m, uint32_t fourcc)
{
	if (m->m_cfg->sc_m2m_h264) {
		for (size_t i = 0; i < sizeof(h264_formats) /
		    sizeof(h264_formats[0]); i++)
			if (h264_formats[i] == fourcc)
				return 1;
		return 0;
	}
	for (size_t i = 0; i < sizeof(out_formats) / sizeof(out_formats[0]);
	    i++)
		if (out_formats[i] == fourcc)
			return m->m_mplane ||
			    sim_fourcc_find(fourcc)->fc_bufs == 1;
	return 0;
}

/* The queue a buffer type names, or NULL (EINVAL). */
static struct m2m_queue *
queue_of(struct sim_m2m *m, uint32_t type)
{
	if (type == (m->m_mplane ? V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE :
	    V4L2_BUF_TYPE_VIDEO_OUTPUT))
		return &m->m_out;
	if (type == (m->m_mplane ? V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE :
	    V4L2_BUF_TYPE_VIDEO_CAPTURE))
		return &m->m_cap;
	return NULL;
}

static void
queue_geometry(struct m2m_queue *q)
{
	if (q->q_fourcc == V4L2_PIX_FMT_H264) {
		/* One buffer, its size kept (do_fmt() chose it). */
		q->q_geom.sg_nbuf = 1;
		q->q_geom.sg_bpl[0] = 0;
		if (q->q_geom.sg_size[0] < M2M_H264_BUF_DEF)
			q->q_geom.sg_size[0] = M2M_H264_BUF_DEF;
		return;
	}
	sim_fourcc_geometry(q->q_fourcc, q->q_width, q->q_height,
	    !q->q_output ? 1 : q->q_h264 ? M2M_H264_ALIGN : M2M_ALIGN,
	    &q->q_geom);
}

/* ------------------------------------------------------------ ready */

static void
ready_update(struct sim_m2m *m)
{
	char c = 1;

	if (m->m_cap.q_ndone > 0 && !m->m_ready) {
		if (send(m->m_peer, &c, 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1)
			m->m_ready = 1;
	} else if (m->m_cap.q_ndone == 0 && m->m_ready) {
		if (recv(m->m_fd, &c, 1, MSG_DONTWAIT) == 1)
			m->m_ready = 0;
	}
}

/* ------------------------------------------------------------ encode */

static uint8_t *
scratch(struct sim_m2m *m, size_t n)
{
	uint8_t *p;

	if (m->m_scratch_len >= n)
		return m->m_scratch;
	if ((p = realloc(m->m_scratch, n)) == NULL)
		return NULL;
	m->m_scratch = p;
	m->m_scratch_len = n;
	return p;
}

/*
 * The output buffer's samples as YUV planes for TurboJPEG: planar ones
 * as they are, chroma pairs and packed pixels split.  -1 if it cannot.
 */
static int
to_planes(struct sim_m2m *m, const struct m2m_buf *b,
    const unsigned char *planes[3], int strides[3])
{
	const struct m2m_queue *q = &m->m_out;
	const struct sim_fourcc *fc = sim_fourcc_find(q->q_fourcc);
	const uint32_t w = q->q_width, h = q->q_height, cw = w / 2;
	struct sim_planes pl;
	const uint8_t *src[3];
	uint32_t ch, x, y;
	uint8_t *s;

	sim_fourcc_planes(fc, h, &q->q_geom, &pl);
	for (unsigned i = 0; i < pl.sp_n; i++)
		src[i] = b->mb_map[pl.sp_plane[i].buf] + pl.sp_plane[i].off;
	ch = h / fc->fc_vsub;
	switch (fc->fc_kind) {
	case SIM_KIND_PLANAR:
		for (unsigned i = 0; i < 3; i++) {
			planes[i] = src[i];
			strides[i] = (int)pl.sp_plane[i].stride;
		}
		return fc->fc_vsub == 2 ? TJSAMP_420 : TJSAMP_422;
	case SIM_KIND_SEMI:
		if ((s = scratch(m, (size_t)cw * ch * 2)) == NULL)
			return -1;
		for (y = 0; y < ch; y++) {
			const uint8_t *r = src[1] + (size_t)y *
			    pl.sp_plane[1].stride;

			for (x = 0; x < cw; x++) {
				s[y * cw + x] = r[2 * x + fc->fc_swap];
				s[cw * ch + y * cw + x] =
				    r[2 * x + 1 - fc->fc_swap];
			}
		}
		planes[0] = src[0];
		strides[0] = (int)pl.sp_plane[0].stride;
		planes[1] = s;
		planes[2] = s + (size_t)cw * ch;
		strides[1] = strides[2] = (int)cw;
		return fc->fc_vsub == 2 ? TJSAMP_420 : TJSAMP_422;
	case SIM_KIND_PACKED:
		if ((s = scratch(m, (size_t)w * h * 2)) == NULL)
			return -1;
		for (y = 0; y < h; y++) {
			const uint8_t *r = src[0] + (size_t)y *
			    pl.sp_plane[0].stride;
			unsigned yo = fc->fc_swap, co = 1 - fc->fc_swap;

			for (x = 0; x < cw; x++) {
				s[y * w + 2 * x] = r[4 * x + yo];
				s[y * w + 2 * x + 1] = r[4 * x + 2 + yo];
				s[w * h + y * cw + x] = r[4 * x + co];
				s[w * h + cw * h + y * cw + x] =
				    r[4 * x + 2 + co];
			}
		}
		planes[0] = s;
		planes[1] = s + (size_t)w * h;
		planes[2] = planes[1] + (size_t)cw * h;
		strides[0] = (int)w;
		strides[1] = strides[2] = (int)cw;
		return TJSAMP_422;
	default:
		return -1;
	}
}

static int32_t
ctrl_value(const struct sim_m2m *m, uint32_t id)
{
	for (size_t i = 0; i < M2M_H264_NCTRLS; i++)
		if (h264_ctrls[i].id == id)
			return m->m_ctrl[i];
	return 0;
}

/* The encoder for the settings in effect now. */
static int
h264_open(struct sim_m2m *m)
{
	struct simh264_opts o;
	int32_t gop = ctrl_value(m, V4L2_CID_MPEG_VIDEO_H264_I_PERIOD);
	int rc;

	memset(&o, 0, sizeof(o));
	switch (ctrl_value(m, V4L2_CID_MPEG_VIDEO_H264_PROFILE)) {
	case V4L2_MPEG_VIDEO_H264_PROFILE_BASELINE:
	case V4L2_MPEG_VIDEO_H264_PROFILE_CONSTRAINED_BASELINE:
		o.profile = "baseline";
		break;
	case V4L2_MPEG_VIDEO_H264_PROFILE_MAIN:
		o.profile = "main";
		break;
	default:
		o.profile = "high";
		break;
	}
	/* 0: the first picture only is an IDR, as bcm2835-codec has it. */
	o.gop = gop > 0 ? (unsigned)gop : 100000;
	o.headers_once = !ctrl_value(m, V4L2_CID_MPEG_VIDEO_REPEAT_SEQ_HEADER);
	o.annexb = 1;
	o.kbps = (unsigned)(ctrl_value(m, V4L2_CID_MPEG_VIDEO_BITRATE) / 1000);
	rc = simh264_new(&m->m_h264, m->m_out.q_width, m->m_out.q_height,
	    m->m_fps, &o);
	if (rc == 0)
		m2m_log(m, "H.264 %ux%u at %u fps: %s, GOP %u, %u kbit/s, "
		    "headers %s", m->m_out.q_width, m->m_out.q_height,
		    m->m_fps, o.profile, o.gop, o.kbps, o.headers_once ?
		    "once" : "before each IDR");
	return rc;
}

/* The output buffer's picture to H.264 in cb; 0, or -1 (flag ERROR). */
static int
h264_job(struct sim_m2m *m, const struct m2m_buf *ob, struct m2m_buf *cb)
{
	const unsigned char *planes[3];
	const uint32_t w = m->m_out.q_width, h = m->m_out.q_height;
	size_t ysz = (size_t)w * h, csz = ysz / 4, len;
	const uint8_t *au;
	int strides[3], idr, rc;
	uint8_t *dst;

	if (m->m_h264 == NULL && (rc = h264_open(m)) != 0) {
		m2m_log(m, "H.264 encoder: %s", strerror(-rc));
		return -1;
	}
	if (to_planes(m, ob, planes, strides) != TJSAMP_420)
		return -1;
	if (m->m_i420_len < ysz + 2 * csz) {
		free(m->m_i420);
		if ((m->m_i420 = malloc(ysz + 2 * csz)) == NULL) {
			m->m_i420_len = 0;
			return -1;
		}
		m->m_i420_len = ysz + 2 * csz;
	}
	/* Tight rows, as simh264 takes them. */
	for (unsigned p = 0; p < 3; p++) {
		uint32_t pw = p == 0 ? w : w / 2, ph = p == 0 ? h : h / 2;

		dst = m->m_i420 + (p == 0 ? 0 : ysz + (p - 1) * csz);
		for (uint32_t y = 0; y < ph; y++)
			memcpy(dst + (size_t)y * pw, planes[p] +
			    (size_t)y * (size_t)strides[p], pw);
	}
	if (simh264_encode(m->m_h264, m->m_i420, m->m_i420 + ysz,
	    m->m_i420 + ysz + csz, m->m_force_key, &au, &len, &idr) != 0)
		return -1;
	m->m_force_key = 0;
	if (len > cb->mb_len[0]) {
		m2m_log(m, "a %zu-byte access unit does not fit %zu bytes",
		    len, cb->mb_len[0]);
		return -1;
	}
	memcpy(cb->mb_map[0], au, len);
	cb->mb_used[0] = (uint32_t)len;
	cb->mb_flags = idr ? V4L2_BUF_FLAG_KEYFRAME : V4L2_BUF_FLAG_PFRAME;
	return 0;
}

static uint64_t
thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* V4L2SIM_M2M_CPU's counter, mapped; NULL (logged) if it cannot be. */
static uint64_t *
cpu_counter(struct sim_m2m *m, const char *path)
{
	void *p;
	int fd;

	/* The real calls: this runs inside the program's open() of the
	 * node. */
	if ((fd = sim_real.open(path, O_RDWR | O_CREAT | O_CLOEXEC,
	    0644)) < 0) {
		m2m_log(m, "V4L2SIM_M2M_CPU %s: %s", path, strerror(errno));
		return NULL;
	}
	if (ftruncate(fd, sizeof(uint64_t)) != 0 ||
	    (p = sim_real.mmap(NULL, sizeof(uint64_t), PROT_READ |
	    PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		m2m_log(m, "V4L2SIM_M2M_CPU %s: %s", path, strerror(errno));
		sim_real.close(fd);
		return NULL;
	}
	sim_real.close(fd);
	return p;
}

/* One job: the first queued output buffer into the first capture one. */
static void
m2m_run(struct sim_m2m *m)
{
	struct m2m_queue *o = &m->m_out, *c = &m->m_cap;
	const unsigned char *planes[3];
	struct m2m_buf *ob, *cb;
	unsigned char *dst;
	unsigned long size;
	uint64_t t0;
	int strides[3], ss;

	while (o->q_streaming && c->q_streaming && o->q_nqueued > 0 &&
	    c->q_nqueued > 0) {
		if (m->m_cfg->sc_m2m_stall_after > 0 &&
		    m->m_encoded >= m->m_cfg->sc_m2m_stall_after) {
			m2m_log(m, "stalled after %llu frames",
			    (unsigned long long)m->m_encoded);
			return;	/* V4L2SIM_M2M_STALL_AFTER */
		}
		ob = &o->q_bufs[o->q_order[0]];
		cb = &c->q_bufs[c->q_order[0]];
		memmove(o->q_order, o->q_order + 1, --o->q_nqueued *
		    sizeof(o->q_order[0]));
		memmove(c->q_order, c->q_order + 1, --c->q_nqueued *
		    sizeof(c->q_order[0]));
		cb->mb_flags = 0;
		t0 = thread_cpu_ns();
		if (m->m_cfg->sc_m2m_h264) {
			if (h264_job(m, ob, cb) != 0) {
				cb->mb_used[0] = 0;
				cb->mb_flags = V4L2_BUF_FLAG_ERROR;
			}
		} else {
			dst = cb->mb_map[0];
			size = cb->mb_len[0];
			ss = to_planes(m, ob, planes, strides);
			if (ss < 0 || tjCompressFromYUVPlanes(m->m_tj, planes,
			    (int)o->q_width, strides, (int)o->q_height, ss,
			    &dst, &size, m->m_quality, TJFLAG_NOREALLOC) !=
			    0) {
				m2m_log(m, "encode failed: %s", ss < 0 ?
				    "format" : tjGetErrorStr2(m->m_tj));
				size = 0;
			}
			cb->mb_used[0] = (uint32_t)size;
		}
		if (m->m_cpu_ns != NULL)
			__atomic_fetch_add(m->m_cpu_ns, thread_cpu_ns() - t0,
			    __ATOMIC_RELAXED);
		cb->mb_ts = ob->mb_ts;
		ob->mb_seq = cb->mb_seq = m->m_seq++;
		ob->mb_state = cb->mb_state = M2M_DONE;
		o->q_done[o->q_ndone++] = (uint32_t)(ob - o->q_bufs);
		c->q_done[c->q_ndone++] = (uint32_t)(cb - c->q_bufs);
		m->m_encoded++;
	}
	ready_update(m);
}

/* ------------------------------------------------------------ buffers */

static void
queue_free(struct m2m_queue *q)
{
	for (uint32_t i = 0; i < q->q_nbufs; i++)
		for (unsigned p = 0; p < 3; p++) {
			if (q->q_bufs[i].mb_map[p] != NULL)
				sim_real.munmap(q->q_bufs[i].mb_map[p],
				    q->q_bufs[i].mb_maplen[p]);
			if (q->q_bufs[i].mb_memfd[p] > 0)
				sim_real.close(q->q_bufs[i].mb_memfd[p]);
		}
	memset(q->q_bufs, 0, sizeof(q->q_bufs));
	q->q_nbufs = q->q_nqueued = q->q_ndone = 0;
}

static int
queue_alloc(struct m2m_queue *q, uint32_t count)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), maplen;
	/* Offsets: the capture queue's above the output queue's, as
	 * v4l2-mem2mem does (DST_QUEUE_OFF_BASE). */
	uint32_t base = q->q_output ? 0 : 1u << 30;

	for (uint32_t i = 0; i < count; i++) {
		struct m2m_buf *b = &q->q_bufs[i];

		q->q_nbufs = i + 1;
		for (unsigned p = 0; p < q->q_geom.sg_nbuf; p++) {
			maplen = (q->q_geom.sg_size[p] + page - 1) / page *
			    page;
			b->mb_memfd[p] = memfd_create("v4l2sim-m2m",
			    MFD_CLOEXEC);
			if (b->mb_memfd[p] < 0 ||
			    ftruncate(b->mb_memfd[p], (off_t)maplen) != 0)
				return -ENOMEM;
			b->mb_map[p] = sim_real.mmap(NULL, maplen, PROT_READ |
			    PROT_WRITE, MAP_SHARED, b->mb_memfd[p], 0);
			if (b->mb_map[p] == MAP_FAILED) {
				b->mb_map[p] = NULL;
				return -ENOMEM;
			}
			b->mb_len[p] = q->q_geom.sg_size[p];
			b->mb_maplen[p] = maplen;
			b->mb_offset[p] = base + (uint32_t)((i * 3 + p) *
			    (16u << 20));
		}
	}
	return 0;
}

static int
buf_info(const struct sim_m2m *m, const struct m2m_queue *q, uint32_t i,
    struct v4l2_buffer *vb)
{
	const struct m2m_buf *b = &q->q_bufs[i];
	struct v4l2_plane *planes = vb->m.planes;
	uint32_t n = vb->length, type = vb->type;

	if (m->m_mplane && (planes == NULL || n < q->q_geom.sg_nbuf))
		return -EINVAL;
	memset(vb, 0, sizeof(*vb));
	vb->index = i;
	vb->type = type;
	vb->memory = V4L2_MEMORY_MMAP;
	vb->field = V4L2_FIELD_NONE;
	vb->sequence = b->mb_seq;
	vb->timestamp = b->mb_ts;
	vb->flags = V4L2_BUF_FLAG_TIMESTAMP_COPY;
	if (b->mb_state == M2M_DONE)
		vb->flags |= b->mb_flags;
	if (b->mb_state == M2M_QUEUED)
		vb->flags |= V4L2_BUF_FLAG_QUEUED;
	if (b->mb_state == M2M_DONE)
		vb->flags |= V4L2_BUF_FLAG_DONE;
	if (m->m_mplane) {
		vb->m.planes = planes;
		vb->length = q->q_geom.sg_nbuf;
		for (unsigned p = 0; p < q->q_geom.sg_nbuf; p++) {
			memset(&planes[p], 0, sizeof(planes[p]));
			planes[p].m.mem_offset = b->mb_offset[p];
			planes[p].length = (uint32_t)b->mb_len[p];
			planes[p].bytesused = b->mb_used[p];
		}
	} else {
		vb->m.offset = b->mb_offset[0];
		vb->length = (uint32_t)b->mb_len[0];
		vb->bytesused = b->mb_used[0];
	}
	return 0;
}

/* ------------------------------------------------------------ ioctls */

static int
do_fmt(struct sim_m2m *m, unsigned long req, struct v4l2_format *f)
{
	struct m2m_queue *q = queue_of(m, f->type), tmp;
	uint32_t fourcc, w, h;

	if (q == NULL)
		return -EINVAL;
	tmp = *q;
	if (req != VIDIOC_G_FMT) {
		fourcc = m->m_mplane ? f->fmt.pix_mp.pixelformat :
		    f->fmt.pix.pixelformat;
		w = m->m_mplane ? f->fmt.pix_mp.width : f->fmt.pix.width;
		h = m->m_mplane ? f->fmt.pix_mp.height : f->fmt.pix.height;
		if (q->q_output) {
			tmp.q_fourcc = out_format_ok(m, fourcc) ? fourcc :
			    V4L2_PIX_FMT_YUV420;
			w = w < M2M_DIM_MIN ? M2M_DIM_MIN : w > M2M_DIM_MAX ?
			    M2M_DIM_MAX : w & ~1u;
			h = h < M2M_DIM_MIN ? M2M_DIM_MIN : h > M2M_DIM_MAX ?
			    M2M_DIM_MAX : h & ~1u;
			tmp.q_width = w;
			tmp.q_height = h;
		} else {
			/* The coded picture is the output's size. */
			tmp.q_fourcc = m->m_cfg->sc_m2m_h264 ?
			    V4L2_PIX_FMT_H264 : V4L2_PIX_FMT_JPEG;
			tmp.q_width = m->m_out.q_width;
			tmp.q_height = m->m_out.q_height;
			/* H.264: the buffer size the program asks for,
			 * at least the default (queue_geometry()). */
			tmp.q_geom.sg_size[0] = m->m_mplane ?
			    f->fmt.pix_mp.plane_fmt[0].sizeimage :
			    f->fmt.pix.sizeimage;
		}
		queue_geometry(&tmp);
		if (req == VIDIOC_S_FMT) {
			if (q->q_nbufs > 0)
				return -EBUSY;
			*q = tmp;
			/* The capture side follows the output's size. */
			if (q->q_output && m->m_cap.q_nbufs == 0) {
				m->m_cap.q_width = w;
				m->m_cap.q_height = h;
				queue_geometry(&m->m_cap);
			}
		}
	}
	memset(&f->fmt, 0, sizeof(f->fmt));
	if (m->m_mplane) {
		f->fmt.pix_mp.width = tmp.q_width;
		f->fmt.pix_mp.height = tmp.q_height;
		f->fmt.pix_mp.pixelformat = tmp.q_fourcc;
		f->fmt.pix_mp.field = V4L2_FIELD_NONE;
		f->fmt.pix_mp.num_planes = (uint8_t)tmp.q_geom.sg_nbuf;
		for (unsigned p = 0; p < tmp.q_geom.sg_nbuf; p++) {
			f->fmt.pix_mp.plane_fmt[p].bytesperline =
			    tmp.q_geom.sg_bpl[p];
			f->fmt.pix_mp.plane_fmt[p].sizeimage =
			    tmp.q_geom.sg_size[p];
		}
	} else {
		f->fmt.pix.width = tmp.q_width;
		f->fmt.pix.height = tmp.q_height;
		f->fmt.pix.pixelformat = tmp.q_fourcc;
		f->fmt.pix.field = V4L2_FIELD_NONE;
		f->fmt.pix.bytesperline = tmp.q_geom.sg_bpl[0];
		f->fmt.pix.sizeimage = tmp.q_geom.sg_size[0];
	}
	return 0;
}

static const struct m2m_ctrl *
h264_ctrl_find(uint32_t id, size_t *index)
{
	for (size_t i = 0; i < M2M_H264_NCTRLS; i++)
		if (h264_ctrls[i].id == id) {
			*index = i;
			return &h264_ctrls[i];
		}
	return NULL;
}

/* The H.264 encoder's controls; changes while streaming apply at the
 * next STREAMON, but for the key frame button. */
static int
do_h264_ctrl(struct sim_m2m *m, unsigned long req, void *arg)
{
	struct v4l2_queryctrl *qc = arg;
	struct v4l2_control *c = arg;
	const struct m2m_ctrl *k = NULL;
	uint32_t id;
	size_t i;

	switch (req) {
	case VIDIOC_QUERYCTRL:
		id = qc->id;
		if (id & V4L2_CTRL_FLAG_NEXT_CTRL) {
			id &= ~V4L2_CTRL_FLAG_NEXT_CTRL;
			/* The table is in id order. */
			for (i = 0; i < M2M_H264_NCTRLS; i++)
				if (h264_ctrls[i].id > id) {
					k = &h264_ctrls[i];
					break;
				}
		} else
			k = h264_ctrl_find(id, &i);
		if (k == NULL)
			return -EINVAL;
		memset(qc, 0, sizeof(*qc));
		qc->id = k->id;
		qc->type = k->type;
		snprintf((char *)qc->name, sizeof(qc->name), "%s", k->name);
		qc->minimum = k->min;
		qc->maximum = k->max;
		qc->step = 1;
		qc->default_value = k->def;
		if (k->type == V4L2_CTRL_TYPE_BUTTON)
			qc->flags = V4L2_CTRL_FLAG_WRITE_ONLY;
		return 0;
	case VIDIOC_G_CTRL:
		if ((k = h264_ctrl_find(c->id, &i)) == NULL)
			return -EINVAL;
		if (k->type == V4L2_CTRL_TYPE_BUTTON)
			return -EACCES;
		c->value = m->m_ctrl[i];
		return 0;
	case VIDIOC_S_CTRL:
		if ((k = h264_ctrl_find(c->id, &i)) == NULL)
			return -EINVAL;
		/* A button's value is ignored (the kernel's control
		 * framework does so). */
		if (k->type != V4L2_CTRL_TYPE_BUTTON &&
		    (c->value < k->min || c->value > k->max))
			return -ERANGE;
		if (k->type == V4L2_CTRL_TYPE_BUTTON) {
			m->m_force_key = 1;
			m2m_log(m, "key frame forced");
		} else
			m->m_ctrl[i] = c->value;
		return 0;
	default:
		return -ENOTTY;
	}
}

/* VIDIOC_S_PARM and G_PARM: the rate, on the OUTPUT queue. */
static int
do_parm(struct sim_m2m *m, unsigned long req, struct v4l2_streamparm *p)
{
	struct v4l2_fract *tpf = &p->parm.output.timeperframe;

	if (queue_of(m, p->type) != &m->m_out)
		return -EINVAL;
	if (req == VIDIOC_S_PARM && tpf->numerator != 0 &&
	    tpf->denominator != 0) {
		m->m_fps = (tpf->denominator + tpf->numerator / 2) /
		    tpf->numerator;
		if (m->m_fps == 0)
			m->m_fps = 1;
	}
	memset(&p->parm, 0, sizeof(p->parm));
	p->parm.output.capability = V4L2_CAP_TIMEPERFRAME;
	tpf->numerator = 1;
	tpf->denominator = m->m_fps;
	return 0;
}

static int
do_ctrl(struct sim_m2m *m, unsigned long req, void *arg)
{
	struct v4l2_queryctrl *qc = arg;
	struct v4l2_control *c = arg;
	uint32_t id;

	if (m->m_cfg->sc_m2m_h264)
		return do_h264_ctrl(m, req, arg);
	switch (req) {
	case VIDIOC_QUERYCTRL:
		id = qc->id;
		if ((id & V4L2_CTRL_FLAG_NEXT_CTRL) ?
		    (id & ~V4L2_CTRL_FLAG_NEXT_CTRL) >=
		    V4L2_CID_JPEG_COMPRESSION_QUALITY :
		    id != V4L2_CID_JPEG_COMPRESSION_QUALITY)
			return -EINVAL;
		memset(qc, 0, sizeof(*qc));
		qc->id = V4L2_CID_JPEG_COMPRESSION_QUALITY;
		qc->type = V4L2_CTRL_TYPE_INTEGER;
		snprintf((char *)qc->name, sizeof(qc->name),
		    "Compression Quality");
		qc->minimum = 1;
		qc->maximum = 100;
		qc->step = 1;
		qc->default_value = M2M_QUALITY_DEF;
		return 0;
	case VIDIOC_G_CTRL:
		if (c->id != V4L2_CID_JPEG_COMPRESSION_QUALITY)
			return -EINVAL;
		c->value = m->m_quality;
		return 0;
	case VIDIOC_S_CTRL:
		if (c->id != V4L2_CID_JPEG_COMPRESSION_QUALITY)
			return -EINVAL;
		if (c->value < 1 || c->value > 100)
			return -ERANGE;
		m->m_quality = c->value;
		return 0;
	default:
		return -ENOTTY;
	}
}

static int
do_reqbufs(struct sim_m2m *m, struct v4l2_requestbuffers *rb)
{
	struct m2m_queue *q = queue_of(m, rb->type);
	uint32_t count = rb->count;
	int rc;

	if (q == NULL || rb->memory != V4L2_MEMORY_MMAP)
		return -EINVAL;
	if (q->q_streaming)
		return -EBUSY;
	queue_free(q);
	if (count > M2M_BUFFERS_MAX)
		count = M2M_BUFFERS_MAX;
	if (count > 0 && q->q_width == 0)
		return -EINVAL;		/* no format yet */
	if (count > 0 && (rc = queue_alloc(q, count)) != 0) {
		queue_free(q);
		return rc;
	}
	rb->count = count;
	rb->capabilities = V4L2_BUF_CAP_SUPPORTS_MMAP;
	return 0;
}

static int
do_qbuf(struct sim_m2m *m, struct v4l2_buffer *vb)
{
	struct m2m_queue *q = queue_of(m, vb->type);
	struct m2m_buf *b;
	uint32_t i = vb->index;

	if (q == NULL || vb->memory != V4L2_MEMORY_MMAP || i >= q->q_nbufs)
		return -EINVAL;
	b = &q->q_bufs[i];
	if (b->mb_state != M2M_DEQUEUED)
		return -EINVAL;
	if (m->m_mplane && (vb->m.planes == NULL ||
	    vb->length < q->q_geom.sg_nbuf))
		return -EINVAL;
	if (q->q_output) {
		/* The program says how much it wrote. */
		for (unsigned p = 0; p < q->q_geom.sg_nbuf; p++) {
			uint32_t used = m->m_mplane ?
			    vb->m.planes[p].bytesused : vb->bytesused;

			if (used > b->mb_len[p])
				return -EINVAL;
			b->mb_used[p] = used;
		}
		b->mb_ts = vb->timestamp;
	}
	b->mb_state = M2M_QUEUED;
	q->q_order[q->q_nqueued++] = i;
	buf_info(m, q, i, vb);
	m2m_run(m);
	return 0;
}

static int
do_dqbuf(struct sim_m2m *m, struct v4l2_buffer *vb)
{
	struct m2m_queue *q = queue_of(m, vb->type);
	uint32_t i;
	int rc;

	if (q == NULL || vb->memory != V4L2_MEMORY_MMAP)
		return -EINVAL;
	if (q->q_ndone == 0)
		return q->q_streaming ? -EAGAIN : -EINVAL;
	i = q->q_done[0];
	if ((rc = buf_info(m, q, i, vb)) != 0)
		return rc;
	memmove(q->q_done, q->q_done + 1, --q->q_ndone *
	    sizeof(q->q_done[0]));
	q->q_bufs[i].mb_state = M2M_DEQUEUED;
	ready_update(m);
	return 0;
}

static int
do_stream(struct sim_m2m *m, unsigned long req, const int *type)
{
	struct m2m_queue *q = queue_of(m, (uint32_t)*type);

	if (q == NULL)
		return -EINVAL;
	if (req == VIDIOC_STREAMON) {
		if (q->q_nbufs == 0)
			return -EINVAL;
		q->q_streaming = 1;
		m2m_run(m);
		return 0;
	}
	/* STREAMOFF: every buffer back to the program; the next job
	 * starts an encoder with the settings of then, at an IDR. */
	q->q_streaming = 0;
	simh264_free(m->m_h264);
	m->m_h264 = NULL;
	for (uint32_t i = 0; i < q->q_nbufs; i++)
		q->q_bufs[i].mb_state = M2M_DEQUEUED;
	q->q_nqueued = q->q_ndone = 0;
	ready_update(m);
	return 0;
}

int
sim_m2m_ioctl(struct sim_m2m *m, unsigned long req, void *arg)
{
	struct v4l2_capability *cap = arg;
	struct v4l2_fmtdesc *fd = arg;
	struct m2m_queue *q;
	uint32_t index, type;
	int err;

	if ((err = sim_fault(m->m_cfg->sc_m2m_faults,
	    m->m_cfg->sc_m2m_nfaults, req)) != 0)
		return -err;
	switch (req) {
	case VIDIOC_QUERYCAP:
		memset(cap, 0, sizeof(*cap));
		snprintf((char *)cap->driver, sizeof(cap->driver), "v4l2sim");
		snprintf((char *)cap->card, sizeof(cap->card),
		    m->m_cfg->sc_m2m_h264 ? "Sim H.264 encoder" :
		    "Sim JPEG encoder");
		snprintf((char *)cap->bus_info, sizeof(cap->bus_info),
		    "platform:v4l2sim-m2m");
		cap->version = 0x060100;
		cap->device_caps = (m->m_mplane ? V4L2_CAP_VIDEO_M2M_MPLANE :
		    V4L2_CAP_VIDEO_M2M) | V4L2_CAP_STREAMING;
		cap->capabilities = cap->device_caps | V4L2_CAP_DEVICE_CAPS;
		return 0;
	case VIDIOC_ENUM_FMT:
		index = fd->index;
		type = fd->type;
		if ((q = queue_of(m, type)) == NULL)
			return -EINVAL;
		memset(fd, 0, sizeof(*fd));
		fd->index = index;
		fd->type = type;
		if (!q->q_output) {
			if (index > 0)
				return -EINVAL;
			fd->pixelformat = m->m_cap.q_fourcc;
			fd->flags = V4L2_FMT_FLAG_COMPRESSED;
			snprintf((char *)fd->description,
			    sizeof(fd->description), "%s",
			    m->m_cfg->sc_m2m_h264 ? "H.264" : "JFIF JPEG");
			return 0;
		}
		for (size_t i = 0, n = 0; i < sizeof(out_formats) /
		    sizeof(out_formats[0]); i++) {
			if (!out_format_ok(m, out_formats[i]) || n++ != index)
				continue;
			fd->pixelformat = out_formats[i];
			snprintf((char *)fd->description,
			    sizeof(fd->description), "%s",
			    sim_fourcc_find(out_formats[i])->fc_desc);
			return 0;
		}
		return -EINVAL;
	case VIDIOC_G_FMT:
	case VIDIOC_S_FMT:
	case VIDIOC_TRY_FMT:
		return do_fmt(m, req, arg);
	case VIDIOC_QUERYCTRL:
	case VIDIOC_G_CTRL:
	case VIDIOC_S_CTRL:
		return do_ctrl(m, req, arg);
	case VIDIOC_S_PARM:
	case VIDIOC_G_PARM:
		return do_parm(m, req, arg);
	case VIDIOC_REQBUFS:
		return do_reqbufs(m, arg);
	case VIDIOC_QUERYBUF: {
		struct v4l2_buffer *vb = arg;

		if ((q = queue_of(m, vb->type)) == NULL ||
		    vb->index >= q->q_nbufs)
			return -EINVAL;
		return buf_info(m, q, vb->index, vb);
	}
	case VIDIOC_QBUF:
		return do_qbuf(m, arg);
	case VIDIOC_DQBUF:
		return do_dqbuf(m, arg);
	case VIDIOC_STREAMON:
	case VIDIOC_STREAMOFF:
		return do_stream(m, req, arg);
	default:
		return -ENOTTY;
	}
}

void *
sim_m2m_mmap(struct sim_m2m *m, void *addr, size_t len, int prot, int flags,
    off_t off, int *err)
{
	struct m2m_queue *qs[2] = { &m->m_out, &m->m_cap };
	void *p;

	for (unsigned k = 0; k < 2; k++)
		for (uint32_t i = 0; i < qs[k]->q_nbufs; i++)
			for (unsigned pl = 0; pl < 3; pl++) {
				struct m2m_buf *b = &qs[k]->q_bufs[i];

				if (b->mb_map[pl] == NULL ||
				    (off_t)b->mb_offset[pl] != off)
					continue;
				if (len == 0 || len > b->mb_maplen[pl] ||
				    !(flags & MAP_SHARED)) {
					*err = EINVAL;
					return MAP_FAILED;
				}
				p = sim_real.mmap(addr, len, prot, flags,
				    b->mb_memfd[pl], 0);
				*err = p == MAP_FAILED ? errno : 0;
				return p;
			}
	*err = EINVAL;
	return MAP_FAILED;
}

int
sim_m2m_new(struct sim_m2m **out, const struct sim_config *c, int fd,
    int peer, int log)
{
	struct sim_m2m *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return -ENOMEM;
	if ((m->m_tj = tjInitCompress()) == NULL) {
		free(m);
		return -ENOMEM;
	}
	m->m_cfg = c;
	m->m_fd = fd;
	m->m_peer = peer;
	m->m_log = log;
	m->m_mplane = c->sc_m2m_mplane;
	m->m_quality = M2M_QUALITY_DEF;
	m->m_out.q_output = 1;
	m->m_out.q_h264 = c->sc_m2m_h264;
	m->m_cap.q_fourcc = c->sc_m2m_h264 ? V4L2_PIX_FMT_H264 :
	    V4L2_PIX_FMT_JPEG;
	m->m_fps = 30;
	for (size_t i = 0; i < M2M_H264_NCTRLS; i++)
		m->m_ctrl[i] = h264_ctrls[i].def;
	if (c->sc_m2m_cpu[0] != '\0')
		m->m_cpu_ns = cpu_counter(m, c->sc_m2m_cpu);
	*out = m;
	return 0;
}

void
sim_m2m_free(struct sim_m2m *m)
{
	queue_free(&m->m_out);
	queue_free(&m->m_cap);
	tjDestroy(m->m_tj);
	simh264_free(m->m_h264);
	free(m->m_i420);
	free(m->m_scratch);
	if (m->m_cpu_ns != NULL)
		sim_real.munmap(m->m_cpu_ns, sizeof(uint64_t));
	m2m_log(m, "closed: %llu frames encoded",
	    (unsigned long long)m->m_encoded);
	free(m);
}
