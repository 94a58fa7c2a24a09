/*
 * log.c - see log.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static const char *log_progname = "shmcam";
static int log_prefix_priority;	/* "<N>" prefixes for journald */
static int log_verbosity;

void
log_init(const char *progname)
{
	const char *slash;

	if (progname != NULL) {
		slash = strrchr(progname, '/');
		log_progname = slash != NULL ? slash + 1 : progname;
	}
	/*
	 * systemd sets JOURNAL_STREAM when stderr is connected to the
	 * journal; then the priority prefix is what journald parses and the
	 * program name is redundant (the unit name is recorded).
	 */
	log_prefix_priority = getenv("JOURNAL_STREAM") != NULL;
}

void
log_set_verbose(int verbose)
{
	log_verbosity = verbose;
}

int
log_verbose(void)
{
	return log_verbosity;
}

void
log_line_prefix(int pri, char *buf, size_t size)
{
	if (log_prefix_priority)
		snprintf(buf, size, "<%d>", pri);
	else
		snprintf(buf, size, "%s: ", log_progname);
}

const char *
log_escape(const char *s, size_t len, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, n = 0;
	unsigned char c;
	char esc[4];
	int k;

	for (i = 0; i < len && s[i] != '\0'; i++) {
		c = (unsigned char)s[i];
		k = 0;
		if (c == '\\')
			esc[k++] = '\\', esc[k++] = '\\';
		else if (c == '\n')
			esc[k++] = '\\', esc[k++] = 'n';
		else if (c >= 0x20 && c < 0x7f)
			esc[k++] = (char)c;
		else {
			esc[k++] = '\\';
			esc[k++] = 'x';
			esc[k++] = hex[c >> 4];
			esc[k++] = hex[c & 15];
		}
		/* Whole escapes only: a cut one would mislead. */
		if (n + (size_t)k >= size)
			break;
		memcpy(out + n, esc, (size_t)k);
		n += (size_t)k;
	}
	if (size > 0)
		out[n] = '\0';
	return out;
}

/* Appends to line[*n..size), truncating; *n never passes size - 1. */
static void __attribute__((format(printf, 4, 0)))
log_vappend(char *line, size_t size, size_t *n, const char *fmt, va_list ap)
{
	int r = vsnprintf(line + *n, size - *n, fmt, ap);

	if (r > 0)
		*n += (size_t)r < size - *n ? (size_t)r : size - *n - 1;
}

static void __attribute__((format(printf, 4, 5)))
log_append(char *line, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vappend(line, size, n, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 4, 0)))
log_vline(int pri, int with_errno, int saved_errno, const char *fmt,
    va_list ap)
{
	char line[1024];
	size_t n;

	if (log_verbosity < 0 && pri > LOG_CRIT)
		return;
	/* One byte is kept back for the newline. */
	log_line_prefix(pri, line, sizeof(line) - 1);
	n = strlen(line);
	log_vappend(line, sizeof(line) - 1, &n, fmt, ap);
	if (with_errno)
		log_append(line, sizeof(line) - 1, &n, ": %s",
		    strerror(saved_errno));
	line[n++] = '\n';

	/* One write per line; a short write to stderr is not retried. */
	if (write(STDERR_FILENO, line, n) < 0) {
		/* Nowhere left to report it. */
	}
}

#define LOG_BODY(pri, with_errno) do {				\
	int saved_errno = errno;				\
	va_list ap;						\
	va_start(ap, fmt);					\
	log_vline(pri, with_errno, saved_errno, fmt, ap);	\
	va_end(ap);						\
	errno = saved_errno;					\
} while (0)

void
log_warn(const char *fmt, ...)
{
	LOG_BODY(LOG_WARNING, 1);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_WARNING, 0);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_INFO, 0);
}

void
log_debug(const char *fmt, ...)
{
	if (log_verbosity > 0)
		LOG_BODY(LOG_DEBUG, 0);
}

void
fatal(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, 1);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, 0);
	exit(1);
}
