/*
 * encbench - the baseline of the capture benchmark: TurboJPEG alone,
 * compressing the simulated camera's YUYV frames (tests/v4l2sim) the way
 * the capture does (planar 4:2:2 into tjCompressFromYUVPlanes(),
 * TJSAMP_422, the same quality and flags, into a preallocated buffer):
 *
 *   encbench WxH FRAMES [QUALITY [FPS]]
 *
 * With FPS, frames are compressed at that rate (sleeping between them,
 * untimed) as a capture receives them, instead of back to back: caches
 * then start each frame as cold as the capture's do on a busy machine.
 *
 * Prints "codec_ms=C encode_ms=E encode_planes_ms=P bytes=B": the thread
 * CPU time per frame of the compression alone (from planes split
 * beforehand and copied, untimed, into one buffer, so that its input is
 * as warm as the capture's), and of the capture's own encoder_encode()
 * (capture/encode.c) on the same frames, both ways it can encode YUYV:
 * E in strips of 8 rows through libjpeg (the capture's way), P split
 * whole into planes, then the same TurboJPEG compression as C.  Every
 * buffer is touched once before timing starts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/videodev2.h>
#include <turbojpeg.h>

#include "encode.h"
#include "v4l2sim/sim.h"

#define DISTINCT	8

static double
thread_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Sleeps until the next frame is due at fps (0: no pacing). */
static void
pace(struct timespec *next, unsigned fps)
{
	if (fps == 0)
		return;
	next->tv_nsec += 1000000000L / fps;
	if (next->tv_nsec >= 1000000000L) {
		next->tv_nsec -= 1000000000L;
		next->tv_sec++;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, next, NULL) != 0)
		;
}

int
main(int argc, char **argv)
{
	struct sim_frames *sf;
	struct sim_paint paint;
	unsigned w, h, n, i, q = 80, fps = 0;
	struct timespec next;
	uint8_t *yuyv[DISTINCT], *planar[DISTINCT], *out, *work;
	unsigned long size, cap;
	struct encoder enc;
	struct rawframe f;
	size_t len, flen;
	uint32_t bpl;
	double t0, codec, encode, encode_ms[2];
	uint64_t bytes = 0;
	char err[160];
	tjhandle tj;

	if (argc < 3 || sscanf(argv[1], "%ux%u", &w, &h) != 2 ||
	    (n = (unsigned)atoi(argv[2])) == 0 || (w & 1)) {
		fprintf(stderr, "usage: encbench WxH FRAMES [QUALITY]\n");
		return 2;
	}
	if (argc > 3)
		q = (unsigned)atoi(argv[3]);
	if (argc > 4)
		fps = (unsigned)atoi(argv[4]);
	clock_gettime(CLOCK_MONOTONIC, &next);
	if (sim_frames_new(&sf, V4L2_PIX_FMT_YUYV, w, h, 1, (int)q, 0, NULL,
	    err, sizeof(err)) != 0) {
		fprintf(stderr, "encbench: %s\n", err);
		return 1;
	}
	for (i = 0; i < DISTINCT; i++) {
		uint8_t *y, *u, *v;
		yuyv[i] = malloc(sim_frames_max(sf, 0));
		memset(&paint, 0, sizeof(paint));
		sim_frames_fill(sf, &yuyv[i], i + 1, 1000000000ull * (i + 1),
		    SIM_FRAME_GOOD, &paint, NULL);
		planar[i] = malloc((size_t)w * h * 2);
		y = planar[i];
		u = y + (size_t)w * h;
		v = u + (size_t)w / 2 * h;
		for (size_t p = 0; p < (size_t)w * h / 2; p++) {
			y[2 * p] = yuyv[i][4 * p];
			u[p] = yuyv[i][4 * p + 1];
			y[2 * p + 1] = yuyv[i][4 * p + 2];
			v[p] = yuyv[i][4 * p + 3];
		}
	}
	tj = tjInitCompress();
	cap = tjBufSize((int)w, (int)h, TJSAMP_444);
	out = malloc(cap);
	memset(out, 0, cap);
	work = malloc((size_t)w * h * 2);
	codec = 0;
	for (i = 0; i < n; i++) {
		const unsigned char *planes[3];
		int strides[3] = { (int)w, (int)w / 2, (int)w / 2 };
		unsigned char *dst = out;

		pace(&next, fps);
		memcpy(work, planar[i % DISTINCT], (size_t)w * h * 2);
		planes[0] = work;
		planes[1] = planes[0] + (size_t)w * h;
		planes[2] = planes[1] + (size_t)w / 2 * h;
		size = cap;
		t0 = thread_cpu_ms();
		if (tjCompressFromYUVPlanes(tj, planes, (int)w, strides, (int)h,
		    TJSAMP_422, &dst, &size, (int)q,
		    TJFLAG_NOREALLOC | TJFLAG_FASTDCT) != 0) {
			fprintf(stderr, "encbench: %s\n", tjGetErrorStr2(tj));
			return 1;
		}
		codec += thread_cpu_ms() - t0;
		bytes += size;
	}

	/*
	 * The capture's encoder, warmed up (its scratch allocated), both
	 * ways it can take packed 4:2:2: in strips through libjpeg (what
	 * the capture does) and split whole into planes for TurboJPEG.
	 */
	for (int way = 0; way < 2; way++) {
		if (encoder_init(&enc, (int)q) != 0)
			return 1;
		enc.en_packed_planes = way;
		flen = (size_t)w * h * 2;
		bpl = w * 2;
		if (rawframe_describe(&f, rawformat_find(V4L2_PIX_FMT_YUYV),
		    w, h, 1, &yuyv[0], &flen, &bpl) != 0 ||
		    encoder_encode(&enc, &f, out, cap, &len) != 0)
			return 1;
		encode = 0;
		for (i = 0; i < n; i++) {
			pace(&next, fps);
			f.rw_plane[0].rp_data = yuyv[i % DISTINCT];
			t0 = thread_cpu_ms();
			if (encoder_encode(&enc, &f, out, cap, &len) != 0)
				return 1;
			encode += thread_cpu_ms() - t0;
		}
		encode_ms[way] = encode / n;
		encoder_free(&enc);
	}
	printf("codec_ms=%.3f encode_ms=%.3f encode_planes_ms=%.3f "
	    "bytes=%llu\n", codec / n, encode_ms[0], encode_ms[1],
	    (unsigned long long)(bytes / n));
	tjDestroy(tj);
	for (i = 0; i < DISTINCT; i++) {
		free(planar[i]);
		free(yuyv[i]);
	}
	free(work);
	free(out);
	sim_frames_free(sf);
	return 0;
}
