/*
 * multipart.h - the parts of a multipart/x-mixed-replace body, as MJPEG
 * cameras and streamers send them: bytes in, frames out.
 *
 * A pure module: no I/O, no clock, no global state.  The caller feeds
 * the body's bytes as they arrive, in pieces of any size, and gets each
 * part as soon as its last byte is in (a part with a Content-Length is
 * handed over without waiting for the boundary behind it).  A fuzzer
 * drives it (tests/fuzz/fuzz_multipart.c).
 *
 * Strict where it matters: every buffer is bounded by the limits given
 * at init (a part's body, a part's header block and its number of
 * lines, the preamble before the first boundary), so a hostile or
 * broken upstream costs at most max_part bytes of memory and is then
 * refused with a reason.
 *
 * Lenient where real cameras are sloppy (RFC 2046 section 5.1 is the
 * ideal; tests/check_multipart.c has each quirk):
 *   - the boundary with or without the leading "--" in the body (and in
 *     the Content-Type parameter): leading dashes are not compared;
 *   - no boundary declared at all: the first body line starting with
 *     "--" is taken as the boundary;
 *   - no Content-Length: the body runs to the next boundary line (the
 *     line break before it belongs to the boundary);
 *   - a Content-Length that is wrong: bytes up to the next boundary are
 *     skipped (the part, cut or with a tail, is handed over as it is:
 *     the JPEG check downstream decides);
 *   - LF-only lines, blank lines between parts, trailing spaces after
 *     the boundary;
 *   - a duplicated boundary line (one part's header block starting with
 *     the boundary twice, a known Foscam habit);
 *   - any number of extra headers (within the limits); a part whose
 *     header block is missing and whose body starts right after the
 *     boundary with a JPEG's SOI (FF D8).
 *
 * What a part carries besides its bytes: X-Timestamp (seconds since the
 * epoch with a fraction: the origin's capture time, CLOCK_REALTIME of
 * the machine that stamped it) and whether it is a shmcam origin's
 * placeholder picture (X-Shmcam-Placeholder).
 *
 * Return values of multipart_feed(): 1 a part is ready, 0 every byte was
 * taken and more are needed, or a negative errno value, after which the
 * stream is unusable (mp_why says why, for the log):
 *   -EMSGSIZE   a part larger than max_part (by its Content-Length, or
 *               no boundary within max_part bytes of body)
 *   -E2BIG      a part's header block larger than max_head bytes, or
 *               with more than max_headers lines
 *   -EBADMSG    no boundary: more than MULTIPART_PREAMBLE_MAX bytes
 *               before the first one, or more than max_part bytes of
 *               junk between parts
 *   -ESHUTDOWN  the closing boundary ("--B--"): the stream ended
 */
#ifndef SHMCAM_MULTIPART_H
#define SHMCAM_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#define MULTIPART_BOUNDARY_MAX	200	/* RFC 2046 says 70; cameras... */
#define MULTIPART_LINE_MAX	1024	/* one header line, kept whole */
#define MULTIPART_PREAMBLE_MAX	65536	/* bytes before the first boundary */

struct multipart_limits {
	size_t		 max_part;	/* bytes of one part's body */
	size_t		 max_head;	/* bytes of one part's header block */
	unsigned	 max_headers;	/* lines of one part's header block */
};

struct multipart_part {
	const uint8_t	*data;		/* valid until the next call */
	size_t		 length;
	uint64_t	 timestamp_ns;	/* X-Timestamp; 0: none or unreadable */
	int		 placeholder;	/* X-Shmcam-Placeholder was present */
};

struct multipart {
	struct multipart_limits mp_lim;
	char		 mp_boundary[MULTIPART_BOUNDARY_MAX + 1];
	size_t		 mp_blen;	/* without leading dashes; 0: learn */
	int		 mp_state;
	/* the line being read (every state but the bodies) */
	uint8_t		 mp_line[MULTIPART_LINE_MAX];
	size_t		 mp_linelen;	/* bytes kept, at most the buffer */
	size_t		 mp_linetotal;	/* bytes of the line so far */
	/* the part being read */
	size_t		 mp_headbytes;
	unsigned	 mp_headlines;
	int64_t		 mp_clen;	/* Content-Length, -1 if none */
	uint64_t	 mp_ts;
	int		 mp_placeholder;
	uint8_t		*mp_buf;	/* its body */
	size_t		 mp_len;
	size_t		 mp_cap;
	size_t		 mp_scan;	/* scan mode: the next LF to check */
	int		 mp_scan0;	/* the body's start still to check */
	size_t		 mp_skipped;	/* junk since the last boundary */
	/* statistics, for the log */
	uint64_t	 mp_parts;
	uint64_t	 mp_resyncs;	/* junk skipped up to a boundary */
	char		 mp_why[128];	/* the last error */
};

/*
 * boundary: the Content-Type's boundary parameter, unquoted (leading
 * dashes allowed), or NULL or "" to learn it from the body.  0, or
 * -EINVAL for a boundary longer than MULTIPART_BOUNDARY_MAX or limits of
 * 0.  Allocates nothing until bytes come.
 */
int	multipart_init(struct multipart *mp, const char *boundary,
	    const struct multipart_limits *lim);
/* Frees the body buffer; the parser may be initialised again. */
void	multipart_free(struct multipart *mp);

/*
 * Takes bytes from buf[0..len); *used says how many.  Returns 1 with
 * *part filled when a part is complete (call again with the rest), 0
 * when every byte was taken and the part is not complete yet, or a
 * negative error (above) with mp_why filled.
 */
int	multipart_feed(struct multipart *mp, const uint8_t *buf, size_t len,
	    size_t *used, struct multipart_part *part);

/*
 * Parses an X-Timestamp value: decimal seconds since the epoch with an
 * optional fraction ("1700000000.123456"; spaces around it allowed) into
 * nanoseconds.  0, or -EINVAL for anything else (or 0 seconds, or beyond
 * the year 2500).
 */
int	multipart_parse_timestamp(const char *s, size_t n, uint64_t *ns);

#endif /* SHMCAM_MULTIPART_H */
