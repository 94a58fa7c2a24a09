/*
 * digest.c - Digest access authentication: the Authorization header and
 * the MD5 computations (see digest.h).  MD5 is nettle's.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <nettle/md5.h>

#include "digest.h"

static void
hex(const uint8_t *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = '\0';
}

/* MD5 of the strings of parts, joined by ':', as hex. */
static void
md5_joined(const char *const *parts, unsigned n, char out[DIGEST_HEX])
{
	struct md5_ctx ctx;
	uint8_t d[MD5_DIGEST_SIZE];
	unsigned i;

	md5_init(&ctx);
	for (i = 0; i < n; i++) {
		if (i > 0)
			md5_update(&ctx, 1, (const uint8_t *)":");
		md5_update(&ctx, strlen(parts[i]), (const uint8_t *)parts[i]);
	}
	md5_digest(&ctx, sizeof(d), d);
	hex(d, sizeof(d), out);
}

void
digest_ha1(const char *user, const char *realm, const char *pass,
    char ha1[DIGEST_HEX])
{
	const char *parts[] = { user, realm, pass };

	md5_joined(parts, 3, ha1);
}

int
digest_expected(const char ha1[DIGEST_HEX], const char *method,
    const struct digest_creds *dc, char out[DIGEST_HEX])
{
	const char *a2[] = { method, dc->uri };
	char ha2[DIGEST_HEX];

	if (dc->algorithm[0] != '\0' && strcasecmp(dc->algorithm, "MD5") != 0)
		return -ENOTSUP;
	if (dc->qop[0] != '\0' && strcasecmp(dc->qop, "auth") != 0)
		return -ENOTSUP;
	md5_joined(a2, 2, ha2);
	if (dc->qop[0] == '\0') {
		const char *r[] = { ha1, dc->nonce, ha2 };

		md5_joined(r, 3, out);
	} else {
		const char *r[] = { ha1, dc->nonce, dc->nc, dc->cnonce,
		    dc->qop, ha2 };

		md5_joined(r, 6, out);
	}
	return 0;
}

/* A parameter's value: "quoted" (backslash escapes) or a token. */
static const char *
parse_value(const char *p, char *out, size_t size, int *bad)
{
	size_t n = 0;

	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			if (*p == '\0' || n + 1 >= size) {
				*bad = 1;
				return p;
			}
			out[n++] = *p;
		}
		p++;
	} else {
		for (; *p != '\0' && *p != ',' && *p != ' ' && *p != '\t';
		    p++) {
			if (n + 1 >= size) {
				*bad = 1;
				return p;
			}
			out[n++] = *p;
		}
	}
	out[n] = '\0';
	return p;
}

int
digest_parse(const char *header, struct digest_creds *dc)
{
	static const struct {
		const char	*name;
		size_t		 off;
		size_t		 size;
	} fields[] = {
#define F(f) { #f, offsetof(struct digest_creds, f), \
	sizeof(((struct digest_creds *)0)->f) }
		F(username), F(realm), F(nonce), F(uri), F(response),
		F(algorithm), F(qop), F(nc), F(cnonce),
#undef F
	};
	unsigned seen = 0;
	const char *p = header;
	char name[32], skip[256];
	size_t n, i;
	int bad = 0;

	memset(dc, 0, sizeof(*dc));
	if (strncasecmp(p, "Digest", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
		return -EINVAL;
	p += 6;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		for (n = 0; p[n] != '=' && p[n] != '\0' && p[n] != ' ' &&
		    p[n] != ','; n++)
			;
		if (p[n] != '=' || n == 0 || n >= sizeof(name))
			return -EINVAL;
		memcpy(name, p, n);
		name[n] = '\0';
		p += n + 1;
		for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (strcasecmp(name, fields[i].name) == 0)
				break;
		if (i == sizeof(fields) / sizeof(fields[0])) {
			/* opaque, userhash and the like: not ours. */
			p = parse_value(p, skip, sizeof(skip), &bad);
		} else {
			if (seen & (1u << i))
				return -EINVAL;
			seen |= 1u << i;
			p = parse_value(p, (char *)dc + fields[i].off,
			    fields[i].size, &bad);
		}
		if (bad)
			return -EINVAL;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != ',' && *p != '\0')
			return -EINVAL;
	}
	/* username, realm, nonce, uri, response: the first five. */
	if ((seen & 0x1f) != 0x1f || dc->username[0] == '\0' ||
	    dc->response[0] == '\0')
		return -EINVAL;
	return 0;
}
