/*
 * mp4.c - the fragmented MP4 writer (see mp4.h for what and why).
 *
 * Boxes are written through a cursor that never writes past the caller's
 * capacity but keeps counting, so one pass both measures and writes (and
 * what fits of a short buffer is what a full write would have put
 * there); a box's size is filled in when it is closed.  Field layouts follow
 * ISO/IEC 14496-12 (section numbers of the 2015 edition in the comments)
 * and ISO/IEC 14496-15 for avc1/avcC.
 */
#include <errno.h>
#include <string.h>

#include "mp4.h"

struct cursor {
	uint8_t		*c_buf;
	size_t		 c_cap;
	size_t		 c_len;		/* bytes written or that would be */
};

/* Stores n bytes at off, as far as they fit. */
static void
store(struct cursor *c, size_t off, const void *p, size_t n)
{
	if (off < c->c_cap)
		memcpy(c->c_buf + off, p,
		    n < c->c_cap - off ? n : c->c_cap - off);
}

static void
put(struct cursor *c, const void *p, size_t n)
{
	store(c, c->c_len, p, n);
	c->c_len += n;
}

static void
put8(struct cursor *c, uint32_t v)
{
	uint8_t b = (uint8_t)v;

	put(c, &b, 1);
}

static void
put16(struct cursor *c, uint32_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(c, b, 2);
}

static void
put32(struct cursor *c, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
	    (uint8_t)(v >> 8), (uint8_t)v };

	put(c, b, 4);
}

static void
put64(struct cursor *c, uint64_t v)
{
	put32(c, (uint32_t)(v >> 32));
	put32(c, (uint32_t)v);
}

static void
put_zeros(struct cursor *c, size_t n)
{
	static const uint8_t zeros[32];

	while (n > 0) {
		size_t k = n < sizeof(zeros) ? n : sizeof(zeros);

		put(c, zeros, k);
		n -= k;
	}
}

/* Overwrites 4 bytes written earlier at off. */
static void
patch32(struct cursor *c, size_t off, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
	    (uint8_t)(v >> 8), (uint8_t)v };

	store(c, off, b, 4);
}

/* Opens a box: its size is written by box_close(). */
static size_t
box_open(struct cursor *c, const char type[4])
{
	size_t off = c->c_len;

	put32(c, 0);
	put(c, type, 4);
	return off;
}

/* A FullBox (4.2): version and 24 bits of flags after the type. */
static size_t
fullbox_open(struct cursor *c, const char type[4], unsigned version,
    uint32_t flags)
{
	size_t off = box_open(c, type);

	put32(c, (uint32_t)version << 24 | (flags & 0xffffffu));
	return off;
}

static void
box_close(struct cursor *c, size_t off)
{
	patch32(c, off, (uint32_t)(c->c_len - off));
}

/* The unity transformation matrix of mvhd and tkhd (16.16 and 2.30). */
static void
put_matrix(struct cursor *c)
{
	static const uint32_t m[9] = { 0x00010000, 0, 0, 0, 0x00010000, 0,
	    0, 0, 0x40000000 };

	for (int i = 0; i < 9; i++)
		put32(c, m[i]);
}

/* ---------------------------------------------------------- init */

/* AVCDecoderConfigurationRecord, ISO/IEC 14496-15 5.3.3.1. */
static void
put_avcc(struct cursor *c, const struct mp4_track *t,
    const struct h264_sps *sps)
{
	size_t avcc = box_open(c, "avcC");

	put8(c, 1);			/* configurationVersion */
	put8(c, sps->profile_idc);	/* AVCProfileIndication */
	put8(c, sps->constraints);	/* profile_compatibility */
	put8(c, sps->level_idc);	/* AVCLevelIndication */
	put8(c, 0xfc | 3);		/* lengthSizeMinusOne: 4-byte lengths */
	put8(c, 0xe0 | 1);		/* numOfSequenceParameterSets */
	put16(c, (uint32_t)t->sps_len);
	put(c, t->sps, t->sps_len);
	put8(c, 1);			/* numOfPictureParameterSets */
	put16(c, (uint32_t)t->pps_len);
	put(c, t->pps, t->pps_len);
	if (h264_profile_has_chroma_info(sps->profile_idc)) {
		put8(c, 0xfc | sps->chroma_format_idc);
		put8(c, 0xf8 | (sps->bit_depth_luma - 8u));
		put8(c, 0xf8 | (sps->bit_depth_chroma - 8u));
		put8(c, 0);		/* numOfSequenceParameterSetExt */
	}
	box_close(c, avcc);
}

/* VisualSampleEntry 'avc1' (12.1.3, 14496-15 5.4.2). */
static void
put_avc1(struct cursor *c, const struct mp4_track *t,
    const struct h264_sps *sps)
{
	static const char compressor[32] = "\x0b" "shmcam H264";
	size_t avc1 = box_open(c, "avc1");

	put_zeros(c, 6);		/* reserved */
	put16(c, 1);			/* data_reference_index */
	put_zeros(c, 16);		/* pre_defined, reserved */
	put16(c, sps->width);
	put16(c, sps->height);
	put32(c, 0x00480000);		/* 72 dpi */
	put32(c, 0x00480000);
	put32(c, 0);			/* reserved */
	put16(c, 1);			/* frame_count */
	put(c, compressor, sizeof(compressor));
	put16(c, 0x0018);		/* depth: colour, no alpha */
	put16(c, 0xffff);		/* pre_defined = -1 */
	put_avcc(c, t, sps);
	box_close(c, avc1);
}

/* An empty table: version/flags and entry_count 0 (stts, stsc, stco). */
static void
put_empty_table(struct cursor *c, const char type[4])
{
	size_t b = fullbox_open(c, type, 0, 0);

	put32(c, 0);
	box_close(c, b);
}

static void
put_trak(struct cursor *c, const struct mp4_track *t,
    const struct h264_sps *sps)
{
	size_t trak, tkhd, mdia, mdhd, hdlr, minf, vmhd, dinf, dref, url;
	size_t stbl, stsd, stsz;

	trak = box_open(c, "trak");
	/* tkhd (8.3.2): enabled, in movie, in preview. */
	tkhd = fullbox_open(c, "tkhd", 0, 0x7);
	put32(c, 0);			/* creation_time */
	put32(c, 0);			/* modification_time */
	put32(c, MP4_TRACK_ID);
	put32(c, 0);			/* reserved */
	put32(c, 0);			/* duration: unknown, fragments */
	put_zeros(c, 8);		/* reserved */
	put16(c, 0);			/* layer */
	put16(c, 0);			/* alternate_group */
	put16(c, 0);			/* volume: not audio */
	put16(c, 0);			/* reserved */
	put_matrix(c);
	put32(c, sps->width << 16);	/* 16.16 fixed point */
	put32(c, sps->height << 16);
	box_close(c, tkhd);

	mdia = box_open(c, "mdia");
	mdhd = fullbox_open(c, "mdhd", 0, 0);	/* 8.4.2 */
	put32(c, 0);
	put32(c, 0);
	put32(c, MP4_TIMESCALE);
	put32(c, 0);			/* duration */
	/* language "und", ISO 639-2/T packed in 3 x 5 bits */
	put16(c, (('u' - 0x60) << 10) | (('n' - 0x60) << 5) | ('d' - 0x60));
	put16(c, 0);			/* pre_defined */
	box_close(c, mdhd);
	hdlr = fullbox_open(c, "hdlr", 0, 0);	/* 8.4.3 */
	put32(c, 0);			/* pre_defined */
	put(c, "vide", 4);
	put_zeros(c, 12);		/* reserved */
	put(c, "VideoHandler", 13);	/* name, with its NUL */
	box_close(c, hdlr);

	minf = box_open(c, "minf");
	vmhd = fullbox_open(c, "vmhd", 0, 1);	/* 12.1.2 */
	put_zeros(c, 8);		/* graphicsmode, opcolor */
	box_close(c, vmhd);
	dinf = box_open(c, "dinf");
	dref = fullbox_open(c, "dref", 0, 0);	/* 8.7.2 */
	put32(c, 1);
	url = fullbox_open(c, "url ", 0, 1);	/* media in this file */
	box_close(c, url);
	box_close(c, dref);
	box_close(c, dinf);

	stbl = box_open(c, "stbl");
	stsd = fullbox_open(c, "stsd", 0, 0);	/* 8.5.2 */
	put32(c, 1);
	put_avc1(c, t, sps);
	box_close(c, stsd);
	/* No samples here: they all come in fragments. */
	put_empty_table(c, "stts");
	put_empty_table(c, "stsc");
	stsz = fullbox_open(c, "stsz", 0, 0);
	put32(c, 0);			/* sample_size */
	put32(c, 0);			/* sample_count */
	box_close(c, stsz);
	put_empty_table(c, "stco");
	box_close(c, stbl);
	box_close(c, minf);
	box_close(c, mdia);
	box_close(c, trak);
}

ssize_t
mp4_write_init(uint8_t *buf, size_t cap, const struct mp4_track *t)
{
	struct cursor c = { buf, cap, 0 };
	struct h264_sps sps;
	size_t ftyp, moov, mvhd, mvex, trex;
	int rc;

	if (t->sps == NULL || t->pps == NULL || t->pps_len < 1 ||
	    t->sps_len > 0xffff || t->pps_len > 0xffff)
		return -EINVAL;
	if ((t->pps[0] & 0x80) != 0 || (t->pps[0] & 0x1f) != H264_NAL_PPS)
		return -EBADMSG;
	rc = h264_sps_parse(t->sps, t->sps_len, &sps);
	if (rc != 0)
		return rc;

	/* ftyp (4.3): iso5 for default-base-is-moof in tfhd; avc1 and
	 * mp41 for players that look for them. */
	ftyp = box_open(&c, "ftyp");
	put(&c, "iso5", 4);		/* major_brand */
	put32(&c, 512);			/* minor_version */
	put(&c, "iso5" "iso6" "avc1" "mp41", 16);
	box_close(&c, ftyp);

	moov = box_open(&c, "moov");
	mvhd = fullbox_open(&c, "mvhd", 0, 0);	/* 8.2.2 */
	put32(&c, 0);			/* creation_time */
	put32(&c, 0);			/* modification_time */
	put32(&c, 1000);		/* timescale of the movie header */
	put32(&c, 0);			/* duration: unknown, fragments */
	put32(&c, 0x00010000);		/* rate 1.0 */
	put16(&c, 0x0100);		/* volume 1.0 */
	put_zeros(&c, 10);		/* reserved */
	put_matrix(&c);
	put_zeros(&c, 24);		/* pre_defined */
	put32(&c, MP4_TRACK_ID + 1);	/* next_track_ID */
	box_close(&c, mvhd);
	put_trak(&c, t, &sps);
	mvex = box_open(&c, "mvex");	/* 8.8.1 */
	trex = fullbox_open(&c, "trex", 0, 0);	/* 8.8.3 */
	put32(&c, MP4_TRACK_ID);
	put32(&c, 1);			/* default_sample_description_index */
	put32(&c, 0);			/* default_sample_duration */
	put32(&c, 0);			/* default_sample_size */
	put32(&c, 0);			/* default_sample_flags */
	box_close(&c, trex);
	box_close(&c, mvex);
	box_close(&c, moov);
	return (ssize_t)c.c_len;
}

/* ------------------------------------------------------ fragments */

/* NAL units that stay out of samples (see mp4.h). */
static int
nal_in_sample(unsigned type)
{
	switch (type) {
	case H264_NAL_AUD:
	case H264_NAL_END_SEQ:
	case H264_NAL_END_STREAM:
	case H264_NAL_FILLER:
		return 0;
	}
	return 1;
}

/*
 * Writes (or measures) a sample: its length-prefixed units as they are,
 * less the ones that stay out; returns its size, 0 if nothing is left of
 * it, or -EBADMSG.
 */
static ssize_t
put_sample(struct cursor *c, const struct mp4_sample *s)
{
	struct h264_nal nal;
	size_t pos = 0, start = c->c_len;
	int rc, units = 0;

	if (s->au == NULL)
		return -EBADMSG;
	/* Whole units only: a sample is written once all of it checks. */
	while ((rc = h264_au_next(s->au, s->au_len, &pos, &nal)) == 1)
		units++;
	if (rc != 0 || units == 0)
		return -EBADMSG;
	pos = 0;
	while (h264_au_next(s->au, s->au_len, &pos, &nal) == 1)
		if (nal_in_sample(nal.type))
			put(c, nal.data - 4, nal.len + 4);
	if (c->c_len - start > UINT32_MAX)
		return -EINVAL;
	return (ssize_t)(c->c_len - start);
}

/* Sample flags (8.8.3.1): sample_depends_on 2 (an IDR picture) or 1 and
 * sample_is_non_sync_sample. */
#define SAMPLE_FLAGS_SYNC	0x02000000u
#define SAMPLE_FLAGS_NON_SYNC	0x01010000u

/* tfhd default-base-is-moof; trun data-offset, sample duration, size and
 * flags present. */
#define TFHD_DEFAULT_BASE_IS_MOOF	0x020000u
/* Seconds from 1900 (NTP's epoch) to 1970 (the Unix epoch). */
#define NTP_UNIX_OFFSET			2208988800ull
#define TRUN_FLAGS			0x000701u

ssize_t
mp4_write_fragment(uint8_t *buf, size_t cap, const struct mp4_fragment *fr)
{
	struct cursor c = { buf, cap, 0 }, measure = { NULL, 0, 0 };
	size_t moof, mfhd, traf, tfhd, tfdt, trun, data_offset, mdat;
	ssize_t n;
	unsigned i;

	if (fr->samples == NULL || fr->nsamples == 0 ||
	    fr->nsamples > 1000000)
		return -EINVAL;
	if (fr->capture_real_ns != 0) {
		/* prft version 1, flags 0: the time the frame went into the
		 * encoder, which for us is its capture; NTP format (seconds
		 * since 1900, 32.32 fixed point). */
		uint64_t s = fr->capture_real_ns / 1000000000u;
		uint64_t frac = (fr->capture_real_ns % 1000000000u << 32) /
		    1000000000u;
		size_t prft = fullbox_open(&c, "prft", 1, 0);

		put32(&c, MP4_TRACK_ID);
		put64(&c, (s + NTP_UNIX_OFFSET) << 32 | frac);
		put64(&c, fr->decode_time);
		box_close(&c, prft);
	}
	moof = box_open(&c, "moof");
	mfhd = fullbox_open(&c, "mfhd", 0, 0);	/* 8.8.5 */
	put32(&c, fr->sequence);
	box_close(&c, mfhd);
	traf = box_open(&c, "traf");
	tfhd = fullbox_open(&c, "tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF);
	put32(&c, MP4_TRACK_ID);
	box_close(&c, tfhd);
	tfdt = fullbox_open(&c, "tfdt", 1, 0);	/* 8.8.12, 64-bit */
	put64(&c, fr->decode_time);
	box_close(&c, tfdt);
	trun = fullbox_open(&c, "trun", 0, TRUN_FLAGS);	/* 8.8.8 */
	put32(&c, fr->nsamples);
	data_offset = c.c_len;
	put32(&c, 0);			/* data_offset, patched below */
	for (i = 0; i < fr->nsamples; i++) {
		const struct mp4_sample *s = &fr->samples[i];

		measure.c_len = 0;
		n = put_sample(&measure, s);
		if (n < 0)
			return n;
		if (n == 0)
			return -EINVAL;
		put32(&c, s->duration);
		put32(&c, (uint32_t)n);
		put32(&c, s->sync ? SAMPLE_FLAGS_SYNC : SAMPLE_FLAGS_NON_SYNC);
	}
	box_close(&c, trun);
	box_close(&c, traf);
	box_close(&c, moof);

	/* The samples follow the 8-byte mdat header; offsets count from the
	 * start of the moof (default-base-is-moof). */
	mdat = box_open(&c, "mdat");
	patch32(&c, data_offset, (uint32_t)(c.c_len - moof));
	for (i = 0; i < fr->nsamples; i++)
		if (put_sample(&c, &fr->samples[i]) < 0)
			return -EBADMSG;
	if (c.c_len - mdat > UINT32_MAX)
		return -EINVAL;
	box_close(&c, mdat);
	return (ssize_t)c.c_len;
}

/* ------------------------------------------------ access units */

ssize_t
mp4_sample_size(const uint8_t *au, size_t len)
{
	struct cursor measure = { NULL, 0, 0 };
	struct mp4_sample s = { au, len, 0, 0 };

	return put_sample(&measure, &s);
}

int
mp4_au_is_idr(const uint8_t *au, size_t len)
{
	struct h264_nal nal;
	size_t pos = 0;

	while (h264_au_next(au, len, &pos, &nal) == 1)
		if (nal.type == H264_NAL_IDR)
			return 1;
	return 0;
}

int
mp4_au_parameter_sets(const uint8_t *au, size_t len, const uint8_t **sps,
    size_t *sps_len, const uint8_t **pps, size_t *pps_len)
{
	struct h264_nal nal;
	size_t pos = 0;

	*sps = *pps = NULL;
	*sps_len = *pps_len = 0;
	while (h264_au_next(au, len, &pos, &nal) == 1) {
		if (nal.type == H264_NAL_SPS && *sps == NULL) {
			*sps = nal.data;
			*sps_len = nal.len;
		} else if (nal.type == H264_NAL_PPS && *pps == NULL) {
			*pps = nal.data;
			*pps_len = nal.len;
		}
	}
	return *sps != NULL && *pps != NULL ? 0 : -ENOENT;
}

/* ------------------------------------------------------ timeline */

/* ns -> 90 kHz ticks without overflowing 64 bits. */
static uint64_t
ticks(uint64_t ns)
{
	return ns / 100000u * 9u + ns % 100000u * 9u / 100000u;
}

uint32_t
mp4_frame_ticks(uint32_t fps_milli)
{
	if (fps_milli == 0)
		return 0;
	return (uint32_t)(((uint64_t)MP4_TIMESCALE * 1000 + fps_milli / 2) /
	    fps_milli);
}

void
mp4_timeline_next(struct mp4_timeline *tl, uint64_t capture_ns,
    uint64_t *dts, uint32_t *duration)
{
	uint64_t t = ticks(capture_ns), n = tl->tl_nominal, g, k;
	uint32_t d;

	/* Onto the grid if within a quarter of a frame of it. */
	if (n != 0 && tl->tl_anchor != 0 && t >= tl->tl_anchor) {
		k = (t - tl->tl_anchor + n / 2) / n;
		g = tl->tl_anchor + k * n;
		if ((t > g ? t - g : g - t) <= n / 4 && g > tl->tl_last_dts)
			t = g;
		else
			tl->tl_anchor = t;
	} else
		tl->tl_anchor = t;
	if (tl->tl_last_dts != 0 && t <= tl->tl_last_dts)
		t = tl->tl_last_dts + 1;
	if (tl->tl_last_dts != 0 && t - tl->tl_last_dts <= MP4_DURATION_MAX)
		tl->tl_last_interval = (uint32_t)(t - tl->tl_last_dts);
	d = tl->tl_last_interval ? tl->tl_last_interval :
	    n ? (uint32_t)n : MP4_DURATION_DEFAULT;
	if (d < MP4_DURATION_MIN)
		d = MP4_DURATION_MIN;
	if (d > MP4_DURATION_MAX)
		d = MP4_DURATION_MAX;
	tl->tl_last_dts = t;
	*dts = t;
	*duration = d;
}
