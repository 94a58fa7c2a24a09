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
 *
 * mjpeg_check() takes the end of the frame from the buffer's tail where
 * it can; mjpeg_check_scan() walks the entropy-coded data.  Every frame
 * the walk accepts, the check accepts with the same info and a length
 * no shorter (an EOI inside the data: the walk stops there, the check
 * at the last).  What only the check accepts (a marker with no place in
 * the data, an EOI inside it that leaves too short a frame) ends with a
 * clean EOI after the first scan's header; every frame the check
 * refuses, the walk refuses for the same reason.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mjpeg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where the data of the scan whose marker (fill bytes first) is at off
 * starts: after the SOS segment. */
static size_t
scan_data(const uint8_t *buf, size_t off)
{
	while (buf[off] == 0xff)
		off++;
	return off + 1 + ((size_t)buf[off + 1] << 8 | buf[off + 2]);
}

static int
all_zero(const uint8_t *p, size_t n)
{
	while (n > 0)
		if (p[--n] != 0)
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mjpeg_info info, walk, again;
	uint8_t *in, *out, *small;
	size_t need, outlen = 0;
	int rc, rc_walk;

	in = malloc(size ? size : 1);
	if (in == NULL)
		return 0;
	memcpy(in, data, size);
	rc = mjpeg_check(in, size, &info);
	rc_walk = mjpeg_check_scan(in, size, &walk);
	if (rc != 0 && rc_walk != rc)
		abort();	/* the check refuses what the walk does not */
	if (rc_walk == 0 && (rc != 0 || walk.length > info.length ||
	    walk.sos_offset != info.sos_offset || walk.width != info.width ||
	    walk.height != info.height || walk.sof != info.sof ||
	    walk.components != info.components ||
	    walk.has_dht != info.has_dht || walk.needs_dht != info.needs_dht))
		abort();	/* a frame the two see differently */
	if (rc == 0 && (rc_walk != 0 || walk.length != info.length) &&
	    (!all_zero(in + info.length, size - info.length) ||
	    info.length - 2 < scan_data(in, info.sos_offset)))
		abort();	/* only a clean tail skips the walk */
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
