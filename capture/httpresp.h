/*
 * httpresp.h - what a network source reads of an HTTP/1.x response
 * before the frames: the status line and headers, the chunked transfer
 * coding, and the Content-Type's media type and boundary.
 *
 * Pure and incremental, like multipart.h: bytes in pieces of any size,
 * no I/O, limits on everything (the head's bytes and lines, a line's
 * length, a chunk-size line).  Fuzzed by tests/fuzz/fuzz_httpc.c.
 *
 * Why our own and not evhttp's client: libevent's evhttp connects to
 * the first address a name resolves to only (bufferevent_sock.c, "XXX
 * use the other addrinfos?": "localhost" as ::1 fails against a camera
 * on 127.0.0.1), reports failures without errno (a refused connection
 * and a timeout look alike in the log), and has no limit on the number
 * of header lines.  The bufferevent underneath is libevent's; these
 * few hundred lines are what the client reads, all of it fuzzed.
 *
 * Lenient: LF-only lines, any case in names, "HTTP/1.0" and "HTTP/1.1"
 * (other 1.x too), a missing reason phrase, several WWW-Authenticate
 * lines (joined, as RFC 9110 allows), chunk extensions and trailers
 * (skipped).  Strict: a status line that is not HTTP/1.x with a
 * three-digit code, a head over its limits, a chunk size that is not
 * hexadecimal or beyond 2^60.
 *
 * Return values: see each function; errors are -EBADMSG (malformed) and
 * -E2BIG (over a limit), with why[] saying what.
 */
#ifndef SHMCAM_HTTPRESP_H
#define SHMCAM_HTTPRESP_H

#include <stddef.h>
#include <stdint.h>

#include "url.h"

#define HTTP_LINE_MAX		2048
#define HTTP_CTYPE_MAX		256
#define HTTP_CHALLENGE_MAX	1024

struct http_head {
	int		 status;
	int		 minor;		/* HTTP/1.minor */
	int64_t		 content_length;	/* -1: none */
	int		 chunked;	/* Transfer-Encoding: chunked */
	int		 close;		/* no keep-alive: "close", or 1.0 */
	char		 content_type[HTTP_CTYPE_MAX];	/* "" if none */
	char		 location[URL_TARGET_MAX + URL_HOST_MAX];
	int		 location_cut;	/* did not fit */
	char		 challenge[HTTP_CHALLENGE_MAX];	/* WWW-Authenticate */
	char		 x_timestamp[40];	/* X-Timestamp, "" if none */
	int		 placeholder;	/* X-Shmcam-Placeholder: a shmcam
					 * origin's "offline" picture */
};

struct http_head_parser {
	struct http_head hp_head;
	size_t		 hp_max_bytes;
	unsigned	 hp_max_lines;
	size_t		 hp_bytes;
	unsigned	 hp_lines;
	int		 hp_keepalive;	/* Connection: keep-alive seen */
	int		 hp_closeseen;	/* Connection: close seen */
	char		 hp_line[HTTP_LINE_MAX];
	size_t		 hp_linelen;
	size_t		 hp_linetotal;
	char		 hp_why[128];
};

void	http_head_init(struct http_head_parser *hp, size_t max_bytes,
	    unsigned max_lines);
/*
 * Reads the head from buf[0..len); *used bytes taken.  1 when the head
 * is complete (hp_head filled; the body starts at buf + *used), 0 when
 * all was taken and more is needed, or an error.
 */
int	http_head_feed(struct http_head_parser *hp, const uint8_t *buf,
	    size_t len, size_t *used);

struct http_chunked {
	int		 ch_state;
	uint64_t	 ch_left;	/* bytes of the current chunk */
	char		 ch_line[256];
	size_t		 ch_linelen;
	size_t		 ch_linetotal;
	char		 ch_why[96];
};

void	http_chunked_init(struct http_chunked *ch);
/*
 * Decodes the chunked coding in buf[0..len); *used bytes taken.  1 with
 * *data and *datalen a span of body bytes inside buf (call again with
 * the rest), 0 when all was taken, 2 when the body is complete (the
 * last chunk and its trailer read), or an error.
 */
int	http_chunked_feed(struct http_chunked *ch, const uint8_t *buf,
	    size_t len, size_t *used, const uint8_t **data, size_t *datalen);

/*
 * Splits a Content-Type value: the media type, lower case, into type;
 * the boundary parameter, unquoted, into boundary ("" if none).  0, or
 * -E2BIG if one does not fit.
 */
int	http_content_type(const char *value, char *type, size_t typelen,
	    char *boundary, size_t blen);

#endif /* SHMCAM_HTTPRESP_H */
