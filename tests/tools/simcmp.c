/*
 * simcmp - checks that a JPEG shows the simulated camera's picture
 * (tests/v4l2sim/simpattern.h) of the frame its stamp names:
 *
 *   simcmp [--rgb] FILE.jpg
 *
 * Reads the stamp (COM segment or barcode), decodes the JPEG to YCbCr
 * planes and compares, in the middle of every colour bar and of the
 * moving block (flat areas, so JPEG error stays small), the decoded
 * samples with what the simulator drew (luma only for a grayscale
 * JPEG).  With --rgb (a camera that sent RGB: the encoder converted it
 * to full-range YCbCr) it compares decoded RGB with the simulator's RGB
 * instead.  Prints
 * "seq=N width=W height=H points=P mean=M max=X"; exits 0 if the mean
 * error is below 4 and no sample is off by more than 24, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <turbojpeg.h>

#include "testutil.h"
#include "v4l2sim/simpattern.h"
#include "v4l2sim/simstamp.h"

int
main(int argc, char **argv)
{
	struct simpattern sp;
	unsigned char *jpeg, *planes[3];
	size_t len = 0;
	uint64_t seq, real_ns;
	tjhandle tj;
	int w, h, ss, cs, strides[3], cw, ch, points = 0, worst = 0, grey;
	int rgb = 0;
	unsigned char *pixels = NULL;
	double sum = 0;

	if (argc == 3 && strcmp(argv[1], "--rgb") == 0) {
		rgb = 1;
		argv++;
		argc--;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: simcmp [--rgb] FILE.jpg\n");
		return 2;
	}
	if ((jpeg = tu_read_file(argv[1], &len)) == NULL) {
		perror(argv[1]);
		return 1;
	}
	if (simstamp_from_jpeg(jpeg, len, &seq, &real_ns) != 0) {
		fprintf(stderr, "simcmp: no simulator stamp in %s\n", argv[1]);
		return 1;
	}
	tj = tjInitDecompress();
	if (tjDecompressHeader3(tj, jpeg, len, &w, &h, &ss, &cs) != 0) {
		fprintf(stderr, "simcmp: %s: %s\n", argv[1], tjGetErrorStr2(tj));
		return 1;
	}
	/* Grayscale: one plane, and the picture's luma is all there is. */
	grey = ss == TJSAMP_GRAY;
	cw = grey ? 1 : tjPlaneWidth(1, w, ss);
	ch = grey ? 1 : tjPlaneHeight(1, h, ss);
	strides[0] = w;
	strides[1] = strides[2] = cw;
	planes[0] = malloc((size_t)w * h);
	planes[1] = malloc((size_t)cw * ch);
	planes[2] = malloc((size_t)cw * ch);
	if (tjDecompressToYUVPlanes(tj, jpeg, len, planes, w, strides, h, 0)
	    != 0) {
		fprintf(stderr, "simcmp: %s: %s\n", argv[1], tjGetErrorStr2(tj));
		return 1;
	}
	if (rgb) {
		pixels = malloc((size_t)w * h * 3);
		if (tjDecompress2(tj, jpeg, len, pixels, w, 0, h, TJPF_RGB, 0)
		    != 0) {
			fprintf(stderr, "simcmp: %s\n", tjGetErrorStr2(tj));
			return 1;
		}
	}
	simpattern_init(&sp, (uint32_t)w, (uint32_t)h);

	/* The middle of each bar, and of the block. */
	for (int i = 0; i < 9; i++) {
		uint32_t x, y;
		struct yuv want;
		int got[3], cx, cy;

		if (i < 8) {
			x = sp.sp_bar_width * (uint32_t)i + sp.sp_bar_width / 2;
			y = (sp.sp_band + sp.sp_bars_bottom) / 2;
		} else {
			if (sp.sp_block_size == 0)
				break;
			x = simpattern_block_x(&sp, seq) + sp.sp_block_size / 2;
			y = sp.sp_block_y + sp.sp_block_size / 2;
		}
		if (x >= (uint32_t)w || y >= (uint32_t)h)
			continue;
		want = simpattern_pixel(&sp, seq, real_ns, x, y);
		cx = (int)x * cw / w;
		cy = (int)y * ch / h;
		got[0] = planes[0][(size_t)y * (size_t)w + x];
		got[1] = grey ? want.u : planes[1][(size_t)cy * (size_t)cw +
		    (size_t)cx];
		got[2] = grey ? want.v : planes[2][(size_t)cy * (size_t)cw +
		    (size_t)cx];
		int d[3] = { abs(got[0] - want.y), abs(got[1] - want.u),
		    abs(got[2] - want.v) };
		if (rgb) {
			uint8_t w3[3];
			const unsigned char *px = pixels +
			    ((size_t)y * (size_t)w + x) * 3;
			simpattern_to_rgb(want, w3);
			for (int k = 0; k < 3; k++)
				d[k] = abs((int)px[k] - (int)w3[k]);
		}
		for (int k = 0; k < 3; k++) {
			sum += d[k];
			worst = d[k] > worst ? d[k] : worst;
		}
		points++;
	}
	free(pixels);
	for (int i = 0; i < 3; i++)
		free(planes[i]);
	free(jpeg);
	tjDestroy(tj);
	printf("seq=%llu width=%d height=%d points=%d mean=%.2f max=%d\n",
	    (unsigned long long)seq, w, h, points,
	    points ? sum / (3.0 * points) : 0.0, worst);
	return points >= 8 && sum / (3.0 * points) < 4.0 && worst <= 24 ? 0 : 1;
}
