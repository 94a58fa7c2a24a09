/*
 * config.c - the V4L2SIM_* environment, read at every open of the device
 * so that one test process can open it with different settings.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

/*
 * A typical UVC webcam (the contract's default): MJPEG at every size,
 * YUYV only at low rates for large sizes (USB 2.0 bandwidth), NV12.
 */
#define SIM_DEFAULT_FORMATS \
	"MJPG:1920x1080@30,1280x720@30,640x480@30;" \
	"YUYV:1280x720@10,640x480@30;" \
	"NV12:1280x720@30"

#define SIM_DEFAULT_QUALITY	80

static const struct sim_fourcc fourccs[] = {
	{ V4L2_PIX_FMT_MJPEG, "MJPG", "MJPEG", "Motion-JPEG", 1 },
	{ V4L2_PIX_FMT_JPEG, "JPEG", NULL, "JFIF JPEG", 1 },
	{ V4L2_PIX_FMT_YUYV, "YUYV", NULL, "YUYV 4:2:2", 0 },
	{ V4L2_PIX_FMT_UYVY, "UYVY", NULL, "UYVY 4:2:2", 0 },
	{ V4L2_PIX_FMT_NV12, "NV12", NULL, "Y/UV 4:2:0", 0 },
	{ V4L2_PIX_FMT_YUV420, "YU12", "YUV420", "Planar YUV 4:2:0", 0 },
	{ V4L2_PIX_FMT_RGB24, "RGB3", "RGB24", "24-bit RGB 8-8-8", 0 },
	{ V4L2_PIX_FMT_BGR24, "BGR3", "BGR24", "24-bit BGR 8-8-8", 0 },
	{ V4L2_PIX_FMT_GREY, "GREY", NULL, "8-bit Greyscale", 0 },
	{ V4L2_PIX_FMT_H264, "H264", NULL, "H.264", 1 },
};

const struct sim_fourcc *
sim_fourcc_find(uint32_t fourcc)
{
	size_t i;

	for (i = 0; i < sizeof(fourccs) / sizeof(fourccs[0]); i++)
		if (fourccs[i].fc_fourcc == fourcc)
			return &fourccs[i];
	return NULL;
}

static const struct sim_fourcc *
fourcc_by_name(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(fourccs) / sizeof(fourccs[0]); i++)
		if ((strlen(fourccs[i].fc_name) == n &&
		    strncasecmp(fourccs[i].fc_name, s, n) == 0) ||
		    (fourccs[i].fc_alias != NULL &&
		    strlen(fourccs[i].fc_alias) == n &&
		    strncasecmp(fourccs[i].fc_alias, s, n) == 0))
			return &fourccs[i];
	return NULL;
}

void
sim_fourcc_geometry(uint32_t fourcc, uint32_t width, uint32_t height,
    uint32_t *bytesperline, uint32_t *sizeimage)
{
	uint64_t px = (uint64_t)width * height;

	switch (fourcc) {
	case V4L2_PIX_FMT_YUYV:
	case V4L2_PIX_FMT_UYVY:
		*bytesperline = width * 2;
		*sizeimage = (uint32_t)(px * 2);
		break;
	case V4L2_PIX_FMT_NV12:
	case V4L2_PIX_FMT_YUV420:
		*bytesperline = width;
		*sizeimage = (uint32_t)(px * 3 / 2);
		break;
	case V4L2_PIX_FMT_RGB24:
	case V4L2_PIX_FMT_BGR24:
		*bytesperline = width * 3;
		*sizeimage = (uint32_t)(px * 3);
		break;
	case V4L2_PIX_FMT_GREY:
		*bytesperline = width;
		*sizeimage = (uint32_t)px;
		break;
	default:
		/*
		 * Compressed: like the dwMaxVideoFrameBufferSize a UVC camera
		 * reports, room for a frame at two bytes per pixel.
		 */
		*bytesperline = 0;
		*sizeimage = (uint32_t)(px * 2 < 65536 ? 65536 : px * 2);
		break;
	}
}

static void
trim(const char **s, const char **e)
{
	while (*s < *e && isspace((unsigned char)**s))
		(*s)++;
	while (*e > *s && isspace((unsigned char)(*e)[-1]))
		(*e)--;
}

/* "30", "7.5", "29.97" frames per second -> frame interval, reduced. */
static int
parse_rate(const char *s, const char *e, struct v4l2_fract *iv)
{
	uint64_t whole = 0, frac = 0, scale = 1, num, den, a, b, t;

	trim(&s, &e);
	if (s == e)
		return -1;
	for (; s < e && isdigit((unsigned char)*s); s++)
		if ((whole = whole * 10 + (uint64_t)(*s - '0')) > 1000)
			return -1;
	if (s < e && *s == '.') {
		for (s++; s < e && isdigit((unsigned char)*s); s++) {
			if (scale >= 1000)
				return -1;
			frac = frac * 10 + (uint64_t)(*s - '0');
			scale *= 10;
		}
	}
	if (s != e)
		return -1;
	/* interval = 1 / (whole + frac / scale) = scale / (whole * scale + frac) */
	num = scale;
	den = whole * scale + frac;
	if (den == 0)
		return -1;
	for (a = num, b = den; b != 0; t = a % b, a = b, b = t)
		;
	iv->numerator = (uint32_t)(num / a);
	iv->denominator = (uint32_t)(den / a);
	return 0;
}

static int
parse_size(const char *s, const char *e, struct sim_size *sz, char *err,
    size_t errlen)
{
	const char *at, *p;
	char *end;
	unsigned long w, h;
	char buf[32];

	trim(&s, &e);
	at = memchr(s, '@', (size_t)(e - s));
	if (at == NULL || (size_t)(at - s) >= sizeof(buf)) {
		snprintf(err, errlen, "size \"%.*s\": expected WxH@FPS",
		    (int)(e - s), s);
		return -EINVAL;
	}
	memcpy(buf, s, (size_t)(at - s));
	buf[at - s] = '\0';
	errno = 0;
	w = strtoul(buf, &end, 10);
	if (errno != 0 || end == buf || (*end != 'x' && *end != 'X'))
		goto badsize;
	p = end + 1;
	h = strtoul(p, &end, 10);
	if (errno != 0 || end == p || *end != '\0')
		goto badsize;
	if (w < SIM_DIM_MIN || w > SIM_DIM_MAX || h < SIM_DIM_MIN ||
	    h > SIM_DIM_MAX || (w & 1) || (h & 1)) {
		snprintf(err, errlen, "size %lux%lu: width and height must be "
		    "even, %d to %d", w, h, SIM_DIM_MIN, SIM_DIM_MAX);
		return -EINVAL;
	}
	sz->ss_width = (uint32_t)w;
	sz->ss_height = (uint32_t)h;
	sz->ss_nintervals = 0;
	/* One or more rates: 640x480@30@15@5. */
	for (s = at + 1; s <= e; s = p + 1) {
		p = memchr(s, '@', (size_t)(e - s));
		if (p == NULL)
			p = e;
		if (sz->ss_nintervals == SIM_MAX_RATES) {
			snprintf(err, errlen, "size %lux%lu: more than %d rates",
			    w, h, SIM_MAX_RATES);
			return -EINVAL;
		}
		if (parse_rate(s, p, &sz->ss_intervals[sz->ss_nintervals]) !=
		    0) {
			snprintf(err, errlen, "rate \"%.*s\": expected frames "
			    "per second, 0.001 to 1000", (int)(p - s), s);
			return -EINVAL;
		}
		sz->ss_nintervals++;
	}
	return 0;
badsize:
	snprintf(err, errlen, "size \"%s\": expected WxH", buf);
	return -EINVAL;
}

/* One "FOURCC:WxH@FPS,..." entry of V4L2SIM_FORMATS, from s to e. */
static int
parse_format(struct sim_config *c, const char *s, const char *e, char *err,
    size_t errlen)
{
	const char *colon, *a, *b, *p, *comma;
	const struct sim_fourcc *fc;
	struct sim_format *f;
	uint32_t i;
	int rc;

	trim(&s, &e);
	if (s == e)
		return 0;	/* "A;;B" or a trailing ';' */
	colon = memchr(s, ':', (size_t)(e - s));
	if (colon == NULL) {
		snprintf(err, errlen, "\"%.*s\": expected FOURCC:WxH@FPS,...",
		    (int)(e - s), s);
		return -EINVAL;
	}
	a = s;
	b = colon;
	trim(&a, &b);
	if ((fc = fourcc_by_name(a, (size_t)(b - a))) == NULL) {
		snprintf(err, errlen, "unknown format \"%.*s\" (MJPG, JPEG, "
		    "YUYV, UYVY, NV12, YU12, RGB3, BGR3, GREY, H264)",
		    (int)(b - a), a);
		return -EINVAL;
	}
	for (i = 0; i < c->sc_nformats; i++)
		if (c->sc_formats[i].sf_fourcc == fc->fc_fourcc) {
			snprintf(err, errlen, "format %s given twice",
			    fc->fc_name);
			return -EINVAL;
		}
	if (c->sc_nformats == SIM_MAX_FORMATS) {
		snprintf(err, errlen, "more than %d formats", SIM_MAX_FORMATS);
		return -EINVAL;
	}
	f = &c->sc_formats[c->sc_nformats];
	f->sf_fourcc = fc->fc_fourcc;
	f->sf_nsizes = 0;
	for (p = colon + 1;; p = comma + 1) {
		comma = memchr(p, ',', (size_t)(e - p));
		if (f->sf_nsizes == SIM_MAX_SIZES) {
			snprintf(err, errlen, "format %s: more than %d sizes",
			    fc->fc_name, SIM_MAX_SIZES);
			return -EINVAL;
		}
		rc = parse_size(p, comma != NULL ? comma : e,
		    &f->sf_sizes[f->sf_nsizes], err, errlen);
		if (rc != 0)
			return rc;
		f->sf_nsizes++;
		if (comma == NULL)
			break;
	}
	c->sc_nformats++;
	return 0;
}

/* Parses a V4L2SIM_FORMATS value into c. */
static int
sim_config_formats(struct sim_config *c, const char *spec, char *err,
    size_t errlen)
{
	const char *s, *e;
	int rc;

	c->sc_nformats = 0;
	for (s = spec;; s = e + 1) {
		e = s + strcspn(s, ";");
		if ((rc = parse_format(c, s, e, err, errlen)) != 0)
			return rc;
		if (*e == '\0')
			break;
	}
	if (c->sc_nformats == 0) {
		snprintf(err, errlen, "no format given");
		return -EINVAL;
	}
	return 0;
}

static int
env_flag(const char *name, int *v, char *err, size_t errlen)
{
	const char *s = getenv(name);

	*v = 0;
	if (s == NULL || *s == '\0' || strcmp(s, "0") == 0)
		return 0;
	if (strcmp(s, "1") == 0) {
		*v = 1;
		return 0;
	}
	snprintf(err, errlen, "%s=%s: expected 0 or 1", name, s);
	return -EINVAL;
}

static int
env_number(const char *name, uint64_t min, uint64_t max, uint64_t *v,
    char *err, size_t errlen)
{
	const char *s = getenv(name);
	char *end;
	unsigned long long n;

	if (s == NULL || *s == '\0')
		return 0;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (!isdigit((unsigned char)*s) || errno != 0 || *end != '\0' ||
	    n < min || n > max) {
		snprintf(err, errlen, "%s=%s: expected a number from %" PRIu64
		    " to %" PRIu64, name, s, min, max);
		return -EINVAL;
	}
	*v = n;
	return 0;
}

int
sim_config_load(struct sim_config *c, char *err, size_t errlen)
{
	const char *s;
	uint64_t q = SIM_DEFAULT_QUALITY;
	int rc;

	memset(c, 0, sizeof(*c));
	s = getenv("V4L2SIM_DEVICE");
	if (s == NULL || snprintf(c->sc_device, sizeof(c->sc_device), "%s",
	    s) >= (int)sizeof(c->sc_device)) {
		snprintf(err, errlen, "V4L2SIM_DEVICE: missing or too long");
		return -EINVAL;
	}
	s = getenv("V4L2SIM_LOG");
	if (s != NULL && snprintf(c->sc_log, sizeof(c->sc_log), "%s", s) >=
	    (int)sizeof(c->sc_log)) {
		snprintf(err, errlen, "V4L2SIM_LOG: too long");
		return -EINVAL;
	}
	s = getenv("V4L2SIM_FILE");
	if (s != NULL && snprintf(c->sc_file, sizeof(c->sc_file), "%s", s) >=
	    (int)sizeof(c->sc_file)) {
		snprintf(err, errlen, "V4L2SIM_FILE: too long");
		return -EINVAL;
	}
	s = getenv("V4L2SIM_FORMATS");
	if (s == NULL || *s == '\0')
		s = SIM_DEFAULT_FORMATS;
	if ((rc = sim_config_formats(c, s, err, errlen)) != 0)
		return rc;
	if ((rc = env_flag("V4L2SIM_FIXED_FPS", &c->sc_fixed_fps, err,
	    errlen)) != 0 ||
	    (rc = env_flag("V4L2SIM_NO_DHT", &c->sc_no_dht, err,
	    errlen)) != 0 ||
	    (rc = env_flag("V4L2SIM_MPLANE", &c->sc_mplane, err,
	    errlen)) != 0 ||
	    (rc = env_number("V4L2SIM_GARBAGE_EVERY", 1, UINT32_MAX,
	    &c->sc_garbage_every, err, errlen)) != 0 ||
	    (rc = env_number("V4L2SIM_UNPLUG_AFTER", 1, UINT64_MAX / 2,
	    &c->sc_unplug_after, err, errlen)) != 0 ||
	    (rc = env_number("V4L2SIM_QUALITY", 1, 100, &q, err,
	    errlen)) != 0)
		return rc;
	c->sc_quality = (int)q;
	return 0;
}
