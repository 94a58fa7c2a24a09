/*
 * mp4mux - writes an H.264 elementary stream (Annex-B, as ffmpeg -f h264
 * or x264 write it) as fragmented MP4 through the server's writer
 * (server/mp4.c), with the capture times a camera would give it, so that
 * real demuxers and decoders can judge the result
 * (tests/integration/test_mp4.py).
 *
 *   mp4mux [options] IN.h264 OUT.mp4
 *     --fps F          nominal frame rate (default 30)
 *     --seed N         seed for everything random (default 1)
 *     --jitter MS      each capture time off by up to +-MS ms
 *     --drop P         each frame lost (a gap in time) with probability P
 *     --group N        1 to N samples per fragment, at random (default 1)
 *     --random-sizes   each sample's pictures replaced by one slice of
 *                      random bytes and random size (1 B to 256 KiB), for
 *                      demuxers only: they do not decode
 *
 * Each access unit is converted to length-prefixed units first, as the
 * capture's H.264 ring holds them.
 *     --frames N       at most N frames
 *     --start S        the first capture time, seconds (default 3600;
 *                      CLOCK_MONOTONIC counts from boot)
 *
 * Prints one line per sample written: "DTS DURATION SIZE SYNC" (ticks of
 * MP4_TIMESCALE, bytes of the sample in the mdat, 1 for a sync sample),
 * which is what a demuxer must report.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h264.h"
#include "../server/mp4.h"
#include "testutil.h"

struct au {
	const uint8_t	*p;
	size_t		 len;
};

/* xorshift64*: reproducible from --seed, the same on every machine. */
static uint64_t rng_state = 1;

static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static double
rng_unit(void)
{
	return (double)(rng() >> 11) / 9007199254740992.0;
}

/*
 * Splits an Annex-B stream into access units (H.264 7.4.1.2.3): a unit
 * starts at a delimiter, SPS, PPS or SEI that follows a picture, or at
 * a slice whose first_mb_in_slice is 0 (its first bit set) after one.
 */
static size_t
split_aus(const uint8_t *buf, size_t len, struct au **out)
{
	struct h264_nal nal;
	const uint8_t *au_start = NULL;
	size_t pos = 0, count = 0, cap = 0;
	int have_picture = 0, rc;
	struct au *aus = NULL;

	while ((rc = h264_annexb_next(buf, len, &pos, &nal)) == 1) {
		unsigned t = nal.type;
		int starts = 0;
		/* The start code in front of this unit. */
		const uint8_t *sc = nal.data - 3;

		if (sc > buf && sc[-1] == 0)
			sc--;
		if (t == H264_NAL_AUD || t == H264_NAL_SPS ||
		    t == H264_NAL_PPS || t == H264_NAL_SEI)
			starts = have_picture;
		else if ((t == H264_NAL_SLICE || t == H264_NAL_IDR) &&
		    nal.len > 1 && (nal.data[1] & 0x80))
			starts = have_picture;
		if (au_start == NULL)
			au_start = sc;
		if (starts) {
			if (count == cap) {
				cap = cap ? cap * 2 : 64;
				aus = realloc(aus, cap * sizeof(*aus));
				if (aus == NULL)
					exit(1);
			}
			aus[count].p = au_start;
			aus[count].len = (size_t)(sc - au_start);
			count++;
			au_start = sc;
			have_picture = 0;
		}
		if (t == H264_NAL_SLICE || t == H264_NAL_IDR)
			have_picture = 1;
	}
	if (rc != 0) {
		fprintf(stderr, "mp4mux: input is not Annex-B\n");
		exit(1);
	}
	if (au_start != NULL && have_picture) {
		aus = realloc(aus, (count + 1) * sizeof(*aus));
		if (aus == NULL)
			exit(1);
		aus[count].p = au_start;
		aus[count].len = (size_t)(buf + len - au_start);
		count++;
	}
	*out = aus;
	return count;
}

/* One slice of random bytes, length-prefixed. */
static uint8_t *
random_au(int idr, size_t *len)
{
	size_t n = 1 + (size_t)(rng() % ((rng() % 3 == 0) ? 256 * 1024 :
	    4096));
	uint8_t *p = malloc(n + 4);

	if (p == NULL)
		exit(1);
	p[0] = (uint8_t)(n >> 24);
	p[1] = (uint8_t)(n >> 16);
	p[2] = (uint8_t)(n >> 8);
	p[3] = (uint8_t)n;
	p[4] = idr ? 0x65 : 0x41;
	for (size_t i = 1; i < n; i++)
		p[4 + i] = (uint8_t)rng();
	*len = n + 4;
	return p;
}

/* An access unit as the ring holds it: length-prefixed units. */
static uint8_t *
to_avcc(const struct au *a, size_t *len)
{
	struct h264_nal nal;
	size_t pos = 0, n = 0;
	uint8_t *p = malloc(a->len * 2 + 4);

	if (p == NULL)
		exit(1);
	while (h264_annexb_next(a->p, a->len, &pos, &nal) == 1) {
		p[n] = (uint8_t)(nal.len >> 24);
		p[n + 1] = (uint8_t)(nal.len >> 16);
		p[n + 2] = (uint8_t)(nal.len >> 8);
		p[n + 3] = (uint8_t)nal.len;
		memcpy(p + n + 4, nal.data, nal.len);
		n += 4 + nal.len;
	}
	*len = n;
	return p;
}

static void
write_all(FILE *f, const uint8_t *p, size_t n, const char *path)
{
	if (fwrite(p, 1, n, f) != n) {
		perror(path);
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	double fps = 30, jitter_ms = 0, drop = 0;
	unsigned group = 1, max_frames = 0, seq = 0;
	int random_sizes = 0, i;
	const uint8_t *sps = NULL, *pps = NULL;
	size_t sps_len = 0, pps_len = 0, in_len, naus, k;
	uint64_t capture_ns = 1000000000ull * 3600;
	struct mp4_timeline tl = { 0, 0, 0, 0 };
	struct mp4_track track;
	struct au *aus;
	uint64_t *dts;
	uint32_t *dur;
	uint8_t *in, *out, *ps_au = NULL;
	FILE *f;
	ssize_t n;

	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--random-sizes") == 0)
			random_sizes = 1;
		else if (i + 1 >= argc)
			break;
		else if (strcmp(argv[i], "--fps") == 0)
			fps = atof(argv[++i]);
		else if (strcmp(argv[i], "--seed") == 0)
			rng_state = strtoull(argv[++i], NULL, 10) * 2 + 1;
		else if (strcmp(argv[i], "--jitter") == 0)
			jitter_ms = atof(argv[++i]);
		else if (strcmp(argv[i], "--drop") == 0)
			drop = atof(argv[++i]);
		else if (strcmp(argv[i], "--group") == 0)
			group = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "--frames") == 0)
			max_frames = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "--start") == 0)
			capture_ns = (uint64_t)(atof(argv[++i]) * 1e9);
		else
			break;
	}
	if (argc - i != 2 || fps <= 0 || group < 1) {
		fprintf(stderr, "usage: mp4mux [--fps F] [--seed N] "
		    "[--jitter MS] [--drop P] [--group N] [--random-sizes] "
		    "[--frames N] [--start S] IN.h264 OUT.mp4\n");
		return 2;
	}
	in = tu_read_file(argv[i], &in_len);
	if (in == NULL) {
		perror(argv[i]);
		return 1;
	}
	naus = split_aus(in, in_len, &aus);
	for (k = 0; k < naus && sps == NULL; k++) {
		size_t alen;

		/* Kept to the end: sps and pps point into it. */
		free(ps_au);
		ps_au = to_avcc(&aus[k], &alen);
		mp4_au_parameter_sets(ps_au, alen, &sps, &sps_len, &pps,
		    &pps_len);
	}
	if (sps == NULL) {
		fprintf(stderr, "mp4mux: no SPS and PPS in the input\n");
		return 1;
	}
	if (max_frames != 0 && naus > max_frames)
		naus = max_frames;
	f = fopen(argv[i + 1], "wb");
	if (f == NULL) {
		perror(argv[i + 1]);
		return 1;
	}
	track = (struct mp4_track){ sps, sps_len, pps, pps_len };
	n = mp4_write_init(NULL, 0, &track);
	if (n < 0 || (out = malloc((size_t)n)) == NULL ||
	    mp4_write_init(out, (size_t)n, &track) != n) {
		fprintf(stderr, "mp4mux: init segment: %s\n",
		    strerror(n < 0 ? (int)-n : ENOMEM));
		return 1;
	}
	write_all(f, out, (size_t)n, argv[i + 1]);
	free(out);

	dts = calloc(naus + 1, sizeof(*dts));
	dur = calloc(naus + 1, sizeof(*dur));
	if (dts == NULL || dur == NULL)
		return 1;
	for (k = 0; k < naus; k++) {
		uint64_t jit = 0;

		capture_ns += (uint64_t)(1e9 / fps);
		while (drop > 0 && rng_unit() < drop)
			capture_ns += (uint64_t)(1e9 / fps);
		if (jitter_ms > 0)
			jit = (uint64_t)(rng_unit() * 2 * jitter_ms * 1e6);
		mp4_timeline_next(&tl, capture_ns + jit -
		    (uint64_t)(jitter_ms * 1e6), &dts[k], &dur[k]);
	}
	for (k = 0; k < naus; ) {
		struct mp4_sample s[64];
		uint8_t *owned[64];
		struct mp4_fragment fr;
		unsigned ns = 1 + (unsigned)(rng() % group), j;

		if (ns > 64)
			ns = 64;
		if (ns > naus - k)
			ns = (unsigned)(naus - k);
		for (j = 0; j < ns; j++) {
			const struct au *a = &aus[k + j];

			owned[j] = to_avcc(a, &s[j].au_len);
			s[j].sync = mp4_au_is_idr(owned[j], s[j].au_len);
			if (random_sizes) {
				free(owned[j]);
				owned[j] = random_au(s[j].sync, &s[j].au_len);
			}
			s[j].au = owned[j];
			/* Inside a fragment the next sample is known: its
			 * decode time gives the duration.  The last one's
			 * is the timeline's guess, as for a live stream. */
			s[j].duration = j + 1 < ns ?
			    (uint32_t)(dts[k + j + 1] - dts[k + j]) : dur[k + j];
		}
		/* prft: a wall-clock capture time (2023-11-14) that goes
		 * with the decode time. */
		fr = (struct mp4_fragment){ ++seq, dts[k], s, ns,
		    1700000000ull * 1000000000u + dts[k] * 100000u / 9u };
		n = mp4_write_fragment(NULL, 0, &fr);
		if (n < 0 || (out = malloc((size_t)n)) == NULL ||
		    mp4_write_fragment(out, (size_t)n, &fr) != n) {
			fprintf(stderr, "mp4mux: fragment: %s\n",
			    strerror(n < 0 ? (int)-n : ENOMEM));
			return 1;
		}
		write_all(f, out, (size_t)n, argv[i + 1]);
		free(out);
		for (j = 0; j < ns; j++) {
			printf("%llu %u %lld %d\n",
			    (unsigned long long)dts[k + j], s[j].duration,
			    (long long)mp4_sample_size(s[j].au, s[j].au_len),
			    s[j].sync);
			free(owned[j]);
		}
		k += ns;
	}
	free(dts);
	free(dur);
	if (fclose(f) != 0) {
		perror(argv[i + 1]);
		return 1;
	}
	free(ps_au);
	free(aus);
	free(in);
	return 0;
}
