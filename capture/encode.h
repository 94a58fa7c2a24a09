/*
 * encode.h - raw frames (rawframe.h) to JPEG with TurboJPEG, straight from
 * YUV planes, by the layout of the frame's format:
 *
 *   planar       (YUV420, YVU420 and their one-buffer-per-plane forms)
 *                the planes go to the codec as they are;
 *   semi-planar  (NV12, NV21, NV16, NV61, ...) the chroma pairs are split
 *                into two planes first;
 *   packed 4:2:2 (YUYV, UYVY) split into planes 8 rows at a time, each
 *                strip handed to libjpeg-turbo's own libjpeg API as raw
 *                data while it is in the cache (the same library and
 *                settings as TurboJPEG, the same bytes out; see encode.c
 *                for why);
 *   grey         a one-component JPEG;
 *   RGB          tjCompress2() in the format's byte order.
 *
 * YUV never takes a detour through RGB, and every plane's stride is
 * honoured (rows may be padded, planes may be in separate buffers).
 *
 * An encoder is used by one thread at a time; the capture keeps one per
 * thread that encodes (workers.c).
 */
#ifndef SHMCAM_ENCODE_H
#define SHMCAM_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "rawframe.h"

struct packed_codec;

struct encoder {
	struct jpeg_encoder en_jpeg;
	uint8_t		*en_planes;	/* scratch: planes split from packed
					 * or semi-planar input */
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
/* 1 if raw frames of this fourcc can be encoded (rawformat_find()). */
int	encoder_supports(uint32_t fourcc);
/* The largest JPEG a width x height frame of any format encodes to. */
size_t	encoder_max_size(uint32_t width, uint32_t height);
/*
 * Encodes f into out; cap must be at least encoder_max_size() of the
 * frame.  0, -ENOTSUP (format), -ENOBUFS (cap), -EINVAL (a frame that
 * fails rawframe_check(): planes too short for their rows, a geometry
 * the format cannot have), -ENOMEM (scratch), -EIO (codec).
 */
int	encoder_encode(struct encoder *e, const struct rawframe *f,
	    uint8_t *out, size_t cap, size_t *len);

#endif /* SHMCAM_ENCODE_H */
