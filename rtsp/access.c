/*
 * access.c - Basic and Digest authentication from --auth-file (see
 * access.h).  The file and Basic are shmcam-server's (server/auth.c):
 * the same parser, the same hashing (on its thread), the same
 * constant-time checks, the same throttling.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../server/server.h"
#include "access.h"
#include "digest.h"

_Static_assert((int)ACCESS_OK == AUTH_OK &&
    (int)ACCESS_DENIED == AUTH_DENIED &&
    (int)ACCESS_THROTTLED == AUTH_THROTTLED &&
    (int)ACCESS_BUSY == AUTH_BUSY &&
    (int)ACCESS_PENDING == AUTH_PENDING, "access_result is auth_result");

#define ACCESS_NAME_MAX		256	/* auth.c's AUTH_FIELD_MAX */
#define ACCESS_LINE_MAX		1024

struct digest_user {
	char	 du_name[ACCESS_NAME_MAX];	/* zero-padded */
	char	 du_ha1[DIGEST_HEX];
};

struct access {
	struct auth	*a_basic;
	struct digest_user *a_digest;
	unsigned	 a_ndigest;
};

/* The users with plain passwords, as HA1s for our realm. */
static int
access_read_digest(struct access *a, const char *path)
{
	char line[ACCESS_LINE_MAX + 2];
	char user[ACCESS_NAME_MAX], pass[ACCESS_NAME_MAX];
	struct digest_user *du;
	FILE *f;
	int rc = 0;

	if ((f = fopen(path, "re")) == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (auth_parse_line(line, user, sizeof(user), pass,
		    sizeof(pass)) != 1 || auth_is_hash(pass))
			continue;
		du = reallocarray(a->a_digest, a->a_ndigest + 1, sizeof(*du));
		if (du == NULL) {
			rc = -ENOMEM;
			break;
		}
		a->a_digest = du;
		du = &du[a->a_ndigest++];
		memset(du, 0, sizeof(*du));
		snprintf(du->du_name, sizeof(du->du_name), "%s", user);
		digest_ha1(user, ACCESS_REALM, pass, du->du_ha1);
		explicit_bzero(pass, sizeof(pass));
	}
	explicit_bzero(line, sizeof(line));
	fclose(f);
	return rc;
}

int
access_load(struct access **ap, const char *path, char *err, size_t errlen)
{
	struct access *a;
	int rc;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return -ENOMEM;
	/* auth_load() checks the whole file and says what is wrong. */
	if ((rc = auth_load(&a->a_basic, path, err, errlen)) != 0 ||
	    (rc = access_read_digest(a, path)) != 0) {
		if (rc != 0 && err[0] == '\0')
			snprintf(err, errlen, "%s", strerror(-rc));
		access_free(a);
		return rc;
	}
	*ap = a;
	return 0;
}

int
access_setup(struct access *a, struct event_base *base)
{
	return a != NULL ? auth_setup(a->a_basic, base) : 0;
}

int
access_start(struct access *a)
{
	return a != NULL ? auth_start(a->a_basic) : 0;
}

void
access_cancel(struct access *a, const void *key)
{
	if (a != NULL)
		auth_cancel(a->a_basic, key);
}

void
access_free(struct access *a)
{
	if (a == NULL)
		return;
	auth_free(a->a_basic);
	if (a->a_digest != NULL)
		explicit_bzero(a->a_digest, a->a_ndigest * sizeof(*a->a_digest));
	free(a->a_digest);
	free(a);
}

unsigned
access_users(const struct access *a)
{
	return auth_count(a->a_basic);
}

unsigned
access_digest_users(const struct access *a)
{
	return a->a_ndigest;
}

static enum access_result
access_check_digest(struct access *a, const char *authz, const char *method,
    const char *nonce, char *who, size_t whosize)
{
	struct digest_creds dc;
	char name[ACCESS_NAME_MAX], want[DIGEST_HEX], got[DIGEST_HEX];
	unsigned i;
	size_t n;
	int ok = 0;

	if (digest_parse(authz, &dc) != 0 || strcmp(dc.realm, ACCESS_REALM) != 0)
		return ACCESS_DENIED;
	/* RFC 2617 writes the response in lowercase hex; some clients
	 * do not. */
	n = strlen(dc.response);
	if (n != DIGEST_HEX - 1)
		return ACCESS_DENIED;
	for (i = 0; i < n; i++)
		got[i] = (char)tolower((unsigned char)dc.response[i]);
	got[n] = '\0';
	memset(name, 0, sizeof(name));
	snprintf(name, sizeof(name), "%s", dc.username);
	/* Every user, every byte: no early exit. */
	for (i = 0; i < a->a_ndigest; i++) {
		if (digest_expected(a->a_digest[i].du_ha1, method, &dc,
		    want) != 0)
			return ACCESS_DENIED;	/* algorithm, qop: not ours */
		ok |= ct_equal(a->a_digest[i].du_name, name, sizeof(name)) &
		    ct_equal(want, got, DIGEST_HEX);
	}
	explicit_bzero(want, sizeof(want));
	if (!ok)
		return ACCESS_DENIED;
	if (strlen(dc.nonce) != strlen(nonce) ||
	    !ct_equal(dc.nonce, nonce, strlen(nonce)))
		return ACCESS_STALE;
	snprintf(who, whosize, "%s", dc.username);
	return ACCESS_OK;
}

enum access_result
access_check(struct access *a, const char *authz, const char *method,
    const char *nonce, const char *addr, char *who, size_t whosize,
    unsigned *retry_after, access_done_fn *done, void *arg,
    const void *key)
{
	enum access_result r;

	*retry_after = 0;
	if (authz == NULL)
		return ACCESS_DENIED;
	if (strncasecmp(authz, "Digest", 6) != 0)
		return (enum access_result)auth_request(a->a_basic, authz, addr,
		    who, whosize, retry_after, done, arg, key);
	if (auth_admit(a->a_basic, addr, retry_after) != AUTH_OK)
		return ACCESS_THROTTLED;
	r = access_check_digest(a, authz, method, nonce, who, whosize);
	/* A stale nonce came with the right answer: no failure. */
	if (r == ACCESS_DENIED)
		auth_failed(a->a_basic, addr);
	return r;
}

int
access_challenge(const struct access *a, const char *nonce, int stale,
    char *buf, size_t size)
{
	int n = 0;

	if (a->a_ndigest > 0)
		n = snprintf(buf, size, "WWW-Authenticate: Digest realm=\"%s\", "
		    "nonce=\"%s\"%s\r\n", ACCESS_REALM, nonce,
		    stale ? ", stale=TRUE" : "");
	if (n < 0 || (size_t)n >= size)
		return -ENOBUFS;
	n += snprintf(buf + n, size - (size_t)n,
	    "WWW-Authenticate: Basic realm=\"%s\"\r\n", ACCESS_REALM);
	return n > 0 && (size_t)n < size ? 0 : -ENOBUFS;
}
