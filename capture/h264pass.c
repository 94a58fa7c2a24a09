/*
 * h264pass.c - a camera's H.264 to ring payloads (see h264pass.h).
 */
#include <errno.h>
#include <string.h>

#include "h264pass.h"

void
h264pass_init(struct h264pass *hp)
{
	memset(hp, 0, sizeof(*hp));
}

void
h264pass_lost(struct h264pass *hp)
{
	hp->hp_synced = 0;
}

size_t
h264pass_max_out(size_t len)
{
	/*
	 * Every unit needs a start code of at least 3 bytes in, a length of
	 * 4 out: at most len / 4 units, 1 more byte each; plus the SPS and
	 * PPS inserted with their lengths.
	 */
	return len + len / 4 + 2 * (H264PASS_PS_MAX + 4);
}

static void
put_nal(uint8_t **p, const uint8_t *data, size_t len)
{
	(*p)[0] = (uint8_t)(len >> 24);
	(*p)[1] = (uint8_t)(len >> 16);
	(*p)[2] = (uint8_t)(len >> 8);
	(*p)[3] = (uint8_t)len;
	memcpy(*p + 4, data, len);
	*p += 4 + len;
}

/* Units that may be dropped from a stream without changing the pictures
 * a decoder makes of it. */
static int
droppable(unsigned type)
{
	return type == H264_NAL_AUD || type == H264_NAL_END_SEQ ||
	    type == H264_NAL_END_STREAM || type == H264_NAL_FILLER ||
	    (type >= 13 && type <= 23);	/* extensions, reserved */
}

/* What the first pass over a unit found. */
struct scan {
	struct h264_nal	 sps, pps;	/* the last of each, len 0: none */
	struct h264_sps	 sps_info;
	struct h264_pps	 pps_info;
	unsigned	 vcl;		/* H264_NAL_IDR, _SLICE, or 0 */
	unsigned	 pps_id;	/* of the slices */
	size_t		 keep;		/* bytes of the units to write */
	unsigned	 nkeep;
};

static int
scan_unit(const uint8_t *in, size_t len, struct scan *sc)
{
	struct h264_nal nal;
	struct h264_slice slice;
	size_t pos = 0;
	int rc;

	memset(sc, 0, sizeof(*sc));
	while ((rc = h264_annexb_next(in, len, &pos, &nal)) == 1) {
		switch (nal.type) {
		case H264_NAL_SPS:
			if (nal.len > H264PASS_PS_MAX)
				return -EBADMSG;
			if ((rc = h264_sps_parse(nal.data, nal.len,
			    &sc->sps_info)) != 0)
				return rc;
			sc->sps = nal;
			break;
		case H264_NAL_PPS:
			if (nal.len > H264PASS_PS_MAX)
				return -EBADMSG;
			if ((rc = h264_pps_parse(nal.data, nal.len,
			    &sc->pps_info)) != 0)
				return rc;
			sc->pps = nal;
			break;
		case H264_NAL_SLICE:
		case H264_NAL_IDR:
			if (h264_slice_parse(nal.data, nal.len, &slice) != 0)
				return -EBADMSG;
			if (sc->vcl == 0) {
				if (slice.first_mb != 0)
					return -EBADMSG;	/* picture cut */
				sc->vcl = nal.type;
				sc->pps_id = slice.pps_id;
			} else if (sc->vcl != nal.type ||
			    sc->pps_id != slice.pps_id)
				return -EBADMSG;
			sc->keep += 4 + nal.len;
			sc->nkeep++;
			break;
		case H264_NAL_SEI:
			if (sc->vcl != 0)
				return -EBADMSG;	/* after the picture */
			sc->keep += 4 + nal.len;
			sc->nkeep++;
			break;
		case H264_NAL_DPA:
		case H264_NAL_DPA + 1:
		case H264_NAL_DPC:
			return -ENOTSUP;	/* Extended profile */
		default:
			if (!droppable(nal.type))
				return -EBADMSG;	/* 0, 24..31 */
			break;
		}
	}
	if (rc < 0 || sc->vcl == 0)
		return -EBADMSG;
	return 0;
}

/* Keeps a parameter set the camera sent; 1 if it differs from the one
 * kept before. */
static int
keep_ps(uint8_t *dst, size_t *dst_len, const struct h264_nal *nal)
{
	int changed;

	if (nal->len == 0)
		return 0;
	changed = *dst_len != nal->len || memcmp(dst, nal->data,
	    nal->len) != 0;
	memcpy(dst, nal->data, nal->len);
	*dst_len = nal->len;
	return changed;
}

int
h264pass_filter(struct h264pass *hp, const uint8_t *in, size_t len,
    uint8_t *out, size_t cap, struct h264pass_out *o)
{
	struct scan sc;
	struct h264_nal nal;
	size_t pos = 0, need;
	uint8_t *p = out;
	int rc, changed;

	memset(o, 0, sizeof(*o));
	if ((rc = scan_unit(in, len, &sc)) != 0) {
		hp->hp_synced = 0;
		return rc;
	}
	/*
	 * Parameter sets take effect from here.  A changed one in a unit
	 * that is not an IDR cannot be in use yet (7.4.1.2.1: an SPS is
	 * activated by an IDR): it waits for the next one.
	 */
	changed = keep_ps(hp->hp_sps, &hp->hp_sps_len, &sc.sps);
	if (sc.sps.len != 0)
		hp->hp_sps_info = sc.sps_info;
	changed |= keep_ps(hp->hp_pps, &hp->hp_pps_len, &sc.pps);
	if (sc.pps.len != 0)
		hp->hp_pps_info = sc.pps_info;
	if (changed && sc.vcl != H264_NAL_IDR) {
		hp->hp_synced = 0;
		return -EAGAIN;
	}
	if (hp->hp_sps_len == 0 || hp->hp_pps_len == 0) {
		hp->hp_synced = 0;
		return -EAGAIN;
	}
	if (sc.pps_id != hp->hp_pps_info.id ||
	    hp->hp_pps_info.sps_id != hp->hp_sps_info.id) {
		hp->hp_synced = 0;
		return -EBADMSG;	/* a parameter set we never got */
	}
	if (sc.vcl != H264_NAL_IDR && !hp->hp_synced)
		return -EAGAIN;

	need = sc.keep;
	if (sc.vcl == H264_NAL_IDR)
		need += 8 + hp->hp_sps_len + hp->hp_pps_len;
	if (need > cap)
		return -ENOBUFS;
	if (sc.vcl == H264_NAL_IDR) {
		put_nal(&p, hp->hp_sps, hp->hp_sps_len);
		put_nal(&p, hp->hp_pps, hp->hp_pps_len);
	}
	/* The second pass cannot fail: the first one went over the same
	 * bytes. */
	while (h264_annexb_next(in, len, &pos, &nal) == 1)
		if (nal.type == H264_NAL_SEI || h264_nal_is_vcl(nal.type))
			put_nal(&p, nal.data, nal.len);
	hp->hp_synced = 1;
	o->len = (size_t)(p - out);
	o->keyframe = sc.vcl == H264_NAL_IDR;
	o->width = hp->hp_sps_info.width;
	o->height = hp->hp_sps_info.height;
	return 0;
}
