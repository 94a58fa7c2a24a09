/*
 * ringinfo - prints what a ring's header and newest frame say, one
 * key=value per line, for tests and for looking at a running capture:
 *
 *   ringinfo NAME [OUT]
 *
 * NAME is the shared-memory object ("shmcam-front", or "shmavc-front"
 * for the H.264 ring); with OUT the newest frame's bytes are written
 * there too.  Exit 0, or 1 with a message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

int
main(int argc, char **argv)
{
	struct ring_reader r;
	struct ring_status st;
	struct ring_counters c;
	struct ring_params p;
	struct ring_frame f;
	uint8_t *buf;
	size_t cap;
	FILE *out;
	int rc;

	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: ringinfo NAME [OUT]\n");
		return 2;
	}
	if ((rc = ring_reader_open(&r, argv[1])) != 0) {
		fprintf(stderr, "ringinfo: %s: %s\n", argv[1],
		    ring_strerror(rc));
		return 1;
	}
	if ((rc = ring_read_status(&r, &st)) != 0) {
		fprintf(stderr, "ringinfo: status: %s\n", ring_strerror(rc));
		return 1;
	}
	ring_read_counters(&r, &c);
	printf("generation=%016llx\nslot_count=%u\nslot_size=%u\ncodec=%s\n",
	    (unsigned long long)r.rr_geo.generation, r.rr_geo.slot_count,
	    r.rr_geo.slot_size, ring_codec_name(r.rr_geo.codec));
	printf("state=%s\nreason=%s\nsource=%s\nwidth=%u\nheight=%u\n"
	    "fps_milli=%u\nformat=%c%c%c%c\n", ring_state_name(st.state),
	    st.reason, st.source, st.width, st.height, st.fps_milli,
	    (char)(st.format & 0xff), (char)((st.format >> 8) & 0xff),
	    (char)((st.format >> 16) & 0xff), (char)((st.format >> 24) & 0xff));
	printf("latest=%llu\ncaptured=%llu\ndropped=%llu\nidle=%llu\n"
	    "restarts=%llu\nservers=%u\nviewers=%u\n",
	    (unsigned long long)c.latest,
	    (unsigned long long)c.frames_captured,
	    (unsigned long long)c.frames_dropped,
	    (unsigned long long)c.frames_idle,
	    (unsigned long long)c.source_restarts, c.servers, c.viewers);
	printf("bytes=%llu\nencode_ns=%llu\nencoded=%llu\nkeyframes=%llu\n"
	    "keyframe_seq=%llu\nkeyframe_requests=%llu\n"
	    "keyframes_forced=%llu\n", (unsigned long long)c.bytes,
	    (unsigned long long)c.encode_ns, (unsigned long long)c.encoded,
	    (unsigned long long)c.keyframes,
	    (unsigned long long)c.keyframe_seq,
	    (unsigned long long)c.keyframe_requests,
	    (unsigned long long)c.keyframes_forced);
	if ((rc = ring_read_params(&r, &p)) != 0) {
		fprintf(stderr, "ringinfo: parameters: %s\n",
		    ring_strerror(rc));
		return 1;
	}
	printf("params_from=%llu\nparams_len=%u\nbitrate_kbps=%u\ngop=%u\n",
	    (unsigned long long)p.from, p.len, p.bitrate_kbps, p.gop);

	cap = r.rr_geo.slot_size - RING_SLOT_HEADER_SIZE;
	if ((buf = malloc(cap)) == NULL)
		return 1;
	rc = ring_read_latest(&r, 0, &f, buf, cap);
	if (rc == 0) {
		printf("frame_seq=%llu\nframe_length=%u\nframe_width=%u\n"
		    "frame_height=%u\nframe_flags=%u\n"
		    "frame_capture_real_ns=%llu\nframe_capture_mono_ns=%llu\n"
		    "frame_publish_real_ns=%llu\nframe_publish_mono_ns=%llu\n",
		    (unsigned long long)f.seq, f.length, f.width, f.height,
		    f.flags, (unsigned long long)f.capture_real_ns,
		    (unsigned long long)f.capture_mono_ns,
		    (unsigned long long)f.publish_real_ns,
		    (unsigned long long)f.publish_mono_ns);
		if (argc == 3) {
			if ((out = fopen(argv[2], "wb")) == NULL ||
			    fwrite(buf, 1, f.length, out) != f.length ||
			    fclose(out) != 0) {
				fprintf(stderr, "ringinfo: %s: %s\n", argv[2],
				    strerror(errno));
				return 1;
			}
		}
	} else if (rc != -ENODATA) {
		fprintf(stderr, "ringinfo: frame: %s\n", ring_strerror(rc));
		return 1;
	}
	free(buf);
	ring_reader_close(&r);
	return 0;
}
