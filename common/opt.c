/*
 * opt.c - see opt.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "opt.h"

void
opt_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", program_invocation_short_name);
	exit(2);
}

int
opt_parse_uint(const char *s, unsigned long min, unsigned long max, int base,
    unsigned long *out)
{
	unsigned long v;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, base);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

unsigned long
opt_uint(const char *opt, const char *s, unsigned long min,
    unsigned long max, int base)
{
	unsigned long v;

	if (opt_parse_uint(s, min, max, base, &v) != 0)
		opt_usage_error("invalid %s '%s': expected %lu to %lu", opt, s,
		    min, max);
	return v;
}
