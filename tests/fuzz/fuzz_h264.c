/*
 * fuzz_h264.c - a camera's H.264 (capture/h264pass.c) and the H.264
 * parser (common/h264.c) against arbitrary bytes.
 *
 * The input is a stream of access units as a camera would hand them
 * over, each a two-byte little-endian length and that many bytes.  They
 * go through one filter, in order (so that its state, the parameter sets
 * kept and whether it waits for an IDR, is fuzzed too).  Whatever the
 * filter accepts must be a ring payload h264_au_check() accepts, a
 * keyframe exactly when it is an IDR, starting with an SPS that parses to
 * the size the filter reported, and no longer than h264pass_max_out()
 * promised; every call returns one of the documented values.  Each unit
 * is also walked as Annex B and checked as a ring payload directly.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h264.h"
#include "h264pass.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
parse_all(const uint8_t *buf, size_t len)
{
	struct h264_nal nal;
	struct h264_sps sps;
	struct h264_pps pps;
	struct h264_slice slice;
	struct h264_au_info info;
	size_t pos = 0;
	int rc;

	while ((rc = h264_annexb_next(buf, len, &pos, &nal)) == 1) {
		if (nal.len == 0 || nal.data < buf || nal.data + nal.len >
		    buf + len || pos > len)
			abort();
		rc = h264_sps_parse(nal.data, nal.len, &sps);
		if (rc != 0 && rc != -EBADMSG && rc != -ENOTSUP)
			abort();
		rc = h264_pps_parse(nal.data, nal.len, &pps);
		if (rc != 0 && rc != -EBADMSG && rc != -ENOTSUP)
			abort();
		rc = h264_slice_parse(nal.data, nal.len, &slice);
		if (rc != 0 && rc != -EBADMSG)
			abort();
	}
	if (rc != 0 && rc != -EBADMSG)
		abort();
	rc = h264_au_check(buf, len, &info);
	if (rc != 0 && rc != -EBADMSG)
		abort();
	if (rc == 0 && (info.slices == 0 || info.sps_off + info.sps_len > len ||
	    info.pps_off + info.pps_len > len))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct h264pass hp;
	static uint8_t out[1 << 18];
	struct h264pass_out o;
	struct h264_au_info info;
	struct h264_sps sps;
	size_t i = 0, len;
	int rc;

	h264pass_init(&hp);
	while (i + 2 <= size) {
		len = (size_t)data[i] | (size_t)data[i + 1] << 8;
		i += 2;
		if (len > size - i)
			len = size - i;
		parse_all(data + i, len);
		rc = h264pass_filter(&hp, data + i, len, out,
		    h264pass_max_out(len), &o);
		if (rc != 0 && rc != -EBADMSG && rc != -ENOTSUP &&
		    rc != -EAGAIN)
			abort();
		if (rc == 0) {
			if (o.len > h264pass_max_out(len) ||
			    h264_au_check(out, o.len, &info) != 0 ||
			    info.idr != o.keyframe)
				abort();
			if (o.keyframe && (h264_sps_parse(out + info.sps_off,
			    info.sps_len, &sps) != 0 || sps.width != o.width ||
			    sps.height != o.height))
				abort();
		}
		/* Too small a buffer: refused, nothing written past it. */
		rc = h264pass_filter(&hp, data + i, len, out, 16, &o);
		if (rc == 0 && o.len > 16)
			abort();
		i += len;
	}
	return 0;
}
