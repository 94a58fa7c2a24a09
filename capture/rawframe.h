/*
 * rawframe.h - one description of an uncompressed frame, whatever its
 * pixel format and however the device laid it out in memory: its format
 * (a row of the table in rawframe.c), its size, and up to three planes,
 * each a pointer, the bytes from one row to the next, and the bytes that
 * may be read from the pointer.
 *
 * Every consumer of raw frames reads them through this description (the
 * JPEG encoder in encode.c, the hardware encoder in m2m.c, an H.264
 * encoder), and every producer makes one with rawframe_describe() (the
 * V4L2 source, single- or multi-planar, and the test pattern).  A pixel
 * format is therefore a row of the table, not a code path: a consumer
 * switches on rf_layout and reads the row's numbers, never the fourcc.
 *
 * Contract
 *   - Planes are sample planes, not memory planes.  plane[0] is luma, or
 *     the packed pixels (YUYV, RGB).  For planar formats plane[1] is
 *     always Cb and plane[2] always Cr, whatever order memory holds them
 *     in: YVU420 and YUV420 describe alike.  For semi-planar formats
 *     plane[1] holds the chroma pairs, Cr first where rf_crcb says so
 *     (NV21, NV61): that order cannot be undone by swapping pointers.
 *   - Plane i has rawformat_rows(fmt, i, height) rows of
 *     rawformat_row_bytes(fmt, i, width) bytes, rp_stride bytes apart
 *     (rows may be padded), and rp_length bytes may be read from rp_data.
 *     rawframe_describe() only returns frames whose every row lies within
 *     rp_length (rawframe_check()); a consumer that takes a frame from
 *     elsewhere checks it.  Planes may live in separate buffers.
 *   - Chroma planes have width / rf_hsub samples a row and height /
 *     rf_vsub rows (4:2:0: both halved; 4:2:2: the width): a subsampled
 *     format's width (and for 4:2:0 its height) is even, as V4L2 has it
 *     and as TurboJPEG reads planes.
 *   - Colours are BT.601 limited range YCbCr, as V4L2's defaults for
 *     these formats say; RGB formats are full-range sRGB.
 *   - The pixels belong to the producer: a source's frame is valid from
 *     its next() until its release().  Consumers only read them (the
 *     pointers are not const so that libraries with non-const picture
 *     structs, x264's among them, take them without casts).
 *
 * Nothing here allocates, logs or blocks; every function may be called
 * from any thread.
 */
#ifndef SHMCAM_RAWFRAME_H
#define SHMCAM_RAWFRAME_H

#include <stddef.h>
#include <stdint.h>

#define RAWFRAME_PLANES_MAX	3
#define RAWFRAME_DIM_MAX	16384

enum rawframe_layout {
	RAWFRAME_PLANAR,	/* Y, Cb, Cr planes */
	RAWFRAME_SEMIPLANAR,	/* Y, then one plane of Cb Cr pairs */
	RAWFRAME_PACKED,	/* 4:2:2, Y and chroma in one plane: YUYV */
	RAWFRAME_GREY,		/* Y only */
	RAWFRAME_RGB,		/* one plane of RGB pixels */
};

/* A row of the format table. */
struct rawformat {
	uint32_t	 rf_fourcc;	/* V4L2_PIX_FMT_* */
	const char	*rf_name;	/* as --format and the logs spell it */
	enum rawframe_layout rf_layout;
	uint8_t		 rf_hsub;	/* luma columns per chroma sample */
	uint8_t		 rf_vsub;	/* luma rows per chroma row */
	uint8_t		 rf_bpp;	/* bytes per pixel of plane 0 */
	/*
	 * Buffers the device hands over: 1, or one per plane for V4L2's
	 * multi-planar-only formats (NV12M, YUV420M: "NM12", "YM12").
	 */
	uint8_t		 rf_buffers;
	uint8_t		 rf_crcb;	/* Cr stored before Cb (NV21, YVU420) */
	uint8_t		 rf_yoff;	/* packed: byte of the first Y (UYVY 1) */
	uint8_t		 rf_roff;	/* RGB: byte of red (BGR 2) */
	/*
	 * --format auto's preference among the raw formats a device
	 * offers, lowest first: what costs the encoder least per frame
	 * (planar 4:2:0 goes to the codec as it is, semi-planar needs its
	 * chroma split, packed 4:2:2 is twice the bytes, RGB is converted).
	 */
	uint8_t		 rf_auto;
};

struct rawplane {
	uint8_t		*rp_data;
	uint32_t	 rp_stride;	/* bytes from one row to the next */
	size_t		 rp_length;	/* bytes readable from rp_data */
};

struct rawframe {
	const struct rawformat *rw_fmt;
	uint32_t	 rw_width;
	uint32_t	 rw_height;
	unsigned	 rw_nplanes;	/* rawformat_planes(rw_fmt) */
	struct rawplane	 rw_plane[RAWFRAME_PLANES_MAX];
};

/* The row of fourcc, or NULL if raw frames of it are not understood. */
const struct rawformat *rawformat_find(uint32_t fourcc);
/* By name or by the device's four characters ("NV12M" or "NM12"),
 * either case; NULL if neither. */
const struct rawformat *rawformat_parse(const char *name);
/* The table in order, for listings: NULL past the end. */
const struct rawformat *rawformat_at(size_t i);

/* Sample planes: 1 (packed, grey, RGB), 2 (semi-planar), 3 (planar). */
unsigned rawformat_planes(const struct rawformat *f);
/* The bytes of one row of plane i, and its rows, at a frame size. */
size_t	rawformat_row_bytes(const struct rawformat *f, unsigned plane,
	    uint32_t width);
uint32_t rawformat_rows(const struct rawformat *f, unsigned plane,
	    uint32_t height);
/* 1 if frames of a and b hold the same samples in the same order, so
 * that one copies into the other plane by plane (NV12 and NV12M). */
int	rawformat_same_samples(const struct rawformat *a,
	    const struct rawformat *b);

/*
 * Describes a frame of format f and size w x h in nbuf buffers.
 *
 * nbuf == 1: one buffer holds every plane, as V4L2 lays them out in a
 * single-planar buffer (and in a multi-planar one with one plane):
 * stride[0] is the driver's bytesperline of the first plane (0: rows
 * unpadded); the planes follow each other, semi-planar chroma rows
 * stride[0] apart, planar chroma rows stride[0] / rf_hsub apart.
 *
 * nbuf == f->rf_buffers > 1: buffer i holds memory plane i (for YVU420M
 * the second is Cr) with rows stride[i] apart.
 *
 * 0, or -EINVAL: a size of 0 or above RAWFRAME_DIM_MAX, a size the
 * format cannot have (odd where it is subsampled), a stride below its row, a
 * buffer too short for its rows (the last row's padding may be missing),
 * or nbuf not 1 nor f->rf_buffers.
 */
int	rawframe_describe(struct rawframe *rf, const struct rawformat *f,
	    uint32_t w, uint32_t h, unsigned nbuf, uint8_t *const data[],
	    const size_t len[], const uint32_t stride[]);
/* 0 if every row of every plane of rf lies within its plane, else
 * -EINVAL; also checks the size and the plane count. */
int	rawframe_check(const struct rawframe *rf);
/*
 * Copies the samples of src into the planes dst describes (memory the
 * caller may write), row by row: the two must be of the same size and
 * rawformat_same_samples().  0 or -EINVAL.
 */
int	rawframe_copy(const struct rawframe *dst, const struct rawframe *src);

#endif /* SHMCAM_RAWFRAME_H */
