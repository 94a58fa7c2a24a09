/*
 * shmcam-capture - owns one camera and publishes its frames as JPEG into a
 * shared-memory ring (common/ring.h), waking every attached server through
 * its own eventfd (common/ctl.h, peers.c).
 *
 * main.c: options, setup, the event loop, publishing.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "ctl.h"
#include "encode.h"
#include "log.h"
#include "peers.h"
#include "ring.h"
#include "source.h"

#define SHMCAM_VERSION	"0.1"
#define STATS_PERIOD_S	5

struct capture_options {
	const char	*name;
	const char	*ctl_path;
	const char	*source;
	const char	*server_group;
	uint32_t	 width;
	uint32_t	 height;
	uint32_t	 fps_milli;
	int		 quality;
	uint32_t	 slots;
};

struct capture {
	struct capture_options opt;
	struct event_base *base;
	struct source	 src;
	struct ring_writer ring;
	struct peers	 peers;
	struct encoder	 enc;
	struct event	*src_ev;
	struct event	*tick_ev;
	struct event	*sigint_ev;
	struct event	*sigterm_ev;
	char		 ctl_path[CTL_PATH_MAX];
	char		 shm_name[RING_NAME_MAX];

	/* statistics since the last stats line */
	uint64_t	 st_start_ns;
	uint64_t	 st_frames;
	uint64_t	 st_encode_ns;
	uint64_t	 st_dropped;
	uint64_t	 st_failures;
};

static uint64_t
now_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
usage(FILE *out)
{
	fprintf(out,
"usage: shmcam-capture [options]\n"
"\n"
"Owns one camera and publishes its frames as JPEG into shared memory for\n"
"any number of shmcam-server processes.\n"
"\n"
"  -n, --name NAME          camera name (default \"default\"); the ring is\n"
"                           the shared-memory object \"shmcam-NAME\"\n"
"  -c, --ctl PATH           control socket (default /run/shmcam/NAME.sock,\n"
"                           or $XDG_RUNTIME_DIR/shmcam/NAME.sock)\n"
"  -s, --source SPEC        \"pattern\": the built-in test pattern (default)\n"
"  -S, --size WxH           frame size (default 1280x720)\n"
"  -f, --fps N              frames per second, may be fractional (default 30)\n"
"  -q, --quality N          JPEG quality 1-100 (default 80)\n"
"      --slots N            ring slots, %d-%d (default 8)\n"
"  -g, --server-group GRP   group that may read the ring and connect to the\n"
"                           control socket (default: the process's group)\n"
"  -v, --verbose            debug logging\n"
"  -h, --help               this text\n"
"  -V, --version            print the version\n",
	    RING_SLOTS_MIN, RING_SLOTS_MAX);
}

/* Parses "WxH" with even W and H within the picture limits. */
static int
parse_size(const char *s, uint32_t *w, uint32_t *h)
{
	char *end;
	unsigned long a, b;

	errno = 0;
	a = strtoul(s, &end, 10);
	if (errno != 0 || end == s || (*end != 'x' && *end != 'X'))
		return -1;
	s = end + 1;
	b = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return -1;
	if (a < 16 || b < 16 || a > 8192 || b > 8192 || (a & 1) || (b & 1))
		return -1;
	*w = (uint32_t)a;
	*h = (uint32_t)b;
	return 0;
}

/* Parses a rate like "30" or "29.97" into thousandths, within 0.1-240. */
static int
parse_fps(const char *s, uint32_t *milli)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= 0.1 && v <= 240))
		return -1;
	*milli = (uint32_t)(v * 1000 + 0.5);
	return 0;
}

static int
parse_uint(const char *s, unsigned long min, unsigned long max,
    unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' ||
	    v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "shmcam-capture: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'shmcam-capture --help'.\n");
	exit(2);
}

static void
parse_options(struct capture_options *o, int argc, char **argv)
{
	enum { OPT_SLOTS = 256 };
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "ctl", required_argument, NULL, 'c' },
		{ "source", required_argument, NULL, 's' },
		{ "size", required_argument, NULL, 'S' },
		{ "fps", required_argument, NULL, 'f' },
		{ "quality", required_argument, NULL, 'q' },
		{ "slots", required_argument, NULL, OPT_SLOTS },
		{ "server-group", required_argument, NULL, 'g' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	int ch;

	memset(o, 0, sizeof(*o));
	o->name = "default";
	o->source = "pattern";
	o->width = 1280;
	o->height = 720;
	o->fps_milli = 30000;
	o->quality = 80;
	o->slots = 8;

	while ((ch = getopt_long(argc, argv, "n:c:s:S:f:q:g:vhV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'n':
			if (strlen(optarg) > RING_NAME_MAX - 8 ||
			    ring_name_valid(optarg) != 0)
				usage_error("invalid --name '%s': use 1-55 of "
				    "A-Z a-z 0-9 . _ -", optarg);
			o->name = optarg;
			break;
		case 'c':
			if (strlen(optarg) >= CTL_PATH_MAX || optarg[0] == '\0')
				usage_error("--ctl path too long: '%s'", optarg);
			o->ctl_path = optarg;
			break;
		case 's':
			if (strcmp(optarg, "pattern") != 0)
				usage_error("unknown --source '%s': expected "
				    "\"pattern\"", optarg);
			o->source = optarg;
			break;
		case 'S':
			if (parse_size(optarg, &o->width, &o->height) != 0)
				usage_error("invalid --size '%s': expected WxH, "
				    "even numbers from 16 to 8192", optarg);
			break;
		case 'f':
			if (parse_fps(optarg, &o->fps_milli) != 0)
				usage_error("invalid --fps '%s': expected a "
				    "rate from 0.1 to 240", optarg);
			break;
		case 'q':
			if (parse_uint(optarg, 1, 100, &v) != 0)
				usage_error("invalid --quality '%s': expected "
				    "1-100", optarg);
			o->quality = (int)v;
			break;
		case OPT_SLOTS:
			if (parse_uint(optarg, RING_SLOTS_MIN, RING_SLOTS_MAX,
			    &v) != 0)
				usage_error("invalid --slots '%s'", optarg);
			o->slots = (uint32_t)v;
			break;
		case 'g':
			o->server_group = optarg;
			break;
		case 'v':
			log_set_verbose(1);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("shmcam-capture %s\n", SHMCAM_VERSION);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc)
		usage_error("unexpected argument '%s'", argv[optind]);
}

static void
capture_set_status(struct capture *c, enum ring_state state,
    const char *reason)
{
	struct ring_status st;

	memset(&st, 0, sizeof(st));
	st.width = c->src.width;
	st.height = c->src.height;
	st.fps_milli = c->src.fps_milli;
	st.format = c->src.fourcc;
	st.state = state;
	snprintf(st.source, sizeof(st.source), "%s", c->src.desc);
	snprintf(st.reason, sizeof(st.reason), "%s", reason);
	ring_writer_set_status(&c->ring, &st);
}

/* Encodes (or copies) one source frame into the next slot and publishes. */
static void
capture_publish(struct capture *c, const struct source_frame *f)
{
	struct ring_frame rf;
	uint32_t cap;
	uint8_t *slot;
	size_t len = 0;
	uint64_t t0;
	int rc;

	slot = ring_writer_begin(&c->ring, &cap);
	t0 = now_ns(CLOCK_MONOTONIC);
	rc = encoder_encode(&c->enc, f, slot, cap, &len);
	if (rc != 0) {
		ring_writer_abort(&c->ring);
		ring_writer_count(&c->ring, 0, 1, 0, 0);
		c->st_failures++;
		if (c->st_failures == 1)
			log_warnx("encoding a %ux%u frame failed: %s",
			    f->width, f->height, strerror(-rc));
		return;
	}
	c->st_encode_ns += now_ns(CLOCK_MONOTONIC) - t0;

	memset(&rf, 0, sizeof(rf));
	rf.length = (uint32_t)len;
	rf.width = f->width;
	rf.height = f->height;
	rf.capture_real_ns = f->capture_real_ns;
	rf.capture_mono_ns = f->capture_mono_ns;
	rc = ring_writer_commit(&c->ring, &rf);
	if (rc != 0) {
		log_warnx("publish failed: %s", strerror(-rc));
		return;
	}
	c->st_frames++;
	peers_notify(&c->peers);
}

static void
capture_source_cb(evutil_socket_t fd, short what, void *arg)
{
	struct capture *c = arg;
	struct source_frame f;
	char why[128] = "";
	int rc;

	(void)fd;
	(void)what;
	rc = c->src.ops->next(&c->src, &f, why, sizeof(why));
	if (rc < 0)
		fatalx("source %s failed: %s", c->src.desc, why);
	if (rc == 0)
		return;
	ring_writer_count(&c->ring, 1 + f.skipped, f.skipped, 0, 0);
	c->st_dropped += f.skipped;
	capture_publish(c, &f);
	c->src.ops->release(&c->src, &f);
	ring_writer_heartbeat(&c->ring, now_ns(CLOCK_MONOTONIC));
}

static void
capture_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct capture *c = arg;
	uint64_t now = now_ns(CLOCK_MONOTONIC);
	double secs = (double)(now - c->st_start_ns) / 1e9;

	(void)fd;
	(void)what;
	ring_writer_heartbeat(&c->ring, now);
	if (ring_writer_repair(&c->ring))
		log_warnx("ring header was changed by another process; "
		    "restored it");
	if (secs < STATS_PERIOD_S)
		return;
	log_info("%s %ux%u: %.1f fps, encode %.2f ms, %llu dropped, "
	    "%u servers, %u viewers", c->src.desc, c->src.width, c->src.height,
	    (double)c->st_frames / secs,
	    c->st_frames ? (double)c->st_encode_ns / (double)c->st_frames / 1e6
	    : 0.0, (unsigned long long)c->st_dropped, c->peers.ps_attached,
	    c->peers.ps_viewers);
	c->st_start_ns = now;
	c->st_frames = c->st_encode_ns = c->st_dropped = c->st_failures = 0;
}

static void
capture_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct capture *c = arg;

	(void)what;
	log_info("signal %d, stopping", (int)sig);
	event_base_loopbreak(c->base);
}

static gid_t
lookup_group(const char *name)
{
	struct group *gr;
	unsigned long v;

	if (name == NULL)
		return (gid_t)-1;
	if ((gr = getgrnam(name)) != NULL)
		return gr->gr_gid;
	if (parse_uint(name, 0, UINT_MAX - 1, &v) == 0)
		return (gid_t)v;
	fatalx("unknown --server-group '%s'", name);
}

static void
capture_setup(struct capture *c)
{
	struct source_config sc;
	char why[128] = "";
	gid_t gid;
	int rc, fd;

	memset(&sc, 0, sizeof(sc));
	sc.width = c->opt.width;
	sc.height = c->opt.height;
	sc.fps_milli = c->opt.fps_milli;
	sc.quality = c->opt.quality;
	if ((rc = pattern_source_init(&c->src, &sc)) != 0)
		fatalx("test pattern: %s", strerror(-rc));
	if ((rc = c->src.ops->open(&c->src, why, sizeof(why))) != 0)
		fatalx("source %s: %s", c->src.desc, why);
	if (!encoder_supports(c->src.fourcc))
		fatalx("source %s: no encoder for its pixel format",
		    c->src.desc);
	if ((rc = encoder_init(&c->enc, c->opt.quality)) != 0)
		fatalx("JPEG encoder: %s", strerror(-rc));

	gid = lookup_group(c->opt.server_group);
	snprintf(c->shm_name, sizeof(c->shm_name), "shmcam-%s", c->opt.name);
	rc = ring_writer_create(&c->ring, c->shm_name, c->opt.slots,
	    ring_slot_size_for(c->src.max_frame), 0640, gid);
	if (rc != 0)
		fatalx("ring /dev/shm/%s: %s", c->shm_name, strerror(-rc));
	capture_set_status(c, RING_STATE_ONLINE, "");

	if (c->opt.ctl_path != NULL)
		snprintf(c->ctl_path, sizeof(c->ctl_path), "%s",
		    c->opt.ctl_path);
	else if (ctl_default_path(c->opt.name, c->ctl_path,
	    sizeof(c->ctl_path)) != 0)
		fatalx("default control socket path too long; use --ctl");
	fd = ctl_listen(c->ctl_path, 0660, gid);
	if (fd == -EADDRINUSE)
		fatalx("control socket %s: another capture is running there",
		    c->ctl_path);
	if (fd < 0)
		fatalx("control socket %s: %s", c->ctl_path, strerror(-fd));

	if ((c->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	if (peers_init(&c->peers, c->base, fd, &c->ring) != 0)
		fatalx("control socket events: out of memory");
	c->src_ev = event_new(c->base, c->src.fd, EV_READ | EV_PERSIST,
	    capture_source_cb, c);
	c->tick_ev = event_new(c->base, -1, EV_PERSIST, capture_tick_cb, c);
	c->sigint_ev = evsignal_new(c->base, SIGINT, capture_signal_cb, c);
	c->sigterm_ev = evsignal_new(c->base, SIGTERM, capture_signal_cb, c);
	if (c->src_ev == NULL || c->tick_ev == NULL || c->sigint_ev == NULL ||
	    c->sigterm_ev == NULL)
		fatalx("event_new failed");
	{
		struct timeval second = { 1, 0 };
		event_add(c->src_ev, NULL);
		event_add(c->tick_ev, &second);
		event_add(c->sigint_ev, NULL);
		event_add(c->sigterm_ev, NULL);
	}
	c->st_start_ns = now_ns(CLOCK_MONOTONIC);
	log_info("capturing %s %ux%u at %u.%03u fps into /dev/shm/%s, "
	    "control socket %s", c->src.desc, c->src.width, c->src.height,
	    c->src.fps_milli / 1000, c->src.fps_milli % 1000, c->shm_name,
	    c->ctl_path);
}

static void
capture_teardown(struct capture *c)
{
	event_free(c->src_ev);
	event_free(c->tick_ev);
	event_free(c->sigint_ev);
	event_free(c->sigterm_ev);
	peers_free(&c->peers);
	unlink(c->ctl_path);
	ring_writer_destroy(&c->ring, 1);
	if (c->src.ops != NULL)
		c->src.ops->destroy(&c->src);
	encoder_free(&c->enc);
	event_base_free(c->base);
}

int
main(int argc, char **argv)
{
	struct capture c;

	memset(&c, 0, sizeof(c));
	log_init(argv[0]);
	parse_options(&c.opt, argc, argv);
	signal(SIGPIPE, SIG_IGN);
	capture_setup(&c);
	event_base_dispatch(c.base);
	capture_teardown(&c);
	return 0;
}
