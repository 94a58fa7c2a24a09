/*
 * source.h - where frames come from: the test pattern (pattern.c), a V4L2
 * device (v4l2.c, v4l2_info.c), a directory of JPEG files (dir.c), an
 * MJPEG stream or JPEG snapshots over HTTP (net.c).  This header is all
 * main.c knows of them.
 *
 * The capture loop (main.c) owns the policy: it polls src->fd, calls
 * next() when it is readable, publishes the frame (JPEG checked and
 * passed through, raw formats through encode.c), calls release(), and on
 * a source error closes the source, publishes placeholders and retries
 * open().  A source only knows how to produce frames.
 *
 * A source that does its own I/O on the event loop (net.c: connections,
 * name resolution, timers of its own) has attach() instead of a
 * descriptor: it gets the loop and a sink once, before the sandbox, and
 * its open() starts in the background and returns -EINPROGRESS.  Its
 * frames then come through sink->frame() (released as usual), and a
 * failure, after which the source has closed itself, through
 * sink->failed(); main.c treats both as it treats a device's.  The sink
 * is only ever called from the loop, never from within open() or
 * close().
 *
 * Frames may be held: several frames can be out (between next() and
 * release()) at once, for the encoder threads; they are released in any
 * order, always on the loop thread.
 *
 * open() errors: -EINVAL means the user's configuration cannot be met by
 * this source (format, control name or value): at startup that is a
 * usage error.  -ENOENT, -ENODEV, -ENXIO mean the source is not there
 * (yet): worth retrying.  Anything else is a real failure.
 */
#ifndef SHMCAM_SOURCE_H
#define SHMCAM_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "clock.h"
#include "image.h"
#include "rawframe.h"
#include "ring.h"
#include "url.h"

struct event_base;

/* One frame, valid from next() until release(). */
struct source_frame {
	uint32_t	 fourcc;	/* V4L2_PIX_FMT_* */
	uint32_t	 width;
	uint32_t	 height;
	const uint8_t	*data;		/* JPEG frames: the bytes */
	size_t		 length;
	struct rawframe	 raw;		/* raw frames: the planes */
	uint64_t	 capture_real_ns;
	uint64_t	 capture_mono_ns;
	uint32_t	 skipped;	/* frames the source lost before this */
	uint32_t	 index;		/* source-private (buffer index) */
	uint32_t	 flags;		/* SOURCE_FRAME_* */
};

/* An upstream shmcam's own "offline" picture (X-Shmcam-Placeholder): it
 * is published as a placeholder, and the ring says offline meanwhile. */
#define SOURCE_FRAME_PLACEHOLDER	0x1u

struct source;

/* Where a source that runs on the loop delivers (see above). */
struct source_sink {
	void	(*frame)(struct source *src, struct source_frame *f,
		    void *arg);
	void	(*failed)(struct source *src, const char *why, void *arg);
	void	*arg;
};

struct source_ops {
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
	/*
	 * Sources that run on the loop only (NULL for the others): takes
	 * the loop and the sink, and does what must be done before the
	 * sandbox (reading the resolver's configuration, certificates).
	 * 0, or -errno with why[].
	 */
	int	(*attach)(struct source *src, struct event_base *base,
		    const struct source_sink *sink, char *why, size_t whylen);
};

struct source {
	const struct source_ops *ops;
	void		*priv;
	int		 fd;		/* pollable while open, else -1 */
	uint32_t	 width;
	uint32_t	 height;
	uint32_t	 fourcc;
	uint32_t	 fps_milli;
	/*
	 * The largest frame the source may hand over, as a JPEG to
	 * publish: for JPEG sources the largest buffer plus the tables
	 * mjpeg.c may insert, for raw ones the codec's bound for the
	 * largest size the device offers in this format.  The ring is sized
	 * from it.
	 */
	uint32_t	 max_frame;
	uint32_t	 fps_device_milli; /* what the device delivers, 0: unknown;
					    * above fps_milli: drop in software */
	char		 desc[RING_TEXT_MAX];	/* "pattern", "v4l2:/dev/video0" */
	/*
	 * V4L2: why the device seems to be answered by a layer in this
	 * process rather than a kernel driver ("the driver is libcamera"),
	 * "" if not (as of the last open).  The sandbox allows for one.
	 */
	char		 layer[64];
};

/* --control NAME=VALUE */
struct source_control {
	const char	*name;		/* as v4l2-ctl spells it */
	int64_t		 value;		/* menu controls: the item's index */
};

#define SOURCE_CONTROLS_MAX	32

/* What the user asked for; a source may not be able to honour it all. */
struct source_config {
	const char	*path;		/* device, or directory for dir: */
	uint32_t	 width;
	uint32_t	 height;
	uint32_t	 fps_milli;
	int		 fps_given;	/* else a device keeps its own rate */
	uint32_t	 fourcc;	/* 0: auto (MJPEG preferred) */
	unsigned	 buffers;	/* V4L2 mmap buffers */
	const struct source_control *controls;
	unsigned	 ncontrols;
	/* network sources */
	const struct url *url;		/* --source, credentials included */
	const char	*tls_ca;	/* certificates to trust, NULL: the
					 * system's */
	uint32_t	 timeout_ms;	/* --source-timeout */
};

int	pattern_source_init(struct source *src, const struct source_config *c);
/* Loops the JPEG files of c->path, sorted by name, at c->fps_milli. */
int	dir_source_init(struct source *src, const struct source_config *c);
/* A V4L2 capture device at c->path (mmap streaming). */
int	v4l2_source_init(struct source *src, const struct source_config *c);
/* An MJPEG stream or JPEG snapshots at c->url (HTTP or HTTPS). */
int	net_source_init(struct source *src, const struct source_config *c);
/* 1 if this build has https (SHMCAM_TLS). */
int	net_tls_available(void);

/*
 * The first /dev/video* that is a capture device with a format we can
 * publish, into path; 0 or -ENOENT.
 */
int	v4l2_find_device(char *path, size_t size);
/*
 * Prints the formats, sizes, frame intervals and controls of the device
 * at path, like v4l2-ctl --list-formats-ext --list-ctrls-menus.  0 or
 * -errno (why[] says what failed).
 */
int	v4l2_list(const char *path, FILE *out, char *why, size_t whylen);

/*
 * "MJPEG", "YUYV", ... for --format and logs, and back; 0 if unknown.
 * The device's four characters ("MJPG", "NM12") are taken too.
 */
uint32_t source_format_parse(const char *name);
const char *source_format_name(uint32_t fourcc);
/* Every name source_format_parse() takes first, comma-separated, into
 * buf (truncated to size); the length it would need. */
size_t	source_format_list(char *buf, size_t size);
/* 1 if frames of this fourcc are JPEG already. */
int	source_format_is_jpeg(uint32_t fourcc);
/* 1 if they are a codec's (JPEG or H.264): no rows, sizes vary. */
int	source_format_is_compressed(uint32_t fourcc);

/*
 * A copy of f's bytes in *buf (grown as needed, *cap bytes), described by
 * *copy, which stays valid after f is released: a raw frame's planes
 * (whatever buffers they were in) one after the other without padding, as
 * one buffer of its format holds them.  0, -EINVAL, -ENOMEM.
 */
int	source_frame_copy(const struct source_frame *f, uint8_t **buf,
	    size_t *cap, struct source_frame *copy);

/* A non-blocking periodic timerfd at fps_milli; the fd or -errno (why[]). */
int	source_timer_open(uint32_t fps_milli, char *why, size_t whylen);
/* Reads the timer's expirations: 1 and *ticks, 0 if none yet, -errno. */
int	source_timer_read(int fd, uint64_t *ticks, char *why, size_t whylen);
/*
 * The capture times of a frame the timer paced: its period's end (the
 * timer's latest expiry), not when the loop got round to it, as a
 * camera's driver stamps the end of an exposure.  A busy machine then
 * delays frames without making their times irregular (players read the
 * frame rate off them).  The times of now if the timer cannot say.
 */
void	source_timer_due(int fd, uint32_t fps_milli, uint64_t *mono_ns,
	    uint64_t *real_ns);

#endif /* SHMCAM_SOURCE_H */
