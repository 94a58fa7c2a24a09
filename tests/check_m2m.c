/*
 * check_m2m.c - the memory-to-memory JPEG encoder (capture/m2m.h) on the
 * simulated one (tests/v4l2sim, V4L2SIM_M2M_DEVICE): found among device
 * nodes by what it is; frames of every format it takes, laid out by the
 * simulator's own geometry with padded rows, come back as JPEG that
 * decodes to the camera's picture (its barcode and its colours); the
 * quality control applies; each injected fault (ESRCH at STREAMON,
 * ENOTTY on S_CTRL, a capture queue that stalls) is an error within the
 * time bound; and, set up, it encodes under the capture's own system
 * call filter, not the one for V4L2 layers: it needs nothing more.
 *
 * The H.264 encoder (capture/m2m_h264.h) on the simulated one as
 * bcm2835-codec's encode node (V4L2SIM_M2M_CODEC=h264): found by what it
 * is, and not taken for the JPEG one nor the other way round; every
 * access unit it gives passes the ring's check (h264_au_check()), IDRs
 * exactly every --h264-gop frames and on request, with SPS and PPS; the
 * profile, the bitrate and the size reach the stream, a new size with
 * an IDR; each fault is an
 * error within the time bound, so the capture falls back; it encodes
 * under the capture's filter.  Built without x264 the simulator cannot
 * encode H.264: those tests are left out, saying so.
 *
 * main() re-executes this program with the simulator in LD_PRELOAD.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <linux/videodev2.h>
#include <turbojpeg.h>

#include "encode.h"
#include "h264.h"
#include "log.h"
#include "m2m.h"
#include "m2m_h264.h"
#include "sandbox.h"
#include "testutil.h"
#include "v4l2sim/sim.h"
#include "v4l2sim/simpattern.h"
#include "v4l2sim/simh264.h"
#include "v4l2sim/simstamp.h"

#define W	640
#define H	480

static char dir[PATH_MAX], cam[PATH_MAX + 16], enc[PATH_MAX + 16];

static void
touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0644);

	ck_assert_int_ge(fd, 0);
	close(fd);
}

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "%s", tu_tmpdir());
	snprintf(cam, sizeof(cam), "%s/video0", dir);
	snprintf(enc, sizeof(enc), "%s/video31", dir);
	touch(cam);
	touch(enc);
	setenv("V4L2SIM_DEVICE", cam, 1);
	setenv("V4L2SIM_M2M_DEVICE", enc, 1);
	unsetenv("V4L2SIM_M2M_MPLANE");
	unsetenv("V4L2SIM_M2M_FAIL");
	unsetenv("V4L2SIM_M2M_STALL_AFTER");
}

/* A camera frame of fourcc, as the simulator lays it out (rows padded
 * to 96 bytes), described for the encoders. */
struct camframe {
	struct sim_frames *sf;
	uint8_t		*buf[3];
	size_t		 used[3];
	struct rawframe	 raw;
};

static void
camframe_make_size(struct camframe *c, uint32_t fourcc, uint32_t w,
    uint32_t h, uint64_t seq)
{
	struct sim_paint paint;
	struct sim_geom g;
	char err[160];
	unsigned n;

	memset(c, 0, sizeof(*c));
	ck_assert_int_eq(sim_frames_new(&c->sf, fourcc, w, h, 96, 80, 0, NULL,
	    err, sizeof(err)), 0);
	sim_fourcc_geometry(fourcc, w, h, 96, &g);
	n = sim_frames_nbuf(c->sf);
	for (unsigned i = 0; i < n; i++)
		ck_assert_ptr_nonnull(c->buf[i] = malloc(sim_frames_max(c->sf,
		    i)));
	memset(&paint, 0, sizeof(paint));
	sim_frames_fill(c->sf, c->buf, seq, 1000000000ull * seq,
	    SIM_FRAME_GOOD, &paint, c->used);
	ck_assert_int_eq(rawframe_describe(&c->raw, rawformat_find(fourcc),
	    w, h, n, c->buf, c->used, g.sg_bpl), 0);
}

static void
camframe_make(struct camframe *c, uint32_t fourcc, uint64_t seq)
{
	camframe_make_size(c, fourcc, W, H, seq);
}

static void
camframe_free(struct camframe *c)
{
	for (unsigned i = 0; i < 3; i++)
		free(c->buf[i]);
	sim_frames_free(c->sf);
}

/*
 * The JPEG shows frame seq of the camera: its barcode says so, and
 * the moving block's colour (a flat area, where JPEG error is small) is
 * the pattern's, Cb and Cr in their places.
 */
static void
check_picture(const uint8_t *jpeg, size_t len, uint64_t seq)
{
	struct simpattern pat;
	tjhandle tj = tjInitDecompress();
	unsigned char *planes[3];
	int w, h, ss, cs, strides[3];
	uint64_t got, ns;
	uint32_t x, y;
	struct yuv c;

	ck_assert_int_eq(tjDecompressHeader3(tj, jpeg, (unsigned long)len, &w,
	    &h, &ss, &cs), 0);
	ck_assert_int_eq(w, W);
	ck_assert_int_eq(h, H);
	ck_assert_int_eq(simstamp_from_jpeg(jpeg, len, &got, &ns), 0);
	ck_assert_uint_eq(got, seq);
	for (int i = 0; i < 3; i++) {
		strides[i] = tjPlaneWidth(i, w, ss);
		planes[i] = malloc((size_t)strides[i] *
		    (size_t)tjPlaneHeight(i, h, ss));
	}
	ck_assert_int_eq(tjDecompressToYUVPlanes(tj, jpeg, (unsigned long)len,
	    planes, w, strides, h, 0), 0);
	simpattern_init(&pat, W, H);
	x = simpattern_block_x(&pat, seq) + SIMPATTERN_BLOCK / 2;
	y = pat.sp_block_y + SIMPATTERN_BLOCK / 2;
	c = simpattern_pixel(&pat, seq, ns, x, y);
	ck_assert_int_le(abs(planes[0][y * (uint32_t)strides[0] + x] - c.y),
	    8);
	x = x * (uint32_t)tjPlaneWidth(1, w, ss) / W;
	y = y * (uint32_t)tjPlaneHeight(1, h, ss) / H;
	ck_assert_int_le(abs(planes[1][y * (uint32_t)strides[1] + x] - c.u),
	    8);
	ck_assert_int_le(abs(planes[2][y * (uint32_t)strides[2] + x] - c.v),
	    8);
	for (int i = 0; i < 3; i++)
		free(planes[i]);
	tjDestroy(tj);
}

/* A stalled encoder's error came after the bound, and not much more:
 * 3 s for a loaded machine. */
static void
check_bound(uint64_t t0)
{
	ck_assert_uint_ge(tu_now_ms() - t0, M2M_TIMEOUT_MS - 10);
	ck_assert_uint_lt(tu_now_ms() - t0, M2M_TIMEOUT_MS + 3000);
}

/*
 * In a child: prepare(arg) (opening the device, a first frame), the
 * capture's own filter (SANDBOX_CAPTURE, without a V4L2 layer's calls),
 * then step(arg, i) for five frames; none may fail, nor the filter kill
 * the child.
 */
static void
under_the_capture_filter(int (*prepare)(void *), int (*step)(void *, int),
    void *arg)
{
	int status;
	pid_t pid;

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		log_init("check_m2m");
		if (prepare(arg) != 0 || sandbox_apply(SANDBOX_CAPTURE) != 0)
			_exit(10);
		for (int i = 0; i < 5; i++)
			if (step(arg, i) != 0)
				_exit(20 + i);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "status %#x", status);
}

static struct m2m *
open_enc(int quality)
{
	struct m2m *m;
	char why[200];
	int rc;

	rc = m2m_open(&m, enc, quality, why, sizeof(why));
	ck_assert_msg(rc == 0, "m2m_open: %s", why);
	return m;
}

/* ------------------------------------------------------------ tests */

START_TEST(test_found_by_what_it_is)
{
	char pattern[PATH_MAX + 16], path[PATH_MAX + 16], why[200];
	struct m2m *m;

	/* video0 a camera, video2 a plain file, video31 the encoder. */
	snprintf(path, sizeof(path), "%s/video2", dir);
	touch(path);
	snprintf(pattern, sizeof(pattern), "%s/video*", dir);
	ck_assert_int_eq(m2m_find(pattern, path, sizeof(path)), 0);
	ck_assert_str_eq(path, enc);
	m = open_enc(80);
	ck_assert(m2m_has_quality(m));
	ck_assert_ptr_nonnull(strstr(m2m_name(m), "Sim JPEG encoder"));
	m2m_close(m);
	/* A camera is no encoder. */
	ck_assert_int_eq(m2m_open(&m, cam, 80, why, sizeof(why)), -ENODEV);
	ck_assert_ptr_nonnull(strstr(why, "not a memory-to-memory JPEG"));
	unsetenv("V4L2SIM_M2M_DEVICE");
	ck_assert_int_eq(m2m_find(pattern, path, sizeof(path)), -ENOENT);
}
END_TEST

/*
 * Every format the simulated encoder takes, in both APIs; NV12M (a
 * buffer per plane) also where the encoder has only NV12: the samples
 * are copied into its layout.
 */
/* A format of the camera's frames, and which API the encoder has. */
struct enc_case {
	const char	*fourcc;
	int		 mplane;
};

static const struct enc_case encode_cases[] = {
	{ "YU12", 1 }, { "YV12", 1 }, { "NV12", 1 }, { "NV21", 1 },
	{ "YUYV", 1 }, { "UYVY", 1 }, { "NM12", 1 }, { "YM12", 1 },
	{ "YU12", 0 }, { "NV12", 0 }, { "YUYV", 0 }, { "NM12", 0 },
};

START_TEST(test_encodes_the_cameras_picture)
{
	const char *fc = encode_cases[_i].fourcc;
	uint32_t fourcc = v4l2_fourcc(fc[0], fc[1], fc[2], fc[3]);
	size_t cap = encoder_max_size(W, H), len;
	struct camframe c;
	struct m2m *m;
	char why[200];
	uint8_t *out = malloc(cap);
	int rc;

	setenv("V4L2SIM_M2M_MPLANE", encode_cases[_i].mplane ? "1" : "0", 1);
	m = open_enc(80);
	ck_assert(m2m_takes(m, rawformat_find(fourcc)));
	for (uint64_t seq = 1; seq <= 3; seq++) {
		camframe_make(&c, fourcc, seq);
		rc = m2m_encode(m, &c.raw, out, cap, &len, why, sizeof(why));
		ck_assert_msg(rc == 0, "%s: %s", fc, why);
		check_picture(out, len, seq);
		camframe_free(&c);
	}
	/* A format it does not take (nor any with its samples). */
	ck_assert(!m2m_takes(m, rawformat_find(V4L2_PIX_FMT_RGB24)));
	ck_assert_int_eq(m2m_configure(m, rawformat_find(V4L2_PIX_FMT_RGB24),
	    W, H, why, sizeof(why)), -ENOTSUP);
	m2m_close(m);
	free(out);
}
END_TEST

/* --quality reaches the device through its control. */
START_TEST(test_quality_applies)
{
	size_t cap = encoder_max_size(W, H), len[2];
	uint8_t *out = malloc(cap);
	struct camframe c;
	char why[200];
	struct m2m *m;

	camframe_make(&c, V4L2_PIX_FMT_NV12, 7);
	for (int k = 0; k < 2; k++) {
		m = open_enc(k == 0 ? 20 : 95);
		ck_assert_int_eq(m2m_encode(m, &c.raw, out, cap, &len[k], why,
		    sizeof(why)), 0);
		m2m_close(m);
	}
	ck_assert_msg(len[1] > len[0] * 3 / 2, "quality 20: %zu bytes, "
	    "95: %zu", len[0], len[1]);
	camframe_free(&c);
	free(out);
}
END_TEST

/* Each fault is an error, and a stalled queue one within the bound. */
START_TEST(test_faults_are_errors)
{
	size_t cap = encoder_max_size(W, H), len;
	uint8_t *out = malloc(cap);
	struct camframe c;
	char why[200];
	struct m2m *m;
	uint64_t t0;

	camframe_make(&c, V4L2_PIX_FMT_NV12, 1);
	for (int k = 0; k < 2; k++) {
		setenv("V4L2SIM_M2M_FAIL", k ? "S_CTRL:ENOTTY" :
		    "STREAMON:ESRCH", 1);
		m = open_enc(80);
		ck_assert_int_eq(m2m_encode(m, &c.raw, out, cap, &len, why,
		    sizeof(why)), k ? -ENOTTY : -ESRCH);
		ck_assert_ptr_nonnull(strstr(why, k ? "VIDIOC_S_CTRL" :
		    "VIDIOC_STREAMON"));
		m2m_close(m);
	}
	unsetenv("V4L2SIM_M2M_FAIL");
	setenv("V4L2SIM_M2M_STALL_AFTER", "2", 1);
	m = open_enc(80);
	ck_assert_int_eq(m2m_encode(m, &c.raw, out, cap, &len, why,
	    sizeof(why)), 0);
	ck_assert_int_eq(m2m_encode(m, &c.raw, out, cap, &len, why,
	    sizeof(why)), 0);
	t0 = tu_now_ms();
	ck_assert_int_eq(m2m_encode(m, &c.raw, out, cap, &len, why,
	    sizeof(why)), -ETIMEDOUT);
	check_bound(t0);
	m2m_close(m);
	camframe_free(&c);
	free(out);
}
END_TEST

/* The JPEG encoder's child (under_the_capture_filter()). */
struct jpeg_child {
	struct camframe	 c;
	struct m2m	*m;
	uint8_t		*out;
	size_t		 cap;
};

static int
jpeg_child_setup(void *arg)
{
	struct jpeg_child *j = arg;
	char why[200];

	j->m = open_enc(80);
	return m2m_configure(j->m, j->c.raw.rw_fmt, W, H, why, sizeof(why));
}

static int
jpeg_child_step(void *arg, int i)
{
	struct jpeg_child *j = arg;
	char why[200];
	size_t len;

	(void)i;
	return m2m_encode(j->m, &j->c.raw, j->out, j->cap, &len, why,
	    sizeof(why));
}

/* Set up, then under the capture's own filter: frames encode. */
START_TEST(test_encodes_under_the_capture_filter)
{
	struct jpeg_child j;

	memset(&j, 0, sizeof(j));
	camframe_make(&j.c, V4L2_PIX_FMT_NV12, 3);
	j.cap = encoder_max_size(W, H);
	ck_assert_ptr_nonnull(j.out = malloc(j.cap));
	under_the_capture_filter(jpeg_child_setup, jpeg_child_step, &j);
	camframe_free(&j.c);
	free(j.out);
}
END_TEST

/* ------------------------------------------------------------ H.264 */

static void
setup_h264(void)
{
	setup();
	setenv("V4L2SIM_M2M_CODEC", "h264", 1);
}

static struct m2m_h264 *
open_h264(const struct h264_settings *s)
{
	struct m2m_h264 *e;
	char why[200];
	int rc;

	rc = m2m_h264_open(&e, enc, s, why, sizeof(why));
	ck_assert_msg(rc == 0, "m2m_h264_open: %s", why);
	return e;
}

static void
h264_settings(struct h264_settings *s, uint32_t kbps, uint32_t gop,
    enum h264_profile profile)
{
	h264enc_defaults(s);
	s->mode = H264_ON;
	s->bitrate_kbps = kbps;
	s->gop = gop;
	s->profile = profile;
}

/* A camera frame as the source hands it over. */
static void
source_frame_of(struct source_frame *f, const struct camframe *c,
    uint32_t fourcc)
{
	memset(f, 0, sizeof(*f));
	f->fourcc = fourcc;
	f->width = c->raw.rw_width;
	f->height = c->raw.rw_height;
	f->raw = c->raw;
}

/*
 * Encodes frames 1..n of fourcc; keyframes[] gets which were IDRs,
 * *bytes the payload bytes.  Every unit passes the ring's check, an IDR
 * has its SPS (of the frame's size, profile_idc *profile) and PPS, a
 * non-IDR none.  force: the frame number to ask a keyframe for, 0 none.
 */
static void
encode_run(struct m2m_h264 *e, uint32_t fourcc, unsigned n, unsigned force,
    int *keyframes, size_t *bytes, unsigned *profile)
{
	struct h264_au_info info;
	struct source_frame f;
	struct h264_sps sps;
	struct camframe c;
	const uint8_t *out;
	char why[200];
	size_t len;
	int rc, key;

	*bytes = 0;
	for (unsigned i = 1; i <= n; i++) {
		camframe_make(&c, fourcc, i);
		source_frame_of(&f, &c, fourcc);
		rc = m2m_h264_encode(e, &f, 30000, i == force, &out, &len,
		    &key, why, sizeof(why));
		ck_assert_msg(rc == 0, "frame %u: %s", i, why);
		ck_assert_int_eq(h264_au_check(out, len, &info), 0);
		ck_assert_int_eq(info.idr != 0, key);
		ck_assert_uint_ge(info.slices, 1);
		if (key) {
			ck_assert_uint_gt(info.sps_len, 0);
			ck_assert_uint_gt(info.pps_len, 0);
			ck_assert_int_eq(h264_sps_parse(out + info.sps_off,
			    info.sps_len, &sps), 0);
			ck_assert_uint_eq(sps.width, W);
			ck_assert_uint_eq(sps.height, H);
			*profile = sps.profile_idc;
		} else
			ck_assert_uint_eq(info.sps_len + info.pps_len, 0);
		keyframes[i] = key;
		*bytes += len;
		camframe_free(&c);
	}
}

START_TEST(test_h264_found_by_what_it_is)
{
	char pattern[PATH_MAX + 16], path[PATH_MAX + 16], why[200];
	struct h264_settings s;
	struct m2m_h264 *e;

	h264_settings(&s, 0, 0, H264_PROFILE_MAIN);
	snprintf(path, sizeof(path), "%s/video2", dir);
	touch(path);
	snprintf(pattern, sizeof(pattern), "%s/video*", dir);
	ck_assert_int_eq(m2m_h264_find(pattern, path, sizeof(path)), 0);
	ck_assert_str_eq(path, enc);
	/* Not a JPEG encoder. */
	ck_assert_int_eq(m2m_find(pattern, path, sizeof(path)), -ENOENT);
	e = open_h264(&s);
	ck_assert_ptr_nonnull(strstr(m2m_h264_name(e), "Sim H.264 encoder"));
	ck_assert(m2m_h264_takes(e, V4L2_PIX_FMT_NV12));
	ck_assert(m2m_h264_takes(e, V4L2_PIX_FMT_NV12M));
	ck_assert(!m2m_h264_takes(e, V4L2_PIX_FMT_YUYV));
	ck_assert(!m2m_h264_takes(e, V4L2_PIX_FMT_MJPEG));
	m2m_h264_close(e);
	/* A camera is none, nor is a JPEG encoder. */
	ck_assert_int_eq(m2m_h264_open(&e, cam, &s, why, sizeof(why)),
	    -ENODEV);
	ck_assert_ptr_nonnull(strstr(why, "not a memory-to-memory H.264"));
	setenv("V4L2SIM_M2M_CODEC", "jpeg", 1);
	ck_assert_int_eq(m2m_h264_find(pattern, path, sizeof(path)),
	    -ENOENT);
	ck_assert_int_eq(m2m_h264_open(&e, enc, &s, why, sizeof(why)),
	    -ENODEV);
}
END_TEST

/* The device's 4:2:0 formats, multi-planar as bcm2835-codec has them,
 * NM12 and YM12 (a buffer per plane) copied into its NV12 and YU12; the
 * single-planar API of older kernels too. */
static const struct enc_case h264_cases[] = {
	{ "NV12", 1 }, { "NV21", 1 }, { "YU12", 1 }, { "YV12", 1 },
	{ "NM12", 1 }, { "YM12", 1 }, { "NV12", 0 }, { "YU12", 0 },
	{ "NM12", 0 },
};

/* IDRs every GOP frames and where asked for, each unit sound. */
START_TEST(test_h264_gop_and_keyframe_requests)
{
	const char *fc = h264_cases[_i].fourcc;
	uint32_t fourcc = v4l2_fourcc(fc[0], fc[1], fc[2], fc[3]);
	struct h264_settings s;
	struct m2m_h264 *e;
	int key[32];
	unsigned profile;
	size_t bytes;

	setenv("V4L2SIM_M2M_MPLANE", h264_cases[_i].mplane ? "1" : "0", 1);
	h264_settings(&s, 1000, 10, H264_PROFILE_MAIN);
	e = open_h264(&s);
	encode_run(e, fourcc, 31, 15, key, &bytes, &profile);
	/* Every 10 from the last IDR (the simulated encoder counts the
	 * GOP from a forced one, as x264 does): 1, 11, 15 asked for, 25. */
	for (unsigned i = 1; i <= 31; i++)
		ck_assert_msg(key[i] == (i == 1 || i == 11 || i == 15 ||
		    i == 25), "%s: frame %u keyframe %d", fc, i, key[i]);
	ck_assert_uint_eq(profile, 77);		/* Main */
	m2m_h264_close(e);
}
END_TEST

/* --h264-profile and --h264-bitrate reach the stream. */
START_TEST(test_h264_profile_and_bitrate)
{
	struct h264_settings s;
	struct m2m_h264 *e;
	unsigned profile[2];
	size_t bytes[2];
	int key[32];

	for (int k = 0; k < 2; k++) {
		h264_settings(&s, k ? 2000 : 100, 30, k ?
		    H264_PROFILE_MAIN : H264_PROFILE_BASELINE);
		e = open_h264(&s);
		encode_run(e, V4L2_PIX_FMT_NV12, 20, 0, key, &bytes[k],
		    &profile[k]);
		m2m_h264_close(e);
	}
	ck_assert_uint_eq(profile[0], 66);	/* (Constrained) Baseline */
	ck_assert_uint_eq(profile[1], 77);
	/* 20 times the rate: well over 3 times the bytes (the first IDR
	 * costs much at either). */
	ck_assert_msg(bytes[1] > 3 * bytes[0], "100 kbit/s: %zu bytes, "
	    "2000: %zu", bytes[0], bytes[1]);
}
END_TEST

/* Another size (a camera back with another format): the device is set
 * up again, and the first frame of it is an IDR with its own SPS. */
START_TEST(test_h264_size_change)
{
	static const uint32_t sizes[][2] = { { W, H }, { 320, 240 },
	    { W, H } };
	struct h264_au_info info;
	struct h264_settings s;
	struct source_frame f;
	struct h264_sps sps;
	struct camframe c;
	struct m2m_h264 *e;
	const uint8_t *out;
	char why[200];
	size_t len;
	int key;

	h264_settings(&s, 1000, 30, H264_PROFILE_MAIN);
	e = open_h264(&s);
	for (unsigned k = 0; k < 3; k++)
		for (unsigned i = 0; i < 3; i++) {
			camframe_make_size(&c, V4L2_PIX_FMT_NV12, sizes[k][0],
			    sizes[k][1], 1 + i);
			source_frame_of(&f, &c, V4L2_PIX_FMT_NV12);
			ck_assert_msg(m2m_h264_encode(e, &f, 30000, 0, &out,
			    &len, &key, why, sizeof(why)) == 0, "%s", why);
			ck_assert_int_eq(key, i == 0);
			ck_assert_int_eq(h264_au_check(out, len, &info), 0);
			if (key) {
				ck_assert_int_eq(h264_sps_parse(out +
				    info.sps_off, info.sps_len, &sps), 0);
				ck_assert_uint_eq(sps.width, sizes[k][0]);
				ck_assert_uint_eq(sps.height, sizes[k][1]);
			}
			camframe_free(&c);
		}
	m2m_h264_close(e);
}
END_TEST

/* The level for a size and rate: Table A-1's lowest that holds it. */
START_TEST(test_h264_level)
{
	ck_assert_int_eq(m2m_h264_level(640, 480, 30000),
	    V4L2_MPEG_VIDEO_H264_LEVEL_3_0);
	ck_assert_int_eq(m2m_h264_level(1280, 720, 30000),
	    V4L2_MPEG_VIDEO_H264_LEVEL_3_1);
	ck_assert_int_eq(m2m_h264_level(1280, 720, 60000),
	    V4L2_MPEG_VIDEO_H264_LEVEL_3_2);
	ck_assert_int_eq(m2m_h264_level(1920, 1080, 30000),
	    V4L2_MPEG_VIDEO_H264_LEVEL_4_0);
	ck_assert_int_eq(m2m_h264_level(3840, 2160, 30000),
	    V4L2_MPEG_VIDEO_H264_LEVEL_5_1);
}
END_TEST

/* Each fault an error (the capture then falls back), a stall within
 * the bound. */
START_TEST(test_h264_faults_are_errors)
{
	static const struct {
		const char	*fault;
		int		 rc;
		const char	*why;
	} faults[] = {
		{ "STREAMON:ESRCH", -ESRCH, "VIDIOC_STREAMON" },
		{ "S_CTRL:ENOTTY", -ENOTTY, "VIDIOC_S_CTRL" },
		{ "S_PARM:EIO", -EIO, "VIDIOC_S_PARM" },
		{ "DQBUF:EIO", -EIO, "VIDIOC_DQBUF" },
	};
	struct h264_settings s;
	struct source_frame f;
	struct camframe c;
	const uint8_t *out;
	struct m2m_h264 *e;
	char why[200];
	size_t len;
	uint64_t t0;
	int key;

	h264_settings(&s, 1000, 30, H264_PROFILE_MAIN);
	camframe_make(&c, V4L2_PIX_FMT_NV12, 1);
	source_frame_of(&f, &c, V4L2_PIX_FMT_NV12);
	for (size_t k = 0; k < sizeof(faults) / sizeof(faults[0]); k++) {
		setenv("V4L2SIM_M2M_FAIL", faults[k].fault, 1);
		e = open_h264(&s);
		ck_assert_int_eq(m2m_h264_encode(e, &f, 30000, 0, &out, &len,
		    &key, why, sizeof(why)), faults[k].rc);
		ck_assert_msg(strstr(why, faults[k].why) != NULL, "%s: %s",
		    faults[k].fault, why);
		m2m_h264_close(e);
	}
	unsetenv("V4L2SIM_M2M_FAIL");
	setenv("V4L2SIM_M2M_STALL_AFTER", "2", 1);
	e = open_h264(&s);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(m2m_h264_encode(e, &f, 30000, 0, &out, &len,
		    &key, why, sizeof(why)), 0);
	t0 = tu_now_ms();
	ck_assert_int_eq(m2m_h264_encode(e, &f, 30000, 0, &out, &len, &key,
	    why, sizeof(why)), -ETIMEDOUT);
	ck_assert_ptr_nonnull(strstr(why, "nothing coded within"));
	check_bound(t0);
	m2m_h264_close(e);
	/* Frames it does not take: an error, not a guess. */
	unsetenv("V4L2SIM_M2M_STALL_AFTER");
	camframe_free(&c);
	camframe_make(&c, V4L2_PIX_FMT_YUYV, 1);
	source_frame_of(&f, &c, V4L2_PIX_FMT_YUYV);
	e = open_h264(&s);
	ck_assert_int_eq(m2m_h264_encode(e, &f, 30000, 0, &out, &len, &key,
	    why, sizeof(why)), -ENOTSUP);
	m2m_h264_close(e);
	camframe_free(&c);
}
END_TEST

/* The H.264 encoder's child (under_the_capture_filter()). */
struct h264_child {
	struct h264_settings s;
	struct source_frame f;
	struct m2m_h264	*e;
};

static int
h264_child_step(void *arg, int i)
{
	struct h264_child *h = arg;
	const uint8_t *out;
	char why[200];
	size_t len;
	int key;

	/* The third frame asked to be a keyframe, the others not. */
	if (m2m_h264_encode(h->e, &h->f, 30000, i == 2, &out, &len, &key,
	    why, sizeof(why)) != 0)
		return -1;
	return i >= 0 && key != (i == 2);
}

static int
h264_child_setup(void *arg)
{
	struct h264_child *h = arg;

	h->e = open_h264(&h->s);
	return h264_child_step(h, -1);
}

/* Set up, then under the capture's own filter: frames encode, a
 * keyframe comes when asked for. */
START_TEST(test_h264_encodes_under_the_capture_filter)
{
	struct h264_child h;
	struct camframe c;

	memset(&h, 0, sizeof(h));
	h264_settings(&h.s, 1000, 30, H264_PROFILE_MAIN);
	camframe_make(&c, V4L2_PIX_FMT_NV12, 3);
	source_frame_of(&h.f, &c, V4L2_PIX_FMT_NV12);
	under_the_capture_filter(h264_child_setup, h264_child_step, &h);
	camframe_free(&c);
}
END_TEST

static Suite *
m2m_suite(void)
{
	Suite *s = suite_create("m2m");
	TCase *tc = tcase_create("encoder");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_found_by_what_it_is);
	tcase_add_loop_test(tc, test_encodes_the_cameras_picture, 0,
	    sizeof(encode_cases) / sizeof(encode_cases[0]));
	tcase_add_test(tc, test_quality_applies);
	tcase_add_test(tc, test_faults_are_errors);
	tcase_add_test(tc, test_encodes_under_the_capture_filter);
	suite_add_tcase(s, tc);
	tc = tcase_create("h264");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup_h264, NULL);
	tcase_add_test(tc, test_h264_level);
	if (simh264_available()) {
		tcase_add_test(tc, test_h264_found_by_what_it_is);
		tcase_add_loop_test(tc, test_h264_gop_and_keyframe_requests, 0,
		    sizeof(h264_cases) / sizeof(h264_cases[0]));
		tcase_add_test(tc, test_h264_profile_and_bitrate);
		tcase_add_test(tc, test_h264_size_change);
		tcase_add_test(tc, test_h264_faults_are_errors);
		tcase_add_test(tc, test_h264_encodes_under_the_capture_filter);
	} else
		fprintf(stderr, "check_m2m: built with X264=no: the simulator "
		    "has no H.264 encoder; the hardware H.264 tests but the "
		    "level's are skipped\n");
	suite_add_tcase(s, tc);
	return s;
}

int
main(int argc, char **argv)
{
	(void)argc;
	tu_preload_v4l2sim(argv);
	return tu_run_suite(m2m_suite());
}
