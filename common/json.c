/*
 * json.c - JSON strings from text we do not control (camera names, client
 * keys, addresses, the capture's status text from shared memory).
 *
 * Quotes, backslashes and every control character are escaped, and so is
 * DEL; valid UTF-8 passes through, and each byte that is not part of a
 * valid UTF-8 sequence becomes U+FFFD, so the output is valid JSON (RFC
 * 8259) whatever the input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "json.h"

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates, beyond U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

size_t
json_escape(const char *in, char *out, size_t size)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t n = strlen(in), i = 0, o = 0, w = 0, k;
	char esc[8];
	const char *add;
	size_t addlen;

	while (i < n) {
		k = utf8_seq(s + i, n - i);
		add = esc;
		if (k == 0) {
			add = "\\ufffd";
			addlen = 6;
			k = 1;
		} else if (k > 1) {
			add = (const char *)s + i;
			addlen = k;
		} else if (s[i] == '"' || s[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)s[i];
			addlen = 2;
		} else if (s[i] == '\n') {
			add = "\\n";
			addlen = 2;
		} else if (s[i] == '\r') {
			add = "\\r";
			addlen = 2;
		} else if (s[i] == '\t') {
			add = "\\t";
			addlen = 2;
		} else if (s[i] < 0x20 || s[i] == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", s[i]);
			addlen = 6;
		} else {
			add = (const char *)s + i;
			addlen = 1;
		}
		/* Whole escapes only: a truncated result stays valid. */
		if (out != NULL && w == o && o + addlen < size) {
			memcpy(out + o, add, addlen);
			w += addlen;
		}
		o += addlen;
		i += k;
	}
	if (out != NULL && size > 0)
		out[w] = '\0';
	return o;
}

void
json_add_string(struct evbuffer *out, const char *s)
{
	char buf[512];
	size_t n = json_escape(s, buf, sizeof(buf));

	evbuffer_add(out, "\"", 1);
	if (n < sizeof(buf))
		evbuffer_add(out, buf, n);
	else {
		char *big = malloc(n + 1);
		if (big != NULL) {
			json_escape(s, big, n + 1);
			evbuffer_add(out, big, n);
			free(big);
		}
	}
	evbuffer_add(out, "\"", 1);
}
