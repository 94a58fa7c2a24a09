/*
 * v4l2_info.c - what a V4L2 device offers: formats, sizes, frame
 * intervals, controls; picking a format, setting controls by name, the
 * --list output and --source auto's device search.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/videodev2.h>

#include "encode.h"
#include "v4l2.h"

#define FOURCC_FMT	"%c%c%c%c"
#define FOURCC_ARGS(f)	(char)((f) & 0xff), (char)(((f) >> 8) & 0xff), \
			(char)(((f) >> 16) & 0xff), (char)(((f) >> 24) & 0x7f)

int
v4l2_check_capture(int fd, const char *path, uint32_t *type, uint32_t *caps,
    char *why, size_t whylen)
{
	struct v4l2_capability cap;
	uint32_t c;
	const char *what;

	memset(&cap, 0, sizeof(cap));
	if (v4l2_ioctl(fd, VIDIOC_QUERYCAP, &cap) == -1)
		what = "not a V4L2 device";
	else {
		c = (cap.capabilities & V4L2_CAP_DEVICE_CAPS) ?
		    cap.device_caps : cap.capabilities;
		if (caps != NULL)
			*caps = c;
		/* Single-planar where a device has both: every format it
		 * has there is one buffer. */
		if ((c & V4L2_CAP_VIDEO_CAPTURE) && (c & V4L2_CAP_STREAMING)) {
			*type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
			return 0;
		}
		if ((c & V4L2_CAP_VIDEO_CAPTURE_MPLANE) &&
		    (c & V4L2_CAP_STREAMING)) {
			*type = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
			return 0;
		}
		if (c & (V4L2_CAP_VIDEO_CAPTURE |
		    V4L2_CAP_VIDEO_CAPTURE_MPLANE))
			what = "no streaming I/O";
		else if (c & (V4L2_CAP_VIDEO_M2M | V4L2_CAP_VIDEO_M2M_MPLANE))
			what = "a memory-to-memory device (a codec or "
			    "converter), not a camera";
		else
			what = "not a video capture device";
	}
	if (why != NULL)
		snprintf(why, whylen, "%s: %s", path, what);
	return -EMEDIUMTYPE;
}

static int
usable(uint32_t fourcc)
{
	return source_format_is_jpeg(fourcc) || encoder_supports(fourcc);
}

int
v4l2_pick_format(int fd, uint32_t type, uint32_t want, uint32_t *out,
    char *why, size_t whylen)
{
	struct v4l2_fmtdesc d;
	const struct rawformat *raw, *best = NULL;
	uint32_t jpeg = 0;
	char offered[200] = "";
	size_t n = 0;

	for (uint32_t i = 0; i < 256; i++) {
		memset(&d, 0, sizeof(d));
		d.index = i;
		d.type = type;
		if (v4l2_ioctl(fd, VIDIOC_ENUM_FMT, &d) == -1)
			break;
		if (want != 0 && d.pixelformat == want) {
			*out = want;
			return 0;
		}
		if (d.pixelformat == V4L2_PIX_FMT_MJPEG)
			jpeg = d.pixelformat;
		else if (d.pixelformat == V4L2_PIX_FMT_JPEG && jpeg == 0)
			jpeg = d.pixelformat;
		else if ((raw = rawformat_find(d.pixelformat)) != NULL &&
		    (best == NULL || raw->rf_auto < best->rf_auto))
			best = raw;
		if (n < sizeof(offered))
			n += (size_t)snprintf(offered + n, sizeof(offered) - n,
			    "%s" FOURCC_FMT, n ? " " : "",
			    FOURCC_ARGS(d.pixelformat));
	}
	/*
	 * Not the device's first format: libcamera's V4L2 layer lists
	 * XRGB8888 first (and defaults to it at 800x600), where the
	 * Raspberry Pi's ISP gives YUV420 as cheaply.
	 */
	if (want == 0 && (jpeg != 0 || best != NULL)) {
		*out = jpeg != 0 ? jpeg : best->rf_fourcc;
		return 0;
	}
	if (want != 0)
		snprintf(why, whylen, "the device has no %s format (it offers: "
		    "%s)", source_format_name(want), n ? offered : "none");
	else
		snprintf(why, whylen, "the device offers no format we can "
		    "publish (it offers: %s)", n ? offered : "none");
	return -EINVAL;
}

void
v4l2_max_size(int fd, uint32_t fourcc, uint32_t *w, uint32_t *h)
{
	struct v4l2_frmsizeenum s;
	uint64_t best = 0;

	*w = *h = 0;
	for (uint32_t i = 0; i < 1024; i++) {
		memset(&s, 0, sizeof(s));
		s.index = i;
		s.pixel_format = fourcc;
		if (v4l2_ioctl(fd, VIDIOC_ENUM_FRAMESIZES, &s) == -1)
			break;
		if (s.type == V4L2_FRMSIZE_TYPE_DISCRETE) {
			if ((uint64_t)s.discrete.width * s.discrete.height >
			    best) {
				best = (uint64_t)s.discrete.width *
				    s.discrete.height;
				*w = s.discrete.width;
				*h = s.discrete.height;
			}
			continue;
		}
		*w = s.stepwise.max_width;
		*h = s.stepwise.max_height;
		break;
	}
	if (*w > 16384 || *h > 16384)
		*w = *h = 0;
}

/*
 * A control's name as v4l2-ctl spells it: lower case, every run of other
 * characters one underscore, none at the ends ("Exposure, Auto" ->
 * "exposure_auto").
 */
static void
control_name(const uint8_t *in, size_t inlen, char *out, size_t size)
{
	size_t i, o = 0;
	int gap = 0;

	for (i = 0; i < inlen && in[i] != '\0' && o + 2 < size; i++) {
		if (isalnum(in[i])) {
			if (gap && o > 0)
				out[o++] = '_';
			out[o++] = (char)tolower(in[i]);
			gap = 0;
		} else
			gap = 1;
	}
	out[o] = '\0';
}

/* Walks the controls; fn returns non-zero to stop (that value returned). */
static int
controls_walk(int fd, int (*fn)(int, const struct v4l2_queryctrl *,
    const char *, void *), void *arg)
{
	struct v4l2_queryctrl q;
	char name[64];
	uint32_t id = 0;
	int rc;

	for (int guard = 0; guard < 4096; guard++) {
		memset(&q, 0, sizeof(q));
		q.id = id | V4L2_CTRL_FLAG_NEXT_CTRL;
		if (v4l2_ioctl(fd, VIDIOC_QUERYCTRL, &q) == -1)
			return 0;
		if (q.id <= id && guard > 0)
			return 0;	/* a driver that does not move on */
		id = q.id;
		if (q.flags & V4L2_CTRL_FLAG_DISABLED)
			continue;
		control_name(q.name, sizeof(q.name), name, sizeof(name));
		if ((rc = fn(fd, &q, name, arg)) != 0)
			return rc;
	}
	return 0;
}

struct control_find {
	const char	*name;
	struct v4l2_queryctrl q;
	int		 found;
};

static int
control_find_cb(int fd, const struct v4l2_queryctrl *q, const char *name,
    void *arg)
{
	struct control_find *cf = arg;

	(void)fd;
	if (q->type == V4L2_CTRL_TYPE_CTRL_CLASS || strcmp(name, cf->name) != 0)
		return 0;
	cf->q = *q;
	cf->found = 1;
	return 1;
}

static int
menu_item_exists(int fd, uint32_t id, int64_t index)
{
	struct v4l2_querymenu m;

	memset(&m, 0, sizeof(m));
	m.id = id;
	m.index = (uint32_t)index;
	return v4l2_ioctl(fd, VIDIOC_QUERYMENU, &m) == 0;
}

/* Lists the valid menu indices of a control into buf. */
static void
menu_indices(int fd, const struct v4l2_queryctrl *q, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int64_t i = q->minimum; i <= q->maximum && i - q->minimum < 64;
	    i++)
		if (menu_item_exists(fd, q->id, i) && n < size)
			n += (size_t)snprintf(buf + n, size - n, "%s%" PRId64,
			    n ? ", " : "", i);
}

static int
control_set(int fd, const struct source_control *c, char *why, size_t whylen)
{
	struct control_find cf;
	struct v4l2_control ctl;
	const struct v4l2_queryctrl *q = &cf.q;
	char list[128];

	memset(&cf, 0, sizeof(cf));
	cf.name = c->name;
	if (v4l2_ioctl(fd, VIDIOC_QUERYCTRL, &(struct v4l2_queryctrl){
	    .id = V4L2_CTRL_FLAG_NEXT_CTRL }) == -1 && errno == ENOTTY) {
		/* libcamera's V4L2 layer, for one, answers none. */
		snprintf(why, whylen, "--control %s: the device has no "
		    "controls (VIDIOC_QUERYCTRL: %s)", c->name,
		    strerror(ENOTTY));
		return -EINVAL;
	}
	controls_walk(fd, control_find_cb, &cf);
	if (!cf.found) {
		snprintf(why, whylen, "--control %s: the device has no such "
		    "control (see --list)", c->name);
		return -EINVAL;
	}
	if (q->flags & V4L2_CTRL_FLAG_READ_ONLY) {
		snprintf(why, whylen, "--control %s: read-only", c->name);
		return -EINVAL;
	}
	switch (q->type) {
	case V4L2_CTRL_TYPE_INTEGER:
		if (c->value < q->minimum || c->value > q->maximum ||
		    (q->step > 1 && (c->value - q->minimum) % q->step != 0)) {
			snprintf(why, whylen, "--control %s=%" PRId64 ": out of "
			    "range, expected %d to %d in steps of %d", c->name,
			    c->value, q->minimum, q->maximum, q->step);
			return -EINVAL;
		}
		break;
	case V4L2_CTRL_TYPE_BOOLEAN:
		if (c->value != 0 && c->value != 1) {
			snprintf(why, whylen, "--control %s=%" PRId64 ": "
			    "expected 0 or 1", c->name, c->value);
			return -EINVAL;
		}
		break;
	case V4L2_CTRL_TYPE_MENU:
	case V4L2_CTRL_TYPE_INTEGER_MENU:
		if (c->value < q->minimum || c->value > q->maximum ||
		    !menu_item_exists(fd, q->id, c->value)) {
			menu_indices(fd, q, list, sizeof(list));
			snprintf(why, whylen, "--control %s=%" PRId64 ": not a "
			    "menu index of this control, expected one of %s",
			    c->name, c->value, list);
			return -EINVAL;
		}
		break;
	case V4L2_CTRL_TYPE_BUTTON:
		break;
	default:
		snprintf(why, whylen, "--control %s: this type of control "
		    "cannot be set from the command line", c->name);
		return -EINVAL;
	}
	memset(&ctl, 0, sizeof(ctl));
	ctl.id = q->id;
	ctl.value = (int32_t)c->value;
	if (v4l2_ioctl(fd, VIDIOC_S_CTRL, &ctl) == -1) {
		snprintf(why, whylen, "--control %s=%" PRId64 ": the driver "
		    "refused it: %s%s", c->name, c->value, strerror(errno),
		    (q->flags & V4L2_CTRL_FLAG_INACTIVE) ? " (the control is "
		    "inactive: another control, e.g. an automatic mode, "
		    "must be changed first)" : "");
		return -EINVAL;
	}
	return 0;
}

int
v4l2_set_controls(int fd, const struct source_control *c, unsigned n,
    char *why, size_t whylen)
{
	int rc;

	for (unsigned i = 0; i < n; i++)
		if ((rc = control_set(fd, &c[i], why, whylen)) != 0)
			return rc;
	return 0;
}

/* ------------------------------------------------------------ --list */

static void
print_interval(FILE *out, const char *indent, const struct v4l2_fract *f)
{
	if (f->numerator == 0 || f->denominator == 0) {
		fprintf(out, "%s?", indent);
		return;
	}
	fprintf(out, "%s%.3fs (%.3f fps)", indent,
	    (double)f->numerator / f->denominator,
	    (double)f->denominator / f->numerator);
}

static void
list_intervals(int fd, FILE *out, uint32_t fourcc, uint32_t w, uint32_t h)
{
	struct v4l2_frmivalenum iv;

	for (uint32_t i = 0; i < 256; i++) {
		memset(&iv, 0, sizeof(iv));
		iv.index = i;
		iv.pixel_format = fourcc;
		iv.width = w;
		iv.height = h;
		if (v4l2_ioctl(fd, VIDIOC_ENUM_FRAMEINTERVALS, &iv) == -1)
			return;
		if (iv.type == V4L2_FRMIVAL_TYPE_DISCRETE) {
			fprintf(out, "\t\t\tInterval: Discrete ");
			print_interval(out, "", &iv.discrete);
			fprintf(out, "\n");
			continue;
		}
		fprintf(out, "\t\t\tInterval: %s ",
		    iv.type == V4L2_FRMIVAL_TYPE_CONTINUOUS ? "Continuous" :
		    "Stepwise");
		print_interval(out, "", &iv.stepwise.min);
		print_interval(out, " - ", &iv.stepwise.max);
		print_interval(out, " with step ", &iv.stepwise.step);
		fprintf(out, "\n");
		return;
	}
}

static void
list_formats(int fd, uint32_t type, FILE *out)
{
	struct v4l2_fmtdesc d;
	struct v4l2_frmsizeenum s;

	fprintf(out, "Formats (VIDIOC_ENUM_FMT), Video Capture%s:\n",
	    type == V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE ? " Multiplanar" : "");
	for (uint32_t i = 0; i < 256; i++) {
		memset(&d, 0, sizeof(d));
		d.index = i;
		d.type = type;
		if (v4l2_ioctl(fd, VIDIOC_ENUM_FMT, &d) == -1)
			break;
		d.description[sizeof(d.description) - 1] = '\0';
		fprintf(out, "\t[%u]: '" FOURCC_FMT "' (%s%s)%s%s\n", i,
		    FOURCC_ARGS(d.pixelformat), d.description,
		    (d.flags & V4L2_FMT_FLAG_COMPRESSED) ? ", compressed" : "",
		    usable(d.pixelformat) ? "  --format " : "",
		    usable(d.pixelformat) ?
		    source_format_name(d.pixelformat) : "");
		for (uint32_t j = 0; j < 1024; j++) {
			memset(&s, 0, sizeof(s));
			s.index = j;
			s.pixel_format = d.pixelformat;
			if (v4l2_ioctl(fd, VIDIOC_ENUM_FRAMESIZES, &s) == -1)
				break;
			if (s.type == V4L2_FRMSIZE_TYPE_DISCRETE) {
				fprintf(out, "\t\tSize: Discrete %ux%u\n",
				    s.discrete.width, s.discrete.height);
				list_intervals(fd, out, d.pixelformat,
				    s.discrete.width, s.discrete.height);
				continue;
			}
			fprintf(out, "\t\tSize: %s %ux%u - %ux%u with step "
			    "%u/%u\n", s.type == V4L2_FRMSIZE_TYPE_CONTINUOUS ?
			    "Continuous" : "Stepwise", s.stepwise.min_width,
			    s.stepwise.min_height, s.stepwise.max_width,
			    s.stepwise.max_height, s.stepwise.step_width,
			    s.stepwise.step_height);
			list_intervals(fd, out, d.pixelformat,
			    s.stepwise.max_width, s.stepwise.max_height);
			break;
		}
	}
}

static const char *
control_type_name(uint32_t type)
{
	switch (type) {
	case V4L2_CTRL_TYPE_INTEGER:		return "int";
	case V4L2_CTRL_TYPE_BOOLEAN:		return "bool";
	case V4L2_CTRL_TYPE_MENU:		return "menu";
	case V4L2_CTRL_TYPE_INTEGER_MENU:	return "intmenu";
	case V4L2_CTRL_TYPE_BUTTON:		return "button";
	case V4L2_CTRL_TYPE_INTEGER64:		return "int64";
	case V4L2_CTRL_TYPE_STRING:		return "str";
	case V4L2_CTRL_TYPE_BITMASK:		return "bitmask";
	default:				return "other";
	}
}

static int
list_control_cb(int fd, const struct v4l2_queryctrl *q, const char *name,
    void *arg)
{
	FILE *out = arg;
	struct v4l2_control ctl;
	struct v4l2_querymenu m;
	char label[40];
	int have_value;

	if (q->type == V4L2_CTRL_TYPE_CTRL_CLASS) {
		fprintf(out, "\n%.*s\n\n", (int)sizeof(q->name),
		    (const char *)q->name);
		return 0;
	}
	memset(&ctl, 0, sizeof(ctl));
	ctl.id = q->id;
	have_value = !(q->flags & V4L2_CTRL_FLAG_WRITE_ONLY) &&
	    q->type != V4L2_CTRL_TYPE_BUTTON &&
	    v4l2_ioctl(fd, VIDIOC_G_CTRL, &ctl) == 0;
	snprintf(label, sizeof(label), "(%s)", control_type_name(q->type));
	fprintf(out, "%31s 0x%08x %-9s:", name, q->id, label);
	switch (q->type) {
	case V4L2_CTRL_TYPE_INTEGER:
		fprintf(out, " min=%d max=%d step=%d default=%d", q->minimum,
		    q->maximum, q->step, q->default_value);
		break;
	case V4L2_CTRL_TYPE_BOOLEAN:
		fprintf(out, " default=%d", q->default_value);
		break;
	case V4L2_CTRL_TYPE_MENU:
	case V4L2_CTRL_TYPE_INTEGER_MENU:
		fprintf(out, " min=%d max=%d default=%d", q->minimum,
		    q->maximum, q->default_value);
		break;
	default:
		break;
	}
	if (have_value)
		fprintf(out, " value=%d", ctl.value);
	if (q->flags & V4L2_CTRL_FLAG_INACTIVE)
		fprintf(out, " flags=inactive");
	else if (q->flags & V4L2_CTRL_FLAG_READ_ONLY)
		fprintf(out, " flags=read-only");
	fprintf(out, "\n");
	if (q->type != V4L2_CTRL_TYPE_MENU &&
	    q->type != V4L2_CTRL_TYPE_INTEGER_MENU)
		return 0;
	for (int64_t i = q->minimum; i <= q->maximum && i - q->minimum < 64;
	    i++) {
		memset(&m, 0, sizeof(m));
		m.id = q->id;
		m.index = (uint32_t)i;
		if (v4l2_ioctl(fd, VIDIOC_QUERYMENU, &m) == -1)
			continue;
		if (q->type == V4L2_CTRL_TYPE_MENU)
			fprintf(out, "\t\t\t\t%" PRId64 ": %.*s\n", i,
			    (int)sizeof(m.name), (const char *)m.name);
		else
			fprintf(out, "\t\t\t\t%" PRId64 ": %lld\n", i,
			    (long long)m.value);
	}
	return 0;
}

int
v4l2_list(const char *path, FILE *out, char *why, size_t whylen)
{
	struct v4l2_capability cap;
	struct v4l2_queryctrl q;
	uint32_t type, caps;
	int fd;

	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1) {
		snprintf(why, whylen, "open %s: %s", path, strerror(errno));
		return -errno;
	}
	memset(&cap, 0, sizeof(cap));
	if (v4l2_check_capture(fd, path, &type, &caps, why, whylen) != 0 ||
	    v4l2_ioctl(fd, VIDIOC_QUERYCAP, &cap) == -1) {
		close(fd);
		return -EMEDIUMTYPE;
	}
	fprintf(out, "%s: %.*s (driver %.*s, %.*s)\n", path,
	    (int)sizeof(cap.card), (const char *)cap.card,
	    (int)sizeof(cap.driver), (const char *)cap.driver,
	    (int)sizeof(cap.bus_info), (const char *)cap.bus_info);
	if (caps & V4L2_CAP_IO_MC)
		fprintf(out, "A node of a media controller pipeline "
		    "(V4L2_CAP_IO_MC): it streams once media-ctl has set up "
		    "its links and formats.\n");
	fprintf(out, "\n");
	list_formats(fd, type, out);
	fprintf(out, "\nControls (--control NAME=VALUE, menus by index):\n");
	memset(&q, 0, sizeof(q));
	q.id = V4L2_CTRL_FLAG_NEXT_CTRL;
	if (v4l2_ioctl(fd, VIDIOC_QUERYCTRL, &q) == -1 && errno == ENOTTY)
		fprintf(out, "\tnone (VIDIOC_QUERYCTRL: %s)\n",
		    strerror(ENOTTY));
	else
		controls_walk(fd, list_control_cb, out);
	close(fd);
	return 0;
}

/* ------------------------------------------------------ --source auto */

/* /dev/video2 before /dev/video10. */
static int
video_node_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	size_t lx = strlen(x), ly = strlen(y);

	return lx != ly ? (lx < ly ? -1 : 1) : strcmp(x, y);
}

int
v4l2_find_node(const char *pattern, int (*fn)(const char *, void *),
    void *arg, char *path, size_t size)
{
	glob_t g;
	int found = 0;

	if (glob(pattern, 0, NULL, &g) != 0)
		return -ENOENT;
	qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), video_node_cmp);
	for (size_t i = 0; i < g.gl_pathc && !found; i++)
		found = fn(g.gl_pathv[i], arg) &&
		    (size_t)snprintf(path, size, "%s", g.gl_pathv[i]) < size;
	globfree(&g);
	return found ? 0 : -ENOENT;
}

/* A capture device with a format we can publish? */
static int
capture_node(const char *path, void *arg)
{
	uint32_t fourcc, type;
	char why[200];
	int fd, yes;

	(void)arg;
	if ((fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)) == -1)
		return 0;
	yes = v4l2_check_capture(fd, path, &type, NULL, NULL, 0) == 0 &&
	    v4l2_pick_format(fd, type, 0, &fourcc, why, sizeof(why)) == 0;
	close(fd);
	return yes;
}

int
v4l2_find_device(char *path, size_t size)
{
	return v4l2_find_node("/dev/video*", capture_node, NULL, path, size);
}
