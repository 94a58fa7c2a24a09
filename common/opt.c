/*
 * opt.c - see opt.h.
 */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "clock.h"

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

void
opt_no_operands(int argc, char **argv)
{
	if (optind != argc)
		opt_usage_error("unexpected argument '%s'", argv[optind]);
}

void
opt_cameras_name(struct opt_cameras *c, const char *arg)
{
	if (ring_camera_name_valid(arg) != 0)
		opt_usage_error("invalid --name '%s'", arg);
	c->name = arg;
}

void
opt_cameras_ctl(struct opt_cameras *c, const char *arg)
{
	if (arg[0] == '\0' || strlen(arg) >= CTL_PATH_MAX)
		opt_usage_error("invalid --ctl path '%s'", arg);
	c->ctl = arg;
}

void
opt_cameras_add(struct opt_cameras *c, const char *arg)
{
	struct opt_camera *v;
	unsigned i;

	v = reallocarray(c->v, c->n + 1, sizeof(*v));
	if (v == NULL)
		fatal("reallocarray");
	c->v = v;
	opt_camera(arg, &v[c->n].name, &v[c->n].ctl);
	for (i = 0; i < c->n; i++)
		if (strcmp(v[i].name, v[c->n].name) == 0)
			opt_usage_error("invalid --camera '%s': given twice",
			    arg);
	c->n++;
}

void
opt_cameras_done(struct opt_cameras *c)
{
	if (c->n > 0) {
		if (c->name != NULL || c->ctl != NULL)
			opt_usage_error("--name and --ctl are for a single "
			    "camera; with --camera give NAME:CTLPATH instead");
		return;
	}
	if ((c->v = calloc(1, sizeof(*c->v))) == NULL)
		fatal("calloc");
	if ((c->v[0].name = strdup(c->name != NULL ? c->name :
	    "default")) == NULL)
		fatal("strdup");
	c->v[0].ctl = c->ctl;
	c->n = 1;
}

void
opt_cameras_free(struct opt_cameras *c)
{
	unsigned i;

	for (i = 0; i < c->n; i++)
		free(c->v[i].name);
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

int
opt_reader_option(const struct opt_reader *r, int ch, const char *arg)
{
	switch (ch) {
	case 'n':
		opt_cameras_name(r->cams, arg);
		break;
	case 'c':
		opt_cameras_ctl(r->cams, arg);
		break;
	case OPT_READER_CAMERA:
		opt_cameras_add(r->cams, arg);
		break;
	case OPT_READER_CAPTURE_USER:
		*r->capture_uid = opt_user("--capture-user", arg);
		break;
	case 't':
		*r->client_timeout_s = (unsigned)opt_uint("--client-timeout",
		    arg, 1, 3600, 10);
		break;
	case OPT_READER_REQUEST_TIMEOUT:
		*r->request_timeout_s = (unsigned)opt_uint("--request-timeout",
		    arg, 1, 3600, 10);
		break;
	case OPT_READER_ALLOW_ROOT:
		*r->allow_root = 1;
		break;
	case OPT_READER_NO_SANDBOX:
		*r->no_sandbox = 1;
		break;
	case 'v':
		log_set_verbose(1);
		break;
	default:
		return 0;
	}
	return 1;
}

void
opt_reader_start(int allow_root, unsigned *max_clients, unsigned per_client,
    uint64_t *started_real_ns, uint64_t *started_mono_ns)
{
	if ((geteuid() == 0 || getuid() == 0) && !allow_root)
		fatalx("refusing to run as root: run as an unprivileged user "
		    "in the capture's server group, or pass --allow-root");
	signal(SIGPIPE, SIG_IGN);
	opt_fd_limit(max_clients, per_client);
	*started_real_ns = clock_ns(CLOCK_REALTIME);
	*started_mono_ns = clock_ns(CLOCK_MONOTONIC);
}
