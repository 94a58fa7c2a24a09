/*
 * hlsstream.c - a camera's H.264 as Apple Low-Latency HLS: the event-loop
 * side of hls.h.
 *
 * URLs (relative to a camera: /NAME/... or, with one camera, /...)
 *   hls.m3u8             the media playlist; with _HLS_msn (and _HLS_part)
 *                        a blocking reload (rfc8216bis 6.2.5.2)
 *   hls/init-HASH.mp4    the init segment (ftyp + moov)
 *   hls/pGEN-FIRST.m4s   a part: one moof + mdat of about a third of a
 *                        second; the part after the newest is the
 *                        playlist's EXT-X-PRELOAD-HINT, and a request for
 *                        it is held until it exists
 *   hls/sGEN-FIRST-LAST.m4s  a segment: its parts, one after the other
 *
 * One segmenter per camera, never one per client: the MP4 mux
 * (mp4stream.c) takes each access unit from the H.264 ring once, checks
 * it and keeps the init segment; it hands the unit to hls_frame(), which
 * collects a part's frames and, when the part ends, writes them once as
 * a fragment (mp4.c) into a reference-counted frame.  Every response that
 * carries the part, alone or as a piece of its segment, holds a
 * reference to that frame (evbuffer_add_reference()), as MJPEG clients
 * hold JPEG frames; the playlist's text is written once per change of
 * the window and shared the same way.  The window (struct hls_window) is
 * bounded: HLS_SEGMENTS_MAX segments of at most HLS_PARTS_MAX parts, and
 * a segment that has left the playlist stays only as long as the draft
 * wants it available (6.2.2).
 *
 * Where a part ends is hls_cut_decide()'s call, frame by frame; a part is
 * written when the frame after it arrives (its last frame's duration is
 * then known, so the parts tile the timeline exactly).  Every keyframe
 * starts a segment.  Decode times are capture times on the source's
 * nominal frame grid (mp4_timeline_next()), the grid anchored anew at
 * each keyframe, so a part's bytes depend on the ring alone (hls.h:
 * names that survive restarts).
 *
 * Held requests.  A playlist request whose directives ask for a part not
 * yet published, or a request for the hinted part, is kept as it is (the
 * evhttp request, unanswered: evhttp reads nothing more from that
 * connection meanwhile) in hl_held, and looked at again whenever a part
 * is published or the stream breaks; nothing polls.  A held request
 * counts toward --max-clients; one not answerable within three target
 * durations gets 503 (6.2.5.2), the tick sees to that.  If the
 * connection is closed while held (its request deadline, shutdown), the
 * guard in listen.c tells us before evhttp frees the request.
 *
 * Breaks.  Frames lost before we read them, a new ring (the capture
 * restarted): the open part is dropped, the segment ends, and the next
 * keyframe starts a segment with EXT-X-DISCONTINUITY.  A pause of the
 * source longer than a part is not a break: the open part ends, its last
 * frame shown as long as the part may last, and the stream goes on with
 * the next frame after a hole in the timeline (every server sees the
 * pause alike, so they make the same parts).  A part dropped that way was never published, so
 * no two servers publish different parts of one name; a request held
 * for it gets 404 (6.2.6).
 *
 * Activity.  The segmenter runs while HLS requests come: the first one
 * counts the camera's HLS as one H.264 viewer (so the capture encodes,
 * ctl.h) and asks for a keyframe; HLS_IDLE_S after the last one it drops
 * its window and stops.  Its numbers go on from where they were (hls.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "hls.h"
#include "log.h"
#include "server.h"

/* No HLS request for this long: the segmenter stops. */
#define HLS_IDLE_NS		(10 * 1000000000ull)
/* A segment starts at a keyframe no older than this: one from before an
 * idle spell would begin the window with a hole. */
#define HLS_START_MAX_AGE_NS	1000000000ull
/* Parts, segments and init segments never change under their name. */
#define HLS_CACHE_IMMUTABLE	"public, max-age=31536000, immutable"

enum hls_wait {
	HLS_WAIT_PLAYLIST,	/* directives not yet met */
	HLS_WAIT_PART,		/* the hinted part */
};

struct hls_held {
	TAILQ_ENTRY(hls_held) hh_entry;
	struct camera	*hh_cam;
	struct evhttp_request *hh_req;
	struct evhttp_connection *hh_evcon;
	enum hls_wait	 hh_wait;
	struct hls_directives hh_dir;		/* playlist */
	uint64_t	 hh_generation;		/* part */
	uint64_t	 hh_seq;
	uint64_t	 hh_deadline_ns;	/* CLOCK_MONOTONIC */
};

unsigned
hls_viewers(const struct camera *cam)
{
	return cam->c_hls.hl_active ? 1 : 0;
}

static void
hls_viewers_update(struct camera *cam)
{
	cam->c_h264_viewers = cam->c_mp4.mx_nclients + hls_viewers(cam);
	camera_viewers_changed(cam);
}

/* ----------------------------------------------------------- window */

static unsigned
seg_index(const struct hls_window *w, unsigned i)
{
	return (w->first + i) % HLS_SEGMENTS_MAX;
}

/* Drops the oldest segment and what it holds. */
static void
window_drop_oldest(struct hls_mux *hl)
{
	struct hls_window *w = &hl->hl_win;
	unsigned idx = seg_index(w, 0), j;

	for (j = 0; j < w->segs[idx].nparts; j++) {
		hl->hl_bytes -= hl->hl_parts[idx][j]->f_jpeg_len;
		frame_unref(hl->hl_parts[idx][j]);
		hl->hl_parts[idx][j] = NULL;
	}
	frame_unref(hl->hl_inits[idx]);
	hl->hl_inits[idx] = NULL;
	w->first = (w->first + 1) % HLS_SEGMENTS_MAX;
	w->count--;
	hl->hl_version++;
}

/* Drops the newest segment (it has no part: nothing of it was shown but
 * the hint); its numbers are given out again. */
static void
window_drop_newest(struct hls_mux *hl)
{
	struct hls_window *w = &hl->hl_win;
	unsigned idx = seg_index(w, w->count - 1);
	struct hls_segment *s = &w->segs[idx];

	hl->hl_last_msn = s->msn - 1;
	hl->hl_last_dsn = s->dsn - (s->discontinuity ? 1 : 0);
	if (s->discontinuity)
		hl->hl_break = 1;
	frame_unref(hl->hl_inits[idx]);
	hl->hl_inits[idx] = NULL;
	w->count--;
	hl->hl_version++;
}

static void
window_clear(struct hls_mux *hl)
{
	while (hl->hl_win.count > 0)
		window_drop_oldest(hl);
	hl->hl_win.hint = 0;
}

/*
 * Segments that left the playlist stay available for as long as the
 * draft asks (6.2.2: a segment until its first appearance plus its
 * duration plus the playlist's, a part three target durations past its
 * tag's removal): here, while they end within the listed duration plus
 * three target durations of the stream's end.
 */
static void
window_expire(struct hls_mux *hl)
{
	struct hls_window *w = &hl->hl_win;
	unsigned listed = hls_window_listed(w), i;
	uint64_t total = 0, listed_dur = 0, keep, end;

	for (i = 0; i < w->count; i++) {
		total += HLS_SEG(w, i)->duration;
		if (i >= listed)
			listed_dur += HLS_SEG(w, i)->duration;
	}
	keep = listed_dur + 3ull * w->target_s * MP4_TIMESCALE;
	end = 0;
	while (w->count > 0 && listed > 0) {
		end += HLS_SEG(w, 0)->duration;
		if (total - end <= keep)
			break;
		window_drop_oldest(hl);
		listed--;
	}
}

/* ------------------------------------------------------ held requests */

static void
held_free(struct hls_held *hh)
{
	struct camera *cam = hh->hh_cam;

	TAILQ_REMOVE(&cam->c_hls.hl_held, hh, hh_entry);
	cam->c_hls.hl_nheld--;
	cam->c_srv->nheld--;
	free(hh);
}

/* The connection goes before we answered: evhttp frees the request. */
static void
held_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	held_free(arg);
}

/* Takes req back from the held list so that it can be answered. */
static struct evhttp_request *
held_take(struct hls_held *hh)
{
	struct evhttp_request *req = hh->hh_req;

	conn_watch(hh->hh_cam->c_srv, hh->hh_evcon, NULL, NULL);
	held_free(hh);
	return req;
}

static void
hls_hold(struct camera *cam, struct evhttp_request *req, enum hls_wait wait,
    const struct hls_directives *d, uint64_t generation, uint64_t seq)
{
	struct hls_mux *hl = &cam->c_hls;
	struct server *srv = cam->c_srv;
	struct hls_held *hh;
	uint32_t target = hl->hl_win.target_s != 0 ? hl->hl_win.target_s :
	    HLS_TARGET_DEFAULT;

	if (http_busy(srv, req))
		return;
	hh = calloc(1, sizeof(*hh));
	if (hh == NULL) {
		http_error(req, HTTP_SERVUNAVAIL, "Service Unavailable",
		    "out of memory");
		return;
	}
	hh->hh_cam = cam;
	hh->hh_req = req;
	hh->hh_evcon = evhttp_request_get_connection(req);
	hh->hh_wait = wait;
	if (d != NULL)
		hh->hh_dir = *d;
	hh->hh_generation = generation;
	hh->hh_seq = seq;
	/* 6.2.5.2: 503 after blocking for more than three target
	 * durations. */
	hh->hh_deadline_ns = clock_ns(CLOCK_MONOTONIC) +
	    3ull * target * 1000000000ull;
	TAILQ_INSERT_TAIL(&hl->hl_held, hh, hh_entry);
	hl->hl_nheld++;
	hl->hl_held_total++;
	srv->nheld++;
	conn_watch(srv, hh->hh_evcon, held_closed_cb, hh);
}

/* ---------------------------------------------------------- replies */

/*
 * Sends n frames' bytes, one after the other, by reference: MP4 (parts,
 * segments, init segments: immutable) unless ctype says otherwise (the
 * caller then sets Cache-Control).
 */
static void
hls_reply_frames(struct camera *cam, struct evhttp_request *req,
    struct frame *const *f, unsigned n, const char *ctype)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *body = evbuffer_new();
	size_t total = 0;
	char len[24];
	unsigned i;

	if (body == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		if (evbuffer_add_reference(body, f[i]->f_buf + f[i]->f_jpeg_off,
		    f[i]->f_jpeg_len, frame_unref_cb, frame_ref(f[i])) == -1) {
			frame_unref(f[i]);
			evbuffer_free(body);
			goto oom;
		}
		total += f[i]->f_jpeg_len;
	}
	http_common_headers(req);
	evhttp_add_header(h, "Content-Type", ctype != NULL ? ctype :
	    "video/mp4");
	if (ctype == NULL)
		evhttp_add_header(h, "Cache-Control", HLS_CACHE_IMMUTABLE);
	/* Explicit, so that HEAD gets it too (evhttp counts the body). */
	snprintf(len, sizeof(len), "%zu", total);
	evhttp_add_header(h, "Content-Length", len);
	if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
		cam->c_hls.hl_bytes_sent += total;
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
	return;
oom:
	http_error(req, HTTP_SERVUNAVAIL, "Service Unavailable",
	    "out of memory");
}

/* The window's playlist text, written once per change. */
static struct frame *
hls_playlist_text(struct hls_mux *hl)
{
	struct frame *f;
	ssize_t n;

	if (hl->hl_playlist != NULL &&
	    hl->hl_playlist_version == hl->hl_version)
		return hl->hl_playlist;
	n = hls_playlist_write(NULL, 0, &hl->hl_win);
	if (n < 0 || (f = frame_get(&hl->hl_pool, (size_t)n + 1)) == NULL)
		return NULL;
	hls_playlist_write((char *)f->f_buf + f->f_jpeg_off, (size_t)n + 1,
	    &hl->hl_win);
	f->f_jpeg_len = (size_t)n;
	frame_unref(hl->hl_playlist);
	hl->hl_playlist = f;
	hl->hl_playlist_version = hl->hl_version;
	return f;
}

static void
hls_reply_playlist(struct camera *cam, struct evhttp_request *req,
    const struct hls_directives *d)
{
	struct hls_mux *hl = &cam->c_hls;
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct frame *f = hls_playlist_text(hl);
	char cache[48];

	if (f == NULL) {
		http_error(req, HTTP_SERVUNAVAIL, "Service Unavailable",
		    "no playlist");
		return;
	}
	/*
	 * The live playlist changes with every part: a second in a cache
	 * at most (it takes a burst of players starting at once).  One
	 * asked for with _HLS_msn is the answer for that part, right for
	 * anyone who asks for the same part: a cache may keep it a while
	 * (three target durations; later requests name later parts).
	 */
	if (d->has_msn)
		snprintf(cache, sizeof(cache), "public, max-age=%u",
		    3 * hl->hl_win.target_s);
	else
		snprintf(cache, sizeof(cache), "public, max-age=1");
	evhttp_add_header(h, "Cache-Control", cache);
	hls_reply_frames(cam, req, &f, 1, "application/vnd.apple.mpegurl");
}

/* Where part (generation, seq) is: segment index and part index. */
static int
hls_find_part(const struct hls_window *w, uint64_t generation, uint64_t seq,
    unsigned *si, unsigned *pi)
{
	unsigned i, j;

	for (i = w->count; i > 0; i--) {
		const struct hls_segment *s = HLS_SEG(w, i - 1);

		if (s->generation != generation || s->nparts == 0 ||
		    seq < s->first_seq || seq > s->last_seq)
			continue;
		for (j = 0; j < s->nparts; j++)
			if (s->parts[j].first_seq == seq) {
				*si = seg_index(w, i - 1);
				*pi = j;
				return 0;
			}
		return -ENOENT;
	}
	return -ENOENT;
}

/* After the window changed: every held request that can be answered is;
 * a wait for a part that will not come ends with 404. */
static void
hls_wake(struct camera *cam)
{
	struct hls_mux *hl = &cam->c_hls;
	struct hls_window *w = &hl->hl_win;
	struct hls_held *hh, *next;
	struct hls_directives d;
	unsigned si, pi;

	for (hh = TAILQ_FIRST(&hl->hl_held); hh != NULL; hh = next) {
		next = TAILQ_NEXT(hh, hh_entry);
		if (hh->hh_wait == HLS_WAIT_PLAYLIST) {
			d = hh->hh_dir;
			switch (hls_block_decide(w, &d)) {
			case HLS_BLOCK_READY:
				hls_reply_playlist(cam, held_take(hh), &d);
				break;
			case HLS_BLOCK_TOO_FAR:
				hl->hl_too_far++;
				http_error(held_take(hh), HTTP_BADREQUEST,
				    "Bad Request", "_HLS_msn or _HLS_part "
				    "too far ahead");
				break;
			case HLS_BLOCK_WAIT:
				break;
			}
			continue;
		}
		if (hls_find_part(w, hh->hh_generation, hh->hh_seq, &si,
		    &pi) == 0) {
			struct frame *f = hl->hl_parts[si][pi];

			hls_reply_frames(cam, held_take(hh), &f, 1, NULL);
		} else if (!w->hint || w->hint_generation !=
		    hh->hh_generation || w->hint_seq != hh->hh_seq) {
			hl->hl_not_found++;
			http_error(held_take(hh), HTTP_NOTFOUND, "Not Found",
			    "this part was not made: the stream broke off");
		}
	}
}

/* --------------------------------------------------------- segmenter */

static void
pending_clear(struct hls_mux *hl)
{
	hl->hl_npend = 0;
	hl->hl_plen = 0;
}

/* Appends a frame to the open part; -ENOMEM or -ENOSPC. */
static int
pending_add(struct hls_mux *hl, const struct ring_frame *meta,
    const uint8_t *au, uint64_t dts, int key)
{
	struct hls_pending *p;

	if (hl->hl_npend >= HLS_PENDING_MAX)
		return -ENOSPC;
	if (hl->hl_plen + meta->length > hl->hl_pcap) {
		size_t cap = (hl->hl_plen + meta->length) * 2;
		uint8_t *b = realloc(hl->hl_pbuf, cap);

		if (b == NULL)
			return -ENOMEM;
		hl->hl_pbuf = b;
		hl->hl_pcap = cap;
	}
	memcpy(hl->hl_pbuf + hl->hl_plen, au, meta->length);
	p = &hl->hl_pend[hl->hl_npend++];
	p->hp_off = hl->hl_plen;
	p->hp_len = meta->length;
	p->hp_seq = meta->seq;
	p->hp_dts = dts;
	p->hp_real_ns = meta->capture_real_ns;
	p->hp_key = key;
	hl->hl_plen += meta->length;
	hl->hl_cut.nframes = hl->hl_npend;
	hl->hl_cut.last = dts;
	if (hl->hl_npend == 1)
		hl->hl_cut.part_start = dts;
	return 0;
}

/* Keeps the pending frames from i on (the first i went into a part). */
static void
pending_shift(struct hls_mux *hl, unsigned i)
{
	size_t off;
	unsigned j;

	if (i >= hl->hl_npend) {
		pending_clear(hl);
		hl->hl_cut.nframes = 0;
		return;
	}
	off = hl->hl_pend[i].hp_off;
	memmove(hl->hl_pbuf, hl->hl_pbuf + off, hl->hl_plen - off);
	hl->hl_plen -= off;
	for (j = i; j < hl->hl_npend; j++) {
		hl->hl_pend[j - i] = hl->hl_pend[j];
		hl->hl_pend[j - i].hp_off -= off;
	}
	hl->hl_npend -= i;
	hl->hl_cut.nframes = hl->hl_npend;
	hl->hl_cut.part_start = hl->hl_pend[0].hp_dts;
	hl->hl_cut.last = hl->hl_pend[hl->hl_npend - 1].hp_dts;
}

/*
 * Writes the first n pending frames as a part of the newest segment,
 * the last of them lasting until end (a decode time).  0, or -errno if
 * it could not be written (the frames are then dropped all the same).
 */
static int
hls_publish_part(struct camera *cam, unsigned n, uint64_t end)
{
	struct hls_mux *hl = &cam->c_hls;
	struct hls_window *w = &hl->hl_win;
	unsigned idx = seg_index(w, w->count - 1), i;
	struct hls_segment *s = &w->segs[idx];
	struct mp4_sample samples[HLS_PENDING_MAX];
	struct mp4_fragment fr;
	struct hls_part *p;
	struct frame *f = NULL;
	ssize_t len;
	int rc = 0;

	if (s->nparts >= HLS_PARTS_MAX)
		rc = -ENOSPC;
	for (i = 0; i < n && rc == 0; i++) {
		const struct hls_pending *hp = &hl->hl_pend[i];
		uint64_t next = i + 1 < n ? hl->hl_pend[i + 1].hp_dts : end;

		samples[i] = (struct mp4_sample){ hl->hl_pbuf + hp->hp_off,
		    hp->hp_len, (uint32_t)(next - hp->hp_dts), hp->hp_key };
	}
	/* mfhd's sequence number: the ring's, as for /stream.mp4. */
	fr = (struct mp4_fragment){ (uint32_t)hl->hl_pend[0].hp_seq,
	    hl->hl_pend[0].hp_dts, samples, n, hl->hl_pend[0].hp_real_ns };
	len = rc == 0 ? mp4_write_fragment(NULL, 0, &fr) : rc;
	if (len < 0)
		rc = (int)len;
	else if ((f = frame_get(&hl->hl_pool, (size_t)len)) == NULL)
		rc = -ENOMEM;
	if (rc == 0) {
		mp4_write_fragment(f->f_buf + f->f_jpeg_off, (size_t)len, &fr);
		f->f_jpeg_len = (size_t)len;
		p = &s->parts[s->nparts];
		p->first_seq = hl->hl_pend[0].hp_seq;
		p->nframes = n;
		p->duration = (uint32_t)(end - hl->hl_pend[0].hp_dts);
		p->independent = hl->hl_pend[0].hp_key;
		hl->hl_parts[idx][s->nparts++] = f;
		s->duration += p->duration;
		s->last_seq = hl->hl_pend[n - 1].hp_seq;
		hl->hl_bytes += (size_t)len;
		hl->hl_parts_made++;
		hl->hl_cut.seg_parts++;
		w->hint = 1;
		w->hint_generation = s->generation;
		w->hint_seq = hl->hl_pend[n - 1].hp_seq + 1;
		hl->hl_version++;
	} else
		log_warnx("camera %s: HLS part of %u frames from %" PRIu64
		    " not written: %s", cam->c_name, n, hl->hl_pend[0].hp_seq,
		    strerror(-rc));
	pending_shift(hl, n);
	return rc;
}

/* Ends the newest segment (a keyframe comes, or the stream broke). */
static void
hls_segment_end(struct camera *cam)
{
	struct hls_mux *hl = &cam->c_hls;
	struct hls_window *w = &hl->hl_win;
	struct hls_segment *s;
	uint64_t rounded;

	hl->hl_cut.open = 0;
	if (w->count == 0)
		return;
	s = HLS_SEG(w, w->count - 1);
	if (s->complete)
		return;
	if (s->nparts == 0) {
		window_drop_newest(hl);
		return;
	}
	s->complete = 1;
	hl->hl_segments_made++;
	hl->hl_version++;
	/* 6.2.1: EXTINF rounded to whole seconds may not exceed the
	 * target.  Our own encoder's GOP never gets there; a camera's own
	 * H.264 with a longer GOP than its rate suggested does, and a
	 * larger target (against 6.2.1's rule that it never changes) beats
	 * a playlist that lies about it. */
	rounded = (s->duration + MP4_TIMESCALE / 2) / MP4_TIMESCALE;
	if (rounded > w->target_s) {
		log_warnx("camera %s: HLS segment of %.3f s, longer than the "
		    "target duration of %u s: target raised", cam->c_name,
		    (double)s->duration / MP4_TIMESCALE, w->target_s);
		w->target_s = (uint32_t)rounded;
	}
	window_expire(hl);
}

/*
 * The stream cannot go on from the open part: frames were lost, the ring
 * went away or was replaced.  The open part is dropped unpublished,
 * the segment ends, and the next segment starts with a discontinuity.
 */
static void
hls_break(struct camera *cam, const char *why)
{
	struct hls_mux *hl = &cam->c_hls;

	if (hl->hl_cut.open || hl->hl_npend > 0) {
		log_info("camera %s: HLS breaks off: %s", cam->c_name, why);
		hl->hl_breaks++;
	}
	pending_clear(hl);
	hl->hl_cut.nframes = 0;
	hls_segment_end(cam);
	hl->hl_break = 1;
	hl->hl_win.hint = 0;
	hl->hl_version++;
	hls_wake(cam);
}

/*
 * The window's constants for the ring now attached, from its nominal rate
 * and GOP.  A read that fails (the capture rewriting the block at that
 * moment, on a loaded machine) keeps the values read before: constants
 * that changed would begin the window anew.
 */
static void
hls_window_constants(struct camera *cam, uint32_t *interval,
    uint32_t *part_nominal, uint32_t *part_target, uint32_t *target_s)
{
	struct hls_mux *hl = &cam->c_hls;
	const struct ring_reader *r = &cam->c_at.at_ring[CTL_KIND_H264];
	struct ring_status st;
	struct ring_params *pp;

	if (ring_read_status(r, &st) == 0)
		hl->hl_fps_milli = st.fps_milli;
	pp = malloc(sizeof(*pp));
	if (pp != NULL && ring_read_params(r, pp) == 0)
		hl->hl_gop = pp->gop;
	free(pp);
	hls_constants(hl->hl_fps_milli, hl->hl_gop, interval, part_nominal,
	    part_target, target_s);
}

/* A keyframe opens a segment. */
static int
hls_segment_start(struct camera *cam, const struct ring_frame *meta,
    const uint8_t *au, uint64_t dts)
{
	struct hls_mux *hl = &cam->c_hls;
	struct hls_window *w = &hl->hl_win;
	struct mp4_mux *mx = &cam->c_mp4;
	const struct hls_segment *prev = w->count > 0 ?
	    HLS_SEG(w, w->count - 1) : NULL;
	uint32_t interval, part_nominal, part_target, target_s;
	uint64_t real_ms = meta->capture_real_ns / 1000000u;
	struct hls_segment *s;
	unsigned idx;
	int disc;

	if (mx->mx_init == NULL)
		return -ENOENT;
	/* A window's constants never change (6.2.1, 4.4.3.7): a ring of
	 * another rate or GOP begins the window anew. */
	hls_window_constants(cam, &interval, &part_nominal, &part_target,
	    &target_s);
	if (w->count > 0 && (part_target != w->part_target ||
	    target_s != hl->hl_target_nominal)) {
		log_info("camera %s: HLS starts anew: the ring's rate or GOP "
		    "changed", cam->c_name);
		window_clear(hl);
		prev = NULL;
		hl->hl_break = 1;
	}
	w->part_target = part_target;
	/* The target as the GOP says; a segment that outgrew it may have
	 * raised the window's since (hls_segment_end()). */
	hl->hl_target_nominal = target_s;
	if (w->count == 0)
		w->target_s = target_s;
	hl->hl_cut.interval = interval;
	hl->hl_cut.part_nominal = part_nominal;
	hl->hl_cut.part_target = part_target;
	hl->hl_timeline.tl_nominal = interval;

	if (w->count == HLS_SEGMENTS_MAX)
		window_drop_oldest(hl);
	disc = hl->hl_break || (prev != NULL &&
	    prev->init_hash != mx->mx_init_hash);
	idx = seg_index(w, w->count);
	s = &w->segs[idx];
	memset(s, 0, sizeof(*s));
	if (!hl->hl_numbered) {
		/* A run's first segment: numbers above any an earlier run
		 * can have given (hls.h). */
		s->msn = hl->hl_last_msn + 1 > real_ms ? hl->hl_last_msn + 1 :
		    real_ms;
		s->dsn = hl->hl_last_dsn + 1 > real_ms ? hl->hl_last_dsn + 1 :
		    real_ms;
		hl->hl_numbered = 1;
		disc = 0;
	} else {
		s->msn = hl->hl_last_msn + 1;
		s->dsn = hl->hl_last_dsn + (disc ? 1 : 0);
	}
	s->discontinuity = (uint8_t)disc;
	s->generation = cam->c_at.at_generation[CTL_KIND_H264];
	s->first_seq = s->last_seq = meta->seq;
	s->pdt_ns = meta->capture_real_ns;
	s->init_hash = mx->mx_init_hash;
	hl->hl_inits[idx] = frame_ref(mx->mx_init);
	w->count++;
	hl->hl_last_msn = s->msn;
	hl->hl_last_dsn = s->dsn;
	hl->hl_break = 0;

	hl->hl_cut.open = 1;
	hl->hl_cut.seg_parts = 0;
	hl->hl_seg_start = dts;
	hl->hl_key_asked = 0;
	pending_clear(hl);
	/* The segment's first part starts with this keyframe. */
	w->hint = 1;
	w->hint_generation = s->generation;
	w->hint_seq = meta->seq;
	hl->hl_version++;
	return pending_add(hl, meta, au, dts, 1);
}

void
hls_frame(struct camera *cam, const struct ring_frame *meta,
    const uint8_t *au, int key)
{
	struct hls_mux *hl = &cam->c_hls;
	uint64_t gen = cam->c_at.at_generation[CTL_KIND_H264];
	uint64_t dts, now, stalled;
	uint64_t version = hl->hl_version;
	uint32_t unused;
	int guard;

	if (!hl->hl_active)
		return;
	if (hl->hl_last_seq != 0 && (gen != hl->hl_generation ||
	    meta->seq != hl->hl_last_seq + 1))
		hls_break(cam, "H.264 frames lost");
	hl->hl_generation = gen;
	hl->hl_last_seq = meta->seq;
	/* Decode times on the nominal grid, anchored at each keyframe:
	 * what a part holds depends on its segment's frames alone. */
	if (key)
		hl->hl_timeline.tl_anchor = 0;
	mp4_timeline_next(&hl->hl_timeline, meta->capture_mono_ns, &dts,
	    &unused);

	for (guard = 0; guard < 8; guard++) {
		switch (hls_cut_decide(&hl->hl_cut, dts, key)) {
		case HLS_CUT_SKIP:
			hl->hl_frames_skipped++;
			goto out;
		case HLS_CUT_START:
			now = clock_ns(CLOCK_MONOTONIC);
			if (now > meta->capture_mono_ns && now -
			    meta->capture_mono_ns > HLS_START_MAX_AGE_NS) {
				hl->hl_frames_skipped++;
				goto out;
			}
			if (hls_segment_start(cam, meta, au, dts) != 0)
				hls_break(cam, "out of memory");
			goto out;
		case HLS_CUT_APPEND:
			if (pending_add(hl, meta, au, dts, key) != 0)
				hls_break(cam, "part too long");
			goto out;
		case HLS_CUT_PART:
			(void)hls_publish_part(cam, hl->hl_npend, dts);
			if (pending_add(hl, meta, au, dts, key) != 0)
				hls_break(cam, "out of memory");
			goto out;
		case HLS_CUT_SEGMENT:
			(void)hls_publish_part(cam, hl->hl_npend, dts);
			hls_segment_end(cam);
			continue;	/* START with this keyframe */
		case HLS_CUT_MOVE_LAST:
			(void)hls_publish_part(cam, hl->hl_npend - 1,
			    hl->hl_pend[hl->hl_npend - 1].hp_dts);
			continue;
		case HLS_CUT_STALL:
			/* The source paused (every server sees it alike):
			 * the open part's last frame lasts as long as the
			 * part may, and the frame goes on after the hole. */
			stalled = hl->hl_cut.part_start +
			    hl->hl_cut.part_target;
			(void)hls_publish_part(cam, hl->hl_npend,
			    stalled < dts ? stalled : dts);
			hl->hl_stalls++;
			if (key) {
				hls_segment_end(cam);
				continue;
			}
			if (pending_add(hl, meta, au, dts, key) != 0)
				hls_break(cam, "out of memory");
			goto out;
		case HLS_CUT_BREAK:
			/* The segment may have no more parts. */
			(void)hls_publish_part(cam, hl->hl_npend,
			    hl->hl_cut.last + hl->hl_cut.interval);
			hls_break(cam, "a segment of too many parts");
			continue;
		}
	}
out:
	/* A keyframe overdue: the segment would outgrow the target duration
	 * (an encoder that dropped frames under load keeps its GOP in
	 * frames, not in time).  One request per segment; the capture
	 * grants it at once, a second after the last keyframe. */
	if (hl->hl_cut.open && !hl->hl_key_asked &&
	    cam->c_srv->opt.keyframe_requests && dts > hl->hl_seg_start &&
	    dts - hl->hl_seg_start > (uint64_t)hl->hl_win.target_s *
	    MP4_TIMESCALE + 2ull * hl->hl_cut.interval) {
		hl->hl_key_asked = 1;
		hl->hl_keyframes_requested++;
		(void)camera_request_keyframe(cam);
	}
	if (hl->hl_version != version)
		hls_wake(cam);
}

void
hls_h264_event(struct camera *cam, enum attach_event ev)
{
	struct hls_mux *hl = &cam->c_hls;

	switch (ev) {
	case ATTACH_UP:
		hls_break(cam, "a new H.264 ring");
		hl->hl_last_seq = 0;
		hl->hl_fps_milli = hl->hl_gop = 0;
		break;
	case ATTACH_DOWN:
		hls_break(cam, "the H.264 ring went away");
		hl->hl_last_seq = 0;
		break;
	case ATTACH_WAKEUP:
	case ATTACH_WAITING:
		break;
	}
}

/* ---------------------------------------------------------- activity */

static void
hls_activate(struct camera *cam)
{
	struct hls_mux *hl = &cam->c_hls;

	hl->hl_last_request_ns = clock_ns(CLOCK_MONOTONIC);
	if (hl->hl_active)
		return;
	hl->hl_active = 1;
	hl->hl_activations++;
	hl->hl_last_seq = 0;
	hl->hl_break = 0;
	hl->hl_numbered = 0;
	memset(&hl->hl_cut, 0, sizeof(hl->hl_cut));
	log_info("camera %s: HLS starts", cam->c_name);
	hls_viewers_update(cam);
	/* The capture starts encoding for us with a keyframe; if it was
	 * encoding already, a keyframe soon saves a GOP's wait. */
	if (cam->c_srv->opt.keyframe_requests)
		(void)camera_request_keyframe(cam);
}

static void
hls_deactivate(struct camera *cam)
{
	struct hls_mux *hl = &cam->c_hls;

	log_info("camera %s: HLS stops: no request for %llu s", cam->c_name,
	    (unsigned long long)(HLS_IDLE_NS / 1000000000ull));
	hl->hl_active = 0;
	pending_clear(hl);
	hl->hl_cut.open = 0;
	window_clear(hl);
	frame_unref(hl->hl_playlist);
	hl->hl_playlist = NULL;
	hl->hl_version++;
	hls_viewers_update(cam);
}

void
hls_tick(struct camera *cam)
{
	struct hls_mux *hl = &cam->c_hls;
	struct hls_held *hh, *next;
	uint64_t now = clock_ns(CLOCK_MONOTONIC);

	for (hh = TAILQ_FIRST(&hl->hl_held); hh != NULL; hh = next) {
		next = TAILQ_NEXT(hh, hh_entry);
		if (now < hh->hh_deadline_ns)
			continue;
		hl->hl_held_timeouts++;
		http_error(held_take(hh), HTTP_SERVUNAVAIL,
		    "Service Unavailable", "not published in time: the "
		    "camera's H.264 does not come");
	}
	if (hl->hl_active && hl->hl_nheld == 0 &&
	    now - hl->hl_last_request_ns > HLS_IDLE_NS)
		hls_deactivate(cam);
}

/* ---------------------------------------------------------- requests */

static int
hls_refuse_unavailable(struct camera *cam, struct evhttp_request *req)
{
	if (mp4_available(cam))
		return 0;
	http_error(req, HTTP_NOTFOUND, "Not Found", "this camera has no "
	    "H.264 stream (shmcam-capture --h264); /stream is MJPEG");
	return 1;
}

void
hls_playlist_request(struct camera *cam, struct evhttp_request *req,
    const char *query)
{
	struct hls_mux *hl = &cam->c_hls;
	struct hls_directives d;

	if (hls_refuse_unavailable(cam, req))
		return;
	if (hls_directives_parse(query, &d) != 0) {
		http_error(req, HTTP_BADREQUEST, "Bad Request", "_HLS_msn and "
		    "_HLS_part take decimal integers; _HLS_part needs "
		    "_HLS_msn");
		return;
	}
	hls_activate(cam);
	hl->hl_requests_playlist++;
	if (d.has_msn)
		hl->hl_requests_blocking++;
	switch (hls_block_decide(&hl->hl_win, &d)) {
	case HLS_BLOCK_READY:
		hls_reply_playlist(cam, req, &d);
		return;
	case HLS_BLOCK_TOO_FAR:
		hl->hl_too_far++;
		http_error(req, HTTP_BADREQUEST, "Bad Request", "_HLS_msn or "
		    "_HLS_part too far ahead");
		return;
	case HLS_BLOCK_WAIT:
		hls_hold(cam, req, HLS_WAIT_PLAYLIST, &d, 0, 0);
		return;
	}
}

void
hls_file_request(struct camera *cam, struct evhttp_request *req,
    const char *name, size_t len)
{
	struct hls_mux *hl = &cam->c_hls;
	struct hls_window *w = &hl->hl_win;
	struct hls_name n;
	unsigned i, si, pi;

	if (hls_refuse_unavailable(cam, req))
		return;
	if (hls_name_parse(name, len, &n) != 0) {
		http_error(req, HTTP_NOTFOUND, "Not Found", "no such resource");
		return;
	}
	hls_activate(cam);
	switch (n.kind) {
	case HLS_FILE_INIT:
		hl->hl_requests_init++;
		for (i = w->count; i > 0; i--) {
			unsigned idx = seg_index(w, i - 1);

			if (w->segs[idx].init_hash == n.hash) {
				hls_reply_frames(cam, req, &hl->hl_inits[idx],
				    1, NULL);
				return;
			}
		}
		break;
	case HLS_FILE_PART:
		hl->hl_requests_part++;
		if (hls_find_part(w, n.generation, n.first, &si, &pi) == 0) {
			hls_reply_frames(cam, req, &hl->hl_parts[si][pi], 1,
			    NULL);
			return;
		}
		/* 6.2.6: the hinted part is answered once it exists. */
		if (w->hint && w->hint_generation == n.generation &&
		    w->hint_seq == n.first) {
			hls_hold(cam, req, HLS_WAIT_PART, NULL, n.generation,
			    n.first);
			return;
		}
		break;
	case HLS_FILE_SEGMENT:
		hl->hl_requests_segment++;
		for (i = w->count; i > 0; i--) {
			unsigned idx = seg_index(w, i - 1);
			const struct hls_segment *s = &w->segs[idx];

			if (s->complete && s->generation == n.generation &&
			    s->first_seq == n.first && s->last_seq == n.last) {
				hls_reply_frames(cam, req, hl->hl_parts[idx],
				    s->nparts, NULL);
				return;
			}
		}
		break;
	case HLS_FILE_NONE:
		break;
	}
	hl->hl_not_found++;
	http_error(req, HTTP_NOTFOUND, "Not Found", "not in the window: gone, "
	    "or never made");
}

/* ------------------------------------------------------------ set up */

void
hls_camera_init(struct camera *cam)
{
	struct hls_mux *hl = &cam->c_hls;

	frame_pool_init(&hl->hl_pool);
	TAILQ_INIT(&hl->hl_held);
}

void
hls_camera_free(struct camera *cam)
{
	struct hls_mux *hl = &cam->c_hls;
	struct hls_held *hh;

	/* Held requests went with their connections (evhttp_free() runs
	 * first); any left are forgotten (their connection is not ours to
	 * touch). */
	while ((hh = TAILQ_FIRST(&hl->hl_held)) != NULL)
		held_free(hh);
	window_clear(hl);
	frame_unref(hl->hl_playlist);
	hl->hl_playlist = NULL;
	frame_pool_drain(&hl->hl_pool);
	free(hl->hl_pbuf);
	hl->hl_pbuf = NULL;
}

