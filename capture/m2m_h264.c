/*
 * m2m_h264.c - H.264 from a V4L2 memory-to-memory encoder (see
 * m2m_h264.h).  One frame at a time, synchronously, like the JPEG one:
 * the encoder has no B-frames (bcm2835-codec's is configured without
 * them), so each frame in gives its access unit out before the next
 * goes in, and the H.264 thread waits for it (a few milliseconds at
 * 720p on a Pi 4's VPU).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/videodev2.h>

#include "h264.h"
#include "h264pass.h"
#include "m2m.h"
#include "m2m_h264.h"

struct m2m_h264 {
	struct m2m	*m;
	const struct h264_settings *s;
	struct h264pass	 hp;
	int32_t		 bps_min, bps_max; /* the bitrate control's range */
	int		 has_level;	/* the level control, asked once */
	uint64_t	 frames;	/* the timestamps the frames carry */
	int		 need_idr;	/* after a dropped unit */
	unsigned	 broken;	/* dropped in a row */
	uint8_t		*au;		/* the device's output, collected */
	size_t		 au_len, au_cap;
	uint8_t		*out;		/* the ring payload */
	size_t		 out_cap;
};

int
m2m_h264_find(const char *pattern, char *path, size_t size)
{
	return m2m_find_codec(pattern, V4L2_PIX_FMT_H264, path, size);
}

int
m2m_h264_open(struct m2m_h264 **out, const char *path,
    const struct h264_settings *s, char *why, size_t whylen)
{
	static const struct {
		uint32_t	 id;
		const char	*name;
	} need[] = {
		{ V4L2_CID_MPEG_VIDEO_BITRATE, "bitrate" },
		{ V4L2_CID_MPEG_VIDEO_H264_I_PERIOD, "I-frame period" },
		{ V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME, "force key frame" },
	};
	struct m2m_h264 *e;
	int rc;

	*out = NULL;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -ENOMEM;
	e->s = s;
	h264pass_init(&e->hp);
	if ((rc = m2m_open_codec(&e->m, path, V4L2_PIX_FMT_H264, why,
	    whylen)) != 0) {
		free(e);
		return rc;
	}
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (!m2m_has_ctrl(e->m, need[i].id)) {
			snprintf(why, whylen, "%s has no %s control",
			    m2m_name(e->m), need[i].name);
			m2m_h264_close(e);
			return -ENOTSUP;
		}
	(void)m2m_ctrl_range(e->m, V4L2_CID_MPEG_VIDEO_BITRATE, &e->bps_min,
	    &e->bps_max);
	e->has_level = m2m_has_ctrl(e->m, V4L2_CID_MPEG_VIDEO_H264_LEVEL);
	/* Optional: without them the device's own defaults apply. */
	if (m2m_has_ctrl(e->m, V4L2_CID_MPEG_VIDEO_BITRATE_MODE))
		(void)m2m_set_ctrl(e->m, V4L2_CID_MPEG_VIDEO_BITRATE_MODE,
		    V4L2_MPEG_VIDEO_BITRATE_MODE_VBR);
	if (m2m_has_ctrl(e->m, V4L2_CID_MPEG_VIDEO_H264_PROFILE))
		(void)m2m_set_ctrl(e->m, V4L2_CID_MPEG_VIDEO_H264_PROFILE,
		    s->profile == H264_PROFILE_MAIN ?
		    V4L2_MPEG_VIDEO_H264_PROFILE_MAIN :
		    V4L2_MPEG_VIDEO_H264_PROFILE_CONSTRAINED_BASELINE);
	if (m2m_has_ctrl(e->m, V4L2_CID_MPEG_VIDEO_REPEAT_SEQ_HEADER))
		(void)m2m_set_ctrl(e->m, V4L2_CID_MPEG_VIDEO_REPEAT_SEQ_HEADER,
		    1);
	*out = e;
	return 0;
}

void
m2m_h264_close(struct m2m_h264 *e)
{
	if (e == NULL)
		return;
	m2m_close(e->m);
	free(e->au);
	free(e->out);
	free(e);
}

const char *
m2m_h264_name(const struct m2m_h264 *e)
{
	return m2m_name(e->m);
}

int
m2m_h264_takes(const struct m2m_h264 *e, uint32_t fourcc)
{
	const struct rawformat *f = rawformat_find(fourcc);

	return f != NULL && m2m_takes(e->m, f);
}

int
m2m_h264_level(uint32_t width, uint32_t height, uint32_t fps_milli)
{
	/* H.264 Table A-1: MaxMBPS and MaxFS (macroblocks) per level. */
	static const struct {
		uint32_t	 mbps, fs;
		int		 level;
	} t[] = {
		{ 1485, 99, V4L2_MPEG_VIDEO_H264_LEVEL_1_0 },
		{ 3000, 396, V4L2_MPEG_VIDEO_H264_LEVEL_1_1 },
		{ 6000, 396, V4L2_MPEG_VIDEO_H264_LEVEL_1_2 },
		{ 11880, 396, V4L2_MPEG_VIDEO_H264_LEVEL_1_3 },
		{ 19800, 792, V4L2_MPEG_VIDEO_H264_LEVEL_2_1 },
		{ 20250, 1620, V4L2_MPEG_VIDEO_H264_LEVEL_2_2 },
		{ 40500, 1620, V4L2_MPEG_VIDEO_H264_LEVEL_3_0 },
		{ 108000, 3600, V4L2_MPEG_VIDEO_H264_LEVEL_3_1 },
		{ 216000, 5120, V4L2_MPEG_VIDEO_H264_LEVEL_3_2 },
		{ 245760, 8192, V4L2_MPEG_VIDEO_H264_LEVEL_4_0 },
		{ 522240, 8704, V4L2_MPEG_VIDEO_H264_LEVEL_4_2 },
		{ 589824, 22080, V4L2_MPEG_VIDEO_H264_LEVEL_5_0 },
	};
	uint64_t fs = (uint64_t)((width + 15) / 16) * ((height + 15) / 16);
	uint64_t mbps = (fs * fps_milli + 999) / 1000;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (fs <= t[i].fs && mbps <= t[i].mbps)
			return t[i].level;
	return V4L2_MPEG_VIDEO_H264_LEVEL_5_1;
}

/* 1 if the Annex-B bytes hold a slice (a picture, not only headers). */
static int
has_slice(const uint8_t *buf, size_t len)
{
	struct h264_nal nal;
	size_t pos = 0;

	while (h264_annexb_next(buf, len, &pos, &nal) == 1)
		if (nal.type == H264_NAL_SLICE || nal.type == H264_NAL_IDR)
			return 1;
	return 0;
}

static int
grow(uint8_t **buf, size_t *cap, size_t need)
{
	uint8_t *p;

	if (*cap >= need)
		return 0;
	if ((p = realloc(*buf, need)) == NULL)
		return -ENOMEM;
	*buf = p;
	*cap = need;
	return 0;
}

/*
 * The frame's access unit from the device into e->au: its buffers, the
 * header bytes and the picture in one or, from older firmware, in two.
 */
static int
collect(struct m2m_h264 *e, uint64_t ts_ns, uint64_t deadline, char *why,
    size_t whylen)
{
	struct m2m_coded c;
	int rc;

	e->au_len = 0;
	for (unsigned n = 0;; n++) {
		if ((rc = m2m_get(e->m, deadline, &c, why, whylen)) != 0)
			return rc;
		if (c.ts_ns != ts_ns) {
			snprintf(why, whylen, "it gave the unit of another "
			    "frame (timestamp %llu ns, not %llu)",
			    (unsigned long long)c.ts_ns,
			    (unsigned long long)ts_ns);
			return -EPROTO;
		}
		if (c.flags & V4L2_BUF_FLAG_ERROR) {
			snprintf(why, whylen, "the driver flagged the unit "
			    "broken");
			return -EBADMSG;
		}
		if (grow(&e->au, &e->au_cap, e->au_len + c.len) != 0) {
			snprintf(why, whylen, "out of memory");
			return -ENOMEM;
		}
		memcpy(e->au + e->au_len, c.data, c.len);
		e->au_len += c.len;
		if (has_slice(c.data, c.len))
			return 0;
		/* Headers alone: the picture follows.  Twice is the most
		 * a driver splits one. */
		if (n == 1) {
			snprintf(why, whylen, "three buffers without a picture");
			return -EPROTO;
		}
		if ((rc = m2m_again(e->m, why, whylen)) != 0)
			return rc;
	}
}

/* A unit dropped: -EAGAIN, or -EBADMSG when too many were in a row. */
static int
dropped(struct m2m_h264 *e, char *why, size_t whylen)
{
	e->need_idr = 1;
	if (++e->broken >= M2M_H264_BROKEN_MAX) {
		snprintf(why, whylen, "%u broken access units in a row",
		    e->broken);
		return -EBADMSG;
	}
	return -EAGAIN;
}

int
m2m_h264_encode(struct m2m_h264 *e, const struct source_frame *f,
    uint32_t fps_milli, int force_idr, const uint8_t **out, size_t *len,
    int *keyframe, char *why, size_t whylen)
{
	const struct rawformat *fmt = f->raw.rw_fmt;
	struct h264pass_out o;
	uint64_t deadline, ts;
	int64_t bps;
	int rc;

	if (fmt == NULL || !m2m_takes(e->m, fmt)) {
		snprintf(why, whylen, "it does not take %ux%u frames of this "
		    "format", f->width, f->height);
		return -ENOTSUP;
	}
	m2m_set_rate(e->m, fps_milli);
	/* In the device's range (bcm2835-codec: 25 kbit/s to 25 Mbit/s). */
	bps = (int64_t)h264enc_bitrate(e->s, f->width, f->height, fps_milli) *
	    1000;
	(void)m2m_set_ctrl(e->m, V4L2_CID_MPEG_VIDEO_BITRATE,
	    (int32_t)(bps < e->bps_min ? e->bps_min : bps > e->bps_max ?
	    e->bps_max : bps));
	(void)m2m_set_ctrl(e->m, V4L2_CID_MPEG_VIDEO_H264_I_PERIOD,
	    (int32_t)h264enc_gop(e->s, fps_milli));
	if (e->has_level)
		(void)m2m_set_ctrl(e->m, V4L2_CID_MPEG_VIDEO_H264_LEVEL,
		    m2m_h264_level(f->width, f->height, fps_milli));
	m2m_set_capture_size(e->m, (uint32_t)h264enc_max_size(f->width,
	    f->height));
	if ((rc = m2m_configure(e->m, fmt, f->width, f->height, why,
	    whylen)) != 0)
		return rc;
	if ((force_idr || e->need_idr) &&
	    (rc = m2m_ctrl_now(e->m, V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME, 1,
	    why, whylen)) != 0)
		return rc;
	/* A timestamp of its own per frame, 1 µs apart (a timeval's
	 * resolution): the unit that comes back must carry it. */
	ts = ++e->frames * 1000u;
	if ((rc = m2m_put(e->m, &f->raw, ts, &deadline, why, whylen)) != 0)
		return rc;
	if ((rc = collect(e, ts, deadline, why, whylen)) != 0) {
		/* Whatever the device still holds is taken back by a
		 * STREAMOFF; the next frame configures it again. */
		m2m_reset(e->m);
		return rc == -EBADMSG ? dropped(e, why, whylen) : rc;
	}
	if ((rc = m2m_done(e->m, deadline, why, whylen)) != 0)
		return rc;
	if ((rc = grow(&e->out, &e->out_cap,
	    h264pass_max_out(e->au_len))) != 0) {
		snprintf(why, whylen, "out of memory");
		return rc;
	}
	rc = h264pass_filter(&e->hp, e->au, e->au_len, e->out, e->out_cap,
	    &o);
	if (rc == -ENOTSUP) {
		snprintf(why, whylen, "it gave a stream we do not publish");
		return rc;
	}
	if (rc != 0)
		return dropped(e, why, whylen);
	if (o.width != f->width || o.height != f->height) {
		snprintf(why, whylen, "it coded %ux%u, not %ux%u", o.width,
		    o.height, f->width, f->height);
		return -EPROTO;
	}
	e->need_idr = 0;
	e->broken = 0;
	*out = e->out;
	*len = o.len;
	*keyframe = o.keyframe;
	return 0;
}
