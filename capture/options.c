/*
 * options.c - shmcam-capture's command line.  Anything invalid exits 2
 * with a message that says what was expected.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <linux/videodev2.h>

#include "capture.h"
#include "log.h"
#include "opt.h"

#define BUFFERS_MIN	2
#define BUFFERS_MAX	32

/* The --format names, wrapped to the help text's column. */
static void
format_list_wrapped(char *buf, size_t size)
{
	char list[512], *word, *save = NULL;
	size_t n = 0, col = 0;

	source_format_list(list, sizeof(list));
	buf[0] = '\0';
	for (word = strtok_r(list, " ", &save); word != NULL && n < size;
	    word = strtok_r(NULL, " ", &save)) {
		if (col > 0 && col + 1 + strlen(word) > 50) {
			n += (size_t)snprintf(buf + n, size - n, "\n%27s", "");
			col = 0;
		} else if (col > 0) {
			n += (size_t)snprintf(buf + n, size - n, " ");
			col++;
		}
		n += (size_t)snprintf(buf + n, size - n, "%s", word);
		col += strlen(word);
	}
}

static void
usage(FILE *out)
{
	char formats[512];

	format_list_wrapped(formats, sizeof(formats));
	fprintf(out,
"usage: shmcam-capture [options]\n"
"\n"
"Owns one camera and publishes its frames as JPEG, and H.264, into shared\n"
"memory for any number of shmcam-server processes.\n"
"\n"
"  -n, --name NAME          camera name (default \"default\"); the ring\n"
"                           shows as \"memfd:shmcam-NAME\" in /proc\n"
"  -c, --ctl PATH           control socket (default /run/shmcam/NAME.sock,\n"
"                           or $XDG_RUNTIME_DIR/shmcam/NAME.sock)\n"
"  -s, --source SPEC        auto (default): the first V4L2 capture device,\n"
"                           else the test pattern; v4l2:/dev/videoN (or a\n"
"                           /dev/v4l/by-id/... path); pattern; dir:PATH\n"
"                           (the JPEG files of a directory, looped);\n"
"                           http[s]://[USER:PASS@]HOST[:PORT]/PATH (an MJPEG\n"
"                           stream, or JPEG snapshots fetched at --fps)\n"
"  -F, --format FMT         auto (MJPEG preferred, then what encodes\n"
"                           cheapest), or one of:\n"
"                           %s\n"
"                           (or the device's four characters, as --list\n"
"                           shows them)\n"
"                           H264: the camera's H.264 passed through (no\n"
"                           JPEG then)\n"
"  -S, --size WxH           frame size (default 1280x720)\n"
"  -f, --fps N              frames per second, may be fractional (default 30;\n"
"                           a device keeps its own rate unless given)\n"
"  -q, --quality N          JPEG quality 1-100 for raw formats (default 80)\n"
"      --encoder WHO        who encodes raw formats: auto (default: a V4L2\n"
"                           memory-to-memory JPEG encoder if one is found\n"
"                           among /dev/video*, else the CPU), cpu\n"
"                           (libjpeg-turbo), m2m (that encoder, or exit),\n"
"                           m2m:/dev/videoN; a failing encoder falls back\n"
"                           to the CPU\n"
"      --buffers N          V4L2 mmap buffers, %d-%d (default 4)\n"
"      --control NAME=VAL   set a V4L2 control (names and menu indices as\n"
"                           --list shows them); repeatable, applied in order\n"
"      --list               print the device's formats, sizes, rates and\n"
"                           controls, then exit\n"
"      --workers N          encoder threads for raw formats, 1-%d (default 1:\n"
"                           encode on the loop thread)\n"
"      --always-encode      encode raw frames (and H.264) even with no viewer\n"
"      --h264 MODE          auto (default: H.264 if this build has x264 or\n"
"                           a hardware encoder is found, and a camera's\n"
"                           own), on (an error without either), off\n"
"      --h264-bitrate KBPS  H.264 rate limit, kbit/s (default: 0.07 bits per\n"
"                           pixel and frame, 1935 at 1280x720 30 fps)\n"
"      --h264-quality N     constant quality within that limit, 1-51, lower\n"
"                           is better (default %d)\n"
"      --h264-gop N         frames from keyframe to keyframe, 1-%d (default:\n"
"                           one second's worth)\n"
"      --h264-profile P     main (default) or baseline (Constrained Baseline)\n"
"      --h264-preset NAME   x264 speed preset, ultrafast ... placebo\n"
"                           (default ultrafast, with deblocking, CABAC and\n"
"                           adaptive quantization)\n"
"      --h264-threads N     x264 sliced threads, 1-%d (default 1)\n"
"      --h264-encoder WHO   who encodes H.264: auto (default: a V4L2\n"
"                           memory-to-memory H.264 encoder if one is found\n"
"                           among /dev/video*, else x264), x264, m2m (that\n"
"                           encoder, or exit), m2m:/dev/videoN; a failing\n"
"                           encoder falls back to x264\n"
"      --retry-interval S   reopen a lost source after S seconds (default 1)\n"
"      --retry-max S        ... doubling the wait up to S seconds (default:\n"
"                           10 for network sources, else --retry-interval)\n"
"      --credentials FILE   user:password for a network source, on the\n"
"                           file's first line (instead of the URL's)\n"
"      --source-timeout S   a network source that has not connected,\n"
"                           answered or sent a frame in S seconds is lost\n"
"                           (default 5)\n"
"      --tls-ca FILE        https: trust the certificates in FILE (PEM),\n"
"                           not the system's\n"
"      --slots N            ring slots, %d-%d (default 8)\n"
"  -g, --server-group GRP   group that may connect to the control socket\n"
"                           and so get the ring (default: the process's)\n"
"  -u, --user USER          started as root: run as USER (default\n"
"                           %s; without that user, root must name one)\n"
"      --group GROUP        ... with GROUP as primary group (default:\n"
"                           USER's); USER's other groups and the video\n"
"                           device's stay\n"
"      --no-sandbox         no system call filter after setup (debugging)\n"
"  -v, --verbose            debug logging\n"
"  -h, --help               this text\n"
"  -V, --version            print the version and the build's features\n",
	    formats, BUFFERS_MIN, BUFFERS_MAX, WORKERS_MAX, H264_QUALITY_DEFAULT,
	    H264_GOP_MAX, H264_THREADS_MAX, RING_SLOTS_MIN, RING_SLOTS_MAX,
	    PRIVS_DEFAULT_USER);
}

/*
 * --version: the version on the first line, then what the build has, one
 * word each ("features: x264 tls"), then what is missing or what it means
 * for the licence in words.  What the binary is distributed under
 * depends on x264.
 */
static void
print_version(void)
{
	int x264 = h264enc_available(), tls = net_tls_available();

	printf("shmcam-capture %s\n", SHMCAM_VERSION);
	printf("features:%s%s\n", x264 ? " x264" : "", tls ? " tls" : "");
	if (x264)
		printf("H.264: libx264 (this binary is GPL-2.0-or-later as a "
		    "whole)\n");
	else
		printf("H.264: no libx264 (built with X264=no); a hardware "
		    "encoder's (--h264-encoder) and cameras' own H.264\n");
	if (!tls)
		printf("built without TLS: no https sources (TLS=0)\n");
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

/*
 * http:// and https:// URLs: parsed here, into our own copy; then the
 * password is overwritten in argv, so that ps(1) and /proc/PID/cmdline
 * do not show it (the URL's other parts stay, for the reader of ps).
 */
static void
parse_source_url(struct capture_options *o, char *spec)
{
	char why[128];
	size_t off, len;

	if (url_parse(spec, &o->url, why, sizeof(why)) != 0)
		opt_usage_error("invalid --source URL: %s", why);
	url_password_span(spec, &off, &len);
	memset(spec + off, '*', len);
	if (o->url.tls && !net_tls_available())
		opt_usage_error("--source https://: this shmcam-capture was "
		    "built without TLS (make TLS=1)");
	o->kind = SOURCE_NET;
}

static void
parse_source(struct capture_options *o, char *spec)
{
	size_t len = strlen(spec);

	if (strcmp(spec, "auto") == 0)
		o->kind = SOURCE_AUTO;
	else if (strcmp(spec, "pattern") == 0)
		o->kind = SOURCE_PATTERN;
	else if (len > 5 && len - 5 < PATH_MAX &&
	    strncmp(spec, "v4l2:", 5) == 0 && spec[5] == '/') {
		o->kind = SOURCE_V4L2;
		o->path = spec + 5;
	} else if (len > 4 && len - 4 < PATH_MAX &&
	    strncmp(spec, "dir:", 4) == 0) {
		o->kind = SOURCE_DIR;
		o->path = spec + 4;
	} else if (strncasecmp(spec, "http://", 7) == 0 ||
	    strncasecmp(spec, "https://", 8) == 0)
		parse_source_url(o, spec);
	else
		opt_usage_error("unknown --source '%s': expected auto, "
		    "pattern, v4l2:/dev/videoN, dir:PATH or an http:// or "
		    "https:// URL", spec);
}

/* Parses seconds like "0.5" into milliseconds within [min, max]. */
static unsigned
parse_seconds(const char *opt, const char *s, unsigned min_ms,
    unsigned max_ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' ||
	    !(v * 1000 >= min_ms && v * 1000 <= max_ms))
		opt_usage_error("invalid %s '%s': expected seconds from %u.%u "
		    "to %u", opt, s, min_ms / 1000, min_ms % 1000 / 100,
		    max_ms / 1000);
	return (unsigned)(v * 1000 + 0.5);
}

void
capture_read_credentials(struct capture_options *o)
{
	char line[2 * URL_CRED_MAX + 2], *colon, *nl;
	struct stat st;
	FILE *f;

	if (o->credentials == NULL)
		return;
	if ((f = fopen(o->credentials, "re")) == NULL)
		opt_usage_error("--credentials %s: %s", o->credentials,
		    strerror(errno));
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0004))
		log_warnx("--credentials %s is readable by everyone",
		    o->credentials);
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	if ((nl = strpbrk(line, "\r\n")) != NULL)
		*nl = '\0';
	else if (strlen(line) == sizeof(line) - 1)
		opt_usage_error("--credentials %s: the line is too long",
		    o->credentials);
	/* Empty: no credentials (shmcam-capture-net@.service passes an
	 * empty file when the camera needs none). */
	if (line[0] == '\0')
		return;
	colon = strchr(line, ':');
	if (colon == NULL || colon == line ||
	    (size_t)(colon - line) >= sizeof(o->url.user) ||
	    strlen(colon + 1) >= sizeof(o->url.pass)) {
		explicit_bzero(line, sizeof(line));
		opt_usage_error("--credentials %s: expected one line "
		    "USER:PASSWORD (each at most %zu bytes)", o->credentials,
		    sizeof(o->url.user) - 1);
	}
	*colon = '\0';
	snprintf(o->url.user, sizeof(o->url.user), "%s", line);
	snprintf(o->url.pass, sizeof(o->url.pass), "%s", colon + 1);
	explicit_bzero(line, sizeof(line));
}

/* --encoder auto|cpu|m2m|m2m:PATH, --h264-encoder auto|x264|m2m|m2m:PATH:
 * cpu is the word for the software encoder. */
static void
parse_encoder(const char *opt, const char *cpu, const char *arg,
    enum capture_encoder *who, const char **path)
{
	*path = NULL;
	if (strcmp(arg, "auto") == 0)
		*who = ENCODER_AUTO;
	else if (strcmp(arg, cpu) == 0)
		*who = ENCODER_CPU;
	else if (strcmp(arg, "m2m") == 0)
		*who = ENCODER_M2M;
	else if (strncmp(arg, "m2m:/", 5) == 0 && strlen(arg + 4) < PATH_MAX) {
		*who = ENCODER_M2M;
		*path = arg + 4;
	} else
		opt_usage_error("unknown %s '%s': expected auto, %s, m2m or "
		    "m2m:/dev/videoN", opt, arg, cpu);
}

/* NAME=VALUE, NAME as v4l2-ctl spells controls, VALUE an integer. */
static void
parse_control(struct capture_options *o, char *arg)
{
	struct source_control *c;
	char *eq = strchr(arg, '='), *end;
	long long v;

	if (o->ncontrols >= SOURCE_CONTROLS_MAX)
		opt_usage_error("more than %d --control options",
		    SOURCE_CONTROLS_MAX);
	if (eq == NULL || eq == arg)
		opt_usage_error("invalid --control '%s': expected "
		    "NAME=VALUE, e.g. brightness=10", arg);
	for (const char *p = arg; p < eq; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '_'))
			opt_usage_error("invalid --control name in '%s': "
			    "lower case, digits and '_' as --list shows them",
			    arg);
	errno = 0;
	v = strtoll(eq + 1, &end, 10);
	if (errno != 0 || end == eq + 1 || *end != '\0' || v < INT32_MIN ||
	    v > INT32_MAX)
		opt_usage_error("invalid --control value in '%s': expected "
		    "an integer (menu items by index)", arg);
	*eq = '\0';
	c = &o->controls[o->ncontrols++];
	c->name = arg;
	c->value = v;
}

void
capture_parse_options(struct capture_options *o, int argc, char **argv)
{
	enum {
		OPT_SLOTS = 256, OPT_BUFFERS, OPT_CONTROL, OPT_LIST,
		OPT_WORKERS, OPT_ALWAYS_ENCODE, OPT_RETRY, OPT_GROUP,
		OPT_NO_SANDBOX, OPT_ENCODER, OPT_RETRY_MAX, OPT_CREDENTIALS,
		OPT_TLS_CA, OPT_SOURCE_TIMEOUT, OPT_H264, OPT_H264_BITRATE,
		OPT_H264_QUALITY, OPT_H264_GOP, OPT_H264_PROFILE,
		OPT_H264_PRESET, OPT_H264_THREADS, OPT_H264_ENCODER,
	};
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "ctl", required_argument, NULL, 'c' },
		{ "source", required_argument, NULL, 's' },
		{ "format", required_argument, NULL, 'F' },
		{ "size", required_argument, NULL, 'S' },
		{ "fps", required_argument, NULL, 'f' },
		{ "quality", required_argument, NULL, 'q' },
		{ "encoder", required_argument, NULL, OPT_ENCODER },
		{ "buffers", required_argument, NULL, OPT_BUFFERS },
		{ "control", required_argument, NULL, OPT_CONTROL },
		{ "list", no_argument, NULL, OPT_LIST },
		{ "workers", required_argument, NULL, OPT_WORKERS },
		{ "always-encode", no_argument, NULL, OPT_ALWAYS_ENCODE },
		{ "h264", required_argument, NULL, OPT_H264 },
		{ "h264-bitrate", required_argument, NULL, OPT_H264_BITRATE },
		{ "h264-quality", required_argument, NULL, OPT_H264_QUALITY },
		{ "h264-gop", required_argument, NULL, OPT_H264_GOP },
		{ "h264-profile", required_argument, NULL, OPT_H264_PROFILE },
		{ "h264-preset", required_argument, NULL, OPT_H264_PRESET },
		{ "h264-threads", required_argument, NULL, OPT_H264_THREADS },
		{ "h264-encoder", required_argument, NULL, OPT_H264_ENCODER },
		{ "retry-interval", required_argument, NULL, OPT_RETRY },
		{ "retry-max", required_argument, NULL, OPT_RETRY_MAX },
		{ "credentials", required_argument, NULL, OPT_CREDENTIALS },
		{ "source-timeout", required_argument, NULL,
		  OPT_SOURCE_TIMEOUT },
		{ "tls-ca", required_argument, NULL, OPT_TLS_CA },
		{ "slots", required_argument, NULL, OPT_SLOTS },
		{ "server-group", required_argument, NULL, 'g' },
		{ "user", required_argument, NULL, 'u' },
		{ "group", required_argument, NULL, OPT_GROUP },
		{ "no-sandbox", no_argument, NULL, OPT_NO_SANDBOX },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->name = "default";
	o->kind = SOURCE_AUTO;
	o->width = 1280;
	o->height = 720;
	o->fps_milli = 30000;
	o->quality = 80;
	o->slots = 8;
	o->buffers = 4;
	o->workers = 1;
	o->retry_ms = 1000;
	o->source_timeout_ms = NET_TIMEOUT_MS;
	h264enc_defaults(&o->h264);

	while ((ch = getopt_long(argc, argv, "n:c:s:F:S:f:q:g:u:vhV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'n':
			if (ring_camera_name_valid(optarg) != 0)
				opt_usage_error("invalid --name '%s': use "
				    "1-56 of A-Z a-z 0-9 . _ -", optarg);
			o->name = optarg;
			break;
		case 'c':
			if (strlen(optarg) >= CTL_PATH_MAX || optarg[0] == '\0')
				opt_usage_error("--ctl path too long: '%s'",
				    optarg);
			o->ctl_path = optarg;
			break;
		case 's':
			parse_source(o, optarg);
			break;
		case 'F':
			if (strcasecmp(optarg, "auto") == 0)
				o->fourcc = 0;
			else if ((o->fourcc = source_format_parse(optarg)) ==
			    0) {
				char list[512];

				source_format_list(list, sizeof(list));
				opt_usage_error("unknown --format '%s': "
				    "expected auto, %s, or the device's four "
				    "characters", optarg, list);
			}
			break;
		case 'S':
			if (parse_size(optarg, &o->width, &o->height) != 0)
				opt_usage_error("invalid --size '%s': "
				    "expected WxH, even numbers from 16 to "
				    "8192", optarg);
			break;
		case 'f':
			if (parse_fps(optarg, &o->fps_milli) != 0)
				opt_usage_error("invalid --fps '%s': "
				    "expected a rate from 0.1 to 240", optarg);
			o->fps_given = 1;
			break;
		case 'q':
			o->quality = (int)opt_uint("--quality", optarg, 1, 100,
			    10);
			break;
		case OPT_ENCODER:
			parse_encoder("--encoder", "cpu", optarg, &o->encoder,
			    &o->m2m_path);
			break;
		case OPT_H264_ENCODER:
			parse_encoder("--h264-encoder", "x264", optarg,
			    &o->h264_encoder, &o->h264_m2m_path);
			break;
		case OPT_BUFFERS:
			o->buffers = (unsigned)opt_uint("--buffers", optarg,
			    BUFFERS_MIN, BUFFERS_MAX, 10);
			break;
		case OPT_CONTROL:
			parse_control(o, optarg);
			break;
		case OPT_LIST:
			o->list = 1;
			break;
		case OPT_WORKERS:
			o->workers = (unsigned)opt_uint("--workers", optarg, 1,
			    WORKERS_MAX, 10);
			break;
		case OPT_ALWAYS_ENCODE:
			o->always_encode = 1;
			break;
		case OPT_H264:
			if (strcmp(optarg, "auto") == 0)
				o->h264.mode = H264_AUTO;
			else if (strcmp(optarg, "on") == 0)
				o->h264.mode = H264_ON;
			else if (strcmp(optarg, "off") == 0)
				o->h264.mode = H264_OFF;
			else
				opt_usage_error("invalid --h264 '%s': expected "
				    "auto, on or off", optarg);
			break;
		case OPT_H264_BITRATE:
			o->h264.bitrate_kbps = (uint32_t)opt_uint(
			    "--h264-bitrate", optarg, 100, H264_BITRATE_MAX, 10);
			break;
		case OPT_H264_QUALITY:
			o->h264.quality = (int)opt_uint("--h264-quality",
			    optarg, 1, 51, 10);
			break;
		case OPT_H264_GOP:
			o->h264.gop = (uint32_t)opt_uint("--h264-gop", optarg,
			    1, H264_GOP_MAX, 10);
			break;
		case OPT_H264_PROFILE:
			if (strcmp(optarg, "main") == 0)
				o->h264.profile = H264_PROFILE_MAIN;
			else if (strcmp(optarg, "baseline") == 0)
				o->h264.profile = H264_PROFILE_BASELINE;
			else
				opt_usage_error("invalid --h264-profile '%s': "
				    "expected main or baseline", optarg);
			break;
		case OPT_H264_PRESET:
			if (!h264enc_preset_valid(optarg))
				opt_usage_error("invalid --h264-preset '%s': "
				    "expected ultrafast, superfast, veryfast, "
				    "faster, fast, medium, slow, slower, "
				    "veryslow or placebo", optarg);
			o->h264.preset = optarg;
			break;
		case OPT_H264_THREADS:
			o->h264.threads = (unsigned)opt_uint("--h264-threads",
			    optarg, 1, H264_THREADS_MAX, 10);
			break;
		case OPT_RETRY:
			o->retry_ms = parse_seconds("--retry-interval", optarg,
			    100, 60000);
			break;
		case OPT_RETRY_MAX:
			o->retry_max_ms = parse_seconds("--retry-max", optarg,
			    100, 600000);
			break;
		case OPT_CREDENTIALS:
			o->credentials = optarg;
			break;
		case OPT_TLS_CA:
			o->tls_ca = optarg;
			break;
		case OPT_SOURCE_TIMEOUT:
			o->source_timeout_ms = parse_seconds("--source-timeout",
			    optarg, 500, 600000);
			break;
		case OPT_SLOTS:
			o->slots = (uint32_t)opt_uint("--slots", optarg,
			    RING_SLOTS_MIN, RING_SLOTS_MAX, 10);
			break;
		case 'g':
			o->server_group = optarg;
			break;
		case 'u':
			o->user = optarg;
			break;
		case OPT_GROUP:
			o->group = optarg;
			break;
		case OPT_NO_SANDBOX:
			o->no_sandbox = 1;
			break;
		case 'v':
			log_set_verbose(1);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			print_version();
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	opt_no_operands(argc, argv);
	if (o->h264.mode == H264_ON && !h264enc_available() &&
	    o->fourcc != V4L2_PIX_FMT_H264 && o->h264_encoder != ENCODER_M2M)
		opt_usage_error("--h264 on: this shmcam-capture was built "
		    "without x264 (make X264=no); only a camera's own H.264 "
		    "(--format H264) or a hardware encoder's (--h264-encoder "
		    "m2m or m2m:PATH) can be published");
	if (o->h264_encoder == ENCODER_CPU && !h264enc_available())
		opt_usage_error("--h264-encoder x264: this shmcam-capture was "
		    "built without x264 (make X264=no)");
	if (o->h264.mode == H264_OFF && o->fourcc == V4L2_PIX_FMT_H264)
		opt_usage_error("--format H264 needs H.264 (not --h264 off)");
	if (o->encoder == ENCODER_M2M && o->workers > 1)
		opt_usage_error("--encoder m2m encodes on the loop thread; "
		    "--workers is for encoding on the CPU");
	if (o->kind != SOURCE_NET && (o->credentials != NULL ||
	    o->tls_ca != NULL))
		opt_usage_error("--%s needs an http:// or https:// source",
		    o->credentials != NULL ? "credentials" : "tls-ca");
	if (o->tls_ca != NULL && !o->url.tls)
		opt_usage_error("--tls-ca needs an https:// source");
	if (o->retry_max_ms != 0 && o->retry_max_ms < o->retry_ms)
		opt_usage_error("--retry-max is below --retry-interval");
	if (o->kind == SOURCE_PATTERN || o->kind == SOURCE_DIR ||
	    o->kind == SOURCE_NET) {
		const char *what = o->kind == SOURCE_DIR ? "dir:" :
		    o->kind == SOURCE_NET ? "a network source" : "pattern";
		if (o->list)
			opt_usage_error("--list needs a V4L2 source, not "
			    "%s", what);
		if (o->ncontrols > 0)
			opt_usage_error("--control needs a V4L2 source, "
			    "not %s", what);
		if (o->fourcc != 0)
			opt_usage_error("--format needs a V4L2 source, not "
			    "%s", what);
	}
}
