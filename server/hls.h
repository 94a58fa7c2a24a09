/*
 * hls.h - Apple Low-Latency HLS (draft-pantos-hls-rfc8216bis, "HLS 2nd
 * edition") for one H.264 track in fragmented MP4: the decisions and the
 * text, as pure functions over plain data.  No I/O, no clock, no event
 * loop: hlsstream.c keeps the window of segments and parts, gathers the
 * inputs, calls in here and acts on the answers; the Check suite and the
 * fuzzer call the same functions with tables.
 *
 *   names       what a part, a segment or an init segment is called
 *               (hls_name_format(), hls_name_parse())
 *   directives  the _HLS_msn, _HLS_part and _HLS_skip query parameters
 *               of a playlist request (hls_directives_parse())
 *   playlist    the media playlist of a window (hls_playlist_write())
 *   blocking    whether a playlist request with directives can be
 *               answered, must wait, or asks too far ahead
 *               (hls_block_decide())
 *   cutting     where a part and a segment end, frame by frame
 *               (hls_cut_decide())
 *
 * Names that survive restarts.  A cache (nginx, a CDN) keeps what it was
 * given under its URL, so a URL must never name two contents, whichever
 * server made it and whenever.  Everything in a part or a segment is a
 * function of the capture's H.264 ring (ring.h) alone: its frames, their
 * capture times, the ring's nominal rate and GOP.  So parts and segments
 * are named after what they hold: the ring's generation (random, new at
 * every capture start) and the ring sequence of their first frame (and
 * of the last, for a segment, whose end a server that lost frames draws
 * earlier than one that did not).  Two servers, or one server before and
 * after a restart, that publish a part of that name publish the same
 * bytes.  The init segment is named by a hash of its bytes.
 *
 * Media sequence numbers cannot be names of that kind: they must count
 * segments one by one, and a server that starts in the middle of a
 * stream cannot know how many came before.  They are made monotonic
 * instead, across restarts of the server and of the capture: the first
 * segment a server (or a window after an idle spell) publishes gets the
 * capture time of its first frame in milliseconds since the epoch (or
 * the previous number + 1, if that is larger), every further one the
 * previous number + 1.  Segments are at least a frame, so at least a
 * millisecond, apart: a number never exceeds its segment's capture time
 * in milliseconds, so a later run always starts above every number an
 * earlier run gave out (with a sane CLOCK_REALTIME), and a playlist URL
 * with _HLS_msn=N never means two things to a cache.  Discontinuity
 * sequence numbers are made the same way.
 *
 * Times are in ticks of MP4_TIMESCALE (90 kHz), as in the fragments.
 */
#ifndef SHMCAM_HLS_H
#define SHMCAM_HLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Parts a segment may have: 21 s at 3 parts a second (a camera's own
 * H.264 with a long GOP); a longer segment is cut short (a break). */
#define HLS_PARTS_MAX		64
/* Segments in memory: the playlist's, and as many again that are no
 * longer listed but must stay available (rfc8216bis 6.2.2). */
#define HLS_SEGMENTS_MAX	32
/* The playlist lists this many seconds of complete segments at least,
 * and never fewer than HLS_LIST_MIN of them (nor more than half of
 * HLS_SEGMENTS_MAX, so that the other half keeps segments available
 * after they leave the list). */
#define HLS_LIST_SECONDS	6
#define HLS_LIST_MIN		4
/* Part length aimed at: about a third of a second (the draft suggests
 * 200 ms to 2 s; hls.js and Safari are happy with a third). */
#define HLS_PART_AIM_MS		333
/* PART-TARGET is the nominal part length plus this share (percent):
 * room for one late or missing frame (a part of 10 frames becomes 11)
 * while a regular part stays above the draft's floor of 85 %. */
#define HLS_PART_SLACK_PCT	10
/* EXT-X-TARGETDURATION when the GOP is not known (a camera's own
 * H.264): seconds. */
#define HLS_TARGET_DEFAULT	2

/* ------------------------------------------------------------ names */

enum hls_file {
	HLS_FILE_NONE,
	HLS_FILE_INIT,		/* "init-HASH.mp4"                      */
	HLS_FILE_PART,		/* "pGEN-FIRST.m4s"                     */
	HLS_FILE_SEGMENT,	/* "sGEN-FIRST-LAST.m4s"                */
};

/* GEN and HASH: 16 lowercase hex digits; FIRST, LAST: decimal ring
 * sequences (>= 1, no leading zeros, LAST >= FIRST). */
struct hls_name {
	enum hls_file	 kind;
	uint64_t	 generation;	/* part, segment */
	uint64_t	 first;		/* part, segment: ring sequences */
	uint64_t	 last;		/* segment */
	uint64_t	 hash;		/* init */
};

/* Longest name, with its NUL. */
#define HLS_NAME_MAX	64

/* Writes n's file name (no directory) into buf; its length, or -EINVAL
 * (a kind or sequences that cannot be a name, or buf too small). */
int	hls_name_format(const struct hls_name *n, char *buf, size_t size);
/* Parses s[0..len) strictly: 0, or -EINVAL for anything that is not
 * exactly a name hls_name_format() writes. */
int	hls_name_parse(const char *s, size_t len, struct hls_name *n);

/* A 64-bit FNV-1a hash, the init segment's name. */
uint64_t hls_hash(const void *data, size_t len);

/* ------------------------------------------------------- directives */

struct hls_directives {
	int		 has_msn;
	int		 has_part;
	int		 skip;		/* _HLS_skip=YES or v2 (answered
					 * with the whole playlist: no
					 * CAN-SKIP-UNTIL is offered) */
	uint64_t	 msn;
	uint64_t	 part;
};

/*
 * The delivery directives of a raw query string (or NULL): 0, or -EINVAL
 * for a value that is not a decimal integer (digits only, at most 20,
 * below 2^64) or an _HLS_part without an _HLS_msn (6.2.5.2 says 400).
 * _HLS_skip is read (YES or v2 set skip) but never an error: a server
 * that offers no delta updates MUST ignore it (6.2.5.1).  Other
 * parameters are ignored.
 */
int	hls_directives_parse(const char *query, struct hls_directives *d);

/* ----------------------------------------------------------- window */

struct hls_part {
	uint64_t	 first_seq;	/* ring sequence of its first frame */
	uint32_t	 nframes;
	uint32_t	 duration;	/* ticks */
	uint8_t		 independent;	/* starts with a keyframe */
};

struct hls_segment {
	uint64_t	 msn;		/* media sequence number */
	uint64_t	 dsn;		/* discontinuity sequence number */
	uint64_t	 generation;	/* of the ring its frames came from */
	uint64_t	 first_seq;	/* ring sequence of its keyframe */
	uint64_t	 last_seq;	/* of its last frame (so far) */
	uint64_t	 pdt_ns;	/* CLOCK_REALTIME of its first frame */
	uint64_t	 duration;	/* ticks, the sum of its parts' */
	uint64_t	 init_hash;	/* its init segment's name */
	uint32_t	 nparts;
	uint8_t		 complete;	/* ended: listed with EXTINF */
	uint8_t		 discontinuity;	/* EXT-X-DISCONTINUITY before it */
	struct hls_part	 parts[HLS_PARTS_MAX];
};

/*
 * What the playlist describes: segments oldest first (a ring of
 * HLS_SEGMENTS_MAX, from first), of which the last may be in progress
 * (complete 0, parts so far), and the part that comes next.
 */
struct hls_window {
	uint32_t	 target_s;	/* EXT-X-TARGETDURATION, seconds */
	uint32_t	 part_target;	/* PART-TARGET, ticks */
	unsigned	 first;		/* index of the oldest segment */
	unsigned	 count;		/* segments held */
	/* EXT-X-PRELOAD-HINT: the part after the newest, which will start
	 * with frame hint_seq of ring hint_generation (in the newest
	 * segment, or starting the next one). */
	int		 hint;
	uint64_t	 hint_generation;
	uint64_t	 hint_seq;
	struct hls_segment segs[HLS_SEGMENTS_MAX];
};

/* The i-th oldest segment (i < count). */
#define HLS_SEG(w, i)	(&(w)->segs[((w)->first + (i)) % HLS_SEGMENTS_MAX])

/* Index (0 = oldest) of the oldest segment the playlist lists. */
unsigned hls_window_listed(const struct hls_window *w);

/*
 * The media playlist of w into buf (cap bytes; like snprintf() it
 * returns the length the whole text needs and writes what fits, so call
 * it with cap 0 to measure).  Segment and part URIs are "hls/NAME",
 * relative to a playlist at "/hls.m3u8" or "/CAMERA/hls.m3u8".  The
 * text depends on w alone.  -EINVAL if w lists nothing (no part yet).
 */
ssize_t	hls_playlist_write(char *buf, size_t cap, const struct hls_window *w);

/* ---------------------------------------------------------- blocking */

enum hls_block {
	HLS_BLOCK_READY,	/* answer now */
	HLS_BLOCK_WAIT,		/* hold until a part is published */
	HLS_BLOCK_TOO_FAR,	/* 400 (6.2.5.2): beyond last MSN + 2, or
				 * more parts ahead than the Advance Part
				 * Limit */
};

/*
 * Whether a playlist request with delivery directives d can be answered
 * from w (6.2.5.2): _HLS_msn alone wants a complete segment of that
 * number or later, with _HLS_part that part of that segment or any later
 * one (a part index past a complete segment's last means part 0 of the
 * next).  Without directives, or with an empty window, the answer is
 * READY if w lists something, else WAIT.
 */
enum hls_block hls_block_decide(const struct hls_window *w,
	    const struct hls_directives *d);

/* The Advance Part Limit for a part target of part_target ticks: 3 s
 * worth of parts (3 if a part is a second or more). */
uint64_t hls_advance_part_limit(uint32_t part_target);

/* ----------------------------------------------------------- cutting */

/*
 * Where the frame being built up stands: the open part (frames since
 * part_start) of the open segment.  hlsstream.c holds a part's frames
 * until the frame after them arrives, so that the last one's duration is
 * known; the decision is taken for that next frame.
 */
struct hls_cutter {
	int		 open;		/* a segment is open */
	uint32_t	 seg_parts;	/* parts of it published */
	uint64_t	 part_start;	/* decode time of the open part's
					 * first frame */
	uint64_t	 last;		/* decode time of the newest frame */
	uint32_t	 nframes;	/* frames in the open part */
	/* constants of the window */
	uint32_t	 part_nominal;	/* ticks: a part is about this long */
	uint32_t	 part_target;	/* ticks: and never longer */
	uint32_t	 interval;	/* ticks per frame, nominal */
};

enum hls_cut {
	HLS_CUT_SKIP,		/* no segment open, not a keyframe: drop it */
	HLS_CUT_START,		/* open a segment with this keyframe */
	HLS_CUT_APPEND,		/* the frame joins the open part */
	HLS_CUT_PART,		/* publish the open part; the frame starts
				 * the next one in the same segment */
	HLS_CUT_SEGMENT,	/* publish the open part and end the
				 * segment; the keyframe starts the next */
	HLS_CUT_MOVE_LAST,	/* publish the open part without its last
				 * frame (it would be longer than
				 * PART-TARGET), which starts the next
				 * part; then decide again */
	HLS_CUT_STALL,		/* the source paused for longer than a
				 * part: publish the open part, its last
				 * frame lasting as long as PART-TARGET
				 * allows; the frame starts the next part
				 * (a keyframe: the next segment), after a
				 * hole in the timeline that players step
				 * over */
	HLS_CUT_BREAK,		/* the segment may have no more parts:
				 * publish the open part as it is, end the
				 * segment, and wait for a keyframe (a
				 * discontinuity) */
};

/* The decision for a frame of decode time dts (key: a keyframe). */
enum hls_cut hls_cut_decide(const struct hls_cutter *c, uint64_t dts,
	    int key);

/*
 * The window's constants from the source's nominal rate (fps_milli, 0 if
 * unknown: 30 is assumed) and GOP in frames (0 if unknown): the nominal
 * part (whole frames, about HLS_PART_AIM_MS), PART-TARGET, and the
 * target duration in seconds (the GOP rounded so that a segment of a
 * GOP and a few late frames still rounds to no more).
 */
void	hls_constants(uint32_t fps_milli, uint32_t gop, uint32_t *interval,
	    uint32_t *part_nominal, uint32_t *part_target, uint32_t *target_s);

#endif /* SHMCAM_HLS_H */
