/*
 * access.h - who may watch: credentials from --auth-file, the format
 * shmcam-server reads (user:password lines; a password plain or a
 * crypt(3) hash), checked as Basic or Digest.
 *
 * Digest needs what a hash cannot give: the server must compute
 * MD5(user:realm:password) itself.  So Digest works for users with a
 * plain password (their HA1 is computed at load and kept, the password
 * is not), and users with a crypt(3) hash can use Basic only.  The
 * challenge offers Digest whenever some user can answer it, and Basic
 * always; ffmpeg, live555 (VLC), GStreamer and go2rtc all answer Digest
 * when it is offered, so give the users of those clients a plain
 * password (and the file mode 0640 or tighter).  Basic sends the
 * password in the clear on every request; over RTSP without TLS, Digest
 * does not.
 *
 * Every check takes the same steps whoever is named and wherever the
 * answer differs: each known user's name and answer are compared in
 * full, in constant time (ct_equal()).
 */
#ifndef SHMCAM_RTSP_ACCESS_H
#define SHMCAM_RTSP_ACCESS_H

#include <stddef.h>

/* The realm of both challenges, part of every Digest HA1. */
#define ACCESS_REALM	"shmcam"

struct access;

enum access_result {
	ACCESS_DENIED,
	ACCESS_OK,
	ACCESS_STALE,	/* right answer to a nonce that is not ours */
};

/* Reads the file; on failure err says which line and why. */
int	access_load(struct access **ap, const char *path, char *err,
	    size_t errlen);
void	access_free(struct access *a);
unsigned access_users(const struct access *a);
/* Users with a plain password, who can answer Digest. */
unsigned access_digest_users(const struct access *a);

/*
 * The Authorization header value authz (NULL: none) of a request with
 * this method, on a connection whose Digest nonce is nonce: the result,
 * and the user's name in who on success.
 */
enum access_result access_check(struct access *a, const char *authz,
	    const char *method, const char *nonce, char *who, size_t whosize);

/* The WWW-Authenticate lines of a 401 (each ending in CRLF): 0, or
 * -ENOBUFS. */
int	access_challenge(const struct access *a, const char *nonce,
	    int stale, char *buf, size_t size);

#endif /* SHMCAM_RTSP_ACCESS_H */
