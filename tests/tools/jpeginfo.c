/*
 * jpeginfo - decodes JPEG files completely with TurboJPEG and prints
 * "WIDTH HEIGHT" for each; exits 1 if any does not decode.  With
 * --pixel X,Y it also prints the RGB value at that point.
 *
 * Used by the integration tests to check that what the streamer sends is
 * a picture, not just bytes that start with FF D8.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <turbojpeg.h>

#include "testutil.h"

int
main(int argc, char **argv)
{
	tjhandle tj = tjInitDecompress();
	int px = -1, py = -1, status = 0, i = 1;

	if (argc > 2 && strcmp(argv[1], "--pixel") == 0) {
		if (sscanf(argv[2], "%d,%d", &px, &py) != 2)
			return 2;
		i = 3;
	}
	if (tj == NULL || i >= argc) {
		fprintf(stderr, "usage: jpeginfo [--pixel X,Y] FILE...\n");
		return 2;
	}
	for (; i < argc; i++) {
		size_t len = 0;
		unsigned char *jpeg = tu_read_file(argv[i], &len), *rgb;
		int w, h, sub, cs;

		if (jpeg == NULL || tjDecompressHeader3(tj, jpeg, len, &w, &h,
		    &sub, &cs) != 0 || w <= 0 || h <= 0) {
			fprintf(stderr, "%s: not a JPEG: %s\n", argv[i],
			    jpeg ? tjGetErrorStr2(tj) : "unreadable");
			free(jpeg);
			status = 1;
			continue;
		}
		rgb = malloc((size_t)w * (size_t)h * 3);
		/* Warnings (e.g. a truncated scan) count as failures too. */
		if (rgb == NULL || tjDecompress2(tj, jpeg, len, rgb, w, 0, h,
		    TJPF_RGB, TJFLAG_STOPONWARNING) != 0) {
			fprintf(stderr, "%s: does not decode: %s\n", argv[i],
			    tjGetErrorStr2(tj));
			status = 1;
		} else if (px >= 0 && px < w && py >= 0 && py < h) {
			const unsigned char *p = rgb + ((size_t)py * w + px) * 3;
			printf("%d %d %u %u %u\n", w, h, p[0], p[1], p[2]);
		} else
			printf("%d %d\n", w, h);
		free(rgb);
		free(jpeg);
	}
	tjDestroy(tj);
	return status;
}
