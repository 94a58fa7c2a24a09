/*
 * log.h - one-line diagnostics for shmcam processes.
 *
 * Every line goes to stderr.  When stderr is the journal (systemd sets
 * JOURNAL_STREAM) or --syslog-prefix is requested, each line starts with
 * a "<N>" priority prefix (sd-daemon(3)) so journald keeps the severity;
 * on a terminal it starts with the program name instead.
 *
 *   log_warn()   a failure, with ": strerror(errno)" appended
 *   log_warnx()  a failure, no errno
 *   log_info()   normal operation worth a line
 *   log_debug()  only with log_set_verbose(1)
 *   fatal()      log_warn() then exit(1)
 *   fatalx()     log_warnx() then exit(1)
 *
 * Safe to call from any thread: each line is formatted into a local buffer
 * and written with a single write(2), so lines never interleave.
 */
#ifndef SHMCAM_LOG_H
#define SHMCAM_LOG_H

#include <stdarg.h>
#include <stddef.h>

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

void	log_init(const char *progname);
/* 1: debug lines too; 0: the default; -1: fatal() and fatalx() only
 * (the fuzzers, which feed the code junk by the million). */
void	log_set_verbose(int verbose);
int	log_verbose(void);
/*
 * Writes the start of a line at syslog priority pri ("<N>" or "PROGRAM: ")
 * into buf, for code that must write a line itself with write(2), such as
 * a signal handler.
 */
void	log_line_prefix(int pri, char *buf, size_t size);

/*
 * Text from elsewhere (a peer's label, a name it sent) made safe for a
 * log line: at most len bytes of s, up to a NUL, into out (size bytes,
 * always terminated, never cut inside an escape), printable ASCII as it
 * is, a backslash as "\\", a newline as "\n", any other byte as "\xNN",
 * so that nobody can start a line of their own or send a terminal
 * control sequence.  Returns out.  4 * len + 1 bytes always suffice.
 */
const char *log_escape(const char *s, size_t len, char *out, size_t size);

void	log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void	log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void	log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void	log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);
void	fatal(const char *fmt, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));
void	fatalx(const char *fmt, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));

#endif /* SHMCAM_LOG_H */
