/*
 * opt.c - see opt.h.
 */
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ctl.h"
#include "log.h"
#include "opt.h"
#include "ring.h"

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

void
opt_camera(const char *arg, char **name, const char **ctl)
{
	const char *colon = strchr(arg, ':');
	char buf[RING_NAME_MAX];
	size_t n = colon != NULL ? (size_t)(colon - arg) : strlen(arg);

	if (n == 0 || n >= sizeof(buf))
		opt_usage_error("invalid --camera '%s': expected NAME[:CTLPATH]",
		    arg);
	memcpy(buf, arg, n);
	buf[n] = '\0';
	if (ring_camera_name_valid(buf) != 0)
		opt_usage_error("invalid --camera '%s': the name is 1-56 "
		    "letters, digits, '.', '_' and '-'", arg);
	if (colon != NULL && (colon[1] == '\0' ||
	    strlen(colon + 1) >= CTL_PATH_MAX))
		opt_usage_error("invalid --camera '%s': empty or too long control "
		    "socket path", arg);
	*name = strndup(arg, n);
	*ctl = colon != NULL ? colon + 1 : NULL;
	if (*name == NULL)
		fatal("strndup");
}

uid_t
opt_user(const char *what, const char *arg)
{
	struct passwd *pw;
	unsigned long v;
	char *end;

	if ((pw = getpwnam(arg)) != NULL)
		return pw->pw_uid;
	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || arg[0] == '-' ||
	    v >= (unsigned long)(uid_t)-1)
		opt_usage_error("unknown %s '%s'", what, arg);
	return (uid_t)v;
}

void
opt_fd_limit(unsigned *max_clients, unsigned per_client)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)*max_clients * per_client + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		fatal("getrlimit");
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit RLIMIT_NOFILE");
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < need) {
		unsigned max = rl.rlim_cur > 128 ?
		    (unsigned)((rl.rlim_cur - 64) / per_client) :
		    (unsigned)(rl.rlim_cur / 2 / per_client);

		if (max == 0)
			max = 1;
		log_warnx("open file limit %llu: --max-clients lowered from "
		    "%u to %u", (unsigned long long)rl.rlim_cur, *max_clients,
		    max);
		*max_clients = max;
	}
}
