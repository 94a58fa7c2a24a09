/*
 * fuzz_multipart.c - the multipart/x-mixed-replace parser
 * (capture/multipart.h) against arbitrary streams.
 *
 * Input: one byte of settings (declared boundary or none, which one, how
 * to cut the stream), then the body.  The body is parsed twice: whole,
 * and cut into pieces of pseudo-random sizes, each piece an allocation
 * of exactly its size, so AddressSanitizer reports any read past it.
 * Checks: only documented return values; never more taken than given;
 * every part within the limits and non-empty, with a plausible
 * timestamp; and both runs give the same parts, byte for byte, and the
 * same outcome: where the network cuts the stream never matters.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_PARTS	64

static const struct multipart_limits lim = {
	.max_part = 4096, .max_head = 512, .max_headers = 8,
};

static const char *const boundaries[] = {
	"b", "--b", "boundarydonotcross", "123456789000000000000987654321",
};

struct run {
	size_t		 n;
	uint64_t	 hash[FUZZ_PARTS];	/* FNV-1a of each part */
	size_t		 len[FUZZ_PARTS];
	uint64_t	 ts[FUZZ_PARTS];
	int		 rc;
};

static uint64_t
fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 14695981039346656037ull;

	while (n-- > 0)
		h = (h ^ *p++) * 1099511628211ull;
	return h;
}

/* Feeds one piece; 0 to go on, 1 once the run ended with an error. */
static int
run_piece(struct multipart *mp, const uint8_t *piece, size_t n,
    struct run *r)
{
	struct multipart_part part;
	size_t at = 0, used;
	int rc;

	while (at < n) {
		memset(&part, 0, sizeof(part));
		rc = multipart_feed(mp, piece + at, n - at, &used, &part);
		if (used > n - at)
			abort();
		at += used;
		switch (rc) {
		case 0:
			if (at != n)
				abort();
			return 0;
		case 1:
			break;
		case -EMSGSIZE: case -E2BIG: case -EBADMSG: case -ESHUTDOWN:
			if (mp->mp_why[0] == '\0')
				abort();
			r->rc = rc;
			return 1;
		default:
			abort();	/* undocumented (or out of memory) */
		}
		if (part.data == NULL || part.length == 0 ||
		    part.length > lim.max_part ||
		    (part.timestamp_ns != 0 &&
		    part.timestamp_ns < 1000000000ull))
			abort();
		if (r->n < FUZZ_PARTS) {
			r->hash[r->n] = fnv(part.data, part.length);
			r->len[r->n] = part.length;
			r->ts[r->n] = part.timestamp_ns;
		}
		r->n++;
	}
	return 0;
}

static void
run(const char *boundary, const uint8_t *data, size_t size, unsigned seed,
    struct run *r)
{
	struct multipart mp;
	size_t off = 0, n;
	uint8_t *piece;
	int done = 0;

	memset(r, 0, sizeof(*r));
	if (multipart_init(&mp, boundary, &lim) != 0)
		abort();
	while (off < size && !done) {
		if (seed == 0)
			n = size - off;
		else {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % (seed & 0x100 ? 7 : 300);
			if (n > size - off)
				n = size - off;
		}
		if ((piece = malloc(n)) == NULL)
			abort();
		memcpy(piece, data + off, n);
		done = run_piece(&mp, piece, n, r);
		free(piece);
		off += n;
	}
	multipart_free(&mp);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *boundary;
	struct run whole, pieces;
	unsigned seed;

	if (size < 1)
		return 0;
	boundary = data[0] & 1 ? NULL : boundaries[(data[0] >> 1) & 3];
	seed = (unsigned)data[0] | 1u;
	run(boundary, data + 1, size - 1, 0, &whole);
	run(boundary, data + 1, size - 1, seed, &pieces);
	if (whole.n != pieces.n || whole.rc != pieces.rc)
		abort();
	for (size_t i = 0; i < whole.n && i < FUZZ_PARTS; i++)
		if (whole.len[i] != pieces.len[i] ||
		    whole.hash[i] != pieces.hash[i] ||
		    whole.ts[i] != pieces.ts[i])
			abort();
	return 0;
}
