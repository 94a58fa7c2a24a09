/*
 * proto.h - RTSP 1.0 (RFC 2326) messages as bytes: the request parser,
 * interleaved frames, the Transport header, request URIs and the
 * response head.
 *
 * Pure: no I/O, no allocation, no clock.  Every input is untrusted
 * network data, so every function here is bounded by the limits below,
 * never reads past the length it is given, and is fuzzed
 * (tests/fuzz/fuzz_rtsp.c).
 *
 * Limits (as the HTTP server's, whose evhttp refuses a head over 8 KiB)
 *   RTSP_LINE_MAX     the request line; an URI is part of it
 *   RTSP_HEAD_MAX     request line, headers and the blank line
 *   RTSP_HEADERS_MAX  header lines
 *   RTSP_BODY_MAX     a body (SET_PARAMETER, GET_PARAMETER)
 * A request that exceeds one is refused as a whole: the connection is
 * answered and closed, since nothing after it can be framed.
 *
 * Return values: a byte count or 0 where stated, else -errno:
 *   -EMSGSIZE         over a limit
 *   -EBADMSG          not an RTSP request, or a malformed header
 *   -EPROTONOSUPPORT  an RTSP version other than 1.0
 *   -ENOTSUP          (Transport) nothing in the list that we serve
 */
#ifndef SHMCAM_RTSP_PROTO_H
#define SHMCAM_RTSP_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RTSP_LINE_MAX		2048
#define RTSP_HEAD_MAX		8192
#define RTSP_HEADERS_MAX	32
#define RTSP_BODY_MAX		4096
#define RTSP_METHOD_MAX		24
#define RTSP_CAMERA_MAX		64	/* RING_NAME_MAX */

enum rtsp_method {
	RTSP_OPTIONS,
	RTSP_DESCRIBE,
	RTSP_SETUP,
	RTSP_PLAY,
	RTSP_PAUSE,
	RTSP_TEARDOWN,
	RTSP_GET_PARAMETER,
	RTSP_SET_PARAMETER,
	RTSP_OTHER,		/* a valid token we do not implement: 501 */
};

struct rtsp_header {
	const char	*h_name;	/* into rq_head, NUL-terminated */
	const char	*h_value;	/* trimmed; may be "" */
};

/*
 * A parsed request.  Strings point into rq_head, a NUL-separated copy of
 * the head: they stay valid as long as the struct, whatever happens to
 * the input buffer.  The body is copied too.
 */
struct rtsp_request {
	enum rtsp_method rq_method;
	const char	*rq_method_name;
	const char	*rq_uri;
	long long	 rq_cseq;	/* -1: no valid CSeq header */
	unsigned	 rq_nheaders;
	struct rtsp_header rq_headers[RTSP_HEADERS_MAX];
	size_t		 rq_body_len;
	char		 rq_head[RTSP_HEAD_MAX + 1];
	uint8_t		 rq_body[RTSP_BODY_MAX];
};

/*
 * Parses the request at the start of buf[0..len): the bytes it takes
 * (head and body) once all of it is there, 0 if more is needed, or an
 * error (-EMSGSIZE, -EBADMSG, -EPROTONOSUPPORT).  0 is never returned
 * for RTSP_HEAD_MAX bytes or more without a complete head, nor for
 * RTSP_LINE_MAX bytes without the end of the request line, so a caller
 * that keeps at most that much buffered is never stuck.  A missing or
 * malformed CSeq leaves rq_cseq at -1 (the caller answers 400).  On an
 * error rq may hold part of the request; rq_cseq is valid if it was read.
 */
ssize_t	rtsp_request_parse(const uint8_t *buf, size_t len,
	    struct rtsp_request *rq);

/* The value of header name (case-insensitive), first of its kind, or
 * NULL. */
const char *rtsp_header(const struct rtsp_request *rq, const char *name);

/*
 * An interleaved frame at buf ('$', channel, 16-bit big-endian length,
 * that many bytes; RFC 2326 10.12): its whole length when all of it is
 * there (channel and payload filled in), 0 if more is needed, -EBADMSG
 * if buf does not start with '$'.
 */
ssize_t	rtsp_interleaved_parse(const uint8_t *buf, size_t len,
	    unsigned *channel, const uint8_t **payload, size_t *plen);

/* ---------------------------------------------------------- Transport */

enum rtsp_lower {
	RTSP_LOWER_UDP,		/* RTP/AVP, RTP/AVP/UDP; unicast */
	RTSP_LOWER_TCP,		/* RTP/AVP/TCP, interleaved */
};

struct rtsp_transport {
	enum rtsp_lower	 tr_lower;
	int		 tr_interleaved;	/* TCP: channels were given */
	unsigned	 tr_channel[2];		/* TCP: RTP, RTCP */
	unsigned	 tr_client_port[2];	/* UDP: RTP, RTCP */
};

/*
 * The first transport of a Transport header value (a comma-separated
 * list, RFC 2326 12.39) that we can serve: RTP/AVP over UDP unicast with
 * client_port, or RTP/AVP/TCP with or without interleaved= (without, the
 * caller picks the channels).  Multicast and RECORD are skipped, and so
 * is destination= (we send to the address the request came from, never
 * elsewhere, so a request cannot aim a stream at a third party).
 * 0, -ENOTSUP (none we serve: 461) or -EBADMSG.
 */
int	rtsp_transport_parse(const char *value, struct rtsp_transport *tr);

/* ---------------------------------------------------------------- URIs */

enum rtsp_target {
	RTSP_TARGET_NONE,	/* not a path we serve: 404 */
	RTSP_TARGET_ANY,	/* "*" (OPTIONS) */
	RTSP_TARGET_STREAM,	/* a camera's presentation */
	RTSP_TARGET_TRACK,	/* its video track ("trackID=0") */
};

#define RTSP_TRACK_CONTROL	"trackID=0"

/*
 * What a request URI names.  It is "*", an absolute rtsp:// or rtsps://
 * URI, or an absolute path; the query is ignored and so are trailing
 * slashes.  The path is
 *
 *   ""                         the only camera ("" in camera)
 *   /X                         camera X; also the only camera's
 *                              "stream" alias, which the caller tells
 *                              apart (*alias set when X is "stream")
 *   /X/stream                  camera X
 *   any of these + /trackID=0  its track
 *
 * camera gets the name ("" if none), at most size - 1 bytes, only the
 * characters a camera name may have; anything else is RTSP_TARGET_NONE.
 */
enum rtsp_target rtsp_uri_target(const char *uri, char *camera, size_t size,
	    int *alias);

/* ------------------------------------------------------------ responses */

struct rtsp_response {
	unsigned	 rs_status;
	long long	 rs_cseq;	/* -1: none */
	uint64_t	 rs_date;	/* seconds since the epoch; 0: no Date */
	const char	*rs_session;	/* session id, or NULL */
	unsigned	 rs_timeout;	/* its timeout, seconds */
	const char	*rs_headers;	/* more header lines, each ending in
					 * CRLF, or NULL */
	const char	*rs_content_type; /* with a body */
	size_t		 rs_body_len;	/* Content-Length (the body follows
					 * the head, written by the caller) */
};

/*
 * Writes the response head (status line, CSeq, Date, Server, Session,
 * Content-Type, Content-Length, rs_headers, blank line) into buf: its
 * length, or -EMSGSIZE if it does not fit in size bytes (buf then holds
 * nothing usable).
 */
ssize_t	rtsp_response_format(char *buf, size_t size,
	    const struct rtsp_response *rs);

/*
 * Appends printf-style text to buf at *n (size bytes in all): 0, or -1
 * once it does not fit (then *n is size and stays so, and every later
 * call fails too: check once, at the end).
 */
int	rtsp_putf(char *buf, size_t size, size_t *n, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));

/* The reason phrase of a status code ("Unknown" for others). */
const char *rtsp_reason(unsigned status);
const char *rtsp_method_name(enum rtsp_method m);

#endif /* SHMCAM_RTSP_PROTO_H */
