/*
 * digest.h - Digest access authentication (RFC 2617 3) as RTSP clients
 * send it: ffmpeg (libavformat), VLC (live555), GStreamer, Home
 * Assistant's stream component and go2rtc.
 *
 *   response = MD5(HA1 ":" nonce ":" HA2)                   without qop
 *            = MD5(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)
 *   HA1 = MD5(user ":" realm ":" password), HA2 = MD5(method ":" uri)
 *
 * MD5 only (RFC 7616's SHA-256 is not what these clients send), and the
 * challenge offers no qop: live555 ignores it, and it guards against
 * nothing a per-connection nonce does not.  A response with qop=auth is
 * accepted all the same.
 *
 * Pure functions: the parser takes untrusted text (fuzzed, with the
 * request parser, by tests/fuzz/fuzz_rtsp.c).
 */
#ifndef SHMCAM_RTSP_DIGEST_H
#define SHMCAM_RTSP_DIGEST_H

#include <stddef.h>

#define DIGEST_HEX		33	/* 32 hex digits and a NUL */

struct digest_creds {
	char	 username[256];
	char	 realm[128];
	char	 nonce[128];
	char	 uri[2048];		/* RTSP_LINE_MAX */
	char	 response[DIGEST_HEX];
	char	 algorithm[16];		/* "" or MD5 */
	char	 qop[16];		/* "" or auth */
	char	 nc[16];
	char	 cnonce[128];
};

/*
 * Parses an Authorization value "Digest k=v, k="v", ..." (names
 * case-insensitive, values quoted with backslash escapes or bare
 * tokens, unknown names ignored).  0, or -EINVAL: not Digest, a
 * parameter too long for its field or repeated, malformed, or one of
 * username, realm, nonce, uri, response missing.
 */
int	digest_parse(const char *header, struct digest_creds *dc);

/* HA1 of user, realm and password as lowercase hex. */
void	digest_ha1(const char *user, const char *realm, const char *pass,
	    char ha1[DIGEST_HEX]);

/*
 * The response a client knowing ha1 sends for method and dc (its nonce,
 * uri, and qop, nc, cnonce if any): lowercase hex in out.  0, or
 * -ENOTSUP for an algorithm other than MD5 or a qop other than auth.
 */
int	digest_expected(const char ha1[DIGEST_HEX], const char *method,
	    const struct digest_creds *dc, char out[DIGEST_HEX]);

#endif /* SHMCAM_RTSP_DIGEST_H */
