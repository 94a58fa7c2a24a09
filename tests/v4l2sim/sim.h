/*
 * sim.h - internals of the simulated V4L2 camera (libv4l2sim.so), an
 * LD_PRELOAD library for tests.  What it simulates, and how to use it, is
 * in docs/hacking.md, "The simulated camera".
 *
 * Modules:
 *   preload.c   the interposed libc functions, the table from descriptor
 *               to simulated device, the real functions (dlsym RTLD_NEXT)
 *   config.c    the V4L2SIM_* environment: formats, sizes, rates, faults
 *   device.c    one open device: the V4L2 ioctls, buffers, mmap, the
 *               producer thread, unplug
 *   controls.c  the control set of a typical UVC webcam
 *   frames.c    frame content, pre-rendered per format and size so that
 *               producing a frame costs little more than a memcpy
 *   simstamp.c, simpattern.c   the stamp and the picture (also linked
 *               into tests and tools, without this library)
 *
 * Everything except the interposed functions is hidden (the library is
 * built with -fvisibility=hidden), so nothing here can clash with the
 * program it is loaded into.
 */
#ifndef SHMCAM_SIM_H
#define SHMCAM_SIM_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/videodev2.h>

#include "simpattern.h"

/* ------------------------------------------------------------ preload.c */

/* The functions the library interposes, as libc implements them. */
struct sim_real {
	int	(*open)(const char *, int, ...);
	int	(*openat)(int, const char *, int, ...);
	int	(*close)(int);
	int	(*ioctl)(int, unsigned long, ...);
	void	*(*mmap)(void *, size_t, int, int, int, off_t);
	int	(*munmap)(void *, size_t);
};

extern struct sim_real sim_real;

/* ------------------------------------------------------------ config.c */

#define SIM_MAX_FORMATS	16
#define SIM_MAX_SIZES	16
#define SIM_MAX_RATES	8
#define SIM_DIM_MIN	16
#define SIM_DIM_MAX	8192

struct sim_size {
	uint32_t	ss_width;
	uint32_t	ss_height;
	uint32_t	ss_nintervals;
	/* Frame intervals in seconds, in the order given (first: default). */
	struct v4l2_fract ss_intervals[SIM_MAX_RATES];
};

struct sim_format {
	uint32_t	sf_fourcc;
	uint32_t	sf_nsizes;
	struct sim_size	sf_sizes[SIM_MAX_SIZES];
};

struct sim_config {
	char		sc_device[PATH_MAX];	/* V4L2SIM_DEVICE */
	char		sc_log[PATH_MAX];	/* V4L2SIM_LOG, "" if none */
	uint32_t	sc_nformats;
	struct sim_format sc_formats[SIM_MAX_FORMATS];
	int		sc_fixed_fps;		/* V4L2SIM_FIXED_FPS */
	int		sc_no_dht;		/* V4L2SIM_NO_DHT */
	int		sc_mplane;		/* V4L2SIM_MPLANE */
	uint64_t	sc_garbage_every;	/* V4L2SIM_GARBAGE_EVERY, 0 off */
	uint64_t	sc_unplug_after;	/* V4L2SIM_UNPLUG_AFTER, 0 off */
	int		sc_quality;		/* V4L2SIM_QUALITY */
	char		sc_file[PATH_MAX];	/* V4L2SIM_FILE, "" if none */
};

/* Reads the environment; 0, or -EINVAL with err saying what is wrong. */
int	sim_config_load(struct sim_config *c, char *err, size_t errlen);

/* What the simulator knows about a pixel format. */
struct sim_fourcc {
	uint32_t	 fc_fourcc;
	const char	*fc_name;	/* as in V4L2SIM_FORMATS */
	const char	*fc_alias;	/* also accepted, or NULL */
	const char	*fc_desc;	/* ENUM_FMT description */
	int		 fc_compressed;
};

const struct sim_fourcc *sim_fourcc_find(uint32_t fourcc);
/* bytesperline and sizeimage as the driver reports them. */
void	sim_fourcc_geometry(uint32_t fourcc, uint32_t width, uint32_t height,
	    uint32_t *bytesperline, uint32_t *sizeimage);

/* ------------------------------------------------------------ frames.c */

struct sim_frames;

/*
 * What a buffer holds, so that the next raw frame written into it only
 * repaints what changes (the barcode and the block) instead of copying
 * the whole background again.  Zeroed: unknown content.
 */
struct sim_paint {
	uint64_t		 sp_frames;	/* id of the sim_frames */
	int			 sp_n;
	struct simpattern_rect	 sp_rects[SIMPATTERN_OVERLAY_MAX];
};

enum sim_broken {
	SIM_FRAME_GOOD,
	SIM_FRAME_TRUNCATED,	/* a JPEG cut short: no EOI */
	SIM_FRAME_NOISE,	/* random bytes, no SOI */
};

/*
 * Pre-renders everything frames of this format and size need, from the
 * picture or (file not NULL) from a file of 4:2:0 pictures.  0 or
 * -errno; err says what failed.
 */
int	sim_frames_new(struct sim_frames **out, uint32_t fourcc,
	    uint32_t width, uint32_t height, int quality, int no_dht,
	    const char *file, char *err, size_t errlen);
/* A stream starts (STREAMON): H.264 starts again with an IDR and its
 * parameter sets, as a camera's encoder does. */
void	sim_frames_start(struct sim_frames *f);
void	sim_frames_free(struct sim_frames *f);
int	sim_frames_match(const struct sim_frames *f, uint32_t fourcc,
	    uint32_t width, uint32_t height);
/* The largest frame sim_frames_fill() may write. */
size_t	sim_frames_max(const struct sim_frames *f);
/*
 * Writes frame seq into dst (cap >= sim_frames_max()); returns its size.
 * paint describes what dst holds and is updated.  A program that writes
 * into its capture buffers would find its writes outside the repainted
 * areas still there: V4L2 programs only read them.
 */
size_t	sim_frames_fill(struct sim_frames *f, uint8_t *dst, size_t cap,
	    uint64_t seq, uint64_t real_ns, enum sim_broken broken,
	    struct sim_paint *paint);

/* ------------------------------------------------------------ controls.c */

#define SIM_NCONTROLS	8

struct sim_controls {
	int32_t		sc_value[SIM_NCONTROLS];
};

void	sim_controls_init(struct sim_controls *c);
/*
 * Handles the control ioctls (QUERYCTRL, QUERY_EXT_CTRL, QUERYMENU,
 * G/S_CTRL, G/S/TRY_EXT_CTRLS): 0 or -errno; -ENOTTY for any other
 * request.
 */
int	sim_controls_ioctl(struct sim_controls *c, unsigned long req,
	    void *arg);

/* ------------------------------------------------------------ device.c */

struct sim_device;

/*
 * The name of each device's producer thread (pthread_setname_np, at most
 * 15 characters): the thread that makes the frames is the camera, and
 * benchmarks leave its CPU time out of the program's by this name.
 */
#define SIM_THREAD_NAME	"v4l2sim"

/*
 * Opens the simulated device for open(2) flags; returns the new
 * descriptor or -errno.  The caller registers it with sim_fd_add().
 */
int	sim_device_open(int flags, struct sim_device **out);
int	sim_device_ioctl(struct sim_device *d, unsigned long req, void *arg);
void	*sim_device_mmap(struct sim_device *d, void *addr, size_t len,
	    int prot, int flags, off_t off, int *err);
/* A munmap() of a range the library may have handed out. */
void	sim_device_munmap(void *addr, size_t len);
/* The descriptor was closed: stops the device. */
void	sim_device_close(struct sim_device *d);
void	sim_device_ref(struct sim_device *d);
void	sim_device_unref(struct sim_device *d);

/* Mappings of device buffers alive in this process (fast path of munmap). */
extern unsigned int sim_mappings;

#endif /* SHMCAM_SIM_H */
