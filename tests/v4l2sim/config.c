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

/*
 * What libcamera's v4l2-compat.so offers for a Raspberry Pi camera
 * module through the ISP: its default configuration first (XRGB8888 at
 * 800x600, what V4L2CameraProxy::open() reports before any S_FMT), RGB
 * and YUV formats at the usual sizes.  No rates: it has no
 * ENUM_FRAMEINTERVALS; the camera runs at the first one given.
 */
#define SIM_LIBCAMERA_FORMATS \
	"XR24:800x600@30,640x480@30,1280x720@30,1920x1080@30;" \
	"RGB3:800x600@30,640x480@30,1280x720@30,1920x1080@30;" \
	"BGR3:800x600@30,640x480@30,1280x720@30,1920x1080@30;" \
	"YUYV:800x600@30,640x480@30,1280x720@30,1920x1080@30;" \
	"YU12:800x600@30,640x480@30,1280x720@30,1920x1080@30;" \
	"NV12:800x600@30,640x480@30,1280x720@30,1920x1080@30"

#define SIM_DEFAULT_QUALITY	80

/* Columns: fourcc, name, alias, description, kind, chroma rows per
 * luma row, swapped, bytes per pixel, buffers. */
static const struct sim_fourcc fourccs[] = {
	{ V4L2_PIX_FMT_MJPEG, "MJPG", "MJPEG", "Motion-JPEG", SIM_KIND_JPEG, 1, 0, 0, 1 },
	{ V4L2_PIX_FMT_JPEG, "JPEG", NULL, "JFIF JPEG", SIM_KIND_JPEG, 1, 0, 0, 1 },
	{ V4L2_PIX_FMT_YUYV, "YUYV", NULL, "YUYV 4:2:2", SIM_KIND_PACKED, 1, 0, 2, 1 },
	{ V4L2_PIX_FMT_UYVY, "UYVY", NULL, "UYVY 4:2:2", SIM_KIND_PACKED, 1, 1, 2, 1 },
	{ V4L2_PIX_FMT_NV12, "NV12", NULL, "Y/UV 4:2:0", SIM_KIND_SEMI, 2, 0, 1, 1 },
	{ V4L2_PIX_FMT_NV21, "NV21", NULL, "Y/VU 4:2:0", SIM_KIND_SEMI, 2, 1, 1, 1 },
	{ V4L2_PIX_FMT_NV16, "NV16", NULL, "Y/UV 4:2:2", SIM_KIND_SEMI, 1, 0, 1, 1 },
	{ V4L2_PIX_FMT_NV61, "NV61", NULL, "Y/VU 4:2:2", SIM_KIND_SEMI, 1, 1, 1, 1 },
	{ V4L2_PIX_FMT_YUV420, "YU12", "YUV420", "Planar YUV 4:2:0", SIM_KIND_PLANAR, 2, 0, 1, 1 },
	{ V4L2_PIX_FMT_YVU420, "YV12", "YVU420", "Planar YVU 4:2:0", SIM_KIND_PLANAR, 2, 1, 1, 1 },
	{ V4L2_PIX_FMT_NV12M, "NM12", "NV12M", "Y/UV 4:2:0 (N-C)", SIM_KIND_SEMI, 2, 0, 1, 2 },
	{ V4L2_PIX_FMT_NV21M, "NM21", "NV21M", "Y/VU 4:2:0 (N-C)", SIM_KIND_SEMI, 2, 1, 1, 2 },
	{ V4L2_PIX_FMT_NV16M, "NM16", "NV16M", "Y/UV 4:2:2 (N-C)", SIM_KIND_SEMI, 1, 0, 1, 2 },
	{ V4L2_PIX_FMT_NV61M, "NM61", "NV61M", "Y/VU 4:2:2 (N-C)", SIM_KIND_SEMI, 1, 1, 1, 2 },
	{ V4L2_PIX_FMT_YUV420M, "YM12", "YUV420M", "Planar YUV 4:2:0 (N-C)", SIM_KIND_PLANAR, 2, 0, 1, 3 },
	{ V4L2_PIX_FMT_YVU420M, "YM21", "YVU420M", "Planar YVU 4:2:0 (N-C)", SIM_KIND_PLANAR, 2, 1, 1, 3 },
	{ V4L2_PIX_FMT_RGB24, "RGB3", "RGB24", "24-bit RGB 8-8-8", SIM_KIND_RGB, 1, 0, 3, 1 },
	{ V4L2_PIX_FMT_BGR24, "BGR3", "BGR24", "24-bit BGR 8-8-8", SIM_KIND_RGB, 1, 1, 3, 1 },
	{ V4L2_PIX_FMT_XBGR32, "XR24", "XBGR32", "32-bit BGRX 8-8-8-8", SIM_KIND_RGB, 1, 1, 4, 1 },
	{ V4L2_PIX_FMT_GREY, "GREY", NULL, "8-bit Greyscale", SIM_KIND_GREY, 1, 0, 1, 1 },
	{ V4L2_PIX_FMT_H264, "H264", NULL, "H.264", SIM_KIND_H264, 1, 0, 0, 1 },
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

static uint32_t
align_up(uint32_t v, uint32_t a)
{
	return (v + a - 1) / a * a;
}

void
sim_fourcc_geometry(uint32_t fourcc, uint32_t width, uint32_t height,
    uint32_t align, struct sim_geom *g)
{
	const struct sim_fourcc *fc = sim_fourcc_find(fourcc);
	uint64_t px = (uint64_t)width * height;
	uint32_t bpl, ch;

	memset(g, 0, sizeof(*g));
	g->sg_nbuf = 1;
	if (fc == NULL || fc->fc_kind == SIM_KIND_JPEG ||
	    fc->fc_kind == SIM_KIND_H264) {
		/*
		 * Compressed: like the dwMaxVideoFrameBufferSize a UVC camera
		 * reports, room for a frame at two bytes per pixel.
		 */
		g->sg_size[0] = (uint32_t)(px * 2 < 65536 ? 65536 : px * 2);
		return;
	}
	if (align == 0)
		align = 1;
	bpl = align_up(width * fc->fc_bpp, align);
	ch = height / fc->fc_vsub;
	g->sg_bpl[0] = bpl;
	g->sg_size[0] = bpl * height;
	if (fc->fc_bufs > 1) {
		/* A buffer per plane, each with its own aligned rows. */
		g->sg_nbuf = fc->fc_bufs;
		for (unsigned i = 1; i < fc->fc_bufs; i++) {
			g->sg_bpl[i] = align_up(fc->fc_kind == SIM_KIND_SEMI ?
			    width : width / 2, align);
			g->sg_size[i] = g->sg_bpl[i] * ch;
		}
		return;
	}
	if (fc->fc_kind == SIM_KIND_SEMI)
		g->sg_size[0] += bpl * ch;
	else if (fc->fc_kind == SIM_KIND_PLANAR)
		g->sg_size[0] += 2 * (bpl / 2) * ch;
}

void
sim_fourcc_planes(const struct sim_fourcc *fc, uint32_t height,
    const struct sim_geom *g, struct sim_planes *pl)
{
	uint32_t ch = height / fc->fc_vsub;
	/* Memory holds Y, then Cb and Cr, or Cr and Cb (swap): sample
	 * planes 1 (Cb) and 2 (Cr) are its planes cb and cr. */
	unsigned cb = fc->fc_swap ? 2 : 1, cr = fc->fc_swap ? 1 : 2;

	memset(pl, 0, sizeof(*pl));
	pl->sp_n = 1;
	pl->sp_plane[0].stride = g->sg_bpl[0];
	if (fc->fc_kind == SIM_KIND_SEMI) {
		pl->sp_n = 2;
		if (g->sg_nbuf > 1) {
			pl->sp_plane[1].buf = 1;
			pl->sp_plane[1].stride = g->sg_bpl[1];
		} else {
			pl->sp_plane[1].off = (size_t)g->sg_bpl[0] * height;
			pl->sp_plane[1].stride = g->sg_bpl[0];
		}
	} else if (fc->fc_kind == SIM_KIND_PLANAR) {
		pl->sp_n = 3;
		if (g->sg_nbuf > 1) {
			pl->sp_plane[1].buf = cb;
			pl->sp_plane[1].stride = g->sg_bpl[cb];
			pl->sp_plane[2].buf = cr;
			pl->sp_plane[2].stride = g->sg_bpl[cr];
		} else {
			uint32_t cs = g->sg_bpl[0] / 2;
			size_t c0 = (size_t)g->sg_bpl[0] * height;

			pl->sp_plane[1].off = c0 + (cb == 2 ? (size_t)cs * ch :
			    0);
			pl->sp_plane[2].off = c0 + (cr == 2 ? (size_t)cs * ch :
			    0);
			pl->sp_plane[1].stride = pl->sp_plane[2].stride = cs;
		}
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
		snprintf(err, errlen, "unknown format \"%.*s\" (see "
		    "tests/v4l2sim/config.c)", (int)(b - a), a);
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

/* The ioctls and errnos a fault list may name. */
static const struct {
	const char	*name;
	unsigned long	 req;
} fault_ioctls[] = {
	{ "QUERYCAP", VIDIOC_QUERYCAP }, { "S_FMT", VIDIOC_S_FMT },
	{ "REQBUFS", VIDIOC_REQBUFS }, { "QBUF", VIDIOC_QBUF },
	{ "DQBUF", VIDIOC_DQBUF }, { "STREAMON", VIDIOC_STREAMON },
	{ "STREAMOFF", VIDIOC_STREAMOFF }, { "S_CTRL", VIDIOC_S_CTRL },
	{ "S_EXT_CTRLS", VIDIOC_S_EXT_CTRLS }, { "G_PARM", VIDIOC_G_PARM },
	{ "S_PARM", VIDIOC_S_PARM },
};

static const struct {
	const char	*name;
	int		 err;
} fault_errnos[] = {
	{ "EPIPE", EPIPE }, { "EINVAL", EINVAL }, { "ESRCH", ESRCH },
	{ "ENOTTY", ENOTTY }, { "EIO", EIO }, { "EBUSY", EBUSY },
	{ "ENOMEM", ENOMEM }, { "ENODEV", ENODEV },
};

/* "STREAMON:EPIPE,S_CTRL:ENOTTY" */
static int
env_faults(const char *name, struct sim_fault *f, unsigned *n, char *err,
    size_t errlen)
{
	const char *s = getenv(name), *p, *colon, *end;
	size_t i, k;

	*n = 0;
	if (s == NULL || *s == '\0')
		return 0;
	for (p = s; *p != '\0'; p = *end ? end + 1 : end) {
		end = p + strcspn(p, ",");
		colon = memchr(p, ':', (size_t)(end - p));
		if (colon == NULL || *n == SIM_MAX_FAULTS)
			goto bad;
		for (i = 0; i < sizeof(fault_ioctls) / sizeof(fault_ioctls[0]);
		    i++)
			if (strlen(fault_ioctls[i].name) == (size_t)(colon - p) &&
			    strncmp(fault_ioctls[i].name, p,
			    (size_t)(colon - p)) == 0)
				break;
		for (k = 0; k < sizeof(fault_errnos) / sizeof(fault_errnos[0]);
		    k++)
			if (strlen(fault_errnos[k].name) ==
			    (size_t)(end - colon - 1) &&
			    strncmp(fault_errnos[k].name, colon + 1,
			    (size_t)(end - colon - 1)) == 0)
				break;
		if (i == sizeof(fault_ioctls) / sizeof(fault_ioctls[0]) ||
		    k == sizeof(fault_errnos) / sizeof(fault_errnos[0]))
			goto bad;
		f[*n].sf_req = fault_ioctls[i].req;
		f[*n].sf_errno = fault_errnos[k].err;
		(*n)++;
	}
	return 0;
bad:
	snprintf(err, errlen, "%s=%s: expected IOCTL:ERRNO,... (at most %d; "
	    "see tests/v4l2sim/config.c)", name, s, SIM_MAX_FAULTS);
	return -EINVAL;
}

int
sim_fault(const struct sim_fault *f, unsigned n, unsigned long req)
{
	for (unsigned i = 0; i < n; i++)
		if (f[i].sf_req == req)
			return f[i].sf_errno;
	return 0;
}

static int
env_path(const char *name, char *buf, size_t size, int required, char *err,
    size_t errlen)
{
	const char *s = getenv(name);

	buf[0] = '\0';
	if (s == NULL || *s == '\0') {
		if (!required)
			return 0;
		snprintf(err, errlen, "%s: missing", name);
		return -EINVAL;
	}
	if (snprintf(buf, size, "%s", s) >= (int)size) {
		snprintf(err, errlen, "%s: too long", name);
		return -EINVAL;
	}
	return 0;
}

int
sim_config_load(struct sim_config *c, char *err, size_t errlen)
{
	const char *s, *formats = SIM_DEFAULT_FORMATS;
	uint64_t q = SIM_DEFAULT_QUALITY, align = 1, offset = 0, m2m_mp = 1;
	int rc;

	memset(c, 0, sizeof(*c));
	if ((rc = env_path("V4L2SIM_DEVICE", c->sc_device,
	    sizeof(c->sc_device), 1, err, errlen)) != 0 ||
	    (rc = env_path("V4L2SIM_M2M_DEVICE", c->sc_m2m, sizeof(c->sc_m2m),
	    0, err, errlen)) != 0 ||
	    (rc = env_path("V4L2SIM_LOG", c->sc_log, sizeof(c->sc_log), 0,
	    err, errlen)) != 0 ||
	    (rc = env_path("V4L2SIM_M2M_CPU", c->sc_m2m_cpu,
	    sizeof(c->sc_m2m_cpu), 0, err, errlen)) != 0)
		return rc;
	s = getenv("V4L2SIM_PROFILE");
	if (s == NULL || *s == '\0' || strcmp(s, "uvc") == 0)
		c->sc_profile = SIM_PROFILE_UVC;
	else if (strcmp(s, "libcamera") == 0) {
		c->sc_profile = SIM_PROFILE_LIBCAMERA;
		formats = SIM_LIBCAMERA_FORMATS;
	} else {
		snprintf(err, errlen, "V4L2SIM_PROFILE=%s: expected uvc or "
		    "libcamera", s);
		return -EINVAL;
	}
	s = getenv("V4L2SIM_M2M_CODEC");
	if (s == NULL || *s == '\0' || strcmp(s, "jpeg") == 0)
		c->sc_m2m_h264 = 0;
	else if (strcmp(s, "h264") == 0)
		c->sc_m2m_h264 = 1;
	else {
		snprintf(err, errlen, "V4L2SIM_M2M_CODEC=%s: expected jpeg or "
		    "h264", s);
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
		s = formats;
	if ((rc = sim_config_formats(c, s, err, errlen)) != 0)
		return rc;
	if ((rc = env_flag("V4L2SIM_FIXED_FPS", &c->sc_fixed_fps, err,
	    errlen)) != 0 ||
	    (rc = env_flag("V4L2SIM_IGNORE_PARM", &c->sc_ignore_parm, err,
	    errlen)) != 0 ||
	    (rc = env_flag("V4L2SIM_NO_DHT", &c->sc_no_dht, err,
	    errlen)) != 0 ||
	    (rc = env_flag("V4L2SIM_MPLANE", &c->sc_mplane, err,
	    errlen)) != 0 ||
	    (rc = env_flag("V4L2SIM_IO_MC", &c->sc_io_mc, err,
	    errlen)) != 0 ||
	    (rc = env_number("V4L2SIM_STRIDE_ALIGN", 1, 4096, &align, err,
	    errlen)) != 0 ||
	    (rc = env_number("V4L2SIM_DATA_OFFSET", 0, 65536, &offset, err,
	    errlen)) != 0 ||
	    (rc = env_number("V4L2SIM_GARBAGE_EVERY", 1, UINT32_MAX,
	    &c->sc_garbage_every, err, errlen)) != 0 ||
	    (rc = env_number("V4L2SIM_UNPLUG_AFTER", 1, UINT64_MAX / 2,
	    &c->sc_unplug_after, err, errlen)) != 0 ||
	    (rc = env_number("V4L2SIM_BURST", 1, 32,
	    &c->sc_burst, err, errlen)) != 0 ||
	    (rc = env_number("V4L2SIM_QUALITY", 1, 100, &q, err,
	    errlen)) != 0 ||
	    (rc = env_faults("V4L2SIM_FAIL", c->sc_faults, &c->sc_nfaults,
	    err, errlen)) != 0 ||
	    (rc = env_number("V4L2SIM_M2M_MPLANE", 0, 1, &m2m_mp, err,
	    errlen)) != 0 ||
	    (rc = env_number("V4L2SIM_M2M_STALL_AFTER", 1, UINT64_MAX / 2,
	    &c->sc_m2m_stall_after, err, errlen)) != 0 ||
	    (rc = env_faults("V4L2SIM_M2M_FAIL", c->sc_m2m_faults,
	    &c->sc_m2m_nfaults, err, errlen)) != 0)
		return rc;
	c->sc_quality = (int)q;
	c->sc_align = (uint32_t)align;
	c->sc_data_offset = (uint32_t)offset;
	c->sc_m2m_mplane = (int)m2m_mp;
	if (c->sc_data_offset > 0 && !c->sc_mplane) {
		snprintf(err, errlen, "V4L2SIM_DATA_OFFSET needs "
		    "V4L2SIM_MPLANE=1: single-planar buffers have no "
		    "data_offset");
		return -EINVAL;
	}
	if (c->sc_mplane && c->sc_profile == SIM_PROFILE_LIBCAMERA) {
		snprintf(err, errlen, "V4L2SIM_PROFILE=libcamera is "
		    "single-planar: no V4L2SIM_MPLANE");
		return -EINVAL;
	}
	for (uint32_t i = 0; i < c->sc_nformats; i++)
		if (!c->sc_mplane &&
		    sim_fourcc_find(c->sc_formats[i].sf_fourcc)->fc_bufs > 1) {
			snprintf(err, errlen, "%s has a buffer per plane: it "
			    "needs V4L2SIM_MPLANE=1", sim_fourcc_find(
			    c->sc_formats[i].sf_fourcc)->fc_name);
			return -EINVAL;
		}
	return 0;
}
