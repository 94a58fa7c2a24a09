/*
 * encode.h - raw frames to JPEG with TurboJPEG, straight from YUV planes.
 *
 * YUV formats never take a detour through RGB: YUV420 planes are handed
 * to the codec as they are, NV12's interleaved chroma and the packed
 * 4:2:2 formats (YUYV, UYVY) are split into planes first (one pass over
 * the frame, the only copy), GREY is encoded as a one-component JPEG.
 * RGB24 and BGR24 go to tjCompress2() with their pixel order.  Every
 * format honours the frame's bytesperline (rows may be padded).
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

struct encoder {
	struct jpeg_encoder en_jpeg;
	uint8_t		*en_planes;	/* scratch: planar copy of packed input */
	size_t		 en_planes_size;
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
