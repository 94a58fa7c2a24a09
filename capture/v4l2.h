/*
 * v4l2.h - what v4l2.c (streaming) and v4l2_info.c (enumeration,
 * controls, --list) share.  Private to them: main.c knows source.h only.
 */
#ifndef SHMCAM_V4L2_H
#define SHMCAM_V4L2_H

#include <stddef.h>
#include <stdint.h>

#include "source.h"

/* ioctl() restarted on EINTR. */
int	v4l2_ioctl(int fd, unsigned long req, void *arg);

/*
 * The format to capture: fourcc if the device offers it, or with
 * fourcc 0 MJPEG, then JPEG, then the first format we can encode in the
 * device's order.  0 and *out, or -EINVAL (why[] lists what the device
 * offers).
 */
int	v4l2_pick_format(int fd, uint32_t fourcc, uint32_t *out, char *why,
	    size_t whylen);
/* Largest width and height the device offers in fourcc (0 if unknown). */
void	v4l2_max_size(int fd, uint32_t fourcc, uint32_t *w, uint32_t *h);
/*
 * Sets each control by its v4l2-ctl name, in order.  -EINVAL with why[]
 * for an unknown name, a value out of range, a read-only control or one
 * the driver refuses.
 */
int	v4l2_set_controls(int fd, const struct source_control *c, unsigned n,
	    char *why, size_t whylen);
/*
 * 0 if fd is a single-planar video capture device with streaming I/O;
 * otherwise -EMEDIUMTYPE and, if why is not NULL, why not ("PATH:
 * multi-planar capture ... is not supported").
 */
int	v4l2_check_capture(int fd, const char *path, char *why,
	    size_t whylen);

#endif /* SHMCAM_V4L2_H */
