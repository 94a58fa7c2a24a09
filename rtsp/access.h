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
 *
 * Basic is shmcam-server's check (server/auth.c): a crypt(3) hash is
 * checked on its hashing thread, not on the event loop (the answer comes
 * later, through a callback), and a name that does not exist costs what
 * a wrong password for one that does costs.  Failed logins, Basic and
 * Digest, are throttled per client address with the server's budgets.
 */
#ifndef SHMCAM_RTSP_ACCESS_H
#define SHMCAM_RTSP_ACCESS_H

#include <stddef.h>

/* The realm of both challenges, part of every Digest HA1. */
#define ACCESS_REALM	"shmcam"

struct access;
struct event_base;

/* auth_result's values (server/server.h), checked in access.c, and one
 * of our own. */
enum access_result {
	ACCESS_OK,
	ACCESS_DENIED,		/* none, or wrong: 401 */
	ACCESS_THROTTLED,	/* too many failures from the address */
	ACCESS_BUSY,		/* too many checks waiting */
	ACCESS_PENDING,		/* being checked: the answer comes later */
	ACCESS_STALE,		/* right answer to a nonce that is not ours */
};

/* The answer to an ACCESS_PENDING check: ACCESS_OK (who is the user) or
 * ACCESS_DENIED (who is NULL).  auth_done_fn's type. */
typedef void access_done_fn(void *arg, int result, const char *who);

/* Reads the file; on failure err says which line and why. */
int	access_load(struct access **ap, const char *path, char *err,
	    size_t errlen);
/* The hashing thread's wake-up on base, before the sandbox; the thread
 * itself after it (auth_setup(), auth_start()).  0 or -errno. */
int	access_setup(struct access *a, struct event_base *base);
int	access_start(struct access *a);
void	access_free(struct access *a);
unsigned access_users(const struct access *a);
/* Users with a plain password, who can answer Digest. */
unsigned access_digest_users(const struct access *a);

/*
 * The Authorization header value authz (NULL: none) of a request with
 * this method, on connection key from client address addr whose Digest
 * nonce is nonce: the result (the user's name in who on ACCESS_OK,
 * *retry_after seconds on ACCESS_THROTTLED), or ACCESS_PENDING: then
 * done(arg, result, who) is called from the loop once a hash has
 * decided, unless access_cancel(key) came first.
 */
enum access_result access_check(struct access *a, const char *authz,
	    const char *method, const char *nonce, const char *addr,
	    char *who, size_t whosize, unsigned *retry_after,
	    access_done_fn *done, void *arg, const void *key);
/* Connection key is closing: no answer for it. */
void	access_cancel(struct access *a, const void *key);
/* The WWW-Authenticate lines of a 401 (each ending in CRLF): 0, or
 * -ENOBUFS. */
int	access_challenge(const struct access *a, const char *nonce,
	    int stale, char *buf, size_t size);

#endif /* SHMCAM_RTSP_ACCESS_H */
