/*
 * opt.h - command-line helpers shared by the programs.
 *
 * A bad option is the user's mistake, not a failure: it is reported with
 * what was expected and the program exits with status 2 (see usage).
 */
#ifndef SHMCAM_OPT_H
#define SHMCAM_OPT_H

#include <stdint.h>
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

/* Operands left after the options (optind < argc): a usage error. */
void	opt_no_operands(int argc, char **argv);

/*
 * The cameras a reader of the rings (shmcam-server, shmcam-rtsp) serves:
 * a single one from -n/--name and -c/--ctl, or several from repeated
 * --camera NAME[:CTLPATH] options.
 */
struct opt_camera {
	char		*name;		/* malloc()ed */
	const char	*ctl;		/* in argv, or NULL: the default */
};

struct opt_cameras {
	const char		*name;	/* --name, or NULL */
	const char		*ctl;	/* --ctl, or NULL */
	struct opt_camera	*v;
	unsigned		 n;
};

/* -n/--name, -c/--ctl and --camera: each checked, or a usage error. */
void	opt_cameras_name(struct opt_cameras *c, const char *arg);
void	opt_cameras_ctl(struct opt_cameras *c, const char *arg);
void	opt_cameras_add(struct opt_cameras *c, const char *arg);
/*
 * After the options: --name or --ctl with --camera is a usage error;
 * without --camera, the single camera of --name (or "default") and
 * --ctl becomes c->v[0].
 */
void	opt_cameras_done(struct opt_cameras *c);
void	opt_cameras_free(struct opt_cameras *c);

/*
 * The options both readers take with the same meaning and range, and
 * where each stores its value: -n/--name, -c/--ctl and --camera (cams),
 * --capture-user, -t/--client-timeout, --request-timeout, --allow-root,
 * --no-sandbox, and -v/--verbose.  Each program's option table holds
 * OPT_READER_LONGOPTS, its short options "n:c:t:v", and its own long
 * options take codes from OPT_READER_END on.
 */
enum {
	OPT_READER_CAMERA = 256,
	OPT_READER_CAPTURE_USER,
	OPT_READER_REQUEST_TIMEOUT,
	OPT_READER_ALLOW_ROOT,
	OPT_READER_NO_SANDBOX,
	OPT_READER_END
};

struct opt_reader {
	struct opt_cameras	*cams;
	uid_t			*capture_uid;
	unsigned		*client_timeout_s;
	unsigned		*request_timeout_s;
	int			*allow_root;
	int			*no_sandbox;
};

/* Their entries in a struct option table. */
#define OPT_READER_LONGOPTS						\
	{ "name", required_argument, NULL, 'n' },			\
	{ "ctl", required_argument, NULL, 'c' },			\
	{ "camera", required_argument, NULL, OPT_READER_CAMERA },	\
	{ "capture-user", required_argument, NULL,			\
	    OPT_READER_CAPTURE_USER },					\
	{ "client-timeout", required_argument, NULL, 't' },		\
	{ "request-timeout", required_argument, NULL,			\
	    OPT_READER_REQUEST_TIMEOUT },				\
	{ "allow-root", no_argument, NULL, OPT_READER_ALLOW_ROOT },	\
	{ "no-sandbox", no_argument, NULL, OPT_READER_NO_SANDBOX },	\
	{ "verbose", no_argument, NULL, 'v' }

/* The opt_reader of cameras c and of *o, a program's options structure
 * with fields of these names. */
#define OPT_READER_OF(c, o) {						\
	.cams = (c),							\
	.capture_uid = &(o)->capture_uid,				\
	.client_timeout_s = &(o)->client_timeout_s,			\
	.request_timeout_s = &(o)->request_timeout_s,			\
	.allow_root = &(o)->allow_root,					\
	.no_sandbox = &(o)->no_sandbox,					\
}

/* Option ch (getopt_long()'s return) with argument arg: 1 if it is one
 * of r's (stored, or a usage error), 0 if not. */
int	opt_reader_option(const struct opt_reader *r, int ch, const char *arg);

/*
 * What a reader does once its options are parsed: refuses to run as
 * root unless allow_root (a fatal error), ignores SIGPIPE (a client gone
 * mid-write is an EPIPE on that connection, not the end of the process),
 * makes room for max_clients of per_client descriptors (opt_fd_limit())
 * and notes the start time on both clocks.
 */
void	opt_reader_start(int allow_root, unsigned *max_clients,
	    unsigned per_client, uint64_t *started_real_ns,
	    uint64_t *started_mono_ns);

#endif /* SHMCAM_OPT_H */
