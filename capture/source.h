/*
 * source.h - where frames come from: the test pattern, a V4L2 device, a
 * directory of JPEG files.
 *
 * The capture loop (main.c) owns the policy: it polls src->fd, calls
 * next() when it is readable, publishes the frame (JPEG as is, raw
 * formats through encode.c), calls release(), and on a source error
 * closes the source, publishes placeholders and retries open().  A source
 * only knows how to produce frames.
 */
#ifndef SHMCAM_SOURCE_H
#define SHMCAM_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "ring.h"

/* One frame, valid from next() until release(). */
struct source_frame {
	uint32_t	 fourcc;	/* V4L2_PIX_FMT_* of data */
	uint32_t	 width;
	uint32_t	 height;
	uint32_t	 bytesperline;	/* of the first plane, 0 if packed */
	const uint8_t	*data;		/* JPEG bytes or raw pixels */
	size_t		 length;
	const struct image *image;	/* V4L2_PIX_FMT_YUV420 sources may
					 * hand over planes instead of data */
	uint64_t	 capture_real_ns;
	uint64_t	 capture_mono_ns;
	uint32_t	 skipped;	/* frames the source lost before this */
	uint32_t	 index;		/* source-private (buffer index) */
};

struct source;

struct source_ops {
	const char *kind;
	/*
	 * Opens (or reopens) the source; sets src->fd, width, height,
	 * fourcc, fps_milli.  0, or -errno with why[] saying what failed.
	 */
	int	(*open)(struct source *src, char *why, size_t whylen);
	/* Releases everything open() took; src->fd becomes -1. */
	void	(*close)(struct source *src);
	/*
	 * Called when src->fd is readable.  1: *f holds a frame; 0: nothing
	 * this time; -errno: the source failed (why[] says how) and will be
	 * closed and reopened.
	 */
	int	(*next)(struct source *src, struct source_frame *f, char *why,
		    size_t whylen);
	/* Gives f's buffer back to the source. */
	void	(*release)(struct source *src, struct source_frame *f);
	/* Frees priv. */
	void	(*destroy)(struct source *src);
};

struct source {
	const struct source_ops *ops;
	void		*priv;
	int		 fd;		/* pollable while open, else -1 */
	uint32_t	 width;
	uint32_t	 height;
	uint32_t	 fourcc;
	uint32_t	 fps_milli;
	uint32_t	 max_frame;	/* largest JPEG it may hand over */
	char		 desc[RING_TEXT_MAX];	/* "pattern", "v4l2:/dev/video0" */
};

/* What the user asked for; a source may not be able to honour it all. */
struct source_config {
	uint32_t	 width;
	uint32_t	 height;
	uint32_t	 fps_milli;
	int		 quality;
};

int	pattern_source_init(struct source *src, const struct source_config *c);

#endif /* SHMCAM_SOURCE_H */
