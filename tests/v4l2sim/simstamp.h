/*
 * simstamp.h - the stamp the simulated camera (tests/v4l2sim) puts into
 * every frame, and how to read it back from a JPEG.
 *
 * Every frame carries its sequence number and its capture time
 * (CLOCK_REALTIME) so that a client can tell which frame it holds and
 * how old it is, whatever streamer delivered it:
 *
 *   COM     MJPEG/JPEG frames have a comment segment right after SOI:
 *           "V4L2SIM <seq> <realtime_ns>", decimal, full 64 bits.  A
 *           streamer that passes MJPEG through keeps it.
 *
 *   barcode every format has it in the picture, so it survives a
 *           streamer that re-encodes raw frames (JPEG quality >= 50).
 *           Cells of SIMSTAMP_CELL x SIMSTAMP_CELL pixels on the grid
 *           that starts at the top-left corner; width / SIMSTAMP_CELL
 *           cells per row, simstamp_rows() rows.  Cell i (row-major)
 *           holds bit i of a SIMSTAMP_BITS-bit code, most significant
 *           bit first: 40 bits of sequence, 56 bits of capture time in
 *           microseconds, then a CRC-16/CCITT (poly 0x1021, init 0xffff)
 *           of those 12 bytes.  White (luma 235) is 1, black (16) is 0;
 *           cells past the code, and the part of the band right of the
 *           last whole cell, are grey (128).  A cell covers whole 8x8
 *           JPEG blocks, so a 1/8-scale decode (DC only) shows it as 2x2
 *           pixels of its own grey level: cheap and robust to read.
 *           The barcode holds the sequence modulo 2^40 and the time to
 *           the microsecond.
 *
 * Plain C, no dependency on the LD_PRELOAD library: benchmark clients and
 * tools link it.  Functions return 0 or a negative errno value:
 *   -EINVAL    not a JPEG (no SOI, bad segment lengths, no frame header)
 *   -ENOENT    no COM stamp (simstamp_from_com) / the picture is too small
 *              to hold a barcode
 *   -EBADMSG   a barcode was read but its CRC does not match (not a
 *              simulator frame, or damaged beyond JPEG error)
 *   -EIO       TurboJPEG could not decode the picture
 *   -ENOMEM
 */
#ifndef SHMCAM_SIMSTAMP_H
#define SHMCAM_SIMSTAMP_H

#include <stddef.h>
#include <stdint.h>

#define SIMSTAMP_CELL		16
#define SIMSTAMP_SEQ_BITS	40
#define SIMSTAMP_TIME_BITS	56
#define SIMSTAMP_BITS		112	/* sequence, time, CRC-16 */
#define SIMSTAMP_COM_PREFIX	"V4L2SIM "
#define SIMSTAMP_COM_MAX	64	/* longest COM text, without NUL */

/* Luma of the barcode's cells (BT.601 limited range). */
#define SIMSTAMP_Y_ONE		235
#define SIMSTAMP_Y_ZERO		16
#define SIMSTAMP_Y_NONE		128

/*
 * Rows of cells the barcode takes in a picture of this size; 0 when it
 * does not fit (fewer than one cell across, or taller than the picture).
 */
uint32_t simstamp_rows(uint32_t width, uint32_t height);

/* The code for (seq, real_ns): bits[i] is 0 or 1. */
void	simstamp_encode(uint64_t seq, uint64_t real_ns,
	    uint8_t bits[SIMSTAMP_BITS]);
/* Checks the CRC; *seq is modulo 2^40, *real_ns a multiple of 1000. */
int	simstamp_decode(const uint8_t bits[SIMSTAMP_BITS], uint64_t *seq,
	    uint64_t *real_ns);

/* The COM text (no NUL in the segment); returns its length. */
size_t	simstamp_com_text(char *buf, size_t len, uint64_t seq,
	    uint64_t real_ns);

/* The stamp from the COM segment only. */
int	simstamp_from_com(const uint8_t *jpeg, size_t len, uint64_t *seq,
	    uint64_t *real_ns);
/*
 * The stamp from the barcode only: decodes the JPEG at 1/8 scale (first
 * only the beginning of the data, which holds the top rows; all of it
 * if that does not give a valid code).
 */
int	simstamp_from_barcode(const uint8_t *jpeg, size_t len, uint64_t *seq,
	    uint64_t *real_ns);
/* The COM segment if there is one, else the barcode. */
int	simstamp_from_jpeg(const uint8_t *jpeg, size_t len, uint64_t *seq,
	    uint64_t *real_ns);

/*
 * The barcode from a luma plane (raw frames, or a full-size decode):
 * each cell is read as the mean of its central 8x8 pixels.  xstep is the
 * distance in bytes between two luma samples (1 for planar and GREY, 2
 * for YUYV/UYVY).
 */
int	simstamp_from_luma(const uint8_t *y, size_t stride, size_t xstep,
	    uint32_t width, uint32_t height, uint64_t *seq, uint64_t *real_ns);

#endif /* SHMCAM_SIMSTAMP_H */
