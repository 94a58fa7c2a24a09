/*
 * encode.h - raw frames to JPEG with TurboJPEG, straight from YUV planes.
 */
#ifndef SHMCAM_ENCODE_H
#define SHMCAM_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "source.h"

struct encoder {
	struct jpeg_encoder en_jpeg;
};

int	encoder_init(struct encoder *e, int quality);
void	encoder_free(struct encoder *e);
/* 1 if frames of this fourcc can be encoded. */
int	encoder_supports(uint32_t fourcc);
/*
 * Encodes f into out; cap must be at least jpeg_max_size() of the frame.
 * 0, -ENOTSUP (format), -ENOBUFS (cap), -EINVAL (frame too short for its
 * geometry), -EIO (codec).
 */
int	encoder_encode(struct encoder *e, const struct source_frame *f,
	    uint8_t *out, size_t cap, size_t *len);

#endif /* SHMCAM_ENCODE_H */
