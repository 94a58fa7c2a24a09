/*
 * fuzz_rtsp.c - shmcam-rtsp's request path against arbitrary bytes: the
 * request parser (rtsp_request_parse(), also fed the input in pieces,
 * as a connection receives it), interleaved frames, and what the server
 * reads out of a request: the Transport header, the request URI and a
 * Digest Authorization header (rtsp/proto.c, rtsp/digest.c).
 *
 * Checked against proto.h's contract: a request is never taken longer
 * than the input or the limits, a parser that asks for more has had
 * less than the limits, the same bytes in pieces give the same request,
 * strings stay inside the copy of the head, a transport is one we
 * serve, a camera name is a valid one and lies in the URI.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "proto.h"
#include "ring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rtsp_request rq, rq2;

static int
in_head(const struct rtsp_request *r, const char *s)
{
	return s >= r->rq_head && s + strlen(s) <= r->rq_head + RTSP_HEAD_MAX;
}

static void
check_transport(const char *v)
{
	struct rtsp_transport tr;

	if (rtsp_transport_parse(v, &tr) != 0)
		return;
	if (tr.tr_lower == RTSP_LOWER_TCP) {
		if (tr.tr_interleaved && (tr.tr_channel[0] > 255 ||
		    tr.tr_channel[1] > 255))
			abort();
	} else if (tr.tr_lower == RTSP_LOWER_UDP) {
		if (tr.tr_client_port[0] == 0 || tr.tr_client_port[0] > 65535 ||
		    tr.tr_client_port[1] == 0 || tr.tr_client_port[1] > 65535)
			abort();
	} else {
		abort();
	}
}

static void
check_uri(const char *uri)
{
	char cam[RTSP_CAMERA_MAX], small[3];
	enum rtsp_target t;
	int alias;

	memset(cam, 'X', sizeof(cam));
	t = rtsp_uri_target(uri, cam, sizeof(cam), &alias);
	if (t == RTSP_TARGET_NONE)
		return;
	if (memchr(cam, '\0', sizeof(cam)) == NULL)
		abort();
	if (cam[0] != '\0' && (ring_camera_name_valid(cam) != 0 ||
	    strstr(uri, cam) == NULL))
		abort();
	if (alias && strcmp(cam, "stream") != 0)
		abort();
	(void)rtsp_uri_target(uri, small, sizeof(small), &alias);
	if (memchr(small, '\0', sizeof(small)) == NULL)
		abort();
}

static void
check_digest(const char *v)
{
	struct digest_creds dc;
	char resp[DIGEST_HEX];

	if (digest_parse(v, &dc) != 0)
		return;
	if (memchr(dc.uri, '\0', sizeof(dc.uri)) == NULL ||
	    memchr(dc.cnonce, '\0', sizeof(dc.cnonce)) == NULL ||
	    dc.username[0] == '\0')
		abort();
	if (digest_expected("00000000000000000000000000000000", "PLAY", &dc,
	    resp) == 0 && strlen(resp) != 32)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *payload;
	unsigned ch, i;
	size_t plen, cut;
	ssize_t r, r2;
	uint8_t *copy;

	if (size > 3 * RTSP_HEAD_MAX)
		return 0;
	/* Exactly sized, so a read past the end is reported. */
	copy = malloc(size ? size : 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);

	r = rtsp_interleaved_parse(copy, size, &ch, &payload, &plen);
	if (r > 0 && ((size_t)r > size || payload + plen > copy + size ||
	    ch > 255))
		abort();

	r = rtsp_request_parse(copy, size, &rq);
	if (r > (ssize_t)size)
		abort();
	if (r == 0 && size >= RTSP_HEAD_MAX + RTSP_BODY_MAX + RTSP_HEAD_MAX)
		abort();
	if (r > 0) {
		if (!in_head(&rq, rq.rq_uri) || !in_head(&rq,
		    rq.rq_method_name) || rq.rq_nheaders > RTSP_HEADERS_MAX ||
		    rq.rq_body_len > RTSP_BODY_MAX || rq.rq_cseq < -1)
			abort();
		for (i = 0; i < rq.rq_nheaders; i++)
			if (!in_head(&rq, rq.rq_headers[i].h_name) ||
			    !in_head(&rq, rq.rq_headers[i].h_value))
				abort();
		check_uri(rq.rq_uri);
		if (rtsp_header(&rq, "Transport") != NULL)
			check_transport(rtsp_header(&rq, "Transport"));
		if (rtsp_header(&rq, "Authorization") != NULL)
			check_digest(rtsp_header(&rq, "Authorization"));
		/* A prefix of a whole request is never a request of its
		 * own, but one that needs more or is refused. */
		cut = size > 0 ? (size_t)data[0] % (size_t)r : 0;
		r2 = rtsp_request_parse(copy, cut, &rq2);
		if (r2 > 0 && r2 != r)
			abort();
	}
	/* The whole input as a header value, transport and URI too. */
	if (size < 4096) {
		char *s = malloc(size + 1);

		if (s == NULL)
			abort();
		memcpy(s, data, size);
		s[size] = '\0';
		check_transport(s);
		check_uri(s);
		check_digest(s);
		free(s);
	}
	free(copy);
	return 0;
}
