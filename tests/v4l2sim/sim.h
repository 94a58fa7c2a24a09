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
 *   m2m.c       a memory-to-memory JPEG encoder (V4L2SIM_M2M_DEVICE), as
 *               bcm2835-codec and hantro are, encoding with TurboJPEG,
 *               or with V4L2SIM_M2M_CODEC=h264 an H.264 one as
 *               bcm2835-codec's encode node is, encoding with simh264.c
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

/* An ioctl made to fail with an errno (V4L2SIM_FAIL, V4L2SIM_M2M_FAIL). */
#define SIM_MAX_FAULTS	8
struct sim_fault {
	unsigned long	 sf_req;
	int		 sf_errno;
};

/* V4L2SIM_PROFILE: whose V4L2 implementation the device imitates. */
enum sim_profile {
	SIM_PROFILE_UVC,	/* uvcvideo, the default */
	SIM_PROFILE_LIBCAMERA,	/* libcamera's v4l2-compat.so */
};

struct sim_config {
	char		sc_device[PATH_MAX];	/* V4L2SIM_DEVICE */
	char		sc_m2m[PATH_MAX];	/* V4L2SIM_M2M_DEVICE, "" if none */
	char		sc_log[PATH_MAX];	/* V4L2SIM_LOG, "" if none */
	enum sim_profile sc_profile;		/* V4L2SIM_PROFILE */
	uint32_t	sc_nformats;
	struct sim_format sc_formats[SIM_MAX_FORMATS];
	int		sc_fixed_fps;		/* V4L2SIM_FIXED_FPS */
	int		sc_ignore_parm;		/* V4L2SIM_IGNORE_PARM */
	int		sc_no_dht;		/* V4L2SIM_NO_DHT */
	int		sc_mplane;		/* V4L2SIM_MPLANE */
	int		sc_io_mc;		/* V4L2SIM_IO_MC */
	uint32_t	sc_align;		/* V4L2SIM_STRIDE_ALIGN, 1 */
	uint32_t	sc_data_offset;		/* V4L2SIM_DATA_OFFSET */
	uint64_t	sc_garbage_every;	/* V4L2SIM_GARBAGE_EVERY, 0 off */
	uint64_t	sc_unplug_after;	/* V4L2SIM_UNPLUG_AFTER, 0 off */
	uint64_t	sc_burst;		/* V4L2SIM_BURST, 1 */
	int		sc_quality;		/* V4L2SIM_QUALITY */
	char		sc_file[PATH_MAX];	/* V4L2SIM_FILE, "" if none */
	unsigned	sc_nfaults;
	struct sim_fault sc_faults[SIM_MAX_FAULTS];	/* V4L2SIM_FAIL */
	/* The memory-to-memory encoder at sc_m2m. */
	int		sc_m2m_h264;		/* V4L2SIM_M2M_CODEC=h264 */
	int		sc_m2m_mplane;		/* V4L2SIM_M2M_MPLANE, 1 */
	uint64_t	sc_m2m_stall_after;	/* V4L2SIM_M2M_STALL_AFTER */
	char		sc_m2m_cpu[PATH_MAX];	/* V4L2SIM_M2M_CPU, "" if none */
	unsigned	sc_m2m_nfaults;
	struct sim_fault sc_m2m_faults[SIM_MAX_FAULTS];	/* V4L2SIM_M2M_FAIL */
};

/* Reads the environment; 0, or -EINVAL with err saying what is wrong. */
int	sim_config_load(struct sim_config *c, char *err, size_t errlen);
/* The errno a fault list gives req, or 0. */
int	sim_fault(const struct sim_fault *f, unsigned n, unsigned long req);

/*
 * How a raw format's samples lie in memory, written down here from the
 * V4L2 documentation on purpose rather than taken from the capture's
 * capture/rawframe.c: a wrong row in a table both sides shared would
 * pass its own test.
 */
enum sim_kind {
	SIM_KIND_JPEG,		/* compressed */
	SIM_KIND_PACKED,	/* 4:2:2, Y C Y C (swap: C Y C Y) */
	SIM_KIND_SEMI,		/* Y plane, Cb Cr pairs (swap: Cr Cb) */
	SIM_KIND_PLANAR,	/* Y, Cb, Cr planes (swap: Y, Cr, Cb) */
	SIM_KIND_RGB,		/* R G B [X] (swap: B G R [X]) */
	SIM_KIND_GREY,
	SIM_KIND_H264,		/* compressed: x264 (simh264.h) */
};

/* What the simulator knows about a pixel format. */
struct sim_fourcc {
	uint32_t	 fc_fourcc;
	const char	*fc_name;	/* as in V4L2SIM_FORMATS */
	const char	*fc_alias;	/* also accepted, or NULL */
	const char	*fc_desc;	/* ENUM_FMT description */
	enum sim_kind	 fc_kind;
	uint8_t		 fc_vsub;	/* luma rows per chroma row */
	uint8_t		 fc_swap;
	uint8_t		 fc_bpp;	/* bytes per pixel of the first plane */
	uint8_t		 fc_bufs;	/* >1: a buffer per plane, MPLANE only */
};

const struct sim_fourcc *sim_fourcc_find(uint32_t fourcc);

/*
 * The driver's geometry of a frame: how many buffers (memory planes),
 * and each one's bytesperline and sizeimage.  Rows start align-byte
 * aligned (V4L2SIM_STRIDE_ALIGN: 1 for none); in one buffer, planar
 * chroma rows are half the luma stride apart (the V4L2 rule).
 */
struct sim_geom {
	unsigned	 sg_nbuf;
	uint32_t	 sg_bpl[3];
	uint32_t	 sg_size[3];
};

void	sim_fourcc_geometry(uint32_t fourcc, uint32_t width, uint32_t height,
	    uint32_t align, struct sim_geom *g);

/*
 * Where each sample plane of a raw frame lies in the buffers of its
 * geometry: plane 0 is Y (or the packed or RGB pixels), then Cb and Cr
 * (planar) or the chroma pairs (semi-planar).
 */
struct sim_planes {
	unsigned	 sp_n;
	struct {
		unsigned buf;
		size_t	 off;
		uint32_t stride;
	} sp_plane[3];
};

void	sim_fourcc_planes(const struct sim_fourcc *fc, uint32_t height,
	    const struct sim_geom *g, struct sim_planes *pl);

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
 * Pre-renders everything frames of this format and size need, laid out
 * with rows align-byte aligned (1: unpadded; see sim_fourcc_geometry()),
 * from the picture or (file not NULL) from a file of 4:2:0 pictures.
 * 0 or -errno; err says what failed.
 */
int	sim_frames_new(struct sim_frames **out, uint32_t fourcc,
	    uint32_t width, uint32_t height, uint32_t align, int quality,
	    int no_dht, const char *file, char *err, size_t errlen);
/* A stream starts (STREAMON): H.264 starts again with an IDR and its
 * parameter sets, as a camera's encoder does. */
void	sim_frames_start(struct sim_frames *f);
void	sim_frames_free(struct sim_frames *f);
int	sim_frames_match(const struct sim_frames *f, uint32_t fourcc,
	    uint32_t width, uint32_t height, uint32_t align);
/* Buffers a frame takes (sim_geom's sg_nbuf), and the most
 * sim_frames_fill() may write into buffer i. */
unsigned sim_frames_nbuf(const struct sim_frames *f);
size_t	sim_frames_max(const struct sim_frames *f, unsigned i);
/*
 * Writes frame seq into the buffers dst[0..nbuf-1] (each with room for
 * sim_frames_max()); stores each one's bytes in used[] (may be NULL for
 * one buffer) and returns the first's.  paint describes what the
 * buffers hold and is updated.  A program that writes into its capture
 * buffers would find its writes outside the repainted areas still
 * there: V4L2 programs only read them.
 */
size_t	sim_frames_fill(struct sim_frames *f, uint8_t *const dst[],
	    uint64_t seq, uint64_t real_ns, enum sim_broken broken,
	    struct sim_paint *paint, size_t used[]);

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

/*
 * One line "WHO[PID]: ..." appended to fd (V4L2SIM_LOG; -1: none),
 * written whole, whichever thread writes it.
 */
void	sim_log(int fd, const char *who, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------ m2m.c */

struct sim_m2m;

/*
 * A JPEG encoder on the descriptor fd (one end of a socketpair, peer the
 * other: POLLIN while an encoded frame waits), logging to log (or -1).
 * 0 or -errno.
 */
int	sim_m2m_new(struct sim_m2m **out, const struct sim_config *c, int fd,
	    int peer, int log);
void	sim_m2m_free(struct sim_m2m *m);
/* Its ioctls, and mmap of its buffers, under the device's lock. */
int	sim_m2m_ioctl(struct sim_m2m *m, unsigned long req, void *arg);
void	*sim_m2m_mmap(struct sim_m2m *m, void *addr, size_t len, int prot,
	    int flags, off_t off, int *err);

/* ------------------------------------------------------------ device.c */

struct sim_device;

enum sim_kind_of_device {
	SIM_DEV_CAMERA,		/* V4L2SIM_DEVICE */
	SIM_DEV_M2M,		/* V4L2SIM_M2M_DEVICE */
};

/*
 * The name of each device's producer thread (pthread_setname_np, at most
 * 15 characters): the thread that makes the frames is the camera, and
 * benchmarks leave its CPU time out of the program's by this name.
 */
#define SIM_THREAD_NAME	"v4l2sim"

/*
 * Opens the simulated device of that kind for open(2) flags; returns the
 * new descriptor or -errno.  The caller registers it in its table.
 */
int	sim_device_open(int flags, enum sim_kind_of_device kind,
	    struct sim_device **out);
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
