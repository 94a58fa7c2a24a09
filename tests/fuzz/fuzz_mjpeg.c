/*
 * fuzz_mjpeg.c - the camera JPEG checks and repairs (capture/mjpeg.h)
 * against arbitrary frames.
 *
 * The input is a frame as a device would hand it over, copied into an
 * allocation of exactly its size, so AddressSanitizer reports any read
 * past it.  mjpeg_check() must return 0 or a documented error.  A frame
 * it accepts must be consistent with what it reported (length within the
 * input and ending with EOI: the padding after it trimmed; the scan
 * inside; a size), and mjpeg_repair() must write exactly
 * mjpeg_repaired_len() bytes into a buffer of exactly that size, refuse
 * one byte less, and produce a frame that passes the check again, with
 * tables, unchanged by a second repair.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mjpeg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mjpeg_info info, again;
	uint8_t *in, *out, *small;
	size_t need, outlen = 0;
	int rc;

	in = malloc(size ? size : 1);
	if (in == NULL)
		return 0;
	memcpy(in, data, size);
	rc = mjpeg_check(in, size, &info);
	switch (rc) {
	case 0:
		break;
	case -EMSGSIZE: case -ENOMSG: case -EBADMSG: case -ENODATA:
		free(in);
		return 0;
	default:
		abort();	/* undocumented */
	}

	/* What the check reported about an accepted frame. */
	if (info.length < MJPEG_MIN_LEN || info.length > size ||
	    in[info.length - 2] != 0xff || in[info.length - 1] != 0xd9 ||
	    info.sos_offset < 2 || info.sos_offset >= info.length ||
	    in[info.sos_offset] != 0xff || info.width == 0 ||
	    info.height == 0 || info.components < 1 || info.components > 4 ||
	    (info.needs_dht && info.has_dht))
		abort();

	/* Repair into exactly the room it needs, and one byte less. */
	need = mjpeg_repaired_len(&info);
	if (need != info.length + (info.needs_dht ? MJPEG_DHT_LEN : 0))
		abort();
	out = malloc(need);
	small = malloc(need - 1);
	if (out == NULL || small == NULL)
		abort();
	if (mjpeg_repair(in, &info, small, need - 1, &outlen) != -ENOBUFS)
		abort();
	if (mjpeg_repair(in, &info, out, need, &outlen) != 0 || outlen != need)
		abort();
	/* Nothing but the tables was added, in front of the first scan. */
	if (memcmp(out, in, info.sos_offset) != 0 ||
	    memcmp(out + need - (info.length - info.sos_offset),
	    in + info.sos_offset, info.length - info.sos_offset) != 0)
		abort();

	/* The repaired frame is a frame, with tables, repaired as it is. */
	if (mjpeg_check(out, need, &again) != 0 || again.length != need ||
	    again.needs_dht || again.width != info.width ||
	    again.height != info.height || again.sof != info.sof ||
	    mjpeg_repaired_len(&again) != need)
		abort();
	free(small);
	free(out);
	free(in);
	return 0;
}
