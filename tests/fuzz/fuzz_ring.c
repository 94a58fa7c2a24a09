/*
 * fuzz_ring.c - the ring reader against arbitrary shared memory.
 *
 * The input is the whole mapping: header and slots, any length (so also a
 * mapping shorter than the geometry its header claims).  It is copied into
 * an allocation of exactly that size, so AddressSanitizer reports any read
 * outside the mapping.  Every call must return 0 or one of the errors
 * ring.h documents; anything else aborts, and so does an attached ring
 * of a codec this build does not know or parameters longer than their
 * field.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

static int
documented(int rc)
{
	switch (rc) {
	case 0: case -EMSGSIZE: case -ENOMSG: case -EPROTONOSUPPORT:
	case -EPROTO: case -ERANGE: case -ESTALE: case -ENODATA:
	case -EAGAIN: case -EBUSY: case -ENOBUFS: case -EBADMSG:
	case -EMEDIUMTYPE:
		return 1;
	default:
		return 0;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[1 << 20];
	struct ring_reader r;
	struct ring_geometry geo;
	struct ring_status st;
	struct ring_counters c;
	struct ring_params p;
	struct ring_frame f;
	uint8_t *mem;
	uint64_t after;
	int rc;

	if (size == 0 || posix_memalign((void **)&mem, 64, size) != 0)
		return 0;
	memcpy(mem, data, size);

	rc = ring_header_validate(mem, size, &geo);
	if (!documented(rc))
		abort();
	rc = ring_reader_attach_mem(&r, mem, size);
	if (!documented(rc))
		abort();
	if (rc == 0) {
		if (r.rr_geo.map_size > size)
			abort();
		/* "after" values from the input's tail, and the edges. */
		memcpy(&after, data + size - (size >= 8 ? 8 : size),
		    size >= 8 ? 8 : 0);
		const uint64_t afters[] = { 0, 1, after, after - 1, UINT64_MAX };
		for (size_t i = 0; i < sizeof(afters) / sizeof(afters[0]); i++) {
			/* A buffer too small, then one large enough. */
			rc = ring_read_latest(&r, afters[i], &f, out, 100);
			if (!documented(rc))
				abort();
			rc = ring_read_latest(&r, afters[i], &f, out,
			    sizeof(out));
			if (!documented(rc))
				abort();
			if (rc == 0 && (f.length == 0 || f.length >
			    r.rr_geo.slot_size - RING_SLOT_HEADER_SIZE ||
			    f.seq <= afters[i]))
				abort();
			rc = ring_read_next(&r, afters[i], &f, out,
			    sizeof(out));
			if (!documented(rc))
				abort();
		}
		rc = ring_read_status(&r, &st);
		if (!documented(rc))
			abort();
		if (rc == 0 && (memchr(st.source, 0, sizeof(st.source)) ==
		    NULL || memchr(st.reason, 0, sizeof(st.reason)) == NULL))
			abort();
		rc = ring_read_params(&r, &p);
		if (!documented(rc) || (rc == 0 && p.len > RING_PARAMS_MAX))
			abort();
		ring_read_counters(&r, &c);
		if (r.rr_geo.codec != RING_CODEC_JPEG &&
		    r.rr_geo.codec != RING_CODEC_H264)
			abort();
		(void)ring_latest(&r);
		(void)ring_reader_check(&r);
		ring_reader_close(&r);
	}
	free(mem);
	return 0;
}
