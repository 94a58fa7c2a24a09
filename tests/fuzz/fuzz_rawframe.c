/*
 * fuzz_rawframe.c - raw frames whose geometry a driver reported
 * (capture/rawframe.h, capture/encode.h): any format of the table, any
 * size, buffer count, strides and lengths.
 *
 * Each buffer is an allocation of exactly the length the "driver" gave,
 * so AddressSanitizer reports any read past it.  rawframe_describe()
 * must return 0 or -EINVAL; a frame it accepts must pass
 * rawframe_check(), encode (0: every accepted geometry is one the
 * encoder takes) into encoder_max_size() bytes, and copy into a tight
 * layout of the same format and back.
 *
 * Input: format index, width and height (16 bits each, cut to 1..256 to
 * keep each run short), buffer count, three strides and three lengths
 * (16 bits each), then the bytes the buffers are filled from, repeated.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "encode.h"
#include "rawframe.h"

#define HDR	(1 + 2 + 2 + 1 + 3 * 2 + 3 * 2)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t
u16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct encoder enc;
	static int ready;
	const struct rawformat *f;
	struct rawframe rf, tight, back;
	uint8_t *buf[3] = { NULL, NULL, NULL }, *out, *t;
	size_t len[3], tlen, cap, jlen, n = 0;
	uint32_t stride[3], w, h, zero = 0;
	unsigned nbuf, i;
	int rc;

	if (size < HDR)
		return 0;
	if (!ready) {
		if (encoder_init(&enc, 75) != 0)
			abort();
		ready = 1;
	}
	for (n = 0; rawformat_at(n) != NULL; n++)
		;
	f = rawformat_at(data[0] % n);
	w = u16(data + 1) % 256 + 1;
	h = u16(data + 3) % 256 + 1;
	nbuf = data[5] % 3 + 1;
	for (i = 0; i < 3; i++) {
		stride[i] = u16(data + 6 + 2 * i);
		len[i] = u16(data + 12 + 2 * i);
	}
	data += HDR;
	size -= HDR;
	for (i = 0; i < nbuf; i++) {
		if ((buf[i] = malloc(len[i] ? len[i] : 1)) == NULL)
			goto done;
		for (size_t k = 0; k < len[i]; k++)
			buf[i][k] = size ? data[k % size] : (uint8_t)k;
	}
	rc = rawframe_describe(&rf, f, w, h, nbuf, buf, len, stride);
	if (rc == -EINVAL)
		goto done;
	if (rc != 0 || rawframe_check(&rf) != 0)
		abort();
	cap = encoder_max_size(w, h);
	if ((out = malloc(cap)) == NULL)
		goto done;
	if (encoder_encode(&enc, &rf, out, cap, &jlen) != 0 || jlen == 0 ||
	    jlen > cap)
		abort();
	free(out);
	/* Into an unpadded layout of its own, in one buffer if the format
	 * has one, and back: the same samples. */
	tlen = 0;
	for (i = 0; i < rawformat_planes(f); i++)
		tlen += rawformat_row_bytes(f, i, w) * rawformat_rows(f, i, h);
	if (f->rf_buffers == 1 && (t = malloc(tlen)) != NULL) {
		if (rawframe_describe(&tight, f, w, h, 1, &t, &tlen, &zero) !=
		    0 || rawframe_copy(&tight, &rf) != 0)
			abort();
		back = rf;
		if (rawframe_copy(&back, &tight) != 0)
			abort();
		free(t);
	}
done:
	for (i = 0; i < 3; i++)
		free(buf[i]);
	return 0;
}
