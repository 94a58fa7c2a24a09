/*
 * auth.c - HTTP Basic authentication (RFC 7617) against --auth-file.
 *
 * The file holds "user:password" lines ('#' comments and blank lines
 * allowed).  A password that starts with a crypt(3) prefix ($y$, $gy$,
 * $7$, $2b$, $2a$, $2y$, $6$, $5$) is a hash, checked with libcrypt's
 * crypt_rn(); anything else is the password itself.
 *
 * Constant time
 *   Plain passwords are never kept: at load each "user:password" becomes
 *   a digest, crypt_rn() with a sha256crypt setting whose salt is random
 *   per process.  A request's credentials go through the same function,
 *   and the result is compared with every known digest, all of them, each
 *   over its full fixed length (ct_equal()), so neither the position of a
 *   mismatch nor the user it concerns shows in the time taken.  Hashed
 *   entries are checked with crypt_rn() against their own hash (whose
 *   slowness is the point); a success is remembered as a digest too, so
 *   that a browser polling /state does not pay for a bcrypt or yescrypt
 *   computation every second.
 */
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "server.h"

#define AUTH_FIELD_MAX	256	/* user name, password: bytes with NUL */
#define AUTH_LINE_MAX	1024
#define AUTH_DIGEST_MAX	CRYPT_OUTPUT_SIZE

struct auth_user {
	char	 au_name[AUTH_FIELD_MAX];
	char	*au_hash;			/* NULL: plain password */
	int	 au_known;			/* au_digest is valid */
	char	 au_digest[AUTH_DIGEST_MAX];	/* of "user:password" */
};

struct auth {
	struct auth_user *a_users;
	unsigned	 a_n;
	char		 a_setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data a_cd;			/* 32 KiB: not on the stack */
};

static const char *const hash_prefixes[] = {
	"$y$", "$gy$", "$7$", "$2b$", "$2a$", "$2y$", "$6$", "$5$",
};

int
ct_equal(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

int
auth_is_hash(const char *pw)
{
	size_t i;

	for (i = 0; i < sizeof(hash_prefixes) / sizeof(hash_prefixes[0]); i++)
		if (strncmp(pw, hash_prefixes[i], strlen(hash_prefixes[i])) == 0)
			return 1;
	return 0;
}

int
auth_parse_line(const char *line, char *user, size_t usize, char *pass,
    size_t psize)
{
	const char *colon;
	size_t len = strlen(line), ulen;

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len == 0 || line[0] == '#')
		return 0;
	colon = memchr(line, ':', len);
	if (colon == NULL)
		return -EINVAL;
	ulen = (size_t)(colon - line);
	if (ulen == 0 || ulen >= usize || len - ulen - 1 == 0 ||
	    len - ulen - 1 >= psize)
		return -EINVAL;
	if (memchr(line, '\0', len) != NULL)
		return -EINVAL;
	memcpy(user, line, ulen);
	user[ulen] = '\0';
	memcpy(pass, colon + 1, len - ulen - 1);
	pass[len - ulen - 1] = '\0';
	return 1;
}

static int
b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
auth_decode_basic(const char *header, char *user, size_t usize, char *pass,
    size_t psize)
{
	char buf[2 * AUTH_FIELD_MAX];
	const char *p = header, *colon;
	size_t n = 0, ulen, plen;
	unsigned acc = 0;
	int bits = 0, v, pad = 0;

	if (strncasecmp(p, "Basic", 5) != 0 || (p[5] != ' ' && p[5] != '\t'))
		return -EINVAL;
	for (p += 5; *p == ' ' || *p == '\t'; p++)
		;
	for (; *p != '\0' && *p != ' ' && *p != '\t'; p++) {
		if (*p == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || (v = b64_value((unsigned char)*p)) < 0)
			return -EINVAL;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= sizeof(buf) - 1)
				return -EINVAL;
			buf[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '\0' || pad > 2)
		return -EINVAL;
	if (memchr(buf, '\0', n) != NULL)
		return -EINVAL;
	colon = memchr(buf, ':', n);
	if (colon == NULL)
		return -EINVAL;
	ulen = (size_t)(colon - buf);
	plen = n - ulen - 1;
	if (ulen >= usize || plen >= psize)
		return -EINVAL;
	memcpy(user, buf, ulen);
	user[ulen] = '\0';
	memcpy(pass, colon + 1, plen);
	pass[plen] = '\0';
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

/* The per-process digest of "user:password" into out[AUTH_DIGEST_MAX]. */
static int
auth_digest(struct auth *a, const char *user, const char *pass, char *out)
{
	char both[2 * AUTH_FIELD_MAX + 1];
	char *r;

	snprintf(both, sizeof(both), "%s:%s", user, pass);
	memset(&a->a_cd, 0, sizeof(a->a_cd));
	r = crypt_rn(both, a->a_setting, &a->a_cd, sizeof(a->a_cd));
	explicit_bzero(both, sizeof(both));
	if (r == NULL || r[0] == '*')
		return -EINVAL;
	memset(out, 0, AUTH_DIGEST_MAX);
	snprintf(out, AUTH_DIGEST_MAX, "%s", r);
	return 0;
}

int
auth_new(struct auth **ap)
{
	struct auth *a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return -ENOMEM;
	/* rbytes NULL: libcrypt takes the salt from the kernel. */
	if (crypt_gensalt_rn("$5$", 1000, NULL, 0, a->a_setting,
	    sizeof(a->a_setting)) == NULL) {
		free(a);
		return -EINVAL;
	}
	*ap = a;
	return 0;
}

int
auth_add(struct auth *a, const char *user, const char *pass)
{
	struct auth_user *u;
	char *r;

	u = reallocarray(a->a_users, a->a_n + 1, sizeof(*u));
	if (u == NULL)
		return -ENOMEM;
	a->a_users = u;
	u = &u[a->a_n];
	memset(u, 0, sizeof(*u));
	if (strlen(user) >= sizeof(u->au_name))
		return -EINVAL;
	snprintf(u->au_name, sizeof(u->au_name), "%s", user);
	if (auth_is_hash(pass)) {
		/* A hash libcrypt cannot use would never match: refuse it
		 * now rather than lock the user out silently. */
		memset(&a->a_cd, 0, sizeof(a->a_cd));
		r = crypt_rn("", pass, &a->a_cd, sizeof(a->a_cd));
		if (r == NULL || r[0] == '*' || strlen(r) != strlen(pass))
			return -EPROTONOSUPPORT;
		if ((u->au_hash = strdup(pass)) == NULL)
			return -ENOMEM;
	} else {
		if (auth_digest(a, user, pass, u->au_digest) != 0)
			return -EINVAL;
		u->au_known = 1;
	}
	a->a_n++;
	return 0;
}

int
auth_load(struct auth **ap, const char *path, char *err, size_t errlen)
{
	char line[AUTH_LINE_MAX + 2];
	char user[AUTH_FIELD_MAX], pass[AUTH_FIELD_MAX];
	struct auth *a = NULL;
	struct stat st;
	unsigned lineno = 0;
	FILE *f;
	int rc;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -errno;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0004))
		log_warnx("--auth-file %s is readable by everyone", path);
	if ((rc = auth_new(&a)) != 0) {
		snprintf(err, errlen, "libcrypt has no sha256crypt");
		goto fail;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errlen, "line %u: longer than %d bytes",
			    lineno, AUTH_LINE_MAX);
			rc = -EINVAL;
			goto fail;
		}
		rc = auth_parse_line(line, user, sizeof(user), pass,
		    sizeof(pass));
		if (rc == 0)
			continue;
		if (rc < 0) {
			snprintf(err, errlen, "line %u: expected user:password "
			    "(user without ':', neither empty, each under "
			    "%d bytes)", lineno, AUTH_FIELD_MAX);
			goto fail;
		}
		rc = auth_add(a, user, pass);
		explicit_bzero(pass, sizeof(pass));
		if (rc != 0) {
			snprintf(err, errlen, "line %u: %s", lineno,
			    rc == -EPROTONOSUPPORT ? "password hash not "
			    "supported by libcrypt" : strerror(-rc));
			goto fail;
		}
	}
	explicit_bzero(line, sizeof(line));
	if (a->a_n == 0) {
		snprintf(err, errlen, "no user:password line");
		rc = -EINVAL;
		goto fail;
	}
	fclose(f);
	*ap = a;
	return 0;
fail:
	explicit_bzero(line, sizeof(line));
	fclose(f);
	auth_free(a);
	return rc < 0 ? rc : -EINVAL;
}

unsigned
auth_count(const struct auth *a)
{
	return a != NULL ? a->a_n : 0;
}

int
auth_check(struct auth *a, const char *header, char *who, size_t whosize)
{
	char user[AUTH_FIELD_MAX], pass[AUTH_FIELD_MAX];
	char digest[AUTH_DIGEST_MAX], name[AUTH_FIELD_MAX];
	struct auth_user *u, *named = NULL;
	char *r;
	unsigned i;
	int ok = 0, match;

	if (header == NULL || auth_decode_basic(header, user, sizeof(user),
	    pass, sizeof(pass)) != 0)
		return 0;
	if (auth_digest(a, user, pass, digest) != 0)
		goto out;
	memset(name, 0, sizeof(name));
	snprintf(name, sizeof(name), "%s", user);
	/* Every entry, every byte: no early exit. */
	for (i = 0; i < a->a_n; i++) {
		u = &a->a_users[i];
		match = ct_equal(u->au_digest, digest, AUTH_DIGEST_MAX);
		ok |= u->au_known & match;
		if (ct_equal(u->au_name, name, sizeof(name)) && u->au_hash)
			named = u;
	}
	if (!ok && named != NULL) {
		memset(&a->a_cd, 0, sizeof(a->a_cd));
		r = crypt_rn(pass, named->au_hash, &a->a_cd, sizeof(a->a_cd));
		if (r != NULL && r[0] != '*' && strlen(r) ==
		    strlen(named->au_hash) &&
		    ct_equal(r, named->au_hash, strlen(r))) {
			ok = 1;
			/* Remember this password as a digest from now on. */
			memcpy(named->au_digest, digest, AUTH_DIGEST_MAX);
			named->au_known = 1;
		}
		explicit_bzero(&a->a_cd, sizeof(a->a_cd));
	}
	if (ok && who != NULL)
		snprintf(who, whosize, "%s", user);
out:
	explicit_bzero(pass, sizeof(pass));
	explicit_bzero(digest, sizeof(digest));
	return ok;
}

void
auth_free(struct auth *a)
{
	unsigned i;

	if (a == NULL)
		return;
	for (i = 0; i < a->a_n; i++)
		free(a->a_users[i].au_hash);
	if (a->a_users != NULL)
		explicit_bzero(a->a_users, a->a_n * sizeof(*a->a_users));
	free(a->a_users);
	explicit_bzero(a, sizeof(*a));
	free(a);
}
