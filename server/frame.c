/*
 * frame.c - reference-counted frames, recycled through a small pool so
 * that the steady state allocates nothing per frame.  A frame's buffer is
 * sized by the frames that come, not by the ring's slots: a 720p slot has
 * room for megabytes (the encoder's worst case), a JPEG of it is tens of
 * kilobytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "server.h"

#define FRAME_POOL_KEEP	4

void
frame_pool_init(struct frame_pool *fp)
{
	TAILQ_INIT(&fp->fp_free);
	fp->fp_nfree = 0;
	fp->fp_live = 0;
}

static void
frame_destroy(struct frame *f)
{
	free(f->f_buf);
	free(f);
}

void
frame_pool_drain(struct frame_pool *fp)
{
	struct frame *f;

	while ((f = TAILQ_FIRST(&fp->fp_free)) != NULL) {
		TAILQ_REMOVE(&fp->fp_free, f, f_free);
		frame_destroy(f);
	}
	fp->fp_nfree = 0;
}

struct frame *
frame_get(struct frame_pool *fp, size_t jpeg_cap)
{
	size_t need = FRAME_HEAD_ROOM + jpeg_cap + FRAME_TRAILER_LEN +
	    FRAME_ADVANCE_LEN;
	struct frame *f;
	uint8_t *buf;

	/* A pooled frame, its buffer grown if this one needs more. */
	if ((f = TAILQ_FIRST(&fp->fp_free)) != NULL) {
		TAILQ_REMOVE(&fp->fp_free, f, f_free);
		fp->fp_nfree--;
		if (f->f_cap < need) {
			if ((buf = realloc(f->f_buf, need)) == NULL) {
				frame_destroy(f);
				return NULL;
			}
			f->f_buf = buf;
			f->f_cap = need;
		}
	} else {
		f = calloc(1, sizeof(*f));
		if (f == NULL)
			return NULL;
		f->f_buf = malloc(need);
		if (f->f_buf == NULL) {
			free(f);
			return NULL;
		}
		f->f_cap = need;
	}
	f->f_refs = 1;
	f->f_pool = fp;
	f->f_seq = 0;
	f->f_generation = 0;
	f->f_epoch = 0;
	f->f_placeholder = 0;
	memset(&f->f_meta, 0, sizeof(f->f_meta));
	f->f_jpeg_off = FRAME_HEAD_ROOM;
	f->f_jpeg_len = 0;
	f->f_part_off = FRAME_HEAD_ROOM;
	f->f_end = f->f_adv_end = FRAME_HEAD_ROOM;
	fp->fp_live++;
	return f;
}

size_t
frame_jpeg_cap(const struct frame *f)
{
	return f->f_cap - FRAME_HEAD_ROOM - FRAME_TRAILER_LEN -
	    FRAME_ADVANCE_LEN;
}

/*
 * How much a frame buffer holds beyond the last frame's length, so that
 * the next, slightly larger one fits without a second read: a quarter,
 * and at least 16 KiB.
 */
static size_t
frame_hint_for(size_t len, size_t max)
{
	size_t hint = len + (len / 4 > 16384 ? len / 4 : 16384);

	return hint < max ? hint : max;
}

int
frame_read_ring(struct frame_pool *fp, struct ring_reader *r, uint64_t after,
    size_t *hint, struct frame **out)
{
	const size_t max = r->rr_geo.slot_size - RING_SLOT_HEADER_SIZE;
	struct ring_frame meta;
	struct frame *f;
	int tries, rc;

	*out = NULL;
	if (*hint == 0 || *hint > max)
		*hint = frame_hint_for(0, max);
	for (tries = 0; tries < RING_READ_TRIES; tries++) {
		if ((f = frame_get(fp, *hint)) == NULL)
			return -ENOMEM;
		rc = ring_read_latest(r, after, &meta, f->f_buf + f->f_jpeg_off,
		    frame_jpeg_cap(f));
		if (rc == -ENOBUFS && meta.length <= max) {
			/* A bigger frame than any before: room for it, and
			 * read again (it may be a newer one by then). */
			frame_unref(f);
			*hint = frame_hint_for(meta.length, max);
			continue;
		}
		if (rc != 0) {
			frame_unref(f);
			return rc == -ENOBUFS ? -EBADMSG : rc;
		}
		f->f_meta = meta;
		f->f_jpeg_len = meta.length;
		*hint = frame_hint_for(meta.length, max);
		*out = f;
		return 0;
	}
	return -EBUSY;
}

void
frame_finish(struct frame *f)
{
	char head[FRAME_HEAD_ROOM];
	uint64_t ts = f->f_meta.capture_real_ns;
	int n;

	/* X-Timestamp: capture wall-clock time, seconds with 6 decimals
	 * (the unit mjpg-streamer and ustreamer clients parse). */
	n = snprintf(head, sizeof(head),
	    "Content-Type: image/jpeg\r\n"
	    "Content-Length: %zu\r\n"
	    "X-Timestamp: %llu.%06u\r\n"
	    "%s"
	    "\r\n",
	    f->f_jpeg_len, (unsigned long long)(ts / 1000000000u),
	    (unsigned)(ts % 1000000000u / 1000u),
	    frame_placeholder_header(f));
	if (n < 0 || (size_t)n >= sizeof(head))
		fatalx("frame part header does not fit");
	f->f_part_off = f->f_jpeg_off - (size_t)n;
	memcpy(f->f_buf + f->f_part_off, head, (size_t)n);
	memcpy(f->f_buf + f->f_jpeg_off + f->f_jpeg_len, FRAME_TRAILER,
	    FRAME_TRAILER_LEN);
	f->f_end = f->f_jpeg_off + f->f_jpeg_len + FRAME_TRAILER_LEN;
	memcpy(f->f_buf + f->f_end, FRAME_ADVANCE, FRAME_ADVANCE_LEN);
	f->f_adv_end = f->f_end + FRAME_ADVANCE_LEN;
}

struct frame *
frame_ref(struct frame *f)
{
	f->f_refs++;
	return f;
}

void
frame_unref(struct frame *f)
{
	struct frame_pool *fp;

	if (f == NULL || --f->f_refs > 0)
		return;
	fp = f->f_pool;
	fp->fp_live--;
	if (fp->fp_nfree < FRAME_POOL_KEEP) {
		TAILQ_INSERT_HEAD(&fp->fp_free, f, f_free);
		fp->fp_nfree++;
	} else
		frame_destroy(f);
}

void
frame_unref_cb(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	frame_unref(arg);
}

/* X-Shmcam-Placeholder, by enum frame_placeholder: the value, and the
 * part header line the stream sends. */
#define PLACEHOLDER(v)	{ v, "X-Shmcam-Placeholder: " v "\r\n" }
static const struct {
	const char	*name;
	const char	*header;
} placeholders[] = {
	[FRAME_LIVE] = { NULL, "" },
	[FRAME_OFFLINE] = PLACEHOLDER("offline"),
	[FRAME_NO_SIGNAL] = PLACEHOLDER("no-signal"),
};

const char *
frame_placeholder_header(const struct frame *f)
{
	return placeholders[f->f_placeholder].header;
}

const char *
frame_placeholder_name(const struct frame *f)
{
	return placeholders[f->f_placeholder].name;
}

int
jpeg_looks_complete(const uint8_t *buf, size_t len)
{
	return len >= 4 && buf[0] == 0xff && buf[1] == 0xd8 &&
	    buf[len - 2] == 0xff && buf[len - 1] == 0xd9;
}
