/*
 * simframe - writes the bytes the simulated camera (tests/v4l2sim) sends
 * for one frame, so that a test can compare what a streamer published
 * with what the device gave it:
 *
 *   simframe FOURCC WxH QUALITY SEQ REAL_NS OUT [no-dht]
 *
 * SEQ and REAL_NS are the frame's stamp (simstamp.h); the simulator's
 * frames are a pure function of them, its format, size and quality
 * (V4L2SIM_QUALITY: tests set it, so both sides agree).  Exit 0, or 1
 * with a message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "v4l2sim/sim.h"

int
main(int argc, char **argv)
{
	struct sim_frames *sf;
	struct sim_paint paint;	/* zeroed: paint the whole frame */
	unsigned w, h;
	uint32_t fourcc;
	uint8_t *buf;
	size_t len;
	char err[160];
	FILE *out;

	if ((argc != 7 && argc != 8) || strlen(argv[1]) != 4 ||
	    sscanf(argv[2], "%ux%u", &w, &h) != 2) {
		fprintf(stderr, "usage: simframe FOURCC WxH QUALITY SEQ "
		    "REAL_NS OUT [no-dht]\n");
		return 2;
	}
	fourcc = (uint32_t)argv[1][0] | (uint32_t)argv[1][1] << 8 |
	    (uint32_t)argv[1][2] << 16 | (uint32_t)argv[1][3] << 24;
	if (sim_frames_new(&sf, fourcc, w, h, 1, atoi(argv[3]),
	    argc == 8 && strcmp(argv[7], "no-dht") == 0, NULL, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "simframe: %s\n", err);
		return 1;
	}
	/* Raw formats of a buffer per plane are not written out. */
	if (sim_frames_nbuf(sf) != 1 ||
	    (buf = malloc(sim_frames_max(sf, 0))) == NULL)
		return 1;
	memset(&paint, 0, sizeof(paint));
	len = sim_frames_fill(sf, &buf, strtoull(argv[4], NULL, 10),
	    strtoull(argv[5], NULL, 10), SIM_FRAME_GOOD, &paint, NULL);
	if ((out = fopen(argv[6], "wb")) == NULL ||
	    fwrite(buf, 1, len, out) != len || fclose(out) != 0) {
		perror(argv[6]);
		return 1;
	}
	free(buf);
	sim_frames_free(sf);
	return 0;
}
