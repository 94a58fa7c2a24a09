/*
 * opt.h - command-line helpers shared by the programs.
 *
 * A bad option is the user's mistake, not a failure: it is reported with
 * what was expected and the program exits with status 2 (see usage).
 */
#ifndef SHMCAM_OPT_H
#define SHMCAM_OPT_H

#include <sys/types.h>

/* What --version prints, and the server's Server: header. */
#define SHMCAM_VERSION		"0.1"

/* "PROGRAM: <message>" and a pointer to --help on stderr, then exit(2). */
void	opt_usage_error(const char *fmt, ...)
	    __attribute__((noreturn, format(printf, 1, 2)));

/*
 * Parses an unsigned integer in the given base (0 for C prefixes) that
 * must be all of s and lie in [min, max]; no sign, no spaces.  0 and *out,
 * or -1.
 */
int	opt_parse_uint(const char *s, unsigned long min, unsigned long max,
	    int base, unsigned long *out);
/* The same for option opt's value s, or a usage error ("invalid --opt
 * 's': expected MIN to MAX", exit 2). */
unsigned long opt_uint(const char *opt, const char *s, unsigned long min,
	    unsigned long max, int base);

/*
 * A --camera NAME[:CTLPATH] value: the name (malloc()ed, a valid camera
 * name) and the path in arg (or NULL), or a usage error.
 */
void	opt_camera(const char *arg, char **name, const char **ctl);

/*
 * A --capture-user value (what, the option's name): a user name or a
 * number, its uid; or a usage error.
 */
uid_t	opt_user(const char *what, const char *arg);

/*
 * Clients each hold per_client descriptors: raises the soft limit on
 * open files to the hard one, and lowers *max_clients (with a warning)
 * if that still leaves no room for them and 64 more.
 */
void	opt_fd_limit(unsigned *max_clients, unsigned per_client);

#endif /* SHMCAM_OPT_H */
