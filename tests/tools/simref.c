/*
 * simref - the simulated camera's picture (tests/v4l2sim/simpattern.h)
 * for each decoded frame of a file, to compare them (SSIM):
 *
 *   simref WxH IN.yuv OUT.yuv [grey]
 *
 * IN holds 4:2:0 frames (ffmpeg -f rawvideo of a decode, in the decoder's
 * own pixel format: yuv420p or yuvj420p, the same planes).  For each one
 * the barcode is read from its luma (simstamp_from_luma()) and the frame
 * the camera made for that sequence and time is written to OUT, also
 * 4:2:0; with "grey", its chroma neutral, as a GREY camera sends it.
 * Prints "frame K seq S" per frame.  Exit 0, 1 if a barcode cannot be
 * read (the frame is not the camera's, or too damaged), 2 (usage).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "v4l2sim/simpattern.h"
#include "v4l2sim/simstamp.h"

int
main(int argc, char **argv)
{
	struct simpattern pat;
	struct simpattern_rect r[SIMPATTERN_OVERLAY_MAX];
	uint8_t *in, *bg, *out;
	unsigned w, h, n, k, row;
	uint64_t seq, real_ns;
	size_t ys, fsize;
	FILE *fi, *fo;
	int grey, rc;

	if ((argc != 4 && argc != 5) || sscanf(argv[1], "%ux%u", &w, &h) != 2 ||
	    w < 16 || h < 16 || (w & 1) || (h & 1)) {
		fprintf(stderr, "usage: simref WxH IN.yuv OUT.yuv [grey]\n");
		return 2;
	}
	grey = argc == 5 && strcmp(argv[4], "grey") == 0;
	ys = (size_t)w * h;
	fsize = ys * 3 / 2;
	in = malloc(fsize);
	bg = malloc(fsize);
	out = malloc(fsize);
	if (in == NULL || bg == NULL || out == NULL)
		return 1;
	simpattern_init(&pat, w, h);
	simpattern_render_i420(&pat, bg, w, bg + ys, bg + ys * 5 / 4, w / 2);
	if ((fi = fopen(argv[2], "rb")) == NULL ||
	    (fo = fopen(argv[3], "wb")) == NULL) {
		perror("simref");
		return 1;
	}
	for (k = 0; fread(in, 1, fsize, fi) == fsize; k++) {
		rc = simstamp_from_luma(in, w, 1, w, h, &seq, &real_ns);
		if (rc != 0) {
			fprintf(stderr, "simref: frame %u: no barcode (%d)\n", k,
			    rc);
			return 1;
		}
		memcpy(out, bg, fsize);
		n = (unsigned)simpattern_overlay(&pat, seq, real_ns, r);
		for (unsigned i = 0; i < n; i++) {
			for (row = r[i].y; row < r[i].y + r[i].h; row++)
				memset(out + row * w + r[i].x, r[i].c.y, r[i].w);
			for (row = r[i].y / 2; row < (r[i].y + r[i].h) / 2;
			    row++) {
				memset(out + ys + row * (w / 2) + r[i].x / 2,
				    r[i].c.u, r[i].w / 2);
				memset(out + ys * 5 / 4 + row * (w / 2) +
				    r[i].x / 2, r[i].c.v, r[i].w / 2);
			}
		}
		if (grey)
			memset(out + ys, 128, ys / 2);
		if (fwrite(out, 1, fsize, fo) != fsize) {
			perror("simref");
			return 1;
		}
		printf("frame %u seq %llu\n", k, (unsigned long long)seq);
	}
	if (fclose(fo) != 0)
		return 1;
	fclose(fi);
	free(in);
	free(bg);
	free(out);
	return 0;
}
