/*
 * httpauth.h - HTTP authentication as a camera's client: reading the
 * WWW-Authenticate challenges of a 401 and writing the Authorization
 * header that answers them.
 *
 *   Basic   RFC 7617: "user:password" in base64.  Clear text on
 *           http://; only sent when the camera offers nothing better.
 *   Digest  RFC 7616 (and RFC 2617, which cameras mostly implement):
 *           MD5, MD5-sess, SHA-256 and SHA-256-sess, with qop=auth or
 *           without qop (RFC 2069), userhash.  The strongest one offered
 *           is used; qop=auth-int (a hash of the body) is not, as no
 *           camera needs it for a GET.
 *
 * The hashes and base64 are OpenSSL's libcrypto (EVP), the library the
 * capture links for https anyway.  Pure otherwise: no I/O, no clock; the
 * client nonce comes from the caller.  Fuzzed by tests/fuzz/fuzz_httpc.c
 * (the parser) and pinned to the RFCs' examples by
 * tests/check_httpclient.c.
 *
 * Nothing here logs, and nothing returned for the log (offered[]) holds
 * a credential.
 */
#ifndef SHMCAM_HTTPAUTH_H
#define SHMCAM_HTTPAUTH_H

#include <stddef.h>
#include <stdint.h>

enum http_auth_scheme {
	HTTP_AUTH_NONE,
	HTTP_AUTH_BASIC,
	HTTP_AUTH_DIGEST,
};

enum http_auth_algorithm {
	HTTP_AUTH_MD5,
	HTTP_AUTH_MD5_SESS,
	HTTP_AUTH_SHA256,
	HTTP_AUTH_SHA256_SESS,
};

#define HTTP_AUTH_PARAM_MAX	256

struct http_auth {
	enum http_auth_scheme scheme;
	enum http_auth_algorithm algorithm;
	int		 qop;		/* qop=auth offered: used */
	int		 stale;		/* stale=true: the nonce expired, the
					 * credentials were right */
	int		 userhash;
	char		 realm[HTTP_AUTH_PARAM_MAX];
	char		 nonce[HTTP_AUTH_PARAM_MAX];
	char		 opaque[HTTP_AUTH_PARAM_MAX];
	char		 offered[96];	/* for the log: "Digest MD5, Basic" */
};

/*
 * Reads the challenges of WWW-Authenticate (several headers joined with
 * ", ") and picks the strongest we can answer.  0; -ENOTSUP when none is
 * one we can answer (offered[] says what was); -EBADMSG when nothing
 * readable was there.
 */
int	http_auth_parse(const char *challenges, struct http_auth *a);

/*
 * Writes the Authorization header's value answering a for a request of
 * method to uri (the request target, as sent): "Basic ..." or "Digest
 * ...".  nc is the number of requests made with this nonce (1 for the
 * first), cnonce a client nonce (hex digits).  0; -ENOSPC if out is too
 * small; -EINVAL for a Basic user name with ':' or credentials with
 * control characters; -EIO if the hash failed.
 */
int	http_auth_header(const struct http_auth *a, const char *user,
	    const char *pass, const char *method, const char *uri, uint32_t nc,
	    const char *cnonce, char *out, size_t size);

#endif /* SHMCAM_HTTPAUTH_H */
