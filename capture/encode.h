/*
 * encode.h - raw frames to JPEG with TurboJPEG, straight from YUV planes.
 *
 * YUV formats never take a detour through RGB: YUV420 planes are handed
 * to the codec as they are, NV12's interleaved chroma is split into
 * planes first, GREY is encoded as a one-component JPEG.  The packed
 * 4:2:2 formats (YUYV, UYVY) are split into planes 8 rows at a time and
 * each strip goes to libjpeg-turbo's own libjpeg API as raw data while
 * it is in the cache (the same library and settings as TurboJPEG, the
 * same bytes out; see encode.c for why).  RGB24 and BGR24 go to
 * tjCompress2() with their pixel order.  Every format honours the
 * frame's bytesperline (rows may be padded).
 *
 * An encoder is used by one thread at a time; the capture keeps one per
 * thread that encodes (workers.c).
 */
#ifndef SHMCAM_ENCODE_H
#define SHMCAM_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "source.h"

struct packed_codec;

struct encoder {
	struct jpeg_encoder en_jpeg;
	uint8_t		*en_planes;	/* scratch: planar copy of packed input */
	size_t		 en_planes_size;
	struct packed_codec *en_packed;	/* libjpeg, for packed 4:2:2 */
	/*
	 * Packed 4:2:2 the TurboJPEG way (the whole frame split into
	 * planes first) rather than in strips through libjpeg: for
	 * encbench, which shows what each costs.  0 after encoder_init().
	 */
	int		 en_packed_planes;
};

int	encoder_init(struct encoder *e, int quality);
void	encoder_free(struct encoder *e);
/* 1 if frames of this fourcc can be encoded. */
int	encoder_supports(uint32_t fourcc);
/* The largest JPEG a width x height frame of any format encodes to. */
size_t	encoder_max_size(uint32_t width, uint32_t height);
/*
 * Encodes f into out; cap must be at least encoder_max_size() of the
 * frame.  0, -ENOTSUP (format), -ENOBUFS (cap), -EINVAL (frame too short
 * for its geometry, or a geometry the format cannot have), -ENOMEM
 * (scratch), -EIO (codec).
 */
int	encoder_encode(struct encoder *e, const struct source_frame *f,
	    uint8_t *out, size_t cap, size_t *len);

#endif /* SHMCAM_ENCODE_H */
