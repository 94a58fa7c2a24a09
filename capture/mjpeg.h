/*
 * mjpeg.h - checks and repairs the JPEG frames a camera hands over, so
 * that what we publish is a complete JPEG every decoder accepts, at the
 * cost of reading its header and its last bytes, and one copy (never a
 * decode).
 *
 * Pure functions over a byte buffer: they read only buf[0..len) whatever
 * it contains (a fuzzer drives them), write only out[0..cap), keep no
 * state and allocate nothing.
 *
 * What a frame must be to pass mjpeg_check()
 *   - at least MJPEG_MIN_LEN bytes, starting with SOI (FF D8);
 *   - well-formed marker segments (each length inside the buffer) up to
 *     a start of scan, with a frame header (SOFn) of non-zero size and a
 *     start of scan whose length matches its component count;
 *   - after the first scan's header, an EOI that ends the buffer or is
 *     followed only by zero bytes (UVC payload padding): info->length
 *     stops after it.  That is
 *     all mjpeg_check() asks of the entropy-coded data, which it does
 *     not read (mjpeg.c says why that is safe);
 *   - otherwise (anything but zeros after the last EOI, an EOI that
 *     would make the frame too short) the walk mjpeg_check_scan() does:
 *     entropy-coded data in which every FF is followed by 00
 *     (stuffing), FF (fill), RSTn, EOI, or a segment between scans
 *     (DHT, DQT, DRI, COM, APPn, SOS: progressive and multi-scan
 *     files), up to the first EOI, where info->length stops; whatever
 *     follows it is not part of the frame.
 *   Huffman-coded frames without a DHT segment are accepted when the
 *   standard tables apply (8-bit baseline or extended sequential:
 *   SOF0/SOF1): many UVC webcams leave them out, as the MJPEG of
 *   Microsoft's AVI convention allowed, and mjpeg_repair() puts them in.
 *
 * Return values: 0 or a negative errno value:
 *   -EMSGSIZE  shorter than MJPEG_MIN_LEN (the buffer, or the frame up
 *              to its EOI)
 *   -ENOMSG    no SOI at the start
 *   -EBADMSG   broken structure (segment past the end, no SOF/SOS, bad
 *              marker in the scan, zero size, Huffman tables missing
 *              where the standard ones do not apply)
 *   -ENODATA   no EOI: truncated
 *   -ENOBUFS   mjpeg_repair(): out too small
 */
#ifndef SHMCAM_MJPEG_H
#define SHMCAM_MJPEG_H

#include <stddef.h>
#include <stdint.h>

/*
 * SOI, DQT (69 bytes), SOF0 for one component (13), SOS (10), one byte
 * of data and EOI come to 97 bytes; anything shorter is no picture at all.
 */
#define MJPEG_MIN_LEN	97

/* Bytes mjpeg_repair() adds at most: one DHT segment with the four
 * standard tables of ITU-T T.81 Annex K.3. */
#define MJPEG_DHT_LEN	420

struct mjpeg_info {
	size_t	 length;	/* bytes up to and including the EOI */
	size_t	 sos_offset;	/* offset of the first SOS marker */
	uint32_t width;		/* from the SOFn */
	uint32_t height;
	uint8_t	 sof;		/* the SOFn marker's second byte, C0..CF */
	uint8_t	 components;
	uint8_t	 has_dht;
	uint8_t	 needs_dht;	/* no DHT before the first SOS: repair */
};

int	mjpeg_check(const uint8_t *buf, size_t len, struct mjpeg_info *info);
/*
 * The same check, walking the entropy-coded data of every frame: it
 * refuses a frame whose data holds a marker that has no place there,
 * and stops at the first EOI.  Every frame it accepts, mjpeg_check()
 * accepts with the same info, but a length that may be longer (an EOI
 * inside the data); the fuzzer compares the two.
 */
int	mjpeg_check_scan(const uint8_t *buf, size_t len,
	    struct mjpeg_info *info);

/* Bytes mjpeg_repair() writes for a frame that passed mjpeg_check(). */
size_t	mjpeg_repaired_len(const struct mjpeg_info *info);

/*
 * Writes the frame checked into info to out: buf[0..info->length) with,
 * if info->needs_dht, the standard Huffman tables inserted right before
 * the first SOS.  *outlen = mjpeg_repaired_len(info).
 */
int	mjpeg_repair(const uint8_t *buf, const struct mjpeg_info *info,
	    uint8_t *out, size_t cap, size_t *outlen);

/* Writes the DHT segment mjpeg_repair() inserts: MJPEG_DHT_LEN bytes,
 * from the marker on. */
void	mjpeg_write_dht(uint8_t *out);

#endif /* SHMCAM_MJPEG_H */
