/*
 * controls.c - the controls of a typical UVC webcam, with the ranges,
 * menus, defaults and "inactive while automatic" flags uvcvideo reports.
 *
 * Values outside the range give ERANGE and a menu index the device skips
 * gives EINVAL (VIDIOC_S_CTRL(2): "when the value is out of bounds
 * drivers can choose to take the closest valid value or return an ERANGE
 * error code"; uvcvideo returns ERANGE for menus since 2010).  Integer
 * values between steps are rounded to the nearest step, as uvcvideo does.
 * The names are the ones uvcvideo used before Linux 5.x renamed a few,
 * so the v4l2-ctl style names are brightness, contrast, saturation,
 * white_balance_temperature_auto, power_line_frequency,
 * white_balance_temperature, exposure_auto and exposure_absolute.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"

struct ctrl_def {
	uint32_t	 id;
	const char	*name;
	uint32_t	 type;
	int32_t		 min, max, step, def;
	const char	*menu[4];	/* NULL: index skipped */
	int		 inactive_unless;	/* index of the control whose
						 * value must be inactive_value,
						 * or -1 */
	int32_t		 inactive_value;
};

enum {
	C_BRIGHTNESS, C_CONTRAST, C_SATURATION, C_WB_AUTO, C_POWER_LINE,
	C_WB_TEMPERATURE, C_EXPOSURE_AUTO, C_EXPOSURE_ABSOLUTE,
};

/* Sorted by id: V4L2_CTRL_FLAG_NEXT_CTRL walks them in this order. */
static const struct ctrl_def defs[SIM_NCONTROLS] = {
	[C_BRIGHTNESS] = { V4L2_CID_BRIGHTNESS, "Brightness",
	    V4L2_CTRL_TYPE_INTEGER, -64, 64, 1, 0, { NULL }, -1, 0 },
	[C_CONTRAST] = { V4L2_CID_CONTRAST, "Contrast",
	    V4L2_CTRL_TYPE_INTEGER, 0, 95, 1, 32, { NULL }, -1, 0 },
	[C_SATURATION] = { V4L2_CID_SATURATION, "Saturation",
	    V4L2_CTRL_TYPE_INTEGER, 0, 100, 1, 64, { NULL }, -1, 0 },
	[C_WB_AUTO] = { V4L2_CID_AUTO_WHITE_BALANCE,
	    "White Balance Temperature, Auto", V4L2_CTRL_TYPE_BOOLEAN,
	    0, 1, 1, 1, { NULL }, -1, 0 },
	[C_POWER_LINE] = { V4L2_CID_POWER_LINE_FREQUENCY,
	    "Power Line Frequency", V4L2_CTRL_TYPE_MENU, 0, 2, 1, 1,
	    { "Disabled", "50 Hz", "60 Hz", NULL }, -1, 0 },
	[C_WB_TEMPERATURE] = { V4L2_CID_WHITE_BALANCE_TEMPERATURE,
	    "White Balance Temperature", V4L2_CTRL_TYPE_INTEGER,
	    2800, 6500, 10, 4600, { NULL }, C_WB_AUTO, 0 },
	[C_EXPOSURE_AUTO] = { V4L2_CID_EXPOSURE_AUTO, "Exposure, Auto",
	    V4L2_CTRL_TYPE_MENU, 0, 3, 1, 3,
	    { NULL, "Manual Mode", NULL, "Aperture Priority Mode" }, -1, 0 },
	[C_EXPOSURE_ABSOLUTE] = { V4L2_CID_EXPOSURE_ABSOLUTE,
	    "Exposure (Absolute)", V4L2_CTRL_TYPE_INTEGER, 3, 2047, 1, 250,
	    { NULL }, C_EXPOSURE_AUTO, V4L2_EXPOSURE_MANUAL },
};

void
sim_controls_init(struct sim_controls *c)
{
	int i;

	for (i = 0; i < SIM_NCONTROLS; i++)
		c->sc_value[i] = defs[i].def;
}

static int
ctrl_find(uint32_t id)
{
	int i;

	for (i = 0; i < SIM_NCONTROLS; i++)
		if (defs[i].id == id)
			return i;
	return -1;
}

/* The control a NEXT_CTRL query after id returns, or -1. */
static int
ctrl_next(uint32_t id)
{
	int i;

	for (i = 0; i < SIM_NCONTROLS; i++)
		if (defs[i].id > id)
			return i;
	return -1;
}

static uint32_t
ctrl_flags(const struct sim_controls *c, int i)
{
	const struct ctrl_def *d = &defs[i];

	if (d->inactive_unless >= 0 &&
	    c->sc_value[d->inactive_unless] != d->inactive_value)
		return V4L2_CTRL_FLAG_INACTIVE;
	return 0;
}

/* Which control a QUERYCTRL-style id asks for: index, or -EINVAL. */
static int
query_which(uint32_t id)
{
	uint32_t next = id & (V4L2_CTRL_FLAG_NEXT_CTRL |
	    V4L2_CTRL_FLAG_NEXT_COMPOUND);
	int i;

	id &= ~(V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND);
	if (next == 0)
		i = ctrl_find(id);
	else if (next & V4L2_CTRL_FLAG_NEXT_CTRL)
		i = ctrl_next(id);
	else
		i = -1;		/* only compound controls asked: none */
	return i < 0 ? -EINVAL : i;
}

/*
 * Checks value for control i, rounding integers to the step: 0, -ERANGE
 * (out of bounds) or -EINVAL (a menu index the device skips).
 */
static int
ctrl_check(int i, int32_t *value)
{
	const struct ctrl_def *d = &defs[i];
	int64_t v = *value;

	if (v < d->min || v > d->max)
		return -ERANGE;
	if (d->type == V4L2_CTRL_TYPE_MENU && d->menu[v] == NULL)
		return -EINVAL;
	if (d->step > 1)
		v = d->min + (v - d->min + d->step / 2) / d->step * d->step;
	if (v > d->max)
		v -= d->step;
	*value = (int32_t)v;
	return 0;
}

static int
ext_ctrls(struct sim_controls *c, unsigned long req,
    struct v4l2_ext_controls *cs)
{
	uint32_t which = cs->which, n;
	int32_t v;
	int rc, i, idx[64];

	if (cs->count > 64)
		return -EINVAL;		/* a webcam has far fewer */
	if (cs->count > 0 && cs->controls == NULL)
		return -EFAULT;
	if (which == V4L2_CTRL_WHICH_REQUEST_VAL)
		return -EINVAL;		/* no request API */
	if (which == V4L2_CTRL_WHICH_DEF_VAL && req != VIDIOC_G_EXT_CTRLS) {
		cs->error_idx = cs->count;
		return -EINVAL;
	}
	/* Look every control up and check its value before touching any. */
	for (n = 0; n < cs->count; n++) {
		struct v4l2_ext_control *x = &cs->controls[n];

		i = ctrl_find(x->id);
		rc = 0;
		if (i < 0 || (which != V4L2_CTRL_WHICH_CUR_VAL &&
		    which != V4L2_CTRL_WHICH_DEF_VAL &&
		    V4L2_CTRL_ID2WHICH(x->id) != which))
			rc = -EINVAL;
		else if (req != VIDIOC_G_EXT_CTRLS) {
			v = x->value;
			rc = ctrl_check(i, &v);
		}
		if (rc != 0) {
			/*
			 * The control framework: S_EXT_CTRLS reports count,
			 * meaning "nothing was changed"; G and TRY point at
			 * the culprit.
			 */
			cs->error_idx = req == VIDIOC_S_EXT_CTRLS ? cs->count :
			    n;
			return rc;
		}
		idx[n] = i;
	}
	for (n = 0; n < cs->count; n++) {
		struct v4l2_ext_control *x = &cs->controls[n];

		i = idx[n];
		if (req == VIDIOC_G_EXT_CTRLS) {
			x->value = which == V4L2_CTRL_WHICH_DEF_VAL ?
			    defs[i].def : c->sc_value[i];
			continue;
		}
		v = x->value;
		ctrl_check(i, &v);
		x->value = v;
		if (req == VIDIOC_S_EXT_CTRLS)
			c->sc_value[i] = v;
	}
	cs->error_idx = cs->count;
	return 0;
}

int
sim_controls_ioctl(struct sim_controls *c, unsigned long req, void *arg)
{
	int i, rc;

	switch (req) {
	case VIDIOC_QUERYCTRL: {
		struct v4l2_queryctrl *q = arg;

		if ((i = query_which(q->id)) < 0)
			return i;
		memset(q, 0, sizeof(*q));
		q->id = defs[i].id;
		q->type = defs[i].type;
		snprintf((char *)q->name, sizeof(q->name), "%s", defs[i].name);
		q->minimum = defs[i].min;
		q->maximum = defs[i].max;
		q->step = defs[i].step;
		q->default_value = defs[i].def;
		q->flags = ctrl_flags(c, i);
		return 0;
	}
	case VIDIOC_QUERY_EXT_CTRL: {
		struct v4l2_query_ext_ctrl *q = arg;

		if ((i = query_which(q->id)) < 0)
			return i;
		memset(q, 0, sizeof(*q));
		q->id = defs[i].id;
		q->type = defs[i].type;
		snprintf(q->name, sizeof(q->name), "%s", defs[i].name);
		q->minimum = defs[i].min;
		q->maximum = defs[i].max;
		q->step = (uint64_t)defs[i].step;
		q->default_value = defs[i].def;
		q->flags = ctrl_flags(c, i);
		q->elem_size = sizeof(int32_t);
		q->elems = 1;
		return 0;
	}
	case VIDIOC_QUERYMENU: {
		struct v4l2_querymenu *m = arg;
		uint32_t index = m->index;

		if ((i = ctrl_find(m->id)) < 0 ||
		    defs[i].type != V4L2_CTRL_TYPE_MENU ||
		    index > (uint32_t)defs[i].max ||
		    defs[i].menu[index] == NULL)
			return -EINVAL;
		memset(m, 0, sizeof(*m));
		m->id = defs[i].id;
		m->index = index;
		snprintf((char *)m->name, sizeof(m->name), "%s",
		    defs[i].menu[index]);
		return 0;
	}
	case VIDIOC_G_CTRL: {
		struct v4l2_control *x = arg;

		if ((i = ctrl_find(x->id)) < 0)
			return -EINVAL;
		x->value = c->sc_value[i];
		return 0;
	}
	case VIDIOC_S_CTRL: {
		struct v4l2_control *x = arg;
		int32_t v = x->value;

		if ((i = ctrl_find(x->id)) < 0)
			return -EINVAL;
		if ((rc = ctrl_check(i, &v)) != 0)
			return rc;
		c->sc_value[i] = v;
		x->value = v;
		return 0;
	}
	case VIDIOC_G_EXT_CTRLS:
	case VIDIOC_S_EXT_CTRLS:
	case VIDIOC_TRY_EXT_CTRLS:
		return ext_ctrls(c, req, arg);
	default:
		return -ENOTTY;
	}
}
