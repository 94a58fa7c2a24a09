/*
 * fuzz_mp4.c - the fragmented MP4 writer (server/mp4.c) against
 * arbitrary access units, as another process's shared memory could hand
 * them over (the parser under it, common/h264.c, has fuzz_h264).
 *
 * The first byte picks what the rest is:
 *
 *   even  length-prefixed units whose first SPS and PPS make an init
 *         segment
 *   odd   a fragment: a 64-bit decode time, a sample count (1 to 16), then
 *      per sample a 16-bit duration, a 16-bit length and that many bytes
 *      of access unit (length-prefixed units, as the H.264 ring holds
 *      them), each copied into an allocation of exactly its size
 *
 * Whatever the writers accept, they must write exactly the size they
 * measured, nothing past a short capacity, and boxes that nest: sizes
 * that add up, a trun whose sizes and data offset match the mdat, sample
 * sizes that match mp4_sample_size().  Errors must be documented ones.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h264.h"
#include "mp4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* Boxes of buf[0..len) fill it exactly, each at least a header. */
static void
check_boxes(const uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		if (len - off < 8 || be32(buf + off) < 8 ||
		    be32(buf + off) > len - off)
			abort();
		off += be32(buf + off);
	}
}

/* Writes with exactly n bytes of room, and with one byte less plus a
 * guard that must stay untouched. */
static uint8_t *
write_exact(ssize_t (*fn)(uint8_t *, size_t, const void *), const void *arg,
    ssize_t n)
{
	uint8_t *out = malloc((size_t)n), *small = malloc((size_t)n + 8);

	if (out == NULL || small == NULL)
		abort();
	if (fn(out, (size_t)n, arg) != n)
		abort();
	memset(small, 0xa5, (size_t)n + 8);
	if (fn(small, (size_t)n - 1, arg) != n)
		abort();
	for (size_t i = (size_t)n - 1; i < (size_t)n + 8; i++)
		if (small[i] != 0xa5)
			abort();
	/* What fit is what the full write wrote. */
	if (memcmp(small, out, (size_t)n - 1) != 0)
		abort();
	free(small);
	return out;
}

static ssize_t
init_fn(uint8_t *buf, size_t cap, const void *arg)
{
	return mp4_write_init(buf, cap, arg);
}

static ssize_t
frag_fn(uint8_t *buf, size_t cap, const void *arg)
{
	return mp4_write_fragment(buf, cap, arg);
}

static void
fuzz_init(const uint8_t *buf, size_t len)
{
	struct mp4_track t;
	uint8_t *out;
	ssize_t n;

	if (mp4_au_parameter_sets(buf, len, &t.sps, &t.sps_len, &t.pps,
	    &t.pps_len) != 0)
		return;
	n = mp4_write_init(NULL, 0, &t);
	if (n == -EBADMSG || n == -ENOTSUP || n == -EINVAL)
		return;
	if (n < 100)
		abort();
	out = write_exact(init_fn, &t, n);
	check_boxes(out, (size_t)n);
	if (memcmp(out + 4, "ftyp", 4) != 0)
		abort();
	free(out);
}

#define MAX_SAMPLES	16

static void
fuzz_fragment(const uint8_t *data, size_t size)
{
	struct mp4_sample s[MAX_SAMPLES];
	uint8_t *copies[MAX_SAMPLES] = { NULL };
	struct mp4_fragment fr;
	const uint8_t *trun, *mdat, *moof;
	uint8_t *out;
	uint64_t sum = 0;
	unsigned i, ns;
	ssize_t n, ss;

	if (size < 9)
		return;
	memcpy(&fr.decode_time, data, 8);
	fr.sequence = (uint32_t)fr.decode_time;
	/* A prft with a capture time or none, by a bit of the input. */
	fr.capture_real_ns = (data[8] & 0x80) ? fr.decode_time * 1000u : 0;
	ns = 1 + data[8] % MAX_SAMPLES;
	data += 9;
	size -= 9;
	for (i = 0; i < ns; i++) {
		size_t len;

		if (size < 4)
			break;
		s[i].duration = (uint32_t)data[0] << 8 | data[1];
		s[i].sync = data[0] & 1;
		len = (size_t)data[2] << 8 | data[3];
		data += 4;
		size -= 4;
		if (len > size)
			len = size;
		copies[i] = malloc(len ? len : 1);
		if (copies[i] == NULL)
			abort();
		memcpy(copies[i], data, len);
		s[i].au = copies[i];
		s[i].au_len = len;
		data += len;
		size -= len;
	}
	fr.samples = s;
	fr.nsamples = i;
	n = mp4_write_fragment(NULL, 0, &fr);
	if (n == -EINVAL || n == -EBADMSG)
		goto out;
	if (n < 0 || fr.nsamples == 0)
		abort();
	out = write_exact(frag_fn, &fr, n);
	check_boxes(out, (size_t)n);
	/* [prft 32] moof (mfhd 16, traf: 8 + tfhd 16 + tfdt 20 + trun) then
	 * mdat */
	moof = out;
	if (fr.capture_real_ns != 0) {
		if (memcmp(out + 4, "prft", 4) != 0 || be32(out) != 32)
			abort();
		moof = out + 32;
	}
	if (memcmp(moof + 4, "moof", 4) != 0)
		abort();
	trun = moof + 8 + 16 + 8 + 16 + 20;
	mdat = moof + be32(moof);
	if (memcmp(trun + 4, "trun", 4) != 0 || be32(trun + 12) != fr.nsamples ||
	    memcmp(mdat + 4, "mdat", 4) != 0 ||
	    be32(trun + 16) != (uint32_t)(mdat + 8 - moof))
		abort();
	for (i = 0; i < fr.nsamples; i++) {
		ss = mp4_sample_size(s[i].au, s[i].au_len);
		if (ss <= 0 || be32(trun + 24 + 12 * i) != (uint32_t)ss ||
		    be32(trun + 20 + 12 * i) != s[i].duration)
			abort();
		sum += (uint64_t)ss;
	}
	if (sum + 8 != be32(mdat))
		abort();
	free(out);
out:
	for (i = 0; i < MAX_SAMPLES; i++)
		free(copies[i]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	if (size < 1)
		return 0;
	copy = malloc(size);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	if (copy[0] % 2 == 0)
		fuzz_init(copy + 1, size - 1);
	else
		fuzz_fragment(copy + 1, size - 1);
	free(copy);
	return 0;
}
