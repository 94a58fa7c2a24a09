/*
 * httpauth.c - Basic and Digest answers to a camera's 401 (see
 * httpauth.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "httpauth.h"

/* One challenge as read, before choosing. */
struct challenge {
	enum http_auth_scheme scheme;
	int		 algorithm;	/* -1: one we do not do */
	int		 qop_auth;	/* "auth" in qop */
	int		 qop_given;
	int		 stale;
	int		 userhash;
	char		 realm[HTTP_AUTH_PARAM_MAX];
	char		 nonce[HTTP_AUTH_PARAM_MAX];
	char		 opaque[HTTP_AUTH_PARAM_MAX];
};

static const struct {
	const char	*name;
	enum http_auth_algorithm alg;
} algorithms[] = {
	{ "MD5", HTTP_AUTH_MD5 },
	{ "MD5-sess", HTTP_AUTH_MD5_SESS },
	{ "SHA-256", HTTP_AUTH_SHA256 },
	{ "SHA-256-sess", HTTP_AUTH_SHA256_SESS },
};

static int
is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
	    strchr("!#$%&'*+-.^_`|~/", c) != NULL);
}

static const char *
skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/*
 * Reads a token or quoted-string value at p into out (truncated to
 * size); returns where it ends.
 */
static const char *
read_value(const char *p, char *out, size_t size)
{
	size_t o = 0;

	if (*p == '"') {
		for (p++; *p != '\0' && *p != '"'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			if (o + 1 < size)
				out[o++] = *p;
		}
		if (*p == '"')
			p++;
	} else {
		/* A token; cameras send unquoted values with '=' and
		 * other characters, so anything up to a comma or blank. */
		for (; *p != '\0' && *p != ',' && *p != ' ' && *p != '\t'; p++)
			if (o + 1 < size)
				out[o++] = *p;
	}
	out[o] = '\0';
	return p;
}

/* 1 if the comma-separated list s has "auth" (qop="auth,auth-int"). */
static int
qop_has_auth(const char *s)
{
	const char *p = s;
	size_t n;

	while (*p != '\0') {
		p = skip_ws(p);
		n = strcspn(p, ", \t");
		if (n == 4 && strncasecmp(p, "auth", 4) == 0)
			return 1;
		p += n;
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
	}
	return 0;
}

static void
challenge_param(struct challenge *c, const char *name, size_t nl,
    const char *v)
{
	if (nl == 5 && strncasecmp(name, "realm", 5) == 0)
		snprintf(c->realm, sizeof(c->realm), "%s", v);
	else if (nl == 5 && strncasecmp(name, "nonce", 5) == 0)
		snprintf(c->nonce, sizeof(c->nonce), "%s", v);
	else if (nl == 6 && strncasecmp(name, "opaque", 6) == 0)
		snprintf(c->opaque, sizeof(c->opaque), "%s", v);
	else if (nl == 5 && strncasecmp(name, "stale", 5) == 0)
		c->stale = strcasecmp(v, "true") == 0;
	else if (nl == 8 && strncasecmp(name, "userhash", 8) == 0)
		c->userhash = strcasecmp(v, "true") == 0;
	else if (nl == 3 && strncasecmp(name, "qop", 3) == 0) {
		c->qop_given = 1;
		c->qop_auth = qop_has_auth(v);
	} else if (nl == 9 && strncasecmp(name, "algorithm", 9) == 0) {
		c->algorithm = -1;
		for (size_t i = 0; i < sizeof(algorithms) /
		    sizeof(algorithms[0]); i++)
			if (strcasecmp(v, algorithms[i].name) == 0)
				c->algorithm = (int)algorithms[i].alg;
	}
}

/* Rank of a challenge we can answer, higher is better; 0 if we cannot. */
static int
challenge_rank(const struct challenge *c)
{
	if (c->scheme == HTTP_AUTH_BASIC)
		return 1;
	if (c->scheme != HTTP_AUTH_DIGEST || c->algorithm < 0 ||
	    c->nonce[0] == '\0' || (c->qop_given && !c->qop_auth))
		return 0;
	return c->algorithm == HTTP_AUTH_SHA256 ||
	    c->algorithm == HTTP_AUTH_SHA256_SESS ? 3 : 2;
}

static void
offered_add(struct http_auth *a, const char *what)
{
	size_t n = strlen(a->offered);

	snprintf(a->offered + n, sizeof(a->offered) - n, "%s%s",
	    n ? ", " : "", what);
}

/* Takes c if it beats what a holds. */
static void
challenge_done(struct http_auth *a, const struct challenge *c, int *best)
{
	int rank = challenge_rank(c);

	if (c->scheme == HTTP_AUTH_DIGEST) {
		const char *alg = "with an unknown algorithm";
		char what[64];

		for (size_t i = 0; i < sizeof(algorithms) /
		    sizeof(algorithms[0]); i++)
			if (c->algorithm == (int)algorithms[i].alg)
				alg = algorithms[i].name;
		snprintf(what, sizeof(what), "Digest %s%s", alg,
		    c->qop_given && !c->qop_auth ? " (qop=auth-int only)" :
		    "");
		offered_add(a, what);
	} else if (c->scheme == HTTP_AUTH_BASIC)
		offered_add(a, "Basic");
	if (rank <= *best)
		return;
	*best = rank;
	a->scheme = c->scheme;
	a->algorithm = c->algorithm >= 0 ?
	    (enum http_auth_algorithm)c->algorithm : HTTP_AUTH_MD5;
	a->qop = c->qop_auth;
	a->stale = c->stale;
	a->userhash = c->userhash;
	memcpy(a->realm, c->realm, sizeof(a->realm));
	memcpy(a->nonce, c->nonce, sizeof(a->nonce));
	memcpy(a->opaque, c->opaque, sizeof(a->opaque));
}

int
http_auth_parse(const char *s, struct http_auth *a)
{
	struct challenge c;
	const char *p = s, *name;
	char value[HTTP_AUTH_PARAM_MAX];
	size_t nl;
	int best = 0, have = 0, any = 0;

	memset(a, 0, sizeof(*a));
	memset(&c, 0, sizeof(c));
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		name = p;
		while (is_tchar(*p))
			p++;
		nl = (size_t)(p - name);
		if (nl == 0) {
			p++;	/* junk: skipped */
			continue;
		}
		p = skip_ws(p);
		if (*p == '=' && have) {
			/* name=value of the current challenge */
			p = read_value(skip_ws(p + 1), value, sizeof(value));
			challenge_param(&c, name, nl, value);
			continue;
		}
		if (*p == '=') {
			/* A token68 or junk without a scheme: skipped. */
			p = read_value(skip_ws(p + 1), value, sizeof(value));
			continue;
		}
		/* A scheme name: a new challenge. */
		if (have)
			challenge_done(a, &c, &best);
		memset(&c, 0, sizeof(c));
		have = 1;
		any = 1;
		c.scheme = nl == 6 && strncasecmp(name, "Digest", 6) == 0 ?
		    HTTP_AUTH_DIGEST : nl == 5 && strncasecmp(name, "Basic",
		    5) == 0 ? HTTP_AUTH_BASIC : HTTP_AUTH_NONE;
		if (c.scheme == HTTP_AUTH_NONE) {
			char other[24];

			snprintf(other, sizeof(other), "%.*s", (int)(nl > 20 ?
			    20 : nl), name);
			for (char *q = other; *q != '\0'; q++)
				if ((unsigned char)*q < 0x20 ||
				    (unsigned char)*q > 0x7e)
					*q = '?';
			offered_add(a, other);
		}
	}
	if (have)
		challenge_done(a, &c, &best);
	if (!any)
		return -EBADMSG;
	return best > 0 ? 0 : -ENOTSUP;
}

/* ------------------------------------------------------------ answers */

#define HASH_HEX_MAX	(2 * EVP_MAX_MD_SIZE + 1)

/* hex = H(parts joined by ':'), lower-case hex.  0 or -EIO. */
static int
hash_hex(const EVP_MD *md, const char *const *parts, size_t n, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char out[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx != NULL && EVP_DigestInit_ex(ctx, md, NULL) == 1;

	for (size_t i = 0; ok && i < n; i++)
		ok = (i == 0 || EVP_DigestUpdate(ctx, ":", 1) == 1) &&
		    EVP_DigestUpdate(ctx, parts[i], strlen(parts[i])) == 1;
	ok = ok && EVP_DigestFinal_ex(ctx, out, &len) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -EIO;
	for (unsigned int i = 0; i < len; i++) {
		hex[2 * i] = digits[out[i] >> 4];
		hex[2 * i + 1] = digits[out[i] & 15];
	}
	hex[2 * len] = '\0';
	return 0;
}

/* Appends s as the inside of a quoted-string (\-escaping '"' and '\'). */
static int
put_quoted(char *out, size_t size, size_t *n, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*n + 3 >= size)
			return -ENOSPC;
		if (*s == '"' || *s == '\\')
			out[(*n)++] = '\\';
		out[(*n)++] = *s;
	}
	out[*n] = '\0';
	return 0;
}

static int
put_str(char *out, size_t size, size_t *n, const char *s)
{
	size_t l = strlen(s);

	if (*n + l + 1 > size)
		return -ENOSPC;
	memcpy(out + *n, s, l + 1);
	*n += l;
	return 0;
}

static int
has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static int
auth_basic(const char *user, const char *pass, char *out, size_t size)
{
	unsigned char plain[512];
	int l1 = (int)strlen(user), l2 = (int)strlen(pass);

	if (strchr(user, ':') != NULL)
		return -EINVAL;	/* RFC 7617: a user-id has no colon */
	if ((size_t)l1 + (size_t)l2 + 1 > sizeof(plain) ||
	    6 + 4 * (((size_t)l1 + (size_t)l2 + 1 + 2) / 3) + 1 > size)
		return -ENOSPC;
	memcpy(plain, user, (size_t)l1);
	plain[l1] = ':';
	memcpy(plain + l1 + 1, pass, (size_t)l2);
	memcpy(out, "Basic ", 6);
	EVP_EncodeBlock((unsigned char *)out + 6, plain, l1 + 1 + l2);
	OPENSSL_cleanse(plain, sizeof(plain));
	return 0;
}

int
http_auth_header(const struct http_auth *a, const char *user,
    const char *pass, const char *method, const char *uri, uint32_t nc,
    const char *cnonce, char *out, size_t size)
{
	char ha1[HASH_HEX_MAX], ha2[HASH_HEX_MAX], resp[HASH_HEX_MAX];
	char uhash[HASH_HEX_MAX], ncs[9];
	const EVP_MD *md;
	const char *alg = algorithms[a->algorithm].name;
	size_t n = 0;
	int sess, rc = 0;

	if (has_ctl(user) || has_ctl(pass))
		return -EINVAL;
	if (a->scheme == HTTP_AUTH_BASIC)
		return auth_basic(user, pass, out, size);
	if (a->scheme != HTTP_AUTH_DIGEST)
		return -EINVAL;
	md = a->algorithm == HTTP_AUTH_SHA256 ||
	    a->algorithm == HTTP_AUTH_SHA256_SESS ? EVP_sha256() : EVP_md5();
	sess = a->algorithm == HTTP_AUTH_MD5_SESS ||
	    a->algorithm == HTTP_AUTH_SHA256_SESS;
	snprintf(ncs, sizeof(ncs), "%08x", (unsigned)nc);
	{
		const char *p1[] = { user, a->realm, pass };
		const char *p2[] = { method, uri };

		if (hash_hex(md, p1, 3, ha1) != 0 ||
		    hash_hex(md, p2, 2, ha2) != 0)
			return -EIO;
	}
	if (sess) {
		const char *ps[] = { ha1, a->nonce, cnonce };

		if (hash_hex(md, ps, 3, ha1) != 0)
			return -EIO;
	}
	if (a->qop) {
		const char *pr[] = { ha1, a->nonce, ncs, cnonce, "auth", ha2 };

		rc = hash_hex(md, pr, 6, resp);
	} else {
		const char *pr[] = { ha1, a->nonce, ha2 };

		rc = hash_hex(md, pr, 3, resp);
	}
	if (rc != 0)
		return -EIO;
	if (a->userhash) {
		const char *pu[] = { user, a->realm };

		if (hash_hex(md, pu, 2, uhash) != 0)
			return -EIO;
	}
	rc |= put_str(out, size, &n, "Digest username=\"");
	rc |= put_quoted(out, size, &n, a->userhash ? uhash : user);
	rc |= put_str(out, size, &n, "\", realm=\"");
	rc |= put_quoted(out, size, &n, a->realm);
	rc |= put_str(out, size, &n, "\", nonce=\"");
	rc |= put_quoted(out, size, &n, a->nonce);
	rc |= put_str(out, size, &n, "\", uri=\"");
	rc |= put_quoted(out, size, &n, uri);
	rc |= put_str(out, size, &n, "\", algorithm=");
	rc |= put_str(out, size, &n, alg);
	rc |= put_str(out, size, &n, ", response=\"");
	rc |= put_str(out, size, &n, resp);
	rc |= put_str(out, size, &n, "\"");
	if (a->qop) {
		rc |= put_str(out, size, &n, ", qop=auth, nc=");
		rc |= put_str(out, size, &n, ncs);
	}
	if (a->qop || sess) {
		rc |= put_str(out, size, &n, ", cnonce=\"");
		rc |= put_quoted(out, size, &n, cnonce);
		rc |= put_str(out, size, &n, "\"");
	}
	if (a->opaque[0] != '\0') {
		rc |= put_str(out, size, &n, ", opaque=\"");
		rc |= put_quoted(out, size, &n, a->opaque);
		rc |= put_str(out, size, &n, "\"");
	}
	if (a->userhash)
		rc |= put_str(out, size, &n, ", userhash=true");
	OPENSSL_cleanse(ha1, sizeof(ha1));
	return rc != 0 ? -ENOSPC : 0;
}
