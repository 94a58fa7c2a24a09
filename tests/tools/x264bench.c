/*
 * x264bench - the baseline of the H.264 benchmark: x264 alone, with the
 * capture's settings (h264enc_param(), the defaults of shmcam-capture's
 * options), on the same pictures the simulated camera plays from a file
 * (V4L2SIM_FILE: raw 4:2:0), handed over as the capture hands them over:
 *
 *   x264bench WxH FILE FRAMES FPS nv12|i420 [OUT [PRESET [KEY=VALUE...]]]
 *
 * nv12: the pictures interleaved beforehand (untimed), as an NV12 camera
 * delivers them and the capture passes them on; i420: as they are.
 * Frames are encoded at FPS (sleeping between them, untimed), as the
 * capture gets them, so that caches start each frame as cold as the
 * capture's.  Prints "x264_ms=M bytes=B keyframes=K": the thread CPU time
 * per frame of x264_encoder_encode() alone, the bytes it made, and how
 * many keyframes.  OUT (unless "-"), the stream as Annex-B, for a decoder
 * to judge; PRESET instead of the capture's default, and x264's own
 * options on top (x264_param_parse(): "subme=2", "no-deblock=1"...): what
 * tests/bench/x264settings.py compares.  Exit 0, 1 (failure), 2 (usage),
 * 77 (built with X264=no).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "h264enc.h"
#include "log.h"

#ifdef SHMCAM_X264
#include <x264.h>

static double
thread_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int
main(int argc, char **argv)
{
	struct h264_settings s;
	struct timespec next;
	x264_param_t p;
	x264_picture_t in, out;
	x264_nal_t *nal;
	x264_t *x;
	unsigned w, h, frames, fps, nfile, k;
	size_t ys, fsize, bytes = 0;
	uint8_t *pics;
	double cpu = 0, t0;
	int nv12, n, size, keyframes = 0;
	FILE *f, *o = NULL;

	if (argc < 6 || sscanf(argv[1], "%ux%u", &w, &h) != 2 ||
	    (frames = (unsigned)atoi(argv[3])) == 0 ||
	    (fps = (unsigned)atoi(argv[4])) == 0 ||
	    (strcmp(argv[5], "nv12") != 0 && strcmp(argv[5], "i420") != 0)) {
		fprintf(stderr, "usage: x264bench WxH FILE FRAMES FPS "
		    "nv12|i420 [OUT [PRESET [KEY=VALUE...]]]\n");
		return 2;
	}
	log_init("x264bench");
	nv12 = strcmp(argv[5], "nv12") == 0;
	ys = (size_t)w * h;
	fsize = ys * 3 / 2;
	if ((f = fopen(argv[2], "rb")) == NULL) {
		perror(argv[2]);
		return 1;
	}
	fseek(f, 0, SEEK_END);
	nfile = (unsigned)((size_t)ftell(f) / fsize);
	rewind(f);
	if (nfile == 0 || (pics = malloc(fsize * nfile)) == NULL ||
	    fread(pics, fsize, nfile, f) != nfile) {
		fprintf(stderr, "x264bench: %s: no %ux%u pictures\n", argv[2],
		    w, h);
		return 1;
	}
	fclose(f);
	if (nv12) {
		uint8_t *uv = malloc(ys / 2);

		for (k = 0; k < nfile; k++) {
			uint8_t *pic = pics + (size_t)k * fsize;

			for (size_t i = 0; i < ys / 4; i++) {
				uv[2 * i] = pic[ys + i];
				uv[2 * i + 1] = pic[ys + ys / 4 + i];
			}
			memcpy(pic + ys, uv, ys / 2);
		}
		free(uv);
	}
	if (argc > 6 && strcmp(argv[6], "-") != 0 &&
	    (o = fopen(argv[6], "wb")) == NULL) {
		perror(argv[6]);
		return 1;
	}
	h264enc_defaults(&s);
	if (argc > 7)
		s.preset = argv[7];
	if (h264enc_param(&s, w, h, fps * 1000, 0, &p) != 0) {
		fprintf(stderr, "x264bench: x264 refused the settings\n");
		return 1;
	}
	for (int i = 8; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (eq == NULL)
			return 2;
		*eq = '\0';
		if (x264_param_parse(&p, argv[i], eq + 1) != 0) {
			fprintf(stderr, "x264bench: x264 refused %s=%s\n",
			    argv[i], eq + 1);
			return 1;
		}
	}
	if ((x = x264_encoder_open(&p)) == NULL) {
		fprintf(stderr, "x264bench: x264 refused the settings\n");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (k = 0; k < frames; k++) {
		uint8_t *pic = pics + (size_t)(k % nfile) * fsize;

		next.tv_nsec += 1000000000L / fps;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next,
		    NULL) != 0)
			;
		x264_picture_init(&in);
		in.img.i_csp = nv12 ? X264_CSP_NV12 : X264_CSP_I420;
		in.img.i_plane = nv12 ? 2 : 3;
		in.img.plane[0] = pic;
		in.img.plane[1] = pic + ys;
		in.img.plane[2] = pic + ys + ys / 4;
		in.img.i_stride[0] = (int)w;
		in.img.i_stride[1] = in.img.i_stride[2] = nv12 ? (int)w :
		    (int)w / 2;
		in.i_pts = k;
		t0 = thread_cpu_ms();
		size = x264_encoder_encode(x, &nal, &n, &in, &out);
		cpu += thread_cpu_ms() - t0;
		if (size < 0) {
			fprintf(stderr, "x264bench: x264 failed\n");
			return 1;
		}
		bytes += (size_t)size;
		keyframes += out.b_keyframe;
		/* Each unit's 4-byte length (b_annexb 0) as a start code. */
		for (int i = 0; o != NULL && i < n; i++)
			if (fwrite("\0\0\0\1", 4, 1, o) != 1 ||
			    fwrite(nal[i].p_payload + 4,
			    (size_t)nal[i].i_payload - 4, 1, o) != 1) {
				fprintf(stderr, "x264bench: write failed\n");
				return 1;
			}
	}
	x264_encoder_close(x);
	if (o != NULL && fclose(o) != 0) {
		perror(argv[6]);
		return 1;
	}
	printf("x264_ms=%.3f bytes=%zu keyframes=%d\n", cpu / frames, bytes,
	    keyframes);
	free(pics);
	return 0;
}

#else

int
main(void)
{
	fprintf(stderr, "x264bench: built with X264=no\n");
	return 77;
}

#endif
